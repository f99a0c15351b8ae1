/*
 * QEMU's firmware configuration device (fw_cfg), the traditional I/O
 * interface: a guest writes a 16-bit key to the selector port (0x510 on a
 * PC) and reads the item's bytes one at a time from the data port (0x511).
 * Test suites written for QEMU read it; kvm-unit-tests takes its CPU count
 * from key FW_CFG_NB_CPUS.  Items here: the signature "QEMU", the ID (the
 * traditional interface only, no DMA), RAM size, CPU counts, the top of RAM
 * (key 0x11, which kvm-unit-tests reads as its memory limit), and named
 * files listed in the file directory (FW_CFG_FILE_DIR), as <linux/qemu_fw_cfg.h>
 * describes them.  Reading past an item's end, or an unknown key, gives zeros.
 */
#ifndef LVM_DEVICES_FW_CFG_H
#define LVM_DEVICES_FW_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LVM_FW_CFG_PORT 0x510   /* selector; data at +1 */
#define LVM_FW_CFG_PORTS 2
#define LVM_FW_CFG_FILES_MAX 64
#define LVM_FW_CFG_NAME_MAX 55  /* fw_cfg_file.name is 56 bytes with its NUL */

struct lvm_fw_cfg;
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
void lvm_fw_cfg_free(struct lvm_fw_cfg *f);
/* Bus handler for the two ports; opaque = struct lvm_fw_cfg *.  Any vCPU thread. */
void lvm_fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);
/* Saved state (util/state.h; the caller opens the section): the selector and
 * the read offset (there is no DMA interface).  The items themselves are the
 * recipe's, rebuilt on restore.  0, or -1 through lvm_state_bad. */
void lvm_fw_cfg_save(const struct lvm_fw_cfg *f, struct lvm_state_writer *w);
int lvm_fw_cfg_load(struct lvm_fw_cfg *f, struct lvm_state_reader *r);

#endif
