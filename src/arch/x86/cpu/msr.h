/*
 * MSR defaults per vCPU, set through KVM_SET_MSRS before the first
 * KVM_RUN (INIT keeps them: SDM vol. 3A §9.1.1, table 9-1):
 *   IA32_MISC_ENABLE (0x1a0)  fast-string operations enabled (bit 0), as
 *                             firmware leaves it; KVM starts at 0;
 *   IA32_PAT (0x277)          the power-on value 0x0007040600070406
 *                             (WB, WT, UC-, UC, twice; SDM §12.12.4);
 *   IA32_MTRR_DEF_TYPE (0x2ff) MTRRs enabled, default type write-back
 *                             (0x806), i.e. all RAM cacheable, as firmware
 *                             sets it before handing over; without it Linux
 *                             sees every access as uncached.
 * An MSR KVM lists in KVM_GET_MSR_INDEX_LIST must take its value; one it
 * does not list is tried and skipped if refused (kvm_pvm lists no MTRRs).
 */
#ifndef LVM_ARCH_X86_CPU_MSR_H
#define LVM_ARCH_X86_CPU_MSR_H

#include "kvm/vm.h"

int lvm_x86_setup_msrs(struct lvm_vm *vm, struct lvm_vcpu *vcpu);

#endif
