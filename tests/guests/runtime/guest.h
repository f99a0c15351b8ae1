/*
 * The runtime shared by the freestanding test guests (see ../README).
 *
 * A guest defines guest_main() and, optionally, guest_early().  Everything
 * here works at ring 0 and at ring 3 (the guests run at IOPL 3), except
 * run_user(), which must be called at ring 0.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "luavmm/bootinfo.h"

/* ---- what a guest provides ---- */

/* Called at ring 0 once the runtime is set up; its result is the exit value. */
uint32_t guest_main(const char *args);
/*
 * Optional (weak, empty by default): called at ring 0 right after the switch
 * to the runtime's stack, before the GDT/TSS/IDT are loaded and before the
 * command line is known.  Only for printing something as early as possible;
 * nothing may fault here.
 */
void guest_early(void);

/* ---- boot information ---- */

enum boot_protocol { BOOT_LUAVMM = 0, BOOT_PVH = 1 };
extern enum boot_protocol boot_protocol;
/* The command line on both boot paths; "" when there is none. */
extern const char *cmdline;
/* luavmm's struct, or NULL (PVH boot, or bad magic). */
extern const struct lvm_bootinfo *bootinfo;
/* RSI (64-bit entry) or EBX (32-bit entry) as the guest received it. */
extern uint64_t boot_info_addr;
/* PVH's struct hvm_start_info, or NULL (luavmm boot). */
extern const struct hvm_start_info *pvh_start_info;

#define HVM_START_MAGIC 0x336ec578u
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;   /* version >= 1 */
	uint32_t memmap_entries; /* version >= 1 */
	uint32_t reserved;
};

/* ---- port I/O ---- */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* ---- serial (8250 at 0x3f8, polled) ---- */

#define COM1 0x3f8
#define UART_LSR (COM1 + 5)
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20

void serial_putc(char c);
void serial_puts(const char *s);
void serial_put_dec(uint64_t v);
void serial_put_hex(uint64_t v); /* "0x" and lower-case digits */
int serial_try_getc(void);       /* the next byte, or -1 if none is waiting */

/* ---- debug-exit (isa-debug-exit at 0xf4; status = (v << 1) | 1) ---- */

#define DEBUG_EXIT_PORT 0xf4
#define EXIT_CRASH 0x7f /* the value the runtime uses after an exception */
__attribute__((noreturn)) void debug_exit(uint32_t v);

/* ---- ring 3 ---- */

/*
 * Run fn(arg) at CPL 3 on the runtime's user stack and return its result at
 * ring 0.  Port I/O works at ring 3 (IOPL = 3 and an all-allowing TSS I/O
 * bitmap).  fn comes back through an `int3` at a fixed address in the
 * runtime (vector 3 has a DPL-3 gate); any other exception is a crash.
 * Not re-entrant, not callable from ring 3.
 */
uint64_t run_user(uint64_t (*fn)(uint64_t), uint64_t arg);
/* Current privilege level (0 or 3). */
static inline unsigned cpl(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}

/* ---- strings and numbers ---- */

const char *skip_spaces(const char *s);
/*
 * Parse an unsigned number (decimal, or hex with 0x/0X) at *s after any
 * spaces; on success store it, advance *s past it and return 1, else 0.
 */
int parse_uint(const char **s, uint64_t *out);
int str_eq(const char *a, const char *b);
size_t strlen(const char *s);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
