/*
 * Entering a kernel in flat 32-bit protected mode with paging off, the
 * state both the PVH boot ABI (Xen's docs/misc/pvh.pandoc, "Initial
 * state": CS/DS/ES/SS flat 4 GiB, TR a 32-bit TSS, CR0.PE=1, CR0.PG=0,
 * CR4=0, EFER.LME=0, EBX = start info) and Multiboot 0.6.96 §3.2 ("Machine
 * state": EAX = magic, EBX = info, flat segments, PG off, IF off) ask for.
 */
#ifndef LVM_ARCH_X86_BOOT_BOOT32_H
#define LVM_ARCH_X86_BOOT_BOOT32_H

#include <stdint.h>

#include "kvm/vm.h"

#define LVM_BOOT32_CODE_SEL 0x08u
#define LVM_BOOT32_DATA_SEL 0x10u

/* Writes the flat 32-bit GDT at LVM_BOOT_GDT32_ADDR and enters at `entry`. */
int lvm_x86_enter_protected_mode(struct lvm_vm *vm, struct lvm_vcpu *vcpu, uint32_t entry,
				 uint32_t eax, uint32_t ebx);

#endif
