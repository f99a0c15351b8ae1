#include "kvm/bus.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void lvm_bus_init(struct lvm_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	pthread_rwlock_init(&bus->lock, NULL);
	pthread_mutex_init(&bus->unclaimed_lock, NULL);
}

void lvm_bus_destroy(struct lvm_bus *bus)
{
	free(bus->ranges);
	pthread_rwlock_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->unclaimed_lock);
	bus->ranges = NULL;
	bus->count = bus->capacity = 0;
}

/* Index of the first range whose end lies beyond addr (binary search). */
static unsigned first_range_ending_after(const struct lvm_bus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->count;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct lvm_bus_range *r = &bus->ranges[mid];
		if (r->base + r->len - 1 < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int grow(struct lvm_bus *bus)
{
	unsigned capacity = bus->capacity ? bus->capacity * 2 : 16;
	struct lvm_bus_range *ranges = realloc(bus->ranges, capacity * sizeof(*ranges));
	if (!ranges)
		return lvm_fail("bus: out of memory");
	bus->ranges = ranges;
	bus->capacity = capacity;
	return 0;
}

int lvm_bus_register(struct lvm_bus *bus, uint64_t base, uint64_t len,
		     lvm_io_fn fn, void *opaque, const char *name)
{
	if (len == 0 || base + len - 1 < base)
		return lvm_fail("%s: invalid range 0x%llx+0x%llx", name,
				(unsigned long long)base, (unsigned long long)len);
	pthread_rwlock_wrlock(&bus->lock);
	unsigned i = first_range_ending_after(bus, base);
	int rc = 0;
	if (i < bus->count && bus->ranges[i].base <= base + len - 1) {
		rc = lvm_fail("0x%llx+0x%llx overlaps %s at 0x%llx+0x%llx",
			      (unsigned long long)base, (unsigned long long)len,
			      bus->ranges[i].name, (unsigned long long)bus->ranges[i].base,
			      (unsigned long long)bus->ranges[i].len);
	} else if (bus->count == bus->capacity && grow(bus) < 0) {
		rc = -1;
	} else {
		memmove(&bus->ranges[i + 1], &bus->ranges[i],
			(bus->count - i) * sizeof(bus->ranges[0]));
		bus->ranges[i] = (struct lvm_bus_range){ base, len, fn, opaque, name, 0, 0 };
		bus->count++;
	}
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}

int lvm_bus_unregister(struct lvm_bus *bus, uint64_t base)
{
	int rc = -1;
	pthread_rwlock_wrlock(&bus->lock);
	unsigned i = first_range_ending_after(bus, base);
	if (i < bus->count && bus->ranges[i].base == base) {
		memmove(&bus->ranges[i], &bus->ranges[i + 1],
			(bus->count - i - 1) * sizeof(bus->ranges[0]));
		bus->count--;
		rc = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}

static void count_unclaimed(struct lvm_bus *bus, uint64_t addr, bool is_write)
{
	__atomic_fetch_add(is_write ? &bus->unclaimed_writes : &bus->unclaimed_reads, 1,
			   __ATOMIC_RELAXED);
	pthread_mutex_lock(&bus->unclaimed_lock);
	struct lvm_unclaimed_addr *e = NULL, *least = NULL;
	for (unsigned i = 0; i < bus->nunclaimed && !e; i++) {
		struct lvm_unclaimed_addr *u = &bus->unclaimed[i];
		if (u->addr == addr)
			e = u;
		else if (!least || u->reads + u->writes < least->reads + least->writes)
			least = u;
	}
	if (!e) {
		e = bus->nunclaimed < LVM_BUS_UNCLAIMED_TOP ? &bus->unclaimed[bus->nunclaimed++] : least;
		*e = (struct lvm_unclaimed_addr){ .addr = addr };
	}
	if (is_write)
		e->writes++;
	else
		e->reads++;
	pthread_mutex_unlock(&bus->unclaimed_lock);
}

bool lvm_bus_dispatch(struct lvm_bus *bus, uint64_t addr, uint8_t *data,
		      uint32_t size, bool is_write)
{
	if (!is_write)
		memset(data, 0xff, size);
	pthread_rwlock_rdlock(&bus->lock);
	unsigned i = first_range_ending_after(bus, addr);
	struct lvm_bus_range r = { 0 };
	bool claimed = i < bus->count && bus->ranges[i].base <= addr;
	if (claimed) {
		/* The array only moves under the write lock, so counting here is safe. */
		__atomic_fetch_add(is_write ? &bus->ranges[i].writes : &bus->ranges[i].reads, 1,
				   __ATOMIC_RELAXED);
		r = bus->ranges[i];
	}
	pthread_rwlock_unlock(&bus->lock);
	/*
	 * The handler runs outside the lock so a handler may itself (un)register
	 * ranges.  Devices outlive their ranges: they are freed only after the
	 * vCPU threads have stopped.
	 */
	if (claimed)
		r.fn(r.opaque, addr - r.base, data, size, is_write);
	else
		count_unclaimed(bus, addr, is_write);
	return claimed;
}

unsigned lvm_bus_unclaimed_top(struct lvm_bus *bus, struct lvm_unclaimed_addr *out, unsigned max)
{
	pthread_mutex_lock(&bus->unclaimed_lock);
	unsigned n = bus->nunclaimed < max ? bus->nunclaimed : max;
	struct lvm_unclaimed_addr all[LVM_BUS_UNCLAIMED_TOP];
	memcpy(all, bus->unclaimed, bus->nunclaimed * sizeof(all[0]));
	unsigned total = bus->nunclaimed;
	pthread_mutex_unlock(&bus->unclaimed_lock);
	for (unsigned k = 0; k < n; k++) { /* selection sort: eight entries at most */
		unsigned best = k;
		for (unsigned j = k + 1; j < total; j++)
			if (all[j].reads + all[j].writes > all[best].reads + all[best].writes)
				best = j;
		struct lvm_unclaimed_addr tmp = all[k];
		all[k] = all[best];
		all[best] = tmp;
		out[k] = all[k];
	}
	return n;
}

void lvm_bus_visit(struct lvm_bus *bus, void (*fn)(void *ctx, const struct lvm_bus_range *r),
		   void *ctx)
{
	pthread_rwlock_rdlock(&bus->lock);
	for (unsigned i = 0; i < bus->count; i++) {
		struct lvm_bus_range r = bus->ranges[i];
		r.reads = __atomic_load_n(&bus->ranges[i].reads, __ATOMIC_RELAXED);
		r.writes = __atomic_load_n(&bus->ranges[i].writes, __ATOMIC_RELAXED);
		fn(ctx, &r);
	}
	pthread_rwlock_unlock(&bus->lock);
}
