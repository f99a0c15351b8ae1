/* The minimal 8042: reset via 0xfe, sane answers for Linux's probe. */
#include "check.h"
#include "devices/i8042.h"

static int resets;
static void *reset_arg;

static void on_reset(void *opaque)
{
	resets++;
	reset_arg = opaque;
}

static void cmd(struct lvm_i8042 *k, uint8_t v)
{
	lvm_i8042_status_io(k, 0, &v, 1, true);
}

static void put(struct lvm_i8042 *k, uint8_t v)
{
	lvm_i8042_data_io(k, 0, &v, 1, true);
}

static uint8_t status(struct lvm_i8042 *k)
{
	uint8_t v = 0xff;
	lvm_i8042_status_io(k, 0, &v, 1, false);
	return v;
}

static uint8_t get(struct lvm_i8042 *k)
{
	uint8_t v = 0xff;
	lvm_i8042_data_io(k, 0, &v, 1, false);
	return v;
}

static void test_idle_reads(void)
{
	struct lvm_i8042 k;
	lvm_i8042_init(&k, on_reset, &k);
	CHECK_EQ_U64(status(&k), 0x04); /* SYS, nothing to read, input empty */
	CHECK_EQ_U64(get(&k), 0x00);
	CHECK_EQ_U64(status(&k), 0x04);
}

static void test_reset(void)
{
	struct lvm_i8042 k;
	int marker;
	resets = 0;
	lvm_i8042_init(&k, on_reset, &marker);
	cmd(&k, 0xfe);
	CHECK_EQ_U64(resets, 1);
	CHECK(reset_arg == &marker);

	/* Other commands and data bytes do not reset. */
	const uint8_t others[] = { 0x20, 0xaa, 0xab, 0xad, 0xae, 0xa7, 0xa8,
				   0xd1, 0xf0, 0xff, 0xed, 0x00 };
	for (size_t i = 0; i < sizeof(others); i++)
		cmd(&k, others[i]);
	put(&k, 0xfe);
	put(&k, 0xff);
	CHECK_EQ_U64(resets, 1);

	/* Writing the output port with bit 0 clear drops the reset line. */
	cmd(&k, 0xd1);
	put(&k, 0xdf);
	CHECK_EQ_U64(resets, 1);
	cmd(&k, 0xd1);
	put(&k, 0xde);
	CHECK_EQ_U64(resets, 2);

	/* Reads and writes at any size act on the low byte. */
	uint8_t wide[4] = { 0xfe, 0, 0, 0 };
	lvm_i8042_status_io(&k, 0, wide, 4, true);
	CHECK_EQ_U64(resets, 3);
	lvm_i8042_status_io(&k, 1, wide, 4, true); /* out of range: ignored */
	CHECK_EQ_U64(resets, 3);

	struct lvm_i8042 quiet;
	lvm_i8042_init(&quiet, NULL, NULL);
	cmd(&quiet, 0xfe); /* no callback: no crash */
}

static void test_command_byte(void)
{
	struct lvm_i8042 k;
	lvm_i8042_init(&k, on_reset, NULL);
	uint8_t initial = k.command;

	cmd(&k, 0x20);
	CHECK_EQ_U64(status(&k), 0x05); /* output buffer full */
	CHECK_EQ_U64(get(&k), initial);
	CHECK_EQ_U64(status(&k), 0x04);
	CHECK_EQ_U64(get(&k), 0x00);

	cmd(&k, 0x60);
	put(&k, 0x61);
	CHECK_EQ_U64(k.command, 0x61);
	cmd(&k, 0x20);
	CHECK_EQ_U64(get(&k), 0x61);
	CHECK_EQ_U64(status(&k), 0x00); /* SYS follows command byte bit 2 */

	cmd(&k, 0xad);
	cmd(&k, 0xa7);
	cmd(&k, 0x20);
	CHECK_EQ_U64(get(&k), 0x71);
	cmd(&k, 0xae);
	cmd(&k, 0xa8);
	cmd(&k, 0x20);
	CHECK_EQ_U64(get(&k), 0x41);

	cmd(&k, 0xaa);
	CHECK_EQ_U64(get(&k), 0x55);
	CHECK_EQ_U64(status(&k), 0x04);
	cmd(&k, 0xab);
	CHECK_EQ_U64(status(&k) & 1, 1);
	CHECK_EQ_U64(get(&k), 0x00);

	/* A data byte without a pending command goes to the (absent)
	 * keyboard: no reply, command byte untouched. */
	put(&k, 0xf2);
	CHECK_EQ_U64(status(&k), 0x04);
	CHECK_EQ_U64(k.command, 0x45);
}

int main(void)
{
	RUN_TEST(test_idle_reads);
	RUN_TEST(test_reset);
	RUN_TEST(test_command_byte);
	return CHECK_DONE();
}
