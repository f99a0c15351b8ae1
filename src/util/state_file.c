#include "util/state_file.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "util/le.h"
#include "util/state.h"

#define MAGIC "LUAVMMST"

void lvm_state_file_header(uint8_t out[LVM_STATE_HEADER_BYTES], const struct lvm_state_header *h,
			   const void *body, size_t body_len)
{
	memset(out, 0, LVM_STATE_HEADER_BYTES);
	memcpy(out, MAGIC, 8);
	lvm_put_le(out + 8, LVM_STATE_FORMAT, 4);
	lvm_put_le(out + 12, LVM_STATE_HEADER_BYTES, 4);
	memcpy(out + 16, h->version, strnlen(h->version, 32));
	lvm_put_le(out + 48, h->cpu_digest, 4);
	lvm_put_le(out + 52, h->cpus, 4);
	lvm_put_le(out + 56, h->ram, 8);
	lvm_put_le(out + 64, body_len, 8);
	lvm_put_le(out + 72, lvm_crc32c(0, body, body_len), 4);
}

int lvm_state_file_parse(const void *file, size_t len, const char *version,
			 struct lvm_state_header *h, const uint8_t **body, size_t *body_len)
{
	const uint8_t *f = file;
	if (len < 16)
		return lvm_fail("truncated (%zu bytes: not even a header)", len);
	if (memcmp(f, MAGIC, 8) != 0)
		return lvm_fail("not a luavmm state file (bad magic)");
	uint32_t format = (uint32_t)lvm_get_le(f + 8, 4), hlen = (uint32_t)lvm_get_le(f + 12, 4);
	if (format != LVM_STATE_FORMAT || hlen != LVM_STATE_HEADER_BYTES)
		return lvm_fail("state format %u, this luavmm reads format %u", format, LVM_STATE_FORMAT);
	if (len < LVM_STATE_HEADER_BYTES)
		return lvm_fail("truncated header (%zu bytes)", len);
	memset(h, 0, sizeof(*h));
	memcpy(h->version, f + 16, 32);
	if (strcmp(h->version, version) != 0)
		return lvm_fail("made by luavmm %s, this is luavmm %s", h->version, version);
	h->cpu_digest = (uint32_t)lvm_get_le(f + 48, 4);
	h->cpus = (uint32_t)lvm_get_le(f + 52, 4);
	h->ram = lvm_get_le(f + 56, 8);
	uint64_t blen = lvm_get_le(f + 64, 8);
	if (blen > LVM_STATE_BODY_MAX || len - LVM_STATE_HEADER_BYTES != blen)
		return lvm_fail("truncated or padded (%zu bytes, the header says %llu)", len,
				(unsigned long long)(LVM_STATE_HEADER_BYTES + blen));
	*body = f + LVM_STATE_HEADER_BYTES;
	*body_len = (size_t)blen;
	if (lvm_crc32c(0, *body, *body_len) != (uint32_t)lvm_get_le(f + 72, 4))
		return lvm_fail("corrupt (checksum mismatch)");
	if (h->cpus == 0 || h->ram == 0)
		return lvm_fail("corrupt (a machine of %u vCPUs and %llu bytes)", h->cpus,
				(unsigned long long)h->ram);
	if (lvm_state_check(*body, *body_len) < 0)
		return lvm_fail_prefix("corrupt: ");
	return 0;
}
