/* The e820 map for small, hole-crossing and large machines. */
#include "arch/x86/boot/e820.h"
#include "arch/x86/layout.h"
#include "check.h"

static struct lvm_memory layout(uint64_t size)
{
	struct lvm_memory mem = { .memfd = -1, .size = size };
	uint64_t low = size < LVM_MMIO_HOLE_START ? size : LVM_MMIO_HOLE_START;
	mem.regions[0] = (struct lvm_memory_region){ 0, low, 0 };
	mem.nregions = 1;
	if (size > low) {
		mem.regions[1] = (struct lvm_memory_region){ LVM_HIGH_RAM_START, size - low, low };
		mem.nregions = 2;
	}
	return mem;
}

static uint64_t ram_total(const struct boot_e820_entry *e, unsigned n)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++)
		if (e[i].type == E820_RAM)
			total += e[i].size;
	return total;
}

static void check_sorted_disjoint(const struct boot_e820_entry *e, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		CHECK(e[i - 1].addr + e[i - 1].size <= e[i].addr);
}

static void test_small_machine(void)
{
	struct lvm_memory mem = layout(64ull << 20);
	struct boot_e820_entry e[8];
	unsigned n = lvm_x86_e820_build(&mem, e, 8);
	CHECK_EQ_U64(n, 4);
	CHECK_EQ_U64(e[0].addr, 0);
	CHECK_EQ_U64(e[0].size, 0x9fc00);
	CHECK_EQ_U64(e[1].type, E820_RESERVED);
	CHECK_EQ_U64(e[2].addr, 0x100000);
	CHECK_EQ_U64(e[2].addr + e[2].size, 64ull << 20);
	/* PCI ECAM reserved, as a PC's firmware reserves MMCONFIG */
	CHECK_EQ_U64(e[3].addr, 0xe0000000);
	CHECK_EQ_U64(e[3].size, 1 << 20);
	CHECK_EQ_U64(e[3].type, E820_RESERVED);
	check_sorted_disjoint(e, n);
	/* RAM reported = RAM minus the EBDA/BIOS hole the map reserves. */
	CHECK_EQ_U64(ram_total(e, n), (64ull << 20) - (0x100000 - 0x9fc00));
}

static void test_large_machine_splits_at_the_hole(void)
{
	struct lvm_memory mem = layout(6ull << 30);
	struct boot_e820_entry e[8];
	unsigned n = lvm_x86_e820_build(&mem, e, 8);
	CHECK_EQ_U64(n, 5);
	CHECK_EQ_U64(e[2].addr + e[2].size, LVM_MMIO_HOLE_START);
	CHECK_EQ_U64(e[3].addr, 0xe0000000);
	CHECK_EQ_U64(e[4].addr, 1ull << 32);
	CHECK_EQ_U64(e[4].size, (6ull << 30) - LVM_MMIO_HOLE_START);
	check_sorted_disjoint(e, n);
}

static void test_respects_max(void)
{
	struct lvm_memory mem = layout(6ull << 30);
	struct boot_e820_entry e[2];
	CHECK_EQ_U64(lvm_x86_e820_build(&mem, e, 2), 2);
}

int main(void)
{
	RUN_TEST(test_small_machine);
	RUN_TEST(test_large_machine_splits_at_the_hole);
	RUN_TEST(test_respects_max);
	return CHECK_DONE();
}
