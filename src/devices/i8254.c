#include "devices/i8254.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/error.h"
#include "util/state.h"

#define NS_PER_S 1000000000ull

/* Access modes (control word bits 5:4). */
#define RW_LATCH 0
#define RW_LSB 1
#define RW_MSB 2
#define RW_WORD 3

struct channel {
	uint32_t reload;       /* 1-65536 (a written 0 means 65536) */
	uint8_t mode, rw, bcd;
	bool loaded;           /* a count was written since the control word */
	bool started;          /* counting (modes 1/5 wait for a gate edge) */
	bool gate;
	bool write_msb_next, read_msb_next;
	uint8_t write_lsb;     /* the LSB of a word write, awaiting the MSB */
	uint16_t latch;
	bool count_latched, latch_msb_next;
	uint8_t status;
	bool status_latched;
	uint64_t start_ns;     /* when the current ticks began */
	uint64_t base_ticks;   /* ticks before start_ns (gate pauses) */
};

struct lvm_i8254 {
	pthread_mutex_t lock;
	struct channel ch[3];
	struct lvm_irq_line irq0;
	struct lvm_i8254_clock clock;
	bool speaker;          /* port 0x61 bit 1 */
	bool refresh;          /* port 0x61 bit 4 */
};

static uint64_t ns_to_ticks(uint64_t ns)
{
	return ns / NS_PER_S * LVM_I8254_HZ + ns % NS_PER_S * LVM_I8254_HZ / NS_PER_S;
}

static uint64_t ticks_to_ns(uint64_t ticks)
{
	return ticks / LVM_I8254_HZ * NS_PER_S +
	       (ticks % LVM_I8254_HZ * NS_PER_S + LVM_I8254_HZ - 1) / LVM_I8254_HZ;
}

static uint64_t now(struct lvm_i8254 *pit)
{
	return pit->clock.now_ns(pit->clock.ctx);
}

static uint64_t elapsed(const struct channel *c, uint64_t t)
{
	if (!c->gate || t < c->start_ns)
		return c->base_ticks;
	return c->base_ticks + ns_to_ticks(t - c->start_ns);
}

static uint16_t count_at(const struct channel *c, uint64_t t)
{
	if (!c->started)
		return (uint16_t)c->reload;
	uint64_t n = c->reload, e = elapsed(c, t);
	switch (c->mode) {
	case 2:
		return (uint16_t)(n - e % n);
	case 3: {
		uint64_t half = n / 2 ? n / 2 : 1;
		return (uint16_t)(n - 2 * (e % half));
	}
	default: /* 0, 1, 4, 5 count down and wrap */
		return (uint16_t)(n - e);
	}
}

static bool out_at(const struct channel *c, uint64_t t)
{
	if (!c->loaded || !c->started)
		return c->mode != 0;
	uint64_t n = c->reload, e = elapsed(c, t);
	switch (c->mode) {
	case 0: case 1: return e >= n;
	case 2: return e % n != n - 1;
	case 3: return e % n < (n + 1) / 2;
	default: return e != n; /* 4, 5: one tick low at terminal count */
	}
}

/* Channel 0's host timer follows its mode (modes 1 and 5 never start: gate 0 is high). */
static void arm_channel0(struct lvm_i8254 *pit, uint64_t t)
{
	const struct channel *c = &pit->ch[0];
	uint64_t deadline = 0, period = 0;
	if (c->started) {
		period = ticks_to_ns(c->reload);
		deadline = t + period + (c->mode == 4 ? ticks_to_ns(1) : 0);
		if (c->mode != 2 && c->mode != 3)
			period = 0;
	}
	pit->clock.arm(pit->clock.ctx, deadline, period);
}

struct lvm_i8254 *lvm_i8254_new(struct lvm_irq_line irq0, const struct lvm_i8254_clock *clock)
{
	struct lvm_i8254 *pit = calloc(1, sizeof(*pit));
	if (!pit) {
		lvm_fail("out of memory");
		return NULL;
	}
	pthread_mutex_init(&pit->lock, NULL);
	pit->irq0 = irq0;
	pit->clock = *clock;
	for (unsigned i = 0; i < 3; i++)
		pit->ch[i] = (struct channel){ .reload = 0x10000, .rw = RW_WORD, .gate = i != 2 };
	return pit;
}

void lvm_i8254_free(struct lvm_i8254 *pit)
{
	if (!pit)
		return;
	pthread_mutex_destroy(&pit->lock);
	free(pit);
}

void lvm_i8254_timer_fired(struct lvm_i8254 *pit)
{
	pthread_mutex_lock(&pit->lock);
	const struct channel *c = &pit->ch[0];
	if (c->started && c->mode == 0) {
		lvm_irq_set(&pit->irq0, 1);
	} else if (c->started) {
		lvm_irq_set(&pit->irq0, 1);
		lvm_irq_set(&pit->irq0, 0);
	}
	pthread_mutex_unlock(&pit->lock);
}

/* The count register is complete: load it and start (modes 1/5 wait for the gate). */
static void load_count(struct lvm_i8254 *pit, unsigned i, uint16_t v)
{
	struct channel *c = &pit->ch[i];
	uint64_t t = now(pit);
	c->reload = v ? v : 0x10000;
	c->loaded = true;
	c->started = c->mode != 1 && c->mode != 5;
	c->start_ns = t;
	c->base_ticks = 0;
	if (i == 0) {
		lvm_irq_set(&pit->irq0, 0);
		arm_channel0(pit, t);
	}
}

static void write_count(struct lvm_i8254 *pit, unsigned i, uint8_t v)
{
	struct channel *c = &pit->ch[i];
	switch (c->rw) {
	case RW_LSB:
		load_count(pit, i, v);
		break;
	case RW_MSB:
		load_count(pit, i, (uint16_t)(v << 8));
		break;
	default:
		if (c->write_msb_next)
			load_count(pit, i, (uint16_t)(c->write_lsb | v << 8));
		else
			c->write_lsb = v;
		c->write_msb_next = !c->write_msb_next;
		break;
	}
}

static uint8_t status_of(const struct channel *c, uint64_t t)
{
	return (uint8_t)(out_at(c, t) << 7 | !c->loaded << 6 | c->rw << 4 | c->mode << 1 | c->bcd);
}

static void latch(struct lvm_i8254 *pit, unsigned i, bool count, bool status)
{
	struct channel *c = &pit->ch[i];
	uint64_t t = now(pit);
	if (count && !c->count_latched) {
		c->latch = count_at(c, t);
		c->count_latched = true;
		c->latch_msb_next = false;
	}
	if (status && !c->status_latched) {
		c->status = status_of(c, t);
		c->status_latched = true;
	}
}

/* Control word (0x43): select a channel's mode, latch it, or read back. */
static void write_control(struct lvm_i8254 *pit, uint8_t v)
{
	unsigned sel = v >> 6;
	if (sel == 3) { /* read-back: bit 5 = !COUNT, bit 4 = !STATUS, bits 3:1 channels */
		for (unsigned i = 0; i < 3; i++)
			if (v & (2u << i))
				latch(pit, i, !(v & 0x20), !(v & 0x10));
		return;
	}
	struct channel *c = &pit->ch[sel];
	unsigned rw = (v >> 4) & 3;
	if (rw == RW_LATCH) {
		latch(pit, sel, true, false);
		return;
	}
	unsigned mode = (v >> 1) & 7;
	c->mode = (uint8_t)(mode > 5 ? mode - 4 : mode);
	c->rw = (uint8_t)rw;
	c->bcd = v & 1;
	c->loaded = c->started = false;
	c->write_msb_next = c->read_msb_next = false;
	if (sel == 0) {
		lvm_irq_set(&pit->irq0, 0); /* idle until a count is written */
		pit->clock.arm(pit->clock.ctx, 0, 0);
	}
}

/* A byte of a 16-bit value under access mode `rw`, with the flip-flop in *msb. */
static uint8_t byte_of(uint16_t v, unsigned rw, bool *msb)
{
	if (rw == RW_LSB)
		return (uint8_t)v;
	if (rw == RW_MSB)
		return (uint8_t)(v >> 8);
	bool hi = *msb;
	*msb = !*msb;
	return (uint8_t)(hi ? v >> 8 : v);
}

static uint8_t read_count(struct lvm_i8254 *pit, unsigned i)
{
	struct channel *c = &pit->ch[i];
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->count_latched) {
		uint8_t b = byte_of(c->latch, c->rw, &c->latch_msb_next);
		if (c->rw != RW_WORD || !c->latch_msb_next)
			c->count_latched = false;
		return b;
	}
	return byte_of(count_at(c, now(pit)), c->rw, &c->read_msb_next);
}

void lvm_i8254_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
	struct lvm_i8254 *pit = opaque;
	if (size != 1 || offset > 3)
		return;
	pthread_mutex_lock(&pit->lock);
	if (is_write && offset == 3)
		write_control(pit, data[0]);
	else if (is_write)
		write_count(pit, (unsigned)offset, data[0]);
	else if (offset < 3)
		data[0] = read_count(pit, (unsigned)offset);
	pthread_mutex_unlock(&pit->lock);
}

/* Channel 2's gate (datasheet, "GATE"): low pauses modes 0/4, a rising edge
 * restarts modes 1/2/3/5 from the reload value. */
static void set_gate2(struct lvm_i8254 *pit, bool gate)
{
	struct channel *c = &pit->ch[2];
	if (gate == c->gate)
		return;
	uint64_t t = now(pit);
	if (!gate) {
		c->base_ticks = elapsed(c, t);
	} else if (c->loaded && c->mode != 0 && c->mode != 4) {
		c->started = true;
		c->base_ticks = 0;
	}
	c->gate = gate;
	c->start_ns = t;
}

void lvm_i8254_port61_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
			 bool is_write)
{
	struct lvm_i8254 *pit = opaque;
	if (offset != 0)
		return;
	(void)size;
	pthread_mutex_lock(&pit->lock);
	if (is_write) {
		set_gate2(pit, data[0] & 1);
		pit->speaker = data[0] & 2;
	} else {
		pit->refresh = !pit->refresh;
		data[0] = (uint8_t)(pit->ch[2].gate | pit->speaker << 1 | pit->refresh << 4 |
				    out_at(&pit->ch[2], now(pit)) << 5);
	}
	pthread_mutex_unlock(&pit->lock);
}

/* ---- saved state ------------------------------------------------------- */

/*
 * Time is saved as what the channel has counted, not as clock readings
 * (clocks differ between hosts): the ticks counted before start_ns (gate
 * pauses) and the nanoseconds counted since, which the loader folds back
 * so that the count goes on to the nanosecond.
 */
static void channel_save(const struct channel *c, uint64_t t, struct lvm_state_writer *w)
{
	lvm_state_put_u32(w, c->reload);
	lvm_state_put_u8(w, c->mode);
	lvm_state_put_u8(w, c->rw);
	lvm_state_put_u8(w, c->bcd);
	bool flags[] = { c->loaded, c->started, c->gate, c->write_msb_next, c->read_msb_next,
			 c->count_latched, c->latch_msb_next, c->status_latched };
	for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		lvm_state_put_bool(w, flags[i]);
	lvm_state_put_u8(w, c->write_lsb);
	lvm_state_put_u16(w, c->latch);
	lvm_state_put_u8(w, c->status);
	lvm_state_put_u64(w, c->base_ticks);
	lvm_state_put_u64(w, c->gate && t >= c->start_ns ? t - c->start_ns : 0);
}

void lvm_i8254_save(const struct lvm_i8254 *cpit, struct lvm_state_writer *w)
{
	struct lvm_i8254 *pit = (struct lvm_i8254 *)cpit; /* only for the lock */
	pthread_mutex_lock(&pit->lock);
	uint64_t t = now(pit);
	for (unsigned i = 0; i < 3; i++)
		channel_save(&pit->ch[i], t, w);
	lvm_state_put_bool(w, pit->speaker);
	lvm_state_put_bool(w, pit->refresh);
	pthread_mutex_unlock(&pit->lock);
}

static int channel_check(struct lvm_state_reader *r, unsigned i, const struct channel *c)
{
	if (c->reload < 1 || c->reload > 0x10000)
		return lvm_state_bad(r, "channel %u reload value %u is not 1-65536", i, c->reload);
	if (c->mode > 5)
		return lvm_state_bad(r, "channel %u mode %u is past 5", i, c->mode);
	if (c->rw < RW_LSB || c->rw > RW_WORD)
		return lvm_state_bad(r, "channel %u access mode %u is not 1-3", i, c->rw);
	if (c->bcd > 1)
		return lvm_state_bad(r, "channel %u BCD flag %u", i, c->bcd);
	if (c->started && !c->loaded)
		return lvm_state_bad(r, "channel %u counts without a count", i);
	/* Only channel 2's gate moves; 1 and 5 start on its rising edge. */
	if (i != 2 && !c->gate)
		return lvm_state_bad(r, "channel %u's gate is low", i);
	if (i != 2 && c->started && (c->mode == 1 || c->mode == 5))
		return lvm_state_bad(r, "channel %u started mode %u without a gate edge", i, c->mode);
	return 0;
}

/* start_ns and base_ticks so that the channel has counted `base` ticks + `ns` at time t. */
static void set_counted(struct channel *c, uint64_t base, uint64_t ns, uint64_t t)
{
	/* Whole seconds are whole ticks (LVM_I8254_HZ a second): exact. */
	base += ns / NS_PER_S * LVM_I8254_HZ;
	ns %= NS_PER_S;
	if (t < ns) { /* a clock that started less than a second ago */
		base += ns_to_ticks(ns);
		ns = 0;
	}
	c->base_ticks = base;
	c->start_ns = t - ns;
}

static int channel_load(struct lvm_state_reader *r, unsigned i, struct channel *c,
			uint64_t *ns)
{
	*c = (struct channel){ 0 };
	c->reload = lvm_state_get_u32(r);
	c->mode = lvm_state_get_u8(r);
	c->rw = lvm_state_get_u8(r);
	c->bcd = lvm_state_get_u8(r);
	bool *flags[] = { &c->loaded, &c->started, &c->gate, &c->write_msb_next,
			  &c->read_msb_next, &c->count_latched, &c->latch_msb_next,
			  &c->status_latched };
	for (unsigned k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
		*flags[k] = lvm_state_get_bool(r);
	c->write_lsb = lvm_state_get_u8(r);
	c->latch = lvm_state_get_u16(r);
	c->status = lvm_state_get_u8(r);
	c->base_ticks = lvm_state_get_u64(r);
	*ns = lvm_state_get_u64(r); /* for set_counted, once the time is known */
	if (r->failed)
		return -1;
	return channel_check(r, i, c);
}

/*
 * Channel 0's host timer and IRQ0 after a load: the next expiry comes when
 * the count says (the phase within the period is kept), and a mode 0 count
 * that reached terminal count holds the line high.
 */
static void resume_channel0(struct lvm_i8254 *pit, uint64_t t)
{
	const struct channel *c = &pit->ch[0];
	uint64_t deadline = 0, period = 0, n = c->reload, e = elapsed(c, t);
	int level = 0;
	if (c->started && (c->mode == 2 || c->mode == 3)) {
		deadline = t + ticks_to_ns(n - e % n);
		period = ticks_to_ns(n);
	} else if (c->started) {
		uint64_t fire = n + (c->mode == 4); /* as arm_channel0 sets it */
		if (e < fire)
			deadline = t + ticks_to_ns(fire - e);
		else
			level = c->mode == 0;
	}
	lvm_irq_set(&pit->irq0, level);
	pit->clock.arm(pit->clock.ctx, deadline, period);
}

int lvm_i8254_load(struct lvm_i8254 *pit, struct lvm_state_reader *r)
{
	struct channel ch[3];
	uint64_t ns[3];
	for (unsigned i = 0; i < 3; i++)
		if (channel_load(r, i, &ch[i], &ns[i]) < 0)
			return -1;
	bool speaker = lvm_state_get_bool(r), refresh = lvm_state_get_bool(r);
	if (r->failed)
		return -1;
	pthread_mutex_lock(&pit->lock);
	uint64_t t = now(pit);
	for (unsigned i = 0; i < 3; i++) {
		pit->ch[i] = ch[i];
		set_counted(&pit->ch[i], ch[i].base_ticks, ns[i], t);
	}
	pit->speaker = speaker;
	pit->refresh = refresh;
	resume_channel0(pit, t);
	pthread_mutex_unlock(&pit->lock);
	return 0;
}
