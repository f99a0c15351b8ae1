/*
 * boot_params setup_data for a bzImage (boot.rst, "Details of Header
 * Fields": setup_data, protocol 2.09+): a singly linked list of
 * struct setup_data { next, type, len, data[len] } in guest RAM, headed by
 * hdr.setup_data.  luavmm hands Linux one node: the machine's device tree
 * as SETUP_DTB, in the loader scratch area (layout.h).
 */
#ifndef LVM_ARCH_X86_BOOT_SETUP_DATA_H
#define LVM_ARCH_X86_BOOT_SETUP_DATA_H

#include <asm/bootparam.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/memory.h"

#define LVM_SETUP_DATA_MIN_VERSION 0x0209u /* boot.rst: setup_data appeared in 2.09 */

/*
 * Writes a SETUP_DTB node holding `dtb` (`size` bytes) at `addr`, in front
 * of the list `bp` already heads, and makes it the new head.  A NULL or
 * empty blob leaves bp alone.  Fails if the node does not fit in
 * [addr, end).
 */
int lvm_x86_setup_data_add_dtb(struct lvm_memory *mem, struct boot_params *bp, uint64_t addr,
			       uint64_t end, const void *dtb, size_t size);

#endif
