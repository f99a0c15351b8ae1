/* The virtio admission gate: filter verdicts, delays, resets while the
 * filter runs, the throttle, and the transport lock around the filter. */
#include <errno.h>
#include <time.h>

#include "check.h"
#include "devices/virtio/gate.h"

#define MS 1000000ull

/* A filter that answers what it is told to and checks the locking contract. */
struct fake {
	struct lvm_filter filter;
	struct lvm_filter_result answer;
	struct lvm_gate *gate;
	pthread_mutex_t *lock;
	bool reset_during_check; /* the driver resets the device meanwhile */
	int calls, described;
	bool lock_was_free;      /* the gate dropped the transport lock */
	struct lvm_filter_request seen;
};

static void fake_check(void *opaque, const struct lvm_filter_request *req,
		       struct lvm_filter_result *result)
{
	struct fake *f = opaque;
	f->calls++;
	f->seen = *req;
	f->lock_was_free = pthread_mutex_trylock(f->lock) == 0;
	if (f->lock_was_free)
		pthread_mutex_unlock(f->lock);
	if (f->reset_during_check) { /* as a vCPU would: under the transport lock */
		pthread_mutex_lock(f->lock);
		lvm_gate_reset(f->gate);
		pthread_mutex_unlock(f->lock);
	}
	*result = f->answer;
}

static bool fake_describe(void *arg, struct lvm_filter_request *req)
{
	struct fake *f = arg;
	f->described++;
	*req = (struct lvm_filter_request){ .op = LVM_FILTER_WRITE, .sector = 8, .length = 4096 };
	return true;
}

static bool malformed(void *arg, struct lvm_filter_request *req)
{
	(void)arg;
	(void)req;
	return false;
}

struct rig {
	pthread_mutex_t lock;
	struct lvm_throttle throttle;
	struct lvm_gate gate;
	struct fake fake;
};

static void rig_init(struct rig *r, enum lvm_filter_verdict verdict, uint32_t delay_ms)
{
	pthread_mutex_init(&r->lock, NULL);
	lvm_throttle_init(&r->throttle);
	lvm_gate_init(&r->gate, &r->throttle);
	r->fake = (struct fake){ .filter = { fake_check, &r->fake },
				 .answer = { verdict, delay_ms },
				 .gate = &r->gate, .lock = &r->lock };
	lvm_gate_set_filter(&r->gate, &r->fake.filter);
}

static void rig_destroy(struct rig *r)
{
	lvm_throttle_destroy(&r->throttle);
	pthread_mutex_destroy(&r->lock);
}

/* One admit with the transport lock held, as a device calls it; checks the
 * lock is held again on return. */
static enum lvm_gate_status admit(struct rig *r, uint64_t *wait)
{
	pthread_mutex_lock(&r->lock);
	enum lvm_gate_status s = lvm_gate_admit(&r->gate, &r->lock, fake_describe, &r->fake, wait);
	CHECK(pthread_mutex_trylock(&r->lock) == EBUSY);
	pthread_mutex_unlock(&r->lock);
	return s;
}

/* A new 4 KiB request enters the gate and asks to go. */
static enum lvm_gate_status next_request(struct rig *r, uint64_t *wait)
{
	lvm_gate_begin(&r->gate, 4096);
	return admit(r, wait);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void test_no_filter_is_the_c_path(void)
{
	struct rig r;
	rig_init(&r, LVM_FILTER_IOERR, 0);
	lvm_gate_set_filter(&r.gate, NULL);
	uint64_t wait = 1;
	lvm_gate_begin(&r.gate, 512);
	CHECK(admit(&r, &wait) == LVM_GATE_GO);
	CHECK_EQ_U64(wait, 0);
	CHECK(r.fake.described == 0); /* nothing is copied out without a filter */
	CHECK(r.fake.calls == 0);
	rig_destroy(&r);
}

static void test_allow_asks_once_without_the_lock(void)
{
	struct rig r;
	rig_init(&r, LVM_FILTER_ALLOW, 0);
	uint64_t wait;
	CHECK(next_request(&r, &wait) == LVM_GATE_GO);
	CHECK(r.fake.calls == 1);
	CHECK(r.fake.lock_was_free);
	CHECK(r.fake.seen.op == LVM_FILTER_WRITE);
	CHECK_EQ_U64(r.fake.seen.sector, 8);
	CHECK(admit(&r, &wait) == LVM_GATE_GO); /* same request: not asked again */
	CHECK(r.fake.calls == 1);
	CHECK(next_request(&r, &wait) == LVM_GATE_GO); /* the next one is asked */
	CHECK(r.fake.calls == 2);
	rig_destroy(&r);
}

static void test_refusals_complete_with_the_verdict(void)
{
	static const enum lvm_filter_verdict refused[] = { LVM_FILTER_IOERR, LVM_FILTER_UNSUPP,
							   LVM_FILTER_DROP };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct rig r;
		rig_init(&r, refused[i], 0);
		uint64_t wait = 1;
		CHECK(next_request(&r, &wait) == LVM_GATE_REFUSED);
		CHECK(r.gate.verdict == refused[i]);
		CHECK_EQ_U64(wait, 0);
		rig_destroy(&r);
	}
}

static void test_malformed_request_is_not_asked(void)
{
	struct rig r;
	rig_init(&r, LVM_FILTER_IOERR, 0);
	uint64_t wait;
	lvm_gate_begin(&r.gate, 0);
	pthread_mutex_lock(&r.lock);
	CHECK(lvm_gate_admit(&r.gate, &r.lock, malformed, NULL, &wait) == LVM_GATE_GO);
	pthread_mutex_unlock(&r.lock);
	CHECK(r.fake.calls == 0);
	rig_destroy(&r);
}

static void test_delay_returns_the_wait(void)
{
	struct rig r;
	rig_init(&r, LVM_FILTER_DELAY, 30);
	uint64_t wait;
	CHECK(next_request(&r, &wait) == LVM_GATE_WAIT);
	CHECK(wait > 0 && wait <= 30 * MS);
	sleep_ns(wait + MS);
	CHECK(admit(&r, &wait) == LVM_GATE_GO);
	CHECK_EQ_U64(wait, 0);
	CHECK(r.fake.calls == 1); /* the delay was not asked for twice */
	rig_destroy(&r);
}

static void test_reset_while_the_filter_runs(void)
{
	struct rig r;
	rig_init(&r, LVM_FILTER_ALLOW, 0);
	r.fake.reset_during_check = true;
	uint64_t wait;
	CHECK(next_request(&r, &wait) == LVM_GATE_GONE);
	/* the device starts over with its next request */
	r.fake.reset_during_check = false;
	CHECK(next_request(&r, &wait) == LVM_GATE_GO);
	CHECK(r.fake.calls == 2);
	rig_destroy(&r);
}

/* One op per second, one op of burst capacity. */
static void one_op_per_second(struct rig *r)
{
	struct lvm_rate_config rc = { .has_ops = true, .ops = { .size = 1, .refill_ms = 1000 } };
	CHECK(lvm_throttle_configure(&r->throttle, &rc) == 0);
}

static void test_throttle_wait(void)
{
	struct rig r;
	rig_init(&r, LVM_FILTER_ALLOW, 0);
	one_op_per_second(&r);
	uint64_t wait;
	CHECK(next_request(&r, &wait) == LVM_GATE_GO);
	CHECK(next_request(&r, &wait) == LVM_GATE_WAIT);
	CHECK(wait > 0 && wait <= 1000 * MS);
	CHECK(r.fake.calls == 2);
	CHECK(admit(&r, &wait) == LVM_GATE_WAIT); /* still waiting, not asked again */
	CHECK(r.fake.calls == 2);
	CHECK_EQ_U64(__atomic_load_n(&r.throttle.throttled, __ATOMIC_RELAXED), 2);
	struct lvm_rate_config none = { 0 }; /* lifted: the waiting request goes */
	CHECK(lvm_throttle_configure(&r.throttle, &none) == 0);
	CHECK(admit(&r, &wait) == LVM_GATE_GO);
	rig_destroy(&r);
}

/* virtio-net: a frame that passed but found no receive buffer asks again. */
static void test_passed_request_pays_once(void)
{
	struct rig r;
	rig_init(&r, LVM_FILTER_ALLOW, 0);
	one_op_per_second(&r);
	uint64_t wait;
	CHECK(next_request(&r, &wait) == LVM_GATE_GO);
	CHECK(admit(&r, &wait) == LVM_GATE_GO);
	CHECK_EQ_U64(__atomic_load_n(&r.throttle.throttled, __ATOMIC_RELAXED), 0);
	CHECK(next_request(&r, &wait) == LVM_GATE_WAIT); /* the next one pays */
	rig_destroy(&r);
}

static void test_refused_request_costs_no_tokens(void)
{
	struct rig r;
	rig_init(&r, LVM_FILTER_IOERR, 0);
	one_op_per_second(&r);
	uint64_t wait;
	CHECK(next_request(&r, &wait) == LVM_GATE_REFUSED);
	r.fake.answer.verdict = LVM_FILTER_ALLOW;
	CHECK(next_request(&r, &wait) == LVM_GATE_GO); /* the one op was still there */
	rig_destroy(&r);
}

static void test_delay_comes_before_the_tokens(void)
{
	struct rig r;
	rig_init(&r, LVM_FILTER_DELAY, 20);
	one_op_per_second(&r);
	uint64_t wait;
	CHECK(next_request(&r, &wait) == LVM_GATE_WAIT);
	CHECK_EQ_U64(__atomic_load_n(&r.throttle.throttled, __ATOMIC_RELAXED), 0);
	sleep_ns(wait + MS);
	CHECK(admit(&r, &wait) == LVM_GATE_GO); /* takes the op only now */
	rig_destroy(&r);
}

static void test_stats_snapshot(void)
{
	struct { uint64_t a, b, c; } live = { 0 }, copy;
	lvm_stat_add(&live.a, 1);
	lvm_stat_add(&live.c, 40);
	lvm_stat_add(&live.c, 2);
	lvm_stats_snapshot(&copy, &live, sizeof(copy));
	CHECK_EQ_U64(copy.a, 1);
	CHECK_EQ_U64(copy.b, 0);
	CHECK_EQ_U64(copy.c, 42);
}

int main(void)
{
	RUN_TEST(test_no_filter_is_the_c_path);
	RUN_TEST(test_allow_asks_once_without_the_lock);
	RUN_TEST(test_refusals_complete_with_the_verdict);
	RUN_TEST(test_malformed_request_is_not_asked);
	RUN_TEST(test_delay_returns_the_wait);
	RUN_TEST(test_reset_while_the_filter_runs);
	RUN_TEST(test_throttle_wait);
	RUN_TEST(test_passed_request_pays_once);
	RUN_TEST(test_refused_request_costs_no_tokens);
	RUN_TEST(test_delay_comes_before_the_tokens);
	RUN_TEST(test_stats_snapshot);
	return CHECK_DONE();
}
