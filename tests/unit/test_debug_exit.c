/* isa-debug-exit: the value reaches on_exit for sizes 1, 2 and 4. */
#include "check.h"
#include "devices/debug_exit.h"

struct seen {
	int calls;
	uint32_t value;
};

static void on_exit_cb(void *opaque, uint32_t value)
{
	struct seen *s = opaque;
	s->calls++;
	s->value = value;
}

static void test_sizes(void)
{
	struct seen seen = { 0, 0 };
	struct lvm_debug_exit d = { on_exit_cb, &seen };
	uint8_t b[8] = { 0x31, 0x42, 0x53, 0x64, 0x75, 0x86, 0x97, 0xa8 };

	lvm_debug_exit_io(&d, 0, b, 1, true);
	CHECK_EQ_U64(seen.calls, 1);
	CHECK_EQ_U64(seen.value, 0x31);
	lvm_debug_exit_io(&d, 0, b, 2, true);
	CHECK_EQ_U64(seen.calls, 2);
	CHECK_EQ_U64(seen.value, 0x4231);
	lvm_debug_exit_io(&d, 0, b, 4, true);
	CHECK_EQ_U64(seen.calls, 3);
	CHECK_EQ_U64(seen.value, 0x64534231);
	uint8_t ff[4] = { 0xff, 0xff, 0xff, 0xff };
	lvm_debug_exit_io(&d, 0, ff, 4, true);
	CHECK_EQ_U64(seen.value, 0xffffffffu);
	uint8_t zero = 0;
	lvm_debug_exit_io(&d, 0, &zero, 1, true);
	CHECK_EQ_U64(seen.calls, 5);
	CHECK_EQ_U64(seen.value, 0);
}

static void test_ignored(void)
{
	struct seen seen = { 0, 0 };
	struct lvm_debug_exit d = { on_exit_cb, &seen };
	uint8_t b[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	for (uint64_t off = 1; off < 4; off++)
		lvm_debug_exit_io(&d, off, b, 1, true);
	lvm_debug_exit_io(&d, 0, b, 3, true);
	lvm_debug_exit_io(&d, 0, b, 8, true);
	lvm_debug_exit_io(&d, 0, b, 0, true);
	CHECK_EQ_U64(seen.calls, 0);

	uint8_t r[4] = { 0xff, 0xff, 0xff, 0xff };
	lvm_debug_exit_io(&d, 0, r, 4, false);
	CHECK_EQ_U64(seen.calls, 0);
	CHECK_EQ_U64(r[0] & r[1] & r[2] & r[3], 0xff);

	struct lvm_debug_exit none = { NULL, NULL };
	lvm_debug_exit_io(&none, 0, b, 1, true); /* no callback: no crash */
	lvm_debug_exit_io(NULL, 0, b, 1, true);
}

int main(void)
{
	RUN_TEST(test_sizes);
	RUN_TEST(test_ignored);
	return CHECK_DONE();
}
