/*
 * counter: a guest whose whole state is in RAM and registers, for the
 * snapshot / restore / fork specs (tests/spec/snapshot_spec.lua) and
 * bench/snapshot.lua.
 *
 * It prints "counter: start" at once (guest_early), calibrates the TSC on
 * the ACPI PM timer ("counter: tsc K kHz"), prints "counter: ready" and
 * then, every step (default 50 ms of TSC time), one line
 *
 *   count N[ tag X][ aps A1 A2 ...][ blk ok]
 *
 * N counts up from 1 in a global (RAM); X is the tag set over the UART;
 * A1... are the APs' own counters (smp); "blk ok" says this step's disk
 * requests checked out (blk).  Between steps it polls the UART every
 * ~1 ms without blocking; a line is a command:
 *
 *   set X        the tag becomes X (a RAM string, at most 63 bytes);
 *                prints "ok set X"
 *   ping         prints "pong N" at once
 *   dirty N [V]  writes V (default 1) into the first qword of N pages
 *                from DIRTY_BASE (4 MiB) up; prints "dirtied N"
 *   sum N        prints "sum N S", S the sum of those N qwords
 *   exit         prints "counter: exit N" and exits with N (debug-exit)
 *   reset        prints "counter: reset N" and pulses the i8042's reset
 *                line (port 0x64, command 0xfe), as a PC's reboot does
 *   anything else prints "counter: unknown command"
 *
 * The TSC only ever moves forward for a guest that was not told otherwise:
 * when it sees it go back, it prints "counter: tsc went back by T ticks"
 * (and carries on from the new value).  A restored or forked guest must
 * never print that, nor any "FAIL".
 *
 * Command-line words (any order):
 *   ms=N     step length in ms (0: no delay, a line as fast as the UART
 *            goes; for latency benchmarks)
 *   timer    wait for each step at ring 0 in `hlt` on the LAPIC's
 *            TSC-deadline timer (vector 0x40) instead of spinning at ring
 *            3; input is then read once per step.  A restored guest
 *            counts on only if its LAPIC, its TSC-deadline MSR and its
 *            halted state came back.
 *   smp      starts every other vCPU (APIC IDs 1..ncpus-1, the runtime's
 *            start_aps() as in virtio-race); each AP runs at ring 3 and
 *            counts in its own RAM slot forever (no port I/O, no faults:
 *            the APs have no TSS).  The boot CPU
 *            prints "counter: K aps counting" once they all checked in,
 *            and, each step, their counts; an AP count that went back is
 *            "counter: ap K went back".
 *   blk      each step writes sector N % 128 of the first virtio-blk
 *            disk (a "counterB" magic, N, then N's low byte), reads it
 *            back and reads the previous step's sector, checking both;
 *            prints " blk ok", or " blk FAIL why" and stops using the disk.
 *   touch    before counting, writes one qword in every page of RAM from
 *            DIRTY_BASE up ("counter: touched M MiB"), so a snapshot has
 *            all of RAM to save.
 * Exits 0x7e on a bad command line, or when "timer" finds no TSC-deadline
 * timer.
 */
#include "guest.h"
#include "idt.h"
#include "virtio.h"

#define DIRTY_BASE (4ull << 20)
#define TAG_MAX 63
#define LINE_MAX 80
#define MAX_CPUS 8 /* the boot CPU and up to 7 APs (slots 1..7) */
#define TIMER_VECTOR 0x40

#define LAPIC 0xfee00000ul
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_LVT_TIMER 0x320
#define LVT_TSC_DEADLINE (2u << 17)
#define MSR_TSC_DEADLINE 0x6e0

#define VIRTIO_ID_BLOCK 2
#define BLK_SECTORS 128
#define BLK_MAGIC 0x426574726e756f63ull /* "counterB" */

/* ---- the state a snapshot must carry (all of it in RAM) ---- */
static volatile uint64_t count;
static char tag[TAG_MAX + 1];
static char line[LINE_MAX + 1];
static unsigned line_len;
static int line_overflow;

static uint64_t step_ms = 50;
static int use_timer, use_smp, use_blk, use_touch;
static uint64_t tsc_per_ms;
static uint64_t last_tsc; /* the newest TSC value seen, to catch it going back */

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* The TSC, reporting (once per occurrence) a step backwards. */
static uint64_t now(void)
{
	uint64_t t = rdtsc();
	if (t < last_tsc) {
		serial_puts("counter: tsc went back by ");
		serial_put_dec(last_tsc - t);
		serial_puts(" ticks\n");
	}
	last_tsc = t;
	return t;
}

static void cpuid(uint32_t leaf, uint32_t r[4])
{
	r[0] = leaf;
	r[2] = 0;
	__asm__ volatile("cpuid" : "+a"(r[0]), "=b"(r[1]), "+c"(r[2]), "=d"(r[3]));
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(LAPIC + reg) = v;
}

/* ---------- TSC calibration on the ACPI PM timer (FADT PM_TMR_BLK) ---------- */

static uint32_t rd32(const volatile uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const volatile uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* The PM timer port from the FADT, or 0. */
static uint16_t pm_timer_port(void)
{
	const volatile uint8_t *rsdp = 0;
	for (uint64_t a = 0xe0000; a < 0x100000 && !rsdp; a += 16)
		if (memcmp((const void *)a, "RSD PTR ", 8) == 0)
			rsdp = (const volatile uint8_t *)a;
	if (!rsdp)
		return 0;
	int x = rsdp[15] >= 2;
	const volatile uint8_t *sdt = (const volatile uint8_t *)(x ? rd64(rsdp + 24) : rd32(rsdp + 16));
	if (!sdt)
		return 0;
	uint32_t width = x ? 8 : 4;
	for (uint32_t o = 36; o + width <= rd32(sdt + 4); o += width) {
		const volatile uint8_t *t = (const volatile uint8_t *)(x ? rd64(sdt + o) : rd32(sdt + o));
		if (t && memcmp((const void *)t, "FACP", 4) == 0)
			return (uint16_t)rd32(t + 76);
	}
	return 0;
}

/*
 * A PM timer reading and the TSC at that moment: of 8 reads, the one the
 * narrowest pair of TSC reads encloses.  The vCPU thread may be
 * descheduled on its way back from the exit (a loaded host), and the TSC
 * then runs on while the reading stays put.
 */
static void pm_sample(uint16_t port, uint32_t *pm, uint64_t *tsc)
{
	uint64_t best = ~0ull;
	for (int i = 0; i < 8; i++) {
		uint64_t a = rdtsc();
		uint32_t p = inl(port);
		uint64_t b = rdtsc();
		if (b - a < best) {
			best = b - a;
			*pm = p;
			*tsc = a + (b - a) / 2;
		}
	}
}

/*
 * TSC ticks per ms: counted over ~10 ms of the 3.579545 MHz PM timer, the
 * median of 3 such windows.
 */
static uint64_t calibrate(uint64_t unused)
{
	(void)unused;
	uint16_t port = pm_timer_port();
	if (!port) {
		uint32_t r[4];
		cpuid(0, r);
		if (r[0] >= 0x16) {
			cpuid(0x16, r);
			if (r[0])
				return (uint64_t)r[0] * 1000; /* base MHz */
		}
		return 2000000;
	}
	uint64_t v[3];
	for (int i = 0; i < 3; i++) {
		uint32_t pm0 = 0, pm1 = 0;
		uint64_t tsc0 = 0, tsc1 = 0;
		pm_sample(port, &pm0, &tsc0);
		while (((inl(port) - pm0) & 0xffffff) < 35795)
			;
		pm_sample(port, &pm1, &tsc1);
		uint64_t ticks = (pm1 - pm0) & 0xffffff;
		v[i] = (tsc1 - tsc0) * 3579545 / (ticks * 1000);
		for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
			uint64_t x = v[j];
			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	}
	return v[1];
}

/* ---------- the UART commands ---------- */

static void put_tag_suffix(void)
{
	if (tag[0]) {
		serial_puts(" tag ");
		serial_puts(tag);
	}
}

static uint64_t dirty_pages_max(void)
{
	uint64_t mem = bootinfo ? bootinfo->mem_size : 32ull << 20;
	return mem > DIRTY_BASE ? (mem - DIRTY_BASE) / 4096 : 0;
}

static void command(const char *l)
{
	const char *p;
	uint64_t n, v;
	if (memcmp(l, "set ", 4) == 0) {
		size_t len = strlen(l + 4);
		if (len > TAG_MAX)
			len = TAG_MAX;
		memcpy(tag, l + 4, len);
		tag[len] = 0;
		serial_puts("ok set ");
		serial_puts(tag);
		serial_putc('\n');
	} else if (str_eq(l, "ping")) {
		serial_puts("pong ");
		serial_put_dec(count);
		serial_putc('\n');
	} else if (memcmp(l, "dirty ", 6) == 0) {
		p = l + 6;
		v = 1;
		if (!parse_uint(&p, &n) || n > dirty_pages_max()) {
			serial_puts("counter: dirty: bad page count\n");
			return;
		}
		parse_uint(&p, &v);
		for (uint64_t i = 0; i < n; i++)
			*(volatile uint64_t *)(DIRTY_BASE + i * 4096) = v;
		serial_puts("dirtied ");
		serial_put_dec(n);
		serial_putc('\n');
	} else if (memcmp(l, "sum ", 4) == 0) {
		p = l + 4;
		uint64_t s = 0;
		if (!parse_uint(&p, &n) || n > dirty_pages_max()) {
			serial_puts("counter: sum: bad page count\n");
			return;
		}
		for (uint64_t i = 0; i < n; i++)
			s += *(volatile uint64_t *)(DIRTY_BASE + i * 4096);
		serial_puts("sum ");
		serial_put_dec(n);
		serial_putc(' ');
		serial_put_dec(s);
		serial_putc('\n');
	} else if (str_eq(l, "reset")) {
		serial_puts("counter: reset ");
		serial_put_dec(count);
		serial_putc('\n');
		outb(0x64, 0xfe);
	} else if (str_eq(l, "exit")) {
		serial_puts("counter: exit ");
		serial_put_dec(count);
		serial_putc('\n');
		debug_exit((uint32_t)count);
	} else {
		serial_puts("counter: unknown command\n");
	}
}

/* Reads whatever the UART holds; runs each complete line. */
static void poll_input(void)
{
	int c;
	while ((c = serial_try_getc()) >= 0) {
		if (c != '\n' && c != '\r') {
			if (line_len < LINE_MAX)
				line[line_len++] = (char)c;
			else
				line_overflow = 1;
			continue;
		}
		line[line_len] = 0;
		if (line_len && !line_overflow)
			command(line);
		else if (line_overflow)
			serial_puts("counter: line too long\n");
		line_len = 0;
		line_overflow = 0;
	}
}

/* ---------- the APs (smp) ---------- */

static volatile uint64_t ap_count[MAX_CPUS];
static uint64_t ap_seen[MAX_CPUS];
static uint32_t ncpus = 1;

/*
 * Ring 3, forever.  The count lives in a register and is stored to RAM each
 * time round, so a restored AP continues only if both its registers and
 * its memory came back.
 */
static void __attribute__((noreturn)) ap_user(unsigned slot)
{
	uint64_t n = ap_count[slot];
	for (;;) {
		n++;
		ap_count[slot] = n;
		__asm__ volatile("pause");
	}
}

static int start_smp(void)
{
	ncpus = bootinfo ? bootinfo->ncpus : 1;
	if (ncpus > MAX_CPUS)
		ncpus = MAX_CPUS;
	unsigned aps = start_aps(MAX_CPUS - 1, AP_RING3, ap_user);
	if (aps + 1 < ncpus) {
		serial_puts("counter: FAIL the AP with APIC ID ");
		serial_put_dec(aps + 1);
		serial_puts(" did not check in\n");
		return 0;
	}
	serial_puts("counter: ");
	serial_put_dec(aps);
	serial_puts(" aps counting\n");
	return 1;
}

static void put_aps(void)
{
	serial_puts(" aps");
	for (uint32_t k = 1; k < ncpus; k++) {
		uint64_t v = ap_count[k];
		serial_putc(' ');
		serial_put_dec(v);
		if (v < ap_seen[k]) {
			serial_puts("\ncounter: ap ");
			serial_put_dec(k);
			serial_puts(" went back");
		}
		ap_seen[k] = v;
	}
}

/* ---------- the disk (blk) ---------- */

struct blk_req {
	uint32_t type, ioprio;
	uint64_t sector;
};

static struct vq blk_q;
static uint8_t blk_ring[4096] __attribute__((aligned(4096)));
static uint8_t blk_buf[512] __attribute__((aligned(512)));
static struct blk_req blk_hdr;
static volatile uint8_t blk_status;
static const char *blk_failed; /* why the disk is no longer used, or 0 */
static uint64_t blk_last;      /* the count last written (0: none yet) */

static uint64_t blk_setup(uint64_t unused)
{
	(void)unused;
	struct vdev *dev = vdev_find(VIRTIO_ID_BLOCK);
	if (!dev || vdev_init(dev, 0) < 0 || vq_setup(dev, &blk_q, 0, blk_ring) < 0)
		return 0;
	vdev_driver_ok(dev);
	return 1;
}

/* One request (type 0 read, 1 write) of blk_buf; 0 when it completed ok. */
static int blk_request(uint32_t type, uint64_t sector)
{
	blk_hdr = (struct blk_req){ type, 0, sector };
	blk_status = 0xff;
	vq_set_desc(&blk_q.desc[0], (uint64_t)&blk_hdr, sizeof(blk_hdr), VQ_F_NEXT, 1);
	vq_set_desc(&blk_q.desc[1], (uint64_t)blk_buf, sizeof(blk_buf),
		    (type == 0 ? VQ_F_WRITE : 0) | VQ_F_NEXT, 2);
	vq_set_desc(&blk_q.desc[2], (uint64_t)&blk_status, 1, VQ_F_WRITE, 0);
	vq_submit(&blk_q, 0);
	uint64_t deadline = rdtsc() + 5000 * tsc_per_ms;
	while (vq_wait(&blk_q, 0, 100000) != 0)
		if (rdtsc() > deadline)
			return -1;
	return blk_status == 0 ? 0 : -1;
}

static void blk_fill(uint64_t n)
{
	memset(blk_buf, (int)(n & 0xff), sizeof(blk_buf));
	memcpy(blk_buf, &(uint64_t){ BLK_MAGIC }, 8);
	memcpy(blk_buf + 8, &n, 8);
}

static int blk_holds(uint64_t n)
{
	uint64_t magic, got;
	memcpy(&magic, blk_buf, 8);
	memcpy(&got, blk_buf + 8, 8);
	if (magic != BLK_MAGIC || got != n)
		return 0;
	for (unsigned i = 16; i < sizeof(blk_buf); i++)
		if (blk_buf[i] != (uint8_t)n)
			return 0;
	return 1;
}

/* This step's requests: check the previous step's sector, write, read back. */
static void blk_step(uint64_t n)
{
	if (blk_last) {
		if (blk_request(0, blk_last % BLK_SECTORS) != 0)
			blk_failed = "reading the last sector";
		else if (!blk_holds(blk_last))
			blk_failed = "the last sector lost its data";
	}
	if (!blk_failed) {
		blk_fill(n);
		if (blk_request(1, n % BLK_SECTORS) != 0)
			blk_failed = "write";
		else if (blk_request(0, n % BLK_SECTORS) != 0)
			blk_failed = "read";
		else if (!blk_holds(n))
			blk_failed = "read back other data";
	}
	if (blk_failed) {
		serial_puts(" blk FAIL ");
		serial_puts(blk_failed);
		use_blk = 0;
		return;
	}
	blk_last = n;
	serial_puts(" blk ok");
}

/* ---------- the count ---------- */

/* One step at ring 3: count, print, read input. */
static uint64_t step(uint64_t unused)
{
	(void)unused;
	uint64_t n = count + 1;
	count = n;
	serial_puts("count ");
	serial_put_dec(n);
	put_tag_suffix();
	if (use_smp)
		put_aps();
	if (use_blk)
		blk_step(n);
	serial_putc('\n');
	poll_input();
	return 0;
}

/* Spinning at ring 3: a step every step_ms, the UART polled every ~1 ms. */
static uint64_t spin_loop(uint64_t unused)
{
	(void)unused;
	uint64_t step_ticks = step_ms * tsc_per_ms, poll_ticks = tsc_per_ms;
	uint64_t start = now(), polled = start;
	for (;;) {
		uint64_t t = now();
		if (t < start || t < polled) /* went back (reported by now()) */
			start = polled = t;
		if (t - start >= step_ticks) {
			step(0);
			start = t;
		} else if (t - polled >= poll_ticks) {
			poll_input();
			polled = t;
		} else {
			__asm__ volatile("pause");
		}
	}
	return 0; /* not reached */
}

/* ---------- timer mode: hlt until the TSC-deadline interrupt ---------- */

extern char timer_stub[];
volatile uint64_t timer_fired;

/* Counts the interrupt and EOIs the local APIC; tiny, it runs emulated. */
__asm__(".text\n"
	"timer_stub:\n"
	"	push %rax\n"
	"	lock incq timer_fired(%rip)\n"
	"	mov $0xfee000b0, %rax\n" /* LAPIC + LAPIC_EOI */
	"	movl $0, (%rax)\n"
	"	pop %rax\n"
	"	iretq\n");

/* The runtime's 32 exception gates (idt.h), plus the timer. */
static void load_idt(void)
{
	idt_set_handler(TIMER_VECTOR, timer_stub);
	idt_load();
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static __attribute__((noreturn)) void timer_loop(void)
{
	load_idt();
	lapic_write(LAPIC_SVR, 0x1ff);
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LVT_TSC_DEADLINE);
	uint64_t step_ticks = step_ms * tsc_per_ms;
	for (;;) {
		uint64_t fired = timer_fired;
		wrmsr(MSR_TSC_DEADLINE, now() + step_ticks);
		while (timer_fired == fired)
			__asm__ volatile("sti; hlt; cli" ::: "memory");
		run_user(step, 0);
	}
}

/* ---------- start-up ---------- */

void guest_early(void)
{
	serial_puts("counter: start\n");
}

static int parse_args(const char *p)
{
	for (p = skip_spaces(p); *p; p = skip_spaces(p)) {
		if (memcmp(p, "ms=", 3) == 0) {
			p += 3;
			if (!parse_uint(&p, &step_ms) || step_ms > 3600000)
				return 0;
			if (*p && *p != ' ')
				return 0;
			continue;
		}
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		size_t len = (size_t)(p - w);
		if (len == 5 && memcmp(w, "timer", 5) == 0)
			use_timer = 1;
		else if (len == 3 && memcmp(w, "smp", 3) == 0)
			use_smp = 1;
		else if (len == 3 && memcmp(w, "blk", 3) == 0)
			use_blk = 1;
		else if (len == 5 && memcmp(w, "touch", 5) == 0)
			use_touch = 1;
		else if (len > 16 && memcmp(w, "virtio_mmio.dev", 15) == 0)
			; /* QEMU -M microvm's device list: read by runtime/virtio.c */
		else
			return 0;
	}
	return 1;
}

static uint64_t touch(uint64_t unused)
{
	(void)unused;
	uint64_t pages = dirty_pages_max();
	for (uint64_t i = 0; i < pages; i++)
		*(volatile uint64_t *)(DIRTY_BASE + i * 4096) = i;
	return pages;
}

uint32_t guest_main(const char *args)
{
	if (!parse_args(args)) {
		serial_puts("counter: usage: [ms=N] [timer] [smp] [blk] [touch]\n");
		return 0x7e;
	}
	tsc_per_ms = run_user(calibrate, 0);
	if (!tsc_per_ms)
		tsc_per_ms = 1;
	serial_puts("counter: tsc ");
	serial_put_dec(tsc_per_ms);
	serial_puts(" kHz\n");
	if (use_timer) {
		uint32_t r[4];
		cpuid(1, r);
		if (!(r[2] & (1u << 24))) {
			serial_puts("counter: FAIL no TSC-deadline timer\n");
			return 0x7e;
		}
	}
	if (use_blk && !run_user(blk_setup, 0)) {
		serial_puts("counter: FAIL no usable virtio-blk disk\n");
		return 0x7e;
	}
	if (use_touch) {
		uint64_t pages = run_user(touch, 0);
		serial_puts("counter: touched ");
		serial_put_dec(pages / 256);
		serial_puts(" MiB\n");
	}
	if (use_smp && !start_smp())
		return 0x7e;
	serial_puts("counter: ready\n");
	if (use_timer)
		timer_loop();
	return (uint32_t)run_user(spin_loop, 0);
}
