/*
 * hello: prints "Hello from luavmm!" (first thing, before any set-up beyond
 * a stack), then "cmdline: <command line>", and exits with 0.
 */
#include "guest.h"

void guest_early(void)
{
	serial_puts("Hello from luavmm!\n");
}

uint32_t guest_main(const char *args)
{
	serial_puts("cmdline: ");
	serial_puts(args);
	serial_putc('\n');
	return 0;
}
