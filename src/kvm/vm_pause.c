/*
 * Pausing a running machine, and putting it to sleep.
 *
 * Pause: the control thread sets `paused` and kicks every vCPU out of
 * KVM_RUN; each vCPU thread parks at the top of its loop (lvm_vm_park)
 * until resume or stop.  A vCPU blocked on the control thread (a read a
 * Lua hook must answer) counts as quiet: it cannot reach the guest before
 * the control thread answers, and it parks right after.
 *
 * Sleep (ACPI S3): any thread sets `sleeping` and kicks the vCPUs, which
 * park the same way.  A sleep has a generation: each vCPU runs the board's
 * `enter` once per generation as it parks, on its own thread (KVM wants a
 * vCPU's state set while it is out of KVM_RUN, and its own thread is the
 * one that knows when that is).  A wake completes only once every vCPU has
 * entered, so that none runs on with its state from before the sleep; then
 * each vCPU runs `leave` before it goes back to KVM_RUN.  The host's pause
 * and a sleep are independent: a vCPU runs only when neither holds it.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "kvm/vcpu.h"
#include "kvm/vm.h"

static unsigned started_vcpus(const struct lvm_vm *vm)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vm->ncpus; i++)
		n += vm->vcpus[i].thread_started;
	return n;
}

static void wait_a_little(struct lvm_vm *vm)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 2 * 1000 * 1000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&vm->park_cond, &vm->state_lock, &until);
}

void lvm_vm_pause(struct lvm_vm *vm)
{
	if (__atomic_exchange_n(&vm->paused, 1, __ATOMIC_ACQ_REL))
		return;
	for (unsigned i = 0; i < vm->ncpus; i++)
		lvm_vcpu_kick(&vm->vcpus[i]);
	unsigned want = started_vcpus(vm);
	pthread_mutex_lock(&vm->state_lock);
	while (!lvm_vm_stopped(vm) && vm->parked + lvm_hookq_waiting(&vm->hooks) < want)
		wait_a_little(vm);
	pthread_mutex_unlock(&vm->state_lock);
}

void lvm_vm_resume(struct lvm_vm *vm)
{
	pthread_mutex_lock(&vm->state_lock);
	lvm_memory_touched(&vm->mem); /* RAM moves on from any snapshot base */
	__atomic_store_n(&vm->paused, 0, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->park_cond);
	pthread_mutex_unlock(&vm->state_lock);
}

bool lvm_vm_host_paused(const struct lvm_vm *vm)
{
	return __atomic_load_n(&vm->paused, __ATOMIC_ACQUIRE) != 0;
}

bool lvm_vm_sleeping(const struct lvm_vm *vm)
{
	return __atomic_load_n(&vm->sleeping, __ATOMIC_ACQUIRE) != 0;
}

bool lvm_vm_paused(const struct lvm_vm *vm)
{
	return lvm_vm_host_paused(vm) || lvm_vm_sleeping(vm);
}

/* Wakes the control thread's wait: it serves the hook queue's eventfd on
 * every wake-up and looks at the sleep counters there (lua/hooks.c). */
static void notify_control(struct lvm_vm *vm)
{
	uint64_t one = 1;
	if (vm->hooks.notify_fd >= 0) {
		ssize_t ignored = write(vm->hooks.notify_fd, &one, sizeof(one));
		(void)ignored;
	}
}

/* Under state_lock: a pending wake completes once every vCPU has entered
 * the sleep.  Returns true if it did. */
static bool finish_wake(struct lvm_vm *vm)
{
	if (!lvm_vm_sleeping(vm) || !vm->wake_pending || vm->asleep < vm->ncpus)
		return false;
	vm->wake_pending = false;
	__atomic_store_n(&vm->sleeping, 0, __ATOMIC_RELEASE);
	__atomic_add_fetch(&vm->wakes, 1, __ATOMIC_ACQ_REL);
	lvm_memory_touched(&vm->mem); /* RAM moves on from any snapshot base */
	pthread_cond_broadcast(&vm->park_cond);
	return true;
}

/* Under state_lock, dropped around the board's call: `vcpu` enters the
 * current sleep; the last one to enter completes a wake that came early. */
static void enter_sleep(struct lvm_vm *vm, struct lvm_vcpu *vcpu)
{
	uint64_t gen = vm->sleep_gen;
	vcpu->sleep_gen = gen;
	vcpu->asleep = true;
	pthread_mutex_unlock(&vm->state_lock);
	if (vm->sleep_ops.enter)
		vm->sleep_ops.enter(vm->sleep_ops.ctx, vcpu);
	pthread_mutex_lock(&vm->state_lock);
	if (gen != vm->sleep_gen)
		return; /* the VM was loaded meanwhile: the loop looks again */
	vm->asleep++;
	pthread_cond_broadcast(&vm->park_cond);
	if (finish_wake(vm))
		notify_control(vm); /* now: this vCPU may stay parked (the host's pause) */
}

void lvm_vm_park(struct lvm_vm *vm)
{
	int me = lvm_vcpu_current;
	struct lvm_vcpu *vcpu = me >= 0 && (unsigned)me < vm->ncpus ? &vm->vcpus[me] : NULL;
	bool woke = false;
	pthread_mutex_lock(&vm->state_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->park_cond);
	while (!lvm_vm_stopped(vm)) {
		if (vcpu && vcpu->asleep && !lvm_vm_sleeping(vm)) {
			vcpu->asleep = false; /* its sleep is over: leave it before running */
			woke = true;
		}
		bool entered = vcpu && vcpu->asleep && vcpu->sleep_gen == vm->sleep_gen;
		if (vcpu && lvm_vm_sleeping(vm) && !entered) {
			woke = false; /* a new sleep replaces the one it was leaving */
			enter_sleep(vm, vcpu);
			continue;
		}
		if (!lvm_vm_paused(vm))
			break;
		pthread_cond_wait(&vm->park_cond, &vm->state_lock);
	}
	vm->parked--;
	bool stopped = lvm_vm_stopped(vm);
	pthread_mutex_unlock(&vm->state_lock);
	if (woke && !stopped && vm->sleep_ops.leave)
		vm->sleep_ops.leave(vm->sleep_ops.ctx, vcpu);
}

void lvm_vm_set_sleep_ops(struct lvm_vm *vm, const struct lvm_sleep_ops *ops)
{
	pthread_mutex_lock(&vm->state_lock);
	vm->sleep_ops = *ops;
	pthread_mutex_unlock(&vm->state_lock);
}

bool lvm_vm_suspend(struct lvm_vm *vm)
{
	pthread_mutex_lock(&vm->state_lock);
	bool ok = !lvm_vm_stopped(vm) && !lvm_vm_sleeping(vm);
	if (ok) {
		vm->sleep_gen++;
		vm->asleep = 0;
		vm->wake_pending = false;
		__atomic_store_n(&vm->sleeping, 1, __ATOMIC_RELEASE);
		__atomic_add_fetch(&vm->suspends, 1, __ATOMIC_ACQ_REL);
		for (unsigned i = 0; i < vm->ncpus; i++)
			lvm_vcpu_kick(&vm->vcpus[i]);
		pthread_cond_broadcast(&vm->park_cond); /* host-paused vCPUs enter too */
	}
	pthread_mutex_unlock(&vm->state_lock);
	if (ok)
		notify_control(vm);
	return ok;
}

bool lvm_vm_wake(struct lvm_vm *vm, const char *reason)
{
	pthread_mutex_lock(&vm->state_lock);
	bool ok = lvm_vm_sleeping(vm) && !vm->wake_pending;
	bool done = false;
	if (ok) {
		vm->wake_pending = true;
		vm->wake_reason = reason;
		done = finish_wake(vm);
	}
	pthread_mutex_unlock(&vm->state_lock);
	if (done)
		notify_control(vm);
	return ok;
}

void lvm_vm_sleep_counts(struct lvm_vm *vm, uint64_t *suspends, uint64_t *wakes,
			 const char **wake_reason)
{
	pthread_mutex_lock(&vm->state_lock);
	*suspends = __atomic_load_n(&vm->suspends, __ATOMIC_ACQUIRE);
	*wakes = __atomic_load_n(&vm->wakes, __ATOMIC_ACQUIRE);
	*wake_reason = vm->wake_reason ? vm->wake_reason : "";
	pthread_mutex_unlock(&vm->state_lock);
}

void lvm_vm_sleep_restore(struct lvm_vm *vm, bool sleeping)
{
	pthread_mutex_lock(&vm->state_lock);
	vm->sleep_gen++; /* every vCPU enters this sleep afresh */
	vm->asleep = 0;
	vm->wake_pending = false;
	for (unsigned i = 0; i < vm->ncpus; i++)
		vm->vcpus[i].asleep = false;
	__atomic_store_n(&vm->sleeping, sleeping ? 1 : 0, __ATOMIC_RELEASE);
	if (sleeping) /* counted as a suspend: every wake follows one */
		__atomic_add_fetch(&vm->suspends, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&vm->state_lock);
}
