#include "arch/x86/board.h"
#include "arch/x86/pc_cpus.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/boot/boot64.h"
#include "arch/x86/boot/boot_kind.h"
#include "arch/x86/cpu/cpuid.h"
#include "arch/x86/interrupts.h"
#include "arch/x86/layout.h"
#include "arch/x86/boot/loader_bzimage.h"
#include "arch/x86/boot/loader_elf.h"
#include "arch/x86/boot/loader_multiboot.h"
#include "arch/x86/boot/loader_pvh.h"
#include "util/error.h"
#include "util/file.h"
#include "luavmm/bootinfo.h"

struct lvm_pc *lvm_pc_of(struct lvm_vm *vm)
{
	return vm->devices;
}

static void free_pc_devices(struct lvm_vm *vm)
{
	struct lvm_pc *pc = vm->devices;
	if (!pc)
		return;
	lvm_serial_free(pc->serial);
	lvm_pc_virtio_free(pc->virtio);
	free(pc);
	vm->devices = NULL;
}

static void on_debug_exit(void *opaque, uint32_t value)
{
	struct lvm_vm *vm = opaque;
	lvm_pc_of(vm)->exit_value = value;
	/* isa-debug-exit convention: the exit status is (value << 1) | 1. */
	lvm_vm_stop(vm, LVM_STOP_EXIT, ((int64_t)value << 1) | 1,
		    "debug-exit port written with %u", value);
}

static void on_i8042_reset(void *opaque)
{
	lvm_vm_stop(opaque, LVM_STOP_RESET, 0, "reset through the i8042 controller");
}

static int attach_devices(struct lvm_vm *vm)
{
	struct lvm_pc *pc = calloc(1, sizeof(*pc));
	if (!pc)
		return lvm_fail("out of memory");
	vm->devices = pc;
	vm->free_devices = free_pc_devices;
	struct lvm_irq_line irq4 = { lvm_vm_set_irq, vm, LVM_PC_SERIAL_IRQ };
	pc->serial = lvm_serial_new(irq4, &vm->console);
	if (!pc->serial)
		return -1;
	pc->debug_exit = (struct lvm_debug_exit){ on_debug_exit, vm };
	lvm_i8042_init(&pc->i8042, on_i8042_reset, vm);
	if (lvm_bus_register(&vm->pio, LVM_PC_SERIAL_PORT, 8, lvm_serial_io, pc->serial,
			     "serial8250") < 0 ||
	    lvm_bus_register(&vm->pio, LVM_PC_DEBUG_EXIT_PORT, 4, lvm_debug_exit_io,
			     &pc->debug_exit, "debug-exit") < 0 ||
	    lvm_bus_register(&vm->pio, 0x60, 1, lvm_i8042_data_io, &pc->i8042, "i8042") < 0 ||
	    lvm_bus_register(&vm->pio, 0x64, 1, lvm_i8042_status_io, &pc->i8042, "i8042") < 0)
		return -1;
	return 0;
}

static int write_bootinfo(struct lvm_vm *vm, const char *cmdline)
{
	size_t len = cmdline ? strlen(cmdline) : 0;
	if (len + 1 > LVM_BOOT_CMDLINE_MAX)
		return lvm_fail("cmdline: %zu bytes is longer than the limit of %u", len,
				LVM_BOOT_CMDLINE_MAX - 1);
	char *dst = lvm_memory_ptr(&vm->mem, LVM_BOOT_CMDLINE_ADDR, len + 1);
	struct lvm_bootinfo *info = lvm_memory_ptr(&vm->mem, LVM_BOOT_INFO_ADDR, sizeof(*info));
	if (!dst || !info)
		return lvm_fail("memory: too small for the boot data");
	memcpy(dst, cmdline ? cmdline : "", len + 1);
	*info = (struct lvm_bootinfo){
		.magic = LVM_BOOTINFO_MAGIC,
		.version = LVM_BOOTINFO_VERSION,
		.mem_size = vm->mem.size,
		.cmdline_addr = LVM_BOOT_CMDLINE_ADDR,
		.cmdline_len = (uint32_t)len,
		.ncpus = vm->ncpus,
	};
	const struct lvm_pc_virtio *pv = lvm_pc_of(vm)->virtio;
	if (pv && pv->dtb) {
		info->dtb_addr = LVM_FDT_ADDR;
		info->dtb_size = (uint32_t)pv->dtb_size;
	}
	return 0;
}

static int load_elf64(struct lvm_vm *vm, const struct lvm_machine_config *config,
		     const uint8_t *data, size_t size)
{
	if (config->initrd)
		return lvm_fail("initrd %s: the elf64 boot protocol cannot pass an initrd (use pvh, bzimage or multiboot)",
				config->initrd);
	struct lvm_elf_image image;
	if (lvm_elf64_load(&vm->mem, config->kernel, data, size, LVM_BOOT_LOW_LIMIT, &image) < 0)
		return -1;
	if (write_bootinfo(vm, config->cmdline) < 0 || lvm_x86_write_long_mode_tables(vm) < 0)
		return -1;
	return lvm_x86_enter_long_mode(&vm->vcpus[0], image.entry, LVM_BOOT_INFO_ADDR);
}

/* Reads the kernel and hands it to the loader of its boot protocol (boot_kind.h). */
static int load_kernel(struct lvm_vm *vm, const struct lvm_machine_config *config)
{
	size_t size;
	uint8_t *data = lvm_read_file("kernel", config->kernel, vm->mem.size, &size);
	if (!data)
		return -1;
	int rc = -1;
	switch (lvm_x86_boot_kind(config->kernel, config->boot, data, size)) {
	case LVM_BOOT_ELF64:
		rc = load_elf64(vm, config, data, size);
		break;
	case LVM_BOOT_PVH:
		rc = lvm_pvh_load(vm, config, data, size);
		break;
	case LVM_BOOT_BZIMAGE:
		rc = lvm_bzimage_load(vm, config, data, size);
		break;
	case LVM_BOOT_MULTIBOOT:
		rc = lvm_multiboot_load(vm, config, data, size);
		break;
	default:
		break;
	}
	free(data);
	return rc;
}

const void *lvm_fdt_blob(struct lvm_vm *vm, size_t *size)
{
	const struct lvm_pc_virtio *pv = lvm_pc_of(vm) ? lvm_pc_of(vm)->virtio : NULL;
	*size = pv ? pv->dtb_size : 0;
	return pv ? pv->dtb : NULL;
}

/* Virtio devices, their command-line entries and the device tree, then the kernel. */
static int attach_virtio_and_load(struct lvm_vm *vm, const struct lvm_machine_config *config)
{
	struct lvm_pc *pc = lvm_pc_of(vm);
	if (lvm_pc_attach_virtio(vm, config, &pc->virtio) < 0)
		return -1;
	struct lvm_machine_config final = *config;
	char *cmdline = NULL;
	if (pc->virtio->count) {
		cmdline = lvm_pc_virtio_cmdline(pc->virtio, config->cmdline);
		if (!cmdline)
			return -1;
		final.cmdline = cmdline;
	}
	int rc = lvm_pc_write_fdt(vm, pc->virtio, final.cmdline);
	rc = rc < 0 ? rc : load_kernel(vm, &final);
	free(cmdline);
	return rc < 0 ? rc : lvm_pc_virtio_start(pc->virtio);
}

struct lvm_vm *lvm_pc_create(const struct lvm_machine_config *config)
{
	struct lvm_vm_options opts = { .mem_size = config->mem_size, .ncpus = config->ncpus };
	struct lvm_vm *vm = lvm_vm_create(&opts);
	if (!vm) {
		if (config->console_owns_fd && config->console_fd >= 0)
			close(config->console_fd);
		return NULL;
	}
	lvm_console_set_sink(&vm->console, config->console_fd, config->console_owns_fd);
	if (lvm_pc_write_firmware(vm) < 0)
		goto fail;
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (lvm_pc_setup_vcpu(vm, &vm->vcpus[i], config) < 0)
			goto fail;
	if (lvm_x86_interrupts_attach(vm) < 0 || attach_devices(vm) < 0 ||
	    attach_virtio_and_load(vm, config) < 0)
		goto fail;
	return vm;
fail:
	lvm_vm_destroy(vm);
	return NULL;
}
