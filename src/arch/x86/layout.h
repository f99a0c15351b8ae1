/*
 * Where luavmm puts things in a PC guest's physical address space.  One
 * table, so loaders, firmware tables and devices never collide.
 *
 *   0x00000 - 0x00fff  real-mode IVT / BDA (left alone)
 *   0x01000            boot GDT                    (bootinfo.h)
 *   0x01800            32-bit flat GDT for PVH / multiboot entry
 *   0x02000            struct lvm_bootinfo         (bootinfo.h)
 *   0x06000 - 0x06fff  PVH hvm_start_info + memmap / multiboot info
 *   0x07000 - 0x07fff  Linux boot_params (the "zero page")
 *   0x08000            initial stack top           (bootinfo.h)
 *   0x09000 - 0x0efff  identity-map page tables    (bootinfo.h)
 *   0x20000 - 0x2ffff  kernel command line         (bootinfo.h)
 *   0x30000 - 0x3ffff  loader scratch: multiboot mmap/modules, setup_data
 *   0x40000 - 0x5ffff  flattened device tree (room for the longest command
 *                      line, LVM_BOOT_CMDLINE_MAX, plus every node)
 *   0x9fc00 - 0x9ffff  EBDA: MP floating pointer + MP table
 *   0xa0000 - 0xdffff  legacy VGA / option ROM hole (reserved in e820)
 *   0xe0000 - 0xfffff  BIOS area: ACPI RSDP and tables (reserved in e820)
 *                      0xe0000 RSDP, 0xe0040 FACS, then DSDT/FADT/MADT/
 *                      RSDT/XSDT (acpi.c);
 *                      0xf0000 MP configuration table when the EBDA is too
 *                      small for it (mptable.c);
 *                      0xfff00 the BIOS tick's IRQ 0 handler (pit = "bios")
 *   1 MiB   -          kernels, then initrd near the top of low RAM
 *   0xc0000000 - 4G    32-bit MMIO hole:
 *                      0xc0000000 - 0xcfffffff  PCI memory window (BARs)
 *                      0xd0000000               virtio-mmio windows
 *                      0xe0000000 - 0xe00fffff  PCI ECAM, bus 0 (MCFG)
 *                      then IOAPIC, LAPIC, TSS/identity map
 *   4 GiB   -          the rest of RAM on large machines
 */
#ifndef LVM_ARCH_X86_LAYOUT_H
#define LVM_ARCH_X86_LAYOUT_H

#include "luavmm/bootinfo.h"

#define LVM_PVH_INFO_ADDR      0x6000u
#define LVM_PVH_INFO_END       0x7000u
#define LVM_BOOT_GDT32_ADDR    0x1800u
#define LVM_INITRD_ALIGN       0x1000u /* boot.rst: the initrd is page aligned */
#define LVM_ZERO_PAGE_ADDR     0x7000u
#define LVM_LOADER_SCRATCH     0x30000u
#define LVM_LOADER_SCRATCH_END 0x40000u
#define LVM_FDT_ADDR           0x40000u
#define LVM_FDT_MAX            0x20000u
#define LVM_EBDA_START         0x9fc00u
#define LVM_BIOS_START         0xe0000u
#define LVM_LOW_RAM_END        0xa0000u /* start of the legacy hole */
#define LVM_HIGH_MEMORY        0x100000u

#define LVM_ACPI_RSDP_ADDR     0xe0000u /* 16-byte aligned, where OSes scan (ACPI 6.5 §5.2.5.1) */
#define LVM_ACPI_END           0xf0000u
#define LVM_MPTABLE_HIGH_ADDR  0xf0000u
/* pit = "bios": the real-mode IRQ 0 handler (EOI, IRET) IVT vector 8 points at. */
#define LVM_BIOS_TICK_HANDLER  0xfff00u
#define LVM_MPTABLE_HIGH_END   0x100000u

/* The in-kernel irqchip's fixed addresses (KVM_CREATE_IRQCHIP). */
#define LVM_IOAPIC_ADDR        0xfec00000u
#define LVM_IOAPIC_ID          0u  /* what KVM's IOAPIC ID register holds after reset */
#define LVM_IOAPIC_PINS        24u
#define LVM_LAPIC_ADDR         0xfee00000u

/* ACPI fixed hardware (devices/acpi_pm.h): PM1a event, PM1a control and PM
 * timer blocks where QEMU's PIIX4 puts them, and the SCI on ISA IRQ 9. */
#define LVM_ACPI_PM_BASE       0x600u
#define LVM_ACPI_SCI_IRQ       9u

#define LVM_VIRTIO_MMIO_BASE   0xd0000000ull
/* The IOAPIC pins virtio devices get, in order: every pin of 5..23 but
 * the RTC's (8), the SCI's (9) and the PS/2 mouse's (12), which a PC's
 * firmware and Linux expect to be theirs. */
#define LVM_VIRTIO_GSIS        { 5, 6, 7, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23 }

/* The PCI host bridge (devices/pci/host.h, transport = "pci"): the
 * window the firmware and the OS assign BARs from, ECAM for bus 0 only,
 * and the KVM GSIs of MSI-X vectors, past the IOAPIC's 24. */
#define LVM_PCI_MEM_BASE       0xc0000000ull
#define LVM_PCI_MEM_SIZE       0x10000000ull
#define LVM_PCI_ECAM_BASE      0xe0000000ull
#define LVM_PCI_BUS_END        0u     /* buses 0..0 */
#define LVM_PCI_MSI_FIRST_GSI  24u

#endif
