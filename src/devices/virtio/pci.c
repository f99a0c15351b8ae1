/*
 * virtio-pci (see pci.h): the function's configuration space, its BAR's
 * registers, MSI-X, and the KVM side of both (ioeventfds that follow the
 * BAR, irqfds and MSI routes per vector).  Config and BAR accesses come on
 * vCPU threads, interrupts from the I/O thread; all under the transport
 * lock.
 */
#include "devices/virtio/pci.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/pci_regs.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/error.h"
#include "util/state.h"

#define REGION 0x1000u
#define COMMON_OFF 0x0000u
#define ISR_OFF 0x1000u
#define DEVICE_OFF 0x2000u
#define NOTIFY_OFF 0x3000u
#define NOTIFY_MULTIPLIER 4u
#define MSIX_TABLE_OFF 0x4000u
#define MSIX_PBA_OFF 0x5000u
#define COMMON_LEN 0x38u /* struct virtio_pci_common_cfg: no notify data, no queue reset */
#define MSIX_ENTRY 16u
#define MSIX_MASKED 1u   /* vector control bit 0 */
#define BAR_LIMIT (1ull << 52) /* the architectural physical address limit */
#define MSI_WINDOW 0xfee00000u /* where a message must go to reach a LAPIC */
#define PCI_REVISION 1         /* §4.1.2.1: modern-only devices */
#define SUBSYSTEM_ID 0x1100
#define VIRTIO_PCI_VENDOR 0x1af4 /* §4.1.2.1: Red Hat (Qumranet), every virtio function */

static uint32_t class_of(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET: return 0x020000;     /* network, Ethernet */
	case VIRTIO_ID_BLOCK: return 0x018000;   /* mass storage, other */
	case VIRTIO_ID_CONSOLE: return 0x078000; /* communication, other */
	default: return 0x00ff00;                /* unclassified */
	}
}

/* ---- capabilities ---- */

/* struct virtio_pci_cap (§4.1.4) at `at`, pointing into BAR 0. */
static void vendor_cap(struct lvm_pci_config *c, uint8_t at, uint8_t type, uint32_t offset,
		       uint32_t length)
{
	lvm_pci_config_set(c, at + VIRTIO_PCI_CAP_LEN, 1, c->cap_end - at);
	lvm_pci_config_set(c, at + VIRTIO_PCI_CAP_CFG_TYPE, 1, type);
	lvm_pci_config_set(c, at + VIRTIO_PCI_CAP_BAR, 1, 0);
	lvm_pci_config_set(c, at + VIRTIO_PCI_CAP_OFFSET, 4, offset);
	lvm_pci_config_set(c, at + VIRTIO_PCI_CAP_LENGTH, 4, length);
}

static int add_caps(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p)
{
	struct lvm_pci_config *c = &p->cfg;
	const struct lvm_virtio_ops *ops = t->ops;
	uint8_t at = lvm_pci_config_add_cap(c, PCI_CAP_ID_VNDR, sizeof(struct virtio_pci_cap));
	if (at)
		vendor_cap(c, at, VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFF, COMMON_LEN);
	at = lvm_pci_config_add_cap(c, PCI_CAP_ID_VNDR, sizeof(struct virtio_pci_notify_cap));
	if (at) {
		vendor_cap(c, at, VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFF,
			   NOTIFY_MULTIPLIER * (ops->num_queues ? ops->num_queues : 1));
		lvm_pci_config_set(c, at + VIRTIO_PCI_NOTIFY_CAP_MULT, 4, NOTIFY_MULTIPLIER);
	}
	at = lvm_pci_config_add_cap(c, PCI_CAP_ID_VNDR, sizeof(struct virtio_pci_cap));
	if (at)
		vendor_cap(c, at, VIRTIO_PCI_CAP_ISR_CFG, ISR_OFF, 1);
	/* Linux refuses a device capability of length 0: none when there is no space. */
	uint32_t config = ops->config_size < LVM_VIRTIO_CONFIG_MAX ? ops->config_size
								   : LVM_VIRTIO_CONFIG_MAX;
	if (config) {
		at = lvm_pci_config_add_cap(c, PCI_CAP_ID_VNDR, sizeof(struct virtio_pci_cap));
		if (at)
			vendor_cap(c, at, VIRTIO_PCI_CAP_DEVICE_CFG, DEVICE_OFF, config);
	}
	/* §4.1.4.9: bar, offset, length and the data window are the driver's. */
	p->cap_pci_cfg = lvm_pci_config_add_cap(c, PCI_CAP_ID_VNDR, sizeof(struct virtio_pci_cfg_cap));
	if (p->cap_pci_cfg) {
		at = p->cap_pci_cfg;
		vendor_cap(c, at, VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
		lvm_pci_config_set_wmask(c, at + VIRTIO_PCI_CAP_BAR, 1, 0xff);
		lvm_pci_config_set_wmask(c, at + VIRTIO_PCI_CAP_OFFSET, 4, 0xffffffffu);
		lvm_pci_config_set_wmask(c, at + VIRTIO_PCI_CAP_LENGTH, 4, 0xffffffffu);
		lvm_pci_config_set_wmask(c, at + sizeof(struct virtio_pci_cap), 4, 0xffffffffu);
	}
	/* MSI-X (PCI 3.0 §6.8.2): table size N-1, table and PBA in BAR 0. */
	p->cap_msix = lvm_pci_config_add_cap(c, PCI_CAP_ID_MSIX, PCI_CAP_MSIX_SIZEOF);
	if (p->cap_msix) {
		at = p->cap_msix;
		lvm_pci_config_set(c, at + PCI_MSIX_FLAGS, 2, p->nvec - 1);
		lvm_pci_config_set_wmask(c, at + PCI_MSIX_FLAGS, 2,
					 PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
		lvm_pci_config_set(c, at + PCI_MSIX_TABLE, 4, MSIX_TABLE_OFF | 0);
		lvm_pci_config_set(c, at + PCI_MSIX_PBA, 4, MSIX_PBA_OFF | 0);
	}
	if (!p->cap_msix)
		return lvm_fail("virtio-pci: %s: capabilities do not fit", ops->name);
	return 0;
}

/* ---- MSI-X ---- */

static uint16_t msix_control(const struct lvm_virtio_pci *p)
{
	return (uint16_t)lvm_pci_config_get(&p->cfg, p->cap_msix + PCI_MSIX_FLAGS, 2);
}

bool lvm_virtio_pci_msix_enabled(const struct lvm_virtio_transport *t)
{
	return msix_control(t->pci) & PCI_MSIX_FLAGS_ENABLE;
}

/* Whether vector v's message may go out now (PCI 3.0 §6.8.2.3, .9). */
static bool deliverable(const struct lvm_virtio_pci *p, unsigned v)
{
	uint16_t ctrl = msix_control(p);
	return (ctrl & PCI_MSIX_FLAGS_ENABLE) && !(ctrl & PCI_MSIX_FLAGS_MASKALL) &&
	       !(p->msix[v].ctrl & MSIX_MASKED);
}

/*
 * Gives KVM the route of vector v if its table entry changed since.  A
 * message that would not reach a LAPIC (an address outside 0xfee00000's
 * megabyte: on real hardware a memory write somewhere) gets no route; its
 * interrupts are dropped and counted.
 */
static void sync_route(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p, unsigned v)
{
	const struct lvm_virtio_msix_entry *e = &p->msix[v];
	bool valid = (e->addr_lo & 0xfff00000u) == MSI_WINDOW && e->addr_hi == 0;
	struct lvm_msi msi = { e->addr_lo, e->data };
	if (p->routed[v] == valid &&
	    (!valid || (p->route[v].address == msi.address && p->route[v].data == msi.data)))
		return;
	if (!valid && !p->routed[v])
		return;
	int rc = lvm_gsi_routes_set_msi(&t->vm->gsi_routes, t->vm->vm_fd, p->gsi_base + v,
					valid ? &msi : NULL);
	if (rc == 0) {
		p->routed[v] = valid;
		p->route[v] = msi;
	}
}

static void fire(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p, unsigned v)
{
	sync_route(t, p, v);
	if (!p->routed[v]) {
		p->msix_dropped++;
		return;
	}
	p->msix_sent++;
	uint64_t one = 1;
	ssize_t ignored = write(p->vec_fd[v], &one, sizeof(one));
	(void)ignored;
}

/* Sends what waited in the PBA for every vector that may go out now. */
static void flush_pending(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p)
{
	for (unsigned v = 0; v < p->nvec; v++) {
		if (!deliverable(p, v))
			continue;
		sync_route(t, p, v);
		if (p->pending & (1u << v)) {
			p->pending &= ~(1u << v);
			fire(t, p, v);
		}
	}
}

void lvm_virtio_pci_interrupt(struct lvm_virtio_transport *t, int q)
{
	struct lvm_virtio_pci *p = t->pci;
	if (!lvm_virtio_pci_msix_enabled(t)) {
		/* INTA#: the ISR bit is set; the line is the irqfd on the GSI. */
		if (!(lvm_pci_config_get(&p->cfg, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE)) {
			uint64_t one = 1;
			ssize_t ignored = write(t->irq_fd, &one, sizeof(one));
			(void)ignored;
		}
		return;
	}
	uint16_t v = q < 0 ? p->msix_config : p->queue_vector[q];
	if (v >= p->nvec) /* VIRTIO_MSI_NO_VECTOR: the driver wants none */
		return;
	if (deliverable(p, v))
		fire(t, p, v);
	else
		p->pending |= 1u << v;
}

static uint32_t *entry_word(struct lvm_virtio_msix_entry *e, unsigned i)
{
	switch (i) {
	case 0: return &e->addr_lo;
	case 1: return &e->addr_hi;
	case 2: return &e->data;
	default: return &e->ctrl;
	}
}

static void msix_table_access(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p,
			      uint32_t off, uint8_t *data, uint32_t size, bool is_write)
{
	unsigned v = off / MSIX_ENTRY, field = off % MSIX_ENTRY;
	/* DWORD or aligned QWORD accesses (PCI 3.0 §6.8.2); others are ignored. */
	if (v >= p->nvec || !((size == 4 && field % 4 == 0) || (size == 8 && field % 8 == 0))) {
		if (!is_write)
			memset(data, 0, size);
		return;
	}
	for (uint32_t i = 0; i < size / 4; i++) {
		uint32_t *w = entry_word(&p->msix[v], field / 4 + i);
		if (is_write)
			memcpy(w, data + 4 * i, 4);
		else
			memcpy(data + 4 * i, w, 4);
	}
	if (!is_write)
		return;
	p->msix[v].ctrl &= MSIX_MASKED; /* the other control bits are reserved */
	if (deliverable(p, v))
		flush_pending(t, p); /* routes the new entry, sends what was pending */
}

/* ---- common configuration (§4.1.4.3) ---- */

static unsigned common_width(uint32_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_GFSELECT: case VIRTIO_PCI_COMMON_GF:
	case VIRTIO_PCI_COMMON_Q_DESCLO: case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO: case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO: case VIRTIO_PCI_COMMON_Q_USEDHI:
		return 4;
	case VIRTIO_PCI_COMMON_MSIX: case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT: case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX: case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return 2;
	case VIRTIO_PCI_COMMON_STATUS: case VIRTIO_PCI_COMMON_CFGGENERATION:
		return 1;
	}
	return 0;
}

static uint16_t valid_vector(const struct lvm_virtio_pci *p, uint32_t v)
{
	/* §4.1.5.1.2.1: a vector the device cannot use reads back as NO_VECTOR. */
	return v < p->nvec ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

static uint32_t common_read(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p,
			    uint32_t off)
{
	struct lvm_vq *vq = lvm_virtio_selected_queue(t);
	unsigned q = t->queue_sel;
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: return t->device_features_sel;
	case VIRTIO_PCI_COMMON_DF: return lvm_virtio_device_features_word(t);
	case VIRTIO_PCI_COMMON_GFSELECT: return t->driver_features_sel;
	case VIRTIO_PCI_COMMON_GF: return lvm_virtio_driver_features_word(t);
	case VIRTIO_PCI_COMMON_MSIX: return p->msix_config;
	case VIRTIO_PCI_COMMON_NUMQ: return t->ops->num_queues;
	case VIRTIO_PCI_COMMON_STATUS: return t->status & 0xff;
	case VIRTIO_PCI_COMMON_CFGGENERATION: return t->config_generation & 0xff;
	case VIRTIO_PCI_COMMON_Q_SELECT: return t->queue_sel;
	}
	if (!vq) /* §4.1.4.3.1: a queue that does not exist has size 0 */
		return off == VIRTIO_PCI_COMMON_Q_MSIX ? VIRTIO_MSI_NO_VECTOR : 0;
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE: return vq->size;
	case VIRTIO_PCI_COMMON_Q_MSIX: return p->queue_vector[q];
	case VIRTIO_PCI_COMMON_Q_ENABLE: return vq->ready;
	case VIRTIO_PCI_COMMON_Q_NOFF: return q;
	case VIRTIO_PCI_COMMON_Q_DESCLO: return (uint32_t)vq->desc_gpa;
	case VIRTIO_PCI_COMMON_Q_DESCHI: return (uint32_t)(vq->desc_gpa >> 32);
	case VIRTIO_PCI_COMMON_Q_AVAILLO: return (uint32_t)vq->avail_gpa;
	case VIRTIO_PCI_COMMON_Q_AVAILHI: return (uint32_t)(vq->avail_gpa >> 32);
	case VIRTIO_PCI_COMMON_Q_USEDLO: return (uint32_t)vq->used_gpa;
	case VIRTIO_PCI_COMMON_Q_USEDHI: return (uint32_t)(vq->used_gpa >> 32);
	}
	return 0;
}

static void queue_write(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p, uint32_t off,
			uint32_t value)
{
	struct lvm_vq *vq = lvm_virtio_selected_queue(t);
	if (!vq)
		return;
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		if (!vq->ready)
			vq->size = (uint16_t)value;
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX: p->queue_vector[t->queue_sel] = valid_vector(p, value); break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		/* §4.1.4.3.2: the driver writes 1 only; 0 is not how a queue stops. */
		if (value == 1 && !vq->ready)
			lvm_virtio_set_queue_ready(t, vq, true);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO: lvm_virtio_set_ring_half(vq, &vq->desc_gpa, false, value); break;
	case VIRTIO_PCI_COMMON_Q_DESCHI: lvm_virtio_set_ring_half(vq, &vq->desc_gpa, true, value); break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO: lvm_virtio_set_ring_half(vq, &vq->avail_gpa, false, value); break;
	case VIRTIO_PCI_COMMON_Q_AVAILHI: lvm_virtio_set_ring_half(vq, &vq->avail_gpa, true, value); break;
	case VIRTIO_PCI_COMMON_Q_USEDLO: lvm_virtio_set_ring_half(vq, &vq->used_gpa, false, value); break;
	case VIRTIO_PCI_COMMON_Q_USEDHI: lvm_virtio_set_ring_half(vq, &vq->used_gpa, true, value); break;
	}
}

static void common_write(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p, uint32_t off,
			 uint32_t value)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: t->device_features_sel = value; break;
	case VIRTIO_PCI_COMMON_GFSELECT: t->driver_features_sel = value; break;
	case VIRTIO_PCI_COMMON_GF: lvm_virtio_set_driver_features(t, value); break;
	case VIRTIO_PCI_COMMON_MSIX: p->msix_config = valid_vector(p, value); break;
	case VIRTIO_PCI_COMMON_STATUS: lvm_virtio_set_status(t, value); break;
	case VIRTIO_PCI_COMMON_Q_SELECT: t->queue_sel = value; break;
	default: queue_write(t, p, off, value); break; /* read-only fields fall through */
	}
}

/* Each field at its own width; the 64-bit ring addresses also whole. */
static void common_access(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p, uint32_t off,
			  uint8_t *data, uint32_t size, bool is_write)
{
	bool whole64 = size == 8 && (off == VIRTIO_PCI_COMMON_Q_DESCLO ||
				     off == VIRTIO_PCI_COMMON_Q_AVAILLO ||
				     off == VIRTIO_PCI_COMMON_Q_USEDLO);
	if (!whole64 && (off >= COMMON_LEN || common_width(off) != size)) {
		if (!is_write)
			memset(data, 0, size);
		return;
	}
	for (uint32_t done = 0; done < size; done += whole64 ? 4 : size) {
		uint32_t n = whole64 ? 4 : size, v = 0;
		if (is_write) {
			memcpy(&v, data + done, n);
			common_write(t, p, off + done, v);
		} else {
			v = common_read(t, p, off + done);
			memcpy(data + done, &v, n);
		}
	}
}

/* ---- BAR 0 ---- */

static void bar_access(struct lvm_virtio_transport *t, uint64_t off, uint8_t *data, uint32_t size,
		       bool is_write)
{
	struct lvm_virtio_pci *p = t->pci;
	uint32_t in = (uint32_t)(off % REGION);
	if (!is_write)
		memset(data, 0, size);
	if (off >= LVM_VIRTIO_PCI_BAR_SIZE || in + size > REGION)
		return;
	switch (off - in) {
	case COMMON_OFF: common_access(t, p, in, data, size, is_write); break;
	case ISR_OFF:
		/* §4.1.4.5: reading the ISR returns and clears it (and drops INTA#). */
		if (!is_write && in == 0) {
			data[0] = (uint8_t)t->interrupt_status;
			t->interrupt_status = 0;
		}
		break;
	case DEVICE_OFF: lvm_virtio_device_config_io(t, in, data, size, is_write); break;
	case NOTIFY_OFF:
		/* A notification KVM's ioeventfd did not absorb (§4.1.4.4). */
		if (is_write && in % NOTIFY_MULTIPLIER == 0)
			lvm_virtio_queue_notify(t, in / NOTIFY_MULTIPLIER);
		break;
	case MSIX_TABLE_OFF: msix_table_access(t, p, in, data, size, is_write); break;
	case MSIX_PBA_OFF:
		if (!is_write && in < 8) /* the pending bits, read-only */
			for (uint32_t i = 0; i < size && in + i < 8; i++)
				data[i] = (uint8_t)((uint64_t)p->pending >> (8 * (in + i)));
		break;
	}
}

void lvm_virtio_pci_bar_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			   bool is_write)
{
	struct lvm_virtio_transport *t = opaque;
	pthread_mutex_lock(&t->lock);
	bar_access(t, offset, data, size, is_write);
	pthread_mutex_unlock(&t->lock);
}

/* ---- where BAR 0 decodes ---- */

static void set_ioeventfd(struct lvm_virtio_transport *t, unsigned q, uint64_t bar, bool assign)
{
	/* Any width (len 0): Linux writes 16 bits, other drivers may not. */
	struct kvm_ioeventfd io = {
		.addr = bar + NOTIFY_OFF + NOTIFY_MULTIPLIER * q,
		.len = 0,
		.fd = t->notify_fd[q],
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};
	int rc = ioctl(t->vm->vm_fd, KVM_IOEVENTFD, &io);
	/* If KVM refused, the BAR handler forwards notifications. */
	t->pci->notify_ioeventfd[q] = assign && rc == 0;
}

static void unmap_bar(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p)
{
	if (!p->mapped)
		return;
	for (unsigned q = 0; q < t->ops->num_queues; q++)
		if (p->notify_ioeventfd[q])
			set_ioeventfd(t, q, p->mapped, false);
	lvm_bus_unregister(&t->vm->mmio, p->mapped);
	p->mapped = 0;
}

/* After a write to the command register or the BAR: follow it. */
static void update_mapping(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p)
{
	uint64_t want = lvm_pci_config_bar_decode(&p->cfg, 0, BAR_LIMIT);
	if (want == p->mapped)
		return;
	unmap_bar(t, p);
	if (!want)
		return;
	if (lvm_bus_register(&t->vm->mmio, want, LVM_VIRTIO_PCI_BAR_SIZE, lvm_virtio_pci_bar_io, t,
			     p->name) < 0) {
		p->bar_conflicts++; /* over another device: it decodes nothing */
		return;
	}
	p->mapped = want;
	for (unsigned q = 0; q < t->ops->num_queues; q++)
		set_ioeventfd(t, q, want, true);
}

/* ---- configuration space ---- */

/* The VIRTIO_PCI_CAP_PCI_CFG window: an access to BAR 0 at cap.offset. */
static void pci_cfg_access(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p, bool is_write)
{
	uint8_t at = p->cap_pci_cfg;
	uint32_t bar = lvm_pci_config_get(&p->cfg, at + VIRTIO_PCI_CAP_BAR, 1);
	uint32_t off = lvm_pci_config_get(&p->cfg, at + VIRTIO_PCI_CAP_OFFSET, 4);
	uint32_t len = lvm_pci_config_get(&p->cfg, at + VIRTIO_PCI_CAP_LENGTH, 4);
	uint32_t window = at + sizeof(struct virtio_pci_cap);
	/* §4.1.4.9.1: length 1, 2 or 4, offset a multiple of it, in BAR 0. */
	if (bar != 0 || (len != 1 && len != 2 && len != 4) || off % len ||
	    off >= LVM_VIRTIO_PCI_BAR_SIZE)
		return;
	uint8_t data[4];
	memcpy(data, &p->cfg.data[window], 4);
	bar_access(t, off, data, len, is_write);
	if (!is_write)
		memcpy(&p->cfg.data[window], data, len);
}

void lvm_virtio_pci_config_io(void *opaque, uint32_t off, uint8_t *data, uint32_t size,
			      bool is_write)
{
	struct lvm_virtio_transport *t = opaque;
	pthread_mutex_lock(&t->lock);
	struct lvm_virtio_pci *p = t->pci;
	bool window = p->cap_pci_cfg &&
		      lvm_pci_config_touches(off, size, p->cap_pci_cfg + sizeof(struct virtio_pci_cap), 4);
	if (!is_write) {
		if (window)
			pci_cfg_access(t, p, false);
		/* Status bit 3: INTA# is asserted while the ISR holds an interrupt. */
		bool intx = t->interrupt_status && !lvm_virtio_pci_msix_enabled(t);
		p->cfg.data[PCI_STATUS] = (uint8_t)((p->cfg.data[PCI_STATUS] & ~PCI_STATUS_INTERRUPT) |
						    (intx ? PCI_STATUS_INTERRUPT : 0));
		lvm_pci_config_read(&p->cfg, off, data, size);
	} else if (lvm_pci_config_write(&p->cfg, off, data, size)) {
		if (lvm_pci_config_touches(off, size, PCI_COMMAND, 2) ||
		    lvm_pci_config_touches(off, size, PCI_BASE_ADDRESS_0, 8))
			update_mapping(t, p);
		if (lvm_pci_config_touches(off, size, p->cap_msix + PCI_MSIX_FLAGS, 2))
			flush_pending(t, p);
		if (window)
			pci_cfg_access(t, p, true);
	}
	pthread_mutex_unlock(&t->lock);
}

/* ---- life ---- */

static void queue_defaults(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p)
{
	p->msix_config = VIRTIO_MSI_NO_VECTOR;
	for (unsigned q = 0; q < LVM_VIRTIO_MAX_QUEUES; q++) {
		p->queue_vector[q] = VIRTIO_MSI_NO_VECTOR;
		/* queue_size reads the maximum until the driver picks less (§4.1.4.3.2). */
		if (q < t->ops->num_queues)
			t->vq[q].size = LVM_VQ_MAX_SIZE;
	}
}

void lvm_virtio_pci_reset(struct lvm_virtio_transport *t)
{
	queue_defaults(t, t->pci);
}

static int set_vector_irqfd(struct lvm_virtio_transport *t, unsigned v, bool assign)
{
	struct lvm_virtio_pci *p = t->pci;
	struct kvm_irqfd irq = { .fd = (uint32_t)p->vec_fd[v], .gsi = p->gsi_base + v,
				 .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };
	int rc = ioctl(t->vm->vm_fd, KVM_IRQFD, &irq);
	p->vec_irqfd[v] = assign && rc == 0;
	return rc < 0 && assign ? lvm_fail_errno("virtio-pci: KVM_IRQFD (gsi %u)", irq.gsi) : 0;
}

/* The firmware's part: an address for BAR 0, memory decoding on, the GSI noted. */
static void firmware_setup(struct lvm_virtio_transport *t, struct lvm_virtio_pci *p)
{
	uint64_t addr = lvm_pci_host_assign_bar(p->host, LVM_VIRTIO_PCI_BAR_SIZE);
	lvm_pci_config_set(&p->cfg, PCI_BASE_ADDRESS_0, 4,
			   (uint32_t)addr | PCI_BASE_ADDRESS_MEM_TYPE_64);
	lvm_pci_config_set(&p->cfg, PCI_BASE_ADDRESS_1, 4, (uint32_t)(addr >> 32));
	lvm_pci_config_set(&p->cfg, PCI_INTERRUPT_LINE, 1, t->gsi < 0xff ? t->gsi : 0xff);
	if (addr)
		lvm_pci_config_set(&p->cfg, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
}

int lvm_virtio_pci_attach(struct lvm_virtio_transport *t, struct lvm_pci_host *host,
			  unsigned dev)
{
	struct lvm_virtio_pci *p = calloc(1, sizeof(*p));
	if (!p)
		return lvm_fail("out of memory");
	p->host = host;
	p->dev = dev;
	p->nvec = t->ops->num_queues + 1;
	p->gsi_base = lvm_pci_host_msi_gsi(host, dev);
	snprintf(p->name, sizeof(p->name), "%s (pci 00:%02x.0)", t->ops->name, dev);
	for (unsigned v = 0; v < LVM_VIRTIO_PCI_VECTORS; v++) {
		p->vec_fd[v] = -1;
		p->msix[v].ctrl = MSIX_MASKED; /* §6.8.2.9: masked after reset */
	}
	t->pci = p;
	struct lvm_pci_ids ids = { .vendor = VIRTIO_PCI_VENDOR,
				   .device = (uint16_t)(LVM_VIRTIO_PCI_DEVICE_ID_BASE + t->ops->device_id),
				   .revision = PCI_REVISION, .class_code = class_of(t->ops->device_id),
				   .subsystem_vendor = VIRTIO_PCI_VENDOR,
				   .subsystem = SUBSYSTEM_ID, .interrupt_pin = 1 };
	lvm_pci_config_init(&p->cfg, &ids);
	lvm_pci_config_bar64(&p->cfg, 0, LVM_VIRTIO_PCI_BAR_SIZE);
	if (add_caps(t, p) < 0)
		goto fail;
	queue_defaults(t, p);
	for (unsigned v = 0; v < p->nvec; v++) {
		p->vec_fd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (p->vec_fd[v] < 0) {
			lvm_fail_errno("eventfd");
			goto fail;
		}
		if (set_vector_irqfd(t, v, true) < 0)
			goto fail;
	}
	firmware_setup(t, p);
	pthread_mutex_lock(&t->lock);
	update_mapping(t, p);
	pthread_mutex_unlock(&t->lock);
	if (lvm_pci_host_set(host, dev, lvm_virtio_pci_config_io, t) < 0)
		goto fail;
	return 0;
fail:
	lvm_virtio_pci_detach(t);
	return -1;
}

void lvm_virtio_pci_detach(struct lvm_virtio_transport *t)
{
	struct lvm_virtio_pci *p = t->pci;
	if (!p)
		return;
	if (p->host->slot[p->dev].opaque == t)
		lvm_pci_host_set(p->host, p->dev, NULL, NULL);
	unmap_bar(t, p);
	bool any_route = false;
	for (unsigned v = 0; v < LVM_VIRTIO_PCI_VECTORS; v++) {
		if (p->vec_irqfd[v])
			set_vector_irqfd(t, v, false);
		if (p->vec_fd[v] >= 0)
			close(p->vec_fd[v]);
		any_route |= p->routed[v];
	}
	if (any_route) /* the GSIs may serve another device of a later machine state */
		lvm_gsi_routes_set(&t->vm->gsi_routes, t->vm->vm_fd, p->gsi_base,
				   LVM_VIRTIO_PCI_VECTORS, NULL, 0, true);
	free(p);
	t->pci = NULL;
}

/* ---- saved state ---- */

void lvm_virtio_pci_save(struct lvm_virtio_transport *t, struct lvm_state_writer *w)
{
	struct lvm_virtio_pci *p = t->pci;
	lvm_state_put_bytes(w, p->cfg.data, LVM_PCI_CONFIG_SIZE);
	lvm_state_put_u16(w, p->msix_config);
	for (unsigned q = 0; q < t->ops->num_queues; q++)
		lvm_state_put_u16(w, p->queue_vector[q]);
	lvm_state_put_u8(w, (uint8_t)p->nvec);
	for (unsigned v = 0; v < p->nvec; v++) {
		lvm_state_put_u32(w, p->msix[v].addr_lo);
		lvm_state_put_u32(w, p->msix[v].addr_hi);
		lvm_state_put_u32(w, p->msix[v].data);
		lvm_state_put_u32(w, p->msix[v].ctrl);
	}
	lvm_state_put_u32(w, p->pending);
}

static bool vector_ok(const struct lvm_virtio_pci *p, uint16_t v)
{
	return v < p->nvec || v == VIRTIO_MSI_NO_VECTOR;
}

int lvm_virtio_pci_load(struct lvm_virtio_transport *t, struct lvm_state_reader *r,
			struct lvm_virtio_pci_saved *s)
{
	struct lvm_virtio_pci *p = t->pci;
	memset(s, 0, sizeof(*s));
	lvm_state_get_bytes(r, s->config, LVM_PCI_CONFIG_SIZE);
	s->msix_config = lvm_state_get_u16(r);
	for (unsigned q = 0; q < t->ops->num_queues; q++)
		s->queue_vector[q] = lvm_state_get_u16(r);
	uint8_t nvec = lvm_state_get_u8(r);
	if (r->failed)
		return -1;
	if (nvec != p->nvec)
		return lvm_state_bad(r, "virtio-pci: %u MSI-X vectors saved, the device has %u",
				     nvec, p->nvec);
	for (unsigned v = 0; v < p->nvec; v++) {
		s->msix[v].addr_lo = lvm_state_get_u32(r);
		s->msix[v].addr_hi = lvm_state_get_u32(r);
		s->msix[v].data = lvm_state_get_u32(r);
		s->msix[v].ctrl = lvm_state_get_u32(r);
		if (!r->failed && (s->msix[v].ctrl & ~MSIX_MASKED))
			return lvm_state_bad(r, "virtio-pci: MSI-X vector %u control 0x%x has reserved bits",
					     v, s->msix[v].ctrl);
	}
	s->pending = lvm_state_get_u32(r);
	if (r->failed)
		return -1;
	if (s->pending >> p->nvec)
		return lvm_state_bad(r, "virtio-pci: pending bits 0x%x past vector %u", s->pending,
				     p->nvec - 1);
	if (!vector_ok(p, s->msix_config))
		return lvm_state_bad(r, "virtio-pci: configuration vector %u of %u", s->msix_config,
				     p->nvec);
	for (unsigned q = 0; q < t->ops->num_queues; q++)
		if (!vector_ok(p, s->queue_vector[q]))
			return lvm_state_bad(r, "virtio-pci: queue %u vector %u of %u", q,
					     s->queue_vector[q], p->nvec);
	return 0;
}

void lvm_virtio_pci_apply(struct lvm_virtio_transport *t, const struct lvm_virtio_pci_saved *s)
{
	struct lvm_virtio_pci *p = t->pci;
	/* Only writable bits come from the state: IDs, capabilities and BAR
	 * sizes stay this device's. */
	lvm_pci_config_restore(&p->cfg, s->config);
	p->msix_config = s->msix_config;
	memcpy(p->queue_vector, s->queue_vector, sizeof(p->queue_vector));
	memcpy(p->msix, s->msix, sizeof(p->msix));
	p->pending = s->pending;
	update_mapping(t, p);
	flush_pending(t, p); /* routes for every vector that may go out */
}
