/*
 * A full IDT for the guests that take interrupts (runtime/idt.c; linked
 * into GUEST_IDT_NAMES only).  The runtime's own IDT (entry.S) has just the
 * 32 exception gates; idt_load() replaces it with a 256-gate table that
 * starts with those same gates, and idt_set_handler() fills in the rest.
 * Ring 0 only, with interrupts off.
 */
#ifndef GUEST_IDT_H
#define GUEST_IDT_H

/*
 * Loads the 256-gate IDT: vectors 0-31 copied from the IDT in force (the
 * runtime's: #BP with DPL 3 for run_user's return, #DF on IST1), every
 * other vector not present until idt_set_handler().
 */
void idt_load(void);
/*
 * Points vector (32-255) at handler: a present DPL-0 interrupt gate (IF off
 * in the handler), on the interrupted stack (no IST).  The handler is an
 * assembly stub that ends in iretq.  Usable before or after idt_load().
 */
void idt_set_handler(unsigned vector, const void *handler);

#endif
