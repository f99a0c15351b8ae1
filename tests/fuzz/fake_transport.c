/*
 * The part of devices/virtio/transport.c that needs KVM, replaced for the
 * libFuzzer targets: a transport here has no bus window, ioeventfd, irqfd
 * or I/O thread.  The register state machine (mmio.c) and the devices are
 * the real ones; the target plays the I/O thread by calling the device's
 * queue_event / device_event / timer_event itself (fuzz_virtio.h).
 */
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/pci.h"
#include "devices/virtio/transport.h"
#include "fuzz_virtio.h"
#include "util/error.h"

struct lvm_virtio_transport *fake_last_transport;

struct lvm_virtio_transport *lvm_virtio_new(struct lvm_vm *vm, uint64_t base, unsigned gsi,
					    const struct lvm_virtio_ops *ops, void *dev)
{
	if (ops->num_queues > LVM_VIRTIO_MAX_QUEUES) {
		lvm_fail("virtio: %s wants too many queues", ops->name);
		return NULL;
	}
	struct lvm_virtio_transport *t = calloc(1, sizeof(*t));
	*t = (struct lvm_virtio_transport){ .ops = ops, .dev = dev, .vm = vm, .base = base,
					    .gsi = gsi, .irq_fd = -1, .stop_fd = -1,
					    .device_fd = -1, .timer_fd = -1 };
	pthread_mutex_init(&t->lock, NULL);
	for (unsigned q = 0; q < LVM_VIRTIO_MAX_QUEUES; q++) {
		/* An eventfd: queue_notify() writes it as it would for KVM. */
		t->notify_fd[q] = q < ops->num_queues ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
		t->vq[q].mem = &vm->mem;
	}
	t->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fake_last_transport = t;
	return t;
}

void lvm_virtio_set_device_fd(struct lvm_virtio_transport *t, int fd)
{
	t->device_fd = fd;
}

int lvm_virtio_start(struct lvm_virtio_transport *t)
{
	(void)t;
	return 0;
}

void lvm_virtio_arm_timer(struct lvm_virtio_transport *t, uint64_t ns)
{
	t->timer_due_ns = ns; /* the target fires it when its input says so */
}

/* No I/O thread to park: the target is the I/O thread. */
int lvm_virtio_quiesce(struct lvm_virtio_transport *t)
{
	t->quiesced = true;
	return 0;
}

void lvm_virtio_resume(struct lvm_virtio_transport *t)
{
	t->quiesced = false;
}

void lvm_virtio_free(struct lvm_virtio_transport *t)
{
	if (!t)
		return;
	lvm_virtio_pci_detach(t); /* a target that made it a PCI function (fuzz_pci.c) */
	for (unsigned q = 0; q < LVM_VIRTIO_MAX_QUEUES; q++)
		if (t->notify_fd[q] >= 0)
			close(t->notify_fd[q]);
	if (t->irq_fd >= 0)
		close(t->irq_fd);
	pthread_mutex_destroy(&t->lock);
	if (fake_last_transport == t)
		fake_last_transport = NULL;
	free(t);
}
