/*
 * The admission gate a virtio device puts in front of each request stream
 * (virtio-blk's requestq, virtio-net's transmitq and its receive path):
 * filter -> delay -> throttle, one request at a time, in order.
 *
 *  1. filter: the installed request filter (devices/request_filter.h) is
 *     asked once per request.  ALLOW and DELAY let it on; any other verdict
 *     refuses it, and a refused request costs no tokens.
 *  2. delay: a DELAY request waits `delay_ms` from the verdict.
 *  3. throttle: the request takes its cost in bytes and one op from the
 *     device's throttle (util/throttle.h), or waits for them.
 *
 * A request that must wait stays in the gate and the device asks again
 * later (on its transport timer) without re-asking the filter.  One that
 * got GO but could not be served yet (virtio-net with no receive buffer)
 * gets GO again without paying twice.  Since the
 * device serves its queue in order, a waiting request holds back those
 * behind it (without VIRTIO_F_IN_ORDER, virtio 1.2 §6, a device may use
 * buffers in any order, but the filter and the rate limit must see the
 * requests in the order the driver made them).
 *
 * Locking contract.  Every gate function except lvm_gate_set_filter is
 * called with the device's transport lock held: lvm_gate_begin and
 * lvm_gate_admit by the I/O thread, lvm_gate_reset from the device's reset
 * callback (a vCPU thread).  lvm_gate_admit drops that lock while the
 * filter runs (a Lua filter waits for the control thread, and a vCPU must
 * never wait for Lua to touch the device's registers) and takes it again
 * before it returns.  Anything may therefore change under the caller
 * during the call; in particular the driver may reset the device, which
 * bumps the gate's generation: the request is then gone (its chain
 * belongs to a ring that no longer exists) and the caller must forget it
 * without touching the queue.  lvm_gate_set_filter may be called from any
 * thread at any time (an atomic store); the request in the gate keeps the
 * verdict it already has.
 */
#ifndef LVM_DEVICES_VIRTIO_GATE_H
#define LVM_DEVICES_VIRTIO_GATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/request_filter.h"
#include "util/throttle.h"

struct lvm_gate {
	const struct lvm_filter *filter; /* atomic; NULL: no filter, the pure C path */
	struct lvm_throttle *throttle;   /* the device's (gates of one device may share it) */
	uint64_t generation;             /* bumped by lvm_gate_reset */
	/* The request in the gate, from lvm_gate_begin until the next one: */
	bool asked;                      /* the filter has been consulted */
	enum lvm_filter_verdict verdict; /* what it said (ALLOW without a filter) */
	uint64_t not_before_ns;          /* DELAY: lvm_monotonic_ns() it may go at */
	uint64_t cost;                   /* bytes it takes from the byte bucket */
	bool passed;                     /* it got GO (and paid): it stays admitted */
};

enum lvm_gate_status {
	LVM_GATE_GO,      /* serve the request now */
	LVM_GATE_WAIT,    /* ask again in *wait_ns (a delay or the rate limit) */
	LVM_GATE_REFUSED, /* the filter refused it: complete it per gate->verdict */
	LVM_GATE_GONE,    /* the device was reset while the filter ran: forget it */
};

/* What the filter is told about the request in the gate.  Called with the
 * transport lock held, only when a filter is installed (so a device may
 * copy the request out here without slowing the path that has none);
 * false: the request is malformed, it is not asked about (verdict ALLOW). */
typedef bool (*lvm_gate_describe_fn)(void *arg, struct lvm_filter_request *req);

/* No filter, generation 0, no request.  `throttle` must outlive the gate. */
void lvm_gate_init(struct lvm_gate *g, struct lvm_throttle *throttle);
/* Installs (NULL: removes) the filter; it must stay valid while the gate lives. */
void lvm_gate_set_filter(struct lvm_gate *g, const struct lvm_filter *filter);
/* The device was reset: a request whose filter call is running is gone. */
void lvm_gate_reset(struct lvm_gate *g);
/* A new request enters the gate; it will cost `cost` bytes (and one op). */
void lvm_gate_begin(struct lvm_gate *g, uint64_t cost);
/* Whether the request in the gate may go now (see the contract above);
 * *wait_ns is set for LVM_GATE_WAIT and is 0 otherwise. */
enum lvm_gate_status lvm_gate_admit(struct lvm_gate *g, pthread_mutex_t *transport_lock,
				    lvm_gate_describe_fn describe, void *arg, uint64_t *wait_ns);

/*
 * Device statistics: uint64_t counters that the I/O thread adds to and
 * any thread may read.  A snapshot reads each counter atomically; the set
 * is not one instant (two counters may disagree by a request in flight).
 */
static inline void lvm_stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/* Copies a struct of `size` bytes made only of uint64_t counters. */
void lvm_stats_snapshot(void *dst, const void *src, size_t size);

#endif
