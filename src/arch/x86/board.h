/*
 * The PC-like machine luavmm builds: RAM, the in-kernel irqchip, a 16550
 * UART at 0x3f8 (IRQ 4), isa-debug-exit at 0xf4, the i8042 reset line, and
 * a kernel loaded and entered in long mode.
 */
#ifndef LVM_ARCH_X86_BOARD_H
#define LVM_ARCH_X86_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/ratelimit.h"
#include "kvm/vm.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/serial8250.h"
#include "arch/x86/pc_virtio.h"

#define LVM_PC_SERIAL_PORT 0x3f8
#define LVM_PC_SERIAL_IRQ 4
#define LVM_PC_DEBUG_EXIT_PORT 0xf4

/* disks = { NAME = { path = ..., readonly = ..., rate_limit = ... } } */
struct lvm_disk_config {
	const char *name;
	const char *path;
	bool readonly;
	struct lvm_rate_config rate_limit;
};

/* nets = { NAME = { tap = "tap0", mac = "52:54:00:12:34:56", rate_limit = ... } } */
struct lvm_net_config {
	const char *name;
	const char *tap;
	uint8_t mac[6];
	struct lvm_rate_config rate_limit;
};

struct lvm_machine_config {
	uint64_t mem_size;
	const struct lvm_cpuid_overrides *cpuid; /* hide/force bits (cpuid.h), NULL for none */
	unsigned ncpus;
	const char *kernel;  /* path of a kernel: ELF, bzImage or multiboot */
	const char *cmdline; /* may be NULL */
	const char *initrd;  /* path of an initial ramdisk, or NULL */
	const char *boot;    /* "auto" (NULL), "elf64", "pvh", "bzimage", "multiboot" */
	int console_fd;      /* sink for guest output, -1 for none */
	int console_owns_fd; /* close console_fd with the VM */
	/* virtio devices (pc_virtio.c) */
	const struct lvm_disk_config *disks;
	unsigned ndisks;
	const struct lvm_net_config *nets;
	unsigned nnets;
	bool rng;
	bool virtio_console; /* port 0, sharing the console sink */
};

struct lvm_pc {
	struct lvm_serial *serial;
	struct lvm_debug_exit debug_exit;
	struct lvm_i8042 i8042;
	uint32_t exit_value; /* what the guest wrote to the debug-exit port */
	struct lvm_pc_virtio *virtio; /* virtio devices and the device tree */
};

/* Builds the whole machine, ready for lvm_vm_start; NULL + lvm_error on failure. */
struct lvm_vm *lvm_pc_create(const struct lvm_machine_config *config);
struct lvm_pc *lvm_pc_of(struct lvm_vm *vm);
/*
 * The machine's device tree blob (also at LVM_FDT_ADDR in guest RAM), for a
 * loader's boot_params setup_data SETUP_DTB; NULL when there is none.
 */
const void *lvm_fdt_blob(struct lvm_vm *vm, size_t *size);

#endif
