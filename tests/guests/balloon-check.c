/*
 * balloon-check: a virtio-balloon driver (virtio 1.2 §5.5) at ring 3.
 *
 * "run MIB": touches the top MIB MiB of RAM (one qword per 4 KiB page:
 * its address ^ PATTERN), prints "balloon: touched MIB MiB", then serves
 * the device until a "quit" line on the UART: on each configuration change
 * interrupt (InterruptStatus bit 1) it reads num_pages and inflates (page
 * frames from the top of RAM downward, 256 per buffer like Linux) or
 * deflates (the last inflated first) to it, writes `actual` and prints
 *   balloon: actual PAGES
 *   balloon: deflated N pages, Z read zero        (after a deflate)
 * Pages given to the balloon are never touched while inflated; a deflated
 * page that reads zero proves the host freed it.  Stats go up the stats
 * queue whenever the device hands the buffer back.  "quit" checks that
 * every touched page outside the balloon still holds its pattern, prints
 * "balloon: kept K of K" and exits 0 (1 if any page changed).
 *
 * "hostile": breaks the rules against the device (PFNs outside RAM, a
 * PFN buffer of odd length, a 1 MiB buffer of 0xffffffff PFNs, a bad
 * deflate, a burst of 15 such buffers at once, stats buffers of odd length and unknown tags, writes to the
 * read-only num_pages and outside the configuration space), then inflates
 * and deflates 1 MiB properly and checks that the 8 MiB it touched kept
 * their contents: "hostile: done" and exit 0.
 *
 * Memory below 16 MiB (the image, its stacks, the rings) is never given away.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_BALLOON 5
#define F_STATS_VQ (1ull << 1)
#define F_DEFLATE_ON_OOM (1ull << 2)
#define REG_INTERRUPT_STATUS 0x060
#define REG_INTERRUPT_ACK 0x064
#define REG_CONFIG 0x100
#define CFG_NUM_PAGES 0
#define CFG_ACTUAL 4

#define PAGE 4096ull
#define POOL_BASE (16ull << 20)
#define PATTERN 0x5a5a0000a5a50000ull
#define BATCH 256

static struct vdev *dev;
static struct vq inflateq, deflateq, statsq;
static uint8_t rings[3][4096] __attribute__((aligned(4096)));
static uint32_t pfns[BATCH];

static uint64_t mem_size, top_pfn, capacity; /* capacity: pages the balloon may take */
static uint64_t touched_from;                /* the touched region: [touched_from, mem_size) */
static uint64_t balloon_pages;               /* pages in the balloon: top_pfn-1 downward */
static uint64_t minor_faults;

struct __attribute__((packed)) stat {
	uint16_t tag;
	uint64_t val;
};
static struct stat stats[6];

static void spin(uint64_t n)
{
	for (volatile uint64_t i = 0; i < n; i++)
		__asm__ volatile("pause");
}

static volatile uint64_t *page_word(uint64_t pfn)
{
	return (volatile uint64_t *)(pfn * PAGE);
}

static void touch(uint64_t from, uint64_t to)
{
	for (uint64_t a = from; a < to; a += PAGE) {
		*(volatile uint64_t *)a = a ^ PATTERN;
		minor_faults++;
	}
}

/* Touched pages outside the balloon that still hold their pattern; *n = how many. */
static uint64_t kept(uint64_t *n)
{
	uint64_t ok = 0;
	*n = 0;
	uint64_t end = (top_pfn - balloon_pages) * PAGE;
	for (uint64_t a = touched_from; a < end; a += PAGE) {
		(*n)++;
		ok += *(volatile uint64_t *)a == (a ^ PATTERN);
	}
	return ok;
}

static int send(struct vq *q, const void *buf, uint32_t len)
{
	q->desc[0].addr = (uint64_t)buf;
	q->desc[0].len = len;
	q->desc[0].flags = 0;
	vq_submit(q, 0);
	uint32_t used = 0;
	return vq_wait(q, &used, 40000000000ull) == 0 ? 0 : -1;
}

static void fill_stats(void)
{
	uint64_t used = POOL_BASE + (mem_size - touched_from) - balloon_pages * PAGE;
	if (used > mem_size - balloon_pages * PAGE)
		used = mem_size - balloon_pages * PAGE;
	uint64_t free = mem_size - balloon_pages * PAGE - used;
	stats[0] = (struct stat){ 0, 0 };             /* swap_in */
	stats[1] = (struct stat){ 1, 0 };             /* swap_out */
	stats[2] = (struct stat){ 3, minor_faults };  /* minor faults */
	stats[3] = (struct stat){ 4, free };          /* free memory */
	stats[4] = (struct stat){ 5, mem_size };      /* total memory */
	stats[5] = (struct stat){ 6, free };          /* available memory */
}

static void post_stats(void)
{
	fill_stats();
	statsq.desc[0].addr = (uint64_t)stats;
	statsq.desc[0].len = sizeof(stats);
	statsq.desc[0].flags = 0;
	vq_submit(&statsq, 0);
}

static void write_actual(void)
{
	vdev_write(dev, REG_CONFIG + CFG_ACTUAL, (uint32_t)balloon_pages);
	serial_puts("balloon: actual ");
	serial_put_dec(balloon_pages);
	serial_putc('\n');
}

static int inflate_to(uint64_t target)
{
	while (balloon_pages < target) {
		unsigned n = 0;
		for (; n < BATCH && balloon_pages + n < target; n++)
			pfns[n] = (uint32_t)(top_pfn - 1 - balloon_pages - n);
		if (send(&inflateq, pfns, n * 4) < 0)
			return -1;
		balloon_pages += n;
	}
	return 0;
}

static int deflate_to(uint64_t target)
{
	uint64_t from = balloon_pages, zero = 0;
	while (balloon_pages > target) {
		unsigned n = 0;
		for (; n < BATCH && balloon_pages - n > target; n++)
			pfns[n] = (uint32_t)(top_pfn - balloon_pages + n);
		if (send(&deflateq, pfns, n * 4) < 0)
			return -1;
		for (unsigned i = 0; i < n; i++)
			zero += *page_word(pfns[i]) == 0;
		balloon_pages -= n;
	}
	/* Back in use: give them their pattern again. */
	touch(top_pfn * PAGE - from * PAGE, top_pfn * PAGE - balloon_pages * PAGE);
	serial_puts("balloon: deflated ");
	serial_put_dec(from - balloon_pages);
	serial_puts(" pages, ");
	serial_put_dec(zero);
	serial_puts(" read zero\n");
	return 0;
}

static int follow_target(void)
{
	uint64_t target = vdev_config32(dev, CFG_NUM_PAGES);
	if (target > capacity)
		target = capacity;
	int rc = target > balloon_pages ? inflate_to(target)
		 : target < balloon_pages ? deflate_to(target) : 0;
	if (rc == 0)
		write_actual();
	return rc;
}

static int setup(void)
{
	dev = vdev_find(VIRTIO_ID_BALLOON);
	if (!dev || !bootinfo) {
		serial_puts("balloon: FAIL no virtio-balloon device (or no boot info)\n");
		return -1;
	}
	if (vdev_init(dev, F_STATS_VQ | F_DEFLATE_ON_OOM) < 0 ||
	    vq_setup(dev, &inflateq, 0, rings[0]) < 0 || vq_setup(dev, &deflateq, 1, rings[1]) < 0 ||
	    ((dev->features & F_STATS_VQ) && vq_setup(dev, &statsq, 2, rings[2]) < 0)) {
		serial_puts("balloon: FAIL device set-up\n");
		return -1;
	}
	vdev_driver_ok(dev);
	mem_size = bootinfo->mem_size < (3ull << 30) ? bootinfo->mem_size : (3ull << 30);
	top_pfn = mem_size / PAGE;
	capacity = (mem_size - POOL_BASE) / PAGE;
	serial_puts("balloon: features ");
	serial_put_hex(dev->features & 0xffffffffu);
	serial_putc('\n');
	return 0;
}

static int serve(uint64_t mib)
{
	if (mib > (mem_size - POOL_BASE) >> 20)
		mib = (mem_size - POOL_BASE) >> 20;
	touched_from = mem_size - (mib << 20);
	touch(touched_from, mem_size);
	serial_puts("balloon: touched ");
	serial_put_dec(mib);
	serial_puts(" MiB\n");
	int stats = (dev->features & F_STATS_VQ) != 0;
	if (stats)
		post_stats();
	if (follow_target() < 0)
		return 1;
	char line[8];
	unsigned len = 0;
	for (;;) {
		uint32_t why = vdev_read(dev, REG_INTERRUPT_STATUS);
		if (why)
			vdev_write(dev, REG_INTERRUPT_ACK, why);
		if ((why & 2) && follow_target() < 0)
			return 1;
		uint32_t used;
		if (stats && vq_wait(&statsq, &used, 1) == 0)
			post_stats(); /* the device wants fresh numbers (§5.5.6.3) */
		int c = serial_try_getc();
		if (c == '\n' || c == '\r') {
			line[len] = 0;
			if (str_eq(line, "quit"))
				break;
			len = 0;
		} else if (c >= 0 && len < sizeof(line) - 1) {
			line[len++] = (char)c;
		}
		spin(20000);
	}
	uint64_t n, ok = kept(&n);
	serial_puts("balloon: kept ");
	serial_put_dec(ok);
	serial_puts(" of ");
	serial_put_dec(n);
	serial_putc('\n');
	return ok == n ? 0 : 1;
}

static uint32_t junk[1 << 18] __attribute__((aligned(4096))); /* 1 MiB */

static int hostile(void)
{
	touched_from = mem_size - (8ull << 20);
	touch(touched_from, mem_size);
	/* PFNs past the end of RAM, in the MMIO hole, at 4 GiB, the largest. */
	uint32_t outside[5] = { (uint32_t)top_pfn, (uint32_t)top_pfn + 1, 0xc0000, 0x100000,
				0xffffffffu };
	/* An odd length: one PFN and two stray bytes. */
	uint8_t odd[6] = { 0xfe, 0xff, 0xff, 0xff, 0x12, 0x34 };
	for (unsigned i = 0; i < sizeof(junk) / 4; i++)
		junk[i] = 0xffffffffu;
	if (send(&inflateq, outside, sizeof(outside)) < 0 || send(&inflateq, odd, sizeof(odd)) < 0 ||
	    send(&inflateq, junk, sizeof(junk)) < 0 || send(&deflateq, outside, sizeof(outside)) < 0) {
		serial_puts("hostile: FAIL the device stopped answering\n");
		return 1;
	}
	serial_puts("hostile: bad pfns answered\n");
	/* A burst: 15 buffers of 16384 bad PFNs each, all queued at once. */
	for (unsigned i = 0; i < 15; i++) {
		vq_set_desc(&inflateq.desc[i], (uint64_t)junk, 65536, 0, 0);
		vq_submit(&inflateq, (uint16_t)i);
	}
	for (unsigned i = 0; i < 15; i++) {
		uint32_t len;
		if (vq_wait(&inflateq, &len, 40000000000ull) < 0) {
			serial_puts("hostile: FAIL the burst was not answered\n");
			return 1;
		}
	}
	serial_puts("hostile: burst answered\n");
	/* Stats: 15 bytes (one entry and a half), then an unknown tag. */
	static uint8_t half[15] = { 5, 0, 0x39, 0x30, 0, 0, 0, 0, 0, 0, 4, 0, 1, 2, 3 };
	static struct stat unknown[2] = { { 0xffff, 1 }, { 5, 0 } };
	unknown[1].val = mem_size;
	vq_set_desc(&statsq.desc[0], (uint64_t)half, sizeof(half), 0, 0);
	vq_set_desc(&statsq.desc[1], (uint64_t)unknown, sizeof(unknown), 0, 0);
	vq_submit(&statsq, 0);
	vq_submit(&statsq, 1); /* a second buffer sends the first back */
	uint32_t used;
	if (vq_wait(&statsq, &used, 40000000000ull) != 0) {
		serial_puts("hostile: FAIL the stats buffer did not come back\n");
		return 1;
	}
	serial_puts("hostile: odd stats answered\n");
	/* num_pages is the host's; writes outside the space go nowhere. */
	uint32_t before = vdev_config32(dev, CFG_NUM_PAGES);
	vdev_write(dev, REG_CONFIG + CFG_NUM_PAGES, 0x12345);
	vdev_write(dev, REG_CONFIG + 0x200, 0x12345);
	*(volatile uint8_t *)(dev->base + REG_CONFIG + 15) = 0x77;
	*(volatile uint16_t *)(dev->base + REG_CONFIG + CFG_ACTUAL + 3) = 0x7777;
	if (vdev_config32(dev, CFG_NUM_PAGES) != before) {
		serial_puts("hostile: FAIL num_pages changed by the driver\n");
		return 1;
	}
	serial_puts("hostile: num_pages read-only\n");
	/* The device still works: 1 MiB in and out. */
	if (inflate_to(256) < 0)
		return 1;
	write_actual();
	uint64_t n, ok = kept(&n);
	if (deflate_to(0) < 0)
		return 1;
	write_actual();
	serial_puts("hostile: kept ");
	serial_put_dec(ok);
	serial_puts(" of ");
	serial_put_dec(n);
	serial_putc('\n');
	if (ok != n)
		return 1;
	serial_puts("hostile: done\n");
	return 0;
}

static uint64_t hostile_driver(uint64_t unused)
{
	(void)unused;
	return setup() < 0 ? 1 : (uint64_t)hostile();
}

static uint64_t run_driver(uint64_t mib)
{
	return setup() < 0 ? 1 : (uint64_t)serve(mib);
}

uint32_t guest_main(const char *args)
{
	const char *p = skip_spaces(args);
	if (memcmp(p, "hostile", 7) == 0)
		return (uint32_t)run_user(hostile_driver, 0);
	uint64_t mib = 64;
	if (memcmp(p, "run", 3) == 0) {
		p += 3;
		if (!parse_uint(&p, &mib))
			mib = 64;
	}
	return (uint32_t)run_user(run_driver, mib);
}
