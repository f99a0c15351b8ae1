#include "arch/x86/fw/aml.h"

#include <string.h>

#include "arch/x86/fw/fwtable.h"

/* Opcodes and prefixes, ACPI 6.5 §20.3 (AML byte stream byte values). */
#define ZERO_OP 0x00
#define ONE_OP 0x01
#define NAME_OP 0x08
#define BYTE_PREFIX 0x0a
#define WORD_PREFIX 0x0b
#define DWORD_PREFIX 0x0c
#define STRING_PREFIX 0x0d
#define QWORD_PREFIX 0x0e
#define SCOPE_OP 0x10
#define BUFFER_OP 0x11
#define PACKAGE_OP 0x12
#define METHOD_OP 0x14
#define DUAL_NAME_PREFIX 0x2e
#define MULTI_NAME_PREFIX 0x2f
#define EXT_OP_PREFIX 0x5b
#define DEVICE_OP 0x82 /* after EXT_OP_PREFIX */
#define ROOT_CHAR 0x5c
#define PARENT_PREFIX_CHAR 0x5e
#define RETURN_OP 0xa4

/* Resource descriptor tags (§6.4.2, §6.4.3). */
#define RES_IRQ_NOFLAGS 0x22 /* small item 0x04, length 2 */
#define RES_IO 0x47          /* small item 0x08, length 7 */
#define RES_END_TAG 0x79     /* small item 0x0f, length 1 */
#define RES_MEMORY32_FIXED 0x86
#define RES_EXT_INTERRUPT 0x89
#define RES_DWORD_SPACE 0x87   /* large item 0x07: DWord Address Space */
#define RES_WORD_SPACE 0x88    /* large item 0x08: Word Address Space */

#define PKG_LENGTH_MAX 0x0fffffffu /* 28 bits (§20.2.4) */

void lvm_aml_init(struct lvm_aml *a, uint8_t *buf, size_t cap)
{
	*a = (struct lvm_aml){ .buf = buf, .cap = cap };
}

size_t lvm_aml_finish(struct lvm_aml *a)
{
	return a->failed || a->depth ? 0 : a->len;
}

void lvm_aml_bytes(struct lvm_aml *a, const void *p, size_t n)
{
	if (a->failed || n > a->cap - a->len) {
		a->failed = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void byte(struct lvm_aml *a, uint8_t b)
{
	lvm_aml_bytes(a, &b, 1);
}

static bool seg_char(char c, bool first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* One NameSeg from `s` (up to '.' or the end), padded with '_'; returns its length or 0. */
static size_t name_seg(const char *s, uint8_t seg[4])
{
	size_t n = 0;
	while (s[n] && s[n] != '.') {
		if (n == 4 || !seg_char(s[n], n == 0))
			return 0;
		seg[n] = (uint8_t)s[n];
		n++;
	}
	for (size_t i = n; i < 4; i++)
		seg[i] = '_';
	return n;
}

static unsigned count_segs(const char *s)
{
	unsigned n = *s ? 1 : 0;
	for (; *s; s++)
		n += *s == '.';
	return n;
}

void lvm_aml_name_string(struct lvm_aml *a, const char *path)
{
	if (*path == '\\')
		byte(a, ROOT_CHAR), path++;
	else
		while (*path == '^')
			byte(a, PARENT_PREFIX_CHAR), path++;
	unsigned n = count_segs(path);
	if (n == 0)
		byte(a, 0); /* NullName */
	else if (n == 2)
		byte(a, DUAL_NAME_PREFIX);
	else if (n > 2)
		byte(a, MULTI_NAME_PREFIX), byte(a, (uint8_t)n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t seg[4];
		size_t len = name_seg(path, seg);
		if (len == 0 || n > 255) {
			a->failed = true;
			return;
		}
		lvm_aml_bytes(a, seg, 4);
		path += len + (path[len] == '.');
	}
}

void lvm_aml_integer(struct lvm_aml *a, uint64_t v)
{
	uint8_t b[9];
	size_t n;
	if (v <= 1) {
		byte(a, v ? ONE_OP : ZERO_OP);
		return;
	}
	if (v <= 0xff)
		b[0] = BYTE_PREFIX, n = 1;
	else if (v <= 0xffff)
		b[0] = WORD_PREFIX, n = 2;
	else if (v <= 0xffffffffu)
		b[0] = DWORD_PREFIX, n = 4;
	else
		b[0] = QWORD_PREFIX, n = 8;
	for (size_t i = 0; i < n; i++)
		b[1 + i] = (uint8_t)(v >> (8 * i));
	lvm_aml_bytes(a, b, n + 1);
}

void lvm_aml_string(struct lvm_aml *a, const char *s)
{
	byte(a, STRING_PREFIX);
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++)
		if ((uint8_t)s[i] > 0x7f)
			a->failed = true; /* AsciiCharList: 0x01-0x7f */
	lvm_aml_bytes(a, s, n + 1);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Three letters in 5 bits each ('A' = 1) and four hex digits, stored big-endian. */
void lvm_aml_eisaid(struct lvm_aml *a, const char *id)
{
	uint32_t v = 0;
	if (strlen(id) != 7) {
		a->failed = true;
		return;
	}
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			a->failed = true;
		v = v << 5 | (uint32_t)(id[i] - 0x40);
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);
		if (d < 0)
			a->failed = true;
		v = v << 4 | (uint32_t)(d & 0xf);
	}
	uint8_t b[5] = { DWORD_PREFIX, (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
			 (uint8_t)v };
	lvm_aml_bytes(a, b, sizeof(b));
}

void lvm_aml_name(struct lvm_aml *a, const char *path)
{
	byte(a, NAME_OP);
	lvm_aml_name_string(a, path);
}

void lvm_aml_return(struct lvm_aml *a)
{
	byte(a, RETURN_OP);
}

static void open_object(struct lvm_aml *a, bool buffer)
{
	if (a->depth == LVM_AML_DEPTH) {
		a->failed = true;
		return;
	}
	a->open[a->depth].body = a->len;
	a->open[a->depth].buffer = buffer;
	a->open[a->depth].resources = false;
	a->depth++;
}

void lvm_aml_scope_begin(struct lvm_aml *a, const char *path)
{
	byte(a, SCOPE_OP);
	open_object(a, false);
	lvm_aml_name_string(a, path);
}

void lvm_aml_device_begin(struct lvm_aml *a, const char *path)
{
	byte(a, EXT_OP_PREFIX);
	byte(a, DEVICE_OP);
	open_object(a, false);
	lvm_aml_name_string(a, path);
}

void lvm_aml_method_begin(struct lvm_aml *a, const char *path, unsigned nargs, bool serialized)
{
	byte(a, METHOD_OP);
	open_object(a, false);
	lvm_aml_name_string(a, path);
	if (nargs > 7)
		a->failed = true;
	byte(a, (uint8_t)((nargs & 7) | (serialized ? 1u << 3 : 0)));
}

void lvm_aml_package_begin(struct lvm_aml *a, unsigned count)
{
	byte(a, PACKAGE_OP);
	open_object(a, false);
	if (count > 255)
		a->failed = true;
	byte(a, (uint8_t)count);
}

void lvm_aml_buffer_begin(struct lvm_aml *a)
{
	byte(a, BUFFER_OP);
	open_object(a, true);
}

void lvm_aml_resources_begin(struct lvm_aml *a)
{
	lvm_aml_buffer_begin(a);
	if (a->depth)
		a->open[a->depth - 1].resources = true;
}

/* PkgLength (§20.2.4) for a body of `body` bytes: 1-4 bytes, counting itself. */
static size_t pkg_length(uint8_t out[4], size_t body)
{
	size_t n = body + 1 <= 0x3f ? 1 : body + 2 <= 0xfff ? 2 : body + 3 <= 0xfffff ? 3 : 4;
	size_t total = body + n;
	if (n == 1) {
		out[0] = (uint8_t)total;
		return 1;
	}
	out[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
	for (size_t i = 1; i < n; i++)
		out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	return n;
}

void lvm_aml_end(struct lvm_aml *a)
{
	if (a->depth == 0) {
		a->failed = true;
		return;
	}
	if (a->open[a->depth - 1].resources) {
		uint8_t end[2] = { RES_END_TAG, 0 }; /* checksum 0: "treat as correct" */
		lvm_aml_bytes(a, end, 2);
	}
	a->depth--;
	size_t at = a->open[a->depth].body, body = a->len - at;
	uint8_t head[13];
	size_t size_len = 0;
	if (a->open[a->depth].buffer) { /* BufferSize, encoded like any integer */
		struct lvm_aml tmp;
		lvm_aml_init(&tmp, head + 4, 9);
		lvm_aml_integer(&tmp, body);
		size_len = tmp.len;
	}
	uint8_t pkg[4];
	size_t pkg_len = pkg_length(pkg, body + size_len);
	if (a->failed || body + size_len + pkg_len > PKG_LENGTH_MAX ||
	    pkg_len + size_len > a->cap - a->len) {
		a->failed = true;
		return;
	}
	memmove(head + pkg_len, head + 4, size_len);
	memcpy(head, pkg, pkg_len);
	memmove(a->buf + at + pkg_len + size_len, a->buf + at, body);
	memcpy(a->buf + at, head, pkg_len + size_len);
	a->len += pkg_len + size_len;
}

void lvm_aml_memory32_fixed(struct lvm_aml *a, bool writable, uint32_t base, uint32_t len)
{
	uint8_t d[12] = { RES_MEMORY32_FIXED, 9, 0, writable ? 1 : 0 };
	lvm_put32(d + 4, base);
	lvm_put32(d + 8, len);
	lvm_aml_bytes(a, d, sizeof(d));
}

void lvm_aml_interrupt(struct lvm_aml *a, unsigned flags, uint32_t gsi)
{
	uint8_t d[9] = { RES_EXT_INTERRUPT, 6, 0, (uint8_t)(flags & 0x1f), 1 };
	lvm_put32(d + 5, gsi);
	lvm_aml_bytes(a, d, sizeof(d));
}

void lvm_aml_io(struct lvm_aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	uint8_t d[8] = { RES_IO, 1 /* 16-bit decode */ };
	lvm_put16(d + 2, min);
	lvm_put16(d + 4, max);
	d[6] = align;
	d[7] = len;
	lvm_aml_bytes(a, d, sizeof(d));
}

void lvm_aml_irq_noflags(struct lvm_aml *a, uint16_t mask)
{
	uint8_t d[3] = { RES_IRQ_NOFLAGS, (uint8_t)mask, (uint8_t)(mask >> 8) };
	lvm_aml_bytes(a, d, sizeof(d));
}

/* §6.4.3.5: resource types and the general flags of a producer whose
 * window is fixed at both ends (MIF, MAF; positive decode). */
#define SPACE_MEMORY 0
#define SPACE_IO 1
#define SPACE_BUS 2
#define SPACE_PRODUCER_FIXED 0x0c
#define IO_ENTIRE_RANGE 0x03  /* table 6.50: _RNG = 3 */
#define MEM_READ_WRITE 0x01   /* table 6.49: _RW = 1, _MEM = 0 (non-cacheable) */

static void word_space(struct lvm_aml *a, uint8_t type, uint8_t type_flags, uint16_t min,
		       uint16_t max)
{
	uint8_t d[16] = { RES_WORD_SPACE, 13, 0, type, SPACE_PRODUCER_FIXED, type_flags };
	lvm_put16(d + 8, min);
	lvm_put16(d + 10, max);
	lvm_put16(d + 14, (uint16_t)(max - min + 1));
	lvm_aml_bytes(a, d, sizeof(d));
}

void lvm_aml_word_bus_number(struct lvm_aml *a, uint16_t min, uint16_t max)
{
	word_space(a, SPACE_BUS, 0, min, max);
}

void lvm_aml_word_io(struct lvm_aml *a, uint16_t min, uint16_t max)
{
	word_space(a, SPACE_IO, IO_ENTIRE_RANGE, min, max);
}

void lvm_aml_dword_memory(struct lvm_aml *a, uint32_t min, uint32_t max)
{
	uint8_t d[26] = { RES_DWORD_SPACE, 23, 0, SPACE_MEMORY, SPACE_PRODUCER_FIXED,
			  MEM_READ_WRITE };
	lvm_put32(d + 10, min);
	lvm_put32(d + 14, max);
	lvm_put32(d + 22, max - min + 1);
	lvm_aml_bytes(a, d, sizeof(d));
}
