/*
 * Per-request policy for devices (virtio-blk requests, virtio-net frames):
 * the C interface a device calls and a policy layer (the Lua bindings)
 * implements.  Devices know nothing of Lua: they hold a `struct
 * lvm_policy` (NULL callbacks = allow everything) and ask it once per
 * request, from whichever thread processes the request.  The Lua
 * implementation hands the request to the control thread through the same
 * bounded queue as on_pio reads (core/hookq) and waits for the verdict, so
 * a policy costs one control-thread round trip per request; devices call
 * it only when a policy is installed (the fast path stays C-only).
 *
 * virtio-blk asks before each request (op, first sector, data bytes) and
 * virtio-net before each frame it transmits or receives.  The device calls
 * the policy without its transport lock held, so a vCPU touching the
 * device's registers never waits for Lua.
 */
#ifndef LVM_POLICY_H
#define LVM_POLICY_H

#include <stdint.h>

enum lvm_policy_op { LVM_POLICY_READ, LVM_POLICY_WRITE, LVM_POLICY_FLUSH, LVM_POLICY_OTHER,
		     LVM_POLICY_TX, LVM_POLICY_RX, LVM_POLICY_DISCARD, LVM_POLICY_WRITE_ZEROES,
		     LVM_POLICY_GET_ID };

enum lvm_policy_verdict {
	LVM_POLICY_ALLOW = 0, /* process the request */
	LVM_POLICY_IOERR,     /* complete it with VIRTIO_BLK_S_IOERR (net: drop) */
	LVM_POLICY_UNSUPP,    /* complete it with VIRTIO_BLK_S_UNSUPP */
	LVM_POLICY_DELAY,     /* process it after `delay_ms` */
	LVM_POLICY_DROP,      /* net: drop the frame */
};

struct lvm_policy_request {
	enum lvm_policy_op op;
	uint64_t sector;    /* blk: first 512-byte sector */
	uint32_t length;    /* bytes of data (blk) or of the frame (net) */
	const void *frame;  /* net: the frame, readable during the call; else NULL */
};

struct lvm_policy_result {
	enum lvm_policy_verdict verdict;
	uint32_t delay_ms;
};

struct lvm_policy {
	void (*check)(void *opaque, const struct lvm_policy_request *req,
		      struct lvm_policy_result *result);
	void *opaque;
};

static inline struct lvm_policy_result lvm_policy_check(const struct lvm_policy *p,
							 const struct lvm_policy_request *req)
{
	struct lvm_policy_result r = { LVM_POLICY_ALLOW, 0 };
	if (p && p->check)
		p->check(p->opaque, req, &r);
	return r;
}

#endif
