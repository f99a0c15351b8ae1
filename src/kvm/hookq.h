/*
 * The hand-off from vCPU threads to the control thread (which owns the Lua
 * state).  A hook claims a bus range on behalf of the control thread; when
 * the guest touches it, the vCPU thread queues the access here:
 *   - a write is posted (the vCPU goes on at once; the queue is FIFO, so a
 *     later read by any vCPU is answered only after every earlier write);
 *   - a read waits until the control thread has answered it.
 * The queue is bounded: a vCPU posting into a full queue waits for room.
 * Closing the queue (the VM stopped) releases every waiting vCPU; reads then
 * see all-ones.  Hooks are never freed while the VM lives: removing one only
 * marks it dead, so a vCPU still inside its handler never touches freed
 * memory (the bus dispatches outside its lock).  Core code: no Lua here.
 */
#ifndef LVM_KVM_HOOKQ_H
#define LVM_KVM_HOOKQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/bus.h"
#include "util/spin.h"

#define LVM_HOOKQ_CAPACITY 256

enum lvm_hook_space { LVM_HOOK_PIO, LVM_HOOK_MMIO };

struct lvm_hookq;

struct lvm_hook {
	struct lvm_hookq *q;
	struct lvm_bus *bus;
	enum lvm_hook_space space;
	uint64_t base, len;
	int id;            /* the control side's handle (e.g. a Lua registry ref) */
	bool sync;         /* writes wait for the control thread too, like reads */
	int dead;          /* atomic: removed; accesses are ignored */
	uint64_t accesses; /* atomic */
};

struct lvm_hook_wait {
	uint8_t data[8];
	bool done;
};

/*
 * A device request (util/request_filter.h) waiting on a device I/O thread for the
 * control thread's verdict.  `owner` is the control side's filter object.
 * Once the control thread has taken a call it must answer it, and the
 * caller waits for that answer even if the queue closes meanwhile, so the
 * control thread may read `request` and write `result` until it answers.
 * A call still queued when the queue closes is dropped (never taken).
 */
struct lvm_hook_call {
	void *owner;
	const void *request; /* read by the control thread */
	void *result;        /* written by the control thread */
	bool taken, done;
};

struct lvm_hook_req {
	struct lvm_hook_call *call; /* a device call (then hook is NULL), or NULL */
	struct lvm_hook *hook;
	uint64_t offset; /* from hook->base */
	uint32_t size;
	bool is_write;
	int cpu;                    /* the vCPU that made the access (-1: unknown) */
	uint8_t data[8];            /* the value written (little-endian) */
	/* Where the answer goes, and what the vCPU waits on: reads and sync
	 * writes; NULL for posted writes (the vCPU did not wait). */
	struct lvm_hook_wait *wait;
};

struct lvm_hookq {
	pthread_mutex_t lock;
	pthread_cond_t room;  /* signalled when entries are taken */
	pthread_cond_t reply; /* signalled when reads are answered */
	int notify_fd;        /* eventfd: readable while entries wait */
	bool signalled, closed;
	struct lvm_hook_req ring[LVM_HOOKQ_CAPACITY];
	unsigned head, count;
	unsigned waiting; /* vCPUs blocked on a reply or on room */
	struct lvm_hook **hooks; /* every hook ever added, freed with the queue */
	unsigned nhooks, hooks_cap;
};

int lvm_hookq_init(struct lvm_hookq *q);
/* Frees every hook; only once no vCPU thread runs. */
void lvm_hookq_destroy(struct lvm_hookq *q);
/* Releases every waiting vCPU and makes later accesses return at once. */
void lvm_hookq_close(struct lvm_hookq *q);
/* Takes requests again after a close (a machine restarting); nothing is queued. */
void lvm_hookq_reopen(struct lvm_hookq *q);
/* Registers [base, base+len) on `bus`; NULL + lvm_error on overlap.  With
 * `sync`, a write waits for its answer like a read (the guest's next
 * instruction sees the hook's effects); without, writes are posted. */
struct lvm_hook *lvm_hookq_add(struct lvm_hookq *q, struct lvm_bus *bus,
			       enum lvm_hook_space space, uint64_t base, uint64_t len, int id,
			       bool sync);
/* Unregisters the range and marks the hook dead (its memory stays). */
void lvm_hookq_remove(struct lvm_hookq *q, struct lvm_hook *hook);
/* Control thread: moves up to `max` queued requests into `out` (device
 * calls among them must each be answered with lvm_hookq_answer_call). */
unsigned lvm_hookq_take(struct lvm_hookq *q, struct lvm_hook_req *out, unsigned max);
/* Control thread: answers a read taken by lvm_hookq_take. */
void lvm_hookq_answer(struct lvm_hookq *q, struct lvm_hook_req *req, const uint8_t *data);
/* Device threads: queues `call` and waits until the control thread answers
 * it (true) or the queue closes (false: the result is left untouched). */
bool lvm_hookq_call(struct lvm_hookq *q, struct lvm_hook_call *call);
/* Control thread: answers a call taken by lvm_hookq_take. */
void lvm_hookq_answer_call(struct lvm_hookq *q, struct lvm_hook_call *call);
/* vCPUs blocked on the control thread right now. */
unsigned lvm_hookq_waiting(struct lvm_hookq *q);

/* True if requests wait (a lock-free hint for the control thread). */
bool lvm_hookq_pending(struct lvm_hookq *q);
/* Spins up to `ns` until ready(arg) holds; true if it did. */

#endif
