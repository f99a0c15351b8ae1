/* The 8259A pair: initialisation, priorities, EOI, cascade, ELCR, poll. */
#include "check.h"
#include "devices/i8259.h"

static int notified;

static void on_notify(void *ctx)
{
	(void)ctx;
	notified++;
}

static void out(struct lvm_i8259 *pic, uint16_t port, uint8_t v)
{
	if (port >= 0x4d0)
		lvm_i8259_elcr_io(pic, port - 0x4d0, &v, 1, true);
	else if (port >= 0xa0)
		lvm_i8259_slave_io(pic, port - 0xa0, &v, 1, true);
	else
		lvm_i8259_master_io(pic, port - 0x20, &v, 1, true);
}

static uint8_t in(struct lvm_i8259 *pic, uint16_t port)
{
	uint8_t v = 0xff;
	if (port >= 0x4d0)
		lvm_i8259_elcr_io(pic, port - 0x4d0, &v, 1, false);
	else if (port >= 0xa0)
		lvm_i8259_slave_io(pic, port - 0xa0, &v, 1, false);
	else
		lvm_i8259_master_io(pic, port - 0x20, &v, 1, false);
	return v;
}

/* What Linux and the irq-count guest do: vectors 0x30/0x38, slave on IR2, 8086 mode. */
static struct lvm_i8259 *setup(uint8_t icw4)
{
	struct lvm_i8259 *pic = lvm_i8259_new(on_notify, NULL);
	out(pic, 0x20, 0x11);
	out(pic, 0xa0, 0x11);
	out(pic, 0x21, 0x30);
	out(pic, 0xa1, 0x38);
	out(pic, 0x21, 0x04);
	out(pic, 0xa1, 0x02);
	out(pic, 0x21, icw4);
	out(pic, 0xa1, icw4);
	out(pic, 0x21, 0x00);
	out(pic, 0xa1, 0x00);
	notified = 0;
	return pic;
}

static void test_edge_ack_eoi(void)
{
	struct lvm_i8259 *pic = setup(0x01);
	CHECK(!lvm_i8259_output(pic));
	lvm_i8259_set_irq(pic, 5, 1);
	CHECK(lvm_i8259_output(pic));
	CHECK_EQ_U64(notified, 1);
	CHECK_EQ_U64(in(pic, 0x20), 0x20); /* IRR after ICW1 */
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x35);
	CHECK(!lvm_i8259_output(pic));
	out(pic, 0x20, 0x0b); /* OCW3: read ISR */
	CHECK_EQ_U64(in(pic, 0x20), 0x20);
	/* the line stays high: no new edge, no new request */
	out(pic, 0x20, 0x20); /* non-specific EOI */
	CHECK_EQ_U64(in(pic, 0x20), 0x00);
	CHECK(!lvm_i8259_output(pic));
	lvm_i8259_set_irq(pic, 5, 0);
	lvm_i8259_set_irq(pic, 5, 1);
	CHECK(lvm_i8259_output(pic));
	lvm_i8259_free(pic);
}

static void test_mask_and_priority(void)
{
	struct lvm_i8259 *pic = setup(0x01);
	out(pic, 0x21, 0x08); /* mask IR3 */
	lvm_i8259_set_irq(pic, 3, 1);
	CHECK(!lvm_i8259_output(pic));
	CHECK_EQ_U64(in(pic, 0x21), 0x08);
	lvm_i8259_set_irq(pic, 6, 1);
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x36);
	/* IR1 outranks the in-service IR6 and nests; IR7 does not */
	lvm_i8259_set_irq(pic, 7, 1);
	CHECK(!lvm_i8259_output(pic));
	lvm_i8259_set_irq(pic, 1, 1);
	CHECK(lvm_i8259_output(pic));
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x31);
	out(pic, 0x20, 0x61); /* specific EOI for IR1 */
	out(pic, 0x20, 0x66); /* specific EOI for IR6 */
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x37);
	out(pic, 0x21, 0x00); /* unmask IR3: its edge was latched */
	out(pic, 0x20, 0x20);
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x33);
	lvm_i8259_free(pic);
}

static void test_rotation(void)
{
	struct lvm_i8259 *pic = setup(0x01);
	out(pic, 0x20, 0xc4); /* set priority: IR4 lowest, so IR5 highest */
	lvm_i8259_set_irq(pic, 1, 1);
	lvm_i8259_set_irq(pic, 6, 1);
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x36);
	out(pic, 0x20, 0xa0); /* rotate on non-specific EOI: IR6 becomes lowest */
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x31);
	lvm_i8259_free(pic);
}

static void test_cascade(void)
{
	struct lvm_i8259 *pic = setup(0x01);
	lvm_i8259_set_irq(pic, 12, 1);
	CHECK(lvm_i8259_output(pic));
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x3c);
	out(pic, 0xa0, 0x0b);
	CHECK_EQ_U64(in(pic, 0xa0), 0x10);
	out(pic, 0x20, 0x0b);
	CHECK_EQ_U64(in(pic, 0x20), 0x04);
	lvm_i8259_set_irq(pic, 9, 1); /* outranks 12 but the master's IR2 is busy */
	CHECK(!lvm_i8259_output(pic));
	out(pic, 0xa0, 0x20);
	out(pic, 0x20, 0x20);
	CHECK(lvm_i8259_output(pic));
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x39);
	lvm_i8259_set_irq(pic, 2, 1); /* the cascade input is not a device line */
	lvm_i8259_free(pic);
}

static void test_level_and_elcr(void)
{
	struct lvm_i8259 *pic = setup(0x01);
	out(pic, 0x4d0, 0xff);
	out(pic, 0x4d1, 0xff);
	CHECK_EQ_U64(in(pic, 0x4d0), 0xf8);
	CHECK_EQ_U64(in(pic, 0x4d1), 0xde);
	lvm_i8259_set_irq(pic, 10, 1);
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x3a);
	out(pic, 0xa0, 0x20);
	out(pic, 0x20, 0x20);
	CHECK(lvm_i8259_output(pic)); /* still asserted: requests again after EOI */
	lvm_i8259_set_irq(pic, 10, 0);
	CHECK(!lvm_i8259_output(pic));
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x37); /* spurious IR7 */
	lvm_i8259_free(pic);
}

static void test_auto_eoi_and_poll(void)
{
	struct lvm_i8259 *pic = setup(0x03); /* AEOI */
	lvm_i8259_set_irq(pic, 4, 1);
	CHECK_EQ_U64(lvm_i8259_ack(pic), 0x34);
	out(pic, 0x20, 0x0b);
	CHECK_EQ_U64(in(pic, 0x20), 0x00);
	lvm_i8259_set_irq(pic, 0, 1);
	out(pic, 0x20, 0x0c); /* poll */
	CHECK_EQ_U64(in(pic, 0x20), 0x80);
	out(pic, 0x20, 0x0c);
	CHECK_EQ_U64(in(pic, 0x20), 0x00);
	lvm_i8259_free(pic);
}

int main(void)
{
	RUN_TEST(test_edge_ack_eoi);
	RUN_TEST(test_mask_and_priority);
	RUN_TEST(test_rotation);
	RUN_TEST(test_cascade);
	RUN_TEST(test_level_and_elcr);
	RUN_TEST(test_auto_eoi_and_poll);
	return CHECK_DONE();
}
