#include "arch/x86/fw/acpi.h"

#include <string.h>

#include "arch/x86/fw/dsdt.h"
#include "arch/x86/fw/fwtable.h"
#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"
#include "devices/rtc_cmos.h"
#include "util/error.h"

#define HEADER_LEN LVM_ACPI_HEADER_LEN
#define RSDP_LEN 36
#define FACS_LEN LVM_ACPI_FACS_LEN
#define FACS_ALIGN 64        /* §5.2.10: the FACS is 64-byte aligned */
_Static_assert(LVM_ACPI_FACS_OFFSET % FACS_ALIGN == 0, "the FACS is 64-byte aligned");
#define FADT_LEN 276         /* revision 6 (ACPI 6.5 table 5.9) */
#define MADT_ISO_LEN 10
#define MCFG_LEN (HEADER_LEN + 8 + 16) /* one allocation (PCI Firmware 3.0 table 4-3) */
#define MADT_FLAG_PCAT_COMPAT 1u /* dual 8259s present: KVM's PIC */
#define LAPIC_ENABLED 1u
#define XAPIC_MAX_ID 254u        /* 255 is the broadcast ID: above, x2APIC entries */
#define ISO_ACTIVE_HIGH 0x1u     /* MPS INTI flags (§5.2.12.5 table 5.26) */
#define ISO_LEVEL (0x3u << 2)

/* FADT flags (ACPI 6.5 table 5.10) and IA-PC boot architecture (table 5.11). */
#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_SLP_BUTTON (1u << 5)  /* no fixed-feature sleep button */
#define FADT_TMR_VAL_EXT (1u << 8) /* 32-bit PM timer */
#define FADT_RESET_REG_SUP (1u << 10)
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0) /* the 16550 is an ISA device */
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define C2_NOT_SUPPORTED 0x0fff /* P_LVL2_LAT > 100 */
#define C3_NOT_SUPPORTED 0x0fff /* P_LVL3_LAT > 1000 */

static size_t madt_len(unsigned ncpus)
{
	size_t len = 44 + 12 + MADT_ISO_LEN + 6; /* header + flags, IOAPIC, SCI, LAPIC NMI */
	for (unsigned i = 0; i < ncpus; i++)
		len += i <= XAPIC_MAX_ID ? 8 : 16;
	if (ncpus > XAPIC_MAX_ID + 1)
		len += 12; /* x2APIC NMI */
	return len;
}

/* §5.2.12.5 Interrupt Source Override: the SCI's ISA IRQ is level, active-high. */
static uint32_t madt_sci_override(uint8_t *e)
{
	e[0] = 2, e[1] = MADT_ISO_LEN, e[2] = 0 /* ISA */, e[3] = LVM_ACPI_SCI_IRQ;
	lvm_put32(e + 4, LVM_ACPI_SCI_IRQ);
	lvm_put16(e + 8, ISO_ACTIVE_HIGH | ISO_LEVEL);
	return MADT_ISO_LEN;
}

/* MADT (§5.2.12): one Local APIC (or x2APIC) entry per vCPU, the IOAPIC, the
 * SCI's override, NMIs on LINT1. */
static uint32_t madt(uint8_t *t, unsigned ncpus)
{
	uint32_t len = (uint32_t)madt_len(ncpus), o = 44;
	lvm_acpi_header(t, "APIC", len, 6);
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
	o += madt_sci_override(t + o);
	t[o] = 4, t[o + 1] = 6, t[o + 2] = 0xff, t[o + 5] = 1; /* §5.2.12.7: every CPU, LINT1 */
	o += 6;
	if (o < len) { /* §5.2.12.13 Local x2APIC NMI for the rest, LINT1 */
		t[o] = 0xa, t[o + 1] = 12;
		lvm_put32(t + o + 4, 0xffffffffu);
		t[o + 8] = 1;
	}
	lvm_acpi_finish(t, len);
	return len;
}

/* MCFG: reserved 8 bytes, then base, segment 0, start and end bus. */
static uint32_t mcfg(uint8_t *t, const struct lvm_acpi_pci *pci)
{
	lvm_acpi_header(t, "MCFG", MCFG_LEN, 1);
	uint8_t *e = t + HEADER_LEN + 8;
	lvm_put64(e, pci->ecam_base);
	lvm_put16(e + 8, 0);
	e[10] = 0;
	e[11] = pci->bus_end;
	lvm_acpi_finish(t, MCFG_LEN);
	return MCFG_LEN;
}

/* Generic Address Structure (§5.2.3.2) for `bits` of system I/O at `port`. */
static void gas_io(uint8_t *g, uint16_t port, uint8_t bits, uint8_t access_size)
{
	g[0] = 1; /* system I/O */
	g[1] = bits;
	g[3] = access_size; /* 1 byte, 2 word, 3 dword */
	lvm_put64(g + 4, port);
}

/* The PM1a event and control blocks and the PM timer, 32- and 64-bit fields. */
static void fadt_pm_blocks(uint8_t *t)
{
	uint16_t evt = LVM_ACPI_PM_BASE, cnt = LVM_ACPI_PM_BASE + LVM_ACPI_PM_CNT_OFFSET,
		 tmr = LVM_ACPI_PM_BASE + LVM_ACPI_PM_TMR_OFFSET;
	lvm_put16(t + 46, LVM_ACPI_SCI_IRQ);
	lvm_put32(t + 56, evt);
	lvm_put32(t + 64, cnt);
	lvm_put32(t + 76, tmr);
	t[88] = LVM_ACPI_PM_EVT_LEN;
	t[89] = LVM_ACPI_PM_CNT_LEN;
	t[91] = LVM_ACPI_PM_TMR_LEN;
	gas_io(t + 148, evt, LVM_ACPI_PM_EVT_LEN * 8, 2);
	gas_io(t + 172, cnt, LVM_ACPI_PM_CNT_LEN * 8, 2);
	gas_io(t + 208, tmr, LVM_ACPI_PM_TMR_LEN * 8, 3);
}

/* FADT (§5.2.9): a full ACPI PC (see acpi.h), reset through the i8042. */
static uint32_t fadt(uint8_t *t, uint32_t facs_addr, uint32_t dsdt_addr)
{
	lvm_acpi_header(t, "FACP", FADT_LEN, 6);
	lvm_put32(t + 36, facs_addr);
	lvm_put32(t + 40, dsdt_addr);
	fadt_pm_blocks(t);
	lvm_put16(t + 96, C2_NOT_SUPPORTED);
	lvm_put16(t + 98, C3_NOT_SUPPORTED);
	t[108] = LVM_RTC_CENTURY;
	lvm_put16(t + 109, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_VGA_NOT_PRESENT);
	lvm_put32(t + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_TMR_VAL_EXT |
				   FADT_RESET_REG_SUP);
	gas_io(t + 116, 0x64, 8, 1);
	t[128] = 0xfe;     /* RESET_VALUE: pulse the reset line */
	t[131] = 5;        /* FADT minor version: ACPI 6.5 */
	lvm_put64(t + 132, facs_addr);
	lvm_put64(t + 140, dsdt_addr);
	memcpy(t + 268, "LUAVMM\0\0", 8); /* hypervisor vendor identity */
	lvm_acpi_finish(t, FADT_LEN);
	return FADT_LEN;
}

/*
 * FACS (§5.2.10): version 2 (X_Firmware_Waking_Vector and the OSPM flags
 * are there), both waking vectors 0 until the OS writes them before S3
 * (the board reads them at the wake, arch/x86/sleep.c), no S4BIOS and no
 * 64BIT_WAKE_SUPPORTED_F (the board enters the X vector in 32-bit
 * protected mode only), no global lock users.
 */
static void facs(uint8_t *t)
{
	memcpy(t, "FACS", 4);
	lvm_put32(t + 4, FACS_LEN);
	lvm_put32(t + LVM_FACS_WAKING_VECTOR, 0);
	lvm_put32(t + LVM_FACS_FLAGS, 0);
	lvm_put64(t + LVM_FACS_X_WAKING_VECTOR, 0);
	t[LVM_FACS_VERSION] = 2;
}

/* RSDT/XSDT (§5.2.7, §5.2.8): the same two entries, 32- and 64-bit. */
static uint32_t sdt(uint8_t *t, const char *sig, const uint32_t *entries, unsigned n,
		    unsigned width)
{
	uint32_t len = HEADER_LEN + n * width;
	lvm_acpi_header(t, sig, len, 1);
	for (unsigned i = 0; i < n; i++) {
		if (width == 8)
			lvm_put64(t + HEADER_LEN + i * 8, entries[i]);
		else
			lvm_put32(t + HEADER_LEN + i * 4, entries[i]);
	}
	lvm_acpi_finish(t, len);
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

/* FADT, MADT, MCFG (with PCI), RSDT and XSDT from buf[o]; the bytes used,
 * or 0 if they do not fit. */
static size_t fixed_tables(uint8_t *buf, size_t size, size_t o, uint32_t base,
			   uint32_t facs_addr, uint32_t dsdt_addr,
			   const struct lvm_acpi_config *config)
{
	unsigned n = config->pci ? 3 : 2;
	size_t need = align16(FADT_LEN) + align16(madt_len(config->ncpus)) +
		      (config->pci ? align16(MCFG_LEN) : 0) + align16(HEADER_LEN + 4 * n) +
		      HEADER_LEN + 8 * n;
	if (need > size - o)
		return 0;
	uint32_t tables[3] = { base + (uint32_t)o, 0, 0 };
	o += align16(fadt(buf + o, facs_addr, dsdt_addr));
	tables[1] = base + (uint32_t)o;
	o += align16(madt(buf + o, config->ncpus));
	if (config->pci) {
		tables[2] = base + (uint32_t)o;
		o += align16(mcfg(buf + o, config->pci));
	}
	uint32_t rsdt_addr = base + (uint32_t)o;
	o += align16(sdt(buf + o, "RSDT", tables, n, 4));
	uint32_t xsdt_addr = base + (uint32_t)o;
	o += sdt(buf + o, "XSDT", tables, n, 8);
	rsdp(buf, rsdt_addr, xsdt_addr);
	return o;
}

size_t lvm_x86_acpi_build(uint8_t *buf, size_t size, uint32_t base,
			  const struct lvm_acpi_config *config)
{
	size_t facs_at = LVM_ACPI_FACS_OFFSET, dsdt_at = facs_at + FACS_LEN;
	if (config->ncpus == 0 || size < dsdt_at || (base & (FACS_ALIGN - 1)))
		return 0;
	memset(buf, 0, size);
	facs(buf + facs_at);
	size_t dsdt = lvm_x86_dsdt_build(buf + dsdt_at, size - dsdt_at, config->virtio,
					 config->nvirtio, config->pci);
	if (dsdt == 0)
		return 0;
	return fixed_tables(buf, size, align16(dsdt_at + dsdt), base, base + (uint32_t)facs_at,
			    base + (uint32_t)dsdt_at, config);
}

int lvm_x86_acpi_write(struct lvm_vm *vm, const struct lvm_virtio_slots *slots)
{
	size_t size = LVM_ACPI_END - LVM_ACPI_RSDP_ADDR;
	uint8_t *buf = lvm_memory_ptr(&vm->mem, LVM_ACPI_RSDP_ADDR, size);
	if (!buf)
		return lvm_fail("memory: too small for the ACPI tables");
	struct lvm_acpi_pci pci = { LVM_PCI_ECAM_BASE, LVM_PCI_BUS_END, (uint32_t)LVM_PCI_MEM_BASE,
				    (uint32_t)LVM_PCI_MEM_SIZE, slots->pci, slots->npci };
	struct lvm_acpi_config config = { vm->ncpus, slots->slot, slots->count,
					  slots->pci_bus ? &pci : NULL };
	if (lvm_x86_acpi_build(buf, size, LVM_ACPI_RSDP_ADDR, &config) == 0)
		return lvm_fail("acpi: %u vCPUs and %u virtio devices do not fit in the %zu bytes of the BIOS area",
				vm->ncpus, slots->count, size);
	return 0;
}
