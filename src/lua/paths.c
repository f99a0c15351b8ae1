/* Finding the test guests and the pure-Lua modules (see paths.h). */
#include "lua/paths.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luavmm_config.h"

static bool from_executable;
static bool resolved;
static char guest_dir[PATH_MAX];
static char lua_dir[PATH_MAX];

void lvm_lua_paths_from_executable(void)
{
	from_executable = true;
	resolved = false;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The canonical directory holding the running executable or this module
 * ("" when it cannot be told). */
static void self_dir(char *out, size_t size)
{
	char self[PATH_MAX] = "";
	if (from_executable) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[n > 0 ? n : 0] = '\0';
	} else {
		Dl_info info;
		char *real;
		if (dladdr((void *)lvm_lua_guest_dir, &info) && info.dli_fname &&
		    (real = realpath(info.dli_fname, NULL)) != NULL) {
			snprintf(self, sizeof(self), "%s", real);
			free(real);
		}
	}
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	else
		self[0] = '\0';
	snprintf(out, size, "%s", self);
}

/* Same directory?  Compared by device and inode (symlinks, "..", mounts). */
static bool same_dir(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Steps 2-4 of paths.h for one directory. */
static void locate(char *out, const char *self, const char *build_bin, const char *build_dir,
		   const char *relative, const char *absolute)
{
	if (self[0] && same_dir(self, build_bin)) {
		snprintf(out, PATH_MAX, "%s", build_dir);
		return;
	}
	char guess[PATH_MAX];
	snprintf(guess, sizeof(guess), "%s/%s", self[0] ? self : ".", relative);
	char *real = realpath(guess, NULL);
	if (real) {
		snprintf(out, PATH_MAX, "%s", real);
		free(real);
		return;
	}
	snprintf(out, PATH_MAX, "%s", is_dir(absolute) ? absolute : guess);
}

static void resolve(void)
{
	if (resolved)
		return;
	char self[PATH_MAX];
	self_dir(self, sizeof(self));
	if (from_executable) {
		locate(guest_dir, self, LUAVMM_BUILD_BIN_DIR, LUAVMM_BUILD_GUEST_DIR,
		       LUAVMM_EXE_TO_GUESTS, LUAVMM_INSTALL_GUEST_DIR);
		locate(lua_dir, self, LUAVMM_BUILD_BIN_DIR, LUAVMM_BUILD_LUA_DIR,
		       LUAVMM_EXE_TO_LUA, LUAVMM_INSTALL_LUA_DIR);
	} else {
		locate(guest_dir, self, LUAVMM_BUILD_MODULE_DIR, LUAVMM_BUILD_GUEST_DIR,
		       LUAVMM_MODULE_TO_GUESTS, LUAVMM_INSTALL_GUEST_DIR);
		locate(lua_dir, self, LUAVMM_BUILD_MODULE_DIR, LUAVMM_BUILD_LUA_DIR,
		       LUAVMM_MODULE_TO_LUA, LUAVMM_INSTALL_LUA_DIR);
	}
	resolved = true;
}

static const char *from_env(const char *name)
{
	const char *dir = getenv(name);
	return dir && *dir ? dir : NULL;
}

const char *lvm_lua_guest_dir(void)
{
	const char *dir = from_env("LUAVMM_GUEST_DIR");
	if (dir)
		return dir;
	resolve();
	return guest_dir;
}

const char *lvm_lua_lua_dir(void)
{
	const char *dir = from_env("LUAVMM_LUA_DIR");
	if (dir)
		return dir;
	resolve();
	return lua_dir;
}
