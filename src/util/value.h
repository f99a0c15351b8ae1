/*
 * A recipe's configuration as plain C data: the Lua layer turns a recipe
 * table into this tree (strings and tables borrowed from the Lua state for
 * the duration of one call), so the layers below it can validate their own
 * keys without including Lua.  Keys are strings or integers (lists).
 */
#ifndef LVM_UTIL_VALUE_H
#define LVM_UTIL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lvm_value_type {
	LVM_VALUE_NIL,
	LVM_VALUE_BOOLEAN,
	LVM_VALUE_INTEGER,
	LVM_VALUE_NUMBER,  /* a float */
	LVM_VALUE_STRING,
	LVM_VALUE_TABLE,
	LVM_VALUE_OTHER,   /* a function, userdata...: its type name; a binding object
			      the core knows by id (a switch) also keeps the id in `integer` */
};

struct lvm_field;

struct lvm_value {
	enum lvm_value_type type;
	const char *type_name; /* the recipe language's name for the type ("function") */
	union {
		bool boolean;
		int64_t integer;
		double number;
		struct {
			const char *str;
			size_t len;
		};
		struct {
			const struct lvm_field *fields;
			unsigned nfields;
		};
	};
};

/* A table entry: a string key, or (key NULL) the integer key `index`. */
struct lvm_field {
	const char *key;
	int64_t index;
	struct lvm_value value;
};

/* The field `key` of a table (NULL for a missing key or a non-table). */
const struct lvm_value *lvm_value_get(const struct lvm_value *table, const char *key);
/* Item i (1-based) of a list, NULL past its end (like Lua's t[i]). */
const struct lvm_value *lvm_value_item(const struct lvm_value *list, int64_t i);
/* The length of a list: the items 1..n present (Lua's border). */
int64_t lvm_value_len(const struct lvm_value *list);
/* "a string", "a table"... for messages like "must be X, not a table". */
const char *lvm_value_type_name(const struct lvm_value *v);
/* The value as a message shows it: the string itself, the number, "true",
 * or its type name.  Writes into buf (n bytes) and returns buf. */
const char *lvm_value_show(const struct lvm_value *v, char *buf, size_t n);
/* Fails (-1 + lvm_error "WHERE: unknown key 'K' (ALLOWED)") if the table
 * has a key not in the NULL-terminated `allowed` list. */
int lvm_value_check_keys(const struct lvm_value *table, const char *where,
			 const char *const *allowed, const char *allowed_text);

#endif
