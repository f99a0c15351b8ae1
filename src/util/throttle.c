#include "util/throttle.h"

#include <string.h>

void lvm_throttle_init(struct lvm_throttle *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
}

void lvm_throttle_destroy(struct lvm_throttle *t)
{
	pthread_mutex_destroy(&t->lock);
}

int lvm_throttle_set(struct lvm_throttle *t, const struct lvm_bucket_config *bytes,
		     const struct lvm_bucket_config *ops)
{
	pthread_mutex_lock(&t->lock);
	uint64_t now = lvm_monotonic_ns();
	int rc = t->enabled ? lvm_ratelimit_update(&t->rl, bytes, ops, now)
			    : lvm_ratelimit_init(&t->rl, bytes, ops, now);
	if (rc == 0)
		__atomic_store_n(&t->enabled, (bytes && bytes->size) || (ops && ops->size),
				 __ATOMIC_RELAXED);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int lvm_throttle_configure(struct lvm_throttle *t, const struct lvm_rate_config *rc)
{
	return lvm_throttle_set(t, rc->has_bandwidth ? &rc->bandwidth : NULL,
				rc->has_ops ? &rc->ops : NULL);
}

/* A request bigger than the byte bucket can ever hold counts as a full bucket. */
static uint64_t clamp(const struct lvm_bucket *b, uint64_t bytes)
{
	uint64_t most = b->config.size + b->burst;
	return b->config.size && bytes > most ? most : bytes;
}

uint64_t lvm_throttle_admit(struct lvm_throttle *t, uint64_t bytes)
{
	if (!__atomic_load_n(&t->enabled, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&t->lock);
	uint64_t now = lvm_monotonic_ns();
	bytes = clamp(&t->rl.bytes, bytes);
	uint64_t wait = lvm_ratelimit_wait_ns(&t->rl, bytes, now);
	if (wait == 0 && !lvm_ratelimit_consume(&t->rl, bytes, now))
		wait = 1000000; /* cannot happen after wait_ns said 0; retry in 1 ms */
	pthread_mutex_unlock(&t->lock);
	if (wait)
		__atomic_fetch_add(&t->throttled, 1, __ATOMIC_RELAXED);
	return wait;
}

uint64_t lvm_throttle_count(const struct lvm_throttle *t)
{
	return __atomic_load_n(&t->throttled, __ATOMIC_RELAXED);
}
