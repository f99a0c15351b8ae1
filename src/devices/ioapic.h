/*
 * An I/O APIC compatible with the Intel 82093AA (datasheet, 1996): 24 input
 * pins, the indirect register window (IOREGSEL at offset 0x00, IOWIN at
 * 0x10), the ID (0x00), version (0x01: version 0x11, maximum redirection
 * entry 23) and arbitration (0x02) registers and one redirection entry per
 * pin (0x10 + 2n low, 0x11 + 2n high).
 *
 * Delivery is a message: an interrupt leaves as the MSI the entry describes
 * (address 0xfee00000 | destination << 12 | destination mode << 2; data =
 * vector | delivery mode << 8 | trigger mode << 15; Intel SDM vol. 3
 * §11.11), which the VM hands to the in-kernel LAPICs (KVM_SIGNAL_MSI).
 * Edge pins deliver on a rising edge while unmasked (an edge on a masked pin
 * is lost, 82093AA §3.2.4); level pins deliver while asserted, unmasked and
 * without remote IRR, which is set on delivery and cleared by the LAPIC's
 * EOI broadcast for the entry's vector (lvm_ioapic_eoi).  The line level a
 * device drives is the logical assertion: polarity is kept for the guest to
 * read back but not applied.  Delivery status always reads idle.
 *
 * So that interrupts KVM raises by itself (irqfds) follow the guest's
 * programming, the device reports every change of a pin's MSI form through
 * `route`: a pin is routed while unmasked or while its remote IRR is set
 * (so that its EOI still reaches us).
 *
 * Threading: every entry point takes the device's mutex; the callbacks run
 * with it held and must not call back into the device.
 */
#ifndef LVM_DEVICES_IOAPIC_H
#define LVM_DEVICES_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm/irq.h"

#define LVM_IOAPIC_NR_PINS 24
#define LVM_IOAPIC_MMIO_SIZE 0x20
#define LVM_MSI_ADDR_BASE 0xfee00000u

struct lvm_ioapic_ops {
	/* Send one interrupt message. */
	void (*deliver)(void *ctx, struct lvm_msi msi);
	/* Pin `pin` now routes to `msi` (routed) or nowhere (!routed). */
	void (*route)(void *ctx, unsigned pin, bool routed, struct lvm_msi msi);
};

struct lvm_ioapic;
struct lvm_state_reader;
struct lvm_state_writer;

/* NULL + lvm_fail on error.  Every entry starts masked, as after reset. */
struct lvm_ioapic *lvm_ioapic_new(uint8_t id, const struct lvm_ioapic_ops *ops, void *ctx);
void lvm_ioapic_free(struct lvm_ioapic *io);
void lvm_ioapic_set_irq(struct lvm_ioapic *io, unsigned pin, int level);
/* The LAPIC's EOI broadcast for `vector` (KVM_EXIT_IOAPIC_EOI). */
void lvm_ioapic_eoi(struct lvm_ioapic *io, uint8_t vector);
/* MMIO handler for LVM_IOAPIC_MMIO_SIZE bytes; opaque = the IOAPIC. */
void lvm_ioapic_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
		     bool is_write);
/*
 * Saved state (util/state.h; the caller opens the section): ID, IOREGSEL,
 * the pins' input levels and the redirection table (remote IRR included).
 * Load checks them, reports every pin's route through ops->route and
 * delivers a level pin that the loaded state leaves pending; 0, or -1
 * through lvm_state_bad (the device is then unchanged).
 */
void lvm_ioapic_save(const struct lvm_ioapic *io, struct lvm_state_writer *w);
int lvm_ioapic_load(struct lvm_ioapic *io, struct lvm_state_reader *r);
/* The MSI a redirection entry describes (exposed for tests and routing). */
struct lvm_msi lvm_ioapic_entry_msi(uint64_t entry);

#endif
