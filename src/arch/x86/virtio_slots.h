/*
 * Where the board puts virtio-mmio devices: one LVM_VIRTIO_MMIO_SIZE window
 * each from LVM_VIRTIO_MMIO_BASE and one GSI each from LVM_VIRTIO_FIRST_GSI,
 * in the order the machine asks (its device table's order, names sorted),
 * and how a guest learns of them: a device-tree node each and, for Linux's
 * virtio_mmio module, a "virtio_mmio.device=SIZE@BASE:GSI" command-line
 * entry each.
 */
#ifndef LVM_ARCH_X86_VIRTIO_SLOTS_H
#define LVM_ARCH_X86_VIRTIO_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/vm.h"

#define LVM_VIRTIO_SLOTS_MAX 16u /* GSIs 5..20 on the I/O APIC */

struct lvm_virtio_slot {
	uint64_t base;
	unsigned gsi;
};

struct lvm_virtio_slots {
	struct lvm_virtio_slot slot[LVM_VIRTIO_SLOTS_MAX];
	unsigned count;
};

/* Hands out the next window; -1 + lvm_error when all are taken. */
int lvm_virtio_slots_take(struct lvm_virtio_slots *s, struct lvm_virtio_slot *out);
/* `cmdline` plus an entry per slot; malloc'd, NULL + lvm_error. */
char *lvm_virtio_slots_cmdline(const struct lvm_virtio_slots *s, const char *cmdline);
/* Builds the device tree into guest RAM at LVM_FDT_ADDR and returns a
 * malloc'd copy (*size bytes); NULL + lvm_error. */
uint8_t *lvm_virtio_slots_write_fdt(struct lvm_vm *vm, const struct lvm_virtio_slots *s,
				    const char *bootargs, size_t *size);

#endif
