/*
 * Saved state of the PC's legacy devices and interrupt controllers: each
 * device is driven into a non-trivial state through its bus handlers,
 * saved, loaded into a fresh instance, and both must then answer the same
 * accesses the same way (and raise the same interrupts).  Truncated,
 * mutated and out-of-range sections must be refused without a crash.
 * The last tests do the same for lvm_x86_interrupts_save/load on real VMs
 * (skipped without /dev/kvm).
 */
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86/interrupts.h"
#include "arch/x86/layout.h"
#include "check.h"
#include "devices/acpi_pm.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/i8254.h"
#include "devices/i8259.h"
#include "devices/ioapic.h"
#include "devices/rtc_cmos.h"
#include "devices/serial8250.h"
#include "util/error.h"
#include "util/state.h"

/* ---- helpers ----------------------------------------------------------- */

struct payload {
	uint8_t *p;
	size_t n;
};

/* The payload of the only section of a finished writer (copied). */
static struct payload take_payload(struct lvm_state_writer *w)
{
	struct payload out = { NULL, 0 };
	struct lvm_state_reader r;
	CHECK(lvm_state_finish(w) == 0);
	CHECK(lvm_state_check(w->buf, w->len) == 0);
	if (lvm_state_section(w->buf, w->len, "t", &r) == 0) {
		out.n = r.len;
		out.p = malloc(r.len ? r.len : 1);
		memcpy(out.p, r.p, r.len);
	}
	lvm_state_writer_free(w);
	return out;
}

/* A section made of exactly these bytes, for the loaders. */
static void wrap(struct lvm_state_writer *w, const uint8_t *p, size_t n)
{
	lvm_state_writer_init(w);
	lvm_state_begin(w, "t");
	lvm_state_put_bytes(w, p, n);
	CHECK(lvm_state_finish(w) == 0);
}

/* save_NAME(dev) -> payload; load_NAME(dev, bytes, n) -> 0 or -1 + lvm_error. */
#define STATE_HELPERS(T, NAME)                                                     \
	static struct payload save_##NAME(T *d)                                    \
	{                                                                          \
		struct lvm_state_writer w;                                         \
		lvm_state_writer_init(&w);                                         \
		lvm_state_begin(&w, "t");                                          \
		lvm_##NAME##_save(d, &w);                                          \
		return take_payload(&w);                                           \
	}                                                                          \
	static int load_##NAME(T *d, const uint8_t *p, size_t n)                   \
	{                                                                          \
		struct lvm_state_writer w;                                         \
		struct lvm_state_reader r;                                         \
		wrap(&w, p, n);                                                    \
		int rc = lvm_state_section(w.buf, w.len, "t", &r);                 \
		if (rc == 0) {                                                     \
			lvm_##NAME##_load(d, &r);                                  \
			rc = lvm_state_section_done(&r);                           \
		}                                                                  \
		lvm_state_writer_free(&w);                                         \
		return rc;                                                         \
	}

STATE_HELPERS(struct lvm_serial, serial)
STATE_HELPERS(struct lvm_i8042, i8042)
STATE_HELPERS(struct lvm_acpi_pm, acpi_pm)
STATE_HELPERS(struct lvm_rtc_cmos, rtc_cmos)
STATE_HELPERS(struct lvm_fw_cfg, fw_cfg)
STATE_HELPERS(struct lvm_i8259, i8259)
STATE_HELPERS(struct lvm_ioapic, ioapic)
STATE_HELPERS(struct lvm_i8254, i8254)

/* A section built field by field, for hand-made bad values. */
static void build_begin(struct lvm_state_writer *w)
{
	lvm_state_writer_init(w);
	lvm_state_begin(w, "t");
}

/*
 * Every prefix of a good payload is refused, and every byte set to a few
 * values either loads or is refused: `fresh` makes an instance, `load`
 * tries, `drop` frees.  Run under ASan this is the hostile-input check.
 */
#define CHECK_HOSTILE(pl, fresh, load, drop)                                       \
	do {                                                                       \
		for (size_t k_ = 0; k_ < (pl).n; k_++) {                           \
			void *d_ = (fresh);                                        \
			CHECK(load(d_, (pl).p, k_) < 0);                           \
			drop(d_);                                                  \
		}                                                                  \
		static const uint8_t vals_[] = { 0x00, 0x02, 0x80, 0xff };         \
		uint8_t *m_ = malloc((pl).n + 1);                                  \
		for (size_t k_ = 0; k_ < (pl).n; k_++)                             \
			for (size_t v_ = 0; v_ < sizeof(vals_); v_++) {            \
				memcpy(m_, (pl).p, (pl).n);                        \
				m_[k_] = vals_[v_];                                \
				void *d_ = (fresh);                                \
				(void)load(d_, m_, (pl).n);                        \
				drop(d_);                                          \
			}                                                          \
		memcpy(m_, (pl).p, (pl).n);                                        \
		m_[(pl).n] = 0;                                                    \
		void *d_ = (fresh);                                                \
		CHECK(load(d_, m_, (pl).n + 1) < 0); /* a byte left over */        \
		CHECK(strstr(lvm_error(), "left over") != NULL);                   \
		drop(d_);                                                          \
		free(m_);                                                          \
	} while (0)

/* Loads a hand-made section into a fresh instance; expects a refusal naming `why`. */
#define CHECK_REFUSED(w, fresh, load, drop, why)                                   \
	do {                                                                       \
		CHECK(lvm_state_finish(&(w)) == 0);                                \
		struct lvm_state_reader r_;                                        \
		CHECK(lvm_state_section((w).buf, (w).len, "t", &r_) == 0);         \
		void *d_ = (fresh);                                                \
		CHECK(load(d_, r_.p, r_.len) < 0);                                 \
		if (!strstr(lvm_error(), why)) {                                   \
			fprintf(stderr, "error '%s' lacks '%s'\n", lvm_error(), why); \
			check_failures++;                                          \
		}                                                                  \
		drop(d_);                                                          \
		lvm_state_writer_free(&(w));                                       \
	} while (0)

struct fake_irq {
	int level;
	int edges;
};

static void fake_set(void *opaque, unsigned gsi, int level)
{
	(void)gsi;
	struct fake_irq *f = opaque;
	if (level && !f->level)
		f->edges++;
	f->level = level;
}

/* ---- 16550A UART ------------------------------------------------------- */

enum { THR = 0, RBR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static struct fake_irq serial_irq[2];

static struct lvm_serial *serial_new(int which)
{
	serial_irq[which] = (struct fake_irq){ 0 };
	return lvm_serial_new((struct lvm_irq_line){ fake_set, &serial_irq[which], 4 }, NULL);
}

static struct lvm_serial *serial_fresh(void) { return serial_new(1); }
static void serial_drop(void *s) { lvm_serial_free(s); }
static int serial_try(void *s, const uint8_t *p, size_t n) { return load_serial(s, p, n); }

static void s_out(struct lvm_serial *s, unsigned reg, uint8_t v)
{
	lvm_serial_io(s, reg, &v, 1, true);
}

static uint8_t s_in(struct lvm_serial *s, unsigned reg)
{
	uint8_t v = 0xee;
	lvm_serial_io(s, reg, &v, 1, false);
	return v;
}

/* Reads every register and drains the receive buffer: what the guest would see. */
static void serial_observe(struct lvm_serial *s, uint8_t *out, size_t n)
{
	static const unsigned regs[] = { IIR, LSR, MSR, IER, LCR, MCR, SCR, IIR, MSR };
	size_t k = 0;
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		out[k++] = s_in(s, regs[i]);
	uint8_t lcr = s_in(s, LCR);
	s_out(s, LCR, lcr | 0x80);
	out[k++] = s_in(s, 0); /* DLL */
	out[k++] = s_in(s, 1); /* DLM */
	s_out(s, LCR, lcr);
	while (k < n)
		out[k++] = s_in(s, RBR);
}

static void test_serial_round_trip(void)
{
	struct lvm_serial *a = serial_new(0);
	s_out(a, LCR, 0x80);
	s_out(a, 0, 0x0c); /* 9600 baud */
	s_out(a, 1, 0x00);
	s_out(a, LCR, 0x1b);
	s_out(a, FCR, 0xc7);
	s_out(a, MCR, 0x10); /* loopback: every modem line drops, deltas set */
	s_out(a, MCR, 0x0b);
	s_out(a, SCR, 0x5a);
	s_out(a, IER, 0x0f);
	/* Make the 4 KiB receive ring wrap around. */
	uint8_t buf[4096];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	CHECK_EQ_U64(lvm_serial_receive(a, buf, 4090), 4090);
	for (int i = 0; i < 4000; i++)
		s_in(a, RBR);
	CHECK_EQ_U64(lvm_serial_receive(a, buf + 100, 200), 200);
	CHECK_EQ_U64(lvm_serial_rx_pending(a), 290);
	CHECK_EQ_U64(serial_irq[0].level, 1);

	struct payload pl = save_serial(a);
	struct lvm_serial *b = serial_new(1);
	CHECK(load_serial(b, pl.p, pl.n) == 0);
	CHECK_EQ_U64(serial_irq[1].level, 1); /* RX data pending drives the line */
	CHECK_EQ_U64(lvm_serial_rx_pending(b), 290);

	uint8_t seen_a[11 + 292], seen_b[11 + 292];
	serial_observe(a, seen_a, sizeof(seen_a));
	serial_observe(b, seen_b, sizeof(seen_b));
	CHECK(memcmp(seen_a, seen_b, sizeof(seen_a)) == 0);
	CHECK_EQ_U64(seen_b[0], 0xc4);     /* RX data, FIFO enabled */
	CHECK_EQ_U64(seen_b[2], 0xbb);     /* lines up + DCTS/DDSR/DDCD */
	CHECK_EQ_U64(seen_b[9], 0x0c);     /* DLL */
	CHECK_EQ_U64(seen_b[11], buf[4000]); /* the oldest byte left */
	CHECK_EQ_U64(seen_b[11 + 90], buf[100]); /* the first after the wrap */
	CHECK_EQ_U64(serial_irq[0].level, serial_irq[1].level);
	CHECK_EQ_U64(s_in(b, IIR), s_in(a, IIR));
	free(pl.p);

	/* An idle UART with THRE pending and no bytes: the line is still up. */
	pl = save_serial(a);
	struct lvm_serial *c = serial_new(1);
	CHECK(load_serial(c, pl.p, pl.n) == 0);
	CHECK_EQ_U64(serial_irq[1].level, serial_irq[0].level);
	CHECK_EQ_U64(s_in(c, IIR), s_in(a, IIR));
	lvm_serial_free(c);
	free(pl.p);
	lvm_serial_free(a);
	lvm_serial_free(b);
}

static void test_serial_hostile(void)
{
	struct lvm_serial *a = serial_new(0);
	s_out(a, IER, 0x05);
	s_out(a, SCR, 0x11);
	lvm_serial_receive(a, "hello", 5);
	struct payload pl = save_serial(a);
	CHECK_HOSTILE(pl, serial_fresh(), serial_try, serial_drop);
	free(pl.p);
	lvm_serial_free(a);

	static const uint8_t regs[9] = { 0 };
	struct lvm_state_writer w;
	build_begin(&w);
	lvm_state_put_bytes(&w, regs, 9);
	lvm_state_put_bool(&w, false);
	lvm_state_put_u32(&w, 9999999); /* far past the buffer's limit */
	CHECK_REFUSED(w, serial_fresh(), serial_try, serial_drop, "9999999 received bytes");

	build_begin(&w);
	lvm_state_put_bytes(&w, regs, 9);
	lvm_state_put_bool(&w, false);
	lvm_state_put_u32(&w, 1000); /* says 1000, holds 3 */
	lvm_state_put_bytes(&w, "abc", 3);
	CHECK_REFUSED(w, serial_fresh(), serial_try, serial_drop, "truncated");

	uint8_t bad_ier[9] = { 0x80 };
	build_begin(&w);
	lvm_state_put_bytes(&w, bad_ier, 9);
	lvm_state_put_bool(&w, false);
	lvm_state_put_u32(&w, 0);
	CHECK_REFUSED(w, serial_fresh(), serial_try, serial_drop, "IER 0x80");

	build_begin(&w);
	lvm_state_put_bytes(&w, regs, 9);
	lvm_state_put_u8(&w, 7); /* THRE pending: not a flag */
	lvm_state_put_u32(&w, 0);
	CHECK_REFUSED(w, serial_fresh(), serial_try, serial_drop, "flag");
}

/* ---- i8042 ------------------------------------------------------------- */

static int resets;
static void on_reset(void *opaque) { (void)opaque; resets++; }

static struct lvm_i8042 *kbd_fresh(void)
{
	struct lvm_i8042 *k = malloc(sizeof(*k));
	lvm_i8042_init(k, on_reset, NULL);
	return k;
}

static void kbd_drop(void *k) { free(k); }
static int kbd_try(void *k, const uint8_t *p, size_t n) { return load_i8042(k, p, n); }

static void kout(struct lvm_i8042 *k, bool status, uint8_t v)
{
	(status ? lvm_i8042_status_io : lvm_i8042_data_io)(k, 0, &v, 1, true);
}

static uint8_t kin(struct lvm_i8042 *k, bool status)
{
	uint8_t v = 0xee;
	(status ? lvm_i8042_status_io : lvm_i8042_data_io)(k, 0, &v, 1, false);
	return v;
}

static void test_i8042(void)
{
	struct lvm_i8042 *a = kbd_fresh();
	kout(a, true, 0xad);  /* keyboard disabled in the command byte */
	kout(a, true, 0xaa);  /* self test: 0x55 waits in the output buffer */
	kout(a, true, 0xd1);  /* write output port: awaits its data byte */
	struct payload pl = save_i8042(a);
	struct lvm_i8042 *b = kbd_fresh();
	CHECK(load_i8042(b, pl.p, pl.n) == 0);
	CHECK_EQ_U64(kin(b, true), kin(a, true));
	CHECK_EQ_U64(kin(b, true) & 1, 1);
	CHECK_EQ_U64(kin(b, false), 0x55);
	CHECK_EQ_U64(kin(a, false), 0x55);
	resets = 0;
	kout(b, false, 0x00); /* the pending 0xd1's data: reset line low */
	CHECK_EQ_U64(resets, 1);
	kout(b, true, 0x20);
	kout(a, true, 0x20);
	CHECK_EQ_U64(kin(b, false), kin(a, false));
	CHECK_HOSTILE(pl, kbd_fresh(), kbd_try, kbd_drop);
	free(pl.p);
	free(a);
	free(b);

	struct lvm_state_writer w;
	build_begin(&w);
	lvm_state_put_u8(&w, 0x45);
	lvm_state_put_u8(&w, 0x12); /* not a command that takes data */
	lvm_state_put_u8(&w, 0);
	lvm_state_put_bool(&w, false);
	CHECK_REFUSED(w, kbd_fresh(), kbd_try, kbd_drop, "pending command 0x12");
}

/* ---- ACPI PM ----------------------------------------------------------- */

static struct fake_irq sci[3]; /* a, b, and the instances of hostile loads */

static struct lvm_acpi_pm *pm_new(int which)
{
	struct lvm_acpi_pm *pm = malloc(sizeof(*pm));
	sci[which] = (struct fake_irq){ 0 };
	lvm_acpi_pm_init(pm, (struct lvm_irq_line){ fake_set, &sci[which], 9 }, NULL, NULL);
	return pm;
}

static struct lvm_acpi_pm *pm_fresh(void) { return pm_new(2); }
static void pm_sleep(void *opaque) { (void)opaque; }
static void pm_drop(void *pm) { free(pm); }
static int pm_try(void *pm, const uint8_t *p, size_t n) { return load_acpi_pm(pm, p, n); }

static uint32_t pm_read(struct lvm_acpi_pm *pm,
			void (*io)(void *, uint64_t, uint8_t *, uint32_t, bool), uint64_t off,
			uint32_t size)
{
	uint8_t b[4] = { 0 };
	io(pm, off, b, size, false);
	return (uint32_t)(b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24);
}

static void pm_write(struct lvm_acpi_pm *pm,
		     void (*io)(void *, uint64_t, uint8_t *, uint32_t, bool), uint64_t off,
		     uint32_t size, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	io(pm, off, b, size, true);
}

static void put_pm(struct lvm_state_writer *w, uint16_t sts, uint16_t en, uint16_t cnt,
		   uint64_t ticks, uint64_t epoch)
{
	lvm_state_put_u16(w, sts);
	lvm_state_put_u16(w, en);
	lvm_state_put_u16(w, cnt);
	lvm_state_put_u64(w, ticks);
	lvm_state_put_u64(w, epoch);
	lvm_state_put_bool(w, false); /* not in S3 */
}

static void test_acpi_pm(void)
{
	struct lvm_acpi_pm *a = pm_new(0);
	lvm_acpi_pm_power_button(a);
	pm_write(a, lvm_acpi_pm_evt_io, 2, 2, 0x100); /* PWRBTN_EN: SCI up */
	pm_write(a, lvm_acpi_pm_cnt_io, 0, 2, 3u << 10);
	CHECK_EQ_U64(sci[0].level, 1);
	uint32_t before = pm_read(a, lvm_acpi_pm_tmr_io, 0, 4);
	struct payload pl = save_acpi_pm(a);
	struct lvm_acpi_pm *b = pm_new(1);
	CHECK(load_acpi_pm(b, pl.p, pl.n) == 0);
	CHECK_EQ_U64(sci[1].level, 1);
	CHECK_EQ_U64(pm_read(b, lvm_acpi_pm_evt_io, 0, 4) & 0xfffffffe,
		     pm_read(a, lvm_acpi_pm_evt_io, 0, 4) & 0xfffffffe);
	CHECK_EQ_U64(pm_read(b, lvm_acpi_pm_cnt_io, 0, 2), 3u << 10 | 1);
	uint32_t after = pm_read(b, lvm_acpi_pm_tmr_io, 0, 4);
	CHECK((uint32_t)(after - before) < LVM_ACPI_PM_TMR_HZ); /* on, not back */
	pm_write(b, lvm_acpi_pm_evt_io, 0, 2, 0x100); /* clear PWRBTN_STS: SCI down */
	CHECK_EQ_U64(sci[1].level, 0);
	CHECK_HOSTILE(pl, pm_fresh(), pm_try, pm_drop);
	free(pl.p);

	/* A count from another host (its clock far ahead) goes on from the saved value. */
	uint64_t far = (77ull << 31) + 123456;
	struct lvm_state_writer w;
	build_begin(&w);
	put_pm(&w, 0, 0, 0, far, 77);
	struct payload p2 = take_payload(&w);
	CHECK(load_acpi_pm(b, p2.p, p2.n) == 0);
	uint32_t t = pm_read(b, lvm_acpi_pm_tmr_io, 0, 4);
	CHECK((uint32_t)(t - (uint32_t)far) < LVM_ACPI_PM_TMR_HZ);
	CHECK(!(pm_read(b, lvm_acpi_pm_evt_io, 0, 2) & LVM_PM1_TMR)); /* same epoch */
	CHECK_EQ_U64(sci[1].level, 0);
	free(p2.p);
	build_begin(&w);
	put_pm(&w, 0, 0, 0, far, 76); /* bit 31 flipped since the last clear */
	p2 = take_payload(&w);
	CHECK(load_acpi_pm(b, p2.p, p2.n) == 0);
	CHECK(pm_read(b, lvm_acpi_pm_evt_io, 0, 2) & LVM_PM1_TMR);
	free(p2.p);

	build_begin(&w);
	put_pm(&w, 0, 0, 0, far, 78);
	CHECK_REFUSED(w, pm_fresh(), pm_try, pm_drop, "epoch 78");
	build_begin(&w);
	put_pm(&w, 0, 0x8000, 0, far, 0);
	CHECK_REFUSED(w, pm_fresh(), pm_try, pm_drop, "PM1_EN 0x8000");
	build_begin(&w);
	put_pm(&w, 0x0002, 0, 0, far, 0);
	CHECK_REFUSED(w, pm_fresh(), pm_try, pm_drop, "PM1_STS 0x0002");
	build_begin(&w);
	put_pm(&w, 0, 0, 1u << 13, far, 0); /* SLP_EN is never stored */
	CHECK_REFUSED(w, pm_fresh(), pm_try, pm_drop, "PM1_CNT 0x2000");

	/* A machine saved in S3 loads asleep; the wake works on the copy. */
	lvm_acpi_pm_on_sleep(a, pm_sleep, NULL);
	pm_write(a, lvm_acpi_pm_cnt_io, 0, 2, 1u << 10 | 1u << 13);
	CHECK(lvm_acpi_pm_sleeping(a));
	pl = save_acpi_pm(a);
	struct lvm_acpi_pm *c = pm_new(1);
	CHECK(load_acpi_pm(c, pl.p, pl.n) == 0);
	CHECK(lvm_acpi_pm_sleeping(c));
	CHECK(lvm_acpi_pm_wake(c, "host"));
	CHECK(pm_read(c, lvm_acpi_pm_evt_io, 0, 2) & LVM_PM1_WAK_STS);
	CHECK(lvm_acpi_pm_sleeping(a));
	free(pl.p);
	free(c);
	free(a);
	free(b);
}

/* ---- RTC / CMOS -------------------------------------------------------- */

static struct timespec rtc_clock = { 1700000000, 500000000 };
static void rtc_now(struct timespec *ts) { *ts = rtc_clock; }

static struct lvm_rtc_cmos *rtc_fresh(void)
{
	struct lvm_rtc_cmos *rtc = malloc(sizeof(*rtc));
	struct lvm_rtc_cmos_info info = { 256u << 20, 0, 2 };
	lvm_rtc_cmos_init(rtc, &info);
	rtc->now = rtc_now;
	return rtc;
}

static void rtc_drop(void *rtc) { free(rtc); }
static int rtc_try(void *rtc, const uint8_t *p, size_t n) { return load_rtc_cmos(rtc, p, n); }

static void rtc_out(struct lvm_rtc_cmos *rtc, uint64_t port, uint8_t v)
{
	lvm_rtc_cmos_io(rtc, port, &v, 1, true);
}

static uint8_t rtc_in(struct lvm_rtc_cmos *rtc, uint8_t index)
{
	uint8_t v = 0xee;
	rtc_out(rtc, 0, index);
	lvm_rtc_cmos_io(rtc, 1, &v, 1, false);
	return v;
}

static void test_rtc_cmos(void)
{
	struct lvm_rtc_cmos *a = rtc_fresh();
	rtc_out(a, 0, 0x0b);
	rtc_out(a, 1, 0x16); /* binary, 24-hour, UIE */
	rtc_out(a, 0, 0x09);
	rtc_out(a, 1, 42);   /* year 2042: the guest's clock now runs ahead */
	rtc_out(a, 0, 0x40);
	rtc_out(a, 1, 0x99);
	rtc_out(a, 0, 0x0a);
	rtc_out(a, 1, 0x2f);
	rtc_out(a, 0, 0x41); /* the index the guest left */
	struct payload pl = save_rtc_cmos(a);
	struct lvm_rtc_cmos *b = rtc_fresh();
	CHECK(load_rtc_cmos(b, pl.p, pl.n) == 0);
	uint8_t v = 0xee, w = 0xee;
	lvm_rtc_cmos_io(b, 1, &v, 1, false); /* no index written: the saved one */
	lvm_rtc_cmos_io(a, 1, &w, 1, false);
	CHECK_EQ_U64(v, w);
	rtc_clock.tv_sec += 3; /* one clock for both: a later second */
	for (uint8_t i = 0; i < 0x80; i++)
		CHECK_EQ_U64(rtc_in(b, i), rtc_in(a, i));
	CHECK_EQ_U64(rtc_in(b, 0x09), 42);
	CHECK_EQ_U64(rtc_in(b, 0x40), 0x99);
	CHECK_EQ_U64(rtc_in(b, 0x0a), 0x2f);
	CHECK_HOSTILE(pl, rtc_fresh(), rtc_try, rtc_drop);
	free(pl.p);

	uint8_t cmos[128] = { 0 };
	struct lvm_state_writer wr;
	build_begin(&wr);
	lvm_state_put_u8(&wr, 0x80);
	lvm_state_put_bytes(&wr, cmos, sizeof(cmos));
	lvm_state_put_u64(&wr, 0);
	lvm_state_put_u64(&wr, 0);
	lvm_state_put_u8(&wr, 0);
	CHECK_REFUSED(wr, rtc_fresh(), rtc_try, rtc_drop, "index 0x80");
	build_begin(&wr);
	lvm_state_put_u8(&wr, 0);
	lvm_state_put_bytes(&wr, cmos, sizeof(cmos));
	lvm_state_put_u64(&wr, (uint64_t)INT64_MIN);
	lvm_state_put_u64(&wr, 0);
	lvm_state_put_u8(&wr, 0);
	CHECK_REFUSED(wr, rtc_fresh(), rtc_try, rtc_drop, "offset");
	build_begin(&wr);
	lvm_state_put_u8(&wr, 0);
	lvm_state_put_bytes(&wr, cmos, sizeof(cmos));
	lvm_state_put_u64(&wr, 0);
	lvm_state_put_u64(&wr, 0);
	lvm_state_put_u8(&wr, 0x80); /* IRQF is not stored: it follows from the flags */
	CHECK_REFUSED(wr, rtc_fresh(), rtc_try, rtc_drop, "flags 0x80");
	free(a);
	free(b);
}

/* ---- fw_cfg ------------------------------------------------------------ */

static struct lvm_fw_cfg *fwc_fresh(void)
{
	struct lvm_fw_cfg_info info = { 64u << 20, 64u << 20, 2 };
	struct lvm_fw_cfg *f = lvm_fw_cfg_new(&info);
	lvm_fw_cfg_add_file(f, "opt/test", "0123456789", 10);
	return f;
}

static void fwc_drop(void *f) { lvm_fw_cfg_free(f); }
static int fwc_try(void *f, const uint8_t *p, size_t n) { return load_fw_cfg(f, p, n); }

static uint8_t fwc_byte(struct lvm_fw_cfg *f)
{
	uint8_t v = 0xee;
	lvm_fw_cfg_io(f, 1, &v, 1, false);
	return v;
}

static void test_fw_cfg(void)
{
	struct lvm_fw_cfg *a = fwc_fresh();
	uint8_t sel[2] = { 0x20, 0x00 }; /* the first file */
	lvm_fw_cfg_io(a, 0, sel, 2, true);
	for (int i = 0; i < 4; i++)
		fwc_byte(a);
	struct payload pl = save_fw_cfg(a);
	struct lvm_fw_cfg *b = fwc_fresh();
	CHECK(load_fw_cfg(b, pl.p, pl.n) == 0);
	for (int i = 0; i < 8; i++)
		CHECK_EQ_U64(fwc_byte(b), fwc_byte(a));
	CHECK_HOSTILE(pl, fwc_fresh(), fwc_try, fwc_drop);
	free(pl.p);
	lvm_fw_cfg_free(a);
	lvm_fw_cfg_free(b);

	struct lvm_state_writer w;
	build_begin(&w);
	lvm_state_put_u16(&w, 0x0000); /* the 4-byte signature */
	lvm_state_put_u32(&w, 5);
	CHECK_REFUSED(w, fwc_fresh(), fwc_try, fwc_drop, "offset 5");
	build_begin(&w);
	lvm_state_put_u16(&w, 0x1234); /* no such item: the offset never moved */
	lvm_state_put_u32(&w, 1);
	CHECK_REFUSED(w, fwc_fresh(), fwc_try, fwc_drop, "offset 1");
}

/* ---- 8259A pair -------------------------------------------------------- */

static int pic_notified;
static void pic_notify(void *ctx) { (void)ctx; pic_notified++; }

static void pic_out(struct lvm_i8259 *pic, uint16_t port, uint8_t v)
{
	if (port >= 0x4d0)
		lvm_i8259_elcr_io(pic, port - 0x4d0, &v, 1, true);
	else if (port >= 0xa0)
		lvm_i8259_slave_io(pic, port - 0xa0, &v, 1, true);
	else
		lvm_i8259_master_io(pic, port - 0x20, &v, 1, true);
}

static uint8_t pic_in(struct lvm_i8259 *pic, uint16_t port)
{
	uint8_t v = 0xee;
	if (port >= 0x4d0)
		lvm_i8259_elcr_io(pic, port - 0x4d0, &v, 1, false);
	else if (port >= 0xa0)
		lvm_i8259_slave_io(pic, port - 0xa0, &v, 1, false);
	else
		lvm_i8259_master_io(pic, port - 0x20, &v, 1, false);
	return v;
}

static struct lvm_i8259 *pic_fresh(void) { return lvm_i8259_new(pic_notify, NULL); }
static void pic_drop(void *pic) { lvm_i8259_free(pic); }
static int pic_try(void *pic, const uint8_t *p, size_t n) { return load_i8259(pic, p, n); }

/* IRR, ISR, IMR and ELCR of both chips (leaves OCW3 reading IRR). */
static void pic_observe(struct lvm_i8259 *pic, uint8_t out[8])
{
	for (int c = 0; c < 2; c++) {
		uint16_t base = c ? 0xa0 : 0x20;
		pic_out(pic, base, 0x0a);
		out[4 * c] = pic_in(pic, base);
		pic_out(pic, base, 0x0b);
		out[4 * c + 1] = pic_in(pic, base);
		out[4 * c + 2] = pic_in(pic, base + 1);
		out[4 * c + 3] = pic_in(pic, (uint16_t)(0x4d0 + c));
		pic_out(pic, base, 0x0a);
	}
}

static void test_i8259(void)
{
	struct lvm_i8259 *a = pic_fresh();
	static const struct { uint16_t port; uint8_t v; } init[] = {
		{ 0x20, 0x11 }, { 0x21, 0x30 }, { 0x21, 0x04 }, { 0x21, 0x01 },
		{ 0xa0, 0x11 }, { 0xa1, 0x38 }, { 0xa1, 0x02 }, { 0xa1, 0x01 },
		{ 0x21, 0x08 }, { 0xa1, 0x00 }, { 0x4d1, 0x02 }, /* IRQ 9 level */
	};
	for (size_t i = 0; i < sizeof(init) / sizeof(init[0]); i++)
		pic_out(a, init[i].port, init[i].v);
	pic_out(a, 0x20, 0xc3);      /* IR3 lowest priority: IR4 highest */
	lvm_i8259_set_irq(a, 6, 1);
	lvm_i8259_set_irq(a, 3, 1);  /* masked */
	lvm_i8259_set_irq(a, 9, 1);  /* level, through the cascade */
	CHECK_EQ_U64(lvm_i8259_ack(a), 0x36); /* IR6 in service */
	lvm_i8259_set_irq(a, 5, 1);  /* outranks IR6: INT */
	pic_out(a, 0xa0, 0x11);      /* the slave half way through a new ICW sequence */
	pic_out(a, 0xa1, 0x40);
	pic_out(a, 0xa0, 0x68);      /* and in special mask mode */
	CHECK(lvm_i8259_output(a));

	struct payload pl = save_i8259(a);
	pic_notified = 0;
	struct lvm_i8259 *b = pic_fresh();
	CHECK(load_i8259(b, pl.p, pl.n) == 0);
	CHECK(lvm_i8259_output(b));
	CHECK_EQ_U64(pic_notified, 1); /* INT rose on load */
	uint8_t oa[8], ob[8];
	pic_observe(a, oa);
	pic_observe(b, ob);
	CHECK(memcmp(oa, ob, sizeof(oa)) == 0);
	CHECK_EQ_U64(ob[1], 0x40);   /* master ISR: IR6 */
	CHECK_EQ_U64(ob[3], 0x00);
	CHECK_EQ_U64(ob[7], 0x02);   /* slave ELCR: IRQ 9 */
	/* The same acknowledges, EOIs and cascade from here on. */
	for (int round = 0; round < 3; round++) {
		CHECK_EQ_U64(lvm_i8259_ack(b), lvm_i8259_ack(a));
		pic_out(a, 0x20, 0x20);
		pic_out(b, 0x20, 0x20);
		CHECK_EQ_U64(lvm_i8259_output(b), lvm_i8259_output(a));
	}
	pic_out(a, 0xa1, 0x02);      /* the slave's ICW3, then ICW4 */
	pic_out(b, 0xa1, 0x02);
	pic_out(a, 0xa1, 0x01);
	pic_out(b, 0xa1, 0x01);
	lvm_i8259_set_irq(a, 12, 1);
	lvm_i8259_set_irq(b, 12, 1);
	CHECK_EQ_U64(lvm_i8259_ack(b), lvm_i8259_ack(a));
	pic_observe(a, oa);
	pic_observe(b, ob);
	CHECK(memcmp(oa, ob, sizeof(oa)) == 0);
	CHECK_HOSTILE(pl, pic_fresh(), pic_try, pic_drop);

	/* Field offsets: each chip is 8 bytes then 8 flags. */
	static const struct { size_t at; uint8_t v; const char *why; } bad[] = {
		{ 4, 0x01, "ELCR 0x01" },          /* master IRQ 0 is edge only */
		{ 5, 0x31, "vector base 0x31" },
		{ 6, 8, "IR 8" },
		{ 7, 5, "ICW5" },
		{ 3, 0x04, "IR2" },               /* the cascade input */
		{ 16 + 7, 1, "ICW1" },
		{ 16 + 4, 0x01, "slave ELCR 0x01" }, /* IRQ 8 is edge only */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lvm_state_writer w;
		build_begin(&w);
		uint8_t *m = malloc(pl.n);
		memcpy(m, pl.p, pl.n);
		m[bad[i].at] = bad[i].v;
		lvm_state_put_bytes(&w, m, pl.n);
		free(m);
		CHECK_REFUSED(w, pic_fresh(), pic_try, pic_drop, bad[i].why);
	}
	free(pl.p);
	lvm_i8259_free(a);
	lvm_i8259_free(b);
}

/* ---- IOAPIC ------------------------------------------------------------ */

struct ioapic_log {
	struct lvm_msi sent[16];
	unsigned nsent;
	bool routed[LVM_IOAPIC_NR_PINS];
	struct lvm_msi route[LVM_IOAPIC_NR_PINS];
};

static struct ioapic_log io_log[2];

static void io_deliver(void *ctx, struct lvm_msi msi)
{
	struct ioapic_log *l = ctx;
	if (l->nsent < 16)
		l->sent[l->nsent] = msi;
	l->nsent++;
}

static void io_route(void *ctx, unsigned pin, bool routed, struct lvm_msi msi)
{
	struct ioapic_log *l = ctx;
	l->routed[pin] = routed;
	l->route[pin] = msi;
}

static const struct lvm_ioapic_ops io_ops = { io_deliver, io_route };

static struct lvm_ioapic *io_new(int which)
{
	io_log[which] = (struct ioapic_log){ 0 };
	return lvm_ioapic_new(0, &io_ops, &io_log[which]);
}

static struct lvm_ioapic *io_fresh(void) { return io_new(1); }
static void io_drop(void *io) { lvm_ioapic_free(io); }
static int io_try(void *io, const uint8_t *p, size_t n) { return load_ioapic(io, p, n); }

static void io_wr(struct lvm_ioapic *io, uint8_t reg, uint32_t v)
{
	lvm_ioapic_mmio(io, 0x00, &reg, 1, true);
	lvm_ioapic_mmio(io, 0x10, (uint8_t *)&v, 4, true);
}

static uint32_t io_rd(struct lvm_ioapic *io, uint8_t reg)
{
	uint32_t v = 0xeeeeeeee;
	lvm_ioapic_mmio(io, 0x00, &reg, 1, true);
	lvm_ioapic_mmio(io, 0x10, (uint8_t *)&v, 4, false);
	return v;
}

static void test_ioapic(void)
{
	struct lvm_ioapic *a = io_new(0);
	io_wr(a, 0x00, 0x05000000);             /* ID 5 */
	io_wr(a, 0x10 + 2 * 3, 0x8000 | 0x43);  /* pin 3: level, vector 0x43 */
	io_wr(a, 0x11 + 2 * 3, 0x01000000);     /* to APIC 1 */
	io_wr(a, 0x10 + 2 * 5, 0x55);           /* pin 5: edge */
	io_wr(a, 0x10 + 2 * 7, 0x10000 | 0x57); /* pin 7: masked */
	lvm_ioapic_set_irq(a, 3, 1);            /* delivered: remote IRR set */
	lvm_ioapic_set_irq(a, 7, 1);
	CHECK_EQ_U64(io_log[0].nsent, 1);
	uint8_t sel = 0x17;                     /* the guest's last IOREGSEL */
	lvm_ioapic_mmio(a, 0x00, &sel, 1, true);

	struct payload pl = save_ioapic(a);
	struct lvm_ioapic *b = io_new(1);
	CHECK(load_ioapic(b, pl.p, pl.n) == 0);
	CHECK_EQ_U64(io_log[1].nsent, 0);       /* pin 3 awaits its EOI */
	CHECK(memcmp(io_log[1].routed, io_log[0].routed, sizeof(io_log[0].routed)) == 0);
	for (unsigned pin = 0; pin < LVM_IOAPIC_NR_PINS; pin++) /* fields: the padding is anything */
		CHECK(io_log[1].route[pin].address == io_log[0].route[pin].address &&
		      io_log[1].route[pin].data == io_log[0].route[pin].data);
	CHECK(io_log[1].routed[3] && io_log[1].routed[5] && !io_log[1].routed[7]);
	uint32_t va = 0, vb = 0;
	lvm_ioapic_mmio(b, 0x10, (uint8_t *)&vb, 4, false); /* IOWIN at the saved IOREGSEL */
	lvm_ioapic_mmio(a, 0x10, (uint8_t *)&va, 4, false);
	CHECK_EQ_U64(vb, va);
	CHECK_EQ_U64(vb, 0x01000000);            /* pin 3's destination */
	for (uint8_t reg = 0; reg < 0x40; reg++)
		CHECK_EQ_U64(io_rd(b, reg), io_rd(a, reg));
	CHECK_EQ_U64(io_rd(b, 0x00), 0x05000000);
	CHECK_EQ_U64(io_rd(b, 0x10 + 2 * 3) & (1u << 14), 1u << 14); /* remote IRR */
	/* EOI: the still-asserted level pin fires again on both. */
	lvm_ioapic_eoi(a, 0x43);
	lvm_ioapic_eoi(b, 0x43);
	CHECK_EQ_U64(io_log[1].nsent, 1);
	CHECK_EQ_U64(io_log[1].sent[0].data, io_log[0].sent[1].data);
	CHECK_EQ_U64(io_log[1].sent[0].address, io_log[0].sent[1].address);
	/* Unmasking pin 7: its line is already high, no new edge on either. */
	io_wr(a, 0x10 + 2 * 7, 0x57);
	io_wr(b, 0x10 + 2 * 7, 0x57);
	lvm_ioapic_set_irq(a, 7, 1);
	lvm_ioapic_set_irq(b, 7, 1);
	CHECK_EQ_U64(io_log[1].nsent, 1);
	lvm_ioapic_set_irq(b, 5, 1);
	CHECK_EQ_U64(io_log[1].nsent, 2);
	CHECK_HOSTILE(pl, io_fresh(), io_try, io_drop);
	free(pl.p);
	lvm_ioapic_free(a);
	lvm_ioapic_free(b);

	struct lvm_state_writer w;
	build_begin(&w);
	lvm_state_put_u8(&w, 0);
	lvm_state_put_u8(&w, 0);
	lvm_state_put_u32(&w, 0);
	lvm_state_put_u8(&w, 200); /* a redirection table far past 24 entries */
	for (int i = 0; i < 200; i++)
		lvm_state_put_u64(&w, 0x10000);
	CHECK_REFUSED(w, io_fresh(), io_try, io_drop, "200 redirection entries");
	static const struct { uint8_t id; uint32_t lines; uint64_t entry; const char *why; } bad[] = {
		{ 16, 0, 0x10000, "ID 16" },
		{ 0, 1u << 24, 0x10000, "line levels" },
		{ 0, 0, 0x10000 | 1ull << 40, "reserved bits" },
		{ 0, 0, 0x10000 | 1ull << 12, "reserved bits" }, /* delivery status */
		{ 0, 0, 0x10000 | 1ull << 14, "remote IRR but is edge" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		build_begin(&w);
		lvm_state_put_u8(&w, bad[i].id);
		lvm_state_put_u8(&w, 0);
		lvm_state_put_u32(&w, bad[i].lines);
		lvm_state_put_u8(&w, LVM_IOAPIC_NR_PINS);
		for (int p = 0; p < LVM_IOAPIC_NR_PINS; p++)
			lvm_state_put_u64(&w, p == 9 ? bad[i].entry : 0x10000);
		CHECK_REFUSED(w, io_fresh(), io_try, io_drop, bad[i].why);
	}
}

/* ---- 8254 PIT ---------------------------------------------------------- */

struct fake_clock {
	uint64_t now;
	uint64_t deadline, period;
};

static struct fake_clock pit_clock[2];
static struct fake_irq pit_irq[2];

static uint64_t fc_now(void *ctx) { return ((struct fake_clock *)ctx)->now; }

static void fc_arm(void *ctx, uint64_t deadline, uint64_t period)
{
	struct fake_clock *c = ctx;
	c->deadline = deadline;
	c->period = period;
}

static struct lvm_i8254 *pit_new(int which, uint64_t now)
{
	pit_clock[which] = (struct fake_clock){ .now = now };
	pit_irq[which] = (struct fake_irq){ 0 };
	struct lvm_i8254_clock clock = { fc_now, fc_arm, &pit_clock[which] };
	return lvm_i8254_new((struct lvm_irq_line){ fake_set, &pit_irq[which], 0 }, &clock);
}

static struct lvm_i8254 *pit_fresh(void) { return pit_new(1, 5000000000ull); }
static void pit_drop(void *pit) { lvm_i8254_free(pit); }
static int pit_try(void *pit, const uint8_t *p, size_t n) { return load_i8254(pit, p, n); }

static void pit_out(struct lvm_i8254 *pit, uint16_t port, uint8_t v)
{
	if (port == 0x61)
		lvm_i8254_port61_io(pit, 0, &v, 1, true);
	else
		lvm_i8254_io(pit, port - 0x40, &v, 1, true);
}

static uint8_t pit_in(struct lvm_i8254 *pit, uint16_t port)
{
	uint8_t v = 0xee;
	if (port == 0x61)
		lvm_i8254_port61_io(pit, 0, &v, 1, false);
	else
		lvm_i8254_io(pit, port - 0x40, &v, 1, false);
	return v;
}

static void test_i8254_periodic_phase(void)
{
	struct lvm_i8254 *a = pit_new(0, 1000000000ull);
	pit_out(a, 0x43, 0x34);  /* channel 0, lobyte/hibyte, mode 2 */
	pit_out(a, 0x40, 0xa9);
	pit_out(a, 0x40, 0x04);  /* 1193 ticks: ~1 ms */
	uint64_t period = pit_clock[0].period;
	CHECK_EQ_U64(period, 999848);
	pit_clock[0].now += 10 * period + 400000; /* 0.4 ms into a period */
	pit_out(a, 0x43, 0xb6);  /* channel 2, mode 3 (speaker tone) */
	pit_out(a, 0x42, 0x00);  /* the LSB only: a word write half done */
	pit_out(a, 0x43, 0x40 | 0x30 | 0x00); /* channel 1: lobyte/hibyte, mode 0 */
	pit_out(a, 0x41, 0x34);
	pit_out(a, 0x41, 0x12);
	pit_out(a, 0x43, 0x40);  /* latch channel 1 */
	(void)pit_in(a, 0x41);   /* the latch's LSB read, the MSB left */
	pit_out(a, 0x61, 0x03);  /* gate 2 up, speaker on */
	pit_out(a, 0x43, 0xe2);  /* read-back: latch channel 0's status only */

	struct payload pl = save_i8254(a);
	struct lvm_i8254 *b = pit_new(1, 77000000000ull); /* another host's clock */
	CHECK(load_i8254(b, pl.p, pl.n) == 0);
	/* Channel 0 fires at the same phase: 0.6 ms from now, then every period. */
	CHECK_EQ_U64(pit_clock[1].period, period);
	uint64_t left = pit_clock[1].deadline - pit_clock[1].now;
	CHECK(left > 599000 && left < 601000);
	CHECK_EQ_U64(pit_irq[1].level, 0);
	/* From here, equal times give equal answers. */
	for (int step = 0; step < 5; step++) {
		pit_clock[0].now += 123457;
		pit_clock[1].now += 123457;
		static const uint16_t ports[] = { 0x40, 0x40, 0x41, 0x42, 0x61 };
		for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
			CHECK_EQ_U64(pit_in(b, ports[i]), pit_in(a, ports[i]));
		pit_out(a, 0x43, 0x00);
		pit_out(b, 0x43, 0x00);
		CHECK_EQ_U64(pit_in(b, 0x40), pit_in(a, 0x40));
		CHECK_EQ_U64(pit_in(b, 0x40), pit_in(a, 0x40));
	}
	pit_out(a, 0x42, 0x10);  /* completes the word write on both */
	pit_out(b, 0x42, 0x10);
	pit_out(a, 0x43, 0xe8);  /* read back channel 2's status */
	pit_out(b, 0x43, 0xe8);
	CHECK_EQ_U64(pit_in(b, 0x42), pit_in(a, 0x42));
	lvm_i8254_timer_fired(b);
	CHECK_EQ_U64(pit_irq[1].edges, 1);
	CHECK_EQ_U64(pit_irq[1].level, 0);
	CHECK_HOSTILE(pl, pit_fresh(), pit_try, pit_drop);
	free(pl.p);
	lvm_i8254_free(a);
	lvm_i8254_free(b);
}

static void test_i8254_one_shot(void)
{
	/* Mode 0 before terminal count: the rest of the count, line low. */
	struct lvm_i8254 *a = pit_new(0, 1000000000ull);
	pit_out(a, 0x43, 0x30);
	pit_out(a, 0x40, 0x00);
	pit_out(a, 0x40, 0x10);  /* 4096 ticks: ~3.4 ms */
	pit_clock[0].now += 1000000;
	struct payload pl = save_i8254(a);
	struct lvm_i8254 *b = pit_new(1, 3000000000ull);
	CHECK(load_i8254(b, pl.p, pl.n) == 0);
	uint64_t left = pit_clock[1].deadline - pit_clock[1].now;
	CHECK(left > 2431000 && left < 2434000);
	CHECK_EQ_U64(pit_clock[1].period, 0);
	CHECK_EQ_U64(pit_irq[1].level, 0);
	free(pl.p);
	lvm_i8254_free(b);

	/* After terminal count: OUT high holds IRQ0 up, nothing armed. */
	pit_clock[0].now += 5000000;
	lvm_i8254_timer_fired(a);
	CHECK_EQ_U64(pit_irq[0].level, 1);
	pl = save_i8254(a);
	b = pit_new(1, 3000000000ull);
	CHECK(load_i8254(b, pl.p, pl.n) == 0);
	CHECK_EQ_U64(pit_irq[1].level, 1);
	CHECK_EQ_U64(pit_clock[1].deadline, 0);
	pit_out(a, 0x43, 0xe2);
	pit_out(b, 0x43, 0xe2);
	CHECK_EQ_U64(pit_in(b, 0x40), pit_in(a, 0x40)); /* status: OUT high */
	free(pl.p);
	lvm_i8254_free(a);
	lvm_i8254_free(b);
}

static void test_i8254_refused(void)
{
	struct lvm_i8254 *a = pit_fresh();
	struct payload pl = save_i8254(a);
	lvm_i8254_free(a);
	/* Each channel: reload u32, mode, rw, bcd, 8 flags, write_lsb, latch u16, status,
	 * ticks u64, ns u64. */
	enum { CH = 4 + 3 + 8 + 1 + 2 + 1 + 8 + 8 };
	CHECK_EQ_U64(pl.n, 3 * CH + 2);
	static const struct { size_t at; uint8_t v; const char *why; } bad[] = {
		{ 2, 0, "reload value 0" }, { 2, 2, "reload value 131072" },
		{ 4, 6, "mode 6" }, { 5, 0, "access mode 0" }, { 6, 2, "BCD" },
		{ 7 + 1, 1, "counts without a count" }, { 7 + 2, 0, "gate is low" },
		{ CH + 7 + 2, 0, "channel 1's gate" }, { 7 + 3, 5, "flag" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *m = malloc(pl.n);
		memcpy(m, pl.p, pl.n);
		m[bad[i].at] = bad[i].v;
		struct lvm_state_writer w;
		build_begin(&w);
		lvm_state_put_bytes(&w, m, pl.n);
		free(m);
		CHECK_REFUSED(w, pit_fresh(), pit_try, pit_drop, bad[i].why);
	}
	/* Channel 0 in mode 1, started: only a gate edge could do that. */
	uint8_t *m = malloc(pl.n);
	memcpy(m, pl.p, pl.n);
	m[4] = 1;
	m[7] = m[8] = 1;
	struct lvm_state_writer w;
	build_begin(&w);
	lvm_state_put_bytes(&w, m, pl.n);
	free(m);
	CHECK_REFUSED(w, pit_fresh(), pit_try, pit_drop, "without a gate edge");
	free(pl.p);
}

/* ---- lvm_x86_interrupts_save/load on real VMs -------------------------- */

static bool have_kvm(void)
{
	if (access("/dev/kvm", R_OK | W_OK) == 0)
		return true;
	printf("skip: no /dev/kvm\n");
	return false;
}

static struct lvm_vm *new_vm(enum lvm_irqchip_mode mode, bool pit)
{
	struct lvm_vm_options opts = { .mem_size = 16u << 20, .ncpus = 1, .irqchip = mode,
				       .pit = pit };
	struct lvm_vm *vm = lvm_vm_create(&opts);
	if (!vm || lvm_x86_interrupts_attach(vm) < 0) {
		fprintf(stderr, "vm: %s\n", lvm_error());
		check_failures++;
		lvm_vm_destroy(vm);
		return NULL;
	}
	return vm;
}

static void vm_out(struct lvm_vm *vm, uint16_t port, uint8_t v)
{
	CHECK(lvm_bus_dispatch(&vm->pio, port, &v, 1, true));
}

static uint8_t vm_in(struct lvm_vm *vm, uint16_t port)
{
	uint8_t v = 0xee;
	CHECK(lvm_bus_dispatch(&vm->pio, port, &v, 1, false));
	return v;
}

static uint32_t vm_ioapic_rd(struct lvm_vm *vm, uint8_t reg)
{
	uint32_t v = 0;
	CHECK(lvm_bus_dispatch(&vm->mmio, LVM_IOAPIC_ADDR, &reg, 1, true));
	CHECK(lvm_bus_dispatch(&vm->mmio, LVM_IOAPIC_ADDR + 0x10, (uint8_t *)&v, 4, false));
	return v;
}

static void vm_ioapic_wr(struct lvm_vm *vm, uint8_t reg, uint32_t v)
{
	CHECK(lvm_bus_dispatch(&vm->mmio, LVM_IOAPIC_ADDR, &reg, 1, true));
	CHECK(lvm_bus_dispatch(&vm->mmio, LVM_IOAPIC_ADDR + 0x10, (uint8_t *)&v, 4, true));
}

static int save_vm(struct lvm_vm *vm, struct lvm_state_writer *w)
{
	lvm_state_writer_init(w);
	int rc = lvm_x86_interrupts_save(vm, w);
	if (rc == 0)
		rc = lvm_state_finish(w);
	if (rc == 0)
		rc = lvm_state_check(w->buf, w->len);
	return rc;
}

static void test_split_vm_round_trip(void)
{
	if (!have_kvm())
		return;
	struct lvm_vm *a = new_vm(LVM_IRQCHIP_SPLIT, true);
	struct lvm_vm *b = new_vm(LVM_IRQCHIP_SPLIT, true);
	struct lvm_vm *nopit = new_vm(LVM_IRQCHIP_SPLIT, false);
	struct lvm_vm *kern = new_vm(LVM_IRQCHIP_KERNEL, false);
	if (!a || !b || !nopit || !kern)
		goto out;
	CHECK(lvm_x86_pic_bios_state(a) == 0);
	vm_out(a, 0x21, 0xb8);
	lvm_vm_set_irq(a, 4, 1);
	vm_ioapic_wr(a, 0x10 + 2 * 4, 0x10000 | 0x8000 | 0x34); /* masked, level */
	vm_out(a, 0x43, 0x34);
	vm_out(a, 0x40, 0x00);
	vm_out(a, 0x40, 0x80);
	struct lvm_state_writer w;
	CHECK(save_vm(a, &w) == 0);
	CHECK(lvm_state_has_section(w.buf, w.len, "i8259"));
	CHECK(lvm_state_has_section(w.buf, w.len, "ioapic"));
	CHECK(lvm_state_has_section(w.buf, w.len, "i8254"));
	CHECK(lvm_x86_interrupts_load(b, w.buf, w.len) == 0);
	CHECK_EQ_U64(vm_in(b, 0x21), 0xb8);
	CHECK_EQ_U64(vm_in(b, 0xa1), 0xff);
	/* IRR: IR4 (IR0 follows the PIT's ticks, which go on in both) */
	CHECK_EQ_U64(vm_in(b, 0x20) & 0xfe, vm_in(a, 0x20) & 0xfe);
	CHECK_EQ_U64(vm_in(b, 0x20) & 0x10, 0x10);
	for (uint8_t reg = 0; reg < 0x40; reg++)
		CHECK_EQ_U64(vm_ioapic_rd(b, reg), vm_ioapic_rd(a, reg));
	vm_out(a, 0x43, 0xe2);
	vm_out(b, 0x43, 0xe2);
	CHECK_EQ_U64(vm_in(a, 0x40) & 0x7f, 0x34); /* status: mode 2, lobyte/hibyte */
	CHECK_EQ_U64(vm_in(b, 0x40) & 0x7f, 0x34); /* (bit 7, OUT, follows the clock) */

	/* Someone else's machine: a PIT it lacks, the other irqchip mode. */
	CHECK(lvm_x86_interrupts_load(nopit, w.buf, w.len) < 0);
	CHECK(strstr(lvm_error(), "PIT") != NULL);
	CHECK(lvm_x86_interrupts_load(kern, w.buf, w.len) < 0);
	CHECK(strstr(lvm_error(), "irqchip") != NULL);
	/* A PIT missing from the state. */
	struct lvm_state_writer w2;
	CHECK(save_vm(nopit, &w2) == 0);
	CHECK(lvm_x86_interrupts_load(b, w2.buf, w2.len) < 0);
	CHECK(strstr(lvm_error(), "i8254") != NULL);
	lvm_state_writer_free(&w2);
	lvm_state_writer_free(&w);
out:
	lvm_vm_destroy(a);
	lvm_vm_destroy(b);
	lvm_vm_destroy(nopit);
	lvm_vm_destroy(kern);
}

static int get_chip(struct lvm_vm *vm, uint32_t id, struct kvm_irqchip *chip)
{
	*chip = (struct kvm_irqchip){ .chip_id = id };
	return ioctl(vm->vm_fd, KVM_GET_IRQCHIP, chip);
}

/* Rewrites one byte of the kvm_irqchip section and expects a refusal. */
static void check_kernel_refused(struct lvm_vm *vm, const struct lvm_state_writer *good,
				 size_t at, uint8_t v, const char *why)
{
	struct lvm_state_reader r;
	CHECK(lvm_state_section(good->buf, good->len, "kvm_irqchip", &r) == 0);
	size_t off = (size_t)(r.p - good->buf) + at;
	uint8_t *m = malloc(good->len);
	memcpy(m, good->buf, good->len);
	m[off] = v;
	CHECK(lvm_x86_interrupts_load(vm, m, good->len) < 0);
	if (!strstr(lvm_error(), why)) {
		fprintf(stderr, "error '%s' lacks '%s'\n", lvm_error(), why);
		check_failures++;
	}
	free(m);
}

static void test_kernel_vm_round_trip(void)
{
	if (!have_kvm())
		return;
	struct lvm_vm *a = new_vm(LVM_IRQCHIP_KERNEL, true);
	struct lvm_vm *b = new_vm(LVM_IRQCHIP_KERNEL, true);
	struct lvm_vm *split = new_vm(LVM_IRQCHIP_SPLIT, true);
	if (!a || !b || !split)
		goto out;
	CHECK(lvm_x86_pic_bios_state(a) == 0);
	struct kvm_irqchip io;
	CHECK(get_chip(a, KVM_IRQCHIP_IOAPIC, &io) == 0);
	io.chip.ioapic.id = 3;
	io.chip.ioapic.redirtbl[5].bits = 0x8000 | 0x10000 | 0x45;
	CHECK(ioctl(a->vm_fd, KVM_SET_IRQCHIP, &io) == 0);
	struct kvm_pit_state2 pit;
	CHECK(ioctl(a->vm_fd, KVM_GET_PIT2, &pit) == 0);
	pit.channels[2].mode = 3;
	pit.channels[2].rw_mode = 3;
	pit.channels[2].count = 0x1234;
	pit.channels[1].mode = 2;  /* channel 0 stays idle: its ticks would change the PIC */
	pit.channels[1].rw_mode = 1;
	pit.channels[1].count = 18;
	CHECK(ioctl(a->vm_fd, KVM_SET_PIT2, &pit) == 0);

	struct lvm_state_writer w;
	CHECK(save_vm(a, &w) == 0);
	CHECK(lvm_state_has_section(w.buf, w.len, "kvm_irqchip"));
	CHECK(lvm_state_has_section(w.buf, w.len, "kvm_pit"));
	CHECK(lvm_x86_interrupts_load(b, w.buf, w.len) == 0);
	for (uint32_t id = 0; id < 3; id++) {
		struct kvm_irqchip ca, cb;
		CHECK(get_chip(a, id, &ca) == 0 && get_chip(b, id, &cb) == 0);
		CHECK(memcmp(&ca.chip, &cb.chip, sizeof(ca.chip)) == 0);
	}
	struct kvm_irqchip master;
	CHECK(get_chip(b, KVM_IRQCHIP_PIC_MASTER, &master) == 0);
	CHECK_EQ_U64(master.chip.pic.irq_base, 0x08);
	CHECK_EQ_U64(master.chip.pic.imr, 0xfb);
	struct kvm_pit_state2 pb;
	CHECK(ioctl(b->vm_fd, KVM_GET_PIT2, &pb) == 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_U64(pb.channels[i].count, pit.channels[i].count ? pit.channels[i].count : 0x10000);
		CHECK_EQ_U64(pb.channels[i].mode, pit.channels[i].mode);
		CHECK_EQ_U64(pb.channels[i].rw_mode, pit.channels[i].rw_mode);
		CHECK_EQ_U64(pb.channels[i].gate, pit.channels[i].gate);
	}

	/* Layout: per chip a u32 id then the 512-byte union. */
	check_kernel_refused(b, &w, 0, 7, "chip id 7");
	check_kernel_refused(b, &w, 4 + 5, 0x09, "vector base 0x09"); /* irq_base */
	check_kernel_refused(b, &w, 4 + 4, 9, "priority 9");
	check_kernel_refused(b, &w, 4 + 15, 0x00, "ELCR");             /* elcr_mask */
	check_kernel_refused(b, &w, 2 * 516 + 4 + 2, 0x00, "IOAPIC at"); /* base_address */
	check_kernel_refused(b, &w, 2 * 516 + 4 + 12, 16, "ID 16");
	/* A truncated section. */
	struct lvm_state_writer t;
	lvm_state_writer_init(&t);
	lvm_state_begin(&t, "kvm_irqchip");
	lvm_state_put_u32(&t, KVM_IRQCHIP_PIC_MASTER);
	lvm_state_begin(&t, "kvm_pit");
	CHECK(lvm_state_finish(&t) == 0);
	CHECK(lvm_x86_interrupts_load(b, t.buf, t.len) < 0);
	CHECK(strstr(lvm_error(), "truncated") != NULL);
	lvm_state_writer_free(&t);
	/* A bad PIT mode. */
	struct lvm_state_reader r;
	CHECK(lvm_state_section(w.buf, w.len, "kvm_pit", &r) == 0);
	uint8_t *m = malloc(w.len);
	memcpy(m, w.buf, w.len);
	m[(size_t)(r.p - w.buf) + 24 + 13] = 9; /* channel 1's mode */
	CHECK(lvm_x86_interrupts_load(b, m, w.len) < 0);
	CHECK(strstr(lvm_error(), "mode 9") != NULL);
	free(m);
	CHECK(lvm_x86_interrupts_load(split, w.buf, w.len) < 0);
	CHECK(strstr(lvm_error(), "irqchip = 'kernel'") != NULL);
	lvm_state_writer_free(&w);
out:
	lvm_vm_destroy(a);
	lvm_vm_destroy(b);
	lvm_vm_destroy(split);
}

int main(void)
{
	RUN_TEST(test_serial_round_trip);
	RUN_TEST(test_serial_hostile);
	RUN_TEST(test_i8042);
	RUN_TEST(test_acpi_pm);
	RUN_TEST(test_rtc_cmos);
	RUN_TEST(test_fw_cfg);
	RUN_TEST(test_i8259);
	RUN_TEST(test_ioapic);
	RUN_TEST(test_i8254_periodic_phase);
	RUN_TEST(test_i8254_one_shot);
	RUN_TEST(test_i8254_refused);
	RUN_TEST(test_split_vm_round_trip);
	RUN_TEST(test_kernel_vm_round_trip);
	return CHECK_DONE();
}
