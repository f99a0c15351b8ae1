/*
 * A PCI host bridge with one bus (bus 0), the way a PC's chipset offers
 * configuration space to software:
 *   - configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2): the
 *     CONFIG_ADDRESS register at I/O port 0xcf8 (enable bit 31, bus 23:16,
 *     device 15:11, function 10:8, register 7:2) and CONFIG_DATA at 0xcfc-
 *     0xcff, any byte lane;
 *   - ECAM (PCI Express Base §7.2.2): function B/D/F's 4 KiB at
 *     ecam_base + (B << 20 | D << 15 | F << 12), described to the OS by
 *     the ACPI MCFG table; one bus, so a 1 MiB window.
 * The host bridge itself is function 00.0.  Devices attach one function
 * each (function 0 of device 1..31); config accesses to absent functions
 * read all-ones and writes vanish, as on real hardware (a master abort).
 * Each function serialises its own config space; the host only routes.
 */
#ifndef LVM_DEVICES_PCI_HOST_H
#define LVM_DEVICES_PCI_HOST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci/config.h"
#include "kvm/vm.h"

#define LVM_PCI_DEVICES 32u
#define LVM_PCI_ECAM_SIZE (1u << 20) /* bus 0: 32 devices x 8 functions x 4 KiB */
#define LVM_PCI_CONFIG_ADDRESS_PORT 0xcf8
#define LVM_PCI_CONFIG_DATA_PORT 0xcfc
/* MSI-X vectors (KVM GSIs) each device may route, from the host's first MSI GSI. */
#define LVM_PCI_VECTORS_PER_DEVICE 8u

/* A function's config access: off < LVM_PCI_ECAM_FN_SIZE, size 1/2/4. */
typedef void (*lvm_pci_config_fn)(void *opaque, uint32_t off, uint8_t *data, uint32_t size,
				  bool is_write);

/* Where the board put the bus. */
struct lvm_pci_host_layout {
	uint64_t ecam_base;       /* LVM_PCI_ECAM_SIZE bytes */
	uint64_t mem_base, mem_size; /* the memory window BARs are assigned from */
	unsigned msi_first_gsi;   /* KVM GSIs for MSI-X vectors, from here */
};

struct lvm_pci_host {
	struct lvm_vm *vm;
	uint64_t ecam_base;
	unsigned msi_first_gsi;
	uint64_t mem_next, mem_end; /* the firmware's BAR assignment, under lock */
	uint32_t config_address; /* 0xcf8; accessed atomically */
	pthread_rwlock_t lock;   /* the slots: read per access, written by add/remove */
	struct {
		lvm_pci_config_fn fn;
		void *opaque;
	} slot[LVM_PCI_DEVICES];
	pthread_mutex_t bridge_lock;
	struct lvm_pci_config bridge; /* function 00.0 */
	bool on_pio, on_mmio;
	uint64_t absent_reads; /* config reads of functions that do not exist, atomically */
};

/*
 * Registers 0xcf8/0xcfc on the VM's port bus and the ECAM window on its
 * MMIO bus.  MSI-X vectors of device d get KVM GSIs msi_first_gsi +
 * d * LVM_PCI_VECTORS_PER_DEVICE onwards.  NULL + lvm_error.
 */
struct lvm_pci_host *lvm_pci_host_new(struct lvm_vm *vm, const struct lvm_pci_host_layout *l);
/*
 * The firmware's part: an address for a memory BAR of `size` bytes (a
 * power of 2) in the window, naturally aligned, as a BIOS assigns BARs
 * before the OS starts; 0 when the window is full (the BAR then starts
 * unassigned and the OS assigns it).
 */
uint64_t lvm_pci_host_assign_bar(struct lvm_pci_host *h, uint64_t size);
void lvm_pci_host_free(struct lvm_pci_host *h);
/* Attaches a function as device `dev` (1..31), or detaches it (fn NULL). */
int lvm_pci_host_set(struct lvm_pci_host *h, unsigned dev, lvm_pci_config_fn fn, void *opaque);
/* The first KVM GSI of device dev's MSI-X vectors. */
unsigned lvm_pci_host_msi_gsi(const struct lvm_pci_host *h, unsigned dev);
/* The ECAM address of device dev's function 0 (what the board hands a device as its base). */
uint64_t lvm_pci_host_function_addr(const struct lvm_pci_host *h, unsigned dev);
/*
 * The host bridge whose ECAM window on `vm`'s MMIO bus holds `addr`, and
 * the device number addr names there (function 0, bus 0); NULL if none.
 */
struct lvm_pci_host *lvm_pci_host_at(struct lvm_vm *vm, uint64_t addr, unsigned *dev);

/* One config access to bus/device/function `bdf` (bus << 8 | dev << 3 | fn). */
void lvm_pci_host_config(struct lvm_pci_host *h, uint32_t bdf, uint32_t off, uint8_t *data,
			 uint32_t size, bool is_write);
/* The bus handlers (exposed for unit tests and the fuzz target). */
void lvm_pci_host_address_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			     bool is_write);
void lvm_pci_host_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			  bool is_write);
void lvm_pci_host_ecam_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			  bool is_write);

/* Snapshot: CONFIG_ADDRESS and the bridge function's config space. */
struct lvm_state_writer;
struct lvm_state_reader;
void lvm_pci_host_save(const struct lvm_pci_host *h, struct lvm_state_writer *w);
int lvm_pci_host_load(struct lvm_pci_host *h, struct lvm_state_reader *r);

#endif
