#include "kvm/hookq.h"

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvm/vcpu.h"
#include "util/error.h"

int lvm_hookq_init(struct lvm_hookq *q)
{
	memset(q, 0, sizeof(*q));
	q->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->notify_fd < 0)
		return lvm_fail_errno("hooks: eventfd");
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->room, NULL);
	pthread_cond_init(&q->reply, NULL);
	return 0;
}

void lvm_hookq_destroy(struct lvm_hookq *q)
{
	if (q->notify_fd < 0)
		return;
	for (unsigned i = 0; i < q->nhooks; i++)
		free(q->hooks[i]);
	free(q->hooks);
	close(q->notify_fd);
	q->notify_fd = -1;
	pthread_cond_destroy(&q->room);
	pthread_cond_destroy(&q->reply);
	pthread_mutex_destroy(&q->lock);
}

void lvm_hookq_close(struct lvm_hookq *q)
{
	if (q->notify_fd < 0)
		return;
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->room);
	pthread_cond_broadcast(&q->reply);
	pthread_mutex_unlock(&q->lock);
}

static void signal_control(struct lvm_hookq *q)
{
	if (q->signalled)
		return;
	q->signalled = true;
	uint64_t one = 1;
	ssize_t ignored = write(q->notify_fd, &one, sizeof(one));
	(void)ignored;
}

void lvm_hookq_reopen(struct lvm_hookq *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = false;
	pthread_mutex_unlock(&q->lock);
}

/* Waits for room and queues `req`; false once the queue is closed.  Lock held. */
static bool enqueue_locked(struct lvm_hookq *q, const struct lvm_hook_req *req)
{
	while (!q->closed && q->count == LVM_HOOKQ_CAPACITY)
		pthread_cond_wait(&q->room, &q->lock);
	if (q->closed)
		return false;
	q->ring[(q->head + q->count) % LVM_HOOKQ_CAPACITY] = *req;
	__atomic_store_n(&q->count, q->count + 1, __ATOMIC_RELEASE);
	signal_control(q);
	return true;
}

static bool flag_set(const void *flag)
{
	return __atomic_load_n((const bool *)flag, __ATOMIC_ACQUIRE);
}

bool lvm_hookq_pending(struct lvm_hookq *q)
{
	return __atomic_load_n(&q->count, __ATOMIC_ACQUIRE) > 0;
}

/* The bus handler of every hook: runs on a vCPU thread. */
static void hook_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write)
{
	struct lvm_hook *hook = opaque;
	struct lvm_hookq *q = hook->q;
	if (__atomic_load_n(&hook->dead, __ATOMIC_ACQUIRE))
		return;
	__atomic_fetch_add(&hook->accesses, 1, __ATOMIC_RELAXED);
	struct lvm_hook_wait wait = { .done = false };
	struct lvm_hook_req req = { .hook = hook, .offset = offset, .is_write = is_write,
				    .size = size > 8 ? 8 : size, .cpu = lvm_vcpu_current };
	bool waits = !is_write || hook->sync;
	if (is_write)
		memcpy(req.data, data, req.size);
	if (waits)
		req.wait = &wait;
	pthread_mutex_lock(&q->lock);
	q->waiting++;
	bool queued = enqueue_locked(q, &req);
	if (queued && waits) {
		pthread_mutex_unlock(&q->lock);
		static __thread struct lvm_spin spin = LVM_SPIN_INIT; /* per vCPU thread */
		lvm_spin_until(&spin, flag_set, &wait.done);
		pthread_mutex_lock(&q->lock);
		while (!q->closed && !wait.done)
			pthread_cond_wait(&q->reply, &q->lock);
		if (wait.done && !is_write)
			memcpy(data, wait.data, req.size);
	}
	q->waiting--;
	pthread_mutex_unlock(&q->lock);
}

struct lvm_hook *lvm_hookq_add(struct lvm_hookq *q, struct lvm_bus *bus,
			       enum lvm_hook_space space, uint64_t base, uint64_t len, int id,
			       bool sync)
{
	if (q->nhooks == q->hooks_cap) {
		unsigned cap = q->hooks_cap ? q->hooks_cap * 2 : 8;
		struct lvm_hook **hooks = realloc(q->hooks, cap * sizeof(*hooks));
		if (!hooks) {
			lvm_fail("hooks: out of memory");
			return NULL;
		}
		q->hooks = hooks;
		q->hooks_cap = cap;
	}
	struct lvm_hook *hook = calloc(1, sizeof(*hook));
	if (!hook) {
		lvm_fail("hooks: out of memory");
		return NULL;
	}
	*hook = (struct lvm_hook){ .q = q, .bus = bus, .space = space, .base = base,
				   .len = len, .id = id, .sync = sync };
	const char *name = space == LVM_HOOK_PIO ? "on_pio" : "on_mmio";
	if (lvm_bus_register(bus, base, len, hook_access, hook, name) < 0) {
		free(hook);
		return NULL;
	}
	q->hooks[q->nhooks++] = hook;
	return hook;
}

void lvm_hookq_remove(struct lvm_hookq *q, struct lvm_hook *hook)
{
	(void)q;
	if (__atomic_exchange_n(&hook->dead, 1, __ATOMIC_ACQ_REL))
		return;
	lvm_bus_unregister(hook->bus, hook->base);
}

unsigned lvm_hookq_take(struct lvm_hookq *q, struct lvm_hook_req *out, unsigned max)
{
	uint64_t value;
	ssize_t ignored = read(q->notify_fd, &value, sizeof(value));
	(void)ignored;
	pthread_mutex_lock(&q->lock);
	q->signalled = false;
	unsigned n = 0;
	while (q->count > 0 && n < max) {
		struct lvm_hook_req *req = &q->ring[q->head];
		q->head = (q->head + 1) % LVM_HOOKQ_CAPACITY;
		__atomic_store_n(&q->count, q->count - 1, __ATOMIC_RELAXED);
		if (req->call && q->closed)
			continue; /* its caller has left: drop it */
		if (req->call)
			req->call->taken = true;
		out[n++] = *req;
	}
	if (q->count > 0)
		signal_control(q);
	pthread_cond_broadcast(&q->room);
	pthread_mutex_unlock(&q->lock);
	return n;
}

void lvm_hookq_answer(struct lvm_hookq *q, struct lvm_hook_req *req, const uint8_t *data)
{
	if (!req->wait)
		return;
	pthread_mutex_lock(&q->lock);
	if (!q->closed) { /* once closed, the waiter has left: its slot is gone */
		memcpy(req->wait->data, data, req->size);
		__atomic_store_n(&req->wait->done, true, __ATOMIC_RELEASE); /* a vCPU may spin on it */
	}
	pthread_cond_broadcast(&q->reply);
	pthread_mutex_unlock(&q->lock);
	req->wait = NULL;
}

bool lvm_hookq_call(struct lvm_hookq *q, struct lvm_hook_call *call)
{
	struct lvm_hook_req req = { .call = call };
	call->taken = call->done = false;
	pthread_mutex_lock(&q->lock);
	if (enqueue_locked(q, &req))
		while (!call->done && !(q->closed && !call->taken))
			pthread_cond_wait(&q->reply, &q->lock);
	bool done = call->done;
	pthread_mutex_unlock(&q->lock);
	return done;
}

void lvm_hookq_answer_call(struct lvm_hookq *q, struct lvm_hook_call *call)
{
	pthread_mutex_lock(&q->lock);
	call->done = true; /* its caller waits for this even once closed */
	pthread_cond_broadcast(&q->reply);
	pthread_mutex_unlock(&q->lock);
}

unsigned lvm_hookq_waiting(struct lvm_hookq *q)
{
	pthread_mutex_lock(&q->lock);
	unsigned n = q->waiting;
	pthread_mutex_unlock(&q->lock);
	return n;
}
