/*
 * virtio-net (virtio 1.2 §5.1) on a tap device opened by name with
 * IFF_VNET_HDR, so the 12-byte virtio_net_hdr_v1 travels with every frame
 * unchanged; the MAC comes from the recipe.  No offloads yet.
 */
#ifndef LVM_DEVICES_VIRTIO_NET_H
#define LVM_DEVICES_VIRTIO_NET_H

#include <stdint.h>

#include "kvm/vm.h"

struct lvm_net;

struct lvm_net_stats {
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes, rx_dropped;
	uint64_t policy_dropped; /* frames the policy dropped (both directions) */
	uint64_t tx_while_down;  /* frames sent while the host's tap was down (lost) */
	uint64_t link_up;        /* 1 while the tap is up (as last seen), else 0 */
};

/* NULL + lvm_error ("cannot open tap TAP: reason") on failure. */
struct lvm_net *lvm_net_new(struct lvm_vm *vm, uint64_t base, unsigned gsi, const char *tap,
			    const uint8_t mac[6]);
int lvm_net_start(struct lvm_net *net);
void lvm_net_free(struct lvm_net *net);
struct lvm_net_stats lvm_net_stats(const struct lvm_net *net);
/* The NIC's rate limit (util/throttle.h), shared by both directions: a
 * frame costs its bytes and one op; a throttled frame waits on a timer. */
struct lvm_throttle *lvm_net_throttle(struct lvm_net *net);
/* Installs (NULL: removes) the per-frame policy (devices/request_filter.h); it must
 * stay valid while the NIC lives.  The slow path: each frame is copied. */
struct lvm_filter;
void lvm_net_set_filter(struct lvm_net *net, const struct lvm_filter *policy);

/* Snapshots (devices/device.h's quiesce, resume, save, load): net.c. */
struct lvm_state_writer;
struct lvm_state_reader;
int lvm_net_quiesce(struct lvm_net *net);
void lvm_net_resume(struct lvm_net *net);
void lvm_net_save(struct lvm_net *net, struct lvm_state_writer *w);
int lvm_net_load(struct lvm_net *net, struct lvm_state_reader *r);

/* Its entry in the machine's device table (devices/device.h), in net_type.c. */
struct lvm_device_type;
extern const struct lvm_device_type lvm_net_device;

#endif
