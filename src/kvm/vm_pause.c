/*
 * Pausing a running machine.  The control thread sets `paused` and kicks
 * every vCPU out of KVM_RUN; each vCPU thread parks at the top of its loop
 * (lvm_vm_park) until resume or stop.  A vCPU blocked on the control thread
 * (a read a Lua hook must answer) counts as quiet: it cannot reach the
 * guest before the control thread answers, and it parks right after.
 */
#include <errno.h>
#include <time.h>

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

bool lvm_vm_paused(const struct lvm_vm *vm)
{
	return __atomic_load_n(&vm->paused, __ATOMIC_ACQUIRE) != 0;
}

void lvm_vm_park(struct lvm_vm *vm)
{
	pthread_mutex_lock(&vm->state_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->park_cond);
	while (lvm_vm_paused(vm) && !lvm_vm_stopped(vm))
		pthread_cond_wait(&vm->park_cond, &vm->state_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->state_lock);
}
