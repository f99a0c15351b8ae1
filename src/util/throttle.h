/*
 * A device's rate limit (util/ratelimit) shared between its I/O thread,
 * which admits requests, and the control thread, which may change the
 * limits at any time: the bucket plus its own small lock (never held while
 * waiting for anything).  A request larger than a bucket's whole capacity
 * waits until that bucket is full and then empties it, so it is slowed
 * down like the others instead of passing free or never passing.
 */
#ifndef LVM_UTIL_THROTTLE_H
#define LVM_UTIL_THROTTLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/clock.h" /* its users time their waits with lvm_monotonic_ns */
#include "util/ratelimit.h"

struct lvm_throttle {
	pthread_mutex_t lock;
	bool enabled;
	struct lvm_ratelimit rl;
	uint64_t throttled; /* atomic: requests that had to wait */
};

void lvm_throttle_init(struct lvm_throttle *t);
void lvm_throttle_destroy(struct lvm_throttle *t);
/* Sets the limits (NULL buckets: unlimited; both NULL: off).  -1 + lvm_error. */
int lvm_throttle_set(struct lvm_throttle *t, const struct lvm_bucket_config *bytes,
		     const struct lvm_bucket_config *ops);
/* Sets the limits a recipe gave (util/ratelimit.h); a config with neither
 * bandwidth nor ops means no limit (the throttle is switched off).
 * -1 + lvm_error on a bad bucket (a size without a refill time). */
int lvm_throttle_configure(struct lvm_throttle *t, const struct lvm_rate_config *rc);
/* Requests that had to wait so far. */
uint64_t lvm_throttle_count(const struct lvm_throttle *t);
/* Takes one request of `bytes` if the limits allow: returns 0.  Else takes
 * nothing and returns the nanoseconds to wait before asking again. */
uint64_t lvm_throttle_admit(struct lvm_throttle *t, uint64_t bytes);

#endif
