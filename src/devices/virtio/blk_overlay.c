/*
 * The copy-on-write overlay of a snapshot disk (blk_overlay.h).
 */
#include "devices/virtio/blk_overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/virtio/queue.h"
#include "util/error.h"
#include "util/le.h"
#include "util/state.h"

#define BLOCK ((uint64_t)LVM_BLK_OVERLAY_BLOCK)

struct lvm_blk_overlay {
	int base_fd;     /* the image, read only */
	int fd;          /* the unlinked overlay file, `size` bytes, sparse */
	uint64_t size;
	uint64_t nblocks;
	uint64_t *held;  /* bit b: the overlay holds block b */
	uint64_t bytes;  /* bytes of the held blocks (atomic: read by stats) */
	uint8_t block[LVM_BLK_OVERLAY_BLOCK];   /* a block being copied up */
	struct iovec iov[LVM_VQ_MAX_SEGS];       /* a slice of the caller's buffers */
};

/* Words of the map: ceil(nblocks / 64). */
static size_t map_words(const struct lvm_blk_overlay *ov)
{
	return (size_t)((ov->nblocks + 63) / 64);
}

static bool is_held(const struct lvm_blk_overlay *ov, uint64_t b)
{
	return (ov->held[b / 64] >> (b % 64)) & 1;
}

/* Bytes of block b (the last one may be short: a disk is whole sectors). */
static uint64_t block_len(const struct lvm_blk_overlay *ov, uint64_t b)
{
	uint64_t left = ov->size - b * BLOCK;
	return left < BLOCK ? left : BLOCK;
}

/* Marks blocks [first, last] held, a word of the map at a time (a guest
 * may discard the whole disk in one request). */
static void hold(struct lvm_blk_overlay *ov, uint64_t first, uint64_t last)
{
	uint64_t added = 0;
	bool short_tail = last == ov->nblocks - 1 && !is_held(ov, last);
	for (uint64_t b = first; b <= last;) {
		uint64_t w = b / 64, lo = b % 64, hi = last / 64 == w ? last % 64 : 63;
		uint64_t mask = (hi - lo == 63 ? ~0ull : (1ull << (hi - lo + 1)) - 1) << lo;
		added += (uint64_t)__builtin_popcountll(mask & ~ov->held[w]) * BLOCK;
		ov->held[w] |= mask;
		b = w * 64 + hi + 1;
	}
	if (short_tail) /* the disk's last block, now held, may be short */
		added -= BLOCK - block_len(ov, last);
	__atomic_fetch_add(&ov->bytes, added, __ATOMIC_RELAXED);
}

static bool in_disk(const struct lvm_blk_overlay *ov, uint64_t off, uint64_t len)
{
	if (len <= ov->size && off <= ov->size - len)
		return true;
	errno = EINVAL;
	return false;
}

/* The directory overlays go in: $TMPDIR, else /tmp. */
static const char *tmp_dir(void)
{
	const char *dir = getenv("TMPDIR");
	return dir && *dir ? dir : "/tmp";
}

/* An unlinked read-write file in `dir`, or -1 (errno set). */
static int open_unlinked(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* No O_TMPFILE on this file system (or kernel): name it and unlink it. */
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/luavmm-overlay-XXXXXX", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

struct lvm_blk_overlay *lvm_blk_overlay_new(int base_fd, uint64_t size)
{
	const char *dir = tmp_dir();
	struct lvm_blk_overlay *ov = calloc(1, sizeof(*ov));
	if (!ov) {
		lvm_fail("out of memory");
		return NULL;
	}
	ov->fd = -1;
	ov->size = size;
	ov->nblocks = size / BLOCK + (size % BLOCK != 0);
	ov->held = calloc(map_words(ov) + 1, sizeof(uint64_t)); /* + 1: never calloc(0) */
	ov->base_fd = fcntl(base_fd, F_DUPFD_CLOEXEC, 0);
	if (!ov->held) {
		lvm_fail("out of memory for the overlay's map of %llu blocks",
			 (unsigned long long)ov->nblocks);
		goto fail;
	}
	if (ov->base_fd < 0) {
		lvm_fail_errno("cannot duplicate the image's descriptor");
		goto fail;
	}
	ov->fd = open_unlinked(dir);
	if (ov->fd < 0 || ftruncate(ov->fd, (off_t)size) < 0) {
		lvm_fail_errno("cannot create an overlay in %s", dir);
		goto fail;
	}
	return ov;
fail:
	lvm_blk_overlay_free(ov);
	return NULL;
}

void lvm_blk_overlay_free(struct lvm_blk_overlay *ov)
{
	if (!ov)
		return;
	if (ov->fd >= 0)
		close(ov->fd); /* the last reference: the file's blocks go back */
	if (ov->base_fd >= 0)
		close(ov->base_fd);
	free(ov->held);
	free(ov);
}

/* pread/pwrite of exactly `len` bytes at `off` over `n` iovecs (consumed). */
static bool transfer(int fd, struct iovec *iov, int n, uint64_t off, uint64_t len, bool write)
{
	while (len > 0) {
		ssize_t done = write ? pwritev(fd, iov, n, (off_t)off) : preadv(fd, iov, n, (off_t)off);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0) {
			if (done == 0)
				errno = EIO; /* the file ends early */
			return false;
		}
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

/* Disk bytes [off, off + len) to or from the caller's buffers from byte `at` on. */
static bool slice_io(struct lvm_blk_overlay *ov, int fd, const struct iovec *iov, unsigned n,
		     uint64_t at, uint64_t off, uint64_t len, bool write)
{
	int k = lvm_iov_slice(iov, n, (size_t)at, (size_t)len, ov->iov, LVM_VQ_MAX_SEGS);
	if (k < 0) {
		errno = EINVAL;
		return false;
	}
	return transfer(fd, ov->iov, k, off, len, write);
}

bool lvm_blk_overlay_read(struct lvm_blk_overlay *ov, const struct iovec *iov, unsigned n,
			  uint64_t off, uint64_t len)
{
	if (!in_disk(ov, off, len))
		return false;
	uint64_t end = off + len;
	for (uint64_t at = off; at < end;) {
		/* The longest run of blocks with one owner, read in one go. */
		uint64_t b = at / BLOCK;
		bool mine = is_held(ov, b);
		uint64_t stop = (b + 1) * BLOCK;
		while (stop < end && is_held(ov, stop / BLOCK) == mine)
			stop += BLOCK;
		if (stop > end)
			stop = end;
		if (!slice_io(ov, mine ? ov->fd : ov->base_fd, iov, n, at - off, at, stop - at, false))
			return false;
		at = stop;
	}
	return true;
}

/* Copies block b up from the image into the overlay and marks it held. */
static bool copy_up(struct lvm_blk_overlay *ov, uint64_t b)
{
	uint64_t len = block_len(ov, b), got = 0;
	while (got < len) {
		ssize_t r = pread(ov->base_fd, ov->block + got, len - got, (off_t)(b * BLOCK + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return false;
		if (r == 0) { /* the image shrank under us: the rest reads as zeroes */
			memset(ov->block + got, 0, len - got);
			break;
		}
		got += (uint64_t)r;
	}
	struct iovec v = { ov->block, len };
	if (!transfer(ov->fd, &v, 1, b * BLOCK, len, true))
		return false;
	hold(ov, b, b);
	return true;
}

/* Before [off, off + len) is overwritten: copies up the blocks at either
 * end that it covers only in part and the overlay does not hold yet. */
static bool prepare(struct lvm_blk_overlay *ov, uint64_t off, uint64_t len)
{
	uint64_t first = off / BLOCK, last = (off + len - 1) / BLOCK;
	bool head_part = off % BLOCK != 0 || off + len < first * BLOCK + block_len(ov, first);
	bool tail_part = off + len < last * BLOCK + block_len(ov, last);
	if (head_part && !is_held(ov, first) && !copy_up(ov, first))
		return false;
	if (last != first && tail_part && !is_held(ov, last) && !copy_up(ov, last))
		return false;
	return true;
}

bool lvm_blk_overlay_write(struct lvm_blk_overlay *ov, const struct iovec *iov, unsigned n,
			   uint64_t off, uint64_t len)
{
	if (!in_disk(ov, off, len))
		return false;
	if (len == 0)
		return true;
	if (!prepare(ov, off, len) || !slice_io(ov, ov->fd, iov, n, 0, off, len, true))
		return false;
	hold(ov, off / BLOCK, (off + len - 1) / BLOCK);
	return true;
}

/* Zeroes by writing zeroes, where the file system cannot fallocate. */
static bool write_zeroes(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeroes[65536];
	while (len > 0) {
		size_t n = len < sizeof(zeroes) ? (size_t)len : sizeof(zeroes);
		ssize_t done = pwrite(fd, zeroes, n, (off_t)off);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return false;
		off += (uint64_t)done;
		len -= (uint64_t)done;
	}
	return true;
}

bool lvm_blk_overlay_zero(struct lvm_blk_overlay *ov, uint64_t off, uint64_t len)
{
	if (!in_disk(ov, off, len))
		return false;
	if (len == 0)
		return true;
	if (!prepare(ov, off, len))
		return false;
	/* A hole reads as zeroes and gives the space back (tmpfs: the memory). */
	if (fallocate(ov->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0 &&
	    !write_zeroes(ov->fd, off, len))
		return false;
	hold(ov, off / BLOCK, (off + len - 1) / BLOCK);
	return true;
}

uint64_t lvm_blk_overlay_size(const struct lvm_blk_overlay *ov)
{
	return ov->size;
}

uint64_t lvm_blk_overlay_bytes(const struct lvm_blk_overlay *ov)
{
	return __atomic_load_n(&ov->bytes, __ATOMIC_RELAXED);
}

bool lvm_blk_overlay_is_over(const struct lvm_blk_overlay *ov, int fd)
{
	struct stat a, b;
	return fstat(ov->base_fd, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* Copies [off, off + len) from one file to another with read and write. */
static bool copy_plain(int from, int to, uint64_t off, uint64_t len)
{
	uint8_t buf[65536];
	while (len > 0) {
		size_t want = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		ssize_t r = pread(from, buf, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return false;
		}
		struct iovec v = { buf, (size_t)r };
		if (!transfer(to, &v, 1, off, (uint64_t)r, true))
			return false;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return true;
}

/* Copies [off, off + len) between the files at the same offsets, in the
 * kernel where it can (a reflink on a file system that shares extents). */
static bool copy_range(int from, int to, uint64_t off, uint64_t len)
{
	while (len > 0) {
		loff_t in = (loff_t)off, out = (loff_t)off;
		ssize_t done = copy_file_range(from, &in, to, &out, (size_t)len, 0);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return copy_plain(from, to, off, len); /* EXDEV, ENOSYS, EOPNOTSUPP... */
		off += (uint64_t)done;
		len -= (uint64_t)done;
	}
	return true;
}

/* Copies the data of [off, end) from one overlay file to another, skipping
 * holes (the destination is all holes: they already read as zeroes). */
static bool copy_data(int from, int to, uint64_t off, uint64_t end)
{
	while (off < end) {
		off_t data = lseek(from, (off_t)off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			return true; /* only holes from here on */
		if (data < 0)
			return copy_range(from, to, off, end - off); /* no SEEK_DATA: all of it */
		if ((uint64_t)data >= end)
			return true;
		off_t hole = lseek(from, data, SEEK_HOLE);
		uint64_t stop = hole < 0 || (uint64_t)hole > end ? end : (uint64_t)hole;
		if (!copy_range(from, to, (uint64_t)data, stop - (uint64_t)data))
			return false;
		off = stop;
	}
	return true;
}

/* Copies the blocks `map` holds from one file to another (same offsets). */
static bool copy_held(const struct lvm_blk_overlay *map, int from, int to)
{
	/* Each run of held blocks, found a word of the map at a time. */
	for (uint64_t b = 0; b < map->nblocks;) {
		if (b % 64 == 0 && map->held[b / 64] == 0) {
			b += 64;
			continue;
		}
		if (!is_held(map, b)) {
			b++;
			continue;
		}
		uint64_t first = b;
		while (b < map->nblocks && is_held(map, b))
			b++;
		uint64_t end = b * BLOCK < map->size ? b * BLOCK : map->size;
		if (!copy_data(from, to, first * BLOCK, end))
			return false;
	}
	return true;
}

struct lvm_blk_overlay *lvm_blk_overlay_clone(const struct lvm_blk_overlay *parent)
{
	if (!parent) { /* lvm_blk_overlay_of a disk without one */
		lvm_fail("the disk has no overlay to copy (not a snapshot disk)");
		return NULL;
	}
	struct lvm_blk_overlay *c = lvm_blk_overlay_new(parent->base_fd, parent->size);
	if (!c)
		return NULL;
	memcpy(c->held, parent->held, map_words(c) * sizeof(uint64_t));
	c->bytes = lvm_blk_overlay_bytes(parent);
	if (!copy_held(c, parent->fd, c->fd)) {
		lvm_fail_errno("cannot copy the overlay");
		lvm_blk_overlay_free(c);
		return NULL;
	}
	return c;
}

/*
 * The saved form (lvm_blk_overlay_save), one file:
 *   [0, size)            the disk's bytes where held, holes elsewhere
 *   [A, A + 8 * words)   the map, u64 little-endian words (A: size rounded
 *                        up to a block; words: ceil(blocks / 64))
 *   then 24 bytes        "LVMOVL1\0", size (u64), CRC-32C of the map (u32),
 *                        zero (u32)
 * The file's length follows from the disk's size, which the loader knows.
 */
#define TRAILER 24u
static const char magic[8] = "LVMOVL1";

static uint64_t map_at(uint64_t size)
{
	return (size + BLOCK - 1) / BLOCK * BLOCK;
}

/* The map and trailer as saved (malloc'd, *len bytes), or NULL. */
static uint8_t *encode_tail(const struct lvm_blk_overlay *ov, size_t *len)
{
	size_t words = map_words(ov);
	*len = words * 8 + TRAILER;
	uint8_t *t = malloc(*len);
	if (!t)
		return NULL;
	for (size_t i = 0; i < words; i++)
		lvm_put_le(t + 8 * i, ov->held[i], 8);
	uint8_t *tr = t + words * 8;
	memcpy(tr, magic, sizeof(magic));
	lvm_put_le(tr + 8, ov->size, 8);
	lvm_put_le(tr + 16, lvm_crc32c(0, t, words * 8), 4);
	lvm_put_le(tr + 20, 0, 4);
	return t;
}

int lvm_blk_overlay_save(const struct lvm_blk_overlay *ov, const char *path)
{
	size_t len;
	uint8_t *tail = encode_tail(ov, &len);
	if (!tail)
		return lvm_fail("out of memory");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(tail);
		return lvm_fail_errno("cannot create %s", path);
	}
	struct iovec v = { .iov_base = tail, .iov_len = len };
	bool ok = ftruncate(fd, (off_t)map_at(ov->size)) == 0 && copy_held(ov, ov->fd, fd) &&
		  transfer(fd, &v, 1, map_at(ov->size), len, true);
	int rc = ok ? 0 : lvm_fail_errno("cannot write %s", path);
	free(tail);
	if (close(fd) < 0 && rc == 0)
		rc = lvm_fail_errno("cannot write %s", path);
	return rc;
}

/* Reads the saved map and trailer of `fd` into `ov` (hostile input): 0, or -1 + lvm_error. */
static int decode_tail(struct lvm_blk_overlay *ov, int fd, const char *path)
{
	size_t len = map_words(ov) * 8 + TRAILER;
	uint8_t *t = malloc(len);
	if (!t)
		return lvm_fail("out of memory");
	struct iovec v = { .iov_base = t, .iov_len = len };
	int rc = 0;
	const uint8_t *tr = t + len - TRAILER;
	if (!transfer(fd, &v, 1, map_at(ov->size), len, false))
		rc = lvm_fail_errno("cannot read %s", path);
	else if (memcmp(tr, magic, sizeof(magic)) != 0 || lvm_get_le(tr + 20, 4) != 0)
		rc = lvm_fail("%s is not a saved disk overlay", path);
	else if (lvm_get_le(tr + 8, 8) != ov->size)
		rc = lvm_fail("%s is the overlay of a %llu-byte disk, not of %llu bytes", path,
			      (unsigned long long)lvm_get_le(tr + 8, 8), (unsigned long long)ov->size);
	else if (lvm_get_le(tr + 16, 4) != lvm_crc32c(0, t, len - TRAILER))
		rc = lvm_fail("%s: the overlay's map is damaged (checksum)", path);
	for (size_t i = 0; rc == 0 && i < map_words(ov); i++)
		ov->held[i] = lvm_get_le(t + 8 * i, 8);
	free(t);
	if (rc == 0 && ov->nblocks % 64 && ov->held[ov->nblocks / 64] >> (ov->nblocks % 64))
		rc = lvm_fail("%s: the overlay's map holds blocks past the disk's end", path);
	return rc;
}

/* Bytes of the blocks the map holds (the last one may be short). */
static uint64_t held_bytes(const struct lvm_blk_overlay *ov)
{
	uint64_t blocks = 0;
	for (size_t i = 0; i < map_words(ov); i++)
		blocks += (uint64_t)__builtin_popcountll(ov->held[i]);
	uint64_t n = blocks * BLOCK;
	if (ov->nblocks && is_held(ov, ov->nblocks - 1))
		n -= BLOCK - block_len(ov, ov->nblocks - 1);
	return n;
}

/* The length of the saved overlay of a `size`-byte disk. */
static uint64_t saved_len(uint64_t size)
{
	uint64_t blocks = size / BLOCK + (size % BLOCK != 0);
	return map_at(size) + (blocks + 63) / 64 * 8 + TRAILER;
}

/* Fills the new overlay `ov` from the saved file `fd`: 0, or -1 + lvm_error. */
static int load_into(struct lvm_blk_overlay *ov, int fd, const char *path)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return lvm_fail_errno("cannot stat %s", path);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != saved_len(ov->size))
		return lvm_fail("%s is not the saved overlay of a %llu-byte disk (%lld bytes, not %llu)",
				path, (unsigned long long)ov->size, (long long)st.st_size,
				(unsigned long long)saved_len(ov->size));
	if (decode_tail(ov, fd, path) < 0)
		return -1;
	ov->bytes = held_bytes(ov);
	if (!copy_held(ov, fd, ov->fd))
		return lvm_fail_errno("cannot copy %s", path);
	return 0;
}

struct lvm_blk_overlay *lvm_blk_overlay_load(const struct lvm_blk_overlay *like,
					      const char *path)
{
	if (!like) {
		lvm_fail("the disk has no overlay to load into (not a snapshot disk)");
		return NULL;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		lvm_fail_errno("cannot open %s", path);
		return NULL;
	}
	struct lvm_blk_overlay *ov = lvm_blk_overlay_new(like->base_fd, like->size);
	if (ov && load_into(ov, fd, path) < 0) {
		lvm_blk_overlay_free(ov);
		ov = NULL;
	}
	close(fd);
	return ov;
}
