/* The fw_cfg device's I/O protocol and its DMA interface, driven through
 * its bus handlers over a guest RAM without KVM. */
#include <endian.h>
#include <linux/qemu_fw_cfg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "devices/fw_cfg.h"
#include "kvm/memory.h"
#include "util/error.h"
#include "util/state.h"

static void select_key(struct lvm_fw_cfg *f, uint16_t key)
{
	uint8_t b[2] = { (uint8_t)key, (uint8_t)(key >> 8) };
	lvm_fw_cfg_io(f, 0, b, 2, true);
}

static void read_bytes(struct lvm_fw_cfg *f, void *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		lvm_fw_cfg_io(f, 1, (uint8_t *)out + i, 1, false);
}

static struct lvm_fw_cfg *make(void)
{
	struct lvm_fw_cfg_info info = { 64u << 20, 64u << 20, 3 };
	return lvm_fw_cfg_new(&info);
}

static void test_fixed_items(void)
{
	struct lvm_fw_cfg *f = make();
	char sig[4];
	select_key(f, 0x00);
	read_bytes(f, sig, 4);
	CHECK(memcmp(sig, "QEMU", 4) == 0);
	uint16_t cpus;
	select_key(f, 0x05);
	read_bytes(f, &cpus, 2);
	CHECK_EQ_U64(le16toh(cpus), 3);
	uint64_t ram;
	select_key(f, 0x03);
	read_bytes(f, &ram, 8);
	CHECK_EQ_U64(le64toh(ram), 64u << 20);
	/* Past the end, and unknown keys, read zeros; selecting again rewinds. */
	uint8_t past = 0xaa;
	select_key(f, 0x05);
	uint8_t two[2];
	read_bytes(f, two, 2);
	read_bytes(f, &past, 1);
	CHECK_EQ_U64(past, 0);
	select_key(f, 0x1234);
	past = 0xaa;
	read_bytes(f, &past, 1);
	CHECK_EQ_U64(past, 0);
	select_key(f, 0x00);
	read_bytes(f, sig, 1);
	CHECK_EQ_U64(sig[0], 'Q');
	lvm_fw_cfg_free(f);
}

static void test_files_and_directory(void)
{
	struct lvm_fw_cfg *f = make();
	CHECK(lvm_fw_cfg_add_file(f, "opt/a", "alpha", 5) == 0);
	CHECK(lvm_fw_cfg_add_file(f, "opt/b", "", 0) == 0);
	CHECK(lvm_fw_cfg_add_file(f, "opt/a", "again", 5) < 0);
	CHECK(strstr(lvm_error(), "given twice") != NULL);
	char long_name[80];
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	CHECK(lvm_fw_cfg_add_file(f, long_name, "", 0) < 0);
	select_key(f, 0x19);
	uint32_t count;
	read_bytes(f, &count, 4);
	CHECK_EQ_U64(be32toh(count), 2);
	uint32_t size;
	uint16_t key, reserved;
	char name[56];
	read_bytes(f, &size, 4);
	read_bytes(f, &key, 2);
	read_bytes(f, &reserved, 2);
	read_bytes(f, name, 56);
	CHECK_EQ_U64(be32toh(size), 5);
	CHECK_EQ_U64(be16toh(key), 0x20);
	CHECK(strcmp(name, "opt/a") == 0);
	char data[5];
	select_key(f, be16toh(key));
	read_bytes(f, data, 5);
	CHECK(memcmp(data, "alpha", 5) == 0);
	lvm_fw_cfg_free(f);
}

/* ---- DMA ---------------------------------------------------------------- */

/* Guest RAM as a large machine lays it out: 1 MiB at 0 and 1 MiB at 4 GiB. */
#define LOW_SIZE (1u << 20)
#define HIGH LVM_HIGH_RAM_START
static struct lvm_memory mem;

static void mem_init(void)
{
	memset(&mem, 0, sizeof(mem));
	mem.memfd = mem.base_fd = -1;
	mem.size = 2 * LOW_SIZE;
	mem.host = calloc(1, mem.size);
	mem.regions[0] = (struct lvm_memory_region){ 0, LOW_SIZE, 0 };
	mem.regions[1] = (struct lvm_memory_region){ HIGH, LOW_SIZE, LOW_SIZE };
	mem.nregions = 2;
}

static uint8_t *ram(uint64_t gpa)
{
	return lvm_memory_ptr(&mem, gpa, 1);
}

static struct lvm_fw_cfg *make_dma(void)
{
	struct lvm_fw_cfg *f = make();
	CHECK(lvm_fw_cfg_add_file(f, "opt/a", "alpha", 5) == 0);
	CHECK(lvm_fw_cfg_enable_dma(f, &mem) == 0);
	memset(mem.host, 0, mem.size);
	return f;
}

/* A 32-bit write to the address register at `offset` (0: high, 4: low), as
 * a guest's outl(cpu_to_be32(v)) puts it on the bus. */
static void reg_write(struct lvm_fw_cfg *f, uint64_t offset, uint32_t v, uint32_t size)
{
	uint32_t be = htobe32(v);
	uint8_t b[4];
	memcpy(b, &be, 4);
	lvm_fw_cfg_dma_io(f, offset, b + 4 - size, size, true);
}

/* Writes a fw_cfg_dma_access at `at`. */
static void put_access(uint64_t at, uint32_t control, uint32_t length, uint64_t address)
{
	struct fw_cfg_dma_access a = { htobe32(control), htobe32(length), htobe64(address) };
	memcpy(ram(at), &a, sizeof(a));
}

static uint32_t control_at(uint64_t at)
{
	uint32_t v;
	memcpy(&v, ram(at), 4);
	return be32toh(v);
}

/* The whole DMA sequence for an access at `at`: high half, then low half. */
static uint32_t dma(struct lvm_fw_cfg *f, uint64_t at, uint32_t control, uint32_t length,
		    uint64_t address)
{
	put_access(at, control, length, address);
	reg_write(f, 0, (uint32_t)(at >> 32), 4);
	reg_write(f, 4, (uint32_t)at, 4);
	return control_at(at);
}

#define SEL(key) (FW_CFG_DMA_CTL_SELECT | (uint32_t)(key) << 16)

static void test_dma_signature_and_id(void)
{
	struct lvm_fw_cfg *f = make();
	uint32_t id;
	select_key(f, FW_CFG_ID);
	read_bytes(f, &id, 4);
	CHECK_EQ_U64(le32toh(id), FW_CFG_VERSION);
	CHECK(lvm_fw_cfg_enable_dma(f, &mem) == 0);
	select_key(f, FW_CFG_ID);
	read_bytes(f, &id, 4);
	CHECK_EQ_U64(le32toh(id), FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	/* "QEMU CFG" at any width and offset; past the register, the bus's 0xff. */
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		lvm_fw_cfg_dma_io(f, (uint64_t)i, &b[i], 1, false);
	CHECK(memcmp(b, "QEMU CFG", 8) == 0);
	uint32_t w;
	lvm_fw_cfg_dma_io(f, 4, (uint8_t *)&w, 4, false);
	CHECK(memcmp(&w, " CFG", 4) == 0);
	memset(b, 0xff, sizeof(b));
	lvm_fw_cfg_dma_io(f, 6, b, 4, false);
	CHECK(memcmp(b, "FG\xff\xff", 4) == 0);
	uint64_t q;
	lvm_fw_cfg_dma_io(f, 0, (uint8_t *)&q, 8, false);
	CHECK_EQ_U64(be64toh(q), FW_CFG_DMA_SIGNATURE);
	lvm_fw_cfg_free(f);
}

static void test_dma_read(void)
{
	struct lvm_fw_cfg *f = make_dma();
	CHECK_EQ_U64(dma(f, 0x1000, SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_READ, 4, 0x2000), 0);
	CHECK(memcmp(ram(0x2000), "QEMU", 4) == 0);
	CHECK_EQ_U64(dma(f, 0x1000, SEL(FW_CFG_NB_CPUS) | FW_CFG_DMA_CTL_READ, 2, 0x2000), 0);
	CHECK_EQ_U64(*ram(0x2000), 3);
	/* A named file, the access and the buffer in high RAM. */
	CHECK_EQ_U64(dma(f, HIGH + 0x10, SEL(0x20) | FW_CFG_DMA_CTL_READ, 5, HIGH + 0x100), 0);
	CHECK(memcmp(ram(HIGH + 0x100), "alpha", 5) == 0);
	/* Without SELECT a transfer goes on where the last one (or the data port) stopped. */
	select_key(f, 0x20);
	uint8_t c;
	read_bytes(f, &c, 1);
	CHECK_EQ_U64(dma(f, 0x1000, FW_CFG_DMA_CTL_READ, 2, 0x3000), 0);
	CHECK(memcmp(ram(0x3000), "lp", 2) == 0);
	read_bytes(f, &c, 1);
	CHECK_EQ_U64(c, 'h');
	/* One 64-bit write (MMIO machines) starts a transfer too. */
	put_access(0x1000, SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_READ, 1, 0x4000);
	uint64_t be = htobe64(0x1000);
	lvm_fw_cfg_dma_io(f, 0, (uint8_t *)&be, 8, true);
	CHECK_EQ_U64(control_at(0x1000), 0);
	CHECK_EQ_U64(*ram(0x4000), 'Q');
	lvm_fw_cfg_free(f);
}

/* Lengths past the item, SKIP, unknown bits, WRITE: QEMU's answers. */
static void test_dma_lengths_and_controls(void)
{
	struct lvm_fw_cfg *f = make_dma();
	/* Past the end: the rest of the buffer is zeroed, no error. */
	memset(ram(0x2000), 0xaa, 16);
	CHECK_EQ_U64(dma(f, 0x1000, SEL(FW_CFG_NB_CPUS) | FW_CFG_DMA_CTL_READ, 16, 0x2000), 0);
	CHECK_EQ_U64(*ram(0x2000), 3);
	for (int i = 1; i < 16; i++)
		CHECK_EQ_U64(*ram(0x2000 + (uint64_t)i), 0);
	uint8_t c = 0xee;
	read_bytes(f, &c, 1); /* the offset stopped at the end */
	CHECK_EQ_U64(c, 0);
	/* An unknown key reads as zeros. */
	memset(ram(0x2000), 0xaa, 4);
	CHECK_EQ_U64(dma(f, 0x1000, SEL(0x1234) | FW_CFG_DMA_CTL_READ, 4, 0x2000), 0);
	CHECK_EQ_U64(*ram(0x2003), 0);
	/* SKIP moves the offset; past the end it stops there, without an error. */
	CHECK_EQ_U64(dma(f, 0x1000, SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_SKIP, 2, 0), 0);
	CHECK_EQ_U64(dma(f, 0x1000, FW_CFG_DMA_CTL_READ, 2, 0x2000), 0);
	CHECK(memcmp(ram(0x2000), "MU", 2) == 0);
	CHECK_EQ_U64(dma(f, 0x1000, SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_SKIP, 0xffffffff, 0), 0);
	read_bytes(f, &c, 1);
	CHECK_EQ_U64(c, 0);
	/* READ wins over SKIP and WRITE. */
	CHECK_EQ_U64(dma(f, 0x1000, SEL(0x20) | 0x1e, 1, 0x2000), 0);
	CHECK_EQ_U64(*ram(0x2000), 'a');
	/* Unknown bits alone: nothing moves, the transfer completes. */
	*ram(0x2000) = 0xaa;
	CHECK_EQ_U64(dma(f, 0x1000, 0xffe0u, 8, 0x2000), 0);
	CHECK_EQ_U64(*ram(0x2000), 0xaa);
	select_key(f, 0x20);
	CHECK_EQ_U64(dma(f, 0x1000, 0xffe0u | FW_CFG_DMA_CTL_READ, 1, 0x2000), 0);
	CHECK_EQ_U64(*ram(0x2000), 'a');
	/* SELECT alone selects (and rewinds). */
	CHECK_EQ_U64(dma(f, 0x1000, SEL(FW_CFG_SIGNATURE), 8, 0x2000), 0);
	read_bytes(f, &c, 1);
	CHECK_EQ_U64(c, 'Q');
	/* WRITE: every item is read-only (ERROR); the item is unchanged. */
	memcpy(ram(0x2000), "XXXX", 4);
	CHECK_EQ_U64(dma(f, 0x1000, SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_WRITE, 4, 0x2000),
		     FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ_U64(dma(f, 0x1000, SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_WRITE, 0, 0x2000), 0);
	CHECK_EQ_U64(dma(f, 0x1000, SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_READ, 4, 0x2000), 0);
	CHECK(memcmp(ram(0x2000), "QEMU", 4) == 0);
	/* An ERROR bit the guest left in the control word means nothing. */
	CHECK_EQ_U64(dma(f, 0x1000, SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_ERROR, 1, 0), 0);
	lvm_fw_cfg_free(f);
}

/* Addresses outside RAM, wrapping, straddling a region's end. */
static void test_dma_hostile_addresses(void)
{
	struct lvm_fw_cfg *f = make_dma();
	uint32_t rd = SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_READ;
	/* Targets outside RAM: ERROR, nothing written anywhere. */
	CHECK_EQ_U64(dma(f, 0x1000, rd, 4, 0xc0000000), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ_U64(dma(f, 0x1000, rd, 4, UINT64_MAX - 1), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ_U64(dma(f, 0x1000, rd, 0xffffffff, 0x2000), FW_CFG_DMA_CTL_ERROR);
	memset(ram(LOW_SIZE - 2), 0xaa, 2);
	CHECK_EQ_U64(dma(f, 0x1000, rd, 4, LOW_SIZE - 2), FW_CFG_DMA_CTL_ERROR);
	CHECK_EQ_U64(*ram(LOW_SIZE - 2), 0xaa);
	/* The item's part is consumed even so, as QEMU does. */
	select_key(f, FW_CFG_SIGNATURE);
	CHECK_EQ_U64(dma(f, 0x1000, FW_CFG_DMA_CTL_READ, 2, 0xc0000000), FW_CFG_DMA_CTL_ERROR);
	uint8_t c;
	read_bytes(f, &c, 1);
	CHECK_EQ_U64(c, 'M');
	/* Padding past the item, outside RAM, is an error too. */
	CHECK_EQ_U64(dma(f, 0x1000, FW_CFG_DMA_CTL_READ, 2, 0xc0000000), FW_CFG_DMA_CTL_ERROR);
	/* An access that is not all in RAM: ERROR in its control word if that is. */
	put_access(LOW_SIZE - 8, rd, 4, 0x2000);
	reg_write(f, 4, LOW_SIZE - 8, 4);
	CHECK_EQ_U64(control_at(LOW_SIZE - 8), FW_CFG_DMA_CTL_ERROR);
	reg_write(f, 4, 0xfffffffc, 4); /* nothing there at all: nothing happens */
	reg_write(f, 0, 0xffffffff, 4);
	reg_write(f, 4, 0xfffffff8, 4);
	lvm_fw_cfg_free(f);
}

/* The address register's halves and the writes it ignores. */
static void test_dma_register(void)
{
	struct lvm_fw_cfg *f = make_dma();
	uint32_t rd = SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_READ;
	put_access(0x1000, rd, 1, 0x2000);
	/* Byte and word writes, and a dword at +2, are not accesses QEMU accepts. */
	reg_write(f, 7, 0x00, 1);
	reg_write(f, 6, 0x1000, 2);
	reg_write(f, 2, 0x1000, 4);
	CHECK_EQ_U64(control_at(0x1000), rd);
	/* The high half alone does not start; the low half after it does. */
	put_access(HIGH + 0x1000, rd, 1, HIGH + 0x2000);
	reg_write(f, 0, 1, 4);
	CHECK_EQ_U64(control_at(HIGH + 0x1000), rd);
	reg_write(f, 4, 0x1000, 4);
	CHECK_EQ_U64(control_at(HIGH + 0x1000), 0);
	CHECK_EQ_U64(*ram(HIGH + 0x2000), 'Q');
	CHECK_EQ_U64(control_at(0x1000), rd);
	/* Each transfer clears the register: a low half alone is a low address. */
	reg_write(f, 4, 0x1000, 4);
	CHECK_EQ_U64(control_at(0x1000), 0);
	/* A second high half replaces the first and clears the low one. */
	put_access(HIGH + 0x1000, rd, 1, HIGH + 0x2000);
	reg_write(f, 0, 7, 4);
	reg_write(f, 0, 1, 4);
	reg_write(f, 4, 0x1000, 4);
	CHECK_EQ_U64(control_at(HIGH + 0x1000), 0);
	lvm_fw_cfg_free(f);
	/* Without DMA the register only reads its signature. */
	f = make();
	put_access(0x1000, rd, 1, 0x2000);
	reg_write(f, 4, 0x1000, 4);
	CHECK_EQ_U64(control_at(0x1000), rd);
	lvm_fw_cfg_free(f);
}

/* A snapshot between the two halves: the high half comes back. */
static void test_dma_state(void)
{
	struct lvm_fw_cfg *a = make_dma();
	reg_write(a, 0, 1, 4);
	struct lvm_state_writer w;
	lvm_state_writer_init(&w);
	lvm_state_begin(&w, "fw_cfg");
	lvm_fw_cfg_save(a, &w);
	CHECK(lvm_state_finish(&w) == 0);
	struct lvm_fw_cfg *b = make_dma();
	struct lvm_state_reader r;
	CHECK(lvm_state_section(w.buf, w.len, "fw_cfg", &r) == 0);
	CHECK(lvm_fw_cfg_load(b, &r) == 0);
	CHECK(lvm_state_section_done(&r) == 0);
	put_access(HIGH + 0x1000, SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_READ, 1, HIGH + 0x2000);
	reg_write(b, 4, 0x1000, 4);
	CHECK_EQ_U64(control_at(HIGH + 0x1000), 0);
	CHECK_EQ_U64(*ram(HIGH + 0x2000), 'Q');
	lvm_state_writer_free(&w);
	lvm_fw_cfg_free(a);
	lvm_fw_cfg_free(b);
}

int main(void)
{
	mem_init();
	RUN_TEST(test_fixed_items);
	RUN_TEST(test_files_and_directory);
	RUN_TEST(test_dma_signature_and_id);
	RUN_TEST(test_dma_read);
	RUN_TEST(test_dma_lengths_and_controls);
	RUN_TEST(test_dma_hostile_addresses);
	RUN_TEST(test_dma_register);
	RUN_TEST(test_dma_state);
	free(mem.host);
	return CHECK_DONE();
}
