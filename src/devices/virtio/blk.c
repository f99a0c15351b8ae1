/*
 * virtio-blk requests (virtio 1.2 §5.2.6): a 16-byte header the device
 * reads, data, and a status byte the device writes last.
 */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "devices/virtio/blk_overlay.h"
#include "devices/virtio/gate.h"
#include "devices/virtio/transport.h"

#define SECTOR 512u
#define SEG_MAX (LVM_VQ_MAX_SEGS - 2)   /* data buffers besides header and status */
#define DISCARD_SEG_MAX 16u

struct lvm_blk {
	struct lvm_virtio_transport *transport;
	int fd;
	bool readonly;
	/* snapshot = true: the guest's writes go here, `fd` is only read. */
	struct lvm_blk_overlay *overlay;
	uint64_t sectors;
	char *name;
	struct lvm_blk_stats stats; /* lvm_stat_add on the I/O thread */
	/* The request in `chain`, popped but not completed (it may be waiting
	 * in the gate, which holds its verdict). */
	bool pending;
	struct lvm_gate gate;
	struct lvm_throttle throttle;
	struct lvm_vq_chain chain;
	struct iovec data[LVM_VQ_MAX_SEGS];
};

static void blk_read_config(void *dev, uint8_t *config)
{
	struct lvm_blk *blk = dev;
	struct virtio_blk_config c = {
		.capacity = blk->sectors,
		.seg_max = SEG_MAX,
		.blk_size = SECTOR,
		.max_discard_sectors = UINT32_MAX,
		.max_discard_seg = DISCARD_SEG_MAX,
		.discard_sector_alignment = 1,
		.max_write_zeroes_sectors = UINT32_MAX,
		.max_write_zeroes_seg = DISCARD_SEG_MAX,
		.write_zeroes_may_unmap = 1,
	};
	memcpy(config, &c, sizeof(c));
}

/* Whether [sector, sector + bytes/512) lies on the disk. */
static bool in_range(const struct lvm_blk *blk, uint64_t sector, uint64_t bytes)
{
	uint64_t n = bytes / SECTOR;
	return bytes % SECTOR == 0 && sector <= blk->sectors && n <= blk->sectors - sector;
}

/* preadv/pwritev of exactly `len` bytes at `off`, over `n` iovecs. */
static bool transfer(int fd, struct iovec *iov, int n, uint64_t off, uint64_t len, bool write)
{
	while (len > 0) {
		ssize_t done = write ? pwritev(fd, iov, n, (off_t)off) : preadv(fd, iov, n, (off_t)off);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return false;
		off += (uint64_t)done;
		len -= (uint64_t)done;
		while (n > 0 && (size_t)done >= iov->iov_len) {
			done -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= (size_t)done;
		}
	}
	return true;
}

static uint8_t do_read(struct lvm_blk *blk, struct lvm_vq_chain *c, uint64_t sector,
		       uint32_t *written)
{
	uint64_t len = c->in_len - 1; /* the last byte is the status */
	int n = lvm_iov_slice(c->in, c->nin, 0, len, blk->data, LVM_VQ_MAX_SEGS);
	if (n < 0 || !in_range(blk, sector, len))
		return VIRTIO_BLK_S_IOERR;
	if (blk->overlay ? !lvm_blk_overlay_read(blk->overlay, blk->data, (unsigned)n,
						  sector * SECTOR, len)
			 : !transfer(blk->fd, blk->data, n, sector * SECTOR, len, false))
		return VIRTIO_BLK_S_IOERR;
	lvm_stat_add(&blk->stats.reads, 1);
	lvm_stat_add(&blk->stats.bytes_read, len);
	*written = (uint32_t)len;
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_write(struct lvm_blk *blk, struct lvm_vq_chain *c, uint64_t sector)
{
	uint64_t len = c->out_len - sizeof(struct virtio_blk_outhdr);
	if (blk->readonly)
		return VIRTIO_BLK_S_IOERR;
	int n = lvm_iov_slice(c->out, c->nout, sizeof(struct virtio_blk_outhdr), len, blk->data,
			      LVM_VQ_MAX_SEGS);
	if (n < 0 || !in_range(blk, sector, len))
		return VIRTIO_BLK_S_IOERR;
	if (blk->overlay ? !lvm_blk_overlay_write(blk->overlay, blk->data, (unsigned)n,
						   sector * SECTOR, len)
			 : !transfer(blk->fd, blk->data, n, sector * SECTOR, len, true))
		return VIRTIO_BLK_S_IOERR;
	lvm_stat_add(&blk->stats.writes, 1);
	lvm_stat_add(&blk->stats.bytes_written, len);
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_flush(struct lvm_blk *blk)
{
	/* §5.2.6.1: completion means the data is on stable storage.  An
	 * overlay's data dies with the machine: nothing to make durable, and
	 * the image was never written. */
	if (!blk->readonly && !blk->overlay && fdatasync(blk->fd) < 0)
		return VIRTIO_BLK_S_IOERR;
	lvm_stat_add(&blk->stats.flushes, 1);
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_get_id(struct lvm_blk *blk, struct lvm_vq_chain *c, uint32_t *written)
{
	char id[VIRTIO_BLK_ID_BYTES] = { 0 };
	size_t n = strlen(blk->name);
	memcpy(id, blk->name, n < sizeof(id) ? n : sizeof(id)); /* no NUL when 20 long (§5.2.6) */
	*written = (uint32_t)lvm_iov_write(c->in, c->nin, 0, id,
					   c->in_len - 1 < sizeof(id) ? c->in_len - 1 : sizeof(id));
	return VIRTIO_BLK_S_OK;
}

/* Zeroes a range by writing zeroes, for files that cannot fallocate. */
static bool write_zeroes(int fd, uint64_t off, uint64_t len)
{
	static const char zeroes[65536];
	while (len > 0) {
		size_t n = len < sizeof(zeroes) ? (size_t)len : sizeof(zeroes);
		ssize_t done = pwrite(fd, zeroes, n, (off_t)off);
		if (done <= 0)
			return false;
		off += (uint64_t)done;
		len -= (uint64_t)done;
	}
	return true;
}

static bool discard_one(struct lvm_blk *blk, const struct virtio_blk_discard_write_zeroes *r,
			uint32_t type)
{
	uint64_t off = r->sector * SECTOR, len = (uint64_t)r->num_sectors * SECTOR;
	if (!in_range(blk, r->sector, len))
		return false;
	if (blk->overlay) /* both read back as zeroes; the image stays as it is */
		return lvm_blk_overlay_zero(blk->overlay, off, len);
	if (type == VIRTIO_BLK_T_DISCARD) {
		/* A hint (§5.2.6.2): a file system without holes may ignore it. */
		fallocate(blk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
		return true;
	}
	int mode = (r->flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ? FALLOC_FL_PUNCH_HOLE
								    : FALLOC_FL_ZERO_RANGE;
	if (fallocate(blk->fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return true;
	return write_zeroes(blk->fd, off, len);
}

static uint8_t do_discard(struct lvm_blk *blk, struct lvm_vq_chain *c, uint32_t type)
{
	struct virtio_blk_discard_write_zeroes r;
	uint64_t len = c->out_len - sizeof(struct virtio_blk_outhdr);
	if (blk->readonly || len == 0 || len % sizeof(r) || len / sizeof(r) > DISCARD_SEG_MAX)
		return VIRTIO_BLK_S_IOERR;
	for (uint64_t off = 0; off < len; off += sizeof(r)) {
		lvm_iov_read(c->out, c->nout, sizeof(struct virtio_blk_outhdr) + off, &r, sizeof(r));
		if (r.flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			return VIRTIO_BLK_S_UNSUPP;
		if (!discard_one(blk, &r, type))
			return VIRTIO_BLK_S_IOERR;
	}
	lvm_stat_add(&blk->stats.discards, 1);
	return VIRTIO_BLK_S_OK;
}

static uint8_t dispatch(struct lvm_blk *blk, struct lvm_vq_chain *c,
			const struct virtio_blk_outhdr *h, uint32_t *written)
{
	switch (h->type) {
	case VIRTIO_BLK_T_IN: return do_read(blk, c, h->sector, written);
	case VIRTIO_BLK_T_OUT: return do_write(blk, c, h->sector);
	case VIRTIO_BLK_T_FLUSH: return do_flush(blk);
	case VIRTIO_BLK_T_GET_ID: return do_get_id(blk, c, written);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: return do_discard(blk, c, h->type);
	}
	return VIRTIO_BLK_S_UNSUPP;
}

/* One request; returns the bytes written into the chain (data + status). */
static uint32_t blk_request(struct lvm_blk *blk, struct lvm_vq_chain *c)
{
	struct virtio_blk_outhdr h;
	if (c->nin == 0 || c->in_len > UINT32_MAX) {
		lvm_stat_add(&blk->stats.errors, 1); /* no status byte to answer in */
		return 0;
	}
	uint32_t written = 0;
	uint8_t status = VIRTIO_BLK_S_IOERR;
	if (blk->gate.verdict == LVM_FILTER_UNSUPP)
		status = VIRTIO_BLK_S_UNSUPP;
	else if (blk->gate.verdict != LVM_FILTER_ALLOW && blk->gate.verdict != LVM_FILTER_DELAY)
		status = VIRTIO_BLK_S_IOERR; /* refused: IOERR (or DROP, meant for frames) */
	else if (lvm_iov_read(c->out, c->nout, 0, &h, sizeof(h)) == sizeof(h))
		status = dispatch(blk, c, &h, &written);
	if (status != VIRTIO_BLK_S_OK)
		lvm_stat_add(&blk->stats.errors, 1);
	lvm_iov_write(c->in, c->nin, c->in_len - 1, &status, 1);
	return written + 1;
}

/* Bytes a discard/write-zeroes request covers, and its first sector. */
static uint64_t ranges_bytes(struct lvm_vq_chain *c, uint64_t *first)
{
	struct virtio_blk_discard_write_zeroes r;
	uint64_t total = 0, off = sizeof(struct virtio_blk_outhdr);
	for (unsigned i = 0; i < DISCARD_SEG_MAX; i++, off += sizeof(r)) {
		if (lvm_iov_read(c->out, c->nout, off, &r, sizeof(r)) != sizeof(r))
			break;
		if (i == 0)
			*first = r.sector;
		total += (uint64_t)r.num_sectors * SECTOR;
	}
	return total;
}

/* What the filter sees of the pending request; false for a malformed or unknown one. */
static bool describe(void *arg, struct lvm_filter_request *req)
{
	struct lvm_vq_chain *c = &((struct lvm_blk *)arg)->chain;
	struct virtio_blk_outhdr h;
	if (c->nin == 0 || lvm_iov_read(c->out, c->nout, 0, &h, sizeof(h)) != sizeof(h))
		return false;
	*req = (struct lvm_filter_request){ .sector = h.sector };
	uint64_t len = 0;
	switch (h.type) {
	case VIRTIO_BLK_T_IN: req->op = LVM_FILTER_READ; len = c->in_len - 1; break;
	case VIRTIO_BLK_T_OUT: req->op = LVM_FILTER_WRITE; len = c->out_len - sizeof(h); break;
	case VIRTIO_BLK_T_FLUSH: req->op = LVM_FILTER_FLUSH; break;
	case VIRTIO_BLK_T_GET_ID: req->op = LVM_FILTER_GET_ID; len = c->in_len - 1; break;
	case VIRTIO_BLK_T_DISCARD: req->op = LVM_FILTER_DISCARD; len = ranges_bytes(c, &req->sector); break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		req->op = LVM_FILTER_WRITE_ZEROES;
		len = ranges_bytes(c, &req->sector);
		break;
	default: return false;
	}
	req->length = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	return true;
}

/* Data bytes of a read or write (the rate limit's byte cost), else 0. */
static uint64_t data_bytes(const struct lvm_vq_chain *c)
{
	struct virtio_blk_outhdr h;
	if (lvm_iov_read(c->out, c->nout, 0, &h, sizeof(h)) != sizeof(h))
		return 0;
	if (h.type == VIRTIO_BLK_T_IN && c->in_len > 0)
		return c->in_len - 1;
	if (h.type == VIRTIO_BLK_T_OUT)
		return c->out_len - sizeof(h);
	return 0;
}

/* The request to work on: the pending one or the next on the queue. */
static bool next_request(struct lvm_blk *blk, struct lvm_virtio_transport *t)
{
	if (blk->pending)
		return true;
	do {
		if (lvm_virtio_pop(t, 0, &blk->chain)) {
			blk->pending = true;
			lvm_gate_begin(&blk->gate, data_bytes(&blk->chain));
			return true;
		}
		/* §2.7.10: chains added while we worked need no new notify. */
	} while (lvm_virtio_driver_ok(t) && lvm_vq_arm_notify(&t->vq[0]));
	return false;
}

/* Serves requests in order until the queue is empty or one must wait (on the timer). */
static void blk_run(struct lvm_blk *blk, struct lvm_virtio_transport *t)
{
	bool any = false;
	while (next_request(blk, t)) {
		uint64_t wait;
		enum lvm_gate_status s = lvm_gate_admit(&blk->gate, &t->lock, describe, blk, &wait);
		if (s == LVM_GATE_GONE)
			break;
		if (s == LVM_GATE_WAIT) {
			lvm_virtio_arm_timer(t, wait);
			break;
		}
		/* GO, or REFUSED: blk_request completes it with the verdict. */
		lvm_vq_push(&t->vq[0], blk->chain.head, blk_request(blk, &blk->chain));
		blk->pending = false;
		any = true;
	}
	if (any)
		lvm_virtio_notify_used(t, 0);
}

static void blk_queue_event(void *dev, struct lvm_virtio_transport *t, unsigned q)
{
	(void)q;
	blk_run(dev, t);
}

static void blk_timer_event(void *dev, struct lvm_virtio_transport *t)
{
	blk_run(dev, t);
}

static void blk_reset(void *dev)
{
	struct lvm_blk *blk = dev;
	blk->pending = false;
	lvm_gate_reset(&blk->gate);
	lvm_virtio_arm_timer(blk->transport, 0);
}

static const struct lvm_virtio_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.features = (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
		    (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_DISCARD) |
		    (1ull << VIRTIO_BLK_F_WRITE_ZEROES),
	.config_size = sizeof(struct virtio_blk_config),
	.read_config = blk_read_config,
	.queue_event = blk_queue_event,
	.timer_event = blk_timer_event,
	.reset = blk_reset,
};

static const struct lvm_virtio_ops blk_ro_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.features = (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
		    (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_RO),
	.config_size = sizeof(struct virtio_blk_config),
	.read_config = blk_read_config,
	.queue_event = blk_queue_event,
	.timer_event = blk_timer_event,
	.reset = blk_reset,
};

/* Opens the image (read-only for a snapshot disk: only its overlay is written). */
static int open_image(struct lvm_blk *blk, const char *path, bool snapshot)
{
	blk->fd = open(path, (blk->readonly || snapshot ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (blk->fd < 0)
		return lvm_fail_errno("cannot open %s", path);
	struct stat st;
	if (fstat(blk->fd, &st) < 0)
		return lvm_fail_errno("cannot stat %s", path);
	if (!S_ISREG(st.st_mode))
		return lvm_fail("%s is not a regular file", path);
	blk->sectors = (uint64_t)st.st_size / SECTOR;
	return 0;
}

/* A disk; with `snapshot` (and not `readonly`) writes go to a private overlay.
 * With `field`, errors start with the recipe field: "snapshot: " for the
 * overlay, else "path: ". */
static struct lvm_blk *blk_new(struct lvm_vm *vm, uint64_t base, unsigned gsi, const char *name,
			       const char *path, bool readonly, bool snapshot, bool field)
{
	const char *failed = "path: ";
	struct lvm_blk *blk = calloc(1, sizeof(*blk));
	if (!blk) {
		lvm_fail("out of memory");
		goto fail;
	}
	blk->fd = -1;
	blk->readonly = readonly;
	snapshot = snapshot && !readonly; /* nothing is written: nothing to keep private */
	lvm_throttle_init(&blk->throttle);
	lvm_gate_init(&blk->gate, &blk->throttle);
	blk->name = strdup(name);
	if (!blk->name || open_image(blk, path, snapshot) < 0)
		goto fail;
	failed = "snapshot: ";
	if (snapshot && !(blk->overlay = lvm_blk_overlay_new(blk->fd, blk->sectors * SECTOR)))
		goto fail;
	failed = "path: ";
	blk->transport = lvm_virtio_new(vm, base, gsi, readonly ? &blk_ro_ops : &blk_ops, blk);
	if (!blk->transport)
		goto fail;
	return blk;
fail:
	if (field)
		lvm_fail_prefix("%s", failed);
	lvm_blk_free(blk);
	return NULL;
}

struct lvm_blk *lvm_blk_new(struct lvm_vm *vm, uint64_t base, unsigned gsi, const char *name,
			    const char *path, bool readonly)
{
	return blk_new(vm, base, gsi, name, path, readonly, false, false);
}

struct lvm_blk *lvm_blk_open(struct lvm_vm *vm, uint64_t base, unsigned gsi, const char *name,
			     const char *path, bool readonly, bool snapshot)
{
	return blk_new(vm, base, gsi, name, path, readonly, snapshot, true);
}

struct lvm_blk_overlay *lvm_blk_overlay_of(struct lvm_blk *blk)
{
	return blk->overlay;
}

int lvm_blk_replace_overlay(struct lvm_blk *blk, struct lvm_blk_overlay *ov)
{
	int rc = 0;
	if (!ov)
		return -1; /* the clone or load that made it failed: its lvm_error stands */
	if (!blk->overlay)
		rc = lvm_fail("disk %s has no overlay (snapshot = false, or readonly)", blk->name);
	else if (lvm_blk_overlay_size(ov) != blk->sectors * SECTOR)
		rc = lvm_fail("the overlay is %llu bytes, disk %s %llu",
			      (unsigned long long)lvm_blk_overlay_size(ov), blk->name,
			      (unsigned long long)(blk->sectors * SECTOR));
	else if (!lvm_blk_overlay_is_over(ov, blk->fd))
		rc = lvm_fail("the overlay is over another image than disk %s's", blk->name);
	if (rc < 0) {
		lvm_blk_overlay_free(ov);
		return -1;
	}
	lvm_blk_overlay_free(blk->overlay);
	blk->overlay = ov;
	return 0;
}

int lvm_blk_start(struct lvm_blk *blk)
{
	return lvm_virtio_start(blk->transport);
}

void lvm_blk_free(struct lvm_blk *blk)
{
	if (!blk)
		return;
	lvm_virtio_free(blk->transport); /* the I/O thread stops first */
	lvm_blk_overlay_free(blk->overlay);
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk->name);
	lvm_throttle_destroy(&blk->throttle);
	free(blk);
}

void lvm_blk_set_filter(struct lvm_blk *blk, const struct lvm_filter *policy)
{
	lvm_gate_set_filter(&blk->gate, policy);
}

struct lvm_throttle *lvm_blk_throttle(struct lvm_blk *blk)
{
	return &blk->throttle;
}

const char *lvm_blk_name(const struct lvm_blk *blk)
{
	return blk->name;
}

struct lvm_blk_stats lvm_blk_stats(const struct lvm_blk *blk)
{
	struct lvm_blk_stats s;
	lvm_stats_snapshot(&s, &blk->stats, sizeof(s));
	return s;
}

/* ---- Snapshots (devices/device.h) ---- */

#include "util/state.h"

/* A request waiting in the gate (its delay or the rate limit) completes now,
 * as the filter ruled; every other one completed within its event. */
int lvm_blk_quiesce(struct lvm_blk *blk)
{
	struct lvm_virtio_transport *t = blk->transport;
	if (lvm_virtio_quiesce(t) < 0)
		return -1;
	pthread_mutex_lock(&t->lock);
	if (blk->pending) {
		lvm_vq_push(&t->vq[0], blk->chain.head, blk_request(blk, &blk->chain));
		blk->pending = false;
		lvm_virtio_notify_used(t, 0);
	}
	pthread_mutex_unlock(&t->lock);
	/* A snapshot promises the image holds what the guest wrote. */
	if (!blk->readonly && !blk->overlay && fdatasync(blk->fd) < 0) {
		lvm_fail_errno("%s: flush", blk->name);
		lvm_virtio_resume(t);
		return -1;
	}
	return 0;
}

void lvm_blk_resume(struct lvm_blk *blk)
{
	lvm_virtio_resume(blk->transport);
}

/* After the transport: the capacity and read-only flag the driver knows. */
void lvm_blk_save(struct lvm_blk *blk, struct lvm_state_writer *w)
{
	lvm_virtio_save(blk->transport, w);
	lvm_state_put_u64(w, blk->sectors * SECTOR);
	lvm_state_put_bool(w, blk->readonly);
}

int lvm_blk_load(struct lvm_blk *blk, struct lvm_state_reader *r)
{
	if (lvm_virtio_load(blk->transport, r) < 0)
		return -1;
	uint64_t bytes = lvm_state_get_u64(r);
	bool readonly = lvm_state_get_bool(r);
	if (r->failed)
		return -1;
	if (bytes != blk->sectors * SECTOR)
		return lvm_state_bad(r, "disk size changed: was %llu, now %llu bytes",
				     (unsigned long long)bytes,
				     (unsigned long long)(blk->sectors * SECTOR));
	if (readonly != blk->readonly)
		return lvm_state_bad(r, "the disk was %s, now %s", readonly ? "read-only" : "writable",
				     blk->readonly ? "read-only" : "writable");
	return 0;
}
