#include "kvm/vcpu.h"

#include <errno.h>
#include <sched.h>
#include <linux/kvm.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/seccomp.h"
#include "util/error.h"

/*
 * Kicking a vCPU: set kvm_run.immediate_exit and send this signal to its
 * thread.  The handler does nothing; the point is that KVM_RUN returns
 * EINTR (or does not enter the guest at all, api.rst "immediate_exit").
 */
#define LVM_KICK_SIGNAL (SIGRTMIN + 3)

static pthread_once_t kick_handler_once = PTHREAD_ONCE_INIT;

static void on_kick(int sig)
{
	(void)sig;
}

static void install_kick_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick; /* no SA_RESTART: KVM_RUN must return */
	sigemptyset(&sa.sa_mask);
	sigaction(LVM_KICK_SIGNAL, &sa, NULL);
}

int lvm_vcpu_init(struct lvm_vm *vm, struct lvm_vcpu *vcpu, unsigned index)
{
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->run = MAP_FAILED;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0)
		return lvm_fail_errno("KVM_CREATE_VCPU %u", index);
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED)
		return lvm_fail_errno("vcpu %u: mmap kvm_run", index);
	return 0;
}

int lvm_vcpu_set_up(struct lvm_vcpu *vcpu)
{
	const struct lvm_vcpu_setup *setup = &vcpu->vm->vcpu_setup;
	int state = LVM_VCPU_SETUP_PENDING;
	if (__atomic_compare_exchange_n(&vcpu->setup_state, &state, LVM_VCPU_SETUP_RUNNING, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		int rc = setup->fn ? setup->fn(setup->ctx, vcpu) : 0;
		__atomic_store_n(&vcpu->setup_state, rc < 0 ? LVM_VCPU_SETUP_FAILED : LVM_VCPU_SETUP_DONE,
				 __ATOMIC_RELEASE);
		return rc;
	}
	/* Its own thread got there first (a stop raced a save): a few ioctls. */
	while (state == LVM_VCPU_SETUP_RUNNING) {
		sched_yield();
		state = __atomic_load_n(&vcpu->setup_state, __ATOMIC_ACQUIRE);
	}
	return state == LVM_VCPU_SETUP_DONE ? 0
					    : lvm_fail("vcpu %u: its set-up failed (see the stop reason)",
						       vcpu->index);
}

void lvm_vcpu_destroy(struct lvm_vcpu *vcpu)
{
	if (vcpu->run != MAP_FAILED && vcpu->run)
		munmap(vcpu->run, vcpu->vm->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = MAP_FAILED;
	vcpu->fd = -1;
}

static inline void count(uint64_t *counter)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

/* KVM_EXIT_IO: `count` accesses of `size` bytes (more than one for rep ins/outs). */
static void handle_io(struct lvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	count(&vcpu->stats.io);
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		lvm_bus_dispatch(&vcpu->vm->pio, run->io.port, data, run->io.size, is_write);
}

static void handle_mmio(struct lvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : sizeof(run->mmio.data);
	count(&vcpu->stats.mmio);
	lvm_bus_dispatch(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
			 run->mmio.is_write);
}

static void report_internal_error(struct lvm_vcpu *vcpu)
{
	struct kvm_regs regs;
	unsigned long long rip = 0;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) == 0)
		rip = regs.rip;
	lvm_vm_stop(vcpu->vm, LVM_STOP_ERROR, 0,
		    "vcpu %u: KVM internal error (suberror %u) at rip 0x%llx", vcpu->index,
		    vcpu->run->internal.suberror, rip);
}

/*
 * Split irqchip: the PIC's INT reaches the boot CPU's LINT0 (ExtINT) only
 * through KVM_INTERRUPT, which KVM takes when kvm_run says
 * ready_for_interrupt_injection (the guest has IF set, its LAPIC accepts
 * PIC interrupts and no earlier vector is pending); until then KVM is asked
 * to exit when that window opens (api.rst "request_interrupt_window").  A
 * halted vCPU 0 is kicked out of KVM_RUN when INT rises (interrupts.c).
 */
static void offer_extint(struct lvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	const struct lvm_irqchip *chip = &vcpu->vm->irqchip;
	bool pending = chip->extint_pending(chip->ctx);
	if (pending && run->ready_for_interrupt_injection) {
		struct kvm_interrupt irq = { .irq = chip->extint_ack(chip->ctx) };
		ioctl(vcpu->fd, KVM_INTERRUPT, &irq);
		pending = chip->extint_pending(chip->ctx);
	}
	run->request_interrupt_window = pending;
}

/* Returns false when the loop must end. */
static bool handle_exit(struct lvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN: /* offer_extint runs before the next KVM_RUN */
		return true;
	case KVM_EXIT_IOAPIC_EOI:
		if (vcpu->vm->irqchip.eoi)
			vcpu->vm->irqchip.eoi(vcpu->vm->irqchip.ctx, run->eoi.vector);
		return true;
	case KVM_EXIT_SHUTDOWN:
		lvm_vm_stop(vcpu->vm, LVM_STOP_SHUTDOWN, 0,
			    "vcpu %u entered shutdown (triple fault)", vcpu->index);
		return false;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC (never here); halting forever means off. */
		lvm_vm_stop(vcpu->vm, LVM_STOP_SHUTDOWN, 0, "vcpu %u halted", vcpu->index);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			lvm_vm_stop(vcpu->vm, LVM_STOP_RESET, 0, "system reset");
		else
			lvm_vm_stop(vcpu->vm, LVM_STOP_SHUTDOWN, 0, "system event %u",
				    run->system_event.type);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		report_internal_error(vcpu);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		lvm_vm_stop(vcpu->vm, LVM_STOP_ERROR, 0,
			    "vcpu %u: VM entry failed (hardware reason 0x%llx)", vcpu->index,
			    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	default:
		count(&vcpu->stats.other);
		lvm_vm_stop(vcpu->vm, LVM_STOP_ERROR, 0, "vcpu %u: unhandled exit reason %u",
			    vcpu->index, run->exit_reason);
		return false;
	}
}

_Thread_local int lvm_vcpu_current = -1;

const char *const lvm_reg_names[LVM_REG_COUNT] = {
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9",
	"r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags",
};

_Static_assert(sizeof(struct kvm_regs) == LVM_REG_COUNT * sizeof(uint64_t),
	       "struct kvm_regs is the registers of lvm_reg_names in order");

int lvm_reg_index(const char *name)
{
	for (unsigned i = 0; i < LVM_REG_COUNT; i++)
		if (strcmp(lvm_reg_names[i], name) == 0)
			return (int)i;
	return -1;
}

/*
 * A hook set registers for the access just handled.  KVM finishes an I/O
 * exit (an `in` writes RAX, RIP moves on) only at the next KVM_RUN, and
 * registers set before that may be overwritten (api.rst, KVM_EXIT_IO): so
 * complete it first with an immediate-exit KVM_RUN, then set them.
 */
static void apply_patch(struct lvm_vcpu *vcpu)
{
	struct lvm_regs_patch patch = vcpu->patch;
	vcpu->patch.mask = 0;
	vcpu->run->immediate_exit = 1;
	ioctl(vcpu->fd, KVM_RUN, 0); /* returns EINTR at once, the exit completed */
	vcpu->run->immediate_exit = 0;
	struct kvm_regs regs;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
		return;
	uint64_t *r = (uint64_t *)&regs;
	for (unsigned i = 0; i < LVM_REG_COUNT; i++)
		if (patch.mask & (1u << i))
			r[i] = patch.value[i];
	ioctl(vcpu->fd, KVM_SET_REGS, &regs);
}

static void *vcpu_thread(void *arg)
{
	struct lvm_vcpu *vcpu = arg;
	lvm_vcpu_current = (int)vcpu->index;
	sigset_t kick;
	sigemptyset(&kick);
	sigaddset(&kick, LVM_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	/* A VM that stopped while this thread was being made (a guest that
	 * exits at once, an error on another vCPU) will never run it: leave
	 * before paying for a seccomp filter (~0.2 ms) it would not use.  The
	 * APs after vCPU 1 inherit its filter (vm.c, lvm_vm_start_aps). */
	bool filtered = !__atomic_load_n(&vcpu->vm->stopping, __ATOMIC_ACQUIRE) &&
			(vcpu->inherits_filter || lvm_seccomp_enter(LVM_SECCOMP_VCPU, vcpu->vm) == 0);
	if (vcpu->starts_aps) /* always: lvm_vm_start waits for it */
		lvm_vm_start_aps(vcpu->vm, filtered);
	if (!filtered || __atomic_load_n(&vcpu->vm->stopping, __ATOMIC_ACQUIRE))
		return NULL;
	if (lvm_vcpu_set_up(vcpu) < 0) {
		lvm_vm_stop(vcpu->vm, LVM_STOP_ERROR, 0, "%s", lvm_error());
		return NULL;
	}

	while (!__atomic_load_n(&vcpu->vm->stopping, __ATOMIC_ACQUIRE)) {
		if (lvm_vm_paused(vcpu->vm)) {
			lvm_vm_park(vcpu->vm);
			continue;
		}
		if (vcpu->index == 0 && vcpu->vm->irqchip.extint_pending)
			offer_extint(vcpu);
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				continue;
			}
			lvm_vm_stop(vcpu->vm, LVM_STOP_ERROR, 0, "vcpu %u: KVM_RUN: %s",
				    vcpu->index, strerror(errno));
			break;
		}
		if (!handle_exit(vcpu))
			break;
		if (vcpu->patch.mask)
			apply_patch(vcpu);
	}
	return NULL;
}

int lvm_vcpu_start_thread(struct lvm_vcpu *vcpu)
{
	pthread_once(&kick_handler_once, install_kick_handler);
	/* vCPU threads take no signals but the kick: SIGINT and friends go to
	 * the control thread.  The new thread inherits this mask. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return lvm_fail_errno("vcpu %u: cannot start thread", vcpu->index);
	}
	/* seq_cst: pairs with lvm_vm_stop (vm.c, start_vcpu_thread). */
	__atomic_store_n(&vcpu->thread_started, true, __ATOMIC_SEQ_CST);
	return 0;
}

void lvm_vcpu_kick(struct lvm_vcpu *vcpu)
{
	if (!__atomic_load_n(&vcpu->thread_started, __ATOMIC_SEQ_CST))
		return;
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_RELEASE);
	pthread_kill(vcpu->thread, LVM_KICK_SIGNAL);
}
