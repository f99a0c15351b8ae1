/*
 * The x86-only KVM ioctls: the VM's TSS and identity-map pages, the
 * irqchip in either mode (kernel: KVM_CREATE_IRQCHIP and optionally
 * KVM_CREATE_PIT2; split: KVM_CAP_SPLIT_IRQCHIP, LAPICs only), and what
 * the userspace interrupt controllers of the split mode need from KVM:
 * sending an MSI, the MSI routes of the IOAPIC's GSIs, and ExtINT injection.
 * lvm_arch_vm_init (kvm/arch.h) is implemented here.
 */
#ifndef LVM_ARCH_X86_KVM_X86_H
#define LVM_ARCH_X86_KVM_X86_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm/arch.h"
#include "kvm/irq.h"
#include "kvm/vm.h"

/* GSIs 0-23 are the IOAPIC's pins in both modes (the MADT says so). */
#define LVM_X86_IOAPIC_GSIS 24u

/* One pin's route: an MSI, or none. */
struct lvm_x86_route {
	bool routed;
	struct lvm_msi msi;
};

/* KVM_SIGNAL_MSI: hands one message to the in-kernel LAPICs. */
int lvm_x86_signal_msi(struct lvm_vm *vm, struct lvm_msi msi);
/* KVM_SET_GSI_ROUTING: GSI i routes to routes[i] (i < n), or nowhere. */
int lvm_x86_set_msi_routes(struct lvm_vm *vm, const struct lvm_x86_route *routes, unsigned n);

#endif
