/*
 * virtio-rng: one request queue; every device-writable buffer of a chain is
 * filled with bytes from the host's getrandom() (§5.4.6).
 */
#include "devices/virtio/rng.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <sys/random.h>

#include "devices/device.h"
#include "util/error.h"
#include "devices/virtio/transport.h"

/* Per request, so one huge buffer cannot keep the I/O thread busy for long. */
#define RNG_REQUEST_MAX 65536u

struct lvm_rng {
	struct lvm_virtio_transport *transport;
	uint64_t bytes;
	struct lvm_vq_chain chain;
};

static uint32_t rng_request(void *dev, struct lvm_vq_chain *c)
{
	struct lvm_rng *rng = dev;
	uint32_t total = 0;
	for (unsigned i = 0; i < c->nin && total < RNG_REQUEST_MAX; i++) {
		size_t want = c->in[i].iov_len;
		if (want > RNG_REQUEST_MAX - total)
			want = RNG_REQUEST_MAX - total;
		ssize_t got = getrandom(c->in[i].iov_base, want, 0);
		if (got < 0 && errno == EINTR)
			got = 0;
		if (got <= 0)
			break;
		total += (uint32_t)got;
		if ((size_t)got < want)
			break;
	}
	__atomic_fetch_add(&rng->bytes, total, __ATOMIC_RELAXED);
	return total;
}

static void rng_queue_event(void *dev, struct lvm_virtio_transport *t, unsigned q)
{
	struct lvm_rng *rng = dev;
	lvm_virtio_serve(t, q, &rng->chain, rng_request, rng);
}

static const struct lvm_virtio_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.queue_event = rng_queue_event,
};

struct lvm_rng *lvm_rng_new(struct lvm_vm *vm, uint64_t base, unsigned gsi)
{
	struct lvm_rng *rng = calloc(1, sizeof(*rng));
	if (!rng) {
		lvm_fail("out of memory");
		return NULL;
	}
	rng->transport = lvm_virtio_new(vm, base, gsi, &rng_ops, rng);
	if (!rng->transport) {
		free(rng);
		return NULL;
	}
	return rng;
}

int lvm_rng_start(struct lvm_rng *rng)
{
	return lvm_virtio_start(rng->transport);
}

void lvm_rng_free(struct lvm_rng *rng)
{
	if (!rng)
		return;
	lvm_virtio_free(rng->transport);
	free(rng);
}

uint64_t lvm_rng_bytes(const struct lvm_rng *rng)
{
	return __atomic_load_n(&rng->bytes, __ATOMIC_RELAXED);
}

static void *rng_create(const struct lvm_device_env *env, const void *params)
{
	(void)params;
	return lvm_rng_new(env->vm, env->base, env->gsi);
}

static int rng_start(void *dev) { return lvm_rng_start(dev); }
static void rng_free(void *dev) { lvm_rng_free(dev); }

/* Snapshots: every request completes within its event, so the transport's
 * quiesce is the device's; its state is the transport's alone. */
static int rng_quiesce(void *dev)
{
	struct lvm_rng *rng = dev;
	return lvm_virtio_quiesce(rng->transport);
}

static void rng_resume(void *dev)
{
	struct lvm_rng *rng = dev;
	lvm_virtio_resume(rng->transport);
}

static void rng_save(void *dev, struct lvm_state_writer *w)
{
	struct lvm_rng *rng = dev;
	lvm_virtio_save(rng->transport, w);
}

static int rng_load(void *dev, struct lvm_state_reader *r)
{
	struct lvm_rng *rng = dev;
	return lvm_virtio_load(rng->transport, r);
}

static unsigned rng_stats(void *dev, struct lvm_device_stat *out)
{
	out[0] = (struct lvm_device_stat){ "bytes", lvm_rng_bytes(dev) };
	return 1;
}

/* rng = true */
const struct lvm_device_type lvm_rng_device = {
	.key = "rng",
	.object = "rng",
	.create = rng_create,
	.start = rng_start,
	.free = rng_free,
	.stats = rng_stats,
	.quiesce = rng_quiesce,
	.resume = rng_resume,
	.save = rng_save,
	.load = rng_load,
};
