/*
 * What every x86 boot protocol hands over the same way: the command line
 * and the initial ramdisk, written into guest RAM at places taken from
 * layout.h.  The protocol-specific loaders only say where the pointers go.
 */
#ifndef LVM_ARCH_X86_BOOT_BOOT_DATA_H
#define LVM_ARCH_X86_BOOT_BOOT_DATA_H

#include <stdint.h>

#include <stddef.h>

#include "kvm/memory.h"

/* What the board hands a loader: the files, the command line, the device tree. */
struct lvm_x86_boot {
	const char *kernel;  /* path, for messages */
	const char *cmdline; /* the final command line, may be NULL */
	const char *initrd;  /* path, or NULL */
	const void *dtb;     /* the machine's device tree blob (bzImage: SETUP_DTB) */
	size_t dtb_size;
};

struct lvm_x86_initrd {
	uint64_t addr; /* 0 when there is none */
	uint64_t size;
};

/*
 * Writes `cmdline` (NULL means "") NUL-terminated at LVM_BOOT_CMDLINE_ADDR.
 * `max_len` is the longest command line (without the NUL) the kernel
 * accepts; `limit_name` names that limit in the error ("the kernel's
 * cmdline_size").  Stores the length in *len when len is not NULL.
 */
int lvm_x86_write_cmdline(struct lvm_memory *mem, const char *cmdline, uint64_t max_len,
			  const char *limit_name, uint64_t *len);

/*
 * Loads the file at `path` (NULL: no initrd, out->addr = 0) page aligned as
 * high as it goes in low RAM, ending at or below `addr_max` (the highest
 * byte address it may occupy, e.g. boot.rst's initrd_addr_max) and starting
 * at or above `lowest` (the end of the kernel).  `limit_name` names
 * addr_max in errors.
 */
int lvm_x86_load_initrd(struct lvm_memory *mem, const char *path, uint64_t lowest,
			uint64_t addr_max, const char *limit_name, struct lvm_x86_initrd *out);

/* The highest initrd placement: page aligned, below min(addr_max+1, low RAM end). */
int lvm_x86_initrd_place(const struct lvm_memory *mem, uint64_t size, uint64_t lowest,
			 uint64_t addr_max, uint64_t *addr);

#endif
