/*
 * virtio-console port 0: receiveq (queue 0) carries input to the guest,
 * transmitq (queue 1) output from it (§5.3.2).  Input waits in a small
 * buffer until the driver posts receive buffers; an eventfd wakes the I/O
 * thread when new input arrives.
 */
#include "devices/virtio/vconsole.h"

#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/device.h"
#include "util/error.h"
#include "util/state.h"
#include "devices/virtio/transport.h"

#define RECEIVEQ 0
#define TRANSMITQ 1

struct lvm_vconsole {
	struct lvm_virtio_transport *transport;
	struct lvm_console *sink;
	int input_fd; /* eventfd: input arrived */
	pthread_mutex_t rx_lock;
	uint8_t rx[LVM_VCONSOLE_RX_MAX];
	size_t rx_len;
	struct lvm_vq_chain chain;
};

static uint32_t transmit(void *dev, struct lvm_vq_chain *c)
{
	struct lvm_vconsole *con = dev;
	for (unsigned i = 0; i < c->nout; i++)
		lvm_console_write(con->sink, c->out[i].iov_base, c->out[i].iov_len);
	return 0;
}

/* Moves waiting input into as many receive buffers as there are. */
static void deliver_input(struct lvm_vconsole *con, struct lvm_virtio_transport *t)
{
	bool any = false;
	pthread_mutex_lock(&con->rx_lock);
	while (con->rx_len && lvm_virtio_pop(t, RECEIVEQ, &con->chain)) {
		size_t n = lvm_iov_write(con->chain.in, con->chain.nin, 0, con->rx, con->rx_len);
		memmove(con->rx, con->rx + n, con->rx_len - n);
		con->rx_len -= n;
		lvm_vq_push(&t->vq[RECEIVEQ], con->chain.head, (uint32_t)n);
		any = true;
	}
	pthread_mutex_unlock(&con->rx_lock);
	if (any)
		lvm_virtio_notify_used(t, RECEIVEQ);
}

static void con_queue_event(void *dev, struct lvm_virtio_transport *t, unsigned q)
{
	struct lvm_vconsole *con = dev;
	if (q == TRANSMITQ)
		lvm_virtio_serve(t, q, &con->chain, transmit, con);
	else
		deliver_input(con, t);
}

static void con_device_event(void *dev, struct lvm_virtio_transport *t)
{
	struct lvm_vconsole *con = dev;
	uint64_t v;
	ssize_t ignored = read(con->input_fd, &v, sizeof(v));
	(void)ignored;
	if (lvm_virtio_driver_ok(t))
		deliver_input(con, t);
}

#define CON_COLS 80u
#define CON_ROWS 25u

static void con_read_config(void *dev, uint8_t *config)
{
	(void)dev;
	struct virtio_console_config c = { .cols = CON_COLS, .rows = CON_ROWS, .max_nr_ports = 1 };
	memcpy(config, &c, sizeof(c));
}

static const struct lvm_virtio_ops con_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.num_queues = 2,
	.config_size = sizeof(struct virtio_console_config),
	.read_config = con_read_config,
	.queue_event = con_queue_event,
	.device_event = con_device_event,
};

struct lvm_vconsole *lvm_vconsole_new(struct lvm_vm *vm, uint64_t base, unsigned gsi)
{
	struct lvm_vconsole *con = calloc(1, sizeof(*con));
	if (!con) {
		lvm_fail("out of memory");
		return NULL;
	}
	con->sink = &vm->console;
	pthread_mutex_init(&con->rx_lock, NULL);
	con->input_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (con->input_fd < 0) {
		lvm_fail_errno("eventfd");
		lvm_vconsole_free(con);
		return NULL;
	}
	con->transport = lvm_virtio_new(vm, base, gsi, &con_ops, con);
	if (!con->transport) {
		lvm_vconsole_free(con);
		return NULL;
	}
	lvm_virtio_set_device_fd(con->transport, con->input_fd);
	return con;
}

int lvm_vconsole_start(struct lvm_vconsole *con)
{
	return lvm_virtio_start(con->transport);
}

void lvm_vconsole_free(struct lvm_vconsole *con)
{
	if (!con)
		return;
	lvm_virtio_free(con->transport);
	if (con->input_fd >= 0)
		close(con->input_fd);
	pthread_mutex_destroy(&con->rx_lock);
	free(con);
}

size_t lvm_vconsole_receive(struct lvm_vconsole *con, const void *bytes, size_t n)
{
	pthread_mutex_lock(&con->rx_lock);
	size_t room = sizeof(con->rx) - con->rx_len;
	if (n > room)
		n = room;
	memcpy(con->rx + con->rx_len, bytes, n);
	con->rx_len += n;
	pthread_mutex_unlock(&con->rx_lock);
	uint64_t one = 1;
	ssize_t ignored = write(con->input_fd, &one, sizeof(one));
	(void)ignored;
	return n;
}

static void *vconsole_create(const struct lvm_device_env *env, const void *params)
{
	(void)params;
	return lvm_vconsole_new(env->vm, env->base, env->gsi);
}

static int vconsole_start(void *dev) { return lvm_vconsole_start(dev); }
static void vconsole_free(void *dev) { lvm_vconsole_free(dev); }
static size_t vconsole_receive(void *dev, const void *bytes, size_t n)
{
	return lvm_vconsole_receive(dev, bytes, n);
}

/*
 * Snapshots.  Both queues are served to the end within an event, so the
 * transport's quiesce is the device's.  Saved after the transport: the
 * input still waiting for receive buffers, and the configuration the
 * driver read (its size; a restore into a device showing another one is
 * refused).
 */
static int vconsole_quiesce(void *dev)
{
	struct lvm_vconsole *con = dev;
	return lvm_virtio_quiesce(con->transport);
}

static void vconsole_resume(void *dev)
{
	struct lvm_vconsole *con = dev;
	lvm_virtio_resume(con->transport);
}

static void vconsole_save(void *dev, struct lvm_state_writer *w)
{
	struct lvm_vconsole *con = dev;
	lvm_virtio_save(con->transport, w);
	lvm_state_put_u16(w, CON_COLS);
	lvm_state_put_u16(w, CON_ROWS);
	pthread_mutex_lock(&con->rx_lock);
	lvm_state_put_blob(w, con->rx, con->rx_len);
	pthread_mutex_unlock(&con->rx_lock);
}

static int vconsole_load(void *dev, struct lvm_state_reader *r)
{
	struct lvm_vconsole *con = dev;
	if (lvm_virtio_load(con->transport, r) < 0)
		return -1;
	uint16_t cols = lvm_state_get_u16(r), rows = lvm_state_get_u16(r);
	uint8_t rx[LVM_VCONSOLE_RX_MAX];
	size_t n = lvm_state_get_blob(r, rx, sizeof(rx)); /* longer: refused */
	if (r->failed)
		return -1;
	if (cols != CON_COLS || rows != CON_ROWS)
		return lvm_state_bad(r, "console size %ux%u, this device has %ux%u", cols, rows,
				     CON_COLS, CON_ROWS);
	pthread_mutex_lock(&con->rx_lock);
	memcpy(con->rx, rx, n);
	con->rx_len = n; /* delivered once the receive queue is served */
	pthread_mutex_unlock(&con->rx_lock);
	return 0;
}

/* virtio_console = true: port 0, sharing the machine's console sink. */
const struct lvm_device_type lvm_vconsole_device = {
	.key = "virtio_console",
	.object = "virtio-console",
	.create = vconsole_create,
	.start = vconsole_start,
	.free = vconsole_free,
	.receive = vconsole_receive,
	.quiesce = vconsole_quiesce,
	.resume = vconsole_resume,
	.save = vconsole_save,
	.load = vconsole_load,
};
