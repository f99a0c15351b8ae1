#include "devices/fw_cfg.h"

#include <endian.h>
#include <linux/qemu_fw_cfg.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/state.h"

#define FW_CFG_MAX_RAM 0x11 /* kvm-unit-tests' memory-limit key (QEMU's KERNEL_DATA) */
#define FIXED_ITEMS 6

struct item {
	uint16_t key;
	uint8_t *data;
	uint32_t len;
};

struct lvm_fw_cfg {
	pthread_mutex_t lock; /* vCPUs may race on the selector and the offset */
	struct item items[FIXED_ITEMS + 1 + LVM_FW_CFG_FILES_MAX];
	unsigned nitems;
	struct fw_cfg_file files[LVM_FW_CFG_FILES_MAX];
	unsigned nfiles;
	uint16_t selected;
	uint32_t offset;
};

static int add_item(struct lvm_fw_cfg *f, uint16_t key, const void *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return lvm_fail("out of memory");
	memcpy(copy, data, len);
	f->items[f->nitems++] = (struct item){ key, copy, (uint32_t)len };
	return 0;
}

static struct item *find(struct lvm_fw_cfg *f, uint16_t key)
{
	for (unsigned i = 0; i < f->nitems; i++)
		if (f->items[i].key == key)
			return &f->items[i];
	return NULL;
}

/* FW_CFG_FILE_DIR: a big-endian count, then one fw_cfg_file per file. */
static int rebuild_directory(struct lvm_fw_cfg *f)
{
	struct item *dir = find(f, FW_CFG_FILE_DIR);
	size_t len = 4 + f->nfiles * sizeof(struct fw_cfg_file);
	uint8_t *data = malloc(len);
	if (!data || !dir) {
		free(data);
		return lvm_fail("out of memory");
	}
	uint32_t count = htobe32(f->nfiles);
	memcpy(data, &count, 4);
	memcpy(data + 4, f->files, f->nfiles * sizeof(struct fw_cfg_file));
	free(dir->data);
	dir->data = data;
	dir->len = (uint32_t)len;
	return 0;
}

struct lvm_fw_cfg *lvm_fw_cfg_new(const struct lvm_fw_cfg_info *info)
{
	struct lvm_fw_cfg *f = calloc(1, sizeof(*f));
	if (!f) {
		lvm_fail("out of memory");
		return NULL;
	}
	pthread_mutex_init(&f->lock, NULL);
	uint32_t id = htole32(1); /* bit 0: the traditional interface; no DMA */
	uint64_t ram = htole64(info->ram_size), top = htole64(info->ram_top);
	uint16_t cpus = htole16((uint16_t)info->ncpus);
	uint32_t no_files = 0;
	if (add_item(f, FW_CFG_SIGNATURE, "QEMU", 4) < 0 || add_item(f, FW_CFG_ID, &id, 4) < 0 ||
	    add_item(f, FW_CFG_RAM_SIZE, &ram, 8) < 0 || add_item(f, FW_CFG_NB_CPUS, &cpus, 2) < 0 ||
	    add_item(f, FW_CFG_MAX_CPUS, &cpus, 2) < 0 || add_item(f, FW_CFG_MAX_RAM, &top, 8) < 0 ||
	    add_item(f, FW_CFG_FILE_DIR, &no_files, 4) < 0) {
		lvm_fw_cfg_free(f);
		return NULL;
	}
	return f;
}

int lvm_fw_cfg_add_file(struct lvm_fw_cfg *f, const char *name, const void *data, size_t len)
{
	size_t name_len = strlen(name);
	if (name_len == 0 || name_len > LVM_FW_CFG_NAME_MAX)
		return lvm_fail("fw_cfg: file name '%s' must be 1 to %d bytes", name, LVM_FW_CFG_NAME_MAX);
	if (len > UINT32_MAX)
		return lvm_fail("fw_cfg: file '%s' is larger than 4 GiB", name);
	if (f->nfiles >= LVM_FW_CFG_FILES_MAX)
		return lvm_fail("fw_cfg: more than %d files", LVM_FW_CFG_FILES_MAX);
	for (unsigned i = 0; i < f->nfiles; i++)
		if (strcmp(f->files[i].name, name) == 0)
			return lvm_fail("fw_cfg: file '%s' given twice", name);
	uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + f->nfiles);
	if (add_item(f, key, data, len) < 0)
		return -1;
	struct fw_cfg_file *e = &f->files[f->nfiles++];
	memset(e, 0, sizeof(*e));
	e->size = htobe32((uint32_t)len);
	e->select = htobe16(key);
	memcpy(e->name, name, name_len);
	return rebuild_directory(f);
}

void lvm_fw_cfg_free(struct lvm_fw_cfg *f)
{
	if (!f)
		return;
	for (unsigned i = 0; i < f->nitems; i++)
		free(f->items[i].data);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static uint8_t next_byte(struct lvm_fw_cfg *f)
{
	const struct item *it = find(f, f->selected & FW_CFG_ENTRY_MASK);
	if (!it || f->offset >= it->len)
		return 0;
	return it->data[f->offset++];
}

void lvm_fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
	struct lvm_fw_cfg *f = opaque;
	pthread_mutex_lock(&f->lock);
	if (offset == 0 && is_write && size >= 2) {
		f->selected = (uint16_t)(data[0] | data[1] << 8); /* selecting rewinds */
		f->offset = 0;
	} else if (offset == 0 && !is_write) {
		memset(data, 0, size); /* the selector reads back nothing useful */
	} else if (offset == 1 && !is_write) {
		for (uint32_t i = 0; i < size; i++) /* wider reads: successive bytes */
			data[i] = next_byte(f);
	}
	/* Writes to the data port are ignored: the write channel is deprecated. */
	pthread_mutex_unlock(&f->lock);
}

void lvm_fw_cfg_save(const struct lvm_fw_cfg *cf, struct lvm_state_writer *w)
{
	struct lvm_fw_cfg *f = (struct lvm_fw_cfg *)cf; /* only for the lock */
	pthread_mutex_lock(&f->lock);
	lvm_state_put_u16(w, f->selected);
	lvm_state_put_u32(w, f->offset);
	pthread_mutex_unlock(&f->lock);
}

int lvm_fw_cfg_load(struct lvm_fw_cfg *f, struct lvm_state_reader *r)
{
	uint16_t selected = lvm_state_get_u16(r);
	uint32_t offset = lvm_state_get_u32(r);
	if (r->failed)
		return -1;
	pthread_mutex_lock(&f->lock);
	/* The items come from the recipe, the same on both sides: the read
	 * position must lie within the selected one (unknown keys never move). */
	const struct item *it = find(f, selected & FW_CFG_ENTRY_MASK);
	uint32_t limit = it ? it->len : 0;
	if (offset <= limit) {
		f->selected = selected;
		f->offset = offset;
	}
	pthread_mutex_unlock(&f->lock);
	if (offset > limit)
		return lvm_state_bad(r, "read offset %u is past item 0x%04x's %u bytes", offset,
				     selected, limit);
	return 0;
}
