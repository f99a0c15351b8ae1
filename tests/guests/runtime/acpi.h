/*
 * Finding ACPI tables the way an OS does (runtime/acpi.c, linked into every
 * guest): the RSDP in the BIOS area (ACPI 6.5 §5.2.5.1), then the XSDT, or
 * the RSDT for an ACPI 1.0 RSDP.  Tables are read byte by byte (they need
 * not be aligned) and only returned with a good checksum.
 */
#ifndef GUEST_ACPI_H
#define GUEST_ACPI_H

#include <stdint.h>

uint32_t acpi_rd32(const volatile uint8_t *p);
uint64_t acpi_rd64(const volatile uint8_t *p);
/* Whether the len bytes at p sum to 0 (mod 256). */
int acpi_sum_ok(const volatile uint8_t *p, uint32_t len);
/* The first table with signature sig (4 characters) that the XSDT (RSDT)
 * lists, or 0 (no RSDP, a bad root table, no such table). */
const volatile uint8_t *acpi_find_table(const char *sig);

#endif
