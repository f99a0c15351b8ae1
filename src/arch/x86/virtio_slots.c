#include "arch/x86/virtio_slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/fw/fdt.h"
#include "arch/x86/layout.h"
#include "devices/virtio/transport.h"
#include "util/error.h"

int lvm_virtio_slots_take(struct lvm_virtio_slots *s, bool pci, struct lvm_virtio_slot *out)
{
	if (s->count + s->npci >= LVM_VIRTIO_SLOTS_MAX)
		return lvm_fail("virtio: more than %u devices", LVM_VIRTIO_SLOTS_MAX);
	static const unsigned gsis[] = LVM_VIRTIO_GSIS;
	_Static_assert(sizeof(gsis) / sizeof(gsis[0]) == LVM_VIRTIO_SLOTS_MAX, "a GSI per slot");
	out->gsi = gsis[s->count + s->npci];
	if (pci) {
		struct lvm_pci_slot *p = &s->pci[s->npci++];
		*p = (struct lvm_pci_slot){ s->npci, out->gsi }; /* 00.0 is the host bridge */
		out->base = LVM_PCI_ECAM_BASE + ((uint64_t)p->dev << 15);
	} else {
		out->base = LVM_VIRTIO_MMIO_BASE + s->count * LVM_VIRTIO_MMIO_SIZE;
		s->slot[s->count++] = *out;
	}
	return 0;
}

char *lvm_virtio_slots_cmdline(const struct lvm_virtio_slots *s, const char *cmdline)
{
	size_t len = (cmdline ? strlen(cmdline) : 0) + 1 + s->count * 64;
	char *out = malloc(len);
	if (!out) {
		lvm_fail("out of memory");
		return NULL;
	}
	size_t n = (size_t)snprintf(out, len, "%s", cmdline ? cmdline : "");
	for (unsigned i = 0; i < s->count; i++)
		n += (size_t)snprintf(out + n, len - n, "%svirtio_mmio.device=%lluK@0x%llx:%u",
				      n ? " " : "", (unsigned long long)(LVM_VIRTIO_MMIO_SIZE >> 10),
				      (unsigned long long)s->slot[i].base, s->slot[i].gsi);
	return out;
}

uint8_t *lvm_virtio_slots_write_fdt(struct lvm_vm *vm, const struct lvm_virtio_slots *s,
				    const char *bootargs, size_t *size)
{
	struct lvm_fdt_virtio nodes[LVM_VIRTIO_SLOTS_MAX];
	for (unsigned i = 0; i < s->count; i++)
		nodes[i] = (struct lvm_fdt_virtio){ s->slot[i].base, LVM_VIRTIO_MMIO_SIZE, s->slot[i].gsi };
	struct lvm_fdt_machine m = { &vm->mem, vm->ncpus, bootargs, nodes, s->count };
	uint8_t *dst = lvm_memory_ptr(&vm->mem, LVM_FDT_ADDR, LVM_FDT_MAX);
	if (!dst) {
		lvm_fail("memory: too small for the device tree");
		return NULL;
	}
	int built = lvm_fdt_build(&m, dst, LVM_FDT_MAX);
	uint8_t *copy = built < 0 ? NULL : malloc((size_t)built);
	if (built >= 0 && !copy)
		lvm_fail("out of memory");
	if (copy) {
		memcpy(copy, dst, (size_t)built);
		*size = (size_t)built;
	}
	return copy;
}
