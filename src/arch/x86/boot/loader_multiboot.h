/*
 * Multiboot (version 1) kernels, per the Multiboot Specification 0.6.96:
 * a header in the first 8 KiB (§3.1), the image loaded either from its ELF
 * program headers or, with flag 16, from the header's address fields (the
 * "a.out kludge", §3.1.3), and an info structure (§3.3) handed over in EBX
 * with EAX = 0x2BADB002 in 32-bit protected mode (§3.2).
 *
 * No system header describes these, so they are defined here from the
 * specification's tables; field comments give the spec's byte offsets.
 */
#ifndef LVM_ARCH_X86_BOOT_LOADER_MULTIBOOT_H
#define LVM_ARCH_X86_BOOT_LOADER_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/boot/boot_data.h"
#include "kvm/vm.h"

#define LVM_MB_HEADER_MAGIC     0x1badb002u
#define LVM_MB_BOOTLOADER_MAGIC 0x2badb002u /* in EAX at entry */
#define LVM_MB_SEARCH           8192u       /* §3.1: header within the first 8 KiB */

/* Header flags (§3.1.2). */
#define LVM_MB_PAGE_ALIGN  (1u << 0)  /* modules page aligned */
#define LVM_MB_MEMORY_INFO (1u << 1)  /* mem_* and mmap_* wanted */
#define LVM_MB_VIDEO_MODE  (1u << 2)  /* video info wanted (not provided) */
#define LVM_MB_AOUT_KLUDGE (1u << 16) /* the address fields are valid */

/* Info flags (§3.3). */
#define LVM_MBI_MEMORY   (1u << 0)
#define LVM_MBI_CMDLINE  (1u << 2)
#define LVM_MBI_MODS     (1u << 3)
#define LVM_MBI_MMAP     (1u << 6)
#define LVM_MBI_LOADER   (1u << 9)

struct lvm_mb_header {       /* §3.1.1 */
	uint32_t magic;          /* 0 */
	uint32_t flags;          /* 4 */
	uint32_t checksum;       /* 8: magic + flags + checksum == 0 */
	uint32_t header_addr;    /* 12, if flags[16] */
	uint32_t load_addr;      /* 16 */
	uint32_t load_end_addr;  /* 20: 0 = to the end of the file */
	uint32_t bss_end_addr;   /* 24: 0 = no bss */
	uint32_t entry_addr;     /* 28 */
};

struct lvm_mb_info {         /* §3.3, up to the VBE fields */
	uint32_t flags;          /* 0 */
	uint32_t mem_lower;      /* 4: KiB from 0, flags[0] */
	uint32_t mem_upper;      /* 8: KiB from 1 MiB */
	uint32_t boot_device;    /* 12, flags[1] */
	uint32_t cmdline;        /* 16, flags[2] */
	uint32_t mods_count;     /* 20, flags[3] */
	uint32_t mods_addr;      /* 24 */
	uint32_t syms[4];        /* 28..40, flags[4] or [5] */
	uint32_t mmap_length;    /* 44, flags[6] */
	uint32_t mmap_addr;      /* 48 */
	uint32_t drives_length;  /* 52, flags[7] */
	uint32_t drives_addr;    /* 56 */
	uint32_t config_table;   /* 60, flags[8] */
	uint32_t boot_loader_name; /* 64, flags[9] */
	uint32_t apm_table;      /* 68, flags[10] */
	uint32_t vbe[4];         /* 72..86, flags[11] */
};

struct lvm_mb_module {       /* §3.3 "mods_addr" */
	uint32_t mod_start;
	uint32_t mod_end;        /* one past the last byte */
	uint32_t string;
	uint32_t reserved;
};

struct __attribute__((packed)) lvm_mb_mmap_entry { /* §3.3 "mmap_addr" */
	uint32_t size;           /* of the rest of the entry: 20 */
	uint64_t base_addr;
	uint64_t length;
	uint32_t type;           /* 1 = RAM, other = reserved (E820 values) */
};

_Static_assert(sizeof(struct lvm_mb_info) == 88, "multiboot info layout");
_Static_assert(sizeof(struct lvm_mb_mmap_entry) == 24, "multiboot mmap entry layout");

/*
 * File offset of a valid multiboot header (magic and checksum) in the first
 * 8 KiB of `data`, copying it to *out when out is not NULL; -1 if none.
 */
long lvm_multiboot_find_header(const uint8_t *data, size_t size, struct lvm_mb_header *out);

struct lvm_mb_image {
	uint64_t entry;
	uint64_t lowest, highest; /* loaded [lowest, highest) */
};
/* Loads the image's bytes (a.out kludge or ELF32/ELF64) into `mem`. */
int lvm_multiboot_load_image(struct lvm_memory *mem, const char *path, const uint8_t *data,
			     size_t size, struct lvm_mb_image *out);
/* Loads everything and sets up vCPU 0. */
int lvm_multiboot_load(struct lvm_vm *vm, const struct lvm_x86_boot *boot,
		       const uint8_t *data, size_t size);

#endif
