/*
 * pio-loop: command line "N [PORT]" (defaults 1000000 and 0x500).  Prints
 * "pio-loop: N outs to port 0xP", then at ring 3 does N 32-bit `out`s of the
 * loop counter to PORT, prints "pio-loop: done" and exits with 0.
 */
#include "guest.h"

static uint16_t pio_port;

static uint64_t pio_loop(uint64_t n)
{
	const uint16_t port = pio_port;
	for (uint64_t i = 0; i < n; i++)
		outl(port, (uint32_t)i);
	return 0;
}

uint32_t guest_main(const char *args)
{
	uint64_t n = 1000000, port = 0x500;
	parse_uint(&args, &n);
	parse_uint(&args, &port);
	pio_port = (uint16_t)port;

	serial_puts("pio-loop: ");
	serial_put_dec(n);
	serial_puts(" outs to port ");
	serial_put_hex(pio_port);
	serial_putc('\n');

	run_user(pio_loop, n);

	serial_puts("pio-loop: done\n");
	return 0;
}
