/*
 * libFuzzer target for saved state (util/state.h, util/state_file.h): a
 * whole state file, and (the checksum would stop most inputs there) a
 * bare section list whose sections are read with every getter.  Nothing
 * may read out of bounds, and a list that passes the check must give a
 * reader for each of its sections.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/state.h"
#include "util/state_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a section field by field, the kinds chosen by its own bytes. */
static void read_all(const uint8_t *body, size_t len, const char *name)
{
	struct lvm_state_reader r;
	if (lvm_state_section(body, len, name, &r) < 0)
		abort(); /* the check passed: every name it saw is there */
	uint8_t blob[64];
	for (unsigned i = 0; i < 64 && !r.failed && r.pos < r.len; i++) {
		switch (r.p[r.pos] % 7) {
		case 0: lvm_state_get_u8(&r); break;
		case 1: lvm_state_get_u16(&r); break;
		case 2: lvm_state_get_u32(&r); break;
		case 3: lvm_state_get_u64(&r); break;
		case 4: lvm_state_get_bool(&r); break;
		case 5: lvm_state_get_blob(&r, blob, sizeof(blob)); break;
		default: lvm_state_get_bytes(&r, blob, 3); break;
		}
	}
	lvm_state_section_done(&r);
}

static void walk(const uint8_t *body, size_t len)
{
	if (lvm_state_check(body, len) < 0)
		return;
	size_t pos = 0;
	while (pos < len) {
		size_t n = body[pos];
		char name[LVM_STATE_NAME_MAX + 1];
		memcpy(name, body + pos + 1, n);
		name[n] = 0;
		read_all(body, len, name);
		uint32_t plen = (uint32_t)body[pos + 1 + n] | (uint32_t)body[pos + 2 + n] << 8 |
				(uint32_t)body[pos + 3 + n] << 16 | (uint32_t)body[pos + 4 + n] << 24;
		pos += 1 + n + 4 + plen;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		struct lvm_state_header h;
		const uint8_t *body;
		size_t len;
		if (lvm_state_file_parse(data + 1, size - 1, "0.1.0", &h, &body, &len) == 0)
			walk(body, len);
	} else {
		walk(data + 1, size - 1);
	}
	return 0;
}
