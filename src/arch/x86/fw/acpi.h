/*
 * The ACPI tables luavmm writes into the BIOS area so a guest finds its
 * CPUs, interrupt controllers, devices and power management the way an OS
 * does on a PC: RSDP -> XSDT (and RSDT) -> FADT (-> FACS, DSDT) and MADT.
 * References: ACPI 6.5 §5.2.5 (RSDP), §5.2.7/§5.2.8 (RSDT/XSDT), §5.2.9
 * (FADT), §5.2.10 (FACS), §5.2.11.1 (DSDT, fw/dsdt.h), §5.2.12 (MADT);
 * PCI Firmware 3.0 §4.1.2 (MCFG).
 *
 * The platform is a full (not hardware-reduced) ACPI PC, because guests
 * written for PCs (kvm-unit-tests, older kernels) look for the FACS, the
 * PM1 blocks and the PM timer, which a hardware-reduced FADT cannot have:
 *   - FADT: FACS (FIRMWARE_CTRL and X_FIRMWARE_CTRL), SCI on ISA IRQ 9, no
 *     SMI_CMD (always in ACPI mode), PM1a_EVT_BLK, PM1a_CNT_BLK and
 *     PM_TMR_BLK (32-bit: TMR_VAL_EXT) at LVM_ACPI_PM_BASE (the device is
 *     devices/acpi_pm.h), the fixed-feature power button, no sleep button,
 *     no GPE blocks, C2/C3 not supported, the CMOS century byte (the RTC is
 *     devices/rtc_cmos.h), a reset register (0xfe to port 0x64, luavmm's
 *     i8042 reset line) and IAPC_BOOT_ARCH "legacy devices, no 8042, no
 *     VGA".  S5 (SLP_TYP 5 per the DSDT's \_S5) powers the machine off;
 *     S3 (SLP_TYP 1, \_S3) suspends it to RAM (arch/x86/sleep.h).
 *   - FACS: version 2, in guest RAM at LVM_ACPI_FACS_ADDR, where the OS
 *     writes its waking vectors before S3; no S4BIOS, no 64-bit wake.
 *   - MADT: a Local APIC (or x2APIC) entry per vCPU, the IOAPIC, LINT1 NMI,
 *     and one Interrupt Source Override: ISA IRQ 9 -> GSI 9, level,
 *     active-high, the PC convention for the SCI (§5.2.12.5).  Otherwise
 *     GSI n is ISA IRQ n and IOAPIC pin n, edge, active-high.
 *   - MCFG, with a PCI host bridge only: one allocation, segment 0, buses
 *     0..bus_end at the ECAM base (the DSDT's PCI0 and its reservation say
 *     the same).
 */
#ifndef LVM_ARCH_X86_FW_ACPI_H
#define LVM_ARCH_X86_FW_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/fw/dsdt.h"
#include "arch/x86/virtio_slots.h"
#include "kvm/vm.h"

/* The FACS (§5.2.10, table 5.14): where the board finds the waking vector. */
#define LVM_ACPI_FACS_OFFSET 64u /* from LVM_ACPI_RSDP_ADDR: 64-byte aligned */
#define LVM_ACPI_FACS_LEN 64u
#define LVM_FACS_WAKING_VECTOR 12u   /* u32: real-mode waking vector */
#define LVM_FACS_FLAGS 20u           /* u32: S4BIOS_F, 64BIT_WAKE_SUPPORTED_F */
#define LVM_FACS_X_WAKING_VECTOR 24u /* u64: the OS's other waking vector */
#define LVM_FACS_VERSION 32u         /* u8 */
#define LVM_FACS_OSPM_FLAGS 36u      /* u32: 64BIT_WAKE_F */

/* What the tables describe. */
struct lvm_acpi_config {
	unsigned ncpus;                       /* vCPU i has APIC ID i */
	const struct lvm_virtio_slot *virtio; /* windows of LVM_VIRTIO_MMIO_SIZE bytes */
	unsigned nvirtio;
	const struct lvm_acpi_pci *pci;       /* NULL: no PCI host bridge (fw/dsdt.h) */
};

/*
 * Builds every table into buf, which the guest sees at guest-physical
 * `base` (the RSDP goes first, at buf[0]).  Returns the bytes used, or 0 if
 * `size` is too small.
 */
size_t lvm_x86_acpi_build(uint8_t *buf, size_t size, uint32_t base,
			  const struct lvm_acpi_config *config);

/* Writes the tables at LVM_ACPI_RSDP_ADDR for the VM's vCPUs and these slots. */
int lvm_x86_acpi_write(struct lvm_vm *vm, const struct lvm_virtio_slots *slots);

#endif
