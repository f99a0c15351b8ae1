/*
 * rng-check: reads 32 bytes twice from the first virtio-rng device at ring
 * 3, prints them in hex and exits 0 if they are neither all zero nor equal.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_RNG 4

static struct vq q;
static uint8_t ring_page[4096] __attribute__((aligned(4096)));
static uint8_t bytes[2][32];

static void put_hex_bytes(const uint8_t *b, unsigned n)
{
	static const char digits[] = "0123456789abcdef";
	for (unsigned i = 0; i < n; i++) {
		serial_putc(digits[b[i] >> 4]);
		serial_putc(digits[b[i] & 15]);
	}
	serial_putc('\n');
}

static uint64_t driver(uint64_t unused)
{
	(void)unused;
	struct vdev *dev = vdev_find(VIRTIO_ID_RNG);
	if (!dev || vdev_init(dev, 0) < 0 || vq_setup(dev, &q, 0, ring_page) < 0) {
		serial_puts("rng-check: FAIL no usable virtio-rng device\n");
		return 1;
	}
	vdev_driver_ok(dev);
	for (unsigned i = 0; i < 2; i++) {
		q.desc[i].addr = (uint64_t)bytes[i];
		q.desc[i].len = sizeof(bytes[i]);
		q.desc[i].flags = VQ_F_WRITE;
		vq_submit(&q, (uint16_t)i);
		uint32_t len = 0;
		if (vq_wait(&q, &len, 40000000000ull) != (int)i || len != sizeof(bytes[i])) {
			serial_puts("rng-check: FAIL short or missing answer\n");
			return 1;
		}
		serial_puts("rng-check: ");
		put_hex_bytes(bytes[i], sizeof(bytes[i]));
	}
	static const uint8_t zero[32];
	if (memcmp(bytes[0], bytes[1], 32) == 0 || memcmp(bytes[0], zero, 32) == 0) {
		serial_puts("rng-check: FAIL bytes do not vary\n");
		return 1;
	}
	serial_puts("rng-check: ok\n");
	return 0;
}

uint32_t guest_main(const char *args)
{
	(void)args;
	return (uint32_t)run_user(driver, 0);
}
