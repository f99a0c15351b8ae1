/*
 * The frames live in a ring of malloc'd blocks.  The eventfd and the ring
 * change together under the mutex, so "readable" and "not empty" never
 * disagree: a push onto an empty ring signals it, the pop that empties the
 * ring (or finds it empty) drains it.
 */
#include "util/frame_queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/error.h"

struct frame {
	size_t len;
	uint8_t *bytes;
};

struct lvm_frame_queue {
	pthread_mutex_t lock;
	int fd;
	unsigned head, count; /* ring[head] is the oldest */
	size_t bytes;         /* in the ring */
	struct frame ring[LVM_FRAME_QUEUE_FRAMES];
	uint64_t dropped;
};

struct lvm_frame_queue *lvm_frame_queue_new(void)
{
	struct lvm_frame_queue *q = calloc(1, sizeof(*q));
	if (!q) {
		lvm_fail("out of memory");
		return NULL;
	}
	q->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->fd < 0) {
		lvm_fail_errno("eventfd");
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	return q;
}

void lvm_frame_queue_clear(struct lvm_frame_queue *q)
{
	pthread_mutex_lock(&q->lock);
	while (q->count) {
		free(q->ring[q->head].bytes);
		q->head = (q->head + 1) % LVM_FRAME_QUEUE_FRAMES;
		q->count--;
	}
	q->bytes = 0;
	uint64_t v;
	ssize_t ignored = read(q->fd, &v, sizeof(v));
	(void)ignored;
	pthread_mutex_unlock(&q->lock);
}

void lvm_frame_queue_free(struct lvm_frame_queue *q)
{
	if (!q)
		return;
	lvm_frame_queue_clear(q);
	close(q->fd);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int lvm_frame_queue_fd(const struct lvm_frame_queue *q)
{
	return q->fd;
}

bool lvm_frame_queue_push(struct lvm_frame_queue *q, const void *frame, size_t len)
{
	uint8_t *copy = len && len <= LVM_FRAME_MAX ? malloc(len) : NULL;
	pthread_mutex_lock(&q->lock);
	bool ok = copy && q->count < LVM_FRAME_QUEUE_FRAMES && q->bytes + len <= LVM_FRAME_QUEUE_BYTES;
	if (ok) {
		q->bytes += len;
		memcpy(copy, frame, len);
		q->ring[(q->head + q->count) % LVM_FRAME_QUEUE_FRAMES] = (struct frame){ len, copy };
		if (q->count++ == 0) {
			uint64_t one = 1;
			ssize_t ignored = write(q->fd, &one, sizeof(one));
			(void)ignored;
		}
	} else {
		__atomic_fetch_add(&q->dropped, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&q->lock);
	if (!ok)
		free(copy);
	return ok;
}

size_t lvm_frame_queue_pop(struct lvm_frame_queue *q, void *buf, size_t cap)
{
	size_t len = 0;
	pthread_mutex_lock(&q->lock);
	while (q->count && !len) {
		struct frame *f = &q->ring[q->head];
		if (f->len <= cap) {
			memcpy(buf, f->bytes, f->len);
			len = f->len;
		} else {
			__atomic_fetch_add(&q->dropped, 1, __ATOMIC_RELAXED);
		}
		free(f->bytes);
		q->bytes -= f->len;
		q->head = (q->head + 1) % LVM_FRAME_QUEUE_FRAMES;
		q->count--;
	}
	if (!q->count) {
		uint64_t v;
		ssize_t ignored = read(q->fd, &v, sizeof(v));
		(void)ignored;
	}
	pthread_mutex_unlock(&q->lock);
	return len;
}

uint64_t lvm_frame_queue_dropped(const struct lvm_frame_queue *q)
{
	return __atomic_load_n(&q->dropped, __ATOMIC_RELAXED);
}
