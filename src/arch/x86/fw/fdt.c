/*
 * Builds the device tree with libfdt's sequential-write API.  The root has
 * #address-cells = #size-cells = 2, so every reg is <addr-hi addr-lo
 * size-hi size-lo>.  The serial node's reg is an I/O port, as in the x86
 * bindings' ISA convention; interrupts are <GSI type> on the I/O APIC.
 */
#include "arch/x86/fw/fdt.h"

#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "util/error.h"

#define IOAPIC_PHANDLE 1
#define IOAPIC_BASE 0xfec00000ull
#define IRQ_EDGE_RISING 0 /* intel,ce4100-ioapic second interrupt cell */
#define SERIAL_PORT 0x3f8
#define SERIAL_IRQ 4

static int reg(void *fdt, uint64_t base, uint64_t size)
{
	fdt64_t cells[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };
	return fdt_property(fdt, "reg", cells, sizeof(cells));
}

static int interrupts(void *fdt, unsigned irq)
{
	fdt32_t cells[2] = { cpu_to_fdt32(irq), cpu_to_fdt32(IRQ_EDGE_RISING) };
	return fdt_property(fdt, "interrupts", cells, sizeof(cells));
}

static int memory_node(void *fdt, const struct lvm_memory *mem)
{
	fdt64_t cells[4];
	unsigned n = 0;
	for (unsigned i = 0; i < mem->nregions && i < 2; i++) {
		cells[n++] = cpu_to_fdt64(mem->regions[i].gpa);
		cells[n++] = cpu_to_fdt64(mem->regions[i].size);
	}
	int rc = fdt_begin_node(fdt, "memory@0");
	rc = rc ? rc : fdt_property_string(fdt, "device_type", "memory");
	rc = rc ? rc : fdt_property(fdt, "reg", cells, n * sizeof(cells[0]));
	return rc ? rc : fdt_end_node(fdt);
}

static int cpus_node(void *fdt, unsigned ncpus)
{
	int rc = fdt_begin_node(fdt, "cpus");
	rc = rc ? rc : fdt_property_u32(fdt, "#address-cells", 1);
	rc = rc ? rc : fdt_property_u32(fdt, "#size-cells", 0);
	for (unsigned i = 0; i < ncpus && !rc; i++) {
		char name[32];
		snprintf(name, sizeof(name), "cpu@%x", i);
		rc = fdt_begin_node(fdt, name);
		rc = rc ? rc : fdt_property_string(fdt, "device_type", "cpu");
		rc = rc ? rc : fdt_property_u32(fdt, "reg", i);
		rc = rc ? rc : fdt_end_node(fdt);
	}
	return rc ? rc : fdt_end_node(fdt);
}

static int ioapic_node(void *fdt)
{
	int rc = fdt_begin_node(fdt, "interrupt-controller@fec00000");
	rc = rc ? rc : fdt_property_string(fdt, "compatible", "intel,ce4100-ioapic");
	rc = rc ? rc : fdt_property(fdt, "interrupt-controller", NULL, 0);
	rc = rc ? rc : fdt_property_u32(fdt, "#interrupt-cells", 2);
	rc = rc ? rc : reg(fdt, IOAPIC_BASE, 0x1000);
	rc = rc ? rc : fdt_property_u32(fdt, "phandle", IOAPIC_PHANDLE);
	return rc ? rc : fdt_end_node(fdt);
}

static int serial_node(void *fdt)
{
	int rc = fdt_begin_node(fdt, "serial@3f8");
	rc = rc ? rc : fdt_property_string(fdt, "compatible", "ns16550a");
	rc = rc ? rc : reg(fdt, SERIAL_PORT, 8);
	rc = rc ? rc : fdt_property_u32(fdt, "clock-frequency", 1843200);
	rc = rc ? rc : interrupts(fdt, SERIAL_IRQ);
	return rc ? rc : fdt_end_node(fdt);
}

static int virtio_node(void *fdt, const struct lvm_fdt_virtio *v)
{
	char name[48];
	snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)v->base);
	int rc = fdt_begin_node(fdt, name);
	rc = rc ? rc : fdt_property_string(fdt, "compatible", "virtio,mmio");
	rc = rc ? rc : reg(fdt, v->base, v->size);
	rc = rc ? rc : interrupts(fdt, v->irq);
	rc = rc ? rc : fdt_property(fdt, "dma-coherent", NULL, 0);
	return rc ? rc : fdt_end_node(fdt);
}

static int root_props(void *fdt, const struct lvm_fdt_machine *m)
{
	int rc = fdt_property_u32(fdt, "#address-cells", 2);
	rc = rc ? rc : fdt_property_u32(fdt, "#size-cells", 2);
	rc = rc ? rc : fdt_property_string(fdt, "compatible", "luavmm,pc");
	rc = rc ? rc : fdt_property_string(fdt, "model", "luavmm");
	rc = rc ? rc : fdt_property_u32(fdt, "interrupt-parent", IOAPIC_PHANDLE);
	rc = rc ? rc : fdt_begin_node(fdt, "chosen");
	rc = rc ? rc : fdt_property_string(fdt, "bootargs", m->bootargs ? m->bootargs : "");
	rc = rc ? rc : fdt_property_string(fdt, "stdout-path", "/serial@3f8");
	return rc ? rc : fdt_end_node(fdt);
}

/* The area holds the longest command line the boot data allows and, in
 * the other 64 KiB, the nodes (a few hundred bytes per CPU and device). */
_Static_assert(LVM_FDT_MAX >= LVM_BOOT_CMDLINE_MAX + 0x10000, "LVM_FDT_MAX: no room for the nodes");

int lvm_fdt_build(const struct lvm_fdt_machine *m, void *buf, size_t size)
{
	/* The same limit and message as the boot data's, before any node:
	 * a long command line is the recipe's error, not the tree's. */
	size_t len = m->bootargs ? strlen(m->bootargs) : 0;
	if (len + 1 > LVM_BOOT_CMDLINE_MAX)
		return lvm_fail("cmdline: %zu bytes is longer than the limit of %u", len,
				LVM_BOOT_CMDLINE_MAX - 1);
	int rc = fdt_create(buf, (int)size);
	rc = rc ? rc : fdt_finish_reservemap(buf);
	rc = rc ? rc : fdt_begin_node(buf, "");
	rc = rc ? rc : root_props(buf, m);
	rc = rc ? rc : memory_node(buf, m->mem);
	rc = rc ? rc : cpus_node(buf, m->ncpus);
	rc = rc ? rc : ioapic_node(buf);
	rc = rc ? rc : serial_node(buf);
	for (unsigned i = 0; i < m->nvirtio && !rc; i++)
		rc = virtio_node(buf, &m->virtio[i]);
	rc = rc ? rc : fdt_end_node(buf);
	rc = rc ? rc : fdt_finish(buf);
	if (rc)
		return lvm_fail("device tree: %s", fdt_strerror(rc));
	return (int)fdt_totalsize(buf);
}
