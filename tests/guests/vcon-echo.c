/*
 * vcon-echo: at ring 3, writes "vcon: ready\n" on the virtio console's port
 * 0, then echoes every received line back as "vcon: got LINE\n"; the line
 * "quit" exits with 0.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_CONSOLE 3
#define RX_BUFS 4

static struct vq rxq, txq;
static uint8_t rx_page[4096] __attribute__((aligned(4096)));
static uint8_t tx_page[4096] __attribute__((aligned(4096)));
static char rx_buf[RX_BUFS][64];
static char tx_buf[128];

static void post_rx(uint16_t i)
{
	rxq.desc[i].addr = (uint64_t)rx_buf[i];
	rxq.desc[i].len = sizeof(rx_buf[i]);
	rxq.desc[i].flags = VQ_F_WRITE;
	vq_submit(&rxq, i);
}

static int send(const char *s, size_t n)
{
	memcpy(tx_buf, s, n);
	txq.desc[0].addr = (uint64_t)tx_buf;
	txq.desc[0].len = (uint32_t)n;
	txq.desc[0].flags = 0;
	vq_submit(&txq, 0);
	return vq_wait(&txq, 0, 40000000000ull) == 0 ? 0 : -1;
}

static uint64_t driver(uint64_t unused)
{
	(void)unused;
	struct vdev *dev = vdev_find(VIRTIO_ID_CONSOLE);
	if (!dev || vdev_init(dev, 0) < 0 || vq_setup(dev, &rxq, 0, rx_page) < 0 ||
	    vq_setup(dev, &txq, 1, tx_page) < 0) {
		serial_puts("vcon: FAIL no virtio console\n");
		return 1;
	}
	vdev_driver_ok(dev);
	for (uint16_t i = 0; i < RX_BUFS; i++)
		post_rx(i);
	if (send("vcon: ready\n", 12) < 0)
		return 1;
	char line[64];
	size_t len = 0;
	for (;;) {
		uint32_t n;
		int id = vq_wait(&rxq, &n, ~0ull);
		for (uint32_t i = 0; id >= 0 && i < n; i++) {
			char c = rx_buf[id][i];
			if (c != '\n' && len < sizeof(line) - 1) {
				line[len++] = c;
				continue;
			}
			line[len] = 0;
			if (str_eq(line, "quit"))
				return 0;
			char out[100] = "vcon: got ";
			memcpy(out + 10, line, len);
			out[10 + len] = '\n';
			send(out, 11 + len);
			len = 0;
		}
		if (id >= 0)
			post_rx((uint16_t)id);
	}
}

uint32_t guest_main(const char *args)
{
	(void)args;
	return (uint32_t)run_user(driver, 0);
}
