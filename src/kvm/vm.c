#include "kvm/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/error.h"
#include "kvm/arch.h"
#include "kvm/kvm.h"
#include "kvm/reaper.h"
#include "kvm/seccomp.h"
#include "kvm/vcpu.h"

/* A fresh VM with every fd marked "not open", so destroy works at any point. */
static struct lvm_vm *vm_alloc(void)
{
	struct lvm_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->kvm_fd = vm->vm_fd = vm->stop_fd = -1;
	vm->mem.memfd = vm->mem.base_fd = -1;
	vm->mem.host = NULL;
	vm->console.notify_fd = -1;
	pthread_mutex_init(&vm->state_lock, NULL);
	pthread_cond_init(&vm->park_cond, NULL);
	vm->hooks.notify_fd = -1;
	lvm_bus_init(&vm->pio);
	lvm_bus_init(&vm->mmio);
	lvm_gsi_routes_init(&vm->gsi_routes);
	return vm;
}

static int check_options(int kvm_fd, const struct lvm_vm_options *opts)
{
	unsigned max_vcpus = lvm_kvm_max_vcpus(kvm_fd);
	if (opts->ncpus < 1 || opts->ncpus > max_vcpus)
		return lvm_fail("cpus: %u is out of range (1 to %u on this host)", opts->ncpus,
				max_vcpus);
	uint64_t host_limit = lvm_memory_host_limit();
	if (opts->mem_size > host_limit)
		return lvm_fail("memory: %llu MiB is more than this host's %llu MiB of RAM",
				(unsigned long long)(opts->mem_size >> 20),
				(unsigned long long)(host_limit >> 20));
	return 0;
}

static int create_vcpus(struct lvm_vm *vm, unsigned ncpus)
{
	int size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0)
		return lvm_fail_errno("KVM_GET_VCPU_MMAP_SIZE");
	vm->run_size = (size_t)size;
	vm->vcpus = calloc(ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return lvm_fail("out of memory for %u vcpus", ncpus);
	for (unsigned i = 0; i < ncpus; i++)
		vm->vcpus[i].fd = -1;
	vm->ncpus = ncpus;
	for (unsigned i = 0; i < ncpus; i++)
		if (lvm_vcpu_init(vm, &vm->vcpus[i], i) < 0)
			return -1;
	return 0;
}

struct lvm_vm *lvm_vm_create(const struct lvm_vm_options *opts)
{
	struct lvm_vm *vm = vm_alloc();
	if (!vm) {
		lvm_fail("out of memory");
		return NULL;
	}
	vm->kvm_fd = lvm_kvm_open();
	if (vm->kvm_fd < 0 || check_options(vm->kvm_fd, opts) < 0)
		goto fail;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		lvm_fail_errno("KVM_CREATE_VM");
		goto fail;
	}
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0) {
		lvm_fail_errno("eventfd");
		goto fail;
	}
	if (lvm_console_init(&vm->console) < 0)
		goto fail;
	vm->console.stopping = &vm->stopping; /* a stalled sink must not block a stop */
	if (lvm_seccomp_prepare() < 0 || lvm_hookq_init(&vm->hooks) < 0 ||
	    lvm_arch_vm_init(vm, opts) < 0 || lvm_memory_init(&vm->mem, vm->vm_fd, opts->mem_size) < 0 ||
	    create_vcpus(vm, opts->ncpus) < 0)
		goto fail;
	return vm;
fail:
	lvm_vm_destroy(vm);
	return NULL;
}

void lvm_vm_set_vcpu_setup(struct lvm_vm *vm, const struct lvm_vcpu_setup *setup)
{
	vm->vcpu_setup = *setup;
}

int lvm_vm_set_up_vcpus(struct lvm_vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (lvm_vcpu_set_up(&vm->vcpus[i]) < 0)
			return -1;
	return 0;
}

/*
 * A vCPU that is already running may stop the VM (debug-exit) while the
 * next thread is being created, before it counts as started and so before
 * lvm_vm_stop would kick it; that thread could then block in KVM_RUN (an AP
 * waiting for SIPI) for ever.  The two sides order themselves without a
 * lock: lvm_vm_stop sets `stopping`, then kicks every vCPU marked started;
 * here the vCPU is marked started, then kicked if `stopping` is set.  Both
 * with sequentially consistent atomics, so at least one of them sees the
 * other's store and the new thread is kicked at least once.  (Holding
 * state_lock across pthread_create did the same, but a vCPU stopping the VM
 * then waited for that lock while this loop took it again for each of the
 * other threads: a 64-vCPU guest that exits at once waited for all of them.)
 */
static int start_vcpu_thread(struct lvm_vm *vm, struct lvm_vcpu *vcpu)
{
	int rc = lvm_vcpu_start_thread(vcpu);
	if (rc == 0 && __atomic_load_n(&vm->stopping, __ATOMIC_SEQ_CST))
		lvm_vcpu_kick(vcpu);
	return rc;
}

/*
 * Thread k of vCPU k >= 2 is started by the thread of vCPU 1, once that
 * one has its seccomp filter: a new thread inherits its creator's filter,
 * where installing one costs ~0.2 ms a thread here (the kernel checks,
 * converts and JITs the program and precomputes its verdicts for every
 * system call), 13 ms for 64 vCPUs.  Two filters are installed, the boot
 * vCPU's and vCPU 1's, whatever the count (seccomp.c allows vCPU threads
 * to create threads of this process, which inherit the filter too).
 */
void lvm_vm_start_aps(struct lvm_vm *vm, bool filtered)
{
	char why[sizeof(vm->aps_error)] = "";
	for (unsigned i = 2; filtered && i < vm->ncpus && !lvm_vm_stopped(vm); i++) {
		vm->vcpus[i].inherits_filter = true;
		if (start_vcpu_thread(vm, &vm->vcpus[i]) < 0) {
			snprintf(why, sizeof(why), "%s", lvm_error());
			break;
		}
	}
	pthread_mutex_lock(&vm->state_lock);
	snprintf(vm->aps_error, sizeof(vm->aps_error), "%s", why);
	vm->aps_starting = false;
	pthread_cond_broadcast(&vm->park_cond);
	pthread_mutex_unlock(&vm->state_lock);
}

/* Until vCPU 1's thread has started the others (or failed to). */
static int wait_for_aps(struct lvm_vm *vm)
{
	pthread_mutex_lock(&vm->state_lock);
	while (vm->aps_starting)
		pthread_cond_wait(&vm->park_cond, &vm->state_lock);
	pthread_mutex_unlock(&vm->state_lock);
	return vm->aps_error[0] ? lvm_fail("%s", vm->aps_error) : 0;
}

static int start_failed(struct lvm_vm *vm)
{
	char why[sizeof(vm->detail)];
	snprintf(why, sizeof(why), "%s", lvm_error());
	lvm_vm_stop(vm, LVM_STOP_ERROR, 0, "%s", why);
	lvm_vm_join(vm);
	return lvm_fail("%s", why);
}

/* The boot vCPU first, so that it runs while the others' threads are made;
 * once the VM has stopped (a guest that exits at once) the rest are not
 * started at all: nothing would run on them. */
int lvm_vm_start(struct lvm_vm *vm)
{
	if (vm->started)
		return lvm_fail("the machine was already started");
	vm->started = true;
	lvm_memory_touched(&vm->mem); /* RAM moves on from any snapshot base */
	clock_gettime(CLOCK_MONOTONIC, &vm->start_time);
	if (start_vcpu_thread(vm, &vm->vcpus[0]) < 0)
		return start_failed(vm);
	if (vm->ncpus < 2 || lvm_vm_stopped(vm))
		return 0;
	vm->aps_error[0] = '\0';
	vm->aps_starting = vm->ncpus > 2;
	vm->vcpus[1].starts_aps = vm->ncpus > 2;
	if (start_vcpu_thread(vm, &vm->vcpus[1]) < 0) {
		vm->aps_starting = false;
		return start_failed(vm);
	}
	return wait_for_aps(vm) < 0 ? start_failed(vm) : 0;
}

void lvm_vm_stop(struct lvm_vm *vm, enum lvm_stop_reason reason, int64_t code,
		 const char *fmt, ...)
{
	pthread_mutex_lock(&vm->state_lock);
	if (vm->reason == LVM_RUNNING) {
		vm->reason = reason;
		vm->code = code;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(vm->detail, sizeof(vm->detail), fmt, ap);
		va_end(ap);
		/* seq_cst: pairs with start_vcpu_thread (see there). */
		__atomic_store_n(&vm->stopping, 1, __ATOMIC_SEQ_CST);
		for (unsigned i = 0; i < vm->ncpus; i++)
			lvm_vcpu_kick(&vm->vcpus[i]);
		pthread_cond_broadcast(&vm->park_cond);
		lvm_hookq_close(&vm->hooks);
		uint64_t one = 1;
		ssize_t ignored = write(vm->stop_fd, &one, sizeof(one));
		(void)ignored;
	}
	pthread_mutex_unlock(&vm->state_lock);
}

bool lvm_vm_stopped(struct lvm_vm *vm)
{
	return __atomic_load_n(&vm->stopping, __ATOMIC_ACQUIRE) != 0;
}

void lvm_vm_join(struct lvm_vm *vm)
{
	if (vm->joined)
		return;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
	}
	vm->joined = true;
}

void lvm_vm_rearm(struct lvm_vm *vm)
{
	lvm_vm_join(vm);
	pthread_mutex_lock(&vm->state_lock);
	uint64_t count;
	ssize_t ignored = read(vm->stop_fd, &count, sizeof(count)); /* EAGAIN if never stopped */
	(void)ignored;
	vm->reason = LVM_RUNNING;
	vm->code = 0;
	vm->detail[0] = '\0';
	__atomic_store_n(&vm->paused, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&vm->stopping, 0, __ATOMIC_RELEASE);
	vm->started = false;
	vm->joined = false;
	pthread_mutex_unlock(&vm->state_lock);
	lvm_hookq_reopen(&vm->hooks);
}

/*
 * The userspace interrupt controllers go first: their timer thread kicks
 * vCPU 0, so they must be gone before the vCPUs are.  GSIs set later (by
 * devices being freed) are dropped.
 */
static void free_irqchip(struct lvm_vm *vm)
{
	struct lvm_irqchip chip = vm->irqchip;
	vm->irqchip = (struct lvm_irqchip){ 0 };
	if (chip.free)
		chip.free(chip.ctx);
}

void lvm_vm_halt(struct lvm_vm *vm)
{
	if (vm->started) {
		lvm_vm_stop(vm, LVM_STOP_HOST, 0, "stopped by the host");
		lvm_vm_join(vm);
	}
}

/* What is left of a VM once its threads and irqchip are gone: only its own
 * fds and mappings, which nothing else can reach (see kvm/reaper.h). */
static void free_kernel_parts(void *arg)
{
	struct lvm_vm *vm = arg;
	for (unsigned i = 0; i < vm->ncpus; i++)
		lvm_vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	/* The VM fd before guest RAM: unmapping RAM that KVM still maps makes
	 * the kernel walk its reverse map through the MMU notifier (ms per GiB),
	 * while a closed VM has nothing left to unmap. */
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	lvm_memory_destroy(&vm->mem);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	free(vm);
}

void lvm_vm_destroy(struct lvm_vm *vm)
{
	if (!vm)
		return;
	lvm_vm_halt(vm);
	free_irqchip(vm);
	lvm_console_destroy(&vm->console);
	lvm_hookq_destroy(&vm->hooks);
	lvm_bus_destroy(&vm->pio);
	lvm_bus_destroy(&vm->mmio);
	lvm_gsi_routes_destroy(&vm->gsi_routes);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	pthread_cond_destroy(&vm->park_cond);
	pthread_mutex_destroy(&vm->state_lock);
	/* A machine that never ran (a failed or unused creation) goes at once:
	 * "nothing half-made left behind" holds the moment an error returns. */
	if (vm->joined)
		lvm_reaper_defer(free_kernel_parts, vm);
	else
		free_kernel_parts(vm);
}

const char *lvm_stop_reason_name(enum lvm_stop_reason reason)
{
	switch (reason) {
	case LVM_RUNNING: return "running";
	case LVM_STOP_EXIT: return "exit";
	case LVM_STOP_RESET: return "reset";
	case LVM_STOP_SHUTDOWN: return "shutdown";
	case LVM_STOP_ERROR: return "error";
	case LVM_STOP_HOST: return "killed";
	case LVM_STOP_HOOK_ERROR: return "hook_error";
	case LVM_STOP_POWEROFF: return "poweroff";
	}
	return "unknown";
}

void lvm_vm_set_irq(void *opaque, unsigned gsi, int level)
{
	struct lvm_vm *vm = opaque;
	if (vm->irqchip.set_irq) {
		vm->irqchip.set_irq(vm->irqchip.ctx, gsi, level);
	} else if (vm->irqchip_mode == LVM_IRQCHIP_KERNEL) {
		struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };
		ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
	}
}

struct lvm_vcpu_stats lvm_vm_exit_stats(const struct lvm_vm *vm)
{
	struct lvm_vcpu_stats sum = { 0 };
	for (unsigned i = 0; i < vm->ncpus; i++) {
		const struct lvm_vcpu_stats *s = &vm->vcpus[i].stats;
		sum.io += __atomic_load_n(&s->io, __ATOMIC_RELAXED);
		sum.mmio += __atomic_load_n(&s->mmio, __ATOMIC_RELAXED);
		sum.other += __atomic_load_n(&s->other, __ATOMIC_RELAXED);
	}
	return sum;
}
