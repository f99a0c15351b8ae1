/* Little-endian stores and the byte checksum shared by the ACPI and MP table builders. */
#ifndef LVM_ARCH_X86_FW_FWTABLE_H
#define LVM_ARCH_X86_FW_FWTABLE_H

#include <stddef.h>
#include <stdint.h>

static inline void lvm_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void lvm_put32(uint8_t *p, uint32_t v)
{
	lvm_put16(p, (uint16_t)v);
	lvm_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void lvm_put64(uint8_t *p, uint64_t v)
{
	lvm_put32(p, (uint32_t)v);
	lvm_put32(p + 4, (uint32_t)(v >> 32));
}

/* The byte that makes the sum of p[0..len) zero once stored in a zeroed slot. */
static inline uint8_t lvm_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0 - sum);
}

#endif
