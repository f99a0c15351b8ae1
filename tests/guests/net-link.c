/*
 * net-link: the link status of virtio-net (VIRTIO_NET_F_STATUS, virtio 1.2
 * §5.1.4: config `status`, VIRTIO_NET_S_LINK_UP) as a driver sees it when
 * the host cuts and restores the cable, with raw frames (ethertype 0x88b5,
 * 4-byte words) between two machines.  Command line:
 *   beacon  broadcasts "beep" about every 20 ms and answers "ping" with
 *           "pong" and "dpin" with "dpon"; a "dpin" is sent only while
 *           the sender's link is down, so one arriving is a failure
 *           ("beacon: FAIL got dpin"); exits on "quit" (0 if no dpin came)
 *   watch   prints "link: status up", pings until a pong ("link: pong"),
 *           then waits for the link to go down; then prints "link: down"
 *           with whether the configuration change interrupt was raised
 *           (InterruptStatus bit 1, §4.2.2), throws away what was received
 *           before, and while the link is down sends a "dpin" about every
 *           20 ms and counts every frame that still arrives.  When the
 *           link is back: "link: up (config interrupt), sent N while
 *           down, received M", pings until a pong ("link: pong again"),
 *           sends "quit" and exits 0 if M is 0.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_NET 1
#define F_MAC (1ull << 5)
#define F_STATUS (1ull << 16)
#define S_LINK_UP 1
#define REG_INTERRUPT_STATUS 0x60
#define REG_INTERRUPT_ACK 0x64
#define INT_CONFIG 2
#define HDR 12
#define FRAME 1514
#define RX_BUFS 8
#define SPINS_20MS 20000000ull

static struct vq rxq, txq;
static uint8_t rx_page[4096] __attribute__((aligned(4096)));
static uint8_t tx_page[4096] __attribute__((aligned(4096)));
static uint8_t rx_buf[RX_BUFS][HDR + FRAME];
static uint8_t tx_buf[HDR + FRAME];
static uint8_t mac[6];
static char word[5]; /* the word of the last frame received */
static struct vdev *dev;
static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void post_rx(uint16_t i)
{
	rxq.desc[i].addr = (uint64_t)rx_buf[i];
	rxq.desc[i].len = sizeof(rx_buf[i]);
	rxq.desc[i].flags = VQ_F_WRITE;
	vq_submit(&rxq, i);
}

static void send(const uint8_t *dst, const char *w)
{
	memset(tx_buf, 0, HDR + 60);
	uint8_t *f = tx_buf + HDR;
	memcpy(f, dst, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memcpy(f + 14, w, 4);
	txq.desc[0].addr = (uint64_t)tx_buf;
	txq.desc[0].len = HDR + 60;
	txq.desc[0].flags = 0;
	vq_submit(&txq, 0);
	vq_wait(&txq, 0, 40000000000ull);
}

/* The next frame of ours within `spins` polls: its source MAC (word set), or 0. */
static const uint8_t *receive(uint64_t spins, uint8_t *src)
{
	uint32_t len;
	int id;
	while ((id = vq_wait(&rxq, &len, spins)) >= 0) {
		const uint8_t *f = rx_buf[id] + HDR;
		int ours = len >= HDR + 18 && f[12] == 0x88 && f[13] == 0xb5;
		if (ours) {
			memcpy(word, f + 14, 4);
			memcpy(src, f + 6, 6);
		}
		post_rx((uint16_t)id);
		if (ours)
			return src;
	}
	return 0;
}

static int link_up(void)
{
	return (vdev_config32(dev, 4) >> 16) & S_LINK_UP; /* status follows mac[6] */
}

/* Whether the configuration change interrupt is pending; acknowledges it. */
static int config_interrupt(void)
{
	uint32_t isr = vdev_read(dev, REG_INTERRUPT_STATUS);
	vdev_write(dev, REG_INTERRUPT_ACK, isr & INT_CONFIG);
	return (isr & INT_CONFIG) != 0;
}

static uint64_t beacon(void)
{
	uint64_t dpins = 0;
	uint8_t src[6];
	for (;;) {
		send(broadcast, "beep");
		while (receive(SPINS_20MS, src)) {
			if (memcmp(word, "ping", 4) == 0) {
				send(src, "pong");
			} else if (memcmp(word, "dpin", 4) == 0) {
				send(src, "dpon");
				if (!dpins++)
					serial_puts("beacon: FAIL got dpin\n");
			} else if (memcmp(word, "quit", 4) == 0) {
				serial_puts("beacon: quit\n");
				return dpins ? 1 : 0;
			}
		}
	}
}

static int ping_until_pong(void)
{
	uint8_t src[6];
	for (int tries = 0; tries < 500; tries++) {
		send(broadcast, "ping");
		while (receive(SPINS_20MS * 5, src))
			if (memcmp(word, "pong", 4) == 0)
				return 0;
	}
	return -1;
}

static uint64_t watch(void)
{
	uint8_t src[6];
	serial_puts(link_up() ? "link: status up\n" : "link: status down\n");
	if (ping_until_pong() < 0) {
		serial_puts("link: FAIL no pong\n");
		return 1;
	}
	serial_puts("link: pong\n");
	while (link_up())
		receive(SPINS_20MS / 20, src); /* beeps and late pongs */
	int irq = config_interrupt();
	/* Everything delivered before the cable went out is in the used ring
	 * by now (the device changes both under one lock): drop it. */
	uint32_t len;
	int id;
	while ((id = vq_wait(&rxq, &len, 1000)) >= 0)
		post_rx((uint16_t)id);
	serial_puts(irq ? "link: down (config interrupt)\n" : "link: down (no interrupt)\n");
	uint64_t sent = 0, received = 0;
	while (!link_up()) {
		send(broadcast, "dpin");
		sent++;
		while (receive(SPINS_20MS, src)) {
			/* The device delivers and changes the status under one lock:
			 * if the status still says down after the frame came, it came
			 * while the link was down; else the link is back. */
			if (link_up())
				break;
			if (!received++) {
				serial_puts("link: FAIL received ");
				serial_puts(word);
				serial_puts(" while down\n");
			}
		}
	}
	irq = config_interrupt();
	serial_puts(irq ? "link: up (config interrupt), sent " : "link: up (no interrupt), sent ");
	serial_put_dec(sent);
	serial_puts(" while down, received ");
	serial_put_dec(received);
	serial_putc('\n');
	if (ping_until_pong() < 0) {
		serial_puts("link: FAIL no pong after the link came back\n");
		return 1;
	}
	serial_puts("link: pong again\n");
	for (int i = 0; i < 3; i++)
		send(broadcast, "quit");
	return received ? 1 : 0;
}

static uint64_t driver(uint64_t is_beacon)
{
	dev = vdev_find(VIRTIO_ID_NET);
	if (!dev || vdev_init(dev, F_MAC | F_STATUS) < 0 || vq_setup(dev, &rxq, 0, rx_page) < 0 ||
	    vq_setup(dev, &txq, 1, tx_page) < 0) {
		serial_puts("link: FAIL no virtio-net device\n");
		return 1;
	}
	vdev_driver_ok(dev);
	uint32_t lo = vdev_config32(dev, 0), hi = vdev_config32(dev, 4);
	memcpy(mac, &lo, 4);
	memcpy(mac + 4, &hi, 2);
	for (uint16_t i = 0; i < RX_BUFS; i++)
		post_rx(i);
	return is_beacon ? beacon() : watch();
}

uint32_t guest_main(const char *args)
{
	const char *p = skip_spaces(args);
	return (uint32_t)run_user(driver, p[0] == 'b');
}
