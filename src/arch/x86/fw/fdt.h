/*
 * The machine's flattened device tree (devicetree spec v0.4), built with
 * libfdt: memory, cpus, the I/O APIC, the serial port and every
 * virtio-mmio window.  Test guests find their devices here (bootinfo
 * dtb_addr/dtb_size); Linux gets it through setup_data SETUP_DTB.
 */
#ifndef LVM_ARCH_X86_FW_FDT_H
#define LVM_ARCH_X86_FW_FDT_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/memory.h"

struct lvm_fdt_virtio {
	uint64_t base, size;
	unsigned irq;
};

struct lvm_fdt_machine {
	const struct lvm_memory *mem;
	unsigned ncpus;
	const char *bootargs; /* the final command line, may be NULL */
	const struct lvm_fdt_virtio *virtio;
	unsigned nvirtio;
};

/* Builds the blob into buf (at most size bytes); its length, or -1 + lvm_error. */
int lvm_fdt_build(const struct lvm_fdt_machine *m, void *buf, size_t size);

#endif
