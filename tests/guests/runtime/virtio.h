/*
 * A tiny polling virtio-mmio driver for the test guests (virtio 1.2 §4.2.3
 * driver side, split virtqueues).  Everything here is meant to run at ring
 * 3: the MMIO windows and the rings are reachable there (the page tables
 * set U everywhere), and polling loops are native speed only at CPL 3.
 *
 * Devices are found in the device tree luavmm hands over (bootinfo
 * dtb_addr), or else in "virtio_mmio.device=SIZE@BASE:IRQ" entries on the
 * command line (what QEMU -M microvm adds), or else on PCI bus 0
 * (runtime/pci.h: virtio-pci, the same calls).
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdint.h>

#define VDEV_MAX 16
#define VQ_SIZE 16

struct vdev {
	uint64_t base;
	uint64_t size;
	uint32_t irq;
	uint32_t device_id;
	uint64_t features; /* what the device offered */
	/* virtio-pci (runtime/pci.h): the structures the capabilities point at. */
	int pci;
	uint8_t pci_dev;
	uint64_t common, notify, isr, devcfg;
	uint32_t notify_mult;
	uint16_t notify_off[8]; /* each queue's queue_notify_off */
};

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define VQ_F_NEXT 1
#define VQ_F_WRITE 2
#define VQ_F_INDIRECT 4

struct vq {
	struct vdev *dev;
	unsigned index;
	uint16_t size;
	volatile struct vq_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
	volatile uint32_t *used;  /* flags|idx, then {id, len} pairs */
	uint16_t avail_idx;
	uint16_t used_seen;
};

/* Fills devs (at most max) and returns how many virtio-mmio windows exist. */
int vdev_discover(struct vdev *devs, int max);
/* The first device with this id (VIRTIO_ID_*), or 0. */
struct vdev *vdev_find(uint32_t device_id);
/* Where the devices came from: "dtb", "cmdline", "pci" or "none". */
extern const char *vdev_source;

uint32_t vdev_read(const struct vdev *d, uint32_t reg);
void vdev_write(const struct vdev *d, uint32_t reg, uint32_t value);
/* Configuration space, 32-bit reads at `offset` (§4.2.2.2). */
uint32_t vdev_config32(const struct vdev *d, uint32_t offset);
/*
 * Reset, ACKNOWLEDGE, DRIVER, offers `want` & what the device has (plus
 * VERSION_1), FEATURES_OK; 0 on success, -1 if the device refused.
 */
int vdev_init(struct vdev *d, uint64_t want);
/* Sets queue `index` up over `mem` (4 KiB, page-aligned); 0 or -1. */
int vq_setup(struct vdev *d, struct vq *q, unsigned index, void *mem);
void vdev_driver_ok(struct vdev *d);
uint32_t vdev_status(const struct vdev *d);

static inline void vq_set_desc(volatile struct vq_desc *d, uint64_t addr, uint32_t len,
			       uint16_t flags, uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* Puts descriptor chain `head` on the available ring and notifies. */
void vq_submit(struct vq *q, uint16_t head);
/*
 * Polls the used ring until a chain comes back or `spins` polls passed;
 * returns its head (len in *len) or -1 on timeout.
 */
int vq_wait(struct vq *q, uint32_t *len, uint64_t spins);

/* ---- the hostile guests' frame (virtio-hostile, vcon-hostile, net-hostile) ---- */

/*
 * What the device made of a chain just submitted on q that breaks the
 * rules: "needs-reset" (DEVICE_NEEDS_RESET with the configuration change
 * interrupt §2.1.2 wants), "needs-reset without a config change
 * interrupt", "completed" (a used entry came back) or "ignored" (neither
 * after 20000 x 100000 polls).
 */
const char *vq_outcome(struct vq *q);

struct hostile_guest {
	const char *prefix;   /* every line it prints starts "PREFIX: " */
	uint32_t device_id;   /* VIRTIO_ID_* of the device to break */
	const char *device;   /* "PREFIX: FAIL no DEVICE" when there is none */
	struct vdev **dev;    /* where the guest keeps that device */
	int (*setup)(void);   /* resets *dev and sets it up: 0, or -1 */
	/* Breaks the rules the way `name` says; says what the device did. */
	const char *(*run_case)(const char *name);
	int (*prove)(void);   /* good I/O on the fresh device: 0, or -1 */
	const char *proof;    /* "PREFIX: FAIL no PROOF after the reset" */
};

/*
 * A hostile guest's whole run, at ring 3: finds and sets up the device,
 * runs the case the command line's first word names (which may print lines
 * of its own), prints "PREFIX: CASE -> RESULT", sets the device up again
 * (which resets it), proves it with good I/O and prints "PREFIX:
 * recovered".  Returns the exit value: 0, or 1 after a "PREFIX: FAIL ..."
 * line.  Call at ring 0 (guest_main).
 */
uint32_t hostile_main(const struct hostile_guest *g, const char *args);

#endif
