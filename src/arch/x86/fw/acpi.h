/*
 * The ACPI tables luavmm writes into the BIOS area so a guest finds its
 * CPUs and interrupt controllers the way an OS does on a PC: RSDP ->
 * XSDT (and RSDT) -> FADT (-> DSDT) and MADT.  References: ACPI 6.5
 * §5.2.5 (RSDP), §5.2.7/§5.2.8 (RSDT/XSDT), §5.2.9 (FADT), §5.2.11.1
 * (DSDT), §5.2.12 (MADT).
 *
 * The machine has no ACPI PM hardware, so the FADT declares a
 * hardware-reduced platform (no SCI, no PM1 blocks) with a reset register
 * (0xfe to port 0x64, luavmm's i8042 reset line); the DSDT is an empty
 * definition block.  Interrupts: KVM's default GSI routing sends ISA IRQ n
 * to IOAPIC pin n (and the PIC), which is exactly what ACPI assumes when
 * the MADT has no Interrupt Source Override (§5.2.12.5), so there is none.
 */
#ifndef LVM_ARCH_X86_FW_ACPI_H
#define LVM_ARCH_X86_FW_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/vm.h"

/*
 * Builds every table into buf, which the guest sees at guest-physical
 * `base` (the RSDP goes first, at buf[0]).  Returns the bytes used, or 0 if
 * `size` is too small.  vCPU i has APIC ID i.
 */
size_t lvm_x86_acpi_build(uint8_t *buf, size_t size, uint32_t base, unsigned ncpus);

/* Writes the tables at LVM_ACPI_RSDP_ADDR. */
int lvm_x86_acpi_write(struct lvm_vm *vm);

#endif
