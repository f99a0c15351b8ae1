/* The 8254 model against a fake clock, and its timerfd thread for real. */
#include <time.h>

#include "check.h"
#include "devices/i8254.h"
#include "devices/i8254_timer.h"

static uint64_t fake_now;
static uint64_t armed_deadline, armed_period;
static int irq_level, irq_edges;

static uint64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static void fake_arm(void *ctx, uint64_t deadline, uint64_t period)
{
	(void)ctx;
	armed_deadline = deadline;
	armed_period = period;
}

static void set_irq(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	if (level && !irq_level)
		__atomic_add_fetch(&irq_edges, 1, __ATOMIC_RELAXED);
	irq_level = level;
}

static const struct lvm_i8254_clock clock_ = { fake_clock, fake_arm, NULL };

static struct lvm_i8254 *fresh(void)
{
	fake_now = 1000000000ull;
	irq_level = irq_edges = 0;
	armed_deadline = armed_period = 0;
	return lvm_i8254_new((struct lvm_irq_line){ set_irq, NULL, 0 }, &clock_);
}

static void out(struct lvm_i8254 *pit, uint16_t port, uint8_t v)
{
	if (port == 0x61)
		lvm_i8254_port61_io(pit, 0, &v, 1, true);
	else
		lvm_i8254_io(pit, port - 0x40, &v, 1, true);
}

static uint8_t in(struct lvm_i8254 *pit, uint16_t port)
{
	uint8_t v = 0xff;
	if (port == 0x61)
		lvm_i8254_port61_io(pit, 0, &v, 1, false);
	else
		lvm_i8254_io(pit, port - 0x40, &v, 1, false);
	return v;
}

/* 1193 ticks at 1.193182 MHz: Linux's HZ=1000 periodic tick. */
static void test_channel0_periodic(void)
{
	struct lvm_i8254 *pit = fresh();
	out(pit, 0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 */
	out(pit, 0x40, 0xa9);
	CHECK_EQ_U64(armed_deadline, 0);
	out(pit, 0x40, 0x04);
	CHECK_EQ_U64(armed_period, 999848); /* 1193 ticks, rounded up to ns */
	CHECK_EQ_U64(armed_deadline, fake_now + 999848);
	lvm_i8254_timer_fired(pit);
	lvm_i8254_timer_fired(pit);
	CHECK_EQ_U64(irq_edges, 2);
	CHECK_EQ_U64(irq_level, 0);
	out(pit, 0x43, 0x30); /* mode 0: idle until the count, then one-shot */
	CHECK_EQ_U64(armed_deadline, 0);
	out(pit, 0x40, 0x10);
	out(pit, 0x40, 0x00);
	CHECK_EQ_U64(armed_period, 0);
	CHECK(armed_deadline > fake_now);
	lvm_i8254_timer_fired(pit);
	CHECK_EQ_U64(irq_level, 1); /* stays high at terminal count */
	lvm_i8254_free(pit);
}

static void test_counting_and_latch(void)
{
	struct lvm_i8254 *pit = fresh();
	out(pit, 0x43, 0x70); /* channel 1, word, mode 0 */
	out(pit, 0x41, 0x00);
	out(pit, 0x41, 0x10); /* 4096 */
	fake_now += 1000000;  /* 1 ms = 1193 ticks */
	out(pit, 0x43, 0x40); /* latch channel 1 */
	fake_now += 1000000;
	uint16_t lo = in(pit, 0x41), hi = in(pit, 0x41);
	CHECK_EQ_U64(lo | hi << 8, 4096 - 1193);
	lo = in(pit, 0x41), hi = in(pit, 0x41); /* live again */
	CHECK_EQ_U64(lo | hi << 8, 4096 - 2386);
	out(pit, 0x43, 0x50); /* lobyte only */
	out(pit, 0x41, 100);
	fake_now += 50000000;  /* long past: wraps below zero */
	CHECK_EQ_U64(in(pit, 0x41), (uint8_t)(100 - 59659));
	lvm_i8254_free(pit);
}

static void test_read_back(void)
{
	struct lvm_i8254 *pit = fresh();
	out(pit, 0x43, 0xb6); /* channel 2, word, mode 3 */
	out(pit, 0x43, 0xe8); /* read back status of channel 2 */
	CHECK_EQ_U64(in(pit, 0x42), 0x40 | 0x30 | 0x06 | 0x80); /* null count, OUT high */
	out(pit, 0x42, 0x00);
	out(pit, 0x42, 0x01);
	out(pit, 0x43, 0xc8); /* count and status */
	CHECK_EQ_U64(in(pit, 0x42), 0x36 | 0x80);
	CHECK_EQ_U64(in(pit, 0x42), 0x00);
	CHECK_EQ_U64(in(pit, 0x42), 0x01);
	lvm_i8254_free(pit);
}

/* Linux's pit_calibrate_tsc: gate on, mode 0 on channel 2, poll bit 5 of 0x61. */
static void test_port61_calibration(void)
{
	struct lvm_i8254 *pit = fresh();
	out(pit, 0x61, 0x02); /* gate off, speaker data on */
	out(pit, 0x43, 0xb0);
	out(pit, 0x42, 0x9b);
	out(pit, 0x42, 0x2e); /* 11931: 10 ms */
	CHECK_EQ_U64(in(pit, 0x61) & 0x23, 0x02);
	fake_now += 20000000; /* gate low: the count does not move */
	CHECK_EQ_U64(in(pit, 0x61) & 0x20, 0);
	out(pit, 0x61, 0x01);
	fake_now += 9000000;
	uint8_t a = in(pit, 0x61), b = in(pit, 0x61);
	CHECK_EQ_U64(a & 0x21, 0x01);
	CHECK((a ^ b) & 0x10); /* refresh toggles */
	fake_now += 1100000;
	CHECK_EQ_U64(in(pit, 0x61) & 0x20, 0x20);
	lvm_i8254_free(pit);
}

static void test_square_wave_out(void)
{
	struct lvm_i8254 *pit = fresh();
	out(pit, 0x61, 0x01);
	out(pit, 0x43, 0xb6);
	out(pit, 0x42, 100);
	out(pit, 0x42, 0);
	CHECK(in(pit, 0x61) & 0x20);
	fake_now += 45000; /* 53 ticks: second half, low */
	CHECK_EQ_U64(in(pit, 0x61) & 0x20, 0);
	out(pit, 0x43, 0x80); /* latch channel 2 */
	uint16_t lo = in(pit, 0x42);
	lo |= (uint16_t)(in(pit, 0x42) << 8);
	CHECK_EQ_U64(lo, 100 - 2 * 3);
	lvm_i8254_free(pit);
}

static void test_real_timer(void)
{
	irq_level = irq_edges = 0;
	struct lvm_i8254_timer *t = lvm_i8254_timer_new();
	CHECK(t != NULL);
	struct lvm_i8254_clock clock = lvm_i8254_timer_clock(t);
	struct lvm_i8254 *pit = lvm_i8254_new((struct lvm_irq_line){ set_irq, NULL, 0 }, &clock);
	CHECK(lvm_i8254_timer_start(t, pit) == 0);
	out(pit, 0x43, 0x34);
	out(pit, 0x40, 0xa9);
	out(pit, 0x40, 0x04); /* 1 kHz */
	struct timespec ts = { 0, 1000000 };
	for (int i = 0; i < 2000 && __atomic_load_n(&irq_edges, __ATOMIC_RELAXED) < 5; i++)
		nanosleep(&ts, NULL);
	CHECK(__atomic_load_n(&irq_edges, __ATOMIC_RELAXED) >= 5);
	lvm_i8254_timer_free(t);
	lvm_i8254_free(pit);
}

int main(void)
{
	RUN_TEST(test_channel0_periodic);
	RUN_TEST(test_counting_and_latch);
	RUN_TEST(test_read_back);
	RUN_TEST(test_port61_calibration);
	RUN_TEST(test_square_wave_out);
	RUN_TEST(test_real_timer);
	return CHECK_DONE();
}
