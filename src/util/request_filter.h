/*
 * Per-request policy for devices (virtio-blk requests, virtio-net frames):
 * the C interface a device calls and a policy layer (the Lua bindings)
 * implements.  Devices know nothing of Lua: they hold a `struct
 * lvm_policy` (NULL callbacks = allow everything) and ask it once per
 * request, from whichever thread processes the request.  The Lua
 * implementation hands the request to the control thread through the same
 * bounded queue as on_pio reads (kvm/hookq) and waits for the verdict, so
 * a policy costs one control-thread round trip per request; devices call
 * it only when a policy is installed (the fast path stays C-only).
 *
 * virtio-blk asks before each request (op, first sector, data bytes) and
 * virtio-net before each frame it transmits or receives, both through an
 * admission gate (devices/virtio/gate.h) that calls the policy without the
 * transport lock held, so a vCPU touching the device's registers never
 * waits for Lua.  virtio-vsock asks before each new stream connection
 * (which side opens it, its ports), also with its lock dropped; the answer
 * may hand it a socket the policy layer made for a listener of its own
 * (the recipe's vm.vsock:listen), which then carries the connection.
 */
#ifndef LVM_UTIL_REQUEST_FILTER_H
#define LVM_UTIL_REQUEST_FILTER_H

#include <stdint.h>

enum lvm_filter_op { LVM_FILTER_READ, LVM_FILTER_WRITE, LVM_FILTER_FLUSH, LVM_FILTER_OTHER,
		     LVM_FILTER_TX, LVM_FILTER_RX, LVM_FILTER_DISCARD, LVM_FILTER_WRITE_ZEROES,
		     LVM_FILTER_GET_ID,
		     LVM_FILTER_VSOCK_GUEST, /* vsock: the guest connects to a host port */
		     LVM_FILTER_VSOCK_HOST,  /* vsock: a host process connects to a guest port */
};

enum lvm_filter_verdict {
	LVM_FILTER_ALLOW = 0, /* process the request */
	LVM_FILTER_IOERR,     /* complete it with VIRTIO_BLK_S_IOERR (net: drop) */
	LVM_FILTER_UNSUPP,    /* complete it with VIRTIO_BLK_S_UNSUPP (net: drop) */
	LVM_FILTER_DELAY,     /* process it after `delay_ms` */
	LVM_FILTER_DROP,      /* net: drop the frame (blk: as IOERR; vsock: refuse, RST) */
	/* Every verdict but ALLOW and DELAY refuses the request: it costs no
	 * rate-limit tokens.  The Lua layer gives disks ALLOW, IOERR, UNSUPP
	 * and DELAY, and NICs and vsock ALLOW and DROP. */
};

struct lvm_filter_request {
	enum lvm_filter_op op;
	uint64_t sector;    /* blk: first 512-byte sector */
	uint32_t length;    /* bytes of data (blk) or of the frame (net) */
	const void *frame;  /* net: the frame, readable during the call; else NULL */
	/* vsock: the port connected to (the listener's), the connecting side's
	 * port and the guest's CID.  With ALLOW the policy layer may store in
	 * *stream_fd (the device sets it to -1) the device's end of a stream
	 * socket it made for a listener of its own: the device owns that fd
	 * from the answer on and carries the connection over it. */
	uint32_t port, peer_port;
	uint64_t cid;
	int *stream_fd;
};

struct lvm_filter_result {
	enum lvm_filter_verdict verdict;
	uint32_t delay_ms;
};

struct lvm_filter {
	void (*check)(void *opaque, const struct lvm_filter_request *req,
		      struct lvm_filter_result *result);
	void *opaque;
};

static inline struct lvm_filter_result lvm_filter_check(const struct lvm_filter *p,
							 const struct lvm_filter_request *req)
{
	struct lvm_filter_result r = { LVM_FILTER_ALLOW, 0 };
	if (p && p->check)
		p->check(p->opaque, req, &r);
	return r;
}

#endif
