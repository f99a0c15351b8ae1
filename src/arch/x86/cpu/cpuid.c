/* CPUID set-up per vCPU; the policy is described in cpuid.h. */
#include "arch/x86/cpu/cpuid.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/error.h"
#include "util/state.h"

#define CPUID_MAX_ENTRIES 256
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)
#define TOPO_LEVEL_SMT 1u  /* leaf 0BH ECX[15:8] level types (SDM vol. 2A) */
#define TOPO_LEVEL_CORE 2u

_Static_assert(sizeof(((struct lvm_cpuid_overrides *)0)->hide) * 8 == LVM_CPUID_FEATURES_MAX,
	       "policy bitmap size");

#define CPUID_SIZE (sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2))

/*
 * What this host's KVM supports does not change while the process runs, so
 * it is asked once (a 64-vCPU machine used to ask 65 times, ~5 ms here) and
 * each caller gets its own copy to edit.
 */
static pthread_mutex_t supported_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kvm_cpuid2 *supported; /* process lifetime */

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	struct kvm_cpuid2 *cpuid = calloc(1, CPUID_SIZE);
	if (!cpuid) {
		lvm_fail("out of memory for CPUID");
		return NULL;
	}
	pthread_mutex_lock(&supported_lock);
	if (!supported) {
		cpuid->nent = CPUID_MAX_ENTRIES;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
			lvm_fail_errno("KVM_GET_SUPPORTED_CPUID");
			pthread_mutex_unlock(&supported_lock);
			free(cpuid);
			return NULL;
		}
		supported = malloc(CPUID_SIZE);
		if (supported)
			memcpy(supported, cpuid, CPUID_SIZE);
	} else {
		memcpy(cpuid, supported, CPUID_SIZE);
	}
	pthread_mutex_unlock(&supported_lock);
	return cpuid;
}

/* Bits needed to number `n` things (the x2APIC ID shift of a level). */
static unsigned id_bits(unsigned n)
{
	unsigned bits = 0;
	while ((1u << bits) < n)
		bits++;
	return bits;
}

/* Leaves 0BH and 1FH (SDM vol. 2A): level 0 = thread, 1 = core, then none. */
static void set_extended_topology(struct kvm_cpuid_entry2 *e, unsigned apic_id, unsigned ncpus)
{
	e->edx = apic_id;
	if (e->index == 0) {
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (TOPO_LEVEL_SMT << 8) | 0;
	} else if (e->index == 1) {
		e->eax = id_bits(ncpus);
		e->ebx = ncpus & 0xffffu;
		e->ecx = (TOPO_LEVEL_CORE << 8) | 1;
	} else {
		e->eax = e->ebx = 0;
		e->ecx = e->index & 0xffu;
	}
}

/* Gives the vCPU its APIC ID and the machine's shape (see cpuid.h, step 2). */
void lvm_x86_cpuid_set_topology(struct kvm_cpuid2 *cpuid, unsigned apic_id, unsigned ncpus)
{
	unsigned logical = ncpus > 255 ? 255 : ncpus;
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffffu) | (logical << 16) | ((apic_id & 0xffu) << 24);
			e->edx = ncpus > 1 ? e->edx | CPUID_1_EDX_HTT : e->edx & ~CPUID_1_EDX_HTT;
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			break;
		case 4: /* EAX[31:26] = cores per package - 1, for each cache level */
			if (e->eax & 0x1fu)
				e->eax = (e->eax & 0x03ffffffu) | (((ncpus - 1) & 0x3fu) << 26);
			break;
		case 0xb:
		case 0x1f:
			set_extended_topology(e, apic_id, ncpus);
			break;
		case 0x80000008u: /* AMD: ECX[7:0] = threads - 1, [15:12] = APIC ID bits */
			e->ecx = (e->ecx & ~0xf0ffu) | (id_bits(ncpus) << 12) | ((ncpus - 1) & 0xffu);
			break;
		default:
			break;
		}
	}
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, enum lvm_cpuid_reg reg)
{
	switch (reg) {
	case LVM_EAX: return &e->eax;
	case LVM_EBX: return &e->ebx;
	case LVM_ECX: return &e->ecx;
	default:      return &e->edx;
	}
}

static struct kvm_cpuid_entry2 *find_entry(struct kvm_cpuid2 *cpuid, uint32_t leaf,
					    uint32_t subleaf)
{
	for (unsigned i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == leaf && cpuid->entries[i].index == subleaf)
			return &cpuid->entries[i];
	return NULL;
}

/* Step 4: hide, then force.  A forced bit in a leaf KVM lacks is an error. */
int lvm_x86_cpuid_apply_overrides(struct kvm_cpuid2 *cpuid, const struct lvm_cpuid_overrides *policy)
{
	for (unsigned i = 0; i < lvm_cpuid_feature_count; i++) {
		bool hide = lvm_cpuid_overrides_has(policy->hide, i);
		bool force = lvm_cpuid_overrides_has(policy->force, i);
		if (!hide && !force)
			continue;
		const struct lvm_cpuid_feature *f = &lvm_cpuid_features[i];
		struct kvm_cpuid_entry2 *e = find_entry(cpuid, f->leaf, f->subleaf);
		if (!e) {
			if (force)
				return lvm_fail("cpuid.force: '%s': leaf 0x%x is not offered by this host's KVM",
						f->name, f->leaf);
			continue; /* hiding a bit of an absent leaf: already hidden */
		}
		uint32_t *reg = reg_of(e, f->reg);
		if (hide)
			*reg &= ~(1u << f->bit);
		if (force)
			*reg |= 1u << f->bit;
	}
	return 0;
}

/* KVM_GET_EMULATED_CPUID: bits KVM emulates though the host CPU lacks them. */
static struct kvm_cpuid2 *emulated_cpuid(int kvm_fd)
{
	struct kvm_cpuid2 *cpuid = calloc(1, CPUID_SIZE);
	if (cpuid) {
		cpuid->nent = CPUID_MAX_ENTRIES;
		if (ioctl(kvm_fd, KVM_GET_EMULATED_CPUID, cpuid) < 0)
			cpuid->nent = 0;
	}
	return cpuid;
}

static bool offers(struct kvm_cpuid2 *cpuid, const struct lvm_cpuid_feature *f)
{
	struct kvm_cpuid_entry2 *e = cpuid ? find_entry(cpuid, f->leaf, f->subleaf) : NULL;
	return e && (*reg_of(e, f->reg) >> f->bit & 1);
}

void lvm_x86_cpuid_warn_unsupported(struct lvm_vm *vm, const struct lvm_cpuid_overrides *o)
{
	struct kvm_cpuid2 *supported_copy = supported_cpuid(vm->kvm_fd);
	struct kvm_cpuid2 *emulated = emulated_cpuid(vm->kvm_fd);
	for (unsigned i = 0; supported_copy && i < lvm_cpuid_feature_count; i++) {
		const struct lvm_cpuid_feature *f = &lvm_cpuid_features[i];
		if (lvm_cpuid_overrides_has(o->force, i) && !offers(supported_copy, f) &&
		    !offers(emulated, f))
			lvm_warn("cpuid.force: '%s' is neither supported nor emulated by this host's KVM; "
				 "it is set as asked, and the guest may fault when it uses it", f->name);
	}
	free(supported_copy);
	free(emulated);
}

int lvm_x86_setup_cpuid(struct lvm_vm *vm, struct lvm_vcpu *vcpu,
			const struct lvm_cpuid_overrides *policy)
{
	struct kvm_cpuid2 *cpuid = supported_cpuid(vm->kvm_fd);
	if (!cpuid)
		return -1;
	lvm_x86_cpuid_set_topology(cpuid, vcpu->index, vm->ncpus);
	int rc = policy ? lvm_x86_cpuid_apply_overrides(cpuid, policy) : 0;
	if (rc == 0 && ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0)
		rc = lvm_fail_errno("vcpu %u: KVM_SET_CPUID2", vcpu->index);
	free(cpuid);
	return rc;
}

int lvm_x86_cpuid_signature(struct lvm_vm *vm, uint32_t *eax, uint32_t *edx)
{
	struct kvm_cpuid2 *cpuid = supported_cpuid(vm->kvm_fd);
	if (!cpuid)
		return -1;
	struct kvm_cpuid_entry2 *e = find_entry(cpuid, 1, 0);
	*eax = e ? e->eax : 0;
	*edx = e ? e->edx : 0;
	free(cpuid);
	return 0;
}

int lvm_x86_cpuid_digest(struct lvm_vm *vm, uint32_t *digest)
{
	struct kvm_cpuid2 *cpuid = supported_cpuid(vm->kvm_fd);
	if (!cpuid)
		return -1;
	uint32_t crc = 0;
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 e = cpuid->entries[i];
		/* What names the CPU the ioctl ran on is not the host's CPU model. */
		if (e.function == 1)
			e.ebx &= 0x00ffffffu; /* initial APIC ID */
		if (e.function == 0xb || e.function == 0x1f)
			e.edx = 0; /* x2APIC ID */
		uint32_t words[7] = { e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx };
		crc = lvm_crc32c(crc, words, sizeof(words));
	}
	free(cpuid);
	*digest = crc;
	return 0;
}
