/*
 * poke: makes the machine do one thing it should not survive.
 *   "out PORT VALUE"  one 8-bit `out` (e.g. "out 0x64 0xfe": i8042 reset)
 *   "triple"          loads an empty IDT and faults: a triple fault
 *   "read ADDR"       one 32-bit MMIO read, printed as "poke: read 0xVALUE"
 *                     (unclaimed addresses must read as all-ones)
 * If the machine is still running afterwards it prints
 * "poke: still running" and exits with 0x7e.
 */
#include "guest.h"

static void triple_fault(void)
{
	static const struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} empty_idt = { 0, 0 };
	__asm__ volatile("lidt %0\n\tud2" : : "m"(empty_idt));
}

static int starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

uint32_t guest_main(const char *args)
{
	args = skip_spaces(args);
	if (starts_with(args, "out ")) {
		const char *p = args + 4;
		uint64_t port = 0, value = 0;
		if (parse_uint(&p, &port) && parse_uint(&p, &value)) {
			serial_puts("poke: out ");
			serial_put_hex(value);
			serial_puts(" to port ");
			serial_put_hex(port);
			serial_putc('\n');
			outb((uint16_t)port, (uint8_t)value);
		}
	} else if (starts_with(args, "read ")) {
		const char *p = args + 5;
		uint64_t addr = 0;
		if (parse_uint(&p, &addr)) {
			uint32_t value = *(volatile uint32_t *)(uintptr_t)addr;
			serial_puts("poke: read ");
			serial_put_hex(value);
			serial_putc('\n');
		}
	} else if (str_eq(args, "triple")) {
		serial_puts("poke: triple fault\n");
		triple_fault();
	}
	serial_puts("poke: still running\n");
	return 0x7e;
}
