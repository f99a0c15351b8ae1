/*
 * blk-check: drives the first virtio-blk device from ring 3 by polling.
 * Command line "MODE SEED" (anything after is ignored, e.g. luavmm's
 * virtio_mmio.device= entries):
 *   rw    write sector s of the disk as string.pack("<I4I4", SEED, s) x 64,
 *         flush, read every sector back and verify; prints "blk-check: ok"
 *   ro    verify the pattern, then expect a write to fail with IOERR
 *   hold  write the pattern, flush, print "blk-check: flushed", spin forever
 * Every step prints a line; any failure prints "blk-check: FAIL ..." and
 * exits with 1.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_BLOCK 2
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define S_OK 0
#define S_IOERR 1
#define F_RO (1ull << 5)
#define F_FLUSH (1ull << 9)
#define F_INDIRECT (1ull << 28)
#define F_EVENT_IDX (1ull << 29)
#define CHUNK_SECTORS 128 /* 64 KiB per request */
#define SPINS 40000000000ull

struct blk_req {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};

static struct vq q;
static uint8_t ring_page[4096] __attribute__((aligned(4096)));
static uint8_t buf[CHUNK_SECTORS * 512] __attribute__((aligned(4096)));
static struct blk_req req;
static volatile uint8_t status;
static struct vq_desc indirect[3] __attribute__((aligned(16)));
static uint32_t seed;
static uint64_t capacity;
static unsigned requests;

static void fail(const char *what)
{
	serial_puts("blk-check: FAIL ");
	serial_puts(what);
	serial_putc('\n');
	debug_exit(1);
}

/* One request: header, optional data, status; every other one indirect. */
static int request(uint32_t type, uint64_t sector, uint32_t len)
{
	req = (struct blk_req){ type, 0, sector };
	status = 0xff;
	uint16_t data_flags = (type == T_IN || type == T_GET_ID) ? VQ_F_WRITE : 0;
	int use_indirect = (q.dev->features & F_INDIRECT) && (requests++ & 1);
	volatile struct vq_desc *d = use_indirect ? (volatile struct vq_desc *)indirect : q.desc;
	unsigned i = 0;
	vq_set_desc(&d[i], (uint64_t)&req, sizeof(req), VQ_F_NEXT, (uint16_t)(i + 1));
	i++;
	if (len) {
		vq_set_desc(&d[i], (uint64_t)buf, len, data_flags | VQ_F_NEXT, (uint16_t)(i + 1));
		i++;
	}
	vq_set_desc(&d[i], (uint64_t)&status, 1, VQ_F_WRITE, 0);
	if (use_indirect)
		vq_set_desc(&q.desc[0], (uint64_t)indirect, (uint32_t)((i + 1) * sizeof(indirect[0])),
		    VQ_F_INDIRECT, 0);
	vq_submit(&q, 0);
	uint32_t used_len;
	if (vq_wait(&q, &used_len, SPINS) != 0)
		fail("no completion");
	return status;
}

static void fill(uint64_t first, unsigned n)
{
	for (unsigned s = 0; s < n; s++)
		for (unsigned w = 0; w < 64; w++) {
			uint32_t *p = (uint32_t *)(buf + s * 512 + w * 8);
			p[0] = seed;
			p[1] = (uint32_t)(first + s);
		}
}

static int check(uint64_t first, unsigned n)
{
	for (unsigned s = 0; s < n; s++)
		for (unsigned w = 0; w < 64; w++) {
			uint32_t *p = (uint32_t *)(buf + s * 512 + w * 8);
			if (p[0] != seed || p[1] != (uint32_t)(first + s))
				return 0;
		}
	return 1;
}

static unsigned chunk(uint64_t sector)
{
	return capacity - sector < CHUNK_SECTORS ? (unsigned)(capacity - sector) : CHUNK_SECTORS;
}

static void write_all(void)
{
	for (uint64_t s = 0; s < capacity; s += chunk(s)) {
		fill(s, chunk(s));
		if (request(T_OUT, s, chunk(s) * 512) != S_OK)
			fail("write");
	}
	if (request(T_FLUSH, 0, 0) != S_OK)
		fail("flush");
}

static void verify_all(void)
{
	for (uint64_t s = 0; s < capacity; s += chunk(s)) {
		memset(buf, 0, sizeof(buf));
		if (request(T_IN, s, chunk(s) * 512) != S_OK)
			fail("read");
		if (!check(s, chunk(s)))
			fail("pattern mismatch");
	}
}

static uint64_t driver(uint64_t mode)
{
	struct vdev *dev = vdev_find(VIRTIO_ID_BLOCK);
	if (!dev)
		fail("no virtio-blk device");
	if (vdev_init(dev, F_FLUSH | F_INDIRECT | F_EVENT_IDX | F_RO) < 0 ||
	    vq_setup(dev, &q, 0, ring_page) < 0)
		fail("device set-up");
	vdev_driver_ok(dev);
	capacity = vdev_config32(dev, 0) | (uint64_t)vdev_config32(dev, 4) << 32;
	serial_puts("blk-check: found via ");
	serial_puts(vdev_source);
	serial_puts(", ");
	serial_put_dec(capacity);
	serial_puts(" sectors");
	serial_puts(dev->features & F_RO ? ", read-only\n" : "\n");
	memset(buf, 0, 21);
	if (request(T_GET_ID, 0, 20) == S_OK) {
		serial_puts("blk-check: id ");
		serial_puts((const char *)buf);
		serial_putc('\n');
	}
	if (mode == 'o') {
		verify_all();
		serial_puts("blk-check: pattern ok\n");
		if (request(T_OUT, 0, 512) != S_IOERR)
			fail("write to a read-only disk was not rejected");
		serial_puts("blk-check: write rejected\n");
		return 0;
	}
	write_all();
	serial_puts("blk-check: flushed\n");
	if (mode == 'h')
		for (;;)
			;
	verify_all();
	serial_puts("blk-check: ok\n");
	return 0;
}

uint32_t guest_main(const char *args)
{
	const char *p = skip_spaces(args);
	uint64_t mode = p[0] == 'r' && p[1] == 'o' ? 'o' : p[0] == 'h' ? 'h' : 'w';
	while (*p && *p != ' ')
		p++;
	uint64_t v = 1;
	parse_uint(&p, &v);
	seed = (uint32_t)v;
	return (uint32_t)run_user(driver, mode);
}
