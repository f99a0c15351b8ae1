/*
 * cpuid: reports what CPUID and a few MSRs say on the boot vCPU, one
 * "name value" pair per line, so a spec can check the VMM's CPUID/MSR
 * policy bit by bit:
 *   cpuid 1 eax=0x.. ebx=0x.. ecx=0x.. edx=0x..     (also 7.0, 80000001)
 *   apic id=N                                        (leaf 01H EBX[31:24])
 *   hypervisor max=0x.. sig=KVMKVMKVM features=0x..  (leaves 40000000H/1H)
 *   msr pat=0x.. misc_enable=0x.. [mtrr_def_type=0x..]
 * then exits with 0.  Runs at ring 0: each CPUID/RDMSR exits to KVM anyway.
 */
#include "guest.h"

struct regs {
	uint32_t a, b, c, d;
};

static struct regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct regs r;
	__asm__ volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static void field(const char *name, uint64_t v)
{
	serial_putc(' ');
	serial_puts(name);
	serial_putc('=');
	serial_put_hex(v);
}

static void report_leaf(const char *label, uint32_t leaf, uint32_t subleaf)
{
	struct regs r = cpuid(leaf, subleaf);
	serial_puts("cpuid ");
	serial_puts(label);
	field("eax", r.a);
	field("ebx", r.b);
	field("ecx", r.c);
	field("edx", r.d);
	serial_putc('\n');
}

static void report_hypervisor(void)
{
	struct regs r = cpuid(0x40000000u, 0);
	char sig[13];
	memcpy(sig, &r.b, 4);
	memcpy(sig + 4, &r.c, 4);
	memcpy(sig + 8, &r.d, 4);
	sig[12] = 0;
	for (int i = 0; i < 12; i++)
		if (sig[i] && (sig[i] < ' ' || sig[i] > '~'))
			sig[i] = '?';
	serial_puts("hypervisor");
	field("max", r.a);
	serial_puts(" sig=");
	serial_puts(sig);
	field("features", cpuid(0x40000001u, 0).a);
	serial_putc('\n');
}

uint32_t guest_main(const char *args)
{
	(void)args;
	report_leaf("1", 1, 0);
	report_leaf("7.0", 7, 0);
	report_leaf("80000001", 0x80000001u, 0);
	serial_puts("apic id=");
	serial_put_dec(cpuid(1, 0).b >> 24);
	serial_putc('\n');
	if (cpuid(1, 0).c & (1u << 31))
		report_hypervisor();
	serial_puts("msr");
	field("pat", rdmsr(0x277));
	field("misc_enable", rdmsr(0x1a0));
	if (cpuid(1, 0).d & (1u << 12)) /* MTRR */
		field("mtrr_def_type", rdmsr(0x2ff));
	serial_putc('\n');
	return 0;
}
