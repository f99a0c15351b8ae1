/*
 * fwcfg: reads QEMU's fw_cfg at ring 3 through its I/O ports (selector
 * 0x510, data 0x511) and prints what it found:
 *   fw_cfg: signature QEMU id 0xID
 *   fw_cfg: cpus N max N ram 0xBYTES top 0xADDR
 *   fw_cfg: files N
 *   fw_cfg: file NAME size N select 0xKEY      (for each directory entry)
 *   fw_cfg: NAME = CONTENTS                    (the file named on the command line)
 * then, when the ID has FW_CFG_VERSION_DMA, the same through the DMA
 * interface (address register 0x514, big-endian; the low half at 0x518
 * starts a transfer) and what hostile transfers leave in the control word:
 *   fw_cfg: dma register QEMU CFG
 *   fw_cfg: dma signature QEMU id 0xID cpus N
 *   fw_cfg: dma files N
 *   fw_cfg: dma NAME = CONTENTS
 *   fw_cfg: dma past the item: control 0x0 cpus N rest 0x0
 *   fw_cfg: dma skip past the end: control 0x0 then 0x0 read 0x0
 *   fw_cfg: dma unknown bits: control 0x0 buffer 0xaa
 *   fw_cfg: dma select only: control 0x0 then Q
 *   fw_cfg: dma write: control 0x1
 *   fw_cfg: dma target outside RAM: control 0x1
 *   fw_cfg: dma target across the end of RAM: control 0x1
 *   fw_cfg: dma access across the end of RAM: control 0x1
 *   fw_cfg: dma high half only: control 0xa
 *   fw_cfg: dma access outside RAM: still QEMU
 * or "fw_cfg: no dma".  Exits 0, or 1 if the signature is not "QEMU".
 */
#include <linux/qemu_fw_cfg.h>

#include "guest.h"

#define SELECT 0x510
#define DATA 0x511
#define DMA_HIGH 0x514
#define DMA_LOW 0x518

static void select_key(uint16_t key)
{
	outw(SELECT, key);
}

static uint64_t read_le(unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)inb(DATA) << (8 * i);
	return v;
}

static uint64_t read_be(unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | inb(DATA);
	return v;
}

static void print_field(const char *label, uint64_t v, int hex)
{
	serial_puts(label);
	if (hex)
		serial_put_hex(v);
	else
		serial_put_dec(v);
}

/* Prints the item `key` as text (at most `len` bytes). */
static void print_contents(uint16_t key, uint64_t len)
{
	select_key(key);
	for (uint64_t i = 0; i < len && i < 256; i++)
		serial_putc((char)inb(DATA));
}

static const char *wanted; /* the file to print, from the command line */

static uint64_t walk_files(uint64_t unused)
{
	(void)unused;
	select_key(0x19); /* FW_CFG_FILE_DIR */
	uint64_t n = read_be(4);
	print_field("fw_cfg: files ", n, 0);
	serial_putc('\n');
	uint64_t found_key = 0, found_size = 0;
	for (uint64_t i = 0; i < n && i < 64; i++) {
		uint64_t size = read_be(4), key = read_be(2);
		read_be(2); /* reserved */
		char name[57] = { 0 };
		for (int k = 0; k < 56; k++)
			name[k] = (char)inb(DATA);
		serial_puts("fw_cfg: file ");
		serial_puts(name);
		print_field(" size ", size, 0);
		print_field(" select ", key, 1);
		serial_putc('\n');
		if (wanted && str_eq(name, wanted)) {
			found_key = key;
			found_size = size;
		}
	}
	if (found_key) {
		serial_puts("fw_cfg: ");
		serial_puts(wanted);
		serial_puts(" = ");
		print_contents((uint16_t)found_key, found_size);
		serial_putc('\n');
	}
	return 0;
}

static uint64_t read_basics(uint64_t unused)
{
	(void)unused;
	char sig[5] = { 0 };
	select_key(0x00);
	for (int i = 0; i < 4; i++)
		sig[i] = (char)inb(DATA);
	select_key(0x01);
	uint64_t id = read_le(4);
	serial_puts("fw_cfg: signature ");
	serial_puts(sig);
	print_field(" id ", id, 1);
	serial_putc('\n');
	select_key(0x05);
	uint64_t cpus = read_le(2);
	select_key(0x0f);
	uint64_t max = read_le(2);
	select_key(0x03);
	uint64_t ram = read_le(8);
	select_key(0x11);
	uint64_t top = read_le(8);
	print_field("fw_cfg: cpus ", cpus, 0);
	print_field(" max ", max, 0);
	print_field(" ram ", ram, 1);
	print_field(" top ", top, 1);
	serial_putc('\n');
	return memcmp(sig, "QEMU", 4) == 0 ? 0 : 1;
}

/* ---- the DMA interface ---- */

#define barrier() __asm__ volatile("" ::: "memory")
#define SEL(key) (FW_CFG_DMA_CTL_SELECT | (uint32_t)(key) << 16)
#define RD FW_CFG_DMA_CTL_READ

static struct fw_cfg_dma_access access __attribute__((aligned(16)));
static uint8_t buf[256];
static uint64_t low_ram_end; /* one past low RAM: the fw_cfg RAM size, at most 3 GiB */

/* Hands the device the access at `gpa` (RAM is mapped 1:1): high half, then low. */
static void dma_go(uint64_t gpa)
{
	barrier(); /* the access is in memory before the device reads it */
	outl(DMA_HIGH, __builtin_bswap32((uint32_t)(gpa >> 32)));
	outl(DMA_LOW, __builtin_bswap32((uint32_t)gpa));
	barrier();
}

static uint32_t control_of(const volatile struct fw_cfg_dma_access *a)
{
	return __builtin_bswap32(a->control);
}

/* One transfer through the runtime's access; returns its control word after. */
static uint32_t dma(uint32_t control, uint32_t length, uint64_t address)
{
	access.control = __builtin_bswap32(control);
	access.length = __builtin_bswap32(length);
	access.address = __builtin_bswap64(address);
	dma_go((uint64_t)(uintptr_t)&access);
	return control_of(&access);
}

static uint64_t le_at(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static uint64_t be_at(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void print_control(const char *what, uint32_t control)
{
	serial_puts("fw_cfg: dma ");
	serial_puts(what);
	print_field(": control ", control, 1);
}

/* The signature, ID and CPU count, then the wanted file through the directory. */
static void dma_reads(void)
{
	char sig[5] = { 0 };
	dma(SEL(FW_CFG_SIGNATURE) | RD, 4, (uintptr_t)sig);
	dma(SEL(FW_CFG_ID) | RD, 4, (uintptr_t)buf);
	uint64_t id = le_at(buf, 4);
	dma(SEL(FW_CFG_NB_CPUS) | RD, 2, (uintptr_t)buf);
	serial_puts("fw_cfg: dma signature ");
	serial_puts(sig);
	print_field(" id ", id, 1);
	print_field(" cpus ", le_at(buf, 2), 0);
	serial_putc('\n');
	dma(SEL(FW_CFG_FILE_DIR) | RD, 4, (uintptr_t)buf);
	uint64_t n = be_at(buf, 4);
	print_field("fw_cfg: dma files ", n, 0);
	serial_putc('\n');
	struct fw_cfg_file e;
	for (uint64_t i = 0; i < n && i < 64; i++) {
		dma(RD, sizeof(e), (uintptr_t)&e); /* the directory goes on where it was */
		e.name[sizeof(e.name) - 1] = 0;
		if (!wanted || !str_eq(e.name, wanted))
			continue;
		uint32_t size = __builtin_bswap32(e.size);
		size = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
		memset(buf, 0, sizeof(buf));
		dma(SEL(__builtin_bswap16(e.select)) | RD, size, (uintptr_t)buf);
		serial_puts("fw_cfg: dma ");
		serial_puts(wanted);
		serial_puts(" = ");
		serial_puts((const char *)buf);
		serial_putc('\n');
	}
}

/* Lengths past the item, SKIP past its end, control words QEMU ignores or refuses. */
static void dma_edges(void)
{
	memset(buf, 0xaa, 16);
	uint32_t c = dma(SEL(FW_CFG_NB_CPUS) | RD, 16, (uintptr_t)buf);
	uint64_t rest = 0;
	for (int i = 2; i < 16; i++)
		rest |= buf[i];
	print_control("past the item", c);
	print_field(" cpus ", le_at(buf, 2), 0);
	print_field(" rest ", rest, 1);
	serial_putc('\n');

	c = dma(SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_SKIP, 0xffffffff, 0);
	buf[0] = 0xaa;
	uint32_t c2 = dma(RD, 1, (uintptr_t)buf);
	print_control("skip past the end", c);
	print_field(" then ", c2, 1);
	print_field(" read ", buf[0], 1);
	serial_putc('\n');

	buf[0] = 0xaa;
	c = dma(0xffe0u, 8, (uintptr_t)buf); /* no bit QEMU knows */
	print_control("unknown bits", c);
	print_field(" buffer ", buf[0], 1);
	serial_putc('\n');

	c = dma(SEL(FW_CFG_SIGNATURE), 8, (uintptr_t)buf);
	print_control("select only", c);
	serial_puts(" then ");
	serial_putc((char)inb(DATA));
	serial_putc('\n');

	memcpy(buf, "XXXX", 4);
	print_control("write", dma(SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_WRITE, 4, (uintptr_t)buf));
	serial_putc('\n');
}

/* Addresses the device must refuse without touching anything. */
static void dma_hostile(void)
{
	print_control("target outside RAM", dma(SEL(FW_CFG_SIGNATURE) | RD, 4, 0xd0000000));
	serial_putc('\n');
	print_control("target across the end of RAM",
		      dma(SEL(FW_CFG_SIGNATURE) | RD, 4, low_ram_end - 2));
	serial_putc('\n');
	/* Only its control and length words are in RAM. */
	volatile struct fw_cfg_dma_access *edge = (void *)(uintptr_t)(low_ram_end - 8);
	edge->control = __builtin_bswap32(SEL(FW_CFG_SIGNATURE) | RD);
	edge->length = __builtin_bswap32(4);
	dma_go(low_ram_end - 8);
	print_control("access across the end of RAM", control_of(edge));
	serial_putc('\n');
	/* The high half alone starts nothing. */
	access.control = __builtin_bswap32(SEL(FW_CFG_SIGNATURE) | RD);
	barrier();
	outl(DMA_HIGH, 0);
	barrier();
	print_control("high half only", control_of(&access));
	serial_putc('\n');
	/* Accesses nowhere: in the hole, above 4 GiB, at the top of the address space. */
	outl(DMA_LOW, __builtin_bswap32(0xd0000000));
	outl(DMA_HIGH, __builtin_bswap32(0x100));
	outl(DMA_LOW, 0);
	outl(DMA_HIGH, 0xffffffff);
	outl(DMA_LOW, __builtin_bswap32(0xfffffff8));
	char sig[5] = { 0 };
	dma(SEL(FW_CFG_SIGNATURE) | RD, 4, (uintptr_t)sig);
	serial_puts("fw_cfg: dma access outside RAM: still ");
	serial_puts(sig);
	serial_putc('\n');
}

static uint64_t use_dma(uint64_t unused)
{
	(void)unused;
	char reg[9] = { 0 };
	for (int i = 0; i < 8; i++)
		reg[i] = (char)inb((uint16_t)(DMA_HIGH + i));
	select_key(FW_CFG_ID);
	if (memcmp(reg, "QEMU CFG", 8) != 0 || !(read_le(4) & FW_CFG_VERSION_DMA)) {
		serial_puts("fw_cfg: no dma\n");
		return 0;
	}
	serial_puts("fw_cfg: dma register ");
	serial_puts(reg);
	serial_putc('\n');
	select_key(FW_CFG_RAM_SIZE);
	uint64_t ram = read_le(8);
	low_ram_end = ram < 0xc0000000 ? ram : 0xc0000000;
	dma_reads();
	dma_edges();
	dma_hostile();
	return 0;
}

uint32_t guest_main(const char *args)
{
	args = skip_spaces(args);
	wanted = *args ? args : 0;
	uint64_t bad = run_user(read_basics, 0);
	run_user(walk_files, 0);
	run_user(use_dma, 0);
	return (uint32_t)bad;
}
