/*
 * virtio-vsock (virtio 1.2 §5.10), stream sockets only, bridged to host
 * unix sockets the way Firecracker does it: a host process connects to the
 * unix socket `path` and writes "CONNECT <port>\n" to reach the guest's
 * listener on that port (answered "OK <host_port>\n"); a guest connecting
 * to host port P reaches a listener on the unix socket "<path>_<P>".
 */
#ifndef LVM_DEVICES_VIRTIO_VSOCK_H
#define LVM_DEVICES_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_vsock.h>

#define LVM_VSOCK_HOST_CID 2u
#define LVM_VSOCK_HDR_LEN 44u       /* sizeof(struct virtio_vsock_hdr) */
#define LVM_VSOCK_PAYLOAD_MAX 65536u /* the largest RW payload we accept */

/* One packet header in host byte order. */
struct lvm_vsock_pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

enum lvm_vsock_verdict {
	LVM_VSOCK_OK = 0,
	LVM_VSOCK_SHORT,     /* less than a header: dropped */
	LVM_VSOCK_BAD_LEN,   /* len disagrees with the chain or exceeds the maximum */
	LVM_VSOCK_BAD_TYPE,  /* not a stream packet */
	LVM_VSOCK_BAD_OP,    /* an op we do not know */
	LVM_VSOCK_BAD_ADDR,  /* src_cid is not the guest's or dst_cid not the host's */
};

/*
 * Checks a packet the driver put on the transmit queue: `buf` holds its
 * first `n` bytes (at least the header, if there is one), `total` is the
 * chain's device-readable length.  Fills *pkt (whenever n >= the header)
 * and says what is wrong with it, if anything.  Pure: the fuzz target
 * drives it directly.
 */
enum lvm_vsock_verdict lvm_vsock_parse(const uint8_t *buf, size_t n, uint64_t total,
				       uint64_t guest_cid, struct lvm_vsock_pkt *pkt);
/* Writes *pkt as a little-endian header (LVM_VSOCK_HDR_LEN bytes). */
void lvm_vsock_encode(const struct lvm_vsock_pkt *pkt, uint8_t *out);

/* Its entry in the machine's device table (devices/device.h), in vsock.c. */
struct lvm_device_type;
extern const struct lvm_device_type lvm_vsock_device;

#endif
