#include "arch/x86/fw/acpi.h"

#include <string.h>

#include "arch/x86/fw/fwtable.h"
#include "arch/x86/layout.h"
#include "util/error.h"

#define HEADER_LEN 36
#define RSDP_LEN 36
#define FADT_LEN 276 /* revision 6 (ACPI 6.5 table 5.9) */
#define MADT_FLAG_PCAT_COMPAT 1u /* dual 8259s present: KVM's PIC */
#define LAPIC_ENABLED 1u
#define XAPIC_MAX_ID 254u        /* 255 is the broadcast ID: above, x2APIC entries */

/* FADT flags (ACPI 6.5 table 5.10) and IA-PC boot architecture (table 5.11). */
#define FADT_WBINVD (1u << 0)
#define FADT_PWR_BUTTON (1u << 4)  /* no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5)
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_HW_REDUCED_ACPI (1u << 20)
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0) /* the 16550 is an ISA device */
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define BOOT_ARCH_CMOS_RTC_NOT_PRESENT (1u << 5)

/* Table header (ACPI 6.5 §5.2.6); the checksum is filled in by finish(). */
static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
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

static void finish(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = lvm_checksum(t, len);
}

static size_t madt_len(unsigned ncpus)
{
	size_t len = 44 + 12 + 6; /* header + flags, IOAPIC, LAPIC NMI */
	for (unsigned i = 0; i < ncpus; i++)
		len += i <= XAPIC_MAX_ID ? 8 : 16;
	if (ncpus > XAPIC_MAX_ID + 1)
		len += 12; /* x2APIC NMI */
	return len;
}

/* MADT (§5.2.12): one Local APIC (or x2APIC) entry per vCPU, the IOAPIC, NMIs on LINT1. */
static uint32_t madt(uint8_t *t, unsigned ncpus)
{
	uint32_t len = (uint32_t)madt_len(ncpus), o = 44;
	header(t, "APIC", len, 6);
	lvm_put32(t + 36, LVM_LAPIC_ADDR);
	lvm_put32(t + 40, MADT_FLAG_PCAT_COMPAT);
	for (unsigned i = 0; i < ncpus; i++, o += t[o + 1]) {
		if (i <= XAPIC_MAX_ID) { /* §5.2.12.2 Processor Local APIC */
			t[o] = 0, t[o + 1] = 8, t[o + 2] = (uint8_t)i, t[o + 3] = (uint8_t)i;
			lvm_put32(t + o + 4, LAPIC_ENABLED);
		} else {                 /* §5.2.12.12 Processor Local x2APIC */
			t[o] = 9, t[o + 1] = 16;
			lvm_put32(t + o + 4, i);
			lvm_put32(t + o + 8, LAPIC_ENABLED);
			lvm_put32(t + o + 12, i);
		}
	}
	t[o] = 1, t[o + 1] = 12, t[o + 2] = LVM_IOAPIC_ID; /* §5.2.12.3 I/O APIC, GSI base 0 */
	lvm_put32(t + o + 4, LVM_IOAPIC_ADDR);
	o += 12;
	t[o] = 4, t[o + 1] = 6, t[o + 2] = 0xff, t[o + 5] = 1; /* §5.2.12.7: every CPU, LINT1 */
	o += 6;
	if (o < len) { /* §5.2.12.13 Local x2APIC NMI for the rest, LINT1 */
		t[o] = 0xa, t[o + 1] = 12;
		lvm_put32(t + o + 4, 0xffffffffu);
		t[o + 8] = 1;
	}
	finish(t, len);
	return len;
}

static void gas_io8(uint8_t *g, uint16_t port) /* Generic Address Structure (§5.2.3.2) */
{
	g[0] = 1; /* system I/O */
	g[1] = 8;
	g[3] = 1; /* byte access */
	lvm_put64(g + 4, port);
}

/* FADT (§5.2.9): hardware-reduced, reset through the i8042, DSDT pointer. */
static uint32_t fadt(uint8_t *t, uint32_t dsdt_addr)
{
	header(t, "FACP", FADT_LEN, 6);
	lvm_put32(t + 40, dsdt_addr);
	lvm_put16(t + 109, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_VGA_NOT_PRESENT |
				   BOOT_ARCH_CMOS_RTC_NOT_PRESENT);
	lvm_put32(t + 112, FADT_WBINVD | FADT_PWR_BUTTON | FADT_SLP_BUTTON |
				   FADT_RESET_REG_SUP | FADT_HW_REDUCED_ACPI);
	gas_io8(t + 116, 0x64);
	t[128] = 0xfe;     /* RESET_VALUE: pulse the reset line */
	t[131] = 5;        /* FADT minor version: ACPI 6.5 */
	lvm_put64(t + 140, dsdt_addr);
	memcpy(t + 268, "LUAVMM\0\0", 8); /* hypervisor vendor identity */
	finish(t, FADT_LEN);
	return FADT_LEN;
}

/* RSDT/XSDT (§5.2.7, §5.2.8): the same two entries, 32- and 64-bit. */
static uint32_t sdt(uint8_t *t, const char *sig, const uint32_t *entries, unsigned n,
		    unsigned width)
{
	uint32_t len = HEADER_LEN + n * width;
	header(t, sig, len, 1);
	for (unsigned i = 0; i < n; i++) {
		if (width == 8)
			lvm_put64(t + HEADER_LEN + i * 8, entries[i]);
		else
			lvm_put32(t + HEADER_LEN + i * 4, entries[i]);
	}
	finish(t, len);
	return len;
}

/* RSDP revision 2 (§5.2.5.3): checksum over the first 20 bytes, extended over all 36. */
static void rsdp(uint8_t *r, uint32_t rsdt_addr, uint32_t xsdt_addr)
{
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "LUAVMM", 6);
	r[15] = 2;
	lvm_put32(r + 16, rsdt_addr);
	lvm_put32(r + 20, RSDP_LEN);
	lvm_put64(r + 24, xsdt_addr);
	r[8] = lvm_checksum(r, 20);
	r[32] = lvm_checksum(r, RSDP_LEN);
}

static size_t align16(size_t v)
{
	return (v + 15) & ~(size_t)15;
}

size_t lvm_x86_acpi_build(uint8_t *buf, size_t size, uint32_t base, unsigned ncpus)
{
	size_t need = align16(RSDP_LEN) + align16(HEADER_LEN) + align16(FADT_LEN) +
		      align16(madt_len(ncpus)) + align16(HEADER_LEN + 8) + HEADER_LEN + 16;
	if (ncpus == 0 || need > size)
		return 0;
	memset(buf, 0, need);
	size_t o = align16(RSDP_LEN);
	uint32_t dsdt_addr = base + (uint32_t)o;
	header(buf + o, "DSDT", HEADER_LEN, 2); /* an empty definition block */
	finish(buf + o, HEADER_LEN);
	o += align16(HEADER_LEN);
	uint32_t tables[2] = { base + (uint32_t)o, 0 };
	o += align16(fadt(buf + o, dsdt_addr));
	tables[1] = base + (uint32_t)o;
	o += align16(madt(buf + o, ncpus));
	uint32_t rsdt_addr = base + (uint32_t)o;
	o += align16(sdt(buf + o, "RSDT", tables, 2, 4));
	uint32_t xsdt_addr = base + (uint32_t)o;
	o += sdt(buf + o, "XSDT", tables, 2, 8);
	rsdp(buf, rsdt_addr, xsdt_addr);
	return o;
}

int lvm_x86_acpi_write(struct lvm_vm *vm)
{
	size_t size = LVM_ACPI_END - LVM_ACPI_RSDP_ADDR;
	uint8_t *buf = lvm_memory_ptr(&vm->mem, LVM_ACPI_RSDP_ADDR, size);
	if (!buf)
		return lvm_fail("memory: too small for the ACPI tables");
	if (lvm_x86_acpi_build(buf, size, LVM_ACPI_RSDP_ADDR, vm->ncpus) == 0)
		return lvm_fail("acpi: %u vCPUs do not fit in the %zu bytes of the BIOS area",
				vm->ncpus, size);
	return 0;
}
