#include "arch/x86/cpuid.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "core/error.h"

#define CPUID_MAX_ENTRIES 256
#define CPUID_1_ECX_HYPERVISOR (1u << 31)

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) +
					     CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	if (!cpuid) {
		lvm_fail("out of memory for CPUID");
		return NULL;
	}
	cpuid->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		lvm_fail_errno("KVM_GET_SUPPORTED_CPUID");
		free(cpuid);
		return NULL;
	}
	return cpuid;
}

/* Gives the vCPU its own APIC ID (SDM vol. 2A, CPUID leaves 01H and 0BH). */
static void set_topology(struct kvm_cpuid2 *cpuid, unsigned apic_id, unsigned ncpus)
{
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffffu) | ((ncpus & 0xffu) << 16) | (apic_id << 24);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			break;
		case 0xb:
		case 0x1f:
			e->edx = apic_id;
			break;
		default:
			break;
		}
	}
}

int lvm_x86_setup_cpuid(struct lvm_vm *vm, struct lvm_vcpu *vcpu)
{
	struct kvm_cpuid2 *cpuid = supported_cpuid(vm->kvm_fd);
	if (!cpuid)
		return -1;
	set_topology(cpuid, vcpu->index, vm->ncpus);
	int rc = 0;
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0)
		rc = lvm_fail_errno("vcpu %u: KVM_SET_CPUID2", vcpu->index);
	free(cpuid);
	return rc;
}
