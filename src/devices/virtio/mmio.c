/*
 * virtio-mmio registers (virtio 1.2 §4.2.2, version 2 only) and the device
 * status / feature negotiation state machine (§2.1, §3.1).  Called on vCPU
 * threads; everything runs under the transport lock.
 */
#include "devices/virtio/transport.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <string.h>
#include <unistd.h>

#include "util/state.h"

#define MMIO_MAGIC 0x74726976u /* "virt" */
#define MMIO_VENDOR 0x4d564c55u /* "ULVM": luavmm */

uint64_t lvm_virtio_transport_features(void)
{
	return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
	       (1ull << VIRTIO_RING_F_INDIRECT_DESC);
}

static uint64_t device_features(const struct lvm_virtio_transport *t)
{
	return t->ops->features | lvm_virtio_transport_features();
}

bool lvm_virtio_driver_ok(const struct lvm_virtio_transport *t)
{
	return (t->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(t->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void raise_interrupt(struct lvm_virtio_transport *t, uint32_t why)
{
	t->interrupt_status |= why;
	t->interrupts++;
	uint64_t one = 1;
	ssize_t ignored = write(t->irq_fd, &one, sizeof(one));
	(void)ignored;
}

void lvm_virtio_notify_used(struct lvm_virtio_transport *t, unsigned q)
{
	if (q < t->ops->num_queues && lvm_vq_needs_interrupt(&t->vq[q]))
		raise_interrupt(t, VIRTIO_MMIO_INT_VRING);
}

void lvm_virtio_needs_reset(struct lvm_virtio_transport *t, const char *why)
{
	if (t->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	t->broken_why = why;
	t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	/* §4.2.2.1: a configuration change notification tells the driver. */
	if (t->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_interrupt(t, VIRTIO_MMIO_INT_CONFIG);
}

void lvm_virtio_config_changed(struct lvm_virtio_transport *t)
{
	t->config_generation++;
	if (lvm_virtio_driver_ok(t))
		raise_interrupt(t, VIRTIO_MMIO_INT_CONFIG);
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
}

/* §3.1.1: FEATURES_OK only sticks if we accept what the driver chose. */
static void write_status(struct lvm_virtio_transport *t, uint32_t value)
{
	if (value == 0) {
		device_reset(t);
		return;
	}
	uint32_t added = value & ~t->status;
	if (added & VIRTIO_CONFIG_S_FEATURES_OK) {
		bool subset = !(t->driver_features & ~device_features(t));
		bool modern = t->driver_features & (1ull << VIRTIO_F_VERSION_1);
		if (!subset || !modern)
			value &= ~(uint32_t)VIRTIO_CONFIG_S_FEATURES_OK;
	}
	if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !(value & VIRTIO_CONFIG_S_FEATURES_OK))
		value &= ~(uint32_t)VIRTIO_CONFIG_S_DRIVER_OK;
	/* The driver cannot clear NEEDS_RESET except by a reset. */
	t->status = value | (t->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static struct lvm_vq *selected_queue(struct lvm_virtio_transport *t)
{
	return t->queue_sel < t->ops->num_queues ? &t->vq[t->queue_sel] : NULL;
}

static void set_queue_ready(struct lvm_virtio_transport *t, struct lvm_vq *vq, uint32_t value)
{
	if (!value) {
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

static void set_half(uint64_t *field, bool high, uint32_t value)
{
	if (high)
		*field = (*field & 0xffffffffull) | ((uint64_t)value << 32);
	else
		*field = (*field & ~0xffffffffull) | value;
}

/* Queue layout registers; ignored once the queue is ready (§4.2.2.3.2). */
static void write_queue_reg(struct lvm_virtio_transport *t, uint64_t offset, uint32_t value)
{
	struct lvm_vq *vq = selected_queue(t);
	if (!vq)
		return;
	if (offset == VIRTIO_MMIO_QUEUE_READY) {
		set_queue_ready(t, vq, value);
		return;
	}
	if (vq->ready)
		return;
	switch (offset) {
	case VIRTIO_MMIO_QUEUE_NUM: vq->size = (uint16_t)(value <= 0xffff ? value : 0); break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: set_half(&vq->desc_gpa, false, value); break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: set_half(&vq->desc_gpa, true, value); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: set_half(&vq->avail_gpa, false, value); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: set_half(&vq->avail_gpa, true, value); break;
	case VIRTIO_MMIO_QUEUE_USED_LOW: set_half(&vq->used_gpa, false, value); break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH: set_half(&vq->used_gpa, true, value); break;
	}
}

/* A QueueNotify that KVM's ioeventfd did not absorb. */
static void queue_notify(struct lvm_virtio_transport *t, uint32_t q)
{
	if (q >= t->ops->num_queues || !t->vq[q].ready) {
		t->bad_notifies++;
		return;
	}
	uint64_t one = 1;
	ssize_t ignored = write(t->notify_fd[q], &one, sizeof(one));
	(void)ignored;
}

static void write_reg(struct lvm_virtio_transport *t, uint64_t offset, uint32_t value)
{
	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: t->device_features_sel = value; break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: t->driver_features_sel = value; break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (t->driver_features_sel < 2 && !(t->status & VIRTIO_CONFIG_S_FEATURES_OK))
			set_half(&t->driver_features, t->driver_features_sel == 1, value);
		break;
	case VIRTIO_MMIO_QUEUE_SEL: t->queue_sel = value; break;
	case VIRTIO_MMIO_QUEUE_NOTIFY: queue_notify(t, value); break;
	case VIRTIO_MMIO_INTERRUPT_ACK: t->interrupt_status &= ~value; break;
	case VIRTIO_MMIO_STATUS: write_status(t, value); break;
	default: write_queue_reg(t, offset, value); break;
	}
}

static uint32_t read_queue_reg(struct lvm_virtio_transport *t, uint64_t offset)
{
	struct lvm_vq *vq = selected_queue(t);
	if (!vq)
		return 0; /* QueueNumMax 0: no such queue (§4.2.2) */
	switch (offset) {
	case VIRTIO_MMIO_QUEUE_NUM_MAX: return LVM_VQ_MAX_SIZE;
	case VIRTIO_MMIO_QUEUE_READY: return vq->ready;
	case VIRTIO_MMIO_QUEUE_NUM: return vq->size;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: return (uint32_t)vq->desc_gpa;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: return (uint32_t)(vq->desc_gpa >> 32);
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: return (uint32_t)vq->avail_gpa;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: return (uint32_t)(vq->avail_gpa >> 32);
	case VIRTIO_MMIO_QUEUE_USED_LOW: return (uint32_t)vq->used_gpa;
	case VIRTIO_MMIO_QUEUE_USED_HIGH: return (uint32_t)(vq->used_gpa >> 32);
	}
	return 0;
}

static uint32_t read_reg(struct lvm_virtio_transport *t, uint64_t offset)
{
	uint64_t features = device_features(t);
	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE: return MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION: return 2;
	case VIRTIO_MMIO_DEVICE_ID: return t->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return t->device_features_sel == 0 ? (uint32_t)features
		       : t->device_features_sel == 1 ? (uint32_t)(features >> 32) : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return t->interrupt_status;
	case VIRTIO_MMIO_STATUS: return t->status;
	case VIRTIO_MMIO_CONFIG_GENERATION: return t->config_generation;
	}
	return read_queue_reg(t, offset);
}

/* Device configuration space: any width, little-endian (§4.2.2.2). */
static void config_io(struct lvm_virtio_transport *t, uint64_t offset, uint8_t *data, uint32_t size,
		      bool is_write)
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

void lvm_virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write)
{
	struct lvm_virtio_transport *t = opaque;
	pthread_mutex_lock(&t->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		config_io(t, offset - VIRTIO_MMIO_CONFIG, data, size, is_write);
	} else if (size != 4 || (offset & 3)) {
		if (!is_write) /* §4.2.2.2: registers are 32 bits wide */
			memset(data, 0, size);
	} else if (is_write) {
		uint32_t value;
		memcpy(&value, data, 4);
		write_reg(t, offset, value);
	} else {
		uint32_t value = read_reg(t, offset);
		memcpy(data, &value, 4);
	}
	pthread_mutex_unlock(&t->lock);
}

/* ---- Saved state (snapshot and fork) ---- */

#define STATUS_BITS (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
		     VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK | \
		     VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)
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
 * state machine keeps (write_status, write_reg). */
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
	uint64_t offered = device_features(t);
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
	if (load_regs(t, r, &s) < 0)
		return -1;
	for (unsigned q = 0; q < t->ops->num_queues; q++)
		if (load_queue(t, r, q, &vq[q]) < 0)
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
	pthread_mutex_unlock(&t->lock);
	return 0;
}
