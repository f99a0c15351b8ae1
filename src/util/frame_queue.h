/*
 * A bounded FIFO of Ethernet frames between two threads, with an eventfd
 * that is readable exactly while a frame waits, so the consumer can sleep
 * in poll() beside its other fds.  Used where frames cross threads inside
 * luavmm: a user network's thread to the NIC's I/O thread and back, and
 * the in-process switch to each of its ports.  A full queue drops the new
 * frame and counts it, as a switch's egress queue would; it never blocks
 * the producer.
 */
#ifndef LVM_UTIL_FRAME_QUEUE_H
#define LVM_UTIL_FRAME_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many frames and bytes wait (a guest sending the largest
 * frames fills the bytes first); a frame is at most LVM_FRAME_MAX long
 * (what virtio-net takes without offloads: 64 KiB and an Ethernet header). */
#define LVM_FRAME_QUEUE_FRAMES 256u
#define LVM_FRAME_QUEUE_BYTES (2u << 20)
#define LVM_FRAME_MAX 65550u

struct lvm_frame_queue;

/* NULL + lvm_error on failure. */
struct lvm_frame_queue *lvm_frame_queue_new(void);
void lvm_frame_queue_free(struct lvm_frame_queue *q);
/* Readable (POLLIN) while the queue is not empty. */
int lvm_frame_queue_fd(const struct lvm_frame_queue *q);
/* Copies the frame in; false (and counted as dropped) when full (frames
 * or bytes) or when len is 0 or over LVM_FRAME_MAX.  Any thread. */
bool lvm_frame_queue_push(struct lvm_frame_queue *q, const void *frame, size_t len);
/* Moves the oldest frame into buf: its length (a frame longer than cap is
 * dropped, counted, and the next one tried), or 0 when none waits. */
size_t lvm_frame_queue_pop(struct lvm_frame_queue *q, void *buf, size_t cap);
/* Frames dropped so far. */
uint64_t lvm_frame_queue_dropped(const struct lvm_frame_queue *q);
/* Drops every waiting frame (not counted: nobody was owed them). */
void lvm_frame_queue_clear(struct lvm_frame_queue *q);

#endif
