/*
 * The PC machine's virtio-mmio devices: one LVM_VIRTIO_MMIO_SIZE window
 * each from LVM_VIRTIO_MMIO_BASE and one GSI each from
 * LVM_VIRTIO_FIRST_GSI, in a fixed order (disks by name, nets by name,
 * rng, console), plus the device tree and command-line entries that
 * describe them.
 */
#ifndef LVM_ARCH_X86_PC_VIRTIO_H
#define LVM_ARCH_X86_PC_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/vm.h"

struct lvm_machine_config;
struct lvm_blk;

#define LVM_PC_VIRTIO_MAX 16u /* GSIs 5..20 on the I/O APIC */

enum lvm_pc_virtio_kind { LVM_PC_BLK, LVM_PC_NET, LVM_PC_RNG, LVM_PC_CONSOLE };

struct lvm_pc_virtio_slot {
	enum lvm_pc_virtio_kind kind;
	uint64_t base;
	unsigned gsi;
	void *device; /* struct lvm_blk *, ... */
	char *name;   /* nets: the recipe's name (disks keep theirs) */
};

struct lvm_pc_virtio {
	struct lvm_pc_virtio_slot slots[LVM_PC_VIRTIO_MAX];
	unsigned count;
	uint8_t *dtb; /* a copy of the blob placed at LVM_FDT_ADDR */
	size_t dtb_size;
};

/* Attaches every virtio device the config asks for; -1 + lvm_error on failure. */
int lvm_pc_attach_virtio(struct lvm_vm *vm, const struct lvm_machine_config *config,
			 struct lvm_pc_virtio **out);
void lvm_pc_virtio_free(struct lvm_pc_virtio *pv);
/*
 * `cmdline` plus a "virtio_mmio.device=4K@0xBASE:GSI" entry per device
 * (Linux's virtio_mmio module parameter); malloc'd, NULL + lvm_error on failure.
 */
char *lvm_pc_virtio_cmdline(const struct lvm_pc_virtio *pv, const char *cmdline);
/* Builds the device tree, writes it at LVM_FDT_ADDR and keeps a copy. */
int lvm_pc_write_fdt(struct lvm_vm *vm, struct lvm_pc_virtio *pv, const char *bootargs);
/* Starts the devices' I/O threads. */
int lvm_pc_virtio_start(struct lvm_pc_virtio *pv);
/* Input for the virtio console, if there is one; bytes accepted (n if none). */
size_t lvm_pc_virtio_console_receive(const struct lvm_pc_virtio *pv, const void *bytes, size_t n);
struct lvm_blk *lvm_pc_find_disk(const struct lvm_pc_virtio *pv, const char *name);
struct lvm_net;
struct lvm_net *lvm_pc_find_net(const struct lvm_pc_virtio *pv, const char *name);

#endif
