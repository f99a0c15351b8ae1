/*
 * The virtio-mmio register front-end (virtio 1.2 §4.2.2, version 2 only):
 * decodes the driver's accesses to the window into the transport core
 * (core.c).  Called on vCPU threads; everything runs under the transport
 * lock.
 */
#include "devices/virtio/transport.h"

#include <linux/virtio_mmio.h>
#include <string.h>

#define MMIO_MAGIC 0x74726976u /* "virt" */
#define MMIO_VENDOR 0x4d564c55u /* "ULVM": luavmm */

/* Queue layout registers; ignored once the queue is ready (§4.2.2.3.2). */
static void write_queue_reg(struct lvm_virtio_transport *t, uint64_t offset, uint32_t value)
{
	struct lvm_vq *vq = lvm_virtio_selected_queue(t);
	if (!vq)
		return;
	switch (offset) {
	case VIRTIO_MMIO_QUEUE_READY: lvm_virtio_set_queue_ready(t, vq, value != 0); break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (!vq->ready)
			vq->size = (uint16_t)(value <= 0xffff ? value : 0);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: lvm_virtio_set_ring_half(vq, &vq->desc_gpa, false, value); break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: lvm_virtio_set_ring_half(vq, &vq->desc_gpa, true, value); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: lvm_virtio_set_ring_half(vq, &vq->avail_gpa, false, value); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: lvm_virtio_set_ring_half(vq, &vq->avail_gpa, true, value); break;
	case VIRTIO_MMIO_QUEUE_USED_LOW: lvm_virtio_set_ring_half(vq, &vq->used_gpa, false, value); break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH: lvm_virtio_set_ring_half(vq, &vq->used_gpa, true, value); break;
	}
}

static void write_reg(struct lvm_virtio_transport *t, uint64_t offset, uint32_t value)
{
	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: t->device_features_sel = value; break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: t->driver_features_sel = value; break;
	case VIRTIO_MMIO_DRIVER_FEATURES: lvm_virtio_set_driver_features(t, value); break;
	case VIRTIO_MMIO_QUEUE_SEL: t->queue_sel = value; break;
	/* A QueueNotify that KVM's ioeventfd did not absorb. */
	case VIRTIO_MMIO_QUEUE_NOTIFY: lvm_virtio_queue_notify(t, value); break;
	case VIRTIO_MMIO_INTERRUPT_ACK: t->interrupt_status &= ~value; break;
	case VIRTIO_MMIO_STATUS: lvm_virtio_set_status(t, value); break;
	default: write_queue_reg(t, offset, value); break;
	}
}

static uint32_t read_queue_reg(struct lvm_virtio_transport *t, uint64_t offset)
{
	struct lvm_vq *vq = lvm_virtio_selected_queue(t);
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
	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE: return MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION: return 2;
	case VIRTIO_MMIO_DEVICE_ID: return t->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES: return lvm_virtio_device_features_word(t);
	case VIRTIO_MMIO_INTERRUPT_STATUS: return t->interrupt_status;
	case VIRTIO_MMIO_STATUS: return t->status;
	case VIRTIO_MMIO_CONFIG_GENERATION: return t->config_generation;
	}
	return read_queue_reg(t, offset);
}

void lvm_virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write)
{
	struct lvm_virtio_transport *t = opaque;
	pthread_mutex_lock(&t->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		lvm_virtio_device_config_io(t, offset - VIRTIO_MMIO_CONFIG, data, size, is_write);
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
