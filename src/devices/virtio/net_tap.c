/*
 * The tap backend: a host tap opened with IFF_VNET_HDR, so the 12-byte
 * header travels with every frame unchanged and a read or a write is one
 * frame.  A tap that is down takes frames and drops them without telling
 * the writer, so its flags are read (at most once a second) to count them.
 */
#include "devices/virtio/net_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/error.h"

struct tap {
	struct lvm_net_backend b;
	int ctl_fd; /* a datagram socket for SIOCGIFFLAGS on the tap */
	char name[IFNAMSIZ];
	uint64_t checked_ns; /* when the flags were last read */
	bool up;             /* as last read */
};

static bool read_up(const struct tap *tap)
{
	struct ifreq ifr = { 0 };
	memcpy(ifr.ifr_name, tap->name, sizeof(ifr.ifr_name));
	return tap->ctl_fd < 0 || ioctl(tap->ctl_fd, SIOCGIFFLAGS, &ifr) < 0 ||
	       (ifr.ifr_flags & IFF_UP);
}

static bool tap_carrier(struct lvm_net_backend *b)
{
	struct tap *tap = (struct tap *)b;
	uint64_t now = lvm_monotonic_ns();
	if (now - tap->checked_ns >= 1000000000ull) {
		tap->checked_ns = now;
		tap->up = read_up(tap);
	}
	return tap->up;
}

static ssize_t tap_send(struct lvm_net_backend *b, const struct iovec *iov, unsigned n, size_t len)
{
	(void)len;
	ssize_t w = writev(b->fd, iov, (int)n);
	return w > (ssize_t)sizeof(struct virtio_net_hdr_v1) ? w - (ssize_t)sizeof(struct virtio_net_hdr_v1)
							      : -1;
}

static size_t tap_recv(struct lvm_net_backend *b, void *buf, size_t cap)
{
	ssize_t n = read(b->fd, buf, cap);
	/* EAGAIN, or a runt without a frame after its header: nothing now. */
	return n > (ssize_t)sizeof(struct virtio_net_hdr_v1) ? (size_t)n : 0;
}

static void tap_free(struct lvm_net_backend *b)
{
	struct tap *tap = (struct tap *)b;
	if (b->fd >= 0)
		close(b->fd);
	if (tap->ctl_fd >= 0)
		close(tap->ctl_fd);
	free(tap);
}

static const struct lvm_net_backend_ops tap_ops = {
	.kind = "tap",
	.send = tap_send,
	.recv = tap_recv,
	.carrier = tap_carrier,
	.free = tap_free,
};

static int open_tap(const char *name)
{
	if (strlen(name) >= IFNAMSIZ)
		return lvm_fail("cannot open tap %s: name too long", name);
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return lvm_fail_errno("cannot open tap %s: /dev/net/tun", name);
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	memcpy(ifr.ifr_name, name, strlen(name));
	int hdr = sizeof(struct virtio_net_hdr_v1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return lvm_fail_errno("cannot open tap %s", name);
	}
	return fd;
}

struct lvm_net_backend *lvm_net_tap_new(const char *name)
{
	struct tap *tap = calloc(1, sizeof(*tap));
	if (!tap) {
		lvm_fail("out of memory");
		return NULL;
	}
	tap->b.ops = &tap_ops;
	tap->ctl_fd = -1;
	tap->b.fd = open_tap(name);
	if (tap->b.fd < 0) {
		free(tap);
		return NULL;
	}
	snprintf(tap->name, sizeof(tap->name), "%s", name);
	tap->ctl_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	tap->checked_ns = lvm_monotonic_ns();
	tap->up = read_up(tap);
	if (!tap->up)
		lvm_warn("tap %s is down: frames the guest sends are lost until it is up (ip link set %s up; net:stats().tx_while_down counts them)",
			 name, name);
	return &tap->b;
}
