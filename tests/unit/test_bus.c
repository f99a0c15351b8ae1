/* The PIO/MMIO bus: registration rules and dispatch. */
#include <stdlib.h>

#include "check.h"
#include "kvm/bus.h"

struct recorder {
	uint64_t offset;
	uint32_t size;
	bool is_write;
	uint8_t last_write;
	int calls;
};

static void record(void *opaque, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
	struct recorder *r = opaque;
	r->offset = offset;
	r->size = size;
	r->is_write = is_write;
	r->calls++;
	if (is_write)
		r->last_write = data[0];
	else
		data[0] = 0x42;
}

static void test_dispatch_finds_range_and_offset(void)
{
	struct lvm_bus bus;
	struct recorder a = { 0 }, b = { 0 };
	lvm_bus_init(&bus);
	CHECK(lvm_bus_register(&bus, 0x3f8, 8, record, &a, "a") == 0);
	CHECK(lvm_bus_register(&bus, 0x60, 1, record, &b, "b") == 0);
	uint8_t data[4] = { 0x11 };
	CHECK(lvm_bus_dispatch(&bus, 0x3fd, data, 1, false));
	CHECK_EQ_U64(a.offset, 5);
	CHECK_EQ_U64(data[0], 0x42);
	data[0] = 0x99;
	CHECK(lvm_bus_dispatch(&bus, 0x60, data, 1, true));
	CHECK_EQ_U64(b.last_write, 0x99);
	CHECK_EQ_U64(a.calls, 1);
	lvm_bus_destroy(&bus);
}

static void test_unclaimed_reads_all_ones_and_counts(void)
{
	struct lvm_bus bus;
	lvm_bus_init(&bus);
	uint8_t data[4] = { 0 };
	CHECK(!lvm_bus_dispatch(&bus, 0x500, data, 4, false));
	CHECK_EQ_U64(data[0] & data[1] & data[2] & data[3], 0xff);
	CHECK(!lvm_bus_dispatch(&bus, 0x500, data, 4, true));
	CHECK_EQ_U64(bus.unclaimed_reads, 1);
	CHECK_EQ_U64(bus.unclaimed_writes, 1);
	lvm_bus_destroy(&bus);
}

static void test_overlap_and_bad_ranges_refused(void)
{
	struct lvm_bus bus;
	struct recorder r = { 0 };
	lvm_bus_init(&bus);
	CHECK(lvm_bus_register(&bus, 0x100, 0x10, record, &r, "x") == 0);
	CHECK(lvm_bus_register(&bus, 0x10f, 1, record, &r, "y") < 0);
	CHECK(lvm_bus_register(&bus, 0xf0, 0x11, record, &r, "y") < 0);
	CHECK(lvm_bus_register(&bus, 0x110, 1, record, &r, "y") == 0);
	CHECK(lvm_bus_register(&bus, 0xff, 1, record, &r, "z") == 0);
	CHECK(lvm_bus_register(&bus, 0x200, 0, record, &r, "empty") < 0);
	CHECK(lvm_bus_register(&bus, UINT64_MAX, 2, record, &r, "wraps") < 0);
	CHECK(lvm_bus_register(&bus, UINT64_MAX, 1, record, &r, "last") == 0);
	uint8_t data[1];
	CHECK(lvm_bus_dispatch(&bus, UINT64_MAX, data, 1, false));
	CHECK(lvm_bus_unregister(&bus, 0x100) == 0);
	CHECK(!lvm_bus_dispatch(&bus, 0x105, data, 1, false));
	CHECK(lvm_bus_unregister(&bus, 0x100) < 0);
	lvm_bus_destroy(&bus);
}

static void test_many_ranges_stay_sorted(void)
{
	struct lvm_bus bus;
	struct recorder r = { 0 };
	lvm_bus_init(&bus);
	/* Registered in a scrambled order; every one must still be found. */
	for (unsigned i = 0; i < 100; i++)
		CHECK(lvm_bus_register(&bus, ((i * 37) % 100) * 0x10, 8, record, &r, "n") == 0);
	for (unsigned i = 0; i < 100; i++) {
		uint8_t data[1];
		r.calls = 0;
		CHECK(lvm_bus_dispatch(&bus, i * 0x10 + 7, data, 1, false));
		CHECK(!lvm_bus_dispatch(&bus, i * 0x10 + 8, data, 1, false));
		CHECK_EQ_U64(r.offset, 7);
	}
	lvm_bus_destroy(&bus);
}

static void sum_accesses(void *ctx, const struct lvm_bus_range *r)
{
	uint64_t *totals = ctx;
	totals[0] += r->reads;
	totals[1] += r->writes;
}

static void test_counts_accesses_per_range(void)
{
	struct lvm_bus bus;
	struct recorder r = { 0 };
	lvm_bus_init(&bus);
	CHECK(lvm_bus_register(&bus, 0x10, 4, record, &r, "a") == 0);
	uint8_t data[4];
	for (int i = 0; i < 3; i++)
		lvm_bus_dispatch(&bus, 0x11, data, 1, false);
	lvm_bus_dispatch(&bus, 0x12, data, 1, true);
	lvm_bus_dispatch(&bus, 0x20, data, 1, true); /* unclaimed: not the range's */
	uint64_t totals[2] = { 0, 0 };
	lvm_bus_visit(&bus, sum_accesses, totals);
	CHECK_EQ_U64(totals[0], 3);
	CHECK_EQ_U64(totals[1], 1);
	lvm_bus_destroy(&bus);
}

int main(void)
{
	RUN_TEST(test_dispatch_finds_range_and_offset);
	RUN_TEST(test_unclaimed_reads_all_ones_and_counts);
	RUN_TEST(test_overlap_and_bad_ranges_refused);
	RUN_TEST(test_many_ranges_stay_sorted);
	RUN_TEST(test_counts_accesses_per_range);
	return CHECK_DONE();
}
