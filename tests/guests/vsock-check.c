/*
 * vsock-check: a virtio-vsock driver (virtio 1.2 §5.10) and one stream
 * socket at ring 3.  The guest's CID comes from the config space; it
 * advertises buf_alloc = GBUF and sends CREDIT_UPDATE as it consumes, and
 * checks that the host never sends more than that credit allows.
 *
 * "echo PORT"     listen on PORT, accept one host connection, echo every
 *                 byte until the host shuts down, then close:
 *                 "vsock: echoed N bytes", exit 0.
 * "connect PORT"  connect to host port PORT, send "hello from the guest\n",
 *                 print "vsock: reply LINE" for the first line back.
 * "bulk PORT N"   connect to host port PORT (an echo server), push N bytes
 *                 of a pattern while reading the echo back; "vsock: bulk
 *                 sent N received M bad B", exit 0 if M = N and B = 0.
 * "rst PORT"      connect to host port PORT, where nothing listens: "vsock:
 *                 rst ok" if the answer is RST.
 * "hostile PORT"  bad packets (unknown op, wrong type, len beyond the
 *                 buffer, wrong src/dst CID, packets for no connection, a
 *                 short header, a short receive buffer, credit lies); each
 *                 one that deserves it must come back as RST.  Then a
 *                 normal "connect PORT" exchange proves the device works.
 * "hold PORT"     for snapshots: connect to host port PORT, send "hello
 *                 from the guest\n", print "vsock: holding" and echo what
 *                 the host sends until either the host shuts down ("vsock:
 *                 host closed", close, exit 0) or a TRANSPORT_RESET event
 *                 arrives (a restored machine or a fork): "vsock: transport
 *                 reset", the connection is forgotten (no packet for it is
 *                 sent), and a "connect PORT" exchange follows.
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
#define EVENT_TRANSPORT_RESET 0
#define SHUT_RCV 1
#define SHUT_SEND 2
#define GBUF 16384u      /* our buf_alloc */
#define CHUNK 4096u      /* payload per packet, both ways */
#define LOCAL_PORT 5000u
#define SPINS 4000000000ull

struct __attribute__((packed)) hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

struct pkt {
	struct hdr h;
	uint8_t data[CHUNK];
};

static struct vdev *dev;
static struct vq rxq, txq, evq;
static uint8_t rings[3][4096] __attribute__((aligned(4096)));
static struct pkt rxbuf[VQ_SIZE];
static struct pkt txbuf;
static uint32_t evbuf[4];
static uint64_t cid;

/* The connection. */
static uint32_t local_port, peer_port;
static uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt; /* our sending credit */
static uint32_t rx_cnt, fwd_cnt, fwd_told;            /* the host's */
static int failed;

static void fail(const char *why)
{
	serial_puts("vsock: FAIL ");
	serial_puts(why);
	serial_putc('\n');
	failed = 1;
}

static uint32_t credit(void)
{
	uint32_t in_flight = tx_cnt - peer_fwd_cnt;
	return in_flight > peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
}

/* Sends one packet built from the arguments; raw: no field fixed up. */
static void send_raw(const struct hdr *h, const void *data, uint32_t len, uint32_t chain_len)
{
	txbuf.h = *h;
	if (len)
		memcpy(txbuf.data, data, len);
	txq.desc[0].addr = (uint64_t)&txbuf;
	txq.desc[0].len = chain_len;
	txq.desc[0].flags = 0;
	vq_submit(&txq, 0);
	uint32_t used;
	if (vq_wait(&txq, &used, SPINS) != 0)
		fail("tx not returned");
}

static void send_pkt(uint16_t op, uint32_t flags, const void *data, uint32_t len)
{
	struct hdr h = { .src_cid = cid, .dst_cid = HOST_CID, .src_port = local_port,
			 .dst_port = peer_port, .len = len, .type = 1, .op = op, .flags = flags,
			 .buf_alloc = GBUF, .fwd_cnt = fwd_cnt };
	fwd_told = fwd_cnt;
	if (op == OP_RW)
		tx_cnt += len;
	send_raw(&h, data, len, (uint32_t)sizeof(struct hdr) + len);
}

static void post_rx(uint16_t i, uint32_t len)
{
	vq_set_desc(&rxq.desc[i], (uint64_t)&rxbuf[i], len, VQ_F_WRITE, 0);
	vq_submit(&rxq, i);
}

/* The next packet from the device (copied to *out), or 0 after `spins`. */
static int recv_pkt(struct pkt *out, uint64_t spins)
{
	for (;;) {
		uint32_t len = 0;
		int head = vq_wait(&rxq, &len, spins);
		if (head < 0)
			return 0;
		if (len < sizeof(struct hdr) || len > sizeof(struct pkt)) {
			if (len != 0)
				fail("bad rx length");
			post_rx((uint16_t)head, sizeof(struct pkt)); /* a short buffer, given back */
			continue;
		}
		memcpy(out, &rxbuf[head], len);
		post_rx((uint16_t)head, sizeof(struct pkt));
		if (out->h.src_cid != HOST_CID || out->h.dst_cid != cid || out->h.type != 1)
			fail("packet not from the host to us");
		if (out->h.len != len - sizeof(struct hdr))
			fail("len disagrees with the buffer");
		return 1;
	}
}

/* A packet for our connection: credit bookkeeping, data checked against GBUF. */
static int recv_conn(struct pkt *p, uint64_t spins)
{
	while (recv_pkt(p, spins)) {
		if (p->h.src_port != peer_port || p->h.dst_port != local_port) {
			if (p->h.op != OP_RST) { /* not ours: refuse */
				struct hdr h = { .src_cid = cid, .dst_cid = HOST_CID,
						 .src_port = p->h.dst_port, .dst_port = p->h.src_port,
						 .type = 1, .op = OP_RST };
				send_raw(&h, 0, 0, sizeof(h));
			}
			continue;
		}
		peer_buf_alloc = p->h.buf_alloc;
		peer_fwd_cnt = p->h.fwd_cnt;
		if (p->h.op == OP_RW) {
			rx_cnt += p->h.len;
			if (rx_cnt - fwd_told > GBUF)
				fail("the host sent more than our credit");
		}
		if (p->h.op == OP_CREDIT_REQUEST)
			send_pkt(OP_CREDIT_UPDATE, 0, 0, 0);
		return 1;
	}
	return 0;
}

/* We consumed n bytes: tell the host once half the window is free again. */
static void consumed(uint32_t n)
{
	fwd_cnt += n;
	if (fwd_cnt - fwd_told >= GBUF / 2)
		send_pkt(OP_CREDIT_UPDATE, 0, 0, 0);
}

static int setup(void)
{
	dev = vdev_find(VIRTIO_ID_VSOCK);
	if (!dev || vdev_init(dev, 0) < 0 || vq_setup(dev, &rxq, 0, rings[0]) < 0 ||
	    vq_setup(dev, &txq, 1, rings[1]) < 0 || vq_setup(dev, &evq, 2, rings[2]) < 0) {
		serial_puts("vsock: FAIL no usable virtio-vsock device\n");
		return -1;
	}
	cid = vdev_config32(dev, 0) | (uint64_t)vdev_config32(dev, 4) << 32;
	vdev_driver_ok(dev);
	for (uint16_t i = 0; i < VQ_SIZE; i++)
		post_rx(i, sizeof(struct pkt));
	vq_set_desc(&evq.desc[0], (uint64_t)evbuf, sizeof(evbuf), VQ_F_WRITE, 0);
	vq_submit(&evq, 0);
	serial_puts("vsock: cid ");
	serial_put_dec(cid);
	serial_putc('\n');
	return 0;
}

static void reset_conn(uint32_t local, uint32_t peer)
{
	local_port = local;
	peer_port = peer;
	peer_buf_alloc = peer_fwd_cnt = tx_cnt = 0;
	rx_cnt = fwd_cnt = fwd_told = 0;
}

/* REQUEST to the host's port; 1 connected, 0 RST, -1 no answer. */
static uint32_t my_port = LOCAL_PORT;

static int connect_to(uint32_t port)
{
	reset_conn(my_port, port);
	send_pkt(OP_REQUEST, 0, 0, 0);
	struct pkt p;
	while (recv_conn(&p, SPINS)) {
		if (p.h.op == OP_RESPONSE)
			return 1;
		if (p.h.op == OP_RST)
			return 0;
	}
	return -1;
}

/* SHUTDOWN both ways, then wait for the RST that ends it. */
static void close_conn(void)
{
	send_pkt(OP_SHUTDOWN, SHUT_RCV | SHUT_SEND, 0, 0);
	struct pkt p;
	while (recv_conn(&p, SPINS))
		if (p.h.op == OP_RST) {
			serial_puts("vsock: closed\n");
			return;
		}
	fail("no RST after SHUTDOWN");
}

/* Sends n bytes, waiting for credit as needed. */
static void send_data(const uint8_t *data, uint32_t n)
{
	while (n) {
		uint32_t c = credit();
		if (c == 0) {
			struct pkt p;
			send_pkt(OP_CREDIT_REQUEST, 0, 0, 0);
			if (!recv_conn(&p, SPINS)) {
				fail("no credit");
				return;
			}
			if (p.h.op == OP_RW)
				consumed(p.h.len); /* not expected here: dropped */
			continue;
		}
		uint32_t k = n < c ? n : c;
		if (k > CHUNK)
			k = CHUNK;
		send_pkt(OP_RW, 0, data, k);
		data += k;
		n -= k;
	}
}

static int do_echo(uint32_t port)
{
	serial_puts("vsock: listening on ");
	serial_put_dec(port);
	serial_putc('\n');
	struct pkt p;
	for (;;) { /* accept: the first REQUEST for our port */
		if (!recv_pkt(&p, ~0ull))
			return 1;
		if (p.h.op == OP_REQUEST && p.h.dst_port == port)
			break;
		if (p.h.op != OP_RST) {
			struct hdr h = { .src_cid = cid, .dst_cid = HOST_CID, .src_port = p.h.dst_port,
					 .dst_port = p.h.src_port, .type = 1, .op = OP_RST };
			send_raw(&h, 0, 0, sizeof(h));
		}
	}
	reset_conn(port, p.h.src_port);
	peer_buf_alloc = p.h.buf_alloc;
	peer_fwd_cnt = p.h.fwd_cnt;
	send_pkt(OP_RESPONSE, 0, 0, 0);
	serial_puts("vsock: accepted host port ");
	serial_put_dec(peer_port);
	serial_putc('\n');
	uint64_t echoed = 0;
	while (recv_conn(&p, ~0ull)) {
		if (p.h.op == OP_RW) {
			send_data(p.data, p.h.len);
			echoed += p.h.len;
			consumed(p.h.len);
		} else if (p.h.op == OP_SHUTDOWN && (p.h.flags & SHUT_SEND)) {
			break;
		} else if (p.h.op == OP_RST) {
			fail("reset by the host");
			return 1;
		}
	}
	serial_puts("vsock: echoed ");
	serial_put_dec(echoed);
	serial_puts(" bytes\n");
	close_conn();
	return failed;
}

/* Reads the first line the host sends into line (NUL-terminated). */
static int read_line(char *line, unsigned max)
{
	unsigned n = 0;
	struct pkt p;
	while (recv_conn(&p, SPINS)) {
		if (p.h.op == OP_RST || (p.h.op == OP_SHUTDOWN && (p.h.flags & SHUT_SEND)))
			break;
		if (p.h.op != OP_RW)
			continue;
		for (uint32_t i = 0; i < p.h.len; i++) {
			if (p.data[i] == '\n') {
				line[n] = 0;
				consumed(p.h.len);
				return 0;
			}
			if (n + 1 < max)
				line[n++] = (char)p.data[i];
		}
		consumed(p.h.len);
	}
	return -1;
}

static int do_connect(uint32_t port)
{
	int r = connect_to(port);
	if (r <= 0) {
		serial_puts(r == 0 ? "vsock: connect refused\n" : "vsock: FAIL no answer\n");
		return 1;
	}
	serial_puts("vsock: connected\n");
	static const char hello[] = "hello from the guest\n";
	send_data((const uint8_t *)hello, sizeof(hello) - 1);
	char line[128];
	if (read_line(line, sizeof(line)) < 0) {
		fail("no reply line");
		return 1;
	}
	serial_puts("vsock: reply ");
	serial_puts(line);
	serial_putc('\n');
	close_conn();
	return failed;
}

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 + (i >> 9));
}

static int do_bulk(uint32_t port, uint64_t total)
{
	if (connect_to(port) != 1) {
		fail("bulk: connect");
		return 1;
	}
	static uint8_t chunk[CHUNK];
	uint64_t sent = 0, got = 0, bad = 0, requests = 0;
	int shut = 0;
	struct pkt p;
	while (got < total) {
		/* Send while the host's credit allows, then read what came back. */
		uint32_t c = credit();
		if (sent < total && c > 0) {
			uint32_t k = total - sent < CHUNK ? (uint32_t)(total - sent) : CHUNK;
			if (k > c)
				k = c;
			for (uint32_t i = 0; i < k; i++)
				chunk[i] = pattern(sent + i);
			send_pkt(OP_RW, 0, chunk, k);
			sent += k;
			continue;
		}
		if (sent == total && !shut) {
			send_pkt(OP_SHUTDOWN, SHUT_SEND, 0, 0);
			shut = 1;
		}
		if (sent < total && c == 0 && !requests) { /* once per stall */
			send_pkt(OP_CREDIT_REQUEST, 0, 0, 0);
			requests++;
		}
		if (c > 0)
			requests = 0;
		if (!recv_conn(&p, SPINS)) {
			fail("bulk: stalled");
			break;
		}
		if (p.h.op == OP_RW) {
			for (uint32_t i = 0; i < p.h.len; i++)
				bad += p.data[i] != pattern(got + i);
			got += p.h.len;
			consumed(p.h.len);
		} else if (p.h.op == OP_RST || (p.h.op == OP_SHUTDOWN && (p.h.flags & SHUT_SEND))) {
			break;
		}
	}
	serial_puts("vsock: bulk sent ");
	serial_put_dec(sent);
	serial_puts(" received ");
	serial_put_dec(got);
	serial_puts(" bad ");
	serial_put_dec(bad);
	serial_putc('\n');
	close_conn();
	return failed || got != total || bad != 0;
}

/* An event from the device, if one came: 1 for TRANSPORT_RESET (the
 * buffer is posted again), 0 for none, -1 for anything else. */
static int poll_event(void)
{
	uint32_t len = 0;
	int head = vq_wait(&evq, &len, 1);
	if (head < 0)
		return 0;
	int reset = len == sizeof(evbuf[0]) && evbuf[0] == EVENT_TRANSPORT_RESET;
	vq_set_desc(&evq.desc[0], (uint64_t)evbuf, sizeof(evbuf), VQ_F_WRITE, 0);
	vq_submit(&evq, 0);
	return reset ? 1 : -1;
}

static int do_hold(uint32_t port)
{
	if (connect_to(port) != 1) {
		fail("hold: connect");
		return 1;
	}
	static const char hello[] = "hello from the guest\n";
	send_data((const uint8_t *)hello, sizeof(hello) - 1);
	serial_puts("vsock: holding\n");
	struct pkt p;
	for (;;) {
		int ev = poll_event();
		if (ev < 0) {
			fail("an unknown event");
			return 1;
		}
		if (ev > 0)
			break;
		if (!recv_conn(&p, 100000))
			continue;
		if (p.h.op == OP_RW) {
			send_data(p.data, p.h.len);
			consumed(p.h.len);
		} else if (p.h.op == OP_SHUTDOWN && (p.h.flags & SHUT_SEND)) {
			serial_puts("vsock: host closed\n");
			close_conn();
			return failed;
		} else if (p.h.op == OP_RST) {
			fail("hold: reset by the host");
			return 1;
		}
	}
	serial_puts("vsock: transport reset\n");
	/* §5.10.6: the device forgot every connection; so do we. */
	return do_connect(port);
}

static int do_rst(uint32_t port)
{
	int r = connect_to(port);
	serial_puts(r == 0 ? "vsock: rst ok\n" : "vsock: FAIL no RST\n");
	return r != 0;
}

/* Sends a bad header; expects RST back with the ports swapped (or nothing). */
static void hostile_one(const char *what, struct hdr h, uint32_t chain_len, int want_rst)
{
	send_raw(&h, 0, 0, chain_len);
	struct pkt p;
	int got = recv_pkt(&p, want_rst ? SPINS : 20000000ull);
	int ok = want_rst ? got && p.h.op == OP_RST && p.h.src_port == h.dst_port &&
				    p.h.dst_port == h.src_port
			  : !got;
	serial_puts("hostile: ");
	serial_puts(what);
	serial_puts(ok ? " ok\n" : " WRONG\n");
	if (!ok)
		failed = 1;
}

static int do_hostile(uint32_t port)
{
	struct hdr good = { .src_cid = cid, .dst_cid = HOST_CID, .src_port = 7000,
			    .dst_port = 7001, .type = 1, .op = OP_RW, .buf_alloc = GBUF };
	struct hdr h = good;
	h.op = 99;
	hostile_one("unknown op", h, sizeof(h), 1);
	h = good;
	h.op = 0;
	hostile_one("invalid op", h, sizeof(h), 1);
	h = good;
	h.type = 2;
	hostile_one("seqpacket type", h, sizeof(h), 1);
	h = good;
	h.len = 1000;
	hostile_one("len past the buffer", h, sizeof(h) + 10, 1);
	h = good;
	h.len = 0xffffffffu;
	hostile_one("len 4G", h, sizeof(h), 1);
	h = good;
	h.op = OP_REQUEST;
	h.len = 8;
	hostile_one("request with payload", h, sizeof(h) + 8, 1);
	h = good;
	h.src_cid = cid + 1;
	hostile_one("wrong src_cid", h, sizeof(h), 1);
	h = good;
	h.dst_cid = 77;
	h.op = OP_REQUEST;
	hostile_one("wrong dst_cid", h, sizeof(h), 1);
	h = good;
	hostile_one("rw without connection", h, sizeof(h), 1);
	h = good;
	h.op = OP_RESPONSE;
	hostile_one("response without request", h, sizeof(h), 1);
	h = good;
	h.op = OP_SHUTDOWN;
	h.flags = 3;
	hostile_one("shutdown without connection", h, sizeof(h), 1);
	h = good;
	h.op = OP_RST;
	hostile_one("rst without connection (no answer)", h, sizeof(h), 0);
	h = good;
	hostile_one("short header (no answer)", h, 20, 0);

	/* A receive buffer shorter than a header: handed back unused. */
	rxq.desc[VQ_SIZE - 1].len = 8;
	/* Credit lies on a real connection (the host's first connection there
	 * is never read): the host must not overrun us, and data beyond the
	 * credit it gave resets the connection. */
	my_port = 6000;
	if (connect_to(port) != 1) {
		fail("hostile: connect");
		return 1;
	}
	struct hdr lie = { .src_cid = cid, .dst_cid = HOST_CID, .src_port = local_port,
			   .dst_port = peer_port, .type = 1, .op = OP_CREDIT_UPDATE,
			   .buf_alloc = 0xffffffffu, .fwd_cnt = 0x7fffffffu };
	send_raw(&lie, 0, 0, sizeof(lie));
	static uint8_t big[CHUNK];
	struct pkt p;
	int reset = 0;
	for (int i = 0; i < 1024 && !reset; i++) { /* up to 4 MiB, ignoring credit */
		peer_buf_alloc = 0xffffffffu;
		send_pkt(OP_RW, 0, big, CHUNK);
		while (!reset && recv_pkt(&p, 20000))
			reset = p.h.op == OP_RST && p.h.dst_port == local_port;
	}
	while (recv_pkt(&p, 20000000ull)) /* stray answers */
		;
	my_port = LOCAL_PORT;
	serial_puts(reset ? "hostile: credit overrun reset\n" : "hostile: credit overrun WRONG\n");
	if (!reset)
		failed = 1;
	serial_puts("hostile: now a normal exchange\n");
	int rc = do_connect(port);
	serial_puts(rc || failed ? "hostile: FAIL\n" : "hostile: done\n");
	return rc || failed;
}

static uint64_t driver(uint64_t arg)
{
	const char *args = (const char *)arg;
	if (setup() < 0)
		return 1;
	args = skip_spaces(args);
	uint64_t port = 0, n = 0;
	if (memcmp(args, "echo", 4) == 0) {
		args += 4;
		return parse_uint(&args, &port) ? (uint64_t)do_echo((uint32_t)port) : 2;
	}
	if (memcmp(args, "connect", 7) == 0) {
		args += 7;
		return parse_uint(&args, &port) ? (uint64_t)do_connect((uint32_t)port) : 2;
	}
	if (memcmp(args, "bulk", 4) == 0) {
		args += 4;
		if (!parse_uint(&args, &port) || !parse_uint(&args, &n))
			return 2;
		return (uint64_t)do_bulk((uint32_t)port, n);
	}
	if (memcmp(args, "rst", 3) == 0) {
		args += 3;
		return parse_uint(&args, &port) ? (uint64_t)do_rst((uint32_t)port) : 2;
	}
	if (memcmp(args, "hold", 4) == 0) {
		args += 4;
		return parse_uint(&args, &port) ? (uint64_t)do_hold((uint32_t)port) : 2;
	}
	if (memcmp(args, "hostile", 7) == 0) {
		args += 7;
		return parse_uint(&args, &port) ? (uint64_t)do_hostile((uint32_t)port) : 2;
	}
	serial_puts("vsock: usage echo|connect|bulk|rst|hold|hostile PORT [N]\n");
	return 2;
}

uint32_t guest_main(const char *args)
{
	return (uint32_t)run_user(driver, (uint64_t)args);
}
