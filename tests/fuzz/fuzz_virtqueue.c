/*
 * libFuzzer target for the split-virtqueue parser: the input is a queue
 * configuration followed by the contents of a small guest RAM, so the
 * fuzzer controls every ring, descriptor and index a hostile driver could.
 * ASan catches any access outside that RAM.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/queue.h"

#define RAM_SIZE 0x10000u

struct fuzz_header {
	uint8_t log2_size; /* queue size 2^(x % 10) */
	uint8_t flags;     /* bit 0 event_idx, bit 1 indirect */
	uint16_t last_avail;
	uint32_t desc_gpa, avail_gpa, used_gpa;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_header h;
	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);
	/* An exactly sized RAM so ASan sees any overrun. */
	struct lvm_memory mem = { .memfd = -1, .size = RAM_SIZE, .nregions = 1 };
	mem.host = malloc(RAM_SIZE);
	memset(mem.host, 0, RAM_SIZE);
	memcpy(mem.host, data, size < RAM_SIZE ? size : RAM_SIZE);
	mem.regions[0] = (struct lvm_memory_region){ 0, RAM_SIZE, 0 };

	struct lvm_vq vq = { .mem = &mem };
	vq.size = (uint16_t)(1u << (h.log2_size % 10));
	vq.event_idx = h.flags & 1;
	vq.indirect = h.flags & 2;
	/* Mostly inside RAM (to reach the walker), sometimes past it. */
	vq.desc_gpa = h.desc_gpa % (2 * RAM_SIZE);
	vq.avail_gpa = h.avail_gpa % (2 * RAM_SIZE);
	vq.used_gpa = h.used_gpa % (2 * RAM_SIZE);
	vq.last_avail = h.last_avail;
	vq.ready = lvm_vq_activate(&vq);

	static struct lvm_vq_chain chain;
	const char *why;
	for (unsigned i = 0; i < 2u * LVM_VQ_MAX_SIZE; i++) {
		if (lvm_vq_pop(&vq, &chain, &why) != LVM_VQ_CHAIN)
			break;
		/* Touch every mapped byte, as a device would. */
		uint8_t sink = 0;
		for (unsigned j = 0; j < chain.nout; j++)
			sink ^= ((uint8_t *)chain.out[j].iov_base)[chain.out[j].iov_len - 1];
		for (unsigned j = 0; j < chain.nin; j++)
			((uint8_t *)chain.in[j].iov_base)[chain.in[j].iov_len - 1] = sink;
		uint8_t hdr[16];
		lvm_iov_read(chain.out, chain.nout, 0, hdr, sizeof(hdr));
		lvm_vq_push(&vq, chain.head, (uint32_t)chain.in_len);
		lvm_vq_needs_interrupt(&vq);
	}
	lvm_vq_arm_notify(&vq);
	free(mem.host);
	return 0;
}
