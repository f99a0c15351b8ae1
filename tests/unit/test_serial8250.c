/* The 16550A model: register semantics, interrupts, receive buffer. */
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "kvm/console_buffer.h"
#include "devices/serial8250.h"

enum { THR = 0, RBR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3,
       MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

struct fake_irq {
	int level;
	int calls;
	unsigned gsi;
};

static void fake_set(void *opaque, unsigned gsi, int level)
{
	struct fake_irq *f = opaque;
	f->level = level;
	f->calls++;
	f->gsi = gsi;
}

static struct fake_irq irq;
static struct lvm_console console;

static struct lvm_serial *setup(void)
{
	memset(&irq, 0, sizeof(irq));
	if (lvm_console_init(&console) != 0) {
		fprintf(stderr, "console init failed\n");
		exit(1);
	}
	struct lvm_irq_line line = { .set = fake_set, .opaque = &irq, .gsi = 4 };
	struct lvm_serial *s = lvm_serial_new(line, &console);
	if (!s) {
		fprintf(stderr, "serial_new failed\n");
		exit(1);
	}
	return s;
}

static void teardown(struct lvm_serial *s)
{
	lvm_serial_free(s);
	lvm_console_destroy(&console);
}

static void wr(struct lvm_serial *s, unsigned reg, uint8_t v)
{
	uint8_t d = v;
	lvm_serial_io(s, reg, &d, 1, true);
}

static uint8_t rd(struct lvm_serial *s, unsigned reg)
{
	uint8_t d = 0xff;
	lvm_serial_io(s, reg, &d, 1, false);
	return d;
}

/* Drains what the UART transmitted to the console. */
static size_t take(char *out, size_t max)
{
	size_t n = lvm_console_take(&console, out, max - 1);
	out[n] = '\0';
	return n;
}

static void test_thr_reaches_console(void)
{
	struct lvm_serial *s = setup();
	char buf[64];
	CHECK_EQ_U64(rd(s, LSR), 0x60); /* THRE|TEMT, no data */
	wr(s, THR, 'h');
	wr(s, THR, 'i');
	wr(s, THR, '\n');
	CHECK_EQ_U64(take(buf, sizeof(buf)), 3);
	CHECK_STR(buf, "hi\n");
	CHECK_EQ_U64(rd(s, LSR), 0x60);
	CHECK_EQ_U64(irq.calls, 0); /* IER = 0: the line never moved */
	teardown(s);
}

static void test_divisor_latch(void)
{
	struct lvm_serial *s = setup();
	char buf[16];
	wr(s, IER, 0x05);
	wr(s, LCR, 0x83); /* DLAB + 8N1 */
	wr(s, DLL, 0x0c);
	wr(s, DLM, 0x34);
	CHECK_EQ_U64(rd(s, DLL), 0x0c);
	CHECK_EQ_U64(rd(s, DLM), 0x34);
	CHECK_EQ_U64(take(buf, sizeof(buf)), 0); /* DLL write is not THR */
	wr(s, LCR, 0x03);
	CHECK_EQ_U64(rd(s, IER), 0x05); /* DLM write did not touch IER */
	wr(s, THR, 'x');
	CHECK_EQ_U64(take(buf, sizeof(buf)), 1);
	wr(s, LCR, 0x83);
	CHECK_EQ_U64(rd(s, DLL), 0x0c); /* THR write did not touch DLL */
	CHECK_EQ_U64(rd(s, DLM), 0x34);
	/* IIR stays reachable with DLAB set (Linux's autoconfig needs it). */
	CHECK_EQ_U64(rd(s, IIR), 0x01);
	teardown(s);
}

static void test_lcr_scr_ier_readback(void)
{
	struct lvm_serial *s = setup();
	wr(s, LCR, 0x1b);
	CHECK_EQ_U64(rd(s, LCR), 0x1b);
	wr(s, SCR, 0xa5);
	CHECK_EQ_U64(rd(s, SCR), 0xa5);
	wr(s, SCR, 0x5a);
	CHECK_EQ_U64(rd(s, SCR), 0x5a);
	wr(s, LCR, 0x03);
	wr(s, IER, 0xff); /* only the 4 defined bits stick (Linux probes this) */
	CHECK_EQ_U64(rd(s, IER), 0x0f);
	wr(s, IER, 0x00);
	CHECK_EQ_U64(rd(s, IER), 0x00);
	wr(s, MCR, 0xff);
	CHECK_EQ_U64(rd(s, MCR), 0x1f);
	teardown(s);
}

static void test_receive_order(void)
{
	struct lvm_serial *s = setup();
	CHECK_EQ_U64(lvm_serial_receive(s, "abc", 3), 3);
	CHECK_EQ_U64(lvm_serial_rx_pending(s), 3);
	CHECK_EQ_U64(rd(s, LSR), 0x61);
	CHECK_EQ_U64(rd(s, RBR), 'a');
	CHECK_EQ_U64(rd(s, RBR), 'b');
	CHECK_EQ_U64(lvm_serial_rx_pending(s), 1);
	CHECK_EQ_U64(rd(s, LSR) & 1, 1);
	CHECK_EQ_U64(rd(s, RBR), 'c');
	CHECK_EQ_U64(rd(s, LSR), 0x60);
	CHECK_EQ_U64(lvm_serial_rx_pending(s), 0);
	CHECK_EQ_U64(rd(s, RBR), 0); /* empty: harmless */
	CHECK_EQ_U64(irq.calls, 0);
	teardown(s);
}

static void test_rx_interrupt(void)
{
	struct lvm_serial *s = setup();
	lvm_serial_receive(s, "xy", 2);
	CHECK_EQ_U64(irq.level, 0); /* IER bit 0 clear: no interrupt */
	CHECK_EQ_U64(irq.calls, 0);
	CHECK_EQ_U64(rd(s, IIR), 0x01);
	wr(s, IER, 0x01);
	CHECK_EQ_U64(irq.level, 1);
	CHECK_EQ_U64(irq.gsi, 4);
	CHECK_EQ_U64(rd(s, IIR), 0x04);
	CHECK_EQ_U64(rd(s, IIR), 0x04); /* RX data is not cleared by IIR read */
	CHECK_EQ_U64(rd(s, RBR), 'x');
	CHECK_EQ_U64(irq.level, 1);
	CHECK_EQ_U64(irq.calls, 1); /* setter only called on a change */
	CHECK_EQ_U64(rd(s, RBR), 'y');
	CHECK_EQ_U64(irq.level, 0);
	CHECK_EQ_U64(irq.calls, 2);
	CHECK_EQ_U64(rd(s, IIR), 0x01);
	lvm_serial_receive(s, "z", 1); /* receive itself raises the line */
	CHECK_EQ_U64(irq.level, 1);
	wr(s, IER, 0x00);
	CHECK_EQ_U64(irq.level, 0);
	CHECK_EQ_U64(irq.calls, 4);
	teardown(s);
}

static void test_thre_interrupt(void)
{
	struct lvm_serial *s = setup();
	char buf[16];
	wr(s, IER, 0x02); /* 0->1 with THR empty raises THRE */
	CHECK_EQ_U64(irq.level, 1);
	CHECK_EQ_U64(rd(s, IIR), 0x02);
	CHECK_EQ_U64(irq.level, 0); /* the IIR read cleared it */
	CHECK_EQ_U64(rd(s, IIR), 0x01);
	wr(s, THR, 'a'); /* each THR write re-arms it */
	CHECK_EQ_U64(irq.level, 1);
	CHECK_EQ_U64(take(buf, sizeof(buf)), 1);
	wr(s, IER, 0x02); /* rewriting the same value is not an edge */
	CHECK_EQ_U64(irq.level, 1);
	CHECK_EQ_U64(rd(s, IIR), 0x02);
	wr(s, IER, 0x02);
	CHECK_EQ_U64(irq.level, 0);
	wr(s, IER, 0x00);
	wr(s, IER, 0x02); /* Linux's THRE-bug probe: re-enabling re-raises */
	CHECK_EQ_U64(rd(s, IIR), 0x02);

	/* Priority: RX data outranks THRE; reading IIR then leaves THRE set. */
	wr(s, THR, 'b');
	lvm_serial_receive(s, "r", 1);
	wr(s, IER, 0x03);
	CHECK_EQ_U64(rd(s, IIR), 0x04);
	CHECK_EQ_U64(rd(s, RBR), 'r');
	CHECK_EQ_U64(irq.level, 1);
	CHECK_EQ_U64(rd(s, IIR), 0x02);
	CHECK_EQ_U64(irq.level, 0);
	teardown(s);
}

static void test_fifo_iir_and_clear(void)
{
	struct lvm_serial *s = setup();
	CHECK_EQ_U64(rd(s, IIR), 0x01);
	wr(s, FCR, 0x01);
	CHECK_EQ_U64(rd(s, IIR), 0xc1); /* FIFOs enabled: 16550A */
	lvm_serial_receive(s, "hello", 5);
	wr(s, FCR, 0x05); /* TX clear only: RX kept */
	CHECK_EQ_U64(lvm_serial_rx_pending(s), 5);
	wr(s, IER, 0x01);
	CHECK_EQ_U64(rd(s, IIR), 0xc4);
	CHECK_EQ_U64(irq.level, 1);
	wr(s, FCR, 0x03); /* RX clear */
	CHECK_EQ_U64(lvm_serial_rx_pending(s), 0);
	CHECK_EQ_U64(rd(s, LSR) & 1, 0);
	CHECK_EQ_U64(irq.level, 0);
	CHECK_EQ_U64(rd(s, IIR), 0xc1);
	lvm_serial_receive(s, "ab", 2);
	wr(s, FCR, 0x00); /* disabling the FIFO resets it too */
	CHECK_EQ_U64(lvm_serial_rx_pending(s), 0);
	CHECK_EQ_U64(rd(s, IIR), 0x01);
	teardown(s);
}

static void test_loopback(void)
{
	struct lvm_serial *s = setup();
	char buf[16];
	CHECK_EQ_U64(rd(s, MSR), 0xb0); /* CTS|DSR|DCD */
	wr(s, MCR, 0x10 | 0x0a);     /* loop + RTS + OUT2, as Linux probes */
	CHECK_EQ_U64(rd(s, MSR) & 0xf0, 0x90);
	wr(s, MCR, 0x10 | 0x05);     /* loop + DTR + OUT1 */
	CHECK_EQ_U64(rd(s, MSR) & 0xf0, 0x60);
	wr(s, THR, 'L');
	CHECK_EQ_U64(take(buf, sizeof(buf)), 0); /* not transmitted */
	CHECK_EQ_U64(rd(s, LSR) & 1, 1);
	CHECK_EQ_U64(rd(s, RBR), 'L');
	CHECK_EQ_U64(rd(s, LSR) & 1, 0);

	/* Modem status interrupt from line changes in loopback. */
	(void)rd(s, MSR);
	wr(s, IER, 0x08);
	CHECK_EQ_U64(irq.level, 0);
	wr(s, MCR, 0x10 | 0x01); /* OUT1 falls (TERI), DTR stays */
	CHECK_EQ_U64(irq.level, 1);
	CHECK_EQ_U64(rd(s, IIR), 0x00);
	CHECK_EQ_U64(rd(s, MSR), 0x20 | 0x04);
	CHECK_EQ_U64(irq.level, 0);
	wr(s, MCR, 0x00);
	CHECK_EQ_U64(rd(s, MSR), 0xb0 | 0x01 | 0x08); /* CTS, DCD changed */
	wr(s, THR, 'o');
	CHECK_EQ_U64(take(buf, sizeof(buf)), 1);
	CHECK_EQ_U64(buf[0], 'o');
	teardown(s);
}

static void test_overrun_and_line_status(void)
{
	struct lvm_serial *s = setup();
	size_t big = LVM_SERIAL_RX_MAX;
	char *fill = calloc(1, big);
	CHECK(fill != NULL);
	if (!fill)
		return;
	CHECK_EQ_U64(lvm_serial_receive(s, fill, big), big);
	wr(s, IER, 0x04);
	CHECK_EQ_U64(irq.level, 0);
	wr(s, MCR, 0x10);
	wr(s, THR, 'X'); /* loopback into a full buffer: overrun */
	CHECK_EQ_U64(irq.level, 1);
	CHECK_EQ_U64(rd(s, IIR), 0x06);
	CHECK_EQ_U64(rd(s, LSR), 0x63); /* DR|OE|THRE|TEMT */
	CHECK_EQ_U64(irq.level, 0);
	CHECK_EQ_U64(rd(s, LSR), 0x61); /* OE cleared by the read */
	CHECK_EQ_U64(lvm_serial_rx_pending(s), big);
	free(fill);
	teardown(s);
}

static void test_hostile_accesses(void)
{
	struct lvm_serial *s = setup();
	uint8_t d8[8];

	memset(d8, 0x5a, sizeof(d8));
	lvm_serial_io(s, 7, d8, 2, true); /* straddles the end: low byte */
	CHECK_EQ_U64(rd(s, SCR), 0x5a);
	memset(d8, 0xff, sizeof(d8));
	lvm_serial_io(s, 8, d8, 1, false);
	CHECK_EQ_U64(d8[0], 0xff);
	lvm_serial_io(s, 8, d8, 1, true);
	lvm_serial_io(s, UINT64_MAX, d8, 8, true);
	lvm_serial_io(s, UINT64_MAX, d8, 8, false);
	memset(d8, 0xff, sizeof(d8));
	lvm_serial_io(s, 5, d8, 8, false); /* size 8 read of LSR */
	CHECK_EQ_U64(d8[0], 0x60);
	CHECK_EQ_U64(d8[7], 0xff);
	lvm_serial_io(s, 0, d8, 0, true); /* size 0: nothing */
	lvm_serial_io(NULL, 0, d8, 1, true);
	for (unsigned off = 0; off < 8; off++)
		for (unsigned v = 0; v < 256; v += 17) {
			uint8_t b = (uint8_t)v;
			lvm_serial_io(s, off, &b, 1, true);
			lvm_serial_io(s, off, &b, 1, false);
		}
	wr(s, LCR, 0x03);
	wr(s, MCR, 0x00);
	wr(s, FCR, 0x07);
	static char junk[8192];
	take(junk, sizeof(junk));

	/* A huge receive is capped at LVM_SERIAL_RX_MAX and keeps order. */
	size_t n = 3u * LVM_SERIAL_RX_MAX;
	uint8_t *big = malloc(n);
	CHECK(big != NULL);
	if (!big)
		return;
	for (size_t i = 0; i < n; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 12));
	CHECK_EQ_U64(lvm_serial_receive(s, big, n), LVM_SERIAL_RX_MAX);
	CHECK_EQ_U64(lvm_serial_receive(s, big, 1), 0);
	CHECK_EQ_U64(lvm_serial_rx_pending(s), LVM_SERIAL_RX_MAX);
	size_t bad = 0;
	for (size_t i = 0; i < 1000; i++)
		bad += rd(s, RBR) != big[i];
	/* The freed room is reusable and the ring wraps correctly. */
	CHECK_EQ_U64(lvm_serial_receive(s, big + LVM_SERIAL_RX_MAX, n), 1000);
	for (size_t i = 1000; i < LVM_SERIAL_RX_MAX + 1000; i++)
		bad += rd(s, RBR) != big[i];
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(lvm_serial_rx_pending(s), 0);
	CHECK_EQ_U64(lvm_serial_receive(NULL, big, 1), 0);
	free(big);
	teardown(s);
}

/* Several vCPU threads writing THR while the control thread receives. */
struct writer {
	struct lvm_serial *s;
	int count;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	for (int i = 0; i < w->count; i++) {
		wr(w->s, THR, 'w');
		(void)rd(w->s, LSR);
		(void)rd(w->s, IIR);
	}
	return NULL;
}

static void test_concurrent(void)
{
	struct lvm_serial *s = setup();
	struct writer w = { s, 2000 };
	pthread_t t[3];
	wr(s, IER, 0x0f);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, writer_main, &w);
	size_t got = 0;
	for (int i = 0; i < 2000; i++)
		got += lvm_serial_receive(s, "q", 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ_U64(got, 2000);
	CHECK_EQ_U64(lvm_serial_rx_pending(s), 2000);
	static char buf[8192];
	CHECK_EQ_U64(take(buf, sizeof(buf)), 6000);
	CHECK_EQ_U64(irq.level, 1); /* RX data still pending */
	teardown(s);
}

int main(void)
{
	RUN_TEST(test_thr_reaches_console);
	RUN_TEST(test_divisor_latch);
	RUN_TEST(test_lcr_scr_ier_readback);
	RUN_TEST(test_receive_order);
	RUN_TEST(test_rx_interrupt);
	RUN_TEST(test_thre_interrupt);
	RUN_TEST(test_fifo_iir_and_clear);
	RUN_TEST(test_loopback);
	RUN_TEST(test_overrun_and_line_status);
	RUN_TEST(test_hostile_accesses);
	RUN_TEST(test_concurrent);
	return CHECK_DONE();
}
