#include "arch/x86/cpu/cpuid_features.h"

#include <string.h>

/* One leaf/register group per macro, so each line is just name and bit. */
#define L1C(n, b) { n, 0x1, 0, LVM_ECX, b }
#define L1D(n, b) { n, 0x1, 0, LVM_EDX, b }
#define L7B(n, b) { n, 0x7, 0, LVM_EBX, b }
#define L7C(n, b) { n, 0x7, 0, LVM_ECX, b }
#define L7D(n, b) { n, 0x7, 0, LVM_EDX, b }
#define X1C(n, b) { n, 0x80000001u, 0, LVM_ECX, b }
#define X1D(n, b) { n, 0x80000001u, 0, LVM_EDX, b }

const struct lvm_cpuid_feature lvm_cpuid_features[] = {
	/* Leaf 01H ECX (SDM vol. 2A table 3-10).  OSXSAVE (27) mirrors CR4
	 * and is not a policy bit. */
	L1C("pni", 0), L1C("pclmulqdq", 1), L1C("dtes64", 2), L1C("monitor", 3),
	L1C("ds_cpl", 4), L1C("vmx", 5), L1C("smx", 6), L1C("est", 7), L1C("tm2", 8),
	L1C("ssse3", 9), L1C("cid", 10), L1C("sdbg", 11), L1C("fma", 12), L1C("cx16", 13),
	L1C("xtpr", 14), L1C("pdcm", 15), L1C("pcid", 17), L1C("dca", 18),
	L1C("sse4_1", 19), L1C("sse4_2", 20), L1C("x2apic", 21), L1C("movbe", 22),
	L1C("popcnt", 23), L1C("tsc_deadline_timer", 24), L1C("aes", 25),
	L1C("xsave", 26), L1C("avx", 28), L1C("f16c", 29), L1C("rdrand", 30),
	L1C("hypervisor", 31),
	/* Leaf 01H EDX (table 3-11). */
	L1D("fpu", 0), L1D("vme", 1), L1D("de", 2), L1D("pse", 3), L1D("tsc", 4),
	L1D("msr", 5), L1D("pae", 6), L1D("mce", 7), L1D("cx8", 8), L1D("apic", 9),
	L1D("sep", 11), L1D("mtrr", 12), L1D("pge", 13), L1D("mca", 14), L1D("cmov", 15),
	L1D("pat", 16), L1D("pse36", 17), L1D("pn", 18), L1D("clflush", 19), L1D("dts", 21),
	L1D("acpi", 22), L1D("mmx", 23), L1D("fxsr", 24), L1D("sse", 25), L1D("sse2", 26),
	L1D("ss", 27), L1D("ht", 28), L1D("tm", 29), L1D("ia64", 30), L1D("pbe", 31),
	/* Leaf 07H subleaf 0 EBX. */
	L7B("fsgsbase", 0), L7B("tsc_adjust", 1), L7B("sgx", 2), L7B("bmi1", 3),
	L7B("hle", 4), L7B("avx2", 5), L7B("fdp_excptn_only", 6), L7B("smep", 7),
	L7B("bmi2", 8), L7B("erms", 9), L7B("invpcid", 10), L7B("rtm", 11), L7B("cqm", 12),
	L7B("mpx", 14), L7B("rdt_a", 15), L7B("avx512f", 16), L7B("avx512dq", 17),
	L7B("rdseed", 18), L7B("adx", 19), L7B("smap", 20), L7B("avx512ifma", 21),
	L7B("clflushopt", 23), L7B("clwb", 24), L7B("intel_pt", 25), L7B("avx512pf", 26),
	L7B("avx512er", 27), L7B("avx512cd", 28), L7B("sha_ni", 29), L7B("avx512bw", 30),
	L7B("avx512vl", 31),
	/* Leaf 07H subleaf 0 ECX.  OSPKE (4) mirrors CR4 and is left out. */
	L7C("avx512vbmi", 1), L7C("umip", 2), L7C("pku", 3), L7C("waitpkg", 5),
	L7C("avx512_vbmi2", 6), L7C("shstk", 7), L7C("gfni", 8), L7C("vaes", 9),
	L7C("vpclmulqdq", 10), L7C("avx512_vnni", 11), L7C("avx512_bitalg", 12),
	L7C("tme", 13), L7C("avx512_vpopcntdq", 14), L7C("la57", 16), L7C("rdpid", 22),
	L7C("bus_lock_detect", 24), L7C("cldemote", 25), L7C("movdiri", 27),
	L7C("movdir64b", 28), L7C("enqcmd", 29), L7C("sgx_lc", 30), L7C("pks", 31),
	/* Leaf 07H subleaf 0 EDX. */
	L7D("avx512_4vnniw", 2), L7D("avx512_4fmaps", 3), L7D("fsrm", 4),
	L7D("avx512_vp2intersect", 8), L7D("md_clear", 10), L7D("serialize", 14),
	L7D("tsxldtrk", 16), L7D("pconfig", 18), L7D("arch_lbr", 19), L7D("ibt", 20),
	L7D("amx_bf16", 22), L7D("avx512_fp16", 23), L7D("amx_tile", 24),
	L7D("amx_int8", 25), L7D("spec_ctrl", 26), L7D("intel_stibp", 27),
	L7D("flush_l1d", 28), L7D("arch_capabilities", 29), L7D("core_capabilities", 30),
	L7D("spec_ctrl_ssbd", 31),
	/* Leaf 80000001H ECX (AMD APM vol. 3 E.4.2; Intel defines 0, 5, 8). */
	X1C("lahf_lm", 0), X1C("cmp_legacy", 1), X1C("svm", 2), X1C("extapic", 3),
	X1C("cr8_legacy", 4), X1C("abm", 5), X1C("sse4a", 6), X1C("misalignsse", 7),
	X1C("3dnowprefetch", 8), X1C("osvw", 9), X1C("ibs", 10), X1C("xop", 11),
	X1C("skinit", 12), X1C("wdt", 13), X1C("lwp", 15), X1C("fma4", 16), X1C("tce", 17),
	X1C("nodeid_msr", 19), X1C("tbm", 21), X1C("topoext", 22), X1C("perfctr_core", 23),
	X1C("perfctr_nb", 24), X1C("bpext", 26), X1C("ptsc", 27), X1C("perfctr_llc", 28),
	X1C("mwaitx", 29),
	/* Leaf 80000001H EDX: the bits that are not copies of leaf 01H EDX. */
	X1D("syscall", 11), X1D("mp", 19), X1D("nx", 20), X1D("mmxext", 22),
	X1D("fxsr_opt", 25), X1D("pdpe1gb", 26), X1D("rdtscp", 27), X1D("lm", 29),
	X1D("3dnowext", 30), X1D("3dnow", 31),
};

const unsigned lvm_cpuid_feature_count =
	sizeof(lvm_cpuid_features) / sizeof(lvm_cpuid_features[0]);

int lvm_cpuid_feature_find(const char *name)
{
	for (unsigned i = 0; i < lvm_cpuid_feature_count; i++)
		if (strcmp(lvm_cpuid_features[i].name, name) == 0)
			return (int)i;
	return -1;
}
