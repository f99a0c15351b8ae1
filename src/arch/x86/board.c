#include "arch/x86/board.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot/boot64.h"
#include "arch/x86/boot/boot_kind.h"
#include "arch/x86/boot/loader_bzimage.h"
#include "arch/x86/boot/loader_elf.h"
#include "arch/x86/boot/loader_multiboot.h"
#include "arch/x86/boot/loader_pvh.h"
#include "arch/x86/cpu/cpuid_config.h"
#include "arch/x86/cpu/msr.h"
#include "arch/x86/cpu/vcpu_state.h"
#include "arch/x86/fw/acpi.h"
#include "arch/x86/fw/mptable.h"
#include "arch/x86/interrupts.h"
#include "arch/x86/layout.h"
#include "arch/x86/sleep.h"
#include "arch/x86/virtio_slots.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pci/host.h"
#include "devices/rtc_cmos.h"
#include "devices/rtc_cmos_timer.h"
#include "devices/serial8250.h"
#include "kvm/vcpu.h"
#include "luavmm/bootinfo.h"
#include "util/error.h"
#include "util/file.h"
#include "util/state.h"

struct lvm_x86_board {
	struct lvm_vm *vm;
	struct lvm_serial *serial;
	struct lvm_debug_exit debug_exit;
	struct lvm_i8042 i8042;
	struct lvm_acpi_pm acpi_pm;
	struct lvm_rtc_cmos rtc;
	struct lvm_rtc_cmos_timer *rtc_timer; /* its alarm, update and periodic interrupts */
	struct lvm_x86_sleep sleep;           /* ACPI S3: the vCPUs' power-on states */
	struct lvm_fw_cfg *fw_cfg; /* NULL unless the recipe asked for it */
	struct lvm_cpuid_overrides cpuid;
	bool has_cpuid;
	struct lvm_virtio_slots slots;
	struct lvm_pci_host *pci; /* the PCI host bridge, once a device (or the machine) wants one */
	bool pci_default;         /* transport = "pci" */
	bool bios_tick;           /* pit = "bios" */
	uint8_t *dtb; /* a copy of the blob placed at LVM_FDT_ADDR */
	size_t dtb_size;
};

static void on_debug_exit(void *opaque, uint32_t value)
{
	/* isa-debug-exit convention: the exit status is (value << 1) | 1. */
	lvm_vm_stop(opaque, LVM_STOP_EXIT, ((int64_t)value << 1) | 1,
		    "debug-exit port written with %u", value);
}

static void on_i8042_reset(void *opaque)
{
	lvm_vm_stop(opaque, LVM_STOP_RESET, 0, "reset through the i8042 controller");
}

static void on_acpi_poweroff(void *opaque)
{
	lvm_vm_stop(opaque, LVM_STOP_POWEROFF, 0, "ACPI S5 (soft off) through PM1a_CNT");
}

/* ACPI S3 (sleep.h): PM1a_CNT puts the VM to sleep, a wake event wakes it. */
static void on_acpi_sleep(void *opaque)
{
	lvm_vm_suspend(opaque);
}

static void on_acpi_wake(void *opaque, const char *reason)
{
	lvm_vm_wake(opaque, reason);
}

/* The RTC's alarm interrupt is the chipset's RTC wake event (RTC_STS). */
static void on_rtc_alarm(void *opaque)
{
	lvm_acpi_pm_rtc_alarm(opaque);
}

static int attach_legacy_devices(struct lvm_x86_board *b)
{
	struct lvm_vm *vm = b->vm;
	struct lvm_irq_line irq4 = { lvm_vm_set_irq, vm, LVM_BOARD_SERIAL_IRQ };
	struct lvm_irq_line sci = { lvm_vm_set_irq, vm, LVM_ACPI_SCI_IRQ };
	uint64_t low = vm->mem.size < LVM_MMIO_HOLE_START ? vm->mem.size : LVM_MMIO_HOLE_START;
	struct lvm_rtc_cmos_info cmos = { low, vm->mem.size - low, vm->ncpus };
	b->serial = lvm_serial_new(irq4, &vm->console);
	if (!b->serial)
		return -1;
	b->debug_exit = (struct lvm_debug_exit){ on_debug_exit, vm };
	lvm_i8042_init(&b->i8042, on_i8042_reset, vm);
	if (lvm_bus_register(&vm->pio, LVM_BOARD_SERIAL_PORT, 8, lvm_serial_io, b->serial,
			     "serial8250") < 0 ||
	    lvm_bus_register(&vm->pio, LVM_BOARD_DEBUG_EXIT_PORT, 4, lvm_debug_exit_io,
			     &b->debug_exit, "debug-exit") < 0 ||
	    lvm_bus_register(&vm->pio, 0x60, 1, lvm_i8042_data_io, &b->i8042, "i8042") < 0 ||
	    lvm_bus_register(&vm->pio, 0x64, 1, lvm_i8042_status_io, &b->i8042, "i8042") < 0 ||
	    lvm_acpi_pm_attach(&b->acpi_pm, &vm->pio, LVM_ACPI_PM_BASE, sci, on_acpi_poweroff, vm) < 0 ||
	    lvm_rtc_cmos_attach(&b->rtc, &vm->pio, &cmos) < 0)
		return -1;
	lvm_acpi_pm_on_sleep(&b->acpi_pm, on_acpi_sleep, on_acpi_wake);
	lvm_rtc_cmos_connect(&b->rtc, (struct lvm_irq_line){ lvm_vm_set_irq, vm, LVM_RTC_IRQ },
			     on_rtc_alarm, &b->acpi_pm);
	return 0;
}

/* S3 and the RTC's interrupts: the vCPUs' power-on states (before any
 * loader sets vCPU 0) and the RTC's timer thread. */
static int set_up_sleep(struct lvm_x86_board *b)
{
	if (lvm_x86_sleep_init(&b->sleep, b->vm) < 0)
		return -1;
	b->rtc_timer = lvm_rtc_cmos_timer_start(&b->rtc, b->vm);
	return b->rtc_timer ? 0 : -1;
}

/* fw_cfg = true, or a table of files: { ["opt/name"] = "contents", ... }. */
static int check_fw_cfg(const struct lvm_value *v)
{
	if (!v || v->type == LVM_VALUE_BOOLEAN)
		return 0;
	if (v->type != LVM_VALUE_TABLE)
		return lvm_fail("fw_cfg must be true or a table of files {[\"opt/name\"] = \"contents\"}, not a %s",
				lvm_value_type_name(v));
	for (unsigned i = 0; i < v->nfields; i++) {
		const struct lvm_field *file = &v->fields[i];
		if (!file->key)
			return lvm_fail("fw_cfg: file names must be strings");
		if (file->value.type != LVM_VALUE_STRING)
			return lvm_fail("fw_cfg[\"%s\"] must be a string (the file's contents), not a %s",
					file->key, lvm_value_type_name(&file->value));
		if (strlen(file->key) == 0 || strlen(file->key) > LVM_FW_CFG_NAME_MAX)
			return lvm_fail("fw_cfg: file name '%s' must be 1 to %d bytes", file->key,
					LVM_FW_CFG_NAME_MAX);
	}
	return 0;
}

static int compare_field_keys(const void *a, const void *b)
{
	return strcmp((*(const struct lvm_field *const *)a)->key,
		      (*(const struct lvm_field *const *)b)->key);
}

/* QEMU's fw_cfg at 0x510 (devices/fw_cfg.h), when the recipe asks for it:
 * off by default because recipes commonly serve port 0x510 from Lua. */
static int attach_fw_cfg(struct lvm_x86_board *b, const struct lvm_value *v)
{
	if (!v || (v->type == LVM_VALUE_BOOLEAN && !v->boolean))
		return 0;
	struct lvm_vm *vm = b->vm;
	uint64_t top = vm->mem.size <= LVM_MMIO_HOLE_START
			       ? vm->mem.size
			       : LVM_HIGH_RAM_START + (vm->mem.size - LVM_MMIO_HOLE_START);
	struct lvm_fw_cfg_info info = { vm->mem.size, top, vm->ncpus };
	b->fw_cfg = lvm_fw_cfg_new(&info);
	if (!b->fw_cfg || lvm_fw_cfg_enable_dma(b->fw_cfg, &vm->mem) < 0)
		return -1;
	/* The directory in name order, as QEMU lists it, whatever the table's order. */
	const struct lvm_field *files[LVM_FW_CFG_FILES_MAX];
	unsigned n = 0;
	for (unsigned i = 0; v->type == LVM_VALUE_TABLE && i < v->nfields; i++) {
		if (n == LVM_FW_CFG_FILES_MAX)
			return lvm_fail("fw_cfg: more than %d files", LVM_FW_CFG_FILES_MAX);
		files[n++] = &v->fields[i];
	}
	qsort(files, n, sizeof(files[0]), compare_field_keys);
	for (unsigned i = 0; i < n; i++)
		if (lvm_fw_cfg_add_file(b->fw_cfg, files[i]->key, files[i]->value.str,
					files[i]->value.len) < 0)
			return -1;
	if (lvm_bus_register(&vm->pio, LVM_FW_CFG_PORT, LVM_FW_CFG_PORTS, lvm_fw_cfg_io,
			     b->fw_cfg, "fw_cfg") < 0)
		return -1;
	return lvm_bus_register(&vm->pio, LVM_FW_CFG_DMA_PORT, LVM_FW_CFG_DMA_PORTS,
				lvm_fw_cfg_dma_io, b->fw_cfg, "fw_cfg.dma");
}

/* A vCPU's CPUID (topology + the recipe's overrides) and MSR defaults. */
static int set_up_vcpu(void *ctx, struct lvm_vcpu *vcpu)
{
	struct lvm_x86_board *b = ctx;
	return lvm_x86_setup_cpuid(b->vm, vcpu, b->has_cpuid ? &b->cpuid : NULL) < 0 ||
			       lvm_x86_setup_msrs(b->vm, vcpu) < 0
		       ? -1
		       : 0;
}

/* The MP table, then the boot vCPU's set-up (the loader sets it next); the
 * others are set up on their own threads, or before their state is read
 * or written (kvm/vm.h, lvm_vcpu_setup).  The ACPI tables wait for the
 * devices' slots (boot). */
static int set_up_cpus(struct lvm_x86_board *b)
{
	struct lvm_vm *vm = b->vm;
	if (lvm_x86_mptable_write(vm) < 0)
		return -1;
	if (b->has_cpuid)
		lvm_x86_cpuid_warn_unsupported(vm, &b->cpuid);
	lvm_vm_set_vcpu_setup(vm, &(struct lvm_vcpu_setup){ set_up_vcpu, b });
	return lvm_vcpu_set_up(&vm->vcpus[0]);
}

/* irqchip = "split" (default: LAPICs in KVM, PIC and IOAPIC here) | "kernel"
 * (all of them in KVM); pit = true adds an 8254 (in KVM or here, to match),
 * "bios" one a multiboot entry finds ticking (lvm_x86_bios_tick). */
static int interrupt_options(const struct lvm_x86_board_config *config,
			     struct lvm_vm_options *opts, bool *bios_tick)
{
	const struct lvm_value *chip = config->irqchip, *pit = config->pit;
	opts->irqchip = LVM_IRQCHIP_SPLIT;
	if (chip && chip->type == LVM_VALUE_STRING && strcmp(chip->str, "kernel") == 0)
		opts->irqchip = LVM_IRQCHIP_KERNEL;
	else if (chip && !(chip->type == LVM_VALUE_STRING && strcmp(chip->str, "split") == 0))
		return lvm_fail("irqchip must be \"split\" or \"kernel\", not %s",
				lvm_value_show(chip, (char[64]){ 0 }, 64));
	bool bios = pit && pit->type == LVM_VALUE_STRING && strcmp(pit->str, "bios") == 0;
	if (pit && pit->type != LVM_VALUE_BOOLEAN && !bios)
		return lvm_fail("pit must be true, false or \"bios\", not %s",
				lvm_value_show(pit, (char[64]){ 0 }, 64));
	opts->pit = bios || (pit && pit->type == LVM_VALUE_BOOLEAN && pit->boolean);
	if (bios_tick)
		*bios_tick = bios;
	return 0;
}

int lvm_x86_transport_parse(const struct lvm_value *v, const char *where,
			    enum lvm_x86_transport *out)
{
	*out = LVM_X86_TRANSPORT_DEFAULT;
	if (!v || v->type == LVM_VALUE_NIL)
		return 0;
	if (v->type == LVM_VALUE_STRING && strcmp(v->str, "mmio") == 0)
		*out = LVM_X86_TRANSPORT_MMIO;
	else if (v->type == LVM_VALUE_STRING && strcmp(v->str, "pci") == 0)
		*out = LVM_X86_TRANSPORT_PCI;
	else
		return lvm_fail("%s must be \"mmio\" or \"pci\", not %s", where,
				lvm_value_show(v, (char[64]){ 0 }, 64));
	return 0;
}

int lvm_x86_board_check(const struct lvm_x86_board_config *config)
{
	struct lvm_cpuid_overrides cpuid;
	struct lvm_vm_options opts;
	enum lvm_x86_transport transport;
	if (config->cpuid && lvm_x86_cpuid_parse(config->cpuid, &cpuid) < 0)
		return -1;
	if (lvm_x86_transport_parse(config->transport, "transport", &transport) < 0)
		return -1;
	return interrupt_options(config, &opts, NULL) < 0 ? -1 : check_fw_cfg(config->fw_cfg);
}

/* The PCI host bridge: 0xcf8/0xcfc, ECAM, the BAR window (layout.h). */
static int attach_pci(struct lvm_x86_board *b)
{
	struct lvm_pci_host_layout l = { LVM_PCI_ECAM_BASE, LVM_PCI_MEM_BASE, LVM_PCI_MEM_SIZE,
					 LVM_PCI_MSI_FIRST_GSI };
	b->pci = lvm_pci_host_new(b->vm, &l);
	b->slots.pci_bus = b->pci != NULL;
	return b->pci ? 0 : -1;
}

struct lvm_x86_board *lvm_x86_board_create(const struct lvm_x86_board_config *config)
{
	struct lvm_x86_board *b = calloc(1, sizeof(*b));
	if (!b) {
		lvm_fail("out of memory");
		return NULL;
	}
	b->has_cpuid = config->cpuid != NULL;
	struct lvm_vm_options opts = { .mem_size = config->mem_size, .ncpus = config->ncpus };
	if ((b->has_cpuid && lvm_x86_cpuid_parse(config->cpuid, &b->cpuid) < 0) ||
	    interrupt_options(config, &opts, &b->bios_tick) < 0)
		goto fail;
	enum lvm_x86_transport transport;
	if (lvm_x86_transport_parse(config->transport, "transport", &transport) < 0)
		goto fail;
	b->pci_default = transport == LVM_X86_TRANSPORT_PCI;
	b->vm = lvm_vm_create(&opts);
	/* The interrupt controllers first: the devices after them drive their lines. */
	if (!b->vm || lvm_x86_interrupts_attach(b->vm) < 0 || set_up_cpus(b) < 0 ||
	    attach_legacy_devices(b) < 0 || attach_fw_cfg(b, config->fw_cfg) < 0 ||
	    (b->pci_default && attach_pci(b) < 0) || set_up_sleep(b) < 0)
		goto fail;
	return b;
fail:
	lvm_x86_board_destroy(b);
	return NULL;
}

struct lvm_vm *lvm_x86_board_vm(struct lvm_x86_board *board)
{
	return board->vm;
}

int lvm_x86_board_slot(struct lvm_x86_board *board, enum lvm_x86_transport transport,
		       uint64_t *base, unsigned *gsi)
{
	struct lvm_virtio_slot s;
	bool pci = transport == LVM_X86_TRANSPORT_PCI ||
		   (transport == LVM_X86_TRANSPORT_DEFAULT && board->pci_default);
	if ((pci && !board->pci && attach_pci(board) < 0) ||
	    lvm_virtio_slots_take(&board->slots, pci, &s) < 0)
		return -1;
	*base = s.base;
	*gsi = s.gsi;
	return 0;
}

/* luavmm's own 64-bit entry: struct lvm_bootinfo (include/luavmm/bootinfo.h). */
static int write_bootinfo(struct lvm_x86_board *b, const char *cmdline)
{
	struct lvm_vm *vm = b->vm;
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
		.dtb_addr = b->dtb ? LVM_FDT_ADDR : 0,
		.dtb_size = (uint32_t)b->dtb_size,
	};
	return 0;
}

static int load_elf64(struct lvm_x86_board *b, const struct lvm_x86_boot *boot,
		      const uint8_t *data, size_t size)
{
	struct lvm_vm *vm = b->vm;
	if (boot->initrd)
		return lvm_fail("initrd %s: the elf64 boot protocol cannot pass an initrd (use pvh, bzimage or multiboot)",
				boot->initrd);
	struct lvm_elf_image image;
	if (lvm_elf64_load(&vm->mem, boot->kernel, data, size, LVM_BOOT_LOW_LIMIT, &image) < 0)
		return -1;
	if (write_bootinfo(b, boot->cmdline) < 0 || lvm_x86_write_long_mode_tables(vm) < 0)
		return -1;
	return lvm_x86_enter_long_mode(&vm->vcpus[0], image.entry, LVM_BOOT_INFO_ADDR);
}

/* Reads the kernel and hands it to the loader of its boot protocol (boot_kind.h). */
static int load_kernel(struct lvm_x86_board *b, const struct lvm_x86_boot *boot,
		       const char *protocol)
{
	size_t size;
	uint8_t *data = lvm_read_file("kernel", boot->kernel, b->vm->mem.size, &size);
	if (!data)
		return -1;
	int rc = -1;
	switch (lvm_x86_boot_kind(boot->kernel, protocol, data, size)) {
	case LVM_BOOT_ELF64: rc = load_elf64(b, boot, data, size); break;
	case LVM_BOOT_PVH: rc = lvm_pvh_load(b->vm, boot, data, size); break;
	case LVM_BOOT_BZIMAGE: rc = lvm_bzimage_load(b->vm, boot, data, size); break;
	case LVM_BOOT_MULTIBOOT:
		rc = lvm_multiboot_load(b->vm, boot, data, size);
		if (rc == 0)
			rc = lvm_x86_pic_bios_state(b->vm);
		if (rc == 0 && b->bios_tick)
			rc = lvm_x86_bios_tick(b->vm);
		break;
	default: break;
	}
	free(data);
	return rc;
}

/* Firmware tables, command line and device tree; the kernel too if `kernel`. */
static int board_boot(struct lvm_x86_board *board, const struct lvm_x86_board_config *config,
		      bool kernel)
{
	char *cmdline = NULL;
	/* The DSDT lists the devices: now that they have their slots, and
	 * before any loader, which may point at the RSDP. */
	if (lvm_x86_acpi_write(board->vm, &board->slots) < 0)
		return -1;
	if (board->slots.count) {
		cmdline = lvm_virtio_slots_cmdline(&board->slots, config->cmdline);
		if (!cmdline)
			return -1;
	}
	struct lvm_x86_boot boot = { config->kernel, cmdline ? cmdline : config->cmdline,
				     config->initrd, NULL, 0 };
	free(board->dtb);
	board->dtb = lvm_virtio_slots_write_fdt(board->vm, &board->slots, boot.cmdline,
						&board->dtb_size);
	int rc = -1;
	if (board->dtb) {
		boot.dtb = board->dtb;
		boot.dtb_size = board->dtb_size;
		rc = kernel ? load_kernel(board, &boot, config->boot) : 0;
	}
	free(cmdline);
	return rc;
}

int lvm_x86_board_boot(struct lvm_x86_board *board, const struct lvm_x86_board_config *config)
{
	return board_boot(board, config, true);
}

int lvm_x86_board_prepare(struct lvm_x86_board *board, const struct lvm_x86_board_config *config)
{
	return board_boot(board, config, false);
}

int lvm_x86_board_cpu_digest(struct lvm_x86_board *board, uint32_t *digest)
{
	return lvm_x86_cpuid_digest(board->vm, digest);
}

void lvm_x86_board_power_button(struct lvm_x86_board *board)
{
	lvm_acpi_pm_power_button(&board->acpi_pm);
}

bool lvm_x86_board_wake(struct lvm_x86_board *board)
{
	return lvm_acpi_pm_wake(&board->acpi_pm, "host");
}

size_t lvm_x86_board_input(struct lvm_x86_board *board, const void *bytes, size_t n)
{
	return lvm_serial_receive(board->serial, bytes, n);
}

const void *lvm_x86_board_dtb(const struct lvm_x86_board *board, size_t *size)
{
	*size = board->dtb_size;
	return board->dtb;
}

void lvm_x86_board_destroy(struct lvm_x86_board *board)
{
	if (!board)
		return;
	if (board->vm)
		lvm_vm_halt(board->vm); /* no vCPU may touch the devices below any more */
	lvm_rtc_cmos_timer_stop(board->rtc_timer); /* nor the RTC's timer */
	lvm_x86_sleep_free(&board->sleep);
	lvm_serial_free(board->serial);
	lvm_fw_cfg_free(board->fw_cfg);
	lvm_pci_host_free(board->pci); /* its functions (devices) are gone already */
	free(board->dtb);
	lvm_vm_destroy(board->vm);
	free(board);
}

/* --- snapshot ------------------------------------------------------------- */

/* A legacy device's section: its own save/load (devices/X.h). */
struct legacy_part {
	const char *section;
	void (*save)(const void *dev, struct lvm_state_writer *w);
	int (*load)(void *dev, struct lvm_state_reader *r);
};

/* Typed wrappers: each device's functions take its own struct. */
#define PART_FNS(type, fn)                                                           \
	static void save_##fn(const void *dev, struct lvm_state_writer *w)           \
	{                                                                            \
		lvm_##fn##_save((const type *)dev, w);                               \
	}                                                                            \
	static int load_##fn(void *dev, struct lvm_state_reader *r)                  \
	{                                                                            \
		return lvm_##fn##_load((type *)dev, r);                              \
	}
PART_FNS(struct lvm_serial, serial)
PART_FNS(struct lvm_i8042, i8042)
PART_FNS(struct lvm_acpi_pm, acpi_pm)
PART_FNS(struct lvm_rtc_cmos, rtc_cmos)
PART_FNS(struct lvm_fw_cfg, fw_cfg)
PART_FNS(struct lvm_pci_host, pci_host)
#define PART(name, fn) { name, save_##fn, load_##fn }

/* The devices that drive interrupt lines load before the interrupt
 * controllers do (so a kernel IOAPIC does not see a saved high line as
 * a new edge): this order is both the save and the load order. */
static const struct legacy_part legacy_parts[] = {
	PART("serial8250", serial), PART("i8042", i8042), PART("acpi_pm", acpi_pm),
	PART("rtc_cmos", rtc_cmos), PART("fw_cfg", fw_cfg), PART("pci_host", pci_host),
};

static void *legacy_device(struct lvm_x86_board *b, size_t i)
{
	void *devs[] = { b->serial, &b->i8042, &b->acpi_pm, &b->rtc, b->fw_cfg, b->pci };
	_Static_assert(sizeof(devs) / sizeof(devs[0]) ==
			       sizeof(legacy_parts) / sizeof(legacy_parts[0]),
		       "one device per part");
	return devs[i];
}

int lvm_x86_board_save(struct lvm_x86_board *board, struct lvm_state_writer *w)
{
	struct lvm_vm *vm = board->vm;
	for (size_t i = 0; i < sizeof(legacy_parts) / sizeof(legacy_parts[0]); i++) {
		void *dev = legacy_device(board, i);
		if (!dev)
			continue; /* fw_cfg or the PCI host bridge when the recipe has none */
		lvm_state_begin(w, legacy_parts[i].section);
		legacy_parts[i].save(dev, w);
	}
	if (lvm_x86_interrupts_save(vm, w) < 0)
		return -1;
	lvm_state_begin(w, "clock");
	if (lvm_x86_clock_save(vm, w) < 0)
		return -1;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		char name[16];
		snprintf(name, sizeof(name), "cpu.%u", i);
		lvm_state_begin(w, name);
		if (lvm_x86_vcpu_save(&vm->vcpus[i], w) < 0)
			return lvm_fail_prefix("%s: ", name);
	}
	return 0;
}

/* Opens section `name` and runs `load` on it, then checks it was all read. */
static int load_section(const void *state, size_t len, const char *name,
			int (*load)(void *ctx, struct lvm_state_reader *r), void *ctx)
{
	struct lvm_state_reader r;
	if (lvm_state_section(state, len, name, &r) < 0)
		return -1;
	int rc = load(ctx, &r);
	if (r.failed || rc == 0)
		return lvm_state_section_done(&r);
	return lvm_fail_prefix("%s: ", name);
}

static int load_vcpu(void *vcpu, struct lvm_state_reader *r)
{
	return lvm_x86_vcpu_load(vcpu, r);
}

static int load_clock(void *vm, struct lvm_state_reader *r)
{
	return lvm_x86_clock_load(vm, r);
}

int lvm_x86_board_load(struct lvm_x86_board *board, const void *state, size_t len)
{
	struct lvm_vm *vm = board->vm;
	for (size_t i = 0; i < sizeof(legacy_parts) / sizeof(legacy_parts[0]); i++) {
		void *dev = legacy_device(board, i);
		bool saved = lvm_state_has_section(state, len, legacy_parts[i].section);
		if (!dev && saved)
			return lvm_fail("the saved machine has %s, this one has not (fw_cfg = ..., transport = ...)",
					legacy_parts[i].section);
		if (dev && load_section(state, len, legacy_parts[i].section, legacy_parts[i].load,
					dev) < 0)
			return -1;
	}
	if (lvm_x86_interrupts_load(vm, state, len) < 0)
		return -1;
	/* A machine saved in S3 sleeps on: its vCPUs enter the sleep as they start. */
	lvm_vm_sleep_restore(vm, lvm_acpi_pm_sleeping(&board->acpi_pm));
	for (unsigned i = 0; i < vm->ncpus; i++) {
		char name[16];
		snprintf(name, sizeof(name), "cpu.%u", i);
		if (load_section(state, len, name, load_vcpu, &vm->vcpus[i]) < 0)
			return -1;
	}
	/* The clock last: loading a vCPU's TSC must not move it again. */
	return load_section(state, len, "clock", load_clock, vm);
}
