/* One vCPU: its fd, its kvm_run page and the thread that runs KVM_RUN. */
#ifndef LVM_KVM_VCPU_H
#define LVM_KVM_VCPU_H

#include "kvm/vm.h"

int lvm_vcpu_init(struct lvm_vm *vm, struct lvm_vcpu *vcpu, unsigned index);
void lvm_vcpu_destroy(struct lvm_vcpu *vcpu);
int lvm_vcpu_start_thread(struct lvm_vcpu *vcpu);
/* Makes a running KVM_RUN return soon (from any thread). */
void lvm_vcpu_kick(struct lvm_vcpu *vcpu);

#endif
