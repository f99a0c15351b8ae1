/*
 * The hostile driver of fuzz_virtio.h.  Each step is an opcode byte and
 * its operands; the program decides the feature bits, the queue layout and
 * size, descriptor contents, avail indices (including backwards), resets
 * at any moment and which queue is kicked, so it reaches everything a
 * driver in a guest could.
 */
#include "fuzz_virtio.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/queue.h"

#define MAX_STEPS 256u

void fv_vm_init(struct fv *s)
{
	memset(s, 0, sizeof(*s));
	struct lvm_memory *mem = &s->vm.mem;
	mem->memfd = -1;
	mem->size = FV_RAM;
	mem->host = calloc(1, FV_RAM);
	mem->regions[0] = (struct lvm_memory_region){ 0, FV_RAM, 0 };
	mem->nregions = 1;
	s->vm.vm_fd = s->vm.kvm_fd = -1;
	if (lvm_console_init(&s->vm.console) < 0)
		abort();
	s->bump = FV_DATA;
}

void fv_vm_free(struct fv *s)
{
	lvm_console_destroy(&s->vm.console);
	free(s->vm.mem.host);
}

static void mmio_write(struct fv *s, uint64_t off, uint32_t size, uint64_t value)
{
	uint8_t buf[8];
	memcpy(buf, &value, sizeof(buf));
	lvm_virtio_mmio_io(s->t, off, buf, size, true);
}

static uint64_t mmio_read(struct fv *s, uint64_t off, uint32_t size)
{
	uint8_t buf[8] = { 0 };
	lvm_virtio_mmio_io(s->t, off, buf, size, false);
	uint64_t v;
	memcpy(&v, buf, sizeof(v));
	return v;
}

static void check(struct lvm_filter_result *r, struct fv *s)
{
	uint8_t b = fz_u8(&s->verdicts);
	r->verdict = (enum lvm_filter_verdict)(b % 5);
	r->delay_ms = 0;
	/* The driver resets the device while the filter runs (the lock is dropped). */
	if (b & 0x80)
		mmio_write(s, VIRTIO_MMIO_STATUS, 4, 0);
}

static void filter_check(void *opaque, const struct lvm_filter_request *req,
			 struct lvm_filter_result *result)
{
	struct fv *s = opaque;
	s->filter_calls++;
	if (req->frame) { /* the frame must be readable during the call */
		volatile uint8_t sink = 0;
		for (uint32_t i = 0; i < req->length; i++)
			sink ^= ((const uint8_t *)req->frame)[i];
		(void)sink;
	}
	check(result, s);
}

const struct lvm_filter *fv_filter(struct fv *s, struct fz verdicts)
{
	s->verdicts = verdicts;
	s->filter = (struct lvm_filter){ filter_check, s };
	return &s->filter;
}

static uint64_t ring_gpa(unsigned q, unsigned which)
{
	return 0x1000u + q * 0x4000u + which * 0x1000u;
}

static void setup_queue(struct fv *s, unsigned q, uint32_t num)
{
	mmio_write(s, VIRTIO_MMIO_QUEUE_SEL, 4, q);
	mmio_write(s, VIRTIO_MMIO_QUEUE_NUM, 4, num);
	mmio_write(s, VIRTIO_MMIO_QUEUE_DESC_LOW, 4, ring_gpa(q, 0));
	mmio_write(s, VIRTIO_MMIO_QUEUE_DESC_HIGH, 4, 0);
	mmio_write(s, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 4, ring_gpa(q, 1));
	mmio_write(s, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 4, 0);
	mmio_write(s, VIRTIO_MMIO_QUEUE_USED_LOW, 4, ring_gpa(q, 2));
	mmio_write(s, VIRTIO_MMIO_QUEUE_USED_HIGH, 4, 0);
	mmio_write(s, VIRTIO_MMIO_QUEUE_READY, 4, 1);
	s->avail_idx[q] = 0;
	s->next_desc[q] = 0;
}

void fv_driver_init(struct fv *s, struct fz *in)
{
	uint8_t opt = fz_u8(in);
	mmio_write(s, VIRTIO_MMIO_STATUS, 4, 0);
	mmio_write(s, VIRTIO_MMIO_STATUS, 4, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	mmio_write(s, VIRTIO_MMIO_STATUS, 4, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		mmio_write(s, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 4, sel);
		uint32_t offered = (uint32_t)mmio_read(s, VIRTIO_MMIO_DEVICE_FEATURES, 4);
		uint32_t mask = (opt & 1) ? fz_u32(in) : 0xffffffffu;
		if (sel == 1)
			mask |= 1u << (VIRTIO_F_VERSION_1 - 32);
		mmio_write(s, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 4, sel);
		mmio_write(s, VIRTIO_MMIO_DRIVER_FEATURES, 4, offered & mask);
	}
	mmio_write(s, VIRTIO_MMIO_STATUS, 4,
		   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	uint32_t num = 1u << (((opt >> 1) & 7) + 1); /* 2..256 */
	for (unsigned q = 0; q < s->t->ops->num_queues; q++)
		setup_queue(s, q, num);
	mmio_write(s, VIRTIO_MMIO_STATUS, 4,
		   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* What the transport's I/O thread does on a wake-up, for one source. */
void fv_kick(struct fv *s, unsigned q)
{
	struct lvm_virtio_transport *t = s->t;
	pthread_mutex_lock(&t->lock);
	if (q < t->ops->num_queues && lvm_virtio_driver_ok(t) && t->vq[q].ready)
		t->ops->queue_event(t->dev, t, q);
	pthread_mutex_unlock(&t->lock);
}

static void device_event(struct fv *s)
{
	struct lvm_virtio_transport *t = s->t;
	pthread_mutex_lock(&t->lock);
	if (t->device_fd >= 0 && !t->device_fd_paused && t->ops->device_event)
		t->ops->device_event(t->dev, t);
	pthread_mutex_unlock(&t->lock);
}

static void timer_event(struct fv *s)
{
	struct lvm_virtio_transport *t = s->t;
	pthread_mutex_lock(&t->lock);
	t->timer_due_ns = 0;
	if (t->ops->timer_event && lvm_virtio_driver_ok(t))
		t->ops->timer_event(t->dev, t);
	pthread_mutex_unlock(&t->lock);
}

uint8_t *fv_ram(struct fv *s, uint32_t gpa)
{
	return s->vm.mem.host + gpa;
}

uint32_t fv_alloc(struct fv *s, uint32_t len)
{
	if (len > FV_RAM - FV_DATA)
		len = FV_RAM - FV_DATA;
	if (s->bump + len > FV_RAM)
		s->bump = FV_DATA;
	uint32_t at = s->bump;
	s->bump += len;
	return at;
}

/*
 * The queue size the driver's own ring writes assume.  QueueNum takes any
 * value up to 0xffff while the queue is not ready, but our rings have room
 * for LVM_VQ_MAX_SIZE entries (the most a device accepts at QueueReady).
 */
static uint16_t ring_size(struct fv *s, unsigned q)
{
	uint16_t size = s->t->vq[q].size;
	return size && size <= LVM_VQ_MAX_SIZE ? size : 1;
}

void fv_offer(struct fv *s, unsigned q, const struct fv_buf *bufs, unsigned n)
{
	uint16_t size = ring_size(s, q);
	uint16_t head = s->next_desc[q] % size;
	struct vring_desc *table = (struct vring_desc *)fv_ram(s, (uint32_t)ring_gpa(q, 0));
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % size);
		table[idx] = (struct vring_desc){
			.addr = bufs[i].gpa, .len = bufs[i].len,
			.flags = (uint16_t)((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)((head + i + 1) % size),
		};
	}
	s->next_desc[q] = (uint16_t)(head + n);
	struct vring_avail *avail = (struct vring_avail *)fv_ram(s, (uint32_t)ring_gpa(q, 1));
	avail->ring[s->avail_idx[q] % size] = head;
	avail->idx = ++s->avail_idx[q];
}

/*
 * A buffer length as a driver would pick it: mode bits 14-13 choose raw
 * (0..8191), whole sectors, a few bytes (a status byte) or 16-byte units
 * (headers, discard ranges), so lengths devices check are easy to hit.
 */
static uint32_t pick_len(uint16_t word)
{
	switch ((word >> 13) & 3) {
	case 0: return word & 0x1fffu;
	case 1: return (word & 0x1fu) * 512u;
	case 2: return 1u + (word & 0xfu);
	}
	return 16u * (word & 0x1fu);
}

/* A chain of 1..4 buffers (readable ones filled from the input), made available. */
static void offer_chain(struct fv *s, struct fz *in, unsigned q)
{
	struct fv_buf bufs[4];
	unsigned n = fz_u8(in) % 4 + 1;
	for (unsigned i = 0; i < n; i++) {
		uint16_t word = fz_u16(in);
		uint32_t len = pick_len(word);
		bufs[i] = (struct fv_buf){ fv_alloc(s, len), len, word & 0x8000u };
		if (!bufs[i].write)
			fz_bytes(in, fv_ram(s, bufs[i].gpa), len < 64 ? len : 64);
	}
	fv_offer(s, q, bufs, n);
}

void fv_run(struct fv *s, struct fz *in)
{
	unsigned nq = s->t->ops->num_queues;
	for (unsigned step = 0; step < MAX_STEPS && in->n; step++) {
		uint8_t op = fz_u8(in);
		unsigned q = (op >> 4) % (nq ? nq : 1);
		switch (op & 15) {
		case 0: { /* a register write of any width, anywhere in the window */
			uint16_t off = fz_u16(in) % 0x1000u;
			uint32_t size = 1u << (fz_u8(in) & 3);
			mmio_write(s, off, size, fz_u64(in));
			break;
		}
		case 1: {
			uint16_t off = fz_u16(in) % 0x1000u;
			mmio_read(s, off, 1u << (fz_u8(in) & 3));
			break;
		}
		case 2: /* a well-formed chain, then a kick */
		case 3:
			offer_chain(s, in, q);
			if ((op & 15) == 2)
				fv_kick(s, q);
			break;
		case 4:
			fv_kick(s, q);
			break;
		case 5: { /* raw bytes anywhere in RAM: rings, descriptors, buffers */
			uint32_t at = fz_u32(in) % FV_RAM;
			uint32_t len = fz_u8(in);
			if (len > FV_RAM - at)
				len = FV_RAM - at;
			fz_bytes(in, fv_ram(s, at), len);
			break;
		}
		case 6: { /* the avail index jumps (forwards or backwards) */
			s->avail_idx[q] = (uint16_t)(s->avail_idx[q] + fz_u16(in));
			((struct vring_avail *)fv_ram(s, ring_gpa(q, 1)))->idx = s->avail_idx[q];
			break;
		}
		case 7: { /* one descriptor, any fields */
			struct vring_desc d;
			fz_bytes(in, &d, sizeof(d));
			((struct vring_desc *)fv_ram(s, ring_gpa(q, 0)))[fz_u8(in)] = d;
			break;
		}
		case 8:
			timer_event(s);
			break;
		case 9:
			device_event(s);
			break;
		case 10: /* reset */
			mmio_write(s, VIRTIO_MMIO_STATUS, 4, 0);
			break;
		case 11:
			fv_driver_init(s, in);
			break;
		case 12: /* a notify the ioeventfd would not absorb */
			mmio_write(s, VIRTIO_MMIO_QUEUE_NOTIFY, 4, fz_u8(in) < 128 ? q : fz_u32(in));
			break;
		case 13: { /* EVENT_IDX fields: used_event (after avail) and avail_event */
			uint16_t size = ring_size(s, q);
			struct vring_avail *avail = (struct vring_avail *)fv_ram(s, ring_gpa(q, 1));
			avail->ring[size] = fz_u16(in);
			break;
		}
		case 14: {
			/* One of the ring addresses re-pointed (only sticks while not ready). */
			mmio_write(s, VIRTIO_MMIO_QUEUE_SEL, 4, q);
			mmio_write(s, VIRTIO_MMIO_QUEUE_DESC_LOW + 0x10u * (fz_u8(in) % 3), 4,
				   fz_u32(in));
			break;
		}
		default:
			if (s->extra)
				s->extra(s, in);
			break;
		}
	}
}
