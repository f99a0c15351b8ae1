/*
 * util/state.h and util/state_file.h: what a part writes it reads back in
 * order; short, padded, duplicated or corrupted input is refused with a
 * message naming the section and the problem.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/error.h"
#include "util/state.h"
#include "util/state_file.h"

static void write_sample(struct lvm_state_writer *w)
{
	lvm_state_writer_init(w);
	lvm_state_begin(w, "first");
	lvm_state_put_u8(w, 0x12);
	lvm_state_put_u16(w, 0x3456);
	lvm_state_put_u32(w, 0x789abcde);
	lvm_state_put_u64(w, 0x0123456789abcdefull);
	lvm_state_put_bool(w, true);
	lvm_state_put_blob(w, "hello", 5);
	lvm_state_begin(w, "second");
	lvm_state_put_u32(w, 7);
	CHECK(lvm_state_finish(w) == 0);
}

static void test_round_trip(void)
{
	struct lvm_state_writer w;
	write_sample(&w);
	CHECK(lvm_state_check(w.buf, w.len) == 0);
	struct lvm_state_reader r;
	CHECK(lvm_state_section(w.buf, w.len, "second", &r) == 0);
	CHECK_EQ_U64(lvm_state_get_u32(&r), 7);
	CHECK(lvm_state_section_done(&r) == 0);
	CHECK(lvm_state_section(w.buf, w.len, "first", &r) == 0);
	CHECK_EQ_U64(lvm_state_get_u8(&r), 0x12);
	CHECK_EQ_U64(lvm_state_get_u16(&r), 0x3456);
	CHECK_EQ_U64(lvm_state_get_u32(&r), 0x789abcde);
	CHECK_EQ_U64(lvm_state_get_u64(&r), 0x0123456789abcdefull);
	CHECK(lvm_state_get_bool(&r));
	char blob[8] = { 0 };
	CHECK_EQ_U64(lvm_state_get_blob(&r, blob, sizeof(blob)), 5);
	CHECK_STR(blob, "hello");
	CHECK(lvm_state_section_done(&r) == 0);
	CHECK(lvm_state_section(w.buf, w.len, "third", &r) < 0);
	CHECK(strstr(lvm_error(), "no section 'third'") != NULL);
	lvm_state_writer_free(&w);
}

static void test_bad_reads_are_reported(void)
{
	struct lvm_state_writer w;
	write_sample(&w);
	struct lvm_state_reader r;
	/* Leftover bytes: a reader that read less than was written. */
	CHECK(lvm_state_section(w.buf, w.len, "first", &r) == 0);
	lvm_state_get_u8(&r);
	CHECK(lvm_state_section_done(&r) < 0);
	CHECK(strstr(lvm_error(), "state section 'first'") && strstr(lvm_error(), "left over"));
	/* Reading past the end: zeroes and "truncated". */
	CHECK(lvm_state_section(w.buf, w.len, "second", &r) == 0);
	CHECK_EQ_U64(lvm_state_get_u64(&r), 0);
	CHECK(lvm_state_section_done(&r) < 0);
	CHECK(strstr(lvm_error(), "truncated") != NULL);
	/* A blob longer than its room. */
	CHECK(lvm_state_section(w.buf, w.len, "first", &r) == 0);
	lvm_state_get_bytes(&r, (uint8_t[16]){ 0 }, 16);
	char small[2];
	CHECK_EQ_U64(lvm_state_get_blob(&r, small, sizeof(small)), 0);
	CHECK(lvm_state_section_done(&r) < 0);
	/* A loader's own complaint is the one reported. */
	CHECK(lvm_state_section(w.buf, w.len, "second", &r) == 0);
	CHECK(lvm_state_bad(&r, "queue size %u", 3u) == -1);
	CHECK(lvm_state_section_done(&r) < 0);
	CHECK(strstr(lvm_error(), "queue size 3") != NULL);
	/* Every shorter prefix of the list is refused by the check or lacks a section. */
	for (size_t n = 0; n < w.len; n++)
		CHECK(lvm_state_check(w.buf, n) < 0 || !lvm_state_has_section(w.buf, n, "second"));
	lvm_state_writer_free(&w);
}

static void test_duplicates_refused(void)
{
	struct lvm_state_writer w;
	lvm_state_writer_init(&w);
	lvm_state_begin(&w, "x");
	lvm_state_begin(&w, "x");
	CHECK(lvm_state_finish(&w) == 0);
	CHECK(lvm_state_check(w.buf, w.len) < 0);
	CHECK(strstr(lvm_error(), "twice") != NULL);
	lvm_state_writer_free(&w);
}

static void test_file_header(void)
{
	struct lvm_state_writer w;
	write_sample(&w);
	size_t len = LVM_STATE_HEADER_BYTES + w.len;
	uint8_t *file = malloc(len);
	struct lvm_state_header h = { .version = "9.9.9", .cpu_digest = 42, .cpus = 2, .ram = 1 << 26 };
	lvm_state_file_header(file, &h, w.buf, w.len);
	memcpy(file + LVM_STATE_HEADER_BYTES, w.buf, w.len);
	struct lvm_state_header got;
	const uint8_t *body;
	size_t body_len;
	CHECK(lvm_state_file_parse(file, len, "9.9.9", &got, &body, &body_len) == 0);
	CHECK(got.cpu_digest == 42 && got.cpus == 2 && got.ram == 1 << 26 && body_len == w.len);
	CHECK(lvm_state_file_parse(file, len, "1.0.0", &got, &body, &body_len) < 0);
	CHECK(strstr(lvm_error(), "made by luavmm 9.9.9, this is luavmm 1.0.0") != NULL);
	CHECK(lvm_state_file_parse(file, len - 1, "9.9.9", &got, &body, &body_len) < 0);
	CHECK(strstr(lvm_error(), "truncated") != NULL);
	file[len - 1] ^= 0x40;
	CHECK(lvm_state_file_parse(file, len, "9.9.9", &got, &body, &body_len) < 0);
	CHECK(strstr(lvm_error(), "checksum") != NULL);
	file[0] = 'X';
	CHECK(lvm_state_file_parse(file, len, "9.9.9", &got, &body, &body_len) < 0);
	CHECK(strstr(lvm_error(), "magic") != NULL);
	free(file);
	lvm_state_writer_free(&w);
}

int main(void)
{
	RUN_TEST(test_round_trip);
	RUN_TEST(test_bad_reads_are_reported);
	RUN_TEST(test_duplicates_refused);
	RUN_TEST(test_file_header);
	return CHECK_DONE();
}
