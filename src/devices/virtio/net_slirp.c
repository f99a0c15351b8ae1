/*
 * The user backend: libslirp, a TCP/IP stack in user space, answers the
 * guest's DHCP, ARP and DNS and carries its TCP, UDP and ICMP echo over
 * ordinary host sockets (NAT), so the guest reaches the host's network
 * without root; forwards listen on host ports and connect to the guest.
 *
 * libslirp is not thread-safe and wants its own loop (its sockets to
 * poll, its timers), so each user net has a thread that owns its Slirp:
 * the NIC's I/O thread hands frames over through one frame queue (whose
 * eventfd the slirp thread polls beside slirp's sockets) and gets frames
 * back through another (whose eventfd is the backend's fd).  The thread
 * runs under its own seccomp profile (kvm/seccomp.h LVM_SECCOMP_NET).
 *
 * Nothing of slirp's state is saved with a snapshot: a restored or forked
 * machine gets a fresh user network (same addresses, so a lease the guest
 * holds stays valid; open TCP connections are gone).
 */
#include "devices/virtio/net_backend.h"

#include "util/error.h"

#ifndef LUAVMM_HAVE_SLIRP

struct lvm_net_backend *lvm_net_user_new(struct lvm_vm *vm, const struct lvm_net_user_config *c)
{
	(void)vm;
	(void)c;
	lvm_fail("user: this luavmm was built without libslirp (install libslirp-dev and rebuild)");
	return NULL;
}

#else

#include <arpa/inet.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/slirp_lib.h"

#include "kvm/seccomp.h"
#include "util/clock.h"
#include "util/frame_queue.h"

#define HDR_LEN sizeof(struct virtio_net_hdr_v1)
#define POLL_FIXED 2 /* stop_fd and the frames from the NIC come first */

struct timer {
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
	struct timer *next;
};

struct user {
	struct lvm_net_backend b;
	struct lvm_vm *vm;
	const struct lvm_slirp_lib *lib;
	Slirp *slirp;
	struct lvm_frame_queue *to_guest, *to_net;
	int stop_fd;
	pthread_t thread;
	bool started;
	struct timer *timers;
	struct pollfd *fds; /* slirp thread only */
	unsigned nfds, cap;
	uint8_t out[LVM_FRAME_MAX]; /* I/O thread: a flat copy of the frame being sent */
	uint8_t in[LVM_FRAME_MAX];  /* slirp thread: the frame being handed to slirp */
};

/* ---- libslirp's callbacks (the slirp thread, or slirp_new's caller) ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct user *u = opaque;
	lvm_frame_queue_push(u->to_guest, buf, len); /* full: counted, TCP resends */
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	/* A hostile guest could say this at any rate: not printed. */
	(void)msg;
	(void)opaque;
}

static int64_t cb_clock_get_ns(void *opaque)
{
	(void)opaque;
	return (int64_t)lvm_monotonic_ns();
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct user *u = opaque;
	struct timer *t = calloc(1, sizeof(*t));
	if (!t)
		abort(); /* libslirp has no way to be told (it g_new's its own) */
	*t = (struct timer){ .id = id, .cb_opaque = cb_opaque, .expire_ms = -1, .next = u->timers };
	u->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct user *u = opaque;
	for (struct timer **p = &u->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = ((struct timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct timer *)timer)->expire_ms = expire_ms;
}

static void cb_poll_fd(int fd, void *opaque)
{
	/* Every wait asks slirp for its sockets afresh: nothing to keep. */
	(void)fd;
	(void)opaque;
}

static void cb_notify(void *opaque)
{
	(void)opaque; /* only for guestfwd, which is not used */
}

static const SlirpCb callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_poll_fd,
	.unregister_poll_fd = cb_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

/* ---- The slirp thread ---- */

static int add_poll(int fd, int events, void *opaque)
{
	struct user *u = opaque;
	if (u->nfds == u->cap) {
		unsigned cap = u->cap * 2;
		struct pollfd *fds = realloc(u->fds, cap * sizeof(*fds));
		if (!fds)
			return -1; /* slirp skips a socket it has no index for */
		u->fds = fds;
		u->cap = cap;
	}
	short ev = (short)(((events & SLIRP_POLL_IN) ? POLLIN : 0) |
			   ((events & SLIRP_POLL_OUT) ? POLLOUT : 0) |
			   ((events & SLIRP_POLL_PRI) ? POLLPRI : 0));
	u->fds[u->nfds] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)u->nfds++;
}

static int get_revents(int idx, void *opaque)
{
	struct user *u = opaque;
	if (idx < POLL_FIXED || (unsigned)idx >= u->nfds)
		return 0;
	short r = u->fds[idx].revents;
	return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
	       ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
	       ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

/* Milliseconds until the first armed timer (UINT32_MAX: none). */
static uint32_t timers_timeout(const struct user *u)
{
	int64_t now = (int64_t)(lvm_monotonic_ns() / 1000000u);
	uint32_t timeout = UINT32_MAX;
	for (const struct timer *t = u->timers; t; t = t->next) {
		if (t->expire_ms < 0)
			continue;
		int64_t d = t->expire_ms - now;
		uint32_t ms = d <= 0 ? 0 : d >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)d;
		if (ms < timeout)
			timeout = ms;
	}
	return timeout;
}

static void timers_run(struct user *u)
{
	int64_t now = (int64_t)(lvm_monotonic_ns() / 1000000u);
	bool fired;
	do { /* a handler may free or re-arm timers: rescan after each */
		fired = false;
		for (struct timer *t = u->timers; t; t = t->next) {
			if (t->expire_ms >= 0 && t->expire_ms <= now) {
				t->expire_ms = -1;
				u->lib->handle_timer(u->slirp, t->id, t->cb_opaque);
				fired = true;
				break;
			}
		}
	} while (fired);
}

static void *slirp_thread(void *opaque)
{
	struct user *u = opaque;
	if (lvm_seccomp_enter(LVM_SECCOMP_NET, u->vm) < 0)
		return NULL; /* the VM stopped saying why */
	for (;;) {
		uint32_t timeout = timers_timeout(u);
		u->nfds = POLL_FIXED;
		u->fds[0] = (struct pollfd){ .fd = u->stop_fd, .events = POLLIN };
		u->fds[1] = (struct pollfd){ .fd = lvm_frame_queue_fd(u->to_net), .events = POLLIN };
		u->lib->pollfds_fill(u->slirp, &timeout, add_poll, u);
		int rc = poll(u->fds, u->nfds, timeout == UINT32_MAX ? -1 : (int)timeout);
		if (rc < 0 && errno != EINTR) {
			lvm_vm_stop(u->vm, LVM_STOP_ERROR, 0, "user network: poll: %s", strerror(errno));
			break;
		}
		if (rc > 0 && u->fds[0].revents)
			break;
		u->lib->pollfds_poll(u->slirp, rc < 0, get_revents, u);
		size_t n;
		while ((n = lvm_frame_queue_pop(u->to_net, u->in, sizeof(u->in))))
			u->lib->input(u->slirp, u->in, (int)n);
		timers_run(u);
	}
	return NULL;
}

/* ---- The backend, as the NIC sees it ---- */

static ssize_t user_send(struct lvm_net_backend *b, const struct iovec *iov, unsigned n, size_t len)
{
	struct user *u = (struct user *)b;
	if (len <= HDR_LEN || len - HDR_LEN > sizeof(u->out))
		return -1;
	size_t skip = HDR_LEN, at = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t l = iov[i].iov_len, drop = skip < l ? skip : l;
		skip -= drop;
		memcpy(u->out + at, (const uint8_t *)iov[i].iov_base + drop, l - drop);
		at += l - drop;
	}
	return lvm_frame_queue_push(u->to_net, u->out, at) ? (ssize_t)at : -1;
}

static size_t user_recv(struct lvm_net_backend *b, void *buf, size_t cap)
{
	struct user *u = (struct user *)b;
	if (cap <= HDR_LEN)
		return 0;
	size_t n = lvm_frame_queue_pop(u->to_guest, (uint8_t *)buf + HDR_LEN, cap - HDR_LEN);
	if (!n)
		return 0;
	memset(buf, 0, HDR_LEN);
	return HDR_LEN + n;
}

static uint64_t user_dropped(struct lvm_net_backend *b)
{
	struct user *u = (struct user *)b;
	return lvm_frame_queue_dropped(u->to_guest) + lvm_frame_queue_dropped(u->to_net);
}

static int user_start(struct lvm_net_backend *b)
{
	struct user *u = (struct user *)b;
	int rc = pthread_create(&u->thread, NULL, slirp_thread, u);
	if (rc) {
		errno = rc;
		return lvm_fail_errno("user: thread");
	}
	u->started = true;
	return 0;
}

static void user_free(struct lvm_net_backend *b)
{
	struct user *u = (struct user *)b;
	if (u->started) {
		uint64_t one = 1;
		ssize_t ignored = write(u->stop_fd, &one, sizeof(one));
		(void)ignored;
		pthread_join(u->thread, NULL);
	}
	if (u->slirp)
		u->lib->cleanup(u->slirp); /* closes its sockets, frees its timers */
	while (u->timers)
		cb_timer_free(u->timers, u);
	lvm_frame_queue_free(u->to_guest);
	lvm_frame_queue_free(u->to_net);
	if (u->stop_fd >= 0)
		close(u->stop_fd);
	free(u->fds);
	free(u);
}

static const struct lvm_net_backend_ops user_ops = {
	.kind = "user",
	.send = user_send,
	.recv = user_recv,
	.dropped = user_dropped,
	.start = user_start,
	.free = user_free,
};

static struct in_addr addr(const char *dotted)
{
	struct in_addr a;
	inet_pton(AF_INET, dotted, &a);
	return a;
}

static Slirp *new_slirp(struct user *u)
{
	SlirpConfig cfg = {
		.version = 4,
		.in_enabled = true,
		.vnetwork = addr(LVM_NET_USER_NETWORK),
		.vnetmask = addr(LVM_NET_USER_NETMASK),
		.vhost = addr(LVM_NET_USER_GATEWAY),
		.vdhcp_start = addr(LVM_NET_USER_GUEST),
		.vnameserver = addr(LVM_NET_USER_DNS),
	};
	return u->lib->new_slirp(&cfg, &callbacks, u);
}

static int add_forwards(struct user *u, const struct lvm_net_user_config *c)
{
	for (unsigned i = 0; i < c->nforwards; i++) {
		const struct lvm_net_forward *f = &c->forward[i];
		errno = 0;
		if (u->lib->add_hostfwd(u->slirp, f->udp, f->host_addr, f->host_port,
				      addr(LVM_NET_USER_GUEST), f->guest_port) == 0)
			continue;
		char host[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &f->host_addr, host, sizeof(host));
		const char *why = errno ? strerror(errno) : "refused";
		return lvm_fail("forward[%u]: cannot listen on %s:%u (%s): %s", i + 1, host,
				f->host_port, f->udp ? "udp" : "tcp", why);
	}
	return 0;
}

struct lvm_net_backend *lvm_net_user_new(struct lvm_vm *vm, const struct lvm_net_user_config *c)
{
	struct user *u = calloc(1, sizeof(*u));
	if (!u) {
		lvm_fail("out of memory");
		return NULL;
	}
	u->b.ops = &user_ops;
	u->vm = vm;
	u->lib = lvm_slirp_lib();
	if (!u->lib) {
		free(u);
		return NULL;
	}
	u->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->cap = 16;
	u->fds = calloc(u->cap, sizeof(*u->fds));
	u->to_guest = lvm_frame_queue_new();
	u->to_net = lvm_frame_queue_new();
	if (u->stop_fd < 0 || !u->fds || !u->to_guest || !u->to_net) {
		lvm_fail("user: cannot set the network up (out of memory or descriptors)");
		user_free(&u->b);
		return NULL;
	}
	u->b.fd = lvm_frame_queue_fd(u->to_guest);
	u->slirp = new_slirp(u);
	if (!u->slirp) {
		lvm_fail("user: libslirp refused its configuration");
		user_free(&u->b);
		return NULL;
	}
	if (add_forwards(u, c) < 0) {
		user_free(&u->b);
		return NULL;
	}
	return &u->b;
}

#endif
