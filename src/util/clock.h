/*
 * The one reading of CLOCK_MONOTONIC the core uses for deadlines, waits
 * and rate limits: it never jumps when the wall clock is set, so a
 * duration computed from two readings is always a real duration.
 */
#ifndef LVM_UTIL_CLOCK_H
#define LVM_UTIL_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds (any origin; only differences mean anything). */
uint64_t lvm_monotonic_ns(void);
/* The same clock in seconds, for reports and scripts that want a number. */
double lvm_monotonic_seconds(void);

#endif
