/*
 * The guest's memory map as a BIOS's INT 15h/E820 would report it; every
 * boot protocol (boot_params, PVH memmap, multiboot mmap) is built from it.
 */
#ifndef LVM_ARCH_X86_BOOT_E820_H
#define LVM_ARCH_X86_BOOT_E820_H

#include <asm/bootparam.h>
#include <asm/e820.h>

#include "kvm/memory.h"

/*
 * Fills `out` (room for `max` entries) sorted by address and
 * non-overlapping: RAM below the EBDA, reserved EBDA + BIOS area up to
 * 1 MiB, RAM from 1 MiB to the MMIO hole, RAM above 4 GiB.  Returns the
 * number of entries.
 */
unsigned lvm_x86_e820_build(const struct lvm_memory *mem, struct boot_e820_entry *out,
			    unsigned max);

#endif
