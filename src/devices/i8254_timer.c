#include "devices/i8254_timer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"

struct lvm_i8254_timer {
	int timer_fd;
	int stop_fd;
	pthread_t thread;
	bool running;
	struct lvm_i8254 *pit;
};

static uint64_t mono_ns(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct timespec to_timespec(uint64_t ns)
{
	return (struct timespec){ (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
}

static void arm(void *ctx, uint64_t deadline_ns, uint64_t period_ns)
{
	struct lvm_i8254_timer *t = ctx;
	struct itimerspec its = { to_timespec(period_ns), to_timespec(deadline_ns) };
	timerfd_settime(t->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

struct lvm_i8254_clock lvm_i8254_timer_clock(struct lvm_i8254_timer *t)
{
	return (struct lvm_i8254_clock){ mono_ns, arm, t };
}

struct lvm_i8254_timer *lvm_i8254_timer_new(void)
{
	struct lvm_i8254_timer *t = calloc(1, sizeof(*t));
	if (!t) {
		lvm_fail("out of memory");
		return NULL;
	}
	t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->timer_fd < 0 || t->stop_fd < 0) {
		lvm_fail_errno("i8254: timerfd/eventfd");
		lvm_i8254_timer_free(t);
		return NULL;
	}
	return t;
}

static void *timer_thread(void *arg)
{
	struct lvm_i8254_timer *t = arg;
	struct pollfd fds[2] = { { t->timer_fd, POLLIN, 0 }, { t->stop_fd, POLLIN, 0 } };
	for (;;) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		uint64_t expiries;
		if (fds[0].revents && read(t->timer_fd, &expiries, sizeof(expiries)) > 0)
			lvm_i8254_timer_fired(t->pit);
	}
	return NULL;
}

int lvm_i8254_timer_start(struct lvm_i8254_timer *t, struct lvm_i8254 *pit)
{
	t->pit = pit;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&t->thread, NULL, timer_thread, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return lvm_fail_errno("i8254: cannot start the timer thread");
	}
	t->running = true;
	return 0;
}

void lvm_i8254_timer_free(struct lvm_i8254_timer *t)
{
	if (!t)
		return;
	if (t->running) {
		uint64_t one = 1;
		ssize_t ignored = write(t->stop_fd, &one, sizeof(one));
		(void)ignored;
		pthread_join(t->thread, NULL);
	}
	if (t->timer_fd >= 0)
		close(t->timer_fd);
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	free(t);
}
