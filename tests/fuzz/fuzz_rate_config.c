/*
 * libFuzzer target for the rate-limit parser (rate_config.c) and the
 * recipe value tree it reads (value.c): the input is decoded into a
 * struct lvm_value tree of any shape (keys mostly from the parser's own
 * vocabulary), parsed, and a configuration that parses is applied to a
 * throttle that then admits a few requests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "util/rate_config.h"
#include "util/throttle.h"
#include "util/value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_NODES 64u
#define MAX_DEPTH 4

struct tree {
	struct lvm_field fields[MAX_NODES];
	unsigned nfields;
	char strings[MAX_NODES][40];
	unsigned nstrings;
};

static const char *string(struct tree *t, struct fz *in, size_t *len)
{
	static const char *const words[] = { "bandwidth", "ops", "size", "refill_ms", "burst",
					     "10M", "1G", "0", "18446744073709551615", "1Ki" };
	uint8_t b = fz_u8(in);
	if (b < 0x80) {
		const char *w = words[b % (sizeof(words) / sizeof(words[0]))];
		*len = strlen(w);
		return w;
	}
	if (t->nstrings == MAX_NODES)
		return *len = 0, "";
	char *s = t->strings[t->nstrings++];
	size_t n = (b & 0x7f) % sizeof(t->strings[0]);
	fz_bytes(in, s, n);
	s[n] = 0;
	*len = n; /* may hold NULs, as a Lua string may */
	return s;
}

static void decode(struct tree *t, struct fz *in, struct lvm_value *v, int depth)
{
	memset(v, 0, sizeof(*v));
	uint8_t kind = fz_u8(in);
	switch (kind % 7) {
	case 0: v->type = LVM_VALUE_NIL; break;
	case 1: v->type = LVM_VALUE_BOOLEAN; v->boolean = kind & 8; break;
	case 2: v->type = LVM_VALUE_INTEGER; v->integer = (int64_t)fz_u64(in); break;
	case 3: {
		v->type = LVM_VALUE_NUMBER;
		uint64_t bits = fz_u64(in);
		memcpy(&v->number, &bits, sizeof(bits));
		break;
	}
	case 4: v->type = LVM_VALUE_STRING; v->str = string(t, in, &v->len); break;
	case 5: {
		v->type = LVM_VALUE_TABLE;
		unsigned n = (kind >> 3) % 5;
		if (depth >= MAX_DEPTH || t->nfields + n > MAX_NODES)
			n = 0;
		struct lvm_field *f = &t->fields[t->nfields];
		t->nfields += n;
		v->fields = f;
		v->nfields = n;
		for (unsigned i = 0; i < n; i++) {
			size_t len;
			if (fz_u8(in) & 1) {
				f[i].key = NULL;
				f[i].index = (int8_t)fz_u8(in);
			} else {
				f[i].key = string(t, in, &len);
			}
			decode(t, in, &f[i].value, depth + 1);
		}
		break;
	}
	default: v->type = LVM_VALUE_OTHER; v->type_name = (kind & 8) ? "function" : NULL; break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	static struct tree t;
	t.nfields = t.nstrings = 0;
	struct lvm_value root;
	decode(&t, &in, &root, 0);

	char shown[64];
	lvm_value_show(&root, shown, sizeof(shown));
	lvm_value_len(&root);
	lvm_value_item(&root, 1);
	static const char *const allowed[] = { "bandwidth", "ops", NULL };
	if (root.type == LVM_VALUE_TABLE) /* its contract: callers check the type first */
		lvm_value_check_keys(&root, "t", allowed, NULL);

	struct lvm_rate_config rc;
	if (lvm_rate_config_parse(&root, "disks.d.rate_limit", &rc) == 0) {
		struct lvm_throttle th;
		lvm_throttle_init(&th);
		if (lvm_throttle_configure(&th, &rc) == 0)
			for (unsigned i = 0; i < 4; i++)
				lvm_throttle_admit(&th, fz_u32(&in));
		lvm_throttle_destroy(&th);
	}
	return 0;
}
