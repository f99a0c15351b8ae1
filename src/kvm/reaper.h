/*
 * Teardown off the caller's thread.  Closing a VM's file descriptor makes
 * the kernel tear the VM down (its MMU, its vCPUs, SRCU grace periods)
 * before close() returns, and unmapping guest RAM walks its page tables:
 * work nobody waits for once the guest has stopped.  The reaper runs such
 * jobs on one background thread, in order, so vm:close() returns as soon as
 * the machine's own parts (devices, files, sockets) are gone.
 *
 * Only jobs that free what no one else can reach belong here (a VM's own
 * fds and mappings).  When the reaper cannot take a job (its thread cannot
 * be started, or LVM_REAPER_BACKLOG jobs are already waiting: a recipe
 * closing machines faster than the kernel frees them must not pile up fds
 * and RAM), the job runs at once on the caller's thread.  Every pending job
 * has run, and the thread is joined, before the process exits normally or
 * the library holding this code is unloaded, so nothing is left behind.
 */
#ifndef LVM_KVM_REAPER_H
#define LVM_KVM_REAPER_H

#include <stdbool.h>

#define LVM_REAPER_BACKLOG 8
/* Its name in /proc/PID/task/TID/comm: leak checks count every other thread. */
#define LVM_REAPER_THREAD_NAME "luavmm-reaper"

/* Runs fn(arg) on the reaper thread later, or now (see above).  Returns true if deferred. */
bool lvm_reaper_defer(void (*fn)(void *arg), void *arg);

/* Waits until every job deferred so far has run. */
void lvm_reaper_drain(void);

#endif
