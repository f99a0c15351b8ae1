/*
 * The board's DSDT (ACPI 6.5 §5.2.11.1), in AML from fw/aml.c:
 *
 *   Name (\_S5, Package () { 5, 5, 0, 0 })     S5 = SLP_TYP 5 (devices/acpi_pm.h)
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

/* Builds the table at t (at most `size` bytes); its length, or 0 if it does not fit. */
size_t lvm_x86_dsdt_build(uint8_t *t, size_t size, const struct lvm_virtio_slot *virtio,
			  unsigned nvirtio);

#endif
