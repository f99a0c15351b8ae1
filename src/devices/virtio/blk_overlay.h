/*
 * A private copy-on-write layer over a disk image (`snapshot = true` in a
 * disk's recipe entry): the image is only ever read, and every byte the
 * machine writes lands in an overlay that vanishes with it, so many
 * machines (forks of one VM) can share one base image.
 *
 * The overlay is an unlinked, sparse temporary file of the disk's size
 * (O_TMPFILE in $TMPDIR, else /tmp; mkstemp + unlink where the file
 * system has no O_TMPFILE) plus a bitmap in memory of the 4 KiB blocks
 * the machine has written.  A block is either wholly the image's or
 * wholly the overlay's: a write that covers part of a block the overlay
 * does not hold first copies that block up from the image.  Nothing in
 * the overlay is ever fsynced: it dies with the machine, so a flush has
 * nothing to make durable.
 *
 * Not thread-safe: the I/O functions are called from the disk's one I/O
 * thread; clone and free while that thread serves no request (before its
 * start, or quiesced).  lvm_blk_overlay_bytes may be read from any thread.
 */
#ifndef LVM_DEVICES_VIRTIO_BLK_OVERLAY_H
#define LVM_DEVICES_VIRTIO_BLK_OVERLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define LVM_BLK_OVERLAY_BLOCK 4096u

struct lvm_blk_overlay;

/*
 * An empty overlay of `size` bytes over the image open at `base_fd` (it
 * keeps its own duplicate of the descriptor; the caller keeps `base_fd`).
 * NULL + lvm_error ("cannot create an overlay in /tmp: reason").
 */
struct lvm_blk_overlay *lvm_blk_overlay_new(int base_fd, uint64_t size);
/*
 * A new overlay over the same image whose contents start as `parent`'s
 * (for a fork): the bitmap and the held blocks are copied into a file of
 * its own (copy_file_range, skipping holes), so the two then diverge
 * independently and either may be freed first.  Costs the bytes the
 * parent holds.  `parent` must not be written meanwhile.  NULL + lvm_error
 * (also for a NULL parent: a disk without an overlay).
 */
struct lvm_blk_overlay *lvm_blk_overlay_clone(const struct lvm_blk_overlay *parent);
void lvm_blk_overlay_free(struct lvm_blk_overlay *ov);

/*
 * For vm:snapshot(dir): writes the overlay's contents and map into a new
 * file `path` (0600; sparse: only the held blocks' data, then the map and
 * a checksummed trailer).  Not fsynced: the caller syncs what it keeps.
 * `ov` must not be written meanwhile.  0, or -1 + lvm_error.
 */
int lvm_blk_overlay_save(const struct lvm_blk_overlay *ov, const char *path);
/*
 * For restore: a new overlay over the same image as `like` (and of its
 * size; usually the fresh one of a disk just created with snapshot) whose
 * contents are those saved in `path` (copied: the file is only read and
 * may be loaded again, by several machines).  The file is checked as
 * hostile input (its length, magic, disk size, map checksum, no block past
 * the end).  It does not record which image it was over: the caller must
 * pair it with the same, unchanged image.  NULL + lvm_error (also for a
 * NULL `like`: a disk without an overlay).
 */
struct lvm_blk_overlay *lvm_blk_overlay_load(const struct lvm_blk_overlay *like,
					      const char *path);

/*
 * The disk's bytes [off, off + len) to and from the `n` buffers `iov`
 * (holding at least len bytes; at most LVM_VQ_MAX_SEGS of them).  false
 * (errno set) if the range is off the disk or the I/O failed; a failed
 * write leaves the range's contents undefined, as on a real disk.
 */
bool lvm_blk_overlay_read(struct lvm_blk_overlay *ov, const struct iovec *iov, unsigned n,
			  uint64_t off, uint64_t len);
bool lvm_blk_overlay_write(struct lvm_blk_overlay *ov, const struct iovec *iov, unsigned n,
			   uint64_t off, uint64_t len);
/* Discard and write-zeroes: the range reads as zeroes afterwards (its
 * overlay blocks are punched out where the file system can). */
bool lvm_blk_overlay_zero(struct lvm_blk_overlay *ov, uint64_t off, uint64_t len);

/* The disk's size in bytes. */
uint64_t lvm_blk_overlay_size(const struct lvm_blk_overlay *ov);
/* Bytes of the disk the overlay holds (written, copied up or zeroed by
 * this machine or inherited from a clone's parent), in whole blocks. */
uint64_t lvm_blk_overlay_bytes(const struct lvm_blk_overlay *ov);
/* Whether `fd` is open on the overlay's base image (same device and inode). */
bool lvm_blk_overlay_is_over(const struct lvm_blk_overlay *ov, int fd);

#endif
