/* Little-endian stores, the byte checksum and the ACPI table header shared by the
 * ACPI and MP table builders. */
#ifndef LVM_ARCH_X86_FW_FWTABLE_H
#define LVM_ARCH_X86_FW_FWTABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LVM_ACPI_HEADER_LEN 36

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

/* An ACPI table header (ACPI 6.5 §5.2.6); lvm_acpi_finish fills in the checksum. */
static inline void lvm_acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	lvm_put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "LUAVMM", 6);
	memcpy(t + 16, "LUAVMM  ", 8);
	lvm_put32(t + 24, 1);       /* OEM revision */
	memcpy(t + 28, "LVMM", 4);  /* creator ID */
	lvm_put32(t + 32, 1);       /* creator revision */
}

static inline void lvm_acpi_finish(uint8_t *t, uint32_t len)
{
	lvm_put32(t + 4, len);
	t[9] = 0;
	t[9] = lvm_checksum(t, len);
}

#endif
