/* The CPUID feature-name table and the policy/topology steps on a synthetic table. */
#include <linux/kvm.h>
#include <stdlib.h>

#include "arch/x86/cpu/cpuid.h"
#include "check.h"

static void test_table_is_sane(void)
{
	CHECK(lvm_cpuid_feature_count > 100);
	CHECK(lvm_cpuid_feature_count <= LVM_CPUID_FEATURES_MAX);
	for (unsigned i = 0; i < lvm_cpuid_feature_count; i++) {
		const struct lvm_cpuid_feature *f = &lvm_cpuid_features[i];
		CHECK(f->bit < 32);
		CHECK(f->leaf == 1 || f->leaf == 7 || f->leaf == 0x80000001u);
		CHECK(lvm_cpuid_feature_find(f->name) == (int)i); /* names are unique */
		for (unsigned j = 0; j < i; j++) /* and so are positions */
			CHECK(!(f->leaf == lvm_cpuid_features[j].leaf &&
				f->subleaf == lvm_cpuid_features[j].subleaf &&
				f->reg == lvm_cpuid_features[j].reg && f->bit == lvm_cpuid_features[j].bit));
	}
}

static void check_feature(const char *name, uint32_t leaf, enum lvm_cpuid_reg reg, unsigned bit)
{
	int i = lvm_cpuid_feature_find(name);
	CHECK(i >= 0);
	if (i < 0)
		return;
	CHECK_EQ_U64(lvm_cpuid_features[i].leaf, leaf);
	CHECK_EQ_U64(lvm_cpuid_features[i].reg, reg);
	CHECK_EQ_U64(lvm_cpuid_features[i].bit, bit);
}

static void test_known_positions(void)
{
	check_feature("cx16", 1, LVM_ECX, 13);
	check_feature("xsave", 1, LVM_ECX, 26);
	check_feature("x2apic", 1, LVM_ECX, 21);
	check_feature("hypervisor", 1, LVM_ECX, 31);
	check_feature("sse2", 1, LVM_EDX, 26);
	check_feature("apic", 1, LVM_EDX, 9);
	check_feature("avx2", 7, LVM_EBX, 5);
	check_feature("smap", 7, LVM_EBX, 20);
	check_feature("la57", 7, LVM_ECX, 16);
	check_feature("md_clear", 7, LVM_EDX, 10);
	check_feature("nx", 0x80000001u, LVM_EDX, 20);
	check_feature("lm", 0x80000001u, LVM_EDX, 29);
	check_feature("lahf_lm", 0x80000001u, LVM_ECX, 0);
	CHECK(lvm_cpuid_feature_find("cx17") < 0);
	CHECK(lvm_cpuid_feature_find("CX16") < 0);
	CHECK(lvm_cpuid_feature_find("") < 0);
}

static struct kvm_cpuid2 *table(void)
{
	static const struct kvm_cpuid_entry2 entries[] = {
		{ .function = 1, .ebx = 0x00000800, .ecx = 0x00002000, .edx = 0x10000000 },
		{ .function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .ebx = 0xffffffff },
		{ .function = 7, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .ebx = 0xffffffff },
		{ .function = 0xb, .index = 0 }, { .function = 0xb, .index = 1 },
		{ .function = 0xb, .index = 2 },
	};
	unsigned n = sizeof(entries) / sizeof(entries[0]);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(entries[0]));
	c->nent = n;
	memcpy(c->entries, entries, sizeof(entries));
	return c;
}

static void test_hide_and_force(void)
{
	struct kvm_cpuid2 *c = table();
	struct lvm_cpuid_overrides p = { { 0 }, { 0 } };
	lvm_cpuid_overrides_add(p.hide, (unsigned)lvm_cpuid_feature_find("cx16"));
	lvm_cpuid_overrides_add(p.hide, (unsigned)lvm_cpuid_feature_find("avx2"));
	lvm_cpuid_overrides_add(p.force, (unsigned)lvm_cpuid_feature_find("xsave"));
	lvm_cpuid_overrides_add(p.hide, (unsigned)lvm_cpuid_feature_find("nx")); /* leaf absent: fine */
	CHECK(lvm_x86_cpuid_apply_overrides(c, &p) == 0);
	CHECK_EQ_U64(c->entries[0].ecx, 1u << 26);
	CHECK_EQ_U64(c->entries[1].ebx, ~(1u << 5));
	CHECK_EQ_U64(c->entries[2].ebx, 0xffffffffu); /* subleaf 1 untouched */
	struct lvm_cpuid_overrides f = { { 0 }, { 0 } };
	lvm_cpuid_overrides_add(f.force, (unsigned)lvm_cpuid_feature_find("nx"));
	CHECK(lvm_x86_cpuid_apply_overrides(c, &f) < 0); /* forcing into an absent leaf */
	free(c);
}

static void test_topology(void)
{
	struct kvm_cpuid2 *c = table();
	lvm_x86_cpuid_set_topology(c, 5, 6);
	CHECK_EQ_U64(c->entries[0].ebx >> 24, 5);
	CHECK_EQ_U64((c->entries[0].ebx >> 16) & 0xff, 6);
	CHECK_EQ_U64(c->entries[0].ebx & 0xffff, 0x800); /* CLFLUSH size kept */
	CHECK(c->entries[0].ecx & (1u << 31));            /* hypervisor */
	CHECK_EQ_U64(c->entries[3].edx, 5);               /* x2APIC ID */
	CHECK_EQ_U64(c->entries[3].ebx, 1);               /* one thread per core */
	CHECK_EQ_U64(c->entries[4].eax, 3);               /* 6 cores: 3 ID bits */
	CHECK_EQ_U64(c->entries[4].ebx, 6);
	CHECK_EQ_U64((c->entries[4].ecx >> 8) & 0xff, 2); /* core level */
	CHECK_EQ_U64((c->entries[5].ecx >> 8) & 0xff, 0); /* end of levels */
	lvm_x86_cpuid_set_topology(c, 0, 1);
	CHECK_EQ_U64(c->entries[0].edx & (1u << 28), 0);  /* no HTT with one CPU */
	free(c);
}

int main(void)
{
	RUN_TEST(test_table_is_sane);
	RUN_TEST(test_known_positions);
	RUN_TEST(test_hide_and_force);
	RUN_TEST(test_topology);
	return CHECK_DONE();
}
