/*
 * virtio-blk (virtio 1.2 §5.2) on a raw image file: read, write, flush
 * (fdatasync before completion), get-id, discard and write-zeroes.  A
 * read-only disk is opened O_RDONLY, offers VIRTIO_BLK_F_RO and fails
 * every write with VIRTIO_BLK_S_IOERR.  A snapshot disk reads the image
 * and keeps its writes in a private overlay.  Requests are served on the
 * transport's I/O thread.
 */
#ifndef LVM_DEVICES_VIRTIO_BLK_H
#define LVM_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm/vm.h"

struct lvm_blk;

struct lvm_blk_stats {
	uint64_t reads, writes, bytes_read, bytes_written, flushes, discards, errors;
};

/*
 * Opens `path` and attaches the disk at `base`/`gsi`.  `name` is the
 * recipe's name for it (the GET_ID answer).  NULL + lvm_error on failure
 * ("cannot open PATH: reason").
 */
struct lvm_blk *lvm_blk_new(struct lvm_vm *vm, uint64_t base, unsigned gsi, const char *name,
			    const char *path, bool readonly);
/*
 * lvm_blk_new for the recipe: with `snapshot` (unless `readonly`) the image
 * is opened read-only and the guest's writes, discards and write-zeroes go
 * to a private copy-on-write overlay (blk_overlay.h), dropped with the disk;
 * a flush then syncs nothing.  Errors name the recipe field: "path: cannot
 * open ..." or "snapshot: cannot create an overlay in /tmp: ...".
 */
struct lvm_blk *lvm_blk_open(struct lvm_vm *vm, uint64_t base, unsigned gsi, const char *name,
			     const char *path, bool readonly, bool snapshot);
/* Makes the parsed recipe entry `params` (from lvm_blk_device.parse) a
 * snapshot disk, as if it said snapshot = true: for a fork's child. */
void lvm_blk_params_set_snapshot(void *params);

/* The disk's overlay, or NULL if its writes go to the image (or it has none). */
struct lvm_blk_overlay;
struct lvm_blk_overlay *lvm_blk_overlay_of(struct lvm_blk *blk);
/*
 * For a fork or a restore: swaps the disk's overlay for `ov`, before the
 * disk starts or while it is quiesced: lvm_blk_overlay_clone(
 * lvm_blk_overlay_of(parent)) or lvm_blk_overlay_load(
 * lvm_blk_overlay_of(blk), path).  Takes `ov` in every case.  -1 +
 * lvm_error if `ov` is NULL (the clone or load failed: its error stands),
 * the disk has no overlay (created without snapshot) or `ov` is over
 * another image or of another size.
 */
int lvm_blk_replace_overlay(struct lvm_blk *blk, struct lvm_blk_overlay *ov);
int lvm_blk_start(struct lvm_blk *blk);
void lvm_blk_free(struct lvm_blk *blk);
/*
 * Installs (or with NULL removes) the per-request policy (devices/request_filter.h);
 * `policy` must stay valid while the disk lives.  Requests then run in
 * order: a delayed one holds back those behind it, on a timer.
 */
struct lvm_filter;
void lvm_blk_set_filter(struct lvm_blk *blk, const struct lvm_filter *policy);
/* The disk's rate limit (util/throttle.h): bytes are read/write data, every
 * request is one op; a throttled request waits on the I/O thread's timer. */
struct lvm_throttle *lvm_blk_throttle(struct lvm_blk *blk);
const char *lvm_blk_name(const struct lvm_blk *blk);
struct lvm_blk_stats lvm_blk_stats(const struct lvm_blk *blk);

/* Snapshots (devices/device.h's quiesce, resume, save, load): end of blk.c. */
struct lvm_state_writer;
struct lvm_state_reader;
int lvm_blk_quiesce(struct lvm_blk *blk);
void lvm_blk_resume(struct lvm_blk *blk);
void lvm_blk_save(struct lvm_blk *blk, struct lvm_state_writer *w);
int lvm_blk_load(struct lvm_blk *blk, struct lvm_state_reader *r);

/* Its entry in the machine's device table (devices/device.h), in blk_type.c. */
struct lvm_device_type;
extern const struct lvm_device_type lvm_blk_device;

#endif
