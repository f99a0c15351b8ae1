/*
 * A machine's saved state (snapshot and fork): a list of named sections,
 * each the little-endian fields one part of the machine wrote about itself
 * ("cpu.0", "serial8250", "disks.root").  Every part saves and loads its
 * own section next to its code; the order of the fields inside a section
 * is the part's business, the same for writing and reading.
 *
 * Writing never fails half-way: a writer that ran out of memory remembers
 * it and lvm_state_finish reports it once.  Reading is for hostile input:
 * each getter checks the bounds, a short read marks the reader failed and
 * returns zeroes, and lvm_state_section_done reports the first problem
 * ("state section 'serial8250': truncated") with -1 + lvm_error.  A loader
 * must still check every value it reads before using it (an index against
 * its array, a size against its buffer) and fail with lvm_state_bad().
 */
#ifndef LVM_UTIL_STATE_H
#define LVM_UTIL_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LVM_STATE_NAME_MAX 63u

struct lvm_state_writer {
	uint8_t *buf;
	size_t len, cap;
	size_t section_start; /* offset of the open section's length field, or 0 */
	bool open;
	bool failed; /* out of memory */
};

void lvm_state_writer_init(struct lvm_state_writer *w);
void lvm_state_writer_free(struct lvm_state_writer *w);
/* Opens a section (ends the previous one). */
void lvm_state_begin(struct lvm_state_writer *w, const char *name);
void lvm_state_put_u8(struct lvm_state_writer *w, uint8_t v);
void lvm_state_put_u16(struct lvm_state_writer *w, uint16_t v);
void lvm_state_put_u32(struct lvm_state_writer *w, uint32_t v);
void lvm_state_put_u64(struct lvm_state_writer *w, uint64_t v);
void lvm_state_put_bool(struct lvm_state_writer *w, bool v);
void lvm_state_put_bytes(struct lvm_state_writer *w, const void *p, size_t n);
/* A length-prefixed blob (u32 length, then the bytes). */
void lvm_state_put_blob(struct lvm_state_writer *w, const void *p, size_t n);
/* Ends the last section; 0, or -1 + lvm_error if the writer ran out of memory. */
int lvm_state_finish(struct lvm_state_writer *w);

/* A read position inside one section (or inside the whole list). */
struct lvm_state_reader {
	const uint8_t *p;
	size_t len, pos;
	bool failed;
	char name[LVM_STATE_NAME_MAX + 1];
	char why[96]; /* the first problem, for lvm_state_section_done */
};

/* Checks that `buf` is a well-formed list of sections (names, lengths, no
 * duplicates): 0, or -1 + lvm_error. */
int lvm_state_check(const void *buf, size_t len);
/* A reader over the section `name` of the (checked) list: 0, or -1 +
 * lvm_error ("state: no section 'NAME'"). */
int lvm_state_section(const void *buf, size_t len, const char *name, struct lvm_state_reader *r);
/* Whether the list has a section called `name`. */
bool lvm_state_has_section(const void *buf, size_t len, const char *name);

uint8_t lvm_state_get_u8(struct lvm_state_reader *r);
uint16_t lvm_state_get_u16(struct lvm_state_reader *r);
uint32_t lvm_state_get_u32(struct lvm_state_reader *r);
uint64_t lvm_state_get_u64(struct lvm_state_reader *r);
/* 0 or 1; anything else marks the reader failed. */
bool lvm_state_get_bool(struct lvm_state_reader *r);
/* Copies n bytes (zeroes on a short read). */
void lvm_state_get_bytes(struct lvm_state_reader *r, void *out, size_t n);
/* A blob written by lvm_state_put_blob into out (at most `max` bytes);
 * returns its length, 0 and failed if it is longer than max. */
size_t lvm_state_get_blob(struct lvm_state_reader *r, void *out, size_t max);
/* Marks the reader failed with a reason (the first one is kept), e.g.
 * lvm_state_bad(r, "queue %u size %u is not a power of 2", q, n).  Returns -1. */
int lvm_state_bad(struct lvm_state_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* After a part loaded its section: 0 if every read was in bounds, nothing
 * was marked bad and nothing is left over; else -1 + lvm_error
 * ("state section 'NAME': WHY"). */
int lvm_state_section_done(struct lvm_state_reader *r);

/* CRC-32C (Castagnoli) of a buffer, continuing from `crc` (start with 0). */
uint32_t lvm_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
