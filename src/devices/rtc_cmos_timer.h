/*
 * The host timer behind the RTC's interrupts (devices/rtc_cmos.h): a
 * CLOCK_REALTIME timerfd (the RTC counts the host's wall clock) armed at
 * the deadline the RTC asks for, served by a thread of its own that calls
 * lvm_rtc_cmos_tick.  The RTC re-arms it from whichever thread changes its
 * registers (vCPU threads may call timerfd_settime).  The thread blocks
 * every signal and runs under the I/O threads' seccomp filter.
 */
#ifndef LVM_DEVICES_RTC_CMOS_TIMER_H
#define LVM_DEVICES_RTC_CMOS_TIMER_H

#include "devices/rtc_cmos.h"

struct lvm_vm;
struct lvm_rtc_cmos_timer;

/* Starts serving `rtc` (its `arm` hook is set); `vm` is stopped if the
 * thread cannot install its seccomp filter.  NULL + lvm_error. */
struct lvm_rtc_cmos_timer *lvm_rtc_cmos_timer_start(struct lvm_rtc_cmos *rtc, struct lvm_vm *vm);
/* Unhooks the RTC, stops and joins the thread (NULL is fine). */
void lvm_rtc_cmos_timer_stop(struct lvm_rtc_cmos_timer *t);

#endif
