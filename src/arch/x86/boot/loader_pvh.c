#include "arch/x86/boot/loader_pvh.h"

#include <string.h>

#include "arch/x86/boot/boot32.h"
#include "arch/x86/boot/boot_data.h"
#include "arch/x86/boot/e820.h"
#include "arch/x86/boot/elf_note.h"
#include "arch/x86/layout.h"
#include "arch/x86/boot/loader_elf.h"
#include "util/error.h"

/* Where the pieces go inside [LVM_PVH_INFO_ADDR, LVM_PVH_INFO_END). */
#define MEMMAP_ADDR  (LVM_PVH_INFO_ADDR + 0x40u)
#define MEMMAP_MAX   32u
#define MODLIST_ADDR (MEMMAP_ADDR + MEMMAP_MAX * sizeof(struct lvm_hvm_memmap_entry))
_Static_assert(MODLIST_ADDR + sizeof(struct lvm_hvm_modlist_entry) <= LVM_PVH_INFO_END,
	       "PVH start info overflows its page");

int lvm_pvh_find_entry(const char *path, const uint8_t *data, size_t size, uint32_t *entry)
{
	const uint8_t *desc;
	uint32_t len;
	int rc = lvm_elf64_find_note(path, data, size, "Xen", LVM_XEN_ELFNOTE_PHYS32_ENTRY,
				     &desc, &len);
	if (rc <= 0)
		return rc;
	/* A 32-bit address; Linux stores it as a 64-bit word (_ASM_PTR). */
	if (len != 4 && len != 8)
		return lvm_fail("kernel %s: PVH entry note has %u bytes (want 4 or 8)", path, len);
	uint64_t value = 0;
	memcpy(&value, desc, len); /* little-endian host and guest */
	if (value > UINT32_MAX)
		return lvm_fail("kernel %s: PVH entry 0x%llx is above 4 GiB", path,
				(unsigned long long)value);
	*entry = (uint32_t)value;
	return 1;
}

static int write_start_info(struct lvm_memory *mem, const struct lvm_x86_initrd *rd)
{
	struct lvm_hvm_start_info *si = lvm_memory_ptr(mem, LVM_PVH_INFO_ADDR, sizeof(*si));
	struct lvm_hvm_memmap_entry *mm = lvm_memory_ptr(mem, MEMMAP_ADDR, MEMMAP_MAX * sizeof(*mm));
	struct lvm_hvm_modlist_entry *mod = lvm_memory_ptr(mem, MODLIST_ADDR, sizeof(*mod));
	if (!si || !mm || !mod)
		return lvm_fail("memory: too small for the PVH start info");
	struct boot_e820_entry e820[MEMMAP_MAX];
	unsigned n = lvm_x86_e820_build(mem, e820, MEMMAP_MAX);
	for (unsigned i = 0; i < n; i++)
		mm[i] = (struct lvm_hvm_memmap_entry){ e820[i].addr, e820[i].size, e820[i].type, 0 };
	*si = (struct lvm_hvm_start_info){
		.magic = LVM_HVM_START_MAGIC,
		.version = LVM_HVM_START_VERSION,
		.cmdline_paddr = LVM_BOOT_CMDLINE_ADDR,
		.memmap_paddr = MEMMAP_ADDR,
		.memmap_entries = n,
		/* start_info.h: rsdp_paddr, so the kernel need not scan for the RSDP */
		.rsdp_paddr = LVM_ACPI_RSDP_ADDR,
	};
	if (rd->addr) {
		*mod = (struct lvm_hvm_modlist_entry){ .paddr = rd->addr, .size = rd->size };
		si->nr_modules = 1;
		si->modlist_paddr = MODLIST_ADDR;
	}
	return 0;
}

int lvm_pvh_load(struct lvm_vm *vm, const struct lvm_x86_boot *boot,
		 const uint8_t *data, size_t size)
{
	const char *path = boot->kernel;
	uint32_t entry;
	int found = lvm_pvh_find_entry(path, data, size, &entry);
	if (found < 0)
		return -1;
	if (found == 0)
		return lvm_fail("kernel %s: no PVH entry note (Xen ELF note type 18)", path);
	struct lvm_elf_image image;
	if (lvm_elf64_load_segments(&vm->mem, path, data, size, LVM_BOOT_LOW_LIMIT, &image) < 0)
		return -1;
	if (!lvm_memory_ptr(&vm->mem, entry, 1) || entry < image.lowest || entry >= image.highest)
		return lvm_fail("kernel %s: PVH entry 0x%x is not inside the loaded kernel", path, entry);
	struct lvm_x86_initrd rd;
	if (lvm_x86_write_cmdline(&vm->mem, boot->cmdline, LVM_BOOT_CMDLINE_MAX - 1,
				  "the limit", NULL) < 0 ||
	    lvm_x86_load_initrd(&vm->mem, boot->initrd, image.highest, UINT32_MAX,
				"the 4 GiB limit", &rd) < 0 ||
	    write_start_info(&vm->mem, &rd) < 0)
		return -1;
	return lvm_x86_enter_protected_mode(vm, &vm->vcpus[0], entry, 0, LVM_PVH_INFO_ADDR);
}
