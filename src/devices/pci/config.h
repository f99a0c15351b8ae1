/*
 * A PCI function's configuration space (PCI Local Bus 3.0 §6, type 0
 * header), as a byte array with two masks: the bits software may write and
 * the bits a written 1 clears.  Everything a guest writes goes through the
 * masks, so read-only fields (IDs, class, capability structures, BAR type
 * bits) stay what the device set, and BAR sizing works the standard way:
 * the address bits below the BAR's size are read-only zeroes, so writing
 * all-ones reads back the size mask (§6.2.5.1).
 *
 * No locking and no side effects here: the owner (a device) serialises
 * accesses and reacts to what changed (its BAR mappings, MSI-X control).
 */
#ifndef LVM_DEVICES_PCI_CONFIG_H
#define LVM_DEVICES_PCI_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define LVM_PCI_CONFIG_SIZE 256u   /* the conventional space; 256-4095 read as 0 */
#define LVM_PCI_ECAM_FN_SIZE 4096u /* one function's window in ECAM */
#define LVM_PCI_BARS 6u
#define LVM_PCI_CAP_START 0x40u

struct lvm_pci_config {
	uint8_t data[LVM_PCI_CONFIG_SIZE];
	uint8_t wmask[LVM_PCI_CONFIG_SIZE]; /* 1: software may write the bit */
	uint8_t w1c[LVM_PCI_CONFIG_SIZE];   /* 1: a written 1 clears the bit */
	uint64_t bar_size[LVM_PCI_BARS];    /* 0: no BAR (or a 64-bit BAR's upper half) */
	uint16_t cap_end;  /* where the next capability goes (up to 256) */
	uint8_t cap_link;  /* offset of the pointer to the next capability */
};

/* IDs and class; header type 0, single function, everything else 0. */
struct lvm_pci_ids {
	uint16_t vendor, device;
	uint8_t revision;
	uint32_t class_code; /* base class << 16 | subclass << 8 | prog-if */
	uint16_t subsystem_vendor, subsystem;
	uint8_t interrupt_pin; /* 0: none, 1: INTA# */
};

void lvm_pci_config_init(struct lvm_pci_config *c, const struct lvm_pci_ids *ids);
/* A 64-bit, non-prefetchable memory BAR in slots bar and bar + 1; size a
 * power of 2 from 16 bytes (address 0 until software assigns one). */
void lvm_pci_config_bar64(struct lvm_pci_config *c, unsigned bar, uint64_t size);
/*
 * Appends a capability of `len` bytes (len >= 2: ID and next pointer)
 * with ID `id` to the list; its other bytes start as zeroes and read-only.
 * Returns its offset, or 0 if it does not fit.
 */
uint8_t lvm_pci_config_add_cap(struct lvm_pci_config *c, uint8_t id, uint8_t len);

/* Field helpers (little-endian), for the device's own set-up and reads. */
uint32_t lvm_pci_config_get(const struct lvm_pci_config *c, uint32_t off, uint32_t size);
void lvm_pci_config_set(struct lvm_pci_config *c, uint32_t off, uint32_t size, uint32_t v);
void lvm_pci_config_set_wmask(struct lvm_pci_config *c, uint32_t off, uint32_t size, uint32_t m);

/*
 * A guest's access of `size` bytes at `off` (< LVM_PCI_ECAM_FN_SIZE).
 * Only accesses of 1, 2 or 4 bytes that stay within one dword count:
 * others read all-ones and write nothing.  Offsets past the conventional
 * space read 0 (no extended capabilities).  A write returns true if it
 * reached the conventional space (the caller then checks what changed).
 */
void lvm_pci_config_read(const struct lvm_pci_config *c, uint32_t off, uint8_t *data,
			 uint32_t size);
bool lvm_pci_config_write(struct lvm_pci_config *c, uint32_t off, const uint8_t *data,
			  uint32_t size);
/* Whether an access of size bytes at off is one lvm_pci_config_* serves. */
bool lvm_pci_config_access_ok(uint32_t off, uint32_t size);
/* Whether [off, off + size) and [field, field + len) overlap. */
bool lvm_pci_config_touches(uint32_t off, uint32_t size, uint32_t field, uint32_t len);

/*
 * Where BAR `bar` decodes now: its programmed address, or 0 when it does
 * not decode (memory space disabled in the command register, address 0,
 * or a range that wraps or passes `limit`, e.g. mid-sizing all-ones).
 */
uint64_t lvm_pci_config_bar_decode(const struct lvm_pci_config *c, unsigned bar, uint64_t limit);
/* The programmed address, decoding or not. */
uint64_t lvm_pci_config_bar_addr(const struct lvm_pci_config *c, unsigned bar);

/*
 * Loads saved bytes: only the writable bits come from `saved`; every
 * read-only bit keeps what the device set (a corrupt or hostile state
 * cannot change IDs, capability structures or BAR sizes).
 */
void lvm_pci_config_restore(struct lvm_pci_config *c, const uint8_t saved[LVM_PCI_CONFIG_SIZE]);

#endif
