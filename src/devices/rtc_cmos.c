#include "devices/rtc_cmos.h"

#include <string.h>

#include "util/state.h"

#define REG_SECONDS 0x00
#define REG_MINUTES 0x02
#define REG_HOURS 0x04
#define REG_WEEKDAY 0x06
#define REG_DAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define A_UIP 0x80
#define B_UIE 0x10
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_UF 0x10
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
	struct timespec ts;
	rtc->now(&ts);
	rtc->last_uf = ts.tv_sec;
}

int lvm_rtc_cmos_attach(struct lvm_rtc_cmos *rtc, struct lvm_bus *pio,
			const struct lvm_rtc_cmos_info *info)
{
	lvm_rtc_cmos_init(rtc, info);
	return lvm_bus_register(pio, LVM_RTC_PORT, LVM_RTC_PORTS, lvm_rtc_cmos_io, rtc, "rtc-cmos");
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

/* UF once per second since the last read of C; the read clears it. */
static uint8_t read_c(struct lvm_rtc_cmos *rtc)
{
	struct timespec ts;
	rtc->now(&ts);
	uint8_t c = 0;
	if (ts.tv_sec != rtc->last_uf)
		c |= C_UF;
	if ((c & C_UF) && (rtc->cmos[REG_B] & B_UIE))
		c |= C_IRQF;
	rtc->last_uf = ts.tv_sec;
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

static void write_reg(struct lvm_rtc_cmos *rtc, unsigned reg, uint8_t v)
{
	if (is_time_reg(reg))
		write_time(rtc, reg, v);
	else if (reg == REG_A)
		rtc->cmos[REG_A] = v & 0x7f;
	else if (reg != REG_C && reg != REG_D)
		rtc->cmos[reg] = v;
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
	lvm_state_put_u64(w, (uint64_t)rtc->last_uf);
	pthread_mutex_unlock(&rtc->lock);
}

int lvm_rtc_cmos_load(struct lvm_rtc_cmos *rtc, struct lvm_state_reader *r)
{
	uint8_t index = lvm_state_get_u8(r);
	uint8_t cmos[sizeof(rtc->cmos)];
	lvm_state_get_bytes(r, cmos, sizeof(cmos));
	int64_t offset = (int64_t)lvm_state_get_u64(r);
	int64_t last_uf = (int64_t)lvm_state_get_u64(r);
	if (r->failed)
		return -1;
	if (index >= sizeof(cmos))
		return lvm_state_bad(r, "CMOS index 0x%02x is past 0x7f", index);
	if (cmos[REG_A] & A_UIP)
		return lvm_state_bad(r, "register A 0x%02x has UIP stored", cmos[REG_A]);
	if (offset > OFFSET_MAX || offset < -OFFSET_MAX)
		return lvm_state_bad(r, "clock offset %lld s is out of range", (long long)offset);
	pthread_mutex_lock(&rtc->lock);
	rtc->index = index;
	memcpy(rtc->cmos, cmos, sizeof(cmos));
	rtc->offset = offset; /* the guest's clock keeps its distance from the host's */
	rtc->last_uf = last_uf;  /* only compared: any value reads as "a second passed" */
	pthread_mutex_unlock(&rtc->lock);
	return 0; /* no interrupt is ever raised */
}
