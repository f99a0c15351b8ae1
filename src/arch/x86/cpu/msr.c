#include "arch/x86/cpu/msr.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "util/error.h"

#define MSR_IA32_MISC_ENABLE 0x1a0u
#define MSR_IA32_PAT 0x277u
#define MSR_MTRR_DEF_TYPE 0x2ffu
#define MISC_ENABLE_FAST_STRING (1ull << 0)
#define PAT_POWER_ON 0x0007040600070406ull
#define MTRR_DEF_ENABLE (1ull << 11)
#define MTRR_TYPE_WB 6ull

static const struct {
	uint32_t index;
	uint64_t value;
	const char *name;
} defaults[] = {
	{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING, "IA32_MISC_ENABLE" },
	{ MSR_IA32_PAT, PAT_POWER_ON, "IA32_PAT" },
	{ MSR_MTRR_DEF_TYPE, MTRR_DEF_ENABLE | MTRR_TYPE_WB, "IA32_MTRR_DEF_TYPE" },
};

static bool listed(const struct kvm_msr_list *list, uint32_t index)
{
	for (uint32_t i = 0; list && i < list->nmsrs; i++)
		if (list->indices[i] == index)
			return true;
	return false;
}

/* KVM_GET_MSR_INDEX_LIST (api.rst): ask for the count, then the list; NULL if unavailable. */
static struct kvm_msr_list *fetch_index_list(int kvm_fd)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe); /* fails with E2BIG, sets nmsrs */
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	if (!list)
		return NULL;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(list);
		return NULL;
	}
	return list;
}

/* The list is the host's: asked once per process (twice per vCPU before). */
static const struct kvm_msr_list *msr_index_list(int kvm_fd)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct kvm_msr_list *list; /* process lifetime */
	static bool asked;
	pthread_mutex_lock(&lock);
	if (!asked) {
		list = fetch_index_list(kvm_fd);
		asked = true;
	}
	pthread_mutex_unlock(&lock);
	return list;
}

/* KVM_SET_MSRS returns how many entries it set: 1 or 0 here. */
static int set_msr(int vcpu_fd, uint32_t index, uint64_t value)
{
	_Alignas(struct kvm_msrs) uint8_t buf[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)] = { 0 };
	struct kvm_msrs *msrs = (struct kvm_msrs *)buf;
	msrs->nmsrs = 1;
	msrs->entries[0] = (struct kvm_msr_entry){ .index = index, .data = value };
	return ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
}

#define NDEFAULTS (sizeof(defaults) / sizeof(defaults[0]))

/*
 * All the defaults in one KVM_SET_MSRS (each vCPU ioctl loads and puts
 * the vCPU: ~20 us apiece on a nested host, three per vCPU before).  KVM
 * stops at the first MSR it refuses and returns how many it set: the rest
 * are then set one by one, so that one it does not list can be skipped.
 */
int lvm_x86_setup_msrs(struct lvm_vm *vm, struct lvm_vcpu *vcpu)
{
	_Alignas(struct kvm_msrs) uint8_t buf[sizeof(struct kvm_msrs) +
					      NDEFAULTS * sizeof(struct kvm_msr_entry)] = { 0 };
	struct kvm_msrs *msrs = (struct kvm_msrs *)buf;
	msrs->nmsrs = NDEFAULTS;
	for (size_t i = 0; i < NDEFAULTS; i++)
		msrs->entries[i] = (struct kvm_msr_entry){ .index = defaults[i].index,
							   .data = defaults[i].value };
	int set = ioctl(vcpu->fd, KVM_SET_MSRS, msrs);
	if (set == (int)NDEFAULTS)
		return 0;
	const struct kvm_msr_list *list = msr_index_list(vm->kvm_fd);
	for (size_t i = set > 0 ? (size_t)set : 0; i < NDEFAULTS; i++)
		if (set_msr(vcpu->fd, defaults[i].index, defaults[i].value) != 1 &&
		    listed(list, defaults[i].index))
			return lvm_fail("vcpu %u: KVM_SET_MSRS refused %s = 0x%llx", vcpu->index,
					defaults[i].name, (unsigned long long)defaults[i].value);
	return 0;
}
