/*
 * Adaptive spinning: waiting for a peer thread without sleeping, when that
 * pays.  Sleeping costs a wake-up on each side of a hand-off (tens of
 * microseconds on a nested host, where the IPI goes through the outer
 * hypervisor); a peer that is already awake usually answers within a few,
 * so a short spin saves most of the trip, as long as the host has a CPU
 * for each side.
 *
 * One waiter's budget adapts to how its spins went: a spin that saw the
 * answer restores the full budget, one that timed out quarters it (down to
 * not spinning at all), and every 32nd wait probes with the full budget
 * again.  When the host is busy (both threads on one CPU, or the peer
 * waiting for one) spinning only delays the peer, and the budget falls to
 * zero within a few waits.
 */
#ifndef LVM_UTIL_SPIN_H
#define LVM_UTIL_SPIN_H

#include <stdbool.h>
#include <stdint.h>

/* The longest a waiter spins before sleeping. */
#define LVM_SPIN_MAX_NS 100000u

struct lvm_spin {
	uint32_t budget_ns;
	uint32_t waits;
};

#define LVM_SPIN_INIT { LVM_SPIN_MAX_NS, 0 }

/* Spins until ready(arg) or the budget runs out; returns ready's last answer. */
bool lvm_spin_until(struct lvm_spin *spin, bool (*ready)(const void *arg), const void *arg);

#endif
