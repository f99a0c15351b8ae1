/* One vCPU: its fd, its kvm_run page and the thread that runs KVM_RUN. */
#ifndef LVM_KVM_VCPU_H
#define LVM_KVM_VCPU_H

#include "kvm/vm.h"

int lvm_vcpu_init(struct lvm_vm *vm, struct lvm_vcpu *vcpu, unsigned index);
void lvm_vcpu_destroy(struct lvm_vcpu *vcpu);
int lvm_vcpu_start_thread(struct lvm_vcpu *vcpu);
/* Runs the VM's per-vCPU set-up on this vCPU unless done (lvm_vcpu_setup);
 * waits if another thread is running it.  0, or -1 + lvm_error. */
int lvm_vcpu_set_up(struct lvm_vcpu *vcpu);
/* "rax", "rbx", ... "r15", "rip", "rflags": the order of struct kvm_regs. */
extern const char *const lvm_reg_names[LVM_REG_COUNT];
/* The index of `name` in lvm_reg_names, or -1. */
int lvm_reg_index(const char *name);

/* The index of the vCPU whose thread this is, -1 on any other thread (bus
 * handlers use it to say which vCPU made an access). */
extern _Thread_local int lvm_vcpu_current;
/* Makes a running KVM_RUN return soon (from any thread). */
void lvm_vcpu_kick(struct lvm_vcpu *vcpu);

#endif
