/*
 * The x86 board luavmm builds: RAM, the interrupt controllers (a split
 * irqchip by default: LAPICs in KVM, the 8259A pair and the IOAPIC in
 * userspace, see interrupts.h; an 8254 PIT on request), a 16550
 * UART at 0x3f8 (IRQ 4), isa-debug-exit at 0xf4, the i8042's reset line,
 * ACPI PM hardware at 0x600 (SCI on IRQ 9; S3 and S5, sleep.h) and the
 * RTC/CMOS at 0x70 (IRQ 8, with a timer thread), ACPI and MP tables, the vCPUs with their CPUID and MSRs, virtio-mmio
 * windows or PCI functions on a host bridge (transport = "pci") handed out
 * in order (virtio_slots.h), and the kernel loaded by
 * the boot protocol it speaks (boot/boot_kind.h): luavmm's own 64-bit
 * entry, PVH and multiboot (32-bit protected mode), or a bzImage (64-bit).
 *
 * Life: create (VM, CPUs, MP table, legacy devices) -> the machine adds
 * its devices in the slots it asks for -> boot (ACPI tables, command line,
 * device tree, kernel) -> the machine starts the VM -> destroy.
 */
#ifndef LVM_ARCH_X86_BOARD_H
#define LVM_ARCH_X86_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/vm.h"
#include "util/value.h"

#define LVM_BOARD_SERIAL_PORT 0x3f8
#define LVM_BOARD_SERIAL_IRQ 4
#define LVM_BOARD_DEBUG_EXIT_PORT 0xf4

struct lvm_x86_board_config {
	uint64_t mem_size;
	unsigned ncpus;
	const char *kernel;  /* path of a kernel: ELF, bzImage or multiboot */
	const char *cmdline; /* may be NULL */
	const char *initrd;  /* path, or NULL */
	const char *boot;    /* "auto" (NULL), "elf64", "pvh", "bzimage", "multiboot" */
	const struct lvm_value *cpuid;   /* the recipe's cpuid table, or NULL */
	const struct lvm_value *irqchip; /* "split" (NULL: the default) or "kernel" */
	const struct lvm_value *pit;     /* true: an 8254 PIT (NULL: none) */
	const struct lvm_value *fw_cfg;  /* true or { [name] = contents } (NULL: none) */
	const struct lvm_value *transport; /* virtio devices: "mmio" (NULL: the default) or "pci" */
};

/* A device's own transport choice; DEFAULT follows the machine's. */
enum lvm_x86_transport { LVM_X86_TRANSPORT_DEFAULT = 0, LVM_X86_TRANSPORT_MMIO, LVM_X86_TRANSPORT_PCI };
/* "mmio" or "pci" into *out; -1 + lvm_error naming `where` for anything else. */
int lvm_x86_transport_parse(const struct lvm_value *v, const char *where,
			    enum lvm_x86_transport *out);

struct lvm_x86_board;

/* Validates the configuration without side effects: -1 + lvm_error. */
int lvm_x86_board_check(const struct lvm_x86_board_config *config);
/* The VM with its CPUs, firmware tables and legacy devices; NULL + lvm_error. */
struct lvm_x86_board *lvm_x86_board_create(const struct lvm_x86_board_config *config);
struct lvm_vm *lvm_x86_board_vm(struct lvm_x86_board *board);
/*
 * The next virtio device's place and interrupt line: a virtio-mmio window,
 * or (transport pci) the ECAM address of the next PCI device on the host
 * bridge, which is created with the first one (devices/virtio/transport.h).
 */
int lvm_x86_board_slot(struct lvm_x86_board *board, enum lvm_x86_transport transport,
		       uint64_t *base, unsigned *gsi);
/* Command line (with an entry per slot handed out), device tree, kernel. */
int lvm_x86_board_boot(struct lvm_x86_board *board, const struct lvm_x86_board_config *config);
/*
 * Snapshot and restore (machine/snapshot.h).  prepare: boot's work
 * without the kernel (a restored machine's RAM comes from the snapshot).
 * save: the vCPUs, the clock, the interrupt controllers and the legacy
 * devices, each in its own section (the VM must not be running); load:
 * the same back into a board created from the same configuration, before
 * it runs.  cpu_digest: a digest of what this host's KVM offers a guest
 * (KVM_GET_SUPPORTED_CPUID), so a state is only loaded on a host that can
 * run it.  0, or -1 + lvm_error.
 */
struct lvm_state_writer;
int lvm_x86_board_prepare(struct lvm_x86_board *board, const struct lvm_x86_board_config *config);
int lvm_x86_board_save(struct lvm_x86_board *board, struct lvm_state_writer *w);
int lvm_x86_board_load(struct lvm_x86_board *board, const void *state, size_t len);
int lvm_x86_board_cpu_digest(struct lvm_x86_board *board, uint32_t *digest);

/* Presses the ACPI fixed-feature power button (PWRBTN_STS, and the SCI
 * if the guest enabled it); an ACPI guest then powers off through S5.  In
 * S3 it wakes the machine. */
void lvm_x86_board_power_button(struct lvm_x86_board *board);
/* A wake event from outside in S3 (WAK_STS, the boot vCPU to the FACS
 * waking vector: sleep.h); false if the machine is not in S3. */
bool lvm_x86_board_wake(struct lvm_x86_board *board);
/* Console input for the UART; returns the bytes it accepted. */
size_t lvm_x86_board_input(struct lvm_x86_board *board, const void *bytes, size_t n);
/* The device tree blob (also at LVM_FDT_ADDR in guest RAM); NULL before boot. */
const void *lvm_x86_board_dtb(const struct lvm_x86_board *board, size_t *size);
/* Stops and joins the vCPUs if they run, then frees everything, the VM last. */
void lvm_x86_board_destroy(struct lvm_x86_board *board);

#endif
