/*
 * Just enough of the PC's 8042 keyboard controller for a guest to reset the
 * machine and for Linux's i8042 probe to get sane answers.  There is no
 * keyboard or mouse behind it and it raises no interrupts.
 *
 * Modelled: the status register (no input ever pending, SYS flag from the
 * command byte), a one-byte output buffer for controller replies, and the
 * commands 0x20 (read command byte), 0x60 (write command byte), 0xa7/0xa8
 * and 0xad/0xae (disable/enable aux/keyboard, as command-byte bits), 0xaa
 * (self test -> 0x55), 0xab (keyboard interface test -> 0x00), 0xd1 (write
 * output port: bit 0 clear resets) and 0xfe (pulse reset).  Anything else,
 * including bytes meant for the keyboard, is ignored and gets no reply, so
 * Linux's probes time out and find no devices.
 */
#ifndef LVM_DEVICES_I8042_H
#define LVM_DEVICES_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct lvm_i8042 {
	/* Called on the vCPU thread that asked for the reset, without locks. */
	void (*on_reset)(void *opaque);
	void *opaque;
	uint8_t command;   /* the controller's command byte ("CTR") */
	uint8_t pending;   /* command awaiting its data byte on 0x60, or 0 */
	uint8_t out;       /* output buffer */
	bool out_full;     /* status bit 0 (OBF) */
	pthread_mutex_t lock; /* default mutex: needs no destroy */
};

struct lvm_state_reader;
struct lvm_state_writer;

void lvm_i8042_init(struct lvm_i8042 *k, void (*on_reset)(void *),
		    void *opaque);
/* Port 0x60 (length 1); opaque = struct lvm_i8042 *. */
void lvm_i8042_data_io(void *opaque, uint64_t offset, uint8_t *data,
		       uint32_t size, bool is_write);
/* Port 0x64 (length 1); opaque = struct lvm_i8042 *. */
void lvm_i8042_status_io(void *opaque, uint64_t offset, uint8_t *data,
			 uint32_t size, bool is_write);
/* Saved state (util/state.h; the caller opens the section): the command
 * byte, the command awaiting data and the output buffer.  0, or -1 through
 * lvm_state_bad. */
void lvm_i8042_save(const struct lvm_i8042 *k, struct lvm_state_writer *w);
int lvm_i8042_load(struct lvm_i8042 *k, struct lvm_state_reader *r);

#endif
