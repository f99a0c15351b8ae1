#include "arch/x86/boot/boot_kind.h"

#include <string.h>

#include "arch/x86/boot/elf_note.h"
#include "arch/x86/boot/loader_bzimage.h"
#include "arch/x86/boot/loader_elf.h"
#include "arch/x86/boot/loader_multiboot.h"
#include "arch/x86/boot/loader_pvh.h"
#include "util/error.h"
#include "luavmm/bootinfo.h"

static const char *const names[] = {
	[LVM_BOOT_ELF64] = "elf64",
	[LVM_BOOT_PVH] = "pvh",
	[LVM_BOOT_BZIMAGE] = "bzimage",
	[LVM_BOOT_MULTIBOOT] = "multiboot",
};

const char *lvm_x86_boot_kind_name(enum lvm_boot_kind kind)
{
	return names[kind];
}

static int detect(const char *path, const uint8_t *data, size_t size)
{
	const uint8_t *desc;
	uint32_t len, entry;
	int rc = lvm_elf64_find_note(path, data, size, LVM_ELFNOTE_NAME, LVM_ELFNOTE_BOOTINFO,
				     &desc, &len);
	if (rc != 0)
		return rc < 0 ? -1 : LVM_BOOT_ELF64;
	if (lvm_bzimage_detect(data, size))
		return LVM_BOOT_BZIMAGE;
	if (lvm_multiboot_find_header(data, size, NULL) >= 0)
		return LVM_BOOT_MULTIBOOT;
	rc = lvm_pvh_find_entry(path, data, size, &entry);
	if (rc != 0)
		return rc < 0 ? -1 : LVM_BOOT_PVH;
	if (lvm_elf_is_elf(data, size))
		return LVM_BOOT_ELF64;
	return lvm_fail("kernel %s: not an ELF file, bzImage or multiboot kernel (no ELF magic, no \"HdrS\" at 0x202, no multiboot header in the first 8 KiB)",
			path);
}

int lvm_x86_boot_kind(const char *path, const char *requested, const uint8_t *data,
		      size_t size)
{
	if (!requested || strcmp(requested, "auto") == 0)
		return detect(path, data, size);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i], requested) == 0)
			return (int)i;
	return lvm_fail("boot = \"%s\" is not one of auto, elf64, pvh, bzimage, multiboot", requested);
}
