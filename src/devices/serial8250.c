#include "devices/serial8250.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/console_buffer.h"
#include "util/error.h"
#include "util/state.h"

/* Register offsets from the base port. */
enum {
	REG_DATA = 0, /* RBR (read) / THR (write); DLL when LCR.DLAB */
	REG_IER = 1,  /* DLM when LCR.DLAB */
	REG_IIR = 2,  /* IIR (read) / FCR (write) */
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_RDI 0x01  /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI 0x08  /* modem status */
#define IER_MASK 0x0f /* upper bits read as 0 on a 16550A */

/* IIR interrupt identification, highest priority first. */
#define IIR_RLSI 0x06
#define IIR_RDI 0x04
#define IIR_THRI 0x02
#define IIR_MSI 0x00
#define IIR_NO_INT 0x01
#define IIR_FIFO_ENABLED 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_TRIGGER 0xc0 /* RX trigger level: stored, not used */

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_ERRORS 0x1e /* OE, PE, FE, BI: cleared by reading LSR */
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

#define RX_INITIAL_CAP 4096u /* grows by doubling up to LVM_SERIAL_RX_MAX */

struct lvm_serial {
	pthread_mutex_t lock;
	struct lvm_irq_line irq;
	struct lvm_console *console;
	int irq_level; /* last level driven onto the line */

	uint8_t ier, lcr, mcr, fcr, scr, dll, dlm;
	uint8_t lsr_errors; /* sticky LSR error bits */
	uint8_t msr_delta;  /* MSR bits 0-3 */
	bool thre_pending;  /* THRE interrupt condition */

	/* Receive ring: rx_len bytes from rx_head; capacity a power of two. */
	uint8_t *rx;
	size_t rx_head, rx_len, rx_cap;
};

/* ---- receive buffer ---------------------------------------------------- */

/* Reallocates the ring to hold at least `want` bytes, unwrapping it. */
static bool rx_grow(struct lvm_serial *s, size_t want)
{
	size_t cap = s->rx_cap ? s->rx_cap : RX_INITIAL_CAP;
	while (cap < want && cap < LVM_SERIAL_RX_MAX)
		cap *= 2;
	if (cap > LVM_SERIAL_RX_MAX)
		cap = LVM_SERIAL_RX_MAX;
	if (cap <= s->rx_cap)
		return false;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return false;
	if (s->rx_len) {
		size_t first = s->rx_cap - s->rx_head;
		if (first > s->rx_len)
			first = s->rx_len;
		memcpy(buf, s->rx + s->rx_head, first);
		memcpy(buf + first, s->rx, s->rx_len - first);
	}
	free(s->rx);
	s->rx = buf;
	s->rx_cap = cap;
	s->rx_head = 0;
	return true;
}

/* Appends up to n bytes; returns how many fit. */
static size_t rx_push(struct lvm_serial *s, const uint8_t *p, size_t n)
{
	size_t room = LVM_SERIAL_RX_MAX - s->rx_len;
	if (n > room)
		n = room;
	if (s->rx_len + n > s->rx_cap && !rx_grow(s, s->rx_len + n))
		n = s->rx_cap - s->rx_len; /* out of memory: use what we have */
	if (n == 0)
		return 0;
	size_t tail = (s->rx_head + s->rx_len) & (s->rx_cap - 1);
	size_t first = s->rx_cap - tail;
	if (first > n)
		first = n;
	memcpy(s->rx + tail, p, first);
	memcpy(s->rx, p + first, n - first);
	s->rx_len += n;
	return n;
}

/* Reading an empty RBR returns 0 (the 8250 driver only reads while DR). */
static uint8_t rx_pop(struct lvm_serial *s)
{
	if (s->rx_len == 0)
		return 0;
	uint8_t b = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) & (s->rx_cap - 1);
	s->rx_len--;
	return b;
}

static void rx_clear(struct lvm_serial *s)
{
	s->rx_head = 0;
	s->rx_len = 0;
}

/* ---- interrupt state --------------------------------------------------- */

/* The 16550's fixed priority: line status, RX data, THR empty, modem. */
static uint8_t iir_id(const struct lvm_serial *s)
{
	if ((s->ier & IER_RLSI) && (s->lsr_errors & LSR_ERRORS))
		return IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_len)
		return IIR_RDI;
	if ((s->ier & IER_THRI) && s->thre_pending)
		return IIR_THRI;
	if ((s->ier & IER_MSI) && s->msr_delta)
		return IIR_MSI;
	return IIR_NO_INT;
}

/*
 * The line is level-triggered: high while any enabled condition is pending.
 * (On a PC, MCR.OUT2 gates the UART's interrupt pin; we do not model that
 * gate, so simple guests that never set OUT2 still get interrupts.)
 */
static void update_irq(struct lvm_serial *s)
{
	int level = iir_id(s) != IIR_NO_INT;
	if (level != s->irq_level) {
		s->irq_level = level;
		lvm_irq_set(&s->irq, level);
	}
}

/* Modem input lines as MSR bits 4-7. */
static uint8_t msr_lines(const struct lvm_serial *s)
{
	if (!(s->mcr & MCR_LOOP))
		return MSR_CTS | MSR_DSR | MSR_DCD; /* a peer is always there */
	/* Loopback wiring per the datasheet: RTS->CTS, DTR->DSR, OUT1->RI,
	 * OUT2->DCD.  Linux's autoconfig relies on this to detect the UART. */
	uint8_t m = 0;
	if (s->mcr & MCR_RTS)
		m |= MSR_CTS;
	if (s->mcr & MCR_DTR)
		m |= MSR_DSR;
	if (s->mcr & MCR_OUT1)
		m |= MSR_RI;
	if (s->mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

/* Records MSR delta bits for a change of the modem lines. */
static void msr_track(struct lvm_serial *s, uint8_t before)
{
	uint8_t now = msr_lines(s), changed = before ^ now;
	if (changed & MSR_CTS)
		s->msr_delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		s->msr_delta |= MSR_DDSR;
	if (changed & MSR_DCD)
		s->msr_delta |= MSR_DDCD;
	if ((before & MSR_RI) && !(now & MSR_RI))
		s->msr_delta |= MSR_TERI; /* trailing edge only */
}

/* ---- register reads ---------------------------------------------------- */

static uint8_t read_iir(struct lvm_serial *s)
{
	uint8_t id = iir_id(s);
	/* Datasheet: reading IIR while it reports THRE clears that source. */
	if (id == IIR_THRI)
		s->thre_pending = false;
	return id | ((s->fcr & FCR_ENABLE) ? IIR_FIFO_ENABLED : 0);
}

static uint8_t read_lsr(struct lvm_serial *s)
{
	uint8_t v = LSR_THRE | LSR_TEMT | s->lsr_errors;
	if (s->rx_len)
		v |= LSR_DR;
	s->lsr_errors = 0;
	return v;
}

static uint8_t read_msr(struct lvm_serial *s)
{
	uint8_t v = msr_lines(s) | s->msr_delta;
	s->msr_delta = 0;
	return v;
}

static uint8_t reg_read(struct lvm_serial *s, unsigned reg)
{
	bool dlab = s->lcr & LCR_DLAB;
	switch (reg) {
	case REG_DATA:
		return dlab ? s->dll : rx_pop(s);
	case REG_IER:
		return dlab ? s->dlm : s->ier;
	case REG_IIR:
		return read_iir(s);
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		return read_lsr(s);
	case REG_MSR:
		return read_msr(s);
	case REG_SCR:
		return s->scr;
	}
	return 0xff;
}

/* ---- register writes --------------------------------------------------- */

/* Sets *tx to the byte for the console, or queues it back in loopback. */
static void write_thr(struct lvm_serial *s, uint8_t v, int *tx)
{
	if (s->mcr & MCR_LOOP) {
		if (rx_push(s, &v, 1) == 0)
			s->lsr_errors |= LSR_OE; /* buffer full: byte lost */
	} else {
		*tx = v;
	}
	/* Sent at once, so THR is empty again: THRE interrupt re-arms. */
	s->thre_pending = true;
}

static void write_ier(struct lvm_serial *s, uint8_t v)
{
	v &= IER_MASK;
	/* The 16550 raises THRE when ETBEI is enabled with THR empty; Linux's
	 * start_tx and its THRE-bug probe both depend on this edge. */
	if (!(s->ier & IER_THRI) && (v & IER_THRI))
		s->thre_pending = true;
	s->ier = v;
}

static void write_fcr(struct lvm_serial *s, uint8_t v)
{
	/* Datasheet: changing FCR0 resets both FIFOs; FCR1 resets the RX FIFO.
	 * FCR2 resets the TX FIFO, which is always empty here. */
	if (((v ^ s->fcr) & FCR_ENABLE) || (v & FCR_CLEAR_RX))
		rx_clear(s);
	s->fcr = v & (FCR_ENABLE | FCR_TRIGGER);
}

static void write_mcr(struct lvm_serial *s, uint8_t v)
{
	uint8_t before = msr_lines(s);
	s->mcr = v & MCR_MASK;
	msr_track(s, before);
}

static void reg_write(struct lvm_serial *s, unsigned reg, uint8_t v, int *tx)
{
	bool dlab = s->lcr & LCR_DLAB;
	switch (reg) {
	case REG_DATA:
		if (dlab)
			s->dll = v;
		else
			write_thr(s, v, tx);
		break;
	case REG_IER:
		if (dlab)
			s->dlm = v;
		else
			write_ier(s, v);
		break;
	case REG_IIR:
		write_fcr(s, v);
		break;
	case REG_LCR:
		s->lcr = v;
		break;
	case REG_MCR:
		write_mcr(s, v);
		break;
	case REG_SCR:
		s->scr = v;
		break;
	default: /* LSR and MSR are read-only (writes are factory test only) */
		break;
	}
}

/* ---- public interface -------------------------------------------------- */

struct lvm_serial *lvm_serial_new(struct lvm_irq_line irq,
				  struct lvm_console *console)
{
	struct lvm_serial *s = calloc(1, sizeof(*s));
	if (!s) {
		lvm_fail("serial: out of memory");
		return NULL;
	}
	int err = pthread_mutex_init(&s->lock, NULL);
	if (err) {
		free(s);
		lvm_fail("serial: mutex init failed: %s", strerror(err));
		return NULL;
	}
	s->irq = irq;
	s->console = console;
	s->dll = 1; /* 115200 baud; guests program their own divisor anyway */
	return s;
}

void lvm_serial_free(struct lvm_serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->rx);
	free(s);
}

/*
 * Any size acts on the low byte: reads fill data[0] and leave the rest as
 * the bus pre-filled them.  Offsets past SCR are ignored.
 */
void lvm_serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
		   bool is_write)
{
	struct lvm_serial *s = opaque;
	int tx = -1;

	if (!s || !data || size == 0 || offset > REG_SCR)
		return;
	pthread_mutex_lock(&s->lock);
	if (is_write)
		reg_write(s, (unsigned)offset, data[0], &tx);
	else
		data[0] = reg_read(s, (unsigned)offset);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);

	/* Outside the lock so a slow sink never holds up the control thread.
	 * Order is kept: the guest's OUT does not complete before this. */
	if (tx >= 0 && s->console) {
		uint8_t b = (uint8_t)tx;
		lvm_console_write(s->console, &b, 1);
	}
}

size_t lvm_serial_receive(struct lvm_serial *s, const void *bytes, size_t n)
{
	if (!s || !bytes || n == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	size_t accepted = rx_push(s, bytes, n);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return accepted;
}

size_t lvm_serial_rx_pending(struct lvm_serial *s)
{
	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	size_t n = s->rx_len;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* ---- saved state ------------------------------------------------------- */

void lvm_serial_save(const struct lvm_serial *cs, struct lvm_state_writer *w)
{
	struct lvm_serial *s = (struct lvm_serial *)cs; /* only for the lock */
	pthread_mutex_lock(&s->lock);
	uint8_t regs[] = { s->ier, s->lcr, s->mcr, s->fcr, s->scr, s->dll, s->dlm,
			   s->lsr_errors, s->msr_delta };
	lvm_state_put_bytes(w, regs, sizeof(regs));
	lvm_state_put_bool(w, s->thre_pending);
	/* The receive ring as one blob, oldest byte first. */
	size_t first = s->rx_len ? s->rx_cap - s->rx_head : 0;
	if (first > s->rx_len)
		first = s->rx_len;
	lvm_state_put_u32(w, (uint32_t)s->rx_len);
	if (s->rx_len) {
		lvm_state_put_bytes(w, s->rx + s->rx_head, first);
		lvm_state_put_bytes(w, s->rx, s->rx_len - first);
	}
	pthread_mutex_unlock(&s->lock);
}

static int check_regs(struct lvm_state_reader *r, const uint8_t *regs)
{
	static const struct { const char *name; uint8_t allowed; } field[] = {
		{ "IER", IER_MASK }, { "LCR", 0xff }, { "MCR", MCR_MASK },
		{ "FCR", FCR_ENABLE | FCR_TRIGGER }, { "SCR", 0xff }, { "DLL", 0xff },
		{ "DLM", 0xff }, { "LSR errors", LSR_ERRORS }, { "MSR deltas", 0x0f },
	};
	for (unsigned i = 0; i < sizeof(field) / sizeof(field[0]); i++)
		if (regs[i] & ~field[i].allowed)
			return lvm_state_bad(r, "%s 0x%02x has bits outside 0x%02x", field[i].name,
					     regs[i], field[i].allowed);
	return 0;
}

/* The receive bytes straight into the (emptied, unwrapped) ring. */
static int load_rx(struct lvm_serial *s, struct lvm_state_reader *r)
{
	uint32_t n = lvm_state_get_u32(r);
	if (r->failed)
		return -1;
	if (n > LVM_SERIAL_RX_MAX)
		return lvm_state_bad(r, "%u received bytes (at most %u)", n, LVM_SERIAL_RX_MAX);
	if (n > r->len - r->pos) /* before allocating for a length that is not there */
		return lvm_state_bad(r, "truncated");
	rx_clear(s);
	if (n > s->rx_cap && !rx_grow(s, n))
		return lvm_state_bad(r, "out of memory for %u received bytes", n);
	if (n)
		lvm_state_get_bytes(r, s->rx, n);
	s->rx_len = n;
	return 0;
}

int lvm_serial_load(struct lvm_serial *s, struct lvm_state_reader *r)
{
	uint8_t regs[9];
	lvm_state_get_bytes(r, regs, sizeof(regs));
	bool thre = lvm_state_get_bool(r);
	if (r->failed || check_regs(r, regs) < 0)
		return -1;
	pthread_mutex_lock(&s->lock);
	int rc = load_rx(s, r);
	if (rc == 0) {
		s->ier = regs[0];
		s->lcr = regs[1];
		s->mcr = regs[2];
		s->fcr = regs[3];
		s->scr = regs[4];
		s->dll = regs[5];
		s->dlm = regs[6];
		s->lsr_errors = regs[7];
		s->msr_delta = regs[8];
		s->thre_pending = thre;
	}
	update_irq(s); /* the line follows the loaded registers */
	pthread_mutex_unlock(&s->lock);
	return rc;
}
