/*
 * The frame queue (util/frame_queue.h) and the in-process switch
 * (util/eth_switch.h): the eventfd follows the queue, a full queue drops
 * and counts, the switch floods unknown and broadcast destinations,
 * learns sources, filters a frame for its own port, rejects runts and
 * group sources, and a switch lives while a port or a reference does.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/eth_switch.h"
#include "util/frame_queue.h"

static int readable(struct lvm_frame_queue *q)
{
	struct pollfd p = { .fd = lvm_frame_queue_fd(q), .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

static void test_queue(void)
{
	struct lvm_frame_queue *q = lvm_frame_queue_new();
	uint8_t buf[LVM_FRAME_MAX], f[64] = { 1, 2, 3 };
	CHECK(q && !readable(q));
	CHECK(lvm_frame_queue_push(q, f, sizeof(f)));
	CHECK(readable(q));
	CHECK(lvm_frame_queue_push(q, f, 10));
	CHECK_EQ_U64(lvm_frame_queue_pop(q, buf, sizeof(buf)), 64);
	CHECK(readable(q)); /* one still waits */
	CHECK_EQ_U64(lvm_frame_queue_pop(q, buf, sizeof(buf)), 10);
	CHECK(!readable(q));
	CHECK_EQ_U64(lvm_frame_queue_pop(q, buf, sizeof(buf)), 0);
	/* Empty, too long and too many frames are dropped and counted. */
	CHECK(!lvm_frame_queue_push(q, f, 0));
	CHECK(!lvm_frame_queue_push(q, buf, LVM_FRAME_MAX + 1));
	unsigned pushed = 0;
	while (lvm_frame_queue_push(q, f, sizeof(f)))
		pushed++;
	CHECK_EQ_U64(pushed, LVM_FRAME_QUEUE_FRAMES);
	CHECK_EQ_U64(lvm_frame_queue_dropped(q), 3);
	/* A frame longer than the reader's buffer is dropped, the next one read. */
	lvm_frame_queue_clear(q);
	CHECK(!readable(q));
	CHECK(lvm_frame_queue_push(q, f, sizeof(f)) && lvm_frame_queue_push(q, f, 8));
	CHECK_EQ_U64(lvm_frame_queue_pop(q, buf, 16), 8);
	CHECK_EQ_U64(lvm_frame_queue_dropped(q), 4);
	/* The byte budget: the largest frames fill it before the frame count. */
	unsigned big = 0;
	while (lvm_frame_queue_push(q, buf, LVM_FRAME_MAX))
		big++;
	CHECK_EQ_U64(big, LVM_FRAME_QUEUE_BYTES / LVM_FRAME_MAX);
	lvm_frame_queue_free(q);
}

/* A frame from `src` to `dst` (MAC last bytes; 0xff: broadcast). */
static size_t frame(uint8_t *f, uint8_t dst, uint8_t src)
{
	memset(f, 0, 60);
	memset(f, dst, 6);
	if (dst != 0xff)
		memcpy(f, (uint8_t[]){ 0x52, 0x54, 0, 0, 0, dst }, 6);
	memcpy(f + 6, (uint8_t[]){ 0x52, 0x54, 0, 0, 0, src }, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	return 60;
}

static unsigned drain(struct lvm_frame_queue *q)
{
	uint8_t buf[128];
	unsigned n = 0;
	while (lvm_frame_queue_pop(q, buf, sizeof(buf)))
		n++;
	return n;
}

static void test_switch(void)
{
	struct lvm_switch *sw = lvm_switch_new();
	CHECK(sw && lvm_switch_id(sw) > 0);
	uint32_t id = lvm_switch_id(sw);
	struct lvm_frame_queue *q[3];
	struct lvm_switch_port *p[3];
	for (int i = 0; i < 3; i++) {
		q[i] = lvm_frame_queue_new();
		uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, (uint8_t)(i + 1) };
		p[i] = lvm_switch_attach(sw, q[i], "eth0", mac);
		CHECK(p[i] && lvm_switch_of(p[i]) == sw);
	}
	uint8_t f[64];
	/* Unknown destination: flooded to the two others. */
	lvm_switch_send(p[0], f, frame(f, 2, 1));
	CHECK(drain(q[0]) == 0 && drain(q[1]) == 1 && drain(q[2]) == 1);
	/* 1 is learned: 2's answer goes to port 0 alone. */
	lvm_switch_send(p[1], f, frame(f, 1, 2));
	CHECK(drain(q[0]) == 1 && drain(q[1]) == 0 && drain(q[2]) == 0);
	/* Broadcast: everyone else. */
	lvm_switch_send(p[2], f, frame(f, 0xff, 3));
	CHECK(drain(q[0]) == 1 && drain(q[1]) == 1 && drain(q[2]) == 0);
	/* A frame for an address behind its own port stays there. */
	lvm_switch_send(p[0], f, frame(f, 1, 9));
	CHECK(drain(q[0]) + drain(q[1]) + drain(q[2]) == 0);
	/* Runts and group sources are dropped. */
	lvm_switch_send(p[0], f, 10);
	frame(f, 2, 1);
	f[6] = 0x01;
	lvm_switch_send(p[0], f, 60);
	CHECK(drain(q[0]) + drain(q[1]) + drain(q[2]) == 0);
	struct lvm_switch_stats totals;
	struct lvm_switch_port_stats ps[LVM_SWITCH_PORTS_MAX];
	CHECK_EQ_U64(lvm_switch_stats(sw, &totals, ps, LVM_SWITCH_PORTS_MAX), 3);
	CHECK_EQ_U64(totals.ports, 3);
	CHECK_EQ_U64(totals.learned, 4); /* 1, 2, 3 and 9 */
	CHECK_EQ_U64(totals.flooded, 2);
	CHECK_EQ_U64(totals.invalid, 2);
	CHECK_EQ_U64(ps[0].number, 1);
	CHECK_EQ_U64(ps[0].rx_packets, 4);
	CHECK_EQ_U64(ps[0].tx_packets, 2);
	CHECK_EQ_U64(ps[1].tx_packets, 2);
	CHECK_STR(ps[2].label, "eth0");
	CHECK_EQ_U64(ps[2].mac[5], 3);
	/* A full port queue drops and counts on that port. */
	for (unsigned i = 0; i < LVM_FRAME_QUEUE_FRAMES + 5; i++)
		lvm_switch_send(p[0], f, frame(f, 2, 1));
	lvm_switch_stats(sw, &totals, ps, LVM_SWITCH_PORTS_MAX);
	CHECK_EQ_U64(ps[1].tx_dropped, 5);
	/* Detaching forgets the port's addresses: 1 is unknown again. */
	lvm_switch_detach(p[0]);
	lvm_frame_queue_free(q[0]);
	drain(q[1]);
	lvm_switch_send(p[2], f, frame(f, 1, 3));
	CHECK(drain(q[1]) == 1); /* flooded */
	/* The switch lives while a port does, after the creator's reference. */
	lvm_switch_put(sw);
	struct lvm_switch *again = lvm_switch_get(id);
	CHECK(again == sw);
	lvm_switch_put(again);
	lvm_switch_detach(p[1]);
	lvm_switch_detach(p[2]);
	CHECK(lvm_switch_get(id) == NULL);
	lvm_frame_queue_free(q[1]);
	lvm_frame_queue_free(q[2]);
	/* Ids are not reused. */
	struct lvm_switch *next = lvm_switch_new();
	CHECK(lvm_switch_id(next) > id);
	lvm_switch_put(next);
}

int main(void)
{
	RUN_TEST(test_queue);
	RUN_TEST(test_switch);
	return CHECK_DONE();
}
