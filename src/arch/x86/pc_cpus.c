#include "arch/x86/pc_cpus.h"

#include "arch/x86/fw/acpi.h"
#include "arch/x86/cpu/cpuid.h"
#include "arch/x86/fw/mptable.h"
#include "arch/x86/cpu/msr.h"

int lvm_pc_write_firmware(struct lvm_vm *vm)
{
	if (lvm_x86_acpi_write(vm) < 0 || lvm_x86_mptable_write(vm) < 0)
		return -1;
	return 0;
}

int lvm_pc_setup_vcpu(struct lvm_vm *vm, struct lvm_vcpu *vcpu,
		      const struct lvm_machine_config *config)
{
	if (lvm_x86_setup_cpuid(vm, vcpu, config->cpuid) < 0 || lvm_x86_setup_msrs(vm, vcpu) < 0)
		return -1;
	return 0;
}
