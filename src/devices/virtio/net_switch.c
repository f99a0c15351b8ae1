/*
 * The switch backend: the NIC is one port of an in-process switch
 * (util/eth_switch.h).  Frames the guest sends are switched on the I/O
 * thread that sends them, straight into the other ports' queues; frames
 * for this port wait in its own queue, whose eventfd is the fd the NIC's
 * I/O thread polls.
 */
#include "devices/virtio/net_backend.h"

#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/eth_switch.h"
#include "util/frame_queue.h"

#define HDR_LEN sizeof(struct virtio_net_hdr_v1)

struct port {
	struct lvm_net_backend b;
	struct lvm_frame_queue *queue;
	struct lvm_switch_port *port;
	uint8_t frame[LVM_FRAME_MAX]; /* a flat copy of the frame being sent */
};

static ssize_t switch_send(struct lvm_net_backend *b, const struct iovec *iov, unsigned n,
			   size_t len)
{
	struct port *p = (struct port *)b;
	size_t skip = HDR_LEN, at = 0;
	if (len <= HDR_LEN || len - HDR_LEN > sizeof(p->frame))
		return -1;
	for (unsigned i = 0; i < n; i++) {
		size_t l = iov[i].iov_len;
		const uint8_t *s = iov[i].iov_base;
		size_t drop = skip < l ? skip : l;
		skip -= drop;
		memcpy(p->frame + at, s + drop, l - drop);
		at += l - drop;
	}
	lvm_switch_send(p->port, p->frame, at);
	return (ssize_t)at;
}

static size_t switch_recv(struct lvm_net_backend *b, void *buf, size_t cap)
{
	struct port *p = (struct port *)b;
	if (cap <= HDR_LEN)
		return 0;
	size_t n = lvm_frame_queue_pop(p->queue, (uint8_t *)buf + HDR_LEN, cap - HDR_LEN);
	if (!n)
		return 0;
	memset(buf, 0, HDR_LEN);
	return HDR_LEN + n;
}

static uint64_t switch_dropped(struct lvm_net_backend *b)
{
	return lvm_frame_queue_dropped(((struct port *)b)->queue);
}

static void switch_free(struct lvm_net_backend *b)
{
	struct port *p = (struct port *)b;
	lvm_switch_detach(p->port); /* nothing is queued for us after this */
	lvm_frame_queue_free(p->queue);
	free(p);
}

static const struct lvm_net_backend_ops switch_ops = {
	.kind = "switch",
	.send = switch_send,
	.recv = switch_recv,
	.dropped = switch_dropped,
	.free = switch_free,
};

struct lvm_net_backend *lvm_net_switch_new(uint32_t id, const char *label, const uint8_t mac[6])
{
	struct port *p = calloc(1, sizeof(*p));
	if (!p) {
		lvm_fail("out of memory");
		return NULL;
	}
	struct lvm_switch *sw = lvm_switch_get(id);
	p->queue = sw ? lvm_frame_queue_new() : NULL;
	p->port = p->queue ? lvm_switch_attach(sw, p->queue, label, mac) : NULL;
	lvm_switch_put(sw); /* the port holds its own reference */
	if (!p->port) {
		lvm_frame_queue_free(p->queue);
		free(p);
		return NULL;
	}
	p->b.ops = &switch_ops;
	p->b.fd = lvm_frame_queue_fd(p->queue);
	p->b.switch_id = id;
	return &p->b;
}
