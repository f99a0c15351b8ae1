/*
 * Real KVM: a vCPU's whole state and the VM clock survive a save into a
 * state section and a load into a second VM.
 *   - a vCPU driven into a distinctive state (long mode, registers, MSRs,
 *     an XMM/YMM register, XCR0, debug registers, LAPIC TPR and timer,
 *     pending NMI and interrupt shadow) reads back the same, in both
 *     irqchip modes, along with an AP that was never started;
 *   - a guest stopped on an `in` exit, saved, continues in the second VM
 *     (and in the first) from the very next instruction: the access the
 *     exit began is completed before the save;
 *   - truncated, oversized and out-of-range sections are refused with a
 *     one-line reason, before anything reaches KVM;
 *   - the power-on states of a 5-vCPU VM (the APs between the second and
 *     the last derived from the second) are what reading every vCPU gives,
 *     but for IA32_TSC.
 */
#include <cpuid.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86/boot/boot64.h"
#include "arch/x86/cpu/cpuid.h"
#include "arch/x86/cpu/msr.h"
#include "arch/x86/cpu/vcpu_state.h"
#include "check.h"
#include "kvm/vm.h"
#include "util/error.h"
#include "util/state.h"

#define MSR_IA32_TSC 0x10u
#define MSR_IA32_SYSENTER_CS 0x174u
#define MSR_IA32_SYSENTER_ESP 0x175u
#define MSR_IA32_SYSENTER_EIP 0x176u
#define MSR_MTRR_PHYSBASE0 0x200u
#define MSR_IA32_PAT 0x277u
#define MSR_IA32_TSC_DEADLINE 0x6e0u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_CSTAR 0xc0000083u
#define MSR_SYSCALL_MASK 0xc0000084u
#define MSR_KERNEL_GS_BASE 0xc0000102u
#define MSR_TSC_AUX 0xc0000103u

#define APIC_TPR 0x80
#define APIC_SVR 0xf0
#define APIC_LVTT 0x320
#define APIC_TMICT 0x380
#define APIC_TMCCT 0x390
#define APIC_TDCR 0x3e0

#define XSAVE_XMM0 160
#define XSAVE_XSTATE_BV 512

/* A guest TSC far from any host's (about a year at 2.5 GHz). */
#define TEST_TSC 0x0100000000000000ull

#define CODE_ADDR 0x200000u
#define COUNTER_ADDR 0x300000u
#define GUEST_PORT 0x11u

static const struct {
	uint32_t index;
	uint64_t value;
} distinctive_msrs[] = {
	{ MSR_IA32_TSC, TEST_TSC },
	{ MSR_IA32_SYSENTER_CS, 0x10 },
	{ MSR_IA32_SYSENTER_ESP, 0xffff888000123000ull },
	{ MSR_IA32_SYSENTER_EIP, 0xffffffff81a00000ull },
	{ MSR_IA32_PAT, 0x0007010600070106ull },
	{ MSR_STAR, 0x0023001000000000ull },
	{ MSR_LSTAR, 0xffffffff81e00080ull },
	{ MSR_CSTAR, 0xffffffff81e001c0ull },
	{ MSR_SYSCALL_MASK, 0x47700 },
	{ MSR_KERNEL_GS_BASE, 0xffff88807fc00000ull },
	{ MSR_TSC_AUX, 7 },
	{ MSR_MTRR_PHYSBASE0, 0x80000006 },
};

static struct lvm_vm *new_vm(unsigned ncpus, enum lvm_irqchip_mode mode)
{
	struct lvm_vm_options opts = { .mem_size = 16u << 20, .ncpus = ncpus, .irqchip = mode };
	struct lvm_vm *vm = lvm_vm_create(&opts);
	for (unsigned i = 0; vm && i < ncpus; i++)
		if (lvm_x86_setup_cpuid(vm, &vm->vcpus[i], NULL) < 0 ||
		    lvm_x86_setup_msrs(vm, &vm->vcpus[i]) < 0) {
			lvm_vm_destroy(vm);
			vm = NULL;
		}
	if (!vm) {
		fprintf(stderr, "vm: %s\n", lvm_error());
		check_failures++;
	}
	return vm;
}

/* One MSR in a struct kvm_msrs (a flexible array: a buffer, as msr.c does). */
struct one_msr {
	_Alignas(struct kvm_msrs) uint8_t buf[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
};

static struct kvm_msrs *one_msr(struct one_msr *m, uint32_t index, uint64_t value)
{
	struct kvm_msrs *msrs = (struct kvm_msrs *)m->buf;
	memset(m, 0, sizeof(*m));
	msrs->nmsrs = 1;
	msrs->entries[0].index = index;
	msrs->entries[0].data = value;
	return msrs;
}

static int set_msr(struct lvm_vcpu *vcpu, uint32_t index, uint64_t value)
{
	struct one_msr m;
	return ioctl(vcpu->fd, KVM_SET_MSRS, one_msr(&m, index, value));
}

static bool get_msr(struct lvm_vcpu *vcpu, uint32_t index, uint64_t *value)
{
	struct one_msr m;
	struct kvm_msrs *msrs = one_msr(&m, index, 0);
	int n = ioctl(vcpu->fd, KVM_GET_MSRS, msrs);
	*value = msrs->entries[0].data;
	return n == 1;
}

/*
 * Whether KVM takes a host write to IA32_TSC.  kvm_pvm does not: its
 * guests read the host's TSC whatever the VMM sets.
 */
static bool tsc_writable(struct lvm_vcpu *vcpu, uint64_t written)
{
	uint64_t now = 0, khz = (uint64_t)ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	CHECK(get_msr(vcpu, MSR_IA32_TSC, &now));
	if (now >= written && now - written < khz * 1000)
		return true;
	printf("note: this host ignores writes to IA32_TSC (0x%llx written, 0x%llx read)\n",
	       (unsigned long long)written, (unsigned long long)now);
	/* KVM still counts with the offset written: back to what the guest reads. */
	CHECK(get_msr(vcpu, MSR_IA32_TSC, &now));
	CHECK_EQ_U64(set_msr(vcpu, MSR_IA32_TSC, now), 1);
	return false;
}

static uint32_t lapic_reg(const struct kvm_lapic_state *s, unsigned reg)
{
	uint32_t v;
	memcpy(&v, s->regs + reg, 4);
	return v;
}

static void set_lapic_reg(struct kvm_lapic_state *s, unsigned reg, uint32_t v)
{
	memcpy(s->regs + reg, &v, 4);
}

static int xsave_size(struct lvm_vm *vm)
{
	int size = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	return size > 4096 ? size : 4096;
}

/* Saves every vCPU (sections "cpu.N") and the clock ("clock") of `vm`. */
static bool save_vm(struct lvm_vm *vm, struct lvm_state_writer *w)
{
	char name[16];
	lvm_state_writer_init(w);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		snprintf(name, sizeof(name), "cpu.%u", i);
		lvm_state_begin(w, name);
		if (lvm_x86_vcpu_save(&vm->vcpus[i], w) < 0) {
			fprintf(stderr, "save: %s\n", lvm_error());
			return false;
		}
	}
	lvm_state_begin(w, "clock");
	if (lvm_x86_clock_save(vm, w) < 0 || lvm_state_finish(w) < 0) {
		fprintf(stderr, "save: %s\n", lvm_error());
		return false;
	}
	return lvm_state_check(w->buf, w->len) == 0;
}

static bool load_vm(struct lvm_vm *vm, const struct lvm_state_writer *w)
{
	char name[16];
	struct lvm_state_reader r;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		snprintf(name, sizeof(name), "cpu.%u", i);
		if (lvm_state_section(w->buf, w->len, name, &r) < 0 ||
		    lvm_x86_vcpu_load(&vm->vcpus[i], &r) < 0 || lvm_state_section_done(&r) < 0) {
			fprintf(stderr, "load: %s\n", lvm_error());
			return false;
		}
	}
	if (lvm_state_section(w->buf, w->len, "clock", &r) < 0 || lvm_x86_clock_load(vm, &r) < 0 ||
	    lvm_state_section_done(&r) < 0) {
		fprintf(stderr, "load: %s\n", lvm_error());
		return false;
	}
	return true;
}

/* --- a distinctive state, read back ------------------------------------- */

static void set_fpu_state(struct lvm_vm *vm, struct lvm_vcpu *vcpu, bool *avx)
{
	/* XCR0 = x87 | SSE | AVX where the guest's CPUID allows it. */
	struct kvm_xcrs xcrs = { .nr_xcrs = 1, .xcrs = { { .xcr = 0, .value = 7 } } };
	*avx = ioctl(vcpu->fd, KVM_SET_XCRS, &xcrs) == 0;
	if (!*avx)
		printf("note: XCR0 = 7 refused here, checking SSE state only\n");
	size_t size = (size_t)xsave_size(vm);
	uint8_t *area = calloc(1, size);
	CHECK(ioctl(vcpu->fd, KVM_GET_XSAVE2, area) == 0);
	for (unsigned i = 0; i < 16; i++)
		area[XSAVE_XMM0 + i] = (uint8_t)(0xa0 + i);
	uint64_t bv;
	memcpy(&bv, area + XSAVE_XSTATE_BV, 8);
	bv |= 2;
	if (*avx) {
		unsigned eax, ebx, ecx, edx;
		__cpuid_count(0xd, 2, eax, ebx, ecx, edx); /* where YMM_Hi128 lives */
		(void)eax, (void)ecx, (void)edx;
		for (unsigned i = 0; i < 16 && ebx + 16 <= size; i++)
			area[ebx + i] = (uint8_t)(0x50 + i);
		bv |= 4;
	}
	memcpy(area + XSAVE_XSTATE_BV, &bv, 8);
	CHECK(ioctl(vcpu->fd, KVM_SET_XSAVE, area) == 0);
	free(area);
}

static void set_lapic_state(struct lvm_vcpu *vcpu)
{
	struct kvm_lapic_state s;
	CHECK(ioctl(vcpu->fd, KVM_GET_LAPIC, &s) == 0);
	set_lapic_reg(&s, APIC_SVR, 0x1ff);
	set_lapic_reg(&s, APIC_TPR, 0x30);
	set_lapic_reg(&s, APIC_TDCR, 0xb); /* divide by 1 */
	set_lapic_reg(&s, APIC_LVTT, (1u << 17) | (1u << 16) | 0xec); /* periodic, masked */
	set_lapic_reg(&s, APIC_TMICT, 0x40000000);
	CHECK(ioctl(vcpu->fd, KVM_SET_LAPIC, &s) == 0);
}

static void set_distinctive_state(struct lvm_vm *vm, bool *avx, bool *tsc_aux)
{
	struct lvm_vcpu *vcpu = &vm->vcpus[0];
	CHECK(lvm_x86_write_long_mode_tables(vm) == 0);
	CHECK(lvm_x86_enter_long_mode(vcpu, CODE_ADDR, 0x12345) == 0);
	struct kvm_regs regs;
	CHECK(ioctl(vcpu->fd, KVM_GET_REGS, &regs) == 0);
	uint64_t *r = (uint64_t *)&regs;
	for (unsigned i = 0; i < 16; i++)
		r[i] = 0x1111111111111111ull * (i % 15 + 1) + i;
	regs.rflags = 0x246;
	CHECK(ioctl(vcpu->fd, KVM_SET_REGS, &regs) == 0);
	struct kvm_sregs sregs;
	CHECK(ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) == 0);
	sregs.cr2 = 0xdead000;
	sregs.fs.base = 0x7f0000001000ull;
	sregs.gs.base = 0xffff88807fa00000ull;
	CHECK(ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) == 0);
	sregs.cr4 |= 1u << 18; /* OSXSAVE, where the CPUID has XSAVE */
	ioctl(vcpu->fd, KVM_SET_SREGS, &sregs);

	*tsc_aux = true;
	for (size_t i = 0; i < sizeof(distinctive_msrs) / sizeof(distinctive_msrs[0]); i++) {
		int n = set_msr(vcpu, distinctive_msrs[i].index, distinctive_msrs[i].value);
		if (distinctive_msrs[i].index == MSR_TSC_AUX && n != 1) {
			*tsc_aux = false;
			printf("note: TSC_AUX refused here\n");
			continue;
		}
		CHECK_EQ_U64(n, 1);
	}
	set_fpu_state(vm, vcpu, avx);
	set_lapic_state(vcpu);

	struct kvm_debugregs dbg = { .db = { 0x401000, 0x402000, 0x403000, 0x404000 },
				     .dr6 = 0xffff0ff1, .dr7 = 0x455 };
	CHECK(ioctl(vcpu->fd, KVM_SET_DEBUGREGS, &dbg) == 0);

	struct kvm_vcpu_events ev;
	CHECK(ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) == 0);
	ev.nmi.pending = 1;
	ev.nmi.masked = 1; /* keeps it pending */
	ev.interrupt.shadow = KVM_X86_SHADOW_INT_MOV_SS;
	ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
	CHECK(ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev) == 0);
}

static void compare_fpu(struct lvm_vm *a, struct lvm_vm *b, unsigned cpu)
{
	struct kvm_xcrs ca, cb;
	CHECK(ioctl(a->vcpus[cpu].fd, KVM_GET_XCRS, &ca) == 0);
	CHECK(ioctl(b->vcpus[cpu].fd, KVM_GET_XCRS, &cb) == 0);
	CHECK_EQ_U64(ca.nr_xcrs, cb.nr_xcrs);
	CHECK_EQ_U64(ca.xcrs[0].value, cb.xcrs[0].value);

	size_t size = (size_t)xsave_size(a);
	CHECK_EQ_U64(size, (size_t)xsave_size(b));
	uint8_t *xa = calloc(1, size), *xb = calloc(1, size);
	CHECK(ioctl(a->vcpus[cpu].fd, KVM_GET_XSAVE2, xa) == 0);
	CHECK(ioctl(b->vcpus[cpu].fd, KVM_GET_XSAVE2, xb) == 0);
	CHECK(memcmp(xa, xb, size) == 0);
	if (cpu == 0) {
		CHECK_EQ_U64(xb[XSAVE_XMM0 + 15], 0xaf);
		unsigned eax, ymm, ecx, edx;
		__cpuid_count(0xd, 2, eax, ymm, ecx, edx);
		(void)eax, (void)ecx, (void)edx;
		if ((cb.xcrs[0].value & 4) && ymm + 16 <= size)
			CHECK_EQ_U64(xb[ymm + 15], 0x5f);
	}
	free(xa);
	free(xb);
}

static void compare_lapic(struct lvm_vm *a, struct lvm_vm *b, unsigned cpu)
{
	struct kvm_lapic_state la, lb;
	CHECK(ioctl(a->vcpus[cpu].fd, KVM_GET_LAPIC, &la) == 0);
	CHECK(ioctl(b->vcpus[cpu].fd, KVM_GET_LAPIC, &lb) == 0);
	/* The current count runs down in both: equal but for it. */
	uint32_t ca = lapic_reg(&la, APIC_TMCCT), cb = lapic_reg(&lb, APIC_TMCCT);
	if (lapic_reg(&la, APIC_TMICT)) {
		CHECK(cb != 0 && cb <= lapic_reg(&lb, APIC_TMICT));
		CHECK(ca != 0);
	}
	set_lapic_reg(&la, APIC_TMCCT, 0);
	set_lapic_reg(&lb, APIC_TMCCT, 0);
	CHECK(memcmp(&la, &lb, sizeof(la)) == 0);
}

static void compare_msrs(struct lvm_vm *a, struct lvm_vm *b, unsigned cpu, bool tsc_aux,
			 bool tsc_set)
{
	struct lvm_vcpu *va = &a->vcpus[cpu], *vb = &b->vcpus[cpu];
	uint64_t ta = 0, tb = 0;
	CHECK(get_msr(va, MSR_IA32_TSC, &ta));
	CHECK(get_msr(vb, MSR_IA32_TSC, &tb));
	/* Both TSCs count on from the saved value: apart by less than a second. */
	uint64_t khz = (uint64_t)ioctl(va->fd, KVM_GET_TSC_KHZ, 0);
	CHECK((ta > tb ? ta - tb : tb - ta) < khz * 1000);
	if (cpu == 0 && tsc_set)
		CHECK(tb >= distinctive_msrs[0].value);
	for (size_t i = 1; cpu == 0 && i < sizeof(distinctive_msrs) / sizeof(distinctive_msrs[0]); i++) {
		if (distinctive_msrs[i].index == MSR_TSC_AUX && !tsc_aux)
			continue;
		uint64_t v = 0;
		CHECK(get_msr(vb, distinctive_msrs[i].index, &v));
		CHECK_EQ_U64(v, distinctive_msrs[i].value);
	}
	uint64_t kvmclock_a = 0, kvmclock_b = 0; /* MSR_KVM_SYSTEM_TIME_NEW */
	if (get_msr(va, 0x4b564d01, &kvmclock_a) && get_msr(vb, 0x4b564d01, &kvmclock_b))
		CHECK_EQ_U64(kvmclock_a, kvmclock_b);
}

static void compare_cpu(struct lvm_vm *a, struct lvm_vm *b, unsigned cpu, bool tsc_aux,
			bool tsc_set)
{
	struct lvm_vcpu *va = &a->vcpus[cpu], *vb = &b->vcpus[cpu];
	struct kvm_mp_state ma, mb;
	CHECK(ioctl(va->fd, KVM_GET_MP_STATE, &ma) == 0 && ioctl(vb->fd, KVM_GET_MP_STATE, &mb) == 0);
	CHECK_EQ_U64(ma.mp_state, mb.mp_state);
	struct kvm_regs ra, rb;
	CHECK(ioctl(va->fd, KVM_GET_REGS, &ra) == 0 && ioctl(vb->fd, KVM_GET_REGS, &rb) == 0);
	CHECK(memcmp(&ra, &rb, sizeof(ra)) == 0);
	struct kvm_sregs sa, sb;
	CHECK(ioctl(va->fd, KVM_GET_SREGS, &sa) == 0 && ioctl(vb->fd, KVM_GET_SREGS, &sb) == 0);
	CHECK(memcmp(&sa, &sb, sizeof(sa)) == 0);
	struct kvm_debugregs da, db;
	CHECK(ioctl(va->fd, KVM_GET_DEBUGREGS, &da) == 0 && ioctl(vb->fd, KVM_GET_DEBUGREGS, &db) == 0);
	CHECK(memcmp(&da, &db, sizeof(da)) == 0);
	struct kvm_vcpu_events ea, eb;
	CHECK(ioctl(va->fd, KVM_GET_VCPU_EVENTS, &ea) == 0 &&
	      ioctl(vb->fd, KVM_GET_VCPU_EVENTS, &eb) == 0);
	CHECK(memcmp(&ea, &eb, sizeof(ea)) == 0);
	compare_fpu(a, b, cpu);
	compare_lapic(a, b, cpu);
	compare_msrs(a, b, cpu, tsc_aux, tsc_set);
}

static void round_trip(enum lvm_irqchip_mode mode)
{
	struct lvm_vm *a = new_vm(2, mode), *b = new_vm(2, mode);
	struct lvm_state_writer w;
	bool avx = false, tsc_aux = false;
	if (!a || !b)
		goto out;
	set_distinctive_state(a, &avx, &tsc_aux);
	bool tsc_set = tsc_writable(&a->vcpus[0], TEST_TSC);
	lvm_state_writer_init(&w);
	if (!save_vm(a, &w)) {
		check_failures++;
		goto out_w;
	}
	CHECK(load_vm(b, &w));
	for (unsigned cpu = 0; cpu < 2; cpu++)
		compare_cpu(a, b, cpu, tsc_aux, tsc_set);

	/* The details that matter most, against the values set. */
	struct kvm_regs regs;
	CHECK(ioctl(b->vcpus[0].fd, KVM_GET_REGS, &regs) == 0);
	CHECK_EQ_U64(regs.rip, CODE_ADDR);
	CHECK_EQ_U64(regs.r15, 0x1111111111111111ull + 15);
	struct kvm_sregs sregs;
	CHECK(ioctl(b->vcpus[0].fd, KVM_GET_SREGS, &sregs) == 0);
	CHECK_EQ_U64(sregs.efer & 0x500, 0x500); /* LME | LMA */
	CHECK_EQ_U64(sregs.cr2, 0xdead000);
	CHECK_EQ_U64(sregs.gs.base, 0xffff88807fa00000ull);
	struct kvm_mp_state mp;
	CHECK(ioctl(b->vcpus[1].fd, KVM_GET_MP_STATE, &mp) == 0);
	CHECK_EQ_U64(mp.mp_state, KVM_MP_STATE_UNINITIALIZED);
	struct kvm_vcpu_events ev;
	CHECK(ioctl(b->vcpus[0].fd, KVM_GET_VCPU_EVENTS, &ev) == 0);
	CHECK_EQ_U64(ev.nmi.pending, 1);
	CHECK_EQ_U64(ev.interrupt.shadow, KVM_X86_SHADOW_INT_MOV_SS);
	struct kvm_lapic_state lapic;
	CHECK(ioctl(b->vcpus[0].fd, KVM_GET_LAPIC, &lapic) == 0);
	CHECK_EQ_U64(lapic_reg(&lapic, APIC_TPR), 0x30);
	CHECK_EQ_U64(lapic_reg(&lapic, APIC_LVTT), (1u << 17) | (1u << 16) | 0xec);
	struct kvm_xcrs xcrs;
	CHECK(ioctl(b->vcpus[0].fd, KVM_GET_XCRS, &xcrs) == 0);
	CHECK_EQ_U64(xcrs.xcrs[0].value, avx ? 7 : 1);

	/* The clock continues from the saved value. */
	struct lvm_state_reader r;
	CHECK(lvm_state_section(w.buf, w.len, "clock", &r) == 0);
	uint64_t saved = lvm_state_get_u64(&r);
	struct kvm_clock_data clock = { 0 };
	CHECK(ioctl(b->vm_fd, KVM_GET_CLOCK, &clock) == 0);
	CHECK(clock.clock >= saved && clock.clock - saved < 1000000000ull);
out_w:
	lvm_state_writer_free(&w);
out:
	lvm_vm_destroy(a);
	lvm_vm_destroy(b);
}

static void test_round_trip_split_irqchip(void)
{
	round_trip(LVM_IRQCHIP_SPLIT);
}

static void test_round_trip_kernel_irqchip(void)
{
	round_trip(LVM_IRQCHIP_KERNEL);
}

/* Offsets of the fields in section cpu.N as vcpu_state.h lists them. */
struct layout {
	size_t xsave_len, xcrs, msr_count;
};

static size_t skip_blob(const uint8_t *p, size_t at)
{
	uint32_t n;
	memcpy(&n, p + at, 4);
	return at + 4 + n;
}

static struct layout find_layout(const uint8_t *p)
{
	struct layout l;
	size_t at = 8;             /* TSC kHz, MP state */
	at = skip_blob(p, at);     /* regs */
	at = skip_blob(p, at + 1); /* sregs format, sregs */
	l.xsave_len = at + 1;      /* FPU format, then the length */
	at = skip_blob(p, at + 1);
	l.xcrs = at;
	at = p[at] ? skip_blob(p, at + 1) : at + 1;
	at = skip_blob(p, at); /* debugregs */
	at = skip_blob(p, at); /* lapic */
	at = skip_blob(p, at); /* events */
	l.msr_count = at;
	return l;
}

/* Where MSR `index`'s value is in section payload `p`. */
static size_t msr_value_offset(const uint8_t *p, uint32_t index)
{
	size_t at = find_layout(p).msr_count;
	uint32_t n, idx;
	memcpy(&n, p + at, 4);
	for (at += 4; n--; at += 12) {
		memcpy(&idx, p + at, 4);
		if (idx == index)
			return at + 4;
	}
	return 0;
}

/*
 * TSC_DEADLINE after a load into a new VM, cpu.0's saved IA32_TSC moved
 * by `ahead` ticks first (a snapshot from a host whose TSC ran ahead).
 */
static uint64_t deadline_after_load(const struct lvm_state_writer *w, uint64_t ahead)
{
	struct lvm_vm *vm = new_vm(1, LVM_IRQCHIP_SPLIT);
	uint8_t *copy = malloc(w->len);
	struct lvm_state_reader r;
	uint64_t v = 0;
	memcpy(copy, w->buf, w->len);
	CHECK(lvm_state_section(copy, w->len, "cpu.0", &r) == 0);
	uint8_t *payload = (uint8_t *)r.p;
	size_t at = msr_value_offset(payload, MSR_IA32_TSC);
	CHECK(at != 0);
	uint64_t tsc;
	memcpy(&tsc, payload + at, 8);
	tsc += ahead;
	memcpy(payload + at, &tsc, 8);
	if (vm && lvm_x86_vcpu_load(&vm->vcpus[0], &r) == 0 && lvm_state_section_done(&r) == 0)
		CHECK(get_msr(&vm->vcpus[0], MSR_IA32_TSC_DEADLINE, &v));
	else
		fprintf(stderr, "load: %s\n", lvm_error());
	free(copy);
	lvm_vm_destroy(vm);
	return v;
}

/*
 * KVM keeps TSC_DEADLINE only while the LAPIC timer is in TSC-deadline
 * mode: loaded before the LAPIC, it would be dropped.  The deadline is a
 * guest TSC value and stays one whatever the TSC of the loading host.
 */
static void test_tsc_deadline_survives(void)
{
	struct lvm_vm *a = new_vm(1, LVM_IRQCHIP_SPLIT);
	struct lvm_state_writer w;
	lvm_state_writer_init(&w);
	if (!a)
		goto out;
	struct lvm_vcpu *vcpu = &a->vcpus[0];
	uint64_t tsc = TEST_TSC;
	CHECK_EQ_U64(set_msr(vcpu, MSR_IA32_TSC, tsc), 1);
	tsc_writable(vcpu, tsc);
	CHECK(get_msr(vcpu, MSR_IA32_TSC, &tsc));
	struct kvm_lapic_state s;
	CHECK(ioctl(vcpu->fd, KVM_GET_LAPIC, &s) == 0);
	set_lapic_reg(&s, APIC_SVR, 0x1ff);
	set_lapic_reg(&s, APIC_LVTT, (2u << 17) | 0xec); /* TSC-deadline mode */
	CHECK(ioctl(vcpu->fd, KVM_SET_LAPIC, &s) == 0);
	CHECK_EQ_U64(set_msr(vcpu, MSR_IA32_TSC_DEADLINE, tsc + 1000000000000ull), 1); /* ~400 s */
	uint64_t deadline = 0;
	CHECK(get_msr(vcpu, MSR_IA32_TSC_DEADLINE, &deadline));
	CHECK(deadline > tsc);
	if (!save_vm(a, &w)) {
		check_failures++;
		goto out;
	}
	usleep(200000); /* time on disk */
	CHECK_EQ_U64(deadline_after_load(&w, 0), deadline);
	uint64_t khz = (uint64_t)ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	CHECK_EQ_U64(deadline_after_load(&w, 10 * 1000 * khz), deadline); /* 10 s ahead */
out:
	lvm_state_writer_free(&w);
	lvm_vm_destroy(a);
}

/* --- a running guest continues ------------------------------------------ */

/*
 * Long mode, at CODE_ADDR:
 *   loop: inc rcx; mov [rbx], rcx; in al, GUEST_PORT; add rdx, rax; jmp loop
 * RBX = COUNTER_ADDR.  RCX counts the rounds (in memory too), RDX sums what
 * the port answered.
 */
static const uint8_t guest_code[] = {
	0x48, 0xff, 0xc1,       /* inc rcx */
	0x48, 0x89, 0x0b,       /* mov [rbx], rcx */
	0xe4, GUEST_PORT,       /* in al, GUEST_PORT */
	0x48, 0x01, 0xc2,       /* add rdx, rax */
	0xeb, 0xf3,             /* jmp loop (-13) */
};

static void start_guest(struct lvm_vm *vm)
{
	CHECK(lvm_x86_write_long_mode_tables(vm) == 0);
	memcpy(lvm_memory_ptr(&vm->mem, CODE_ADDR, sizeof(guest_code)), guest_code,
	       sizeof(guest_code));
	CHECK(lvm_x86_enter_long_mode(&vm->vcpus[0], CODE_ADDR, 0) == 0);
	struct kvm_regs regs;
	CHECK(ioctl(vm->vcpus[0].fd, KVM_GET_REGS, &regs) == 0);
	regs.rbx = COUNTER_ADDR;
	CHECK(ioctl(vm->vcpus[0].fd, KVM_SET_REGS, &regs) == 0);
}

/* Runs to the next `in` and answers it with `value`; false on anything else. */
static bool run_to_in(struct lvm_vcpu *vcpu, uint8_t value)
{
	if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
		perror("KVM_RUN");
		return false;
	}
	struct kvm_run *run = vcpu->run;
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != GUEST_PORT ||
	    run->io.direction != KVM_EXIT_IO_IN) {
		fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
		return false;
	}
	((uint8_t *)run)[run->io.data_offset] = value;
	return true;
}

static uint64_t counter(struct lvm_vm *vm)
{
	uint64_t v;
	memcpy(&v, lvm_memory_ptr(&vm->mem, COUNTER_ADDR, 8), 8);
	return v;
}

/* Rounds 6..8 answered 100, 101, 102: RCX, RDX and memory follow. */
static void check_continues(struct lvm_vm *vm, uint64_t sum_before)
{
	struct lvm_vcpu *vcpu = &vm->vcpus[0];
	uint64_t sum = sum_before;
	for (unsigned round = 6; round <= 8; round++) {
		if (!run_to_in(vcpu, (uint8_t)(94 + round))) {
			check_failures++;
			return;
		}
		struct kvm_regs regs;
		CHECK(ioctl(vcpu->fd, KVM_GET_REGS, &regs) == 0);
		CHECK_EQ_U64(regs.rcx, round);
		CHECK_EQ_U64(regs.rdx, sum);
		CHECK_EQ_U64(regs.rip, CODE_ADDR + 6); /* on the `in`, which completes next run */
		CHECK_EQ_U64(counter(vm), round);
		sum += 94 + round;
	}
}

static void test_guest_continues_after_load(void)
{
	struct lvm_vm *a = new_vm(1, LVM_IRQCHIP_SPLIT), *b = new_vm(1, LVM_IRQCHIP_SPLIT);
	struct lvm_state_writer w;
	lvm_state_writer_init(&w);
	if (!a || !b)
		goto out;
	start_guest(a);
	uint64_t sum = 0;
	for (unsigned round = 1; round <= 5; round++) {
		if (!run_to_in(&a->vcpus[0], (uint8_t)(3 * round))) {
			check_failures++;
			goto out;
		}
		sum += 3 * round;
	}
	/* Stopped on the 5th `in`, its answer given but not yet in RAX. */
	if (!save_vm(a, &w)) {
		check_failures++;
		goto out;
	}
	struct kvm_regs regs;
	CHECK(ioctl(a->vcpus[0].fd, KVM_GET_REGS, &regs) == 0);
	CHECK_EQ_U64(regs.rax & 0xff, 15); /* the save completed the access */
	CHECK_EQ_U64(regs.rip, CODE_ADDR + 8);
	CHECK_EQ_U64(counter(a), 5);

	memcpy(b->mem.host, a->mem.host, a->mem.size);
	CHECK(load_vm(b, &w));
	check_continues(b, sum);
	check_continues(a, sum); /* and the original goes on the same way */
out:
	lvm_state_writer_free(&w);
	lvm_vm_destroy(a);
	lvm_vm_destroy(b);
}

/* The port on the first VM's bus: counts the `in`s it answers (0xff). */
static void count_reads(void *opaque, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
	(void)offset;
	if (!is_write) {
		__atomic_fetch_add((uint64_t *)opaque, 1, __ATOMIC_RELAXED);
		memset(data, 0xff, size);
	}
}

/*
 * The same guest on its vCPU thread, paused and saved wherever the pause
 * caught it.  Every `in` the port answered was completed by the save: in
 * the new VM the next `in` is round (answers + 1), none is done twice, and
 * each exit still finds RDX = 0xff * (RCX - 1).
 */
static void test_save_while_parked(void)
{
	struct lvm_vm *a = new_vm(1, LVM_IRQCHIP_SPLIT), *b = new_vm(1, LVM_IRQCHIP_SPLIT);
	struct lvm_state_writer w;
	uint64_t answered = 0;
	lvm_state_writer_init(&w);
	if (!a || !b)
		goto out;
	start_guest(a);
	CHECK(lvm_bus_register(&a->pio, GUEST_PORT, 1, count_reads, &answered, "test") == 0);
	CHECK(lvm_vm_start(a) == 0);
	usleep(20000);
	lvm_vm_pause(a);
	CHECK(!lvm_vm_stopped(a));
	if (!save_vm(a, &w)) {
		check_failures++;
		goto out;
	}
	uint64_t rounds = __atomic_load_n(&answered, __ATOMIC_RELAXED);
	CHECK(rounds > 0);
	memcpy(b->mem.host, a->mem.host, a->mem.size);
	lvm_vm_resume(a);
	CHECK(load_vm(b, &w));
	for (uint64_t i = 1; i <= 3; i++) {
		if (!run_to_in(&b->vcpus[0], 0xff)) {
			check_failures++;
			break;
		}
		struct kvm_regs regs;
		CHECK(ioctl(b->vcpus[0].fd, KVM_GET_REGS, &regs) == 0);
		CHECK_EQ_U64(regs.rcx, rounds + i);
		CHECK_EQ_U64(regs.rdx, 0xff * (regs.rcx - 1));
		CHECK_EQ_U64(regs.rip, CODE_ADDR + 6);
		CHECK_EQ_U64(counter(b), regs.rcx);
	}
out:
	lvm_state_writer_free(&w);
	lvm_vm_destroy(a);
	lvm_vm_destroy(b);
}

/* --- the formats of hosts without SREGS2 or XSAVE ----------------------- */

/* `p` (len bytes) with [from, to) replaced by a u8 format and a blob. */
static uint8_t *splice(const uint8_t *p, size_t len, size_t from, size_t to, uint8_t format,
		       const void *blob, uint32_t n, size_t *out_len)
{
	*out_len = len - (to - from) + 1 + 4 + n;
	uint8_t *q = malloc(*out_len);
	memcpy(q, p, from);
	q[from] = format;
	memcpy(q + from + 1, &n, 4);
	memcpy(q + from + 5, blob, n);
	memcpy(q + from + 5 + n, p + to, len - to);
	return q;
}

/* Loads `p` into a new VM's vCPU 0; returns the VM (NULL on failure). */
static struct lvm_vm *load_into_new_vm(const uint8_t *p, size_t len)
{
	struct lvm_vm *vm = new_vm(1, LVM_IRQCHIP_SPLIT);
	struct lvm_state_reader r;
	memset(&r, 0, sizeof(r));
	r.p = p;
	r.len = len;
	snprintf(r.name, sizeof(r.name), "cpu.0");
	if (vm && (lvm_x86_vcpu_load(&vm->vcpus[0], &r) < 0 || lvm_state_section_done(&r) < 0)) {
		fprintf(stderr, "load: %s\n", lvm_error());
		check_failures++;
		lvm_vm_destroy(vm);
		vm = NULL;
	}
	return vm;
}

static void test_loads_sregs_and_fpu_formats(void)
{
	struct lvm_vm *a = new_vm(1, LVM_IRQCHIP_SPLIT), *b = NULL, *c = NULL;
	struct lvm_state_writer w;
	lvm_state_writer_init(&w);
	bool avx, tsc_aux;
	if (!a)
		goto out;
	set_distinctive_state(a, &avx, &tsc_aux);
	struct lvm_state_reader sec;
	if (!save_vm(a, &w) || lvm_state_section(w.buf, w.len, "cpu.0", &sec) < 0) {
		check_failures++;
		goto out;
	}
	const size_t sregs_at = 8 + 4 + sizeof(struct kvm_regs);
	const size_t fpu_at = skip_blob(sec.p, sregs_at + 1);

	/* struct kvm_sregs (KVM_SET_SREGS) instead of struct kvm_sregs2. */
	struct kvm_sregs sregs, got;
	CHECK(ioctl(a->vcpus[0].fd, KVM_GET_SREGS, &sregs) == 0);
	size_t len;
	uint8_t *q = splice(sec.p, sec.len, sregs_at, fpu_at, 1, &sregs, sizeof(sregs), &len);
	b = load_into_new_vm(q, len);
	free(q);
	if (b) {
		CHECK(ioctl(b->vcpus[0].fd, KVM_GET_SREGS, &got) == 0);
		CHECK(memcmp(&sregs, &got, sizeof(got)) == 0);
	}

	/* struct kvm_fpu (KVM_SET_FPU) instead of the XSAVE area: x87 and SSE only. */
	struct kvm_fpu fpu, fgot;
	CHECK(ioctl(a->vcpus[0].fd, KVM_GET_FPU, &fpu) == 0);
	CHECK_EQ_U64(fpu.xmm[0][15], 0xaf);
	q = splice(sec.p, sec.len, fpu_at, skip_blob(sec.p, fpu_at + 1), 2, &fpu, sizeof(fpu), &len);
	c = load_into_new_vm(q, len);
	free(q);
	if (c) {
		CHECK(ioctl(c->vcpus[0].fd, KVM_GET_FPU, &fgot) == 0);
		CHECK(memcmp(fpu.xmm, fgot.xmm, sizeof(fpu.xmm)) == 0);
		CHECK_EQ_U64(fgot.mxcsr, fpu.mxcsr);
	}
out:
	lvm_state_writer_free(&w);
	lvm_vm_destroy(a);
	lvm_vm_destroy(b);
	lvm_vm_destroy(c);
}

/* --- hostile sections ---------------------------------------------------- */

/* A reader over bytes the test made up, as the caller would hand it. */
static struct lvm_state_reader reader_over(const uint8_t *p, size_t len)
{
	struct lvm_state_reader r;
	memset(&r, 0, sizeof(r));
	r.p = p;
	r.len = len;
	snprintf(r.name, sizeof(r.name), "cpu.0");
	return r;
}

/* Loads `p` into vCPU 0; expects a refusal whose message contains `want`. */
static void expect_refused(struct lvm_vm *vm, const uint8_t *p, size_t len, const char *want)
{
	struct lvm_state_reader r = reader_over(p, len);
	int rc = lvm_x86_vcpu_load(&vm->vcpus[0], &r);
	CHECK_EQ_U64(rc, (uint64_t)-1);
	CHECK(r.failed);
	if (!strstr(lvm_error(), want)) {
		fprintf(stderr, "error \"%s\" does not say \"%s\"\n", lvm_error(), want);
		check_failures++;
	}
	CHECK(lvm_state_section_done(&r) < 0);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void test_refuses_bad_sections(void)
{
	struct lvm_vm *a = new_vm(1, LVM_IRQCHIP_SPLIT), *b = new_vm(1, LVM_IRQCHIP_SPLIT);
	struct lvm_state_writer w;
	lvm_state_writer_init(&w);
	if (!a || !b || !save_vm(a, &w)) {
		check_failures++;
		goto out;
	}
	struct lvm_state_reader sec;
	CHECK(lvm_state_section(w.buf, w.len, "cpu.0", &sec) == 0);
	size_t len = sec.len;
	uint8_t *p = malloc(len + 64);
	memcpy(p, sec.p, len);

	/* Every truncation, each in a buffer of exactly that size (ASan sees overreads). */
	for (size_t n = 0; n < len; n++) {
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, p, n);
		expect_refused(b, cut, n, "cpu.0: ");
		free(cut);
	}
	expect_refused(b, p, 5, "cpu.0: truncated");

	struct layout l = find_layout(p);
	uint32_t xsave;
	memcpy(&xsave, p + l.xsave_len, 4);
	CHECK_EQ_U64(xsave, (uint64_t)xsave_size(b));

	/* A host whose XSAVE area is larger: a longer blob. */
	uint8_t *big = calloc(1, len + 64);
	memcpy(big, p, l.xsave_len);
	put32(big + l.xsave_len, xsave + 64);
	memcpy(big + l.xsave_len + 4 + xsave + 64, p + l.xsave_len + 4 + xsave,
	       len - (l.xsave_len + 4 + xsave));
	char want[96];
	snprintf(want, sizeof(want), "cpu.0: XSAVE area is %u bytes here, the snapshot has %u",
		 xsave, xsave + 64);
	expect_refused(b, big, len + 64, want);
	free(big);

	uint8_t *bad = malloc(len + 1);
	uint32_t nmsrs;
	memcpy(&nmsrs, p + l.msr_count, 4);
	CHECK(nmsrs > 10 && l.msr_count + 4 + 12 * (size_t)nmsrs == len);

#define MUTATE(offset, value, message)                           \
	do {                                                     \
		memcpy(bad, p, len);                             \
		put32(bad + (offset), (value));                  \
		expect_refused(b, bad, len, message);            \
	} while (0)
	MUTATE(l.msr_count, 0xffffffffu, "4294967295 MSRs (at most 1024)");
	MUTATE(l.msr_count, 1000, "1000 MSRs do not fit");
	MUTATE(l.msr_count, nmsrs - 1, "12 bytes left over");
	MUTATE(4, 99, "MP state 99");
	MUTATE(8, 12, "struct kvm_regs is 12 bytes in the snapshot");
	MUTATE(l.xsave_len - 1, 7, "FPU state in format 7");
	MUTATE(l.xcrs + 1 + 4, 17, "17 XCRs (at most 16)"); /* nr_xcrs */
	MUTATE(l.msr_count + 4, 0x12345, "this host does not accept MSR 0x12345");
	memcpy(bad, p, len);
	bad[l.xcrs] = 2;
	expect_refused(b, bad, len, "not 0 or 1");
	memcpy(bad, p, len);
	bad[8 + 4 + sizeof(struct kvm_regs)] = 9;
	expect_refused(b, bad, len, "special registers in format 9");
	memcpy(bad, p, len);
	bad[len] = 0;
	expect_refused(b, bad, len + 1, "1 bytes left over");
	/* A TSC slower than the host's needs scaling, which not every host has. */
	if (ioctl(b->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL) <= 0)
		MUTATE(0, 1000, "KVM_SET_TSC_KHZ: this host cannot run the guest's TSC at 1000 kHz");
	else
		printf("note: this host scales the TSC; a slow TSC is not refused\n");
#undef MUTATE
	free(bad);

	/* What survived the refusals is still loadable. */
	struct lvm_state_reader r = reader_over(p, len);
	CHECK(lvm_x86_vcpu_load(&b->vcpus[0], &r) == 0 && lvm_state_section_done(&r) == 0);

	/* The clock: 8 bytes, no more, no less. */
	uint8_t clock[9] = { 0 };
	r = reader_over(clock, 7);
	CHECK(lvm_x86_clock_load(b, &r) < 0 && strstr(lvm_error(), "clock: truncated"));
	r = reader_over(clock, 9);
	CHECK(lvm_x86_clock_load(b, &r) < 0 && strstr(lvm_error(), "1 bytes left over"));
	r = reader_over(clock, 8);
	CHECK(lvm_x86_clock_load(b, &r) == 0 && lvm_state_section_done(&r) == 0);
	free(p);
out:
	lvm_state_writer_free(&w);
	lvm_vm_destroy(a);
	lvm_vm_destroy(b);
}

/* Skips a section's fields up to its MSR count (the layout in vcpu_state.h). */
static size_t msrs_offset(struct lvm_state_reader *r)
{
	static uint8_t scratch[1u << 16];
	lvm_state_get_u32(r); /* TSC kHz */
	lvm_state_get_u32(r); /* MP state */
	lvm_state_get_blob(r, scratch, sizeof(scratch)); /* regs */
	lvm_state_get_u8(r);
	lvm_state_get_blob(r, scratch, sizeof(scratch)); /* sregs */
	lvm_state_get_u8(r);
	lvm_state_get_blob(r, scratch, sizeof(scratch)); /* XSAVE or FPU */
	if (lvm_state_get_bool(r))
		lvm_state_get_blob(r, scratch, sizeof(scratch)); /* XCRs */
	for (int i = 0; i < 3; i++) /* debug registers, LAPIC, events */
		lvm_state_get_blob(r, scratch, sizeof(scratch));
	return r->pos;
}

static void test_power_on_states_match_reads(void)
{
	enum { NCPUS = 5 };
	struct lvm_vm *vm = new_vm(NCPUS, LVM_IRQCHIP_SPLIT);
	if (!vm)
		return;
	struct lvm_state_writer fast, full;
	lvm_state_writer_init(&fast);
	lvm_state_writer_init(&full);
	CHECK(lvm_x86_vcpu_save_power_on(vm, &fast) == 0);
	for (unsigned i = 0; i < NCPUS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "cpu.%u", i);
		lvm_state_begin(&full, name);
		CHECK(lvm_x86_vcpu_save(&vm->vcpus[i], &full) == 0);
	}
	CHECK(lvm_state_finish(&fast) == 0 && lvm_state_finish(&full) == 0);
	for (unsigned i = 0; i < NCPUS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "cpu.%u", i);
		struct lvm_state_reader a, b;
		CHECK(lvm_state_section(fast.buf, fast.len, name, &a) == 0);
		CHECK(lvm_state_section(full.buf, full.len, name, &b) == 0);
		CHECK_EQ_U64(a.len, b.len);
		size_t at = msrs_offset(&a);
		CHECK_EQ_U64(at, msrs_offset(&b));
		CHECK(!a.failed && !b.failed && a.len == b.len && memcmp(a.p, b.p, at) == 0);
		uint32_t n = lvm_state_get_u32(&a);
		CHECK_EQ_U64(n, lvm_state_get_u32(&b));
		for (uint32_t k = 0; k < n; k++) {
			uint32_t index = lvm_state_get_u32(&a);
			uint64_t va = lvm_state_get_u64(&a), vb;
			CHECK_EQ_U64(index, lvm_state_get_u32(&b));
			vb = lvm_state_get_u64(&b);
			if (index != MSR_IA32_TSC && va != vb) {
				fprintf(stderr, "cpu.%u: MSR 0x%x: 0x%llx != 0x%llx\n", i, index,
					(unsigned long long)va, (unsigned long long)vb);
				check_failures++;
			}
		}
		CHECK(lvm_state_section_done(&a) == 0 && lvm_state_section_done(&b) == 0);
	}
	lvm_state_writer_free(&fast);
	lvm_state_writer_free(&full);
	lvm_vm_destroy(vm);
}

int main(void)
{
	RUN_TEST(test_round_trip_split_irqchip);
	RUN_TEST(test_round_trip_kernel_irqchip);
	RUN_TEST(test_tsc_deadline_survives);
	RUN_TEST(test_guest_continues_after_load);
	RUN_TEST(test_save_while_parked);
	RUN_TEST(test_loads_sregs_and_fpu_formats);
	RUN_TEST(test_refuses_bad_sections);
	RUN_TEST(test_power_on_states_match_reads);
	return CHECK_DONE();
}
