/*
 * The copy-on-write overlay of a snapshot disk (devices/virtio/blk_overlay.h):
 * reads see the machine's writes (aligned, unaligned, across blocks, into
 * the short last block), the image's bytes never change, discard reads
 * back as zeroes, a clone starts with its parent's contents and the two
 * then diverge; a saved overlay loads back (twice, independently) and a
 * damaged one is refused; the recipe key `snapshot` (parse, allow check);
 * and a disk on a real VM with its overlay swapped for a fork's copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "devices/device.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/blk_overlay.h"
#include "kvm/vm.h"
#include "util/error.h"
#include "util/state.h"

#define BLK 4096u
#define SIZE (10u * BLK + 1536u) /* whole sectors, the last block short */

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 + i / BLK + 1);
}

/* A base image of SIZE pattern bytes, unlinked; its descriptor. */
static int make_base(void)
{
	char path[] = "/tmp/test-blk-overlay-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	uint8_t buf[SIZE];
	for (uint64_t i = 0; i < SIZE; i++)
		buf[i] = pattern(i);
	if (pwrite(fd, buf, SIZE, 0) != (ssize_t)SIZE) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool base_intact(int fd)
{
	uint8_t buf[SIZE + 1];
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size != SIZE || pread(fd, buf, sizeof(buf), 0) != SIZE)
		return false;
	for (uint64_t i = 0; i < SIZE; i++)
		if (buf[i] != pattern(i))
			return false;
	return true;
}

static bool ov_write(struct lvm_blk_overlay *ov, const uint8_t *p, uint64_t off, uint64_t len)
{
	struct iovec v = { .iov_base = (void *)p, .iov_len = len };
	return lvm_blk_overlay_write(ov, &v, 1, off, len);
}

static bool ov_read(struct lvm_blk_overlay *ov, uint8_t *p, uint64_t off, uint64_t len)
{
	struct iovec v = { .iov_base = p, .iov_len = len };
	return lvm_blk_overlay_read(ov, &v, 1, off, len);
}

/* The whole disk as the overlay shows it equals `model`. */
static bool same_as(struct lvm_blk_overlay *ov, const uint8_t *model)
{
	static uint8_t buf[SIZE];
	memset(buf, 0xee, sizeof(buf));
	return ov_read(ov, buf, 0, SIZE) && memcmp(buf, model, SIZE) == 0;
}

/* Writes `len` bytes of `fill` at `off` to the overlay and the model. */
static bool put(struct lvm_blk_overlay *ov, uint8_t *model, uint64_t off, uint64_t len,
		uint8_t fill)
{
	static uint8_t buf[SIZE];
	memset(buf, fill, len);
	memset(model + off, fill, len);
	return ov_write(ov, buf, off, len);
}

static void init_model(uint8_t *model)
{
	for (uint64_t i = 0; i < SIZE; i++)
		model[i] = pattern(i);
}

static void test_reads_see_writes(void)
{
	static uint8_t model[SIZE];
	int base = make_base();
	CHECK(base >= 0);
	struct lvm_blk_overlay *ov = lvm_blk_overlay_new(base, SIZE);
	CHECK(ov != NULL);
	if (!ov)
		return;
	init_model(model);
	CHECK_EQ_U64(lvm_blk_overlay_size(ov), SIZE);
	CHECK_EQ_U64(lvm_blk_overlay_bytes(ov), 0);
	CHECK(same_as(ov, model));

	CHECK(put(ov, model, 2 * BLK, BLK, 0xa1));           /* one aligned block */
	CHECK_EQ_U64(lvm_blk_overlay_bytes(ov), BLK);
	CHECK(put(ov, model, 4 * BLK + 100, 300, 0xa2));     /* inside one block */
	CHECK_EQ_U64(lvm_blk_overlay_bytes(ov), 2 * BLK);
	CHECK(put(ov, model, 5 * BLK + 4000, 2 * BLK + 500, 0xa3)); /* blocks 5..8 */
	CHECK_EQ_U64(lvm_blk_overlay_bytes(ov), 6 * BLK);
	CHECK(put(ov, model, 4 * BLK + 200, 50, 0xa4));      /* a block already held */
	CHECK(put(ov, model, 10 * BLK + 512, 1024, 0xa5));   /* the short last block, to its end */
	CHECK_EQ_U64(lvm_blk_overlay_bytes(ov), 6 * BLK + 1536);
	CHECK(same_as(ov, model));

	/* Several buffers of odd lengths, across a held and an unheld block. */
	uint8_t a[700], b[3000], c[1396];
	memset(a, 0xb1, sizeof(a));
	memset(b, 0xb2, sizeof(b));
	memset(c, 0xb3, sizeof(c));
	struct iovec v[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
	uint64_t off = 7 * BLK + 1000;
	CHECK(lvm_blk_overlay_write(ov, v, 3, off, 5096));
	memcpy(model + off, a, sizeof(a));
	memcpy(model + off + sizeof(a), b, sizeof(b));
	memcpy(model + off + sizeof(a) + sizeof(b), c, sizeof(c));
	CHECK(same_as(ov, model));

	/* A read in several buffers over runs of image and overlay blocks. */
	uint8_t r1[1000], r2[9000];
	struct iovec rv[2] = { { r1, sizeof(r1) }, { r2, sizeof(r2) } };
	CHECK(lvm_blk_overlay_read(ov, rv, 2, BLK + 3000, 10000));
	CHECK(memcmp(r1, model + BLK + 3000, sizeof(r1)) == 0);
	CHECK(memcmp(r2, model + BLK + 4000, sizeof(r2)) == 0);

	/* Off the disk: refused, nothing changes. */
	uint8_t one[512] = { 0 };
	CHECK(!ov_write(ov, one, SIZE - 256, 512));
	CHECK(!ov_read(ov, one, SIZE, 1));
	CHECK(!ov_read(ov, one, UINT64_MAX - 10, 20));
	CHECK(!lvm_blk_overlay_zero(ov, SIZE - 512, 1024));
	CHECK(ov_read(ov, one, SIZE, 0));
	CHECK(same_as(ov, model));
	CHECK(base_intact(base));
	lvm_blk_overlay_free(ov);
	CHECK(base_intact(base));
	close(base);
}

static void test_discard(void)
{
	static uint8_t model[SIZE];
	int base = make_base();
	struct lvm_blk_overlay *ov = lvm_blk_overlay_new(base, SIZE);
	CHECK(ov != NULL);
	if (!ov)
		return;
	init_model(model);
	CHECK(put(ov, model, 3 * BLK, 2 * BLK, 0xc1));
	/* Part of an image block, a written block and part of another. */
	CHECK(lvm_blk_overlay_zero(ov, 2 * BLK + 512, 2 * BLK + 1024));
	memset(model + 2 * BLK + 512, 0, 2 * BLK + 1024);
	CHECK(same_as(ov, model));
	/* Whole blocks never written: zeroes, not the image. */
	CHECK(lvm_blk_overlay_zero(ov, 8 * BLK, 2 * BLK));
	memset(model + 8 * BLK, 0, 2 * BLK);
	CHECK(same_as(ov, model));
	CHECK_EQ_U64(lvm_blk_overlay_bytes(ov), 5 * BLK); /* blocks 2..4, 8, 9 */
	/* Writing into a zeroed (punched) block again. */
	CHECK(put(ov, model, 8 * BLK + 10, 20, 0xc2));
	CHECK(same_as(ov, model));
	CHECK(base_intact(base));
	lvm_blk_overlay_free(ov);
	close(base);
}

static void test_clone(void)
{
	static uint8_t pm[SIZE], cm[SIZE];
	int base = make_base();
	struct lvm_blk_overlay *parent = lvm_blk_overlay_new(base, SIZE);
	CHECK(parent != NULL);
	if (!parent)
		return;
	init_model(pm);
	CHECK(put(parent, pm, 1 * BLK + 10, 100, 0xd1));
	CHECK(put(parent, pm, 3 * BLK, 3 * BLK, 0xd2));
	CHECK(lvm_blk_overlay_zero(parent, 4 * BLK, BLK)); /* a hole inside a held run */
	memset(pm + 4 * BLK, 0, BLK);
	CHECK(put(parent, pm, 10 * BLK, 1536, 0xd3));

	struct lvm_blk_overlay *child = lvm_blk_overlay_clone(parent);
	CHECK(child != NULL);
	if (!child)
		return;
	memcpy(cm, pm, SIZE);
	CHECK(same_as(child, cm));
	CHECK_EQ_U64(lvm_blk_overlay_bytes(child), lvm_blk_overlay_bytes(parent));

	/* Each one's writes stay its own. */
	CHECK(put(child, cm, 1 * BLK + 50, 200, 0xe1));
	CHECK(put(child, cm, 7 * BLK + 1, 1, 0xe2));
	CHECK(put(parent, pm, 8 * BLK, BLK, 0xe3));
	CHECK(lvm_blk_overlay_zero(child, 3 * BLK, 512));
	memset(cm + 3 * BLK, 0, 512);
	CHECK(same_as(parent, pm));
	CHECK(same_as(child, cm));

	/* A clone of the clone, and the parent freed first. */
	struct lvm_blk_overlay *grandchild = lvm_blk_overlay_clone(child);
	CHECK(grandchild != NULL);
	lvm_blk_overlay_free(parent);
	lvm_blk_overlay_free(child);
	if (grandchild) {
		CHECK(same_as(grandchild, cm));
		CHECK(put(grandchild, cm, 0, SIZE, 0xf0));
		CHECK(same_as(grandchild, cm));
		CHECK_EQ_U64(lvm_blk_overlay_bytes(grandchild), SIZE);
	}
	lvm_blk_overlay_free(grandchild);
	CHECK(base_intact(base));
	close(base);
}

/* Random writes and zeroes against a model, with a clone now and then. */
static void test_random(void)
{
	static uint8_t m1[SIZE], m2[SIZE];
	int base = make_base();
	struct lvm_blk_overlay *ov = lvm_blk_overlay_new(base, SIZE), *other = NULL;
	CHECK(ov != NULL);
	if (!ov)
		return;
	init_model(m1);
	unsigned seed = 12345;
	for (int i = 0; i < 400; i++) {
		seed = seed * 1103515245u + 12345u;
		uint64_t off = (seed >> 8) % SIZE;
		seed = seed * 1103515245u + 12345u;
		uint64_t len = (seed >> 8) % (3 * BLK);
		if (len > SIZE - off)
			len = SIZE - off;
		if (i % 5 == 4) {
			CHECK(lvm_blk_overlay_zero(ov, off, len));
			memset(m1 + off, 0, len);
		} else {
			CHECK(put(ov, m1, off, len, (uint8_t)i));
		}
		if (i % 100 == 50) { /* continue on a clone; the old one must not move */
			lvm_blk_overlay_free(other);
			other = ov;
			memcpy(m2, m1, SIZE);
			ov = lvm_blk_overlay_clone(other);
			CHECK(ov != NULL);
			if (!ov)
				break;
		}
	}
	CHECK(ov && same_as(ov, m1));
	CHECK(other && same_as(other, m2));
	lvm_blk_overlay_free(ov);
	lvm_blk_overlay_free(other);
	CHECK(base_intact(base));
	close(base);
}

/* A map of several words: runs that cross them, and the whole disk. */
static void test_big_map(void)
{
	enum { BIG = 200 * BLK + 512, BLOCKS = 201 };
	static uint8_t m[BIG], buf[BIG];
	static bool held[BLOCKS];
	char path[] = "/tmp/test-blk-overlay-big-XXXXXX";
	int base = mkstemp(path);
	CHECK(base >= 0 && ftruncate(base, BIG) == 0);
	unlink(path);
	struct lvm_blk_overlay *ov = lvm_blk_overlay_new(base, BIG);
	CHECK(ov != NULL);
	if (!ov)
		return;
	memset(m, 0, sizeof(m));
	unsigned seed = 99;
	for (int i = 0; i < 200; i++) {
		seed = seed * 1103515245u + 12345u;
		uint64_t off = (seed >> 4) % BIG;
		seed = seed * 1103515245u + 12345u;
		uint64_t len = 1 + (seed >> 4) % (i % 3 ? 2 * BLK : 90 * BLK);
		if (len > BIG - off)
			len = BIG - off;
		memset(buf, i + 1, len);
		memset(m + off, i + 1, len);
		CHECK(ov_write(ov, buf, off, len));
		for (uint64_t b = off / BLK; b <= (off + len - 1) / BLK; b++)
			held[b] = true;
		uint64_t want = 0;
		for (unsigned b = 0; b < BLOCKS; b++)
			want += held[b] ? (b == BLOCKS - 1 ? 512 : BLK) : 0;
		CHECK_EQ_U64(lvm_blk_overlay_bytes(ov), want);
	}
	CHECK(ov_read(ov, buf, 0, BIG) && memcmp(buf, m, BIG) == 0);
	struct lvm_blk_overlay *c = lvm_blk_overlay_clone(ov);
	CHECK(c && ov_read(c, buf, 0, BIG) && memcmp(buf, m, BIG) == 0);
	CHECK(lvm_blk_overlay_zero(ov, 0, BIG));
	CHECK_EQ_U64(lvm_blk_overlay_bytes(ov), BIG);
	memset(m, 0, sizeof(m));
	CHECK(ov_read(ov, buf, 0, BIG) && memcmp(buf, m, BIG) == 0);
	lvm_blk_overlay_free(c);
	lvm_blk_overlay_free(ov);
	close(base);
}

/* The saved file's map (one word here: 11 blocks) and trailer. */
#define MAP_AT (11u * BLK)
#define SAVED_LEN (MAP_AT + 8u + 24u)

static int corrupt(const char *path, uint64_t at, const void *bytes, size_t n)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t w = fd < 0 ? -1 : pwrite(fd, bytes, n, (off_t)at);
	if (fd >= 0)
		close(fd);
	return w == (ssize_t)n ? 0 : -1;
}

/* Loading `path` fails with a message containing `why`. */
static bool refused(int base, uint64_t size, const char *path, const char *why)
{
	struct lvm_blk_overlay *like = lvm_blk_overlay_new(base, size);
	struct lvm_blk_overlay *ov = lvm_blk_overlay_load(like, path);
	lvm_blk_overlay_free(like);
	lvm_blk_overlay_free(ov);
	if (!ov && !strstr(lvm_error(), why))
		fprintf(stderr, "    load error: %s\n", lvm_error());
	return !ov && strstr(lvm_error(), why);
}

static void test_save_load(void)
{
	static uint8_t m[SIZE], m2[SIZE];
	char path[] = "/tmp/test-blk-overlay-saved-XXXXXX";
	int tmp = mkstemp(path);
	CHECK(tmp >= 0);
	close(tmp);
	int base = make_base();
	struct lvm_blk_overlay *ov = lvm_blk_overlay_new(base, SIZE);
	CHECK(ov != NULL);
	if (!ov)
		return;
	init_model(m);
	CHECK(put(ov, m, 100, 5000, 0x31));
	CHECK(lvm_blk_overlay_zero(ov, 6 * BLK, BLK + 512));
	memset(m + 6 * BLK, 0, BLK + 512);
	CHECK(put(ov, m, SIZE - 700, 700, 0x32));
	CHECK_EQ_U64(lvm_blk_overlay_save(ov, path), 0);
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_size == SAVED_LEN);

	/* Loaded twice: each reads as saved, and they are independent. */
	struct lvm_blk_overlay *a = lvm_blk_overlay_load(ov, path);
	struct lvm_blk_overlay *b = lvm_blk_overlay_load(ov, path);
	CHECK(a && b);
	if (a && b) {
		CHECK(same_as(a, m));
		CHECK(same_as(b, m));
		CHECK_EQ_U64(lvm_blk_overlay_bytes(a), lvm_blk_overlay_bytes(ov));
		memcpy(m2, m, SIZE);
		CHECK(put(a, m2, 9 * BLK, 10, 0x33));
		CHECK(same_as(a, m2));
		CHECK(same_as(b, m));
	}
	lvm_blk_overlay_free(a);
	lvm_blk_overlay_free(b);

	/* Hostile files: each refused with a reason. */
	uint8_t saved[SAVED_LEN];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && pread(fd, saved, SAVED_LEN, 0) == SAVED_LEN);
	if (fd >= 0)
		close(fd);
	CHECK(refused(base, SIZE - 2048, path, "not the saved overlay of a 40448-byte disk"));
	CHECK(refused(base, SIZE, "/nonexistent-luavmm.overlay", "cannot open"));
	CHECK(lvm_blk_overlay_load(NULL, path) == NULL);
	CHECK(lvm_blk_overlay_clone(NULL) == NULL);
	CHECK(strstr(lvm_error(), "not a snapshot disk") != NULL);
	CHECK(truncate(path, SAVED_LEN - 1) == 0);
	CHECK(refused(base, SIZE, path, "not the saved overlay"));
	CHECK(truncate(path, SAVED_LEN) == 0 && corrupt(path, MAP_AT + 8, "LVMOVL2", 8) == 0);
	CHECK(refused(base, SIZE, path, "is not a saved disk overlay"));
	CHECK(corrupt(path, MAP_AT, saved + MAP_AT, SAVED_LEN - MAP_AT) == 0);
	uint8_t word[8];
	memcpy(word, saved + MAP_AT, 8);
	word[0] ^= 0x80; /* block 7: held or not, the checksum tells */
	CHECK(corrupt(path, MAP_AT, word, 8) == 0);
	CHECK(refused(base, SIZE, path, "damaged (checksum)"));
	/* A block past the end, with a checksum that matches. */
	word[0] ^= 0x80;
	word[1] |= 0x08; /* block 11 of 11 */
	uint32_t crc = lvm_crc32c(0, word, 8);
	uint8_t crc_le[4] = { (uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
			      (uint8_t)(crc >> 24) };
	CHECK(corrupt(path, MAP_AT, word, 8) == 0 && corrupt(path, MAP_AT + 24, crc_le, 4) == 0);
	CHECK(refused(base, SIZE, path, "past the disk's end"));
	/* The disk size in the trailer must match the one asked for. */
	CHECK(corrupt(path, MAP_AT, saved + MAP_AT, SAVED_LEN - MAP_AT) == 0);
	uint8_t other_size[8] = { 0x00, 0xa4 }; /* 42 KiB: another disk with the same length */
	CHECK(corrupt(path, MAP_AT + 16, other_size, 8) == 0);
	CHECK(refused(base, SIZE, path, "overlay of a 41984-byte disk"));

	/* Saving where nothing can be created. */
	CHECK(lvm_blk_overlay_save(ov, "/nonexistent-luavmm-dir/x") < 0);
	CHECK(strstr(lvm_error(), "cannot create /nonexistent-luavmm-dir/x") != NULL);
	lvm_blk_overlay_free(ov);
	unlink(path);
	CHECK(base_intact(base));
	close(base);
}

static void test_no_tmp_dir(void)
{
	const char *old = getenv("TMPDIR");
	char *saved = old ? strdup(old) : NULL;
	setenv("TMPDIR", "/nonexistent-luavmm-dir", 1);
	int base = make_base();
	struct lvm_blk_overlay *ov = lvm_blk_overlay_new(base, SIZE);
	CHECK(ov == NULL);
	CHECK_STR(lvm_error(), "cannot create an overlay in /nonexistent-luavmm-dir: "
			       "No such file or directory");
	lvm_blk_overlay_free(ov);
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
	close(base);
}

/* disks.root = { path = "x.img", readonly = ?, snapshot = ? } */
static void *parse(const struct lvm_value *snapshot, bool readonly)
{
	struct lvm_field f[3] = {
		{ .key = "path", .value = { .type = LVM_VALUE_STRING, .str = "x.img", .len = 5 } },
		{ .key = "readonly", .value = { .type = LVM_VALUE_BOOLEAN, .boolean = readonly } },
	};
	unsigned n = 2;
	if (snapshot)
		f[n++] = (struct lvm_field){ .key = "snapshot", .value = *snapshot };
	struct lvm_value t = { .type = LVM_VALUE_TABLE, .fields = f, .nfields = n };
	return lvm_blk_device.parse(&t, "disks.root", 0);
}

static bool opens_for_write(const void *params)
{
	struct lvm_device_resource r[LVM_DEVICE_RESOURCES_MAX];
	unsigned n = lvm_blk_device.resources(params, r);
	return n == 1 && strcmp(r[0].key, "path") == 0 && strcmp(r[0].name, "x.img") == 0 &&
	       r[0].write;
}

static void test_recipe_key(void)
{
	struct lvm_value yes = { .type = LVM_VALUE_BOOLEAN, .boolean = true };
	struct lvm_value no = { .type = LVM_VALUE_BOOLEAN, .boolean = false };
	struct lvm_value str = { .type = LVM_VALUE_STRING, .str = "yes", .len = 3 };
	void *p = parse(&yes, false);
	CHECK(p && !opens_for_write(p)); /* the image is only read */
	free(p);
	p = parse(&yes, true);           /* allowed, and moot */
	CHECK(p && !opens_for_write(p));
	free(p);
	p = parse(&no, false);
	CHECK(p && opens_for_write(p));
	if (p) {                          /* a fork's child: made a snapshot disk */
		lvm_blk_params_set_snapshot(p);
		CHECK(!opens_for_write(p));
	}
	free(p);
	p = parse(NULL, false);
	CHECK(p && opens_for_write(p));
	free(p);
	p = parse(&str, false);
	CHECK(p == NULL);
	CHECK_STR(lvm_error(), "disks.root.snapshot must be a boolean, not a string");
}

/* The disk itself on a real VM (not started): lvm_blk_open with snapshot,
 * its overlay, swapping in a fork's copy, the errors naming the field. */
static void test_disk(void)
{
	struct lvm_vm_options opts = { .mem_size = 16u << 20, .ncpus = 1 };
	struct lvm_vm *vm = lvm_vm_create(&opts);
	CHECK(vm != NULL);
	if (!vm) {
		fprintf(stderr, "    %s\n", lvm_error());
		return;
	}
	char path[] = "/tmp/test-blk-overlay-disk-XXXXXX", other[] = "/tmp/test-blk-overlay-o-XXXXXX";
	int base = mkstemp(path), ofd = mkstemp(other);
	CHECK(base >= 0 && ftruncate(base, SIZE) == 0 && ofd >= 0 && ftruncate(ofd, SIZE) == 0);
	uint64_t at = 0xd0000000u;
	struct lvm_blk *parent = lvm_blk_open(vm, at, 5, "root", path, false, true);
	struct lvm_blk *child = lvm_blk_open(vm, at + 0x1000, 6, "root", path, false, true);
	struct lvm_blk *plain = lvm_blk_open(vm, at + 0x2000, 7, "plain", path, false, false);
	struct lvm_blk *ro = lvm_blk_open(vm, at + 0x3000, 8, "ro", path, true, true);
	CHECK(parent && child && plain && ro);
	if (parent && child && plain && ro) {
		CHECK(lvm_blk_overlay_of(parent) && lvm_blk_overlay_of(child));
		CHECK(!lvm_blk_overlay_of(plain) && !lvm_blk_overlay_of(ro)); /* readonly wins */
		uint8_t buf[BLK];
		memset(buf, 0x5a, sizeof(buf));
		CHECK(ov_write(lvm_blk_overlay_of(parent), buf, BLK, BLK));
		CHECK(lvm_blk_replace_overlay(child, lvm_blk_overlay_clone(lvm_blk_overlay_of(parent))) == 0);
		uint8_t got[BLK] = { 0 };
		CHECK(ov_read(lvm_blk_overlay_of(child), got, BLK, BLK) && memcmp(got, buf, BLK) == 0);

		struct lvm_device_stat st[LVM_DEVICE_STATS_MAX];
		unsigned n = lvm_blk_device.stats(child, st);
		CHECK(n > 0 && strcmp(st[n - 1].name, "overlay_bytes") == 0 && st[n - 1].value == BLK);
		n = lvm_blk_device.stats(plain, st);
		CHECK(n > 0 && strcmp(st[n - 1].name, "overlay_bytes") != 0);

		/* Refused: no overlay to replace, another image, a failed clone. */
		CHECK(lvm_blk_replace_overlay(plain, lvm_blk_overlay_new(base, SIZE)) < 0);
		CHECK(strstr(lvm_error(), "disk plain has no overlay") != NULL);
		CHECK(lvm_blk_replace_overlay(child, lvm_blk_overlay_new(ofd, SIZE)) < 0);
		CHECK(strstr(lvm_error(), "over another image") != NULL);
		CHECK(lvm_blk_replace_overlay(child, lvm_blk_overlay_new(base, SIZE - 512)) < 0);
		CHECK(strstr(lvm_error(), "the overlay is 41984 bytes, disk root 42496") != NULL);
		CHECK(lvm_blk_replace_overlay(child, lvm_blk_overlay_clone(NULL)) < 0);
		CHECK(strstr(lvm_error(), "no overlay to copy") != NULL);
		CHECK(ov_read(lvm_blk_overlay_of(child), got, BLK, BLK) && memcmp(got, buf, BLK) == 0);
	}
	lvm_blk_free(parent);
	lvm_blk_free(child);
	lvm_blk_free(plain);
	lvm_blk_free(ro);

	/* Errors name the field. */
	CHECK(lvm_blk_open(vm, at, 5, "x", "/nonexistent-luavmm.img", false, true) == NULL);
	CHECK(strncmp(lvm_error(), "path: cannot open /nonexistent-luavmm.img", 41) == 0);
	const char *old = getenv("TMPDIR");
	char *saved = old ? strdup(old) : NULL;
	setenv("TMPDIR", "/nonexistent-luavmm-dir", 1);
	CHECK(lvm_blk_open(vm, at, 5, "x", path, false, true) == NULL);
	CHECK_STR(lvm_error(), "snapshot: cannot create an overlay in /nonexistent-luavmm-dir: "
			       "No such file or directory");
	struct lvm_blk *no_overlay_needed = lvm_blk_open(vm, at, 5, "x", path, true, true);
	CHECK(no_overlay_needed != NULL);
	lvm_blk_free(no_overlay_needed);
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);

	unlink(path);
	unlink(other);
	close(base);
	close(ofd);
	lvm_vm_destroy(vm);
}

int main(void)
{
	RUN_TEST(test_reads_see_writes);
	RUN_TEST(test_discard);
	RUN_TEST(test_clone);
	RUN_TEST(test_random);
	RUN_TEST(test_big_map);
	RUN_TEST(test_save_load);
	RUN_TEST(test_no_tmp_dir);
	RUN_TEST(test_recipe_key);
	RUN_TEST(test_disk);
	return CHECK_DONE();
}
