/*
 * The machine's CPUs as the PC assembly sets them up: the firmware tables
 * that describe them (acpi.h, mptable.h) and each vCPU's CPUID (cpuid.h)
 * and MSRs (msr.h).
 */
#ifndef LVM_ARCH_X86_PC_CPUS_H
#define LVM_ARCH_X86_PC_CPUS_H

#include "arch/x86/board.h"

/* ACPI tables and the MP table; before any loader, which may point at them. */
int lvm_pc_write_firmware(struct lvm_vm *vm);
/* CPUID (topology + the recipe's policy) and MSR defaults for one vCPU. */
int lvm_pc_setup_vcpu(struct lvm_vm *vm, struct lvm_vcpu *vcpu,
		      const struct lvm_machine_config *config);

#endif
