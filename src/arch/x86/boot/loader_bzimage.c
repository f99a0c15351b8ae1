#include "arch/x86/boot/loader_bzimage.h"

#include <stddef.h>
#include <string.h>

#include "arch/x86/boot/boot64.h"
#include "arch/x86/boot/boot_data.h"
#include "arch/x86/boot/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/boot/setup_data.h"
#include "util/error.h"

#define HDR_OFFSET      0x1f1u     /* boot.rst: the setup header starts here */
#define HDRS_MAGIC      0x53726448u /* "HdrS" at 0x202 */
#define BOOT_FLAG       0xaa55u
#define ENTRY64_OFFSET  0x200u     /* boot.rst: 64-bit entry = load address + 0x200 */
#define DEFAULT_LOAD    0x100000u  /* bzImage protected-mode code before 2.10 */
#define DEFAULT_INITRD_MAX 0x37ffffffu /* boot.rst: before protocol 2.03 */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool lvm_bzimage_detect(const uint8_t *data, size_t size)
{
	return size >= 0x206 && le32(data + 0x202) == HDRS_MAGIC;
}

/* Copies the header the file defines: it ends at 0x202 + the jump byte at 0x201. */
static int copy_header(const char *path, const uint8_t *data, size_t size,
		       struct lvm_bzimage *out)
{
	if (size < 0x202 + 2)
		return lvm_fail("kernel %s: truncated bzImage (%zu bytes, no setup header)", path, size);
	if (!lvm_bzimage_detect(data, size))
		return lvm_fail("kernel %s: not a bzImage (no \"HdrS\" magic at 0x202)", path);
	size_t end = 0x202u + data[0x201];
	if (end > size)
		return lvm_fail("kernel %s: truncated bzImage (setup header ends at 0x%zx, file has %zu bytes)",
				path, end, size);
	out->hdr_len = end - HDR_OFFSET;
	if (out->hdr_len > sizeof(out->hdr))
		out->hdr_len = sizeof(out->hdr);
	memcpy(&out->hdr, data + HDR_OFFSET, out->hdr_len);
	return 0;
}

static int check_version(const char *path, const struct setup_header *h)
{
	if (h->boot_flag != BOOT_FLAG)
		return lvm_fail("kernel %s: bzImage boot_flag 0x%04x is not 0xaa55", path, h->boot_flag);
	if (h->version < LVM_BZIMAGE_MIN_VERSION)
		return lvm_fail("kernel %s: bzImage protocol %u.%02u is older than 2.06", path,
				h->version >> 8, h->version & 0xff);
	if (!(h->loadflags & LOADED_HIGH))
		return lvm_fail("kernel %s: a zImage (LOADED_HIGH clear) cannot be loaded; only bzImage",
				path);
	if (h->version >= 0x020c && !(h->xloadflags & XLF_KERNEL_64))
		return lvm_fail("kernel %s: bzImage has no 64-bit entry point (xloadflags 0x%x)", path,
				h->xloadflags);
	return 0;
}

static int check_layout(const char *path, size_t size, struct lvm_bzimage *out)
{
	const struct setup_header *h = &out->hdr;
	uint64_t sects = h->setup_sects ? h->setup_sects : 4; /* boot.rst: 0 means 4 */
	out->kernel_offset = (sects + 1) * 512;
	/* syssize counts 16-byte paragraphs, rounded up: the last one may end up
	 * to 15 bytes past the file, which GRUB and QEMU accept (they load what
	 * the file has), so luavmm does too. */
	uint64_t syssize = (uint64_t)h->syssize * 16;
	if (out->kernel_offset >= size || syssize > size - out->kernel_offset + 15)
		return lvm_fail("kernel %s: truncated bzImage (setup %llu + kernel %llu bytes, file has %zu)",
				path, (unsigned long long)out->kernel_offset,
				(unsigned long long)syssize, size);
	out->kernel_size = size - out->kernel_offset;
	out->load_addr = h->version >= 0x020a ? h->pref_address : DEFAULT_LOAD;
	out->mem_needed = out->kernel_size;
	if (h->version >= 0x020a && h->init_size > out->mem_needed)
		out->mem_needed = h->init_size;
	out->alignment = 0;
	if (h->relocatable_kernel) {
		out->alignment = h->kernel_alignment;
		if (out->alignment == 0 || (out->alignment & (out->alignment - 1)))
			return lvm_fail("kernel %s: bzImage kernel_alignment 0x%llx is not a power of two",
					path, (unsigned long long)out->alignment);
	}
	out->cmdline_max = h->cmdline_size;
	out->initrd_addr_max = h->initrd_addr_max ? h->initrd_addr_max : DEFAULT_INITRD_MAX;
	return 0;
}

int lvm_bzimage_parse(const char *path, const uint8_t *data, size_t size,
		      struct lvm_bzimage *out)
{
	memset(out, 0, sizeof(*out));
	if (copy_header(path, data, size, out) < 0 || check_version(path, &out->hdr) < 0)
		return -1;
	return check_layout(path, size, out);
}

static bool fits(const struct lvm_memory *mem, uint64_t addr, uint64_t len)
{
	return addr >= LVM_HIGH_MEMORY && lvm_memory_ptr(mem, addr, len) != NULL;
}

/* The preferred address, or for a relocatable kernel the lowest aligned one above 1 MiB. */
static int choose_load_addr(const char *path, const struct lvm_memory *mem,
			    struct lvm_bzimage *bz)
{
	if (fits(mem, bz->load_addr, bz->mem_needed))
		return 0;
	if (bz->alignment) {
		uint64_t a = (LVM_HIGH_MEMORY + bz->alignment - 1) & ~(bz->alignment - 1);
		if (fits(mem, a, bz->mem_needed)) {
			bz->load_addr = a;
			return 0;
		}
	}
	return lvm_fail("kernel %s: needs %llu MiB (init_size 0x%llx) at 0x%llx but the machine has %llu MiB of RAM",
			path, (unsigned long long)((bz->mem_needed + (1 << 20) - 1) >> 20),
			(unsigned long long)bz->mem_needed, (unsigned long long)bz->load_addr,
			(unsigned long long)(mem->size >> 20));
}

/* boot.rst "Details of Header Fields": what a loader must write. */
static void fill_boot_params(struct boot_params *bp, const struct lvm_bzimage *bz,
			     const struct lvm_memory *mem, const struct lvm_x86_initrd *rd)
{
	memset(bp, 0, sizeof(*bp));
	memcpy(&bp->hdr, &bz->hdr, bz->hdr_len);
	bp->hdr.type_of_loader = LVM_BZIMAGE_LOADER_ID;
	bp->hdr.loadflags &= (uint8_t)~(KEEP_SEGMENTS | CAN_USE_HEAP); /* no real-mode heap */
	bp->hdr.code32_start = (uint32_t)bz->load_addr;
	bp->hdr.cmd_line_ptr = LVM_BOOT_CMDLINE_ADDR;
	bp->ext_cmd_line_ptr = 0;
	bp->hdr.ramdisk_image = (uint32_t)rd->addr;
	bp->hdr.ramdisk_size = (uint32_t)rd->size;
	bp->ext_ramdisk_image = (uint32_t)(rd->addr >> 32);
	bp->ext_ramdisk_size = (uint32_t)(rd->size >> 32);
	bp->hdr.hardware_subarch = X86_SUBARCH_PC;
	bp->hdr.setup_data = 0; /* the list starts empty whatever the file holds */
	bp->e820_entries = (uint8_t)lvm_x86_e820_build(mem, bp->e820_table,
						       E820_MAX_ENTRIES_ZEROPAGE);
}

/*
 * Where the firmware tables are, so Linux need not scan for them:
 * boot_params.acpi_rsdp_addr (zero-page.rst, offset 0x070) names the RSDP
 * acpi.c wrote, and the device tree goes into the setup_data list as
 * SETUP_DTB (boot.rst; protocol 2.09+, older kernels have no list).
 */
static int hand_over_tables(struct lvm_vm *vm, struct boot_params *bp,
			    const struct lvm_bzimage *bz, const struct lvm_x86_boot *boot)
{
	bp->acpi_rsdp_addr = LVM_ACPI_RSDP_ADDR;
	if (bz->hdr.version < LVM_SETUP_DATA_MIN_VERSION)
		return 0;
	return lvm_x86_setup_data_add_dtb(&vm->mem, bp, LVM_LOADER_SCRATCH, LVM_LOADER_SCRATCH_END,
					  boot->dtb, boot->dtb_size);
}

int lvm_bzimage_load(struct lvm_vm *vm, const struct lvm_x86_boot *boot,
		     const uint8_t *data, size_t size)
{
	struct lvm_bzimage bz;
	const char *path = boot->kernel;
	if (lvm_bzimage_parse(path, data, size, &bz) < 0 || choose_load_addr(path, &vm->mem, &bz) < 0)
		return -1;
	uint8_t *dst = lvm_memory_ptr(&vm->mem, bz.load_addr, bz.kernel_size);
	if (!dst)
		return lvm_fail("kernel %s: does not fit in RAM at 0x%llx", path,
				(unsigned long long)bz.load_addr);
	memcpy(dst, data + bz.kernel_offset, bz.kernel_size);
	struct lvm_x86_initrd rd;
	if (lvm_x86_write_cmdline(&vm->mem, boot->cmdline, bz.cmdline_max,
				  "the kernel's cmdline_size", NULL) < 0 ||
	    lvm_x86_load_initrd(&vm->mem, boot->initrd, bz.load_addr + bz.mem_needed,
				bz.initrd_addr_max, "initrd_addr_max", &rd) < 0)
		return -1;
	struct boot_params *bp = lvm_memory_ptr(&vm->mem, LVM_ZERO_PAGE_ADDR, sizeof(*bp));
	if (!bp)
		return lvm_fail("memory: too small for boot_params");
	fill_boot_params(bp, &bz, &vm->mem, &rd);
	if (hand_over_tables(vm, bp, &bz, boot) < 0 || lvm_x86_write_long_mode_tables(vm) < 0)
		return -1;
	return lvm_x86_enter_long_mode(&vm->vcpus[0], bz.load_addr + ENTRY64_OFFSET,
				       LVM_ZERO_PAGE_ADDR);
}
