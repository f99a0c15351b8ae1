#include "util/spin.h"

#include "util/clock.h"

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#endif

bool lvm_spin_until(struct lvm_spin *spin, bool (*ready)(const void *arg), const void *arg)
{
	uint32_t budget = spin->budget_ns;
	if (++spin->waits % 32 == 0)
		budget = LVM_SPIN_MAX_NS;
	if (budget == 0)
		return ready(arg);
	uint64_t until = lvm_monotonic_ns() + budget;
	do {
		for (int i = 0; i < 64; i++) {
			if (ready(arg)) {
				spin->budget_ns = LVM_SPIN_MAX_NS;
				return true;
			}
			cpu_relax();
		}
	} while (lvm_monotonic_ns() < until);
	uint32_t left = spin->budget_ns / 4; /* a failed probe leaves it as it was */
	spin->budget_ns = left < 1000 ? 0 : left;
	return false;
}
