/*
 * lvm_memory_discard: the balloon's way of giving guest RAM back to the
 * host.  Real guest RAM (a memfd registered with a KVM VM): discarded pages
 * read as zeroes and leave the process's shared RSS, their neighbours keep
 * their contents, and no range outside RAM, across the MMIO hole or
 * misaligned is ever punched.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "check.h"
#include "kvm/memory.h"

#define MIB (1ull << 20)

static int kvm_fd = -1;

/* A fresh VM for each memory: a VM's slots outlive lvm_memory_destroy. */
static int new_vm(void)
{
	return ioctl(kvm_fd, KVM_CREATE_VM, 0);
}

/* RssShmem of this process, in bytes (guest RAM is shared memfd memory). */
static uint64_t rss_shmem(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return 0;
	char line[256];
	unsigned long long kib = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssShmem: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib << 10;
}

static bool all_bytes(const uint8_t *p, uint64_t n, uint8_t v)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_discard_frees_and_zeroes(void)
{
	struct lvm_memory mem;
	int vm_fd = new_vm();
	CHECK(lvm_memory_init(&mem, vm_fd, 16 * MIB) == 0);
	memset(mem.host, 0xa5, 16 * MIB);
	uint64_t before = rss_shmem();
	CHECK(lvm_memory_discard(&mem, 4 * MIB, 8 * MIB) == 0);
	uint64_t after = rss_shmem();
	CHECK(before >= after + 7 * MIB); /* most of the 8 MiB left the process */
	CHECK(all_bytes(mem.host + 4 * MIB, 8 * MIB, 0));
	CHECK(all_bytes(mem.host, 4 * MIB, 0xa5));
	CHECK(all_bytes(mem.host + 12 * MIB, 4 * MIB, 0xa5));
	/* One page at the very end, and len 0. */
	CHECK(lvm_memory_discard(&mem, 16 * MIB - 4096, 4096) == 0);
	CHECK(all_bytes(mem.host + 16 * MIB - 4096, 4096, 0));
	CHECK(all_bytes(mem.host + 16 * MIB - 8192, 4096, 0xa5));
	CHECK(lvm_memory_discard(&mem, 0, 0) == 0);
	/* The pages come back, zeroed, when touched again. */
	mem.host[4 * MIB] = 1;
	CHECK(mem.host[4 * MIB] == 1);
	lvm_memory_destroy(&mem);
	close(vm_fd);
}

static void test_discard_refuses_outside_ram(void)
{
	struct lvm_memory mem;
	int vm_fd = new_vm();
	CHECK(lvm_memory_init(&mem, vm_fd, 8 * MIB) == 0);
	memset(mem.host, 0x5a, 8 * MIB);
	CHECK(lvm_memory_discard(&mem, 8 * MIB, 4096) < 0);          /* just past the end */
	CHECK(lvm_memory_discard(&mem, 8 * MIB - 4096, 8192) < 0);   /* straddles the end */
	CHECK(lvm_memory_discard(&mem, 4096, 100) < 0);              /* unaligned length */
	CHECK(lvm_memory_discard(&mem, 100, 4096) < 0);              /* unaligned address */
	CHECK(lvm_memory_discard(&mem, UINT64_MAX - 4095, 4096) < 0); /* top of the address space */
	CHECK(lvm_memory_discard(&mem, 4096, UINT64_MAX - 4095) < 0); /* wraps */
	CHECK(lvm_memory_discard(&mem, 0xfffff000ull << 12, 4096) < 0); /* the largest u32 PFN */
	CHECK(lvm_memory_discard(&mem, LVM_HIGH_RAM_START, 4096) < 0); /* no high RAM here */
	CHECK(all_bytes(mem.host, 8 * MIB, 0x5a));
	lvm_memory_destroy(&mem);
	close(vm_fd);
}

/* Large machines: RAM on both sides of the MMIO hole, never across it. */
static void test_discard_two_regions(void)
{
	struct lvm_memory mem;
	int vm_fd = new_vm();
	uint64_t size = LVM_MMIO_HOLE_START + 8 * MIB;
	if (lvm_memory_init(&mem, vm_fd, size) < 0) {
		printf("skip test_discard_two_regions: %s\n", "cannot map 3 GiB + 8 MiB");
		lvm_memory_destroy(&mem);
		close(vm_fd);
		return;
	}
	uint8_t *low_end = mem.host + LVM_MMIO_HOLE_START - 4096;
	uint8_t *high = mem.host + LVM_MMIO_HOLE_START; /* gpa 4 GiB */
	memset(low_end, 1, 4096);
	memset(high, 2, 8 * MIB);
	CHECK(lvm_memory_discard(&mem, LVM_MMIO_HOLE_START - 4096, 8192) < 0); /* into the hole */
	CHECK(lvm_memory_discard(&mem, LVM_MMIO_HOLE_START, 4096) < 0);        /* inside the hole */
	CHECK(lvm_memory_discard(&mem, LVM_HIGH_RAM_START + 8 * MIB, 4096) < 0); /* past high RAM */
	CHECK(all_bytes(low_end, 4096, 1) && all_bytes(high, 8 * MIB, 2));
	CHECK(lvm_memory_discard(&mem, LVM_HIGH_RAM_START + 4096, 4096) == 0);
	CHECK(all_bytes(high, 4096, 2) && all_bytes(high + 4096, 4096, 0) &&
	      all_bytes(high + 8192, 8 * MIB - 8192, 2));
	CHECK(lvm_memory_discard(&mem, LVM_MMIO_HOLE_START - 4096, 4096) == 0);
	CHECK(all_bytes(low_end, 4096, 0));
	lvm_memory_destroy(&mem);
	close(vm_fd);
}

int main(void)
{
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		printf("skip: no /dev/kvm\n");
		return 0;
	}
	RUN_TEST(test_discard_frees_and_zeroes);
	RUN_TEST(test_discard_refuses_outside_ram);
	RUN_TEST(test_discard_two_regions);
	close(kvm_fd);
	return CHECK_DONE();
}
