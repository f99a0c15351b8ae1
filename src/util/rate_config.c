#include "util/rate_config.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "util/size.h"

/* A bucket field: a non-negative integer, or for byte sizes a string like "10M". */
static int bucket_number(const struct lvm_value *v, const char *where, const char *bucket,
			 const char *key, bool size_ok, uint64_t *out)
{
	if (v->type == LVM_VALUE_INTEGER && v->integer >= 0) {
		*out = (uint64_t)v->integer;
		return 0;
	}
	if (size_ok && v->type == LVM_VALUE_STRING && lvm_parse_size(v->str, out) == 0)
		return 0;
	char shown[256];
	return lvm_fail("%s.%s.%s must be a non-negative integer%s, not %s", where, bucket, key,
			size_ok ? " or a size like \"10M\"" : "", lvm_value_show(v, shown, sizeof(shown)));
}

static int bucket_table(const struct lvm_value *v, const char *where, const char *bucket,
			struct lvm_bucket_config *c)
{
	static const char *const keys[] = { "size", "refill_ms", "burst", NULL };
	if (v->type != LVM_VALUE_TABLE)
		return lvm_fail("%s.%s must be a table {size=, refill_ms=, burst=}, not a %s", where,
				bucket, lvm_value_type_name(v));
	char at[256];
	snprintf(at, sizeof(at), "%s.%s", where, bucket);
	if (lvm_value_check_keys(v, at, keys, "size, refill_ms, burst") < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	bool bytes = strcmp(bucket, "bandwidth") == 0;
	const struct lvm_value *f;
	if ((f = lvm_value_get(v, "size")) && bucket_number(f, where, bucket, "size", bytes, &c->size) < 0)
		return -1;
	if ((f = lvm_value_get(v, "burst")) &&
	    bucket_number(f, where, bucket, "burst", bytes, &c->one_time_burst) < 0)
		return -1;
	if ((f = lvm_value_get(v, "refill_ms")) &&
	    bucket_number(f, where, bucket, "refill_ms", false, &c->refill_ms) < 0)
		return -1;
	return 0;
}

int lvm_rate_config_parse(const struct lvm_value *v, const char *where, struct lvm_rate_config *rc)
{
	static const char *const keys[] = { "bandwidth", "ops", NULL };
	memset(rc, 0, sizeof(*rc));
	if (!v || v->type != LVM_VALUE_TABLE)
		return lvm_fail("%s must be a table {bandwidth = {...}, ops = {...}}, not a %s", where,
				lvm_value_type_name(v));
	if (lvm_value_check_keys(v, where, keys, "bandwidth, ops") < 0)
		return -1;
	const struct lvm_value *f;
	if ((f = lvm_value_get(v, "bandwidth"))) {
		if (bucket_table(f, where, "bandwidth", &rc->bandwidth) < 0)
			return -1;
		rc->has_bandwidth = true;
	}
	if ((f = lvm_value_get(v, "ops"))) {
		if (bucket_table(f, where, "ops", &rc->ops) < 0)
			return -1;
		rc->has_ops = true;
	}
	return 0;
}
