/*
 * virtio-vsock (virtio 1.2 §5.10): stream sockets between the guest and
 * host unix sockets.  Queues (§5.10.2): 0 rx, 1 tx, 2 event (its only
 * event, TRANSPORT_RESET, is sent once after a snapshot is loaded: see
 * "snapshots" below).  Configuration (§5.10.4): guest_cid, 64 bits.  No
 * feature bits (VIRTIO_VSOCK_F_SEQPACKET is not offered).
 *
 * Every packet starts with struct virtio_vsock_hdr (§5.10.6).  Packets the
 * driver sends that we cannot accept are answered with RST (§5.10.6.3):
 * an unknown op or type, a len larger than the chain or than 64 KiB, a
 * src_cid that is not the guest's or a dst_cid that is not the host (2),
 * a packet for a connection that does not exist, data beyond the credit
 * we gave (§5.10.6.3.1: the connection is reset).  RST is never answered.
 *
 * Flow control (§5.10.6.3.1), both ways: each side advertises buf_alloc
 * and fwd_cnt in every header.  Guest -> host data goes into a per
 * connection buffer of CONN_BUF bytes (our buf_alloc) and out to the host
 * socket; fwd_cnt counts what reached the socket, so a guest that respects
 * its credit never overflows the buffer.  Host -> guest: we read from the
 * host socket only as much as the guest's credit
 * (peer_buf_alloc - (tx_cnt - peer_fwd_cnt)) allows, so the host socket's
 * own buffer holds the rest and the host writer blocks.
 *
 * Host side (Firecracker's convention): the listener on `path` accepts a
 * host process, which writes "CONNECT <port>\n"; we send REQUEST to the
 * guest's port and, on RESPONSE, answer "OK <host_port>\n" (RST: we close
 * the socket).  A guest REQUEST to host port P connects to the unix socket
 * "<path>_<P>" (RST if nothing listens there).
 *
 * Policy (util/request_filter.h): with a filter installed (the recipe's
 * vm.vsock:on_connect or vm.vsock:listen), each new connection is asked
 * about first, the guest's REQUEST and a host process's CONNECT line
 * alike, with the transport lock dropped as the admission gate does
 * (gate.c): a vCPU never waits for Lua, and a driver reset meanwhile
 * (`generation`) makes us forget the request.  A refusal is an RST (or the
 * host socket closed).  The answer to a guest REQUEST may carry a socket
 * the policy layer made for a Lua listener: the connection then runs over
 * it instead of "<path>_<P>".  Without a filter nothing is asked.
 *
 * Threads: everything runs on the transport's I/O thread with its lock
 * held (dropped only while the policy is asked), except reset (vCPU
 * thread, lock held) and the Lua API's connect (control thread, lock
 * taken), neither of which closes fds: closed connections go to a
 * graveyard the I/O thread empties at the start and end of each event.
 * All host sockets sit in one epoll set, the transport's device fd.
 */
#include "devices/virtio/vsock.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/device.h"
#include "devices/virtio/transport.h"
#include "util/error.h"
#include "util/request_filter.h"
#include "util/state.h"

enum { Q_RX = 0, Q_TX = 1, Q_EVENT = 2 };

#define CONN_BUF (256u * 1024u)   /* our buf_alloc per connection */
#define CONN_MAX 64u              /* live connections per device */
#define RST_RING 64u              /* RSTs owed for packets without a connection */
#define LINE_MAX_LEN 32u          /* "CONNECT 4294967295\n" */
#define HOST_PORT_FIRST 0x40000000u /* local ports for host-initiated connections */
#define PATH_SUFFIX_MAX 12u       /* "_4294967295" and the NUL */

enum conn_state { C_HANDSHAKE, C_CONNECTING, C_OPEN };
/* Control packets a connection owes the guest. */
enum { P_REQUEST = 1, P_RESPONSE = 2, P_SHUTDOWN = 4, P_CREDIT = 8 };

struct conn {
	struct conn *next;
	int fd;
	enum conn_state state;
	bool dead;       /* in the graveyard */
	bool registered; /* in the epoll set (with `events`) */
	uint32_t events;
	uint32_t local_port, peer_port;
	unsigned pending; /* P_* */
	/* host -> guest */
	uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	bool readable, host_eof;
	/* guest -> host */
	uint32_t rx_cnt, fwd_cnt, fwd_told;
	uint32_t guest_shut; /* VIRTIO_VSOCK_SHUTDOWN_* the guest sent */
	bool wr_shut;
	uint8_t *wbuf;
	size_t whead, wlen;
	size_t wline; /* bytes at the head that are our "OK" line, not guest data */
	char line[LINE_MAX_LEN];
	size_t line_len;
};

struct rst {
	uint32_t src_port, dst_port; /* ours, the guest's */
};

struct vsock_params {
	uint64_t cid;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct lvm_vsock {
	struct lvm_virtio_transport *transport;
	uint64_t cid;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd, ep;
	/* Transport lock: */
	struct conn *conns, *graveyard;
	unsigned nconns;
	uint32_t next_port;
	struct rst rsts[RST_RING];
	unsigned rst_head, rst_len;
	bool rx_held; /* rx_chain was popped and waits for a packet */
	struct lvm_vq_chain rx_chain, tx_chain, ev_chain;
	uint64_t generation; /* bumped by a driver reset (a policy call in flight is void) */
	bool reset_owed;     /* TRANSPORT_RESET to send on the event queue */
	const struct lvm_filter *filter; /* atomic; NULL: nobody to ask */
	uint8_t payload[LVM_VSOCK_PAYLOAD_MAX];
	struct {
		uint64_t opened, closed, refused, rst_sent, rst_dropped, bad_packets;
		uint64_t credit_violations, tx_bytes, rx_bytes, tx_packets, rx_packets;
		uint64_t short_buffers, host_rejected, denied, transport_resets;
	} st;
};

/* ---- packets ---- */

static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }

enum lvm_vsock_verdict lvm_vsock_parse(const uint8_t *buf, size_t n, uint64_t total,
				       uint64_t guest_cid, struct lvm_vsock_pkt *pkt)
{
	if (n < LVM_VSOCK_HDR_LEN || total < LVM_VSOCK_HDR_LEN)
		return LVM_VSOCK_SHORT;
	_Static_assert(sizeof(struct virtio_vsock_hdr) == LVM_VSOCK_HDR_LEN, "header size");
	*pkt = (struct lvm_vsock_pkt){
		.src_cid = get64(buf + offsetof(struct virtio_vsock_hdr, src_cid)),
		.dst_cid = get64(buf + offsetof(struct virtio_vsock_hdr, dst_cid)),
		.src_port = get32(buf + offsetof(struct virtio_vsock_hdr, src_port)),
		.dst_port = get32(buf + offsetof(struct virtio_vsock_hdr, dst_port)),
		.len = get32(buf + offsetof(struct virtio_vsock_hdr, len)),
		.type = get16(buf + offsetof(struct virtio_vsock_hdr, type)),
		.op = get16(buf + offsetof(struct virtio_vsock_hdr, op)),
		.flags = get32(buf + offsetof(struct virtio_vsock_hdr, flags)),
		.buf_alloc = get32(buf + offsetof(struct virtio_vsock_hdr, buf_alloc)),
		.fwd_cnt = get32(buf + offsetof(struct virtio_vsock_hdr, fwd_cnt)),
	};
	if (pkt->src_cid != guest_cid || pkt->dst_cid != LVM_VSOCK_HOST_CID)
		return LVM_VSOCK_BAD_ADDR;
	if (pkt->type != VIRTIO_VSOCK_TYPE_STREAM)
		return LVM_VSOCK_BAD_TYPE;
	if (pkt->op < VIRTIO_VSOCK_OP_REQUEST || pkt->op > VIRTIO_VSOCK_OP_CREDIT_REQUEST)
		return LVM_VSOCK_BAD_OP;
	if (pkt->len > LVM_VSOCK_PAYLOAD_MAX || pkt->len > total - LVM_VSOCK_HDR_LEN ||
	    (pkt->op != VIRTIO_VSOCK_OP_RW && pkt->len != 0))
		return LVM_VSOCK_BAD_LEN;
	return LVM_VSOCK_OK;
}

void lvm_vsock_encode(const struct lvm_vsock_pkt *pkt, uint8_t *out)
{
	put64(out + offsetof(struct virtio_vsock_hdr, src_cid), pkt->src_cid);
	put64(out + offsetof(struct virtio_vsock_hdr, dst_cid), pkt->dst_cid);
	put32(out + offsetof(struct virtio_vsock_hdr, src_port), pkt->src_port);
	put32(out + offsetof(struct virtio_vsock_hdr, dst_port), pkt->dst_port);
	put32(out + offsetof(struct virtio_vsock_hdr, len), pkt->len);
	put16(out + offsetof(struct virtio_vsock_hdr, type), pkt->type);
	put16(out + offsetof(struct virtio_vsock_hdr, op), pkt->op);
	put32(out + offsetof(struct virtio_vsock_hdr, flags), pkt->flags);
	put32(out + offsetof(struct virtio_vsock_hdr, buf_alloc), pkt->buf_alloc);
	put32(out + offsetof(struct virtio_vsock_hdr, fwd_cnt), pkt->fwd_cnt);
}

/* ---- connections ---- */

/* What the guest's credit lets us send it now (§5.10.6.3.1); a driver
 * that reports more forwarded than we sent gets nothing. */
static uint32_t peer_credit(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight > c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static struct conn *conn_find(struct lvm_vsock *v, uint32_t local, uint32_t peer)
{
	for (struct conn *c = v->conns; c; c = c->next)
		if (c->state != C_HANDSHAKE && c->local_port == local && c->peer_port == peer)
			return c;
	return NULL;
}

/* Keeps the epoll registration in line with what the connection waits for:
 * input while the guest can take it (or the handshake line), output while
 * guest data waits for the socket.  Nothing: out of the set, so a hung-up
 * socket cannot wake us in a loop. */
static void conn_watch(struct lvm_vsock *v, struct conn *c)
{
	uint32_t want = 0;
	if (c->state == C_HANDSHAKE ||
	    (c->state == C_OPEN && !c->host_eof && !(c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_RCV) &&
	     peer_credit(c) > 0))
		want |= EPOLLIN;
	if (c->wlen)
		want |= EPOLLOUT;
	if (c->registered && want == c->events)
		return;
	struct epoll_event ev = { .events = want, .data.ptr = c };
	if (!want) {
		if (c->registered)
			epoll_ctl(v->ep, EPOLL_CTL_DEL, c->fd, &ev);
		c->registered = false;
	} else if (epoll_ctl(v->ep, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0) {
		c->registered = true;
	}
	c->events = want;
}

static struct conn *conn_new(struct lvm_vsock *v, int fd, enum conn_state state)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->state = state;
	c->next = v->conns;
	v->conns = c;
	v->nconns++;
	v->st.opened++;
	return c;
}

static void rst_queue(struct lvm_vsock *v, uint32_t src_port, uint32_t dst_port)
{
	if (v->rst_len == RST_RING) {
		v->st.rst_dropped++;
		return;
	}
	v->rsts[(v->rst_head + v->rst_len++) % RST_RING] = (struct rst){ src_port, dst_port };
}

/* Out of the list, into the graveyard (the I/O thread closes it, which
 * also takes it out of the epoll set).  No system call: a vCPU thread
 * resetting the device may not make one. */
static void conn_bury(struct lvm_vsock *v, struct conn *c)
{
	for (struct conn **p = &v->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	c->dead = true;
	c->next = v->graveyard;
	v->graveyard = c;
	v->nconns--;
	v->st.closed++;
}

/* Ends a connection now: out of the epoll set and buried; with `rst`, the
 * guest hears of it. */
static void conn_close(struct lvm_vsock *v, struct conn *c, bool rst)
{
	if (c->registered)
		epoll_ctl(v->ep, EPOLL_CTL_DEL, c->fd, &(struct epoll_event){ 0 });
	c->registered = false;
	if (rst && c->state != C_HANDSHAKE)
		rst_queue(v, c->local_port, c->peer_port);
	conn_bury(v, c);
}

static void reap(struct lvm_vsock *v)
{
	while (v->graveyard) {
		struct conn *c = v->graveyard;
		v->graveyard = c->next;
		close(c->fd);
		free(c->wbuf);
		free(c);
	}
}

/* Both directions are done (or the guest closed its end): reset it. */
static void conn_check_close(struct lvm_vsock *v, struct conn *c)
{
	if (c->state != C_OPEN || c->wlen)
		return;
	if ((c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) && !c->wr_shut) {
		shutdown(c->fd, SHUT_WR); /* the host reads EOF */
		c->wr_shut = true;
	}
	uint32_t both = VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV;
	if ((c->guest_shut & both) == both ||
	    ((c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_SEND) && c->host_eof && !(c->pending & P_SHUTDOWN)))
		conn_close(v, c, true);
}

/* Writes the buffered guest data to the host socket; false if the
 * connection was closed. */
static bool conn_flush(struct lvm_vsock *v, struct conn *c)
{
	size_t cap = CONN_BUF + LINE_MAX_LEN;
	while (c->wlen) {
		size_t chunk = c->wlen < cap - c->whead ? c->wlen : cap - c->whead;
		ssize_t n = send(c->fd, c->wbuf + c->whead, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) { /* the host went away */
			conn_close(v, c, true);
			return false;
		}
		c->whead = (c->whead + (size_t)n) % cap;
		c->wlen -= (size_t)n;
		size_t line = (size_t)n < c->wline ? (size_t)n : c->wline;
		c->wline -= line;
		c->fwd_cnt += (uint32_t)((size_t)n - line);
	}
	if (c->wlen == 0)
		c->whead = 0;
	/* Tell a sender that may be waiting for credit once a quarter is free. */
	if (c->fwd_cnt - c->fwd_told >= CONN_BUF / 4)
		c->pending |= P_CREDIT;
	conn_watch(v, c);
	return true;
}

/* Queues guest (or handshake) bytes for the host socket. */
static bool conn_write(struct lvm_vsock *v, struct conn *c, const void *data, size_t n)
{
	size_t cap = CONN_BUF + LINE_MAX_LEN;
	if (!c->wbuf && !(c->wbuf = malloc(cap))) {
		conn_close(v, c, true);
		return false;
	}
	if (n > cap - c->wlen) { /* cannot happen within credit */
		conn_close(v, c, true);
		return false;
	}
	size_t tail = (c->whead + c->wlen) % cap, first = n < cap - tail ? n : cap - tail;
	memcpy(c->wbuf + tail, data, first);
	memcpy(c->wbuf, (const uint8_t *)data + first, n - first);
	c->wlen += n;
	return conn_flush(v, c);
}

/* ---- the policy ---- */

enum answer { A_ALLOW, A_DENY, A_GONE };

/*
 * Asks the installed filter about a new connection (`op`: who opens it;
 * `port`: the listener's; `peer_port`: the opener's) with the transport
 * lock dropped.  A_GONE: the driver reset the device meanwhile, whatever
 * was being served belongs to a ring that no longer exists.  *fd: a stream
 * socket the policy layer made for its own listener (ours from now on), or
 * -1.  Unanswered (the machine stopped) counts as a refusal.
 */
static enum answer ask(struct lvm_vsock *v, enum lvm_filter_op op, uint32_t port,
		       uint32_t peer_port, int *fd)
{
	*fd = -1;
	const struct lvm_filter *f = __atomic_load_n(&v->filter, __ATOMIC_ACQUIRE);
	if (!f)
		return A_ALLOW;
	int given = -1;
	struct lvm_filter_request req = { .op = op, .port = port, .peer_port = peer_port,
					  .cid = v->cid, .stream_fd = &given };
	struct lvm_filter_result r = { .verdict = LVM_FILTER_DROP };
	uint64_t generation = v->generation;
	pthread_mutex_unlock(&v->transport->lock);
	f->check(f->opaque, &req, &r);
	pthread_mutex_lock(&v->transport->lock);
	bool allowed = r.verdict == LVM_FILTER_ALLOW;
	if (generation != v->generation || !allowed) {
		if (given >= 0)
			close(given);
		return generation != v->generation ? A_GONE : A_DENY;
	}
	*fd = given;
	return A_ALLOW;
}

/* ---- the host side ---- */

static void accept_host(struct lvm_vsock *v)
{
	for (;;) {
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (v->nconns >= CONN_MAX) {
			v->st.host_rejected++;
			close(fd);
			continue;
		}
		struct conn *c = conn_new(v, fd, C_HANDSHAKE);
		if (!c) {
			close(fd);
			return;
		}
		conn_watch(v, c);
	}
}

/* "CONNECT <port>\n" from a host process; reads no byte past the line. */
static void handshake(struct lvm_vsock *v, struct conn *c)
{
	char buf[LINE_MAX_LEN];
	size_t room = LINE_MAX_LEN - 1 - c->line_len;
	ssize_t n = recv(c->fd, buf, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(v, c, false);
		return;
	}
	char *nl = memchr(buf, '\n', (size_t)n);
	size_t take = nl ? (size_t)(nl - buf) + 1 : (size_t)n;
	n = recv(c->fd, c->line + c->line_len, take, MSG_DONTWAIT);
	if (n != (ssize_t)take) {
		conn_close(v, c, false);
		return;
	}
	c->line_len += take;
	if (!nl) {
		if (c->line_len >= LINE_MAX_LEN - 1)
			conn_close(v, c, false);
		return;
	}
	c->line[c->line_len - 1] = '\0';
	char *end = NULL;
	unsigned long port = 0;
	if (strncmp(c->line, "CONNECT ", 8) == 0 && c->line[8] >= '0' && c->line[8] <= '9')
		port = strtoul(c->line + 8, &end, 10);
	if (!end || *end != '\0' || port > UINT32_MAX) {
		v->st.host_rejected++;
		conn_close(v, c, false);
		return;
	}
	c->local_port = v->next_port++;
	c->peer_port = (uint32_t)port;
	int fd;
	enum answer a = ask(v, LVM_FILTER_VSOCK_HOST, c->peer_port, c->local_port, &fd);
	if (fd >= 0) /* only a guest's connection is handed a socket */
		close(fd);
	if (a == A_GONE || c->dead) /* reset meanwhile: it is buried already */
		return;
	if (a == A_DENY) {
		v->st.denied++;
		conn_close(v, c, false);
		return;
	}
	c->state = C_CONNECTING;
	c->pending |= P_REQUEST;
	conn_watch(v, c);
}

/* A guest REQUEST to host port `port`: the unix socket "<path>_<port>". */
static int connect_host(struct lvm_vsock *v, uint32_t port)
{
	if (!v->path[0])
		return -1;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t len = strlen(v->path); /* parse left room for the suffix */
	char suffix[PATH_SUFFIX_MAX];
	snprintf(suffix, sizeof(suffix), "_%u", port);
	memcpy(addr.sun_path, v->path, len);
	memcpy(addr.sun_path + len, suffix, strlen(suffix) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- guest -> host: the transmit queue ---- */

/*
 * A guest REQUEST for host port dst_port: the policy first (which may hand
 * us a Lua listener's socket), else the unix socket "<path>_<port>"; RST
 * if refused or if nobody listens.  False if the device was reset while
 * the policy was asked.
 */
static bool guest_connect(struct lvm_vsock *v, const struct lvm_vsock_pkt *p)
{
	int fd;
	enum answer a = ask(v, LVM_FILTER_VSOCK_GUEST, p->dst_port, p->src_port, &fd);
	if (a == A_GONE)
		return false;
	/* The same ports may have connected meanwhile (vm.vsock:connect). */
	bool taken = conn_find(v, p->dst_port, p->src_port) != NULL;
	if (a == A_ALLOW && fd < 0 && !taken && v->nconns < CONN_MAX)
		fd = connect_host(v, p->dst_port);
	struct conn *c = NULL;
	if (fd >= 0 && !taken && v->nconns < CONN_MAX)
		c = conn_new(v, fd, C_OPEN);
	if (!c) {
		if (fd >= 0)
			close(fd);
		if (a == A_DENY)
			v->st.denied++;
		else
			v->st.refused++;
		rst_queue(v, p->dst_port, p->src_port);
		return true;
	}
	c->local_port = p->dst_port;
	c->peer_port = p->src_port;
	c->peer_buf_alloc = p->buf_alloc;
	c->peer_fwd_cnt = p->fwd_cnt;
	c->pending |= P_RESPONSE;
	conn_watch(v, c);
	return true;
}

/* One valid packet from the driver; false if the device was reset while
 * it was being served (its chain must not be touched). */
static bool guest_packet(struct lvm_vsock *v, const struct lvm_vsock_pkt *p,
			 const struct lvm_vq_chain *chain)
{
	struct conn *c = conn_find(v, p->dst_port, p->src_port);
	if (p->op == VIRTIO_VSOCK_OP_RST) {
		if (c)
			conn_close(v, c, false);
		return true;
	}
	if (p->op == VIRTIO_VSOCK_OP_REQUEST) {
		if (!c)
			return guest_connect(v, p);
		conn_close(v, c, true); /* a second REQUEST on a live connection */
		return true;
	}
	if (!c) {
		rst_queue(v, p->dst_port, p->src_port);
		return true;
	}
	/* Every header carries the sender's credit (§5.10.6.3.1). */
	c->peer_buf_alloc = p->buf_alloc;
	c->peer_fwd_cnt = p->fwd_cnt;
	switch (p->op) {
	case VIRTIO_VSOCK_OP_RESPONSE: {
		if (c->state != C_CONNECTING) {
			conn_close(v, c, true);
			return true;
		}
		c->state = C_OPEN;
		char ok[LINE_MAX_LEN];
		int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
		c->wline = (size_t)n; /* not guest data: fwd_cnt does not count it */
		if (!conn_write(v, c, ok, (size_t)n))
			return true;
		break;
	}
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c->state != C_OPEN) {
			conn_close(v, c, true);
			return true;
		}
		c->guest_shut |= p->flags & (VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV);
		break;
	case VIRTIO_VSOCK_OP_RW: {
		if (c->state != C_OPEN || (c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_SEND)) {
			conn_close(v, c, true);
			return true;
		}
		/* Beyond the credit we gave: the guest lies; reset it. */
		if ((uint64_t)(c->rx_cnt - c->fwd_cnt) + p->len > CONN_BUF) {
			v->st.credit_violations++;
			conn_close(v, c, true);
			return true;
		}
		size_t got = lvm_iov_read(chain->out, chain->nout, LVM_VSOCK_HDR_LEN, v->payload,
					  p->len);
		c->rx_cnt += (uint32_t)got;
		v->st.tx_bytes += got;
		if (!conn_write(v, c, v->payload, got))
			return true;
		break;
	}
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pending |= P_CREDIT;
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;
	}
	conn_watch(v, c);
	conn_check_close(v, c);
	return true;
}

static void tx_run(struct lvm_vsock *v, struct lvm_virtio_transport *t)
{
	bool any = false;
	do {
		while (lvm_virtio_pop(t, Q_TX, &v->tx_chain)) {
			struct lvm_vq_chain *ch = &v->tx_chain;
			uint8_t hdr[LVM_VSOCK_HDR_LEN];
			size_t n = lvm_iov_read(ch->out, ch->nout, 0, hdr, sizeof(hdr));
			struct lvm_vsock_pkt p;
			enum lvm_vsock_verdict verdict = lvm_vsock_parse(hdr, n, ch->out_len, v->cid, &p);
			v->st.tx_packets++;
			if (verdict == LVM_VSOCK_OK) {
				if (!guest_packet(v, &p, ch))
					return; /* reset meanwhile: the ring is gone */
			} else {
				v->st.bad_packets++;
				if (verdict != LVM_VSOCK_SHORT && p.op != VIRTIO_VSOCK_OP_RST) {
					/* A bad packet for a live connection ends it. */
					struct conn *c = p.src_cid == v->cid
						? conn_find(v, p.dst_port, p.src_port) : NULL;
					if (c)
						conn_close(v, c, true);
					else
						rst_queue(v, p.dst_port, p.src_port);
				}
			}
			lvm_vq_push(&t->vq[Q_TX], ch->head, 0);
			any = true;
		}
	} while (lvm_virtio_driver_ok(t) && lvm_vq_arm_notify(&t->vq[Q_TX]));
	if (any)
		lvm_virtio_notify_used(t, Q_TX);
}

/* ---- host -> guest: the receive queue ---- */

/* The next packet for the guest into *p (payload in v->payload); `room`
 * is how much payload the held buffer takes.  False: nothing to send. */
static bool next_packet(struct lvm_vsock *v, struct lvm_vsock_pkt *p, uint32_t room)
{
	*p = (struct lvm_vsock_pkt){ .src_cid = LVM_VSOCK_HOST_CID, .dst_cid = v->cid,
				     .type = VIRTIO_VSOCK_TYPE_STREAM };
	if (v->rst_len) {
		struct rst r = v->rsts[v->rst_head];
		v->rst_head = (v->rst_head + 1) % RST_RING;
		v->rst_len--;
		p->op = VIRTIO_VSOCK_OP_RST;
		p->src_port = r.src_port;
		p->dst_port = r.dst_port;
		v->st.rst_sent++;
		return true;
	}
	for (struct conn *c = v->conns, *next; c; c = next) {
		next = c->next;
		if (c->state == C_HANDSHAKE)
			continue;
		p->src_port = c->local_port;
		p->dst_port = c->peer_port;
		p->buf_alloc = CONN_BUF;
		p->fwd_cnt = c->fwd_cnt;
		/* A data packet carries our credit too: CREDIT_UPDATE alone waits
		 * behind data, so a driver asking for credit in a loop cannot
		 * starve the stream of receive buffers. */
		if (c->pending & ~(unsigned)P_CREDIT) {
			unsigned bit = c->pending & -c->pending;
			c->pending &= ~bit;
			c->fwd_told = c->fwd_cnt;
			p->op = bit == P_REQUEST ? VIRTIO_VSOCK_OP_REQUEST
			      : bit == P_RESPONSE ? VIRTIO_VSOCK_OP_RESPONSE
			      : bit == P_SHUTDOWN ? VIRTIO_VSOCK_OP_SHUTDOWN
			      : VIRTIO_VSOCK_OP_CREDIT_UPDATE;
			if (bit == P_SHUTDOWN) {
				p->flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
				conn_check_close(v, c);
			}
			return true;
		}
		uint32_t want = peer_credit(c);
		if (want > room)
			want = room;
		if (c->state != C_OPEN || !c->readable || c->host_eof ||
		    (c->guest_shut & VIRTIO_VSOCK_SHUTDOWN_RCV) || want == 0) {
			if (c->pending & P_CREDIT) {
				c->pending &= ~(unsigned)P_CREDIT;
				c->fwd_told = c->fwd_cnt;
				p->op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
				return true;
			}
			continue;
		}
		ssize_t n = recv(c->fd, v->payload, want, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			c->readable = false;
			next = c; /* its CREDIT_UPDATE, if one is owed */
			continue;
		}
		if (n <= 0) { /* EOF: the host will send no more; an error ends it */
			if (n < 0) {
				conn_close(v, c, true);
				continue;
			}
			c->host_eof = true;
			c->readable = false;
			c->pending |= P_SHUTDOWN;
			conn_watch(v, c);
			next = v->conns; /* send the SHUTDOWN now */
			continue;
		}
		c->tx_cnt += (uint32_t)n;
		c->fwd_told = c->fwd_cnt;
		c->pending &= ~(unsigned)P_CREDIT;
		p->op = VIRTIO_VSOCK_OP_RW;
		p->len = (uint32_t)n;
		v->st.rx_bytes += (uint64_t)n;
		conn_watch(v, c);
		return true;
	}
	return false;
}

/* Fills receive buffers while there is something to send. */
static void rx_run(struct lvm_vsock *v, struct lvm_virtio_transport *t)
{
	bool any = false;
	for (;;) {
		if (!v->rx_held) {
			if (!lvm_virtio_pop(t, Q_RX, &v->rx_chain)) {
				t->device_fd_paused = true; /* until the driver posts buffers */
				break;
			}
			if (v->rx_chain.in_len < LVM_VSOCK_HDR_LEN) { /* useless: give it back */
				v->st.short_buffers++;
				lvm_vq_push(&t->vq[Q_RX], v->rx_chain.head, 0);
				any = true;
				continue;
			}
			v->rx_held = true;
		}
		uint64_t room = v->rx_chain.in_len - LVM_VSOCK_HDR_LEN;
		struct lvm_vsock_pkt p;
		if (!next_packet(v, &p, room > LVM_VSOCK_PAYLOAD_MAX ? LVM_VSOCK_PAYLOAD_MAX
								  : (uint32_t)room))
			break;
		uint8_t hdr[LVM_VSOCK_HDR_LEN];
		lvm_vsock_encode(&p, hdr);
		lvm_iov_write(v->rx_chain.in, v->rx_chain.nin, 0, hdr, sizeof(hdr));
		if (p.len)
			lvm_iov_write(v->rx_chain.in, v->rx_chain.nin, LVM_VSOCK_HDR_LEN, v->payload,
				      p.len);
		lvm_vq_push(&t->vq[Q_RX], v->rx_chain.head, LVM_VSOCK_HDR_LEN + p.len);
		v->rx_held = false;
		v->st.rx_packets++;
		any = true;
	}
	if (any)
		lvm_virtio_notify_used(t, Q_RX);
}

/* ---- the event queue ---- */

/*
 * TRANSPORT_RESET (virtio 1.2 §5.10.6, "Device Events"; struct
 * virtio_vsock_event) in the driver's next event buffer, if it posted one:
 * every connection it knows is gone.  Linux then resets each connected
 * socket (ECONNRESET) and reads guest_cid again; listening sockets stay.
 * A buffer too short for the event goes back empty.
 */
static void send_events(struct lvm_vsock *v, struct lvm_virtio_transport *t)
{
	bool any = false;
	while (v->reset_owed && lvm_virtio_pop(t, Q_EVENT, &v->ev_chain)) {
		struct lvm_vq_chain *ch = &v->ev_chain;
		uint32_t len = 0;
		if (ch->in_len >= sizeof(struct virtio_vsock_event)) {
			uint8_t ev[sizeof(struct virtio_vsock_event)];
			put32(ev, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
			lvm_iov_write(ch->in, ch->nin, 0, ev, sizeof(ev));
			len = sizeof(ev);
			v->reset_owed = false;
			v->st.transport_resets++;
		}
		lvm_vq_push(&t->vq[Q_EVENT], ch->head, len);
		any = true;
	}
	if (any)
		lvm_virtio_notify_used(t, Q_EVENT);
}

/* ---- transport ops ---- */

static void vsock_queue_event(void *dev, struct lvm_virtio_transport *t, unsigned q)
{
	struct lvm_vsock *v = dev;
	reap(v);
	if (q == Q_EVENT) {
		send_events(v, t);
		return;
	}
	if (q == Q_TX)
		tx_run(v, t);
	else
		t->device_fd_paused = false;
	rx_run(v, t);
	reap(v); /* a host socket we closed sees EOF now, not at the next event */
}

static void vsock_device_event(void *dev, struct lvm_virtio_transport *t)
{
	struct lvm_vsock *v = dev;
	reap(v);
	if (!lvm_virtio_driver_ok(t)) {
		t->device_fd_paused = true; /* nobody to connect to yet */
		return;
	}
	struct epoll_event evs[32];
	int n = epoll_wait(v->ep, evs, 32, 0);
	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr == NULL) {
			accept_host(v);
			continue;
		}
		struct conn *c = evs[i].data.ptr;
		if (c->dead)
			continue;
		if ((evs[i].events & EPOLLOUT) && !conn_flush(v, c))
			continue;
		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			if (c->state == C_HANDSHAKE)
				handshake(v, c);
			else
				c->readable = true;
		}
		if (!c->dead)
			conn_check_close(v, c);
	}
	rx_run(v, t);
	reap(v);
}

/* A nudge from the control thread (vm.vsock:connect) or a wait that ended. */
static void vsock_timer_event(void *dev, struct lvm_virtio_transport *t)
{
	struct lvm_vsock *v = dev;
	reap(v);
	rx_run(v, t);
	reap(v);
}

static void vsock_read_config(void *dev, uint8_t *config)
{
	struct lvm_vsock *v = dev;
	put64(config, v->cid);
}

/* §5.10.6.1 / device reset: every connection is gone. */
static void vsock_reset(void *dev)
{
	struct lvm_vsock *v = dev;
	while (v->conns)
		conn_bury(v, v->conns); /* closed (and unwatched) by the I/O thread */
	v->rst_len = 0;
	v->rx_held = false;
	v->reset_owed = false; /* the next driver starts with no connection */
	v->generation++;
	v->transport->device_fd_paused = true;
}

static const struct lvm_virtio_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = 3,
	.features = 0,
	.config_size = sizeof(struct virtio_vsock_config),
	.read_config = vsock_read_config,
	.queue_event = vsock_queue_event,
	.device_event = vsock_device_event,
	.timer_event = vsock_timer_event,
	.reset = vsock_reset,
};

static int listen_on(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	struct stat sb;
	if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(path); /* a stale socket from an earlier run */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return lvm_fail_errno("path: socket");
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return lvm_fail_errno("path: cannot listen on %s", path);
	}
	return fd;
}

static void vsock_free(void *dev)
{
	struct lvm_vsock *v = dev;
	if (!v)
		return;
	lvm_virtio_free(v->transport);
	while (v->conns)
		conn_close(v, v->conns, false);
	reap(v);
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		unlink(v->path);
	}
	if (v->ep >= 0)
		close(v->ep);
	free(v);
}

static void *vsock_create(const struct lvm_device_env *env, const void *params)
{
	const struct vsock_params *pp = params;
	struct lvm_vsock *v = calloc(1, sizeof(*v));
	if (!v) {
		lvm_fail("out of memory");
		return NULL;
	}
	v->cid = pp->cid;
	v->next_port = HOST_PORT_FIRST;
	v->listen_fd = -1;
	memcpy(v->path, pp->path, sizeof(v->path));
	v->ep = epoll_create1(EPOLL_CLOEXEC);
	if (v->ep < 0) {
		lvm_fail_errno("epoll");
		vsock_free(v);
		return NULL;
	}
	if (v->path[0]) {
		v->listen_fd = listen_on(v->path);
		if (v->listen_fd < 0) {
			vsock_free(v);
			return NULL;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		epoll_ctl(v->ep, EPOLL_CTL_ADD, v->listen_fd, &ev);
	}
	v->transport = lvm_virtio_new(env->vm, env->base, env->gsi, &vsock_ops, v);
	if (!v->transport) {
		vsock_free(v);
		return NULL;
	}
	v->transport->device_fd_paused = true; /* until the driver is ready */
	lvm_virtio_set_device_fd(v->transport, v->ep);
	return v;
}

static int vsock_start(void *dev)
{
	struct lvm_vsock *v = dev;
	return lvm_virtio_start(v->transport);
}

/* ---- its entry in the machine's device table ---- */

/* vsock = { cid = 3, path = "v.sock" } (path optional). */
static void *vsock_parse(const struct lvm_value *v, const char *where, unsigned index)
{
	static const char *const keys[] = { "cid", "path", NULL };
	(void)index;
	if (v->type != LVM_VALUE_TABLE) {
		lvm_fail("%s must be a table { cid = N, path = \"...\" }, not a %s", where,
			 lvm_value_type_name(v));
		return NULL;
	}
	if (lvm_value_check_keys(v, where, keys, NULL) < 0)
		return NULL;
	const struct lvm_value *cid = lvm_value_get(v, "cid");
	const struct lvm_value *path = lvm_value_get(v, "path");
	if (!cid || cid->type != LVM_VALUE_INTEGER || cid->integer < 3 ||
	    cid->integer > 0xfffffffe) {
		char shown[64];
		lvm_fail("%s.cid must be an integer from 3 to 4294967294, not %s", where,
			 cid ? lvm_value_show(cid, shown, sizeof(shown)) : "missing");
		return NULL;
	}
	struct vsock_params *p = calloc(1, sizeof(*p));
	if (!p) {
		lvm_fail("out of memory");
		return NULL;
	}
	p->cid = (uint64_t)cid->integer;
	if (path) {
		if (path->type != LVM_VALUE_STRING || path->len == 0 ||
		    memchr(path->str, '\0', path->len) ||
		    path->len + PATH_SUFFIX_MAX > sizeof(p->path)) {
			lvm_fail("%s.path must be a unix socket path of 1 to %zu bytes", where,
				 sizeof(p->path) - PATH_SUFFIX_MAX);
			free(p);
			return NULL;
		}
		memcpy(p->path, path->str, path->len);
	}
	return p;
}

static unsigned vsock_resources(const void *params, struct lvm_device_resource *out)
{
	const struct vsock_params *p = params;
	if (!p->path[0])
		return 0;
	out[0] = (struct lvm_device_resource){ .key = "path", .name = p->path, .write = true };
	return 1;
}

static unsigned vsock_stats(void *dev, struct lvm_device_stat *out)
{
	struct lvm_vsock *v = dev;
	unsigned n = 0;
	pthread_mutex_lock(&v->transport->lock);
	out[n++] = (struct lvm_device_stat){ "cid", v->cid };
	out[n++] = (struct lvm_device_stat){ "connections", v->nconns };
	out[n++] = (struct lvm_device_stat){ "opened", v->st.opened };
	out[n++] = (struct lvm_device_stat){ "closed", v->st.closed };
	out[n++] = (struct lvm_device_stat){ "refused", v->st.refused };
	out[n++] = (struct lvm_device_stat){ "host_rejected", v->st.host_rejected };
	out[n++] = (struct lvm_device_stat){ "rst_sent", v->st.rst_sent };
	out[n++] = (struct lvm_device_stat){ "rst_dropped", v->st.rst_dropped };
	out[n++] = (struct lvm_device_stat){ "bad_packets", v->st.bad_packets };
	out[n++] = (struct lvm_device_stat){ "credit_violations", v->st.credit_violations };
	out[n++] = (struct lvm_device_stat){ "short_buffers", v->st.short_buffers };
	out[n++] = (struct lvm_device_stat){ "tx_packets", v->st.tx_packets };
	out[n++] = (struct lvm_device_stat){ "rx_packets", v->st.rx_packets };
	out[n++] = (struct lvm_device_stat){ "tx_bytes", v->st.tx_bytes };
	out[n++] = (struct lvm_device_stat){ "rx_bytes", v->st.rx_bytes };
	out[n++] = (struct lvm_device_stat){ "denied", v->st.denied };
	out[n++] = (struct lvm_device_stat){ "transport_resets", v->st.transport_resets };
	pthread_mutex_unlock(&v->transport->lock);
	return n;
}

/* The policy layer's filter (NULL: none); any thread, any time. */
static void vsock_set_filter(void *dev, const struct lvm_filter *filter)
{
	struct lvm_vsock *v = dev;
	__atomic_store_n(&v->filter, filter, __ATOMIC_RELEASE);
}

/*
 * vm.vsock:connect_fd(port) -> fd: a host connection to the guest's port
 * without the unix listener: one end of a socketpair joins the device as if
 * a host process had sent "CONNECT port\n" on it; the caller gets the other
 * end (non-blocking) and reads "OK <host_port>\n" once the guest accepts,
 * or EOF if it refuses.  The Lua stream (src/lua/vsock.c) wraps it.
 */
static int vsock_call_connect_fd(void *dev, const struct lvm_value *args, int64_t *out)
{
	struct lvm_vsock *v = dev;
	const struct lvm_value *port = lvm_value_item(args, 1);
	if (!port || port->type != LVM_VALUE_INTEGER || port->integer < 0 ||
	    port->integer > UINT32_MAX)
		return lvm_fail("the port must be an integer from 0 to 4294967295");
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return lvm_fail_errno("socketpair");
	pthread_mutex_lock(&v->transport->lock);
	struct conn *c = NULL;
	if (lvm_virtio_driver_ok(v->transport) && v->nconns < CONN_MAX)
		c = conn_new(v, sv[0], C_CONNECTING);
	if (c) {
		c->local_port = v->next_port++;
		c->peer_port = (uint32_t)port->integer;
		c->pending |= P_REQUEST;
		conn_watch(v, c);
		lvm_virtio_arm_timer(v->transport, 1); /* the I/O thread sends the REQUEST */
	}
	bool ready = lvm_virtio_driver_ok(v->transport);
	pthread_mutex_unlock(&v->transport->lock);
	if (!c) {
		close(sv[0]);
		close(sv[1]);
		return ready ? lvm_fail("too many connections")
			     : lvm_fail("the guest's driver is not ready");
	}
	out[0] = sv[1];
	return 1;
}

static const struct lvm_device_method vsock_methods[] = {
	{ "connect_fd", vsock_call_connect_fd },
	{ NULL, NULL },
};

/* ---- snapshots ---- */

/*
 * A connection's other end is a host process (or a Lua stream), which a
 * restored machine or a fork does not have: connections are not part of
 * the state.  The machine that is saved keeps its own and goes on as if
 * nothing happened; the machine that loads the state starts without any
 * and, if the driver was live, owes its guest a TRANSPORT_RESET, sent as
 * soon as an event buffer is there (Linux keeps some posted).  Firecracker
 * sends the same event, but to the machine it saves, at snapshot time,
 * which loses its connections too.  Until the driver has acted on it,
 * packets for the connections it still believes in are answered with RST
 * like any packet for no connection.  The state is the guest's CID, the
 * host port allocator and the RSTs still owed.  The receive buffer the
 * device may hold, waiting for a packet, goes back to the ring unwritten.
 * A policy call in flight (the I/O thread waiting for the control thread,
 * which is the caller) makes lvm_virtio_quiesce refuse.
 */
static int vsock_quiesce(void *dev)
{
	struct lvm_vsock *v = dev;
	struct lvm_virtio_transport *t = v->transport;
	if (lvm_virtio_quiesce(t) < 0)
		return -1;
	pthread_mutex_lock(&t->lock);
	if (v->rx_held) {
		lvm_vq_unpop(&t->vq[Q_RX]);
		v->rx_held = false;
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void vsock_resume(void *dev)
{
	struct lvm_vsock *v = dev;
	lvm_virtio_resume(v->transport);
}

static void vsock_save(void *dev, struct lvm_state_writer *w)
{
	struct lvm_vsock *v = dev;
	lvm_virtio_save(v->transport, w);
	pthread_mutex_lock(&v->transport->lock);
	lvm_state_put_u64(w, v->cid);
	lvm_state_put_u32(w, v->next_port);
	lvm_state_put_u32(w, v->rst_len);
	for (unsigned i = 0; i < v->rst_len; i++) {
		const struct rst *r = &v->rsts[(v->rst_head + i) % RST_RING];
		lvm_state_put_u32(w, r->src_port);
		lvm_state_put_u32(w, r->dst_port);
	}
	pthread_mutex_unlock(&v->transport->lock);
}

static int vsock_load(void *dev, struct lvm_state_reader *r)
{
	struct lvm_vsock *v = dev;
	if (lvm_virtio_load(v->transport, r) < 0)
		return -1;
	uint64_t cid = lvm_state_get_u64(r);
	uint32_t next_port = lvm_state_get_u32(r), n = lvm_state_get_u32(r);
	if (r->failed)
		return -1;
	if (cid != v->cid) /* the driver read it at probe */
		return lvm_state_bad(r, "guest CID %llu, this device has %llu",
				     (unsigned long long)cid, (unsigned long long)v->cid);
	if (n > RST_RING)
		return lvm_state_bad(r, "%u RSTs owed, at most %u fit", n, RST_RING);
	struct rst rsts[RST_RING];
	for (unsigned i = 0; i < n; i++) {
		rsts[i].src_port = lvm_state_get_u32(r);
		rsts[i].dst_port = lvm_state_get_u32(r);
	}
	if (r->failed)
		return -1;
	pthread_mutex_lock(&v->transport->lock);
	v->next_port = next_port;
	memcpy(v->rsts, rsts, n * sizeof(rsts[0]));
	v->rst_head = 0;
	v->rst_len = n;
	/* Served at start: the transport signals each ready queue once. */
	v->reset_owed = lvm_virtio_driver_ok(v->transport);
	pthread_mutex_unlock(&v->transport->lock);
	return 0;
}

/* vsock = { cid = N, path = "..." } */
const struct lvm_device_type lvm_vsock_device = {
	.key = "vsock",
	.object = "vsock",
	.parse = vsock_parse,
	.resources = vsock_resources,
	.create = vsock_create,
	.start = vsock_start,
	.free = vsock_free,
	.stats = vsock_stats,
	.set_filter = vsock_set_filter,
	.methods = vsock_methods,
	.quiesce = vsock_quiesce,
	.resume = vsock_resume,
	.save = vsock_save,
	.load = vsock_load,
};
