/*
 * What a device file tells the machine about itself, once: its recipe key,
 * how to validate its entry, how to create, start and free it, and the
 * optional faces the Lua layer offers generically (statistics, a request
 * filter, a rate limit, console input).  The machine keeps one table of
 * these (machine/devices.c); a new device is its own file plus one line
 * there, and its Lua key, objects and teardown follow from the entry.
 */
#ifndef LVM_DEVICES_DEVICE_H
#define LVM_DEVICES_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/vm.h"
#include "util/value.h"

struct lvm_filter;
struct lvm_throttle;
struct lvm_state_writer;
struct lvm_state_reader;

/* Where the board put a device: its register window and interrupt line. */
struct lvm_device_env {
	struct lvm_vm *vm;
	uint64_t base;  /* MMIO window */
	unsigned gsi;   /* interrupt line */
	const char *name;  /* the recipe's name for it (named kinds), else the key */
	unsigned index;    /* position among the devices of its kind (sorted by name) */
};

struct lvm_device_stat {
	const char *name;
	uint64_t value;
};

#define LVM_DEVICE_STATS_MAX 32u

/*
 * A control method of the device's Lua object (vm.balloon:set(512)).
 * `args` is the list of the call's arguments after the object (a util/value.h
 * table with items 1..n).  The method writes its results (integers, at most
 * LVM_DEVICE_RESULTS_MAX) to `out` and returns how many, or -1 + lvm_error
 * ("why"; the Lua layer prefixes "KEY:METHOD: ").  Called on the control
 * thread; the device locks what it shares with its I/O thread.
 */
#define LVM_DEVICE_RESULTS_MAX 4u
struct lvm_device_method {
	const char *name;
	int (*call)(void *dev, const struct lvm_value *args, int64_t *out);
};

/* A host resource an entry will open: a file ("path", the file name) or a
 * tap ("tap", "tap:NAME"), and whether it is opened for writing. */
struct lvm_device_resource {
	const char *key;  /* the entry's key naming it, for messages */
	const char *name; /* borrowed from the parameters; "tap:..." points into buf */
	bool write;
	char buf[64];     /* room for a composed name ("tap:" + an interface name) */
};

#define LVM_DEVICE_RESOURCES_MAX 4u

struct lvm_device_type {
	const char *key;     /* recipe key: disks = {NAME = {...}} or rng = true */
	const char *object;  /* what one is called in messages and Lua: "disk" */
	bool named;          /* a table of named entries (else a boolean, or a table
				for a kind with `parse`: rng = true, balloon = {...}) */
	/*
	 * Validates one entry (`v`: the entry's table, or the boolean) without
	 * side effects; `where` prefixes error messages ("disks.root").
	 * Returns a malloc'd parameter block for create (freed by the caller
	 * after create), or NULL + lvm_error.  NULL `parse`: no parameters.
	 */
	void *(*parse)(const struct lvm_value *v, const char *where, unsigned index);
	/* The host resources the parsed entry `params` will open (at most
	 * LVM_DEVICE_RESOURCES_MAX), for the machine's allow check before any
	 * is opened; returns the count.  NULL: none. */
	unsigned (*resources)(const void *params, struct lvm_device_resource *out);
	/* NULL + lvm_error ("FIELD: why", e.g. "path: cannot open x: ...") on failure. */
	void *(*create)(const struct lvm_device_env *env, const void *params);
	int (*start)(void *dev);
	void (*free)(void *dev);

	/* Optional faces. */
	unsigned (*stats)(void *dev, struct lvm_device_stat *out); /* at most LVM_DEVICE_STATS_MAX */
	const char *filter_method;  /* the Lua method installing a filter: "on_request" */
	bool filter_frames;         /* its filter sees network frames, not block requests */
	void (*set_filter)(void *dev, const struct lvm_filter *filter);
	struct lvm_throttle *(*throttle)(void *dev);
	/* Console input for the guest; returns the bytes accepted. */
	size_t (*receive)(void *dev, const void *bytes, size_t n);
	/* Control methods of its Lua object; ends with a NULL name. */
	const struct lvm_device_method *methods;

	/*
	 * Snapshot and fork (machine/snapshot.c): all four, or none (a machine
	 * with a kind that has none refuses to be saved, naming it).
	 * quiesce: control thread, the vCPUs paused: complete every request
	 *   the driver handed over (its buffers written, the used ring updated)
	 *   and take no new work (no queue, tap or timer event is served) until
	 *   resume.  0, or -1 + lvm_error.
	 * save: quiesced; writes the device's fields (util/state.h) into the
	 *   section the machine opened for it ("disks.root", "rng").
	 * load: on a device just created from the same recipe entry, before
	 *   its start: reads the fields back, checking every value as hostile
	 *   input (the file may be corrupt); the device then starts as if the
	 *   driver had set it up (queues live, ioeventfds registered).  0, or
	 *   -1 + lvm_error / lvm_state_bad.
	 */
	int (*quiesce)(void *dev);
	void (*resume)(void *dev);
	void (*save)(void *dev, struct lvm_state_writer *w);
	int (*load)(void *dev, struct lvm_state_reader *r);
	/*
	 * Optional: host-side state kept in a file rather than in the state
	 * (a snapshot disk's overlay).  save_files: beside a snapshot, in
	 * `dir`, named from `prefix` (the device's section name), quiesced;
	 * load_files: back, after load; inherit: a fork's child takes its own
	 * copy of the parent's (the parent quiesced or paused).  0, or -1 +
	 * lvm_error.
	 */
	int (*save_files)(void *dev, const char *dir, const char *prefix);
	int (*load_files)(void *dev, const char *dir, const char *prefix);
	int (*inherit)(void *child, void *parent);
};

#endif
