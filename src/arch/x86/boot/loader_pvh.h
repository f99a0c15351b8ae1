/*
 * PVH boot: an ELF kernel (e.g. Linux's vmlinux) carrying a Xen
 * XEN_ELFNOTE_PHYS32_ENTRY note is entered there in 32-bit protected mode,
 * paging off, with EBX = the guest-physical address of a struct
 * hvm_start_info (Xen's docs/misc/pvh.pandoc).
 */
#ifndef LVM_ARCH_X86_BOOT_LOADER_PVH_H
#define LVM_ARCH_X86_BOOT_LOADER_PVH_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/boot/boot_data.h"
#include "kvm/vm.h"

/*
 * No UAPI header has these (Linux keeps them in include/xen/interface/,
 * not exported; /usr/include/xen is the Xen tools' and lacks them).  The
 * layout is Xen's public ABI, xen/include/public/arch-x86/hvm/start_info.h:
 * all fields little-endian, the memmap from version 1.
 */
#define LVM_XEN_ELFNOTE_PHYS32_ENTRY 18
#define LVM_HVM_START_MAGIC 0x336ec578u
#define LVM_HVM_START_VERSION 1u

struct lvm_hvm_start_info {
	uint32_t magic;          /* 0x00: LVM_HVM_START_MAGIC ("xEn3" with the top bit of x set) */
	uint32_t version;        /* 0x04 */
	uint32_t flags;          /* 0x08: SIF_xxx, 0 here */
	uint32_t nr_modules;     /* 0x0c */
	uint64_t modlist_paddr;  /* 0x10: array of struct lvm_hvm_modlist_entry */
	uint64_t cmdline_paddr;  /* 0x18: NUL-terminated, 0 if none */
	uint64_t rsdp_paddr;     /* 0x20: ACPI RSDP, 0 if none */
	uint64_t memmap_paddr;   /* 0x28: version >= 1: struct lvm_hvm_memmap_entry[] */
	uint32_t memmap_entries; /* 0x30 */
	uint32_t reserved;       /* 0x34 */
};

struct lvm_hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct lvm_hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* E820 types */
	uint32_t reserved;
};

_Static_assert(sizeof(struct lvm_hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(sizeof(struct lvm_hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct lvm_hvm_memmap_entry) == 24, "hvm_memmap_table_entry layout");

/*
 * The PVH entry point of `data`: 1 and *entry when the note is there, 0
 * when it is not, -1 (lvm_error) when the note is malformed.
 */
int lvm_pvh_find_entry(const char *path, const uint8_t *data, size_t size, uint32_t *entry);
/* Loads the ELF, command line, initrd and start info; sets up vCPU 0. */
int lvm_pvh_load(struct lvm_vm *vm, const struct lvm_x86_boot *boot,
		 const uint8_t *data, size_t size);

#endif
