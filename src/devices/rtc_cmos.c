#include "devices/rtc_cmos.h"

#include <string.h>

#include "devices/rtc_alarm.h"
#include "util/state.h"

#define REG_SECONDS 0x00
#define REG_SECONDS_ALARM 0x01
#define REG_MINUTES 0x02
#define REG_MINUTES_ALARM 0x03
#define REG_HOURS 0x04
#define REG_HOURS_ALARM 0x05
#define REG_WEEKDAY 0x06
#define REG_DAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define A_UIP 0x80
#define A_RATE 0x0f
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10
#define C_FLAGS (C_PF | C_AF | C_UF) /* the enables in B are the same bits */
#define D_VRT 0x80

#define UIP_NS 244000 /* UIP is set this long before the update (datasheet t_BUC) */
#define NS_PER_S 1000000000L
#define KIB 1024ull
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
/* Loaded offsets beyond this many seconds (~34,800 years) are refused:
 * guest writes reach at most year 9999, and gmtime_r must not overflow. */
#define OFFSET_MAX (1ll << 40)

static void realtime(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static void put_units(uint8_t *cmos, unsigned reg, uint64_t units, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		cmos[reg + i] = (uint8_t)(units >> (8 * i));
}

/* Memory size bytes as SeaBIOS reads them from QEMU's CMOS. */
static void fill_memory(uint8_t *cmos, const struct lvm_rtc_cmos_info *info)
{
	uint64_t ext_kib = info->low_ram > MIB ? (info->low_ram - MIB) / KIB : 0;
	if (ext_kib > 0xffff)
		ext_kib = 0xffff;
	put_units(cmos, 0x15, 640, 2);
	put_units(cmos, 0x17, ext_kib, 2);
	put_units(cmos, 0x30, ext_kib, 2);
	uint64_t above16 = info->low_ram > 16 * MIB ? (info->low_ram - 16 * MIB) / (64 * KIB) : 0;
	put_units(cmos, 0x34, above16 > 0xffff ? 0xffff : above16, 2);
	put_units(cmos, 0x5b, info->high_ram / (64 * KIB), 3);
	cmos[0x5f] = (uint8_t)(info->ncpus ? info->ncpus - 1 : 0);
}

void lvm_rtc_cmos_init(struct lvm_rtc_cmos *rtc, const struct lvm_rtc_cmos_info *info)
{
	/* glibc reads the time-zone file the first time any time conversion
	 * runs, gmtime_r included; do it now, on the creating thread, so the
	 * vCPU threads that read the clock never open a file (their seccomp
	 * filter would kill the process for it). */
	tzset();
	memset(rtc, 0, sizeof(*rtc));
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->now = realtime;
	rtc->cmos[REG_A] = 0x26;
	rtc->cmos[REG_B] = B_24H;
	fill_memory(rtc->cmos, info);
	rtc->now(&rtc->last_sync);
}

int lvm_rtc_cmos_attach(struct lvm_rtc_cmos *rtc, struct lvm_bus *pio,
			const struct lvm_rtc_cmos_info *info)
{
	lvm_rtc_cmos_init(rtc, info);
	return lvm_bus_register(pio, LVM_RTC_PORT, LVM_RTC_PORTS, lvm_rtc_cmos_io, rtc, "rtc-cmos");
}

void lvm_rtc_cmos_connect(struct lvm_rtc_cmos *rtc, struct lvm_irq_line irq,
			  void (*on_alarm)(void *), void *opaque)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->irq = irq;
	rtc->on_alarm = on_alarm;
	rtc->opaque = opaque;
	pthread_mutex_unlock(&rtc->lock);
}

static uint8_t encode(const struct lvm_rtc_cmos *rtc, unsigned v)
{
	return (uint8_t)(rtc->cmos[REG_B] & B_DM_BINARY ? v : (v / 10) << 4 | v % 10);
}

static unsigned decode(const struct lvm_rtc_cmos *rtc, uint8_t v)
{
	return rtc->cmos[REG_B] & B_DM_BINARY ? v : (v >> 4) * 10u + (v & 0xf);
}

static uint8_t encode_hours(const struct lvm_rtc_cmos *rtc, int hour)
{
	if (rtc->cmos[REG_B] & B_24H)
		return encode(rtc, (unsigned)hour);
	unsigned h12 = hour % 12 ? (unsigned)hour % 12 : 12;
	return (uint8_t)(encode(rtc, h12) | (hour >= 12 ? 0x80 : 0));
}

/* The guest's broken-down time now (UTC plus the guest's offset). */
static void guest_time(struct lvm_rtc_cmos *rtc, struct tm *tm, long *nsec)
{
	struct timespec ts;
	rtc->now(&ts);
	time_t t = (time_t)(ts.tv_sec + rtc->offset);
	gmtime_r(&t, tm);
	if (nsec)
		*nsec = ts.tv_nsec;
}

static uint8_t read_time(struct lvm_rtc_cmos *rtc, unsigned reg)
{
	struct tm tm;
	guest_time(rtc, &tm, NULL);
	switch (reg) {
	case REG_SECONDS: return encode(rtc, (unsigned)tm.tm_sec % 60);
	case REG_MINUTES: return encode(rtc, (unsigned)tm.tm_min);
	case REG_HOURS: return encode_hours(rtc, tm.tm_hour);
	case REG_WEEKDAY: return encode(rtc, (unsigned)tm.tm_wday + 1);
	case REG_DAY: return encode(rtc, (unsigned)tm.tm_mday);
	case REG_MONTH: return encode(rtc, (unsigned)tm.tm_mon + 1);
	case REG_YEAR: return encode(rtc, (unsigned)(tm.tm_year + 1900) % 100);
	default: return encode(rtc, (unsigned)(tm.tm_year + 1900) / 100); /* century */
	}
}

static bool is_time_reg(unsigned reg)
{
	return (reg <= REG_YEAR && reg != 1 && reg != 3 && reg != 5) || reg == LVM_RTC_CENTURY;
}

/* ---- register C: updates, alarms and periods --------------------------- */

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void alarm_bytes(const struct lvm_rtc_cmos *rtc, uint8_t out[3])
{
	out[0] = rtc->cmos[REG_SECONDS_ALARM];
	out[1] = rtc->cmos[REG_MINUTES_ALARM];
	out[2] = rtc->cmos[REG_HOURS_ALARM];
}

/* The flags of register C due in (from, to]: UF at each second's update,
 * AF at an update the alarm matches, PF at the end of each period. */
static uint8_t flags_between(const struct lvm_rtc_cmos *rtc, const struct timespec *from,
			     const struct timespec *to)
{
	uint8_t due = 0;
	if (to->tv_sec > from->tv_sec) {
		uint8_t alarm[3];
		alarm_bytes(rtc, alarm);
		due |= C_UF;
		int64_t at = lvm_rtc_next_alarm(alarm, rtc->cmos[REG_B], from->tv_sec + rtc->offset);
		if (at >= 0 && at <= to->tv_sec + rtc->offset)
			due |= C_AF;
	}
	int64_t period = lvm_rtc_period_ticks(rtc->cmos[REG_A]);
	if (period && lvm_rtc_ticks(to) / period > lvm_rtc_ticks(from) / period)
		due |= C_PF;
	return due;
}

/* IRQ 8 follows IRQF: a flag whose interrupt register B enables. */
static void update_irq(struct lvm_rtc_cmos *rtc)
{
	bool level = (rtc->c_flags & rtc->cmos[REG_B] & C_FLAGS) != 0;
	if (level != rtc->irq_level) {
		rtc->irq_level = level;
		lvm_irq_set(&rtc->irq, level);
	}
}

/* Gathers the flags due up to `now` (lock held); an alarm match with AIE
 * set is the chipset's wake event (on_alarm), each time. */
static void sync(struct lvm_rtc_cmos *rtc, const struct timespec *now)
{
	if (!before(&rtc->last_sync, now)) {
		rtc->last_sync = *now; /* the host clock went back: nothing is due */
		return;
	}
	uint8_t due = flags_between(rtc, &rtc->last_sync, now);
	rtc->last_sync = *now;
	rtc->c_flags |= due;
	update_irq(rtc);
	if ((due & C_AF) && (rtc->cmos[REG_B] & B_AIE) && rtc->on_alarm)
		rtc->on_alarm(rtc->opaque);
}

static void earliest(int64_t *best, int64_t ns)
{
	if (ns >= 0 && (*best < 0 || ns < *best))
		*best = ns;
}

/* When an enabled interrupt is next due (host CLOCK_REALTIME ns), or -1.
 * While IRQ 8 is high only the alarm matters: its wake event comes at
 * each match, while updates and periods wait for C to be read. */
static int64_t next_deadline(const struct lvm_rtc_cmos *rtc, const struct timespec *now)
{
	uint8_t b = rtc->cmos[REG_B];
	int64_t best = -1;
	if (b & B_AIE) {
		uint8_t alarm[3];
		alarm_bytes(rtc, alarm);
		int64_t at = lvm_rtc_next_alarm(alarm, b, now->tv_sec + rtc->offset);
		if (at >= 0)
			earliest(&best, (at - rtc->offset) * NS_PER_S);
	}
	if (rtc->irq_level)
		return best;
	if (b & B_UIE)
		earliest(&best, ((int64_t)now->tv_sec + 1) * NS_PER_S);
	int64_t period = lvm_rtc_period_ticks(rtc->cmos[REG_A]);
	if ((b & B_PIE) && period)
		earliest(&best, lvm_rtc_ticks_to_ns((lvm_rtc_ticks(now) / period + 1) * period));
	return best;
}

static void rearm(struct lvm_rtc_cmos *rtc, const struct timespec *now)
{
	if (rtc->arm)
		rtc->arm(rtc->arm_ctx, next_deadline(rtc, now));
}

void lvm_rtc_cmos_set_arm(struct lvm_rtc_cmos *rtc, void (*arm)(void *, int64_t), void *ctx)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->arm = arm;
	rtc->arm_ctx = ctx;
	struct timespec now;
	rtc->now(&now);
	rearm(rtc, &now);
	pthread_mutex_unlock(&rtc->lock);
}

void lvm_rtc_cmos_tick(struct lvm_rtc_cmos *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	struct timespec now;
	rtc->now(&now);
	sync(rtc, &now);
	rearm(rtc, &now);
	pthread_mutex_unlock(&rtc->lock);
}

/* Reading C returns the flags (and IRQF) and clears them: IRQ 8 drops. */
static uint8_t read_c(struct lvm_rtc_cmos *rtc)
{
	struct timespec now;
	rtc->now(&now);
	sync(rtc, &now);
	uint8_t c = rtc->c_flags;
	if (c & rtc->cmos[REG_B] & C_FLAGS)
		c |= C_IRQF;
	rtc->c_flags = 0;
	update_irq(rtc);
	rearm(rtc, &now);
	return c;
}

static uint8_t read_reg(struct lvm_rtc_cmos *rtc, unsigned reg)
{
	long nsec;
	struct tm tm;
	if (is_time_reg(reg))
		return read_time(rtc, reg);
	switch (reg) {
	case REG_A:
		guest_time(rtc, &tm, &nsec);
		return (uint8_t)((rtc->cmos[REG_A] & 0x7f) | (nsec >= NS_PER_S - UIP_NS ? A_UIP : 0));
	case REG_C: return read_c(rtc);
	case REG_D: return D_VRT;
	default: return rtc->cmos[reg];
	}
}

/* A time register written: the clock continues from the time it now says. */
static void write_time(struct lvm_rtc_cmos *rtc, unsigned reg, uint8_t v)
{
	struct tm tm;
	guest_time(rtc, &tm, NULL);
	unsigned d = decode(rtc, reg == REG_HOURS ? (uint8_t)(v & 0x7f) : v);
	switch (reg) {
	case REG_SECONDS: tm.tm_sec = (int)d; break;
	case REG_MINUTES: tm.tm_min = (int)d; break;
	case REG_HOURS:
		tm.tm_hour = rtc->cmos[REG_B] & B_24H ? (int)d : (int)(d % 12) + (v & 0x80 ? 12 : 0);
		break;
	case REG_WEEKDAY: return; /* follows from the date */
	case REG_DAY: tm.tm_mday = (int)d; break;
	case REG_MONTH: tm.tm_mon = (int)d - 1; break;
	case REG_YEAR: tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + (int)d - 1900; break;
	default: tm.tm_year = (int)d * 100 + (tm.tm_year + 1900) % 100 - 1900; break;
	}
	struct timespec ts;
	rtc->now(&ts);
	rtc->offset = (int64_t)timegm(&tm) - ts.tv_sec;
}

/* Registers the interrupts depend on: the time, the alarm, A and B. */
static bool affects_events(unsigned reg)
{
	return is_time_reg(reg) || reg == REG_SECONDS_ALARM || reg == REG_MINUTES_ALARM ||
	       reg == REG_HOURS_ALARM || reg == REG_A || reg == REG_B;
}

static void write_reg(struct lvm_rtc_cmos *rtc, unsigned reg, uint8_t v)
{
	struct timespec now;
	bool events = affects_events(reg);
	if (events) { /* what was due under the old values stays due */
		rtc->now(&now);
		sync(rtc, &now);
	}
	if (is_time_reg(reg))
		write_time(rtc, reg, v);
	else if (reg == REG_A)
		rtc->cmos[REG_A] = v & 0x7f;
	else if (reg != REG_C && reg != REG_D)
		rtc->cmos[reg] = v;
	if (events) {
		update_irq(rtc); /* B may enable a flag already set */
		rearm(rtc, &now);
	}
}

void lvm_rtc_cmos_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
	struct lvm_rtc_cmos *rtc = opaque;
	if (size != 1)
		return; /* byte ports */
	pthread_mutex_lock(&rtc->lock);
	if (offset == 0 && is_write)
		rtc->index = data[0] & 0x7f; /* bit 7: NMI mask, ignored */
	else if (offset == 0)
		; /* the index port is write-only: reads see the bus's 0xff */
	else if (is_write)
		write_reg(rtc, rtc->index, data[0]);
	else
		data[0] = read_reg(rtc, rtc->index);
	pthread_mutex_unlock(&rtc->lock);
}

void lvm_rtc_cmos_save(const struct lvm_rtc_cmos *crtc, struct lvm_state_writer *w)
{
	struct lvm_rtc_cmos *rtc = (struct lvm_rtc_cmos *)crtc; /* only for the lock */
	pthread_mutex_lock(&rtc->lock);
	lvm_state_put_u8(w, rtc->index);
	lvm_state_put_bytes(w, rtc->cmos, sizeof(rtc->cmos));
	lvm_state_put_u64(w, (uint64_t)rtc->offset);
	lvm_state_put_u64(w, (uint64_t)rtc->last_sync.tv_sec);
	lvm_state_put_u8(w, rtc->c_flags);
	pthread_mutex_unlock(&rtc->lock);
}

int lvm_rtc_cmos_load(struct lvm_rtc_cmos *rtc, struct lvm_state_reader *r)
{
	uint8_t index = lvm_state_get_u8(r);
	uint8_t cmos[sizeof(rtc->cmos)];
	lvm_state_get_bytes(r, cmos, sizeof(cmos));
	int64_t offset = (int64_t)lvm_state_get_u64(r);
	(void)lvm_state_get_u64(r); /* the saving host's second: informative */
	uint8_t c_flags = lvm_state_get_u8(r);
	if (r->failed)
		return -1;
	if (index >= sizeof(cmos))
		return lvm_state_bad(r, "CMOS index 0x%02x is past 0x7f", index);
	if (cmos[REG_A] & A_UIP)
		return lvm_state_bad(r, "register A 0x%02x has UIP stored", cmos[REG_A]);
	if (offset > OFFSET_MAX || offset < -OFFSET_MAX)
		return lvm_state_bad(r, "clock offset %lld s is out of range", (long long)offset);
	if (c_flags & ~C_FLAGS)
		return lvm_state_bad(r, "register C flags 0x%02x have bits outside 0x%02x", c_flags,
				     C_FLAGS);
	pthread_mutex_lock(&rtc->lock);
	rtc->index = index;
	memcpy(rtc->cmos, cmos, sizeof(cmos));
	rtc->offset = offset; /* the guest's clock keeps its distance from the host's */
	rtc->c_flags = c_flags;
	rtc->now(&rtc->last_sync); /* the time spent saved is not replayed */
	update_irq(rtc);
	rearm(rtc, &rtc->last_sync);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}
