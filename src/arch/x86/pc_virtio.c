/*
 * Assembling the PC machine's virtio-mmio devices (see pc_virtio.h).
 */
#include "arch/x86/pc_virtio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/board.h"
#include "util/error.h"
#include "util/throttle.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/vconsole.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "arch/x86/fw/fdt.h"

static struct lvm_pc_virtio_slot *next_slot(struct lvm_pc_virtio *pv)
{
	if (pv->count >= LVM_PC_VIRTIO_MAX) {
		lvm_fail("virtio: more than %u devices", LVM_PC_VIRTIO_MAX);
		return NULL;
	}
	struct lvm_pc_virtio_slot *s = &pv->slots[pv->count];
	s->base = LVM_VIRTIO_MMIO_BASE + pv->count * LVM_VIRTIO_MMIO_SIZE;
	s->gsi = LVM_VIRTIO_FIRST_GSI + pv->count;
	return s;
}

/* Puts the recipe key in front of the current error message. */
static int prefix_error(const char *a, const char *b, const char *c)
{
	char why[256];
	snprintf(why, sizeof(why), "%s", lvm_error());
	return lvm_fail("%s%s%s: %s", a, b, c, why);
}

static int set_rate_limit(struct lvm_throttle *t, const struct lvm_rate_config *rc)
{
	if (!rc->has_bandwidth && !rc->has_ops)
		return 0;
	return lvm_throttle_set(t, rc->has_bandwidth ? &rc->bandwidth : NULL,
				rc->has_ops ? &rc->ops : NULL);
}

static int add_disk(struct lvm_vm *vm, struct lvm_pc_virtio *pv, const struct lvm_disk_config *d)
{
	struct lvm_pc_virtio_slot *s = next_slot(pv);
	if (!s)
		return -1;
	struct lvm_blk *blk = lvm_blk_new(vm, s->base, s->gsi, d->name, d->path, d->readonly);
	if (!blk)
		return prefix_error("disks.", d->name, ".path");
	s->kind = LVM_PC_BLK;
	s->device = blk;
	pv->count++;
	if (set_rate_limit(lvm_blk_throttle(blk), &d->rate_limit) < 0)
		return prefix_error("disks.", d->name, ".rate_limit");
	return 0;
}

static int add_net(struct lvm_vm *vm, struct lvm_pc_virtio *pv, const struct lvm_net_config *n)
{
	struct lvm_pc_virtio_slot *s = next_slot(pv);
	if (!s)
		return -1;
	struct lvm_net *net = lvm_net_new(vm, s->base, s->gsi, n->tap, n->mac);
	if (!net)
		return prefix_error("nets.", n->name, ".tap");
	s->kind = LVM_PC_NET;
	s->device = net;
	s->name = strdup(n->name);
	pv->count++;
	if (!s->name)
		return lvm_fail("out of memory");
	if (set_rate_limit(lvm_net_throttle(net), &n->rate_limit) < 0)
		return prefix_error("nets.", n->name, ".rate_limit");
	return 0;
}

static int add_rng(struct lvm_vm *vm, struct lvm_pc_virtio *pv)
{
	struct lvm_pc_virtio_slot *s = next_slot(pv);
	if (!s)
		return -1;
	struct lvm_rng *rng = lvm_rng_new(vm, s->base, s->gsi);
	if (!rng)
		return prefix_error("rng", "", "");
	s->kind = LVM_PC_RNG;
	s->device = rng;
	pv->count++;
	return 0;
}

static int add_console(struct lvm_vm *vm, struct lvm_pc_virtio *pv)
{
	struct lvm_pc_virtio_slot *s = next_slot(pv);
	if (!s)
		return -1;
	struct lvm_vconsole *con = lvm_vconsole_new(vm, s->base, s->gsi);
	if (!con)
		return prefix_error("virtio_console", "", "");
	s->kind = LVM_PC_CONSOLE;
	s->device = con;
	pv->count++;
	return 0;
}

int lvm_pc_attach_virtio(struct lvm_vm *vm, const struct lvm_machine_config *config,
			 struct lvm_pc_virtio **out)
{
	struct lvm_pc_virtio *pv = calloc(1, sizeof(*pv));
	if (!pv)
		return lvm_fail("out of memory");
	*out = pv;
	for (unsigned i = 0; i < config->ndisks; i++)
		if (add_disk(vm, pv, &config->disks[i]) < 0)
			return -1;
	for (unsigned i = 0; i < config->nnets; i++)
		if (add_net(vm, pv, &config->nets[i]) < 0)
			return -1;
	if (config->rng && add_rng(vm, pv) < 0)
		return -1;
	if (config->virtio_console && add_console(vm, pv) < 0)
		return -1;
	return 0;
}

int lvm_pc_virtio_start(struct lvm_pc_virtio *pv)
{
	for (unsigned i = 0; pv && i < pv->count; i++) {
		struct lvm_pc_virtio_slot *s = &pv->slots[i];
		int rc = 0;
		switch (s->kind) {
		case LVM_PC_BLK: rc = lvm_blk_start(s->device); break;
		case LVM_PC_RNG: rc = lvm_rng_start(s->device); break;
		case LVM_PC_CONSOLE: rc = lvm_vconsole_start(s->device); break;
		case LVM_PC_NET: rc = lvm_net_start(s->device); break;
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

void lvm_pc_virtio_free(struct lvm_pc_virtio *pv)
{
	if (!pv)
		return;
	for (unsigned i = 0; i < pv->count; i++) {
		struct lvm_pc_virtio_slot *s = &pv->slots[i];
		switch (s->kind) {
		case LVM_PC_BLK: lvm_blk_free(s->device); break;
		case LVM_PC_RNG: lvm_rng_free(s->device); break;
		case LVM_PC_CONSOLE: lvm_vconsole_free(s->device); break;
		case LVM_PC_NET: lvm_net_free(s->device); break;
		}
		free(s->name);
	}
	free(pv->dtb);
	free(pv);
}

char *lvm_pc_virtio_cmdline(const struct lvm_pc_virtio *pv, const char *cmdline)
{
	size_t len = (cmdline ? strlen(cmdline) : 0) + 1 + pv->count * 64;
	char *out = malloc(len);
	if (!out) {
		lvm_fail("out of memory");
		return NULL;
	}
	size_t n = (size_t)snprintf(out, len, "%s", cmdline ? cmdline : "");
	for (unsigned i = 0; i < pv->count; i++)
		n += (size_t)snprintf(out + n, len - n, "%svirtio_mmio.device=%lluK@0x%llx:%u",
				      n ? " " : "", (unsigned long long)(LVM_VIRTIO_MMIO_SIZE >> 10),
				      (unsigned long long)pv->slots[i].base, pv->slots[i].gsi);
	return out;
}

int lvm_pc_write_fdt(struct lvm_vm *vm, struct lvm_pc_virtio *pv, const char *bootargs)
{
	struct lvm_fdt_virtio nodes[LVM_PC_VIRTIO_MAX];
	for (unsigned i = 0; i < pv->count; i++)
		nodes[i] = (struct lvm_fdt_virtio){ pv->slots[i].base, LVM_VIRTIO_MMIO_SIZE,
						    pv->slots[i].gsi };
	struct lvm_fdt_machine m = { &vm->mem, vm->ncpus, bootargs, nodes, pv->count };
	uint8_t *dst = lvm_memory_ptr(&vm->mem, LVM_FDT_ADDR, LVM_FDT_MAX);
	if (!dst)
		return lvm_fail("memory: too small for the device tree");
	int size = lvm_fdt_build(&m, dst, LVM_FDT_MAX);
	if (size < 0)
		return -1;
	free(pv->dtb);
	pv->dtb = malloc((size_t)size);
	if (!pv->dtb)
		return lvm_fail("out of memory");
	memcpy(pv->dtb, dst, (size_t)size);
	pv->dtb_size = (size_t)size;
	return 0;
}

struct lvm_blk *lvm_pc_find_disk(const struct lvm_pc_virtio *pv, const char *name)
{
	for (unsigned i = 0; pv && i < pv->count; i++)
		if (pv->slots[i].kind == LVM_PC_BLK && strcmp(lvm_blk_name(pv->slots[i].device), name) == 0)
			return pv->slots[i].device;
	return NULL;
}

struct lvm_net *lvm_pc_find_net(const struct lvm_pc_virtio *pv, const char *name)
{
	for (unsigned i = 0; pv && i < pv->count; i++)
		if (pv->slots[i].kind == LVM_PC_NET && strcmp(pv->slots[i].name, name) == 0)
			return pv->slots[i].device;
	return NULL;
}

size_t lvm_pc_virtio_console_receive(const struct lvm_pc_virtio *pv, const void *bytes, size_t n)
{
	for (unsigned i = 0; pv && i < pv->count; i++)
		if (pv->slots[i].kind == LVM_PC_CONSOLE)
			return lvm_vconsole_receive(pv->slots[i].device, bytes, n);
	return n;
}
