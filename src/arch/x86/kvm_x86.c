#include "arch/x86/kvm_x86.h"

#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "util/error.h"

/*
 * Intel VMX needs a 3-page TSS region and an identity-map page below 4 GiB
 * that RAM does not cover (api.rst KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR).
 */
static int set_tss_and_identity_map(struct lvm_vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		return lvm_fail_errno("KVM_SET_TSS_ADDR");
	uint64_t identity_map = 0xfffbc000ull;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map) < 0)
		return lvm_fail_errno("KVM_SET_IDENTITY_MAP_ADDR");
	return 0;
}

/*
 * PIC, IOAPIC and LAPICs in KVM.  Costs start-up time: KVM_CREATE_IRQCHIP
 * leaves an SRCU grace period that the next memory-slot ioctl waits for,
 * and the in-kernel PIT ~15 ms of SRCU waits at close (DESIGN.md §1).
 */
static int create_kernel_irqchip(struct lvm_vm *vm, bool pit)
{
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return lvm_fail_errno("KVM_CREATE_IRQCHIP");
	struct kvm_pit_config config = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (pit && ioctl(vm->vm_fd, KVM_CREATE_PIT2, &config) < 0)
		return lvm_fail_errno("KVM_CREATE_PIT2");
	return 0;
}

/*
 * LAPICs in KVM, everything else in userspace (api.rst 7.x
 * KVM_CAP_SPLIT_IRQCHIP): args[0] reserves the GSIs the userspace IOAPIC
 * routes, so KVM reports EOIs of their level-triggered vectors
 * (KVM_EXIT_IOAPIC_EOI).  Must come before the vCPUs.
 */
static int create_split_irqchip(struct lvm_vm *vm)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP,
				      .args = { LVM_X86_IOAPIC_GSIS } };
	if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return lvm_fail_errno("KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)");
	return 0;
}

int lvm_arch_vm_init(struct lvm_vm *vm, const struct lvm_vm_options *opts)
{
	vm->irqchip_mode = opts->irqchip;
	vm->pit = opts->pit;
	if (set_tss_and_identity_map(vm) < 0)
		return -1;
	switch (opts->irqchip) {
	case LVM_IRQCHIP_KERNEL:
		return create_kernel_irqchip(vm, opts->pit);
	case LVM_IRQCHIP_SPLIT:
		return create_split_irqchip(vm);
	}
	return lvm_fail("irqchip: unknown mode %d", (int)opts->irqchip);
}

int lvm_x86_signal_msi(struct lvm_vm *vm, struct lvm_msi msi)
{
	struct kvm_msi m = { .address_lo = (uint32_t)msi.address,
			     .address_hi = (uint32_t)(msi.address >> 32), .data = msi.data };
	/* Returns 0 when no LAPIC took the message (a guest's business, not an error). */
	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &m) < 0)
		return lvm_fail_errno("KVM_SIGNAL_MSI");
	return 0;
}

/*
 * Replaces KVM's whole GSI routing table (api.rst KVM_SET_GSI_ROUTING).
 * With a split irqchip only MSI routes exist; irqfds bound to a GSI without
 * a route stay silent until one appears.
 */
int lvm_x86_set_msi_routes(struct lvm_vm *vm, const struct lvm_x86_route *routes, unsigned n)
{
	struct kvm_irq_routing *table =
		calloc(1, sizeof(*table) + n * sizeof(struct kvm_irq_routing_entry));
	if (!table)
		return lvm_fail("out of memory");
	unsigned count = 0;
	for (unsigned gsi = 0; gsi < n; gsi++) {
		if (!routes[gsi].routed)
			continue;
		struct kvm_irq_routing_entry *e = &table->entries[count++];
		e->gsi = gsi;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)routes[gsi].msi.address;
		e->u.msi.address_hi = (uint32_t)(routes[gsi].msi.address >> 32);
		e->u.msi.data = routes[gsi].msi.data;
	}
	table->nr = count;
	int rc = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, table);
	free(table);
	return rc < 0 ? lvm_fail_errno("KVM_SET_GSI_ROUTING") : 0;
}
