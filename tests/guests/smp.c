/*
 * smp: finds the CPUs the way an OS does and starts them all.
 *
 *   1. At ring 3 (loops are native there): scans 0xe0000-0xfffff for the
 *      ACPI RSDP, follows the XSDT (RSDT for revision 0) to the MADT and
 *      lists its enabled Local APIC / x2APIC entries; finds the MP floating
 *      pointer (EBDA, last KiB of base memory, BIOS ROM) and lists the
 *      enabled processor entries of its configuration table.  Every
 *      checksum is verified.  Prints
 *        smp: madt N cpus: ID ID ...      smp: mptable N cpus: ID ID ...
 *   2. The boot CPU checks in, then starts each other listed CPU with
 *      the runtime's ap_start() (INIT, SIPI, SIPI; the real-mode trampoline
 *      at 0x3000 to long mode on the BSP's page tables, GDT and IDT) and
 *      waits at ring 3 (bounded) for it to check in.  Each CPU prints
 *        cpu N apic A cpuid C
 *      (N = check-in order, A = its local APIC ID register, C = CPUID 01H
 *      EBX[31:24]) at ring 0 and the APs halt.
 *   3. Prints "smp: K of M cpus checked in" and exits with K.
 * Command line: "mptable" starts the CPUs the MP table lists instead of
 * the MADT's.  A discovery failure exits with 0x7e after one "smp: ..." line.
 */
#include "guest.h"

#define MAX_CPUS 64
#define LAPIC 0xfee00000ul
#define LAPIC_ID 0x20

struct cpu_list {
	uint32_t n;
	uint32_t ids[MAX_CPUS];
	uint64_t where; /* table address, for the report */
	const char *error;
};

static struct cpu_list madt_cpus, mp_cpus;

static uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(LAPIC + reg);
}

static uint32_t cpuid_apic_id(void)
{
	uint32_t a = 1, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return b >> 24;
}

static void check_in(uint32_t n)
{
	serial_puts("cpu ");
	serial_put_dec(n);
	serial_puts(" apic ");
	serial_put_dec(lapic_read(LAPIC_ID) >> 24);
	serial_puts(" cpuid ");
	serial_put_dec(cpuid_apic_id());
	serial_putc('\n');
}

/* At ring 0 on each AP; the runtime counts it checked in once this returns. */
static void ap_main(unsigned slot)
{
	check_in(slot);
}

/* ---------- discovery, at ring 3 ---------- */

static uint8_t sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;
	while (len--)
		s = (uint8_t)(s + *b++);
	return s;
}

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void add_cpu(struct cpu_list *l, uint32_t id)
{
	if (l->n < MAX_CPUS)
		l->ids[l->n++] = id;
}

/* A table at `addr` with signature `sig` and a good checksum, or NULL. */
static const uint8_t *acpi_table(uint64_t addr, const char *sig)
{
	const uint8_t *t = (const uint8_t *)addr;
	if (!addr || memcmp(t, sig, 4) != 0 || sum(t, rd32(t + 4)) != 0)
		return NULL;
	return t;
}

static const uint8_t *find_rsdp(void)
{
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
		const uint8_t *p = (const uint8_t *)a;
		if (memcmp(p, "RSD PTR ", 8) == 0 && sum(p, 20) == 0 &&
		    (p[15] < 2 || sum(p, rd32(p + 20)) == 0))
			return p;
	}
	return NULL;
}

static const uint8_t *find_madt(const uint8_t *rsdp)
{
	int x = rsdp[15] >= 2;
	const uint8_t *sdt = x ? acpi_table(rd64(rsdp + 24), "XSDT") : acpi_table(rd32(rsdp + 16), "RSDT");
	if (!sdt)
		return NULL;
	unsigned width = x ? 8 : 4, n = (rd32(sdt + 4) - 36) / width;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = sdt + 36 + i * width;
		const uint8_t *t = acpi_table(x ? rd64(e) : rd32(e), "APIC");
		if (t)
			return t;
	}
	return NULL;
}

static uint64_t scan_acpi(uint64_t unused)
{
	(void)unused;
	struct cpu_list *l = &madt_cpus;
	const uint8_t *rsdp = find_rsdp();
	const uint8_t *madt = rsdp ? find_madt(rsdp) : NULL;
	if (!madt) {
		l->error = rsdp ? "no valid XSDT/RSDT with a MADT" : "no RSDP in 0xe0000-0xfffff";
		return 0;
	}
	l->where = (uint64_t)madt;
	for (uint32_t o = 44, len = rd32(madt + 4); o + 2 <= len && madt[o + 1]; o += madt[o + 1]) {
		const uint8_t *e = madt + o;
		if (e[0] == 0 && (rd32(e + 4) & 1))      /* Processor Local APIC, enabled */
			add_cpu(l, e[3]);
		else if (e[0] == 9 && (rd32(e + 8) & 1)) /* Processor Local x2APIC, enabled */
			add_cpu(l, rd32(e + 4));
	}
	return l->n;
}

static const uint8_t *mp_floating_in(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + 16 <= start + len; a += 16) {
		const uint8_t *p = (const uint8_t *)a;
		if (memcmp(p, "_MP_", 4) == 0 && p[8] && sum(p, p[8] * 16u) == 0)
			return p;
	}
	return NULL;
}

static uint64_t scan_mptable(uint64_t unused)
{
	(void)unused;
	struct cpu_list *l = &mp_cpus;
	uintptr_t bda_ebda = 0x40e; /* BDA: EBDA segment; hidden from gcc's bounds checks */
	__asm__("" : "+r"(bda_ebda));
	uint64_t ebda = (uint64_t)*(const volatile uint16_t *)bda_ebda << 4;
	const uint8_t *fp = ebda ? mp_floating_in(ebda, 1024) : NULL;
	if (!fp)
		fp = mp_floating_in(0x9fc00, 1024);
	if (!fp)
		fp = mp_floating_in(0xf0000, 0x10000);
	const uint8_t *t = fp ? (const uint8_t *)(uint64_t)rd32(fp + 4) : NULL;
	if (!t || memcmp(t, "PCMP", 4) != 0 || sum(t, t[4] | t[5] << 8) != 0) {
		l->error = fp ? "bad MP configuration table" : "no MP floating pointer";
		return 0;
	}
	l->where = (uint64_t)t;
	const uint8_t *e = t + 44;
	for (unsigned i = 0, n = t[34] | t[35] << 8; i < n; i++) {
		if (e[0] == 0 && (e[3] & 1))
			add_cpu(l, e[1]);
		e += e[0] == 0 ? 20 : 8;
	}
	return l->n;
}

static int report(const char *what, const struct cpu_list *l)
{
	serial_puts("smp: ");
	serial_puts(what);
	if (l->error) {
		serial_puts(": ");
		serial_puts(l->error);
		serial_putc('\n');
		return 0;
	}
	serial_puts(" at ");
	serial_put_hex(l->where);
	serial_putc(' ');
	serial_put_dec(l->n);
	serial_puts(" cpus:");
	for (uint32_t i = 0; i < l->n; i++) {
		serial_putc(' ');
		serial_put_dec(l->ids[i]);
	}
	serial_putc('\n');
	return 1;
}

/* ---------- starting the APs ---------- */

static void start_ap(uint32_t apic_id)
{
	if (ap_start(apic_id))
		return;
	serial_puts("smp: cpu with apic ");
	serial_put_dec(apic_id);
	serial_puts(" did not check in\n");
}

uint32_t guest_main(const char *args)
{
	run_user(scan_acpi, 0);
	run_user(scan_mptable, 0);
	int have_madt = report("madt", &madt_cpus), have_mp = report("mptable", &mp_cpus);
	int use_mp = str_eq(skip_spaces(args), "mptable");
	const struct cpu_list *l = use_mp ? &mp_cpus : &madt_cpus;
	if (use_mp ? !have_mp : !have_madt)
		return 0x7e;
	aps_prepare(MAX_CPUS, AP_RING0, ap_main);
	uint32_t self = lapic_read(LAPIC_ID) >> 24;
	check_in(0);
	for (uint32_t i = 0; i < l->n; i++)
		if (l->ids[i] != self)
			start_ap(l->ids[i]);
	uint32_t checked_in = 1 + aps_checked_in();
	serial_puts("smp: ");
	serial_put_dec(checked_in);
	serial_puts(" of ");
	serial_put_dec(l->n);
	serial_puts(" cpus checked in\n");
	return checked_in;
}
