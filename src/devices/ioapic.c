#include "devices/ioapic.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/state.h"

#define IOREGSEL 0x00
#define IOWIN 0x10

#define REG_ID 0x00
#define REG_VERSION 0x01
#define REG_ARB 0x02
#define REG_REDIR 0x10
#define VERSION 0x11

/* Redirection entry fields (82093AA §3.2.4). */
#define RTE_VECTOR 0xffull
#define RTE_DELIVERY_SHIFT 8
#define RTE_DEST_MODE (1ull << 11)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL (1ull << 15)
#define RTE_MASKED (1ull << 16)
#define RTE_DEST_SHIFT 56
/* Guest-writable bits: all but delivery status (12), remote IRR (14), reserved 17-55. */
#define RTE_WRITABLE (0xff00000000000000ull | 0x1afffull)

struct lvm_ioapic {
	pthread_mutex_t lock;
	uint8_t id;
	uint8_t regsel;
	uint64_t entry[LVM_IOAPIC_NR_PINS];
	uint32_t lines; /* input levels, one bit per pin */
	/* What `route` last reported, so only changes are reported. */
	bool routed[LVM_IOAPIC_NR_PINS];
	struct lvm_msi route[LVM_IOAPIC_NR_PINS];
	const struct lvm_ioapic_ops *ops;
	void *ctx;
};

struct lvm_msi lvm_ioapic_entry_msi(uint64_t e)
{
	uint32_t dest = (uint32_t)(e >> RTE_DEST_SHIFT);
	uint32_t mode = (uint32_t)((e >> RTE_DELIVERY_SHIFT) & 7);
	return (struct lvm_msi){
		.address = LVM_MSI_ADDR_BASE | dest << 12 | (e & RTE_DEST_MODE ? 1u << 2 : 0),
		.data = (uint32_t)(e & RTE_VECTOR) | mode << 8 | (e & RTE_LEVEL ? 1u << 15 : 0),
	};
}

struct lvm_ioapic *lvm_ioapic_new(uint8_t id, const struct lvm_ioapic_ops *ops, void *ctx)
{
	struct lvm_ioapic *io = calloc(1, sizeof(*io));
	if (!io) {
		lvm_fail("out of memory");
		return NULL;
	}
	pthread_mutex_init(&io->lock, NULL);
	io->id = id & 0xf;
	for (unsigned i = 0; i < LVM_IOAPIC_NR_PINS; i++)
		io->entry[i] = RTE_MASKED;
	io->ops = ops;
	io->ctx = ctx;
	return io;
}

void lvm_ioapic_free(struct lvm_ioapic *io)
{
	if (!io)
		return;
	pthread_mutex_destroy(&io->lock);
	free(io);
}

static void publish_route(struct lvm_ioapic *io, unsigned pin)
{
	uint64_t e = io->entry[pin];
	bool routed = !(e & RTE_MASKED) || (e & RTE_REMOTE_IRR);
	struct lvm_msi msi = routed ? lvm_ioapic_entry_msi(e) : (struct lvm_msi){ 0, 0 };
	if (routed == io->routed[pin] && msi.address == io->route[pin].address &&
	    msi.data == io->route[pin].data)
		return;
	io->routed[pin] = routed;
	io->route[pin] = msi;
	if (io->ops && io->ops->route)
		io->ops->route(io->ctx, pin, routed, msi);
}

static void deliver(struct lvm_ioapic *io, unsigned pin)
{
	uint64_t *e = &io->entry[pin];
	if (*e & RTE_LEVEL) {
		*e |= RTE_REMOTE_IRR;
		publish_route(io, pin);
	}
	if (io->ops && io->ops->deliver)
		io->ops->deliver(io->ctx, lvm_ioapic_entry_msi(*e));
}

/* A level pin that is asserted, unmasked and not awaiting EOI fires (again). */
static void service_level(struct lvm_ioapic *io, unsigned pin)
{
	uint64_t e = io->entry[pin];
	if ((e & RTE_LEVEL) && !(e & (RTE_MASKED | RTE_REMOTE_IRR)) &&
	    (io->lines & (1u << pin)))
		deliver(io, pin);
}

void lvm_ioapic_set_irq(struct lvm_ioapic *io, unsigned pin, int level)
{
	if (pin >= LVM_IOAPIC_NR_PINS)
		return;
	uint32_t bit = 1u << pin;
	pthread_mutex_lock(&io->lock);
	bool rising = level && !(io->lines & bit);
	io->lines = level ? io->lines | bit : io->lines & ~bit;
	uint64_t e = io->entry[pin];
	if (e & RTE_LEVEL)
		service_level(io, pin);
	else if (rising && !(e & RTE_MASKED))
		deliver(io, pin);
	pthread_mutex_unlock(&io->lock);
}

void lvm_ioapic_eoi(struct lvm_ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	for (unsigned pin = 0; pin < LVM_IOAPIC_NR_PINS; pin++) {
		uint64_t *e = &io->entry[pin];
		if ((*e & RTE_VECTOR) != vector || !(*e & RTE_REMOTE_IRR))
			continue;
		*e &= ~RTE_REMOTE_IRR;
		publish_route(io, pin);
		service_level(io, pin);
	}
	pthread_mutex_unlock(&io->lock);
}

static uint32_t read_reg(struct lvm_ioapic *io)
{
	unsigned r = io->regsel;
	switch (r) {
	case REG_ID:
	case REG_ARB:
		return (uint32_t)io->id << 24;
	case REG_VERSION:
		return (LVM_IOAPIC_NR_PINS - 1) << 16 | VERSION;
	default:
		break;
	}
	if (r < REG_REDIR || r >= REG_REDIR + 2 * LVM_IOAPIC_NR_PINS)
		return 0;
	uint64_t e = io->entry[(r - REG_REDIR) / 2];
	return (uint32_t)(r & 1 ? e >> 32 : e);
}

static void write_entry(struct lvm_ioapic *io, unsigned pin, bool high, uint32_t v)
{
	uint64_t *e = &io->entry[pin];
	uint64_t mask = high ? 0xffffffff00000000ull : 0xffffffffull;
	uint64_t val = high ? (uint64_t)v << 32 : v;
	*e = (*e & ~(mask & RTE_WRITABLE)) | (val & mask & RTE_WRITABLE);
	if (!(*e & RTE_LEVEL))
		*e &= ~RTE_REMOTE_IRR; /* remote IRR is undefined for edge entries */
	publish_route(io, pin);
	service_level(io, pin);
}

static void write_reg(struct lvm_ioapic *io, uint32_t v)
{
	unsigned r = io->regsel;
	if (r == REG_ID)
		io->id = (v >> 24) & 0xf;
	else if (r >= REG_REDIR && r < REG_REDIR + 2 * LVM_IOAPIC_NR_PINS)
		write_entry(io, (r - REG_REDIR) / 2, r & 1, v);
}

void lvm_ioapic_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
		     bool is_write)
{
	struct lvm_ioapic *io = opaque;
	uint32_t v = 0;
	if (size > sizeof(v))
		size = sizeof(v);
	pthread_mutex_lock(&io->lock);
	if (is_write) {
		memcpy(&v, data, size);
		if (offset == IOREGSEL)
			io->regsel = (uint8_t)v;
		else if (offset == IOWIN)
			write_reg(io, v);
	} else {
		v = offset == IOREGSEL ? io->regsel : offset == IOWIN ? read_reg(io) : 0;
		memcpy(data, &v, size);
	}
	pthread_mutex_unlock(&io->lock);
}

/* ---- saved state ------------------------------------------------------- */

void lvm_ioapic_save(const struct lvm_ioapic *cio, struct lvm_state_writer *w)
{
	struct lvm_ioapic *io = (struct lvm_ioapic *)cio; /* only for the lock */
	pthread_mutex_lock(&io->lock);
	lvm_state_put_u8(w, io->id);
	lvm_state_put_u8(w, io->regsel);
	lvm_state_put_u32(w, io->lines);
	lvm_state_put_u8(w, LVM_IOAPIC_NR_PINS);
	for (unsigned pin = 0; pin < LVM_IOAPIC_NR_PINS; pin++)
		lvm_state_put_u64(w, io->entry[pin]);
	pthread_mutex_unlock(&io->lock);
}

/* An entry the guest could have made: writable bits, remote IRR only when level. */
static int check_entry(struct lvm_state_reader *r, unsigned pin, uint64_t e)
{
	if (e & ~(RTE_WRITABLE | RTE_REMOTE_IRR))
		return lvm_state_bad(r, "redirection entry %u 0x%016llx sets reserved bits", pin,
				     (unsigned long long)e);
	if ((e & RTE_REMOTE_IRR) && !(e & RTE_LEVEL))
		return lvm_state_bad(r, "redirection entry %u has remote IRR but is edge", pin);
	return 0;
}

int lvm_ioapic_load(struct lvm_ioapic *io, struct lvm_state_reader *r)
{
	uint8_t id = lvm_state_get_u8(r), regsel = lvm_state_get_u8(r);
	uint32_t lines = lvm_state_get_u32(r);
	uint8_t npins = lvm_state_get_u8(r);
	if (r->failed)
		return -1;
	if (id > 0xf)
		return lvm_state_bad(r, "IOAPIC ID %u is past 15", id);
	if (lines >> LVM_IOAPIC_NR_PINS)
		return lvm_state_bad(r, "line levels 0x%x name pins past %u", lines,
				     LVM_IOAPIC_NR_PINS - 1);
	if (npins != LVM_IOAPIC_NR_PINS)
		return lvm_state_bad(r, "%u redirection entries (this IOAPIC has %u)", npins,
				     LVM_IOAPIC_NR_PINS);
	uint64_t entry[LVM_IOAPIC_NR_PINS];
	for (unsigned pin = 0; pin < LVM_IOAPIC_NR_PINS; pin++) {
		entry[pin] = lvm_state_get_u64(r);
		if (r->failed || check_entry(r, pin, entry[pin]) < 0)
			return -1;
	}
	pthread_mutex_lock(&io->lock);
	io->id = id;
	io->regsel = regsel;
	io->lines = lines;
	memcpy(io->entry, entry, sizeof(entry));
	/* KVM's GSI routes (irqfds) follow the loaded entries; a level pin that
	 * is asserted, unmasked and not awaiting EOI fires, as after any write. */
	for (unsigned pin = 0; pin < LVM_IOAPIC_NR_PINS; pin++)
		publish_route(io, pin);
	for (unsigned pin = 0; pin < LVM_IOAPIC_NR_PINS; pin++)
		service_level(io, pin);
	pthread_mutex_unlock(&io->lock);
	return 0;
}
