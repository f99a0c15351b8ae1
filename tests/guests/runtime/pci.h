/*
 * PCI for the test guests: configuration space through mechanism #1
 * (0xcf8/0xcfc) or ECAM (found in the ACPI MCFG table, as an OS finds it),
 * bus 0 only, and a virtio-pci driver under runtime/virtio.c's API (a
 * struct vdev with `pci` set: vdev_read/vdev_write translate the
 * virtio-mmio register offsets to the common configuration structure, so
 * blk-check, rng-check, blk-bench... run unchanged over PCI).
 * Everything works at ring 3 (port I/O through IOPL 3, MMIO through the
 * U bit of the boot page tables).
 */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include <stdint.h>

#define PCI_VENDOR_VIRTIO 0x1af4
#define PCI_DEVICE_VIRTIO_MODERN 0x1040

/* The ECAM window the MCFG table gives (0 if there is none) and its buses. */
extern uint64_t pci_ecam;
extern uint8_t pci_ecam_bus_end;
/* Finds the MCFG (RSDP -> XSDT/RSDT -> MCFG, checksums checked); 0 or -1. */
int pci_find_mcfg(void);

/* Config access to bus 0, device dev, function 0: width 1, 2 or 4. */
uint32_t pci_cf8_read(unsigned dev, unsigned off, unsigned width);
void pci_cf8_write(unsigned dev, unsigned off, unsigned width, uint32_t v);
uint32_t pci_ecam_read(unsigned dev, unsigned off, unsigned width);
void pci_ecam_write(unsigned dev, unsigned off, unsigned width, uint32_t v);
/* Through ECAM when pci_use_ecam (and the MCFG was found), else mechanism #1. */
extern int pci_use_ecam;
uint32_t pci_read(unsigned dev, unsigned off, unsigned width);
void pci_write(unsigned dev, unsigned off, unsigned width, uint32_t v);

/* The next capability with this ID after offset `from` (0: from the start); 0 if none. */
unsigned pci_find_cap(unsigned dev, uint8_t id, unsigned from);
/*
 * Sizes BAR `bar` (memory decoding off meanwhile, as an OS does): writes
 * all-ones, reads the mask back, restores the address.  Returns the size
 * (0: no BAR); *is64 says whether it is a 64-bit BAR.
 */
uint64_t pci_bar_size(unsigned dev, unsigned bar, int *is64);
uint64_t pci_bar_addr(unsigned dev, unsigned bar);
/* Programs a memory BAR's address (64-bit BARs: both halves). */
void pci_bar_set(unsigned dev, unsigned bar, uint64_t addr, int is64);

struct vdev;
/*
 * Finds the virtio capabilities of device dev and fills *d for the vdev_*
 * calls (BAR 0 as programmed: the firmware assigned it); 0, or -1 if it
 * is no modern virtio-pci function.
 */
int vpci_attach(unsigned dev, struct vdev *d);
/*
 * Readies function dev the way firmware would have: a memory BAR left at 0
 * (or above the 4 GiB the runtime maps) gets an address in 0xc0000000-
 * 0xcfffffff, then memory decoding and bus mastering go on.  0, or -1 when
 * the window is full.
 */
int pci_enable(unsigned dev);
/* Scans bus 0 for virtio functions (pci_enable on each); returns how many it attached. */
int vpci_discover(struct vdev *devs, int max);

#endif
