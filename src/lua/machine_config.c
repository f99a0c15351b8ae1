/*
 * luavmm.machine{...}: validating the recipe's table.  Every key is known
 * and typed; anything else is an error that names the key.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/cpu/cpuid.h"
#include "arch/x86/board.h"
#include "util/error.h"
#include "util/size.h"
#include "lua/binding.h"

struct key_spec {
	const char *name;
	int type;       /* LUA_T* expected, or -1 for "validated below" */
};

static const struct key_spec machine_keys[] = {
	{ "cpuid", LUA_TTABLE },
	{ "name", LUA_TSTRING },   { "cpus", LUA_TNUMBER },    { "memory", -1 },
	{ "kernel", LUA_TSTRING }, { "cmdline", LUA_TSTRING }, { "console", -1 },
	{ "stdin", LUA_TBOOLEAN },
	{ "hook_limit", -1 },      { "on_hook_error", LUA_TSTRING }, { "control", LUA_TSTRING },
	{ "disks", LUA_TTABLE },   { "nets", LUA_TTABLE },     { "rng", LUA_TBOOLEAN },
	{ "virtio_console", LUA_TBOOLEAN },
	{ "initrd", LUA_TSTRING }, { "boot", LUA_TSTRING },
};

static const struct key_spec *find_key(const char *name)
{
	for (size_t i = 0; i < sizeof(machine_keys) / sizeof(machine_keys[0]); i++)
		if (strcmp(machine_keys[i].name, name) == 0)
			return &machine_keys[i];
	return NULL;
}

/* Rejects unknown keys and wrongly typed known ones. */
static void check_keys(lua_State *L, int t)
{
	lua_pushnil(L);
	while (lua_next(L, t)) {
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_error(L, "machine: keys must be strings (got a %s key)",
				   luaL_typename(L, -2));
		const char *key = lua_tostring(L, -2);
		const struct key_spec *spec = find_key(key);
		if (!spec)
			luaL_error(L, "machine: unknown key '%s'", key);
		if (spec->type >= 0 && lua_type(L, -1) != spec->type)
			luaL_error(L, "machine: %s must be a %s, not a %s", key,
				   lua_typename(L, spec->type), luaL_typename(L, -1));
		lua_pop(L, 1);
	}
}

static uint64_t memory_field(lua_State *L, int t)
{
	uint64_t bytes = 0;
	int type = lua_getfield(L, t, "memory");
	if (type == LUA_TNIL) {
		bytes = 128ull << 20;
	} else if (type == LUA_TSTRING) {
		const char *text = lua_tostring(L, -1);
		if (lvm_parse_size(text, &bytes) < 0)
			luaL_error(L, "machine: memory = \"%s\" is not a size (write e.g. \"256M\" or \"1G\")",
				   text);
	} else if (type == LUA_TNUMBER && lua_isinteger(L, -1)) {
		lua_Integer mib = lua_tointeger(L, -1); /* a bare number means MiB, as in qemu -m */
		if (mib <= 0 || mib > (lua_Integer)(1ll << 40))
			luaL_error(L, "machine: memory = %I MiB is out of range", (LUAI_UACINT)mib);
		bytes = (uint64_t)mib << 20;
	} else {
		luaL_error(L, "machine: memory must be a size string like \"256M\" or a number of MiB, not a %s",
			   luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	if (bytes < LVM_MEMORY_MIN || bytes % 4096)
		luaL_error(L, "machine: memory must be a multiple of 4K and at least 4M (got %llu bytes)",
			   (unsigned long long)bytes);
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

/* cpuid.hide / cpuid.force: a list of feature names (cpuid_features.c). */
static void cpuid_feature_list(lua_State *L, int t, const char *key, uint64_t *set)
{
	int type = lua_getfield(L, t, key);
	if (type != LUA_TNIL && type != LUA_TTABLE)
		luaL_error(L, "machine: cpuid.%s must be a list of feature names, not a %s", key,
			   luaL_typename(L, -1));
	lua_Integer n = type == LUA_TTABLE ? (lua_Integer)luaL_len(L, -1) : 0;
	for (lua_Integer i = 1; i <= n; i++) {
		if (lua_geti(L, -1, i) != LUA_TSTRING)
			luaL_error(L, "machine: cpuid.%s[%I] must be a feature name (a string), not a %s",
				   key, (LUAI_UACINT)i, luaL_typename(L, -1));
		const char *name = lua_tostring(L, -1);
		int feature = lvm_cpuid_feature_find(name);
		if (feature < 0)
			luaL_error(L, "machine: cpuid.%s: unknown feature '%s'", key, name);
		lvm_cpuid_overrides_add(set, (unsigned)feature);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

/* cpuid = { hide = {"cx16", ...}, force = {...} } (policy in arch/x86/cpuid.h). */
static const struct lvm_cpuid_overrides *cpuid_field(lua_State *L, int t,
						    struct lvm_cpuid_overrides *policy)
{
	if (lua_getfield(L, t, "cpuid") == LUA_TNIL) {
		lua_pop(L, 1);
		return NULL;
	}
	int c = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, c)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		if (!key || (strcmp(key, "hide") != 0 && strcmp(key, "force") != 0))
			luaL_error(L, "machine: cpuid: unknown key '%s' (expected hide or force)",
				   key ? key : luaL_typename(L, -2));
		lua_pop(L, 1);
	}
	cpuid_feature_list(L, c, "hide", policy->hide);
	cpuid_feature_list(L, c, "force", policy->force);
	for (unsigned i = 0; i < lvm_cpuid_feature_count; i++)
		if (lvm_cpuid_overrides_has(policy->hide, i) && lvm_cpuid_overrides_has(policy->force, i))
			luaL_error(L, "machine: cpuid: '%s' is both hidden and forced",
				   lvm_cpuid_features[i].name);
	lua_pop(L, 1);
	return policy;
}

/* console = "stdout" (default) | a file path | false | function(chunk). */
static void console_field(lua_State *L, int t, struct lua_machine *m,
			  struct lvm_machine_config *config)
{
	config->console_fd = -1;
	config->console_owns_fd = 0;
	int type = lua_getfield(L, t, "console");
	if (type == LUA_TNIL || (type == LUA_TSTRING && strcmp(lua_tostring(L, -1), "stdout") == 0)) {
		config->console_fd = STDOUT_FILENO;
	} else if (type == LUA_TSTRING && strcmp(lua_tostring(L, -1), "stderr") == 0) {
		config->console_fd = STDERR_FILENO;
	} else if (type == LUA_TSTRING) {
		const char *path = lua_tostring(L, -1);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			luaL_error(L, "machine: console file %s: %s", path, strerror(errno));
		config->console_fd = fd;
		config->console_owns_fd = 1;
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
static void hook_limit_field(lua_State *L, int t, struct lua_machine *m)
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

/* on_hook_error = "stop" (default) | "continue". */
static void on_hook_error_field(lua_State *L, int t, struct lua_machine *m)
{
	const char *how = string_field(L, t, "on_hook_error");
	if (!how || strcmp(how, "stop") == 0)
		m->continue_on_error = false;
	else if (strcmp(how, "continue") == 0)
		m->continue_on_error = true;
	else
		luaL_error(L, "machine: on_hook_error must be \"stop\" or \"continue\", not \"%s\"", how);
}

struct lvm_vm *lvm_lua_create_machine(lua_State *L, int t, struct lua_machine *m)
{
	t = lua_absindex(L, t);
	luaL_checktype(L, t, LUA_TTABLE);
	check_keys(L, t);
	struct lvm_cpuid_overrides cpuid = { { 0 }, { 0 } };
	struct lvm_machine_config config = {
		.mem_size = memory_field(L, t),
		.ncpus = cpus_field(L, t),
		.kernel = string_field(L, t, "kernel"),
		.cmdline = string_field(L, t, "cmdline"),
		.initrd = string_field(L, t, "initrd"),
		.boot = string_field(L, t, "boot"),
	};
	if (!config.kernel)
		luaL_error(L, "machine: kernel is required (the path of the guest to boot)");
	config.cpuid = cpuid_field(L, t, &cpuid);
	lua_getfield(L, t, "stdin");
	m->stdin_input = lua_toboolean(L, -1);
	lua_pop(L, 1);
	hook_limit_field(L, t, m);
	on_hook_error_field(L, t, m);
	lvm_lua_disks_field(L, t, &config);
	lvm_lua_nets_field(L, t, &config);
	lua_getfield(L, t, "rng");
	config.rng = lua_toboolean(L, -1);
	lua_getfield(L, t, "virtio_console");
	config.virtio_console = lua_toboolean(L, -1);
	lua_pop(L, 2);
	console_field(L, t, m, &config); /* last: it may open a file */
	struct lvm_vm *vm = lvm_pc_create(&config);
	if (!vm)
		luaL_error(L, "machine: %s", lvm_error());
	return vm;
}
