/*
 * Adaptive spinning (util/spin.h): a timed-out spin quarters the budget
 * down to none, a successful one restores it, every 32nd wait probes with
 * the full budget, and a waiter with no budget looks once without spinning.
 */
#include "check.h"
#include "util/spin.h"

static int calls;

static bool never(const void *arg)
{
	(void)arg;
	calls++;
	return false;
}

static bool on_third_call(const void *arg)
{
	(void)arg;
	return ++calls >= 3;
}

static void test_failures_quarter_the_budget(void)
{
	struct lvm_spin spin = LVM_SPIN_INIT;
	CHECK(!lvm_spin_until(&spin, never, NULL));
	CHECK_EQ_U64(spin.budget_ns, LVM_SPIN_MAX_NS / 4);
	CHECK(!lvm_spin_until(&spin, never, NULL));
	CHECK_EQ_U64(spin.budget_ns, LVM_SPIN_MAX_NS / 16);
	CHECK(!lvm_spin_until(&spin, never, NULL));
	CHECK_EQ_U64(spin.budget_ns, LVM_SPIN_MAX_NS / 64);
	CHECK(!lvm_spin_until(&spin, never, NULL));
	CHECK_EQ_U64(spin.budget_ns, 0); /* below 1 us: no spin at all */
	calls = 0;
	CHECK(!lvm_spin_until(&spin, never, NULL));
	CHECK_EQ_U64(calls, 1); /* looked once */
}

static void test_success_restores_it(void)
{
	struct lvm_spin spin = { 0, 0 };
	calls = 0;
	CHECK(!lvm_spin_until(&spin, on_third_call, NULL)); /* no budget: one look */
	CHECK(!lvm_spin_until(&spin, on_third_call, NULL));
	CHECK(lvm_spin_until(&spin, on_third_call, NULL));
	CHECK_EQ_U64(spin.budget_ns, 0); /* ready at once is not a spin that paid */
	spin.budget_ns = 2000;
	calls = 0;
	CHECK(lvm_spin_until(&spin, on_third_call, NULL));
	CHECK_EQ_U64(spin.budget_ns, LVM_SPIN_MAX_NS);
}

static void test_every_32nd_wait_probes(void)
{
	struct lvm_spin spin = { 0, 0 };
	for (int i = 1; i < 32; i++) {
		calls = 0;
		lvm_spin_until(&spin, never, NULL);
		CHECK_EQ_U64(calls, 1);
	}
	calls = 0;
	CHECK(!lvm_spin_until(&spin, never, NULL)); /* the 32nd: a full-length probe */
	CHECK(calls > 64);
	CHECK_EQ_U64(spin.budget_ns, 0); /* a failed probe leaves the budget as it was */
}

int main(void)
{
	RUN_TEST(test_failures_quarter_the_budget);
	RUN_TEST(test_success_restores_it);
	RUN_TEST(test_every_32nd_wait_probes);
	return check_failures != 0;
}
