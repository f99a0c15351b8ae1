/*
 * pmtimer: the ACPI PM timer, the RTC and S5, found the way an OS finds
 * them, all at ring 3 (loops are native there):
 *
 *   1. Scans 0xe0000-0xfffff for the RSDP, follows the XSDT (RSDT for
 *      revision 0) to the FADT and prints
 *        pmtimer: fadt sci N pm1a_evt 0xP pm1a_cnt 0xP pm_tmr 0xP ext E facs OK|BAD
 *      (E = TMR_VAL_EXT; the FACS must say "FACS" and be 64 bytes long).
 *   2. Reads the RTC (waiting for UIP to clear, decoding BCD or binary as
 *      register B says, the century from the FADT's CENTURY byte) and prints
 *        rtc: YYYY-MM-DD hh:mm:ss bcd B
 *   3. Counts PM timer ticks between two RTC second boundaries and prints
 *        pmtimer: T ticks per rtc second
 *      (3579545 for a working timer; the spec allows a generous factor).
 *   4. With "poweroff" on the command line: finds \_S5 in the DSDT (its
 *      package's first element is SLP_TYPa) and writes SLP_TYPa | SLP_EN
 *      to PM1a_CNT; the VM should stop there ("poweroff" in the spec).
 *      With "button": first enables the power-button event (PM1a_EN bit
 *      8), prints "pmtimer: waiting for the power button", polls PM1a_STS
 *      until PWRBTN_STS is set, clears it (write 1), prints "pmtimer: power
 *      button pressed" and then powers off the same way, as an OS's
 *      power-button handler does.
 * Exits 0 after step 3 (or 0x7e if anything is missing, 0x7d if the
 * poweroff write returned).
 */
#include "acpi.h"
#include "guest.h"

#define RTC_INDEX 0x70
#define RTC_DATA 0x71

struct fadt_info {
	uint64_t addr, dsdt;
	uint32_t sci, evt, cnt, tmr, flags;
	uint8_t century;
	int facs_ok;
};

static struct fadt_info fadt;

static uint64_t discover(uint64_t unused)
{
	(void)unused;
	const volatile uint8_t *f = acpi_find_table("FACP");
	if (!f)
		return 0;
	fadt.addr = (uint64_t)f;
	fadt.sci = f[46] | f[47] << 8;
	fadt.evt = acpi_rd32(f + 56);
	fadt.cnt = acpi_rd32(f + 64);
	fadt.tmr = acpi_rd32(f + 76);
	fadt.century = f[108];
	fadt.flags = acpi_rd32(f + 112);
	uint64_t facs = acpi_rd32(f + 4) >= 140 && acpi_rd64(f + 132) ? acpi_rd64(f + 132) : acpi_rd32(f + 36);
	fadt.dsdt = acpi_rd32(f + 4) >= 148 && acpi_rd64(f + 140) ? acpi_rd64(f + 140) : acpi_rd32(f + 40);
	fadt.facs_ok = facs && memcmp((const void *)facs, "FACS", 4) == 0 &&
		       acpi_rd32((const volatile uint8_t *)facs + 4) == 64;
	return 1;
}

static uint8_t rtc_reg(uint8_t reg)
{
	outb(RTC_INDEX, reg);
	return inb(RTC_DATA);
}

static unsigned rtc_value(uint8_t v, int bcd)
{
	return bcd ? (v >> 4) * 10u + (v & 0xf) : v;
}

/* The seconds register once no update is in progress. */
static uint8_t rtc_seconds(void)
{
	while (rtc_reg(0x0a) & 0x80)
		;
	return rtc_reg(0x00);
}

static void put2(unsigned v)
{
	serial_putc((char)('0' + v / 10 % 10));
	serial_putc((char)('0' + v % 10));
}

static uint64_t read_rtc(uint64_t unused)
{
	(void)unused;
	while (rtc_reg(0x0a) & 0x80)
		;
	uint8_t b = rtc_reg(0x0b);
	int bcd = !(b & 0x04);
	unsigned sec = rtc_value(rtc_reg(0x00), bcd), min = rtc_value(rtc_reg(0x02), bcd);
	uint8_t hr = rtc_reg(0x04);
	unsigned hour = rtc_value(hr & 0x7f, bcd);
	if (!(b & 0x02)) /* 12-hour: bit 7 is PM */
		hour = hour % 12 + (hr & 0x80 ? 12 : 0);
	unsigned day = rtc_value(rtc_reg(0x07), bcd), mon = rtc_value(rtc_reg(0x08), bcd);
	unsigned year = rtc_value(rtc_reg(0x09), bcd);
	unsigned century = fadt.century ? rtc_value(rtc_reg(fadt.century), bcd) : 20;
	serial_puts("rtc: ");
	serial_put_dec(century * 100 + year);
	serial_putc('-'), put2(mon), serial_putc('-'), put2(day), serial_putc(' ');
	put2(hour), serial_putc(':'), put2(min), serial_putc(':'), put2(sec);
	serial_puts(" bcd ");
	serial_put_dec((uint64_t)bcd);
	serial_putc('\n');
	return 1;
}

/* PM timer ticks from one RTC second boundary to the next. */
static uint64_t measure(uint64_t unused)
{
	(void)unused;
	uint32_t mask = fadt.flags & (1u << 8) ? 0xffffffffu : 0xffffffu;
	uint8_t s = rtc_seconds();
	while (rtc_seconds() == s)
		;
	uint32_t t0 = inl((uint16_t)fadt.tmr);
	s = rtc_seconds();
	while (rtc_seconds() == s)
		;
	uint32_t t1 = inl((uint16_t)fadt.tmr);
	return (t1 - t0) & mask;
}

/* SLP_TYPa of \_S5: NameSeg "_S5_", PackageOp, PkgLength, NumElements, element 0. */
static uint64_t s5_type(uint64_t unused)
{
	(void)unused;
	const volatile uint8_t *d = (const volatile uint8_t *)fadt.dsdt;
	uint32_t len = acpi_rd32(d + 4);
	for (uint32_t o = 36; o + 8 < len; o++) {
		if (memcmp((const void *)(d + o), "_S5_", 4) != 0 || d[o + 4] != 0x12)
			continue;
		const volatile uint8_t *e = d + o + 5;
		e += 1 + (e[0] >> 6) + 1; /* PkgLength, NumElements */
		if (e[0] == 0x0a)
			return e[1];
		if (e[0] <= 1)
			return e[0]; /* ZeroOp, OneOp */
	}
	return 0xff;
}

static uint64_t poweroff(uint64_t typ)
{
	outw((uint16_t)fadt.cnt, (uint16_t)(typ << 10 | 1u << 13));
	for (volatile uint64_t i = 0; i < (1ull << 28); i++)
		;
	return 0;
}

/* ACPI 6.5 §4.8.3.1: PM1 status at the event block, enable 2 bytes after. */
#define PWRBTN (1u << 8)

static uint64_t wait_power_button(uint64_t unused)
{
	(void)unused;
	outw((uint16_t)(fadt.evt + 2), PWRBTN);
	while (!(inw((uint16_t)fadt.evt) & PWRBTN))
		;
	outw((uint16_t)fadt.evt, PWRBTN); /* write-1-to-clear */
	return 0;
}

static void put_hex_field(const char *name, uint64_t v)
{
	serial_puts(name);
	serial_put_hex(v);
}

uint32_t guest_main(const char *args)
{
	if (!run_user(discover, 0)) {
		serial_puts("pmtimer: no FADT\n");
		return 0x7e;
	}
	serial_puts("pmtimer: fadt sci ");
	serial_put_dec(fadt.sci);
	put_hex_field(" pm1a_evt ", fadt.evt);
	put_hex_field(" pm1a_cnt ", fadt.cnt);
	put_hex_field(" pm_tmr ", fadt.tmr);
	serial_puts(fadt.flags & (1u << 8) ? " ext 1" : " ext 0");
	serial_puts(fadt.facs_ok ? " facs OK\n" : " facs BAD\n");
	if (!fadt.tmr || !fadt.cnt)
		return 0x7e;
	run_user(read_rtc, 0);
	serial_puts("pmtimer: ");
	serial_put_dec(run_user(measure, 0));
	serial_puts(" ticks per rtc second\n");
	const char *mode = skip_spaces(args);
	int button = str_eq(mode, "button");
	if (!str_eq(mode, "poweroff") && !button)
		return 0;
	if (button) {
		serial_puts("pmtimer: waiting for the power button\n");
		run_user(wait_power_button, 0);
		serial_puts("pmtimer: power button pressed\n");
	}
	uint64_t typ = run_user(s5_type, 0);
	serial_puts("pmtimer: S5 is SLP_TYP ");
	serial_put_dec(typ);
	serial_putc('\n');
	if (typ > 7)
		return 0x7e;
	run_user(poweroff, typ);
	serial_puts("pmtimer: still running after S5\n");
	return 0x7d;
}
