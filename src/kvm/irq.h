/*
 * How a device raises an interrupt without knowing about KVM: it holds a
 * line (a GSI plus a setter) and drives it high or low.  The VM provides a
 * setter backed by KVM_IRQ_LINE; unit tests provide their own.
 */
#ifndef LVM_KVM_IRQ_H
#define LVM_KVM_IRQ_H

#include <stdint.h>

struct lvm_irq_line {
	void (*set)(void *opaque, unsigned gsi, int level);
	void *opaque;
	unsigned gsi;
};

/* An interrupt message: what a memory write to the LAPICs' window says. */
struct lvm_msi {
	uint64_t address;
	uint32_t data;
};

static inline void lvm_irq_set(const struct lvm_irq_line *line, int level)
{
	if (line->set)
		line->set(line->opaque, line->gsi, level);
}

#endif
