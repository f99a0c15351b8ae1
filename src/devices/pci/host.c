#include "devices/pci/host.h"

#include <linux/pci_regs.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/state.h"

#define CONFIG_ENABLE 0x80000000u
/* The host bridge's IDs: Red Hat's "QEMU PCIe host bridge", which no OS
 * driver binds to (it needs none); class 06/00/00, host bridge. */
#define BRIDGE_VENDOR 0x1b36
#define BRIDGE_DEVICE 0x0008
#define BRIDGE_CLASS 0x060000

static void bridge_init(struct lvm_pci_config *c)
{
	struct lvm_pci_ids ids = { .vendor = BRIDGE_VENDOR, .device = BRIDGE_DEVICE,
				   .class_code = BRIDGE_CLASS,
				   .subsystem_vendor = BRIDGE_VENDOR, .subsystem = 0x1100 };
	lvm_pci_config_init(c, &ids);
	/* A host bridge decodes whatever its windows say: memory and bus
	 * master read as on, and software cannot turn them off. */
	lvm_pci_config_set(c, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	lvm_pci_config_set_wmask(c, PCI_COMMAND, 2, PCI_COMMAND_PARITY | PCI_COMMAND_SERR);
}

static void bridge_io(void *opaque, uint32_t off, uint8_t *data, uint32_t size, bool is_write)
{
	struct lvm_pci_host *h = opaque;
	pthread_mutex_lock(&h->bridge_lock);
	if (is_write)
		lvm_pci_config_write(&h->bridge, off, data, size);
	else
		lvm_pci_config_read(&h->bridge, off, data, size);
	pthread_mutex_unlock(&h->bridge_lock);
}

struct lvm_pci_host *lvm_pci_host_new(struct lvm_vm *vm, const struct lvm_pci_host_layout *l)
{
	uint64_t ecam_base = l->ecam_base;
	struct lvm_pci_host *h = calloc(1, sizeof(*h));
	if (!h) {
		lvm_fail("out of memory");
		return NULL;
	}
	h->vm = vm;
	h->ecam_base = ecam_base;
	h->msi_first_gsi = l->msi_first_gsi;
	h->mem_next = l->mem_base;
	h->mem_end = l->mem_base + l->mem_size;
	pthread_rwlock_init(&h->lock, NULL);
	pthread_mutex_init(&h->bridge_lock, NULL);
	bridge_init(&h->bridge);
	h->slot[0].fn = bridge_io;
	h->slot[0].opaque = h;
	if (lvm_bus_register(&vm->pio, LVM_PCI_CONFIG_ADDRESS_PORT, 4, lvm_pci_host_address_io, h,
			     "pci-config-address") < 0)
		goto fail;
	h->on_pio = true;
	if (lvm_bus_register(&vm->pio, LVM_PCI_CONFIG_DATA_PORT, 4, lvm_pci_host_data_io, h,
			     "pci-config-data") < 0) {
		lvm_bus_unregister(&vm->pio, LVM_PCI_CONFIG_ADDRESS_PORT);
		h->on_pio = false;
		goto fail;
	}
	if (lvm_bus_register(&vm->mmio, ecam_base, LVM_PCI_ECAM_SIZE, lvm_pci_host_ecam_io, h,
			     "pci-ecam") < 0)
		goto fail;
	h->on_mmio = true;
	return h;
fail:
	lvm_pci_host_free(h);
	return NULL;
}

void lvm_pci_host_free(struct lvm_pci_host *h)
{
	if (!h)
		return;
	if (h->on_pio) {
		lvm_bus_unregister(&h->vm->pio, LVM_PCI_CONFIG_ADDRESS_PORT);
		lvm_bus_unregister(&h->vm->pio, LVM_PCI_CONFIG_DATA_PORT);
	}
	if (h->on_mmio)
		lvm_bus_unregister(&h->vm->mmio, h->ecam_base);
	pthread_mutex_destroy(&h->bridge_lock);
	pthread_rwlock_destroy(&h->lock);
	free(h);
}

int lvm_pci_host_set(struct lvm_pci_host *h, unsigned dev, lvm_pci_config_fn fn, void *opaque)
{
	if (dev == 0 || dev >= LVM_PCI_DEVICES)
		return lvm_fail("pci: device %u is not one of 1..%u", dev, LVM_PCI_DEVICES - 1);
	pthread_rwlock_wrlock(&h->lock);
	int rc = 0;
	if (fn && h->slot[dev].fn)
		rc = lvm_fail("pci: device %u is taken", dev);
	else
		h->slot[dev].fn = fn, h->slot[dev].opaque = fn ? opaque : NULL;
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

uint64_t lvm_pci_host_assign_bar(struct lvm_pci_host *h, uint64_t size)
{
	if (!size || (size & (size - 1)))
		return 0;
	pthread_rwlock_wrlock(&h->lock);
	uint64_t at = (h->mem_next + size - 1) & ~(size - 1);
	uint64_t addr = at >= h->mem_next && at < h->mem_end && size <= h->mem_end - at ? at : 0;
	if (addr)
		h->mem_next = addr + size;
	pthread_rwlock_unlock(&h->lock);
	return addr;
}

unsigned lvm_pci_host_msi_gsi(const struct lvm_pci_host *h, unsigned dev)
{
	return h->msi_first_gsi + dev * LVM_PCI_VECTORS_PER_DEVICE;
}

uint64_t lvm_pci_host_function_addr(const struct lvm_pci_host *h, unsigned dev)
{
	return h->ecam_base + ((uint64_t)dev << 15);
}

struct host_search {
	uint64_t addr;
	struct lvm_pci_host *found;
};

static void match_ecam(void *ctx, const struct lvm_bus_range *r)
{
	struct host_search *s = ctx;
	if (r->fn == lvm_pci_host_ecam_io && s->addr >= r->base && s->addr - r->base < r->len)
		s->found = r->opaque;
}

struct lvm_pci_host *lvm_pci_host_at(struct lvm_vm *vm, uint64_t addr, unsigned *dev)
{
	struct host_search s = { addr, NULL };
	lvm_bus_visit(&vm->mmio, match_ecam, &s);
	if (!s.found)
		return NULL;
	uint64_t off = addr - s.found->ecam_base;
	if (off & ((1u << 15) - 1)) /* not function 0 of a device */
		return NULL;
	*dev = (unsigned)(off >> 15);
	return s.found;
}

void lvm_pci_host_config(struct lvm_pci_host *h, uint32_t bdf, uint32_t off, uint8_t *data,
			 uint32_t size, bool is_write)
{
	unsigned bus = bdf >> 8, dev = (bdf >> 3) & 31, fn = bdf & 7;
	if (!is_write)
		memset(data, 0xff, size);
	if (!lvm_pci_config_access_ok(off, size))
		return;
	pthread_rwlock_rdlock(&h->lock);
	bool present = bus == 0 && fn == 0 && h->slot[dev].fn;
	if (present)
		h->slot[dev].fn(h->slot[dev].opaque, off, data, size, is_write);
	pthread_rwlock_unlock(&h->lock);
	if (!present && !is_write)
		__atomic_fetch_add(&h->absent_reads, 1, __ATOMIC_RELAXED);
}

/* CONFIG_ADDRESS: only whole dword accesses reach it (0xcf9 and the other
 * byte ports are other PC registers, e.g. the reset control at 0xcf9). */
void lvm_pci_host_address_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			     bool is_write)
{
	struct lvm_pci_host *h = opaque;
	if (offset != 0 || size != 4)
		return; /* reads stay all-ones */
	if (is_write) {
		uint32_t v;
		memcpy(&v, data, 4);
		/* Bits 1:0 are reserved and read as 0; 30:24 are reserved too. */
		__atomic_store_n(&h->config_address, v & 0x80fffffcu, __ATOMIC_RELAXED);
	} else {
		uint32_t v = __atomic_load_n(&h->config_address, __ATOMIC_RELAXED);
		memcpy(data, &v, 4);
	}
}

/* CONFIG_DATA: byte lane `offset` of the dword CONFIG_ADDRESS selects. */
void lvm_pci_host_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			  bool is_write)
{
	struct lvm_pci_host *h = opaque;
	uint32_t a = __atomic_load_n(&h->config_address, __ATOMIC_RELAXED);
	if (!(a & CONFIG_ENABLE) || offset + size > 4) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	lvm_pci_host_config(h, (a >> 8) & 0xffff, (a & 0xfc) + (uint32_t)offset, data, size,
			    is_write);
}

void lvm_pci_host_ecam_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			  bool is_write)
{
	struct lvm_pci_host *h = opaque;
	lvm_pci_host_config(h, (uint32_t)(offset >> 12), (uint32_t)(offset & 0xfff), data, size,
			    is_write);
}

void lvm_pci_host_save(const struct lvm_pci_host *h, struct lvm_state_writer *w)
{
	lvm_state_put_u32(w, __atomic_load_n(&h->config_address, __ATOMIC_RELAXED));
	lvm_state_put_bytes(w, h->bridge.data, LVM_PCI_CONFIG_SIZE);
}

int lvm_pci_host_load(struct lvm_pci_host *h, struct lvm_state_reader *r)
{
	uint32_t address = lvm_state_get_u32(r);
	uint8_t saved[LVM_PCI_CONFIG_SIZE];
	lvm_state_get_bytes(r, saved, sizeof(saved));
	if (r->failed)
		return -1;
	if (address & ~0x80fffffcu)
		return lvm_state_bad(r, "CONFIG_ADDRESS 0x%x has reserved bits set", address);
	__atomic_store_n(&h->config_address, address, __ATOMIC_RELAXED);
	pthread_mutex_lock(&h->bridge_lock);
	lvm_pci_config_restore(&h->bridge, saved);
	pthread_mutex_unlock(&h->bridge_lock);
	return 0;
}
