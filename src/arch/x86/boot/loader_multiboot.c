#include "arch/x86/boot/loader_multiboot.h"

#include <elf.h>
#include <string.h>

#include "arch/x86/boot/boot32.h"
#include "arch/x86/boot/boot_data.h"
#include "arch/x86/boot/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/boot/loader_elf.h"
#include "util/error.h"

/* Info structure at LVM_PVH_INFO_ADDR; the rest in the loader scratch area. */
#define MMAP_ADDR    LVM_LOADER_SCRATCH
#define MMAP_MAX     32u
#define MODS_ADDR    (MMAP_ADDR + MMAP_MAX * sizeof(struct lvm_mb_mmap_entry))
#define STRINGS_ADDR (MODS_ADDR + sizeof(struct lvm_mb_module))
#define LOADER_NAME  "luavmm"
#define MODULE_NAME  "initrd"
/* Flags bits 0-15 are requirements; we understand 0, 1 and 2 (§3.1.2). */
#define KNOWN_REQUIRED (LVM_MB_PAGE_ALIGN | LVM_MB_MEMORY_INFO | LVM_MB_VIDEO_MODE)

long lvm_multiboot_find_header(const uint8_t *data, size_t size, struct lvm_mb_header *out)
{
	size_t limit = size < LVM_MB_SEARCH ? size : LVM_MB_SEARCH;
	for (size_t off = 0; off + 12 <= limit; off += 4) { /* §3.1: 32-bit aligned */
		uint32_t w[3];
		memcpy(w, data + off, sizeof(w));
		if (w[0] != LVM_MB_HEADER_MAGIC || (uint32_t)(w[0] + w[1] + w[2]) != 0)
			continue;
		if (out) {
			memset(out, 0, sizeof(*out));
			size_t n = size - off < sizeof(*out) ? size - off : sizeof(*out);
			memcpy(out, data + off, n);
		}
		return (long)off;
	}
	return -1;
}

/*
 * Low memory the multiboot path itself uses (layout.h).  Multiboot allows
 * an image below 1 MiB (GRUB and QEMU load kvm-unit-tests' realmode test
 * at 0x8000), so an image may go anywhere in RAM that misses these: the
 * page tables, zero page and stack of the other boot paths are not used
 * by a protected-mode entry.
 */
static const struct {
	uint64_t start, end;
	const char *what;
} low_reserved[] = {
	{ 0, 0x2000, "the real-mode IVT/BDA and luavmm's GDTs" },
	{ LVM_PVH_INFO_ADDR, LVM_PVH_INFO_END, "the multiboot information structure" },
	{ LVM_BOOT_CMDLINE_ADDR, LVM_LOADER_SCRATCH_END, "the command line and the memory map" },
	{ LVM_EBDA_START, LVM_HIGH_MEMORY, "the EBDA, the legacy hole and the BIOS area" },
};

static int check_placement(const char *path, uint64_t addr, uint64_t len)
{
	for (size_t i = 0; i < sizeof(low_reserved) / sizeof(low_reserved[0]); i++)
		if (addr < low_reserved[i].end && addr + len > low_reserved[i].start)
			return lvm_fail("kernel %s: multiboot image 0x%llx+0x%llx overlaps %s (0x%llx-0x%llx)",
					path, (unsigned long long)addr, (unsigned long long)len,
					low_reserved[i].what, (unsigned long long)low_reserved[i].start,
					(unsigned long long)low_reserved[i].end - 1);
	return 0;
}

static int place(struct lvm_memory *mem, const char *path, uint64_t addr, uint64_t len,
		 uint8_t **dst)
{
	if (check_placement(path, addr, len) < 0)
		return -1;
	*dst = lvm_memory_ptr(mem, addr, len);
	if (!*dst)
		return lvm_fail("kernel %s: multiboot image 0x%llx+0x%llx is not in RAM (%llu MiB of RAM)",
				path, (unsigned long long)addr, (unsigned long long)len,
				(unsigned long long)(mem->size >> 20));
	return 0;
}

/* §3.1.3: the address fields say where the file's bytes go. */
static int load_aout(struct lvm_memory *mem, const char *path, const uint8_t *data,
		     size_t size, long hdr_off, const struct lvm_mb_header *h,
		     struct lvm_mb_image *out)
{
	if (hdr_off + sizeof(*h) > size)
		return lvm_fail("kernel %s: truncated multiboot header", path);
	if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > (uint64_t)hdr_off)
		return lvm_fail("kernel %s: multiboot load_addr 0x%x / header_addr 0x%x put the image before the file's start",
				path, h->load_addr, h->header_addr);
	uint64_t file_off = (uint64_t)hdr_off - (h->header_addr - h->load_addr);
	uint64_t end = h->load_end_addr ? h->load_end_addr : h->load_addr + (size - file_off);
	if (end < h->load_addr || end - h->load_addr > size - file_off)
		return lvm_fail("kernel %s: multiboot load_end_addr 0x%llx is past the end of the file",
				path, (unsigned long long)end);
	uint64_t bss_end = h->bss_end_addr ? h->bss_end_addr : end;
	if (bss_end < end)
		return lvm_fail("kernel %s: multiboot bss_end_addr 0x%x is below load_end_addr", path,
				h->bss_end_addr);
	uint8_t *dst;
	if (place(mem, path, h->load_addr, bss_end - h->load_addr, &dst) < 0)
		return -1;
	memcpy(dst, data + file_off, end - h->load_addr);
	memset(dst + (end - h->load_addr), 0, bss_end - end);
	*out = (struct lvm_mb_image){ h->entry_addr, h->load_addr, bss_end };
	return 0;
}

static int load_elf32_segment(struct lvm_memory *mem, const char *path, const uint8_t *data,
			      size_t size, const Elf32_Phdr *ph, struct lvm_mb_image *out)
{
	if (ph->p_filesz > ph->p_memsz || ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
		return lvm_fail("kernel %s: truncated ELF32 segment at 0x%x", path, ph->p_paddr);
	uint8_t *dst;
	if (place(mem, path, ph->p_paddr, ph->p_memsz, &dst) < 0)
		return -1;
	memcpy(dst, data + ph->p_offset, ph->p_filesz);
	memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	if (ph->p_paddr < out->lowest)
		out->lowest = ph->p_paddr;
	if ((uint64_t)ph->p_paddr + ph->p_memsz > out->highest)
		out->highest = (uint64_t)ph->p_paddr + ph->p_memsz;
	return 0;
}

static int load_elf32(struct lvm_memory *mem, const char *path, const uint8_t *data,
		      size_t size, struct lvm_mb_image *out)
{
	Elf32_Ehdr eh;
	if (size < sizeof(eh))
		return lvm_fail("kernel %s: truncated ELF32 header", path);
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_machine != EM_386 || eh.e_phentsize != sizeof(Elf32_Phdr) ||
	    eh.e_phoff > size || (uint64_t)eh.e_phnum * sizeof(Elf32_Phdr) > size - eh.e_phoff)
		return lvm_fail("kernel %s: not a loadable i386 ELF32 (machine %u)", path, eh.e_machine);
	*out = (struct lvm_mb_image){ eh.e_entry, UINT64_MAX, 0 };
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf32_Phdr ph;
		memcpy(&ph, data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_memsz &&
		    load_elf32_segment(mem, path, data, size, &ph, out) < 0)
			return -1;
	}
	if (out->highest == 0)
		return lvm_fail("kernel %s: ELF has no loadable segments", path);
	return 0;
}

/* The ELF64 loader checks its own bounds; only the low areas are ours to check. */
static int check_elf64_placement(const char *path, const uint8_t *data, size_t size)
{
	Elf64_Ehdr eh;
	if (size < sizeof(eh))
		return 0; /* the loader says what is wrong */
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > size ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff)
		return 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_memsz &&
		    check_placement(path, ph.p_paddr, ph.p_memsz) < 0)
			return -1;
	}
	return 0;
}

static int load_elf(struct lvm_memory *mem, const char *path, const uint8_t *data,
		    size_t size, struct lvm_mb_image *out)
{
	if (!lvm_elf_is_elf(data, size) || size <= EI_CLASS)
		return lvm_fail("kernel %s: multiboot header without the a.out kludge (flag 16) needs an ELF file",
				path);
	if (data[EI_CLASS] == ELFCLASS32)
		return load_elf32(mem, path, data, size, out);
	struct lvm_elf_image img;
	if (check_elf64_placement(path, data, size) < 0 ||
	    lvm_elf64_load_segments(mem, path, data, size, 0, &img) < 0)
		return -1;
	*out = (struct lvm_mb_image){ img.entry, img.lowest, img.highest };
	return 0;
}

int lvm_multiboot_load_image(struct lvm_memory *mem, const char *path, const uint8_t *data,
			     size_t size, struct lvm_mb_image *out)
{
	struct lvm_mb_header h;
	long off = lvm_multiboot_find_header(data, size, &h);
	if (off < 0)
		return lvm_fail("kernel %s: no multiboot header (magic 0x1badb002 with a valid checksum) in the first 8 KiB",
				path);
	if (h.flags & 0xffffu & ~KNOWN_REQUIRED)
		return lvm_fail("kernel %s: multiboot header requires flags 0x%x that luavmm does not support",
				path, h.flags & 0xffffu & ~KNOWN_REQUIRED);
	int rc = (h.flags & LVM_MB_AOUT_KLUDGE) ? load_aout(mem, path, data, size, off, &h, out)
						 : load_elf(mem, path, data, size, out);
	if (rc < 0)
		return -1;
	if (out->entry < out->lowest || out->entry >= out->highest || out->entry > UINT32_MAX)
		return lvm_fail("kernel %s: multiboot entry 0x%llx is not inside the loaded image",
				path, (unsigned long long)out->entry);
	return 0;
}

static uint32_t write_mmap(struct lvm_memory *mem, struct lvm_mb_mmap_entry *mm)
{
	struct boot_e820_entry e820[MMAP_MAX];
	unsigned n = lvm_x86_e820_build(mem, e820, MMAP_MAX);
	for (unsigned i = 0; i < n; i++)
		mm[i] = (struct lvm_mb_mmap_entry){ 20, e820[i].addr, e820[i].size, e820[i].type };
	return n * (uint32_t)sizeof(*mm);
}

/* §3.3: the fields we provide, and the flag bits that say so. */
static int write_info(struct lvm_memory *mem, const struct lvm_x86_initrd *rd)
{
	struct lvm_mb_info *info = lvm_memory_ptr(mem, LVM_PVH_INFO_ADDR, sizeof(*info));
	struct lvm_mb_mmap_entry *mm = lvm_memory_ptr(mem, MMAP_ADDR, MMAP_MAX * sizeof(*mm));
	struct lvm_mb_module *mod = lvm_memory_ptr(mem, MODS_ADDR, sizeof(*mod));
	char *strings = lvm_memory_ptr(mem, STRINGS_ADDR, 64);
	if (!info || !mm || !mod || !strings)
		return lvm_fail("memory: too small for the multiboot info");
	uint64_t low_end = mem->regions[0].size; /* RAM from 1 MiB up to the first hole */
	memcpy(strings, LOADER_NAME, sizeof(LOADER_NAME));
	memcpy(strings + 16, MODULE_NAME, sizeof(MODULE_NAME));
	*info = (struct lvm_mb_info){
		.flags = LVM_MBI_MEMORY | LVM_MBI_CMDLINE | LVM_MBI_MMAP | LVM_MBI_LOADER,
		.mem_lower = LVM_EBDA_START / 1024,
		.mem_upper = (uint32_t)((low_end - LVM_HIGH_MEMORY) / 1024),
		.cmdline = LVM_BOOT_CMDLINE_ADDR,
		.mmap_length = write_mmap(mem, mm),
		.mmap_addr = MMAP_ADDR,
		.boot_loader_name = STRINGS_ADDR,
	};
	if (rd->addr) {
		*mod = (struct lvm_mb_module){ (uint32_t)rd->addr, (uint32_t)(rd->addr + rd->size),
					       STRINGS_ADDR + 16, 0 };
		info->flags |= LVM_MBI_MODS;
		info->mods_count = 1;
		info->mods_addr = MODS_ADDR;
	}
	return 0;
}

int lvm_multiboot_load(struct lvm_vm *vm, const struct lvm_x86_boot *boot,
		       const uint8_t *data, size_t size)
{
	struct lvm_mb_image img;
	struct lvm_x86_initrd rd;
	if (lvm_multiboot_load_image(&vm->mem, boot->kernel, data, size, &img) < 0 ||
	    lvm_x86_write_cmdline(&vm->mem, boot->cmdline, LVM_BOOT_CMDLINE_MAX - 1, "the limit",
				  NULL) < 0 ||
	    lvm_x86_load_initrd(&vm->mem, boot->initrd, img.highest, UINT32_MAX,
				"the 4 GiB limit", &rd) < 0 ||
	    write_info(&vm->mem, &rd) < 0)
		return -1;
	return lvm_x86_enter_protected_mode(vm, &vm->vcpus[0], (uint32_t)img.entry,
					    LVM_MB_BOOTLOADER_MAGIC, LVM_PVH_INFO_ADDR);
}
