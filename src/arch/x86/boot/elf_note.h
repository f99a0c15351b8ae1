/* Reading ELF notes (PT_NOTE segments) of a kernel image, bounds-checked. */
#ifndef LVM_ARCH_X86_BOOT_ELF_NOTE_H
#define LVM_ARCH_X86_BOOT_ELF_NOTE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Looks through the PT_NOTE segments of the ELF64 image `data` for the
 * first note called `name` with type `type`.  Returns 1 and points *desc at
 * its descriptor (*descsz bytes, inside `data`) when found, 0 when absent
 * (or not an ELF64 file), -1 with lvm_error set when the notes are
 * malformed.
 */
int lvm_elf64_find_note(const char *path, const uint8_t *data, size_t size, const char *name,
			uint32_t type, const uint8_t **desc, uint32_t *descsz);

#endif
