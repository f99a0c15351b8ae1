#include "arch/x86/interrupts.h"

#include <pthread.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/kvm_x86.h"
#include "arch/x86/layout.h"
#include "devices/i8254.h"
#include "devices/i8254_timer.h"
#include "devices/i8259.h"
#include "devices/ioapic.h"
#include "kvm/vcpu.h"
#include "util/error.h"
#include "util/state.h"

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

/* One byte to a PIC or PIT port through the bus, as a guest's `out` would. */
static void pic_out(struct lvm_vm *vm, uint16_t port, uint8_t value)
{
	lvm_bus_dispatch(&vm->pio, port, &value, 1, true);
}

/* The in-kernel PICs: rewrite their state (api.rst KVM_GET_IRQCHIP/KVM_SET_IRQCHIP). */
static int kernel_pic_bios_state(struct lvm_vm *vm, uint8_t master_imr)
{
	const struct { uint32_t chip; uint8_t base, imr; } pics[] = {
		{ KVM_IRQCHIP_PIC_MASTER, 0x08, master_imr }, { KVM_IRQCHIP_PIC_SLAVE, 0x70, 0xff },
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

/* push ax; mov al, 0x20; out 0x20, al (non-specific EOI); pop ax; iret */
static const uint8_t tick_handler[] = { 0x50, 0xb0, 0x20, 0xe6, 0x20, 0x58, 0xcf };

/* Channel 0, mode 2, count 0 (65536): in KVM through its saved state. */
static int kernel_pit_bios_tick(struct lvm_vm *vm)
{
	struct kvm_pit_state2 pit;
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
		return lvm_fail_errno("KVM_GET_PIT2");
	struct kvm_pit_channel_state *c = &pit.channels[0];
	c->count = 0; /* loads as 0x10000 */
	c->mode = 2;
	c->rw_mode = 3; /* low byte, then high byte */
	c->read_state = c->write_state = 3;
	c->bcd = 0;
	c->gate = 1;
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)
		return lvm_fail_errno("KVM_SET_PIT2");
	return 0;
}

int lvm_x86_bios_tick(struct lvm_vm *vm)
{
	if (!vm->pit)
		return lvm_fail("pit = \"bios\": the machine has no PIT");
	uint8_t *handler = lvm_memory_ptr(&vm->mem, LVM_BIOS_TICK_HANDLER, sizeof(tick_handler));
	uint8_t *vector = lvm_memory_ptr(&vm->mem, 8 * 4, 4);
	if (!handler || !vector)
		return lvm_fail("pit = \"bios\": no RAM for the interrupt vector table");
	memcpy(handler, tick_handler, sizeof(tick_handler));
	/* IVT entry: offset, then segment (F000:FF00 for 0xfff00). */
	uint16_t offset = LVM_BIOS_TICK_HANDLER & 0xffff, segment = (LVM_BIOS_TICK_HANDLER >> 4) & 0xf000;
	memcpy(vector, &offset, 2);
	memcpy(vector + 2, &segment, 2);
	if (vm->irqchip_mode == LVM_IRQCHIP_KERNEL)
		return kernel_pit_bios_tick(vm) < 0 ? -1 : kernel_pic_bios_state(vm, 0xfa);
	pic_out(vm, 0x43, 0x34); /* channel 0, low then high byte, mode 2, binary */
	pic_out(vm, 0x40, 0x00);
	pic_out(vm, 0x40, 0x00);
	pic_out(vm, 0x21, 0xfa); /* IRQ 0 and the cascade */
	return 0;
}

int lvm_x86_pic_bios_state(struct lvm_vm *vm)
{
	if (vm->irqchip_mode == LVM_IRQCHIP_KERNEL)
		return kernel_pic_bios_state(vm, 0xfb);
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

/* ---- saved state: the split irqchip's userspace controllers -------------- */

static int split_save(struct lvm_vm *vm, struct lvm_state_writer *w)
{
	struct interrupts *in = vm->irqchip.ctx;
	if (!in)
		return lvm_fail("interrupts: not attached, nothing to save");
	lvm_state_begin(w, "i8259");
	lvm_i8259_save(in->pic, w);
	lvm_state_begin(w, "ioapic");
	lvm_ioapic_save(in->ioapic, w);
	if (in->pit) {
		lvm_state_begin(w, "i8254");
		lvm_i8254_save(in->pit, w);
	}
	return 0;
}

/* Finds section `name` and hands it to `load`; 0 or -1 + lvm_error. */
static int load_section(const void *state, size_t len, const char *name,
			int (*load)(void *dev, struct lvm_state_reader *r), void *dev)
{
	struct lvm_state_reader r;
	if (lvm_state_section(state, len, name, &r) < 0)
		return -1;
	load(dev, &r);
	return lvm_state_section_done(&r);
}

static int load_i8259(void *dev, struct lvm_state_reader *r) { return lvm_i8259_load(dev, r); }
static int load_ioapic(void *dev, struct lvm_state_reader *r) { return lvm_ioapic_load(dev, r); }
static int load_i8254(void *dev, struct lvm_state_reader *r) { return lvm_i8254_load(dev, r); }

/* A state that names controllers this machine does not have came from another recipe. */
static int check_sections(struct lvm_vm *vm, const void *state, size_t len)
{
	bool kernel = vm->irqchip_mode == LVM_IRQCHIP_KERNEL;
	const char *other_mode = kernel ? "i8259" : "kvm_irqchip";
	if (lvm_state_has_section(state, len, other_mode))
		return lvm_fail("state: saved with irqchip = '%s', this machine has '%s'",
				kernel ? "split" : "kernel", kernel ? "kernel" : "split");
	const char *pit = kernel ? "kvm_pit" : "i8254";
	if (!vm->pit && lvm_state_has_section(state, len, pit))
		return lvm_fail("state: saved with a PIT, this machine has none");
	return 0;
}

static int split_load(struct lvm_vm *vm, const void *state, size_t len)
{
	struct interrupts *in = vm->irqchip.ctx;
	if (!in)
		return lvm_fail("interrupts: not attached, nothing to load into");
	/* The controllers first, so the PIT's IRQ0 meets its loaded input levels. */
	if (load_section(state, len, "i8259", load_i8259, in->pic) < 0 ||
	    load_section(state, len, "ioapic", load_ioapic, in->ioapic) < 0)
		return -1;
	return in->pit ? load_section(state, len, "i8254", load_i8254, in->pit) : 0;
}

/* ---- saved state: KVM's irqchip and PIT (raw UAPI structs) -------------- */

static const uint32_t kernel_chips[] = { KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE,
					 KVM_IRQCHIP_IOAPIC };
#define NCHIPS (sizeof(kernel_chips) / sizeof(kernel_chips[0]))

static const char *chip_name(uint32_t id)
{
	return id == KVM_IRQCHIP_PIC_MASTER ? "PIC master" :
	       id == KVM_IRQCHIP_PIC_SLAVE ? "PIC slave" : "IOAPIC";
}

static int get_chip(struct lvm_vm *vm, uint32_t id, struct kvm_irqchip *chip)
{
	*chip = (struct kvm_irqchip){ .chip_id = id };
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, chip) < 0)
		return lvm_fail_errno("KVM_GET_IRQCHIP (%s)", chip_name(id));
	return 0;
}

static int kernel_save(struct lvm_vm *vm, struct lvm_state_writer *w)
{
	struct kvm_irqchip chips[NCHIPS];
	for (unsigned i = 0; i < NCHIPS; i++)
		if (get_chip(vm, kernel_chips[i], &chips[i]) < 0)
			return -1;
	struct kvm_pit_state2 pit;
	if (vm->pit && ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
		return lvm_fail_errno("KVM_GET_PIT2");
	lvm_state_begin(w, "kvm_irqchip");
	for (unsigned i = 0; i < NCHIPS; i++) {
		lvm_state_put_u32(w, chips[i].chip_id);
		lvm_state_put_bytes(w, &chips[i].chip, sizeof(chips[i].chip));
	}
	if (vm->pit) {
		lvm_state_begin(w, "kvm_pit");
		lvm_state_put_bytes(w, &pit, sizeof(pit));
	}
	return 0;
}

/* What KVM's PIC model itself could have produced; `now` is this VM's, for the fixed parts. */
static int check_kernel_pic(struct lvm_state_reader *r, const char *who,
			    const struct kvm_pic_state *p, const struct kvm_pic_state *now)
{
	const uint8_t flags[] = { p->read_reg_select, p->poll, p->special_mask, p->auto_eoi,
				  p->rotate_on_auto_eoi, p->special_fully_nested_mode, p->init4 };
	for (unsigned i = 0; i < sizeof(flags); i++)
		if (flags[i] > 1)
			return lvm_state_bad(r, "%s: mode flag %u holds %u", who, i, flags[i]);
	if (p->priority_add > 7)
		return lvm_state_bad(r, "%s: priority %u is past 7", who, p->priority_add);
	if (p->irq_base & 7)
		return lvm_state_bad(r, "%s: vector base 0x%02x", who, p->irq_base);
	if (p->init_state > 3)
		return lvm_state_bad(r, "%s: init state %u is past 3", who, p->init_state);
	if (p->elcr_mask != now->elcr_mask || (p->elcr & ~p->elcr_mask))
		return lvm_state_bad(r, "%s: ELCR 0x%02x/0x%02x (this PIC's mask is 0x%02x)", who,
				     p->elcr, p->elcr_mask, now->elcr_mask);
	return 0;
}

static int check_kernel_ioapic(struct lvm_state_reader *r, const struct kvm_ioapic_state *s,
			       const struct kvm_ioapic_state *now)
{
	if (s->base_address != now->base_address)
		return lvm_state_bad(r, "IOAPIC at 0x%llx (this one is at 0x%llx)",
				     (unsigned long long)s->base_address,
				     (unsigned long long)now->base_address);
	if (s->id > 0xf)
		return lvm_state_bad(r, "IOAPIC ID %u is past 15", s->id);
	if (s->irr >> KVM_IOAPIC_NUM_PINS)
		return lvm_state_bad(r, "IOAPIC IRR 0x%x names pins past %u", s->irr,
				     KVM_IOAPIC_NUM_PINS - 1);
	return 0;
}

/* Reads and checks the three chips, all before any is set. */
static int read_kernel_chips(struct lvm_vm *vm, struct lvm_state_reader *r,
			     struct kvm_irqchip *chips)
{
	for (unsigned i = 0; i < NCHIPS; i++) {
		struct kvm_irqchip now;
		if (get_chip(vm, kernel_chips[i], &now) < 0)
			return lvm_state_bad(r, "%s", lvm_error());
		chips[i] = (struct kvm_irqchip){ .chip_id = lvm_state_get_u32(r) };
		lvm_state_get_bytes(r, &chips[i].chip, sizeof(chips[i].chip));
		if (r->failed)
			return -1;
		if (chips[i].chip_id != kernel_chips[i])
			return lvm_state_bad(r, "chip %u is chip id %u (expected %u)", i,
					     chips[i].chip_id, kernel_chips[i]);
		int rc = kernel_chips[i] == KVM_IRQCHIP_IOAPIC ?
			check_kernel_ioapic(r, &chips[i].chip.ioapic, &now.chip.ioapic) :
			check_kernel_pic(r, chip_name(kernel_chips[i]), &chips[i].chip.pic,
					 &now.chip.pic);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int load_kernel_irqchip(void *dev, struct lvm_state_reader *r)
{
	struct lvm_vm *vm = dev;
	struct kvm_irqchip chips[NCHIPS];
	if (read_kernel_chips(vm, r, chips) < 0)
		return -1;
	for (unsigned i = 0; i < NCHIPS; i++)
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chips[i]) < 0) {
			lvm_fail_errno("KVM_SET_IRQCHIP (%s)", chip_name(kernel_chips[i]));
			return lvm_state_bad(r, "%s", lvm_error());
		}
	return 0;
}

static int check_kernel_pit_channel(struct lvm_state_reader *r, unsigned i,
				    const struct kvm_pit_channel_state *c)
{
	if (c->count > 0x10000)
		return lvm_state_bad(r, "PIT channel %u count %u is past 65536", i, c->count);
	if (c->mode > 5 && c->mode != 0xff) /* 0xff: never programmed */
		return lvm_state_bad(r, "PIT channel %u mode %u", i, c->mode);
	if (c->rw_mode > 3 || c->count_latched > 3)
		return lvm_state_bad(r, "PIT channel %u access mode %u/%u", i, c->rw_mode,
				     c->count_latched);
	if (c->read_state > 4 || c->write_state > 4)
		return lvm_state_bad(r, "PIT channel %u read/write state %u/%u", i, c->read_state,
				     c->write_state);
	if (c->status_latched > 1 || c->bcd > 1 || c->gate > 1)
		return lvm_state_bad(r, "PIT channel %u flag past 1", i);
	return 0;
}

static int load_kernel_pit(void *dev, struct lvm_state_reader *r)
{
	struct lvm_vm *vm = dev;
	struct kvm_pit_state2 pit;
	lvm_state_get_bytes(r, &pit, sizeof(pit));
	if (r->failed)
		return -1;
	for (unsigned i = 0; i < 3; i++)
		if (check_kernel_pit_channel(r, i, &pit.channels[i]) < 0)
			return -1;
	if (pit.flags & ~(uint32_t)(KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON))
		return lvm_state_bad(r, "PIT flags 0x%x", pit.flags);
	for (unsigned i = 0; i < sizeof(pit.reserved) / sizeof(pit.reserved[0]); i++)
		if (pit.reserved[i])
			return lvm_state_bad(r, "PIT reserved word %u is 0x%x", i, pit.reserved[i]);
	/* KVM reloads every counter from its count: channel 0 restarts its period. */
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0) {
		lvm_fail_errno("KVM_SET_PIT2");
		return lvm_state_bad(r, "%s", lvm_error());
	}
	return 0;
}

static int kernel_load(struct lvm_vm *vm, const void *state, size_t len)
{
	if (load_section(state, len, "kvm_irqchip", load_kernel_irqchip, vm) < 0)
		return -1;
	return vm->pit ? load_section(state, len, "kvm_pit", load_kernel_pit, vm) : 0;
}

int lvm_x86_interrupts_save(struct lvm_vm *vm, struct lvm_state_writer *w)
{
	return vm->irqchip_mode == LVM_IRQCHIP_KERNEL ? kernel_save(vm, w) : split_save(vm, w);
}

int lvm_x86_interrupts_load(struct lvm_vm *vm, const void *state, size_t len)
{
	if (check_sections(vm, state, len) < 0)
		return -1;
	return vm->irqchip_mode == LVM_IRQCHIP_KERNEL ? kernel_load(vm, state, len) :
							split_load(vm, state, len);
}
