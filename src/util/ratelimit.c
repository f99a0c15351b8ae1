#include "util/ratelimit.h"

#include <string.h>

#include "util/error.h"

static int check(const struct lvm_bucket_config *c, const char *name)
{
	if (c && c->size > 0 && c->refill_ms == 0)
		return lvm_fail("rate limit: %s: a size needs a refill time (refill_ms > 0)", name);
	if (c && c->refill_ms > UINT64_MAX / 1000000u)
		return lvm_fail("rate limit: %s: refill_ms is too large", name);
	return 0;
}

static void bucket_set(struct lvm_bucket *b, const struct lvm_bucket_config *c, uint64_t now_ns,
		       bool fresh)
{
	struct lvm_bucket_config none = { 0 };
	b->config = c ? *c : none;
	if (fresh) {
		b->tokens = b->config.size;
		b->burst = b->config.one_time_burst;
		b->remainder = 0;
	} else if (b->tokens > b->config.size) {
		b->tokens = b->config.size;
	}
	b->last_ns = now_ns;
}

int lvm_ratelimit_init(struct lvm_ratelimit *rl, const struct lvm_bucket_config *bytes,
		       const struct lvm_bucket_config *ops, uint64_t now_ns)
{
	memset(rl, 0, sizeof(*rl));
	if (check(bytes, "bandwidth") < 0 || check(ops, "ops") < 0)
		return -1;
	bucket_set(&rl->bytes, bytes, now_ns, true);
	bucket_set(&rl->ops, ops, now_ns, true);
	return 0;
}

int lvm_ratelimit_update(struct lvm_ratelimit *rl, const struct lvm_bucket_config *bytes,
			 const struct lvm_bucket_config *ops, uint64_t now_ns)
{
	if (check(bytes, "bandwidth") < 0 || check(ops, "ops") < 0)
		return -1;
	bool bytes_fresh = rl->bytes.config.size == 0, ops_fresh = rl->ops.config.size == 0;
	bucket_set(&rl->bytes, bytes, now_ns, bytes_fresh);
	bucket_set(&rl->ops, ops, now_ns, ops_fresh);
	return 0;
}

/* size tokens per refill_ms: tokens += elapsed_ns * size / (refill_ms * 1e6). */
static void refill(struct lvm_bucket *b, uint64_t now_ns)
{
	if (b->config.size == 0 || now_ns <= b->last_ns)
		return;
	uint64_t period_ns = b->config.refill_ms * 1000000u;
	uint64_t elapsed = now_ns - b->last_ns;
	b->last_ns = now_ns;
	if (elapsed >= period_ns) {
		b->tokens = b->config.size;
		b->remainder = 0;
		return;
	}
	/* elapsed < period_ns, so elapsed * size fits when size < 2^64 / period */
	unsigned __int128 gained = (unsigned __int128)elapsed * b->config.size + b->remainder;
	uint64_t whole = (uint64_t)(gained / period_ns);
	b->remainder = (uint64_t)(gained % period_ns);
	b->tokens = b->config.size - b->tokens <= whole ? b->config.size : b->tokens + whole;
}

static bool has(const struct lvm_bucket *b, uint64_t n)
{
	return b->config.size == 0 || b->tokens + b->burst >= n;
}

static void take(struct lvm_bucket *b, uint64_t n)
{
	if (b->config.size == 0)
		return;
	uint64_t from_burst = n < b->burst ? n : b->burst;
	b->burst -= from_burst;
	b->tokens -= n - from_burst;
}

bool lvm_ratelimit_consume(struct lvm_ratelimit *rl, uint64_t bytes, uint64_t now_ns)
{
	refill(&rl->bytes, now_ns);
	refill(&rl->ops, now_ns);
	if (!has(&rl->bytes, bytes) || !has(&rl->ops, 1))
		return false;
	take(&rl->bytes, bytes);
	take(&rl->ops, 1);
	return true;
}

static uint64_t bucket_wait(struct lvm_bucket *b, uint64_t n)
{
	if (has(b, n))
		return 0;
	if (n > b->config.size + b->burst)
		return UINT64_MAX;
	uint64_t missing = n - b->tokens - b->burst;
	uint64_t period_ns = b->config.refill_ms * 1000000u;
	unsigned __int128 ns = ((unsigned __int128)missing * period_ns - b->remainder +
				b->config.size - 1) / b->config.size;
	return (uint64_t)ns;
}

uint64_t lvm_ratelimit_wait_ns(struct lvm_ratelimit *rl, uint64_t bytes, uint64_t now_ns)
{
	refill(&rl->bytes, now_ns);
	refill(&rl->ops, now_ns);
	uint64_t a = bucket_wait(&rl->bytes, bytes), b = bucket_wait(&rl->ops, 1);
	return a > b ? a : b;
}
