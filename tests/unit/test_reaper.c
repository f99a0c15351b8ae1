/*
 * The background teardown thread: deferred jobs all run, in order, by the
 * time drain returns; a full backlog makes the caller run the job itself
 * (back-pressure), and jobs never run twice.
 */
#include <pthread.h>
#include <stdbool.h>

#include "check.h"
#include "kvm/reaper.h"

#define JOBS 40

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t opened = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int order[JOBS * 2], ran;
static pthread_t ran_on[JOBS * 2];

static void record(void *arg)
{
	pthread_mutex_lock(&lock);
	order[ran] = (int)(long)arg;
	ran_on[ran++] = pthread_self();
	pthread_mutex_unlock(&lock);
}

/* Holds the reaper until the test opens the gate. */
static void gate(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (!gate_open)
		pthread_cond_wait(&opened, &lock);
	pthread_mutex_unlock(&lock);
}

static void test_runs_all_in_order(void)
{
	ran = 0;
	for (long i = 0; i < JOBS; i++)
		lvm_reaper_defer(record, (void *)i);
	lvm_reaper_drain();
	CHECK_EQ_U64(ran, JOBS);
	/* The reaper keeps the order it was given (those refused ran here, at once). */
	int in_order = 1, last = -1;
	for (int i = 0; i < ran; i++) {
		if (pthread_equal(ran_on[i], pthread_self()))
			continue;
		in_order &= order[i] > last;
		last = order[i];
	}
	CHECK(in_order);
}

static void test_full_backlog_runs_here(void)
{
	ran = 0;
	gate_open = false;
	CHECK(lvm_reaper_defer(gate, NULL));
	/* Queued behind the gate, whether or not the reaper has taken it yet. */
	CHECK(lvm_reaper_defer(record, (void *)-1L));
	int deferred = 0, here = 0;
	for (long i = 0; i < 2 * LVM_REAPER_BACKLOG; i++) {
		if (lvm_reaper_defer(record, (void *)i))
			deferred++;
		else
			here++;
	}
	CHECK(deferred <= LVM_REAPER_BACKLOG);
	CHECK(here >= LVM_REAPER_BACKLOG);
	pthread_mutex_lock(&lock);
	int ran_here = 0;
	for (int i = 0; i < ran; i++)
		ran_here += pthread_equal(ran_on[i], pthread_self());
	CHECK_EQ_U64(ran_here, here); /* the ones refused ran on this thread, at once */
	gate_open = true;
	pthread_cond_broadcast(&opened);
	pthread_mutex_unlock(&lock);
	lvm_reaper_drain();
	CHECK_EQ_U64(ran, 2 * LVM_REAPER_BACKLOG + 1);
}

int main(void)
{
	RUN_TEST(test_runs_all_in_order);
	RUN_TEST(test_full_backlog_runs_here);
	return check_failures != 0;
}
