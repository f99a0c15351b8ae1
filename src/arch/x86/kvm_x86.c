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
 * KVM_CREATE_IRQCHIP routes GSI n < 16 to PIC pin n and IOAPIC pin n, and
 * n < 24 to IOAPIC pin n (KVM's default routing).  A later
 * KVM_SET_GSI_ROUTING (MSI-X vectors) replaces the whole table, so the
 * table it pushes must carry these too: recorded here, not pushed.
 */
static int record_default_routes(struct lvm_vm *vm)
{
	struct kvm_irq_routing_entry e[16 * 2 + (LVM_X86_IOAPIC_GSIS - 16)];
	unsigned n = 0;
	for (unsigned gsi = 0; gsi < LVM_X86_IOAPIC_GSIS; gsi++) {
		if (gsi < 16)
			e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
					       gsi % 8 } };
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { KVM_IRQCHIP_IOAPIC, gsi } };
	}
	return lvm_gsi_routes_set(&vm->gsi_routes, vm->vm_fd, 0, LVM_X86_IOAPIC_GSIS, e, n, false);
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
	return record_default_routes(vm);
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
 * The IOAPIC's GSIs in the VM's routing table (kvm/gsi_routes.h), which
 * also holds the MSI-X vectors' routes above them.  With a split irqchip
 * only MSI routes exist; irqfds bound to a GSI without a route stay silent
 * until one appears.
 */
int lvm_x86_set_msi_routes(struct lvm_vm *vm, const struct lvm_x86_route *routes, unsigned n)
{
	struct kvm_irq_routing_entry *e = calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return lvm_fail("out of memory");
	unsigned count = 0;
	for (unsigned gsi = 0; gsi < n; gsi++) {
		if (!routes[gsi].routed)
			continue;
		e[count++] = (struct kvm_irq_routing_entry){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (uint32_t)routes[gsi].msi.address,
				   .address_hi = (uint32_t)(routes[gsi].msi.address >> 32),
				   .data = routes[gsi].msi.data } };
	}
	int rc = lvm_gsi_routes_set(&vm->gsi_routes, vm->vm_fd, 0, n, e, count, true);
	free(e);
	return rc;
}
