#include "devices/fw_cfg.h"

#include <endian.h>
#include <linux/qemu_fw_cfg.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/memory.h"
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
	/* The DMA interface (NULL: none).  dma_addr is the address register
	 * the guest fills in halves (high at 0x514, low at 0x518). */
	const struct lvm_memory *mem;
	uint64_t dma_addr;
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
	uint32_t id = htole32(FW_CFG_VERSION); /* DMA: lvm_fw_cfg_enable_dma */
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

int lvm_fw_cfg_enable_dma(struct lvm_fw_cfg *f, const struct lvm_memory *mem)
{
	struct item *id = find(f, FW_CFG_ID);
	if (!id || id->len != 4)
		return lvm_fail("fw_cfg: no ID item");
	uint32_t v = htole32(FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	memcpy(id->data, &v, 4);
	f->mem = mem;
	return 0;
}

/* Selecting an item rewinds it (both interfaces). */
static void select_item(struct lvm_fw_cfg *f, uint16_t key)
{
	f->selected = key;
	f->offset = 0;
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
		select_item(f, (uint16_t)(data[0] | data[1] << 8));
	} else if (offset == 0 && !is_write) {
		memset(data, 0, size); /* the selector reads back nothing useful */
	} else if (offset == 1 && !is_write) {
		for (uint32_t i = 0; i < size; i++) /* wider reads: successive bytes */
			data[i] = next_byte(f);
	}
	/* Writes to the data port are ignored: the write channel is deprecated. */
	pthread_mutex_unlock(&f->lock);
}

/* --- the DMA interface (QEMU docs/specs/fw_cfg.rst, "DMA interface") ----- */

/*
 * Guest RAM for [gpa, gpa+len), or NULL when any of it is not RAM.  The
 * guest chooses both: lvm_memory_ptr refuses ranges that wrap or leave a
 * RAM region, so nothing outside the guest's memory is ever touched.
 */
static void *guest_ram(const struct lvm_fw_cfg *f, uint64_t gpa, uint64_t len)
{
	return lvm_memory_ptr(f->mem, gpa, len);
}

/*
 * Moves `length` bytes of the selected item, from its read offset, to
 * guest RAM at `address` (READ) or past them (SKIP); returns the new
 * control word: 0, or FW_CFG_DMA_CTL_ERROR.  The part of the request past
 * the item's end reads as zeros and moves nothing; a target outside RAM is
 * an error and, as in QEMU, the offset still advances over the item's part.
 */
static uint32_t dma_read_or_skip(struct lvm_fw_cfg *f, bool read, uint64_t address,
				 uint32_t length)
{
	const struct item *it = find(f, f->selected & FW_CFG_ENTRY_MASK);
	uint32_t left = it && f->offset < it->len ? it->len - f->offset : 0;
	uint32_t n = length < left ? length : left; /* the part inside the item */
	const uint8_t *src = n ? it->data + f->offset : NULL;
	f->offset += n; /* <= it->len: no overflow */
	if (!read)
		return 0;
	uint8_t *dst = guest_ram(f, address, length);
	if (!dst)
		return FW_CFG_DMA_CTL_ERROR;
	if (n)
		memcpy(dst, src, n);
	memset(dst + n, 0, length - n);
	return 0;
}

/*
 * One transfer, described by the fw_cfg_dma_access at `gpa` (the guest's,
 * copied once: it may change it meanwhile).  The control bits are checked
 * in QEMU's order: SELECT first, then READ, else WRITE, else SKIP; with
 * none of them the transfer is empty; other bits are ignored.  Every item
 * here is read-only, so a WRITE of one byte or more fails, as QEMU fails
 * it for its read-only items.  Completion: the control word becomes 0, or
 * FW_CFG_DMA_CTL_ERROR (also when the access itself is not wholly in RAM).
 */
static void dma_transfer(struct lvm_fw_cfg *f, uint64_t gpa)
{
	struct fw_cfg_dma_access a;
	uint32_t done = FW_CFG_DMA_CTL_ERROR;
	const void *p = guest_ram(f, gpa, sizeof(a));
	if (p) {
		memcpy(&a, p, sizeof(a));
		uint32_t control = be32toh(a.control), length = be32toh(a.length);
		if (control & FW_CFG_DMA_CTL_SELECT)
			select_item(f, (uint16_t)(control >> 16));
		if (length == 0)
			done = 0;
		else if (control & FW_CFG_DMA_CTL_READ)
			done = dma_read_or_skip(f, true, be64toh(a.address), length);
		else if (control & FW_CFG_DMA_CTL_WRITE) /* moves the offset as a SKIP would */
			done = dma_read_or_skip(f, false, 0, length) | FW_CFG_DMA_CTL_ERROR;
		else if (control & FW_CFG_DMA_CTL_SKIP)
			done = dma_read_or_skip(f, false, 0, length);
		else
			done = 0;
	}
	uint32_t *ctl = guest_ram(f, gpa + offsetof(struct fw_cfg_dma_access, control), 4);
	if (ctl) {
		uint32_t v = htobe32(done);
		memcpy(ctl, &v, 4);
	}
}

/*
 * The address register, big-endian (QEMU's x86 PC: 8 bytes at 0x514).  A
 * 32-bit write at +0 sets the high half and clears the low one; a 32-bit
 * write at +4 (port 0x518) ORs in the low half and starts the transfer, as
 * does a 64-bit write at +0 (MMIO only); other writes are ignored.  Each
 * transfer clears the register.  Reads, of any width, see the bytes of
 * "QEMU CFG" (FW_CFG_DMA_SIGNATURE, big-endian) at their offset.
 */
void lvm_fw_cfg_dma_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
		       bool is_write)
{
	struct lvm_fw_cfg *f = opaque;
	if (!is_write) {
		uint64_t sig = htobe64(FW_CFG_DMA_SIGNATURE);
		for (uint32_t i = 0; i < size && offset + i < sizeof(sig); i++)
			data[i] = ((const uint8_t *)&sig)[offset + i];
		return; /* bytes past the register keep the bus's all-ones */
	}
	if (!f->mem || size > 8)
		return;
	uint64_t value = 0; /* the device is big-endian: the first byte is the most significant */
	for (uint32_t i = 0; i < size; i++)
		value = value << 8 | data[i];
	pthread_mutex_lock(&f->lock);
	if (size == 4 && offset == 0) {
		f->dma_addr = value << 32;
	} else if ((size == 4 && offset == 4) || (size == 8 && offset == 0)) {
		uint64_t gpa = size == 8 ? value : f->dma_addr | value;
		f->dma_addr = 0; /* cleared before the transfer, as QEMU does */
		dma_transfer(f, gpa);
	}
	pthread_mutex_unlock(&f->lock);
}

void lvm_fw_cfg_save(const struct lvm_fw_cfg *cf, struct lvm_state_writer *w)
{
	struct lvm_fw_cfg *f = (struct lvm_fw_cfg *)cf; /* only for the lock */
	pthread_mutex_lock(&f->lock);
	lvm_state_put_u16(w, f->selected);
	lvm_state_put_u32(w, f->offset);
	lvm_state_put_u64(w, f->dma_addr);
	pthread_mutex_unlock(&f->lock);
}

int lvm_fw_cfg_load(struct lvm_fw_cfg *f, struct lvm_state_reader *r)
{
	uint16_t selected = lvm_state_get_u16(r);
	uint32_t offset = lvm_state_get_u32(r);
	if (r->failed)
		return -1;
	/* The items come from the recipe, the same on both sides (and never
	 * change once the guest runs): the read position must lie within the
	 * selected one (unknown keys never move). */
	const struct item *it = find(f, selected & FW_CFG_ENTRY_MASK);
	uint32_t limit = it ? it->len : 0;
	if (offset > limit)
		return lvm_state_bad(r, "read offset %u is past item 0x%04x's %u bytes", offset,
				     selected, limit);
	uint64_t dma_addr = lvm_state_get_u64(r); /* any value: checked at each transfer */
	if (r->failed)
		return -1;
	pthread_mutex_lock(&f->lock);
	f->selected = selected;
	f->offset = offset;
	f->dma_addr = dma_addr;
	pthread_mutex_unlock(&f->lock);
	return 0;
}
