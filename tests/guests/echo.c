/*
 * echo: prints "echo: ready", then at ring 3 polls the UART and writes every
 * byte it receives straight back.  A line (ended by \n or \r) "quit" prints
 * "echo: bye" and exits with 0; "exit N" (decimal or 0x hex) exits with N.
 */
#include "guest.h"

#define LINE_MAX 80

static uint64_t echo_loop(uint64_t unused)
{
	char line[LINE_MAX + 1];
	size_t len = 0;
	int overflow = 0;
	(void)unused;

	for (;;) {
		int c = serial_try_getc();
		if (c < 0)
			continue;
		serial_putc((char)c);
		if (c != '\n' && c != '\r') {
			if (len < LINE_MAX)
				line[len++] = (char)c;
			else
				overflow = 1;
			continue;
		}
		line[len] = 0;
		if (!overflow) {
			const char *p = line;
			uint64_t v;
			if (str_eq(line, "quit")) {
				serial_puts("echo: bye\n");
				return 0;
			}
			if (len > 5 && memcmp(line, "exit ", 5) == 0) {
				p += 5;
				if (parse_uint(&p, &v) && *skip_spaces(p) == 0)
					return (uint32_t)v;
			}
		}
		len = 0;
		overflow = 0;
	}
}

uint32_t guest_main(const char *args)
{
	(void)args;
	serial_puts("echo: ready\n");
	return (uint32_t)run_user(echo_loop, 0);
}
