/*
 * Entering a 64-bit kernel directly in long mode, the way Linux's 64-bit
 * boot protocol does (boot.rst, "64-bit Boot Protocol"): paging on with an
 * identity map, flat segments from a GDT the loader wrote, interrupts off.
 */
#ifndef LVM_ARCH_X86_BOOT_BOOT64_H
#define LVM_ARCH_X86_BOOT_BOOT64_H

#include <stdint.h>

#include "kvm/vm.h"

/* Writes the GDT and identity-map page tables into guest RAM. */
int lvm_x86_write_long_mode_tables(struct lvm_vm *vm);
/* Puts `vcpu` in long mode at `entry` with RSI = `rsi`. */
int lvm_x86_enter_long_mode(struct lvm_vcpu *vcpu, uint64_t entry, uint64_t rsi);

#endif
