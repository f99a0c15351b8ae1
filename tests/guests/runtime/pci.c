/*
 * The test guests' PCI access and virtio-pci driver (see pci.h).
 */
#include "acpi.h"
#include "guest.h"
#include "pci.h"
#include "virtio.h"

uint64_t pci_ecam;
uint8_t pci_ecam_bus_end;
int pci_use_ecam;

/* ---- ACPI: the MCFG ---- */

int pci_find_mcfg(void)
{
	const volatile uint8_t *t = acpi_find_table("MCFG");
	if (!t || acpi_rd32(t + 4) < 36 + 8 + 16)
		return -1;
	pci_ecam = acpi_rd64(t + 44); /* bus 0's address, whatever the start bus */
	pci_ecam_bus_end = t[55];
	return acpi_rd32(t + 52) & 0xffff ? -1 : 0; /* segment 0 */
}

/* ---- configuration space ---- */

static uint32_t cf8_address(unsigned dev, unsigned off)
{
	return 0x80000000u | (dev & 31) << 11 | (off & 0xfc);
}

uint32_t pci_cf8_read(unsigned dev, unsigned off, unsigned width)
{
	outl(0xcf8, cf8_address(dev, off));
	uint16_t port = (uint16_t)(0xcfc + (off & 3));
	return width == 1 ? inb(port) : width == 2 ? inw(port) : inl(port);
}

void pci_cf8_write(unsigned dev, unsigned off, unsigned width, uint32_t v)
{
	outl(0xcf8, cf8_address(dev, off));
	uint16_t port = (uint16_t)(0xcfc + (off & 3));
	if (width == 1)
		outb(port, (uint8_t)v);
	else if (width == 2)
		outw(port, (uint16_t)v);
	else
		outl(port, v);
}

static volatile void *ecam_ptr(unsigned dev, unsigned off)
{
	return (volatile void *)(pci_ecam + ((uint64_t)(dev & 31) << 15) + (off & 0xfff));
}

uint32_t pci_ecam_read(unsigned dev, unsigned off, unsigned width)
{
	volatile void *p = ecam_ptr(dev, off);
	return width == 1 ? *(volatile uint8_t *)p : width == 2 ? *(volatile uint16_t *)p
							      : *(volatile uint32_t *)p;
}

void pci_ecam_write(unsigned dev, unsigned off, unsigned width, uint32_t v)
{
	volatile void *p = ecam_ptr(dev, off);
	if (width == 1)
		*(volatile uint8_t *)p = (uint8_t)v;
	else if (width == 2)
		*(volatile uint16_t *)p = (uint16_t)v;
	else
		*(volatile uint32_t *)p = v;
}

uint32_t pci_read(unsigned dev, unsigned off, unsigned width)
{
	return pci_use_ecam && pci_ecam ? pci_ecam_read(dev, off, width)
					: pci_cf8_read(dev, off, width);
}

void pci_write(unsigned dev, unsigned off, unsigned width, uint32_t v)
{
	if (pci_use_ecam && pci_ecam)
		pci_ecam_write(dev, off, width, v);
	else
		pci_cf8_write(dev, off, width, v);
}

unsigned pci_find_cap(unsigned dev, uint8_t id, unsigned from)
{
	if (!(pci_read(dev, 0x06, 2) & 0x10)) /* status: capabilities list */
		return 0;
	unsigned at = from ? pci_read(dev, from + 1, 1) : pci_read(dev, 0x34, 1);
	for (unsigned hops = 0; at >= 0x40 && hops < 48; hops++) {
		at &= 0xfc;
		if (pci_read(dev, at, 1) == id)
			return at;
		at = pci_read(dev, at + 1, 1);
	}
	return 0;
}

uint64_t pci_bar_addr(unsigned dev, unsigned bar)
{
	uint32_t lo = pci_read(dev, 0x10 + 4 * bar, 4);
	if (lo & 1)
		return lo & ~3u;
	uint64_t addr = lo & ~0xfu;
	if ((lo & 6) == 4 && bar < 5)
		addr |= (uint64_t)pci_read(dev, 0x14 + 4 * bar, 4) << 32;
	return addr;
}

void pci_bar_set(unsigned dev, unsigned bar, uint64_t addr, int is64)
{
	pci_write(dev, 0x10 + 4 * bar, 4, (uint32_t)addr);
	if (is64)
		pci_write(dev, 0x14 + 4 * bar, 4, (uint32_t)(addr >> 32));
}

uint64_t pci_bar_size(unsigned dev, unsigned bar, int *is64)
{
	unsigned off = 0x10 + 4 * bar;
	uint16_t cmd = (uint16_t)pci_read(dev, 0x04, 2);
	pci_write(dev, 0x04, 2, cmd & ~3u); /* no decoding while the BAR holds all-ones */
	uint32_t lo = pci_read(dev, off, 4);
	*is64 = !(lo & 1) && (lo & 6) == 4 && bar < 5;
	pci_write(dev, off, 4, 0xffffffffu);
	uint32_t mask_lo = pci_read(dev, off, 4);
	pci_write(dev, off, 4, lo);
	uint64_t mask = mask_lo & (lo & 1 ? ~3u : ~0xfu);
	if (*is64) {
		uint32_t hi = pci_read(dev, off + 4, 4);
		pci_write(dev, off + 4, 4, 0xffffffffu);
		mask |= (uint64_t)pci_read(dev, off + 4, 4) << 32;
		pci_write(dev, off + 4, 4, hi);
	} else {
		mask |= 0xffffffff00000000ull;
	}
	pci_write(dev, 0x04, 2, cmd);
	return mask_lo ? ~mask + 1 : 0;
}

/* ---- virtio-pci (virtio 1.2 §4.1) ---- */

#define VIRTIO_CAP_COMMON 1
#define VIRTIO_CAP_NOTIFY 2
#define VIRTIO_CAP_ISR 3
#define VIRTIO_CAP_DEVICE 4

int vpci_attach(unsigned dev, struct vdev *d)
{
	uint32_t id = pci_read(dev, 0, 4);
	if ((id & 0xffff) != PCI_VENDOR_VIRTIO || (id >> 16) < PCI_DEVICE_VIRTIO_MODERN ||
	    (id >> 16) > PCI_DEVICE_VIRTIO_MODERN + 0x3f)
		return -1;
	*d = (struct vdev){ .pci = 1, .pci_dev = (uint8_t)dev,
			    .device_id = (id >> 16) - PCI_DEVICE_VIRTIO_MODERN,
			    .irq = pci_read(dev, 0x3c, 1) };
	for (unsigned at = pci_find_cap(dev, 0x09, 0); at; at = pci_find_cap(dev, 0x09, at)) {
		unsigned type = pci_read(dev, at + 3, 1), bar = pci_read(dev, at + 4, 1);
		if (bar > 5)
			continue;
		uint64_t addr = pci_bar_addr(dev, bar) + pci_read(dev, at + 8, 4);
		if (type == VIRTIO_CAP_COMMON && !d->common)
			d->common = addr;
		else if (type == VIRTIO_CAP_NOTIFY && !d->notify) {
			d->notify = addr;
			d->notify_mult = pci_read(dev, at + 16, 4);
		} else if (type == VIRTIO_CAP_ISR && !d->isr)
			d->isr = addr;
		else if (type == VIRTIO_CAP_DEVICE && !d->devcfg)
			d->devcfg = addr;
	}
	d->base = d->common;
	d->size = 0x1000;
	return d->common && d->notify && d->isr ? 0 : -1;
}

/*
 * Where pci_enable puts a BAR nobody placed: luavmm's window starts at
 * 0xc0000000 too (it never leaves one unplaced), and under QEMU q35 or pc
 * this is PCI space (above q35's ECAM at 0xb0000000, below the I/O APIC).
 */
#define PCI_ASSIGN_BASE 0xc0000000ull
#define PCI_ASSIGN_END 0xd0000000ull
static uint64_t pci_assign_next = PCI_ASSIGN_BASE;

int pci_enable(unsigned dev)
{
	for (unsigned bar = 0; bar < 6; bar++) {
		if (pci_read(dev, 0x10 + 4 * bar, 4) & 1)
			continue; /* I/O BARs: the virtio structures live in memory BARs */
		int is64;
		uint64_t size = pci_bar_size(dev, bar, &is64), addr = pci_bar_addr(dev, bar);
		/* Unplaced (firmware such as qboot sizes nothing), or beyond the 4 GiB the
		 * runtime's page tables map: give it the next naturally aligned slot. */
		if (size && (size & (size - 1)) == 0 && (addr == 0 || addr + size > 1ull << 32)) {
			uint64_t at = (pci_assign_next + size - 1) & ~(size - 1);
			if (at + size > PCI_ASSIGN_END)
				return -1;
			uint16_t cmd = (uint16_t)pci_read(dev, 0x04, 2);
			pci_write(dev, 0x04, 2, cmd & ~2u);
			pci_bar_set(dev, bar, at, is64);
			pci_write(dev, 0x04, 2, cmd);
			pci_assign_next = at + size;
		}
		if (is64)
			bar++;
	}
	/* Memory decoding, and bus mastering: QEMU's virtio-pci reads the rings
	 * (and keeps DRIVER_OK) only while the function may master the bus. */
	pci_write(dev, 0x04, 2, pci_read(dev, 0x04, 2) | 6u);
	return 0;
}

int vpci_discover(struct vdev *devs, int max)
{
	int n = 0;
	for (unsigned dev = 0; dev < 32 && n < max; dev++)
		if (pci_read(dev, 0, 2) == PCI_VENDOR_VIRTIO && pci_enable(dev) == 0 &&
		    vpci_attach(dev, &devs[n]) == 0)
			n++;
	return n;
}
