/*
 * Per-thread seccomp-bpf filters (libseccomp): each vCPU thread and each
 * virtio I/O thread installs, as it starts, a filter allowing only the
 * system calls its class needs; any other call kills the whole process
 * with SIGSYS (SECCOMP_RET_KILL_PROCESS).  Filters are per thread (no
 * TSYNC): the control thread, which runs Lua and opens files, is not
 * filtered.  See README "Security model".
 */
#ifndef LVM_KVM_SECCOMP_H
#define LVM_KVM_SECCOMP_H

#include <stdbool.h>

struct lvm_vm;

enum lvm_seccomp_profile {
	LVM_SECCOMP_VCPU, /* KVM_RUN loop: ioctl, console and eventfd writes, futexes */
	LVM_SECCOMP_IO,   /* device I/O: poll, image and tap I/O, timerfd, getrandom */
	LVM_SECCOMP_NET,  /* a user network's libslirp thread: inet sockets, resolv.conf */
};
#define LVM_SECCOMP_PROFILES 3

/* Turns the filters off (luavmm run --no-seccomp).  Without this call they
 * are on unless LUAVMM_SECCOMP=0 is in the environment; sanitizer builds
 * never install them (the sanitizers' runtime needs far more calls). */
void lvm_seccomp_disable(void);
bool lvm_seccomp_enabled(void);

/*
 * Installs `profile`'s filter on the calling thread.  On failure stops `vm`
 * with reason "error" naming the thread class and returns -1: the thread
 * must not go on unfiltered.  Test knob: LUAVMM_SECCOMP_TEST=vcpu or io
 * makes the matching thread call socket() once after installing its filter
 * (read once per thread start, never in a loop); =net makes a user
 * network's thread open a netlink socket, which its profile refuses.
 */
int lvm_seccomp_enter(enum lvm_seccomp_profile profile, struct lvm_vm *vm);
/* Compiles the filters of every thread class once per process (VM
 * creation calls it, so a thread never needs a file descriptor for it
 * later, when a recipe may have used them all up); -1 + lvm_error. */
int lvm_seccomp_prepare(void);

#endif
