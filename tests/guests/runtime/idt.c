/*
 * The 256-gate IDT (see idt.h).  The gate layout is the 64-bit interrupt
 * gate of the SDM, vol. 3A §6.14.1.
 */
#include "guest.h"
#include "idt.h"

#define KCODE 0x10          /* the runtime's (and luavmm's boot) 64-bit code selector */
#define GATE_INTERRUPT 0x8e /* present, DPL 0, 64-bit interrupt gate */

struct __attribute__((packed)) idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
};

struct __attribute__((packed)) idt_ptr {
	uint16_t limit;
	uint64_t base;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));

void idt_set_handler(unsigned vector, const void *handler)
{
	uint64_t a = (uint64_t)(uintptr_t)handler;
	if (vector < 32 || vector > 255)
		return;
	idt[vector] = (struct idt_gate){ (uint16_t)a, KCODE, 0, GATE_INTERRUPT, (uint16_t)(a >> 16),
					 (uint32_t)(a >> 32), 0 };
}

void idt_load(void)
{
	struct idt_ptr cur, ptr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
	__asm__ volatile("sidt %0" : "=m"(cur));
	/* The exception gates as the runtime set them up (a no-op when this
	 * table is already the one in force). */
	const struct idt_gate *old = (const struct idt_gate *)(uintptr_t)cur.base;
	unsigned n = (cur.limit + 1u) / sizeof(struct idt_gate);
	for (unsigned v = 0; v < 32 && v < n && old != idt; v++)
		idt[v] = old[v];
	__asm__ volatile("lidt %0" : : "m"(ptr));
}
