/*
 * The RTC's interrupts (devices/rtc_cmos.h, devices/rtc_alarm.h): when the
 * alarm matches (BCD, binary, 12-hour, "don't care" bytes, bytes that
 * never match), the periodic rate, and the device around them with a fake
 * clock: register C's flags, IRQ 8, the alarm's wake event and the
 * deadlines the timer is asked for.
 */
#include <stdlib.h>
#include <time.h>

#include "devices/rtc_alarm.h"
#include "devices/rtc_cmos.h"
#include "check.h"

#define NS 1000000000ll
/* 2024-02-29 13:45:59 UTC */
#define T0 1709214359ll
#define MIDNIGHT (T0 - (13 * 3600 + 45 * 60 + 59))

static int64_t next(uint8_t s, uint8_t m, uint8_t h, uint8_t b, int64_t after)
{
	const uint8_t alarm[3] = { s, m, h };
	return lvm_rtc_next_alarm(alarm, b, after);
}

static void test_next_alarm(void)
{
	const uint8_t bcd24 = 0x02, bin24 = 0x06, bcd12 = 0x00, bin12 = 0x04;
	CHECK_EQ_U64(next(0xc0, 0xc0, 0xc0, bcd24, T0), T0 + 1); /* every update */
	CHECK_EQ_U64(next(0xff, 0xd5, 0xe0, bin24, T0), T0 + 1); /* any 0xc0-0xff byte */
	CHECK_EQ_U64(next(0x01, 0xc0, 0xc0, bcd24, T0), T0 + 2);  /* :01 of the next minute */
	CHECK_EQ_U64(next(0x59, 0xc0, 0xc0, bcd24, T0), T0 + 60); /* :59 passed: next minute's */
	CHECK_EQ_U64(next(0x30, 0x46, 0x13, bcd24, T0), T0 + 31);
	CHECK_EQ_U64(next(0x00, 0x00, 0x00, bcd24, T0), MIDNIGHT + 86400);
	CHECK_EQ_U64(next(30, 46, 13, bin24, T0), T0 + 31);
	CHECK_EQ_U64(next(0, 0, 0x12, bcd12, T0), MIDNIGHT + 86400); /* 12 AM */
	CHECK_EQ_U64(next(0, 0, 0x81, bcd12, T0), MIDNIGHT + 13 * 3600 + 86400); /* 1 PM passed */
	CHECK_EQ_U64(next(0, 0, 0x82, bin12, T0), MIDNIGHT + 14 * 3600);
	CHECK_EQ_U64(next(0xc0, 0x30, 0xc0, bcd24, T0), MIDNIGHT + 14 * 3600 + 30 * 60);
	/* Bytes no time register holds never match. */
	CHECK_EQ_U64(next(0x60, 0xc0, 0xc0, bcd24, T0), (uint64_t)-1);
	CHECK_EQ_U64(next(0x1a, 0xc0, 0xc0, bcd24, T0), (uint64_t)-1);
	CHECK_EQ_U64(next(0xc0, 0xc0, 0x24, bcd24, T0), (uint64_t)-1);
	CHECK_EQ_U64(next(0xc0, 0xc0, 0x13, bcd12, T0), (uint64_t)-1);
	CHECK_EQ_U64(next(0xc0, 0xc0, 0x00, bin12, T0), (uint64_t)-1);
	CHECK_EQ_U64(next(0x80, 0xc0, 0xc0, bin24, T0), (uint64_t)-1); /* bit 7 alone */
	/* Before the epoch (a guest that set its clock back) works the same. */
	CHECK_EQ_U64(next(0x00, 0x00, 0x00, bcd24, -10), 0);
}

static void test_period(void)
{
	CHECK_EQ_U64(lvm_rtc_period_ticks(0x20), 0);      /* rate 0: none */
	CHECK_EQ_U64(lvm_rtc_period_ticks(0x21), 128);    /* 256 Hz */
	CHECK_EQ_U64(lvm_rtc_period_ticks(0x22), 256);    /* 128 Hz */
	CHECK_EQ_U64(lvm_rtc_period_ticks(0x23), 4);      /* 8192 Hz */
	CHECK_EQ_U64(lvm_rtc_period_ticks(0x26), 32);     /* 1024 Hz, the reset value */
	CHECK_EQ_U64(lvm_rtc_period_ticks(0x2f), 16384);  /* 2 Hz */
	struct timespec ts = { 7, 500000000 };
	CHECK_EQ_U64(lvm_rtc_ticks(&ts), 7 * 32768 + 16384);
	CHECK_EQ_U64(lvm_rtc_ticks_to_ns(7 * 32768 + 16384), 7 * NS + NS / 2);
	CHECK_EQ_U64(lvm_rtc_ticks_to_ns(1), 30518); /* rounded up */
	ts = (struct timespec){ 0, 30518 };
	CHECK_EQ_U64(lvm_rtc_ticks(&ts), 1);
}

/* ---- the device ---- */

static struct timespec now;
static int irq8 = -1, alarms;
static int64_t armed = -2;

static void fake_clock(struct timespec *ts) { *ts = now; }
static void set_irq(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	CHECK_EQ_U64(gsi, 8);
	irq8 = level;
}
static void on_alarm(void *opaque) { (void)opaque; alarms++; }
static void arm(void *ctx, int64_t ns) { (void)ctx; armed = ns; }

static void wr(struct lvm_rtc_cmos *rtc, uint8_t reg, uint8_t v)
{
	lvm_rtc_cmos_io(rtc, 0, &reg, 1, true);
	lvm_rtc_cmos_io(rtc, 1, &v, 1, true);
}

static uint8_t rd(struct lvm_rtc_cmos *rtc, uint8_t reg)
{
	uint8_t v = 0xee;
	lvm_rtc_cmos_io(rtc, 0, &reg, 1, true);
	lvm_rtc_cmos_io(rtc, 1, &v, 1, false);
	return v;
}

static void at(int64_t sec, long nsec, struct lvm_rtc_cmos *rtc)
{
	now = (struct timespec){ (time_t)sec, nsec };
	if (rtc)
		lvm_rtc_cmos_tick(rtc);
}

static struct lvm_rtc_cmos *fresh(void)
{
	struct lvm_rtc_cmos *rtc = malloc(sizeof(*rtc));
	struct lvm_rtc_cmos_info info = { 64u << 20, 0, 1 };
	lvm_rtc_cmos_init(rtc, &info);
	rtc->now = fake_clock;
	at(T0, 250000000, NULL);
	rtc->last_sync = now;
	lvm_rtc_cmos_connect(rtc, (struct lvm_irq_line){ set_irq, NULL, 8 }, on_alarm, NULL);
	irq8 = -1, alarms = 0, armed = -2;
	lvm_rtc_cmos_set_arm(rtc, arm, NULL);
	wr(rtc, 0x0a, 0x20); /* no periodic flag in the way */
	return rtc;
}

/* An alarm at 13:46:30 with AIE: the timer is asked for that second; there
 * AF, IRQ 8 and the wake event; reading C clears them, the line drops. */
static void test_alarm_interrupt(void)
{
	struct lvm_rtc_cmos *rtc = fresh();
	CHECK_EQ_U64(armed, (uint64_t)-1); /* nothing enabled */
	wr(rtc, 0x01, 0x30);
	wr(rtc, 0x03, 0x46);
	wr(rtc, 0x05, 0x13);
	CHECK_EQ_U64(armed, (uint64_t)-1);
	wr(rtc, 0x0b, 0x22); /* AIE, 24-hour, BCD */
	CHECK_EQ_U64(armed, (T0 + 31) * NS);
	at(T0 + 30, 999999999, rtc); /* early: nothing yet */
	CHECK_EQ_U64(alarms, 0);
	CHECK_EQ_U64(irq8, (uint64_t)-1);
	at(T0 + 31, 1000, rtc);
	CHECK_EQ_U64(alarms, 1);
	CHECK_EQ_U64(irq8, 1);
	CHECK_EQ_U64(armed, (T0 + 31 + 86400) * NS); /* tomorrow's: the wake event recurs */
	CHECK_EQ_U64(rd(rtc, 0x0c), 0xb0);          /* IRQF | AF | UF */
	CHECK_EQ_U64(irq8, 0);
	CHECK_EQ_U64(rd(rtc, 0x0c), 0x00);
	/* Without AIE the flag still comes, but no interrupt and no wake event. */
	wr(rtc, 0x0b, 0x02);
	at(T0 + 31 + 86400, 0, NULL);
	CHECK_EQ_U64(rd(rtc, 0x0c), 0x30);
	CHECK_EQ_U64(alarms, 1);
	CHECK_EQ_U64(irq8, 0);
	/* Setting AIE while AF is pending raises IRQ 8 at once. */
	at(T0 + 31 + 2 * 86400, 0, NULL);
	rd(rtc, 0x00);
	wr(rtc, 0x0b, 0x22);
	CHECK_EQ_U64(irq8, 1);
	CHECK_EQ_U64(rd(rtc, 0x0c), 0xb0);
	free(rtc);
}

/* kvm-unit-tests' way: every alarm byte "don't care" wakes at each update;
 * moving the clock (a time register written) moves the alarm with it. */
static void test_alarm_follows_the_guest_clock(void)
{
	struct lvm_rtc_cmos *rtc = fresh();
	wr(rtc, 0x01, 0xc0);
	wr(rtc, 0x03, 0xc0);
	wr(rtc, 0x05, 0xc0);
	wr(rtc, 0x0b, 0x22);
	CHECK_EQ_U64(armed, (T0 + 1) * NS);
	at(T0 + 1, 0, rtc);
	CHECK_EQ_U64(alarms, 1);
	CHECK_EQ_U64(armed, (T0 + 2) * NS); /* IRQ 8 is high: still the alarm's next */
	wr(rtc, 0x01, 0x00);                /* :00 of any minute */
	CHECK_EQ_U64(armed, (T0 + 61) * NS);     /* 13:47:00 */
	wr(rtc, 0x00, 0x50);                /* the guest sets its seconds to :50 */
	CHECK_EQ_U64(armed, (T0 + 1 + 10) * NS);
	free(rtc);
}

/* UIE: the next second; PIE: the next period; both wait while IRQ 8 is high. */
static void test_update_and_periodic(void)
{
	struct lvm_rtc_cmos *rtc = fresh();
	wr(rtc, 0x0b, 0x12); /* UIE */
	CHECK_EQ_U64(armed, (T0 + 1) * NS);
	at(T0 + 1, 5, rtc);
	CHECK_EQ_U64(irq8, 1);
	CHECK_EQ_U64(armed, (uint64_t)-1); /* until C is read */
	CHECK_EQ_U64(alarms, 0);
	CHECK_EQ_U64(rd(rtc, 0x0c) & 0xf0, 0x90);
	CHECK_EQ_U64(irq8, 0);
	CHECK_EQ_U64(armed, (T0 + 2) * NS);
	wr(rtc, 0x0b, 0x42); /* PIE only */
	wr(rtc, 0x0a, 0x2f); /* 2 Hz: the next half second */
	CHECK_EQ_U64(armed, (T0 + 1) * NS + NS / 2);
	at(T0 + 1, NS / 2, rtc);
	CHECK_EQ_U64(irq8, 1);
	CHECK_EQ_U64(rd(rtc, 0x0c), 0xc0); /* IRQF | PF */
	CHECK_EQ_U64(armed, (T0 + 2) * NS);
	wr(rtc, 0x0b, 0x02);
	CHECK_EQ_U64(armed, (uint64_t)-1);
	free(rtc);
}

int main(void)
{
	RUN_TEST(test_next_alarm);
	RUN_TEST(test_period);
	RUN_TEST(test_alarm_interrupt);
	RUN_TEST(test_alarm_follows_the_guest_clock);
	RUN_TEST(test_update_and_periodic);
	return CHECK_DONE();
}
