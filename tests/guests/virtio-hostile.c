/*
 * virtio-hostile: breaks the virtio rules against the first virtio-blk
 * device, one way per run (command line: the case name), then checks the
 * device noticed (DEVICE_NEEDS_RESET, or a failed or empty completion),
 * resets it and proves it still serves a good read.  Cases:
 *   loop outside wrap huge long nested jump zero-status notify mmio
 * Prints "hostile: CASE -> needs-reset|failed|completed|ignored", then
 * "hostile: recovered" and exits 0; exits 1 if the device misbehaved.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_BLOCK 2
#define STATUS_NEEDS_RESET 0x40
#define F_INDIRECT (1ull << 28)
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

static int setup(void)
{
	if (vdev_init(dev, F_INDIRECT) < 0 || vq_setup(dev, &q, 0, ring_page) < 0)
		return -1;
	vdev_driver_ok(dev);
	return 0;
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

/* Waits for NEEDS_RESET or a completion; says which. */
static const char *outcome(void)
{
	for (unsigned i = 0; i < 20000; i++) {
		if (vdev_status(dev) & STATUS_NEEDS_RESET)
			return "needs-reset";
		uint32_t len;
		if (vq_wait(&q, &len, 100000) >= 0)
			return status == 0 ? "completed" : "failed";
	}
	return "ignored";
}

static const char *run_case(const char *name)
{
	good_read((uint64_t)buf, 512);
	if (str_eq(name, "loop")) {
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

static uint64_t driver(uint64_t arg)
{
	const char *name = (const char *)arg;
	dev = vdev_find(VIRTIO_ID_BLOCK);
	if (!dev || setup() < 0) {
		serial_puts("hostile: FAIL no virtio-blk device\n");
		return 1;
	}
	serial_puts("hostile: ");
	serial_puts(name);
	serial_puts(" -> ");
	serial_puts(run_case(name));
	serial_putc('\n');
	if (setup() < 0) { /* vdev_init resets the device first */
		serial_puts("hostile: FAIL reset\n");
		return 1;
	}
	good_read((uint64_t)buf, 512);
	vq_submit(&q, 0);
	uint32_t len;
	if (vq_wait(&q, &len, SPINS) != 0 || status != 0 || len != 513) {
		serial_puts("hostile: FAIL no good read after the reset\n");
		return 1;
	}
	serial_puts("hostile: recovered\n");
	return 0;
}

uint32_t guest_main(const char *args)
{
	static char name[32];
	const char *p = skip_spaces(args);
	unsigned n = 0;
	while (p[n] && p[n] != ' ' && n < sizeof(name) - 1) {
		name[n] = p[n];
		n++;
	}
	return (uint32_t)run_user(driver, (uint64_t)name);
}
