#include "kvm/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

uint64_t lvm_memory_host_limit(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long page_size = sysconf(_SC_PAGESIZE);
	if (pages <= 0 || page_size <= 0)
		return UINT64_MAX;
	return (uint64_t)pages * (uint64_t)page_size;
}

static void plan_regions(struct lvm_memory *mem, uint64_t size)
{
	uint64_t low = size < LVM_MMIO_HOLE_START ? size : LVM_MMIO_HOLE_START;
	mem->regions[0] = (struct lvm_memory_region){ 0, low, 0 };
	mem->nregions = 1;
	if (size > low) {
		mem->regions[1] = (struct lvm_memory_region){ LVM_HIGH_RAM_START, size - low, low };
		mem->nregions = 2;
	}
}

static int register_slots(struct lvm_memory *mem, int vm_fd)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = mem->regions[i].gpa,
			.memory_size = mem->regions[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)(mem->host + mem->regions[i].host_offset),
		};
		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return lvm_fail_errno("KVM_SET_USER_MEMORY_REGION (slot %u, %llu MiB)", i,
					      (unsigned long long)(mem->regions[i].size >> 20));
	}
	return 0;
}

int lvm_memory_init(struct lvm_memory *mem, int vm_fd, uint64_t size)
{
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	mem->base_fd = -1;
	mem->host = MAP_FAILED;
	if (size < LVM_MEMORY_MIN || size % 4096)
		return lvm_fail("memory: %llu bytes is not a multiple of 4 KiB of at least 4 MiB",
				(unsigned long long)size);
	mem->size = size;
	plan_regions(mem, size);
	mem->memfd = memfd_create("luavmm-ram", MFD_CLOEXEC);
	if (mem->memfd < 0)
		return lvm_fail_errno("memory: memfd_create");
	if (ftruncate(mem->memfd, (off_t)size) < 0)
		return lvm_fail_errno("memory: cannot size guest RAM to %llu MiB",
				      (unsigned long long)(size >> 20));
	/* NORESERVE: pages are backed only when the guest touches them. */
	mem->host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			 mem->memfd, 0);
	if (mem->host == MAP_FAILED)
		return lvm_fail_errno("memory: cannot map %llu MiB of guest RAM",
				      (unsigned long long)(size >> 20));
	madvise(mem->host, size, MADV_DONTDUMP);
	mem->untouched = true; /* a new memfd reads as zeroes */
	return register_slots(mem, vm_fd);
}

void lvm_memory_destroy(struct lvm_memory *mem)
{
	if (mem->host != MAP_FAILED && mem->host)
		munmap(mem->host, mem->size);
	if (mem->memfd >= 0)
		close(mem->memfd);
	if (mem->base_fd >= 0)
		close(mem->base_fd);
	mem->host = MAP_FAILED;
	mem->memfd = -1;
	mem->base_fd = -1;
}

void *lvm_memory_ptr(const struct lvm_memory *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct lvm_memory_region *r = &mem->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return mem->host + r->host_offset + (gpa - r->gpa);
	}
	return NULL;
}

int lvm_memory_discard(struct lvm_memory *mem, uint64_t gpa, uint64_t len)
{
	if ((gpa | len) & 4095) {
		errno = EINVAL;
		return lvm_fail("memory: discard of 0x%llx+0x%llx is not page aligned",
				(unsigned long long)gpa, (unsigned long long)len);
	}
	if (len == 0)
		return 0;
	/* lvm_memory_ptr refuses anything not wholly inside one region. */
	uint8_t *host = lvm_memory_ptr(mem, gpa, len);
	if (host && mem->base_fd >= 0) {
		/* A private mapping over a base: dropping the private copies
		 * frees them; the pages read as the base's again. */
		if (madvise(host, len, MADV_DONTNEED) == 0)
			return 0;
		return lvm_fail_errno("memory: cannot discard 0x%llx+0x%llx",
				      (unsigned long long)gpa, (unsigned long long)len);
	}
	if (!host || mem->memfd < 0) {
		errno = EINVAL;
		return lvm_fail("memory: discard of 0x%llx+0x%llx is outside guest RAM",
				(unsigned long long)gpa, (unsigned long long)len);
	}
	off_t offset = (off_t)(host - mem->host); /* the mapping covers the memfd from 0 */
	if (fallocate(mem->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, (off_t)len) == 0)
		return 0;
	/* A shared memfd mapping also frees its pages with MADV_REMOVE. */
	if (madvise(host, len, MADV_REMOVE) == 0)
		return 0;
	return lvm_fail_errno("memory: cannot discard 0x%llx+0x%llx", (unsigned long long)gpa,
			      (unsigned long long)len);
}

/* --- snapshot and fork ---------------------------------------------------- */

#define PAGE 4096ull

static void mark(uint8_t *map, uint64_t first, uint64_t count)
{
	for (uint64_t p = first; p < first + count; p++)
		map[p / 8] |= (uint8_t)(1u << (p % 8));
}

static bool marked(const uint8_t *map, uint64_t p)
{
	return map[p / 8] & (1u << (p % 8));
}

/* The ranges of `fd` that hold data (SEEK_DATA/SEEK_HOLE: holes read as
 * zeroes); a file system without them: all of it. */
static void mark_file_data(int fd, uint64_t size, uint8_t *map)
{
	off_t pos = 0;
	while ((uint64_t)pos < size) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0) {
			if (errno != ENXIO) /* ENXIO: no data past pos */
				mark(map, (uint64_t)pos / PAGE, (size - (uint64_t)pos + PAGE - 1) / PAGE);
			return;
		}
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > size)
			hole = (off_t)size;
		uint64_t first = (uint64_t)data / PAGE;
		mark(map, first, ((uint64_t)hole + PAGE - 1) / PAGE - first);
		pos = hole;
	}
}

/* The pages this process holds privately in the mapping (written since it
 * was mapped): /proc/self/pagemap, bit 63 present, 62 swapped, 61 a file
 * or shared page (Documentation/admin-guide/mm/pagemap.rst). */
static int mark_private_pages(const struct lvm_memory *mem, uint8_t *map)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lvm_fail_errno("memory: /proc/self/pagemap");
	uint64_t pages = mem->size / PAGE, base = (uint64_t)(uintptr_t)mem->host / PAGE;
	uint64_t entries[4096];
	int rc = 0;
	for (uint64_t p = 0; p < pages && rc == 0;) {
		uint64_t n = pages - p < 4096 ? pages - p : 4096;
		ssize_t got = pread(fd, entries, n * 8, (off_t)((base + p) * 8));
		if (got != (ssize_t)(n * 8)) {
			rc = lvm_fail_errno("memory: reading /proc/self/pagemap");
			break;
		}
		for (uint64_t i = 0; i < n; i++) {
			uint64_t e = entries[i];
			bool present = e >> 63 & 1, swapped = e >> 62 & 1, file = e >> 61 & 1;
			if (swapped || (present && !file))
				mark(map, p + i, 1);
		}
		p += n;
	}
	close(fd);
	return rc;
}

/* A bitmap (one bit a page, malloc'd) of the pages of RAM that may hold
 * anything but zeroes. */
static uint8_t *data_pages(const struct lvm_memory *mem)
{
	uint8_t *map = calloc(mem->size / PAGE / 8 + 1, 1);
	if (!map) {
		lvm_fail("out of memory");
		return NULL;
	}
	if (mem->base_fd < 0) {
		mark_file_data(mem->memfd, mem->size, map);
		return map;
	}
	mark_file_data(mem->base_fd, mem->size, map);
	if (!mem->base_fresh && mark_private_pages(mem, map) < 0) {
		free(map);
		return NULL;
	}
	return map;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

static int write_all(int fd, const uint8_t *p, uint64_t len, uint64_t offset)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len > (1u << 30) ? (1u << 30) : len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return lvm_fail_errno("memory: write");
		p += n;
		offset += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* Copies every page of RAM that is not zero to `fd` at the same offset;
 * returns the bytes written. */
static int64_t copy_data_pages(struct lvm_memory *mem, int fd)
{
	uint8_t *map = data_pages(mem);
	if (!map)
		return -1;
	int64_t written = 0;
	uint64_t pages = mem->size / PAGE;
	for (uint64_t p = 0; p < pages;) {
		if (!marked(map, p) || page_is_zero(mem->host + p * PAGE)) {
			p++;
			continue;
		}
		uint64_t run = 1;
		while (p + run < pages && marked(map, p + run) &&
		       !page_is_zero(mem->host + (p + run) * PAGE))
			run++;
		if (write_all(fd, mem->host + p * PAGE, run * PAGE, p * PAGE) < 0) {
			free(map);
			return -1;
		}
		written += (int64_t)(run * PAGE);
		p += run;
	}
	free(map);
	return written;
}

int64_t lvm_memory_write_file(struct lvm_memory *mem, int fd)
{
	if (ftruncate(fd, (off_t)mem->size) < 0)
		return lvm_fail_errno("memory: cannot size the memory file");
	return copy_data_pages(mem, fd);
}

static int map_private(struct lvm_memory *mem, int fd)
{
	void *p = mmap(mem->host, mem->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return lvm_fail_errno("memory: cannot map guest RAM copy-on-write");
	madvise(mem->host, mem->size, MADV_DONTDUMP);
	return 0;
}

int lvm_memory_adopt(struct lvm_memory *mem, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < mem->size)
		return lvm_fail("memory: the memory image is smaller than the machine's %llu MiB",
				(unsigned long long)(mem->size >> 20));
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (own < 0)
		return lvm_fail_errno("memory: dup");
	if (map_private(mem, own) < 0) {
		close(own);
		return -1;
	}
	if (mem->memfd >= 0)
		close(mem->memfd);
	if (mem->base_fd >= 0)
		close(mem->base_fd);
	mem->memfd = -1;
	mem->base_fd = own;
	mem->base_fresh = true;
	mem->untouched = false;
	return 0;
}

int lvm_memory_freeze(struct lvm_memory *mem)
{
	if (mem->base_fd >= 0 && mem->base_fresh)
		return mem->base_fd;
	if (mem->base_fd < 0) {
		/* The shared memfd becomes the base: nothing is copied. */
		if (map_private(mem, mem->memfd) < 0)
			return -1;
		mem->base_fd = mem->memfd;
		mem->memfd = -1;
		mem->base_fresh = true;
		return mem->base_fd;
	}
	/* RAM moved on from its base: a new base with its present contents. */
	int fd = memfd_create("luavmm-ram", MFD_CLOEXEC);
	if (fd < 0)
		return lvm_fail_errno("memory: memfd_create");
	if (ftruncate(fd, (off_t)mem->size) < 0 || copy_data_pages(mem, fd) < 0 ||
	    map_private(mem, fd) < 0) {
		close(fd);
		return -1;
	}
	close(mem->base_fd);
	mem->base_fd = fd;
	mem->base_fresh = true;
	return fd;
}

int lvm_memory_clear(struct lvm_memory *mem)
{
	if (mem->base_fd < 0) {
		if (fallocate(mem->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			      (off_t)mem->size) < 0)
			return lvm_fail_errno("memory: cannot clear guest RAM");
	} else {
		/* Over a base: a new, empty memfd, shared again. */
		int fd = memfd_create("luavmm-ram", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)mem->size) < 0 ||
		    mmap(mem->host, mem->size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd, 0) == MAP_FAILED) {
			lvm_fail_errno("memory: cannot clear guest RAM");
			if (fd >= 0)
				close(fd);
			return -1;
		}
		madvise(mem->host, mem->size, MADV_DONTDUMP);
		close(mem->base_fd);
		mem->base_fd = -1;
		mem->memfd = fd;
	}
	mem->untouched = true;
	mem->base_fresh = false;
	return 0;
}
