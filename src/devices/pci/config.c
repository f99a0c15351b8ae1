#include "devices/pci/config.h"

#include <linux/pci_regs.h>
#include <string.h>

uint32_t lvm_pci_config_get(const struct lvm_pci_config *c, uint32_t off, uint32_t size)
{
	uint32_t v = 0;
	for (uint32_t i = 0; i < size && off + i < LVM_PCI_CONFIG_SIZE; i++)
		v |= (uint32_t)c->data[off + i] << (8 * i);
	return v;
}

void lvm_pci_config_set(struct lvm_pci_config *c, uint32_t off, uint32_t size, uint32_t v)
{
	for (uint32_t i = 0; i < size && off + i < LVM_PCI_CONFIG_SIZE; i++)
		c->data[off + i] = (uint8_t)(v >> (8 * i));
}

void lvm_pci_config_set_wmask(struct lvm_pci_config *c, uint32_t off, uint32_t size, uint32_t m)
{
	for (uint32_t i = 0; i < size && off + i < LVM_PCI_CONFIG_SIZE; i++)
		c->wmask[off + i] = (uint8_t)(m >> (8 * i));
}

void lvm_pci_config_init(struct lvm_pci_config *c, const struct lvm_pci_ids *ids)
{
	memset(c, 0, sizeof(*c));
	lvm_pci_config_set(c, PCI_VENDOR_ID, 2, ids->vendor);
	lvm_pci_config_set(c, PCI_DEVICE_ID, 2, ids->device);
	lvm_pci_config_set(c, PCI_REVISION_ID, 1, ids->revision);
	lvm_pci_config_set(c, PCI_CLASS_PROG, 1, ids->class_code & 0xff);
	lvm_pci_config_set(c, PCI_CLASS_DEVICE, 2, ids->class_code >> 8);
	lvm_pci_config_set(c, PCI_HEADER_TYPE, 1, PCI_HEADER_TYPE_NORMAL);
	lvm_pci_config_set(c, PCI_SUBSYSTEM_VENDOR_ID, 2, ids->subsystem_vendor);
	lvm_pci_config_set(c, PCI_SUBSYSTEM_ID, 2, ids->subsystem);
	lvm_pci_config_set(c, PCI_INTERRUPT_PIN, 1, ids->interrupt_pin);
	/* Memory space, bus master, SERR#, parity and (with a pin) INTx disable;
	 * no I/O space (no I/O BARs): that bit is hardwired to 0. */
	uint32_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
		       PCI_COMMAND_SERR | (ids->interrupt_pin ? PCI_COMMAND_INTX_DISABLE : 0);
	lvm_pci_config_set_wmask(c, PCI_COMMAND, 2, cmd);
	/* The error bits of the status register are RW1C (none is ever set). */
	uint32_t errors = PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |
			  PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT |
			  PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY;
	c->w1c[PCI_STATUS] = (uint8_t)errors;
	c->w1c[PCI_STATUS + 1] = (uint8_t)(errors >> 8);
	c->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	c->wmask[PCI_LATENCY_TIMER] = 0xff;
	c->wmask[PCI_INTERRUPT_LINE] = 0xff; /* firmware's note for the OS */
	c->cap_end = LVM_PCI_CAP_START;
	c->cap_link = PCI_CAPABILITY_LIST;
}

void lvm_pci_config_bar64(struct lvm_pci_config *c, unsigned bar, uint64_t size)
{
	if (bar + 1 >= LVM_PCI_BARS || size < 16 || (size & (size - 1)))
		return;
	uint32_t off = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint64_t mask = ~(size - 1); /* the address bits software may set */
	lvm_pci_config_set(c, off, 4, PCI_BASE_ADDRESS_SPACE_MEMORY | PCI_BASE_ADDRESS_MEM_TYPE_64);
	lvm_pci_config_set(c, off + 4, 4, 0);
	lvm_pci_config_set_wmask(c, off, 4, (uint32_t)mask & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK);
	lvm_pci_config_set_wmask(c, off + 4, 4, (uint32_t)(mask >> 32));
	c->bar_size[bar] = size;
}

uint8_t lvm_pci_config_add_cap(struct lvm_pci_config *c, uint8_t id, uint8_t len)
{
	uint32_t at = (c->cap_end + 3u) & ~3u;
	if (len < 2 || at + len > LVM_PCI_CONFIG_SIZE)
		return 0;
	c->data[c->cap_link] = (uint8_t)at;
	c->data[at] = id;
	c->data[at + 1] = 0;
	c->data[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	c->cap_link = (uint8_t)(at + 1);
	c->cap_end = (uint16_t)(at + len);
	return (uint8_t)at;
}

bool lvm_pci_config_access_ok(uint32_t off, uint32_t size)
{
	return (size == 1 || size == 2 || size == 4) && (off & 3) + size <= 4 &&
	       off < LVM_PCI_ECAM_FN_SIZE;
}

bool lvm_pci_config_touches(uint32_t off, uint32_t size, uint32_t field, uint32_t len)
{
	return off < field + len && field < off + size;
}

void lvm_pci_config_read(const struct lvm_pci_config *c, uint32_t off, uint8_t *data,
			 uint32_t size)
{
	if (!lvm_pci_config_access_ok(off, size)) {
		memset(data, 0xff, size);
		return;
	}
	for (uint32_t i = 0; i < size; i++)
		data[i] = off + i < LVM_PCI_CONFIG_SIZE ? c->data[off + i] : 0;
}

bool lvm_pci_config_write(struct lvm_pci_config *c, uint32_t off, const uint8_t *data,
			  uint32_t size)
{
	if (!lvm_pci_config_access_ok(off, size) || off >= LVM_PCI_CONFIG_SIZE)
		return false;
	for (uint32_t i = 0; i < size; i++) {
		uint8_t *b = &c->data[off + i];
		uint8_t wm = c->wmask[off + i], clear = c->w1c[off + i] & data[i];
		*b = (uint8_t)(((*b & ~wm) | (data[i] & wm)) & ~clear);
	}
	return true;
}

uint64_t lvm_pci_config_bar_addr(const struct lvm_pci_config *c, unsigned bar)
{
	if (bar + 1 >= LVM_PCI_BARS || !c->bar_size[bar])
		return 0;
	uint32_t off = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint64_t lo = lvm_pci_config_get(c, off, 4) & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;
	return lo | (uint64_t)lvm_pci_config_get(c, off + 4, 4) << 32;
}

uint64_t lvm_pci_config_bar_decode(const struct lvm_pci_config *c, unsigned bar, uint64_t limit)
{
	if (!(lvm_pci_config_get(c, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY))
		return 0;
	uint64_t addr = lvm_pci_config_bar_addr(c, bar), size = bar < LVM_PCI_BARS ? c->bar_size[bar] : 0;
	if (!size || addr == 0 || addr + size < addr || addr + size > limit)
		return 0;
	return addr;
}

void lvm_pci_config_restore(struct lvm_pci_config *c, const uint8_t saved[LVM_PCI_CONFIG_SIZE])
{
	for (unsigned i = 0; i < LVM_PCI_CONFIG_SIZE; i++)
		c->data[i] = (uint8_t)((c->data[i] & ~c->wmask[i]) | (saved[i] & c->wmask[i]));
}
