/*
 * virtio-blk as the machine sees it (devices/device.h): the recipe key
 *   disks = { NAME = { path = "root.img", readonly = false, snapshot = false,
 *                      rate_limit = {...} } }
 * and the faces the Lua layer offers on vm.disks.NAME.
 */
#include "devices/virtio/blk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/device.h"
#include "devices/virtio/blk_overlay.h"
#include "util/error.h"
#include "util/rate_config.h"
#include "util/throttle.h"

struct blk_params {
	const char *path;
	bool readonly;
	bool snapshot; /* writes go to a private overlay; the image is only read */
	struct lvm_rate_config rate_limit;
};

static void *blk_parse(const struct lvm_value *v, const char *where, unsigned index)
{
	static const char *const keys[] = { "path", "readonly", "snapshot", "rate_limit", NULL };
	(void)index;
	if (v->type != LVM_VALUE_TABLE) {
		lvm_fail("%s must be a table, not a %s", where, lvm_value_type_name(v));
		return NULL;
	}
	if (lvm_value_check_keys(v, where, keys, NULL) < 0)
		return NULL;
	const struct lvm_value *path = lvm_value_get(v, "path");
	const struct lvm_value *ro = lvm_value_get(v, "readonly");
	const struct lvm_value *snap = lvm_value_get(v, "snapshot");
	const struct lvm_value *rate = lvm_value_get(v, "rate_limit");
	if (!path) {
		lvm_fail("%s.path is required (the raw image file)", where);
		return NULL;
	}
	if (path->type != LVM_VALUE_STRING) {
		lvm_fail("%s.path must be a string, not a %s", where, lvm_value_type_name(path));
		return NULL;
	}
	if (ro && ro->type != LVM_VALUE_BOOLEAN) {
		lvm_fail("%s.readonly must be a boolean, not a %s", where, lvm_value_type_name(ro));
		return NULL;
	}
	if (snap && snap->type != LVM_VALUE_BOOLEAN) {
		lvm_fail("%s.snapshot must be a boolean, not a %s", where, lvm_value_type_name(snap));
		return NULL;
	}
	struct blk_params *p = calloc(1, sizeof(*p));
	if (!p) {
		lvm_fail("out of memory");
		return NULL;
	}
	p->path = path->str;
	p->readonly = ro && ro->boolean;
	p->snapshot = snap && snap->boolean; /* with readonly: allowed, and moot */
	char at[256];
	snprintf(at, sizeof(at), "%s.rate_limit", where);
	if (rate && lvm_rate_config_parse(rate, at, &p->rate_limit) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

void lvm_blk_params_set_snapshot(void *params)
{
	((struct blk_params *)params)->snapshot = true;
}

/* The image, written to unless the disk is read-only or a snapshot (the
 * overlay is an unlinked file of our own, not a resource of the recipe). */
static unsigned blk_resources(const void *params, struct lvm_device_resource *out)
{
	const struct blk_params *p = params;
	out[0] = (struct lvm_device_resource){ .key = "path", .name = p->path,
					       .write = !p->readonly && !p->snapshot };
	return 1;
}

static void *blk_create(const struct lvm_device_env *env, const void *params)
{
	const struct blk_params *p = params;
	struct lvm_blk *blk = lvm_blk_open(env->vm, env->base, env->gsi, env->name, p->path,
					   p->readonly, p->snapshot);
	if (!blk)
		return NULL; /* "path: ..." or "snapshot: ..." */
	if (lvm_throttle_configure(lvm_blk_throttle(blk), &p->rate_limit) < 0) {
		lvm_fail_prefix("rate_limit: ");
		lvm_blk_free(blk);
		return NULL;
	}
	return blk;
}

static unsigned blk_stats(void *dev, struct lvm_device_stat *out)
{
	struct lvm_blk_stats s = lvm_blk_stats(dev);
	unsigned n = 0;
	out[n++] = (struct lvm_device_stat){ "reads", s.reads };
	out[n++] = (struct lvm_device_stat){ "writes", s.writes };
	out[n++] = (struct lvm_device_stat){ "bytes_read", s.bytes_read };
	out[n++] = (struct lvm_device_stat){ "bytes_written", s.bytes_written };
	out[n++] = (struct lvm_device_stat){ "bytes", s.bytes_read + s.bytes_written };
	out[n++] = (struct lvm_device_stat){ "flushes", s.flushes };
	out[n++] = (struct lvm_device_stat){ "discards", s.discards };
	out[n++] = (struct lvm_device_stat){ "errors", s.errors };
	out[n++] = (struct lvm_device_stat){ "throttled", lvm_throttle_count(lvm_blk_throttle(dev)) };
	const struct lvm_blk_overlay *ov = lvm_blk_overlay_of(dev);
	if (ov)
		out[n++] = (struct lvm_device_stat){ "overlay_bytes", lvm_blk_overlay_bytes(ov) };
	return n;
}

static int blk_start(void *dev) { return lvm_blk_start(dev); }
static void blk_free(void *dev) { lvm_blk_free(dev); }
static void blk_set_filter(void *dev, const struct lvm_filter *f) { lvm_blk_set_filter(dev, f); }
static struct lvm_throttle *blk_throttle(void *dev) { return lvm_blk_throttle(dev); }
static int blk_quiesce(void *dev) { return lvm_blk_quiesce(dev); }
static void blk_resume(void *dev) { lvm_blk_resume(dev); }
static void blk_save(void *dev, struct lvm_state_writer *w) { lvm_blk_save(dev, w); }
static int blk_load(void *dev, struct lvm_state_reader *r) { return lvm_blk_load(dev, r); }

/* A snapshot disk's overlay lives beside the snapshot as PREFIX.overlay. */
static void overlay_path(char *out, size_t n, const char *dir, const char *prefix)
{
	snprintf(out, n, "%s/%s.overlay", dir, prefix);
}

static int blk_save_files(void *dev, const char *dir, const char *prefix)
{
	const struct lvm_blk_overlay *ov = lvm_blk_overlay_of(dev);
	char path[4096];
	overlay_path(path, sizeof(path), dir, prefix);
	if (!ov) {
		unlink(path); /* not one left from an earlier snapshot in dir */
		return 0;
	}
	return lvm_blk_overlay_save(ov, path);
}

static int blk_load_files(void *dev, const char *dir, const char *prefix)
{
	char path[4096];
	overlay_path(path, sizeof(path), dir, prefix);
	bool saved = access(path, F_OK) == 0;
	struct lvm_blk_overlay *ov = lvm_blk_overlay_of(dev);
	if (!saved)
		return 0; /* the image held all of it (a fresh overlay starts empty) */
	if (!ov)
		return lvm_fail("the snapshot has this disk's writes in %s: restore it with snapshot = true",
				path);
	return lvm_blk_replace_overlay(dev, lvm_blk_overlay_load(ov, path));
}

/* A child's writes go to its own overlay: a copy of the parent's if it
 * has one, else an empty one over the image (which the parent writes). */
static int blk_inherit(void *child, void *parent)
{
	const struct lvm_blk_overlay *ov = lvm_blk_overlay_of(parent);
	if (!ov || !lvm_blk_overlay_of(child))
		return 0;
	return lvm_blk_replace_overlay(child, lvm_blk_overlay_clone(ov));
}

const struct lvm_device_type lvm_blk_device = {
	.key = "disks",
	.object = "disk",
	.named = true,
	.parse = blk_parse,
	.resources = blk_resources,
	.create = blk_create,
	.start = blk_start,
	.free = blk_free,
	.stats = blk_stats,
	.filter_method = "on_request",
	.set_filter = blk_set_filter,
	.throttle = blk_throttle,
	.quiesce = blk_quiesce,
	.resume = blk_resume,
	.save = blk_save,
	.load = blk_load,
	.save_files = blk_save_files,
	.load_files = blk_load_files,
	.inherit = blk_inherit,
};
