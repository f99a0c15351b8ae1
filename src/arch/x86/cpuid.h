/* The CPUID a vCPU sees: what KVM supports, with this vCPU's topology. */
#ifndef LVM_X86_CPUID_H
#define LVM_X86_CPUID_H

#include "core/vm.h"

int lvm_x86_setup_cpuid(struct lvm_vm *vm, struct lvm_vcpu *vcpu);

#endif
