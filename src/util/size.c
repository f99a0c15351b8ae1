#include "util/size.h"

#include <ctype.h>

static int suffix_shift(char c)
{
	switch (toupper((unsigned char)c)) {
	case 'K': return 10;
	case 'M': return 20;
	case 'G': return 30;
	case 'T': return 40;
	case 'P': return 50;
	default: return -1;
	}
}

int lvm_parse_size(const char *text, uint64_t *bytes)
{
	const char *p = text;
	uint64_t value = 0;
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (value > (UINT64_MAX - 9) / 10)
			return -1;
		value = value * 10 + (uint64_t)(*p - '0');
	}
	int shift = 0;
	if (*p) {
		shift = suffix_shift(*p++);
		if (shift < 0)
			return -1;
		if (*p == 'i' || *p == 'I') /* "MiB" */
			p++;
		if (*p == 'B' || *p == 'b')
			p++;
		if (*p)
			return -1;
	}
	if (value == 0 || value > (UINT64_MAX >> shift))
		return -1;
	*bytes = value << shift;
	return 0;
}
