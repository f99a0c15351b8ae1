/*
 * exitcode: command line "N" (decimal or 0x hex, default 0); prints
 * "exitcode N" (N in decimal) and exits with the 32-bit value N.
 */
#include "guest.h"

uint32_t guest_main(const char *args)
{
	uint64_t n = 0;
	parse_uint(&args, &n);
	serial_puts("exitcode ");
	serial_put_dec((uint32_t)n);
	serial_putc('\n');
	return (uint32_t)n;
}
