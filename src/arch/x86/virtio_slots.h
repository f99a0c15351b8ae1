/*
 * Where the board puts virtio devices, in the order the machine asks (its
 * device table's order, names sorted), one GSI each from LVM_VIRTIO_GSIS
 * (layout.h: 5, 6, 7, 10, 11, 13...):
 *   - virtio-mmio: one LVM_VIRTIO_MMIO_SIZE window each from
 *     LVM_VIRTIO_MMIO_BASE; a guest learns of them from a device-tree node
 *     each, the DSDT (LNRO0005) and, for Linux's virtio_mmio module, a
 *     "virtio_mmio.device=SIZE@BASE:GSI" command-line entry each;
 *   - virtio-pci: device 1, 2, ... on the PCI host bridge's bus 0, handed
 *     out as the function's ECAM address (devices/virtio/transport.h reads
 *     it that way); the GSI is its INTA# line.  A guest finds them by
 *     enumerating the bus (MCFG and the DSDT's PCI0 say where).
 */
#ifndef LVM_ARCH_X86_VIRTIO_SLOTS_H
#define LVM_ARCH_X86_VIRTIO_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/vm.h"

#define LVM_VIRTIO_SLOTS_MAX 16u /* as many as LVM_VIRTIO_GSIS has pins */

struct lvm_virtio_slot {
	uint64_t base; /* the window (or, handed out for pci, the function's ECAM address) */
	unsigned gsi;
};

/* A virtio-pci device: device number `dev` on bus 0, INTA# on `gsi`. */
struct lvm_pci_slot {
	unsigned dev;
	unsigned gsi;
};

struct lvm_virtio_slots {
	struct lvm_virtio_slot slot[LVM_VIRTIO_SLOTS_MAX]; /* virtio-mmio windows */
	unsigned count;
	struct lvm_pci_slot pci[LVM_VIRTIO_SLOTS_MAX];     /* virtio-pci devices */
	unsigned npci;
	bool pci_bus; /* the machine has a PCI host bridge */
};

/* Hands out the next window or PCI device; -1 + lvm_error when all are taken. */
int lvm_virtio_slots_take(struct lvm_virtio_slots *s, bool pci, struct lvm_virtio_slot *out);
/* `cmdline` plus an entry per slot; malloc'd, NULL + lvm_error. */
char *lvm_virtio_slots_cmdline(const struct lvm_virtio_slots *s, const char *cmdline);
/* Builds the device tree into guest RAM at LVM_FDT_ADDR and returns a
 * malloc'd copy (*size bytes); NULL + lvm_error. */
uint8_t *lvm_virtio_slots_write_fdt(struct lvm_vm *vm, const struct lvm_virtio_slots *s,
				    const char *bootargs, size_t *size);

#endif
