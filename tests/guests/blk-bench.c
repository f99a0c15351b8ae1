/*
 * blk-bench: sequential virtio-blk throughput from a ring-3 polling driver.
 * Command line "r|w BYTES COUNT": COUNT requests of BYTES (a multiple of
 * 512, at most 64 KiB) one at a time, wrapping around the disk.  Prints
 * "blk-bench: MODE BYTES COUNT CYCLES" (TSC cycles for the whole run).
 *
 * It negotiates VIRTIO_BLK_F_FLUSH like Linux's driver, and a write run
 * ends with one FLUSH request inside the timed span, so the data is on
 * stable storage when the clock stops.  Both matter for a fair comparison:
 * when the driver does not take FLUSH, QEMU cannot expect a flush and turns
 * its write cache off (write-through: a sync per write), while luavmm
 * caches and syncs only on FLUSH; with it, both cache and sync once.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_T_FLUSH 4
#define MAX_BYTES 65536u

struct blk_req {
	uint32_t type, ioprio;
	uint64_t sector;
};

static struct vq q;
static uint8_t ring_page[4096] __attribute__((aligned(4096)));
static uint8_t buf[MAX_BYTES] __attribute__((aligned(4096)));
static struct blk_req req;
static volatile uint8_t status;

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static uint64_t args[3];

/* One request: the header, then (data descriptor when `data`) the status byte. */
static int request(uint32_t type, uint64_t sector, int data)
{
	req = (struct blk_req){ type, 0, sector };
	q.desc[0].next = data ? 1 : 2;
	vq_submit(&q, 0);
	return vq_wait(&q, 0, ~0ull) == 0 && status == 0 ? 0 : -1;
}

static uint64_t driver(uint64_t unused)
{
	(void)unused;
	struct vdev *dev = vdev_find(VIRTIO_ID_BLOCK);
	if (!dev || vdev_init(dev, 1ull << VIRTIO_BLK_F_FLUSH) < 0 || vq_setup(dev, &q, 0, ring_page) < 0) {
		serial_puts("blk-bench: FAIL no virtio-blk device (");
		serial_puts(vdev_source);
		serial_puts(")\n");
		return 1;
	}
	vdev_driver_ok(dev);
	uint64_t capacity = vdev_config32(dev, 0) | (uint64_t)vdev_config32(dev, 4) << 32;
	uint32_t bytes = (uint32_t)args[1], sectors = bytes / 512;
	int write = args[0] == 'w';
	q.desc[0] = (struct vq_desc){ (uint64_t)&req, sizeof(req), VQ_F_NEXT, 1 };
	q.desc[1] = (struct vq_desc){ (uint64_t)buf, bytes, (uint16_t)(VQ_F_NEXT | (write ? 0 : VQ_F_WRITE)), 2 };
	q.desc[2] = (struct vq_desc){ (uint64_t)&status, 1, VQ_F_WRITE, 0 };
	uint64_t sector = 0, start = rdtsc();
	for (uint64_t i = 0; i < args[2]; i++) {
		if (sector + sectors > capacity)
			sector = 0;
		if (request(write ? 1u : 0u, sector, 1) < 0) {
			serial_puts("blk-bench: FAIL request\n");
			return 1;
		}
		sector += sectors;
	}
	if (write && (dev->features & (1ull << VIRTIO_BLK_F_FLUSH)) &&
	    request(VIRTIO_BLK_T_FLUSH, 0, 0) < 0) {
		serial_puts("blk-bench: FAIL flush\n");
		return 1;
	}
	uint64_t cycles = rdtsc() - start;
	serial_puts("blk-bench: ");
	serial_putc(write ? 'w' : 'r');
	serial_putc(' ');
	serial_put_dec(bytes);
	serial_putc(' ');
	serial_put_dec(args[2]);
	serial_putc(' ');
	serial_put_dec(cycles);
	serial_putc('\n');
	return 0;
}

uint32_t guest_main(const char *cmd)
{
	const char *p = skip_spaces(cmd);
	args[0] = (uint64_t)(unsigned char)*p;
	if (*p)
		p++;
	if (!parse_uint(&p, &args[1]) || !parse_uint(&p, &args[2]) || args[1] % 512 ||
	    args[1] == 0 || args[1] > MAX_BYTES) {
		serial_puts("blk-bench: usage r|w BYTES COUNT\n");
		return 2;
	}
	return (uint32_t)run_user(driver, 0);
}
