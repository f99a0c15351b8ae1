/* The 82093AA model: registers, edge and level delivery, remote IRR, routes. */
#include "check.h"
#include "devices/ioapic.h"

static struct lvm_msi sent[16];
static unsigned nsent;
static bool routed[LVM_IOAPIC_NR_PINS];
static struct lvm_msi route[LVM_IOAPIC_NR_PINS];
static unsigned nroutes;

static void on_deliver(void *ctx, struct lvm_msi msi)
{
	(void)ctx;
	if (nsent < 16)
		sent[nsent] = msi;
	nsent++;
}

static void on_route(void *ctx, unsigned pin, bool is_routed, struct lvm_msi msi)
{
	(void)ctx;
	routed[pin] = is_routed;
	route[pin] = msi;
	nroutes++;
}

static const struct lvm_ioapic_ops ops = { on_deliver, on_route };

static void wr(struct lvm_ioapic *io, uint8_t reg, uint32_t v)
{
	lvm_ioapic_mmio(io, 0x00, &reg, 1, true);
	lvm_ioapic_mmio(io, 0x10, (uint8_t *)&v, 4, true);
}

static uint32_t rd(struct lvm_ioapic *io, uint8_t reg)
{
	uint32_t v = 0xffffffff;
	lvm_ioapic_mmio(io, 0x00, &reg, 1, true);
	lvm_ioapic_mmio(io, 0x10, (uint8_t *)&v, 4, false);
	return v;
}

static struct lvm_ioapic *fresh(void)
{
	nsent = nroutes = 0;
	return lvm_ioapic_new(0, &ops, NULL);
}

static void test_registers(void)
{
	struct lvm_ioapic *io = fresh();
	CHECK_EQ_U64(rd(io, 0x01), 0x00170011);
	CHECK_EQ_U64(rd(io, 0x00), 0);
	wr(io, 0x00, 0x0a000000);
	CHECK_EQ_U64(rd(io, 0x00), 0x0a000000);
	CHECK_EQ_U64(rd(io, 0x02), 0x0a000000);
	for (uint8_t pin = 0; pin < 24; pin++)
		CHECK_EQ_U64(rd(io, (uint8_t)(0x10 + 2 * pin)), 0x10000); /* masked */
	wr(io, 0x12, 0xffffffff);
	CHECK_EQ_U64(rd(io, 0x12), 0x1afff); /* delivery status, remote IRR read-only */
	wr(io, 0x13, 0xffffffff);
	CHECK_EQ_U64(rd(io, 0x13), 0xff000000);
	CHECK_EQ_U64(rd(io, 0x50), 0); /* past entry 23 */
	uint8_t sel = 0;
	lvm_ioapic_mmio(io, 0x00, &sel, 1, false);
	CHECK_EQ_U64(sel, 0x50);
	CHECK_EQ_U64(nsent, 0);
	lvm_ioapic_free(io);
}

static void test_msi_format(void)
{
	/* vector 0x41, lowest priority (1), logical, level, destination 3 */
	uint64_t e = 0x41 | 1u << 8 | 1u << 11 | 1u << 15 | 3ull << 56;
	struct lvm_msi m = lvm_ioapic_entry_msi(e);
	CHECK_EQ_U64(m.address, 0xfee03004);
	CHECK_EQ_U64(m.data, 0x8141);
}

static void test_edge(void)
{
	struct lvm_ioapic *io = fresh();
	lvm_ioapic_set_irq(io, 4, 1); /* masked: lost */
	lvm_ioapic_set_irq(io, 4, 0);
	CHECK_EQ_U64(nsent, 0);
	wr(io, 0x19, 0x01000000);
	wr(io, 0x18, 0x24);
	CHECK(routed[4]);
	CHECK_EQ_U64(route[4].address, 0xfee01000);
	CHECK_EQ_U64(route[4].data, 0x24);
	lvm_ioapic_set_irq(io, 4, 1);
	lvm_ioapic_set_irq(io, 4, 1); /* no new edge */
	CHECK_EQ_U64(nsent, 1);
	CHECK_EQ_U64(sent[0].data, 0x24);
	lvm_ioapic_set_irq(io, 4, 0);
	lvm_ioapic_set_irq(io, 4, 1);
	CHECK_EQ_U64(nsent, 2);
	CHECK_EQ_U64(rd(io, 0x18) & (1u << 14), 0); /* no remote IRR on edge pins */
	wr(io, 0x18, 0x10024);
	CHECK(!routed[4]);
	lvm_ioapic_free(io);
}

static void test_level_remote_irr(void)
{
	struct lvm_ioapic *io = fresh();
	lvm_ioapic_set_irq(io, 9, 1); /* asserted while masked: held by the line */
	wr(io, 0x22, 0x8031);          /* unmask, level, vector 0x31 */
	CHECK_EQ_U64(nsent, 1);
	CHECK_EQ_U64(sent[0].data, 0x8031);
	CHECK(rd(io, 0x22) & (1u << 14));
	lvm_ioapic_set_irq(io, 9, 1);
	CHECK_EQ_U64(nsent, 1); /* remote IRR blocks */
	lvm_ioapic_eoi(io, 0x30); /* another vector */
	CHECK_EQ_U64(nsent, 1);
	lvm_ioapic_eoi(io, 0x31); /* still asserted: fires again */
	CHECK_EQ_U64(nsent, 2);
	lvm_ioapic_set_irq(io, 9, 0);
	lvm_ioapic_eoi(io, 0x31);
	CHECK_EQ_U64(nsent, 2);
	CHECK_EQ_U64(rd(io, 0x22) & (1u << 14), 0);
	lvm_ioapic_free(io);
}

/* Masked with remote IRR set: stays routed so KVM still reports the EOI. */
static void test_route_follows_mask_and_irr(void)
{
	struct lvm_ioapic *io = fresh();
	wr(io, 0x10, 0x8040);
	lvm_ioapic_set_irq(io, 0, 1);
	wr(io, 0x10, 0x18040);
	CHECK(routed[0]);
	unsigned before = nroutes;
	lvm_ioapic_eoi(io, 0x40);
	CHECK(!routed[0]);
	CHECK_EQ_U64(nroutes, before + 1);
	wr(io, 0x10, 0x18040); /* unchanged: nothing to report */
	CHECK_EQ_U64(nroutes, before + 1);
	lvm_ioapic_free(io);
}

int main(void)
{
	RUN_TEST(test_registers);
	RUN_TEST(test_msi_format);
	RUN_TEST(test_edge);
	RUN_TEST(test_level_remote_irr);
	RUN_TEST(test_route_follows_mask_and_irr);
	return CHECK_DONE();
}
