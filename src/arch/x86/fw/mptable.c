#include "arch/x86/fw/mptable.h"

#include <string.h>

#include "arch/x86/cpu/cpuid.h"
#include "arch/x86/fw/fwtable.h"
#include "arch/x86/layout.h"
#include "util/error.h"

#define MP_SPEC_REV 4     /* 1.4 */
#define HEADER_LEN 44     /* §4.2, table 4-2 */
#define PROCESSOR_LEN 20  /* entry type 0 */
#define SHORT_ENTRY_LEN 8 /* bus, I/O APIC, I/O and local interrupt entries */
#define MAX_CPUS 255u     /* 8-bit APIC IDs, 0xff is broadcast */
#define ISA_IRQS 16u
#define LAPIC_VERSION 0x14 /* KVM's xAPIC */
#define IOAPIC_VERSION 0x11

enum { ENTRY_PROCESSOR, ENTRY_BUS, ENTRY_IOAPIC, ENTRY_IO_INT, ENTRY_LOCAL_INT };
enum { INT_TYPE_INT = 0, INT_TYPE_NMI = 1, INT_TYPE_EXTINT = 3 };

static unsigned listed_cpus(unsigned ncpus)
{
	return ncpus < MAX_CPUS ? ncpus : MAX_CPUS;
}

/* ISA IRQs with an I/O interrupt entry: all but 2, the PIC cascade. */
static unsigned io_int_entries(void)
{
	return ISA_IRQS - 1;
}

size_t lvm_x86_mptable_size(unsigned ncpus)
{
	return HEADER_LEN + listed_cpus(ncpus) * PROCESSOR_LEN +
	       (2 + io_int_entries() + 2) * SHORT_ENTRY_LEN;
}

/* Processor entry (§4.3.1): enabled; vCPU 0 is the bootstrap processor. */
static uint8_t *processor(uint8_t *e, unsigned id, uint32_t signature, uint32_t features)
{
	e[0] = ENTRY_PROCESSOR;
	e[1] = (uint8_t)id;
	e[2] = LAPIC_VERSION;
	e[3] = id == 0 ? 0x3 : 0x1; /* CPU flags: EN | BP */
	lvm_put32(e + 4, signature);
	lvm_put32(e + 8, features);
	return e + PROCESSOR_LEN;
}

/* Interrupt entries (§4.3.4, §4.3.5): type, flags "conform to bus", source, dest. */
static uint8_t *interrupt(uint8_t *e, uint8_t entry, uint8_t type, uint8_t src_irq,
			  uint8_t dst_id, uint8_t dst_pin)
{
	e[0] = entry;
	e[1] = type;
	e[4] = 0; /* source bus: ISA */
	e[5] = src_irq;
	e[6] = dst_id;
	e[7] = dst_pin;
	return e + SHORT_ENTRY_LEN;
}

static uint8_t *buses_and_ioapic(uint8_t *e)
{
	e[0] = ENTRY_BUS; /* §4.3.2: bus 0, "ISA   " */
	memcpy(e + 2, "ISA   ", 6);
	e += SHORT_ENTRY_LEN;
	e[0] = ENTRY_IOAPIC; /* §4.3.3: enabled */
	e[1] = LVM_IOAPIC_ID;
	e[2] = IOAPIC_VERSION;
	e[3] = 1;
	lvm_put32(e + 4, LVM_IOAPIC_ADDR);
	return e + SHORT_ENTRY_LEN;
}

void lvm_x86_mptable_build(uint8_t *buf, unsigned ncpus, uint32_t cpu_signature,
			   uint32_t cpu_features)
{
	size_t len = lvm_x86_mptable_size(ncpus);
	memset(buf, 0, len);
	uint8_t *e = buf + HEADER_LEN;
	for (unsigned i = 0; i < listed_cpus(ncpus); i++)
		e = processor(e, i, cpu_signature, cpu_features);
	e = buses_and_ioapic(e);
	for (uint8_t irq = 0; irq < ISA_IRQS; irq++)
		if (irq != 2)
			e = interrupt(e, ENTRY_IO_INT, INT_TYPE_INT, irq, LVM_IOAPIC_ID, irq);
	e = interrupt(e, ENTRY_LOCAL_INT, INT_TYPE_EXTINT, 0, 0xff, 0); /* LINT0, every CPU */
	interrupt(e, ENTRY_LOCAL_INT, INT_TYPE_NMI, 0, 0xff, 1);        /* LINT1 */
	/* Header (§4.2, table 4-2). */
	memcpy(buf, "PCMP", 4);
	lvm_put16(buf + 4, (uint16_t)len);
	buf[6] = MP_SPEC_REV;
	memcpy(buf + 8, "LUAVMM  ", 8);
	memcpy(buf + 16, "LUAVMM PC   ", 12);
	lvm_put16(buf + 34, (uint16_t)(listed_cpus(ncpus) + 2 + io_int_entries() + 2));
	lvm_put32(buf + 36, LVM_LAPIC_ADDR);
	buf[7] = lvm_checksum(buf, len);
}

/* Floating pointer structure (§4.1, table 4-1): no default configuration. */
void lvm_x86_mp_floating_build(uint8_t *buf, uint32_t table_addr)
{
	memset(buf, 0, LVM_MP_FLOATING_LEN);
	memcpy(buf, "_MP_", 4);
	lvm_put32(buf + 4, table_addr);
	buf[8] = 1; /* length in 16-byte units */
	buf[9] = MP_SPEC_REV;
	buf[10] = lvm_checksum(buf, LVM_MP_FLOATING_LEN);
}

int lvm_x86_mptable_write(struct lvm_vm *vm)
{
	uint32_t signature, features;
	if (lvm_x86_cpuid_signature(vm, &signature, &features) < 0)
		return -1;
	size_t len = lvm_x86_mptable_size(vm->ncpus);
	uint32_t table = LVM_EBDA_START + LVM_MP_FLOATING_LEN;
	if (table + len > LVM_EBDA_START + 1024)
		table = LVM_MPTABLE_HIGH_ADDR;
	uint8_t *fp = lvm_memory_ptr(&vm->mem, LVM_EBDA_START, LVM_MP_FLOATING_LEN);
	uint8_t *buf = lvm_memory_ptr(&vm->mem, table, len);
	/* The BDA word at 0x40e holds the EBDA segment, where OSes look first (§4). */
	uint8_t *bda_ebda = lvm_memory_ptr(&vm->mem, 0x40e, 2);
	if (!fp || !buf || !bda_ebda)
		return lvm_fail("memory: too small for the MP table");
	lvm_x86_mptable_build(buf, vm->ncpus, signature, features);
	lvm_x86_mp_floating_build(fp, table);
	lvm_put16(bda_ebda, (uint16_t)(LVM_EBDA_START >> 4));
	return 0;
}
