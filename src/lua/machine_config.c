/*
 * luavmm.machine{...}: the recipe's table.  The keys about how Lua runs
 * the machine (console, stdin, hooks, control) and its size and kernel are
 * read here; the keys the machine owns (cpuid and every device key of its
 * device table) are handed down as a util/value.h tree and validated
 * there.  Any other key is an error that names it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lua/binding.h"
#include "machine/machine.h"
#include "util/error.h"
#include "util/size.h"

struct key_spec {
	const char *name;
	int type; /* LUA_T* expected, or -1 for "validated below" */
};

static const struct key_spec lua_keys[] = {
	{ "name", LUA_TSTRING },   { "cpus", LUA_TNUMBER },    { "memory", -1 },
	{ "kernel", LUA_TSTRING }, { "cmdline", LUA_TSTRING }, { "console", -1 },
	{ "stdin", LUA_TBOOLEAN }, { "hook_limit", -1 },       { "on_hook_error", LUA_TSTRING },
	{ "control", LUA_TSTRING }, { "initrd", LUA_TSTRING }, { "boot", LUA_TSTRING },
	{ "hook_timeout", LUA_TNUMBER }, { "on_reset", LUA_TSTRING },
};

static const struct key_spec *find_key(const char *name)
{
	for (size_t i = 0; i < sizeof(lua_keys) / sizeof(lua_keys[0]); i++)
		if (strcmp(lua_keys[i].name, name) == 0)
			return &lua_keys[i];
	return NULL;
}

/* Rejects unknown keys and wrongly typed keys of ours. */
static void check_keys(lua_State *L, int t)
{
	lua_pushnil(L);
	while (lua_next(L, t)) {
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_error(L, "machine: keys must be strings (got a %s key)",
				   luaL_typename(L, -2));
		const char *key = lua_tostring(L, -2);
		const struct key_spec *spec = find_key(key);
		if (!spec && !lvm_machine_owns_key(key))
			luaL_error(L, "machine: unknown key '%s'", key);
		if (spec && spec->type >= 0 && lua_type(L, -1) != spec->type)
			luaL_error(L, "machine: %s must be a %s, not a %s", key,
				   lua_typename(L, spec->type), luaL_typename(L, -1));
		lua_pop(L, 1);
	}
}

/* memory = a number of MiB (as qemu -m) or a string with a unit: "256M",
 * "1G", "4096K".  A string without a unit is refused: it would be read as
 * bytes by some tools and MiB by others. */
static uint64_t memory_field(lua_State *L, int t)
{
	uint64_t bytes = 128ull << 20;
	int type = lua_getfield(L, t, "memory");
	if (type == LUA_TSTRING) {
		const char *text = lua_tostring(L, -1);
		size_t len = strlen(text);
		if (lvm_parse_size(text, &bytes) < 0)
			luaL_error(L, "machine: memory = \"%s\" is not a size (write e.g. \"256M\" or \"1G\")",
				   text);
		if (len > 0 && text[len - 1] >= '0' && text[len - 1] <= '9')
			luaL_error(L, "machine: memory = \"%s\" has no unit (write \"%sM\" for MiB, or the number %s)",
				   text, text, text);
	} else if (type == LUA_TNUMBER && lua_isinteger(L, -1)) {
		lua_Integer mib = lua_tointeger(L, -1);
		if (mib <= 0 || mib > (lua_Integer)(1ll << 40))
			luaL_error(L, "machine: memory = %I MiB is out of range", (LUAI_UACINT)mib);
		bytes = (uint64_t)mib << 20;
	} else if (type != LUA_TNIL) {
		luaL_error(L, "machine: memory must be a size string like \"256M\" or a whole number of MiB, not %s",
			   luaL_tolstring(L, -1, NULL));
	}
	lua_pop(L, 1);
	if (bytes < LVM_MEMORY_MIN || bytes % 4096)
		luaL_error(L, "machine: memory must be a multiple of 4K and at least 4M (got %I bytes)",
			   (LUAI_UACINT)bytes);
	return bytes;
}

static unsigned cpus_field(lua_State *L, int t)
{
	lua_Integer cpus = 1;
	if (lua_getfield(L, t, "cpus") != LUA_TNIL) {
		if (!lua_isinteger(L, -1))
			luaL_error(L, "machine: cpus must be an integer");
		cpus = lua_tointeger(L, -1);
	}
	lua_pop(L, 1);
	if (cpus < 1 || cpus > 4096)
		luaL_error(L, "machine: cpus = %I is out of range (at least 1)", (LUAI_UACINT)cpus);
	return (unsigned)cpus;
}

static const char *string_field(lua_State *L, int t, const char *key)
{
	lua_getfield(L, t, key);
	const char *s = lua_tostring(L, -1); /* the table keeps it alive */
	lua_pop(L, 1);
	return s;
}

/* console = "stdout" (default) | "stderr" | a file path | false | function(chunk). */
static void console_field(lua_State *L, int t, struct lvm_lua_machine *m,
			  struct lvm_machine_config *config)
{
	config->console_fd = -1;
	int type = lua_getfield(L, t, "console");
	const char *s = type == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	if (type == LUA_TNIL || (s && strcmp(s, "stdout") == 0)) {
		config->console_fd = STDOUT_FILENO;
	} else if (s && strcmp(s, "stderr") == 0) {
		config->console_fd = STDERR_FILENO;
	} else if (s) {
		config->console_path = s; /* opened by the machine once all else succeeded */
	} else if (type == LUA_TFUNCTION) {
		lua_pushvalue(L, -1);
		m->sink_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	} else if (!(type == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
		luaL_error(L, "machine: console must be \"stdout\", \"stderr\", a file path, false or a function, not a %s",
			   luaL_typename(L, -1));
	}
	lua_pop(L, 1);
}

/* hook_limit = Lua instructions a hook call may run (default 100 million). */
static void hook_limit_field(lua_State *L, int t, struct lvm_lua_machine *m)
{
	if (lua_getfield(L, t, "hook_limit") != LUA_TNIL) {
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
		    lua_tointeger(L, -1) > 0x7fffffff)
			luaL_error(L, "machine: hook_limit must be an integer from 1 to 2147483647 (Lua instructions per hook call), got %s",
				   luaL_tolstring(L, -1, NULL));
		m->hook_limit = (int)lua_tointeger(L, -1);
	}
	lua_pop(L, 1);
}

/* hook_timeout = wall-clock seconds a hook call may take (default 10),
 * time in C functions and coroutines included (limits.c). */
static void hook_timeout_field(lua_State *L, int t, struct lvm_lua_machine *m)
{
	if (lua_getfield(L, t, "hook_timeout") != LUA_TNIL) {
		lua_Number s = lua_tonumber(L, -1);
		if (!(s > 0 && s <= 86400))
			luaL_error(L, "machine: hook_timeout must be a number of seconds above 0 and at most 86400, got %s",
				   luaL_tolstring(L, -1, NULL));
		m->hook_timeout = s;
	}
	lua_pop(L, 1);
}

/* on_hook_error = "stop" (default) | "continue". */
static void on_hook_error_field(lua_State *L, int t, struct lvm_lua_machine *m)
{
	const char *how = string_field(L, t, "on_hook_error");
	if (!how || strcmp(how, "stop") == 0)
		m->continue_on_error = false;
	else if (strcmp(how, "continue") == 0)
		m->continue_on_error = true;
	else
		luaL_error(L, "machine: on_hook_error must be \"stop\" or \"continue\", not \"%s\"", how);
}

/* on_reset = "stop" (default: the machine stops with reason "reset") |
 * "restart" (it powers on again in place, as a PC's reset does). */
static void on_reset_field(lua_State *L, int t, struct lvm_lua_machine *m)
{
	const char *how = string_field(L, t, "on_reset");
	if (!how || strcmp(how, "stop") == 0)
		m->restart_on_reset = false;
	else if (strcmp(how, "restart") == 0)
		m->restart_on_reset = true;
	else
		luaL_error(L, "machine: on_reset must be \"stop\" or \"restart\", not \"%s\"", how);
}

struct lvm_machine *lvm_lua_create_machine(lua_State *L, int t, struct lvm_lua_machine *m,
					   const struct lvm_saved_state *restore)
{
	t = lua_absindex(L, t);
	luaL_checktype(L, t, LUA_TTABLE);
	check_keys(L, t);
	struct lvm_machine_config config = {
		.mem_size = memory_field(L, t),
		.ncpus = cpus_field(L, t),
		.kernel = string_field(L, t, "kernel"),
		.cmdline = string_field(L, t, "cmdline"),
		.initrd = string_field(L, t, "initrd"),
		.boot = string_field(L, t, "boot"),
		.allow = lvm_lua_allow_enforced ? lvm_lua_allow_check : NULL, /* --sandbox */
		.restore = restore,
	};
	if (!config.kernel && !restore)
		luaL_error(L, "machine: kernel is required (the path of the guest to boot)");
	const char *name = string_field(L, t, "name");
	snprintf(m->name, sizeof(m->name), "%s", name ? name : "");
	lua_getfield(L, t, "stdin");
	m->stdin_input = lua_toboolean(L, -1);
	lua_pop(L, 1);
	hook_limit_field(L, t, m);
	hook_timeout_field(L, t, m);
	on_hook_error_field(L, t, m);
	on_reset_field(L, t, m);
	config.restartable = m->restart_on_reset;
	console_field(L, t, m, &config); /* a path is only recorded here */
	config.recipe = lvm_lua_to_value(L, t);
	struct lvm_machine *machine = lvm_machine_create(&config);
	if (!machine)
		luaL_error(L, "machine: %s", lvm_error());
	lua_pop(L, 1); /* the value tree's anchor */
	return machine;
}
