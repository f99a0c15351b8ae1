/*
 * The CPUID a vCPU sees.  Policy, in order:
 *   1. start from KVM_GET_SUPPORTED_CPUID (what this host's KVM can run);
 *   2. topology: vCPU i has APIC ID i (leaf 01H EBX[31:24], leaves 0BH/1FH
 *      x2APIC IDs); the machine is one package of `ncpus` cores, one thread
 *      each (leaves 01H, 04H, 0BH/1FH, 80000008H);
 *   3. leaf 01H ECX.hypervisor = 1, and the hypervisor leaves 40000000H/
 *      40000001H stay KVM's own ("KVMKVMKVM\0\0\0" + KVM's paravirt
 *      features): the paravirtual interfaces behind them (kvmclock, PV EOI,
 *      steal time, PV unhalt) are implemented by KVM in the kernel, so the
 *      guest must recognise KVM to use them; a luavmm signature would hide
 *      them from Linux and gain nothing;
 *   4. the recipe's `hide` bits are cleared, then its `force` bits set.
 *      Forcing a bit KVM neither supports nor emulates is the recipe's
 *      risk (the guest may fault when it uses the feature): it is set as
 *      asked, with a warning on stderr once per machine (QEMU drops such
 *      bits; a recipe that forces one wants it, e.g. to test a guest's
 *      fallback).
 */
#ifndef LVM_ARCH_X86_CPU_CPUID_H
#define LVM_ARCH_X86_CPU_CPUID_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/cpu/cpuid_features.h"
#include "kvm/vm.h"

#define LVM_CPUID_FEATURES_MAX 256

/* Bit i refers to lvm_cpuid_features[i]. */
struct lvm_cpuid_overrides {
	uint64_t hide[LVM_CPUID_FEATURES_MAX / 64];
	uint64_t force[LVM_CPUID_FEATURES_MAX / 64];
};

static inline void lvm_cpuid_overrides_add(uint64_t *set, unsigned feature)
{
	set[feature / 64] |= 1ull << (feature % 64);
}

static inline bool lvm_cpuid_overrides_has(const uint64_t *set, unsigned feature)
{
	return (set[feature / 64] >> (feature % 64)) & 1;
}

/* Warns (lvm_warn) of each forced bit KVM neither supports nor emulates. */
void lvm_x86_cpuid_warn_unsupported(struct lvm_vm *vm, const struct lvm_cpuid_overrides *o);
int lvm_x86_setup_cpuid(struct lvm_vm *vm, struct lvm_vcpu *vcpu,
			const struct lvm_cpuid_overrides *policy);
/* The steps on a table, exposed for the unit tests. */
struct kvm_cpuid2;
void lvm_x86_cpuid_set_topology(struct kvm_cpuid2 *cpuid, unsigned apic_id, unsigned ncpus);
int lvm_x86_cpuid_apply_overrides(struct kvm_cpuid2 *cpuid, const struct lvm_cpuid_overrides *policy);

/* CRC-32C of KVM_GET_SUPPORTED_CPUID: equal on hosts whose KVM offers a
 * guest the same CPU (snapshots are only loaded where they can run). */
int lvm_x86_cpuid_digest(struct lvm_vm *vm, uint32_t *digest);
/* Leaf 01H EAX (signature) and EDX (features) as KVM supports them. */
int lvm_x86_cpuid_signature(struct lvm_vm *vm, uint32_t *eax, uint32_t *edx);

#endif
