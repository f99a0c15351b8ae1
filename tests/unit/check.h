/*
 * A deliberately tiny unit-test harness: CHECK records a failure and goes
 * on, RUN_TEST runs one function, and main returns non-zero if anything
 * failed.  Each tests/unit/test_*.c is one ctest test.
 */
#ifndef LVM_CHECK_H
#define LVM_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			check_failures++;                                      \
		}                                                              \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                     \
	do {                                                                   \
		uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);   \
		if (check_a_ != check_b_) {                                    \
			fprintf(stderr,                                        \
				"%s:%d: CHECK failed: %s == %s (0x%" PRIx64    \
				" != 0x%" PRIx64 ")\n",                        \
				__FILE__, __LINE__, #a, #b, check_a_, check_b_); \
			check_failures++;                                      \
		}                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *check_a_ = (a), *check_b_ = (b);                   \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_)) {    \
			fprintf(stderr, "%s:%d: CHECK failed: \"%s\" == \"%s\"\n", \
				__FILE__, __LINE__, check_a_ ? check_a_ : "(null)", \
				check_b_ ? check_b_ : "(null)");               \
			check_failures++;                                      \
		}                                                              \
	} while (0)

#define RUN_TEST(fn)                                                           \
	do {                                                                   \
		int before_ = check_failures;                                  \
		fn();                                                          \
		printf("%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn); \
	} while (0)

#define CHECK_DONE() (check_failures ? 1 : 0)

#endif
