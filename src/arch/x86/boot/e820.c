#include "arch/x86/boot/e820.h"

#include "arch/x86/layout.h"
#include "devices/pci/host.h"

static unsigned add(struct boot_e820_entry *out, unsigned n, unsigned max, uint64_t addr,
		    uint64_t size, uint32_t type)
{
	if (n >= max || size == 0)
		return n;
	out[n] = (struct boot_e820_entry){ .addr = addr, .size = size, .type = type };
	return n + 1;
}

unsigned lvm_x86_e820_build(const struct lvm_memory *mem, struct boot_e820_entry *out,
			    unsigned max)
{
	unsigned n = 0;
	const struct lvm_memory_region *low = &mem->regions[0];
	n = add(out, n, max, 0, LVM_EBDA_START, E820_RAM);
	n = add(out, n, max, LVM_EBDA_START, LVM_HIGH_MEMORY - LVM_EBDA_START, E820_RESERVED);
	if (low->size > LVM_HIGH_MEMORY)
		n = add(out, n, max, LVM_HIGH_MEMORY, low->size - LVM_HIGH_MEMORY, E820_RAM);
	/* PCI ECAM, reserved as a PC's firmware reserves MMCONFIG: Linux uses
	 * an MCFG region at once only when E820 (or ACPI) reserves it. */
	n = add(out, n, max, LVM_PCI_ECAM_BASE, LVM_PCI_ECAM_SIZE, E820_RESERVED);
	for (unsigned i = 1; i < mem->nregions; i++)
		n = add(out, n, max, mem->regions[i].gpa, mem->regions[i].size, E820_RAM);
	return n;
}
