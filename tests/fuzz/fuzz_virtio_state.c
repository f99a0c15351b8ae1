/*
 * libFuzzer target for loading a saved virtio device (mmio.c's
 * lvm_virtio_load, then the device's own fields): the section is either
 * any bytes, or the real save of a device a driver set up with bytes of
 * it overwritten where the input says (so the fuzzer starts deep inside
 * the format).  A load that is accepted is followed by a hostile driver's
 * program (fv_run) on the rings and indices it restored, then a quiesce
 * and a save again: no value a load accepts may make a device touch memory
 * outside guest RAM, index out of bounds or spin.
 *
 * The first input byte picks the device (rng, console, blk, vsock,
 * balloon) and, with bit 7, the patched-save mode.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/device.h"
#include "devices/virtio/balloon.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vconsole.h"
#include "devices/virtio/vsock.h"
#include "fuzz_virtio.h"
#include "util/state.h"
#include "util/value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECTION_MAX 2048u

static const char *disk_path(void)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("fuzz-state-disk", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, 32 << 10) < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	return path;
}

/* blk's table entry lives in blk_type.c, outside the fuzz core: the same
 * faces through blk.h. */
static void *blk_create(const struct lvm_device_env *env, const void *params)
{
	(void)params;
	return lvm_blk_new(env->vm, env->base, env->gsi, env->name, disk_path(), false);
}
static void blk_free(void *dev) { lvm_blk_free(dev); }
static int blk_quiesce(void *dev) { return lvm_blk_quiesce(dev); }
static void blk_resume(void *dev) { lvm_blk_resume(dev); }
static void blk_save(void *dev, struct lvm_state_writer *w) { lvm_blk_save(dev, w); }
static int blk_load(void *dev, struct lvm_state_reader *r) { return lvm_blk_load(dev, r); }

static const struct lvm_device_type blk_device = {
	.key = "disks", .create = blk_create, .free = blk_free, .quiesce = blk_quiesce,
	.resume = blk_resume, .save = blk_save, .load = blk_load,
};

static const struct lvm_device_type *const kinds[] = {
	&lvm_rng_device, &lvm_vconsole_device, &blk_device, &lvm_vsock_device,
	&lvm_balloon_device,
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* A device of that kind on s's VM, as the machine makes it from a recipe entry. */
static void *create(struct fv *s, const struct lvm_device_type *type)
{
	struct lvm_field f = { .key = "cid", .value = { .type = LVM_VALUE_INTEGER, .integer = 3 } };
	struct lvm_value v = { .type = LVM_VALUE_BOOLEAN, .boolean = true };
	if (type == &lvm_vsock_device)
		v = (struct lvm_value){ .type = LVM_VALUE_TABLE, .fields = &f, .nfields = 1 };
	void *params = type->parse ? type->parse(&v, type->key, 0) : NULL;
	if (type->parse && !params)
		abort();
	struct lvm_device_env env = { .vm = &s->vm, .base = 0xd0000000u, .gsi = 5, .name = "d" };
	void *dev = type->create(&env, params);
	free(params);
	if (!dev)
		abort();
	s->t = fake_last_transport;
	return dev;
}

/* The section "dev" of a list holding `n` bytes. */
static void wrap(struct lvm_state_writer *w, const uint8_t *p, size_t n)
{
	lvm_state_writer_init(w);
	lvm_state_begin(w, "dev");
	lvm_state_put_bytes(w, p, n);
	if (lvm_state_finish(w) < 0)
		abort();
}

/* A real save of a device the input's driver set up, patched by the input. */
static size_t patched_save(struct fv *s, const struct lvm_device_type *type, struct fz *in,
			   uint8_t *out)
{
	void *dev = create(s, type);
	fv_driver_init(s, in);
	struct lvm_state_writer w;
	lvm_state_writer_init(&w);
	lvm_state_begin(&w, "dev");
	if (type->quiesce(dev) < 0)
		abort();
	type->save(dev, &w);
	type->resume(dev);
	type->free(dev);
	if (lvm_state_finish(&w) < 0)
		abort();
	struct lvm_state_reader r;
	if (lvm_state_section(w.buf, w.len, "dev", &r) < 0 || r.len > SECTION_MAX)
		abort();
	size_t n = r.len;
	memcpy(out, r.p, n);
	lvm_state_writer_free(&w);
	for (unsigned k = fz_u8(in) % 8; k > 0 && n; k--) {
		size_t at = fz_u16(in) % n;
		out[at] = fz_u8(in);
	}
	if (fz_u8(in) & 1) /* cut short */
		n = fz_u16(in) % (n + 1);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	static struct fv s;
	fv_vm_init(&s);
	uint8_t sel = fz_u8(&in);
	const struct lvm_device_type *type = kinds[(sel & 0x7f) % NKINDS];
	static uint8_t section[SECTION_MAX];
	size_t n;
	if (sel & 0x80) {
		n = patched_save(&s, type, &in, section);
	} else {
		n = fz_u16(&in) % (SECTION_MAX + 1);
		fz_bytes(&in, section, n);
	}
	void *dev = create(&s, type);
	struct lvm_state_writer w;
	wrap(&w, section, n);
	struct lvm_state_reader r;
	if (lvm_state_section(w.buf, w.len, "dev", &r) < 0)
		abort();
	int rc = type->load(dev, &r);
	int done = lvm_state_section_done(&r);
	if (rc < 0 && done == 0)
		abort(); /* a refusal must leave its reason in the reader */
	if (rc == 0 && done == 0) {
		/* What the restored machine does next: the driver carries on. */
		fv_run(&s, &in);
		if (type->quiesce(dev) == 0) {
			struct lvm_state_writer again;
			lvm_state_writer_init(&again);
			lvm_state_begin(&again, "dev");
			type->save(dev, &again);
			lvm_state_writer_free(&again);
			type->resume(dev);
		}
	}
	lvm_state_writer_free(&w);
	type->free(dev);
	fv_vm_free(&s);
	return 0;
}
