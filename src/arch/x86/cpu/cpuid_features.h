/*
 * CPUID feature bits by name, for recipes: `cpuid = { hide = {"cx16"} }`.
 * Names follow Linux's /proc/cpuinfo flags, so a user can copy them from a
 * host.  Bit positions are from the SDM vol. 2A (CPUID, tables 3-10, 3-11
 * and the leaf 07H and 80000001H descriptions) and AMD's APM vol. 3 (E.4).
 */
#ifndef LVM_ARCH_X86_CPU_CPUID_FEATURES_H
#define LVM_ARCH_X86_CPU_CPUID_FEATURES_H

#include <stdint.h>

enum lvm_cpuid_reg { LVM_EAX, LVM_EBX, LVM_ECX, LVM_EDX };

struct lvm_cpuid_feature {
	const char *name;
	uint32_t leaf;
	uint32_t subleaf;
	enum lvm_cpuid_reg reg;
	uint8_t bit;
};

/* The table, and its length (at most LVM_CPUID_FEATURES_MAX). */
extern const struct lvm_cpuid_feature lvm_cpuid_features[];
extern const unsigned lvm_cpuid_feature_count;

/* The index of `name` in the table, or -1. */
int lvm_cpuid_feature_find(const char *name);

#endif
