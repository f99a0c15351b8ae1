/*
 * A hostile virtio driver for the libFuzzer targets, without KVM: the
 * transport comes from fake_transport.c, the registers are the real
 * mmio.c, and the input is a program of register accesses, guest-memory
 * writes, descriptor chains and queue kicks (fuzz_virtio.c says which).
 */
#ifndef LVM_FUZZ_VIRTIO_H
#define LVM_FUZZ_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/transport.h"
#include "fuzz_input.h"
#include "util/request_filter.h"

#define FV_RAM (256u << 10)
#define FV_DATA 0x20000u /* buffers are handed out from here to the end of RAM */

/* The transport lvm_virtio_new made last (the devices keep theirs private). */
extern struct lvm_virtio_transport *fake_last_transport;

struct fv {
	struct lvm_vm vm;
	struct lvm_virtio_transport *t;
	uint16_t avail_idx[LVM_VIRTIO_MAX_QUEUES]; /* the driver's next avail index */
	uint16_t next_desc[LVM_VIRTIO_MAX_QUEUES];
	uint32_t bump;                             /* next buffer in [FV_DATA, FV_RAM) */
	/* The request filter a target may install: verdicts come from the input. */
	struct lvm_filter filter;
	struct fz verdicts;
	unsigned filter_calls;
	/* Opcode 15: a device-specific step (input from outside, e.g. a frame). */
	void (*extra)(struct fv *s, struct fz *in);
	void *dev;
};

/* A VM with FV_RAM bytes of RAM and a console (no KVM). */
void fv_vm_init(struct fv *s);
void fv_vm_free(struct fv *s);
/* The filter whose verdicts are read from `verdicts` (may reset the device). */
const struct lvm_filter *fv_filter(struct fv *s, struct fz verdicts);
/* A well-behaved driver's set-up (status, features from the input, every queue). */
void fv_driver_init(struct fv *s, struct fz *in);
/* Runs the rest of the input as a program of hostile driver steps. */
void fv_run(struct fv *s, struct fz *in);

/* For a target's own steps: a buffer of `len` bytes in RAM (its gpa), the
 * host view of a gpa, a chain of buffers made available, a queue kick. */
struct fv_buf {
	uint32_t gpa, len;
	bool write;
};
uint32_t fv_alloc(struct fv *s, uint32_t len);
uint8_t *fv_ram(struct fv *s, uint32_t gpa);
void fv_offer(struct fv *s, unsigned q, const struct fv_buf *bufs, unsigned n);
void fv_kick(struct fv *s, unsigned q);

#endif
