#include "kvm/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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
	mem->host = MAP_FAILED;
	mem->memfd = -1;
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
