/*
 * The AML encoder, byte for byte against the grammar of ACPI 6.5 §20.2 and
 * the resource descriptors of §6.4 (the expected bytes are also what iasl
 * emits for the same ASL).
 */
#include "arch/x86/fw/aml.h"
#include "check.h"

static uint8_t buf[16384];
static struct lvm_aml aml;

static struct lvm_aml *start(void)
{
	memset(buf, 0xa5, sizeof(buf));
	lvm_aml_init(&aml, buf, sizeof(buf));
	return &aml;
}

/* The encoder's output is exactly `want`. */
static void same(const uint8_t *want, size_t n, int line)
{
	size_t got = lvm_aml_finish(&aml);
	if (got != n || memcmp(buf, want, n) != 0) {
		fprintf(stderr, "test_aml.c:%d: %zu bytes:", line, got);
		for (size_t i = 0; i < got && i < 64; i++)
			fprintf(stderr, " %02x", buf[i]);
		fprintf(stderr, "\n");
		check_failures++;
	}
}
#define SAME(...)                                                              \
	do {                                                                   \
		static const uint8_t want_[] = { __VA_ARGS__ };                 \
		same(want_, sizeof(want_), __LINE__);                          \
	} while (0)

/* §20.2.2: NameSeg, RootChar, ParentPrefixChar, DualNamePath, MultiNamePath, NullName. */
static void test_name_strings(void)
{
	lvm_aml_name_string(start(), "_HID");
	SAME('_', 'H', 'I', 'D');
	lvm_aml_name_string(start(), "S5");
	SAME('S', '5', '_', '_');
	lvm_aml_name_string(start(), "\\_SB");
	SAME(0x5c, '_', 'S', 'B', '_');
	lvm_aml_name_string(start(), "\\_SB.VR00");
	SAME(0x5c, 0x2e, '_', 'S', 'B', '_', 'V', 'R', '0', '0');
	lvm_aml_name_string(start(), "^^PCI0.ISA.COM1");
	SAME(0x5e, 0x5e, 0x2f, 3, 'P', 'C', 'I', '0', 'I', 'S', 'A', '_', 'C', 'O', 'M', '1');
	lvm_aml_name_string(start(), "\\");
	SAME(0x5c, 0x00);
	/* A segment of five characters, a lower-case one, or one starting with a digit. */
	const char *bad[] = { "TOOLONG", "_sb", "0ABC", "A..B" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lvm_aml_name_string(start(), bad[i]);
		CHECK_EQ_U64(lvm_aml_finish(&aml), 0);
	}
}

/* §20.2.3: ZeroOp, OneOp, ByteConst, WordConst, DWordConst, QWordConst. */
static void test_integers(void)
{
	lvm_aml_integer(start(), 0);
	SAME(0x00);
	lvm_aml_integer(start(), 1);
	SAME(0x01);
	lvm_aml_integer(start(), 0x0f);
	SAME(0x0a, 0x0f);
	lvm_aml_integer(start(), 0x3f8);
	SAME(0x0b, 0xf8, 0x03);
	lvm_aml_integer(start(), 0xd0000000);
	SAME(0x0c, 0x00, 0x00, 0x00, 0xd0);
	lvm_aml_integer(start(), 0x100000000ull);
	SAME(0x0e, 0, 0, 0, 0, 1, 0, 0, 0);
}

/* §20.2.3 String; §19.6.35 EISAID: PNP0501 is 0x0105D041 (bytes 41 d0 05 01). */
static void test_string_and_eisaid(void)
{
	lvm_aml_string(start(), "LNRO0005");
	SAME(0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00);
	lvm_aml_eisaid(start(), "PNP0501");
	SAME(0x0c, 0x41, 0xd0, 0x05, 0x01);
	lvm_aml_eisaid(start(), "PNP0C0C");
	SAME(0x0c, 0x41, 0xd0, 0x0c, 0x0c);
	lvm_aml_eisaid(start(), "pnp0501");
	CHECK_EQ_U64(lvm_aml_finish(&aml), 0);
	lvm_aml_eisaid(start(), "PNP050");
	CHECK_EQ_U64(lvm_aml_finish(&aml), 0);
}

/* §20.2.5: Name(_UID, Zero); Name(_S5, Package(){5, 5, 0, 0}); Return. */
static void test_name_and_package(void)
{
	lvm_aml_name(start(), "_UID");
	lvm_aml_integer(&aml, 0);
	SAME(0x08, '_', 'U', 'I', 'D', 0x00);
	lvm_aml_name(start(), "\\_S5");
	lvm_aml_package_begin(&aml, 4);
	lvm_aml_integer(&aml, 5);
	lvm_aml_integer(&aml, 5);
	lvm_aml_integer(&aml, 0);
	lvm_aml_integer(&aml, 0);
	lvm_aml_end(&aml);
	SAME(0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00);
}

/* §20.2.5.2: Method(_STA, 0, NotSerialized) { Return(0x0F) }, and serialized with 2 args. */
static void test_method(void)
{
	lvm_aml_method_begin(start(), "_STA", 0, false);
	lvm_aml_return(&aml);
	lvm_aml_integer(&aml, 0x0f);
	lvm_aml_end(&aml);
	SAME(0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f);
	lvm_aml_method_begin(start(), "FOO", 2, true);
	lvm_aml_end(&aml);
	SAME(0x14, 0x06, 'F', 'O', 'O', '_', 0x0a);
}

/* §20.2.4 PkgLength: one byte up to 63, then 2-4 bytes with the low nibble first. */
static void test_pkg_lengths(void)
{
	/* Scope(\) with a body of 62 bytes: PkgLength 63 fits one byte. */
	static uint8_t filler[5000];
	memset(filler, 0xa3, sizeof(filler)); /* ReturnOp-free junk; only the length matters */
	lvm_aml_scope_begin(start(), "\\");
	lvm_aml_bytes(&aml, filler, 60);
	lvm_aml_end(&aml);
	CHECK_EQ_U64(lvm_aml_finish(&aml), 1 + 1 + 62);
	CHECK_EQ_U64(buf[1], 63);
	CHECK_EQ_U64(buf[2], 0x5c);
	/* One more byte: 2-byte PkgLength 65 = 0x41 -> lead 0x41 (count 1, nibble 1), 0x04. */
	lvm_aml_scope_begin(start(), "\\");
	lvm_aml_bytes(&aml, filler, 61);
	lvm_aml_end(&aml);
	CHECK_EQ_U64(lvm_aml_finish(&aml), 1 + 2 + 63);
	CHECK_EQ_U64(buf[1], 0x41);
	CHECK_EQ_U64(buf[2], 0x04);
	CHECK_EQ_U64(buf[3], 0x5c);
	/* 4093-byte body: 2 bytes make 4095 = 0xfff, the 2-byte limit. */
	lvm_aml_scope_begin(start(), "\\");
	lvm_aml_bytes(&aml, filler, 4091);
	lvm_aml_end(&aml);
	CHECK_EQ_U64(buf[1], 0x4f);
	CHECK_EQ_U64(buf[2], 0xff);
	/* 4094: 3 bytes, 4097 = 0x1001 -> 0x81 0x00 0x01. */
	lvm_aml_scope_begin(start(), "\\");
	lvm_aml_bytes(&aml, filler, 4092);
	lvm_aml_end(&aml);
	CHECK_EQ_U64(lvm_aml_finish(&aml), 1 + 3 + 4094);
	CHECK_EQ_U64(buf[1], 0x81);
	CHECK_EQ_U64(buf[2], 0x00);
	CHECK_EQ_U64(buf[3], 0x01);
	CHECK_EQ_U64(buf[4], 0x5c);
}

/* §20.2.5.2 DefDevice inside DefScope: Scope(\_SB) { Device(COM1) { Name(_UID, One) } }. */
static void test_scope_and_device(void)
{
	lvm_aml_scope_begin(start(), "\\_SB");
	lvm_aml_device_begin(&aml, "COM1");
	lvm_aml_name(&aml, "_UID");
	lvm_aml_integer(&aml, 1);
	lvm_aml_end(&aml);
	lvm_aml_end(&aml);
	SAME(0x10, 0x13, 0x5c, '_', 'S', 'B', '_',
	     0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1',
	     0x08, '_', 'U', 'I', 'D', 0x01);
}

/* §6.4: Memory32Fixed, Extended Interrupt, IO, IRQNoFlags and the End Tag in a Buffer. */
static void test_resource_template(void)
{
	lvm_aml_resources_begin(start());
	lvm_aml_memory32_fixed(&aml, true, 0xd0000000, 0x1000);
	lvm_aml_interrupt(&aml, LVM_AML_IRQ_CONSUMER, 5);
	lvm_aml_end(&aml);
	SAME(0x11, 0x1a, 0x0a, 0x17,
	     0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00,
	     0x89, 0x06, 0x00, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00,
	     0x79, 0x00);
	lvm_aml_resources_begin(start());
	lvm_aml_io(&aml, 0x3f8, 0x3f8, 0, 8);
	lvm_aml_irq_noflags(&aml, 1u << 4);
	lvm_aml_end(&aml);
	SAME(0x11, 0x10, 0x0a, 0x0d,
	     0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08,
	     0x22, 0x10, 0x00,
	     0x79, 0x00);
	lvm_aml_resources_begin(start());
	lvm_aml_interrupt(&aml, LVM_AML_IRQ_CONSUMER | LVM_AML_IRQ_EDGE | LVM_AML_IRQ_ACTIVE_LOW |
				      LVM_AML_IRQ_SHARED, 0x17);
	lvm_aml_end(&aml);
	SAME(0x11, 0x0e, 0x0a, 0x0b, 0x89, 0x06, 0x00, 0x0f, 0x01, 0x17, 0x00, 0x00, 0x00, 0x79, 0x00);
}

/* Unbalanced nesting and a full buffer are errors, never a short table. */
static void test_failures(void)
{
	lvm_aml_scope_begin(start(), "\\_SB");
	CHECK_EQ_U64(lvm_aml_finish(&aml), 0);
	lvm_aml_end(start());
	CHECK_EQ_U64(lvm_aml_finish(&aml), 0);
	lvm_aml_init(&aml, buf, 8);
	lvm_aml_scope_begin(&aml, "\\_SB");
	lvm_aml_name(&aml, "_UID");
	lvm_aml_end(&aml);
	CHECK_EQ_U64(lvm_aml_finish(&aml), 0);
	/* Room for the body but not for its PkgLength. */
	lvm_aml_init(&aml, buf, 5);
	lvm_aml_scope_begin(&aml, "\\_SB");
	lvm_aml_end(&aml);
	CHECK_EQ_U64(lvm_aml_finish(&aml), 0);
	start();
	for (int i = 0; i <= LVM_AML_DEPTH; i++)
		lvm_aml_package_begin(&aml, 1);
	for (int i = 0; i <= LVM_AML_DEPTH; i++)
		lvm_aml_end(&aml);
	CHECK_EQ_U64(lvm_aml_finish(&aml), 0);
}

int main(void)
{
	RUN_TEST(test_name_strings);
	RUN_TEST(test_integers);
	RUN_TEST(test_string_and_eisaid);
	RUN_TEST(test_name_and_package);
	RUN_TEST(test_method);
	RUN_TEST(test_pkg_lengths);
	RUN_TEST(test_scope_and_device);
	RUN_TEST(test_resource_template);
	RUN_TEST(test_failures);
	return CHECK_DONE();
}
