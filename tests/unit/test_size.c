/* Recipe sizes: "256M" and friends. */
#include "check.h"
#include "util/size.h"

static uint64_t parsed(const char *text)
{
	uint64_t bytes = 0;
	return lvm_parse_size(text, &bytes) == 0 ? bytes : 0;
}

static void test_suffixes(void)
{
	CHECK_EQ_U64(parsed("4096"), 4096);
	CHECK_EQ_U64(parsed("512K"), 512ull << 10);
	CHECK_EQ_U64(parsed("256M"), 256ull << 20);
	CHECK_EQ_U64(parsed("256MiB"), 256ull << 20);
	CHECK_EQ_U64(parsed("6g"), 6ull << 30);
	CHECK_EQ_U64(parsed("1T"), 1ull << 40);
}

static void test_rejects(void)
{
	uint64_t bytes;
	CHECK(lvm_parse_size("0", &bytes) < 0);
	CHECK(lvm_parse_size("abc", &bytes) < 0);
	CHECK(lvm_parse_size("", &bytes) < 0);
	CHECK(lvm_parse_size("-5M", &bytes) < 0);
	CHECK(lvm_parse_size("12X", &bytes) < 0);
	CHECK(lvm_parse_size("12M junk", &bytes) < 0);
	CHECK(lvm_parse_size("99999999999999999999", &bytes) < 0);
	CHECK(lvm_parse_size("17000000P", &bytes) < 0);
}

int main(void)
{
	RUN_TEST(test_suffixes);
	RUN_TEST(test_rejects);
	return CHECK_DONE();
}
