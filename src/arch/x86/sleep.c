#include "arch/x86/sleep.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/cpu/vcpu_state.h"
#include "arch/x86/fw/acpi.h"
#include "arch/x86/layout.h"
#include "util/error.h"
#include "util/le.h"
#include "util/state.h"

#define MSR_IA32_TSC 0x10u
#define CR0_PE 0x1u
#define CR0_ET 0x10u           /* reads as 1 on every CPU since the 486 */
#define REAL_MODE_LIMIT 0x100000u /* a real-mode vector is a segment and an offset */
#define DRAIN_ROUNDS 16        /* exits a vCPU may still owe KVM (a long rep ins/outs) */

/* --- the power-on states ------------------------------------------------ */

static void section_name(char *out, size_t n, unsigned index)
{
	snprintf(out, n, "cpu.%u", index);
}

/* --- entering a sleep ----------------------------------------------------- */

/*
 * The exit the vCPU left KVM_RUN on ends only in the next KVM_RUN, and
 * KVM keeps what is left of it where no KVM_SET_* reaches (api.rst,
 * KVM_RUN): run it with immediate_exit until KVM returns EINTR, so that
 * nothing of the guest's last instruction is applied to the state set
 * next.  An access KVM still owes (the rest of a rep ins/outs) is dropped:
 * the machine is going to sleep.
 */
static void drain_exit(struct lvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	run->immediate_exit = 1;
	for (int i = 0; i < DRAIN_ROUNDS && ioctl(vcpu->fd, KVM_RUN, 0) == 0; i++)
		;
	run->immediate_exit = 0;
}

/* One MSR through KVM_GET_MSRS / KVM_SET_MSRS (a header and one entry). */
static int msr_io(struct lvm_vcpu *vcpu, unsigned long request, uint32_t index, uint64_t *value)
{
	_Alignas(struct kvm_msrs) uint8_t buf[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	memset(buf, 0, sizeof(buf));
	struct kvm_msrs *msrs = (struct kvm_msrs *)buf;
	msrs->nmsrs = 1;
	msrs->entries[0] = (struct kvm_msr_entry){ .index = index, .data = *value };
	if (ioctl(vcpu->fd, request, msrs) != 1)
		return lvm_fail_errno("vcpu %u: %s of MSR 0x%x", vcpu->index,
				      request == KVM_GET_MSRS ? "KVM_GET_MSRS" : "KVM_SET_MSRS", index);
	*value = msrs->entries[0].data;
	return 0;
}

/* The vCPU as it was at power-on, its TSC going on; an AP then waits for a SIPI. */
static int power_on(struct lvm_x86_sleep *s, struct lvm_vcpu *vcpu)
{
	char name[16];
	struct lvm_state_reader r;
	uint64_t tsc = 0;
	drain_exit(vcpu);
	section_name(name, sizeof(name), vcpu->index);
	if (msr_io(vcpu, KVM_GET_MSRS, MSR_IA32_TSC, &tsc) < 0 ||
	    lvm_state_section(s->power_on, s->power_on_len, name, &r) < 0)
		return -1;
	if (lvm_x86_vcpu_load(vcpu, &r) < 0 || lvm_state_section_done(&r) < 0 ||
	    msr_io(vcpu, KVM_SET_MSRS, MSR_IA32_TSC, &tsc) < 0)
		return -1;
	struct kvm_mp_state wait_sipi = { KVM_MP_STATE_INIT_RECEIVED };
	if (vcpu->index != 0 && ioctl(vcpu->fd, KVM_SET_MP_STATE, &wait_sipi) < 0)
		return lvm_fail_errno("vcpu %u: KVM_SET_MP_STATE (wait for SIPI)", vcpu->index);
	return 0;
}

static void sleep_enter(void *ctx, struct lvm_vcpu *vcpu)
{
	struct lvm_x86_sleep *s = ctx;
	if (power_on(s, vcpu) < 0)
		lvm_vm_stop(s->vm, LVM_STOP_ERROR, 0, "ACPI S3: %s", lvm_error());
}

/* --- leaving it: the waking vector ---------------------------------------- */

struct facs_vectors {
	uint32_t real;  /* Firmware_Waking_Vector */
	uint64_t x;     /* X_Firmware_Waking_Vector (FACS version >= 1) */
};

/* The vectors as the OS left them in the FACS (guest RAM: read once, then checked). */
static int read_facs(struct lvm_vm *vm, struct facs_vectors *v)
{
	const uint8_t *p = lvm_memory_ptr(&vm->mem, LVM_ACPI_RSDP_ADDR + LVM_ACPI_FACS_OFFSET,
					  LVM_ACPI_FACS_LEN);
	if (!p)
		return lvm_fail("the FACS at 0x%x is not in RAM",
				LVM_ACPI_RSDP_ADDR + LVM_ACPI_FACS_OFFSET);
	uint8_t facs[LVM_ACPI_FACS_LEN];
	memcpy(facs, p, sizeof(facs));
	if (memcmp(facs, "FACS", 4) != 0)
		return lvm_fail("the FACS at 0x%x was overwritten (no \"FACS\" signature)",
				LVM_ACPI_RSDP_ADDR + LVM_ACPI_FACS_OFFSET);
	v->real = (uint32_t)lvm_get_le(facs + LVM_FACS_WAKING_VECTOR, 4);
	v->x = facs[LVM_FACS_VERSION] >= 1 && lvm_get_le(facs + 4, 4) >= 32
		       ? lvm_get_le(facs + LVM_FACS_X_WAKING_VECTOR, 8)
		       : 0;
	return 0;
}

static struct kvm_segment flat(uint16_t selector, uint8_t type)
{
	return (struct kvm_segment){ .base = 0, .limit = 0xffffffffu, .selector = selector,
				     .type = type, .present = 1, .dpl = 0, .db = 1, .s = 1,
				     .l = 0, .g = 1 };
}

/* From the power-on state: real mode at `vector` (CS:IP = vector >> 4 : vector & 0xf),
 * or flat 32-bit protected mode at `vector` (X_Firmware_Waking_Vector). */
static int jump(struct lvm_vcpu *vcpu, uint64_t vector, bool protected_mode)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
		return lvm_fail_errno("vcpu 0: KVM_GET_SREGS/REGS");
	sregs.cr0 = CR0_ET; /* caches on, as firmware leaves them */
	if (protected_mode) {
		sregs.cr0 |= CR0_PE;
		sregs.cs = flat(0x08, 0xb); /* execute/read, accessed */
		sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat(0x10, 0x3);
		regs.rip = vector;
	} else {
		sregs.cs.selector = (uint16_t)(vector >> 4);
		sregs.cs.base = (uint64_t)(vector >> 4) << 4;
		sregs.cs.limit = 0xffff;
		regs.rip = vector & 0xf;
	}
	regs.rflags = 0x2; /* interrupts off */
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return lvm_fail_errno("vcpu 0: KVM_SET_SREGS/REGS");
	return 0;
}

static void sleep_leave(void *ctx, struct lvm_vcpu *vcpu)
{
	struct lvm_x86_sleep *s = ctx;
	struct facs_vectors v = { 0 };
	if (vcpu->index != 0)
		return; /* the APs wait for their SIPI */
	if (read_facs(s->vm, &v) < 0) {
		lvm_vm_stop(s->vm, LVM_STOP_ERROR, 0, "ACPI S3 wake: %s", lvm_error());
	} else if (v.x >= 1ull << 32) {
		lvm_vm_stop(s->vm, LVM_STOP_ERROR, 0,
			    "ACPI S3 wake: X_Firmware_Waking_Vector 0x%llx is above 4 GiB (luavmm offers no 64-bit wake)",
			    (unsigned long long)v.x);
	} else if (v.x == 0 && v.real >= REAL_MODE_LIMIT) {
		lvm_vm_stop(s->vm, LVM_STOP_ERROR, 0,
			    "ACPI S3 wake: Firmware_Waking_Vector 0x%x is above 1 MiB (real mode cannot reach it)",
			    v.real);
	} else if (v.x == 0 && v.real == 0) {
		lvm_vm_stop(s->vm, LVM_STOP_RESET, 0,
			    "ACPI S3 wake: the FACS waking vector is 0, so nothing resumes (a reset)");
	} else if (jump(vcpu, v.x ? v.x : v.real, v.x != 0) < 0) {
		lvm_vm_stop(s->vm, LVM_STOP_ERROR, 0, "ACPI S3 wake: %s", lvm_error());
	}
}

/* --- set-up ---------------------------------------------------------------- */

int lvm_x86_sleep_init(struct lvm_x86_sleep *s, struct lvm_vm *vm)
{
	*s = (struct lvm_x86_sleep){ .vm = vm };
	struct lvm_state_writer w;
	lvm_state_writer_init(&w);
	if (lvm_x86_vcpu_save_power_on(vm, &w) < 0 || lvm_state_finish(&w) < 0 ||
	    lvm_state_check(w.buf, w.len) < 0) {
		lvm_state_writer_free(&w);
		return lvm_fail_prefix("S3: the power-on state: ");
	}
	s->power_on = w.buf; /* the writer's buffer is ours now */
	s->power_on_len = w.len;
	struct lvm_sleep_ops ops = { sleep_enter, sleep_leave, s };
	lvm_vm_set_sleep_ops(vm, &ops);
	return 0;
}

void lvm_x86_sleep_free(struct lvm_x86_sleep *s)
{
	free(s->power_on);
	s->power_on = NULL;
	s->power_on_len = 0;
}
