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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "devices/virtio/gate.h"
#include "devices/virtio/transport.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/state.h"

#define RXQ 0
#define TXQ 1
#define HDR_LEN sizeof(struct virtio_net_hdr_v1)
#define FRAME_MAX (HDR_LEN + 65550u)

struct lvm_net {
	struct lvm_virtio_transport *transport;
	int tap_fd;
	int ctl_fd;            /* a datagram socket for SIOCGIFFLAGS on the tap */
	char tap_name[IFNAMSIZ];
	uint64_t link_checked_ns; /* when the I/O thread last read the tap's flags */
	uint8_t mac[6];
	struct lvm_net_stats stats;
	struct lvm_throttle throttle; /* both directions share it */
	/* One gate per direction, both with the NIC's filter and throttle. */
	struct lvm_gate rx_gate, tx_gate;
	size_t pending_len; /* a received frame waiting in bounce (and in rx_gate) */
	uint8_t bounce[FRAME_MAX];
	struct lvm_vq_chain chain;
	/* The transmit chain being worked on (it may wait in tx_gate). */
	bool tx_pending;
	struct lvm_vq_chain tx;
	uint8_t tx_frame[FRAME_MAX]; /* a flat copy for the filter (slow path) */
};

/* Whether a transmit chain holds a frame we can send (header + 1..65550 bytes). */
static bool sendable(const struct lvm_vq_chain *c)
{
	return c->out_len > HDR_LEN && c->out_len <= FRAME_MAX;
}

/* What the filter sees of the pending transmit frame: a flat copy of it. */
static bool describe_tx(void *arg, struct lvm_filter_request *req)
{
	struct lvm_net *net = arg;
	struct lvm_vq_chain *c = &net->tx;
	size_t len = lvm_iov_read(c->out, c->nout, HDR_LEN, net->tx_frame, c->out_len - HDR_LEN);
	*req = (struct lvm_filter_request){ .op = LVM_FILTER_TX, .length = (uint32_t)len,
					    .frame = net->tx_frame };
	return true;
}

/* What the filter sees of the received frame in bounce. */
static bool describe_rx(void *arg, struct lvm_filter_request *req)
{
	struct lvm_net *net = arg;
	*req = (struct lvm_filter_request){ .op = LVM_FILTER_RX,
					    .length = (uint32_t)(net->pending_len - HDR_LEN),
					    .frame = net->bounce + HDR_LEN };
	return true;
}

/* Whether the host side of the tap is up.  A down tap takes frames and
 * drops them without telling the writer, so this is the only way to know. */
static bool tap_up(const struct lvm_net *net)
{
	struct ifreq ifr = { 0 };
	memcpy(ifr.ifr_name, net->tap_name, sizeof(ifr.ifr_name));
	return net->ctl_fd < 0 || ioctl(net->ctl_fd, SIOCGIFFLAGS, &ifr) < 0 ||
	       (ifr.ifr_flags & IFF_UP);
}

/* The link state as of at most a second ago (one ioctl a second, not a frame). */
static bool link_up_now(struct lvm_net *net)
{
	uint64_t now = lvm_monotonic_ns();
	if (now - net->link_checked_ns >= 1000000000ull) {
		net->link_checked_ns = now;
		__atomic_store_n(&net->stats.link_up, tap_up(net) ? 1 : 0, __ATOMIC_RELAXED);
	}
	return __atomic_load_n(&net->stats.link_up, __ATOMIC_RELAXED) != 0;
}

static void transmit(struct lvm_net *net, struct lvm_vq_chain *c)
{
	if (!sendable(c))
		return; /* nothing to send or more than a frame: dropped */
	ssize_t n = writev(net->tap_fd, c->out, (int)c->nout);
	if (n > 0) {
		lvm_stat_add(&net->stats.tx_packets, 1);
		lvm_stat_add(&net->stats.tx_bytes, (uint64_t)n - HDR_LEN);
	}
	/* A down tap either refuses the write (EIO) or swallows the frame. */
	if (!link_up_now(net))
		lvm_stat_add(&net->stats.tx_while_down, 1);
}

static bool tx_next(struct lvm_net *net, struct lvm_virtio_transport *t)
{
	if (net->tx_pending)
		return true;
	do {
		if (lvm_virtio_pop(t, TXQ, &net->tx)) {
			net->tx_pending = true;
			lvm_gate_begin(&net->tx_gate,
				       sendable(&net->tx) ? net->tx.out_len - HDR_LEN : 0);
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
		uint64_t wait = 0;
		/* A chain that holds no frame is dropped without asking anyone. */
		enum lvm_gate_status s = sendable(&net->tx)
			? lvm_gate_admit(&net->tx_gate, &t->lock, describe_tx, net, &wait)
			: LVM_GATE_GO;
		if (s == LVM_GATE_GONE)
			break;
		if (s == LVM_GATE_WAIT) {
			lvm_virtio_arm_timer(t, wait);
			break;
		}
		if (s == LVM_GATE_REFUSED)
			lvm_stat_add(&net->stats.policy_dropped, 1);
		else
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
	uint64_t wait;
	switch (lvm_gate_admit(&net->rx_gate, &t->lock, describe_rx, net, &wait)) {
	case LVM_GATE_GO:
		return true;
	case LVM_GATE_WAIT:
		t->device_fd_paused = true; /* the timer resumes us */
		lvm_virtio_arm_timer(t, wait);
		return false;
	case LVM_GATE_REFUSED:
		lvm_stat_add(&net->stats.policy_dropped, 1);
		net->pending_len = 0;
		return false;
	case LVM_GATE_GONE: /* net_reset emptied bounce */
		return false;
	}
	return false;
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
			lvm_gate_begin(&net->rx_gate, (uint64_t)n - HDR_LEN);
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
			lvm_stat_add(&net->stats.rx_dropped, 1); /* buffer too small: truncated */
		lvm_stat_add(&net->stats.rx_packets, 1);
		lvm_stat_add(&net->stats.rx_bytes, net->pending_len - HDR_LEN);
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
	lvm_gate_reset(&net->rx_gate);
	lvm_gate_reset(&net->tx_gate);
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
	lvm_gate_init(&net->rx_gate, &net->throttle);
	lvm_gate_init(&net->tx_gate, &net->throttle);
	net->ctl_fd = -1;
	net->tap_fd = open_tap(tap);
	if (net->tap_fd < 0) {
		lvm_throttle_destroy(&net->throttle);
		free(net);
		return NULL;
	}
	snprintf(net->tap_name, sizeof(net->tap_name), "%s", tap);
	net->ctl_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	net->link_checked_ns = lvm_monotonic_ns();
	net->stats.link_up = tap_up(net);
	if (!net->stats.link_up)
		lvm_warn("tap %s is down: frames the guest sends are lost until it is up (ip link set %s up; net:stats().tx_while_down counts them)",
			 tap, tap);
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
	if (net->ctl_fd >= 0)
		close(net->ctl_fd);
	lvm_throttle_destroy(&net->throttle);
	free(net);
}

struct lvm_throttle *lvm_net_throttle(struct lvm_net *net)
{
	return &net->throttle;
}

void lvm_net_set_filter(struct lvm_net *net, const struct lvm_filter *policy)
{
	lvm_gate_set_filter(&net->rx_gate, policy);
	lvm_gate_set_filter(&net->tx_gate, policy);
}

struct lvm_net_stats lvm_net_stats(const struct lvm_net *net)
{
	struct lvm_net_stats s;
	lvm_stats_snapshot(&s, &net->stats, sizeof(s));
	return s;
}

/* ---- Snapshots ---- */

/*
 * A transmit chain waiting in its gate (a delay or the rate limit) is the
 * only request the NIC keeps across events: it goes out now.  A received
 * frame waiting in `bounce` is not the driver's request; like the frames
 * queued in the tap, it is not state (the original machine delivers it
 * after resume, a restored one never had it).  While quiesced the I/O
 * thread does not poll the tap at all.
 */
int lvm_net_quiesce(struct lvm_net *net)
{
	struct lvm_virtio_transport *t = net->transport;
	if (lvm_virtio_quiesce(t) < 0)
		return -1;
	pthread_mutex_lock(&t->lock);
	if (net->tx_pending) {
		enum lvm_filter_verdict v = net->tx_gate.verdict;
		if (v == LVM_FILTER_ALLOW || v == LVM_FILTER_DELAY)
			transmit(net, &net->tx);
		else
			lvm_stat_add(&net->stats.policy_dropped, 1);
		lvm_vq_push(&t->vq[TXQ], net->tx.head, 0);
		net->tx_pending = false;
		lvm_virtio_notify_used(t, TXQ);
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

void lvm_net_resume(struct lvm_net *net)
{
	lvm_virtio_resume(net->transport);
}

/* After the transport: the MAC and link status the driver read from the
 * configuration space (a restore into a NIC showing others is refused). */
void lvm_net_save(struct lvm_net *net, struct lvm_state_writer *w)
{
	lvm_virtio_save(net->transport, w);
	lvm_state_put_bytes(w, net->mac, sizeof(net->mac));
	lvm_state_put_u16(w, VIRTIO_NET_S_LINK_UP);
}

int lvm_net_load(struct lvm_net *net, struct lvm_state_reader *r)
{
	if (lvm_virtio_load(net->transport, r) < 0)
		return -1;
	uint8_t mac[6];
	lvm_state_get_bytes(r, mac, sizeof(mac));
	uint16_t status = lvm_state_get_u16(r);
	if (r->failed)
		return -1;
	if (memcmp(mac, net->mac, sizeof(mac)))
		return lvm_state_bad(r, "mac %02x:%02x:%02x:%02x:%02x:%02x, this NIC has %02x:%02x:%02x:%02x:%02x:%02x (the guest's driver keeps the one it read)",
				     mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], net->mac[0],
				     net->mac[1], net->mac[2], net->mac[3], net->mac[4], net->mac[5]);
	if (status != VIRTIO_NET_S_LINK_UP)
		return lvm_state_bad(r, "link status 0x%x, this NIC shows 0x%x", status,
				     VIRTIO_NET_S_LINK_UP);
	return 0;
}
