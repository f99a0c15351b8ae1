#include "devices/rtc_alarm.h"

#include <stdbool.h>

#define DAY 86400
#define NS_PER_S 1000000000ll
#define ALARM_ANY 0xc0 /* bits 7-6 set: "don't care" (MC146818A, alarm registers) */
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define ANY (-1)

/* A BCD or binary byte as a number; -1 for a BCD digit above 9. */
static int decode(uint8_t v, bool binary)
{
	if (binary)
		return v;
	if ((v & 0x0f) > 9 || (v >> 4) > 9)
		return -1;
	return (v >> 4) * 10 + (v & 0x0f);
}

/* An alarm byte as the value it waits for: ANY, or -2 when no time
 * register can hold it (then the alarm never matches). */
static int want_field(uint8_t v, bool binary, int limit)
{
	if ((v & ALARM_ANY) == ALARM_ANY)
		return ANY;
	int d = decode(v, binary);
	return d >= 0 && d < limit ? d : -2;
}

/* The hours byte: 24-hour, or 12-hour with bit 7 for PM (1..12). */
static int want_hour(uint8_t v, uint8_t reg_b)
{
	bool binary = reg_b & B_DM_BINARY;
	if ((v & ALARM_ANY) == ALARM_ANY)
		return ANY;
	if (reg_b & B_24H)
		return want_field(v, binary, 24);
	int h12 = decode((uint8_t)(v & 0x7f), binary);
	if (h12 < 1 || h12 > 12)
		return -2;
	return h12 % 12 + (v & 0x80 ? 12 : 0);
}

int64_t lvm_rtc_next_alarm(const uint8_t alarm[3], uint8_t reg_b, int64_t after)
{
	bool binary = reg_b & B_DM_BINARY;
	int want_s = want_field(alarm[0], binary, 60), want_m = want_field(alarm[1], binary, 60);
	int want_h = want_hour(alarm[2], reg_b);
	if (want_s == -2 || want_m == -2 || want_h == -2)
		return -1;
	/* Jump to the next hour, minute or second that can match: a few dozen
	 * steps at most (24 hours, then 60 minutes, then the second). */
	int64_t s = after + 1;
	for (int i = 0; i < 512; i++) {
		int64_t tod = ((s % DAY) + DAY) % DAY;
		int h = (int)(tod / 3600), m = (int)(tod / 60 % 60), sec = (int)(tod % 60);
		if (want_h != ANY && h != want_h)
			s += 3600 - tod % 3600;
		else if (want_m != ANY && m != want_m)
			s += 60 - sec;
		else if (want_s != ANY && sec != want_s)
			s += want_s > sec ? want_s - sec : 60 - sec + want_s;
		else
			return s;
	}
	return -1;
}

uint32_t lvm_rtc_period_ticks(uint8_t reg_a)
{
	unsigned rate = reg_a & 0x0f;
	if (rate == 0)
		return 0;
	/* Rates 1 and 2 are the 256 and 128 Hz of the slower time bases
	 * (MC146818A table 3): 3.90625 and 7.8125 ms. */
	unsigned code = rate <= 2 ? rate + 7 : rate;
	return 1u << (code - 1);
}

int64_t lvm_rtc_ticks(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * LVM_RTC_TIME_BASE_HZ +
	       (int64_t)ts->tv_nsec * LVM_RTC_TIME_BASE_HZ / NS_PER_S;
}

int64_t lvm_rtc_ticks_to_ns(int64_t ticks)
{
	int64_t sec = ticks / LVM_RTC_TIME_BASE_HZ, rem = ticks % LVM_RTC_TIME_BASE_HZ;
	return sec * NS_PER_S + (rem * NS_PER_S + LVM_RTC_TIME_BASE_HZ - 1) / LVM_RTC_TIME_BASE_HZ;
}
