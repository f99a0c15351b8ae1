#include "arch/x86/interrupts.h"

#include <pthread.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "arch/x86/kvm_x86.h"
#include "arch/x86/layout.h"
#include "devices/i8254.h"
#include "devices/i8254_timer.h"
#include "devices/i8259.h"
#include "devices/ioapic.h"
#include "kvm/vcpu.h"
#include "util/error.h"

#define PIC_IRQS 16u
#define PIT_GSI 0u

struct interrupts {
	struct lvm_vm *vm;
	struct lvm_i8259 *pic;
	struct lvm_ioapic *ioapic;
	struct lvm_i8254 *pit;
	struct lvm_i8254_timer *pit_timer;
	struct lvm_x86_route routes[LVM_X86_IOAPIC_GSIS]; /* under the IOAPIC's lock */
};

static void set_irq(void *ctx, unsigned gsi, int level)
{
	struct interrupts *in = ctx;
	if (gsi < PIC_IRQS)
		lvm_i8259_set_irq(in->pic, gsi, level);
	lvm_ioapic_set_irq(in->ioapic, gsi, level);
}

static void eoi(void *ctx, uint8_t vector)
{
	struct interrupts *in = ctx;
	lvm_ioapic_eoi(in->ioapic, vector);
}

static bool extint_pending(void *ctx)
{
	struct interrupts *in = ctx;
	return lvm_i8259_output(in->pic);
}

static uint8_t extint_ack(void *ctx)
{
	struct interrupts *in = ctx;
	return lvm_i8259_ack(in->pic);
}

/* INT rose: vCPU 0 offers the vector before its next KVM_RUN (kvm/vcpu.c). */
static void pic_notify(void *ctx)
{
	struct interrupts *in = ctx;
	struct lvm_vcpu *bsp = &in->vm->vcpus[0];
	if (!bsp->thread_started || pthread_equal(pthread_self(), bsp->thread))
		return; /* not running yet, or it will look before re-entering */
	lvm_vcpu_kick(bsp);
}

static void ioapic_deliver(void *ctx, struct lvm_msi msi)
{
	struct interrupts *in = ctx;
	lvm_x86_signal_msi(in->vm, msi);
}

static void ioapic_route(void *ctx, unsigned pin, bool routed, struct lvm_msi msi)
{
	struct interrupts *in = ctx;
	in->routes[pin] = (struct lvm_x86_route){ routed, msi };
	lvm_x86_set_msi_routes(in->vm, in->routes, LVM_X86_IOAPIC_GSIS);
}

static const struct lvm_ioapic_ops ioapic_ops = { ioapic_deliver, ioapic_route };

static void free_interrupts(void *ctx)
{
	struct interrupts *in = ctx;
	lvm_i8254_timer_free(in->pit_timer); /* joins the only thread that calls us */
	lvm_i8254_free(in->pit);
	lvm_ioapic_free(in->ioapic);
	lvm_i8259_free(in->pic);
	free(in);
}

static int attach_pit(struct interrupts *in)
{
	struct lvm_vm *vm = in->vm;
	in->pit_timer = lvm_i8254_timer_new();
	if (!in->pit_timer)
		return -1;
	struct lvm_i8254_clock clock = lvm_i8254_timer_clock(in->pit_timer);
	in->pit = lvm_i8254_new((struct lvm_irq_line){ lvm_vm_set_irq, vm, PIT_GSI }, &clock);
	if (!in->pit || lvm_i8254_timer_start(in->pit_timer, in->pit) < 0)
		return -1;
	if (lvm_bus_register(&vm->pio, 0x40, 4, lvm_i8254_io, in->pit, "i8254") < 0 ||
	    lvm_bus_register(&vm->pio, 0x61, 1, lvm_i8254_port61_io, in->pit, "port61") < 0)
		return -1;
	return 0;
}

static int attach_split(struct interrupts *in)
{
	struct lvm_vm *vm = in->vm;
	in->pic = lvm_i8259_new(pic_notify, in);
	in->ioapic = lvm_ioapic_new(LVM_IOAPIC_ID, &ioapic_ops, in);
	if (!in->pic || !in->ioapic)
		return -1;
	if (lvm_bus_register(&vm->pio, 0x20, 2, lvm_i8259_master_io, in->pic, "i8259") < 0 ||
	    lvm_bus_register(&vm->pio, 0xa0, 2, lvm_i8259_slave_io, in->pic, "i8259") < 0 ||
	    lvm_bus_register(&vm->pio, 0x4d0, 2, lvm_i8259_elcr_io, in->pic, "elcr") < 0 ||
	    lvm_bus_register(&vm->mmio, LVM_IOAPIC_ADDR, LVM_IOAPIC_MMIO_SIZE, lvm_ioapic_mmio,
			     in->ioapic, "ioapic") < 0)
		return -1;
	return vm->pit ? attach_pit(in) : 0;
}

int lvm_x86_interrupts_attach(struct lvm_vm *vm)
{
	if (vm->irqchip_mode == LVM_IRQCHIP_KERNEL)
		return 0;
	if (vm->irqchip.ctx)
		return lvm_fail("interrupts: already attached");
	struct interrupts *in = calloc(1, sizeof(*in));
	if (!in)
		return lvm_fail("out of memory");
	in->vm = vm;
	vm->irqchip = (struct lvm_irqchip){ .ctx = in, .free = free_interrupts };
	if (attach_split(in) < 0)
		return -1;
	vm->irqchip.set_irq = set_irq;
	vm->irqchip.eoi = eoi;
	vm->irqchip.extint_pending = extint_pending;
	vm->irqchip.extint_ack = extint_ack;
	return 0;
}

/* One byte to a PIC port through the bus, as a guest's `out` would. */
static void pic_out(struct lvm_vm *vm, uint16_t port, uint8_t value)
{
	lvm_bus_dispatch(&vm->pio, port, &value, 1, true);
}

/* The in-kernel PICs: rewrite their state (api.rst KVM_GET_IRQCHIP/KVM_SET_IRQCHIP). */
static int kernel_pic_bios_state(struct lvm_vm *vm)
{
	static const struct { uint32_t chip; uint8_t base, imr; } pics[] = {
		{ KVM_IRQCHIP_PIC_MASTER, 0x08, 0xfb }, { KVM_IRQCHIP_PIC_SLAVE, 0x70, 0xff },
	};
	for (size_t i = 0; i < sizeof(pics) / sizeof(pics[0]); i++) {
		struct kvm_irqchip chip = { .chip_id = pics[i].chip };
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			return lvm_fail_errno("KVM_GET_IRQCHIP");
		chip.chip.pic.irq_base = pics[i].base;
		chip.chip.pic.imr = pics[i].imr;
		chip.chip.pic.init_state = 0;
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
			return lvm_fail_errno("KVM_SET_IRQCHIP");
	}
	return 0;
}

int lvm_x86_pic_bios_state(struct lvm_vm *vm)
{
	if (vm->irqchip_mode == LVM_IRQCHIP_KERNEL)
		return kernel_pic_bios_state(vm);
	/* ICW1 (edge, cascade, ICW4 follows), ICW2 (vector base), ICW3 (the
	 * slave on IR2 / the slave's ID 2), ICW4 (8086 mode), then the masks. */
	pic_out(vm, 0x20, 0x11);
	pic_out(vm, 0x21, 0x08);
	pic_out(vm, 0x21, 0x04);
	pic_out(vm, 0x21, 0x01);
	pic_out(vm, 0xa0, 0x11);
	pic_out(vm, 0xa1, 0x70);
	pic_out(vm, 0xa1, 0x02);
	pic_out(vm, 0xa1, 0x01);
	pic_out(vm, 0x21, 0xfb); /* everything masked but the cascade */
	pic_out(vm, 0xa1, 0xff);
	return 0;
}
