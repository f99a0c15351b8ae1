/*
 * The host timer behind the i8254's channel 0: a CLOCK_MONOTONIC timerfd
 * served by a thread of its own, which calls lvm_i8254_timer_fired on each
 * expiry (several expiries read at once count as one: a late tick is
 * coalesced, not replayed).  The thread blocks every signal.
 */
#ifndef LVM_DEVICES_I8254_TIMER_H
#define LVM_DEVICES_I8254_TIMER_H

#include "devices/i8254.h"

struct lvm_i8254_timer;

/* NULL + lvm_fail on error.  The clock is valid from here on. */
struct lvm_i8254_timer *lvm_i8254_timer_new(void);
struct lvm_i8254_clock lvm_i8254_timer_clock(struct lvm_i8254_timer *t);
/* Starts the thread that delivers expiries to `pit`. */
int lvm_i8254_timer_start(struct lvm_i8254_timer *t, struct lvm_i8254 *pit);
/* Stops and joins the thread; free it before the PIT. */
void lvm_i8254_timer_free(struct lvm_i8254_timer *t);

#endif
