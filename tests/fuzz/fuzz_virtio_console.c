/*
 * libFuzzer target for virtio-console port 0 (vconsole.c): transmit chains
 * of any shape into the machine's console, and host input delivered into
 * receive buffers of any size (opcode 15 feeds input from the fuzzer).
 */
#include <stdint.h>

#include "devices/virtio/vconsole.h"
#include "fuzz_virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void input(struct fv *s, struct fz *in)
{
	uint8_t bytes[256];
	uint8_t n = fz_u8(in);
	fz_bytes(in, bytes, n);
	lvm_vconsole_receive(s->dev, bytes, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	static struct fv s;
	fv_vm_init(&s);
	struct lvm_vconsole *con = lvm_vconsole_new(&s.vm, 0xd0000000u, 5);
	if (!con)
		abort();
	s.t = fake_last_transport;
	s.dev = con;
	s.extra = input;
	fv_driver_init(&s, &in);
	fv_run(&s, &in);
	lvm_vconsole_free(con);
	fv_vm_free(&s);
	return 0;
}
