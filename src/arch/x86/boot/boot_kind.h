/*
 * Which boot protocol a kernel file speaks.  With boot = "auto" (the
 * default) the file decides, in this order:
 *   1. an ELF with a "luavmm" note (type LVM_ELFNOTE_BOOTINFO): luavmm's
 *      own 64-bit entry with struct lvm_bootinfo (the test guests);
 *   2. "HdrS" at 0x202: a Linux bzImage;
 *   3. a multiboot v1 header in the first 8 KiB: multiboot;
 *   4. an ELF with a Xen PHYS32_ENTRY note: PVH (Linux's vmlinux);
 *   5. any other ELF64: the 64-bit entry at e_entry.
 */
#ifndef LVM_ARCH_X86_BOOT_BOOT_KIND_H
#define LVM_ARCH_X86_BOOT_BOOT_KIND_H

#include <stddef.h>
#include <stdint.h>

enum lvm_boot_kind {
	LVM_BOOT_ELF64,
	LVM_BOOT_PVH,
	LVM_BOOT_BZIMAGE,
	LVM_BOOT_MULTIBOOT,
};

/*
 * The protocol for kernel `path`: `requested` is the recipe's boot key
 * (NULL or "auto" to detect).  -1 with lvm_error set for an unknown name
 * or a file that is no kernel.
 */
int lvm_x86_boot_kind(const char *path, const char *requested, const uint8_t *data,
		      size_t size);
/* "elf64", "pvh", ... */
const char *lvm_x86_boot_kind_name(enum lvm_boot_kind kind);

#endif
