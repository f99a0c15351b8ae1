/*
 * The hand-off between luavmm's ELF loader and a 64-bit test guest.
 * Shared by the VMM and by the freestanding guests in tests/guests, so it
 * uses nothing but <stdint.h>.  tests/guests/README documents the whole
 * entry state; this header is its machine-readable part.
 */
#ifndef LUAVMM_BOOTINFO_H
#define LUAVMM_BOOTINFO_H

#include <stdint.h>

#define LVM_BOOTINFO_MAGIC   0x42564d4cu /* "LMVB" read as bytes: 'L' 'M' 'V' 'B' */
#define LVM_BOOTINFO_VERSION 1u

/* Guest-physical layout of what the VMM writes below 1 MiB. */
#define LVM_BOOT_GDT_ADDR      0x1000u  /* GDT: 0x10 = 64-bit code, 0x18 = data */
#define LVM_BOOT_INFO_ADDR     0x2000u  /* struct lvm_bootinfo */
#define LVM_BOOT_STACK_TOP     0x8000u  /* initial RSP; guests should set their own */
#define LVM_BOOT_PML4_ADDR     0x9000u  /* PML4, then PDPT, then 4 page directories */
#define LVM_BOOT_CMDLINE_ADDR  0x20000u /* NUL-terminated command line */
#define LVM_BOOT_CMDLINE_MAX   0x10000u /* bytes, including the NUL */
#define LVM_BOOT_LOW_LIMIT     0x100000u /* ELF segments must load at or above 1 MiB */

/*
 * An ELF note (name "luavmm", this type, any descriptor) saying the kernel
 * wants luavmm's 64-bit entry with struct lvm_bootinfo even though it also
 * carries a PVH note: boot = "auto" then picks the 64-bit entry.
 */
#define LVM_ELFNOTE_NAME     "luavmm"
#define LVM_ELFNOTE_BOOTINFO 1u

#define LVM_BOOT_CODE_SEL 0x10u
#define LVM_BOOT_DATA_SEL 0x18u

struct lvm_bootinfo {
	uint32_t magic;        /* LVM_BOOTINFO_MAGIC */
	uint32_t version;      /* LVM_BOOTINFO_VERSION */
	uint64_t mem_size;     /* bytes of guest RAM (below and above the 32-bit hole) */
	uint64_t cmdline_addr; /* guest-physical address of the command line */
	uint32_t cmdline_len;  /* length without the NUL */
	uint32_t ncpus;        /* vCPUs in the machine */
	uint64_t dtb_addr;     /* device tree blob, 0 when there is none */
	uint32_t dtb_size;
	uint32_t reserved;
};

#endif
