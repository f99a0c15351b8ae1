/*
 * libFuzzer target for the virtio-vsock packet parser (vsock.c): any bytes
 * as a transmit-queue chain of any claimed length.  A packet the parser
 * accepts must be self-consistent (its payload fits what the chain holds,
 * the addresses are the guest's and the host's), and encoding the header it
 * read gives back the bytes it was read from.
 */
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/vsock.h"

#define GUEST_CID 3u
#define HOST_CID 2u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint32_t claimed;
	memcpy(&claimed, data, 4); /* the chain's readable length, as a driver says it */
	data += 4;
	size -= 4;
	struct lvm_vsock_pkt pkt;
	enum lvm_vsock_verdict v = lvm_vsock_parse(data, size, claimed, GUEST_CID, &pkt);
	if (v != LVM_VSOCK_OK)
		return 0;
	if (size < LVM_VSOCK_HDR_LEN || pkt.len > LVM_VSOCK_PAYLOAD_MAX ||
	    (uint64_t)LVM_VSOCK_HDR_LEN + pkt.len > claimed)
		abort();
	if (pkt.src_cid != GUEST_CID || pkt.dst_cid != HOST_CID)
		abort();
	uint8_t again[LVM_VSOCK_HDR_LEN];
	lvm_vsock_encode(&pkt, again);
	if (memcmp(again, data, LVM_VSOCK_HDR_LEN) != 0)
		abort();
	return 0;
}
