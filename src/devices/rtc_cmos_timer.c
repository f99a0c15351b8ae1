#include "devices/rtc_cmos_timer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "kvm/seccomp.h"
#include "util/error.h"

/* The thread's stack, set rather than inherited: a shell's `ulimit -s`
 * must not make the machine's creation fail (nor cost its RAM). */
#define TIMER_STACK (1u << 20)

struct lvm_rtc_cmos_timer {
	int timer_fd;
	int stop_fd;
	pthread_t thread;
	bool running;
	struct lvm_rtc_cmos *rtc;
	struct lvm_vm *vm;
};

/* The RTC's arm hook (called with its lock held, from any thread). */
static void arm(void *ctx, int64_t ns)
{
	struct lvm_rtc_cmos_timer *t = ctx;
	struct itimerspec its = { 0 }; /* all zero: disarmed */
	if (ns >= 0) {
		its.it_value.tv_sec = (time_t)(ns / 1000000000);
		its.it_value.tv_nsec = (long)(ns % 1000000000);
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1; /* zero would disarm: the epoch is long past */
	}
	timerfd_settime(t->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void *timer_thread(void *arg)
{
	struct lvm_rtc_cmos_timer *t = arg;
	if (lvm_seccomp_enter(LVM_SECCOMP_IO, t->vm) < 0)
		return NULL;
	struct pollfd fds[2] = { { t->timer_fd, POLLIN, 0 }, { t->stop_fd, POLLIN, 0 } };
	for (;;) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		uint64_t expiries;
		if ((fds[0].revents & POLLIN) && read(t->timer_fd, &expiries, sizeof(expiries)) > 0)
			lvm_rtc_cmos_tick(t->rtc);
	}
	return NULL;
}

static void free_timer(struct lvm_rtc_cmos_timer *t)
{
	if (t->timer_fd >= 0)
		close(t->timer_fd);
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	free(t);
}

struct lvm_rtc_cmos_timer *lvm_rtc_cmos_timer_start(struct lvm_rtc_cmos *rtc, struct lvm_vm *vm)
{
	struct lvm_rtc_cmos_timer *t = calloc(1, sizeof(*t));
	if (!t) {
		lvm_fail("out of memory");
		return NULL;
	}
	t->rtc = rtc;
	t->vm = vm;
	t->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->timer_fd < 0 || t->stop_fd < 0) {
		lvm_fail_errno("rtc: timerfd/eventfd");
		free_timer(t);
		return NULL;
	}
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, TIMER_STACK);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&t->thread, &attr, timer_thread, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		errno = rc;
		lvm_fail_errno("rtc: cannot start the timer thread");
		free_timer(t);
		return NULL;
	}
	t->running = true;
	lvm_rtc_cmos_set_arm(rtc, arm, t);
	return t;
}

void lvm_rtc_cmos_timer_stop(struct lvm_rtc_cmos_timer *t)
{
	if (!t)
		return;
	lvm_rtc_cmos_set_arm(t->rtc, NULL, NULL);
	uint64_t one = 1;
	ssize_t ignored = write(t->stop_fd, &one, sizeof(one));
	(void)ignored;
	pthread_join(t->thread, NULL);
	free_timer(t);
}
