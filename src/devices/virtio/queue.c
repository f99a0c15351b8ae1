/*
 * The device side of a split virtqueue (virtio 1.2 §2.7).  The driver owns
 * the descriptor table and the available ring and may change them at any
 * time, so every descriptor is copied once before it is looked at, and
 * every index is checked before it is used.
 */
#include "devices/virtio/queue.h"

#include <string.h>

/* Bytes of each ring for `n` entries, the event-index word included (§2.7). */
#define DESC_BYTES(n)  (16ull * (n))
#define AVAIL_BYTES(n) (6ull + 2ull * (n))
#define USED_BYTES(n)  (6ull + 8ull * (n))

static uint16_t load16(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static void store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE);
}

bool lvm_vq_activate(struct lvm_vq *vq)
{
	uint16_t n = vq->size;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	if (n == 0 || n > LVM_VQ_MAX_SIZE || (n & (n - 1)))
		return false;
	/* §2.7 alignment: descriptors 16, available ring 2, used ring 4. */
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return false;
	vq->desc = lvm_memory_ptr(vq->mem, vq->desc_gpa, DESC_BYTES(n));
	vq->avail = lvm_memory_ptr(vq->mem, vq->avail_gpa, AVAIL_BYTES(n));
	vq->used = lvm_memory_ptr(vq->mem, vq->used_gpa, USED_BYTES(n));
	if (!vq->desc || !vq->avail || !vq->used) {
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return false;
	}
	return true;
}

void lvm_vq_reset(struct lvm_vq *vq)
{
	const struct lvm_memory *mem = vq->mem;
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
}

/* Where a chain walk is: which table, how big, how many descriptors seen. */
struct walk {
	const struct vring_desc *table;
	uint32_t table_size;
	uint32_t seen;
	bool indirect;
};

static enum lvm_vq_status broken(const char **why, const char *what)
{
	if (why)
		*why = what;
	return LVM_VQ_BROKEN;
}

/* Switches the walk to the indirect table that `d` describes (§2.7.5.3). */
static enum lvm_vq_status enter_indirect(struct lvm_vq *vq, struct walk *w,
					 const struct vring_desc *d, const char **why)
{
	if (!vq->indirect)
		return broken(why, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
	if (w->indirect)
		return broken(why, "indirect table inside an indirect table");
	if (d->flags & VRING_DESC_F_NEXT)
		return broken(why, "indirect descriptor with NEXT set");
	if (d->len == 0 || d->len % sizeof(struct vring_desc) ||
	    d->len / sizeof(struct vring_desc) > LVM_VQ_MAX_SEGS)
		return broken(why, "indirect table of a bad length");
	const void *table = lvm_memory_ptr(vq->mem, d->addr, d->len);
	if (!table || (d->addr & 15))
		return broken(why, "indirect table outside guest RAM or misaligned");
	w->table = table;
	w->table_size = d->len / sizeof(struct vring_desc);
	w->seen = 0;
	w->indirect = true;
	return LVM_VQ_CHAIN;
}

/* Maps one buffer descriptor into the chain's out (readable) or in list. */
static enum lvm_vq_status add_buffer(struct lvm_vq *vq, struct lvm_vq_chain *c,
				     const struct vring_desc *d, const char **why)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;
	if (!writable && c->nin)
		return broken(why, "device-readable buffer after a writable one");
	if (d->len == 0)
		return LVM_VQ_CHAIN; /* nothing to transfer: skipped */
	void *host = lvm_memory_ptr(vq->mem, d->addr, d->len);
	if (!host)
		return broken(why, "buffer outside guest RAM");
	unsigned *count = writable ? &c->nin : &c->nout;
	if (*count >= LVM_VQ_MAX_SEGS)
		return broken(why, "too many buffers in one chain");
	struct iovec *iov = writable ? c->in : c->out;
	iov[(*count)++] = (struct iovec){ host, d->len };
	*(writable ? &c->in_len : &c->out_len) += d->len;
	return LVM_VQ_CHAIN;
}

static enum lvm_vq_status walk_chain(struct lvm_vq *vq, struct lvm_vq_chain *c,
				     uint16_t head, const char **why)
{
	struct walk w = { vq->desc, vq->size, 0, false };
	uint32_t idx = head;
	for (;;) {
		if (idx >= w.table_size)
			return broken(why, "descriptor index beyond the table");
		/* A chain visiting more descriptors than the table holds loops. */
		if (++w.seen > w.table_size)
			return broken(why, "descriptor chain loops or exceeds the queue size");
		struct vring_desc d;
		memcpy(&d, &w.table[idx], sizeof(d)); /* one snapshot: the guest may change it */
		enum lvm_vq_status st;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			st = enter_indirect(vq, &w, &d, why);
			idx = 0;
			if (st != LVM_VQ_CHAIN)
				return st;
			continue;
		}
		st = add_buffer(vq, c, &d, why);
		if (st != LVM_VQ_CHAIN)
			return st;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return LVM_VQ_CHAIN;
		idx = d.next;
	}
}

enum lvm_vq_status lvm_vq_pop(struct lvm_vq *vq, struct lvm_vq_chain *chain,
			      const char **why)
{
	if (!vq->ready || !vq->avail)
		return LVM_VQ_EMPTY;
	uint16_t avail_idx = load16(&vq->avail->idx);
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending == 0)
		return LVM_VQ_EMPTY;
	if (pending > vq->size)
		return broken(why, "available index jumped ahead by more than the queue size");
	uint16_t head = load16(&vq->avail->ring[vq->last_avail & (vq->size - 1)]);
	if (head >= vq->size)
		return broken(why, "available ring names a descriptor beyond the table");
	chain->head = head;
	chain->nout = chain->nin = 0;
	chain->out_len = chain->in_len = 0;
	enum lvm_vq_status st = walk_chain(vq, chain, head, why);
	if (st == LVM_VQ_CHAIN)
		vq->last_avail++;
	return st;
}

void lvm_vq_unpop(struct lvm_vq *vq)
{
	vq->last_avail--;
}

int lvm_vq_push(struct lvm_vq *vq, uint16_t head, uint32_t len)
{
	if (!vq->used || head >= vq->size)
		return -1;
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	__atomic_store_n(&e->id, (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	vq->used_idx++;
	store16(&vq->used->idx, vq->used_idx); /* release: the element first */
	return 0;
}

bool lvm_vq_needs_interrupt(struct lvm_vq *vq)
{
	if (!vq->avail)
		return false;
	/* The driver must see our used index before we read its wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	uint16_t old = vq->signalled_used, now = vq->used_idx;
	bool valid = vq->signalled_valid;
	vq->signalled_used = now;
	vq->signalled_valid = true;
	/* used_event lives right after the available ring (§2.7.10). */
	uint16_t used_event = load16(&vq->avail->ring[vq->size]);
	return !valid || vring_need_event(used_event, now, old);
}

bool lvm_vq_arm_notify(struct lvm_vq *vq)
{
	if (!vq->avail)
		return false;
	if (vq->event_idx)
		store16(&vq->used->ring[vq->size], vq->last_avail); /* avail_event */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(&vq->avail->idx) != vq->last_avail;
}

/* Copies between the iovec bytes [offset, offset+len) and a flat buffer. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t offset, void *flat,
		       size_t len, bool to_iov)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - offset;
		if (chunk > len - done)
			chunk = len - done;
		char *seg = (char *)iov[i].iov_base + offset, *buf = (char *)flat + done;
		memcpy(to_iov ? seg : buf, to_iov ? buf : seg, chunk);
		done += chunk;
		offset = 0;
	}
	return done;
}

size_t lvm_iov_read(const struct iovec *iov, unsigned n, size_t offset, void *dst,
		    size_t len)
{
	return iov_copy(iov, n, offset, dst, len, false);
}

size_t lvm_iov_write(const struct iovec *iov, unsigned n, size_t offset,
		     const void *src, size_t len)
{
	return iov_copy(iov, n, offset, (void *)src, len, true);
}

int lvm_iov_slice(const struct iovec *iov, unsigned n, size_t offset, size_t len,
		  struct iovec *out, unsigned max)
{
	unsigned count = 0;
	for (unsigned i = 0; i < n && len; i++) {
		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - offset;
		if (chunk > len)
			chunk = len;
		if (count >= max)
			return -1;
		out[count++] = (struct iovec){ (char *)iov[i].iov_base + offset, chunk };
		len -= chunk;
		offset = 0;
	}
	return len ? -1 : (int)count;
}
