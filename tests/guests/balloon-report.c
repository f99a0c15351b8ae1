/*
 * balloon-report: virtio-balloon free page reporting (virtio 1.2 §5.5.6.7)
 * from a ring-3 driver.
 *
 * "report MIB [stats]": negotiates VIRTIO_BALLOON_F_REPORTING (and, with
 * "stats", VIRTIO_BALLOON_F_STATS_VQ: reporting_vq is then queue 3, else
 * 2), touches the top MIB MiB of RAM (a pattern in every 4 KiB page),
 * prints "balloon-report: touched MIB MiB" and waits for an "r" on the
 * UART.  Then it reports those MiB as free pages, the way Linux does: 2
 * MiB device-writable descriptors, four to a buffer, one buffer in flight;
 * and one more buffer of a single descriptor that is not page aligned
 * (offset 100, 3 pages long: the 2 whole pages inside it count).  Prints
 * "balloon-report: reported MIB MiB in N buffers", then how many of the
 * touched pages read zero ("balloon-report: Z of P read zero") and exits
 * 0 if all of them do.  Without the feature on offer: "balloon-report: no
 * free page reporting" and exit 1.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_BALLOON 5
#define F_STATS_VQ (1ull << 1)
#define F_REPORTING (1ull << 5)
#define PAGE 4096ull
#define BLOCK (2ull << 20) /* what one descriptor reports */
#define PER_BUFFER 4u
#define PATTERN 0x5a5a0000a5a50000ull

static struct vdev *dev;
static struct vq inflateq, deflateq, statsq, reportq;
static uint8_t rings[4][4096] __attribute__((aligned(4096)));

static int report(uint64_t addr, const uint64_t *lens, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint16_t flags = (uint16_t)(VQ_F_WRITE | (i + 1 < n ? VQ_F_NEXT : 0));
		vq_set_desc(&reportq.desc[i], addr, (uint32_t)lens[i], flags, (uint16_t)(i + 1));
		addr += lens[i];
	}
	vq_submit(&reportq, 0);
	uint32_t len = 1;
	if (vq_wait(&reportq, &len, 40000000000ull) != 0 || len != 0) {
		serial_puts("balloon-report: FAIL buffer not returned (or written)\n");
		return -1;
	}
	return 0;
}

static uint64_t run(uint64_t arg)
{
	const char *args = skip_spaces((const char *)arg);
	uint64_t mib = 0;
	if (memcmp(args, "report", 6) != 0 || (args += 6, !parse_uint(&args, &mib)))
		return 2;
	int stats = memcmp(skip_spaces(args), "stats", 5) == 0;
	dev = vdev_find(VIRTIO_ID_BALLOON);
	if (!dev || !bootinfo)
		return 2;
	if (vdev_init(dev, F_REPORTING | (stats ? F_STATS_VQ : 0)) < 0)
		return 2;
	if (!(dev->features & F_REPORTING)) {
		serial_puts("balloon-report: no free page reporting\n");
		return 1;
	}
	stats = stats && (dev->features & F_STATS_VQ);
	unsigned q = 2;
	if (vq_setup(dev, &inflateq, 0, rings[0]) < 0 || vq_setup(dev, &deflateq, 1, rings[1]) < 0 ||
	    (stats && vq_setup(dev, &statsq, q++, rings[2]) < 0) ||
	    vq_setup(dev, &reportq, q, rings[3]) < 0)
		return 2;
	vdev_driver_ok(dev);
	serial_puts("balloon-report: reporting_vq ");
	serial_put_dec(q);
	serial_putc('\n');

	uint64_t top = bootinfo->mem_size < (3ull << 30) ? bootinfo->mem_size : (3ull << 30);
	top &= ~(BLOCK - 1);
	uint64_t from = top - (mib << 20);
	for (uint64_t a = from; a < top; a += PAGE)
		*(volatile uint64_t *)a = a ^ PATTERN;
	serial_puts("balloon-report: touched ");
	serial_put_dec(mib);
	serial_puts(" MiB\n");
	while (serial_try_getc() != 'r')
		;

	uint64_t buffers = 0, lens[PER_BUFFER];
	for (uint64_t a = from; a < top; buffers++) {
		unsigned n = 0;
		for (; n < PER_BUFFER && a + n * BLOCK < top; n++)
			lens[n] = BLOCK;
		if (report(a, lens, n) < 0)
			return 1;
		a += n * BLOCK;
	}
	lens[0] = 3 * PAGE; /* not page aligned: its 2 whole pages count */
	if (report(from + 100, lens, 1) < 0)
		return 1;
	buffers++;
	serial_puts("balloon-report: reported ");
	serial_put_dec(mib);
	serial_puts(" MiB in ");
	serial_put_dec(buffers);
	serial_puts(" buffers\n");

	uint64_t pages = 0, zero = 0;
	for (uint64_t a = from; a < top; a += PAGE) {
		pages++;
		zero += *(volatile uint64_t *)a == 0;
	}
	serial_puts("balloon-report: ");
	serial_put_dec(zero);
	serial_puts(" of ");
	serial_put_dec(pages);
	serial_puts(" read zero\n");
	return zero == pages ? 0 : 1;
}

uint32_t guest_main(const char *args)
{
	return (uint32_t)run_user(run, (uint64_t)args);
}
