/*
 * pci-hostile: does to the PCI host bridge and a virtio-pci function what
 * no driver should, all at ring 3, then proves the device still works.
 * Command line: the cases to run, in order (default: all of them):
 *   widths   config reads and writes at every width and byte offset
 *            through 0xcf8/0xcfc (including 0xcfd..0xcff and dword
 *            accesses that run past 0xcff), CONFIG_ADDRESS with the enable
 *            bit off, other buses and functions, byte writes to 0xcf8;
 *            ECAM at 8 bytes, across dwords and in the extended space
 *   readonly all-ones into every config dword of every function, then
 *            checks that IDs, class, capability pointer and chain, the BAR
 *            size and the MSI-X table size did not change
 *   bars     BAR 0 over guest RAM, over the ECAM window, over the LAPIC and
 *            IOAPIC, over another device's BAR, far above 4 GiB, at an
 *            address that wraps, and memory decoding toggled 200 times
 *            while it moves
 *   msix     MSI-X table entries past the table, 1- and 2-byte accesses,
 *            PBA writes, messages to addresses no LAPIC decodes, vectors
 *            past the table, MSI-X enable and mask toggled 2000 times,
 *            with requests completing meanwhile
 *   common   common configuration at odd widths, queue_select past the
 *            queues, queue_size 0xffff, notifies at odd offsets and widths,
 *            the configuration access capability with bad bar, offset and
 *            length
 * Each prints "pci-hostile: CASE done"; then the device is set up again
 * properly (BAR 0 back, MSI-X off, a reset) and one polled virtio-rng read
 * proves it: "pci-hostile: recovered", exit 0 (1 with "pci-hostile: FAIL").
 */
#include "guest.h"
#include "pci.h"
#include "virtio.h"

static int failed;
static struct vdev rng;
static unsigned rng_dev, other_dev;
static uint64_t rng_bar;
static struct vq q;
static uint8_t ring_page[4096] __attribute__((aligned(4096)));
static uint8_t bytes[32];
static uint64_t sink;

static void say(const char *a, const char *b)
{
	serial_puts("pci-hostile: ");
	serial_puts(a);
	serial_puts(b);
	serial_putc('\n');
}

static void fail(const char *what)
{
	say("FAIL ", what);
	failed = 1;
}

/* ---- widths ---- */

static void widths(void)
{
	/* The host bridge, the two virtio functions and an absent device
	 * (each access is a VM exit: the rest of the bus reads the same). */
	const unsigned devs[] = { 0, rng_dev, other_dev, 31 };
	for (unsigned i = 0; i < 4; i++) {
		unsigned dev = devs[i];
		for (unsigned off = 0; off < 256; off++) {
			outl(0xcf8, 0x80000000u | dev << 11 | (off & 0xfc));
			uint16_t port = (uint16_t)(0xcfc + (off & 3));
			sink += inb(port) + inw(port) + inl(port);
		}
	}
	/* Other functions and buses, the enable bit off, reserved bits. */
	for (unsigned f = 1; f < 8; f++) {
		outl(0xcf8, 0x80000000u | rng_dev << 11 | f << 8);
		if (inl(0xcfc) != 0xffffffffu)
			fail("function 1-7 present");
		outl(0xcfc, 0x12345678);
	}
	outl(0xcf8, 0x80000000u | 1u << 16 | rng_dev << 11);
	if (inl(0xcfc) != 0xffffffffu)
		fail("bus 1 present");
	outl(0xcf8, rng_dev << 11);
	if (inl(0xcfc) != 0xffffffffu)
		fail("config space without the enable bit");
	outl(0xcf8, 0x7f000003u | rng_dev << 11);
	sink += inl(0xcf8) + inb(0xcf9) + inw(0xcfa);
	outb(0xcf8, 0xff);
	outw(0xcfa, 0xffff);
	outb(0xcfb, 0x80);
	/* ECAM: 8-byte, across dwords, extended space, absent functions. */
	if (pci_ecam) {
		for (unsigned off = 0; off < 0x1000; off += 0x7b) {
			volatile uint8_t *p = (volatile uint8_t *)(pci_ecam + (rng_dev << 15) + off);
			sink += *(volatile uint64_t *)(pci_ecam + (rng_dev << 15) + (off & ~7u));
			sink += *(volatile uint32_t *)(uintptr_t)(p) + *(volatile uint16_t *)(uintptr_t)(p);
			if (off >= 0x100)
				*(volatile uint32_t *)(pci_ecam + (rng_dev << 15) + (off & ~3u)) = 0xffffffffu;
		}
		*(volatile uint64_t *)(pci_ecam + (rng_dev << 15) + 0x10) = ~0ull;
		if (pci_ecam_read(rng_dev, 0x100, 4) != 0)
			fail("extended config space is not empty");
		for (unsigned f = 1; f < 8; f++)
			*(volatile uint32_t *)(pci_ecam + (rng_dev << 15) + (f << 12) + 4) = 0xffffffffu;
	}
}

/* ---- readonly ---- */

static void readonly(void)
{
	for (unsigned dev = 0; dev < 32; dev++) {
		uint32_t id = pci_read(dev, 0, 4);
		if (id == 0xffffffffu)
			continue;
		uint32_t class = pci_read(dev, 8, 4), sub = pci_read(dev, 0x2c, 4);
		uint32_t caps = pci_read(dev, 0x34, 1), hdr = pci_read(dev, 0x0e, 1);
		unsigned msix = pci_find_cap(dev, 0x11, 0);
		uint32_t msix_size = msix ? pci_read(dev, msix + 2, 2) & 0x7ff : 0;
		uint32_t saved[64];
		for (unsigned off = 0; off < 256; off += 4)
			saved[off / 4] = pci_read(dev, off, 4);
		for (unsigned off = 0; off < 256; off += 4)
			pci_write(dev, off, 4, 0xffffffffu);
		if (pci_read(dev, 0, 4) != id || pci_read(dev, 8, 4) != class ||
		    pci_read(dev, 0x2c, 4) != sub || pci_read(dev, 0x34, 1) != caps ||
		    pci_read(dev, 0x0e, 1) != hdr ||
		    (msix && (pci_read(dev, msix + 2, 2) & 0x7ff) != msix_size))
			fail("a read-only field changed");
		if (dev == rng_dev) {
			int is64;
			if (pci_bar_size(dev, 0, &is64) != 0x8000)
				fail("BAR 0's size changed");
		}
		/* Back as it was, the command register last. */
		for (unsigned off = 8; off < 256; off += 4)
			pci_write(dev, off, 4, saved[off / 4]);
		pci_write(dev, 4, 2, saved[1] & 0xffff);
		pci_write(dev, 6, 2, 0xffff); /* status: RW1C bits */
	}
}

/* ---- bars ---- */

static void place(unsigned dev, uint64_t addr)
{
	pci_bar_set(dev, 0, addr, 1);
	pci_write(dev, 4, 2, pci_read(dev, 4, 2) | 2);
	sink += *(volatile uint32_t *)(uintptr_t)(addr < (4ull << 30) ? addr : 0x1000);
}

static void bars(void)
{
	static const uint64_t where[] = {
		0x400000,            /* guest RAM */
		0xe0000000,          /* the ECAM window */
		0xfee00000,          /* the LAPIC */
		0xfec00000,          /* the IOAPIC */
		0x100000000000ull,   /* far above 4 GiB */
		0xffffffffffff8000ull, /* wraps at the end */
		0,                   /* unassigned */
	};
	for (unsigned i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		place(rng_dev, where[i]);
	if (other_dev) {
		uint64_t other = pci_bar_addr(other_dev, 0);
		place(rng_dev, other); /* over the other function's BAR */
		if (*(volatile uint16_t *)(other + 0x12) == 0xffff)
			fail("the other function's BAR stopped decoding");
	}
	for (unsigned i = 0; i < 200; i++) {
		pci_bar_set(rng_dev, 0, 0xc4000000ull + (i % 7) * 0x8000, 1);
		pci_write(rng_dev, 4, 2, i & 1 ? 0x6 : 0x4);
	}
	pci_bar_set(rng_dev, 0, rng_bar, 1);
	pci_write(rng_dev, 4, 2, 0x6);
}

/* ---- msix ---- */

static void msix(void)
{
	unsigned cap = pci_find_cap(rng_dev, 0x11, 0);
	if (!cap) {
		fail("no MSI-X");
		return;
	}
	uint64_t table = rng_bar + (pci_read(rng_dev, cap + 4, 4) & ~7u);
	uint64_t pba = rng_bar + (pci_read(rng_dev, cap + 8, 4) & ~7u);
	for (unsigned off = 0; off < 0x1000; off += 4)
		*(volatile uint32_t *)(table + off) = 0xdeadbeef ^ off;
	for (unsigned off = 0; off < 0x100; off++) {
		*(volatile uint8_t *)(table + off) = 0x55;
		*(volatile uint16_t *)(table + (off & ~1u)) = 0x5555;
		sink += *(volatile uint8_t *)(table + off);
	}
	for (unsigned off = 0; off < 0x1000; off += 8) {
		*(volatile uint64_t *)(pba + off) = ~0ull;
		sink += *(volatile uint64_t *)(pba + off);
	}
	/* Entry 0 to nowhere, entry 1 with address bits above 4 GiB. */
	volatile uint32_t *e = (volatile uint32_t *)table;
	e[0] = 0x12345678; e[1] = 0; e[2] = 0x41; e[3] = 0;
	e[4] = 0xfee00000; e[5] = 0xffffffff; e[6] = 0x42; e[7] = 0;
	volatile uint16_t *common = (volatile uint16_t *)rng.common;
	if (vdev_init(&rng, 0) < 0 || vq_setup(&rng, &q, 0, ring_page) < 0) {
		fail("set-up for msix");
		return;
	}
	common[0x16 / 2] = 0;
	common[0x1a / 2] = 0x1234;
	if (common[0x1a / 2] != 0xffff)
		fail("a vector past the table was taken");
	common[0x1a / 2] = 0;
	common[0x10 / 2] = 1;
	vdev_driver_ok(&rng);
	for (unsigned i = 0; i < 2000; i++) {
		pci_write(rng_dev, cap + 2, 2, (uint16_t)((i & 3) << 14));
		e[3] = i & 4 ? 1 : 0;
		e[0] = i & 8 ? 0xfee00000 : 0x12345678;
		if (i % 100 == 0) {
			vq_set_desc(&q.desc[0], (uint64_t)bytes, sizeof(bytes), VQ_F_WRITE, 0);
			vq_submit(&q, 0);
			if (vq_wait(&q, 0, 400000000ull) != 0)
				fail("a request under MSI-X churn");
		}
	}
	pci_write(rng_dev, cap + 2, 2, 0);
}

/* ---- common ---- */

static void common_cfg(void)
{
	uint64_t c = rng.common;
	for (unsigned off = 0; off < 0x40; off++) {
		sink += *(volatile uint8_t *)(c + off);
		*(volatile uint8_t *)(c + off) = 0xff;
		if (!(off & 1)) {
			sink += *(volatile uint16_t *)(c + off);
			*(volatile uint16_t *)(c + off) = 0xffff;
		}
		if (!(off & 3))
			sink += *(volatile uint32_t *)(c + off);
		if (!(off & 7)) {
			sink += *(volatile uint64_t *)(c + off);
			*(volatile uint64_t *)(c + off) = ~0ull;
		}
	}
	volatile uint16_t *w = (volatile uint16_t *)c;
	*(volatile uint8_t *)(c + 0x14) = 0; /* reset */
	for (unsigned sel = 0; sel < 70000; sel += 4099) {
		w[0x16 / 2] = (uint16_t)sel;
		w[0x18 / 2] = 0xffff;
		w[0x1c / 2] = 1;
		*(volatile uint64_t *)(c + 0x20) = ~0ull;
		sink += w[0x18 / 2] + w[0x1e / 2];
	}
	for (unsigned off = 0; off < 0x1000; off += 3)
		*(volatile uint8_t *)(rng.notify + off) = 0;
	*(volatile uint64_t *)(rng.notify) = ~0ull;
	/* The configuration access capability, every bad way. */
	unsigned cfg = 0;
	for (unsigned at = pci_find_cap(rng_dev, 0x09, 0); at; at = pci_find_cap(rng_dev, 0x09, at))
		if (pci_read(rng_dev, at + 3, 1) == 5)
			cfg = at;
	static const uint32_t bad[][3] = { { 5, 0, 4 }, { 0, 0x8000, 4 }, { 0, 0xfffffffc, 4 },
					   { 0, 1, 4 }, { 0, 0, 3 }, { 0, 0, 0 }, { 0, 0x1000, 1 },
					   { 0xff, 0x7ffc, 0xffffffff } };
	for (unsigned i = 0; cfg && i < sizeof(bad) / sizeof(bad[0]); i++) {
		pci_write(rng_dev, cfg + 4, 1, bad[i][0]);
		pci_write(rng_dev, cfg + 8, 4, bad[i][1]);
		pci_write(rng_dev, cfg + 12, 4, bad[i][2]);
		sink += pci_read(rng_dev, cfg + 16, 4);
		pci_write(rng_dev, cfg + 16, 4, 0xffffffffu);
		sink += pci_read(rng_dev, cfg + 17, 1);
	}
	*(volatile uint8_t *)(c + 0x14) = 0;
}

/* ---- recovery ---- */

static void recover(void)
{
	unsigned cap = pci_find_cap(rng_dev, 0x11, 0);
	pci_write(rng_dev, cap + 2, 2, 0);
	pci_bar_set(rng_dev, 0, rng_bar, 1);
	pci_write(rng_dev, 4, 2, 0x6);
	if (vpci_attach(rng_dev, &rng) < 0 || vdev_init(&rng, 0) < 0 ||
	    vq_setup(&rng, &q, 0, ring_page) < 0) {
		fail("no usable device after the abuse");
		return;
	}
	vdev_driver_ok(&rng);
	memset(bytes, 0, sizeof(bytes));
	vq_set_desc(&q.desc[0], (uint64_t)bytes, sizeof(bytes), VQ_F_WRITE, 0);
	vq_submit(&q, 0);
	uint32_t len = 0;
	static const uint8_t zero[32];
	if (vq_wait(&q, &len, 4000000000ull) != 0 || len != sizeof(bytes) ||
	    memcmp(bytes, zero, sizeof(bytes)) == 0)
		fail("the read after the abuse");
	else
		say("recovered", "");
}

static int wants(const char *args, const char *name)
{
	if (!*skip_spaces(args))
		return 1;
	size_t n = strlen(name);
	for (const char *s = args; *s; s++)
		if ((s == args || s[-1] == ' ') && memcmp(s, name, n) == 0 && (s[n] == ' ' || !s[n]))
			return 1;
	return 0;
}

static uint64_t run(uint64_t arg)
{
	const char *args = (const char *)arg;
	pci_find_mcfg();
	for (unsigned dev = 1; dev < 32; dev++) {
		struct vdev d;
		if (vpci_attach(dev, &d) < 0)
			continue;
		if (d.device_id == 4 && !rng_dev) {
			rng = d;
			rng_dev = dev;
		} else if (!other_dev) {
			other_dev = dev;
		}
	}
	if (!rng_dev) {
		fail("no virtio-rng on PCI");
		return 1;
	}
	rng_bar = pci_bar_addr(rng_dev, 0);
	if (wants(args, "widths")) {
		widths();
		say("widths", " done");
	}
	if (wants(args, "readonly")) {
		readonly();
		say("readonly", " done");
	}
	if (wants(args, "bars")) {
		bars();
		say("bars", " done");
	}
	if (wants(args, "msix")) {
		msix();
		say("msix", " done");
	}
	if (wants(args, "common")) {
		common_cfg();
		say("common", " done");
	}
	recover();
	return failed;
}

uint32_t guest_main(const char *args)
{
	return (uint32_t)run_user(run, (uint64_t)args);
}
