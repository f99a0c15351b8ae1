/*
 * The ACPI and MP table builders (checksums, lengths, pointers, one entry
 * per CPU, the FADT's PM hardware, the FACS, a DSDT entry per device, \_S3
 * and \_S5) and the ACPI hardware they describe: the PM1 blocks, the PM
 * timer, the power button, S3's sleep and wake events and the RTC/CMOS.
 */
#include <stdlib.h>
#include <time.h>

#include "arch/x86/fw/acpi.h"
#include "arch/x86/layout.h"
#include "arch/x86/fw/mptable.h"
#include "devices/acpi_pm.h"
#include "devices/rtc_cmos.h"
#include "check.h"

#define BASE 0xe0000u
#define AREA 0x10000u

static uint8_t area[AREA];

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* The table at guest address `addr`, checked: inside the area, signature, checksum. */
static const uint8_t *table(uint64_t addr, const char *sig)
{
	CHECK(addr >= BASE && addr < BASE + AREA);
	if (addr < BASE || addr >= BASE + AREA)
		return NULL;
	const uint8_t *t = area + (addr - BASE);
	CHECK(memcmp(t, sig, 4) == 0);
	CHECK(rd32(t + 4) >= 36 && addr + rd32(t + 4) <= BASE + AREA);
	CHECK_EQ_U64(sum(t, rd32(t + 4)), 0);
	return t;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static const uint8_t *xsdt_entry(const uint8_t *xsdt, unsigned i)
{
	return table(rd32(xsdt + 36 + 8 * i) | (uint64_t)rd32(xsdt + 40 + 8 * i) << 32,
		     i == 0 ? "FACP" : "APIC");
}

static void check_madt(const uint8_t *madt, unsigned ncpus)
{
	CHECK_EQ_U64(rd32(madt + 36), LVM_LAPIC_ADDR);
	unsigned lapics = 0, x2apics = 0, ioapics = 0, nmis = 0, overrides = 0;
	for (uint32_t o = 44; o < rd32(madt + 4); o += madt[o + 1]) {
		const uint8_t *e = madt + o;
		CHECK(e[1] >= 2);
		if (e[1] < 2)
			return;
		if (e[0] == 0) {
			CHECK_EQ_U64(e[3], lapics); /* APIC ID i, enabled */
			CHECK_EQ_U64(rd32(e + 4), 1);
			lapics++;
		} else if (e[0] == 9) {
			CHECK_EQ_U64(rd32(e + 4), 255 + x2apics);
			x2apics++;
		} else if (e[0] == 1) {
			CHECK_EQ_U64(rd32(e + 4), LVM_IOAPIC_ADDR);
			CHECK_EQ_U64(rd32(e + 8), 0); /* GSI base */
			ioapics++;
		} else if (e[0] == 2) { /* the SCI: ISA IRQ 9 -> GSI 9, level, active-high */
			CHECK_EQ_U64(e[1], 10);
			CHECK_EQ_U64(e[3], 9);
			CHECK_EQ_U64(rd32(e + 4), 9);
			CHECK_EQ_U64(rd16(e + 8), 0xd);
			overrides++;
		} else if (e[0] == 4 || e[0] == 0xa) {
			nmis++;
		} else {
			CHECK(!"unexpected MADT entry type");
		}
	}
	CHECK_EQ_U64(lapics + x2apics, ncpus);
	CHECK_EQ_U64(lapics, ncpus < 255 ? ncpus : 255);
	CHECK_EQ_U64(ioapics, 1);
	CHECK_EQ_U64(overrides, 1);
	CHECK_EQ_U64(nmis, ncpus > 255 ? 2 : 1);
}

/* The FADT's PM hardware (ACPI 6.5 table 5.9 offsets) and its FACS. */
static void check_fadt(const uint8_t *fadt)
{
	CHECK_EQ_U64(rd32(fadt + 4), 276);
	CHECK_EQ_U64(fadt[8], 6);
	uint32_t flags = rd32(fadt + 112);
	CHECK(!(flags & (1u << 20)));         /* not hardware-reduced */
	CHECK(flags & (1u << 8));             /* TMR_VAL_EXT */
	CHECK(!(flags & (1u << 4)));          /* a fixed power button */
	CHECK(!(flags & (1u << 6)));          /* FIXED_RTC clear: RTC_STS/RTC_EN are in PM1 */
	CHECK_EQ_U64(rd16(fadt + 46), 9);     /* SCI_INT */
	CHECK_EQ_U64(rd32(fadt + 48), 0);     /* no SMI_CMD: always ACPI mode */
	CHECK_EQ_U64(rd32(fadt + 56), 0x600); /* PM1a_EVT_BLK */
	CHECK_EQ_U64(rd32(fadt + 64), 0x604); /* PM1a_CNT_BLK */
	CHECK_EQ_U64(rd32(fadt + 76), 0x608); /* PM_TMR_BLK */
	CHECK_EQ_U64(fadt[88] << 16 | fadt[89] << 8 | fadt[91], 0x040204);
	CHECK_EQ_U64(rd32(fadt + 208 + 4), 0x608); /* X_PM_TMR_BLK */
	CHECK_EQ_U64(fadt[208 + 1], 32);
	CHECK_EQ_U64(fadt[108], 0x32);        /* CENTURY */
	CHECK_EQ_U64(rd32(fadt + 40), rd32(fadt + 140)); /* DSDT == X_DSDT */
	CHECK_EQ_U64(rd32(fadt + 36), rd32(fadt + 132)); /* FIRMWARE_CTRL == X_ */
	uint32_t facs = rd32(fadt + 36);
	CHECK(facs >= BASE && facs + 64 <= BASE + AREA && facs % 64 == 0);
	if (facs >= BASE && facs + 64 <= BASE + AREA) {
		const uint8_t *f = area + (facs - BASE);
		CHECK(memcmp(f, "FACS", 4) == 0);
		CHECK_EQ_U64(rd32(f + 4), 64);
		CHECK_EQ_U64(facs, LVM_ACPI_RSDP_ADDR + LVM_ACPI_FACS_OFFSET); /* where S3 looks */
		CHECK_EQ_U64(rd32(f + LVM_FACS_WAKING_VECTOR), 0);
		CHECK_EQ_U64(rd32(f + LVM_FACS_X_WAKING_VECTOR) | rd32(f + 28), 0);
		CHECK_EQ_U64(rd32(f + LVM_FACS_FLAGS), 0); /* no S4BIOS, no 64-bit wake */
		CHECK_EQ_U64(f[LVM_FACS_VERSION], 2);
	}
}

/* How often `what` occurs in the DSDT's AML. */
static unsigned dsdt_count(const uint8_t *dsdt, const char *what)
{
	unsigned n = 0;
	size_t len = strlen(what);
	for (uint32_t o = 36; o + len <= rd32(dsdt + 4); o++)
		n += memcmp(dsdt + o, what, len) == 0;
	return n;
}

static void check_dsdt(const uint8_t *dsdt, unsigned nvirtio)
{
	CHECK_EQ_U64(dsdt[8], 2);
	CHECK_EQ_U64(dsdt_count(dsdt, "LNRO0005"), nvirtio);
	CHECK_EQ_U64(dsdt_count(dsdt, "_S5_"), 1);
	/* Name (\_S3, Package (4) { 1, 1, 0, 0 }): RootChar, NameSeg, PackageOp,
	 * PkgLength, NumElements, One, One, Zero, Zero (AML encodes 1 as OneOp). */
	static const uint8_t s3[] = { '\\', '_', 'S', '3', '_', 0x12, 0x06, 0x04, 0x01, 0x01, 0x00, 0x00 };
	unsigned found = 0;
	for (uint32_t o = 36; o + sizeof(s3) <= rd32(dsdt + 4); o++)
		found += memcmp(dsdt + o, s3, sizeof(s3)) == 0;
	CHECK_EQ_U64(found, 1);
	CHECK_EQ_U64(LVM_ACPI_PM_SLP_TYP_S3, 1); /* kvm-unit-tests writes 1 without reading \_S3 */
	CHECK_EQ_U64(dsdt_count(dsdt, "COM1"), 1);
	/* Each window and GSI: Memory32Fixed's base, Extended Interrupt's number. */
	for (unsigned i = 0; i < nvirtio; i++) {
		uint32_t base = 0xd0000000u + i * 0x1000u;
		uint8_t mem[8] = { 0x86, 9, 0, 1, (uint8_t)base, (uint8_t)(base >> 8),
				   (uint8_t)(base >> 16), (uint8_t)(base >> 24) };
		uint8_t irq[9] = { 0x89, 6, 0, 1, 1, (uint8_t)(5 + i) };
		unsigned found_mem = 0, found_irq = 0;
		for (uint32_t o = 36; o + 9 <= rd32(dsdt + 4); o++) {
			found_mem += memcmp(dsdt + o, mem, 8) == 0;
			found_irq += memcmp(dsdt + o, irq, 9) == 0;
		}
		CHECK_EQ_U64(found_mem, 1);
		CHECK_EQ_U64(found_irq, 1);
	}
}

static void check_acpi(unsigned ncpus, unsigned nvirtio)
{
	struct lvm_virtio_slot slots[LVM_VIRTIO_SLOTS_MAX];
	for (unsigned i = 0; i < nvirtio; i++)
		slots[i] = (struct lvm_virtio_slot){ 0xd0000000u + i * 0x1000u, 5 + i };
	struct lvm_acpi_config config = { ncpus, slots, nvirtio, NULL };
	memset(area, 0xa5, sizeof(area));
	size_t used = lvm_x86_acpi_build(area, sizeof(area), BASE, &config);
	CHECK(used > 0 && used <= sizeof(area));
	const uint8_t *rsdp = area;
	CHECK(memcmp(rsdp, "RSD PTR ", 8) == 0);
	CHECK_EQ_U64(sum(rsdp, 20), 0);
	CHECK_EQ_U64(rsdp[15], 2);
	CHECK_EQ_U64(rd32(rsdp + 20), 36);
	CHECK_EQ_U64(sum(rsdp, 36), 0);
	const uint8_t *rsdt = table(rd32(rsdp + 16), "RSDT");
	const uint8_t *xsdt = table(rd32(rsdp + 24), "XSDT");
	if (!rsdt || !xsdt)
		return;
	CHECK_EQ_U64(rd32(xsdt + 4), 36 + 2 * 8);
	CHECK_EQ_U64(rd32(rsdt + 4), 36 + 2 * 4);
	CHECK_EQ_U64(rd32(rsdt + 36), rd32(xsdt + 36));
	const uint8_t *fadt = xsdt_entry(xsdt, 0);
	const uint8_t *madt = xsdt_entry(xsdt, 1);
	if (!fadt || !madt)
		return;
	check_fadt(fadt);
	const uint8_t *dsdt = table(rd32(fadt + 40), "DSDT");
	if (dsdt)
		check_dsdt(dsdt, nvirtio);
	check_madt(madt, ncpus);
}

static void test_acpi_tables(void)
{
	check_acpi(1, 0);
	check_acpi(4, 1);
	check_acpi(254, 8);
	check_acpi(255, 16);
	check_acpi(300, 3); /* x2APIC entries from APIC ID 255 on */
	check_acpi(1024, 16);
}

static void test_acpi_too_small(void)
{
	struct lvm_acpi_config one = { 1, NULL, 0, NULL }, none = { 0, NULL, 0, NULL };
	CHECK_EQ_U64(lvm_x86_acpi_build(area, 100, BASE, &one), 0);
	CHECK_EQ_U64(lvm_x86_acpi_build(area, 400, BASE, &one), 0);
	CHECK_EQ_U64(lvm_x86_acpi_build(area, sizeof(area), BASE, &none), 0);
}

static void check_mptable(unsigned ncpus)
{
	static uint8_t buf[8192];
	size_t len = lvm_x86_mptable_size(ncpus);
	CHECK(len <= sizeof(buf));
	lvm_x86_mptable_build(buf, ncpus, 0xa10f11, 0x178bfbff);
	CHECK(memcmp(buf, "PCMP", 4) == 0);
	CHECK_EQ_U64(buf[4] | buf[5] << 8, len);
	CHECK_EQ_U64(buf[6], 4);
	CHECK_EQ_U64(sum(buf, len), 0);
	CHECK_EQ_U64(rd32(buf + 36), LVM_LAPIC_ADDR);
	unsigned count = buf[34] | buf[35] << 8, cpus = 0, ioints = 0;
	const uint8_t *e = buf + 44;
	for (unsigned i = 0; i < count; i++) {
		if (e[0] == 0) {
			CHECK_EQ_U64(e[1], cpus);
			CHECK_EQ_U64(e[3], cpus == 0 ? 3 : 1); /* EN, BP on CPU 0 */
			cpus++;
		} else if (e[0] == 3) {
			CHECK_EQ_U64(e[5], e[7]); /* ISA IRQ n -> pin n */
			ioints++;
		}
		e += e[0] == 0 ? 20 : 8;
	}
	CHECK_EQ_U64((size_t)(e - buf), len);
	CHECK_EQ_U64(cpus, ncpus < 255 ? ncpus : 255);
	CHECK_EQ_U64(ioints, 15);
}

static void test_mptable(void)
{
	check_mptable(1);
	check_mptable(4);
	check_mptable(255);
	check_mptable(1024);
	uint8_t fp[16];
	lvm_x86_mp_floating_build(fp, 0x9fc10);
	CHECK(memcmp(fp, "_MP_", 4) == 0);
	CHECK_EQ_U64(rd32(fp + 4), 0x9fc10);
	CHECK_EQ_U64(fp[8], 1);
	CHECK_EQ_U64(sum(fp, 16), 0);
}

/* ---- the ACPI PM hardware (devices/acpi_pm.h) ---- */

static int sci_level = -1, poweroffs;

static void set_sci(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	CHECK_EQ_U64(gsi, 9);
	sci_level = level;
}

static void on_poweroff(void *opaque)
{
	(void)opaque;
	poweroffs++;
}

static uint32_t pm_read(struct lvm_acpi_pm *pm, lvm_io_fn fn, uint64_t offset, uint32_t size)
{
	uint8_t d[4] = { 0xff, 0xff, 0xff, 0xff };
	fn(pm, offset, d, size, false);
	return rd32(d) & (size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1);
}

static void pm_write(struct lvm_acpi_pm *pm, lvm_io_fn fn, uint64_t offset, uint32_t size,
		     uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	fn(pm, offset, d, size, true);
}

/* The power button sets PWRBTN_STS; the SCI follows STS & EN; W1C clears it. */
static void test_pm_power_button(void)
{
	struct lvm_acpi_pm pm;
	lvm_acpi_pm_init(&pm, (struct lvm_irq_line){ set_sci, NULL, 9 }, on_poweroff, NULL);
	sci_level = -1;
	lvm_acpi_pm_power_button(&pm);
	CHECK(pm_read(&pm, lvm_acpi_pm_evt_io, 0, 2) & 0x100);
	CHECK_EQ_U64(sci_level, -1);                        /* not enabled: no SCI */
	pm_write(&pm, lvm_acpi_pm_evt_io, 2, 2, 0x100);     /* PWRBTN_EN */
	CHECK_EQ_U64(sci_level, 1);
	CHECK_EQ_U64(pm_read(&pm, lvm_acpi_pm_evt_io, 2, 2), 0x100);
	CHECK_EQ_U64(pm_read(&pm, lvm_acpi_pm_evt_io, 0, 4) >> 16, 0x100); /* dword: STS | EN << 16 */
	pm_write(&pm, lvm_acpi_pm_evt_io, 0, 2, 0x0000);    /* writing 0 clears nothing */
	CHECK_EQ_U64(sci_level, 1);
	pm_write(&pm, lvm_acpi_pm_evt_io, 1, 1, 0x01);      /* byte write of bit 8: W1C */
	CHECK_EQ_U64(sci_level, 0);
	CHECK(!(pm_read(&pm, lvm_acpi_pm_evt_io, 0, 2) & 0x100));
	lvm_acpi_pm_power_button(&pm);                      /* enabled: SCI at once */
	CHECK_EQ_U64(sci_level, 1);
}

/* SCI_EN reads as 1; SLP_TYP=5|SLP_EN powers off, other sleep types do not. */
static void test_pm_sleep(void)
{
	struct lvm_acpi_pm pm;
	lvm_acpi_pm_init(&pm, (struct lvm_irq_line){ set_sci, NULL, 9 }, on_poweroff, NULL);
	poweroffs = 0;
	CHECK_EQ_U64(pm_read(&pm, lvm_acpi_pm_cnt_io, 0, 2), 1);
	pm_write(&pm, lvm_acpi_pm_cnt_io, 0, 2, 1u << 10 | 1u << 13); /* S3-ish: SLP_TYP 1 */
	CHECK_EQ_U64(poweroffs, 0);
	pm_write(&pm, lvm_acpi_pm_cnt_io, 0, 2, 5u << 10);            /* SLP_TYP alone */
	CHECK_EQ_U64(poweroffs, 0);
	CHECK_EQ_U64(pm_read(&pm, lvm_acpi_pm_cnt_io, 0, 2), 5u << 10 | 1);
	pm_write(&pm, lvm_acpi_pm_cnt_io, 1, 1, (5u << 10 | 1u << 13) >> 8); /* high byte */
	CHECK_EQ_U64(poweroffs, 1);
	CHECK(!(pm_read(&pm, lvm_acpi_pm_cnt_io, 0, 2) & (1u << 13))); /* SLP_EN is write-only */
}

/* ---- S3 ---- */

static int sleeps;
static const char *woke;

static void on_sleep(void *opaque)
{
	CHECK(opaque == &sleeps);
	sleeps++;
}

static void on_wake(void *opaque, const char *reason)
{
	CHECK(opaque == &sleeps);
	woke = reason;
}

static struct lvm_acpi_pm *s3_pm(void)
{
	struct lvm_acpi_pm *pm = malloc(sizeof(*pm));
	lvm_acpi_pm_init(pm, (struct lvm_irq_line){ set_sci, NULL, 9 }, on_poweroff, &sleeps);
	lvm_acpi_pm_on_sleep(pm, on_sleep, on_wake);
	sleeps = 0, woke = NULL, sci_level = -1, poweroffs = 0;
	return pm;
}

static void suspend(struct lvm_acpi_pm *pm)
{
	pm_write(pm, lvm_acpi_pm_cnt_io, 0, 2, 1u << 10 | 1u << 13); /* SLP_TYP 1 | SLP_EN */
}

/* SLP_TYP 1 | SLP_EN sleeps once; the power button wakes it whatever
 * PWRBTN_EN says; WAK_STS and PWRBTN_STS tell the OS. */
static void test_pm_s3_power_button(void)
{
	struct lvm_acpi_pm *pm = s3_pm();
	suspend(pm);
	CHECK_EQ_U64(sleeps, 1);
	CHECK(lvm_acpi_pm_sleeping(pm));
	CHECK_EQ_U64(poweroffs, 0);
	suspend(pm); /* asleep already: nothing more */
	CHECK_EQ_U64(sleeps, 1);
	lvm_acpi_pm_power_button(pm);
	CHECK(!lvm_acpi_pm_sleeping(pm));
	CHECK_STR(woke, "power_button");
	CHECK_EQ_U64(pm_read(pm, lvm_acpi_pm_evt_io, 0, 2), 0x8100);
	CHECK_EQ_U64(sci_level, (uint64_t)-1); /* PWRBTN_EN clear: no SCI */
	pm_write(pm, lvm_acpi_pm_evt_io, 0, 2, 0x8100);
	CHECK_EQ_U64(pm_read(pm, lvm_acpi_pm_evt_io, 0, 2), 0);
	CHECK(!lvm_acpi_pm_wake(pm, "host")); /* awake: nothing to do */
	CHECK_EQ_U64(pm_read(pm, lvm_acpi_pm_evt_io, 0, 2), 0);
	free(pm);
}

/* The RTC alarm wakes only with RTC_EN (§4.8.3.1.2); RTC_STS either way. */
static void test_pm_s3_rtc(void)
{
	struct lvm_acpi_pm *pm = s3_pm();
	suspend(pm);
	lvm_acpi_pm_rtc_alarm(pm);
	CHECK(lvm_acpi_pm_sleeping(pm));
	CHECK_EQ_U64(pm_read(pm, lvm_acpi_pm_evt_io, 0, 2), 0x0400);
	pm_write(pm, lvm_acpi_pm_evt_io, 2, 2, 0x0400); /* RTC_EN: the SCI follows RTC_STS */
	CHECK_EQ_U64(sci_level, 1);
	CHECK_EQ_U64(pm_read(pm, lvm_acpi_pm_evt_io, 2, 2), 0x0400);
	lvm_acpi_pm_rtc_alarm(pm);
	CHECK(!lvm_acpi_pm_sleeping(pm));
	CHECK_STR(woke, "rtc");
	CHECK_EQ_U64(pm_read(pm, lvm_acpi_pm_evt_io, 0, 2), 0x8400);
	pm_write(pm, lvm_acpi_pm_evt_io, 0, 2, 0x0400);
	CHECK_EQ_U64(sci_level, 0);
	/* A host wake: WAK_STS alone; other sleep types and S5 are untouched. */
	suspend(pm);
	CHECK_EQ_U64(sleeps, 2);
	CHECK(lvm_acpi_pm_wake(pm, "host"));
	CHECK_STR(woke, "host");
	CHECK_EQ_U64(pm_read(pm, lvm_acpi_pm_evt_io, 0, 2), 0x8000);
	pm_write(pm, lvm_acpi_pm_cnt_io, 0, 2, 2u << 10 | 1u << 13);
	CHECK_EQ_U64(sleeps, 2);
	pm_write(pm, lvm_acpi_pm_cnt_io, 0, 2, 5u << 10 | 1u << 13);
	CHECK_EQ_U64(poweroffs, 1);
	free(pm);
}

/* Without on_sleep (a board with no S3) the write is ignored, as before. */
static void test_pm_s3_unsupported(void)
{
	struct lvm_acpi_pm pm;
	lvm_acpi_pm_init(&pm, (struct lvm_irq_line){ 0 }, NULL, NULL);
	suspend(&pm);
	CHECK(!lvm_acpi_pm_sleeping(&pm));
}

/* The timer counts at 3.579545 MHz (against CLOCK_MONOTONIC over ~20 ms). */
static void test_pm_timer(void)
{
	struct lvm_acpi_pm pm;
	lvm_acpi_pm_init(&pm, (struct lvm_irq_line){ 0 }, NULL, NULL);
	struct timespec t0, t1, pause = { 0, 20 * 1000 * 1000 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint32_t a = pm_read(&pm, lvm_acpi_pm_tmr_io, 0, 4);
	nanosleep(&pause, NULL);
	uint32_t b = pm_read(&pm, lvm_acpi_pm_tmr_io, 0, 4);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double ticks = (double)(uint32_t)(b - a);
	CHECK(ticks > 0.9 * 3579545 * 0.02 && ticks <= 3579545 * s + 2);
	pm_write(&pm, lvm_acpi_pm_tmr_io, 0, 4, 0); /* read-only */
	CHECK_EQ_U64(pm_read(&pm, lvm_acpi_pm_tmr_io, 2, 2), (lvm_acpi_pm_timer() >> 16) & 0xffff);
}

/* ---- the RTC/CMOS (devices/rtc_cmos.h) ---- */

static struct timespec fake_now;

static void fake_clock(struct timespec *ts)
{
	*ts = fake_now;
}

static uint8_t cmos_read(struct lvm_rtc_cmos *rtc, uint8_t reg)
{
	uint8_t d = reg;
	lvm_rtc_cmos_io(rtc, 0, &d, 1, true);
	d = 0xff;
	lvm_rtc_cmos_io(rtc, 1, &d, 1, false);
	return d;
}

static void cmos_write(struct lvm_rtc_cmos *rtc, uint8_t reg, uint8_t v)
{
	lvm_rtc_cmos_io(rtc, 0, &reg, 1, true);
	lvm_rtc_cmos_io(rtc, 1, &v, 1, true);
}

/* 2024-02-29 13:45:59 UTC, a Thursday: BCD, binary, 12-hour; UIP; a write moves the clock. */
static void test_rtc_time(void)
{
	struct lvm_rtc_cmos rtc;
	struct lvm_rtc_cmos_info info = { 256ull << 20, 0, 2 };
	lvm_rtc_cmos_init(&rtc, &info);
	rtc.now = fake_clock;
	fake_now = (struct timespec){ 1709214359, 0 };
	CHECK_EQ_U64(cmos_read(&rtc, 0x0b), 0x02);
	uint8_t want_bcd[] = { 0x59, 0, 0x45, 0, 0x13, 0, 0x05, 0x29, 0x02, 0x24 };
	for (uint8_t r = 0; r < 10; r++)
		if (r != 1 && r != 3 && r != 5)
			CHECK_EQ_U64(cmos_read(&rtc, r), want_bcd[r]);
	CHECK_EQ_U64(cmos_read(&rtc, 0x32), 0x20);
	CHECK_EQ_U64(cmos_read(&rtc, 0x0d), 0x80);
	CHECK_EQ_U64(cmos_read(&rtc, 0x0a), 0x26);
	fake_now.tv_nsec = 999900000;                     /* the last 244 us: UIP */
	CHECK_EQ_U64(cmos_read(&rtc, 0x0a), 0xa6);
	fake_now.tv_nsec = 0;
	cmos_write(&rtc, 0x0b, 0x04);                     /* binary, 12-hour */
	CHECK_EQ_U64(cmos_read(&rtc, 0x00), 59);
	CHECK_EQ_U64(cmos_read(&rtc, 0x04), 0x80 | 1);    /* 1 PM */
	CHECK_EQ_U64(cmos_read(&rtc, 0x09), 24);
	cmos_write(&rtc, 0x09, 30);                       /* year 2030 */
	fake_now.tv_sec += 10;
	CHECK_EQ_U64(cmos_read(&rtc, 0x09), 30);
	CHECK_EQ_U64(cmos_read(&rtc, 0x00), 9);           /* the clock ran on */
	CHECK_EQ_U64(cmos_read(&rtc, 0x32), 20);
}

/* C reports the update (and the periods) of a second and clears on read; memory bytes as SeaBIOS reads them. */
static void test_rtc_cmos_bytes(void)
{
	struct lvm_rtc_cmos rtc;
	struct lvm_rtc_cmos_info info = { 0xc0000000ull, 1ull << 30, 4 };
	lvm_rtc_cmos_init(&rtc, &info);
	rtc.now = fake_clock;
	fake_now = (struct timespec){ 1000, 0 };
	rtc.last_sync = fake_now;
	CHECK_EQ_U64(cmos_read(&rtc, 0x0c), 0);
	fake_now.tv_sec++;
	CHECK_EQ_U64(cmos_read(&rtc, 0x0c), 0x50); /* UF, and PF of register A's 1024 Hz */
	CHECK_EQ_U64(cmos_read(&rtc, 0x0c), 0);
	CHECK_EQ_U64(cmos_read(&rtc, 0x15) | cmos_read(&rtc, 0x16) << 8, 640);
	CHECK_EQ_U64(cmos_read(&rtc, 0x17) | cmos_read(&rtc, 0x18) << 8, 0xffff);
	CHECK_EQ_U64(cmos_read(&rtc, 0x34) | cmos_read(&rtc, 0x35) << 8, (0xc0000000 - (16 << 20)) >> 16);
	CHECK_EQ_U64(cmos_read(&rtc, 0x5b) | cmos_read(&rtc, 0x5c) << 8 | cmos_read(&rtc, 0x5d) << 16,
		     (1u << 30) >> 16);
	CHECK_EQ_U64(cmos_read(&rtc, 0x5f), 3);
	cmos_write(&rtc, 0x40, 0x5a);                     /* plain CMOS RAM */
	CHECK_EQ_U64(cmos_read(&rtc, 0x40), 0x5a);
	cmos_write(&rtc, 0x8d, 0);                        /* NMI mask bit: register D */
	uint8_t d = 0;
	lvm_rtc_cmos_io(&rtc, 1, &d, 1, false);
	CHECK_EQ_U64(d, 0x80);
}

int main(void)
{
	RUN_TEST(test_acpi_tables);
	RUN_TEST(test_acpi_too_small);
	RUN_TEST(test_mptable);
	RUN_TEST(test_pm_power_button);
	RUN_TEST(test_pm_sleep);
	RUN_TEST(test_pm_s3_power_button);
	RUN_TEST(test_pm_s3_rtc);
	RUN_TEST(test_pm_s3_unsupported);
	RUN_TEST(test_pm_timer);
	RUN_TEST(test_rtc_time);
	RUN_TEST(test_rtc_cmos_bytes);
	return CHECK_DONE();
}
