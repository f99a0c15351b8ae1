/*
 * The section list: each section is
 *   u8 name length (1..LVM_STATE_NAME_MAX), the name, u32 payload length, the payload
 * with every integer little-endian.
 */
#include "util/state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/le.h"

void lvm_state_writer_init(struct lvm_state_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void lvm_state_writer_free(struct lvm_state_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static bool reserve(struct lvm_state_writer *w, size_t n)
{
	if (w->failed)
		return false;
	if (w->len + n <= w->cap)
		return true;
	size_t cap = w->cap ? w->cap : 4096;
	while (cap < w->len + n)
		cap *= 2;
	uint8_t *buf = realloc(w->buf, cap);
	if (!buf) {
		w->failed = true;
		return false;
	}
	w->buf = buf;
	w->cap = cap;
	return true;
}

void lvm_state_put_bytes(struct lvm_state_writer *w, const void *p, size_t n)
{
	if (n == 0 || !reserve(w, n))
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_le(struct lvm_state_writer *w, uint64_t v, unsigned n)
{
	uint8_t b[8];
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	lvm_state_put_bytes(w, b, n);
}

void lvm_state_put_u8(struct lvm_state_writer *w, uint8_t v) { put_le(w, v, 1); }
void lvm_state_put_u16(struct lvm_state_writer *w, uint16_t v) { put_le(w, v, 2); }
void lvm_state_put_u32(struct lvm_state_writer *w, uint32_t v) { put_le(w, v, 4); }
void lvm_state_put_u64(struct lvm_state_writer *w, uint64_t v) { put_le(w, v, 8); }
void lvm_state_put_bool(struct lvm_state_writer *w, bool v) { put_le(w, v ? 1 : 0, 1); }

void lvm_state_put_blob(struct lvm_state_writer *w, const void *p, size_t n)
{
	lvm_state_put_u32(w, (uint32_t)n);
	lvm_state_put_bytes(w, p, n);
}

static void end_section(struct lvm_state_writer *w)
{
	if (!w->open)
		return;
	w->open = false;
	if (w->failed)
		return;
	uint64_t payload = w->len - (w->section_start + 4);
	if (payload > UINT32_MAX) {
		w->failed = true;
		return;
	}
	for (unsigned i = 0; i < 4; i++)
		w->buf[w->section_start + i] = (uint8_t)(payload >> (8 * i));
}

void lvm_state_begin(struct lvm_state_writer *w, const char *name)
{
	end_section(w);
	size_t n = strlen(name);
	if (n == 0 || n > LVM_STATE_NAME_MAX) {
		w->failed = true;
		return;
	}
	lvm_state_put_u8(w, (uint8_t)n);
	lvm_state_put_bytes(w, name, n);
	w->section_start = w->len;
	lvm_state_put_u32(w, 0); /* the payload length, once the section ends */
	w->open = true;
}

int lvm_state_finish(struct lvm_state_writer *w)
{
	end_section(w);
	return w->failed ? lvm_fail("state: out of memory (or a bad section) while saving") : 0;
}

/* --- reading ------------------------------------------------------------ */

/* The section at *pos: its name and payload; advances *pos.  False if it
 * does not fit in the buffer. */
static bool next_section(const uint8_t *buf, size_t len, size_t *pos, char *name,
			 const uint8_t **payload, size_t *payload_len)
{
	size_t p = *pos;
	if (len - p < 1)
		return false;
	size_t n = buf[p++];
	if (n == 0 || n > LVM_STATE_NAME_MAX || len - p < n + 4)
		return false;
	memcpy(name, buf + p, n);
	name[n] = '\0';
	if (memchr(name, '\0', n))
		return false;
	p += n;
	uint64_t plen = lvm_get_le(buf + p, 4);
	p += 4;
	if (plen > len - p)
		return false;
	*payload = buf + p;
	*payload_len = (size_t)plen;
	*pos = p + (size_t)plen;
	return true;
}

int lvm_state_check(const void *buf, size_t len)
{
	const uint8_t *b = buf;
	char names[256][LVM_STATE_NAME_MAX + 1];
	unsigned count = 0;
	size_t pos = 0;
	while (pos < len) {
		char name[LVM_STATE_NAME_MAX + 1];
		const uint8_t *payload;
		size_t plen;
		if (!next_section(b, len, &pos, name, &payload, &plen))
			return lvm_fail("state: malformed section list at byte %zu", pos);
		if (count == 256)
			return lvm_fail("state: more than 256 sections");
		for (unsigned i = 0; i < count; i++)
			if (strcmp(names[i], name) == 0)
				return lvm_fail("state: section '%s' appears twice", name);
		memcpy(names[count++], name, sizeof(name));
	}
	return 0;
}

static bool find_section(const void *buf, size_t len, const char *name, const uint8_t **payload,
			 size_t *plen)
{
	size_t pos = 0;
	char found[LVM_STATE_NAME_MAX + 1];
	while (pos < len && next_section(buf, len, &pos, found, payload, plen))
		if (strcmp(found, name) == 0)
			return true;
	return false;
}

bool lvm_state_has_section(const void *buf, size_t len, const char *name)
{
	const uint8_t *payload;
	size_t plen;
	return find_section(buf, len, name, &payload, &plen);
}

int lvm_state_section(const void *buf, size_t len, const char *name, struct lvm_state_reader *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	if (!find_section(buf, len, name, &r->p, &r->len))
		return lvm_fail("state: no section '%s' (saved by a machine with other devices?)", name);
	return 0;
}

static const uint8_t *take(struct lvm_state_reader *r, size_t n)
{
	if (r->failed || r->len - r->pos < n) {
		if (!r->failed)
			snprintf(r->why, sizeof(r->why), "truncated");
		r->failed = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->pos;
	r->pos += n;
	return p;
}

static uint64_t get_le(struct lvm_state_reader *r, unsigned n)
{
	const uint8_t *p = take(r, n);
	return p ? lvm_get_le(p, n) : 0;
}

uint8_t lvm_state_get_u8(struct lvm_state_reader *r) { return (uint8_t)get_le(r, 1); }
uint16_t lvm_state_get_u16(struct lvm_state_reader *r) { return (uint16_t)get_le(r, 2); }
uint32_t lvm_state_get_u32(struct lvm_state_reader *r) { return (uint32_t)get_le(r, 4); }
uint64_t lvm_state_get_u64(struct lvm_state_reader *r) { return get_le(r, 8); }

bool lvm_state_get_bool(struct lvm_state_reader *r)
{
	uint8_t v = lvm_state_get_u8(r);
	if (v > 1)
		lvm_state_bad(r, "a flag holds %u (not 0 or 1)", v);
	return v == 1;
}

void lvm_state_get_bytes(struct lvm_state_reader *r, void *out, size_t n)
{
	const uint8_t *p = take(r, n);
	if (p)
		memcpy(out, p, n);
	else if (n)
		memset(out, 0, n);
}

size_t lvm_state_get_blob(struct lvm_state_reader *r, void *out, size_t max)
{
	uint32_t n = lvm_state_get_u32(r);
	if (n > max) {
		lvm_state_bad(r, "a field of %u bytes is longer than its %zu", n, max);
		return 0;
	}
	lvm_state_get_bytes(r, out, n);
	return r->failed ? 0 : n;
}

int lvm_state_bad(struct lvm_state_reader *r, const char *fmt, ...)
{
	if (!r->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->why, sizeof(r->why), fmt, ap);
		va_end(ap);
	}
	r->failed = true;
	return -1;
}

int lvm_state_section_done(struct lvm_state_reader *r)
{
	if (r->failed)
		return lvm_fail("state section '%s': %s", r->name, r->why);
	if (r->pos != r->len)
		return lvm_fail("state section '%s': %zu bytes left over (saved by another version?)",
				r->name, r->len - r->pos);
	return 0;
}

/* --- CRC-32C ------------------------------------------------------------ */

uint32_t lvm_crc32c(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	static int ready; /* benign race: every thread computes the same table */
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1; /* reflected Castagnoli */
			table[i] = c;
		}
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	const uint8_t *p = buf;
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
