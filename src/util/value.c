#include "util/value.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

const struct lvm_value *lvm_value_get(const struct lvm_value *table, const char *key)
{
	if (!table || table->type != LVM_VALUE_TABLE)
		return NULL;
	for (unsigned i = 0; i < table->nfields; i++)
		if (table->fields[i].key && strcmp(table->fields[i].key, key) == 0)
			return &table->fields[i].value;
	return NULL;
}

const struct lvm_value *lvm_value_item(const struct lvm_value *list, int64_t i)
{
	if (!list || list->type != LVM_VALUE_TABLE)
		return NULL;
	for (unsigned k = 0; k < list->nfields; k++)
		if (!list->fields[k].key && list->fields[k].index == i)
			return &list->fields[k].value;
	return NULL;
}

int64_t lvm_value_len(const struct lvm_value *list)
{
	int64_t n = 0;
	while (lvm_value_item(list, n + 1))
		n++;
	return n;
}

const char *lvm_value_type_name(const struct lvm_value *v)
{
	if (!v)
		return "nil";
	if (v->type_name)
		return v->type_name;
	switch (v->type) {
	case LVM_VALUE_NIL: return "nil";
	case LVM_VALUE_BOOLEAN: return "boolean";
	case LVM_VALUE_INTEGER:
	case LVM_VALUE_NUMBER: return "number";
	case LVM_VALUE_STRING: return "string";
	case LVM_VALUE_TABLE: return "table";
	case LVM_VALUE_OTHER: break;
	}
	return "value";
}

const char *lvm_value_show(const struct lvm_value *v, char *buf, size_t n)
{
	if (v && v->type == LVM_VALUE_STRING)
		snprintf(buf, n, "%.*s", (int)(v->len < 200 ? v->len : 200), v->str);
	else if (v && v->type == LVM_VALUE_INTEGER)
		snprintf(buf, n, "%lld", (long long)v->integer);
	else if (v && v->type == LVM_VALUE_NUMBER)
		snprintf(buf, n, "%.14g", v->number);
	else if (v && v->type == LVM_VALUE_BOOLEAN)
		snprintf(buf, n, "%s", v->boolean ? "true" : "false");
	else
		snprintf(buf, n, "a %s", lvm_value_type_name(v));
	return buf;
}

int lvm_value_check_keys(const struct lvm_value *table, const char *where,
			 const char *const *allowed, const char *allowed_text)
{
	for (unsigned i = 0; table && i < table->nfields; i++) {
		const char *key = table->fields[i].key;
		char number[32];
		if (!key) {
			snprintf(number, sizeof(number), "%lld", (long long)table->fields[i].index);
			key = number;
		}
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = strcmp(*a, key) == 0;
		if (!known)
			return allowed_text ? lvm_fail("%s: unknown key '%s' (%s)", where, key, allowed_text)
					    : lvm_fail("%s: unknown key '%s'", where, key);
	}
	return 0;
}
