/* The token-bucket rate limiter: bandwidth, ops/s, burst, run-time updates. */
#include "check.h"
#include "util/ratelimit.h"

#define MS 1000000ull

static void test_unlimited(void)
{
	struct lvm_ratelimit rl;
	CHECK(lvm_ratelimit_init(&rl, NULL, NULL, 0) == 0);
	for (int i = 0; i < 1000; i++)
		CHECK(lvm_ratelimit_consume(&rl, 1 << 20, 0));
	CHECK_EQ_U64(lvm_ratelimit_wait_ns(&rl, 1 << 30, 0), 0);
}

static void test_bandwidth(void)
{
	struct lvm_ratelimit rl;
	struct lvm_bucket_config bw = { .size = 1000, .refill_ms = 100 }; /* 10000 B/s */
	CHECK(lvm_ratelimit_init(&rl, &bw, NULL, 0) == 0);
	CHECK(lvm_ratelimit_consume(&rl, 600, 0));
	CHECK(!lvm_ratelimit_consume(&rl, 600, 0)); /* 400 left */
	CHECK(lvm_ratelimit_consume(&rl, 400, 0));
	CHECK(!lvm_ratelimit_consume(&rl, 1, 0));
	CHECK_EQ_U64(lvm_ratelimit_wait_ns(&rl, 500, 0), 50 * MS); /* 500 B at 10 B/ms */
	CHECK(!lvm_ratelimit_consume(&rl, 500, 49 * MS));
	CHECK(lvm_ratelimit_consume(&rl, 500, 50 * MS));
	CHECK_EQ_U64(lvm_ratelimit_wait_ns(&rl, 2000, 50 * MS), UINT64_MAX); /* never fits */
	/* a long idle spell refills to the size, no more */
	CHECK(lvm_ratelimit_consume(&rl, 1000, 10000 * MS));
	CHECK(!lvm_ratelimit_consume(&rl, 1, 10000 * MS));
}

static void test_sub_token_refill_accumulates(void)
{
	struct lvm_ratelimit rl;
	struct lvm_bucket_config ops = { .size = 3, .refill_ms = 1000 }; /* 3 ops/s */
	CHECK(lvm_ratelimit_init(&rl, NULL, &ops, 0) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(lvm_ratelimit_consume(&rl, 0, 0));
	CHECK(!lvm_ratelimit_consume(&rl, 0, 0));
	/* 1/3 s in 100 ms steps: tokens come from the carried remainder */
	uint64_t t = 0;
	int passed = 0;
	for (int i = 0; i < 10; i++) {
		t += 100 * MS;
		passed += lvm_ratelimit_consume(&rl, 0, t);
	}
	CHECK(passed == 3);
}

static void test_ops_and_bytes_together(void)
{
	struct lvm_ratelimit rl;
	struct lvm_bucket_config bw = { .size = 100, .refill_ms = 1000 };
	struct lvm_bucket_config ops = { .size = 2, .refill_ms = 1000 };
	CHECK(lvm_ratelimit_init(&rl, &bw, &ops, 0) == 0);
	CHECK(lvm_ratelimit_consume(&rl, 10, 0));
	CHECK(lvm_ratelimit_consume(&rl, 10, 0));
	CHECK(!lvm_ratelimit_consume(&rl, 10, 0)); /* out of ops ... */
	CHECK_EQ_U64(rl.bytes.tokens, 80);        /* ... and no bytes taken for it */
	CHECK_EQ_U64(lvm_ratelimit_wait_ns(&rl, 10, 0), 500 * MS);
}

static void test_one_time_burst(void)
{
	struct lvm_ratelimit rl;
	struct lvm_bucket_config bw = { .size = 100, .one_time_burst = 1000, .refill_ms = 1000 };
	CHECK(lvm_ratelimit_init(&rl, &bw, NULL, 0) == 0);
	CHECK(lvm_ratelimit_consume(&rl, 1050, 0));
	CHECK_EQ_U64(rl.bytes.burst, 0);
	CHECK_EQ_U64(rl.bytes.tokens, 50);
	CHECK(lvm_ratelimit_consume(&rl, 100, 2000 * MS));
	CHECK(!lvm_ratelimit_consume(&rl, 1, 2000 * MS)); /* the burst never refills */
}

static void test_update_at_run_time(void)
{
	struct lvm_ratelimit rl;
	struct lvm_bucket_config big = { .size = 1000, .refill_ms = 1000 };
	struct lvm_bucket_config small = { .size = 10, .refill_ms = 1000 };
	struct lvm_bucket_config bad = { .size = 10, .refill_ms = 0 };
	CHECK(lvm_ratelimit_init(&rl, &big, NULL, 0) == 0);
	CHECK(lvm_ratelimit_update(&rl, &small, NULL, 0) == 0);
	CHECK_EQ_U64(rl.bytes.tokens, 10);
	CHECK(!lvm_ratelimit_consume(&rl, 11, 0));
	CHECK(lvm_ratelimit_update(&rl, &bad, NULL, 0) < 0);
	CHECK(lvm_ratelimit_init(&rl, &bad, NULL, 0) < 0);
	CHECK(lvm_ratelimit_update(&rl, NULL, NULL, 0) == 0); /* lift the limit */
	CHECK(lvm_ratelimit_consume(&rl, 1 << 30, 0));
}

int main(void)
{
	test_unlimited();
	test_bandwidth();
	test_sub_token_refill_accumulates();
	test_ops_and_bytes_together();
	test_one_time_burst();
	test_update_at_run_time();
	return check_failures ? 1 : 0;
}
