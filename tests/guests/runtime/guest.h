/*
 * The runtime shared by the freestanding test guests (see ../README).
 *
 * A guest defines guest_main() and, optionally, guest_early().  Everything
 * here works at ring 0 and at ring 3 (the guests run at IOPL 3), except
 * run_user() and the AP start-up calls, which must be called at ring 0.
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

/* ---- application processors (runtime/aps.c: GUEST_SMP_NAMES only) ---- */

/*
 * The other vCPUs, started with INIT, SIPI, SIPI through the local APIC
 * (0xfee00000).  Each AP enters a real-mode trampoline at 0x3000 (SIPI
 * vector 3) that goes straight to long mode on the boot CPU's page tables,
 * GDT and IDT, takes the next slot (1, 2, ... in the order the APs arrive;
 * the boot CPU is slot 0) and runs ap_main(slot) on its own 4 KiB stack:
 *   AP_RING0  at ring 0.  ap_main may return, and the AP then halts; it
 *             counts as checked in when ap_main returns, so the boot CPU
 *             starts the next AP only once this one's ap_main is done.
 *   AP_RING3  at ring 3 (IF off) on a 4 KiB user stack of its own; it counts
 *             as checked in as it leaves ring 0.  An ap_main that returns
 *             spins at ring 3.
 * APs have no TSS: at ring 3 they must neither fault nor do port I/O.
 */
#define AP_MAX 64 /* slots with a stack: 1..AP_MAX */
enum ap_ring { AP_RING0, AP_RING3 };

/*
 * Software-enables this CPU's local APIC and copies the trampoline, with
 * this CPU's GDTR and CR3, to 0x3000.  APs that arrive with a slot past max
 * (at most AP_MAX) halt at once.  Ring 0, once, before ap_start().
 */
void aps_prepare(unsigned max, enum ap_ring ring, void (*ap_main)(unsigned slot));
/*
 * INIT, SIPI, SIPI to the CPU with this APIC ID, then waits at ring 3 for
 * it to check in (at most 2^33 pauses).  1 if it did, else 0.  Ring 0, not
 * from inside run_user().
 */
int ap_start(uint32_t apic_id);
/* How many APs have checked in so far. */
unsigned aps_checked_in(void);
/*
 * aps_prepare(max, ring, ap_main), then ap_start() for APIC IDs 1, 2, ...
 * up to bootinfo->ncpus - 1 (none on the PVH path), at most max of them,
 * one at a time; stops at the first that does not check in.  Returns how
 * many did: when that is fewer than asked, APIC ID (result + 1) did not.
 */
unsigned start_aps(unsigned max, enum ap_ring ring, void (*ap_main)(unsigned slot));

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
