/*
 * The MP table (Intel MultiProcessor Specification 1.4, chapter 4) for
 * guests that look for CPUs the pre-ACPI way: a floating pointer structure
 * in the first KiB of the EBDA (§4.1) pointing at a configuration table
 * (§4.2) with one processor entry per vCPU, an ISA bus, the IOAPIC, ISA
 * IRQ n -> IOAPIC pin n (KVM's default GSI routing, as in acpi.h) and the
 * usual local interrupts (ExtINT on LINT0, NMI on LINT1; §5.1's default
 * configurations).  APIC IDs are 8 bits here: only vCPUs 0..254 appear.
 */
#ifndef LVM_ARCH_X86_FW_MPTABLE_H
#define LVM_ARCH_X86_FW_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/vm.h"

#define LVM_MP_FLOATING_LEN 16

/* Bytes of the configuration table for ncpus vCPUs. */
size_t lvm_x86_mptable_size(unsigned ncpus);
/* The configuration table; cpu_signature/cpu_features are CPUID 01H EAX/EDX. */
void lvm_x86_mptable_build(uint8_t *buf, unsigned ncpus, uint32_t cpu_signature,
			   uint32_t cpu_features);
/* The 16-byte floating pointer structure for a table at table_addr. */
void lvm_x86_mp_floating_build(uint8_t *buf, uint32_t table_addr);

/* Writes the pointer at the EBDA and the table right after it, or at
 * LVM_MPTABLE_HIGH_ADDR when it does not fit in the EBDA's first KiB. */
int lvm_x86_mptable_write(struct lvm_vm *vm);

#endif
