/*
 * The virtio transport shared by every virtio device.  A device supplies
 * its ops; the transport owns the registers, feature negotiation, the
 * queues, an ioeventfd per queue, the interrupts and one I/O thread that
 * calls the device whenever a queue (or the device's own fd) wakes it.
 * The vCPU threads only ever touch registers.
 *
 * Two register front-ends over one core (core.c: status, features,
 * queues, configuration space, saved state):
 *   - virtio-mmio, version 2 (§4.2.2; mmio.c): a window at `base`,
 *     QueueNotify ioeventfds, an irqfd on the device's GSI;
 *   - virtio-pci, modern (§4.1; pci.c): chosen when `base` is the ECAM
 *     address of a device on a PCI host bridge (devices/pci/host.h), with
 *     its BAR, MSI-X vectors and INTA# on the GSI.
 * Devices cannot tell them apart: they use the calls below either way.
 */
#ifndef LVM_DEVICES_VIRTIO_TRANSPORT_H
#define LVM_DEVICES_VIRTIO_TRANSPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/vm.h"
#include "devices/virtio/queue.h"

/* A device's register window: a page, so each window can be given (or
 * mapped away) on its own; the registers and config space need 0x200. */
#define LVM_VIRTIO_MMIO_SIZE 0x1000ull
#define LVM_VIRTIO_MAX_QUEUES 4u
#define LVM_VIRTIO_CONFIG_MAX 256u

struct lvm_virtio_transport;

struct lvm_virtio_ops {
	const char *name;
	uint32_t device_id;   /* VIRTIO_ID_* */
	unsigned num_queues;
	uint64_t features;    /* device-specific bits; the transport adds its own */
	uint32_t config_size; /* bytes of device configuration space */
	/* Fills the configuration space (config_size bytes). */
	void (*read_config)(void *dev, uint8_t *config);
	/* The driver wrote `size` bytes at `offset` of the configuration space
	 * (offset + size <= config_size; little-endian).  NULL: read-only, the
	 * write is ignored.  vCPU thread, transport lock held. */
	void (*write_config)(void *dev, uint32_t offset, const uint8_t *data, uint32_t size);
	/* Queue `q` was notified.  I/O thread, transport lock held. */
	void (*queue_event)(void *dev, struct lvm_virtio_transport *t, unsigned q);
	/* The device's own fd (lvm_virtio_set_device_fd) is readable.  Same context. */
	void (*device_event)(void *dev, struct lvm_virtio_transport *t);
	/* The timer armed by lvm_virtio_arm_timer expired.  Same context. */
	void (*timer_event)(void *dev, struct lvm_virtio_transport *t);
	/* The driver reset the device.  Transport lock held. */
	void (*reset)(void *dev);
};

struct lvm_virtio_transport {
	const struct lvm_virtio_ops *ops;
	void *dev;
	struct lvm_vm *vm;
	uint64_t base;
	unsigned gsi;

	pthread_mutex_t lock; /* registers and queues: vCPU vs I/O thread */
	uint32_t status;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint64_t driver_features;
	uint32_t interrupt_status;
	uint32_t config_generation;
	struct lvm_vq vq[LVM_VIRTIO_MAX_QUEUES];
	const char *broken_why; /* why DEVICE_NEEDS_RESET was set */
	char broken_buf[96];    /* a reason loaded from a saved state (broken_why points here) */
	uint64_t bad_notifies;  /* notifications of queues that do not exist */
	uint64_t interrupts;

	int notify_fd[LVM_VIRTIO_MAX_QUEUES]; /* eventfds, KVM_IOEVENTFD */
	bool ioeventfd[LVM_VIRTIO_MAX_QUEUES]; /* registered with KVM */
	int irq_fd;    /* eventfd, KVM_IRQFD on gsi */
	int stop_fd;   /* eventfd: ends the I/O thread */
	int device_fd; /* -1, or an fd the device wants to wait on */
	int timer_fd;  /* timerfd for requests that wait (policy delays, rate limits) */
	uint64_t timer_due_ns; /* when it fires (CLOCK_MONOTONIC), 0 if disarmed */
	bool device_fd_paused; /* the device cannot take its input now */
	pthread_t thread;
	bool thread_started;
	bool on_bus; /* its MMIO window is registered (and so is ours to remove) */

	/* Snapshots (lvm_virtio_quiesce), under the lock: */
	pthread_cond_t cond;  /* CLOCK_MONOTONIC: serving, quiesced or stopping changed */
	bool quiesced;        /* the I/O thread parks before it serves anything */
	bool serving;         /* the I/O thread is inside the device's ops */
	bool stopping;        /* lvm_virtio_free: a parked I/O thread leaves */
	bool raise_at_start;  /* a loaded InterruptStatus: raise the line at start */

	struct lvm_virtio_pci *pci; /* the PCI front-end (pci.h); NULL: virtio-mmio */
};

/* The device features every transport offers besides the device's own. */
uint64_t lvm_virtio_transport_features(void);

/*
 * Wires notify/interrupt fds and the registers: if `base` is the ECAM
 * address of function 0 of a device on a PCI host bridge, the device
 * becomes that PCI function (pci.h; gsi is its INTA# line); otherwise the
 * window at `base` (LVM_VIRTIO_MMIO_SIZE bytes) goes on the VM's MMIO bus.
 * The I/O thread starts with lvm_virtio_start.  NULL + lvm_error on failure.
 */
struct lvm_virtio_transport *lvm_virtio_new(struct lvm_vm *vm, uint64_t base, unsigned gsi,
				  const struct lvm_virtio_ops *ops, void *dev);
/* An fd (e.g. a tap device) the I/O thread should also wait on; before start. */
void lvm_virtio_set_device_fd(struct lvm_virtio_transport *t, int fd);
int lvm_virtio_start(struct lvm_virtio_transport *t);
/* Calls ops->timer_event on the I/O thread in `ns` nanoseconds (0: disarm).
 * A device that must wait sleeps on this; it never spins. */
void lvm_virtio_arm_timer(struct lvm_virtio_transport *t, uint64_t ns);
/* Stops the I/O thread, unregisters everything, frees t (not the device). */
void lvm_virtio_free(struct lvm_virtio_transport *t);

/*
 * Snapshot and fork (devices/device.h), control thread, vCPUs paused.
 *
 * lvm_virtio_quiesce: from its return until lvm_virtio_resume, the I/O
 * thread serves nothing (no queue, device fd or timer event; it parks
 * without consuming them, so they are served after resume) and is outside
 * the device's code.  Every request the device serves within one event is
 * complete; a device that keeps a popped request across events (one
 * waiting for a delay or the rate limit in its gate) completes it in its
 * own quiesce, after this one.  The I/O thread leaves the transport lock
 * only while a request filter runs, and a Lua filter waits for the control
 * thread, the caller: if one is still running after a short grace, this
 * fails (-1 + lvm_error) instead of deadlocking, and nothing changed.
 * Works whether or not the I/O thread was started.
 */
int lvm_virtio_quiesce(struct lvm_virtio_transport *t);
void lvm_virtio_resume(struct lvm_virtio_transport *t);
/*
 * Writes the transport's fields (status, features and selectors,
 * interrupt status, config generation, the broken state, each queue's
 * layout and indices) into the open section.  Quiesced (or not started).
 */
struct lvm_state_writer;
struct lvm_state_reader;
void lvm_virtio_save(struct lvm_virtio_transport *t, struct lvm_state_writer *w);
/*
 * Reads them back into a transport just created with the same ops, before
 * lvm_virtio_start, checking each as hostile input (lvm_state_bad, -1):
 * the device kind and queue count, status bits, negotiated features within
 * what the device offers, queue sizes and ring addresses (inside guest RAM,
 * aligned).  Maps the ready queues' rings as a QueueReady write does (the
 * ioeventfds are registered from creation), signals each ready queue once
 * (a notification that was pending when the state was saved is not lost;
 * a spurious one is harmless) and, if InterruptStatus is not 0, raises the
 * interrupt line again when the I/O thread starts.  Nothing is changed on
 * failure.
 */
int lvm_virtio_load(struct lvm_virtio_transport *t, struct lvm_state_reader *r);

/* For devices, transport lock held: */
bool lvm_virtio_driver_ok(const struct lvm_virtio_transport *t);
/* Raises the used-buffer interrupt if the driver wants one for queue q. */
void lvm_virtio_notify_used(struct lvm_virtio_transport *t, unsigned q);
/*
 * The device changed its configuration space: bumps ConfigGeneration and,
 * once the driver is live, raises the configuration change interrupt
 * (virtio 1.2 §2.5.1, §4.2.2: InterruptStatus bit 1).
 */
void lvm_virtio_config_changed(struct lvm_virtio_transport *t);
/* The driver broke a ring: set DEVICE_NEEDS_RESET (§2.1.2) and tell it. */
void lvm_virtio_needs_reset(struct lvm_virtio_transport *t, const char *why);
/* Pops the next chain of queue q; a broken ring sets DEVICE_NEEDS_RESET. */
bool lvm_virtio_pop(struct lvm_virtio_transport *t, unsigned q, struct lvm_vq_chain *chain);

/*
 * Serves queue q until the driver has nothing more: pops each chain, calls
 * fn (which returns the bytes it wrote into the chain), returns the chain,
 * interrupts the driver if it asked to be, and re-arms the event index.
 */
typedef uint32_t (*lvm_virtio_request_fn)(void *dev, struct lvm_vq_chain *chain);
void lvm_virtio_serve(struct lvm_virtio_transport *t, unsigned q, struct lvm_vq_chain *chain,
		      lvm_virtio_request_fn fn, void *dev);

/* The MMIO bus handler (exposed for unit tests). */
void lvm_virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write);

/*
 * The core, for the register front-ends (mmio.c, pci.c), transport lock
 * held.  The same state machine whichever registers reach it.
 */
uint64_t lvm_virtio_device_features(const struct lvm_virtio_transport *t);
/* The device (or driver) feature word device_features_sel (driver_features_sel) selects. */
uint32_t lvm_virtio_device_features_word(const struct lvm_virtio_transport *t);
uint32_t lvm_virtio_driver_features_word(const struct lvm_virtio_transport *t);
/* Sets the selected driver feature word, until FEATURES_OK. */
void lvm_virtio_set_driver_features(struct lvm_virtio_transport *t, uint32_t value);
/* A write of the device status: 0 resets the device (§2.1, §3.1.1). */
void lvm_virtio_set_status(struct lvm_virtio_transport *t, uint32_t value);
/* The queue queue_sel selects, or NULL. */
struct lvm_vq *lvm_virtio_selected_queue(struct lvm_virtio_transport *t);
/* Maps the rings (true) or stops the queue; a bad layout sets NEEDS_RESET. */
void lvm_virtio_set_queue_ready(struct lvm_virtio_transport *t, struct lvm_vq *vq, bool ready);
/* Half of a ring address, ignored once the queue is ready. */
void lvm_virtio_set_ring_half(struct lvm_vq *vq, uint64_t *field, bool high, uint32_t value);
/* A notification of queue q that KVM's ioeventfd did not absorb. */
void lvm_virtio_queue_notify(struct lvm_virtio_transport *t, uint32_t q);
/* The device configuration space: any width, little-endian. */
void lvm_virtio_device_config_io(struct lvm_virtio_transport *t, uint64_t offset, uint8_t *data,
				 uint32_t size, bool is_write);

#endif
