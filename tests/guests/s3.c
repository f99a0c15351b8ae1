/*
 * s3: ACPI S3 (suspend to RAM) and the resume through the FACS waking
 * vector, the way an OS does it (and kvm-unit-tests' x86/s3), at ring 3
 * but for the wake path, which is real-mode (or 32-bit) code the firmware
 * jumps to:
 *
 *   1. RSDP -> XSDT -> FADT: PM1a_EVT, PM1a_CNT, the FACS and the DSDT;
 *      \_S3's SLP_TYPa from the DSDT.  Prints
 *        s3: facs 0xF pm1a_evt 0xE pm1a_cnt 0xC slp_typ N
 *   2. Copies a small wake trampoline to 0x4000 and writes its address as
 *      the FACS's Firmware_Waking_Vector (mode "x32": a 32-bit trampoline
 *      as X_Firmware_Waking_Vector; "novector": both vectors 0).
 *   3. Clears PM1_STS, sets PM1_EN and arms the wake source of the mode:
 *        rtc      (default) the RTC alarm at the second after next
 *                 (minutes and hours "don't care"), AIE, RTC_EN;
 *        kut      as kvm-unit-tests does it: after an update, every alarm
 *                 byte "don't care" (the next update matches), AIE,
 *                 RTC_EN, and SLP_TYP 1 written without reading \_S3;
 *        button, host, novector, x32: nothing (the host wakes it:
 *                 vm:power_button() or vm:wake()).
 *   4. Prints "s3: suspending" and writes SLP_TYP | SLP_EN to PM1a_CNT,
 *      then keeps writing 1 to a marker: a vCPU that went on after the
 *      write would leave it set.
 * The trampoline prints "s3: resumed\n" on COM1 ("s3: resumed 32\n" for
 * the 32-bit one) and exits through debug-exit with the value
 *   (marker << 16) | PM1_STS
 * so WAK_STS (0x8000) says it woke and RTC_STS (0x400) / PWRBTN_STS
 * (0x100) why.  "s3: still running after SLP_EN" and exit 0x7d if the
 * machine never slept; 0x7e if the tables are missing.
 */
#include "acpi.h"
#include "guest.h"

#define RTC_INDEX 0x70
#define RTC_DATA 0x71
#define RTC_A_UIP 0x80
#define RTC_B_AIE 0x20
#define RTC_B_BINARY 0x04
#define ALARM_ANY 0xc0
#define PM1_RTC (1u << 10)
#define SLP_EN (1u << 13)

#define WAKE_ADDR 0x4000u  /* the trampoline (below the runtime's 0x8000 stack top) */
#define PARAM_ADDR 0x4800u /* u16 PM1a_EVT, then the u32 marker at +4 */

/* The trampolines: copied to WAKE_ADDR, so position-independent (relative
 * jumps, CS-relative string). */
__asm__(".pushsection .rodata\n"
	".code16\n"
	".globl wake16_start, wake16_end\n"
	"wake16_start:\n"
	"  cli\n"
	"  xorw %ax, %ax\n"
	"  movw %ax, %ds\n"
	"  movw %ax, %ss\n"
	"  movw $0x4000, %sp\n"
	"  movw $(wake16_msg - wake16_start), %si\n"
	"1: movb %cs:(%si), %bl\n"
	"  testb %bl, %bl\n"
	"  jz 3f\n"
	"2: movw $0x3fd, %dx\n"
	"  inb %dx, %al\n"
	"  testb $0x20, %al\n"
	"  jz 2b\n"
	"  movw $0x3f8, %dx\n"
	"  movb %bl, %al\n"
	"  outb %al, %dx\n"
	"  incw %si\n"
	"  jmp 1b\n"
	"3: movw 0x4800, %dx\n"
	"  inw %dx, %ax\n"
	"  movzwl %ax, %eax\n"
	"  movl 0x4804, %ebx\n"
	"  shll $16, %ebx\n"
	"  orl %ebx, %eax\n"
	"  movw $0xf4, %dx\n"
	"  outl %eax, %dx\n"
	"4: hlt\n"
	"  jmp 4b\n"
	"wake16_msg: .asciz \"s3: resumed\\n\"\n"
	"wake16_end:\n"
	".code32\n"
	".globl wake32_start, wake32_end\n"
	"wake32_start:\n"
	"  movl $0x4000, %esp\n"
	"  call 0f\n" /* where am I: the message is relative to here */
	"0: popl %esi\n"
	"  addl $(wake32_msg - 0b), %esi\n"
	"1: movb (%esi), %bl\n"
	"  testb %bl, %bl\n"
	"  jz 3f\n"
	"2: movw $0x3fd, %dx\n"
	"  inb %dx, %al\n"
	"  testb $0x20, %al\n"
	"  jz 2b\n"
	"  movw $0x3f8, %dx\n"
	"  movb %bl, %al\n"
	"  outb %al, %dx\n"
	"  incl %esi\n"
	"  jmp 1b\n"
	"3: movw 0x4800, %dx\n"
	"  inw %dx, %ax\n"
	"  movzwl %ax, %eax\n"
	"  movl 0x4804, %ebx\n"
	"  shll $16, %ebx\n"
	"  orl %ebx, %eax\n"
	"  movw $0xf4, %dx\n"
	"  outl %eax, %dx\n"
	"4: hlt\n"
	"  jmp 4b\n"
	"wake32_msg: .asciz \"s3: resumed 32\\n\"\n"
	"wake32_end:\n"
	".code64\n"
	".popsection\n");

extern const char wake16_start[], wake16_end[], wake32_start[], wake32_end[];

struct acpi {
	uint64_t facs, dsdt;
	uint32_t evt, cnt;
};

static struct acpi acpi;

/* The FADT (runtime/acpi.c), then what it points at. */
static uint64_t discover(uint64_t unused)
{
	(void)unused;
	const volatile uint8_t *f = acpi_find_table("FACP");
	if (!f)
		return 0;
	acpi.evt = acpi_rd32(f + 56);
	acpi.cnt = acpi_rd32(f + 64);
	acpi.facs = acpi_rd64(f + 132) ? acpi_rd64(f + 132) : acpi_rd32(f + 36);
	acpi.dsdt = acpi_rd64(f + 140) ? acpi_rd64(f + 140) : acpi_rd32(f + 40);
	const volatile uint8_t *facs = (const volatile uint8_t *)acpi.facs;
	return acpi.facs && memcmp((const void *)facs, "FACS", 4) == 0 && acpi_rd32(facs + 4) >= 64;
}

/* SLP_TYPa of \_S3: NameSeg, PackageOp, PkgLength, NumElements, element 0. */
static uint64_t s3_type(uint64_t unused)
{
	(void)unused;
	const volatile uint8_t *d = (const volatile uint8_t *)acpi.dsdt;
	uint32_t len = acpi_rd32(d + 4);
	for (uint32_t o = 36; o + 8 < len; o++) {
		if (memcmp((const void *)(d + o), "_S3_", 4) != 0 || d[o + 4] != 0x12)
			continue;
		const volatile uint8_t *e = d + o + 5;
		e += 1 + (e[0] >> 6) + 1;
		if (e[0] == 0x0a)
			return e[1];
		if (e[0] <= 1)
			return e[0]; /* ZeroOp, OneOp */
	}
	return 0xff;
}

static uint8_t rtc_reg(uint8_t reg)
{
	outb(RTC_INDEX, reg);
	return inb(RTC_DATA);
}

static void rtc_set(uint8_t reg, uint8_t v)
{
	outb(RTC_INDEX, reg);
	outb(RTC_DATA, v);
}

/* Right after an update (UIP seen rising, then falling): a whole second ahead. */
static void after_update(void)
{
	while (!(rtc_reg(0x0a) & RTC_A_UIP))
		;
	while (rtc_reg(0x0a) & RTC_A_UIP)
		;
}

/* The alarm at the second after next, any minute, any hour. */
static uint64_t arm_rtc(uint64_t kut)
{
	after_update();
	rtc_reg(0x0c); /* clear the flags */
	uint8_t b = rtc_reg(0x0b);
	uint8_t sec = ALARM_ANY;
	if (!kut) {
		uint8_t now = rtc_reg(0x00);
		unsigned v = b & RTC_B_BINARY ? now : (now >> 4) * 10u + (now & 0xf);
		v = (v + 2) % 60;
		sec = (uint8_t)(b & RTC_B_BINARY ? v : (v / 10) << 4 | v % 10);
	}
	rtc_set(0x01, sec);
	rtc_set(0x03, ALARM_ANY);
	rtc_set(0x05, ALARM_ANY);
	rtc_set(0x0b, (uint8_t)(b | RTC_B_AIE));
	return 0;
}

/* Clears PM1_STS (write 1 to clear), sets PM1_EN. */
static uint64_t pm1_prepare(uint64_t en)
{
	outw((uint16_t)acpi.evt, 0xffff);
	outw((uint16_t)(acpi.evt + 2), (uint16_t)en);
	return 0;
}

static uint64_t set_vectors(uint64_t mode)
{
	volatile uint8_t *facs = (volatile uint8_t *)acpi.facs;
	volatile uint32_t *real = (volatile uint32_t *)(facs + 12);
	volatile uint32_t *x_lo = (volatile uint32_t *)(facs + 24), *x_hi = x_lo + 1;
	*real = mode == 0 ? WAKE_ADDR : 0;
	*x_lo = mode == 1 ? WAKE_ADDR : 0;
	*x_hi = 0;
	return 0;
}

static uint64_t enter_s3(uint64_t typ)
{
	volatile uint32_t *marker = (volatile uint32_t *)(uintptr_t)(PARAM_ADDR + 4);
	outw((uint16_t)acpi.cnt, (uint16_t)(typ << 10 | SLP_EN));
	for (uint64_t i = 0; i < (1ull << 31); i++)
		*marker = 1;
	return 0;
}

static void put_hex_field(const char *name, uint64_t v)
{
	serial_puts(name);
	serial_put_hex(v);
}

uint32_t guest_main(const char *args)
{
	const char *mode = skip_spaces(args);
	int kut = str_eq(mode, "kut"), x32 = str_eq(mode, "x32"), none = str_eq(mode, "novector");
	int rtc = kut || str_eq(mode, "rtc") || *mode == '\0';
	if (!run_user(discover, 0)) {
		serial_puts("s3: no FADT/FACS\n");
		return 0x7e;
	}
	uint64_t typ = kut ? 1 : run_user(s3_type, 0);
	put_hex_field("s3: facs ", acpi.facs);
	put_hex_field(" pm1a_evt ", acpi.evt);
	put_hex_field(" pm1a_cnt ", acpi.cnt);
	serial_puts(" slp_typ ");
	serial_put_dec(typ);
	serial_putc('\n');
	if (typ > 7)
		return 0x7e;
	const char *from = x32 ? wake32_start : wake16_start;
	const char *to = x32 ? wake32_end : wake16_end;
	memcpy((void *)(uintptr_t)WAKE_ADDR, from, (size_t)(to - from));
	*(volatile uint16_t *)(uintptr_t)PARAM_ADDR = (uint16_t)acpi.evt;
	*(volatile uint32_t *)(uintptr_t)(PARAM_ADDR + 4) = 0;
	run_user(set_vectors, none ? 2 : x32 ? 1 : 0);
	run_user(pm1_prepare, rtc ? PM1_RTC : 0);
	if (rtc)
		run_user(arm_rtc, (uint64_t)kut);
	serial_puts("s3: suspending\n");
	run_user(enter_s3, typ);
	serial_puts("s3: still running after SLP_EN\n");
	return 0x7d;
}
