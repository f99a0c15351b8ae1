/*
 * irq-count: proves that vm:irq(LINE) reaches the guest.  Command line
 * "LINE N" (defaults 5 and 3).  Programs the in-kernel 8259 PIC so IRQ
 * LINE arrives at vector 0x30 + LINE (the boot CPU's LAPIC passes the PIC
 * through LINT0 as ExtINT after reset), prints "irq: ready line L", then
 * halts with interrupts on; after each interrupt it prints "irq: K" (K =
 * interrupts so far) and after N it exits with N.  The handler only counts
 * and acknowledges (EOI), so CPL0 work per interrupt stays tiny.
 */
#include "guest.h"
#include "idt.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define IRQ_VECTOR_BASE 0x30

extern char irq_stub[];
volatile uint32_t irq_count;
volatile uint8_t irq_line; /* read by irq_stub */

/* Counts, then EOI to the master (and the slave for lines 8-15). */
__asm__(".text\n"
	"irq_stub:\n"
	"	push %rax\n"
	"	lock incl irq_count(%rip)\n"
	"	mov $0x20, %al\n"
	"	cmpb $8, irq_line(%rip)\n"
	"	jb 1f\n"
	"	out %al, $0xa0\n"
	"1:	out %al, $0x20\n"
	"	pop %rax\n"
	"	iretq\n");

/* The runtime's 32 exception gates (idt.h), plus the IRQ vectors. */
static void load_idt(void)
{
	for (unsigned v = IRQ_VECTOR_BASE; v < IRQ_VECTOR_BASE + 16; v++)
		idt_set_handler(v, irq_stub);
	idt_load();
}

/* ICW1-ICW4 (8259A datasheet): edge triggered, cascaded, 8086 mode. */
static void program_pic(unsigned line)
{
	outb(PIC1_CMD, 0x11);
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, IRQ_VECTOR_BASE);
	outb(PIC2_DATA, IRQ_VECTOR_BASE + 8);
	outb(PIC1_DATA, 0x04); /* slave on IRQ 2 */
	outb(PIC2_DATA, 0x02);
	outb(PIC1_DATA, 0x01);
	outb(PIC2_DATA, 0x01);
	uint16_t unmasked = (uint16_t)(1u << line) | (line >= 8 ? 1u << 2 : 0);
	outb(PIC1_DATA, (uint8_t)~unmasked);
	outb(PIC2_DATA, (uint8_t)~(unmasked >> 8));
}

uint32_t guest_main(const char *args)
{
	uint64_t line = 5, n = 3;
	parse_uint(&args, &line);
	parse_uint(&args, &n);
	if (line > 15 || line == 2) {
		serial_puts("irq: bad line\n");
		return 0x7e;
	}
	irq_line = (uint8_t)line;
	load_idt();
	program_pic((unsigned)line);
	serial_puts("irq: ready line ");
	serial_put_dec(line);
	serial_putc('\n');
	for (uint32_t k = 1; k <= n; k++) {
		while (irq_count < k)
			__asm__ volatile("sti; hlt; cli");
		serial_puts("irq: ");
		serial_put_dec(k);
		serial_putc('\n');
	}
	return (uint32_t)n;
}
