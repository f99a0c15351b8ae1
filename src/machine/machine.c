#include "machine/machine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/board.h"
#include "kvm/reaper.h"
#include "machine/devices.h"
#include "machine/machine_board.h"
#include "machine/snapshot.h"
#include "util/error.h"

#define MACHINE_DEVICES_MAX 16u

/* A device the recipe asked for, validated but not created yet. */
struct wanted_device {
	const struct lvm_device_type *type;
	const char *name;
	unsigned index; /* among its kind */
	void *params;
	enum lvm_x86_transport transport; /* its own `transport` key, else DEFAULT */
};

struct lvm_machine {
	struct lvm_x86_board *board;
	struct lvm_vm *vm;
	struct lvm_machine_device devices[MACHINE_DEVICES_MAX];
	unsigned ndevices;
	struct wanted_device wanted[MACHINE_DEVICES_MAX];
	unsigned nwanted;
	/* Restartable machines: how to boot again and the state at creation. */
	struct lvm_x86_board_config boot;
	char *boot_strings[4];
	struct lvm_saved_state *power_on;
};

static const char *const machine_keys[] = { "cpuid", "irqchip", "pit", "fw_cfg", "transport" };

bool lvm_machine_owns_key(const char *key)
{
	for (size_t i = 0; i < sizeof(machine_keys) / sizeof(machine_keys[0]); i++)
		if (strcmp(machine_keys[i], key) == 0)
			return true;
	return lvm_device_type_find(key) != NULL;
}

/*
 * A device entry's own `transport = "mmio" | "pci"` key is the machine's,
 * not the kind's: read here and left out of the table `parse` sees (the
 * fields are copied shallowly into `rest`, malloc'd, freed by the caller).
 */
static int take_transport(const struct lvm_value *v, const char *where,
			  enum lvm_x86_transport *out, struct lvm_value *view,
			  struct lvm_field **rest)
{
	*rest = NULL;
	const struct lvm_value *t = lvm_value_get(v, "transport");
	char what[300];
	snprintf(what, sizeof(what), "%s.transport", where);
	if (lvm_x86_transport_parse(t, what, out) < 0)
		return -1;
	if (!t)
		return 0;
	*rest = calloc(v->nfields, sizeof(**rest));
	if (!*rest)
		return lvm_fail("out of memory");
	*view = *v;
	view->nfields = 0;
	for (unsigned i = 0; i < v->nfields; i++)
		if (!v->fields[i].key || strcmp(v->fields[i].key, "transport") != 0)
			(*rest)[view->nfields++] = v->fields[i];
	view->fields = *rest;
	return 0;
}

static int want(struct lvm_machine *m, const struct lvm_device_type *type, const char *name,
		unsigned index, const struct lvm_value *v)
{
	if (m->nwanted >= MACHINE_DEVICES_MAX)
		return lvm_fail("virtio: more than %u devices", MACHINE_DEVICES_MAX);
	char where[256];
	snprintf(where, sizeof(where), type->named ? "%s.%s" : "%s", type->key, name);
	enum lvm_x86_transport transport = LVM_X86_TRANSPORT_DEFAULT;
	struct lvm_value view;
	struct lvm_field *rest = NULL;
	if (v->type == LVM_VALUE_TABLE) {
		if (take_transport(v, where, &transport, &view, &rest) < 0)
			return -1;
		if (rest)
			v = &view;
	}
	void *params = NULL;
	int rc = 0;
	if (type->parse)
		rc = (params = type->parse(v, where, index)) ? 0 : -1;
	else if (v->type == LVM_VALUE_TABLE && v->nfields) /* rng = { transport = ..., x = 1 } */
		rc = lvm_fail("%s: unknown key '%s' (transport)", where,
			      v->fields[0].key ? v->fields[0].key : "[1]");
	free(rest);
	if (rc < 0)
		return -1;
	m->wanted[m->nwanted++] = (struct wanted_device){ type, name, index, params, transport };
	return 0;
}

static int compare_fields(const void *a, const void *b)
{
	return strcmp(((const struct lvm_field *const *)a)[0]->key,
		      ((const struct lvm_field *const *)b)[0]->key);
}

/* key = { NAME = {...}, ... }: entries in name order, so slots and default
 * MACs do not depend on the recipe's table order. */
static int want_named(struct lvm_machine *m, const struct lvm_device_type *type,
		      const struct lvm_value *v)
{
	if (v->type != LVM_VALUE_TABLE)
		return lvm_fail("%s must be a table, not a %s", type->key, lvm_value_type_name(v));
	const struct lvm_field *sorted[MACHINE_DEVICES_MAX + 1];
	unsigned n = 0;
	for (unsigned i = 0; i < v->nfields; i++) {
		if (!v->fields[i].key)
			return lvm_fail("%s: names must be strings", type->key);
		if (n > MACHINE_DEVICES_MAX)
			return lvm_fail("virtio: more than %u devices", MACHINE_DEVICES_MAX);
		sorted[n++] = &v->fields[i];
	}
	qsort(sorted, n, sizeof(sorted[0]), compare_fields);
	for (unsigned i = 0; i < n; i++)
		if (want(m, type, sorted[i]->key, i, &sorted[i]->value) < 0)
			return -1;
	return 0;
}

/* Validates every device key of the recipe; nothing is created yet. */
static int want_devices(struct lvm_machine *m, const struct lvm_value *recipe)
{
	for (unsigned i = 0; i < lvm_device_type_count; i++) {
		const struct lvm_device_type *type = lvm_device_types[i];
		const struct lvm_value *v = lvm_value_get(recipe, type->key);
		if (!v || v->type == LVM_VALUE_NIL)
			continue;
		if (type->named) {
			if (want_named(m, type, v) < 0)
				return -1;
		} else if (v->type == LVM_VALUE_TABLE &&
			   (type->parse || lvm_value_get(v, "transport"))) {
			/* An unnamed kind with options: balloon = { stats = true },
			 * rng = { transport = "pci" } */
			if (want(m, type, type->key, 0, v) < 0)
				return -1;
		} else if (v->type != LVM_VALUE_BOOLEAN) {
			return lvm_fail("%s must be a boolean%s, not a %s", type->key,
					type->parse ? " or a table" : "", lvm_value_type_name(v));
		} else if (v->boolean && want(m, type, type->key, 0, v) < 0) {
			return -1;
		}
	}
	return 0;
}

static int ask(const struct lvm_machine_config *c, const char *what, const char *path, bool write)
{
	if (!path || c->allow(c->allow_opaque, what, path, write) == 0)
		return 0;
	return lvm_fail_prefix("%s: %s: ", what, path);
}

/* Every host file and tap the machine would open goes through c->allow. */
static int check_resources(const struct lvm_machine *m, const struct lvm_machine_config *c)
{
	if (!c->allow)
		return 0;
	bool booting = !c->restore; /* a restored machine opens no kernel */
	if ((booting && (ask(c, "kernel", c->kernel, false) < 0 ||
			 ask(c, "initrd", c->initrd, false) < 0)) ||
	    ask(c, "console", c->console_path, true) < 0)
		return -1;
	for (unsigned i = 0; i < m->nwanted; i++) {
		const struct wanted_device *w = &m->wanted[i];
		struct lvm_device_resource r[LVM_DEVICE_RESOURCES_MAX];
		unsigned n = w->type->resources ? w->type->resources(w->params, r) : 0;
		for (unsigned k = 0; k < n; k++) {
			char what[256];
			if (w->type->named)
				snprintf(what, sizeof(what), "%s.%s.%s", w->type->key, w->name, r[k].key);
			else
				snprintf(what, sizeof(what), "%s.%s", w->type->key, r[k].key);
			if (ask(c, what, r[k].name, r[k].write) < 0)
				return -1;
		}
	}
	return 0;
}

static int create_device(struct lvm_machine *m, const struct wanted_device *w)
{
	struct lvm_device_env env = { .vm = m->vm, .name = w->name, .index = w->index };
	if (lvm_x86_board_slot(m->board, w->transport, &env.base, &env.gsi) < 0)
		return -1;
	char *name = strdup(w->name); /* the recipe's string is only borrowed */
	if (!name)
		return lvm_fail("out of memory");
	void *dev = w->type->create(&env, w->params);
	if (!dev) {
		free(name);
		return w->type->named ? lvm_fail_prefix("%s.%s.", w->type->key, w->name)
				      : lvm_fail_prefix("%s: ", w->type->key);
	}
	m->devices[m->ndevices++] = (struct lvm_machine_device){ w->type, name, dev };
	return 0;
}

static int start_devices(struct lvm_machine *m)
{
	for (unsigned i = 0; i < m->ndevices; i++)
		if (m->devices[i].type->start(m->devices[i].dev) < 0)
			return -1;
	return 0;
}

/* The console file, last: a machine that fails never touches it.  A FIFO
 * with no reader yet would block a plain open: it is opened read-write
 * instead, so output waits in the pipe until a reader comes. */
static int open_console(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0644);
	if (fd < 0 && errno == ENXIO)
		fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return lvm_fail_errno("console file %s", path);
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}

static int build(struct lvm_machine *m, const struct lvm_machine_config *c,
		 const struct lvm_x86_board_config *bc)
{
	m->board = lvm_x86_board_create(bc);
	if (!m->board)
		return -1;
	m->vm = lvm_x86_board_vm(m->board);
	for (unsigned i = 0; i < m->nwanted; i++)
		if (create_device(m, &m->wanted[i]) < 0)
			return -1;
	if (c->restore ? lvm_x86_board_prepare(m->board, bc) < 0 ||
				 lvm_machine_load_state(m, c->restore) < 0
		       : lvm_x86_board_boot(m->board, bc) < 0)
		return -1;
	if (start_devices(m) < 0)
		return -1;
	int fd = c->console_path ? open_console(c->console_path) : c->console_fd;
	if (fd < 0 && c->console_path)
		return -1;
	lvm_console_set_sink(&m->vm->console, fd, c->console_path || c->console_owns_fd);
	return 0;
}

static void free_wanted(struct lvm_machine *m)
{
	for (unsigned i = 0; i < m->nwanted; i++)
		free(m->wanted[i].params);
	m->nwanted = 0;
}

/* Copies of the boot configuration's strings, for a restart. */
static int keep_boot_config(struct lvm_machine *m, const struct lvm_x86_board_config *bc)
{
	const char *from[4] = { bc->kernel, bc->cmdline, bc->initrd, bc->boot };
	for (int i = 0; i < 4; i++)
		if (from[i] && !(m->boot_strings[i] = strdup(from[i])))
			return lvm_fail("out of memory");
	m->boot = (struct lvm_x86_board_config){
		.mem_size = bc->mem_size, .ncpus = bc->ncpus, .kernel = m->boot_strings[0],
		.cmdline = m->boot_strings[1], .initrd = m->boot_strings[2], .boot = m->boot_strings[3],
	};
	m->power_on = lvm_machine_save_power_on(m);
	return m->power_on ? 0 : lvm_fail_prefix("on_reset = \"restart\": ");
}

struct lvm_machine *lvm_machine_create(const struct lvm_machine_config *c)
{
	struct lvm_x86_board_config bc = {
		.mem_size = c->mem_size, .ncpus = c->ncpus, .kernel = c->kernel,
		.cmdline = c->cmdline, .initrd = c->initrd, .boot = c->boot,
		.cpuid = lvm_value_get(c->recipe, "cpuid"),
		.irqchip = lvm_value_get(c->recipe, "irqchip"),
		.pit = lvm_value_get(c->recipe, "pit"),
		.fw_cfg = lvm_value_get(c->recipe, "fw_cfg"),
		.transport = lvm_value_get(c->recipe, "transport"),
	};
	struct lvm_machine *m = calloc(1, sizeof(*m));
	int rc = m ? 0 : lvm_fail("out of memory");
	if (rc == 0)
		rc = lvm_x86_board_check(&bc) < 0 || want_devices(m, c->recipe) < 0 ||
		     check_resources(m, c) < 0 ? -1 : 0;
	if (rc == 0)
		rc = build(m, c, &bc);
	if (rc == 0 && c->restartable)
		rc = keep_boot_config(m, &bc);
	if (m)
		free_wanted(m);
	if (rc < 0) {
		/* Setting the sink is build's last step: it did not happen. */
		if (c->console_owns_fd && c->console_fd >= 0)
			close(c->console_fd);
		lvm_machine_destroy(m);
		return NULL;
	}
	return m;
}

int lvm_machine_start(struct lvm_machine *m)
{
	return lvm_vm_start(m->vm);
}

int lvm_machine_restart(struct lvm_machine *m)
{
	if (!m->power_on)
		return lvm_fail("restart: the machine was not created restartable (on_reset = \"restart\")");
	if (!lvm_vm_stopped(m->vm) || m->vm->reason != LVM_STOP_RESET)
		return lvm_fail("restart: the machine did not stop for a reset");
	lvm_vm_join(m->vm);
	/* Booting writes RAM and sets vCPU 0; the state at creation then puts
	 * every part back as it was before the first run. */
	if (lvm_memory_clear(&m->vm->mem) < 0 || lvm_x86_board_boot(m->board, &m->boot) < 0 ||
	    lvm_machine_reload(m, m->power_on) < 0)
		return -1;
	lvm_vm_rearm(m->vm);
	return lvm_vm_start(m->vm);
}

void lvm_machine_destroy(struct lvm_machine *m)
{
	if (!m)
		return;
	if (m->vm)
		lvm_vm_halt(m->vm); /* no vCPU touches a device after this */
	while (m->ndevices > 0) {
		struct lvm_machine_device *d = &m->devices[--m->ndevices];
		d->type->free(d->dev);
		free((char *)d->name);
	}
	lvm_x86_board_destroy(m->board);
	free_wanted(m);
	lvm_saved_state_free(m->power_on);
	for (int i = 0; i < 4; i++)
		free(m->boot_strings[i]);
	free(m);
}

void lvm_machine_settle(void)
{
	lvm_reaper_drain();
}

struct lvm_x86_board *lvm_machine_board(struct lvm_machine *m)
{
	return m->board;
}

struct lvm_vm *lvm_machine_vm(struct lvm_machine *m)
{
	return m->vm;
}

int lvm_machine_input(struct lvm_machine *m, const void *bytes, size_t n, const char **full,
		      size_t *accepted)
{
	int rc = 0;
	for (unsigned i = 0; i < m->ndevices; i++) {
		const struct lvm_machine_device *d = &m->devices[i];
		if (!d->type->receive)
			continue;
		size_t got = d->type->receive(d->dev, bytes, n);
		if (got < n && rc == 0) {
			*full = d->type->object;
			*accepted = got;
			rc = -1;
		}
	}
	size_t got = lvm_x86_board_input(m->board, bytes, n);
	if (got < n) {
		*full = "UART";
		*accepted = got;
		rc = -1;
	}
	return rc;
}

uint32_t lvm_machine_exit_value(const struct lvm_machine *m)
{
	/* The board stops the VM with code (value << 1) | 1 (isa-debug-exit). */
	return (uint32_t)((uint64_t)m->vm->code >> 1);
}

int lvm_machine_power_button(struct lvm_machine *m)
{
	if (lvm_vm_stopped(m->vm))
		return lvm_fail("power button: the machine has stopped (%s)",
				lvm_stop_reason_name(m->vm->reason));
	lvm_x86_board_power_button(m->board);
	return 0;
}

int lvm_machine_wake(struct lvm_machine *m)
{
	if (lvm_vm_stopped(m->vm))
		return lvm_fail("the machine has stopped (%s)", lvm_stop_reason_name(m->vm->reason));
	return lvm_x86_board_wake(m->board) ? 1 : 0;
}

const void *lvm_machine_dtb(const struct lvm_machine *m, size_t *size)
{
	return lvm_x86_board_dtb(m->board, size);
}

unsigned lvm_machine_device_count(const struct lvm_machine *m)
{
	return m->ndevices;
}

const struct lvm_machine_device *lvm_machine_device(const struct lvm_machine *m, unsigned i)
{
	return i < m->ndevices ? &m->devices[i] : NULL;
}

const struct lvm_machine_device *lvm_machine_find(const struct lvm_machine *m, const char *key,
						 const char *name)
{
	for (unsigned i = 0; i < m->ndevices; i++)
		if (strcmp(m->devices[i].type->key, key) == 0 && strcmp(m->devices[i].name, name) == 0)
			return &m->devices[i];
	return NULL;
}
