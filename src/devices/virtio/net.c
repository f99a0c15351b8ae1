/*
 * virtio-net: receiveq 0 and transmitq 1 (§5.1.2) bridged to a tap fd.
 * Transmit chains are written to the tap as they are (header + frame);
 * received frames wait in one bounce buffer until the driver has a receive
 * buffer, and while one waits the I/O thread stops polling the tap.
 */
#include "devices/virtio/net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/error.h"
#include "devices/virtio/mmio.h"

#define RXQ 0
#define TXQ 1
#define HDR_LEN sizeof(struct virtio_net_hdr_v1)
#define FRAME_MAX (HDR_LEN + 65550u)

struct lvm_net {
	struct lvm_virtio *transport;
	int tap_fd;
	uint8_t mac[6];
	struct lvm_net_stats stats;
	const struct lvm_policy *policy; /* atomic; NULL: frames never leave C */
	size_t pending_len; /* a received frame waiting in bounce */
	uint8_t bounce[FRAME_MAX];
	struct lvm_vq_chain chain;
};

static void count(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static uint32_t transmit(void *dev, struct lvm_vq_chain *c)
{
	struct lvm_net *net = dev;
	if (c->out_len <= HDR_LEN || c->out_len > FRAME_MAX)
		return 0; /* nothing to send, or more than a frame: dropped */
	ssize_t n = writev(net->tap_fd, c->out, (int)c->nout);
	if (n > 0) {
		count(&net->stats.tx_packets, 1);
		count(&net->stats.tx_bytes, (uint64_t)n - HDR_LEN);
	}
	return 0;
}

/* Moves frames from the tap into receive buffers while both exist. */
static void receive(struct lvm_net *net, struct lvm_virtio *t)
{
	bool any = false;
	for (;;) {
		if (!net->pending_len) {
			ssize_t n = read(net->tap_fd, net->bounce, sizeof(net->bounce));
			if (n <= (ssize_t)HDR_LEN)
				break; /* EAGAIN (or a runt): nothing more now */
			net->pending_len = (size_t)n;
		}
		if (!lvm_virtio_pop(t, RXQ, &net->chain)) {
			t->device_fd_paused = true; /* until the driver posts buffers */
			break;
		}
		/* Without MRG_RXBUF one buffer holds one frame: num_buffers = 1. */
		struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)net->bounce;
		h->num_buffers = 1;
		size_t done = lvm_iov_write(net->chain.in, net->chain.nin, 0, net->bounce,
					    net->pending_len);
		if (done < net->pending_len)
			count(&net->stats.rx_dropped, 1); /* buffer too small: truncated */
		count(&net->stats.rx_packets, 1);
		count(&net->stats.rx_bytes, net->pending_len - HDR_LEN);
		lvm_vq_push(&t->vq[RXQ], net->chain.head, (uint32_t)done);
		net->pending_len = 0;
		any = true;
	}
	if (any)
		lvm_virtio_notify_used(t, RXQ);
}

static void net_queue_event(void *dev, struct lvm_virtio *t, unsigned q)
{
	struct lvm_net *net = dev;
	if (q == TXQ) {
		lvm_virtio_serve(t, q, &net->chain, transmit, net);
		return;
	}
	t->device_fd_paused = false;
	receive(net, t);
}

static void net_device_event(void *dev, struct lvm_virtio *t)
{
	struct lvm_net *net = dev;
	if (lvm_virtio_driver_ok(t))
		receive(net, t);
	else
		t->device_fd_paused = true; /* nobody to give frames to yet */
}

static void net_reset(void *dev)
{
	struct lvm_net *net = dev;
	net->pending_len = 0;
	net->transport->device_fd_paused = true;
}

static void net_read_config(void *dev, uint8_t *config)
{
	struct lvm_net *net = dev;
	struct virtio_net_config c = { .status = VIRTIO_NET_S_LINK_UP, .max_virtqueue_pairs = 1 };
	memcpy(c.mac, net->mac, 6);
	memcpy(config, &c, sizeof(c));
}

static const struct lvm_virtio_ops net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.num_queues = 2,
	.features = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS),
	.config_size = sizeof(struct virtio_net_config),
	.read_config = net_read_config,
	.queue_event = net_queue_event,
	.device_event = net_device_event,
	.reset = net_reset,
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
	int hdr = HDR_LEN;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return lvm_fail_errno("cannot open tap %s", name);
	}
	return fd;
}

struct lvm_net *lvm_net_new(struct lvm_vm *vm, uint64_t base, unsigned gsi, const char *tap,
			    const uint8_t mac[6])
{
	struct lvm_net *net = calloc(1, sizeof(*net));
	if (!net) {
		lvm_fail("out of memory");
		return NULL;
	}
	memcpy(net->mac, mac, 6);
	net->tap_fd = open_tap(tap);
	if (net->tap_fd < 0) {
		free(net);
		return NULL;
	}
	net->transport = lvm_virtio_new(vm, base, gsi, &net_ops, net);
	if (!net->transport) {
		lvm_net_free(net);
		return NULL;
	}
	lvm_virtio_set_device_fd(net->transport, net->tap_fd);
	return net;
}

int lvm_net_start(struct lvm_net *net)
{
	return lvm_virtio_start(net->transport);
}

void lvm_net_free(struct lvm_net *net)
{
	if (!net)
		return;
	lvm_virtio_free(net->transport);
	if (net->tap_fd >= 0)
		close(net->tap_fd);
	free(net);
}

void lvm_net_set_policy(struct lvm_net *net, const struct lvm_policy *policy)
{
	__atomic_store_n(&net->policy, policy, __ATOMIC_RELEASE);
}

struct lvm_net_stats lvm_net_stats(const struct lvm_net *net)
{
	struct lvm_net_stats s;
	const uint64_t *src = (const uint64_t *)&net->stats;
	uint64_t *dst = (uint64_t *)&s;
	for (size_t i = 0; i < sizeof(s) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	return s;
}
