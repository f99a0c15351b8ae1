/*
 * The virtio-pci front-end (virtio 1.2 §4.1, the modern interface only: no
 * legacy I/O BAR, device IDs 0x1040 + the virtio device ID, revision 1).
 * A virtio device becomes function 0 of a device on a PCI host bridge
 * (devices/pci/host.h) with:
 *   - one 64-bit memory BAR (BAR 0, 32 KiB): common configuration at
 *     0x0000, ISR status at 0x1000, device configuration at 0x2000, the
 *     queue notify addresses at 0x3000 + 4 * queue (notify_off_multiplier
 *     4, queue_notify_off = the queue's index), the MSI-X table at 0x4000
 *     and its pending bits at 0x5000;
 *   - the vendor capabilities pointing into it (common, notify, ISR,
 *     device configuration when the device has one) and the PCI
 *     configuration access capability (§4.1.4.9);
 *   - MSI-X with one vector per queue plus one (§4.1.5.1.2 lets the driver
 *     map any queue and the configuration change to any vector, or to
 *     VIRTIO_MSI_NO_VECTOR).  Vector v is KVM GSI gsi_base + v: an irqfd
 *     on it, and an MSI route carrying the table entry's address and data.
 *     Masking is done here, where the interrupts come from: a masked
 *     vector's interrupt sets its pending bit and is sent on unmask.
 *     With MSI-X disabled the device interrupts through INTA#, the irqfd
 *     on the transport's GSI, as virtio-mmio does.
 *   - queue notifications through KVM ioeventfds on the notify addresses,
 *     moved with the BAR: the BAR decodes only while memory space is on
 *     in the command register and its address is assigned; when the guest
 *     moves it, the window and the ioeventfds follow; an address where it
 *     cannot go (over another device) leaves it decoding nothing.
 * The firmware's part is done at creation: BAR 0 gets an address in the
 * host's window, memory decoding is on and the interrupt line register
 * says the GSI, as a BIOS leaves a device for the OS.
 */
#ifndef LVM_DEVICES_VIRTIO_PCI_H
#define LVM_DEVICES_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/pci/config.h"
#include "devices/pci/host.h"
#include "devices/virtio/transport.h"

#define LVM_VIRTIO_PCI_VECTORS (LVM_VIRTIO_MAX_QUEUES + 1u)
#define LVM_VIRTIO_PCI_BAR_SIZE 0x8000u
#define LVM_VIRTIO_PCI_DEVICE_ID_BASE 0x1040u

_Static_assert(LVM_VIRTIO_PCI_VECTORS <= LVM_PCI_VECTORS_PER_DEVICE,
	       "the host bridge reserves enough GSIs per device");

struct lvm_virtio_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct lvm_virtio_pci {
	struct lvm_pci_host *host;
	unsigned dev;
	struct lvm_pci_config cfg;
	uint8_t cap_pci_cfg, cap_msix; /* where those capabilities are */
	uint64_t mapped;               /* where BAR 0 decodes (0: nowhere) */
	bool notify_ioeventfd[LVM_VIRTIO_MAX_QUEUES];
	uint16_t msix_config;
	uint16_t queue_vector[LVM_VIRTIO_MAX_QUEUES];
	unsigned nvec;
	struct lvm_virtio_msix_entry msix[LVM_VIRTIO_PCI_VECTORS];
	uint32_t pending; /* the PBA */
	unsigned gsi_base;
	int vec_fd[LVM_VIRTIO_PCI_VECTORS];
	bool vec_irqfd[LVM_VIRTIO_PCI_VECTORS];
	bool routed[LVM_VIRTIO_PCI_VECTORS]; /* KVM has a route for the vector ... */
	struct lvm_msi route[LVM_VIRTIO_PCI_VECTORS]; /* ... this one */
	char name[48];
	/* Counters: what a hostile or careless driver did. */
	uint64_t bar_conflicts;  /* BAR placed where it cannot decode */
	uint64_t msix_sent;      /* messages sent through irqfds */
	uint64_t msix_dropped;   /* to a vector whose address is no LAPIC's */
};

/* What the state holds past the transport's common part. */
struct lvm_virtio_pci_saved {
	uint8_t config[LVM_PCI_CONFIG_SIZE];
	uint16_t msix_config, queue_vector[LVM_VIRTIO_MAX_QUEUES];
	struct lvm_virtio_msix_entry msix[LVM_VIRTIO_PCI_VECTORS];
	uint32_t pending;
};

/* Makes t function 0 of device `dev` on `host` (transport.c, at creation). */
int lvm_virtio_pci_attach(struct lvm_virtio_transport *t, struct lvm_pci_host *host,
			  unsigned dev);
/* Off the bus, its ioeventfds, irqfds and routes gone (no vCPU runs). */
void lvm_virtio_pci_detach(struct lvm_virtio_transport *t);

/* For core.c, transport lock held: */
void lvm_virtio_pci_interrupt(struct lvm_virtio_transport *t, int q);
void lvm_virtio_pci_reset(struct lvm_virtio_transport *t);
bool lvm_virtio_pci_msix_enabled(const struct lvm_virtio_transport *t);
void lvm_virtio_pci_save(struct lvm_virtio_transport *t, struct lvm_state_writer *w);
/* Reads and checks (nothing changes); apply then sets it, lock held. */
int lvm_virtio_pci_load(struct lvm_virtio_transport *t, struct lvm_state_reader *r,
			struct lvm_virtio_pci_saved *s);
void lvm_virtio_pci_apply(struct lvm_virtio_transport *t, const struct lvm_virtio_pci_saved *s);

/* The handlers (exposed for unit tests and the fuzz target). */
void lvm_virtio_pci_bar_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			   bool is_write);
void lvm_virtio_pci_config_io(void *opaque, uint32_t off, uint8_t *data, uint32_t size,
			      bool is_write);

#endif
