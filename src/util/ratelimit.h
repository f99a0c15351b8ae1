/*
 * A token-bucket rate limiter for device I/O: one bucket for bytes
 * (bandwidth) and one for operations, each optional.  A bucket holds at
 * most `size` tokens and refills `size` tokens every `refill_ms`
 * (continuously); `one_time_burst` extra tokens are spent first and never
 * refill.  A request takes its tokens from both buckets or from neither.
 * Time is passed in by the caller (nanoseconds, any monotonic origin), so
 * the limiter is pure arithmetic and unit-testable.  Not thread-safe: the
 * device that owns it serialises its calls.
 */
#ifndef LVM_UTIL_RATELIMIT_H
#define LVM_UTIL_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct lvm_bucket_config {
	uint64_t size;           /* 0: this bucket is unlimited */
	uint64_t one_time_burst; /* extra tokens available once */
	uint64_t refill_ms;      /* time to refill `size` tokens; > 0 when size > 0 */
};

/* A device's limits as a recipe gives them: rate_limit = { bandwidth = {size=, refill_ms=, burst=}, ops = {...} } */
struct lvm_rate_config {
	bool has_bandwidth, has_ops;
	struct lvm_bucket_config bandwidth, ops;
};

struct lvm_bucket {
	struct lvm_bucket_config config;
	uint64_t tokens;
	uint64_t burst;
	uint64_t last_ns;
	uint64_t remainder; /* sub-token refill carried between updates (token*ns units) */
};

struct lvm_ratelimit {
	struct lvm_bucket bytes;
	struct lvm_bucket ops;
};

/* Starts full.  Fails (lvm_error) on a size without a refill time. */
int lvm_ratelimit_init(struct lvm_ratelimit *rl, const struct lvm_bucket_config *bytes,
		       const struct lvm_bucket_config *ops, uint64_t now_ns);
/* Changes the limits at run time; current tokens are clamped to the new size. */
int lvm_ratelimit_update(struct lvm_ratelimit *rl, const struct lvm_bucket_config *bytes,
			 const struct lvm_bucket_config *ops, uint64_t now_ns);
/* Takes `bytes` bytes and one operation if both buckets allow; else takes nothing. */
bool lvm_ratelimit_consume(struct lvm_ratelimit *rl, uint64_t bytes, uint64_t now_ns);
/* Nanoseconds until a request of `bytes` could pass (0 = now; UINT64_MAX =
 * never, the request is larger than a bucket). */
uint64_t lvm_ratelimit_wait_ns(struct lvm_ratelimit *rl, uint64_t bytes, uint64_t now_ns);

#endif
