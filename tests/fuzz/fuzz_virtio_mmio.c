/*
 * libFuzzer target for the virtio-mmio register state machine (mmio.c,
 * lvm_virtio_mmio_io): status and feature negotiation, queue selection
 * and layout, notify, interrupt ack and config space, at every width and
 * offset, interleaved with queue traffic, on a transport made without KVM
 * (fake_transport.c).  The device is a stand-in whose shape (queues,
 * config size, features) comes from the input and which answers every
 * chain through lvm_virtio_serve.
 */
#include <stdint.h>

#include "fuzz_virtio.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t config_bytes[LVM_VIRTIO_CONFIG_MAX];

static void read_config(void *dev, uint8_t *config)
{
	const struct lvm_virtio_ops *ops = ((struct fv *)dev)->t->ops;
	memcpy(config, config_bytes, ops->config_size);
}

static uint32_t answer(void *dev, struct lvm_vq_chain *c)
{
	(void)dev;
	uint8_t buf[64];
	size_t n = lvm_iov_read(c->out, c->nout, 0, buf, sizeof(buf));
	return (uint32_t)lvm_iov_write(c->in, c->nin, 0, buf, n);
}

static void queue_event(void *dev, struct lvm_virtio_transport *t, unsigned q)
{
	static struct lvm_vq_chain chain;
	lvm_virtio_serve(t, q, &chain, answer, dev);
}

static void reset(void *dev)
{
	(void)dev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	struct lvm_virtio_ops ops = {
		.name = "fuzz",
		.device_id = 1 + fz_u8(&in) % 40,
		.num_queues = fz_u8(&in) % (LVM_VIRTIO_MAX_QUEUES + 1),
		.features = fz_u64(&in),
		.config_size = fz_u16(&in) % (LVM_VIRTIO_CONFIG_MAX + 1),
		.read_config = read_config,
		.queue_event = queue_event,
		.reset = reset,
	};
	fz_bytes(&in, config_bytes, 16);
	static struct fv s;
	fv_vm_init(&s);
	s.t = lvm_virtio_new(&s.vm, 0xd0000000u, 5, &ops, &s);
	if (fz_u8(&in) & 1)
		fv_driver_init(&s, &in);
	fv_run(&s, &in);
	lvm_virtio_free(s.t);
	fv_vm_free(&s);
	return 0;
}
