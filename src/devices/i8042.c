#include "devices/i8042.h"

#include <stddef.h>
#include <string.h>

#include "util/state.h"

#define STATUS_OBF 0x01 /* output buffer full: a byte waits on 0x60 */
#define STATUS_SYS 0x04 /* system flag, mirrors command byte bit 2 */

#define CTR_SYS 0x04
#define CTR_KBD_DISABLED 0x10
#define CTR_AUX_DISABLED 0x20

#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_WRITE_OUTPUT 0xd1
#define CMD_PULSE_RESET 0xfe /* pulse output port bit 0 (CPU reset) */

#define OUTPUT_RESET_N 0x01 /* output port bit 0: reset line, active low */

void lvm_i8042_init(struct lvm_i8042 *k, void (*on_reset)(void *),
		    void *opaque)
{
	memset(k, 0, sizeof(*k));
	k->on_reset = on_reset;
	k->opaque = opaque;
	/* What a BIOS leaves: keyboard interrupt, SYS (POST passed), XT
	 * translation. */
	k->command = 0x45;
	pthread_mutex_init(&k->lock, NULL);
}

static void reply(struct lvm_i8042 *k, uint8_t v)
{
	k->out = v;
	k->out_full = true;
}

/* Runs a controller command; returns true if it asks for a reset. */
static bool run_command(struct lvm_i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case CMD_READ_CTR:
		reply(k, k->command);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPUT:
		k->pending = cmd;
		break;
	case CMD_AUX_DISABLE:
		k->command |= CTR_AUX_DISABLED;
		break;
	case CMD_AUX_ENABLE:
		k->command &= (uint8_t)~CTR_AUX_DISABLED;
		break;
	case CMD_SELF_TEST:
		k->command |= CTR_SYS;
		reply(k, 0x55);
		break;
	case CMD_KBD_TEST:
		reply(k, 0x00);
		break;
	case CMD_KBD_DISABLE:
		k->command |= CTR_KBD_DISABLED;
		break;
	case CMD_KBD_ENABLE:
		k->command &= (uint8_t)~CTR_KBD_DISABLED;
		break;
	case CMD_PULSE_RESET:
		return true;
	default:
		break;
	}
	return false;
}

/* A byte written to 0x60: the data of a pending command, else (no
 * keyboard) dropped.  Returns true if it asks for a reset. */
static bool write_data(struct lvm_i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending;
	k->pending = 0;
	if (cmd == CMD_WRITE_CTR)
		k->command = v;
	else if (cmd == CMD_WRITE_OUTPUT)
		return !(v & OUTPUT_RESET_N);
	return false;
}

static uint8_t read_data(struct lvm_i8042 *k)
{
	if (!k->out_full)
		return 0x00;
	k->out_full = false;
	return k->out;
}

static uint8_t read_status(const struct lvm_i8042 *k)
{
	/* Input buffer never full: writes are handled on the spot. */
	uint8_t v = (k->command & CTR_SYS) ? STATUS_SYS : 0;
	if (k->out_full)
		v |= STATUS_OBF;
	return v;
}

/* Both ports share this: larger accesses act on the low byte. */
static void port_io(struct lvm_i8042 *k, bool status_port, uint8_t *data,
		    bool is_write)
{
	bool reset = false;

	pthread_mutex_lock(&k->lock);
	if (is_write) {
		if (status_port) {
			k->pending = 0; /* a new command aborts a pending one */
			reset = run_command(k, data[0]);
		} else {
			reset = write_data(k, data[0]);
		}
	} else {
		data[0] = status_port ? read_status(k) : read_data(k);
	}
	pthread_mutex_unlock(&k->lock);

	/* Outside the lock: the callback may stop vCPUs or re-init us. */
	if (reset && k->on_reset)
		k->on_reset(k->opaque);
}

void lvm_i8042_data_io(void *opaque, uint64_t offset, uint8_t *data,
		       uint32_t size, bool is_write)
{
	if (opaque && data && size && offset == 0)
		port_io(opaque, false, data, is_write);
}

void lvm_i8042_status_io(void *opaque, uint64_t offset, uint8_t *data,
			 uint32_t size, bool is_write)
{
	if (opaque && data && size && offset == 0)
		port_io(opaque, true, data, is_write);
}

void lvm_i8042_save(const struct lvm_i8042 *ck, struct lvm_state_writer *w)
{
	struct lvm_i8042 *k = (struct lvm_i8042 *)ck; /* only for the lock */
	pthread_mutex_lock(&k->lock);
	lvm_state_put_u8(w, k->command);
	lvm_state_put_u8(w, k->pending);
	lvm_state_put_u8(w, k->out);
	lvm_state_put_bool(w, k->out_full);
	pthread_mutex_unlock(&k->lock);
}

int lvm_i8042_load(struct lvm_i8042 *k, struct lvm_state_reader *r)
{
	uint8_t command = lvm_state_get_u8(r);
	uint8_t pending = lvm_state_get_u8(r);
	uint8_t out = lvm_state_get_u8(r);
	bool out_full = lvm_state_get_bool(r);
	if (r->failed)
		return -1;
	if (pending != 0 && pending != CMD_WRITE_CTR && pending != CMD_WRITE_OUTPUT)
		return lvm_state_bad(r, "pending command 0x%02x takes no data byte", pending);
	pthread_mutex_lock(&k->lock);
	k->command = command;
	k->pending = pending;
	k->out = out;
	k->out_full = out_full;
	pthread_mutex_unlock(&k->lock);
	return 0; /* no interrupt line to re-derive */
}
