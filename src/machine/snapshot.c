#include "machine/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/board.h"
#include "luavmm_config.h"
#include "machine/machine.h"
#include "machine/machine_board.h"
#include "util/error.h"
#include "util/state.h"
#include "util/state_file.h"

struct lvm_saved_state {
	uint8_t *body;
	size_t body_len;
	int memory_fd;
	uint64_t ram;
	unsigned cpus;
	uint32_t cpu_digest;
	struct lvm_machine *parent; /* a fork's, for host-side device state */
	char dir[4096];             /* a snapshot's directory ("" for a fork) */
	char where[300]; /* "snapshot DIR" or "fork", for messages */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --- taking the state ------------------------------------------------------ */

/* "disks.root" or "rng": a device's section. */
static void device_section(const struct lvm_machine_device *d, char *out, size_t n)
{
	if (d->type->named)
		snprintf(out, n, "dev.%s.%s", d->type->key, d->name);
	else
		snprintf(out, n, "dev.%s", d->type->key);
}

static int check_savable(struct lvm_machine *m)
{
	struct lvm_vm *vm = lvm_machine_vm(m);
	if (lvm_vm_stopped(vm))
		return lvm_fail("the machine has stopped (%s): there is nothing to save",
				lvm_stop_reason_name(vm->reason));
	if (vm->started && !lvm_vm_paused(vm))
		return lvm_fail("the machine is running: pause it first (vm:pause())");
	for (unsigned i = 0; i < lvm_machine_device_count(m); i++) {
		const struct lvm_machine_device *d = lvm_machine_device(m, i);
		if (!d->type->save)
			return lvm_fail("%s: a %s cannot be saved yet", d->name, d->type->object);
	}
	return 0;
}

static void resume_devices(struct lvm_machine *m, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const struct lvm_machine_device *d = lvm_machine_device(m, i);
		d->type->resume(d->dev);
	}
}

/* Every device completes what it was given and holds still; on failure the
 * ones already quiesced go on. */
static int quiesce_devices(struct lvm_machine *m)
{
	for (unsigned i = 0; i < lvm_machine_device_count(m); i++) {
		const struct lvm_machine_device *d = lvm_machine_device(m, i);
		if (d->type->quiesce(d->dev) < 0) {
			lvm_fail_prefix("%s: ", d->name);
			resume_devices(m, i);
			return -1;
		}
	}
	return 0;
}

/* The body: the recipe, the machine's shape, the board, each device. */
static int write_body(struct lvm_machine *m, struct lvm_state_writer *w, const void *recipe,
		      size_t recipe_len)
{
	lvm_state_writer_init(w);
	lvm_state_begin(w, "recipe");
	lvm_state_put_blob(w, recipe, recipe_len);
	lvm_state_begin(w, "machine");
	unsigned n = lvm_machine_device_count(m);
	lvm_state_put_u32(w, n);
	for (unsigned i = 0; i < n; i++) {
		char name[LVM_STATE_NAME_MAX + 1];
		device_section(lvm_machine_device(m, i), name, sizeof(name));
		lvm_state_put_blob(w, name, strlen(name));
	}
	if (lvm_x86_board_save(lvm_machine_board(m), w) < 0)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		const struct lvm_machine_device *d = lvm_machine_device(m, i);
		char name[LVM_STATE_NAME_MAX + 1];
		device_section(d, name, sizeof(name));
		lvm_state_begin(w, name);
		d->type->save(d->dev, w);
	}
	return lvm_state_finish(w);
}

static struct lvm_saved_state *new_state(void)
{
	struct lvm_saved_state *s = calloc(1, sizeof(*s));
	if (!s) {
		lvm_fail("out of memory");
		return NULL;
	}
	s->memory_fd = -1;
	return s;
}

/*
 * The machine's state in memory: devices quiesced, the sections written,
 * then (`freeze`) RAM frozen while they still hold still, so that what
 * they write afterwards lands in this machine's private pages only.
 */
static struct lvm_saved_state *take_state(struct lvm_machine *m, const void *recipe,
					  size_t recipe_len, bool freeze, const char *where)
{
	if (check_savable(m) < 0 || quiesce_devices(m) < 0)
		return NULL;
	struct lvm_vm *vm = lvm_machine_vm(m);
	struct lvm_state_writer w;
	struct lvm_saved_state *s = NULL;
	if (write_body(m, &w, recipe, recipe_len) == 0)
		s = new_state();
	if (s && freeze) {
		int fd = lvm_memory_freeze(&vm->mem);
		s->memory_fd = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (s->memory_fd < 0 || lvm_x86_board_cpu_digest(lvm_machine_board(m),
								 &s->cpu_digest) < 0) {
			if (fd >= 0 && s->memory_fd < 0)
				lvm_fail_errno("memory: dup");
			lvm_saved_state_free(s);
			s = NULL;
		}
	}
	resume_devices(m, lvm_machine_device_count(m));
	if (!s) {
		lvm_state_writer_free(&w);
		return NULL;
	}
	s->body = w.buf;
	s->body_len = w.len;
	s->ram = vm->mem.size;
	s->cpus = vm->ncpus;
	snprintf(s->where, sizeof(s->where), "%s", where);
	return s;
}

struct lvm_saved_state *lvm_machine_save(struct lvm_machine *m, const void *recipe,
					 size_t recipe_len)
{
	struct lvm_saved_state *s = take_state(m, recipe, recipe_len, true, "fork");
	if (s)
		s->parent = m;
	return s;
}

struct lvm_saved_state *lvm_machine_save_power_on(struct lvm_machine *m)
{
	return take_state(m, "", 0, false, "restart");
}

/* --- the files ------------------------------------------------------------- */

static int write_whole(int fd, const void *buf, size_t len, const char *path)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return lvm_fail_errno("%s: write", path);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* DIR/NAME.tmp, written by fn, synced and renamed to DIR/NAME. */
typedef int (*fill_fn)(int fd, void *ctx, const char *path);

static int write_file(const char *dir, const char *name, fill_fn fill, void *ctx)
{
	char tmp[4096], path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return lvm_fail_errno("%s", tmp);
	int rc = fill(fd, ctx, tmp);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = lvm_fail_errno("%s: sync", tmp);
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = lvm_fail_errno("%s: rename to %s", tmp, path);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

struct memory_ctx {
	struct lvm_vm *vm;
	int64_t written;
};

static int fill_memory(int fd, void *opaque, const char *path)
{
	struct memory_ctx *c = opaque;
	c->written = lvm_memory_write_file(&c->vm->mem, fd);
	return c->written < 0 ? lvm_fail_prefix("%s: ", path) : 0;
}

struct state_ctx {
	const uint8_t *header, *body;
	size_t body_len;
};

static int fill_state(int fd, void *opaque, const char *path)
{
	struct state_ctx *c = opaque;
	if (write_whole(fd, c->header, LVM_STATE_HEADER_BYTES, path) < 0)
		return -1;
	return write_whole(fd, c->body, c->body_len, path);
}

/* Host-side device state kept in files beside the state (devices/device.h). */
static int save_device_files(struct lvm_machine *m, const char *dir)
{
	for (unsigned i = 0; i < lvm_machine_device_count(m); i++) {
		const struct lvm_machine_device *d = lvm_machine_device(m, i);
		char name[LVM_STATE_NAME_MAX + 1];
		device_section(d, name, sizeof(name));
		if (d->type->save_files && d->type->save_files(d->dev, dir, name) < 0)
			return lvm_fail_prefix("%s: ", name);
	}
	return 0;
}

int lvm_machine_snapshot(struct lvm_machine *m, const char *dir, const void *recipe,
			 size_t recipe_len, struct lvm_snapshot_info *info)
{
	double t0 = now();
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return lvm_fail("snapshot %s: not a directory%s", dir, errno == ENOENT ? " (create it first)" : "");
	if (check_savable(m) < 0 || quiesce_devices(m) < 0)
		return lvm_fail_prefix("snapshot: ");
	struct lvm_vm *vm = lvm_machine_vm(m);
	struct lvm_state_writer w;
	uint32_t digest = 0;
	int rc = write_body(m, &w, recipe, recipe_len);
	if (rc == 0)
		rc = lvm_x86_board_cpu_digest(lvm_machine_board(m), &digest);
	if (rc == 0)
		rc = save_device_files(m, dir);
	struct memory_ctx mc = { vm, 0 };
	if (rc == 0)
		rc = write_file(dir, "memory", fill_memory, &mc);
	uint8_t header[LVM_STATE_HEADER_BYTES];
	if (rc == 0) {
		struct lvm_state_header h = { .cpu_digest = digest, .cpus = vm->ncpus,
					      .ram = vm->mem.size };
		snprintf(h.version, sizeof(h.version), "%s", LUAVMM_VERSION);
		lvm_state_file_header(header, &h, w.buf, w.len);
		struct state_ctx sc = { header, w.buf, w.len };
		rc = write_file(dir, "state", fill_state, &sc);
	}
	resume_devices(m, lvm_machine_device_count(m));
	if (rc == 0 && info)
		*info = (struct lvm_snapshot_info){ LVM_STATE_HEADER_BYTES + w.len, (uint64_t)mc.written,
						    vm->mem.size, now() - t0 };
	lvm_state_writer_free(&w);
	return rc < 0 ? lvm_fail_prefix("snapshot %s: ", dir) : 0;
}

/* --- reading one back ------------------------------------------------------ */

/* Reads DIR/state whole and checks it (util/state_file.h). */
static int read_state(struct lvm_saved_state *s, int fd, const char *path, uint64_t file_size)
{
	if (file_size > LVM_STATE_HEADER_BYTES + (uint64_t)LVM_STATE_BODY_MAX)
		return lvm_fail("%s: %llu bytes is too large for a state file", path,
				(unsigned long long)file_size);
	uint8_t *file = malloc(file_size ? file_size : 1);
	if (!file)
		return lvm_fail("out of memory");
	if (pread(fd, file, file_size, 0) != (ssize_t)file_size) {
		free(file);
		return lvm_fail_errno("%s: read", path);
	}
	struct lvm_state_header h;
	const uint8_t *body;
	size_t body_len;
	int rc = lvm_state_file_parse(file, file_size, LUAVMM_VERSION, &h, &body, &body_len);
	if (rc < 0) {
		free(file);
		return lvm_fail_prefix("%s: ", path);
	}
	memmove(file, body, body_len);
	s->body = file;
	s->body_len = body_len;
	s->cpu_digest = h.cpu_digest;
	s->cpus = h.cpus;
	s->ram = h.ram;
	return 0;
}

static int open_memory(struct lvm_saved_state *s, const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/memory", dir);
	s->memory_fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (s->memory_fd < 0 || fstat(s->memory_fd, &st) < 0)
		return lvm_fail_errno("%s", path);
	if ((uint64_t)st.st_size != s->ram)
		return lvm_fail("%s: %llu bytes, the machine had %llu bytes of RAM (truncated?)", path,
				(unsigned long long)st.st_size, (unsigned long long)s->ram);
	return 0;
}

struct lvm_saved_state *lvm_saved_state_open(const char *dir)
{
	struct lvm_saved_state *s = new_state();
	if (!s)
		return NULL;
	snprintf(s->where, sizeof(s->where), "snapshot %s", dir);
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	char path[4096];
	snprintf(path, sizeof(path), "%s/state", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc = fd < 0 || fstat(fd, &st) < 0 ? lvm_fail_errno("%s", path)
					      : read_state(s, fd, path, (uint64_t)st.st_size);
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		rc = open_memory(s, dir);
	if (rc < 0) {
		lvm_fail_prefix("snapshot %s: ", dir);
		lvm_saved_state_free(s);
		return NULL;
	}
	return s;
}

void lvm_saved_state_free(struct lvm_saved_state *s)
{
	if (!s)
		return;
	if (s->memory_fd >= 0)
		close(s->memory_fd);
	free(s->body);
	free(s);
}

const void *lvm_saved_state_recipe(const struct lvm_saved_state *s, size_t *len)
{
	struct lvm_state_reader r;
	*len = 0;
	if (lvm_state_section(s->body, s->body_len, "recipe", &r) < 0)
		return NULL;
	uint32_t n = lvm_state_get_u32(&r);
	if (r.failed || n != r.len - r.pos)
		return NULL;
	*len = n;
	return r.p + r.pos;
}

uint64_t lvm_saved_state_ram(const struct lvm_saved_state *s)
{
	return s->ram;
}

unsigned lvm_saved_state_cpus(const struct lvm_saved_state *s)
{
	return s->cpus;
}

/* --- loading into a new machine -------------------------------------------- */

/* The machine was built from the saved recipe (plus overrides): the same
 * devices, in the same slots. */
static int check_shape(struct lvm_machine *m, const struct lvm_saved_state *s)
{
	struct lvm_vm *vm = lvm_machine_vm(m);
	if (vm->mem.size != s->ram || vm->ncpus != s->cpus)
		return lvm_fail("the machine has %llu MiB and %u vCPUs, the saved one %llu MiB and %u",
				(unsigned long long)(vm->mem.size >> 20), vm->ncpus,
				(unsigned long long)(s->ram >> 20), s->cpus);
	uint32_t digest;
	if (lvm_x86_board_cpu_digest(lvm_machine_board(m), &digest) < 0)
		return -1;
	if (digest != s->cpu_digest)
		return lvm_fail("saved on a host with another CPU (its KVM CPUID differs from this one's)");
	struct lvm_state_reader r;
	if (lvm_state_section(s->body, s->body_len, "machine", &r) < 0)
		return -1;
	uint32_t n = lvm_state_get_u32(&r);
	if (!r.failed && n != lvm_machine_device_count(m))
		return lvm_fail("the saved machine had %u devices, this one has %u", n,
				lvm_machine_device_count(m));
	for (uint32_t i = 0; i < n && !r.failed; i++) {
		char saved[LVM_STATE_NAME_MAX + 1] = { 0 }, here[LVM_STATE_NAME_MAX + 1];
		lvm_state_get_blob(&r, saved, LVM_STATE_NAME_MAX);
		device_section(lvm_machine_device(m, i), here, sizeof(here));
		if (!r.failed && strcmp(saved, here) != 0)
			return lvm_fail("device %u is %s here, %s in the saved machine", i, here, saved);
	}
	return lvm_state_section_done(&r);
}

static int load_devices(struct lvm_machine *m, const struct lvm_saved_state *s)
{
	for (unsigned i = 0; i < lvm_machine_device_count(m); i++) {
		const struct lvm_machine_device *d = lvm_machine_device(m, i);
		char name[LVM_STATE_NAME_MAX + 1];
		device_section(d, name, sizeof(name));
		struct lvm_state_reader r;
		if (!d->type->load)
			return lvm_fail("%s: a %s cannot be restored yet", d->name, d->type->object);
		if (lvm_state_section(s->body, s->body_len, name, &r) < 0)
			return -1;
		if (d->type->load(d->dev, &r) < 0) {
			if (r.failed)
				return lvm_state_section_done(&r);
			return lvm_fail_prefix("%s: ", name);
		}
		if (lvm_state_section_done(&r) < 0)
			return -1;
		int rc = 0;
		if (s->parent && d->type->inherit)
			rc = d->type->inherit(d->dev, lvm_machine_device(s->parent, i)->dev);
		else if (!s->parent && s->dir[0] && d->type->load_files)
			rc = d->type->load_files(d->dev, s->dir, name);
		if (rc < 0)
			return lvm_fail_prefix("%s: ", name);
	}
	return 0;
}

int lvm_machine_reload(struct lvm_machine *m, const struct lvm_saved_state *s)
{
	if (quiesce_devices(m) < 0)
		return lvm_fail_prefix("restart: ");
	int rc = lvm_x86_board_load(lvm_machine_board(m), s->body, s->body_len);
	if (rc == 0)
		rc = load_devices(m, s);
	resume_devices(m, lvm_machine_device_count(m));
	return rc < 0 ? lvm_fail_prefix("restart: ") : 0;
}

int lvm_machine_load_state(struct lvm_machine *m, const struct lvm_saved_state *s)
{
	struct lvm_vm *vm = lvm_machine_vm(m);
	int rc = check_shape(m, s);
	if (rc == 0)
		rc = lvm_memory_adopt(&vm->mem, s->memory_fd);
	if (rc == 0)
		rc = lvm_x86_board_load(lvm_machine_board(m), s->body, s->body_len);
	if (rc == 0)
		rc = load_devices(m, s);
	return rc < 0 ? lvm_fail_prefix("%s: ", s->where) : 0;
}
