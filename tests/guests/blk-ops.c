/*
 * blk-ops: COUNT one-sector requests to the first virtio-blk device from
 * ring 3, for the policy and rate-limit specs.  Command line
 * "OP COUNT SECTOR [STEP]": OP is w (write), r (read) or f (flush);
 * request i goes to sector SECTOR + i*STEP (STEP defaults to 1).  Prints
 * "blk-ops: I STATUS" per request (0 ok, 1 ioerr, 2 unsupp) and finally
 * "blk-ops: done ok=A ioerr=B unsupp=C", then exits with 0.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_BLOCK 2
#define F_FLUSH (1ull << 9)
#define SPINS 40000000000ull

struct blk_req {
	uint32_t type, ioprio;
	uint64_t sector;
};

static struct vq q;
static uint8_t ring_page[4096] __attribute__((aligned(4096)));
static uint8_t buf[512] __attribute__((aligned(512)));
static struct blk_req req;
static volatile uint8_t status;

static void fail(const char *what)
{
	serial_puts("blk-ops: FAIL ");
	serial_puts(what);
	serial_putc('\n');
	debug_exit(1);
}

static unsigned request(uint32_t type, uint64_t sector)
{
	req = (struct blk_req){ type, 0, sector };
	status = 0xff;
	unsigned i = 0;
	vq_set_desc(&q.desc[i], (uint64_t)&req, sizeof(req), VQ_F_NEXT, 1);
	i++;
	if (type != 4) {
		vq_set_desc(&q.desc[i], (uint64_t)buf, sizeof(buf),
			    (type == 0 ? VQ_F_WRITE : 0) | VQ_F_NEXT, 2);
		i++;
	}
	vq_set_desc(&q.desc[i], (uint64_t)&status, 1, VQ_F_WRITE, 0);
	vq_submit(&q, 0);
	if (vq_wait(&q, 0, SPINS) != 0)
		fail("no completion");
	return status;
}

static uint64_t op, count, first, step = 1;

static uint64_t driver(uint64_t unused)
{
	(void)unused;
	struct vdev *dev = vdev_find(VIRTIO_ID_BLOCK);
	if (!dev || vdev_init(dev, F_FLUSH) < 0 || vq_setup(dev, &q, 0, ring_page) < 0)
		fail("device set-up");
	vdev_driver_ok(dev);
	uint32_t type = op == 'w' ? 1 : op == 'f' ? 4 : 0;
	uint64_t tally[3] = { 0, 0, 0 };
	for (uint64_t i = 0; i < count; i++) {
		memset(buf, (int)(i & 0xff), sizeof(buf));
		unsigned st = request(type, first + i * step);
		tally[st < 3 ? st : 1]++;
		serial_puts("blk-ops: ");
		serial_put_dec(i);
		serial_putc(' ');
		serial_put_dec(st);
		serial_putc('\n');
	}
	serial_puts("blk-ops: done ok=");
	serial_put_dec(tally[0]);
	serial_puts(" ioerr=");
	serial_put_dec(tally[1]);
	serial_puts(" unsupp=");
	serial_put_dec(tally[2]);
	serial_putc('\n');
	return 0;
}

uint32_t guest_main(const char *args)
{
	const char *p = skip_spaces(args);
	op = (uint64_t)(unsigned char)*p;
	if (*p)
		p++;
	p = skip_spaces(p);
	parse_uint(&p, &count);
	p = skip_spaces(p);
	parse_uint(&p, &first);
	p = skip_spaces(p);
	if (*p >= '0' && *p <= '9')
		parse_uint(&p, &step);
	return (uint32_t)run_user(driver, 0);
}
