/*
 * Guest RAM for snapshot and fork (kvm/memory.h): freezing makes a base
 * that later writes no longer reach, a fork's mapping of the base sees
 * the parent's contents and keeps its own writes to itself, a second
 * freeze after the parent wrote carries those writes into a new base, and
 * the memory file is sparse, holding exactly the pages that are not zero.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "kvm/memory.h"

#define MIB (1ull << 20)

static int kvm_fd = -1;

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_freeze_and_fork(void)
{
	int vm_a = ioctl(kvm_fd, KVM_CREATE_VM, 0), vm_b = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	int vm_c = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	struct lvm_memory parent, child, second;
	CHECK(lvm_memory_init(&parent, vm_a, 16 * MIB) == 0);
	memset(parent.host + 4096, 0xaa, 4096);
	int base = lvm_memory_freeze(&parent);
	CHECK(base >= 0 && parent.base_fd == base && parent.memfd == -1);
	/* Frozen and unchanged: a second freeze is the same base, at no cost. */
	CHECK(lvm_memory_freeze(&parent) == base);

	CHECK(lvm_memory_init(&child, vm_b, 16 * MIB) == 0);
	CHECK(lvm_memory_adopt(&child, base) == 0);
	CHECK(all_bytes(child.host + 4096, 4096, 0xaa));
	memset(child.host + 4096, 0xcc, 16);     /* the child's write... */
	CHECK(all_bytes(parent.host + 4096, 16, 0xaa)); /* ...is its own */
	memset(parent.host + 8192, 0xbb, 4096);  /* the parent's later write... */
	CHECK(all_bytes(child.host + 8192, 4096, 0)); /* ...is its own too */

	/* The parent wrote since: a new base carries that write. */
	lvm_memory_touched(&parent);
	int base2 = lvm_memory_freeze(&parent);
	CHECK(base2 >= 0 && base2 != base);
	CHECK(lvm_memory_init(&second, vm_c, 16 * MIB) == 0);
	CHECK(lvm_memory_adopt(&second, base2) == 0);
	CHECK(all_bytes(second.host + 4096, 4096, 0xaa) && all_bytes(second.host + 8192, 4096, 0xbb));
	CHECK(all_bytes(child.host + 8192, 4096, 0) && child.host[4096] == 0xcc);

	/* Discard on a private mapping: the page reads as the base's again. */
	CHECK(lvm_memory_discard(&child, 4096, 4096) == 0);
	CHECK(all_bytes(child.host + 4096, 4096, 0xaa));
	lvm_memory_destroy(&second);
	lvm_memory_destroy(&child);
	lvm_memory_destroy(&parent);
	close(vm_a);
	close(vm_b);
	close(vm_c);
}

static void test_memory_file_is_sparse(void)
{
	int vm = ioctl(kvm_fd, KVM_CREATE_VM, 0), vm2 = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	struct lvm_memory mem, back;
	CHECK(lvm_memory_init(&mem, vm, 32 * MIB) == 0);
	memset(mem.host + 1 * MIB, 0x11, 3 * 4096);
	memset(mem.host + 20 * MIB, 0x22, 4096);
	mem.host[20 * MIB + 8192] = 0; /* touched, but zero: a hole */
	char path[] = "/tmp/luavmm-memtest-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	CHECK(lvm_memory_write_file(&mem, fd) == 4 * 4096);
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && (uint64_t)st.st_size == 32 * MIB);
	CHECK((uint64_t)st.st_blocks * 512 < 1 * MIB); /* holes, not 32 MiB of zeroes */
	CHECK(lvm_memory_init(&back, vm2, 32 * MIB) == 0);
	CHECK(lvm_memory_adopt(&back, fd) == 0);
	CHECK(all_bytes(back.host + 1 * MIB, 3 * 4096, 0x11) &&
	      all_bytes(back.host + 20 * MIB, 4096, 0x22) && all_bytes(back.host, 1 * MIB, 0));
	/* A restored machine's writes never reach its memory file. */
	back.host[0] = 7;
	uint8_t first = 1;
	CHECK(pread(fd, &first, 1, 0) == 1 && first == 0);
	/* And a file shorter than RAM is refused. */
	CHECK(ftruncate(fd, 16 * MIB) == 0);
	struct lvm_memory small;
	int vm3 = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	CHECK(lvm_memory_init(&small, vm3, 32 * MIB) == 0);
	CHECK(lvm_memory_adopt(&small, fd) < 0);
	lvm_memory_destroy(&small);
	lvm_memory_destroy(&back);
	lvm_memory_destroy(&mem);
	close(fd);
	close(vm);
	close(vm2);
	close(vm3);
}

int main(void)
{
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		printf("skip: no /dev/kvm\n");
		return 0;
	}
	RUN_TEST(test_freeze_and_fork);
	RUN_TEST(test_memory_file_is_sparse);
	close(kvm_fd);
	return CHECK_DONE();
}
