/*
 * luavmm.machine{...}: validating the recipe's table.  Every key is known
 * and typed; anything else is an error that names the key.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/pc.h"
#include "core/error.h"
#include "core/size.h"
#include "lua/binding.h"

struct key_spec {
	const char *name;
	int type;       /* LUA_T* expected, or -1 for "validated below" */
};

static const struct key_spec machine_keys[] = {
	{ "name", LUA_TSTRING },   { "cpus", LUA_TNUMBER },    { "memory", -1 },
	{ "kernel", LUA_TSTRING }, { "cmdline", LUA_TSTRING }, { "console", -1 },
	{ "stdin", LUA_TBOOLEAN },
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

struct lvm_vm *lvm_lua_create_machine(lua_State *L, int t, struct lua_machine *m)
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
	};
	if (!config.kernel)
		luaL_error(L, "machine: kernel is required (the path of the guest to boot)");
	lua_getfield(L, t, "stdin");
	m->stdin_input = lua_toboolean(L, -1);
	lua_pop(L, 1);
	console_field(L, t, m, &config); /* last: it may open a file */
	struct lvm_vm *vm = lvm_pc_create(&config);
	if (!vm)
		luaL_error(L, "machine: %s", lvm_error());
	return vm;
}
