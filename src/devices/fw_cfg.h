/*
 * QEMU's firmware configuration device (fw_cfg), as on a PC: a guest writes
 * a 16-bit key to the selector port (0x510) and reads the item's bytes one
 * at a time from the data port (0x511), or, with the DMA interface, writes
 * the guest-physical address of a struct fw_cfg_dma_access to the address
 * register (0x514, big-endian; the low half at 0x518 starts the transfer)
 * and the device copies the item into guest RAM itself (QEMU's
 * docs/specs/fw_cfg.rst).  Test suites written for QEMU read it;
 * kvm-unit-tests takes its CPU count from key FW_CFG_NB_CPUS.  Items here:
 * the signature "QEMU", the ID (bit 0 the traditional interface, bit 1
 * DMA when enabled), RAM size, CPU counts, the top of RAM (key 0x11, which
 * kvm-unit-tests reads as its memory limit), and named files listed in the
 * file directory (FW_CFG_FILE_DIR), as <linux/qemu_fw_cfg.h> describes
 * them.  Every item is read-only.  Reading past an item's end, or an
 * unknown key, gives zeros.
 */
#ifndef LVM_DEVICES_FW_CFG_H
#define LVM_DEVICES_FW_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LVM_FW_CFG_PORT 0x510   /* selector; data at +1 */
#define LVM_FW_CFG_PORTS 2
#define LVM_FW_CFG_DMA_PORT 0x514 /* the DMA address register, 8 bytes */
#define LVM_FW_CFG_DMA_PORTS 8
#define LVM_FW_CFG_FILES_MAX 64
#define LVM_FW_CFG_NAME_MAX 55  /* fw_cfg_file.name is 56 bytes with its NUL */

struct lvm_fw_cfg;
struct lvm_memory;
struct lvm_state_reader;
struct lvm_state_writer;

struct lvm_fw_cfg_info {
	uint64_t ram_size;  /* bytes of RAM */
	uint64_t ram_top;   /* one past the highest RAM address */
	unsigned ncpus;
};

/* NULL + lvm_error on failure. */
struct lvm_fw_cfg *lvm_fw_cfg_new(const struct lvm_fw_cfg_info *info);
/* Adds a named file (copied); -1 + lvm_error for a bad name, a duplicate or too many. */
int lvm_fw_cfg_add_file(struct lvm_fw_cfg *f, const char *name, const void *data, size_t len);
/* Turns on the DMA interface over guest RAM `mem` (which outlives f) and sets
 * the ID's FW_CFG_VERSION_DMA bit; without it, the DMA register only reads
 * back its signature.  Before the guest runs.  0, or -1 + lvm_error. */
int lvm_fw_cfg_enable_dma(struct lvm_fw_cfg *f, const struct lvm_memory *mem);
void lvm_fw_cfg_free(struct lvm_fw_cfg *f);
/* Bus handlers, opaque = struct lvm_fw_cfg *, any vCPU thread: the selector
 * and data ports (LVM_FW_CFG_PORT), and the DMA address register
 * (LVM_FW_CFG_DMA_PORT).  Every address and length the guest gives a DMA
 * transfer is checked against guest RAM and the item. */
void lvm_fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);
void lvm_fw_cfg_dma_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
		       bool is_write);
/* Saved state (util/state.h; the caller opens the section): the selector,
 * the read offset and the DMA address register (its high half may be
 * written and the low one not yet).  The items themselves are the recipe's,
 * rebuilt on restore.  0, or -1 through lvm_state_bad. */
void lvm_fw_cfg_save(const struct lvm_fw_cfg *f, struct lvm_state_writer *w);
int lvm_fw_cfg_load(struct lvm_fw_cfg *f, struct lvm_state_reader *r);

#endif
