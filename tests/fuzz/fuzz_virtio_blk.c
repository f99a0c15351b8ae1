/*
 * libFuzzer target for virtio-blk requests (blk.c): headers of every type,
 * data lengths that are not sector multiples, ranges past the disk,
 * discard and write-zeroes range lists, GET_ID into short buffers, on a
 * read-write or read-only disk, with or without a request filter whose
 * verdicts (and resets while it runs) come from the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/virtio/blk.h"
#include "fuzz_virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *disk_path(uint64_t bytes)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)bytes) < 0)
		abort();
	return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	uint8_t opt = fz_u8(&in);
	/* 0..63 sectors, sometimes with a partial sector at the end. */
	uint64_t bytes = (uint64_t)(opt & 63) * 512 + ((opt & 64) ? 100 : 0);
	static struct fv s;
	fv_vm_init(&s);
	const char *name = (opt & 128) ? "a-disk-name-of-20-ch" : "d";
	struct lvm_blk *blk = lvm_blk_new(&s.vm, 0xd0000000u, 5, name, disk_path(bytes),
					  fz_u8(&in) & 1);
	if (!blk)
		abort();
	s.t = fake_last_transport;
	uint8_t nverdicts = fz_u8(&in);
	if (nverdicts & 1) {
		struct fz v = { in.p, in.n < nverdicts ? in.n : nverdicts };
		in.p += v.n;
		in.n -= v.n;
		lvm_blk_set_filter(blk, fv_filter(&s, v));
	}
	fv_driver_init(&s, &in);
	fv_run(&s, &in);
	lvm_blk_free(blk);
	fv_vm_free(&s);
	return 0;
}
