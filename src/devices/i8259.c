#include "devices/i8259.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/error.h"
#include "util/state.h"

#define CASCADE_IRQ 2
#define NO_IRQ (-1)

/* ELCR bits that can be set: IRQ 0, 1, 2, 8 and 13 are always edge (PIIX). */
#define ELCR_MASK_MASTER 0xf8
#define ELCR_MASK_SLAVE 0xde

struct chip {
	uint8_t irr, isr, imr;
	uint8_t lines;        /* input levels, for edge detection */
	uint8_t elcr, elcr_mask;
	uint8_t vector_base;  /* ICW2 bits 7:3 */
	uint8_t lowest;       /* the IR with the lowest priority (rotation) */
	uint8_t icw_next;     /* 0, or the ICW the data port expects next (2-4) */
	bool icw4, single;    /* ICW1 IC4 and SNGL */
	bool auto_eoi, rotate_aeoi, sfnm, special_mask;
	bool read_isr, poll;  /* OCW3 RR/RIS and P */
};

struct lvm_i8259 {
	pthread_mutex_t lock;
	struct chip chip[2]; /* master, slave */
	int output;          /* atomic: the master's INT */
	void (*notify)(void *ctx);
	void *ctx;
};

static void chip_reset(struct chip *c, uint8_t elcr_mask)
{
	uint8_t elcr = c->elcr;
	*c = (struct chip){ .elcr = elcr, .elcr_mask = elcr_mask, .lowest = 7 };
}

/* Priority rank of the best bit in `mask`: 0 is the highest, 8 means none. */
static unsigned rank(const struct chip *c, uint8_t mask)
{
	for (unsigned p = 0; p < 8; p++)
		if (mask & (1u << ((p + c->lowest + 1) & 7)))
			return p;
	return 8;
}

static unsigned irq_of_rank(const struct chip *c, unsigned p)
{
	return (p + c->lowest + 1) & 7;
}

/*
 * The IR the chip would raise INT for, or NO_IRQ.  In special mask mode a
 * masked in-service level does not block lower ones; in special fully
 * nested mode the master lets the slave interrupt its own in-service IR2.
 */
static int pending_irq(const struct chip *c, bool master)
{
	unsigned req = rank(c, c->irr & ~c->imr);
	if (req == 8)
		return NO_IRQ;
	uint8_t busy = c->isr;
	if (c->special_mask)
		busy &= ~c->imr;
	if (master && c->sfnm)
		busy &= ~(1u << CASCADE_IRQ);
	return req < rank(c, busy) ? (int)irq_of_rank(c, req) : NO_IRQ;
}

/* The slave's INT is a level on the master's IR2; the master's INT is the output. */
static void update(struct lvm_i8259 *pic)
{
	struct chip *m = &pic->chip[0];
	if (pending_irq(&pic->chip[1], false) != NO_IRQ)
		m->irr |= 1u << CASCADE_IRQ;
	else
		m->irr &= (uint8_t)~(1u << CASCADE_IRQ);
	int out = pending_irq(m, true) != NO_IRQ;
	int was = __atomic_exchange_n(&pic->output, out, __ATOMIC_ACQ_REL);
	if (out && !was && pic->notify)
		pic->notify(pic->ctx);
}

struct lvm_i8259 *lvm_i8259_new(void (*notify)(void *ctx), void *ctx)
{
	struct lvm_i8259 *pic = calloc(1, sizeof(*pic));
	if (!pic) {
		lvm_fail("out of memory");
		return NULL;
	}
	pthread_mutex_init(&pic->lock, NULL);
	chip_reset(&pic->chip[0], ELCR_MASK_MASTER);
	chip_reset(&pic->chip[1], ELCR_MASK_SLAVE);
	pic->notify = notify;
	pic->ctx = ctx;
	return pic;
}

void lvm_i8259_free(struct lvm_i8259 *pic)
{
	if (!pic)
		return;
	pthread_mutex_destroy(&pic->lock);
	free(pic);
}

/* Edge inputs latch a rising edge in IRR; level inputs make IRR follow the line. */
static void chip_set_irq(struct chip *c, unsigned irq, int level)
{
	uint8_t bit = (uint8_t)(1u << irq);
	bool was = c->lines & bit;
	if (level)
		c->lines |= bit;
	else
		c->lines &= (uint8_t)~bit;
	if (c->elcr & bit) {
		c->irr = level ? c->irr | bit : c->irr & (uint8_t)~bit;
	} else if (level && !was) {
		c->irr |= bit;
	}
}

void lvm_i8259_set_irq(struct lvm_i8259 *pic, unsigned irq, int level)
{
	if (irq > 15 || irq == CASCADE_IRQ)
		return;
	pthread_mutex_lock(&pic->lock);
	chip_set_irq(&pic->chip[irq >> 3], irq & 7, level);
	update(pic);
	pthread_mutex_unlock(&pic->lock);
}

bool lvm_i8259_output(struct lvm_i8259 *pic)
{
	return __atomic_load_n(&pic->output, __ATOMIC_ACQUIRE) != 0;
}

/* INTA on one chip: IRR -> ISR (unless AEOI); level requests stay in IRR. */
static void chip_ack(struct chip *c, unsigned irq)
{
	uint8_t bit = (uint8_t)(1u << irq);
	if (c->auto_eoi) {
		if (c->rotate_aeoi)
			c->lowest = (uint8_t)irq;
	} else {
		c->isr |= bit;
	}
	if (!(c->elcr & bit))
		c->irr &= (uint8_t)~bit;
}

/* Returns the IRQ (0-15) acknowledged, or the spurious 7/15 if none is pending. */
static unsigned ack_locked(struct lvm_i8259 *pic)
{
	int irq = pending_irq(&pic->chip[0], true);
	if (irq == NO_IRQ)
		return 7;
	chip_ack(&pic->chip[0], (unsigned)irq);
	if (irq != CASCADE_IRQ)
		return (unsigned)irq;
	int irq2 = pending_irq(&pic->chip[1], false);
	if (irq2 == NO_IRQ)
		return 15;
	chip_ack(&pic->chip[1], (unsigned)irq2);
	return 8 + (unsigned)irq2;
}

uint8_t lvm_i8259_ack(struct lvm_i8259 *pic)
{
	pthread_mutex_lock(&pic->lock);
	unsigned irq = ack_locked(pic);
	const struct chip *c = &pic->chip[irq >> 3];
	uint8_t vector = (uint8_t)(c->vector_base + (irq & 7));
	update(pic);
	pthread_mutex_unlock(&pic->lock);
	return vector;
}

/* ICW1 (datasheet: clears IMR, IR7 lowest priority, special mask off, read IRR). */
static void write_icw1(struct chip *c, uint8_t v)
{
	uint8_t vector_base = c->vector_base, lines = c->lines;
	chip_reset(c, c->elcr_mask);
	c->vector_base = vector_base;
	c->lines = lines;
	c->irr = lines & c->elcr; /* level requests still stand */
	c->icw4 = v & 0x01;
	c->single = v & 0x02;
	c->icw_next = 2;
}

/* OCW2: R, SL, EOI in bits 7:5, the level in 2:0. */
static void write_ocw2(struct chip *c, uint8_t v)
{
	unsigned cmd = v >> 5, level = v & 7;
	switch (cmd) {
	case 0: c->rotate_aeoi = false; return;  /* clear rotate in AEOI mode */
	case 4: c->rotate_aeoi = true; return;   /* set rotate in AEOI mode */
	case 6: c->lowest = (uint8_t)level; return; /* set priority */
	case 1: case 5: {                        /* non-specific EOI (and rotate) */
		unsigned p = rank(c, c->isr);
		if (p == 8)
			return;
		level = irq_of_rank(c, p);
		break;
	}
	case 3: case 7:                          /* specific EOI (and rotate) */
		break;
	default:                                 /* 2: no operation */
		return;
	}
	c->isr &= (uint8_t)~(1u << level);
	if (cmd & 4)
		c->lowest = (uint8_t)level;
}

/* OCW3: ESMM/SMM in bits 6:5, P in bit 2, RR/RIS in bits 1:0. */
static void write_ocw3(struct chip *c, uint8_t v)
{
	if ((v & 0x60) == 0x60)
		c->special_mask = true;
	else if ((v & 0x60) == 0x40)
		c->special_mask = false;
	c->poll = v & 0x04;
	if (v & 0x02)
		c->read_isr = v & 0x01;
}

static void write_data(struct chip *c, uint8_t v)
{
	switch (c->icw_next) {
	case 2:
		c->vector_base = v & 0xf8;
		c->icw_next = c->single ? (c->icw4 ? 4 : 0) : 3;
		break;
	case 3: /* the cascade wiring is fixed: slave on IR2 */
		c->icw_next = c->icw4 ? 4 : 0;
		break;
	case 4:
		c->auto_eoi = v & 0x02;
		c->sfnm = v & 0x10;
		c->icw_next = 0;
		break;
	default:
		c->imr = v; /* OCW1 */
		break;
	}
}

static void chip_write(struct chip *c, uint64_t offset, uint8_t v)
{
	if (offset == 1)
		write_data(c, v);
	else if (v & 0x10)
		write_icw1(c, v);
	else if (v & 0x08)
		write_ocw3(c, v);
	else
		write_ocw2(c, v);
}

/* A poll command makes the next read an INTA: 0x80 | IR when a request is pending. */
static uint8_t poll_read(struct lvm_i8259 *pic, unsigned which)
{
	struct chip *c = &pic->chip[which];
	c->poll = false;
	int irq = pending_irq(c, which == 0);
	if (irq == NO_IRQ)
		return 0;
	chip_ack(c, (unsigned)irq);
	return (uint8_t)(0x80 | irq);
}

static uint8_t chip_read(struct lvm_i8259 *pic, unsigned which, uint64_t offset)
{
	struct chip *c = &pic->chip[which];
	if (c->poll)
		return poll_read(pic, which);
	if (offset == 1)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

static void chip_io(struct lvm_i8259 *pic, unsigned which, uint64_t offset, uint8_t *data,
		    uint32_t size, bool is_write)
{
	if (size != 1 || offset > 1)
		return;
	pthread_mutex_lock(&pic->lock);
	if (is_write)
		chip_write(&pic->chip[which], offset, data[0]);
	else
		data[0] = chip_read(pic, which, offset);
	update(pic);
	pthread_mutex_unlock(&pic->lock);
}

void lvm_i8259_master_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			 bool is_write)
{
	chip_io(opaque, 0, offset, data, size, is_write);
}

void lvm_i8259_slave_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			bool is_write)
{
	chip_io(opaque, 1, offset, data, size, is_write);
}

/* Switching an input to level makes IRR follow its current line level. */
static void write_elcr(struct chip *c, uint8_t v)
{
	c->elcr = v & c->elcr_mask;
	c->irr = (uint8_t)((c->irr & ~c->elcr) | (c->lines & c->elcr));
}

void lvm_i8259_elcr_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
		       bool is_write)
{
	struct lvm_i8259 *pic = opaque;
	pthread_mutex_lock(&pic->lock);
	for (uint32_t i = 0; i < size && offset + i < 2; i++) {
		struct chip *c = &pic->chip[offset + i];
		if (is_write)
			write_elcr(c, data[i]);
		else
			data[i] = c->elcr;
	}
	update(pic);
	pthread_mutex_unlock(&pic->lock);
}

/* ---- saved state ------------------------------------------------------- */

static void chip_save(const struct chip *c, struct lvm_state_writer *w)
{
	uint8_t regs[] = { c->irr, c->isr, c->imr, c->lines, c->elcr, c->vector_base, c->lowest,
			   c->icw_next };
	lvm_state_put_bytes(w, regs, sizeof(regs));
	bool flags[] = { c->icw4, c->single, c->auto_eoi, c->rotate_aeoi, c->sfnm,
			 c->special_mask, c->read_isr, c->poll };
	for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		lvm_state_put_bool(w, flags[i]);
}

void lvm_i8259_save(const struct lvm_i8259 *cpic, struct lvm_state_writer *w)
{
	struct lvm_i8259 *pic = (struct lvm_i8259 *)cpic; /* only for the lock */
	pthread_mutex_lock(&pic->lock);
	chip_save(&pic->chip[0], w);
	chip_save(&pic->chip[1], w);
	pthread_mutex_unlock(&pic->lock);
}

/* Reads one chip into *c; checks what the model relies on. */
static int chip_load(struct chip *c, bool master, struct lvm_state_reader *r)
{
	const char *who = master ? "master" : "slave";
	uint8_t elcr_mask = master ? ELCR_MASK_MASTER : ELCR_MASK_SLAVE;
	uint8_t v[8];
	lvm_state_get_bytes(r, v, sizeof(v));
	bool f[8];
	for (unsigned i = 0; i < 8; i++)
		f[i] = lvm_state_get_bool(r);
	if (r->failed)
		return -1;
	if (v[4] & ~elcr_mask)
		return lvm_state_bad(r, "%s ELCR 0x%02x sets edge-only inputs", who, v[4]);
	if (v[5] & 7)
		return lvm_state_bad(r, "%s vector base 0x%02x is not a multiple of 8", who, v[5]);
	if (v[6] > 7)
		return lvm_state_bad(r, "%s lowest priority IR %u is past 7", who, v[6]);
	if (v[7] != 0 && (v[7] < 2 || v[7] > 4))
		return lvm_state_bad(r, "%s expects ICW%u", who, v[7]);
	if (master && (v[3] & (1u << CASCADE_IRQ)))
		return lvm_state_bad(r, "master cascade input IR2 driven by a device");
	*c = (struct chip){
		.irr = v[0], .isr = v[1], .imr = v[2], .lines = v[3], .elcr = v[4],
		.elcr_mask = elcr_mask, .vector_base = v[5], .lowest = v[6], .icw_next = v[7],
		.icw4 = f[0], .single = f[1], .auto_eoi = f[2], .rotate_aeoi = f[3], .sfnm = f[4],
		.special_mask = f[5], .read_isr = f[6], .poll = f[7],
	};
	return 0;
}

int lvm_i8259_load(struct lvm_i8259 *pic, struct lvm_state_reader *r)
{
	struct chip chip[2];
	if (chip_load(&chip[0], true, r) < 0 || chip_load(&chip[1], false, r) < 0)
		return -1;
	pthread_mutex_lock(&pic->lock);
	pic->chip[0] = chip[0];
	pic->chip[1] = chip[1];
	update(pic); /* the cascade's IRR bit and INT from the loaded registers */
	pthread_mutex_unlock(&pic->lock);
	return 0;
}
