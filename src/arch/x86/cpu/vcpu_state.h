/*
 * Saving and loading an x86 vCPU's whole KVM state, and the VM's kvmclock,
 * for snapshots (util/state.h).  Both run on the control thread while the
 * vCPU threads are parked (not in KVM_RUN) or not started yet.
 *
 * Section "cpu.N" (the caller opens/finds it), fields in this order:
 *   u32  TSC frequency in kHz (KVM_GET_TSC_KHZ; 0 if the host cannot tell)
 *   u32  MP state (KVM_GET_MP_STATE)
 *   blob struct kvm_regs
 *   u8   1: struct kvm_sregs follows, 2: struct kvm_sregs2 (with PDPTRs)
 *   blob the special registers in that format
 *   u8   1: an XSAVE area follows (KVM_GET_XSAVE2/KVM_GET_XSAVE), 2: struct kvm_fpu
 *   blob the FPU/SSE/AVX... state in that format
 *   bool whether struct kvm_xcrs follows; blob struct kvm_xcrs if so
 *   blob struct kvm_debugregs
 *   blob struct kvm_lapic_state (the in-kernel LAPIC, both irqchip modes)
 *   blob struct kvm_vcpu_events (pending/injected exception, interrupt, NMI, SMI)
 *   u32  MSR count, then per MSR: u32 index, u64 value
 * The MSRs are those KVM_GET_MSR_INDEX_LIST lists plus the MTRRs and
 * TSC_AUX (KVM accepts them but does not list them), less any the host
 * refuses to read.  EFER and APIC_BASE travel in the special registers.
 *
 * Section of the VM clock (the caller names it): u64 kvmclock in ns
 * (KVM_GET_CLOCK).  Loaded, the guest's clock continues from that value:
 * like its TSC (the MSR), it does not see the time the snapshot spent on
 * disk.  (Where KVM cannot move the guest's TSC, kvm_pvm, the TSC does
 * see it; the TSC is then set to what the guest reads, so that KVM's
 * deadline timer and kvmclock sums agree with the guest.)
 *
 * Loading expects the vCPU as the machine's recipe creates it (CPUID set:
 * the XSAVE features and some MSRs depend on it), validates the whole
 * section before the first KVM_SET_* call, and then applies it in an order
 * where nothing set later undoes something set earlier:
 *   TSC frequency, regs, sregs (APIC base, x2APIC mode), MP state (after
 *   sregs: setting a BSP's reset-vector sregs makes it runnable), XSAVE/FPU,
 *   XCRs, debug registers, LAPIC (needs the APIC base), MSRs (IA32_TSC
 *   first, for the kvmclock and deadline MSRs that follow; TSC_DEADLINE
 *   last, once the LAPIC's timer is in deadline mode), vCPU events last
 *   (KVM_SET_REGS drops a pending exception).
 * Load the vCPUs before the clock.
 *
 * On failure each returns -1 with a one-line lvm_error naming the vCPU
 * ("cpu.0: XSAVE area is 4096 bytes here, the snapshot has 8192"); a load
 * also marks the reader failed with the same reason, so a caller that
 * goes on to lvm_state_section_done reports it rather than leftovers.
 */
#ifndef LVM_ARCH_X86_CPU_VCPU_STATE_H
#define LVM_ARCH_X86_CPU_VCPU_STATE_H

#include "kvm/vm.h"
#include "util/state.h"

/* Most MSRs a snapshot may carry per vCPU (KVM lists a few dozen to a few hundred). */
#define LVM_X86_SNAPSHOT_MSRS_MAX 1024u

/*
 * Writes the fields of section "cpu.N" (the caller opened it).  An I/O or
 * MMIO exit the vCPU left KVM_RUN on is completed first (an immediate-exit
 * KVM_RUN, api.rst "KVM_RUN"): KVM keeps the rest of that instruction in
 * state no KVM_GET_* returns.  Refuses while a vCPU waits for a Lua hook.
 */
int lvm_x86_vcpu_save(struct lvm_vcpu *vcpu, struct lvm_state_writer *w);
int lvm_x86_vcpu_load(struct lvm_vcpu *vcpu, struct lvm_state_reader *r);
/*
 * The power-on states of a VM that has not run yet (CPUID and MSR defaults
 * set): sections "cpu.0", "cpu.1", ... as lvm_x86_vcpu_save writes them,
 * one per vCPU, opened here.  The APs between the second and the last may
 * be copies of the second with their own APIC ID (and its IA32_TSC: the
 * user of a power-on state keeps the running TSC), when the host's KVM
 * resets APs that way; see vcpu_state.c.
 */
int lvm_x86_vcpu_save_power_on(struct lvm_vm *vm, struct lvm_state_writer *w);
/* The VM's kvmclock (KVM_GET_CLOCK / KVM_SET_CLOCK); fields only. */
int lvm_x86_clock_save(struct lvm_vm *vm, struct lvm_state_writer *w);
int lvm_x86_clock_load(struct lvm_vm *vm, struct lvm_state_reader *r);

#endif
