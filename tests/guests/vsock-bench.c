/*
 * vsock-bench: the guest end of bench/vsock.lua.  A virtio-vsock driver at
 * ring 3 (virtio 1.2 §5.10) with 64 KiB receive buffers, several transmit
 * buffers in flight and a 256 KiB receive window, serving connections one
 * after the other until the host stops the machine:
 *
 * "serve PORT"  listens on three ports:
 *   PORT     ping:   sends one byte ("!") as soon as it accepted, then
 *                    waits for the host to close;
 *   PORT+1   sink:   reads a line "N\n", then N bytes, answers "ok\n";
 *   PORT+2   source: reads a line "N\n", then sends N bytes.
 *   Prints "vsock-bench: ready" once listening, "vsock-bench: FAIL ..." on
 *   a protocol error (and exits 1).
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_VSOCK 19
#define HOST_CID 2
#define OP_REQUEST 1
#define OP_RESPONSE 2
#define OP_RST 3
#define OP_SHUTDOWN 4
#define OP_RW 5
#define OP_CREDIT_UPDATE 6
#define OP_CREDIT_REQUEST 7
#define SHUT_BOTH 3
#define GBUF (256u * 1024u) /* our buf_alloc */
#define PAYLOAD 65536u      /* per packet, both ways */
#define NTX 8u              /* transmit buffers in flight */

struct __attribute__((packed)) hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

struct pkt {
	struct hdr h;
	uint8_t data[PAYLOAD];
};

static struct vdev *dev;
static struct vq rxq, txq, evq;
static uint8_t rings[3][4096] __attribute__((aligned(4096)));
static struct pkt rxbuf[VQ_SIZE];
static struct pkt txbuf[NTX];
static uint8_t tx_busy[NTX];
static uint32_t evbuf[4];
static uint64_t cid;

/* The connection being served, and the ports listened on. */
static uint32_t base_port;
static uint32_t local_port, peer_port;
/* A REQUEST that came while a connection was ending (the host connects
 * again as soon as it has closed): accepted next. */
static struct hdr pending;
static int has_pending;
static uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
static uint32_t fwd_cnt, fwd_told;
static int host_shut, host_rst; /* the host sent SHUTDOWN / RST on it */

static void fail(const char *why)
{
	serial_puts("vsock-bench: FAIL ");
	serial_puts(why);
	serial_putc('\n');
	debug_exit(1);
}

static void reap_tx(void)
{
	uint32_t len;
	int head;
	while ((head = vq_wait(&txq, &len, 1)) >= 0)
		tx_busy[head] = 0;
}

/* Sends a packet for the connection (or, with `to`, an RST to a stranger). */
static void send_hdr(uint16_t op, uint32_t flags, const void *data, uint32_t len,
		     const struct hdr *to)
{
	unsigned i;
	for (;;) {
		for (i = 0; i < NTX && tx_busy[i]; i++)
			;
		if (i < NTX)
			break;
		reap_tx();
	}
	struct pkt *p = &txbuf[i];
	p->h = (struct hdr){ .src_cid = cid, .dst_cid = HOST_CID, .type = 1, .op = op,
			     .flags = flags, .len = len, .buf_alloc = GBUF, .fwd_cnt = fwd_cnt };
	if (to) {
		p->h.src_port = to->dst_port;
		p->h.dst_port = to->src_port;
	} else {
		p->h.src_port = local_port;
		p->h.dst_port = peer_port;
		fwd_told = fwd_cnt;
	}
	if (len)
		memcpy(p->data, data, len);
	if (op == OP_RW)
		tx_cnt += len;
	tx_busy[i] = 1;
	vq_set_desc(&txq.desc[i], (uint64_t)p, (uint32_t)sizeof(struct hdr) + len, 0, 0);
	vq_submit(&txq, (uint16_t)i);
}

static void post_rx(uint16_t i)
{
	vq_set_desc(&rxq.desc[i], (uint64_t)&rxbuf[i], sizeof(struct pkt), VQ_F_WRITE, 0);
	vq_submit(&rxq, i);
}

/* The next packet (its receive buffer's head, to post again), or -1. */
static int next_rx(uint64_t spins)
{
	uint32_t len = 0;
	int head = vq_wait(&rxq, &len, spins);
	if (head < 0)
		return -1;
	if (len < sizeof(struct hdr) || rxbuf[head].h.len != len - sizeof(struct hdr))
		fail("bad receive length");
	return head;
}

static uint32_t credit(void)
{
	uint32_t in_flight = tx_cnt - peer_fwd_cnt;
	return in_flight > peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
}

static int listened(const struct hdr *h)
{
	return h->op == OP_REQUEST && h->dst_port >= base_port && h->dst_port - base_port < 3;
}

/* A packet for our connection: bookkeeping; 0 if it is not ours. */
static int ours(const struct hdr *h)
{
	if (h->src_port != peer_port || h->dst_port != local_port) {
		if (listened(h) && !has_pending) {
			pending = *h;
			has_pending = 1;
		} else if (h->op != OP_RST) {
			send_hdr(OP_RST, 0, 0, 0, h);
		}
		return 0;
	}
	peer_buf_alloc = h->buf_alloc;
	peer_fwd_cnt = h->fwd_cnt;
	if (h->op == OP_CREDIT_REQUEST)
		send_hdr(OP_CREDIT_UPDATE, 0, 0, 0, 0);
	host_shut |= h->op == OP_SHUTDOWN;
	host_rst |= h->op == OP_RST;
	return 1;
}

static void consumed(uint32_t n)
{
	fwd_cnt += n;
	if (fwd_cnt - fwd_told >= GBUF / 2)
		send_hdr(OP_CREDIT_UPDATE, 0, 0, 0, 0);
}

/* Waits for a REQUEST to one of the listened ports; returns which (0-2). */
static unsigned accept_one(void)
{
	for (;;) {
		struct hdr h;
		if (has_pending) {
			h = pending;
			has_pending = 0;
		} else {
			int head = next_rx(~0ull);
			h = rxbuf[head].h;
			post_rx((uint16_t)head);
		}
		if (listened(&h)) {
			local_port = h.dst_port;
			peer_port = h.src_port;
			peer_buf_alloc = h.buf_alloc;
			peer_fwd_cnt = h.fwd_cnt;
			tx_cnt = fwd_cnt = fwd_told = 0;
			host_shut = host_rst = 0;
			send_hdr(OP_RESPONSE, 0, 0, 0, 0);
			return h.dst_port - base_port;
		}
		if (h.op != OP_RST)
			send_hdr(OP_RST, 0, 0, 0, &h);
	}
}

/* Reads the host's data: a line "N\n" first (returned), then, with
 * `sink`, N bytes.  Leaves no byte unread (the host sends no more). */
static uint64_t read_request(int sink)
{
	uint64_t n = 0, got = 0;
	int line = 1;
	while (line || (sink && got < n)) {
		int head = next_rx(~0ull);
		struct pkt *p = &rxbuf[head];
		if (!ours(&p->h)) {
			post_rx((uint16_t)head);
			continue;
		}
		if (p->h.op == OP_RST || p->h.op == OP_SHUTDOWN)
			fail("closed before its request");
		uint32_t len = p->h.op == OP_RW ? p->h.len : 0;
		for (uint32_t i = 0; i < len; i++) {
			if (!line) {
				got += len - i;
				break;
			}
			uint8_t c = p->data[i];
			if (c == '\n')
				line = 0;
			else if (c >= '0' && c <= '9')
				n = n * 10 + (uint64_t)(c - '0');
		}
		post_rx((uint16_t)head);
		consumed(len);
	}
	return n;
}

/* Sends n bytes within the host's credit. */
static void send_bytes(uint64_t n)
{
	static const uint8_t zeros[PAYLOAD];
	while (n) {
		uint32_t c = credit();
		if (host_rst || host_shut)
			fail("closed while sending");
		if (c == 0) { /* wait for a CREDIT_UPDATE (or any header) */
			int head = next_rx(~0ull);
			ours(&rxbuf[head].h);
			post_rx((uint16_t)head);
			continue;
		}
		uint32_t k = n < c ? (uint32_t)n : c;
		if (k > PAYLOAD)
			k = PAYLOAD;
		send_hdr(OP_RW, 0, zeros, k, 0);
		n -= k;
		/* Credit updates that came meanwhile, without waiting. */
		int head;
		while ((head = next_rx(1)) >= 0) {
			ours(&rxbuf[head].h);
			post_rx((uint16_t)head);
		}
	}
}

/* Waits for the host to close (it may have already), then ends the
 * connection: SHUTDOWN both ways, answered by the device's RST. */
static void finish(void)
{
	int shut = 0;
	while (!host_rst) {
		if (host_shut && !shut) {
			send_hdr(OP_SHUTDOWN, SHUT_BOTH, 0, 0, 0);
			shut = 1;
		}
		int head = next_rx(~0ull);
		struct hdr h = rxbuf[head].h;
		uint32_t len = h.op == OP_RW ? h.len : 0;
		post_rx((uint16_t)head);
		if (ours(&h))
			consumed(len);
	}
}

static int setup(void)
{
	dev = vdev_find(VIRTIO_ID_VSOCK);
	if (!dev || vdev_init(dev, 0) < 0 || vq_setup(dev, &rxq, 0, rings[0]) < 0 ||
	    vq_setup(dev, &txq, 1, rings[1]) < 0 || vq_setup(dev, &evq, 2, rings[2]) < 0)
		return -1;
	cid = vdev_config32(dev, 0) | (uint64_t)vdev_config32(dev, 4) << 32;
	vdev_driver_ok(dev);
	for (uint16_t i = 0; i < VQ_SIZE; i++)
		post_rx(i);
	vq_set_desc(&evq.desc[0], (uint64_t)evbuf, sizeof(evbuf), VQ_F_WRITE, 0);
	vq_submit(&evq, 0);
	return 0;
}

static uint64_t serve(uint64_t arg)
{
	const char *args = skip_spaces((const char *)arg);
	uint64_t base = 0;
	if (memcmp(args, "serve", 5) != 0 || (args += 5, !parse_uint(&args, &base)))
		fail("usage: serve PORT");
	if (setup() < 0)
		fail("no usable virtio-vsock device");
	base_port = (uint32_t)base;
	serial_puts("vsock-bench: ready\n");
	for (;;) {
		unsigned kind = accept_one();
		if (kind == 0) {
			send_hdr(OP_RW, 0, "!", 1, 0);
		} else if (kind == 1) {
			read_request(1);
			send_hdr(OP_RW, 0, "ok\n", 3, 0);
		} else {
			send_bytes(read_request(0));
		}
		finish();
	}
	return 0;
}

uint32_t guest_main(const char *args)
{
	return (uint32_t)run_user(serve, (uint64_t)args);
}
