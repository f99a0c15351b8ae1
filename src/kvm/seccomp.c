#include "kvm/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kvm/vm.h"
#include "util/error.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LVM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LVM_SANITIZED 1
#endif
#endif

/* Every thread: glibc (malloc arenas, futex-based locks, thread exit),
 * signals (the vCPU kick, abort) and clocks when the vDSO falls back. */
static const int common_calls[] = {
	SCMP_SYS(futex), SCMP_SYS(madvise), SCMP_SYS(mmap), SCMP_SYS(munmap),
	SCMP_SYS(mprotect), SCMP_SYS(mremap), SCMP_SYS(brk), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(sigaltstack), SCMP_SYS(restart_syscall),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(sched_yield), SCMP_SYS(gettid), SCMP_SYS(getpid), SCMP_SYS(tgkill),
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(read), SCMP_SYS(write),
	SCMP_SYS(writev), SCMP_SYS(getrandom), SCMP_SYS(rseq),
};

/* The KVM_RUN loop: ioctl on the vCPU fd, console output (write to the
 * sink), eventfd writes (hook queue, stop), futexes for parked vCPUs, and
 * a virtio device's timerfd re-armed by a register write (queue reset). */
static const int vcpu_calls[] = {
	SCMP_SYS(ioctl), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(timerfd_settime),
	SCMP_SYS(timerfd_gettime), SCMP_SYS(set_robust_list),
};

/* A virtio device's I/O thread: poll on its eventfds, tap and timerfd;
 * block I/O on the image; frames to and from the tap; entropy for rng;
 * vsock's unix sockets (accept4 on its listener, send/recv on the
 * connections, shutdown and close when they end, its epoll set; socket
 * and connect are allowed for AF_UNIX only, below). */
static const int io_calls[] = {
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(ioctl), SCMP_SYS(readv),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
	SCMP_SYS(preadv2), SCMP_SYS(pwritev2), SCMP_SYS(fdatasync), SCMP_SYS(fsync),
	SCMP_SYS(fallocate), SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime),
	SCMP_SYS(lseek), SCMP_SYS(set_robust_list),
	SCMP_SYS(accept4), SCMP_SYS(connect), SCMP_SYS(sendto), SCMP_SYS(recvfrom),
	SCMP_SYS(shutdown), SCMP_SYS(close), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
	SCMP_SYS(epoll_ctl),
};

/*
 * A user network's thread (devices/virtio/net_slirp.c): libslirp carries
 * the guest's connections over host sockets, so this thread may open
 * AF_INET sockets (below) and use them: connect for the guest's outgoing
 * TCP, accept for a forward's incoming connections (listen and bind
 * happen at set-up, on the control thread, but a UDP flow binds its
 * socket), the socket options it sets, FIONREAD (the only ioctl, below)
 * and fcntl for O_NONBLOCK.  For DNS it reads the host's resolver from
 * /etc/resolv.conf (re-checked with stat at most once a second): opening
 * files read-only is allowed (below), nothing that writes or creates.
 * It never touches KVM, images, taps or unix sockets.
 */
static const int net_calls[] = {
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(set_robust_list), SCMP_SYS(connect),
	SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4),
	SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg),
	SCMP_SYS(shutdown), SCMP_SYS(close), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(fcntl), SCMP_SYS(readv),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(stat), SCMP_SYS(lseek),
};

static int disabled = -1; /* -1: not decided yet */

void lvm_seccomp_disable(void)
{
	disabled = 1;
}

bool lvm_seccomp_enabled(void)
{
#ifdef LVM_SANITIZED
	return false;
#else
	if (disabled < 0) {
		const char *env = getenv("LUAVMM_SECCOMP");
		disabled = env && strcmp(env, "0") == 0;
	}
	return !disabled;
#endif
}

static int allow_all(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The argument-checked rules of the user network's thread (net_calls). */
static int net_rules(scmp_filter_ctx ctx)
{
	int rc = allow_all(ctx, net_calls, sizeof(net_calls) / sizeof(net_calls[0]));
	/* Spelled out for clang's -Wmissing-field-initializers, as below. */
	struct scmp_arg_cmp inet = { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_INET, .datum_b = 0 };
	struct scmp_arg_cmp fionread = { .arg = 1, .op = SCMP_CMP_EQ, .datum_a = FIONREAD,
					 .datum_b = 0 };
	/* openat(dirfd, path, flags): nothing but O_RDONLY among these bits. */
	struct scmp_arg_cmp rdonly = { .arg = 2, .op = SCMP_CMP_MASKED_EQ,
				       .datum_a = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND,
				       .datum_b = O_RDONLY };
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, inet);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, fionread);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, rdonly);
	return rc;
}

/*
 * vCPU threads start the later vCPUs' threads (kvm/vm.c, lvm_vm_start_aps),
 * which inherit the filter: clone for a thread of this process only
 * (CLONE_VM | CLONE_SIGHAND | CLONE_THREAD all set; no new process), and
 * clone3, whose flags are in memory a filter cannot read, answers ENOSYS
 * so that glibc falls back to clone.  A thread made this way carries the
 * same filter, so it can do nothing its creator could not.
 */
static int vcpu_thread_rules(scmp_filter_ctx ctx)
{
	const uint64_t thread = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD;
	struct scmp_arg_cmp flags = { .arg = 0, .op = SCMP_CMP_MASKED_EQ, .datum_a = thread,
				      .datum_b = thread };
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, flags);
	return rc == 0 ? seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) : rc;
}

/* The rules of one thread class, as a libseccomp context. */
static scmp_filter_ctx build(enum lvm_seccomp_profile profile)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return NULL;
	int rc = allow_all(ctx, common_calls, sizeof(common_calls) / sizeof(common_calls[0]));
	if (rc == 0 && profile == LVM_SECCOMP_VCPU)
		rc = allow_all(ctx, vcpu_calls, sizeof(vcpu_calls) / sizeof(vcpu_calls[0]));
	if (rc == 0 && profile == LVM_SECCOMP_VCPU)
		rc = vcpu_thread_rules(ctx);
	if (rc == 0 && profile == LVM_SECCOMP_IO)
		rc = allow_all(ctx, io_calls, sizeof(io_calls) / sizeof(io_calls[0]));
	if (rc == 0 && profile == LVM_SECCOMP_IO) { /* vsock: "<path>_<port>" only */
		/* Spelled out: SCMP_A0() leaves datum_b implicit, which clang's
		 * -Wmissing-field-initializers rejects. */
		struct scmp_arg_cmp unix_only = { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_UNIX,
						  .datum_b = 0 };
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, unix_only);
	}
	if (rc == 0 && profile == LVM_SECCOMP_NET)
		rc = net_rules(ctx);
	if (rc < 0) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * Each class's filter compiled to BPF once per process: libseccomp takes
 * ~150 us to build one, which a 64-vCPU machine paid 64 times.  Every
 * thread then loads the same program (filters are per thread: no TSYNC).
 */
static struct sock_fprog compiled[LVM_SECCOMP_PROFILES];
static pthread_mutex_t compile_lock = PTHREAD_MUTEX_INITIALIZER;

static int compile(enum lvm_seccomp_profile profile, struct sock_fprog *out)
{
	scmp_filter_ctx ctx = build(profile);
	int fd = ctx ? memfd_create("luavmm-seccomp", MFD_CLOEXEC) : -1;
	int rc = fd < 0 ? -ENOMEM : seccomp_export_bpf(ctx, fd);
	off_t size = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
	struct sock_filter *prog = size > 0 ? malloc((size_t)size) : NULL;
	if (prog && pread(fd, prog, (size_t)size, 0) == size) {
		*out = (struct sock_fprog){ (unsigned short)((size_t)size / sizeof(*prog)), prog };
		rc = 0;
	} else {
		free(prog);
		rc = rc < 0 ? rc : -EIO;
	}
	if (fd >= 0)
		close(fd);
	if (ctx)
		seccomp_release(ctx);
	return rc;
}

static int compiled_for(enum lvm_seccomp_profile profile)
{
	struct sock_fprog *prog = &compiled[profile];
	pthread_mutex_lock(&compile_lock);
	int rc = prog->filter ? 0 : compile(profile, prog);
	pthread_mutex_unlock(&compile_lock);
	return rc;
}

int lvm_seccomp_prepare(void)
{
	if (!lvm_seccomp_enabled())
		return 0;
	/*
	 * glibc's malloc reads /sys/devices/system/cpu/online the first time
	 * a thread needs a new arena past the first few: a filtered vCPU or
	 * I/O thread of the ninth machine would die of that open.  Fixing the
	 * limit (glibc's own default: 8 per CPU) means it never asks.
	 */
	static bool arenas_fixed;
	if (!arenas_fixed) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		mallopt(M_ARENA_MAX, (int)(8 * (cpus > 0 ? cpus : 1)));
		arenas_fixed = true;
	}
	int rc = compiled_for(LVM_SECCOMP_VCPU);
	if (rc == 0)
		rc = compiled_for(LVM_SECCOMP_IO);
	if (rc == 0)
		rc = compiled_for(LVM_SECCOMP_NET);
	if (rc < 0) {
		errno = -rc;
		return lvm_fail_errno("seccomp: cannot build the system-call filters");
	}
	return 0;
}

static int load(enum lvm_seccomp_profile profile)
{
	struct sock_fprog *prog = &compiled[profile];
	int rc = compiled_for(profile);
	if (rc < 0)
		return rc;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
		return -errno;
	return 0;
}

static const char *profile_name(enum lvm_seccomp_profile profile)
{
	return profile == LVM_SECCOMP_VCPU ? "vcpu" : profile == LVM_SECCOMP_IO ? "io" : "net";
}

/* LUAVMM_SECCOMP_TEST=vcpu|io|net: one forbidden call, for the spec. */
static void test_knob(enum lvm_seccomp_profile profile)
{
	const char *knob = getenv("LUAVMM_SECCOMP_TEST");
	if (!knob || strcmp(knob, profile_name(profile)) != 0)
		return;
	if (profile == LVM_SECCOMP_NET) {
		/* AF_NETLINK: the user network's thread opens AF_INET sockets only. */
		int fd = socket(AF_NETLINK, SOCK_RAW, 0);
		if (fd >= 0)
			close(fd);
	} else {
		/* AF_INET: I/O threads may open AF_UNIX sockets (vsock), never these. */
		int fd = socket(AF_INET, SOCK_STREAM, 0); /* not reached with the filter on */
		if (fd >= 0)
			close(fd);
	}
}

int lvm_seccomp_enter(enum lvm_seccomp_profile profile, struct lvm_vm *vm)
{
	const char *who = profile == LVM_SECCOMP_VCPU ? "vCPU"
			  : profile == LVM_SECCOMP_IO ? "I/O" : "user network";
	if (lvm_seccomp_enabled()) {
		int rc = load(profile);
		if (rc < 0) {
			lvm_vm_stop(vm, LVM_STOP_ERROR, 0, "seccomp: cannot filter a %s thread: %s "
				    "(luavmm run --no-seccomp, or LUAVMM_SECCOMP=0, runs without)",
				    who, strerror(-rc));
			return -1;
		}
	}
	test_knob(profile);
	return 0;
}
