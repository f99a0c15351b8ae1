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

#include "util/error.h"
#include "devices/request_filter.h"
#include "util/throttle.h"
#include "devices/virtio/transport.h"

#define RXQ 0
#define TXQ 1
#define HDR_LEN sizeof(struct virtio_net_hdr_v1)
#define FRAME_MAX (HDR_LEN + 65550u)

struct lvm_net {
	struct lvm_virtio_transport *transport;
	int tap_fd;
	uint8_t mac[6];
	struct lvm_net_stats stats;
	const struct lvm_filter *policy; /* atomic; NULL: frames never leave C */
	struct lvm_throttle throttle;    /* both directions share it */
	uint64_t generation;             /* bumped by a device reset */
	size_t pending_len; /* a received frame waiting in bounce */
	bool rx_admitted;   /* ... that the policy and the rate limit let through */
	uint8_t bounce[FRAME_MAX];
	struct lvm_vq_chain chain;
	/* The transmit chain being worked on (it may wait for the rate limit). */
	bool tx_pending, tx_asked;
	enum lvm_filter_verdict tx_verdict;
	struct lvm_vq_chain tx;
	uint8_t tx_frame[FRAME_MAX]; /* a flat copy for the policy (slow path) */
};

#define GONE UINT64_MAX

static void count(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/*
 * Asks the policy about a frame with the transport lock released (it may
 * wait for the control thread).  GONE if the driver reset the device
 * meanwhile, else the verdict.
 */
static uint64_t ask_policy(struct lvm_net *net, struct lvm_virtio_transport *t,
			   enum lvm_filter_op dir, const void *frame, size_t len)
{
	const struct lvm_filter *p = __atomic_load_n(&net->policy, __ATOMIC_ACQUIRE);
	if (!p)
		return LVM_FILTER_ALLOW;
	struct lvm_filter_request req = { .op = dir, .length = (uint32_t)len, .frame = frame };
	uint64_t generation = net->generation;
	pthread_mutex_unlock(&t->lock);
	struct lvm_filter_result r = lvm_filter_check(p, &req);
	pthread_mutex_lock(&t->lock);
	if (generation != net->generation)
		return GONE;
	if (r.verdict == LVM_FILTER_DROP)
		count(&net->stats.policy_dropped, 1);
	return r.verdict;
}

/* 0: send the pending transmit chain now; GONE: it went with a reset; else ns to wait. */
static uint64_t tx_admit(struct lvm_net *net, struct lvm_virtio_transport *t)
{
	struct lvm_vq_chain *c = &net->tx;
	bool sendable = c->out_len > HDR_LEN && c->out_len <= FRAME_MAX;
	if (!net->tx_asked && sendable) {
		net->tx_asked = true;
		if (__atomic_load_n(&net->policy, __ATOMIC_ACQUIRE)) {
			size_t len = lvm_iov_read(c->out, c->nout, HDR_LEN, net->tx_frame,
						  c->out_len - HDR_LEN);
			uint64_t v = ask_policy(net, t, LVM_FILTER_TX, net->tx_frame, len);
			if (v == GONE || !net->tx_pending)
				return GONE;
			net->tx_verdict = (enum lvm_filter_verdict)v;
		}
	}
	if (!sendable || net->tx_verdict == LVM_FILTER_DROP)
		return 0;
	return lvm_throttle_admit(&net->throttle, c->out_len - HDR_LEN);
}

static void transmit(struct lvm_net *net, struct lvm_vq_chain *c)
{
	if (c->out_len <= HDR_LEN || c->out_len > FRAME_MAX || net->tx_verdict == LVM_FILTER_DROP)
		return; /* nothing to send, more than a frame, or refused: dropped */
	ssize_t n = writev(net->tap_fd, c->out, (int)c->nout);
	if (n > 0) {
		count(&net->stats.tx_packets, 1);
		count(&net->stats.tx_bytes, (uint64_t)n - HDR_LEN);
	}
}

static bool tx_next(struct lvm_net *net, struct lvm_virtio_transport *t)
{
	if (net->tx_pending)
		return true;
	do {
		if (lvm_virtio_pop(t, TXQ, &net->tx)) {
			net->tx_pending = true;
			net->tx_asked = false;
			net->tx_verdict = LVM_FILTER_ALLOW;
			return true;
		}
	} while (lvm_virtio_driver_ok(t) && lvm_vq_arm_notify(&t->vq[TXQ]));
	return false;
}

/* Sends frames in order until the queue is empty or one must wait. */
static void tx_run(struct lvm_net *net, struct lvm_virtio_transport *t)
{
	bool any = false;
	while (tx_next(net, t)) {
		uint64_t wait = tx_admit(net, t);
		if (wait == GONE)
			break;
		if (wait) {
			lvm_virtio_arm_timer(t, wait);
			break;
		}
		transmit(net, &net->tx);
		lvm_vq_push(&t->vq[TXQ], net->tx.head, 0);
		net->tx_pending = false;
		any = true;
	}
	if (any)
		lvm_virtio_notify_used(t, TXQ);
}

/* Whether the frame in bounce may go to the guest now; false: it waits
 * (timer armed), was dropped, or went with a reset (pending_len tells). */
static bool rx_admit(struct lvm_net *net, struct lvm_virtio_transport *t)
{
	if (!net->rx_admitted) {
		uint64_t v = ask_policy(net, t, LVM_FILTER_RX, net->bounce + HDR_LEN,
					net->pending_len - HDR_LEN);
		if (v == GONE || !net->pending_len)
			return false;
		if (v == LVM_FILTER_DROP) {
			net->pending_len = 0;
			return false;
		}
		net->rx_admitted = true;
	}
	uint64_t wait = lvm_throttle_admit(&net->throttle, net->pending_len - HDR_LEN);
	if (wait) {
		t->device_fd_paused = true; /* the timer resumes us */
		lvm_virtio_arm_timer(t, wait);
		return false;
	}
	return true;
}

/* Moves frames from the tap into receive buffers while both exist. */
static void receive(struct lvm_net *net, struct lvm_virtio_transport *t)
{
	bool any = false;
	for (;;) {
		if (!net->pending_len) {
			ssize_t n = read(net->tap_fd, net->bounce, sizeof(net->bounce));
			if (n <= (ssize_t)HDR_LEN)
				break; /* EAGAIN (or a runt): nothing more now */
			net->pending_len = (size_t)n;
			net->rx_admitted = false;
		}
		if (!rx_admit(net, t)) {
			if (net->pending_len)
				break; /* waits for the rate limit */
			continue;   /* dropped by the policy (or reset) */
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

static void net_queue_event(void *dev, struct lvm_virtio_transport *t, unsigned q)
{
	struct lvm_net *net = dev;
	if (q == TXQ) {
		tx_run(net, t);
		return;
	}
	t->device_fd_paused = false;
	receive(net, t);
}

static void net_device_event(void *dev, struct lvm_virtio_transport *t)
{
	struct lvm_net *net = dev;
	if (lvm_virtio_driver_ok(t))
		receive(net, t);
	else
		t->device_fd_paused = true; /* nobody to give frames to yet */
}

/* A rate-limit wait ended: send what waits, take frames again. */
static void net_timer_event(void *dev, struct lvm_virtio_transport *t)
{
	struct lvm_net *net = dev;
	tx_run(net, t);
	t->device_fd_paused = false;
	receive(net, t);
}

static void net_reset(void *dev)
{
	struct lvm_net *net = dev;
	net->pending_len = 0;
	net->tx_pending = false;
	net->generation++;
	lvm_virtio_arm_timer(net->transport, 0);
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
	.timer_event = net_timer_event,
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
	lvm_throttle_init(&net->throttle);
	net->tap_fd = open_tap(tap);
	if (net->tap_fd < 0) {
		lvm_throttle_destroy(&net->throttle);
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
	lvm_throttle_destroy(&net->throttle);
	free(net);
}

struct lvm_throttle *lvm_net_throttle(struct lvm_net *net)
{
	return &net->throttle;
}

void lvm_net_set_filter(struct lvm_net *net, const struct lvm_filter *policy)
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
