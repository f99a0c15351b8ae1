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

#include <linux/virtio_blk.h>

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

/* Opcode 15: a request shaped like a driver's (header, data, status), so
 * every type reaches its handler: read, write, flush, get-id, discard and
 * write-zeroes with range lists, and an unknown type. */
static void request(struct fv *s, struct fz *in)
{
	static const uint32_t types[] = { VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH,
					  VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_DISCARD,
					  VIRTIO_BLK_T_WRITE_ZEROES, 99 };
	uint8_t kind = fz_u8(in);
	uint32_t type = types[kind % (sizeof(types) / sizeof(types[0]))];
	struct virtio_blk_outhdr h = { .type = type, .sector = fz_u8(in) };
	struct fv_buf bufs[3];
	unsigned n = 0;
	bufs[n] = (struct fv_buf){ fv_alloc(s, sizeof(h)), sizeof(h), false };
	memcpy(fv_ram(s, bufs[n++].gpa), &h, sizeof(h));
	uint8_t amount = fz_u8(in);
	if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES) {
		unsigned nseg = amount % 18;
		uint32_t len = nseg * (uint32_t)sizeof(struct virtio_blk_discard_write_zeroes);
		bufs[n] = (struct fv_buf){ fv_alloc(s, len), len, false };
		struct virtio_blk_discard_write_zeroes *r = (void *)fv_ram(s, bufs[n++].gpa);
		for (unsigned i = 0; i < nseg; i++)
			r[i] = (struct virtio_blk_discard_write_zeroes){
				.sector = fz_u8(in), .num_sectors = fz_u8(in) % 72,
				.flags = (kind & 0x40) ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP
							: (kind & 0x20) ? 2u : 0u };
	} else if (type != VIRTIO_BLK_T_FLUSH || (kind & 0x80)) {
		uint32_t len = (amount % 9) * 512u + ((kind & 0x80) ? 7u : 0u);
		bool write = type != VIRTIO_BLK_T_OUT;
		bufs[n++] = (struct fv_buf){ fv_alloc(s, len), len, write };
	}
	bufs[n++] = (struct fv_buf){ fv_alloc(s, 1), 1, true };
	fv_offer(s, 0, bufs, n);
	fv_kick(s, 0);
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
	s.extra = request;
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
