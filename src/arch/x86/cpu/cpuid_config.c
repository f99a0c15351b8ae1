#include "arch/x86/cpu/cpuid_config.h"

#include <string.h>

#include "util/error.h"

static int feature_list(const struct lvm_value *v, const char *key, uint64_t *set)
{
	if (!v)
		return 0;
	if (v->type != LVM_VALUE_TABLE)
		return lvm_fail("cpuid.%s must be a list of feature names, not a %s", key,
				lvm_value_type_name(v));
	int64_t n = lvm_value_len(v);
	for (int64_t i = 1; i <= n; i++) {
		const struct lvm_value *item = lvm_value_item(v, i);
		if (item->type != LVM_VALUE_STRING)
			return lvm_fail("cpuid.%s[%lld] must be a feature name (a string), not a %s", key,
					(long long)i, lvm_value_type_name(item));
		int feature = lvm_cpuid_feature_find(item->str);
		if (feature < 0)
			return lvm_fail("cpuid.%s: unknown feature '%s'", key, item->str);
		lvm_cpuid_overrides_add(set, (unsigned)feature);
	}
	return 0;
}

int lvm_x86_cpuid_parse(const struct lvm_value *v, struct lvm_cpuid_overrides *out)
{
	static const char *const keys[] = { "hide", "force", NULL };
	memset(out, 0, sizeof(*out));
	if (v->type != LVM_VALUE_TABLE)
		return lvm_fail("cpuid must be a table, not a %s", lvm_value_type_name(v));
	if (lvm_value_check_keys(v, "cpuid", keys, "expected hide or force") < 0 ||
	    feature_list(lvm_value_get(v, "hide"), "hide", out->hide) < 0 ||
	    feature_list(lvm_value_get(v, "force"), "force", out->force) < 0)
		return -1;
	for (unsigned i = 0; i < lvm_cpuid_feature_count; i++)
		if (lvm_cpuid_overrides_has(out->hide, i) && lvm_cpuid_overrides_has(out->force, i))
			return lvm_fail("cpuid: '%s' is both hidden and forced", lvm_cpuid_features[i].name);
	return 0;
}
