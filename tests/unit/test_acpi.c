/* The ACPI and MP table builders: checksums, lengths, pointers, one entry per CPU. */
#include <stdlib.h>

#include "arch/x86/fw/acpi.h"
#include "arch/x86/layout.h"
#include "arch/x86/fw/mptable.h"
#include "check.h"

#define BASE 0xe0000u
#define AREA 0x10000u

static uint8_t area[AREA];

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* The table at guest address `addr`, checked: inside the area, signature, checksum. */
static const uint8_t *table(uint64_t addr, const char *sig)
{
	CHECK(addr >= BASE && addr < BASE + AREA);
	if (addr < BASE || addr >= BASE + AREA)
		return NULL;
	const uint8_t *t = area + (addr - BASE);
	CHECK(memcmp(t, sig, 4) == 0);
	CHECK(rd32(t + 4) >= 36 && addr + rd32(t + 4) <= BASE + AREA);
	CHECK_EQ_U64(sum(t, rd32(t + 4)), 0);
	return t;
}

static const uint8_t *xsdt_entry(const uint8_t *xsdt, unsigned i)
{
	return table(rd32(xsdt + 36 + 8 * i) | (uint64_t)rd32(xsdt + 40 + 8 * i) << 32,
		     i == 0 ? "FACP" : "APIC");
}

static void check_madt(const uint8_t *madt, unsigned ncpus)
{
	CHECK_EQ_U64(rd32(madt + 36), LVM_LAPIC_ADDR);
	unsigned lapics = 0, x2apics = 0, ioapics = 0, nmis = 0;
	for (uint32_t o = 44; o < rd32(madt + 4); o += madt[o + 1]) {
		const uint8_t *e = madt + o;
		CHECK(e[1] >= 2);
		if (e[1] < 2)
			return;
		if (e[0] == 0) {
			CHECK_EQ_U64(e[3], lapics); /* APIC ID i, enabled */
			CHECK_EQ_U64(rd32(e + 4), 1);
			lapics++;
		} else if (e[0] == 9) {
			CHECK_EQ_U64(rd32(e + 4), 255 + x2apics);
			x2apics++;
		} else if (e[0] == 1) {
			CHECK_EQ_U64(rd32(e + 4), LVM_IOAPIC_ADDR);
			CHECK_EQ_U64(rd32(e + 8), 0); /* GSI base */
			ioapics++;
		} else if (e[0] == 4 || e[0] == 0xa) {
			nmis++;
		} else {
			CHECK(!"unexpected MADT entry type");
		}
	}
	CHECK_EQ_U64(lapics + x2apics, ncpus);
	CHECK_EQ_U64(lapics, ncpus < 255 ? ncpus : 255);
	CHECK_EQ_U64(ioapics, 1);
	CHECK_EQ_U64(nmis, ncpus > 255 ? 2 : 1);
}

static void check_acpi(unsigned ncpus)
{
	memset(area, 0xa5, sizeof(area));
	size_t used = lvm_x86_acpi_build(area, sizeof(area), BASE, ncpus);
	CHECK(used > 0 && used <= sizeof(area));
	const uint8_t *rsdp = area;
	CHECK(memcmp(rsdp, "RSD PTR ", 8) == 0);
	CHECK_EQ_U64(sum(rsdp, 20), 0);
	CHECK_EQ_U64(rsdp[15], 2);
	CHECK_EQ_U64(rd32(rsdp + 20), 36);
	CHECK_EQ_U64(sum(rsdp, 36), 0);
	const uint8_t *rsdt = table(rd32(rsdp + 16), "RSDT");
	const uint8_t *xsdt = table(rd32(rsdp + 24), "XSDT");
	if (!rsdt || !xsdt)
		return;
	CHECK_EQ_U64(rd32(xsdt + 4), 36 + 2 * 8);
	CHECK_EQ_U64(rd32(rsdt + 4), 36 + 2 * 4);
	CHECK_EQ_U64(rd32(rsdt + 36), rd32(xsdt + 36));
	const uint8_t *fadt = xsdt_entry(xsdt, 0);
	const uint8_t *madt = xsdt_entry(xsdt, 1);
	if (!fadt || !madt)
		return;
	CHECK_EQ_U64(rd32(fadt + 4), 276);
	CHECK_EQ_U64(fadt[8], 6);
	CHECK(rd32(fadt + 112) & (1u << 20)); /* hardware-reduced */
	CHECK_EQ_U64(rd32(fadt + 40), rd32(fadt + 140)); /* DSDT == X_DSDT */
	table(rd32(fadt + 40), "DSDT");
	check_madt(madt, ncpus);
}

static void test_acpi_tables(void)
{
	check_acpi(1);
	check_acpi(4);
	check_acpi(254);
	check_acpi(255);
	check_acpi(300); /* x2APIC entries from APIC ID 255 on */
	check_acpi(1024);
}

static void test_acpi_too_small(void)
{
	CHECK_EQ_U64(lvm_x86_acpi_build(area, 100, BASE, 1), 0);
	CHECK_EQ_U64(lvm_x86_acpi_build(area, sizeof(area), BASE, 0), 0);
}

static void check_mptable(unsigned ncpus)
{
	static uint8_t buf[8192];
	size_t len = lvm_x86_mptable_size(ncpus);
	CHECK(len <= sizeof(buf));
	lvm_x86_mptable_build(buf, ncpus, 0xa10f11, 0x178bfbff);
	CHECK(memcmp(buf, "PCMP", 4) == 0);
	CHECK_EQ_U64(buf[4] | buf[5] << 8, len);
	CHECK_EQ_U64(buf[6], 4);
	CHECK_EQ_U64(sum(buf, len), 0);
	CHECK_EQ_U64(rd32(buf + 36), LVM_LAPIC_ADDR);
	unsigned count = buf[34] | buf[35] << 8, cpus = 0, ioints = 0;
	const uint8_t *e = buf + 44;
	for (unsigned i = 0; i < count; i++) {
		if (e[0] == 0) {
			CHECK_EQ_U64(e[1], cpus);
			CHECK_EQ_U64(e[3], cpus == 0 ? 3 : 1); /* EN, BP on CPU 0 */
			cpus++;
		} else if (e[0] == 3) {
			CHECK_EQ_U64(e[5], e[7]); /* ISA IRQ n -> pin n */
			ioints++;
		}
		e += e[0] == 0 ? 20 : 8;
	}
	CHECK_EQ_U64((size_t)(e - buf), len);
	CHECK_EQ_U64(cpus, ncpus < 255 ? ncpus : 255);
	CHECK_EQ_U64(ioints, 15);
}

static void test_mptable(void)
{
	check_mptable(1);
	check_mptable(4);
	check_mptable(255);
	check_mptable(1024);
	uint8_t fp[16];
	lvm_x86_mp_floating_build(fp, 0x9fc10);
	CHECK(memcmp(fp, "_MP_", 4) == 0);
	CHECK_EQ_U64(rd32(fp + 4), 0x9fc10);
	CHECK_EQ_U64(fp[8], 1);
	CHECK_EQ_U64(sum(fp, 16), 0);
}

int main(void)
{
	RUN_TEST(test_acpi_tables);
	RUN_TEST(test_acpi_too_small);
	RUN_TEST(test_mptable);
	return CHECK_DONE();
}
