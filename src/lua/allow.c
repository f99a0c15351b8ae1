/*
 * Host paths for sandboxed recipes: `luavmm run --sandbox --allow
 * PATH[:ro|:rw] --allow tap:NAME --allow net:user`.  Under --sandbox every
 * host file a machine opens (kernel, initrd, console file, disk images,
 * snapshot directories), every tap it opens, a user network (host
 * sockets) and a recipe's control socket must be allowed: PATH itself or,
 * for a directory, anything below it; `:ro` (the default) allows reading,
 * `:rw` also writing and creating.  luavmm's own test guests are readable.
 *
 * Paths are compared after resolving symbolic links and `..` (realpath;
 * a file that does not exist yet is resolved through its directory), so a
 * link inside an allowed directory cannot point outside it at check time.
 * The check runs before the file is opened: a process that can swap a
 * link in an allowed directory between the two can still redirect it.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/binding.h"
#include "lua/runner.h"
#include "luavmm_config.h"
#include "util/error.h"

#define ALLOW_MAX 64u

struct allowed {
	char *name;  /* a resolved path, or "tap:NAME" */
	bool write;
};

static struct allowed allowed[ALLOW_MAX];
static unsigned nallowed;
bool lvm_lua_allow_enforced;

/* `path` resolved into `out` (PATH_MAX), through its directory when the
 * file itself does not exist yet.  false + errno on failure. */
static bool resolve(const char *path, char *out)
{
	if (realpath(path, out))
		return true;
	if (errno != ENOENT)
		return false;
	char dir_copy[PATH_MAX], base_copy[PATH_MAX], dir[PATH_MAX];
	snprintf(dir_copy, sizeof(dir_copy), "%s", path);
	snprintf(base_copy, sizeof(base_copy), "%s", path);
	const char *base = basename(base_copy);
	if (!realpath(dirname(dir_copy), dir))
		return false;
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0) {
		errno = EINVAL;
		return false;
	}
	if (snprintf(out, PATH_MAX, "%s/%s", strcmp(dir, "/") ? dir : "", base) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return false;
	}
	return true;
}

int lvm_lua_allow_add(const char *spec)
{
	if (nallowed == ALLOW_MAX)
		return lvm_fail("--allow %s: more than %u --allow options", spec, ALLOW_MAX);
	char path[PATH_MAX], real[PATH_MAX];
	bool write = false;
	snprintf(path, sizeof(path), "%s", spec);
	char *colon = strrchr(path, ':');
	if (strcmp(spec, "net:user") == 0 || strncmp(spec, "tap:", 4) == 0) {
		if (!spec[4])
			return lvm_fail("--allow %s: a tap needs a name (tap:NAME)", spec);
		allowed[nallowed].name = strdup(spec);
		allowed[nallowed].write = true;
		return allowed[nallowed++].name ? 0 : lvm_fail("out of memory");
	}
	if (colon && (strcmp(colon, ":ro") == 0 || strcmp(colon, ":rw") == 0)) {
		write = colon[2] == 'w';
		*colon = 0;
	}
	if (!realpath(path, real))
		return lvm_fail_errno("--allow %s", path);
	allowed[nallowed].name = strdup(real);
	allowed[nallowed].write = write;
	return allowed[nallowed++].name ? 0 : lvm_fail("out of memory");
}

/* A resource named, not a path: "tap:NAME" or "net:user". */
static bool is_named(const char *name)
{
	return strncmp(name, "tap:", 4) == 0 || strncmp(name, "net:", 4) == 0;
}

/* Whether `rule` (a resolved path) is `real` or a directory above it. */
static bool covers(const char *rule, const char *real)
{
	size_t n = strlen(rule);
	if (strcmp(rule, "/") == 0)
		return true;
	return strncmp(rule, real, n) == 0 && (real[n] == 0 || real[n] == '/');
}

static bool guest_dir_covers(const char *real)
{
	const char *dir = getenv("LUAVMM_GUEST_DIR");
	char rdir[PATH_MAX];
	return realpath(dir && *dir ? dir : LUAVMM_BUILD_GUEST_DIR, rdir) && covers(rdir, real);
}

int lvm_lua_allow_check(void *opaque, const char *what, const char *path, bool write)
{
	(void)opaque;
	(void)what;
	if (!lvm_lua_allow_enforced)
		return 0;
	char real[PATH_MAX];
	bool tap = is_named(path); /* a tap or a user network: matched by name */
	if (!tap && !resolve(path, real))
		return lvm_fail_errno("cannot resolve it under --sandbox");
	for (unsigned i = 0; i < nallowed; i++) {
		bool is_tap = is_named(allowed[i].name);
		if (tap ? is_tap && strcmp(allowed[i].name, path) == 0
			: !is_tap && (!write || allowed[i].write) && covers(allowed[i].name, real))
			return 0;
	}
	if (!tap && !write && guest_dir_covers(real))
		return 0;
	if (tap)
		return lvm_fail("not allowed under --sandbox (allow it with luavmm run --allow %s)", path);
	return lvm_fail("not allowed under --sandbox (allow it with luavmm run --allow %s%s)", real,
			write ? ":rw" : ":ro");
}
