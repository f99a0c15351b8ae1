/*
 * Real KVM, no guest code: the split irqchip's userspace controllers are on
 * the buses, and their interrupts reach the in-kernel LAPIC both through
 * KVM_SIGNAL_MSI (lvm_vm_set_irq -> IOAPIC) and through an irqfd whose GSI
 * route follows the IOAPIC's redirection entry.  Seen in vCPU 0's IRR.
 */
#include <dirent.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/interrupts.h"
#include "arch/x86/layout.h"
#include "check.h"
#include "util/error.h"

#define APIC_SVR 0xf0
#define APIC_IRR 0x200

static struct lvm_vm *new_vm(enum lvm_irqchip_mode mode, bool pit)
{
	struct lvm_vm_options opts = { .mem_size = 16u << 20, .ncpus = 1, .irqchip = mode,
				       .pit = pit };
	struct lvm_vm *vm = lvm_vm_create(&opts);
	if (!vm || lvm_x86_interrupts_attach(vm) < 0) {
		fprintf(stderr, "vm: %s\n", lvm_error());
		check_failures++;
		lvm_vm_destroy(vm);
		return NULL;
	}
	return vm;
}

static void pio(struct lvm_vm *vm, uint16_t port, uint8_t *v, bool is_write)
{
	CHECK(lvm_bus_dispatch(&vm->pio, port, v, 1, is_write));
}

static void ioapic_write(struct lvm_vm *vm, uint8_t reg, uint32_t v)
{
	CHECK(lvm_bus_dispatch(&vm->mmio, LVM_IOAPIC_ADDR, &reg, 1, true));
	CHECK(lvm_bus_dispatch(&vm->mmio, LVM_IOAPIC_ADDR + 0x10, (uint8_t *)&v, 4, true));
}

static uint32_t ioapic_read(struct lvm_vm *vm, uint8_t reg)
{
	uint32_t v = 0;
	CHECK(lvm_bus_dispatch(&vm->mmio, LVM_IOAPIC_ADDR, &reg, 1, true));
	CHECK(lvm_bus_dispatch(&vm->mmio, LVM_IOAPIC_ADDR + 0x10, (uint8_t *)&v, 4, false));
	return v;
}

/* The LAPIC drops fixed interrupts while software-disabled (SVR bit 8). */
static void enable_lapic(struct lvm_vm *vm)
{
	struct kvm_lapic_state s;
	CHECK(ioctl(vm->vcpus[0].fd, KVM_GET_LAPIC, &s) == 0);
	uint32_t svr = 0x1ff;
	memcpy(s.regs + APIC_SVR, &svr, 4);
	CHECK(ioctl(vm->vcpus[0].fd, KVM_SET_LAPIC, &s) == 0);
}

static bool irr_has(struct lvm_vm *vm, uint8_t vector)
{
	struct kvm_lapic_state s;
	uint32_t word = 0;
	for (int i = 0; i < 1000; i++) {
		if (ioctl(vm->vcpus[0].fd, KVM_GET_LAPIC, &s) < 0)
			return false;
		memcpy(&word, s.regs + APIC_IRR + 0x10 * (vector / 32), 4);
		if (word & (1u << (vector % 32)))
			return true;
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	return false;
}

static void test_devices_on_the_buses(void)
{
	struct lvm_vm *vm = new_vm(LVM_IRQCHIP_SPLIT, true);
	if (!vm)
		return;
	uint8_t v = 0x5a;
	pio(vm, 0x21, &v, true);
	v = 0;
	pio(vm, 0x21, &v, false);
	CHECK_EQ_U64(v, 0x5a);
	pio(vm, 0x4d1, &v, false);
	pio(vm, 0xa1, &v, false);
	pio(vm, 0x61, &v, false);
	v = 0x34;
	pio(vm, 0x43, &v, true);
	CHECK_EQ_U64(ioapic_read(vm, 0x01), 0x00170011);
	lvm_vm_destroy(vm);
}

static void test_msi_and_irqfd_reach_the_lapic(void)
{
	struct lvm_vm *vm = new_vm(LVM_IRQCHIP_SPLIT, false);
	if (!vm)
		return;
	enable_lapic(vm);
	ioapic_write(vm, 0x10 + 2 * 5, 0x45); /* pin 5: vector 0x45, edge, to APIC 0 */
	lvm_vm_set_irq(vm, 5, 1);
	lvm_vm_set_irq(vm, 5, 0);
	CHECK(irr_has(vm, 0x45));

	int efd = eventfd(0, EFD_CLOEXEC);
	struct kvm_irqfd irqfd = { .fd = (uint32_t)efd, .gsi = 6 };
	CHECK(ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) == 0);
	ioapic_write(vm, 0x10 + 2 * 6, 0x46); /* the route appears after the irqfd */
	uint64_t one = 1;
	CHECK(write(efd, &one, sizeof(one)) == sizeof(one));
	CHECK(irr_has(vm, 0x46));
	irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
	ioctl(vm->vm_fd, KVM_IRQFD, &irqfd);
	close(efd);
	lvm_vm_destroy(vm);
}

static void test_kernel_mode_attaches_nothing(void)
{
	struct lvm_vm *vm = new_vm(LVM_IRQCHIP_KERNEL, true);
	if (!vm)
		return;
	uint8_t v = 0;
	CHECK(!lvm_bus_dispatch(&vm->pio, 0x21, &v, 1, false));
	lvm_vm_set_irq(vm, 4, 1); /* KVM_IRQ_LINE */
	lvm_vm_destroy(vm);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void test_teardown_leaves_nothing(void)
{
	int fds = count_fds();
	for (int i = 0; i < 20; i++) {
		struct lvm_vm *vm = new_vm(LVM_IRQCHIP_SPLIT, true);
		if (!vm)
			return;
		uint8_t cmd[] = { 0x34, 0x10, 0x00 }; /* the PIT ticks while we tear down */
		pio(vm, 0x43, &cmd[0], true);
		pio(vm, 0x40, &cmd[1], true);
		pio(vm, 0x40, &cmd[2], true);
		lvm_vm_destroy(vm);
	}
	CHECK_EQ_U64(count_fds(), fds);
}

int main(void)
{
	RUN_TEST(test_devices_on_the_buses);
	RUN_TEST(test_msi_and_irqfd_reach_the_lapic);
	RUN_TEST(test_kernel_mode_attaches_nothing);
	RUN_TEST(test_teardown_leaves_nothing);
	return CHECK_DONE();
}
