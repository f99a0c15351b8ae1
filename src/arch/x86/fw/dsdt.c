#include "arch/x86/fw/dsdt.h"

#include <stdio.h>

#include "arch/x86/board.h"
#include "arch/x86/fw/aml.h"
#include "arch/x86/fw/fwtable.h"
#include "devices/acpi_pm.h"
#include "devices/virtio/transport.h"

#define STA_PRESENT_ENABLED_SHOWN_OK 0x0f /* _STA bits 0-3 (ACPI 6.5 §6.3.7) */

/* \_Sx: SLP_TYP for PM1a and PM1b, then two reserved values (§7.4.2). */
static void sleep_state(struct lvm_aml *a, const char *name, unsigned slp_typ)
{
	lvm_aml_name(a, name);
	lvm_aml_package_begin(a, 4);
	lvm_aml_integer(a, slp_typ);
	lvm_aml_integer(a, slp_typ);
	lvm_aml_integer(a, 0);
	lvm_aml_integer(a, 0);
	lvm_aml_end(a);
}

/* S3 (suspend to RAM, resumed through the FACS waking vector) and S5. */
static void sleep_states(struct lvm_aml *a)
{
	sleep_state(a, "\\_S3", LVM_ACPI_PM_SLP_TYP_S3);
	sleep_state(a, "\\_S5", LVM_ACPI_PM_SLP_TYP_S5);
}

static void com1(struct lvm_aml *a)
{
	lvm_aml_device_begin(a, "COM1");
	lvm_aml_name(a, "_HID");
	lvm_aml_eisaid(a, "PNP0501");
	lvm_aml_name(a, "_UID");
	lvm_aml_integer(a, 1);
	lvm_aml_name(a, "_CRS");
	lvm_aml_resources_begin(a);
	lvm_aml_io(a, LVM_BOARD_SERIAL_PORT, LVM_BOARD_SERIAL_PORT, 0, 8);
	lvm_aml_irq_noflags(a, 1u << LVM_BOARD_SERIAL_IRQ);
	lvm_aml_end(a);
	lvm_aml_end(a);
}

static void virtio_device(struct lvm_aml *a, unsigned i, const struct lvm_virtio_slot *s)
{
	char name[8];
	snprintf(name, sizeof(name), "VR%02u", i % 100);
	lvm_aml_device_begin(a, name);
	lvm_aml_name(a, "_HID");
	lvm_aml_string(a, "LNRO0005");
	lvm_aml_name(a, "_UID");
	lvm_aml_integer(a, i);
	lvm_aml_name(a, "_CCA"); /* DMA is cache-coherent (§6.2.17) */
	lvm_aml_integer(a, 1);
	lvm_aml_method_begin(a, "_STA", 0, false);
	lvm_aml_return(a);
	lvm_aml_integer(a, STA_PRESENT_ENABLED_SHOWN_OK);
	lvm_aml_end(a);
	lvm_aml_name(a, "_CRS");
	lvm_aml_resources_begin(a);
	lvm_aml_memory32_fixed(a, true, (uint32_t)s->base, (uint32_t)LVM_VIRTIO_MMIO_SIZE);
	lvm_aml_interrupt(a, LVM_AML_IRQ_CONSUMER, s->gsi); /* level, active-high, exclusive */
	lvm_aml_end(a);
	lvm_aml_end(a);
}

#define PCI_IO_CONFIG 0xcf8  /* CONFIG_ADDRESS and CONFIG_DATA: 8 ports */
#define PCI_IO_AFTER 0xd00

static void pci_resources(struct lvm_aml *a, const struct lvm_acpi_pci *pci)
{
	lvm_aml_name(a, "_CRS");
	lvm_aml_resources_begin(a);
	lvm_aml_word_bus_number(a, 0, pci->bus_end);
	lvm_aml_io(a, PCI_IO_CONFIG, PCI_IO_CONFIG, 1, 8);
	lvm_aml_word_io(a, 0, PCI_IO_CONFIG - 1);
	lvm_aml_word_io(a, PCI_IO_AFTER, 0xffff);
	lvm_aml_dword_memory(a, pci->mem_base, pci->mem_base + pci->mem_size - 1);
	lvm_aml_end(a);
}

/* _PRT (§6.2.13): device D's INTA# (pin 0) is GSI g (source 0: a GSI). */
static void pci_routing(struct lvm_aml *a, const struct lvm_acpi_pci *pci)
{
	lvm_aml_name(a, "_PRT");
	lvm_aml_package_begin(a, pci->nslots);
	for (unsigned i = 0; i < pci->nslots; i++) {
		lvm_aml_package_begin(a, 4);
		lvm_aml_integer(a, (uint64_t)pci->slots[i].dev << 16 | 0xffff);
		lvm_aml_integer(a, 0);
		lvm_aml_integer(a, 0);
		lvm_aml_integer(a, pci->slots[i].gsi);
		lvm_aml_end(a);
	}
	lvm_aml_end(a);
}

static void pci_host(struct lvm_aml *a, const struct lvm_acpi_pci *pci)
{
	lvm_aml_device_begin(a, "PCI0");
	lvm_aml_name(a, "_HID");
	lvm_aml_eisaid(a, "PNP0A08");
	lvm_aml_name(a, "_CID");
	lvm_aml_eisaid(a, "PNP0A03");
	lvm_aml_name(a, "_UID");
	lvm_aml_integer(a, 0);
	lvm_aml_name(a, "_SEG");
	lvm_aml_integer(a, 0);
	lvm_aml_name(a, "_BBN");
	lvm_aml_integer(a, 0);
	pci_resources(a, pci);
	pci_routing(a, pci);
	lvm_aml_end(a);
	/* The ECAM window as a motherboard resource (PCI Firmware 3.0 §4.1.2). */
	lvm_aml_device_begin(a, "ECAM");
	lvm_aml_name(a, "_HID");
	lvm_aml_eisaid(a, "PNP0C02");
	lvm_aml_name(a, "_UID");
	lvm_aml_integer(a, 1);
	lvm_aml_name(a, "_CRS");
	lvm_aml_resources_begin(a);
	lvm_aml_memory32_fixed(a, true, (uint32_t)pci->ecam_base,
			       ((uint32_t)pci->bus_end + 1) << 20);
	lvm_aml_end(a);
	lvm_aml_end(a);
}

size_t lvm_x86_dsdt_build(uint8_t *t, size_t size, const struct lvm_virtio_slot *virtio,
			  unsigned nvirtio, const struct lvm_acpi_pci *pci)
{
	if (size < LVM_ACPI_HEADER_LEN || nvirtio > 100)
		return 0;
	struct lvm_aml a;
	lvm_aml_init(&a, t + LVM_ACPI_HEADER_LEN, size - LVM_ACPI_HEADER_LEN);
	sleep_states(&a);
	lvm_aml_scope_begin(&a, "\\_SB");
	com1(&a);
	for (unsigned i = 0; i < nvirtio; i++)
		virtio_device(&a, i, &virtio[i]);
	if (pci)
		pci_host(&a, pci);
	lvm_aml_end(&a);
	size_t aml = lvm_aml_finish(&a);
	if (aml == 0 || aml > UINT32_MAX - LVM_ACPI_HEADER_LEN)
		return 0;
	uint32_t len = (uint32_t)(LVM_ACPI_HEADER_LEN + aml);
	lvm_acpi_header(t, "DSDT", len, 2); /* revision 2: 64-bit integers */
	lvm_acpi_finish(t, len);
	return len;
}
