/*
 * An in-process Ethernet switch (luavmm.switch()): NICs of several
 * machines of one process attach ports to it and share one L2 segment,
 * without root or taps.  It learns which port each source MAC address
 * was last seen on and sends a unicast frame only there; a frame for an
 * address it has not learned (or not for a while) and every broadcast or
 * multicast frame goes to every other port (flooding), like an 802.1D
 * bridge without spanning tree (one switch cannot loop).
 *
 * Switches live in a process-wide registry by id, so layers that carry
 * only data (a recipe tree) can name one: the bindings hold a reference
 * for the Lua object, each attached port holds one, and the switch goes
 * away with the last.  Ids are never reused within a process.
 *
 * A port delivers into a frame queue (util/frame_queue.h) its owner
 * drains; a full queue drops the frame and counts it on that port.
 */
#ifndef LVM_UTIL_ETH_SWITCH_H
#define LVM_UTIL_ETH_SWITCH_H

#include <stddef.h>
#include <stdint.h>

struct lvm_frame_queue;
struct lvm_switch;
struct lvm_switch_port;

/* How many ports and learned addresses one switch keeps at most. */
#define LVM_SWITCH_PORTS_MAX 64u
#define LVM_SWITCH_MACS_MAX 256u
/* A learned address is forgotten after this long without a frame from it. */
#define LVM_SWITCH_AGEING_NS (300ull * 1000000000ull)

/* A new switch with a fresh id; the caller holds its first reference.
 * NULL + lvm_error on failure. */
struct lvm_switch *lvm_switch_new(void);
/* The switch with this id, with a new reference; NULL + lvm_error ("no
 * switch N (it was freed)") if none. */
struct lvm_switch *lvm_switch_get(uint32_t id);
void lvm_switch_put(struct lvm_switch *sw);
uint32_t lvm_switch_id(const struct lvm_switch *sw);

/*
 * Attaches a port that delivers into `queue` (which must outlive the
 * port); the port holds its own reference to the switch.  `label` (the
 * NIC's name) and `mac` (its configured address) are for statistics.
 * NULL + lvm_error when the switch has LVM_SWITCH_PORTS_MAX ports.
 */
struct lvm_switch_port *lvm_switch_attach(struct lvm_switch *sw, struct lvm_frame_queue *queue,
					  const char *label, const uint8_t mac[6]);
/* Detaches and frees the port (its learned addresses go too). */
void lvm_switch_detach(struct lvm_switch_port *port);
/* Switches one Ethernet frame the port's NIC sent.  Any thread. */
void lvm_switch_send(struct lvm_switch_port *port, const void *frame, size_t len);
/* The switch a port belongs to (borrowed). */
struct lvm_switch *lvm_switch_of(const struct lvm_switch_port *port);

struct lvm_switch_port_stats {
	unsigned number;             /* 1, 2, ... in attach order (never reused) */
	char label[32];
	uint8_t mac[6];
	uint64_t rx_packets, rx_bytes; /* frames the switch took from this port */
	uint64_t tx_packets, tx_bytes; /* frames it queued for this port */
	uint64_t tx_dropped;           /* frames for this port lost to its full queue */
};

struct lvm_switch_stats {
	unsigned ports;
	unsigned learned;   /* addresses in the table now */
	uint64_t flooded;   /* frames sent to every other port */
	uint64_t invalid;   /* runts and frames with a multicast source: dropped */
};

/* The switch's totals and up to `max` ports' counters (in attach order);
 * returns how many ports were written. */
unsigned lvm_switch_stats(struct lvm_switch *sw, struct lvm_switch_stats *totals,
			  struct lvm_switch_port_stats *ports, unsigned max);

#endif
