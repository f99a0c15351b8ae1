/*
 * The MC146818's time arithmetic for its interrupts (devices/rtc_cmos.h):
 * when the alarm next matches and when the periodic interrupt next falls.
 * Pure functions of register values and times, so they can be tested
 * without a clock.
 */
#ifndef LVM_DEVICES_RTC_ALARM_H
#define LVM_DEVICES_RTC_ALARM_H

#include <stdint.h>
#include <time.h>

#define LVM_RTC_TIME_BASE_HZ 32768 /* the divider's input: periods count its ticks */

/*
 * The first second after `after` (seconds since the epoch, UTC, the clock
 * the time registers show) whose update makes the alarm match: alarm[0],
 * [1], [2] are registers 0x01, 0x03 and 0x05 as the guest wrote them,
 * compared byte for byte with the time registers in the format register B
 * (`reg_b`: DM, 24/12) gives them; a byte of 0xc0-0xff matches anything.
 * -1 when it never matches (a byte no time register can hold, such as
 * seconds 0x75, or hour 13 in 12-hour format).
 */
int64_t lvm_rtc_next_alarm(const uint8_t alarm[3], uint8_t reg_b, int64_t after);
/* The periodic interrupt's period for register A (its RS3-RS0 bits), in
 * ticks of the 32.768 kHz time base; 0 when the rate selects none. */
uint32_t lvm_rtc_period_ticks(uint8_t reg_a);
/* Ticks of the time base since the epoch at `ts` (rounded down), and the
 * time of a tick count in ns since the epoch (rounded up). */
int64_t lvm_rtc_ticks(const struct timespec *ts);
int64_t lvm_rtc_ticks_to_ns(int64_t ticks);

#endif
