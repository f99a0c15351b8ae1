/*
 * What every virtio transport shares (virtio 1.2 §2, §3.1): the device
 * status and feature negotiation state machine, the queues, the device
 * configuration space, interrupts, and the saved state of all of it.  The
 * register front-ends (mmio.c: virtio-mmio §4.2; pci.c: virtio-pci §4.1)
 * decode the driver's accesses and call in here, under the transport lock;
 * the only place a front-end differs below them is how an interrupt
 * reaches the guest (an irqfd on the device's GSI, or its MSI-X vector).
 * Nothing here touches KVM (the fuzz targets link it as it is).
 */
#include "devices/virtio/transport.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio/pci.h"
#include "util/state.h"

uint64_t lvm_virtio_transport_features(void)
{
	return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
	       (1ull << VIRTIO_RING_F_INDIRECT_DESC);
}

uint64_t lvm_virtio_device_features(const struct lvm_virtio_transport *t)
{
	return t->ops->features | lvm_virtio_transport_features();
}

uint32_t lvm_virtio_device_features_word(const struct lvm_virtio_transport *t)
{
	uint64_t features = lvm_virtio_device_features(t);
	return t->device_features_sel == 0 ? (uint32_t)features
	       : t->device_features_sel == 1 ? (uint32_t)(features >> 32) : 0;
}

bool lvm_virtio_driver_ok(const struct lvm_virtio_transport *t)
{
	return (t->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(t->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* `why` is the InterruptStatus / ISR bit (the same two bits in both
 * transports: VIRTIO_MMIO_INT_VRING, VIRTIO_MMIO_INT_CONFIG); q is the
 * queue, or -1 for a configuration change. */
static void raise_interrupt(struct lvm_virtio_transport *t, uint32_t why, int q)
{
	t->interrupt_status |= why;
	t->interrupts++;
	if (t->pci) {
		lvm_virtio_pci_interrupt(t, q);
		return;
	}
	uint64_t one = 1;
	ssize_t ignored = write(t->irq_fd, &one, sizeof(one));
	(void)ignored;
}

void lvm_virtio_notify_used(struct lvm_virtio_transport *t, unsigned q)
{
	if (q < t->ops->num_queues && lvm_vq_needs_interrupt(&t->vq[q]))
		raise_interrupt(t, VIRTIO_MMIO_INT_VRING, (int)q);
}

void lvm_virtio_needs_reset(struct lvm_virtio_transport *t, const char *why)
{
	if (t->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	t->broken_why = why;
	t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	/* §2.1.2: a configuration change notification tells the driver. */
	if (t->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_interrupt(t, VIRTIO_MMIO_INT_CONFIG, -1);
}

void lvm_virtio_config_changed(struct lvm_virtio_transport *t)
{
	t->config_generation++;
	if (lvm_virtio_driver_ok(t))
		raise_interrupt(t, VIRTIO_MMIO_INT_CONFIG, -1);
}

bool lvm_virtio_pop(struct lvm_virtio_transport *t, unsigned q, struct lvm_vq_chain *chain)
{
	if (!lvm_virtio_driver_ok(t) || q >= t->ops->num_queues)
		return false;
	const char *why = NULL;
	enum lvm_vq_status st = lvm_vq_pop(&t->vq[q], chain, &why);
	if (st == LVM_VQ_BROKEN)
		lvm_virtio_needs_reset(t, why);
	return st == LVM_VQ_CHAIN;
}

void lvm_virtio_serve(struct lvm_virtio_transport *t, unsigned q, struct lvm_vq_chain *chain,
		      lvm_virtio_request_fn fn, void *dev)
{
	do {
		bool any = false;
		while (lvm_virtio_pop(t, q, chain)) {
			lvm_vq_push(&t->vq[q], chain->head, fn(dev, chain));
			any = true;
		}
		if (any)
			lvm_virtio_notify_used(t, q);
		/* §2.7.10: chains added while we worked need no new notify. */
	} while (lvm_virtio_driver_ok(t) && lvm_vq_arm_notify(&t->vq[q]));
}

static void device_reset(struct lvm_virtio_transport *t)
{
	if (t->ops->reset)
		t->ops->reset(t->dev);
	for (unsigned i = 0; i < LVM_VIRTIO_MAX_QUEUES; i++)
		lvm_vq_reset(&t->vq[i]);
	t->status = 0;
	t->device_features_sel = t->driver_features_sel = t->queue_sel = 0;
	t->driver_features = 0;
	t->interrupt_status = 0;
	t->broken_why = NULL;
	if (t->pci)
		lvm_virtio_pci_reset(t);
}

#define STATUS_BITS (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
		     VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK | \
		     VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)

/* §3.1.1: FEATURES_OK only sticks if we accept what the driver chose. */
void lvm_virtio_set_status(struct lvm_virtio_transport *t, uint32_t value)
{
	if (value == 0) {
		device_reset(t);
		return;
	}
	/* Bits §2.1 does not define are not kept (a saved state holds none). */
	value &= STATUS_BITS & ~(uint32_t)VIRTIO_CONFIG_S_NEEDS_RESET;
	uint32_t added = value & ~t->status;
	if (added & VIRTIO_CONFIG_S_FEATURES_OK) {
		bool subset = !(t->driver_features & ~lvm_virtio_device_features(t));
		bool modern = t->driver_features & (1ull << VIRTIO_F_VERSION_1);
		if (!subset || !modern)
			value &= ~(uint32_t)VIRTIO_CONFIG_S_FEATURES_OK;
	}
	if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !(value & VIRTIO_CONFIG_S_FEATURES_OK))
		value &= ~(uint32_t)VIRTIO_CONFIG_S_DRIVER_OK;
	/* The driver cannot clear NEEDS_RESET except by a reset. */
	t->status = value | (t->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void set_half(uint64_t *field, bool high, uint32_t value)
{
	if (high)
		*field = (*field & 0xffffffffull) | ((uint64_t)value << 32);
	else
		*field = (*field & ~0xffffffffull) | value;
}

void lvm_virtio_set_driver_features(struct lvm_virtio_transport *t, uint32_t value)
{
	if (t->driver_features_sel < 2 && !(t->status & VIRTIO_CONFIG_S_FEATURES_OK))
		set_half(&t->driver_features, t->driver_features_sel == 1, value);
}

uint32_t lvm_virtio_driver_features_word(const struct lvm_virtio_transport *t)
{
	return t->driver_features_sel == 0 ? (uint32_t)t->driver_features
	       : t->driver_features_sel == 1 ? (uint32_t)(t->driver_features >> 32) : 0;
}

struct lvm_vq *lvm_virtio_selected_queue(struct lvm_virtio_transport *t)
{
	return t->queue_sel < t->ops->num_queues ? &t->vq[t->queue_sel] : NULL;
}

void lvm_virtio_set_queue_ready(struct lvm_virtio_transport *t, struct lvm_vq *vq, bool ready)
{
	if (!ready) {
		vq->ready = false;
		return;
	}
	vq->mem = &t->vm->mem;
	vq->event_idx = t->driver_features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = t->driver_features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	vq->ready = lvm_vq_activate(vq);
	if (!vq->ready)
		lvm_virtio_needs_reset(t, "queue rings outside guest RAM or misaligned");
}

void lvm_virtio_set_ring_half(struct lvm_vq *vq, uint64_t *field, bool high, uint32_t value)
{
	if (!vq->ready) /* the layout is fixed once the queue is live (§4.2.2.3.2, §4.1.4.3.2) */
		set_half(field, high, value);
}

void lvm_virtio_queue_notify(struct lvm_virtio_transport *t, uint32_t q)
{
	if (q >= t->ops->num_queues || !t->vq[q].ready) {
		t->bad_notifies++;
		return;
	}
	uint64_t one = 1;
	ssize_t ignored = write(t->notify_fd[q], &one, sizeof(one));
	(void)ignored;
}

/* Device configuration space: any width, little-endian (§4.2.2.2, §4.1.4.6). */
void lvm_virtio_device_config_io(struct lvm_virtio_transport *t, uint64_t offset, uint8_t *data,
				 uint32_t size, bool is_write)
{
	uint32_t n = t->ops->config_size < LVM_VIRTIO_CONFIG_MAX ? t->ops->config_size
								 : LVM_VIRTIO_CONFIG_MAX;
	if (is_write) {
		/* Only whole writes inside the space reach the device. */
		if (t->ops->write_config && offset < n && size <= n - offset)
			t->ops->write_config(t->dev, (uint32_t)offset, data, size);
		return;
	}
	uint8_t config[LVM_VIRTIO_CONFIG_MAX] = { 0 };
	if (t->ops->read_config)
		t->ops->read_config(t->dev, config);
	memset(data, 0, size);
	if (offset < n)
		memcpy(data, config + offset, offset + size <= n ? size : n - offset);
}

/* ---- Saved state (snapshot and fork) ---- */

#define INTERRUPT_BITS (VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG)

static void save_queue(struct lvm_state_writer *w, const struct lvm_vq *vq)
{
	lvm_state_put_bool(w, vq->ready);
	lvm_state_put_u16(w, vq->size);
	lvm_state_put_u64(w, vq->desc_gpa);
	lvm_state_put_u64(w, vq->avail_gpa);
	lvm_state_put_u64(w, vq->used_gpa);
	lvm_state_put_bool(w, vq->event_idx);
	lvm_state_put_bool(w, vq->indirect);
	lvm_state_put_u16(w, vq->last_avail);
	lvm_state_put_u16(w, vq->used_idx);
	lvm_state_put_u16(w, vq->signalled_used);
	lvm_state_put_bool(w, vq->signalled_valid);
}

void lvm_virtio_save(struct lvm_virtio_transport *t, struct lvm_state_writer *w)
{
	pthread_mutex_lock(&t->lock);
	lvm_state_put_u32(w, t->ops->device_id);
	lvm_state_put_u32(w, t->status);
	lvm_state_put_u32(w, t->device_features_sel);
	lvm_state_put_u32(w, t->driver_features_sel);
	lvm_state_put_u64(w, t->driver_features);
	lvm_state_put_u32(w, t->queue_sel);
	lvm_state_put_u32(w, t->interrupt_status);
	lvm_state_put_u32(w, t->config_generation);
	const char *why = (t->status & VIRTIO_CONFIG_S_NEEDS_RESET) && t->broken_why
		? t->broken_why : "";
	lvm_state_put_blob(w, why, strnlen(why, sizeof(t->broken_buf) - 1));
	lvm_state_put_u8(w, (uint8_t)t->ops->num_queues);
	for (unsigned q = 0; q < t->ops->num_queues; q++)
		save_queue(w, &t->vq[q]);
	if (t->pci) /* after the common part, whose layout virtio-mmio states share */
		lvm_virtio_pci_save(t, w);
	pthread_mutex_unlock(&t->lock);
}

/* One queue into *vq; a ready one must map as a QueueReady write would. */
static int load_queue(struct lvm_virtio_transport *t, struct lvm_state_reader *r, unsigned q,
		      struct lvm_vq *vq)
{
	*vq = (struct lvm_vq){ .mem = &t->vm->mem };
	vq->ready = lvm_state_get_bool(r);
	vq->size = lvm_state_get_u16(r);
	vq->desc_gpa = lvm_state_get_u64(r);
	vq->avail_gpa = lvm_state_get_u64(r);
	vq->used_gpa = lvm_state_get_u64(r);
	vq->event_idx = lvm_state_get_bool(r);
	vq->indirect = lvm_state_get_bool(r);
	vq->last_avail = lvm_state_get_u16(r);
	vq->used_idx = lvm_state_get_u16(r);
	vq->signalled_used = lvm_state_get_u16(r);
	vq->signalled_valid = lvm_state_get_bool(r);
	if (r->failed || !vq->ready)
		return r->failed ? -1 : 0; /* a queue not ready may hold any layout yet */
	uint16_t n = vq->size;
	if (n == 0 || n > LVM_VQ_MAX_SIZE || (n & (n - 1)))
		return lvm_state_bad(r, "queue %u: size %u is not a power of 2 from 1 to %u", q, n,
				     LVM_VQ_MAX_SIZE);
	if (!lvm_vq_activate(vq))
		return lvm_state_bad(r, "queue %u: rings at 0x%llx, 0x%llx, 0x%llx are outside guest RAM or misaligned",
				     q, (unsigned long long)vq->desc_gpa,
				     (unsigned long long)vq->avail_gpa, (unsigned long long)vq->used_gpa);
	return 0;
}

/* The registers' fields, checked against the invariants the register
 * state machine keeps (lvm_virtio_set_status and the front-ends). */
struct saved_regs {
	uint32_t device_id, status, device_features_sel, driver_features_sel, queue_sel;
	uint64_t driver_features;
	uint32_t interrupt_status, config_generation;
	char why[sizeof(((struct lvm_virtio_transport *)0)->broken_buf)];
	uint8_t num_queues;
};

static int load_regs(struct lvm_virtio_transport *t, struct lvm_state_reader *r,
		     struct saved_regs *s)
{
	s->device_id = lvm_state_get_u32(r);
	s->status = lvm_state_get_u32(r);
	s->device_features_sel = lvm_state_get_u32(r);
	s->driver_features_sel = lvm_state_get_u32(r);
	s->driver_features = lvm_state_get_u64(r);
	s->queue_sel = lvm_state_get_u32(r);
	s->interrupt_status = lvm_state_get_u32(r);
	s->config_generation = lvm_state_get_u32(r);
	size_t n = lvm_state_get_blob(r, s->why, sizeof(s->why) - 1);
	s->why[n] = '\0';
	s->num_queues = lvm_state_get_u8(r);
	if (r->failed)
		return -1;
	if (s->device_id != t->ops->device_id)
		return lvm_state_bad(r, "saved from virtio device type %u, not %s's (%u)",
				     s->device_id, t->ops->name, t->ops->device_id);
	if (s->num_queues != t->ops->num_queues)
		return lvm_state_bad(r, "%u queues saved, the device has %u", s->num_queues,
				     t->ops->num_queues);
	if (s->status & ~(uint32_t)STATUS_BITS)
		return lvm_state_bad(r, "device status 0x%x has unknown bits", s->status);
	uint64_t offered = lvm_virtio_device_features(t);
	if ((s->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    ((s->driver_features & ~offered) || !(s->driver_features & (1ull << VIRTIO_F_VERSION_1))))
		return lvm_state_bad(r, "negotiated features 0x%llx are not within those the device offers (0x%llx)",
				     (unsigned long long)s->driver_features,
				     (unsigned long long)offered);
	if (s->interrupt_status & ~(uint32_t)INTERRUPT_BITS)
		return lvm_state_bad(r, "interrupt status 0x%x has unknown bits", s->interrupt_status);
	return 0;
}

int lvm_virtio_load(struct lvm_virtio_transport *t, struct lvm_state_reader *r)
{
	struct saved_regs s;
	struct lvm_vq vq[LVM_VIRTIO_MAX_QUEUES];
	struct lvm_virtio_pci_saved pci;
	if (load_regs(t, r, &s) < 0)
		return -1;
	for (unsigned q = 0; q < t->ops->num_queues; q++)
		if (load_queue(t, r, q, &vq[q]) < 0)
			return -1;
	if (t->pci && lvm_virtio_pci_load(t, r, &pci) < 0)
		return -1;
	pthread_mutex_lock(&t->lock);
	t->status = s.status;
	t->device_features_sel = s.device_features_sel;
	t->driver_features_sel = s.driver_features_sel;
	t->driver_features = s.driver_features;
	t->queue_sel = s.queue_sel;
	t->interrupt_status = s.interrupt_status;
	t->config_generation = s.config_generation;
	memcpy(t->broken_buf, s.why, sizeof(t->broken_buf));
	t->broken_why = (s.status & VIRTIO_CONFIG_S_NEEDS_RESET)
		? (t->broken_buf[0] ? t->broken_buf : "saved in this state") : NULL;
	for (unsigned q = 0; q < t->ops->num_queues; q++) {
		t->vq[q] = vq[q];
		/* A notification that waited in the old eventfd: served at start. */
		if (vq[q].ready && t->notify_fd[q] >= 0) {
			uint64_t one = 1;
			ssize_t ignored = write(t->notify_fd[q], &one, sizeof(one));
			(void)ignored;
		}
	}
	t->raise_at_start = s.interrupt_status != 0;
	if (t->pci)
		lvm_virtio_pci_apply(t, &pci);
	pthread_mutex_unlock(&t->lock);
	return 0;
}
