/*
 * vcon-hostile: breaks the rules against virtio-console port 0, one way
 * per run (command line: the case name), at ring 3:
 *   zero-len    a transmit buffer of length 0
 *   huge        a transmit buffer of 4 GiB - 1
 *   loop        a transmit chain whose NEXT points back at its head
 *   bad-next    a NEXT index past the queue
 *   write-only  a transmit chain of one device-writable buffer (text that
 *               must never reach the console)
 *   rx-read-only  a receive buffer the device may only read: prints
 *               "vcon-hostile: posted", waits for host input, then posts a
 *               good buffer and prints "vcon-hostile: got LINE"
 * Prints "vcon-hostile: CASE -> needs-reset|completed|ignored", resets the
 * device, sets both queues up again and writes "vcon-hostile: good output"
 * through the transmit queue, then prints "vcon-hostile: recovered" on the
 * UART and exits 0 (1 if the device misbehaved).
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_CONSOLE 3
#define SPINS 4000000000ull

static struct vq rxq, txq;
static struct vdev *dev;
static uint8_t rx_page[4096] __attribute__((aligned(4096)));
static uint8_t tx_page[4096] __attribute__((aligned(4096)));
static char rx_buf[64];
static char tx_buf[64];

static int setup(void)
{
	if (vdev_init(dev, 0) < 0 || vq_setup(dev, &rxq, 0, rx_page) < 0 ||
	    vq_setup(dev, &txq, 1, tx_page) < 0)
		return -1;
	vdev_driver_ok(dev);
	return 0;
}

static const char *rx_read_only(void)
{
	uint32_t len;
	memcpy(rx_buf, "read-only", 10);
	vq_set_desc(&rxq.desc[0], (uint64_t)rx_buf, sizeof(rx_buf), 0, 0);
	vq_submit(&rxq, 0);
	serial_puts("vcon-hostile: posted\n");
	if (vq_wait(&rxq, &len, ~0ull) != 0 || len != 0 || !str_eq(rx_buf, "read-only"))
		return "the device wrote into a read-only buffer";
	vq_set_desc(&rxq.desc[1], (uint64_t)rx_buf, sizeof(rx_buf), VQ_F_WRITE, 0);
	vq_submit(&rxq, 1);
	if (vq_wait(&rxq, &len, ~0ull) != 1 || len == 0 || len >= sizeof(rx_buf))
		return "no input after a good buffer";
	rx_buf[len] = 0;
	if (len && rx_buf[len - 1] == '\n')
		rx_buf[len - 1] = 0;
	serial_puts("vcon-hostile: got ");
	serial_puts(rx_buf);
	serial_putc('\n');
	return "completed";
}

static const char *run_case(const char *name)
{
	memcpy(tx_buf, "HOSTILE-TEXT\n", 14);
	vq_set_desc(&txq.desc[0], (uint64_t)tx_buf, 13, 0, 0);
	if (str_eq(name, "zero-len")) {
		txq.desc[0].len = 0;
	} else if (str_eq(name, "huge")) {
		txq.desc[0].len = 0xffffffffu;
	} else if (str_eq(name, "loop")) {
		vq_set_desc(&txq.desc[0], (uint64_t)tx_buf, 1, VQ_F_NEXT, 1);
		vq_set_desc(&txq.desc[1], (uint64_t)tx_buf, 1, VQ_F_NEXT, 0);
	} else if (str_eq(name, "bad-next")) {
		vq_set_desc(&txq.desc[0], (uint64_t)tx_buf, 1, VQ_F_NEXT, 200);
	} else if (str_eq(name, "write-only")) {
		memcpy(tx_buf, "WRITE-ONLY-TEXT\n", 17);
		vq_set_desc(&txq.desc[0], (uint64_t)tx_buf, 16, VQ_F_WRITE, 0);
	} else if (str_eq(name, "rx-read-only")) {
		return rx_read_only();
	} else {
		return "unknown case";
	}
	vq_submit(&txq, 0);
	return vq_outcome(&txq);
}

/* After the reset: a line through the transmit queue. */
static int good_output(void)
{
	static const char good[] = "vcon-hostile: good output\n";
	memcpy(tx_buf, good, sizeof(good) - 1);
	vq_set_desc(&txq.desc[0], (uint64_t)tx_buf, sizeof(good) - 1, 0, 0);
	vq_submit(&txq, 0);
	uint32_t len;
	return vq_wait(&txq, &len, SPINS) == 0 ? 0 : -1;
}

uint32_t guest_main(const char *args)
{
	static const struct hostile_guest g = {
		.prefix = "vcon-hostile", .device_id = VIRTIO_ID_CONSOLE, .device = "virtio console",
		.dev = &dev, .setup = setup, .run_case = run_case, .prove = good_output,
		.proof = "good output",
	};
	return hostile_main(&g, args);
}
