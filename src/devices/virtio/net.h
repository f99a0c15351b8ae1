/*
 * virtio-net (virtio 1.2 §5.1) in front of a backend (net_backend.h: a
 * tap, a user network or a switch port); the 12-byte virtio_net_hdr_v1
 * travels with every frame.  The MAC comes from the recipe; the link
 * status (VIRTIO_NET_F_STATUS) is the recipe's cable, cut and restored
 * with lvm_net_set_link.  No offloads yet.
 */
#ifndef LVM_DEVICES_VIRTIO_NET_H
#define LVM_DEVICES_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm/vm.h"

struct lvm_net;

struct lvm_net_stats {
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes, rx_dropped;
	uint64_t policy_dropped; /* frames the policy dropped (both directions) */
	uint64_t tx_while_down;  /* frames the guest sent while the link was down
				    (the cable cut, or the host's tap down): lost */
	uint64_t rx_while_down;  /* frames from the network dropped while the cable was cut */
	uint64_t link_up;        /* 1 while frames flow: the cable in and the tap (as
				    last seen) up, else 0 */
	uint64_t queue_dropped;  /* frames lost in luavmm's queues to and from the
				    network (a user net or a switch port that was full) */
};

struct lvm_net_backend;
/* On `backend`, which the NIC owns from this call on (freed on failure
 * too).  NULL + lvm_error on failure. */
struct lvm_net *lvm_net_new_backend(struct lvm_vm *vm, uint64_t base, unsigned gsi,
				    struct lvm_net_backend *backend, const uint8_t mac[6]);
/* On the tap `tap`.  NULL + lvm_error ("cannot open tap TAP: reason"). */
struct lvm_net *lvm_net_new(struct lvm_vm *vm, uint64_t base, unsigned gsi, const char *tap,
			    const uint8_t mac[6]);
int lvm_net_start(struct lvm_net *net);
void lvm_net_free(struct lvm_net *net);
struct lvm_net_stats lvm_net_stats(const struct lvm_net *net);
/*
 * The cable (control thread, any time): cut (false), frames in both
 * directions are dropped and counted (tx_while_down, rx_while_down) and
 * the guest reads VIRTIO_NET_S_LINK_UP clear in the configuration space,
 * with a configuration change interrupt (virtio 1.2 §5.1.4, §5.1.6);
 * restored (true), the bit is set again, with another interrupt.
 */
void lvm_net_set_link(struct lvm_net *net, bool up);
bool lvm_net_link(struct lvm_net *net);
/* The id of the switch its backend is a port of, 0 if none. */
uint32_t lvm_net_switch_id(const struct lvm_net *net);
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
