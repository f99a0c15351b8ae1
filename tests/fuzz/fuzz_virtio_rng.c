/*
 * libFuzzer target for virtio-rng (rng.c): every request shape a driver
 * can make, including readable-only chains and buffers larger than a
 * request may fill.
 */
#include <stdint.h>

#include "devices/virtio/rng.h"
#include "fuzz_virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	static struct fv s;
	fv_vm_init(&s);
	struct lvm_rng *rng = lvm_rng_new(&s.vm, 0xd0000000u, 5);
	if (!rng)
		abort();
	s.t = fake_last_transport;
	fv_driver_init(&s, &in);
	fv_run(&s, &in);
	lvm_rng_free(rng);
	fv_vm_free(&s);
	return 0;
}
