/*
 * libslirp, loaded on first use.  Linking it would load it, glib and pcre2
 * into every luavmm process at exec (their relocations and constructors
 * run, ~0.7 MiB of their pages stay resident) although most machines never
 * have a user net; dlopen() brings them in only for the first one.
 */
#ifndef LVM_DEVICES_VIRTIO_SLIRP_LIB_H
#define LVM_DEVICES_VIRTIO_SLIRP_LIB_H

#include <libslirp.h>

/* The entry points net_slirp.c uses, resolved from the loaded library. */
struct lvm_slirp_lib {
	__typeof__(slirp_new) *new_slirp;
	__typeof__(slirp_cleanup) *cleanup;
	__typeof__(slirp_input) *input;
	__typeof__(slirp_pollfds_fill) *pollfds_fill;
	__typeof__(slirp_pollfds_poll) *pollfds_poll;
	__typeof__(slirp_handle_timer) *handle_timer;
	__typeof__(slirp_add_hostfwd) *add_hostfwd;
};

/* The library's entry points, loading it the first time (control thread);
 * NULL after lvm_fail("user: ...") naming the library and why it failed. */
const struct lvm_slirp_lib *lvm_slirp_lib(void);

#endif
