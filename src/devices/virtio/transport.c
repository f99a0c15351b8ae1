/*
 * A virtio device's life: the irqfd on its GSI (api.rst KVM_IRQFD), its
 * registers (a virtio-mmio window with KVM ioeventfds on QueueNotify
 * (KVM_IOEVENTFD), or a PCI function, pci.c), and the I/O thread that
 * serves its queues off the vCPU threads.
 */
#include "devices/virtio/transport.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/virtio_mmio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/pci/host.h"
#include "devices/virtio/pci.h"
#include "kvm/seccomp.h"
#include "util/error.h"
#include "util/spin.h"
#include "util/throttle.h"

/* QueueNotify writes of value q signal notify_fd[q] inside KVM, no exit to us. */
static void set_ioeventfd(struct lvm_virtio_transport *t, unsigned q, bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = q,
		.addr = t->base + VIRTIO_MMIO_QUEUE_NOTIFY,
		.len = 4,
		.fd = t->notify_fd[q],
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	int rc = ioctl(t->vm->vm_fd, KVM_IOEVENTFD, &io);
	if (assign)
		t->ioeventfd[q] = rc == 0; /* else the MMIO handler forwards notifies */
}

static void set_irqfd(struct lvm_virtio_transport *t, bool assign)
{
	struct kvm_irqfd irq = {
		.fd = (uint32_t)t->irq_fd,
		.gsi = t->gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	if (ioctl(t->vm->vm_fd, KVM_IRQFD, &irq) < 0 && assign)
		lvm_fail_errno("KVM_IRQFD (gsi %u)", t->gsi);
}

static int new_eventfd(int *fd)
{
	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return *fd < 0 ? lvm_fail_errno("eventfd") : 0;
}

struct lvm_virtio_transport *lvm_virtio_new(struct lvm_vm *vm, uint64_t base, unsigned gsi,
				  const struct lvm_virtio_ops *ops, void *dev)
{
	if (ops->num_queues > LVM_VIRTIO_MAX_QUEUES) {
		lvm_fail("virtio: %s wants too many queues", ops->name);
		return NULL;
	}
	struct lvm_virtio_transport *t = calloc(1, sizeof(*t));
	if (!t) {
		lvm_fail("out of memory");
		return NULL;
	}
	*t = (struct lvm_virtio_transport){ .ops = ops, .dev = dev, .vm = vm, .base = base, .gsi = gsi,
				  .irq_fd = -1, .stop_fd = -1, .device_fd = -1,
				  .timer_fd = -1 };
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* lvm_virtio_quiesce's grace */
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	for (unsigned q = 0; q < LVM_VIRTIO_MAX_QUEUES; q++) {
		t->notify_fd[q] = -1;
		t->vq[q].mem = &vm->mem;
	}
	if (new_eventfd(&t->irq_fd) < 0 || new_eventfd(&t->stop_fd) < 0)
		goto fail;
	t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->timer_fd < 0) {
		lvm_fail_errno("virtio: timerfd");
		goto fail;
	}
	for (unsigned q = 0; q < ops->num_queues; q++)
		if (new_eventfd(&t->notify_fd[q]) < 0)
			goto fail;
	errno = 0;
	struct kvm_irqfd probe = { .fd = (uint32_t)t->irq_fd, .gsi = gsi };
	if (ioctl(vm->vm_fd, KVM_IRQFD, &probe) < 0) {
		lvm_fail_errno("virtio: KVM_IRQFD on gsi %u", gsi);
		goto fail;
	}
	unsigned slot;
	struct lvm_pci_host *host = lvm_pci_host_at(vm, base, &slot);
	if (host) {
		if (lvm_virtio_pci_attach(t, host, slot) < 0) {
			set_irqfd(t, false);
			goto fail;
		}
		return t;
	}
	for (unsigned q = 0; q < ops->num_queues; q++)
		set_ioeventfd(t, q, true);
	if (lvm_bus_register(&vm->mmio, base, LVM_VIRTIO_MMIO_SIZE, lvm_virtio_mmio_io, t,
			     ops->name) < 0) {
		set_irqfd(t, false);
		goto fail;
	}
	t->on_bus = true;
	return t;
fail:
	lvm_virtio_free(t);
	return NULL;
}

void lvm_virtio_set_device_fd(struct lvm_virtio_transport *t, int fd)
{
	t->device_fd = fd;
}

void lvm_virtio_arm_timer(struct lvm_virtio_transport *t, uint64_t ns)
{
	/* Several waits (e.g. net's two directions) share the timer: keep the earliest. */
	uint64_t due = ns ? lvm_monotonic_ns() + ns : 0;
	if (ns && t->timer_due_ns && t->timer_due_ns <= due)
		return;
	t->timer_due_ns = due;
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(ns / 1000000000u),
						.tv_nsec = (long)(ns % 1000000000u) } };
	timerfd_settime(t->timer_fd, 0, &its, NULL);
}

static void drain(int fd)
{
	uint64_t v;
	ssize_t ignored = read(fd, &v, sizeof(v));
	(void)ignored;
}

/* One wake-up: serve every notified queue and the device's fd.  While the
 * transport is quiesced it parks first, consuming nothing: what woke it is
 * still there after resume. */
static void serve(struct lvm_virtio_transport *t, struct pollfd *fds, unsigned nq)
{
	pthread_mutex_lock(&t->lock);
	while (t->quiesced && !t->stopping)
		pthread_cond_wait(&t->cond, &t->lock);
	if (t->stopping) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	t->serving = true;
	for (unsigned q = 0; q < nq; q++) {
		if (!(fds[1 + q].revents & POLLIN))
			continue;
		drain(fds[1 + q].fd);
		if (lvm_virtio_driver_ok(t) && t->vq[q].ready)
			t->ops->queue_event(t->dev, t, q);
	}
	if (t->device_fd >= 0 && (fds[1 + nq].revents & POLLIN) && t->ops->device_event)
		t->ops->device_event(t->dev, t);
	if (fds[2 + nq].revents & POLLIN) {
		drain(fds[2 + nq].fd);
		t->timer_due_ns = 0;
		if (t->ops->timer_event && lvm_virtio_driver_ok(t))
			t->ops->timer_event(t->dev, t);
	}
	t->serving = false;
	pthread_cond_broadcast(&t->cond); /* a quiesce may wait for this */
	pthread_mutex_unlock(&t->lock);
}

struct poll_set {
	struct pollfd *fds;
	unsigned n;
};

static bool any_ready(const void *arg)
{
	const struct poll_set *set = arg;
	return poll(set->fds, set->n, 0) > 0;
}

static void *io_thread(void *opaque)
{
	struct lvm_virtio_transport *t = opaque;
	unsigned nq = t->ops->num_queues;
	struct pollfd fds[3 + LVM_VIRTIO_MAX_QUEUES];
	fds[0] = (struct pollfd){ .fd = t->stop_fd, .events = POLLIN };
	for (unsigned q = 0; q < nq; q++)
		fds[1 + q] = (struct pollfd){ .fd = t->notify_fd[q], .events = POLLIN };
	fds[1 + nq] = (struct pollfd){ .fd = t->device_fd, .events = POLLIN };
	fds[2 + nq] = (struct pollfd){ .fd = t->timer_fd, .events = POLLIN };
	unsigned nfds = 3 + nq;
	if (lvm_seccomp_enter(LVM_SECCOMP_IO, t->vm) < 0)
		return NULL; /* the VM stopped saying why */
	/* After serving, a driver with requests to make sends the next one within
	 * microseconds: look for it before sleeping (util/spin.h), which saves the
	 * wake-up on a hand-off the vCPU then waits for. */
	struct lvm_spin spin = LVM_SPIN_INIT;
	struct poll_set set = { fds, nfds };
	bool served = false;
	for (;;) {
		fds[1 + nq].events = t->device_fd_paused ? 0 : POLLIN; /* our own field */
		if (served && lvm_spin_until(&spin, any_ready, &set)) {
			/* fds[].revents are set */
		} else if (poll(fds, nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			/* The device can no longer serve: say so rather than go quiet. */
			lvm_vm_stop(t->vm, LVM_STOP_ERROR, 0, "virtio %s: I/O thread: poll: %s",
				    t->ops->name, strerror(errno));
			break;
		}
		if (fds[0].revents)
			break;
		serve(t, fds, nq);
		served = true;
	}
	return NULL;
}

int lvm_virtio_start(struct lvm_virtio_transport *t)
{
	/* A loaded InterruptStatus: the line the driver has not acknowledged
	 * yet, raised now that the machine (its interrupt controllers
	 * included) is whole again; a driver reads the status on each one. */
	if (t->raise_at_start) {
		t->raise_at_start = false;
		/* With MSI-X the pending bits, loaded, are the state: no line. */
		if (!t->pci || !lvm_virtio_pci_msix_enabled(t)) {
			uint64_t one = 1;
			ssize_t ignored = write(t->irq_fd, &one, sizeof(one));
			(void)ignored;
		}
	}
	int rc = pthread_create(&t->thread, NULL, io_thread, t);
	if (rc) {
		errno = rc;
		return lvm_fail_errno("virtio: %s I/O thread", t->ops->name);
	}
	t->thread_started = true;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void lvm_virtio_free(struct lvm_virtio_transport *t)
{
	if (!t)
		return;
	if (t->thread_started) {
		pthread_mutex_lock(&t->lock);
		t->stopping = true; /* a parked I/O thread leaves */
		pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&t->lock);
		uint64_t one = 1;
		ssize_t ignored = write(t->stop_fd, &one, sizeof(one));
		(void)ignored;
		pthread_join(t->thread, NULL);
	}
	lvm_virtio_pci_detach(t); /* a PCI function: off the bus, its fds unwired */
	if (t->on_bus) /* a failed registration must not remove another device's window */
		lvm_bus_unregister(&t->vm->mmio, t->base);
	for (unsigned q = 0; q < LVM_VIRTIO_MAX_QUEUES; q++) {
		if (t->ioeventfd[q])
			set_ioeventfd(t, q, false);
		close_fd(&t->notify_fd[q]);
	}
	if (t->irq_fd >= 0)
		set_irqfd(t, false);
	close_fd(&t->irq_fd);
	close_fd(&t->stop_fd);
	close_fd(&t->timer_fd);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* How long a quiesce lets a running request filter finish (one already
 * answered needs only the lock back); past it, the filter is taken to wait
 * for the control thread, which is the caller. */
#define QUIESCE_GRACE_NS 50000000ull

int lvm_virtio_quiesce(struct lvm_virtio_transport *t)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	uint64_t ns = (uint64_t)deadline.tv_nsec + QUIESCE_GRACE_NS;
	deadline.tv_sec += (time_t)(ns / 1000000000u);
	deadline.tv_nsec = (long)(ns % 1000000000u);

	pthread_mutex_lock(&t->lock);
	t->quiesced = true; /* the I/O thread parks at its next event */
	/* Holding the lock, we see `serving` only while the I/O thread is in
	 * the device with the lock dropped: inside a request filter (gate.h). */
	while (t->serving)
		if (pthread_cond_timedwait(&t->cond, &t->lock, &deadline) == ETIMEDOUT)
			break;
	bool busy = t->serving;
	if (busy) {
		t->quiesced = false;
		pthread_cond_broadcast(&t->cond);
	}
	pthread_mutex_unlock(&t->lock);
	if (busy)
		return lvm_fail("%s: its request filter is waiting for the control thread; "
				"quiesce once it has answered (after a wait that serves it)",
				t->ops->name);
	return 0;
}

void lvm_virtio_resume(struct lvm_virtio_transport *t)
{
	pthread_mutex_lock(&t->lock);
	t->quiesced = false;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}
