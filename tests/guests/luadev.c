/*
 * luadev: drives devices written in Lua (vm:on_pio / vm:on_mmio).  The
 * command line is a list of commands, run in order at ring 3:
 *   o PORT VALUE   32-bit out
 *   i PORT         32-bit in; prints "in 0xPORT = 0xVALUE"
 *   w ADDR VALUE   32-bit MMIO write
 *   r ADDR         32-bit MMIO read; prints "mmio 0xADDR = 0xVALUE"
 *   n N PORT       N 32-bit ins; prints "sum 0xS" (their sum)
 *   v PORT         32-bit in with EBX = ECX = 0, EDX = PORT (a VMware-backdoor
 *                  style call); prints "vin 0xPORT = 0xEAX 0xEBX 0xECX 0xEDX"
 *   s PORT V ADDR  32-bit out of V, then at once a 32-bit read of guest
 *                  memory at ADDR; prints "after out 0xADDR = 0xVALUE"
 *   c              prints "counter at 0xADDR", then increments the 64-bit
 *                  counter there forever (for pause/read tests)
 *   x VALUE        exit with VALUE
 * Prints "luadev: ready" first and exits 0 at the end of the list.
 */
#include "guest.h"

static volatile uint64_t counter;

static inline void mmio_write(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

static inline uint32_t mmio_read(uint64_t addr)
{
	return *(volatile uint32_t *)addr;
}

static void show(const char *what, uint64_t where, uint64_t value)
{
	serial_puts(what);
	serial_put_hex(where);
	serial_puts(" = ");
	serial_put_hex(value);
	serial_putc('\n');
}

static void backdoor_in(uint16_t port)
{
	uint32_t a, b = 0, c = 0, d = port;
	__asm__ volatile("inl %%dx, %%eax" : "=a"(a), "+b"(b), "+c"(c), "+d"(d));
	serial_puts("vin ");
	serial_put_hex(port);
	serial_puts(" = ");
	serial_put_hex(a);
	serial_putc(' ');
	serial_put_hex(b);
	serial_putc(' ');
	serial_put_hex(c);
	serial_putc(' ');
	serial_put_hex(d);
	serial_putc('\n');
}

static uint64_t count_forever(void)
{
	serial_puts("counter at ");
	serial_put_hex((uint64_t)&counter);
	serial_putc('\n');
	for (;;)
		counter = counter + 1;
	return 0;
}

static uint64_t sum_ins(uint64_t n, uint16_t port)
{
	uint64_t sum = 0;
	for (uint64_t i = 0; i < n; i++)
		sum += inl(port);
	return sum;
}

/* One command; returns 0 to go on, 1 at the end of the list. */
static int step(const char **s)
{
	uint64_t a = 0, b = 0;
	*s = skip_spaces(*s);
	char op = **s;
	if (!op)
		return 1;
	(*s)++;
	switch (op) {
	case 'o': parse_uint(s, &a); parse_uint(s, &b); outl((uint16_t)a, (uint32_t)b); break;
	case 'i': parse_uint(s, &a); show("in ", a, inl((uint16_t)a)); break;
	case 'w': parse_uint(s, &a); parse_uint(s, &b); mmio_write(a, (uint32_t)b); break;
	case 'r': parse_uint(s, &a); show("mmio ", a, mmio_read(a)); break;
	case 'n': parse_uint(s, &a); parse_uint(s, &b); show("sum ", 0, sum_ins(a, (uint16_t)b)); break;
	case 'v': parse_uint(s, &a); backdoor_in((uint16_t)a); break;
	case 's': {
		uint64_t addr = 0;
		parse_uint(s, &a);
		parse_uint(s, &b);
		parse_uint(s, &addr);
		outl((uint16_t)a, (uint32_t)b);
		show("after out ", addr, mmio_read(addr));
		break;
	}
	case 'c': count_forever(); break;
	case 'x': parse_uint(s, &a); debug_exit((uint32_t)a);
	default:
		serial_puts("luadev: bad command\n");
		debug_exit(0x7e);
	}
	return 0;
}

static uint64_t interpret(uint64_t arg)
{
	const char *s = (const char *)arg;
	while (!step(&s))
		;
	return 0;
}

uint32_t guest_main(const char *args)
{
	serial_puts("luadev: ready\n");
	run_user(interpret, (uint64_t)args);
	serial_puts("luadev: done\n");
	return 0;
}
