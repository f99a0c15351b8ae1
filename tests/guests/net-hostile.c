/*
 * net-hostile: breaks the rules against the first virtio-net device, one
 * way per run (command line: the case name), at ring 3:
 *   short       a transmit chain shorter than the 12-byte header
 *   header-only a transmit chain of just the header (no frame)
 *   huge        a 70000-byte transmit chain (more than any frame)
 *   write-only  a transmit chain of one device-writable buffer
 *   loop        a transmit chain whose NEXT points back at its head
 *   rx-read-only  a receive buffer the device may only read: prints
 *               "net-hostile: posted", waits for a frame to use it up
 *               (nothing may be written into it), then posts good buffers
 *               and answers the first "ping" frame (ethertype 0x88b5, as
 *               net-check sends them) with "pong"
 * Prints "net-hostile: CASE -> needs-reset|completed|ignored", resets the
 * device, sets it up again and sends one good broadcast frame, then prints
 * "net-hostile: recovered" and exits 0 (1 if the device misbehaved).
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_NET 1
#define F_MAC (1ull << 5)
#define HDR 12
#define FRAME 1514
#define SPINS 40000000000ull

static struct vq rxq, txq;
static struct vdev *dev;
static uint8_t rx_page[4096] __attribute__((aligned(4096)));
static uint8_t tx_page[4096] __attribute__((aligned(4096)));
static uint8_t big[70000] __attribute__((aligned(16)));
static uint8_t rx_buf[4][HDR + FRAME];
static uint8_t tx_buf[HDR + FRAME];
static uint8_t mac[6];

static int setup(void)
{
	if (vdev_init(dev, F_MAC) < 0 || vq_setup(dev, &rxq, 0, rx_page) < 0 ||
	    vq_setup(dev, &txq, 1, tx_page) < 0)
		return -1;
	vdev_driver_ok(dev);
	uint32_t lo = vdev_config32(dev, 0), hi = vdev_config32(dev, 4);
	memcpy(mac, &lo, 4);
	memcpy(mac + 4, &hi, 2);
	return 0;
}

/* A 60-byte frame of ethertype 0x88b5 carrying `word`, to `dst`; waits for it. */
static int send(const uint8_t *dst, const char *word)
{
	memset(tx_buf, 0, HDR + 60);
	uint8_t *f = tx_buf + HDR;
	memcpy(f, dst, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memcpy(f + 14, word, 4);
	vq_set_desc(&txq.desc[0], (uint64_t)tx_buf, HDR + 60, 0, 0);
	vq_submit(&txq, 0);
	return vq_wait(&txq, 0, SPINS) == 0 ? 0 : -1;
}

static const char *rx_read_only(void)
{
	uint32_t len;
	memset(rx_buf[0], 0xa5, sizeof(rx_buf[0]));
	vq_set_desc(&rxq.desc[0], (uint64_t)rx_buf[0], sizeof(rx_buf[0]), 0, 0);
	vq_submit(&rxq, 0);
	serial_puts("net-hostile: posted\n");
	if (vq_wait(&rxq, &len, ~0ull) != 0)
		return "no completion";
	for (unsigned i = 0; i < sizeof(rx_buf[0]); i++)
		if (rx_buf[0][i] != 0xa5 || len != 0)
			return "the device wrote into a read-only buffer";
	for (uint16_t i = 1; i < 4; i++) {
		vq_set_desc(&rxq.desc[i], (uint64_t)rx_buf[i], sizeof(rx_buf[i]), VQ_F_WRITE, 0);
		vq_submit(&rxq, i);
	}
	for (;;) {
		int id = vq_wait(&rxq, &len, ~0ull);
		if (id <= 0)
			return "no frame after good buffers";
		const uint8_t *f = rx_buf[id] + HDR;
		if (len >= HDR + 18 && f[12] == 0x88 && f[13] == 0xb5 && memcmp(f + 14, "ping", 4) == 0) {
			uint8_t src[6];
			memcpy(src, f + 6, 6);
			if (send(src, "pong") < 0)
				return "pong not sent";
			return "completed";
		}
		vq_set_desc(&rxq.desc[id], (uint64_t)rx_buf[id], sizeof(rx_buf[id]), VQ_F_WRITE, 0);
		vq_submit(&rxq, (uint16_t)id);
	}
}

static const char *run_case(const char *name)
{
	memset(tx_buf, 0, sizeof(tx_buf));
	if (str_eq(name, "short")) {
		vq_set_desc(&txq.desc[0], (uint64_t)tx_buf, 10, 0, 0);
	} else if (str_eq(name, "header-only")) {
		vq_set_desc(&txq.desc[0], (uint64_t)tx_buf, HDR, 0, 0);
	} else if (str_eq(name, "huge")) {
		memset(big, 0xff, sizeof(big));
		vq_set_desc(&txq.desc[0], (uint64_t)big, 40000, VQ_F_NEXT, 1);
		vq_set_desc(&txq.desc[1], (uint64_t)big + 40000, 30000, 0, 0);
	} else if (str_eq(name, "write-only")) {
		vq_set_desc(&txq.desc[0], (uint64_t)tx_buf, HDR + 60, VQ_F_WRITE, 0);
	} else if (str_eq(name, "loop")) {
		vq_set_desc(&txq.desc[0], (uint64_t)tx_buf, HDR, VQ_F_NEXT, 1);
		vq_set_desc(&txq.desc[1], (uint64_t)tx_buf, 60, VQ_F_NEXT, 0);
	} else if (str_eq(name, "rx-read-only")) {
		return rx_read_only();
	} else {
		return "unknown case";
	}
	vq_submit(&txq, 0);
	return vq_outcome(&txq);
}

/* After the reset: one broadcast frame. */
static int good_frame(void)
{
	static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	return send(broadcast, "good");
}

uint32_t guest_main(const char *args)
{
	static const struct hostile_guest g = {
		.prefix = "net-hostile", .device_id = VIRTIO_ID_NET, .device = "virtio-net device",
		.dev = &dev, .setup = setup, .run_case = run_case, .prove = good_frame,
		.proof = "good frame",
	};
	return hostile_main(&g, args);
}
