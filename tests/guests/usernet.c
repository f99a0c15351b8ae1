/*
 * usernet: a tiny IPv4 host on the first virtio-net device, polled at
 * ring 3, to prove a user network (libslirp) works end to end.  The
 * command line is a list of steps, run in order:
 *   dhcp   DHCP discover/offer/request/ack; prints
 *          "usernet: lease A router R dns D server S"
 *   arp    ARP for the router; prints "usernet: gateway MAC"
 *   ping   an ICMP echo to the router; prints "usernet: ping reply from R"
 *   wait   waits for a byte on the serial console ("usernet: waiting")
 *   connect:PORT
 *          a TCP connection to the router's PORT (the host's 127.0.0.1,
 *          through NAT): sends "hello from the guest\n", reads one line,
 *          closes; prints "usernet: connect got LINE"
 *   dns    a DNS query (A, "localhost") to the DNS address; prints
 *          "usernet: dns answered" or "usernet: dns no answer" (the host
 *          may have no resolver: not a failure)
 *   serve  answers UDP datagrams to port 7 with "echo " + the datagram and
 *          serves one TCP connection on port 8: reads a line, answers
 *          "hello, LINE\n" and closes; prints "usernet: tcp got LINE"
 *          and "usernet: tcp closed" (prints "usernet: serving" first)
 * Words with '=' (the virtio_mmio.device= entries) are skipped.  Exits 0
 * when every step worked ("usernet: done"), 1 at the first that did not.
 * ARP requests for our address are answered whenever we listen.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_NET 1
#define F_MAC (1ull << 5)
#define HDR 12 /* struct virtio_net_hdr_v1 */
#define FRAME 1514
#define RX_BUFS 8
#define SPINS_SHORT 50000000ull /* ~50 ms of polling at ring 3 */

static struct vq rxq, txq;
static uint8_t rx_page[4096] __attribute__((aligned(4096)));
static uint8_t tx_page[4096] __attribute__((aligned(4096)));
static uint8_t rx_buf[RX_BUFS][HDR + FRAME];
static uint8_t tx_buf[HDR + FRAME];
static uint8_t frame[FRAME]; /* the frame being looked at (a copy) */
static uint32_t frame_len;

static uint8_t mac[6], gw_mac[6];
static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static uint8_t my_ip[4], router[4], dns[4], server[4];
static uint16_t ip_id = 1;

/* ---- printing ---- */

static void put_hex2(uint8_t b)
{
	static const char digits[] = "0123456789abcdef";
	serial_putc(digits[b >> 4]);
	serial_putc(digits[b & 15]);
}

static void put_mac(const uint8_t *m)
{
	for (int i = 0; i < 6; i++) {
		put_hex2(m[i]);
		if (i < 5)
			serial_putc(':');
	}
}

static void put_ip(const uint8_t *ip)
{
	for (int i = 0; i < 4; i++) {
		serial_put_dec(ip[i]);
		if (i < 3)
			serial_putc('.');
	}
}

/* ---- bytes ---- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* The Internet checksum (RFC 1071): one's complement sum of 16-bit words. */
static uint32_t sum_add(uint32_t sum, const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t sum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ---- the device ---- */

static void post_rx(uint16_t i)
{
	rxq.desc[i].addr = (uint64_t)rx_buf[i];
	rxq.desc[i].len = sizeof(rx_buf[i]);
	rxq.desc[i].flags = VQ_F_WRITE;
	vq_submit(&rxq, i);
}

/* Sends the frame of `len` bytes built at tx_buf + HDR. */
static void send_frame(uint32_t len)
{
	memset(tx_buf, 0, HDR);
	if (len < 60)
		len = 60; /* Ethernet's minimum, zero-padded */
	txq.desc[0].addr = (uint64_t)tx_buf;
	txq.desc[0].len = HDR + len;
	txq.desc[0].flags = 0;
	vq_submit(&txq, 0);
	vq_wait(&txq, 0, 40000000000ull);
}

static uint8_t *eth(const uint8_t *dst, uint16_t type)
{
	uint8_t *f = tx_buf + HDR;
	memset(f, 0, FRAME);
	memcpy(f, dst, 6);
	memcpy(f + 6, mac, 6);
	put16(f + 12, type);
	return f + 14;
}

/* An IPv4 header at p for `payload` bytes of protocol `proto`. */
static uint8_t *ip4(uint8_t *p, uint8_t proto, const uint8_t *src, const uint8_t *dst,
		    uint16_t payload)
{
	p[0] = 0x45;
	put16(p + 2, (uint16_t)(20 + payload));
	put16(p + 4, ip_id++);
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, src, 4);
	memcpy(p + 16, dst, 4);
	put16(p + 10, sum_fold(sum_add(0, p, 20)));
	return p + 20;
}

/* The TCP/UDP checksum over the pseudo-header and the segment at seg. */
static uint16_t l4_sum(uint8_t proto, const uint8_t *src, const uint8_t *dst, const uint8_t *seg,
		       uint16_t len)
{
	uint8_t pseudo[12];
	memcpy(pseudo, src, 4);
	memcpy(pseudo + 4, dst, 4);
	pseudo[8] = 0;
	pseudo[9] = proto;
	put16(pseudo + 10, len);
	return sum_fold(sum_add(sum_add(0, pseudo, 12), seg, len));
}

static void send_udp(const uint8_t *dst_mac, const uint8_t *src, const uint8_t *dst,
		     uint16_t sport, uint16_t dport, const uint8_t *data, uint16_t len)
{
	uint8_t *u = ip4(eth(dst_mac, 0x0800), 17, src, dst, (uint16_t)(8 + len));
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + len));
	memcpy(u + 8, data, len);
	uint16_t sum = l4_sum(17, src, dst, u, (uint16_t)(8 + len));
	put16(u + 6, sum ? sum : 0xffff);
	send_frame((uint32_t)(14 + 20 + 8 + len));
}

static void answer_arp(void)
{
	const uint8_t *a = frame + 14;
	if (memcmp(a + 24, my_ip, 4) != 0)
		return; /* not for us */
	uint8_t *r = eth(frame + 6, 0x0806);
	put16(r, 1);
	put16(r + 2, 0x0800);
	r[4] = 6;
	r[5] = 4;
	put16(r + 6, 2);
	memcpy(r + 8, mac, 6);
	memcpy(r + 14, my_ip, 4);
	memcpy(r + 18, a + 8, 10); /* their MAC and address */
	send_frame(14 + 28);
}

/*
 * The next frame (copied into `frame`) within about `spins` polls, or 0.
 * ARP requests are answered on the way (those for us) and not returned.
 */
static int next_frame(uint64_t spins)
{
	uint32_t len;
	int id;
	while ((id = vq_wait(&rxq, &len, spins)) >= 0) {
		frame_len = len > HDR ? len - HDR : 0;
		if (frame_len > FRAME)
			frame_len = FRAME;
		memcpy(frame, rx_buf[id] + HDR, frame_len);
		post_rx((uint16_t)id);
		if (frame_len >= 42 && get16(frame + 12) == 0x0806 && get16(frame + 20) == 1) {
			if (my_ip[0])
				answer_arp();
			continue;
		}
		if (frame_len >= 14)
			return 1;
	}
	return 0;
}

/* The IPv4 packet of protocol `proto` in `frame` (its payload and length), or 0. */
static const uint8_t *ip_payload(uint8_t proto, uint16_t *len, const uint8_t **ip)
{
	if (frame_len < 34 || get16(frame + 12) != 0x0800)
		return 0;
	const uint8_t *p = frame + 14;
	uint32_t hl = (uint32_t)(p[0] & 15) * 4, total = get16(p + 2);
	if ((p[0] >> 4) != 4 || hl < 20 || total < hl || 14 + total > frame_len || p[9] != proto)
		return 0;
	*len = (uint16_t)(total - hl);
	*ip = p;
	return p + hl;
}

/* ---- DHCP (RFC 2131) ---- */

#define XID 0x4c564d31u

static void dhcp_send(uint8_t type)
{
	static const uint8_t zero[4], all[4] = { 255, 255, 255, 255 };
	static uint8_t b[300];
	memset(b, 0, sizeof(b));
	b[0] = 1; /* BOOTREQUEST */
	b[1] = 1; /* Ethernet */
	b[2] = 6;
	put32(b + 4, XID);
	put16(b + 10, 0x8000); /* answer by broadcast: we have no address yet */
	memcpy(b + 28, mac, 6);
	put32(b + 236, 0x63825363); /* the magic cookie */
	uint8_t *o = b + 240;
	*o++ = 53, *o++ = 1, *o++ = type;
	if (type == 3) { /* REQUEST: the offered address from that server */
		*o++ = 50, *o++ = 4;
		memcpy(o, my_ip, 4), o += 4;
		*o++ = 54, *o++ = 4;
		memcpy(o, server, 4), o += 4;
	}
	*o++ = 55, *o++ = 3, *o++ = 1, *o++ = 3, *o++ = 6;
	*o++ = 255;
	send_udp(broadcast, zero, all, 68, 67, b, (uint16_t)(o - b));
}

/* The DHCP message type of a reply to us in `frame` (its fields noted), or 0. */
static int dhcp_reply(uint8_t *yiaddr)
{
	uint16_t len;
	const uint8_t *ip, *u = ip_payload(17, &len, &ip);
	if (!u || len < 8 + 240 || get16(u + 2) != 68)
		return 0;
	const uint8_t *b = u + 8, *end = u + len;
	if (b[0] != 2 || get32(b + 4) != XID || get32(b + 236) != 0x63825363)
		return 0;
	memcpy(yiaddr, b + 16, 4);
	int type = 0;
	for (const uint8_t *o = b + 240; o < end && *o != 255;) {
		if (*o == 0) {
			o++;
			continue;
		}
		if (o + 2 > end || o + 2 + o[1] > end)
			break;
		const uint8_t *v = o + 2;
		if (o[0] == 53 && o[1] == 1)
			type = v[0];
		else if (o[0] == 3 && o[1] >= 4)
			memcpy(router, v, 4);
		else if (o[0] == 6 && o[1] >= 4)
			memcpy(dns, v, 4);
		else if (o[0] == 54 && o[1] == 4)
			memcpy(server, v, 4);
		o += 2 + o[1];
	}
	return type;
}

/* Sends a message of `type` until a reply of `want` comes (10 tries). */
static int dhcp_exchange(uint8_t type, int want, uint8_t *yiaddr)
{
	for (int tries = 0; tries < 10; tries++) {
		dhcp_send(type);
		while (next_frame(SPINS_SHORT * 4))
			if (dhcp_reply(yiaddr) == want)
				return 0;
	}
	return -1;
}

static int step_dhcp(void)
{
	uint8_t offered[4];
	if (dhcp_exchange(1, 2, offered) < 0) { /* DISCOVER -> OFFER */
		serial_puts("usernet: FAIL no DHCP offer\n");
		return -1;
	}
	memcpy(my_ip, offered, 4);
	uint8_t acked[4];
	if (dhcp_exchange(3, 5, acked) < 0 || memcmp(acked, offered, 4)) { /* REQUEST -> ACK */
		serial_puts("usernet: FAIL no DHCP ack\n");
		return -1;
	}
	serial_puts("usernet: lease ");
	put_ip(my_ip);
	serial_puts(" router ");
	put_ip(router);
	serial_puts(" dns ");
	put_ip(dns);
	serial_puts(" server ");
	put_ip(server);
	serial_putc('\n');
	return 0;
}

/* ---- ARP and ICMP echo ---- */

static int step_arp(void)
{
	for (int tries = 0; tries < 10; tries++) {
		uint8_t *a = eth(broadcast, 0x0806);
		put16(a, 1);
		put16(a + 2, 0x0800);
		a[4] = 6;
		a[5] = 4;
		put16(a + 6, 1);
		memcpy(a + 8, mac, 6);
		memcpy(a + 14, my_ip, 4);
		memcpy(a + 24, router, 4);
		send_frame(14 + 28);
		while (next_frame(SPINS_SHORT * 4)) {
			const uint8_t *r = frame + 14;
			if (frame_len >= 42 && get16(frame + 12) == 0x0806 && get16(r + 6) == 2 &&
			    memcmp(r + 14, router, 4) == 0) {
				memcpy(gw_mac, r + 8, 6);
				serial_puts("usernet: gateway ");
				put_mac(gw_mac);
				serial_putc('\n');
				return 0;
			}
		}
	}
	serial_puts("usernet: FAIL no ARP reply from the router\n");
	return -1;
}

static int step_ping(void)
{
	static const char payload[] = "luavmm ping";
	const uint16_t n = 8 + sizeof(payload);
	for (uint16_t seq = 1; seq <= 20; seq++) {
		uint8_t *c = ip4(eth(gw_mac, 0x0800), 1, my_ip, router, n);
		c[0] = 8; /* echo request */
		put16(c + 4, 0x4c56);
		put16(c + 6, seq);
		memcpy(c + 8, payload, sizeof(payload));
		put16(c + 2, sum_fold(sum_add(0, c, n)));
		send_frame(14 + 20 + n);
		while (next_frame(SPINS_SHORT * 4)) {
			uint16_t len;
			const uint8_t *ip, *r = ip_payload(1, &len, &ip);
			if (r && len >= 8 && r[0] == 0 && get16(r + 4) == 0x4c56 &&
			    memcmp(ip + 12, router, 4) == 0) {
				serial_puts("usernet: ping reply from ");
				put_ip(router);
				serial_putc('\n');
				return 0;
			}
		}
	}
	serial_puts("usernet: FAIL no echo reply\n");
	return -1;
}

static int step_wait(void)
{
	serial_puts("usernet: waiting\n");
	while (serial_try_getc() < 0)
		next_frame(SPINS_SHORT / 50); /* answer ARP meanwhile */
	return 0;
}

/* ---- serve: UDP echo on 7, one TCP connection on 8 ---- */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

enum tcp_state { LISTEN, SYN_RCVD, ESTABLISHED, FIN_SENT };

static struct {
	enum tcp_state state;
	uint16_t local_port;
	uint8_t peer_mac[6], peer_ip[4];
	uint16_t peer_port;
	uint32_t rcv_nxt, snd_nxt;
	int peer_fin;
	char line[128];
	uint32_t line_len;
} tcp;

static void tcp_send(uint8_t flags, const char *data, uint16_t len)
{
	uint8_t *t = ip4(eth(tcp.peer_mac, 0x0800), 6, my_ip, tcp.peer_ip, (uint16_t)(20 + len));
	put16(t, tcp.local_port);
	put16(t + 2, tcp.peer_port);
	put32(t + 4, tcp.snd_nxt);
	put32(t + 8, tcp.rcv_nxt);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 8192);
	memcpy(t + 20, data, len);
	put16(t + 16, l4_sum(6, my_ip, tcp.peer_ip, t, (uint16_t)(20 + len)));
	send_frame((uint32_t)(14 + 20 + 20 + len));
}

/* The peer's line is complete: answer it and close our side. */
static void tcp_answer(void)
{
	static char reply[160];
	uint32_t n = 0;
	memcpy(reply, "hello, ", 7);
	n = 7;
	memcpy(reply + n, tcp.line, tcp.line_len);
	n += tcp.line_len;
	reply[n++] = '\n';
	tcp_send(TCP_ACK | TCP_PSH | TCP_FIN, reply, (uint16_t)n);
	tcp.snd_nxt += n + 1;
	tcp.state = FIN_SENT;
	serial_puts("usernet: tcp got ");
	for (uint32_t i = 0; i < tcp.line_len; i++)
		serial_putc(tcp.line[i]);
	serial_putc('\n');
}

/* One TCP segment to port 8; returns 1 once the connection is over. */
static int tcp_segment(const uint8_t *ip, const uint8_t *t, uint16_t len)
{
	uint32_t off = (uint32_t)(t[12] >> 4) * 4;
	if (len < 20 || off < 20 || off > len)
		return 0;
	uint8_t flags = t[13];
	uint32_t seq = get32(t + 4), ack = get32(t + 8);
	const uint8_t *data = t + off;
	uint32_t n = len - off;
	if (flags & TCP_RST) {
		tcp.state = LISTEN;
		return 0;
	}
	if (flags & TCP_SYN) { /* a new connection (or the peer resending its SYN) */
		memcpy(tcp.peer_mac, frame + 6, 6);
		memcpy(tcp.peer_ip, ip + 12, 4);
		tcp.peer_port = get16(t);
		tcp.rcv_nxt = seq + 1;
		tcp.snd_nxt = 0x1000;
		tcp.peer_fin = 0;
		tcp.line_len = 0;
		tcp_send(TCP_SYN | TCP_ACK, 0, 0);
		tcp.snd_nxt = 0x1001;
		tcp.state = SYN_RCVD;
		return 0;
	}
	if (tcp.state == LISTEN || get16(t) != tcp.peer_port)
		return 0;
	if (tcp.state == SYN_RCVD && (flags & TCP_ACK) && ack == tcp.snd_nxt)
		tcp.state = ESTABLISHED;
	if (seq != tcp.rcv_nxt) { /* a resend or out of order: say where we are */
		tcp_send(TCP_ACK, 0, 0);
		return 0;
	}
	for (uint32_t i = 0; i < n && tcp.state == ESTABLISHED; i++) {
		tcp.rcv_nxt++;
		if (data[i] == '\n') {
			tcp_answer();
			n = 0;
		} else if (data[i] != '\r' && tcp.line_len < sizeof(tcp.line)) {
			tcp.line[tcp.line_len++] = (char)data[i];
		}
	}
	if (flags & TCP_FIN) {
		tcp.rcv_nxt++;
		tcp.peer_fin = 1;
	}
	if (n || (flags & TCP_FIN))
		tcp_send(TCP_ACK, 0, 0);
	return tcp.state == FIN_SENT && tcp.peer_fin && (flags & TCP_ACK) && ack == tcp.snd_nxt;
}

static void udp_echo(const uint8_t *ip, const uint8_t *u, uint16_t len)
{
	static uint8_t reply[600];
	uint16_t n = len - 8 < 500 ? (uint16_t)(len - 8) : 500;
	memcpy(reply, "echo ", 5);
	memcpy(reply + 5, u + 8, n);
	send_udp(frame + 6, my_ip, ip + 12, 7, get16(u), reply, (uint16_t)(n + 5));
	serial_puts("usernet: udp echoed ");
	serial_put_dec(n);
	serial_puts(" bytes\n");
}

static int step_serve(void)
{
	tcp.local_port = 8;
	tcp.state = LISTEN;
	serial_puts("usernet: serving\n");
	for (;;) {
		if (!next_frame(~0ull))
			continue;
		uint16_t len;
		const uint8_t *ip, *p;
		if ((p = ip_payload(17, &len, &ip)) && len >= 8 && get16(p + 2) == 7 &&
		    get16(p + 4) >= 8 && get16(p + 4) <= len)
			udp_echo(ip, p, get16(p + 4));
		else if ((p = ip_payload(6, &len, &ip)) && len >= 20 && get16(p + 2) == 8 &&
			 memcmp(ip + 16, my_ip, 4) == 0 && tcp_segment(ip, p, len))
			break;
	}
	serial_puts("usernet: tcp closed\n");
	return 0;
}

/* ---- connect: a TCP client through NAT ---- */

/* The next TCP segment from the peer to our port within `spins` polls:
 * its header (flags, seq, ack, data, n set), or 0. */
static const uint8_t *tcp_next(uint64_t spins, uint32_t *seq, uint32_t *ack, const uint8_t **data,
			       uint32_t *n)
{
	while (next_frame(spins)) {
		uint16_t len;
		const uint8_t *ip, *t = ip_payload(6, &len, &ip);
		if (!t || len < 20 || get16(t) != tcp.peer_port || get16(t + 2) != tcp.local_port ||
		    memcmp(ip + 12, tcp.peer_ip, 4))
			continue;
		uint32_t off = (uint32_t)(t[12] >> 4) * 4;
		if (off < 20 || off > len)
			continue;
		*seq = get32(t + 4);
		*ack = get32(t + 8);
		*data = t + off;
		*n = len - off;
		return t;
	}
	return 0;
}

static int tcp_open(uint16_t port)
{
	uint32_t seq, ack, n;
	const uint8_t *data, *t;
	memcpy(tcp.peer_mac, gw_mac, 6);
	memcpy(tcp.peer_ip, router, 4);
	tcp.peer_port = port;
	for (int tries = 0; tries < 20; tries++) {
		tcp.local_port = (uint16_t)(40000 + tries);
		tcp.snd_nxt = 0x2000;
		tcp.rcv_nxt = 0;
		tcp_send(TCP_SYN, 0, 0);
		while ((t = tcp_next(SPINS_SHORT * 4, &seq, &ack, &data, &n))) {
			if ((t[13] & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) && ack == 0x2001) {
				tcp.snd_nxt = 0x2001;
				tcp.rcv_nxt = seq + 1;
				return 0;
			}
			if (t[13] & TCP_RST)
				break; /* nobody listens (yet): try again */
		}
	}
	return -1;
}

static int step_connect(const char *p)
{
	uint64_t port = 0;
	const char *q = p + 8;
	if (parse_uint(&q, &port) < 0 || port == 0 || port > 65535 || tcp_open((uint16_t)port) < 0) {
		serial_puts("usernet: FAIL cannot connect\n");
		return -1;
	}
	static const char hello[] = "hello from the guest\n";
	tcp_send(TCP_ACK | TCP_PSH, hello, sizeof(hello) - 1);
	tcp.snd_nxt += sizeof(hello) - 1;
	tcp.line_len = 0;
	int fin = 0, line = 0;
	uint32_t seq, ack, n;
	const uint8_t *data, *t;
	while (!(fin && line) && (t = tcp_next(SPINS_SHORT * 100, &seq, &ack, &data, &n))) {
		if (t[13] & TCP_RST)
			break;
		if (seq != tcp.rcv_nxt) {
			tcp_send(TCP_ACK, 0, 0);
			continue;
		}
		for (uint32_t i = 0; i < n; i++) {
			if (data[i] == '\n')
				line = 1;
			else if (!line && tcp.line_len < sizeof(tcp.line))
				tcp.line[tcp.line_len++] = (char)data[i];
		}
		tcp.rcv_nxt += n;
		if (t[13] & TCP_FIN) {
			tcp.rcv_nxt++;
			fin = 1;
		}
		if (n || fin)
			tcp_send(TCP_ACK, 0, 0);
	}
	if (!line) {
		serial_puts("usernet: FAIL no answer over TCP\n");
		return -1;
	}
	tcp_send(TCP_ACK | TCP_FIN, 0, 0);
	tcp.snd_nxt++;
	serial_puts("usernet: connect got ");
	for (uint32_t i = 0; i < tcp.line_len; i++)
		serial_putc(tcp.line[i]);
	serial_putc('\n');
	return 0;
}

/* ---- dns: one query to the DNS address ---- */

static int step_dns(void)
{
	static const uint8_t query[] = {
		0x4c, 0x56, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, /* id, RD, one question */
		9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0, 0, 1, 0, 1, /* localhost A IN */
	};
	for (int tries = 0; tries < 3; tries++) {
		send_udp(gw_mac, my_ip, dns, 5353, 53, query, sizeof(query));
		for (int i = 0; i < 10 && next_frame(SPINS_SHORT * 2); i++) {
			uint16_t len;
			const uint8_t *ip, *u = ip_payload(17, &len, &ip);
			if (u && len >= 8 + 12 && get16(u) == 53 && get16(u + 2) == 5353 &&
			    get16(u + 8) == 0x4c56) {
				serial_puts("usernet: dns answered\n");
				return 0;
			}
		}
	}
	serial_puts("usernet: dns no answer\n");
	return 0;
}

/* ---- main ---- */

static int word_is(const char *p, const char *w)
{
	size_t n = strlen(w);
	return memcmp(p, w, n) == 0 && (p[n] == 0 || p[n] == ' ');
}

/* luavmm appends "virtio_mmio.device=..." entries: not steps. */
static int is_param(const char *p)
{
	for (; *p && *p != ' '; p++)
		if (*p == '=')
			return 1;
	return 0;
}

static uint64_t driver(uint64_t arg)
{
	const char *p = (const char *)arg;
	struct vdev *dev = vdev_find(VIRTIO_ID_NET);
	if (!dev || vdev_init(dev, F_MAC) < 0 || vq_setup(dev, &rxq, 0, rx_page) < 0 ||
	    vq_setup(dev, &txq, 1, tx_page) < 0) {
		serial_puts("usernet: FAIL no virtio-net device\n");
		return 1;
	}
	vdev_driver_ok(dev);
	uint32_t lo = vdev_config32(dev, 0), hi = vdev_config32(dev, 4);
	memcpy(mac, &lo, 4);
	memcpy(mac + 4, &hi, 2);
	serial_puts("usernet: mac ");
	put_mac(mac);
	serial_putc('\n');
	for (uint16_t i = 0; i < RX_BUFS; i++)
		post_rx(i);
	for (p = skip_spaces(p); *p; p = skip_spaces(p)) {
		int rc = is_param(p)           ? 0
			 : word_is(p, "dhcp")  ? step_dhcp()
			 : word_is(p, "arp")   ? step_arp()
			 : word_is(p, "ping")  ? step_ping()
			 : word_is(p, "wait")  ? step_wait()
			 : word_is(p, "serve") ? step_serve()
			 : word_is(p, "dns")   ? step_dns()
			 : memcmp(p, "connect:", 8) == 0 ? step_connect(p)
					       : -1;
		if (rc < 0) {
			serial_puts("usernet: FAIL at step ");
			serial_puts(p);
			serial_putc('\n');
			return 1;
		}
		while (*p && *p != ' ')
			p++;
	}
	serial_puts("usernet: done\n");
	return 0;
}

uint32_t guest_main(const char *args)
{
	return (uint32_t)run_user(driver, (uint64_t)args);
}
