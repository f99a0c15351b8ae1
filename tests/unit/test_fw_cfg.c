/* The fw_cfg device's I/O protocol, driven through its bus handler. */
#include <endian.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "devices/fw_cfg.h"
#include "util/error.h"

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

int main(void)
{
	RUN_TEST(test_fixed_items);
	RUN_TEST(test_files_and_directory);
	return CHECK_DONE();
}
