/*
 * Helpers the libFuzzer targets share: reading typed values off the input
 * (past its end everything reads as zero, so every input is a valid
 * program) and a guest RAM of a few MiB without KVM, laid out like a real
 * machine's (one low region, or a low and a high region around the hole).
 */
#ifndef LVM_FUZZ_INPUT_H
#define LVM_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/memory.h"

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline void fz_bytes(struct fz *f, void *dst, size_t len)
{
	size_t take = len < f->n ? len : f->n;
	memcpy(dst, f->p, take);
	memset((uint8_t *)dst + take, 0, len - take);
	f->p += take;
	f->n -= take;
}

static inline uint8_t fz_u8(struct fz *f)
{
	uint8_t v;
	fz_bytes(f, &v, 1);
	return v;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t v;
	fz_bytes(f, &v, 2);
	return v;
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t v;
	fz_bytes(f, &v, 4);
	return v;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t v;
	fz_bytes(f, &v, 8);
	return v;
}

/*
 * A guest RAM of `size` bytes in one exactly sized allocation (so ASan
 * sees any overrun).  split: the low half at 0 and the high half at 4 GiB,
 * as lvm_memory_init plans a machine larger than the hole.
 */
static inline void fz_mem_init(struct lvm_memory *mem, uint64_t size, int split, int untouched)
{
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	mem->size = size;
	/* Allocated once per size and reused: the loaders only write RAM,
	 * never read what an earlier input left there, and a fresh 4 MiB
	 * allocation per input would cost ASan more than the loader does. */
	static uint8_t *cache[2];
	static uint64_t cached_size[2];
	unsigned slot = size == cached_size[0] || !cache[0] ? 0 : 1;
	if (cached_size[slot] != size) {
		free(cache[slot]);
		cache[slot] = calloc(1, size);
		cached_size[slot] = size;
	}
	mem->host = cache[slot];
	mem->untouched = untouched;
	if (split) {
		mem->regions[0] = (struct lvm_memory_region){ 0, size / 2, 0 };
		mem->regions[1] = (struct lvm_memory_region){ LVM_HIGH_RAM_START, size - size / 2,
							      size / 2 };
		mem->nregions = 2;
	} else {
		mem->regions[0] = (struct lvm_memory_region){ 0, size, 0 };
		mem->nregions = 1;
	}
}

static inline void fz_mem_free(struct lvm_memory *mem)
{
	mem->host = NULL; /* stays cached in fz_mem_init */
}

#endif
