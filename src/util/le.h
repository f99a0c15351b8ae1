/* Little-endian integers in byte buffers (state and overlay files). */
#ifndef LVM_UTIL_LE_H
#define LVM_UTIL_LE_H

#include <stdint.h>

static inline void lvm_put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t lvm_get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif
