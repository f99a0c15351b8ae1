/* Built only with user networking (LUAVMM_SLIRP). */
#ifdef LUAVMM_HAVE_SLIRP
#include "devices/virtio/slirp_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

#include "util/error.h"

/* Set by CMake from the library it found; the soname if not. */
#ifndef LUAVMM_SLIRP_SONAME
#define LUAVMM_SLIRP_SONAME "libslirp.so.0"
#endif

static struct lvm_slirp_lib lib;
static const struct lvm_slirp_lib *loaded;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* dlsym returns void *; POSIX guarantees it converts to a function pointer. */
#define RESOLVE(field, symbol)                                                   \
	do {                                                                     \
		*(void **)&lib.field = dlsym(handle, #symbol);                   \
		if (!lib.field)                                                  \
			return lvm_fail("user: %s has no %s", LUAVMM_SLIRP_SONAME, \
					#symbol);                                \
	} while (0)

static int resolve(void *handle)
{
	RESOLVE(new_slirp, slirp_new);
	RESOLVE(cleanup, slirp_cleanup);
	RESOLVE(input, slirp_input);
	RESOLVE(pollfds_fill, slirp_pollfds_fill);
	RESOLVE(pollfds_poll, slirp_pollfds_poll);
	RESOLVE(handle_timer, slirp_handle_timer);
	RESOLVE(add_hostfwd, slirp_add_hostfwd);
	return 0;
}

const struct lvm_slirp_lib *lvm_slirp_lib(void)
{
	pthread_mutex_lock(&load_lock);
	if (!loaded) {
		/* Kept loaded for the process's life: glib does not survive dlclose. */
		void *handle = dlopen(LUAVMM_SLIRP_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
		if (!handle)
			lvm_fail("user: cannot load %s for user networking (install libslirp0): %s",
				 LUAVMM_SLIRP_SONAME, dlerror());
		else if (resolve(handle) == 0)
			loaded = &lib;
	}
	const struct lvm_slirp_lib *result = loaded;
	pthread_mutex_unlock(&load_lock);
	return result;
}

#endif
