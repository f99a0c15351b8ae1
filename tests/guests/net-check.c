/*
 * net-check: raw Ethernet frames (ethertype 0x88b5, local experimental)
 * over the first virtio-net device, polled at ring 3.  Command line:
 *   ping   broadcast "ping" frames until a "pong" comes back; prints
 *          "net: got pong from MAC" and exits 0 (1 after ~200 tries)
 *   pong   answer the first "ping" to its sender; prints
 *          "net: answered ping from MAC" and exits 0
 * Both first print "net: mac MAC" (from the device's configuration).
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_NET 1
#define F_MAC (1ull << 5)
#define HDR 12 /* struct virtio_net_hdr_v1 */
#define FRAME 1514
#define RX_BUFS 8
#define ETHERTYPE_HI 0x88
#define ETHERTYPE_LO 0xb5

static struct vq rxq, txq;
static uint8_t rx_page[4096] __attribute__((aligned(4096)));
static uint8_t tx_page[4096] __attribute__((aligned(4096)));
static uint8_t rx_buf[RX_BUFS][HDR + FRAME];
static uint8_t tx_buf[HDR + FRAME];
static uint8_t mac[6];

static void put_mac(const uint8_t *m)
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 6; i++) {
		serial_putc(digits[m[i] >> 4]);
		serial_putc(digits[m[i] & 15]);
		if (i < 5)
			serial_putc(':');
	}
	serial_putc('\n');
}

static void post_rx(uint16_t i)
{
	rxq.desc[i].addr = (uint64_t)rx_buf[i];
	rxq.desc[i].len = sizeof(rx_buf[i]);
	rxq.desc[i].flags = VQ_F_WRITE;
	vq_submit(&rxq, i);
}

static void send(const uint8_t *dst, const char *word)
{
	memset(tx_buf, 0, HDR + 60);
	uint8_t *f = tx_buf + HDR;
	memcpy(f, dst, 6);
	memcpy(f + 6, mac, 6);
	f[12] = ETHERTYPE_HI;
	f[13] = ETHERTYPE_LO;
	memcpy(f + 14, word, 4);
	txq.desc[0].addr = (uint64_t)tx_buf;
	txq.desc[0].len = HDR + 60;
	txq.desc[0].flags = 0;
	vq_submit(&txq, 0);
	vq_wait(&txq, 0, 40000000000ull);
}

/* The next frame of ours carrying `word`, or 0 after `spins` polls. */
static const uint8_t *receive(const char *word, uint64_t spins)
{
	uint32_t len;
	int id;
	while ((id = vq_wait(&rxq, &len, spins)) >= 0) {
		const uint8_t *f = rx_buf[id] + HDR;
		int match = len >= HDR + 18 && f[12] == ETHERTYPE_HI && f[13] == ETHERTYPE_LO &&
			    memcmp(f + 14, word, 4) == 0;
		post_rx((uint16_t)id); /* a later frame may overwrite it: match on src now */
		if (match)
			return f;
	}
	return 0;
}

static uint64_t driver(uint64_t pinger)
{
	struct vdev *dev = vdev_find(VIRTIO_ID_NET);
	if (!dev || vdev_init(dev, F_MAC) < 0 || vq_setup(dev, &rxq, 0, rx_page) < 0 ||
	    vq_setup(dev, &txq, 1, tx_page) < 0) {
		serial_puts("net: FAIL no virtio-net device\n");
		return 1;
	}
	vdev_driver_ok(dev);
	uint32_t lo = vdev_config32(dev, 0), hi = vdev_config32(dev, 4);
	memcpy(mac, &lo, 4);
	memcpy(mac + 4, &hi, 2);
	serial_puts("net: mac ");
	put_mac(mac);
	for (uint16_t i = 0; i < RX_BUFS; i++)
		post_rx(i);
	static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	if (!pinger) {
		const uint8_t *f = receive("ping", ~0ull);
		uint8_t src[6];
		memcpy(src, f + 6, 6);
		send(src, "pong");
		serial_puts("net: answered ping from ");
		put_mac(src);
		return 0;
	}
	for (int tries = 0; tries < 200; tries++) {
		send(broadcast, "ping");
		const uint8_t *f = receive("pong", 300000000ull);
		if (f) {
			serial_puts("net: got pong from ");
			put_mac(f + 6);
			return 0;
		}
	}
	serial_puts("net: FAIL no pong\n");
	return 1;
}

uint32_t guest_main(const char *args)
{
	const char *p = skip_spaces(args);
	return (uint32_t)run_user(driver, p[0] == 'p' && p[1] == 'i');
}
