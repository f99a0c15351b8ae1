/*
 * The recipe's cpuid key: cpuid = { hide = {"cx16", ...}, force = {...} },
 * feature names from cpuid_features.c.  Errors name the key, e.g.
 * "cpuid.hide: unknown feature 'cx17'".
 */
#ifndef LVM_ARCH_X86_CPU_CPUID_CONFIG_H
#define LVM_ARCH_X86_CPU_CPUID_CONFIG_H

#include "arch/x86/cpu/cpuid.h"
#include "util/value.h"

int lvm_x86_cpuid_parse(const struct lvm_value *v, struct lvm_cpuid_overrides *out);

#endif
