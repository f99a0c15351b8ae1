#include "kvm/reaper.h"

#include <pthread.h>
#include <signal.h>

struct job {
	void (*fn)(void *arg);
	void *arg;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work, idle;
	struct job ring[LVM_REAPER_BACKLOG];
	unsigned head, count;
	bool busy;    /* the thread is running a job it took off the ring */
	bool started; /* the thread exists */
	bool quit;    /* it is to finish the ring and return */
	pthread_t thread;
	bool broken;  /* it could not be started: run everything at once */
} reaper = { .lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
	     .idle = PTHREAD_COND_INITIALIZER };

static void *reaper_main(void *unused)
{
	(void)unused;
	pthread_setname_np(pthread_self(), LVM_REAPER_THREAD_NAME);
	pthread_mutex_lock(&reaper.lock);
	for (;;) {
		while (reaper.count == 0) {
			reaper.busy = false;
			pthread_cond_broadcast(&reaper.idle);
			if (reaper.quit) {
				pthread_mutex_unlock(&reaper.lock);
				return NULL;
			}
			pthread_cond_wait(&reaper.work, &reaper.lock);
		}
		struct job job = reaper.ring[reaper.head];
		reaper.head = (reaper.head + 1) % LVM_REAPER_BACKLOG;
		reaper.count--;
		reaper.busy = true;
		pthread_mutex_unlock(&reaper.lock);
		job.fn(job.arg);
		pthread_mutex_lock(&reaper.lock);
	}
	return NULL;
}

/*
 * At exit, or when luavmm's Lua module is unloaded (lua_close dlcloses C
 * modules): finish the ring and join the thread, so no job is lost and no
 * thread is left running code that is about to be unmapped.
 */
__attribute__((destructor)) static void stop_reaper(void)
{
	pthread_mutex_lock(&reaper.lock);
	bool started = reaper.started;
	reaper.quit = true;
	pthread_cond_signal(&reaper.work);
	pthread_mutex_unlock(&reaper.lock);
	if (started)
		pthread_join(reaper.thread, NULL);
	pthread_mutex_lock(&reaper.lock);
	reaper.started = false;
	reaper.broken = true; /* anything later runs at once */
	pthread_mutex_unlock(&reaper.lock);
}

/* Starts the thread with every signal blocked: it never takes the process's
 * signals (SIGINT, the vCPU kick) from the threads that expect them.  Lock held. */
static bool start_locked(void)
{
	if (reaper.started || reaper.broken || reaper.quit)
		return reaper.started && !reaper.quit;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	reaper.started = pthread_create(&reaper.thread, &attr, reaper_main, NULL) == 0;
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	reaper.broken = !reaper.started;
	return reaper.started;
}

bool lvm_reaper_defer(void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&reaper.lock);
	bool queued = reaper.count < LVM_REAPER_BACKLOG && start_locked();
	if (queued) {
		reaper.ring[(reaper.head + reaper.count) % LVM_REAPER_BACKLOG] =
			(struct job){ fn, arg };
		reaper.count++;
		reaper.busy = true;
		pthread_cond_signal(&reaper.work);
	}
	pthread_mutex_unlock(&reaper.lock);
	if (!queued)
		fn(arg);
	return queued;
}

void lvm_reaper_drain(void)
{
	pthread_mutex_lock(&reaper.lock);
	while (reaper.started && (reaper.count > 0 || reaper.busy))
		pthread_cond_wait(&reaper.idle, &reaper.lock);
	pthread_mutex_unlock(&reaper.lock);
}
