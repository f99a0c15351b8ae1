#include "acpi.h"
#include "guest.h"

uint32_t acpi_rd32(const volatile uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t acpi_rd64(const volatile uint8_t *p)
{
	return acpi_rd32(p) | (uint64_t)acpi_rd32(p + 4) << 32;
}

int acpi_sum_ok(const volatile uint8_t *p, uint32_t len)
{
	uint8_t s = 0;
	for (uint32_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return s == 0;
}

static const volatile uint8_t *find_rsdp(void)
{
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
		const volatile uint8_t *p = (const volatile uint8_t *)a;
		if (memcmp((const void *)p, "RSD PTR ", 8) == 0 && acpi_sum_ok(p, 20))
			return p;
	}
	return 0;
}

const volatile uint8_t *acpi_find_table(const char *sig)
{
	const volatile uint8_t *rsdp = find_rsdp();
	if (!rsdp)
		return 0;
	int x = rsdp[15] >= 2;
	const volatile uint8_t *sdt =
		(const volatile uint8_t *)(x ? acpi_rd64(rsdp + 24) : acpi_rd32(rsdp + 16));
	uint32_t len = acpi_rd32(sdt + 4), width = x ? 8 : 4;
	if (!acpi_sum_ok(sdt, len))
		return 0;
	for (uint32_t o = 36; o + width <= len; o += width) {
		const volatile uint8_t *t =
			(const volatile uint8_t *)(x ? acpi_rd64(sdt + o) : acpi_rd32(sdt + o));
		if (memcmp((const void *)t, sig, 4) == 0 && acpi_sum_ok(t, acpi_rd32(t + 4)))
			return t;
	}
	return 0;
}
