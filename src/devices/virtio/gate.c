#include "devices/virtio/gate.h"

#include "util/clock.h"

void lvm_gate_init(struct lvm_gate *g, struct lvm_throttle *throttle)
{
	*g = (struct lvm_gate){ .throttle = throttle, .verdict = LVM_FILTER_ALLOW };
}

void lvm_gate_set_filter(struct lvm_gate *g, const struct lvm_filter *filter)
{
	__atomic_store_n(&g->filter, filter, __ATOMIC_RELEASE);
}

void lvm_gate_reset(struct lvm_gate *g)
{
	g->generation++;
}

void lvm_gate_begin(struct lvm_gate *g, uint64_t cost)
{
	g->asked = false;
	g->verdict = LVM_FILTER_ALLOW;
	g->not_before_ns = 0;
	g->cost = cost;
	g->passed = false;
}

/*
 * Asks the filter about the request in the gate with the transport lock
 * released (it may wait for the control thread).  False if the device was
 * reset meanwhile: the request is gone and the gate must not touch it.
 */
static bool ask(struct lvm_gate *g, pthread_mutex_t *lock, lvm_gate_describe_fn describe,
		void *arg)
{
	const struct lvm_filter *f = __atomic_load_n(&g->filter, __ATOMIC_ACQUIRE);
	struct lvm_filter_request req;
	if (!f || !describe(arg, &req))
		return true;
	uint64_t generation = g->generation;
	pthread_mutex_unlock(lock);
	struct lvm_filter_result r = lvm_filter_check(f, &req);
	pthread_mutex_lock(lock);
	if (generation != g->generation)
		return false;
	g->verdict = r.verdict;
	if (r.verdict == LVM_FILTER_DELAY) /* the delay runs from the verdict */
		g->not_before_ns = lvm_monotonic_ns() + (uint64_t)r.delay_ms * 1000000u;
	return true;
}

/* Nanoseconds a delayed request must still wait (0: its delay is over). */
static uint64_t delay_left(const struct lvm_gate *g)
{
	if (g->verdict != LVM_FILTER_DELAY)
		return 0;
	uint64_t now = lvm_monotonic_ns();
	return now < g->not_before_ns ? g->not_before_ns - now : 0;
}

enum lvm_gate_status lvm_gate_admit(struct lvm_gate *g, pthread_mutex_t *transport_lock,
				    lvm_gate_describe_fn describe, void *arg, uint64_t *wait_ns)
{
	*wait_ns = 0;
	if (g->passed)
		return LVM_GATE_GO;
	if (!g->asked) {
		g->asked = true; /* once per request, even if it then waits */
		if (!ask(g, transport_lock, describe, arg))
			return LVM_GATE_GONE;
	}
	if (g->verdict != LVM_FILTER_ALLOW && g->verdict != LVM_FILTER_DELAY)
		return LVM_GATE_REFUSED; /* before the throttle: it costs no tokens */
	uint64_t wait = delay_left(g);
	if (!wait) /* the delay comes first: a delayed request takes tokens once it may go */
		wait = lvm_throttle_admit(g->throttle, g->cost);
	*wait_ns = wait;
	g->passed = wait == 0;
	return wait ? LVM_GATE_WAIT : LVM_GATE_GO;
}

void lvm_stats_snapshot(void *dst, const void *src, size_t size)
{
	const uint64_t *from = src;
	uint64_t *to = dst;
	for (size_t i = 0; i < size / sizeof(uint64_t); i++)
		to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
}
