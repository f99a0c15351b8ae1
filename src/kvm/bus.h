/*
 * An address-range registry for one address space (port I/O or MMIO).
 * Devices register ranges before or while the VM runs; vCPU threads
 * dispatch each exit to the range that covers it.  Accesses that no range
 * claims are counted and ignored: reads see all-ones, writes vanish.
 */
#ifndef LVM_KVM_BUS_H
#define LVM_KVM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * A device's access handler.  `offset` is relative to the registered base;
 * `data` holds `size` bytes (1, 2, 4 or 8, little-endian).  For a read the
 * handler fills `data`; it is pre-filled with 0xff bytes.
 */
typedef void (*lvm_io_fn)(void *opaque, uint64_t offset, uint8_t *data,
			  uint32_t size, bool is_write);

struct lvm_bus_range {
	uint64_t base;
	uint64_t len;
	lvm_io_fn fn;
	void *opaque;
	const char *name;
	uint64_t reads;  /* accesses dispatched to this range, updated atomically */
	uint64_t writes;
};

/* An address no range claims, with how often the guest touched it. */
struct lvm_unclaimed_addr {
	uint64_t addr;
	uint64_t reads, writes;
};

#define LVM_BUS_UNCLAIMED_TOP 8

struct lvm_bus {
	pthread_rwlock_t lock;
	struct lvm_bus_range *ranges; /* sorted by base, never overlapping */
	unsigned count, capacity;
	uint64_t unclaimed_reads;  /* updated atomically */
	uint64_t unclaimed_writes;
	/* The most frequent unclaimed addresses (exact while there are at most
	 * LVM_BUS_UNCLAIMED_TOP of them; then a new address replaces the least
	 * used one).  Unclaimed accesses are the slow path: a mutex is enough. */
	pthread_mutex_t unclaimed_lock;
	struct lvm_unclaimed_addr unclaimed[LVM_BUS_UNCLAIMED_TOP];
	unsigned nunclaimed;
};

void lvm_bus_init(struct lvm_bus *bus);
void lvm_bus_destroy(struct lvm_bus *bus);
/* Fails (see lvm_error: "0xBASE+0xLEN overlaps NAME at 0xB+0xL") if the range
 * is empty, wraps or overlaps another. */
int lvm_bus_register(struct lvm_bus *bus, uint64_t base, uint64_t len,
		     lvm_io_fn fn, void *opaque, const char *name);
/* Removes the range registered at exactly `base`; 0 if found, -1 if not. */
int lvm_bus_unregister(struct lvm_bus *bus, uint64_t base);
/* Calls fn for every range, in address order, with the bus read-locked. */
void lvm_bus_visit(struct lvm_bus *bus, void (*fn)(void *ctx, const struct lvm_bus_range *r),
		   void *ctx);
/* Copies the most frequent unclaimed addresses, most used first; returns the count. */
unsigned lvm_bus_unclaimed_top(struct lvm_bus *bus, struct lvm_unclaimed_addr *out, unsigned max);
/* Returns true if a device claimed the access. */
bool lvm_bus_dispatch(struct lvm_bus *bus, uint64_t addr, uint8_t *data,
		      uint32_t size, bool is_write);

#endif
