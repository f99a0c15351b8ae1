/*
 * The board's DSDT (ACPI 6.5 §5.2.11.1), in AML from fw/aml.c:
 *
 *   Name (\_S3, Package () { 1, 1, 0, 0 })     S3 = SLP_TYP 1 (devices/acpi_pm.h)
 *   Name (\_S5, Package () { 5, 5, 0, 0 })     S5 = SLP_TYP 5
 *   Scope (\_SB) {
 *     Device (COM1) {                          the 16550 at 0x3f8, IRQ 4
 *       Name (_HID, EisaId ("PNP0501")) Name (_UID, 1)
 *       Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 0, 8) IRQNoFlags () {4} })
 *     }
 *     Device (VRnn) {                          one per virtio-mmio slot, nn = 00..15
 *       Name (_HID, "LNRO0005") Name (_UID, nn) Name (_CCA, One)
 *       Method (_STA) { Return (0x0F) }
 *       Name (_CRS, ResourceTemplate () {
 *         Memory32Fixed (ReadWrite, base, 0x1000)
 *         Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi } })
 *     }
 *   }
 *
 * LNRO0005 is the ID Linux's virtio_mmio driver matches.  The interrupt is
 * level-triggered, active-high, as QEMU's microvm declares it: a
 * virtio-mmio device holds its interrupt until the driver acknowledges it
 * in InterruptACK (virtio 1.2 §4.2.2), which is level semantics; Linux
 * programs the IOAPIC pin from this descriptor.  The window is the whole
 * slot, as the command line and the device tree give it.
 *
 * With a PCI host bridge (transport = "pci"), also:
 *
 *     Device (PCI0) {                          the host bridge, bus 0
 *       Name (_HID, EisaId ("PNP0A08")) Name (_CID, EisaId ("PNP0A03"))
 *       Name (_UID, 0) Name (_SEG, 0) Name (_BBN, 0)
 *       Name (_CRS, ResourceTemplate () {
 *         WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0, 0, 1)
 *         IO (Decode16, 0xCF8, 0xCF8, 1, 8)    CONFIG_ADDRESS/DATA, its own
 *         WordIO (... EntireRange, 0, 0x0000, 0x0CF7, 0, 0x0CF8)
 *         WordIO (... EntireRange, 0, 0x0D00, 0xFFFF, 0, 0xF300)
 *         DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed,
 *                      NonCacheable, ReadWrite, 0, mem, mem + size - 1, 0, size) })
 *       Name (_PRT, Package () {               INTA# of each virtio-pci device
 *         Package () { 0xDDDDFFFF, 0, 0, gsi }, ... })
 *     }
 *     Device (ECAM) {                          the MCFG window, reserved
 *       Name (_HID, EisaId ("PNP0C02")) Name (_UID, 1)
 *       Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, ecam, size) })
 *     }
 *
 * PNP0A08 (PCI Express root bridge, compatible with PNP0A03) because the
 * bus has ECAM, which the MCFG table describes; there is no _OSC (the
 * functions are conventional PCI: no PCIe capability, nothing to hand
 * over), which Linux reports and accepts.  The I/O windows are the PC's
 * whole port space but CONFIG_ADDRESS/DATA (the ISA devices answer as on
 * any PC; no BAR is an I/O BAR).  The _PRT routes each device's INTA# to
 * its own GSI (a global system interrupt, so source 0), which the OS
 * programs level-triggered, active-low: virtio-pci devices interrupt
 * through MSI-X, INTA# is for a driver without MSI-X (Linux with
 * pci=nomsi).  Linux checks that the ECAM window is reserved before it
 * uses it: in the e820 map or, here, a motherboard resource (PNP0C02).
 *
 * Not described: the i8042 (it is only a reset line, no keyboard: the
 * FADT's IAPC_BOOT_ARCH says there is no 8042 and RESET_REG points at
 * it), the PM blocks and the RTC (the FADT gives both), and the power
 * button (the FADT's fixed-feature button, which needs no device object).
 */
#ifndef LVM_ARCH_X86_FW_DSDT_H
#define LVM_ARCH_X86_FW_DSDT_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/virtio_slots.h"

/* The PCI host bridge the tables describe (DSDT PCI0, MCFG). */
struct lvm_acpi_pci {
	uint64_t ecam_base;           /* bus 0 .. bus_end, 1 MiB each */
	uint8_t bus_end;
	uint32_t mem_base, mem_size;  /* the BAR window */
	const struct lvm_pci_slot *slots; /* INTA# routes */
	unsigned nslots;
};

/* Builds the table at t (at most `size` bytes); its length, or 0 if it
 * does not fit.  pci: NULL when the machine has no PCI host bridge. */
size_t lvm_x86_dsdt_build(uint8_t *t, size_t size, const struct lvm_virtio_slot *virtio,
			  unsigned nvirtio, const struct lvm_acpi_pci *pci);

#endif
