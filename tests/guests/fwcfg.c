/*
 * fwcfg: reads QEMU's fw_cfg through its I/O ports (selector 0x510, data
 * 0x511) at ring 3 and prints what it found:
 *   fw_cfg: signature QEMU id 0x1
 *   fw_cfg: cpus N max N ram 0xBYTES top 0xADDR
 *   fw_cfg: files N
 *   fw_cfg: file NAME size N select 0xKEY      (for each directory entry)
 *   fw_cfg: NAME = CONTENTS                    (the file named on the command line)
 * Exits 0, or 1 if the signature is not "QEMU".
 */
#include "guest.h"

#define SELECT 0x510
#define DATA 0x511

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

uint32_t guest_main(const char *args)
{
	args = skip_spaces(args);
	wanted = *args ? args : 0;
	uint64_t bad = run_user(read_basics, 0);
	run_user(walk_files, 0);
	return (uint32_t)bad;
}
