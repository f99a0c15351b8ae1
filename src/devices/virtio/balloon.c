/*
 * virtio-balloon (virtio 1.2 §5.5).  Queues (§5.5.2): 0 inflateq, 1
 * deflateq, then statsq (with VIRTIO_BALLOON_F_STATS_VQ) and reporting_vq
 * (with VIRTIO_BALLOON_F_REPORTING), numbered densely over the features
 * the driver accepted, as Linux's virtio-mmio driver does (it sets up no
 * queue for a feature it did not take): 2 and 3, or 2 alone.
 * (free_page_vq, VIRTIO_BALLOON_F_FREE_PAGE_HINT, would come between them:
 * not offered.)  Configuration (§5.5.4): num_pages, set by the host, and
 * actual, written by the driver.
 *
 * Inflate (§5.5.6): each buffer is an array of le32 page frame numbers
 * (4 KiB frames, VIRTIO_BALLOON_PFN_SHIFT).  Every PFN is checked against
 * guest RAM on its own; runs of consecutive valid frames are punched out of
 * the guest-RAM memfd in one call (lvm_memory_discard).  Frames outside RAM
 * are counted and skipped: a hostile driver can waste its own balloon's
 * time, never make the VMM free anything but its own pages.  Deflate: the
 * frames are only counted (the next touch faults in a zero page; we offer
 * no VIRTIO_BALLOON_F_MUST_TELL_HOST).
 *
 * Statistics (§5.5.6.3): the driver posts one buffer of
 * struct virtio_balloon_stat {le16 tag; le64 val} (packed, 10 bytes each);
 * the device keeps it and returns it (used length 0) when it wants fresh
 * numbers, here every stats_interval_ms on the transport's timer.  Unknown
 * tags and a trailing partial entry are ignored.
 *
 * Free page reporting (§5.5.6.7): each buffer on reporting_vq is a list of
 * device-writable descriptors that are themselves the free pages (Linux
 * reports 2 or 4 MiB blocks).  The whole 4 KiB pages inside each
 * descriptor are given back like inflated ones and the buffer returned
 * with nothing written; the driver does not touch the pages until then,
 * and afterwards finds zeroes (we offer no VIRTIO_BALLOON_F_PAGE_POISON:
 * §5.5.6.7.1 leaves their contents undefined).  The descriptors were
 * checked against RAM when the chain was popped; a part of one that is not
 * page aligned is left alone.  Reported pages share the inflate queues'
 * budget per wake-up.
 */
#include "devices/virtio/balloon.h"

#include <endian.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device.h"
#include "devices/virtio/transport.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/state.h"

enum { Q_INFLATE = 0, Q_DEFLATE = 1, Q_NONE = LVM_VIRTIO_MAX_QUEUES };

/* Per chain: Linux sends at most 256 PFNs a buffer; more is ignored.  Per
 * wake-up: after this many PFNs (a chain counts at least one) the I/O
 * thread lets go of the transport lock and carries on from its timer, so a
 * flood of PFNs can never hold up the vCPUs' register accesses or the
 * control thread's vm.balloon calls for long. */
#define BALLOON_CHAIN_PFNS_MAX 16384u
#define BALLOON_WAKEUP_PFNS 16384u
#define BALLOON_CONTINUE_NS 1000u
#define BALLOON_PAGE 4096ull
/* The stats a driver sends: the tags we know, then room for unknown ones. */
#define BALLOON_STATS_BYTES_MAX 1024u

struct lvm_balloon {
	struct lvm_virtio_transport *transport;
	struct lvm_virtio_ops ops; /* features and queues depend on the options */
	struct lvm_memory *mem;
	uint64_t stats_interval_ns;

	/* Transport lock: */
	uint32_t num_pages, actual;
	bool stats_held; /* the driver's stats buffer, kept until we want more */
	uint16_t stats_head;
	uint64_t stats_due_ns; /* when to hand it back (CLOCK_MONOTONIC), 0: never */
	unsigned more;         /* bit q: queue q has chains left from the last wake-up */
	uint64_t guest[VIRTIO_BALLOON_S_NR];
	uint32_t guest_seen; /* bit per tag the driver reported */
	uint64_t stats_updates;
	uint64_t inflated, deflated, returned_bytes, rejected, discard_errors;
	uint64_t reports, reported_bytes, report_unaligned;
	struct lvm_vq_chain chain;
};

/* Lua names of the guest's statistics, by VIRTIO_BALLOON_S_* tag. */
static const char *const guest_stat_names[VIRTIO_BALLOON_S_NR] = {
	[VIRTIO_BALLOON_S_SWAP_IN] = "swap_in",
	[VIRTIO_BALLOON_S_SWAP_OUT] = "swap_out",
	[VIRTIO_BALLOON_S_MAJFLT] = "major_faults",
	[VIRTIO_BALLOON_S_MINFLT] = "minor_faults",
	[VIRTIO_BALLOON_S_MEMFREE] = "free_memory",
	[VIRTIO_BALLOON_S_MEMTOT] = "total_memory",
	[VIRTIO_BALLOON_S_AVAIL] = "available_memory",
	[VIRTIO_BALLOON_S_CACHES] = "disk_caches",
	[VIRTIO_BALLOON_S_HTLB_PGALLOC] = "hugetlb_allocations",
	[VIRTIO_BALLOON_S_HTLB_PGFAIL] = "hugetlb_failures",
};

static bool accepted(const struct lvm_balloon *b, unsigned feature)
{
	return (b->transport->driver_features >> feature) & 1;
}

/* statsq's and reporting_vq's indices (Q_NONE: the driver has none). */
static unsigned stats_queue(const struct lvm_balloon *b)
{
	return accepted(b, VIRTIO_BALLOON_F_STATS_VQ) ? 2 : Q_NONE;
}

static unsigned report_queue(const struct lvm_balloon *b)
{
	if (!accepted(b, VIRTIO_BALLOON_F_REPORTING))
		return Q_NONE;
	return stats_queue(b) == Q_NONE ? 2 : 3;
}

/* Gives the run [first, first + n) of frames back to the host; returns
 * the bytes it gave (0 on failure, counted). */
static uint64_t discard_run(struct lvm_balloon *b, uint64_t first, uint64_t n)
{
	if (n == 0)
		return 0;
	if (lvm_memory_discard(b->mem, first * BALLOON_PAGE, n * BALLOON_PAGE) == 0)
		return n * BALLOON_PAGE;
	b->discard_errors++;
	return 0;
}

/* Every le32 PFN of the chain's device-readable part: counts the frames in
 * RAM (and, inflating, returns them); the rest are rejected.  Returns the
 * number of PFNs examined. */
static uint64_t pfn_request(struct lvm_balloon *b, struct lvm_vq_chain *c, bool inflate)
{
	uint64_t total = c->out_len / 4;
	if (total > BALLOON_CHAIN_PFNS_MAX) {
		b->rejected += total - BALLOON_CHAIN_PFNS_MAX;
		total = BALLOON_CHAIN_PFNS_MAX;
	}
	uint64_t run_first = 0, run_n = 0;
	uint32_t pfns[256];
	for (uint64_t done = 0; done < total;) {
		size_t want = total - done < 256 ? (size_t)(total - done) : 256;
		size_t got = lvm_iov_read(c->out, c->nout, done * 4, pfns, want * 4) / 4;
		if (got == 0)
			break;
		for (size_t i = 0; i < got; i++) {
			uint64_t pfn = le32toh(pfns[i]);
			if (!lvm_memory_ptr(b->mem, pfn * BALLOON_PAGE, BALLOON_PAGE)) {
				b->rejected++;
				continue;
			}
			if (inflate) {
				b->inflated++;
				if (run_n && pfn == run_first + run_n) {
					run_n++;
				} else {
					b->returned_bytes += discard_run(b, run_first, run_n);
					run_first = pfn;
					run_n = 1;
				}
			} else {
				b->deflated++;
			}
		}
		done += got;
	}
	b->returned_bytes += discard_run(b, run_first, run_n);
	return total;
}

/* The guest-physical address of `len` bytes at host address `p` inside
 * one RAM region, or UINT64_MAX. */
static uint64_t gpa_of(const struct lvm_memory *mem, const void *p, uint64_t len)
{
	uint64_t off = (uint64_t)((const uint8_t *)p - mem->host);
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct lvm_memory_region *r = &mem->regions[i];
		if (off >= r->host_offset && off - r->host_offset <= r->size &&
		    len <= r->size - (off - r->host_offset))
			return r->gpa + (off - r->host_offset);
	}
	return UINT64_MAX;
}

/* One reporting buffer: the whole pages of each device-writable
 * descriptor go back to the host.  Returns the pages it covered. */
static uint64_t report_request(struct lvm_balloon *b, struct lvm_vq_chain *c)
{
	uint64_t pages = 0;
	b->reports++;
	for (unsigned i = 0; i < c->nin; i++) {
		uint64_t len = c->in[i].iov_len;
		uint64_t gpa = gpa_of(b->mem, c->in[i].iov_base, len);
		if (gpa == UINT64_MAX || len == 0)
			continue; /* cannot happen: popped chains are inside RAM */
		uint64_t first = (gpa + BALLOON_PAGE - 1) / BALLOON_PAGE;
		uint64_t end = (gpa + len) / BALLOON_PAGE;
		if (first * BALLOON_PAGE != gpa || end * BALLOON_PAGE != gpa + len)
			b->report_unaligned++;
		if (end <= first)
			continue;
		pages += end - first;
		b->reported_bytes += discard_run(b, first, end - first);
	}
	return pages;
}

/* Serves the inflate, deflate or reporting queue within one wake-up's budget. */
static void pfn_queue(struct lvm_balloon *b, struct lvm_virtio_transport *t, unsigned q)
{
	uint64_t budget = BALLOON_WAKEUP_PFNS;
	do {
		bool any = false;
		while (budget > 0 && lvm_virtio_pop(t, q, &b->chain)) {
			uint64_t n = q == report_queue(b) ? report_request(b, &b->chain)
						      : pfn_request(b, &b->chain, q == Q_INFLATE);
			lvm_vq_push(&t->vq[q], b->chain.head, 0); /* nothing written */
			budget -= n < 1 ? 1 : n < budget ? n : budget;
			any = true;
		}
		if (any)
			lvm_virtio_notify_used(t, q);
		if (budget == 0) { /* more may wait: carry on soon, lock released */
			b->more |= 1u << q;
			lvm_virtio_arm_timer(t, BALLOON_CONTINUE_NS);
			return;
		}
	} while (lvm_virtio_driver_ok(t) && lvm_vq_arm_notify(&t->vq[q]));
}

/* Returns the stats buffer we hold: the driver refills it (§5.5.6.3). */
static void request_stats(struct lvm_balloon *b, struct lvm_virtio_transport *t)
{
	if (!b->stats_held)
		return;
	b->stats_held = false;
	unsigned q = stats_queue(b);
	if (q == Q_NONE) /* cannot be: held needs the queue; a reset drops it */
		return;
	lvm_vq_push(&t->vq[q], b->stats_head, 0);
	lvm_virtio_notify_used(t, q);
}

static void read_stats(struct lvm_balloon *b, const struct lvm_vq_chain *c)
{
	uint8_t buf[BALLOON_STATS_BYTES_MAX];
	size_t n = lvm_iov_read(c->out, c->nout, 0, buf, sizeof(buf));
	for (size_t off = 0; off + 10 <= n; off += 10) {
		uint16_t tag;
		uint64_t val;
		memcpy(&tag, buf + off, 2);
		memcpy(&val, buf + off + 2, 8);
		tag = le16toh(tag);
		if (tag < VIRTIO_BALLOON_S_NR) {
			b->guest[tag] = le64toh(val);
			b->guest_seen |= 1u << tag;
		}
	}
	b->stats_updates++;
}

static void stats_event(struct lvm_balloon *b, struct lvm_virtio_transport *t, unsigned q)
{
	do {
		while (lvm_virtio_pop(t, q, &b->chain)) {
			read_stats(b, &b->chain);
			/* One buffer at a time: a second one sends the first back. */
			request_stats(b, t);
			b->stats_held = true;
			b->stats_head = b->chain.head;
			if (b->stats_interval_ns) {
				b->stats_due_ns = lvm_monotonic_ns() + b->stats_interval_ns;
				lvm_virtio_arm_timer(t, b->stats_interval_ns);
			}
		}
	} while (lvm_virtio_driver_ok(t) && lvm_vq_arm_notify(&t->vq[q]));
}

static void balloon_queue_event(void *dev, struct lvm_virtio_transport *t, unsigned q)
{
	struct lvm_balloon *b = dev;
	if (q == Q_INFLATE || q == Q_DEFLATE || q == report_queue(b)) {
		b->more &= ~(1u << q);
		pfn_queue(b, t, q);
	} else if (q == stats_queue(b)) {
		stats_event(b, t, q);
	}
}

/* The timer: a queue that used up its budget, or time for fresh stats. */
static void balloon_timer_event(void *dev, struct lvm_virtio_transport *t)
{
	struct lvm_balloon *b = dev;
	unsigned more = b->more;
	b->more = 0;
	for (unsigned q = 0; q < b->ops.num_queues; q++)
		if (more & (1u << q))
			pfn_queue(b, t, q);
	if (!b->stats_held || !b->stats_due_ns)
		return;
	uint64_t now = lvm_monotonic_ns();
	if (now >= b->stats_due_ns) {
		b->stats_due_ns = 0;
		request_stats(b, t);
	} else {
		lvm_virtio_arm_timer(t, b->stats_due_ns - now);
	}
}

static void balloon_read_config(void *dev, uint8_t *config)
{
	struct lvm_balloon *b = dev;
	struct virtio_balloon_config c = {
		.num_pages = htole32(b->num_pages),
		.actual = htole32(b->actual),
	};
	memcpy(config, &c, sizeof(c));
}

/* §5.5.4: the driver writes `actual`; any other byte is read-only. */
static void balloon_write_config(void *dev, uint32_t offset, const uint8_t *data, uint32_t size)
{
	struct lvm_balloon *b = dev;
	const uint32_t at = offsetof(struct virtio_balloon_config, actual);
	uint8_t actual[4];
	uint32_t le = htole32(b->actual);
	memcpy(actual, &le, 4);
	for (uint32_t i = 0; i < size; i++)
		if (offset + i >= at && offset + i < at + 4)
			actual[offset + i - at] = data[i];
	memcpy(&le, actual, 4);
	b->actual = le32toh(le);
}

static void balloon_reset(void *dev)
{
	struct lvm_balloon *b = dev;
	b->actual = 0;
	b->stats_held = false; /* the queue is reset with the device */
	b->stats_due_ns = 0;
	b->more = 0;
	lvm_virtio_arm_timer(b->transport, 0);
}

struct lvm_balloon *lvm_balloon_new(struct lvm_vm *vm, uint64_t base, unsigned gsi,
				    const struct lvm_balloon_options *opt)
{
	struct lvm_balloon *b = calloc(1, sizeof(*b));
	if (!b) {
		lvm_fail("out of memory");
		return NULL;
	}
	b->mem = &vm->mem;
	b->stats_interval_ns = (uint64_t)opt->stats_interval_ms * 1000000u;
	b->ops = (struct lvm_virtio_ops){
		.name = "virtio-balloon",
		.device_id = VIRTIO_ID_BALLOON,
		.num_queues = 2u + opt->stats + opt->free_page_reporting,
		.features = (opt->stats ? 1ull << VIRTIO_BALLOON_F_STATS_VQ : 0) |
			    (opt->deflate_on_oom ? 1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM : 0) |
			    (opt->free_page_reporting ? 1ull << VIRTIO_BALLOON_F_REPORTING : 0),
		.config_size = sizeof(struct virtio_balloon_config),
		.read_config = balloon_read_config,
		.write_config = balloon_write_config,
		.queue_event = balloon_queue_event,
		.timer_event = balloon_timer_event,
		.reset = balloon_reset,
	};
	b->transport = lvm_virtio_new(vm, base, gsi, &b->ops, b);
	if (!b->transport) {
		free(b);
		return NULL;
	}
	return b;
}

int lvm_balloon_start(struct lvm_balloon *b)
{
	return lvm_virtio_start(b->transport);
}

void lvm_balloon_free(struct lvm_balloon *b)
{
	if (!b)
		return;
	lvm_virtio_free(b->transport);
	free(b);
}

void lvm_balloon_set_target(struct lvm_balloon *b, uint32_t pages)
{
	pthread_mutex_lock(&b->transport->lock);
	b->num_pages = pages;
	lvm_virtio_config_changed(b->transport);
	pthread_mutex_unlock(&b->transport->lock);
}

uint32_t lvm_balloon_target(struct lvm_balloon *b)
{
	pthread_mutex_lock(&b->transport->lock);
	uint32_t pages = b->num_pages;
	pthread_mutex_unlock(&b->transport->lock);
	return pages;
}

uint32_t lvm_balloon_actual(struct lvm_balloon *b)
{
	pthread_mutex_lock(&b->transport->lock);
	uint32_t pages = b->actual;
	pthread_mutex_unlock(&b->transport->lock);
	return pages;
}

/* ---- Snapshots ---- */

/*
 * Inflate, deflate and reporting chains complete within their event (chains
 * left for the timer are still on the ring, not popped), so the transport's
 * quiesce is the device's.  The stats buffer is different: the device holds it on
 * purpose until it wants fresh numbers, so it is saved as held (its head)
 * rather than handed back early.
 */
static int balloon_quiesce(void *dev)
{
	struct lvm_balloon *b = dev;
	return lvm_virtio_quiesce(b->transport);
}

static void balloon_resume(void *dev)
{
	struct lvm_balloon *b = dev;
	lvm_virtio_resume(b->transport);
}

/* After the transport: the target and the driver's `actual` (config), the
 * held stats buffer, and the last statistics the driver reported. */
static void balloon_save(void *dev, struct lvm_state_writer *w)
{
	struct lvm_balloon *b = dev;
	lvm_virtio_save(b->transport, w);
	pthread_mutex_lock(&b->transport->lock);
	lvm_state_put_u32(w, b->num_pages);
	lvm_state_put_u32(w, b->actual);
	lvm_state_put_bool(w, b->stats_held);
	lvm_state_put_u16(w, b->stats_head);
	lvm_state_put_u32(w, b->guest_seen);
	lvm_state_put_u8(w, VIRTIO_BALLOON_S_NR);
	for (unsigned tag = 0; tag < VIRTIO_BALLOON_S_NR; tag++)
		lvm_state_put_u64(w, b->guest[tag]);
	pthread_mutex_unlock(&b->transport->lock);
}

static int balloon_load_fields(struct lvm_balloon *b, struct lvm_state_reader *r)
{
	struct lvm_virtio_transport *t = b->transport;
	uint32_t num_pages = lvm_state_get_u32(r), actual = lvm_state_get_u32(r);
	bool held = lvm_state_get_bool(r);
	uint16_t head = lvm_state_get_u16(r);
	uint32_t seen = lvm_state_get_u32(r);
	uint8_t ntags = lvm_state_get_u8(r);
	if (r->failed)
		return -1;
	if (ntags != VIRTIO_BALLOON_S_NR)
		return lvm_state_bad(r, "%u statistics saved, this build knows %u", ntags,
				     VIRTIO_BALLOON_S_NR);
	uint64_t guest[VIRTIO_BALLOON_S_NR];
	for (unsigned tag = 0; tag < VIRTIO_BALLOON_S_NR; tag++)
		guest[tag] = lvm_state_get_u64(r);
	if (r->failed)
		return -1;
	uint64_t ram_pages = b->mem->size / BALLOON_PAGE;
	if (num_pages > ram_pages)
		return lvm_state_bad(r, "target of %u pages is more than the guest's %llu", num_pages,
				     (unsigned long long)ram_pages);
	if (seen & ~((1u << VIRTIO_BALLOON_S_NR) - 1))
		return lvm_state_bad(r, "statistics mask 0x%x has unknown tags", seen);
	unsigned sq = stats_queue(b);
	if (held && (sq == Q_NONE || !t->vq[sq].ready || head >= t->vq[sq].size))
		return lvm_state_bad(r, "held stats buffer %u is not on a ready stats queue", head);
	b->num_pages = num_pages;
	b->actual = actual;
	b->stats_held = held;
	b->stats_head = held ? head : 0;
	b->guest_seen = seen;
	memcpy(b->guest, guest, sizeof(guest));
	/* The wait for fresh numbers starts again (it is host time, not the guest's). */
	if (held && b->stats_interval_ns) {
		b->stats_due_ns = lvm_monotonic_ns() + b->stats_interval_ns;
		lvm_virtio_arm_timer(t, b->stats_interval_ns);
	}
	return 0;
}

static int balloon_load(void *dev, struct lvm_state_reader *r)
{
	struct lvm_balloon *b = dev;
	if (lvm_virtio_load(b->transport, r) < 0)
		return -1;
	pthread_mutex_lock(&b->transport->lock);
	int rc = balloon_load_fields(b, r);
	pthread_mutex_unlock(&b->transport->lock);
	return rc;
}

/* ---- Its entry in the machine's device table ---- */

/* balloon = true, or balloon = { stats = true, deflate_on_oom = true,
 * stats_interval_ms = 1000, free_page_reporting = false } (those are the
 * defaults). */
static void *balloon_parse(const struct lvm_value *v, const char *where, unsigned index)
{
	static const char *const keys[] = { "stats", "deflate_on_oom", "stats_interval_ms",
					     "free_page_reporting", NULL };
	(void)index;
	struct lvm_balloon_options o = { .stats = true, .deflate_on_oom = true,
					 .stats_interval_ms = 1000 };
	if (v->type == LVM_VALUE_TABLE) {
		if (lvm_value_check_keys(v, where, keys, NULL) < 0)
			return NULL;
		static const char *const flags[] = { "stats", "deflate_on_oom", "free_page_reporting" };
		bool *dest[] = { &o.stats, &o.deflate_on_oom, &o.free_page_reporting };
		for (unsigned i = 0; i < 3; i++) {
			const struct lvm_value *f = lvm_value_get(v, flags[i]);
			if (f && f->type != LVM_VALUE_BOOLEAN) {
				lvm_fail("%s.%s must be a boolean, not a %s", where, flags[i],
					 lvm_value_type_name(f));
				return NULL;
			}
			if (f)
				*dest[i] = f->boolean;
		}
		const struct lvm_value *ms = lvm_value_get(v, "stats_interval_ms");
		if (ms && (ms->type != LVM_VALUE_INTEGER || ms->integer < 0 ||
			   ms->integer > 3600000)) {
			char shown[64];
			lvm_fail("%s.stats_interval_ms must be an integer from 0 to 3600000, not %s",
				 where, lvm_value_show(ms, shown, sizeof(shown)));
			return NULL;
		}
		if (ms)
			o.stats_interval_ms = (uint32_t)ms->integer;
	} else if (v->type != LVM_VALUE_BOOLEAN) {
		lvm_fail("%s must be a boolean or a table, not a %s", where, lvm_value_type_name(v));
		return NULL;
	}
	struct lvm_balloon_options *p = malloc(sizeof(*p));
	if (!p) {
		lvm_fail("out of memory");
		return NULL;
	}
	*p = o;
	return p;
}

static void *balloon_create(const struct lvm_device_env *env, const void *params)
{
	return lvm_balloon_new(env->vm, env->base, env->gsi, params);
}

static int balloon_start(void *dev) { return lvm_balloon_start(dev); }
static void balloon_free(void *dev) { lvm_balloon_free(dev); }

static unsigned balloon_stats(void *dev, struct lvm_device_stat *out)
{
	struct lvm_balloon *b = dev;
	unsigned n = 0;
	pthread_mutex_lock(&b->transport->lock);
	out[n++] = (struct lvm_device_stat){ "target_pages", b->num_pages };
	out[n++] = (struct lvm_device_stat){ "actual_pages", b->actual };
	out[n++] = (struct lvm_device_stat){ "inflated", b->inflated };
	out[n++] = (struct lvm_device_stat){ "deflated", b->deflated };
	out[n++] = (struct lvm_device_stat){ "returned_bytes", b->returned_bytes };
	out[n++] = (struct lvm_device_stat){ "rejected", b->rejected };
	out[n++] = (struct lvm_device_stat){ "discard_errors", b->discard_errors };
	out[n++] = (struct lvm_device_stat){ "stats_updates", b->stats_updates };
	if (b->ops.features & (1ull << VIRTIO_BALLOON_F_REPORTING)) {
		out[n++] = (struct lvm_device_stat){ "reports", b->reports };
		out[n++] = (struct lvm_device_stat){ "reported_bytes", b->reported_bytes };
		out[n++] = (struct lvm_device_stat){ "report_unaligned", b->report_unaligned };
	}
	for (unsigned tag = 0; tag < VIRTIO_BALLOON_S_NR; tag++)
		if ((b->guest_seen & (1u << tag)) && guest_stat_names[tag])
			out[n++] = (struct lvm_device_stat){ guest_stat_names[tag], b->guest[tag] };
	pthread_mutex_unlock(&b->transport->lock);
	return n;
}

/* A size in MiB from a Lua argument: a non-negative number no larger than RAM. */
static int mib_to_pages(struct lvm_balloon *b, const struct lvm_value *v, uint32_t *pages)
{
	double mib;
	if (v && v->type == LVM_VALUE_INTEGER)
		mib = (double)v->integer;
	else if (v && v->type == LVM_VALUE_NUMBER)
		mib = v->number;
	else
		return v ? lvm_fail("the target must be a number of MiB, not a %s",
				    lvm_value_type_name(v))
			 : lvm_fail("the target (MiB) is missing");
	double ram_mib = (double)b->mem->size / (1 << 20);
	if (!(mib >= 0) || mib > ram_mib)
		return lvm_fail("the target must be from 0 to %.0f MiB (the guest's RAM), not %g",
				ram_mib, mib);
	*pages = (uint32_t)(mib * 256);
	return 0;
}

/* vm.balloon:set(mib): how much of the guest's RAM the host wants back. */
static int balloon_call_set(void *dev, const struct lvm_value *args, int64_t *out)
{
	(void)out;
	uint32_t pages = 0;
	if (mib_to_pages(dev, lvm_value_item(args, 1), &pages) < 0)
		return -1;
	lvm_balloon_set_target(dev, pages);
	return 0;
}

/* vm.balloon:actual() -> MiB, pages: the balloon's size as the driver reports it. */
static int balloon_call_actual(void *dev, const struct lvm_value *args, int64_t *out)
{
	(void)args;
	uint32_t pages = lvm_balloon_actual(dev);
	out[0] = pages / 256;
	out[1] = pages;
	return 2;
}

/* vm.balloon:target() -> MiB, pages: what the host last asked for. */
static int balloon_call_target(void *dev, const struct lvm_value *args, int64_t *out)
{
	(void)args;
	uint32_t pages = lvm_balloon_target(dev);
	out[0] = pages / 256;
	out[1] = pages;
	return 2;
}

static const struct lvm_device_method balloon_methods[] = {
	{ "set", balloon_call_set },
	{ "actual", balloon_call_actual },
	{ "target", balloon_call_target },
	{ NULL, NULL },
};

/* balloon = true | { stats =, deflate_on_oom =, stats_interval_ms =, free_page_reporting = } */
const struct lvm_device_type lvm_balloon_device = {
	.key = "balloon",
	.object = "balloon",
	.parse = balloon_parse,
	.create = balloon_create,
	.start = balloon_start,
	.free = balloon_free,
	.stats = balloon_stats,
	.methods = balloon_methods,
	.quiesce = balloon_quiesce,
	.resume = balloon_resume,
	.save = balloon_save,
	.load = balloon_load,
};
