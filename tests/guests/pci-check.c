/*
 * pci-check: finds virtio-pci devices the way an OS does and drives one,
 * at ring 3, but for the waits for an interrupt: ring 0 halts with
 * interrupts on (a LAPIC timer bounds each wait), since on this
 * development host ring 3 runs with IOPL 0 and cannot sti.
 *
 *   1. The ACPI MCFG table gives ECAM ("pci-check: mcfg ecam 0xADDR buses
 *      0-N"); bus 0 is enumerated through 0xcf8/0xcfc, one line per
 *      function ("pci-check: 00:DD.0 VVVV:DDDD class CCCCCC rev RR pin P
 *      line L"), and again through ECAM ("pci-check: ecam agrees on N
 *      functions" when every ID, class and header matches).
 *   2. For each virtio function (vendor 0x1af4, device 0x1040 + id): its
 *      capability list ("pci-check: 00:DD.0 virtio id I caps common@0xO
 *      notify@0xO mult M isr@0xO device@0xO|- pcicfg msix N table 0xT pba
 *      0xP"), BAR 0 sized with all-ones with decoding off ("bar0 64-bit
 *      size 0xS firmware 0xA"), then moved through ECAM to a new address
 *      in the window ("bar0 moved to 0xA, old address reads 0xV").
 *   3. The first virtio-rng (or, with "blk", virtio-blk: sector 0 read)
 *      driven through the moved BAR with MSI-X: the LAPIC enabled, entry 0
 *      -> vector 0x40 on APIC 0, queue 0 on MSI-X vector 0; one request
 *      ("pci-check: msix interrupts 1"); then entry 0 masked, a request
 *      completed without an interrupt and its pending bit set, and the
 *      interrupt delivered by unmasking ("pci-check: masked pending 1,
 *      unmask delivers 2").  The configuration access capability reads
 *      the common configuration's num_queues ("pci-check: pcicfg
 *      num_queues N").
 * Ends with "pci-check: ok" and exit 0; any failed check prints
 * "pci-check: FAIL what" and exits 1.  With "loop N" on the command line
 * it then goes on: N rounds (0: for ever) of one request and its MSI-X
 * interrupt, "pci-check: round K msi M" each, through the moved BAR (a
 * snapshot taken meanwhile must bring back BAR, MSI-X table and routes).
 */
#include "guest.h"
#include "idt.h"
#include "pci.h"
#include "virtio.h"

#define MSI_VECTOR 0x40
#define TIMER_VECTOR 0x41
#define SPURIOUS 0xff
#define LAPIC 0xfee00000ull
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define NEW_BAR_BASE 0xc8000000ull

extern char msi_stub[], timer_stub[], spurious_stub[];
volatile uint32_t msi_count, timer_fired;

/* Counts, then EOI to the LAPIC (a write of 0 to its EOI register). */
__asm__(".text\n"
	"msi_stub:\n"
	"	push %rax\n"
	"	lock incl msi_count(%rip)\n"
	"	mov $0xfee000b0, %eax\n"
	"	movl $0, (%rax)\n"
	"	pop %rax\n"
	"	iretq\n"
	"timer_stub:\n"
	"	push %rax\n"
	"	movl $1, timer_fired(%rip)\n"
	"	mov $0xfee000b0, %eax\n"
	"	movl $0, (%rax)\n"
	"	pop %rax\n"
	"	iretq\n"
	"spurious_stub:\n"
	"	iretq\n");

/* The runtime's 32 exception gates (idt.h), plus MSI, timer and spurious. */
static void load_idt(void)
{
	idt_set_handler(MSI_VECTOR, msi_stub);
	idt_set_handler(TIMER_VECTOR, timer_stub);
	idt_set_handler(SPURIOUS, spurious_stub);
	idt_load();
}

static int failed;

static void fail(const char *what)
{
	serial_puts("pci-check: FAIL ");
	serial_puts(what);
	serial_putc('\n');
	failed = 1;
}

static void put_hex_w(uint32_t v, unsigned digits)
{
	static const char d[] = "0123456789abcdef";
	for (unsigned i = digits; i-- > 0;)
		serial_putc(d[(v >> (4 * i)) & 15]);
}

static void say(const char *s)
{
	serial_puts("pci-check: ");
	serial_puts(s);
}

/* ---- 1. enumeration ---- */

static unsigned enumerate(void)
{
	unsigned n = 0, agree = 0;
	for (unsigned dev = 0; dev < 32; dev++) {
		uint32_t id = pci_cf8_read(dev, 0, 4);
		if ((id & 0xffff) == 0xffff)
			continue;
		n++;
		uint32_t class_rev = pci_cf8_read(dev, 8, 4);
		say("00:");
		put_hex_w(dev, 2);
		serial_puts(".0 ");
		put_hex_w(id & 0xffff, 4);
		serial_putc(':');
		put_hex_w(id >> 16, 4);
		serial_puts(" class ");
		put_hex_w(class_rev >> 8, 6);
		serial_puts(" rev ");
		put_hex_w(class_rev & 0xff, 2);
		serial_puts(" pin ");
		serial_put_dec(pci_cf8_read(dev, 0x3d, 1));
		serial_puts(" line ");
		serial_put_dec(pci_cf8_read(dev, 0x3c, 1));
		serial_putc('\n');
		if (pci_ecam && pci_ecam_read(dev, 0, 4) == id && pci_ecam_read(dev, 8, 4) == class_rev &&
		    pci_ecam_read(dev, 0x0e, 1) == pci_cf8_read(dev, 0x0e, 1) &&
		    pci_ecam_read(dev, 0x2c, 4) == pci_cf8_read(dev, 0x2c, 4))
			agree++;
		/* Functions 1-7 are absent: all-ones. */
		if (pci_cf8_read(dev, 0, 4) != id)
			fail("cf8 reads changed");
	}
	if (pci_ecam) {
		/* Absent devices read all-ones through ECAM too. */
		for (unsigned dev = 0; dev < 32; dev++)
			if (pci_cf8_read(dev, 0, 4) == 0xffffffffu && pci_ecam_read(dev, 0, 4) != 0xffffffffu)
				fail("ecam sees a device cf8 does not");
		say("ecam agrees on ");
		serial_put_dec(agree);
		serial_puts(" functions\n");
		if (agree != n)
			fail("ecam and cf8 differ");
	}
	return n;
}

/* ---- 2. capabilities and BAR 0 ---- */

static const char *const cap_names[] = { "?", "common", "notify", "isr", "device", "pcicfg" };

static void show_caps(unsigned dev, struct vdev *d)
{
	say("00:");
	put_hex_w(dev, 2);
	serial_puts(".0 virtio id ");
	serial_put_dec(d->device_id);
	serial_puts(" caps");
	for (unsigned at = pci_find_cap(dev, 0x09, 0); at; at = pci_find_cap(dev, 0x09, at)) {
		unsigned type = pci_read(dev, at + 3, 1);
		serial_putc(' ');
		serial_puts(type <= 5 ? cap_names[type] : "other");
		if (type >= 1 && type <= 4) {
			serial_puts("@");
			serial_put_hex(pci_read(dev, at + 8, 4));
		}
		if (type == 2) {
			serial_puts(" mult ");
			serial_put_dec(pci_read(dev, at + 16, 4));
		}
	}
	unsigned msix = pci_find_cap(dev, 0x11, 0);
	if (msix) {
		serial_puts(" msix ");
		serial_put_dec((pci_read(dev, msix + 2, 2) & 0x7ff) + 1);
		serial_puts(" table ");
		serial_put_hex(pci_read(dev, msix + 4, 4));
		serial_puts(" pba ");
		serial_put_hex(pci_read(dev, msix + 8, 4));
	}
	serial_putc('\n');
}

static void move_bar(unsigned dev, struct vdev *d)
{
	int is64 = 0;
	uint64_t old = pci_bar_addr(dev, 0), size = pci_bar_size(dev, 0, &is64);
	say("00:");
	put_hex_w(dev, 2);
	serial_puts(".0 bar0 ");
	serial_puts(is64 ? "64-bit" : "32-bit");
	serial_puts(" size ");
	serial_put_hex(size);
	serial_puts(" firmware ");
	serial_put_hex(old);
	serial_putc('\n');
	if (!size || pci_bar_addr(dev, 0) != old)
		fail("sizing BAR 0 lost its address");
	uint64_t addr = NEW_BAR_BASE + (uint64_t)dev * 0x10000;
	uint16_t cmd = (uint16_t)pci_read(dev, 4, 2);
	pci_write(dev, 4, 2, cmd & ~2u);
	pci_bar_set(dev, 0, addr, is64);
	pci_write(dev, 4, 2, cmd | 2u);
	say("00:");
	put_hex_w(dev, 2);
	serial_puts(".0 bar0 moved to ");
	serial_put_hex(pci_bar_addr(dev, 0));
	serial_puts(", old address reads ");
	serial_put_hex(old ? *(volatile uint32_t *)old : 0);
	serial_putc('\n');
	if (vpci_attach(dev, d) < 0 || d->common != addr)
		fail("virtio capabilities after the move");
}

/* ---- 3. a device over the moved BAR, with MSI-X ---- */

static struct vq q;
static uint8_t ring_page[4096] __attribute__((aligned(4096)));
static uint8_t buf[512] __attribute__((aligned(16)));
static struct { uint32_t type, reserved; uint64_t sector; } blk_hdr;
static uint8_t blk_status;

static void lapic_write(unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(LAPIC + reg) = v;
}

static volatile uint32_t *msix_entry(struct vdev *d, unsigned table, unsigned v)
{
	uint64_t bar = pci_bar_addr(d->pci_dev, table & 7);
	return (volatile uint32_t *)(bar + (table & ~7u) + 16 * v);
}

/* One request: rng fills buf, blk reads sector 0 into it. */
static void submit(struct vdev *d)
{
	if (d->device_id == 4) {
		vq_set_desc(&q.desc[0], (uint64_t)buf, 32, VQ_F_WRITE, 0);
	} else {
		blk_hdr.type = 0;
		blk_hdr.sector = 0;
		vq_set_desc(&q.desc[0], (uint64_t)&blk_hdr, 16, VQ_F_NEXT, 1);
		vq_set_desc(&q.desc[1], (uint64_t)buf, 512, VQ_F_WRITE | VQ_F_NEXT, 2);
		vq_set_desc(&q.desc[2], (uint64_t)&blk_status, 1, VQ_F_WRITE, 0);
	}
	vq_submit(&q, 0);
}

static int complete(void)
{
	uint32_t len = 0;
	return vq_wait(&q, &len, 4000000000ull) == 0;
}

/*
 * Ring 0: halts with interrupts on until `count` MSIs came, or the LAPIC
 * timer (one-shot, ~2 s at KVM's 1 GHz LAPIC clock) says enough.
 */
static int wait_msi(uint32_t count)
{
	timer_fired = 0;
	lapic_write(0x3e0, 0xb);          /* divide by 1 */
	lapic_write(0x320, TIMER_VECTOR); /* one-shot */
	lapic_write(0x380, 0x7fffffff);
	while (msi_count < count && !timer_fired)
		__asm__ volatile("sti; hlt; cli");
	lapic_write(0x380, 0);
	return msi_count >= count;
}

static struct vdev *dut; /* the device under test */
static unsigned msix_cap;
static volatile uint32_t *entry0;
static volatile uint64_t *pba;
static uint64_t pending_bits;

/* Ring 3: MSI-X on (entry 0 -> APIC 0, vector 0x40), the device set up
 * with queue 0 on vector 0, one request. */
static uint64_t step_setup(uint64_t unused)
{
	(void)unused;
	struct vdev *d = dut;
	unsigned dev = d->pci_dev;
	msix_cap = pci_find_cap(dev, 0x11, 0);
	if (!msix_cap) {
		fail("no MSI-X capability");
		return 1;
	}
	unsigned table = pci_read(dev, msix_cap + 4, 4), pbao = pci_read(dev, msix_cap + 8, 4);
	entry0 = msix_entry(d, table, 0);
	pba = (volatile uint64_t *)(pci_bar_addr(dev, pbao & 7) + (pbao & ~7u));
	/* Enable with the function masked, program entry 0, unmask (PCI 3.0 §6.8.2). */
	pci_write(dev, msix_cap + 2, 2, 0xc000);
	entry0[0] = 0xfee00000u; /* APIC ID 0, physical */
	entry0[1] = 0;
	entry0[2] = MSI_VECTOR;  /* fixed, edge */
	entry0[3] = 0;
	pci_write(dev, msix_cap + 2, 2, 0x8000);
	if (vdev_init(d, 0) < 0 || vq_setup(d, &q, 0, ring_page) < 0) {
		fail("device set-up");
		return 1;
	}
	volatile uint16_t *common = (volatile uint16_t *)d->common;
	common[0x16 / 2] = 0;       /* queue_select 0 */
	common[0x1a / 2] = 0;       /* queue_msix_vector 0 */
	common[0x10 / 2] = 7;       /* config_msix_vector 7: no such vector */
	if (common[0x1a / 2] != 0 || common[0x10 / 2] != 0xffff)
		fail("msix vector registers");
	vdev_driver_ok(d);
	submit(d);
	if (!complete())
		fail("no completion");
	return 0;
}

/* Ring 3: entry 0 masked, a request; its interrupt waits in the PBA. */
static uint64_t step_masked(uint64_t unused)
{
	(void)unused;
	entry0[3] = 1;
	submit(dut);
	if (!complete())
		fail("no completion while masked");
	for (uint64_t i = 0; i < 100000000 && !(*pba & 1); i++)
		;
	pending_bits = *pba;
	return 0;
}

/* Ring 3: the configuration access capability (§4.1.4.9) reads
 * num_queues (common + 0x12, 2 bytes). */
static uint64_t step_pcicfg(uint64_t unused)
{
	(void)unused;
	unsigned dev = dut->pci_dev, cfg = 0;
	for (unsigned at = pci_find_cap(dev, 0x09, 0); at; at = pci_find_cap(dev, 0x09, at))
		if (pci_read(dev, at + 3, 1) == 5)
			cfg = at;
	if (!cfg) {
		fail("no pci configuration access capability");
		return 1;
	}
	pci_write(dev, cfg + 4, 1, 0);
	pci_write(dev, cfg + 8, 4, 0x12);
	pci_write(dev, cfg + 12, 4, 2);
	say("pcicfg num_queues ");
	serial_put_dec(pci_read(dev, cfg + 16, 2));
	serial_putc('\n');
	return 0;
}

static void drive(void)
{
	lapic_write(LAPIC_SVR, 0x100 | SPURIOUS);
	if (run_user(step_setup, 0))
		return;
	if (!wait_msi(1))
		fail("no interrupt");
	say("msix interrupts ");
	serial_put_dec(msi_count);
	serial_putc('\n');
	run_user(step_masked, 0);
	uint32_t before = msi_count;
	entry0[3] = 0; /* unmask: the pending interrupt goes out */
	int delivered = wait_msi(before + 1);
	say("masked pending ");
	serial_put_dec(pending_bits & 1);
	serial_puts(", unmask delivers ");
	serial_put_dec(msi_count);
	serial_putc('\n');
	if (before != 1 || (pending_bits & 1) != 1 || !delivered || *pba != 0)
		fail("masking");
	run_user(step_pcicfg, 0);
}

static uint64_t check(uint64_t arg)
{
	const char *args = (const char *)arg;
	if (pci_find_mcfg() == 0) {
		say("mcfg ecam ");
		serial_put_hex(pci_ecam);
		serial_puts(" buses 0-");
		serial_put_dec(pci_ecam_bus_end);
		serial_putc('\n');
	} else {
		say("no mcfg\n");
	}
	unsigned n = enumerate();
	say("");
	serial_put_dec(n);
	serial_puts(" functions\n");
	pci_use_ecam = pci_ecam != 0;
	static struct vdev devs[32];
	struct vdev *want = 0;
	uint32_t want_id = args[0] == 'b' ? 2 : 4; /* "blk ..." */
	for (unsigned dev = 1; dev < 32; dev++) {
		struct vdev *d = &devs[dev];
		if (vpci_attach(dev, d) < 0)
			continue;
		show_caps(dev, d);
		move_bar(dev, d);
		if (d->device_id == want_id && !want)
			want = d;
	}
	dut = want;
	if (!want)
		fail("no virtio device to drive");
	return 0;
}

static uint64_t step_request(uint64_t unused)
{
	(void)unused;
	submit(dut);
	if (!complete())
		fail("no completion in a round");
	return 0;
}

static void rounds(uint64_t n)
{
	for (uint64_t k = 1; !failed && (n == 0 || k <= n); k++) {
		uint32_t before = msi_count;
		run_user(step_request, 0);
		if (!wait_msi(before + 1))
			fail("no interrupt in a round");
		say("round ");
		serial_put_dec(k);
		serial_puts(" msi ");
		serial_put_dec(msi_count);
		serial_putc('\n');
	}
}

uint32_t guest_main(const char *args)
{
	load_idt();
	run_user(check, (uint64_t)args);
	if (dut)
		drive();
	if (!failed)
		say("ok\n");
	const char *loop = args;
	while (*loop && !(loop[0] == 'l' && loop[1] == 'o' && loop[2] == 'o' && loop[3] == 'p'))
		loop++;
	uint64_t n = 0;
	if (*loop && dut) {
		loop += 4;
		parse_uint(&loop, &n);
		rounds(n);
	}
	return (uint32_t)failed;
}
