/* Loading a static 64-bit x86 ELF executable's PT_LOAD segments into RAM. */
#ifndef LVM_ARCH_X86_BOOT_LOADER_ELF_H
#define LVM_ARCH_X86_BOOT_LOADER_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/memory.h"

struct lvm_elf_image {
	uint64_t entry;
	uint64_t lowest;  /* lowest guest-physical byte loaded */
	uint64_t highest; /* one past the highest */
};

/*
 * Validates `data` (the whole file, `size` bytes, named `path` in errors)
 * and copies its segments into `mem`.  Segments must lie in RAM at or above
 * `low_limit`, and the entry point inside one of them.
 */
int lvm_elf64_load(struct lvm_memory *mem, const char *path, const uint8_t *data,
		   size_t size, uint64_t low_limit, struct lvm_elf_image *out);
/*
 * The same without requiring e_entry inside a segment: for kernels entered
 * elsewhere (PVH note, multiboot header), e.g. Linux's vmlinux, whose
 * e_entry is a virtual address.
 */
int lvm_elf64_load_segments(struct lvm_memory *mem, const char *path, const uint8_t *data,
			    size_t size, uint64_t low_limit, struct lvm_elf_image *out);
/* True if `data` starts with the ELF magic. */
int lvm_elf_is_elf(const uint8_t *data, size_t size);

#endif
