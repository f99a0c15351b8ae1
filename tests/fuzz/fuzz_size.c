/*
 * libFuzzer target for size strings ("256M", "1GiB", "4096": size.c).
 * A size that parses must print back to the same number of bytes.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/size.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	uint64_t bytes;
	if (lvm_parse_size(text, &bytes) == 0) {
		char again[32];
		uint64_t back;
		snprintf(again, sizeof(again), "%" PRIu64, bytes);
		if (bytes == 0 || lvm_parse_size(again, &back) != 0 || back != bytes)
			abort();
	}
	free(text);
	return 0;
}
