/*
 * Where a virtio-net NIC's frames go (net.c): one backend per NIC, chosen
 * by the recipe entry (net_type.c).
 *   tap     a host tap device (net_tap.c): root or a tap made beforehand
 *   user    libslirp on its own thread (net_slirp.c): DHCP, DNS, NAT to
 *           the host and port forwards, no privileges
 *   switch  a port of an in-process switch (net_switch.c, util/eth_switch.h)
 * The NIC's I/O thread calls every op (with the transport lock held) but
 * start and free (control thread).  It waits for POLLIN on `fd` and then
 * calls recv until it returns 0; frames carry the 12-byte
 * struct virtio_net_hdr_v1 in front both ways (the tap's IFF_VNET_HDR
 * layout); the backends without offloads write a zero header.
 */
#ifndef LVM_DEVICES_VIRTIO_NET_BACKEND_H
#define LVM_DEVICES_VIRTIO_NET_BACKEND_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "kvm/vm.h"

struct lvm_net_backend;

struct lvm_net_backend_ops {
	const char *kind; /* "tap", "user", "switch" */
	/* Sends one frame: `iov` (n entries, `len` bytes) is the header and
	 * the Ethernet frame.  The frame's bytes taken, or -1: lost. */
	ssize_t (*send)(struct lvm_net_backend *b, const struct iovec *iov, unsigned n, size_t len);
	/* The next frame for the NIC (header first) into buf: its length, or
	 * 0 when none waits. */
	size_t (*recv)(struct lvm_net_backend *b, void *buf, size_t cap);
	/* Whether the host side carries frames (a tap that is up).  NULL: always. */
	bool (*carrier)(struct lvm_net_backend *b);
	/* Frames lost inside luavmm between the NIC and its network (a full
	 * queue), both directions.  NULL: none can be. */
	uint64_t (*dropped)(struct lvm_net_backend *b);
	/* Starts the backend's own thread (before the NIC's I/O thread).
	 * NULL: none.  0, or -1 + lvm_error. */
	int (*start)(struct lvm_net_backend *b);
	void (*free)(struct lvm_net_backend *b);
};

struct lvm_net_backend {
	const struct lvm_net_backend_ops *ops;
	int fd;             /* POLLIN while recv has a frame */
	uint32_t switch_id; /* the switch it is a port of, 0: none */
};

/* Each NULL + lvm_error ("cannot open tap tap0: ...") on failure. */
struct lvm_net_backend *lvm_net_tap_new(const char *name);

#define LVM_NET_FORWARDS_MAX 32u
struct lvm_net_forward {
	bool udp;
	struct in_addr host_addr; /* where the host listens (default 127.0.0.1) */
	uint16_t host_port, guest_port;
};
struct lvm_net_user_config {
	unsigned nforwards;
	struct lvm_net_forward forward[LVM_NET_FORWARDS_MAX];
};
/* The user network's addresses (libslirp's usual ones, as QEMU's -netdev
 * user has them): the guest leases GUEST, the gateway (the host, NAT) is
 * GATEWAY, DNS queries to DNS go to the host's resolver. */
#define LVM_NET_USER_NETWORK "10.0.2.0"
#define LVM_NET_USER_NETMASK "255.255.255.0"
#define LVM_NET_USER_GATEWAY "10.0.2.2"
#define LVM_NET_USER_DNS "10.0.2.3"
#define LVM_NET_USER_GUEST "10.0.2.15"
/* `vm` is stopped with reason "error" if its thread cannot be filtered. */
struct lvm_net_backend *lvm_net_user_new(struct lvm_vm *vm, const struct lvm_net_user_config *c);

/* A new port of switch `id`; label and mac are for its statistics. */
struct lvm_net_backend *lvm_net_switch_new(uint32_t id, const char *label, const uint8_t mac[6]);

#endif
