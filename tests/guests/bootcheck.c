/*
 * bootcheck: reads what the boot protocol handed over, the way the real
 * consumer reads it, checks what can be checked inside the guest and
 * prints the rest for the spec to compare (tests/spec/boot_spec.lua).
 *
 * One program, linked four ways (see CMakeLists.txt): packed as a bzImage
 * (RSI = struct boot_params), as a PVH ELF (EBX = struct hvm_start_info),
 * as a multiboot ELF and as a multiboot a.out-kludge binary (EAX =
 * 0x2BADB002, EBX = the multiboot info).  Everything runs at ring 3: the
 * initrd checksum loops over every byte.
 *
 * Output, one fact per line:
 *   bootcheck: protocol bzimage|pvh|multiboot
 *   bootcheck: cmdline <text>
 *   bootcheck: initrd <addr> <size> <fnv1a-32>     (or "bootcheck: initrd none")
 *   bootcheck: e820 <addr> <size> <type>            (each entry, in order)
 *   bootcheck: <protocol-specific field> <value>
 *                   (multiboot with IRQ 0 unmasked, pit = "bios": ivt8,
 *                   tick_handler, pit0_status, pit0_counting)
 *   bootcheck: rsdp <addr>                          (bzImage, PVH: checked "RSD PTR ")
 *   bootcheck: setup_data <type> <len>              (bzImage: each node, in order)
 *   bootcheck: dtb <totalsize>                      (the SETUP_DTB node's blob, checked)
 *   bootcheck: FAIL <why>                           (each failed in-guest check)
 *   bootcheck: done <failures>
 * The exit value is the number of failures.
 */
#include <asm/bootparam.h>

#include "guest.h"

extern uint32_t mb_magic __attribute__((weak)); /* mb_header.S, multiboot builds only */
extern char __image_start[], __bss_end[];

static unsigned failures;

static void fail(const char *why)
{
	serial_puts("bootcheck: FAIL ");
	serial_puts(why);
	serial_putc('\n');
	failures++;
}

static void fact(const char *name, uint64_t value)
{
	serial_puts("bootcheck: ");
	serial_puts(name);
	serial_putc(' ');
	serial_put_hex(value);
	serial_putc('\n');
}

static uint32_t fnv1a(const uint8_t *p, uint64_t n)
{
	uint32_t h = 2166136261u;
	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Sorted, non-overlapping, non-empty; prints every entry. */
static void check_entry(uint64_t addr, uint64_t size, uint32_t type, uint64_t *prev_end)
{
	serial_puts("bootcheck: e820 ");
	serial_put_hex(addr);
	serial_putc(' ');
	serial_put_hex(size);
	serial_putc(' ');
	serial_put_dec(type);
	serial_putc('\n');
	if (size == 0)
		fail("e820 entry of size 0");
	if (addr < *prev_end)
		fail("e820 not sorted or overlapping");
	*prev_end = addr + size;
}

static void check_initrd(uint64_t addr, uint64_t size, uint64_t limit)
{
	if (!addr) {
		serial_puts("bootcheck: initrd none\n");
		return;
	}
	serial_puts("bootcheck: initrd ");
	serial_put_hex(addr);
	serial_putc(' ');
	serial_put_dec(size);
	serial_putc(' ');
	serial_put_hex(fnv1a((const uint8_t *)addr, size));
	serial_putc('\n');
	if (addr & 0xfff)
		fail("initrd not page aligned");
	if (addr + size - 1 > limit)
		fail("initrd above its limit");
	uint64_t kstart = (uint64_t)__image_start, kend = (uint64_t)__bss_end;
	if (overlaps(addr, size, kstart, kend - kstart))
		fail("initrd overlaps the kernel");
	if (overlaps(addr, size, 0, 0x100000))
		fail("initrd overlaps the boot data below 1 MiB");
}

static void print_cmdline(const char *s)
{
	serial_puts("bootcheck: cmdline ");
	serial_puts(s ? s : "");
	serial_putc('\n');
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ACPI 6.5 §5.2.5.3: "RSD PTR " and a zero checksum over the first 20 bytes. */
static void check_rsdp(uint64_t addr)
{
	fact("rsdp", addr);
	if (!addr) {
		fail("no RSDP address");
		return;
	}
	const uint8_t *r = (const uint8_t *)addr;
	const char *sig = "RSD PTR ";
	uint8_t sum = 0;
	for (int i = 0; i < 8; i++)
		if (r[i] != (uint8_t)sig[i]) {
			fail("no \"RSD PTR \" at the RSDP address");
			return;
		}
	for (int i = 0; i < 20; i++)
		sum = (uint8_t)(sum + r[i]);
	if (sum)
		fail("RSDP checksum");
}

/* The flattened device tree header: magic 0xd00dfeed, totalsize, both big-endian. */
static void check_dtb(const uint8_t *blob, uint32_t len)
{
	uint32_t total = len >= 8 ? be32(blob + 4) : 0;
	fact("dtb", total);
	if (len < 8 || be32(blob) != 0xd00dfeedu)
		fail("SETUP_DTB does not hold a device tree (magic)");
	else if (total != len)
		fail("SETUP_DTB length differs from the tree's totalsize");
}

/* boot.rst: hdr.setup_data heads a list of struct setup_data (2.09+). */
static void walk_setup_data(uint64_t addr)
{
	unsigned dtbs = 0, n = 0;
	for (; addr && n < 16; n++) {
		const struct setup_data *sd = (const struct setup_data *)addr;
		serial_puts("bootcheck: setup_data ");
		serial_put_dec(sd->type);
		serial_putc(' ');
		serial_put_dec(sd->len);
		serial_putc('\n');
		if (sd->type == SETUP_DTB) {
			dtbs++;
			check_dtb(sd->data, sd->len);
		}
		addr = sd->next;
	}
	if (addr)
		fail("setup_data list longer than 16 nodes");
	if (dtbs != 1)
		fail("not exactly one SETUP_DTB node");
}

/* ---- Linux boot protocol (boot.rst) ---- */
static void check_bzimage(const struct boot_params *bp)
{
	serial_puts("bootcheck: protocol bzimage\n");
	const struct setup_header *h = &bp->hdr;
	print_cmdline((const char *)(uint64_t)(h->cmd_line_ptr | (uint64_t)bp->ext_cmd_line_ptr << 32));
	fact("type_of_loader", h->type_of_loader);
	fact("hardware_subarch", h->hardware_subarch);
	fact("version", h->version);
	fact("code32_start", h->code32_start);
	uint64_t rd = h->ramdisk_image | (uint64_t)bp->ext_ramdisk_image << 32;
	uint64_t rds = h->ramdisk_size | (uint64_t)bp->ext_ramdisk_size << 32;
	check_initrd(rd, rds, h->initrd_addr_max);
	uint64_t end = 0;
	if (bp->e820_entries == 0 || bp->e820_entries > E820_MAX_ENTRIES_ZEROPAGE)
		fail("e820_entries out of range");
	for (unsigned i = 0; i < bp->e820_entries && i < E820_MAX_ENTRIES_ZEROPAGE; i++)
		check_entry(bp->e820_table[i].addr, bp->e820_table[i].size, bp->e820_table[i].type, &end);
	check_rsdp(bp->acpi_rsdp_addr);
	walk_setup_data(h->setup_data);
}

/* ---- PVH (Xen's start_info.h, read independently of the VMM's copy) ---- */
struct pvh_mod { uint64_t paddr, size, cmdline_paddr, reserved; };
struct pvh_mem { uint64_t addr, size; uint32_t type, reserved; };

static void check_pvh(const struct hvm_start_info *si)
{
	serial_puts("bootcheck: protocol pvh\n");
	fact("magic", si->magic);
	fact("version", si->version);
	print_cmdline(si->cmdline_paddr ? (const char *)si->cmdline_paddr : "");
	fact("nr_modules", si->nr_modules);
	if (si->version < 1)
		fail("start info version < 1 has no memmap");
	const struct pvh_mod *mod = (const struct pvh_mod *)si->modlist_paddr;
	if (si->nr_modules)
		check_initrd(mod->paddr, mod->size, 0xffffffffu);
	else
		check_initrd(0, 0, 0);
	const struct pvh_mem *mm = (const struct pvh_mem *)si->memmap_paddr;
	uint64_t end = 0;
	for (uint32_t i = 0; i < si->memmap_entries; i++)
		check_entry(mm[i].addr, mm[i].size, mm[i].type, &end);
	check_rsdp(si->rsdp_paddr);
}

/* ---- Multiboot 0.6.96 §3.3 ---- */
struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4], mmap_length, mmap_addr;
};
struct mb_mod { uint32_t start, end, string, reserved; };

/* Counter 0's count, latched (8254: counter latch command, then LSB, MSB). */
static uint16_t pit0_count(void)
{
	outb(0x43, 0x00);
	uint16_t lo = inb(0x40);
	return (uint16_t)(lo | inb(0x40) << 8);
}

/*
 * pit = "bios": IRQ 0 is unmasked, so a BIOS tick should be running: the
 * real-mode vector 8 (segment << 16 | offset) and the first byte of its
 * handler, counter 0's status by the read-back command (mode and access,
 * the output bit masked off) and whether its count moves.
 */
static void check_bios_tick(void)
{
	uint64_t ivt8_addr = 0x20;
	__asm__("" : "+r"(ivt8_addr)); /* a real address, not an object gcc knows */
	const volatile uint16_t *ivt8 = (const volatile uint16_t *)ivt8_addr;
	uint32_t vector = (uint32_t)ivt8[1] << 16 | ivt8[0];
	fact("ivt8", vector);
	fact("tick_handler", *(const volatile uint8_t *)(uint64_t)((vector >> 16 << 4) + (vector & 0xffff)));
	outb(0x43, 0xe2); /* read-back: status only, counter 0 */
	fact("pit0_status", inb(0x40) & 0x3f);
	uint16_t first = pit0_count();
	int moved = 0;
	for (int i = 0; i < 1000 && !moved; i++)
		moved = pit0_count() != first;
	fact("pit0_counting", (uint64_t)moved);
}

static void check_multiboot(const struct mb_info *mi)
{
	serial_puts("bootcheck: protocol multiboot\n");
	fact("eax", mb_magic);
	fact("flags", mi->flags);
	fact("mem_lower", mi->mem_lower);
	fact("mem_upper", mi->mem_upper);
	/* The interrupt masks a BIOS leaves (slave << 8 | master): the VMM set them. */
	uint8_t master_imr = inb(0x21);
	fact("pic_imr", (uint64_t)inb(0xa1) << 8 | master_imr);
	if (!(master_imr & 1))
		check_bios_tick();
	print_cmdline((mi->flags & 4) ? (const char *)(uint64_t)mi->cmdline : "");
	const struct mb_mod *mod = (const struct mb_mod *)(uint64_t)mi->mods_addr;
	if ((mi->flags & 8) && mi->mods_count)
		check_initrd(mod->start, mod->end - mod->start, 0xffffffffu);
	else
		check_initrd(0, 0, 0);
	if (!(mi->flags & 64)) {
		fail("no mmap (flag 6)");
		return;
	}
	/* Each entry starts with its size, which does not count itself. */
	uint64_t end = 0;
	for (uint32_t off = 0; off + 4 <= mi->mmap_length;) {
		const uint8_t *e = (const uint8_t *)(uint64_t)(mi->mmap_addr + off);
		uint32_t size = *(const uint32_t *)e;
		check_entry(*(const uint64_t *)(e + 4), *(const uint64_t *)(e + 12),
			    *(const uint32_t *)(e + 20), &end);
		off += size + 4;
	}
}

static uint64_t check(uint64_t unused)
{
	(void)unused;
	const struct boot_params *bp = (const struct boot_params *)boot_info_addr;
	if (&mb_magic && mb_magic)
		check_multiboot((const struct mb_info *)boot_info_addr);
	else if (pvh_start_info)
		check_pvh(pvh_start_info);
	else if (boot_protocol == BOOT_LUAVMM && bp && bp->hdr.header == 0x53726448)
		check_bzimage(bp);
	else
		fail("no boot protocol recognised");
	serial_puts("bootcheck: done ");
	serial_put_dec(failures);
	serial_putc('\n');
	return failures;
}

uint32_t guest_main(const char *args)
{
	(void)args;
	return (uint32_t)run_user(check, 0);
}
