/*
 * A state file (a snapshot's DIR/state): an 80-byte header, then the
 * section list (util/state.h) it protects with a checksum.  Header, all
 * little-endian:
 *   0  "LUAVMMST"          8  u32 format (1)     12 u32 header bytes (80)
 *   16 char version[32]: the luavmm that wrote it, NUL-padded
 *   48 u32 host CPU digest 52 u32 vCPUs          56 u64 RAM bytes
 *   64 u64 body bytes      72 u32 CRC-32C of the body   76 u32 zero
 */
#ifndef LVM_UTIL_STATE_FILE_H
#define LVM_UTIL_STATE_FILE_H

#include <stddef.h>
#include <stdint.h>

#define LVM_STATE_HEADER_BYTES 80u
#define LVM_STATE_FORMAT 1u
#define LVM_STATE_BODY_MAX (256u << 20) /* far above any machine's state */

struct lvm_state_header {
	char version[33];
	uint32_t cpu_digest;
	uint32_t cpus;
	uint64_t ram;
};

/* The header for `body` (version from h->version). */
void lvm_state_file_header(uint8_t out[LVM_STATE_HEADER_BYTES], const struct lvm_state_header *h,
			   const void *body, size_t body_len);

/*
 * Checks a whole state file held in memory against everything a reader
 * must not trust: magic, format, that `version` wrote it, its length, the
 * checksum and the section list.  Fills *h and points *body into `file`.
 * 0, or -1 + lvm_error saying which check failed ("truncated", "corrupt
 * (checksum mismatch)", "made by luavmm X, this is luavmm Y"...).
 */
int lvm_state_file_parse(const void *file, size_t len, const char *version,
			 struct lvm_state_header *h, const uint8_t **body, size_t *body_len);

#endif
