/*
 * Guest RAM: one memfd mapped once in the VMM, handed to KVM as up to two
 * slots so the 32-bit MMIO hole below 4 GiB stays free:
 *   [0, min(size, LVM_MMIO_HOLE_START))          slot 0
 *   [4 GiB, 4 GiB + size - LVM_MMIO_HOLE_START)  slot 1 (large machines)
 * Every guest-physical access by the VMM goes through lvm_memory_ptr, which
 * refuses ranges that are not wholly inside RAM: a guest-supplied address
 * can never make the VMM touch host memory outside the guest's.
 */
#ifndef LVM_KVM_MEMORY_H
#define LVM_KVM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LVM_MMIO_HOLE_START 0xc0000000ull /* 3 GiB */
#define LVM_HIGH_RAM_START  0x100000000ull /* 4 GiB */
#define LVM_MEMORY_MIN      (4ull << 20)

struct lvm_memory_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t host_offset;
};

struct lvm_memory {
	int memfd;
	uint8_t *host;
	uint64_t size;
	struct lvm_memory_region regions[2];
	unsigned nregions;
	bool untouched; /* still all zeroes as created: loaders need not clear */
	/*
	 * Snapshot and fork.  `base_fd` >= 0: RAM is a private (copy-on-write)
	 * mapping of that file, which this VM never writes: a frozen memfd
	 * (after a fork) or a snapshot's memory file (after a restore); -1:
	 * RAM is the shared mapping of `memfd`.  `base_fresh`: RAM still
	 * equals the base (no private page yet); cleared by whoever lets the
	 * guest or the VMM write RAM (lvm_memory_touched).
	 */
	int base_fd;
	bool base_fresh;
};

/* Creates and maps `size` bytes and registers them with the VM fd. */
int lvm_memory_init(struct lvm_memory *mem, int vm_fd, uint64_t size);
void lvm_memory_destroy(struct lvm_memory *mem);
/* Host pointer for [gpa, gpa+len) if it lies inside one RAM region, else NULL. */
void *lvm_memory_ptr(const struct lvm_memory *mem, uint64_t gpa, uint64_t len);
/*
 * Gives the guest RAM [gpa, gpa+len) back to the host: the memfd's pages
 * there are freed (a hole is punched) and the guest's next touch faults in
 * a fresh zero page.  gpa and len must be 4 KiB aligned and the range must
 * lie wholly inside one RAM region; anything else fails with EINVAL and
 * touches nothing.  len 0 is a no-op.  0, or -1 + lvm_error.
 */
int lvm_memory_discard(struct lvm_memory *mem, uint64_t gpa, uint64_t len);
/*
 * Snapshot and fork.
 *
 * lvm_memory_freeze: an fd whose contents are guest RAM as it is now and
 * stay so: this VM goes on with private copy-on-write pages over it.  A
 * fork maps it privately too (lvm_memory_adopt), so parent and children
 * share every page until one of them writes it.  Costs a remap the first
 * time; again when RAM changed since the last freeze, plus a copy of the
 * pages that hold data (the old base's and the private ones) into a new
 * memfd.  The fd belongs to `mem` (dup it to keep it).  -1 + lvm_error.
 *
 * lvm_memory_adopt: RAM becomes a private mapping of `fd` (at least
 * mem->size bytes; reads come from it until a page is written).  The VM's
 * memory slots keep their addresses; KVM follows the remap.  The vCPUs
 * must not be running.  Takes its own reference to fd.
 *
 * lvm_memory_write_file: writes RAM to `fd` (already empty), as a sparse
 * file: pages of zeroes are holes.  Returns the bytes of data written.
 */
int lvm_memory_freeze(struct lvm_memory *mem);
int lvm_memory_adopt(struct lvm_memory *mem, int fd);
int64_t lvm_memory_write_file(struct lvm_memory *mem, int fd);
/* All of RAM reads as zeroes again, its pages given back (a machine
 * restarting after a reset); the vCPUs must not be running. */
int lvm_memory_clear(struct lvm_memory *mem);
/* RAM may have been written (the guest ran, a device or Lua wrote it). */
static inline void lvm_memory_touched(struct lvm_memory *mem)
{
	mem->base_fresh = false;
	mem->untouched = false;
}

/* The largest guest RAM this host can back (its physical RAM). */
uint64_t lvm_memory_host_limit(void);

#endif
