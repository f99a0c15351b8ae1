/*
 * The C half of the guest runtime: boot information, serial, debug-exit,
 * the exception report and tiny string helpers.  entry.S is the other half.
 */
#include "guest.h"

enum boot_protocol boot_protocol;
const char *cmdline = "";
const struct lvm_bootinfo *bootinfo;
const struct hvm_start_info *pvh_start_info;
uint64_t boot_info_addr;

/* Called from entry.S; declared here to keep -Wmissing-prototypes happy. */
__attribute__((noreturn)) void rt_start(uint32_t protocol, uint64_t info);
struct rt_frame;
__attribute__((noreturn)) void rt_exception(const struct rt_frame *f);

__attribute__((weak)) void guest_early(void)
{
}

void rt_start(uint32_t protocol, uint64_t info)
{
	boot_protocol = protocol;
	boot_info_addr = info;
	if (protocol == BOOT_LUAVMM) {
		const struct lvm_bootinfo *bi = (const struct lvm_bootinfo *)info;
		if (bi && bi->magic == LVM_BOOTINFO_MAGIC) {
			bootinfo = bi;
			if (bi->cmdline_addr)
				cmdline = (const char *)bi->cmdline_addr;
		}
	} else {
		const struct hvm_start_info *si = (const struct hvm_start_info *)info;
		if (si && si->magic == HVM_START_MAGIC) {
			pvh_start_info = si;
			if (si->cmdline_paddr)
				cmdline = (const char *)si->cmdline_paddr;
		}
	}
	debug_exit(guest_main(cmdline));
}

/* ---- serial ---- */

void serial_putc(char c)
{
	while (!(inb(UART_LSR) & UART_LSR_THRE))
		;
	outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

void serial_put_dec(uint64_t v)
{
	char buf[21];
	int i = sizeof(buf);
	buf[--i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	serial_puts(buf + i);
}

void serial_put_hex(uint64_t v)
{
	char buf[19];
	int i = sizeof(buf);
	buf[--i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	serial_puts(buf + i);
}

int serial_try_getc(void)
{
	if (!(inb(UART_LSR) & UART_LSR_DR))
		return -1;
	return inb(COM1);
}

/* ---- debug-exit ---- */

void debug_exit(uint32_t v)
{
	outl(DEBUG_EXIT_PORT, v);
	/*
	 * Still here: no debug-exit device.  hlt stops the vCPU at ring 0; at
	 * ring 3 it faults and the exception path tries again with EXIT_CRASH.
	 */
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* ---- exceptions ---- */

struct rt_frame {
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

void rt_exception(const struct rt_frame *f)
{
	serial_puts("\nguest: exception ");
	serial_put_dec(f->vector);
	serial_puts(" error=");
	serial_put_hex(f->error);
	serial_puts(" rip=");
	serial_put_hex(f->rip);
	serial_puts(" cs=");
	serial_put_hex(f->cs);
	serial_puts(" rflags=");
	serial_put_hex(f->rflags);
	serial_puts(" rsp=");
	serial_put_hex(f->rsp);
	if (f->vector == 14) {
		uint64_t cr2;
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		serial_puts(" cr2=");
		serial_put_hex(cr2);
	}
	serial_putc('\n');
	debug_exit(EXIT_CRASH);
}

/* ---- strings and numbers ---- */

const char *skip_spaces(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

int parse_uint(const char **sp, uint64_t *out)
{
	const char *s = skip_spaces(*sp);
	uint64_t v = 0;
	int digits = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		for (;; s++, digits++) {
			unsigned d;
			if (*s >= '0' && *s <= '9')
				d = (unsigned)(*s - '0');
			else if (*s >= 'a' && *s <= 'f')
				d = (unsigned)(*s - 'a' + 10);
			else if (*s >= 'A' && *s <= 'F')
				d = (unsigned)(*s - 'A' + 10);
			else
				break;
			v = v << 4 | d;
		}
	} else {
		for (; *s >= '0' && *s <= '9'; s++, digits++)
			v = v * 10 + (uint64_t)(*s - '0');
	}
	if (!digits)
		return 0;
	*out = v;
	*sp = s;
	return 1;
}

int str_eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* rep-string forms, so the compiler cannot turn them back into calls. */
void *memset(void *d, int c, size_t n)
{
	void *p = d;
	__asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *p = d;
	__asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) : : "memory");
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	if ((uintptr_t)d <= (uintptr_t)s || (uintptr_t)d >= (uintptr_t)s + n)
		return memcpy(d, s, n);
	/* Overlapping, destination above source: copy backwards. */
	const char *sp = (const char *)s + n - 1;
	char *dp = (char *)d + n - 1;
	__asm__ volatile("std; rep movsb; cld" : "+D"(dp), "+S"(sp), "+c"(n) : : "memory");
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}
