/*
 * virtio-net: receiveq 0 and transmitq 1 (§5.1.2) bridged to a backend
 * (net_backend.h).  Transmit chains go to the backend as they are (header
 * + frame); received frames wait in one bounce buffer until the driver
 * has a receive buffer, and while one waits the I/O thread stops polling
 * the backend.  The cable (lvm_net_set_link) sits in between: while it is
 * out, frames are dropped in both directions before anything else sees
 * them (a frame already in the gate is dropped when it leaves it).
 */
#include "devices/virtio/net.h"

#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "devices/virtio/gate.h"
#include "devices/virtio/net_backend.h"
#include "devices/virtio/transport.h"
#include "util/error.h"
#include "util/state.h"

#define RXQ 0
#define TXQ 1
#define HDR_LEN sizeof(struct virtio_net_hdr_v1)
#define FRAME_MAX (HDR_LEN + 65550u)

struct lvm_net {
	struct lvm_virtio_transport *transport;
	struct lvm_net_backend *backend;
	bool link;        /* the cable: transport lock to write, atomic to read */
	uint64_t carrier; /* the backend's host side as last seen (atomic): 1 up */
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

static bool link_in(const struct lvm_net *net)
{
	return __atomic_load_n(&net->link, __ATOMIC_RELAXED);
}

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

/* Whether the host side carries frames (a tap that is up), kept for stats. */
static bool carrier_now(struct lvm_net *net)
{
	struct lvm_net_backend *b = net->backend;
	bool up = !b->ops->carrier || b->ops->carrier(b);
	__atomic_store_n(&net->carrier, up ? 1 : 0, __ATOMIC_RELAXED);
	return up;
}

static void transmit(struct lvm_net *net, struct lvm_vq_chain *c)
{
	if (!sendable(c))
		return; /* nothing to send or more than a frame: dropped */
	if (!link_in(net)) {
		lvm_stat_add(&net->stats.tx_while_down, 1); /* the cable is out */
		return;
	}
	struct lvm_net_backend *b = net->backend;
	ssize_t n = b->ops->send(b, c->out, c->nout, c->out_len);
	if (n > 0) {
		lvm_stat_add(&net->stats.tx_packets, 1);
		lvm_stat_add(&net->stats.tx_bytes, (uint64_t)n);
	}
	/* A down tap either refuses the write (EIO) or swallows the frame. */
	if (!carrier_now(net))
		lvm_stat_add(&net->stats.tx_while_down, 1);
}

static bool tx_next(struct lvm_net *net, struct lvm_virtio_transport *t)
{
	if (net->tx_pending)
		return true;
	do {
		while (!link_in(net) && lvm_virtio_pop(t, TXQ, &net->tx)) {
			/* The cable is out: gone before the filter or the rate limit. */
			if (sendable(&net->tx))
				lvm_stat_add(&net->stats.tx_while_down, 1);
			lvm_vq_push(&t->vq[TXQ], net->tx.head, 0);
			lvm_virtio_notify_used(t, TXQ);
		}
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

/* Moves frames from the backend into receive buffers while both exist. */
static void receive(struct lvm_net *net, struct lvm_virtio_transport *t)
{
	bool any = false;
	for (;;) {
		if (!net->pending_len) {
			struct lvm_net_backend *b = net->backend;
			size_t n = b->ops->recv(b, net->bounce, sizeof(net->bounce));
			if (n <= HDR_LEN)
				break; /* nothing more now */
			if (!link_in(net)) {
				lvm_stat_add(&net->stats.rx_while_down, 1);
				continue;
			}
			net->pending_len = n;
			lvm_gate_begin(&net->rx_gate, (uint64_t)n - HDR_LEN);
		}
		if (!rx_admit(net, t)) {
			if (net->pending_len)
				break; /* waits for the rate limit */
			continue;   /* dropped by the policy (or reset) */
		}
		if (!link_in(net)) { /* the cable went out while it waited */
			lvm_stat_add(&net->stats.rx_while_down, 1);
			net->pending_len = 0;
			continue;
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
	struct virtio_net_config c = { .status = link_in(net) ? VIRTIO_NET_S_LINK_UP : 0,
				       .max_virtqueue_pairs = 1 };
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

struct lvm_net *lvm_net_new_backend(struct lvm_vm *vm, uint64_t base, unsigned gsi,
				    struct lvm_net_backend *backend, const uint8_t mac[6])
{
	struct lvm_net *net = calloc(1, sizeof(*net));
	if (!net) {
		backend->ops->free(backend);
		lvm_fail("out of memory");
		return NULL;
	}
	memcpy(net->mac, mac, 6);
	net->backend = backend;
	net->link = true;
	lvm_throttle_init(&net->throttle);
	lvm_gate_init(&net->rx_gate, &net->throttle);
	lvm_gate_init(&net->tx_gate, &net->throttle);
	carrier_now(net);
	net->transport = lvm_virtio_new(vm, base, gsi, &net_ops, net);
	if (!net->transport) {
		lvm_net_free(net);
		return NULL;
	}
	lvm_virtio_set_device_fd(net->transport, backend->fd);
	return net;
}

struct lvm_net *lvm_net_new(struct lvm_vm *vm, uint64_t base, unsigned gsi, const char *tap,
			    const uint8_t mac[6])
{
	struct lvm_net_backend *b = lvm_net_tap_new(tap);
	return b ? lvm_net_new_backend(vm, base, gsi, b, mac) : NULL;
}

int lvm_net_start(struct lvm_net *net)
{
	struct lvm_net_backend *b = net->backend;
	if (b->ops->start && b->ops->start(b) < 0)
		return -1;
	return lvm_virtio_start(net->transport);
}

/* The I/O thread stops first: it is the one calling into the backend. */
void lvm_net_free(struct lvm_net *net)
{
	if (!net)
		return;
	lvm_virtio_free(net->transport);
	net->backend->ops->free(net->backend);
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
	s.link_up = link_in(net) && __atomic_load_n(&net->carrier, __ATOMIC_RELAXED);
	struct lvm_net_backend *b = net->backend;
	s.queue_dropped = b->ops->dropped ? b->ops->dropped(b) : 0;
	return s;
}

void lvm_net_set_link(struct lvm_net *net, bool up)
{
	struct lvm_virtio_transport *t = net->transport;
	pthread_mutex_lock(&t->lock);
	if (link_in(net) != up) {
		__atomic_store_n(&net->link, up, __ATOMIC_RELAXED);
		lvm_virtio_config_changed(t);
		/* Wake the I/O thread (it may sleep without polling the backend,
		 * the driver having no receive buffer): while the cable is out
		 * it drains and drops what arrives, and it sends (drops) what
		 * the driver queued. */
		t->device_fd_paused = false;
		lvm_virtio_arm_timer(t, 1);
	}
	pthread_mutex_unlock(&t->lock);
}

bool lvm_net_link(struct lvm_net *net)
{
	return link_in(net);
}

uint32_t lvm_net_switch_id(const struct lvm_net *net)
{
	return net->backend->switch_id;
}

/* ---- Snapshots ---- */

/*
 * A transmit chain waiting in its gate (a delay or the rate limit) is the
 * only request the NIC keeps across events: it goes out now.  A received
 * frame waiting in `bounce` is not the driver's request; like the frames
 * queued in the backend (a tap, a user net's or a switch port's queue),
 * it is not state (the original machine delivers it after resume, a
 * restored one never had it).  While quiesced the I/O thread does not
 * poll the backend at all; a user net's thread and the switch go on
 * queueing frames for it (and drop them once its queue is full).
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

/* After the transport: the MAC and the link status the driver read from
 * the configuration space (a restore into a NIC with another MAC is
 * refused; the cable comes back as it was).  Nothing of the backend: a
 * user network starts afresh, a switch port is a new port. */
void lvm_net_save(struct lvm_net *net, struct lvm_state_writer *w)
{
	lvm_virtio_save(net->transport, w);
	lvm_state_put_bytes(w, net->mac, sizeof(net->mac));
	lvm_state_put_u16(w, link_in(net) ? VIRTIO_NET_S_LINK_UP : 0);
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
	if (status & ~VIRTIO_NET_S_LINK_UP)
		return lvm_state_bad(r, "link status 0x%x (this NIC shows only LINK_UP, 0x%x)",
				     status, VIRTIO_NET_S_LINK_UP);
	net->link = status == VIRTIO_NET_S_LINK_UP;
	return 0;
}
