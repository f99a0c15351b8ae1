/*
 * virtio-hostile: breaks the virtio rules against the first virtio-blk
 * device, one way per run (command line: the case name), then checks the
 * device noticed (DEVICE_NEEDS_RESET, or a failed or empty completion),
 * resets it and proves it still serves a good read.  Cases:
 *   loop outside wrap huge long nested jump zero-status notify mmio
 *   widths      8/16/64-bit accesses to the registers (ignored) and config
 *   backwards   the available index goes back after a completed request
 *   storm       20000 notifies of the live queue with a request in flight
 *   reset-inflight  a reset right after the notify, then a new queue
 *   overlap     the used ring laid over the descriptor table
 *   overlap-avail  the used ring laid over the available ring
 *   event-idx   EVENT_IDX with used_event anywhere, 70000 requests (the
 *               16-bit indices wrap), notifying once per batch
 * Prints "hostile: CASE -> needs-reset|failed|completed|ignored|reset"
 * (or what went wrong), then "hostile: recovered" and exits 0; exits 1 if
 * the device misbehaved.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_BLOCK 2
#define STATUS_NEEDS_RESET 0x40
#define F_INDIRECT (1ull << 28)
#define F_EVENT_IDX (1ull << 29)
#define REG_MAGIC 0x000
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_STATUS 0x070
#define REG_QUEUE_DESC 0x080
#define REG_CONFIG 0x100
#define SPINS 4000000000ull

struct blk_req {
	uint32_t type, ioprio;
	uint64_t sector;
};

static struct vq q;
static uint8_t ring_page[4096] __attribute__((aligned(4096)));
static uint8_t buf[4096] __attribute__((aligned(4096)));
static struct vq_desc table[300] __attribute__((aligned(16)));
static struct vq_desc inner[2] __attribute__((aligned(16)));
static struct blk_req req;
static volatile uint8_t status;
static struct vdev *dev;

static int setup_with(uint64_t features)
{
	if (vdev_init(dev, features) < 0 || vq_setup(dev, &q, 0, ring_page) < 0)
		return -1;
	vdev_driver_ok(dev);
	return 0;
}

static int setup(void)
{
	return setup_with(F_INDIRECT);
}

/* Queue 0 as vq_setup lays it out, but with the used ring at `used`. */
static int setup_used_at(uint64_t used)
{
	if (vdev_init(dev, F_INDIRECT) < 0)
		return -1;
	uint64_t base = (uint64_t)ring_page;
	memset(ring_page, 0, sizeof(ring_page));
	vdev_write(dev, 0x030, 0);
	vdev_write(dev, 0x038, VQ_SIZE);
	vdev_write(dev, REG_QUEUE_DESC, (uint32_t)base);
	vdev_write(dev, REG_QUEUE_DESC + 4, (uint32_t)(base >> 32));
	vdev_write(dev, 0x090, (uint32_t)(base + 256));
	vdev_write(dev, 0x094, (uint32_t)((base + 256) >> 32));
	vdev_write(dev, 0x0a0, (uint32_t)used);
	vdev_write(dev, 0x0a4, (uint32_t)(used >> 32));
	vdev_write(dev, REG_QUEUE_READY, 1);
	if (vdev_read(dev, REG_QUEUE_READY) != 1)
		return -1;
	vdev_driver_ok(dev);
	q.avail_idx = q.used_seen = 0;
	q.used = (volatile uint32_t *)used;
	return 0;
}

/* Register accesses of other widths than the 32 bits §4.2.2.2 allows. */
static uint64_t mmio_read(uint32_t reg, unsigned width)
{
	uint64_t a = dev->base + reg;
	switch (width) {
	case 1: return *(volatile uint8_t *)a;
	case 2: return *(volatile uint16_t *)a;
	case 8: return *(volatile uint64_t *)a;
	}
	return *(volatile uint32_t *)a;
}

static void mmio_write(uint32_t reg, unsigned width, uint64_t v)
{
	uint64_t a = dev->base + reg;
	switch (width) {
	case 1: *(volatile uint8_t *)a = (uint8_t)v; break;
	case 2: *(volatile uint16_t *)a = (uint16_t)v; break;
	case 8: *(volatile uint64_t *)a = v; break;
	default: *(volatile uint32_t *)a = (uint32_t)v; break;
	}
}

/* A read of sector 0 through descriptors 0..2; data length `len`. */
static void good_read(uint64_t data, uint32_t len)
{
	req = (struct blk_req){ 0, 0, 0 };
	status = 0xff;
	vq_set_desc(&q.desc[0], (uint64_t)&req, sizeof(req), VQ_F_NEXT, 1);
	vq_set_desc(&q.desc[1], data, len, VQ_F_WRITE | VQ_F_NEXT, 2);
	vq_set_desc(&q.desc[2], (uint64_t)&status, 1, VQ_F_WRITE, 0);
}

/* Waits for NEEDS_RESET or a completion; says which ("failed": by its status byte). */
static const char *outcome(void)
{
	const char *r = vq_outcome(&q);
	return str_eq(r, "completed") && status != 0 ? "failed" : r;
}

/* Registers the spec says are 32 bits wide, at 8, 16 and 64 bits. */
static const char *widths(void)
{
	uint64_t sectors = vdev_config32(dev, 0) | (uint64_t)vdev_config32(dev, 4) << 32;
	for (unsigned w = 1; w <= 2; w *= 2)
		if (mmio_read(REG_MAGIC, w) != 0)
			return "narrow register read not 0";
	/* Ignored writes: each of these would reset the device or the queue. */
	mmio_write(REG_STATUS, 1, 0);
	mmio_write(REG_STATUS, 2, 0);
	mmio_write(REG_STATUS + 1, 1, 0);
	mmio_write(REG_QUEUE_READY, 2, 0);
	mmio_write(REG_QUEUE_DESC, 8, 0x40000000000ull);
	mmio_write(REG_STATUS, 8, 0);
	(void)mmio_read(REG_STATUS, 8);
	if (!(vdev_status(dev) & 4) || vdev_read(dev, REG_QUEUE_READY) != 1)
		return "a narrow or wide write took effect";
	/* Configuration space is byte-addressable at any width (§4.2.2.2). */
	uint64_t wide = mmio_read(REG_CONFIG, 8), bytes = 0, halves = 0;
	for (unsigned i = 0; i < 8; i++)
		bytes |= mmio_read(REG_CONFIG + i, 1) << (8 * i);
	for (unsigned i = 0; i < 4; i++)
		halves |= mmio_read(REG_CONFIG + 2 * i, 2) << (16 * i);
	if (wide != sectors || bytes != sectors || halves != sectors)
		return "config reads disagree across widths";
	return NULL;
}

/* Chains of one sector read each at descriptors 3k..3k+2, k < 5, no notify. */
static void offer_read(unsigned k, uint16_t slot)
{
	static struct blk_req reqs[5];
	static volatile uint8_t statuses[5];
	reqs[k] = (struct blk_req){ 0, 0, 0 };
	statuses[k] = 0xff;
	uint16_t d = (uint16_t)(3 * k);
	vq_set_desc(&q.desc[d], (uint64_t)&reqs[k], sizeof(reqs[k]), VQ_F_NEXT, (uint16_t)(d + 1));
	vq_set_desc(&q.desc[d + 1], (uint64_t)buf + 512 * k, 512, VQ_F_WRITE | VQ_F_NEXT,
		    (uint16_t)(d + 2));
	vq_set_desc(&q.desc[d + 2], (uint64_t)&statuses[k], 1, VQ_F_WRITE, 0);
	q.avail[2 + slot % q.size] = d;
}

/* EVENT_IDX negotiated, used_event set anywhere, indices past 65535. */
static const char *event_idx(void)
{
	if (setup_with(F_EVENT_IDX) < 0)
		return "EVENT_IDX refused";
	volatile uint16_t *used_event = &q.avail[2 + q.size];
	volatile uint16_t *avail_event = (volatile uint16_t *)&q.used[1 + 2 * q.size];
	uint32_t lcg = 12345, done = 0;
	while (done < 70000) {
		for (unsigned k = 0; k < 5; k++)
			offer_read(k, (uint16_t)(q.avail_idx + k));
		lcg = lcg * 1103515245u + 12345u;
		*used_event = (uint16_t)(lcg >> 16); /* anywhere, often far behind */
		q.avail[0] = (uint16_t)(lcg & 1);  /* NO_INTERRUPT: meaningless with EVENT_IDX */
		*avail_event = (uint16_t)lcg;      /* the device's field, scribbled over */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		q.avail_idx = (uint16_t)(q.avail_idx + 5);
		q.avail[1] = q.avail_idx;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		vdev_write(dev, REG_QUEUE_NOTIFY, 0); /* whatever avail_event says */
		for (unsigned k = 0; k < 5; k++) {
			uint32_t len;
			if (vq_wait(&q, &len, SPINS) < 0)
				return "a request was lost";
			if (len != 513)
				return "a request failed";
		}
		done += 5;
	}
	/* Both indices wrapped; the device's avail_event follows ours. */
	if ((uint16_t)(q.used[0] >> 16) != q.avail_idx || *avail_event != q.avail_idx)
		return "indices disagree after wrapping";
	return NULL;
}

static const char *run_case(const char *name)
{
	good_read((uint64_t)buf, 512);
	if (str_eq(name, "widths")) {
		const char *bad = widths();
		if (bad)
			return bad;
	} else if (str_eq(name, "backwards")) {
		uint32_t len;
		vq_submit(&q, 0);
		if (vq_wait(&q, &len, SPINS) != 0 || status != 0)
			return "first read failed";
		q.avail_idx = (uint16_t)(q.avail_idx - 2); /* the next submit publishes idx - 1 */
	} else if (str_eq(name, "storm")) {
		vq_submit(&q, 0);
		for (unsigned i = 0; i < 20000; i++)
			vdev_write(dev, REG_QUEUE_NOTIFY, 0);
		const char *r = outcome();
		uint32_t len;
		if (vq_wait(&q, &len, 1000000) >= 0)
			return "a chain was used twice";
		return r;
	} else if (str_eq(name, "reset-inflight")) {
		vq_submit(&q, 0);
		vdev_write(dev, REG_STATUS, 0);
		if (vdev_status(dev) != 0)
			return "reset did not read back 0";
		return "reset";
	} else if (str_eq(name, "overlap")) {
		/* The used ring laid over descriptors 0..8 (set before Ready); the
		 * requests use descriptors 10..12, so only the rings collide. */
		uint64_t base = (uint64_t)ring_page;
		if (setup_used_at(base) < 0)
			return "set-up failed";
		for (unsigned round = 0; round < 3; round++) {
			req = (struct blk_req){ 0, 0, 0 };
			status = 0xff;
			vq_set_desc(&q.desc[10], (uint64_t)&req, sizeof(req), VQ_F_NEXT, 11);
			vq_set_desc(&q.desc[11], (uint64_t)buf, 512, VQ_F_WRITE | VQ_F_NEXT, 12);
			vq_set_desc(&q.desc[12], (uint64_t)&status, 1, VQ_F_WRITE, 0);
			vq_submit(&q, 10);
			const char *r = outcome();
			if (!str_eq(r, "completed"))
				return r;
		}
		return "completed";
	} else if (str_eq(name, "overlap-avail")) {
		/* The used ring laid over the available ring: every completion
		 * rewrites the avail index (with the value it has) and the first
		 * avail entries.  Completion is seen in the status byte. */
		if (setup_used_at((uint64_t)ring_page + 256) < 0)
			return "set-up failed";
		for (unsigned round = 0; round < 3; round++) {
			good_read((uint64_t)buf, 512);
			vq_submit(&q, 0);
			uint64_t i = 0;
			while (status == 0xff && !(vdev_status(dev) & STATUS_NEEDS_RESET) && i < SPINS)
				i++;
			if (status != 0)
				return status == 0xff ? outcome() : "failed";
		}
		return "completed";
	} else if (str_eq(name, "event-idx")) {
		const char *bad = event_idx();
		return bad ? bad : "completed";
	} else if (str_eq(name, "loop")) {
		q.desc[2].flags = VQ_F_WRITE | VQ_F_NEXT;
		q.desc[2].next = 0;
	} else if (str_eq(name, "outside")) {
		q.desc[1].addr = 0x40000000000ull; /* 4 TiB: far past RAM */
	} else if (str_eq(name, "wrap")) {
		q.desc[1].addr = 0xfffffffffffff000ull;
		q.desc[1].len = 0x2000;
	} else if (str_eq(name, "huge")) {
		q.desc[1].len = 0xffffffffu;
	} else if (str_eq(name, "long")) { /* an indirect chain of 300 */
		for (unsigned i = 0; i < 300; i++)
			vq_set_desc(&table[i], (uint64_t)buf, 1, VQ_F_WRITE | VQ_F_NEXT, (uint16_t)(i + 1));
		table[299].flags = VQ_F_WRITE;
		vq_set_desc(&q.desc[0], (uint64_t)table, sizeof(table), VQ_F_INDIRECT, 0);
	} else if (str_eq(name, "nested")) {
		vq_set_desc(&inner[0], (uint64_t)table, 16, VQ_F_INDIRECT, 0);
		vq_set_desc(&q.desc[0], (uint64_t)inner, 16, VQ_F_INDIRECT, 0);
	} else if (str_eq(name, "jump")) {
		q.avail_idx += 100; /* the next submit publishes idx + 101 */
	} else if (str_eq(name, "zero-status")) {
		q.desc[2].len = 0;
	} else if (str_eq(name, "notify")) {
		for (uint32_t i = 1; i < 64; i++)
			vdev_write(dev, 0x050, i); /* queues that do not exist */
		vdev_write(dev, 0x050, 0xffffffffu);
	} else if (str_eq(name, "mmio")) {
		for (uint32_t r = 0; r < 0x200; r += 4)
			if (r != 0x070 && r != 0x050)
				vdev_write(dev, r, 0xdeadbeefu);
		for (uint32_t r = 0; r < 0x1000; r += 4)
			(void)vdev_read(dev, r);
		if (setup() < 0)
			return "set-up failed";
		good_read((uint64_t)buf, 512);
	} else {
		return "unknown case";
	}
	vq_submit(&q, 0);
	return outcome();
}

/* After the reset: a read of sector 0 that must succeed. */
static int good_read_ok(void)
{
	good_read((uint64_t)buf, 512);
	vq_submit(&q, 0);
	uint32_t len;
	return vq_wait(&q, &len, SPINS) == 0 && status == 0 && len == 513 ? 0 : -1;
}

uint32_t guest_main(const char *args)
{
	static const struct hostile_guest g = {
		.prefix = "hostile", .device_id = VIRTIO_ID_BLOCK, .device = "virtio-blk device",
		.dev = &dev, .setup = setup, .run_case = run_case, .prove = good_read_ok,
		.proof = "good read",
	};
	return hostile_main(&g, args);
}
