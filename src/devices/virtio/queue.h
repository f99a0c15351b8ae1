/*
 * A split virtqueue (virtio 1.2 §2.7) seen from the device side.  Every
 * guest address goes through lvm_memory_ptr, so a hostile driver can make a
 * request fail or the queue break, never make the VMM touch host memory
 * outside guest RAM.  Nothing here knows about KVM or threads: the libFuzzer
 * target and the unit tests drive it over a plain buffer.
 */
#ifndef LVM_DEVICES_VIRTIO_QUEUE_H
#define LVM_DEVICES_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_ring.h>

#include "kvm/memory.h"

#define LVM_VQ_MAX_SIZE 256u  /* the largest queue a device offers */
#define LVM_VQ_MAX_SEGS 256u  /* buffers in one chain (direct + indirect) */

struct lvm_vq {
	const struct lvm_memory *mem;
	uint16_t size;      /* QueueNum, a power of 2 <= LVM_VQ_MAX_SIZE */
	bool ready;
	bool event_idx;     /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;      /* VIRTIO_F_INDIRECT_DESC negotiated */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail; /* next avail ring entry the device consumes */
	uint16_t used_idx;   /* the used index the device last published */
	uint16_t signalled_used; /* used_idx when we last interrupted */
	bool signalled_valid;
	/* Host views of the three rings, set by lvm_vq_activate. */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

/* One descriptor chain, mapped into host memory. */
struct lvm_vq_chain {
	uint16_t head;
	unsigned nout, nin;          /* device-readable, then device-writable */
	struct iovec out[LVM_VQ_MAX_SEGS];
	struct iovec in[LVM_VQ_MAX_SEGS];
	uint64_t out_len, in_len;
};

enum lvm_vq_status {
	LVM_VQ_EMPTY = 0,  /* no chain waiting */
	LVM_VQ_CHAIN = 1,  /* *chain filled */
	LVM_VQ_BROKEN = -1 /* the driver broke the ring: set DEVICE_NEEDS_RESET */
};

/*
 * At QueueReady: checks the size, alignment and that all three rings lie in
 * RAM, and maps them.  False (the queue stays unusable) otherwise.
 */
bool lvm_vq_activate(struct lvm_vq *vq);
/* Resets the device-side indices (device reset). */
void lvm_vq_reset(struct lvm_vq *vq);
/*
 * Takes the next available chain.  On LVM_VQ_BROKEN `why` (if not NULL)
 * says what was wrong: a loop, a chain longer than the queue, a descriptor
 * outside RAM, an indirect table inside an indirect table, ...
 */
enum lvm_vq_status lvm_vq_pop(struct lvm_vq *vq, struct lvm_vq_chain *chain,
			      const char **why);
/*
 * Gives back the chain lvm_vq_pop returned last, unused and unwritten: it
 * is popped again next time.  For a device that holds a buffer it has
 * nothing to put in yet (vsock's receive buffer) when a snapshot is taken;
 * the driver cannot tell (it never saw the pop).
 */
void lvm_vq_unpop(struct lvm_vq *vq);
/* Returns a chain to the driver with `len` bytes written into it. */
int lvm_vq_push(struct lvm_vq *vq, uint16_t head, uint32_t len);
/* After pushes: whether the driver wants an interrupt (§2.7.7, §2.7.10). */
bool lvm_vq_needs_interrupt(struct lvm_vq *vq);
/*
 * With EVENT_IDX, tells the driver to notify when it adds past what we have
 * consumed (§2.7.10).  Returns true if more chains arrived meanwhile.
 */
bool lvm_vq_arm_notify(struct lvm_vq *vq);

/* iovec helpers: copy between a chain's segments and a flat buffer. */
size_t lvm_iov_read(const struct iovec *iov, unsigned n, size_t offset, void *dst,
		    size_t len);
size_t lvm_iov_write(const struct iovec *iov, unsigned n, size_t offset,
		     const void *src, size_t len);
/*
 * Fills `out` (at most `max` entries) with the bytes [offset, offset+len)
 * of `iov`; returns the number of entries, or -1 if they do not fit.
 */
int lvm_iov_slice(const struct iovec *iov, unsigned n, size_t offset, size_t len,
		  struct iovec *out, unsigned max);

#endif
