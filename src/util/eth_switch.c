/*
 * The switch: one mutex per switch over its ports, its address table and
 * its counters; a frame is switched with it held (queues take their own
 * lock inside, never the other way round).  The registry's mutex guards
 * the list of switches and every reference count.
 */
#include "util/eth_switch.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/frame_queue.h"

struct lvm_switch_port {
	struct lvm_switch *sw;
	struct lvm_frame_queue *queue;
	struct lvm_switch_port_stats stats;
};

struct learned {
	uint8_t mac[6];
	struct lvm_switch_port *port; /* NULL: a free slot */
	uint64_t seen_ns;
};

struct lvm_switch {
	uint32_t id;
	unsigned refs;           /* registry lock */
	struct lvm_switch *next; /* registry lock */
	pthread_mutex_t lock;
	struct lvm_switch_port *ports[LVM_SWITCH_PORTS_MAX];
	unsigned nports, next_number;
	struct learned table[LVM_SWITCH_MACS_MAX];
	uint64_t flooded, invalid;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lvm_switch *registry;
static uint32_t last_id;

struct lvm_switch *lvm_switch_new(void)
{
	struct lvm_switch *sw = calloc(1, sizeof(*sw));
	if (!sw) {
		lvm_fail("out of memory");
		return NULL;
	}
	pthread_mutex_init(&sw->lock, NULL);
	sw->refs = 1;
	sw->next_number = 1;
	pthread_mutex_lock(&registry_lock);
	sw->id = ++last_id;
	sw->next = registry;
	registry = sw;
	pthread_mutex_unlock(&registry_lock);
	return sw;
}

struct lvm_switch *lvm_switch_get(uint32_t id)
{
	pthread_mutex_lock(&registry_lock);
	struct lvm_switch *sw = registry;
	while (sw && sw->id != id)
		sw = sw->next;
	if (sw)
		sw->refs++;
	pthread_mutex_unlock(&registry_lock);
	if (!sw)
		lvm_fail("no switch %u (it was freed)", (unsigned)id);
	return sw;
}

void lvm_switch_put(struct lvm_switch *sw)
{
	if (!sw)
		return;
	pthread_mutex_lock(&registry_lock);
	bool last = --sw->refs == 0;
	if (last) {
		struct lvm_switch **p = &registry;
		while (*p != sw)
			p = &(*p)->next;
		*p = sw->next;
	}
	pthread_mutex_unlock(&registry_lock);
	if (last) {
		pthread_mutex_destroy(&sw->lock);
		free(sw);
	}
}

uint32_t lvm_switch_id(const struct lvm_switch *sw)
{
	return sw->id;
}

struct lvm_switch *lvm_switch_of(const struct lvm_switch_port *port)
{
	return port->sw;
}

struct lvm_switch_port *lvm_switch_attach(struct lvm_switch *sw, struct lvm_frame_queue *queue,
					  const char *label, const uint8_t mac[6])
{
	struct lvm_switch_port *p = calloc(1, sizeof(*p));
	if (!p) {
		lvm_fail("out of memory");
		return NULL;
	}
	p->sw = sw;
	p->queue = queue;
	snprintf(p->stats.label, sizeof(p->stats.label), "%s", label);
	memcpy(p->stats.mac, mac, 6);
	pthread_mutex_lock(&sw->lock);
	bool full = sw->nports == LVM_SWITCH_PORTS_MAX;
	if (!full) {
		p->stats.number = sw->next_number++;
		sw->ports[sw->nports++] = p;
	}
	pthread_mutex_unlock(&sw->lock);
	if (full) {
		free(p);
		lvm_fail("switch %u has %u ports already", (unsigned)sw->id, LVM_SWITCH_PORTS_MAX);
		return NULL;
	}
	pthread_mutex_lock(&registry_lock);
	sw->refs++;
	pthread_mutex_unlock(&registry_lock);
	return p;
}

void lvm_switch_detach(struct lvm_switch_port *port)
{
	if (!port)
		return;
	struct lvm_switch *sw = port->sw;
	pthread_mutex_lock(&sw->lock);
	for (unsigned i = 0; i < sw->nports; i++) {
		if (sw->ports[i] != port)
			continue;
		memmove(&sw->ports[i], &sw->ports[i + 1], (sw->nports - i - 1) * sizeof(sw->ports[0]));
		sw->nports--;
		break;
	}
	for (unsigned i = 0; i < LVM_SWITCH_MACS_MAX; i++)
		if (sw->table[i].port == port)
			sw->table[i].port = NULL;
	pthread_mutex_unlock(&sw->lock);
	free(port);
	lvm_switch_put(sw);
}

/* The port `mac` was last seen on (not aged out), or NULL.  Lock held. */
static struct lvm_switch_port *lookup(struct lvm_switch *sw, const uint8_t *mac, uint64_t now)
{
	for (unsigned i = 0; i < LVM_SWITCH_MACS_MAX; i++) {
		struct learned *e = &sw->table[i];
		if (e->port && memcmp(e->mac, mac, 6) == 0)
			return now - e->seen_ns < LVM_SWITCH_AGEING_NS ? e->port : NULL;
	}
	return NULL;
}

/* Remembers that `mac` is behind `port`: its entry, a free slot, or the
 * stalest entry.  Lock held. */
static void learn(struct lvm_switch *sw, const uint8_t *mac, struct lvm_switch_port *port,
		  uint64_t now)
{
	struct learned *slot = NULL, *oldest = &sw->table[0];
	for (unsigned i = 0; i < LVM_SWITCH_MACS_MAX; i++) {
		struct learned *e = &sw->table[i];
		if (e->port && memcmp(e->mac, mac, 6) == 0) {
			slot = e;
			break;
		}
		if (!e->port && !slot)
			slot = e;
		if (e->port && oldest->port && e->seen_ns < oldest->seen_ns)
			oldest = e;
	}
	if (!slot)
		slot = oldest;
	memcpy(slot->mac, mac, 6);
	slot->port = port;
	slot->seen_ns = now;
}

static void deliver(struct lvm_switch_port *to, const void *frame, size_t len)
{
	if (lvm_frame_queue_push(to->queue, frame, len)) {
		to->stats.tx_packets++;
		to->stats.tx_bytes += len;
	} else {
		to->stats.tx_dropped++;
	}
}

void lvm_switch_send(struct lvm_switch_port *port, const void *frame, size_t len)
{
	struct lvm_switch *sw = port->sw;
	const uint8_t *f = frame;
	uint64_t now = lvm_monotonic_ns();
	pthread_mutex_lock(&sw->lock);
	port->stats.rx_packets++;
	port->stats.rx_bytes += len;
	if (len < 14 || (f[6] & 1)) { /* no Ethernet header, or a group address as source */
		sw->invalid++;
		pthread_mutex_unlock(&sw->lock);
		return;
	}
	learn(sw, f + 6, port, now);
	struct lvm_switch_port *to = (f[0] & 1) ? NULL : lookup(sw, f, now);
	if (to) {
		if (to != port) /* a frame for its own segment stays there */
			deliver(to, frame, len);
	} else {
		sw->flooded++;
		for (unsigned i = 0; i < sw->nports; i++)
			if (sw->ports[i] != port)
				deliver(sw->ports[i], frame, len);
	}
	pthread_mutex_unlock(&sw->lock);
}

unsigned lvm_switch_stats(struct lvm_switch *sw, struct lvm_switch_stats *totals,
			  struct lvm_switch_port_stats *ports, unsigned max)
{
	uint64_t now = lvm_monotonic_ns();
	pthread_mutex_lock(&sw->lock);
	unsigned learned = 0;
	for (unsigned i = 0; i < LVM_SWITCH_MACS_MAX; i++)
		learned += sw->table[i].port && now - sw->table[i].seen_ns < LVM_SWITCH_AGEING_NS;
	*totals = (struct lvm_switch_stats){ .ports = sw->nports, .learned = learned,
					     .flooded = sw->flooded, .invalid = sw->invalid };
	unsigned n = sw->nports < max ? sw->nports : max;
	for (unsigned i = 0; i < n; i++)
		ports[i] = sw->ports[i]->stats;
	pthread_mutex_unlock(&sw->lock);
	return n;
}
