/*
 * A 16550A UART (the PC's COM1 at 0x3f8), as Linux's 8250 driver and
 * earlyprintk=ttyS0 expect.  Transmission is instantaneous: bytes written to
 * THR go straight to the console (THRE and TEMT are always set).  Received
 * bytes wait in a buffer far larger than the chip's 16-byte FIFO, so the host
 * can queue input before the guest reads it.
 *
 * Threading: lvm_serial_io runs on vCPU threads (several at once),
 * lvm_serial_receive / lvm_serial_rx_pending on the control thread; a mutex
 * inside the device serialises them.  The IRQ setter is called with that
 * mutex held (it must not call back into the device); the console is written
 * after it is released.
 */
#ifndef LVM_DEVICES_SERIAL8250_H
#define LVM_DEVICES_SERIAL8250_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/irq.h"

/* Receive buffer limit: lvm_serial_receive accepts fewer bytes beyond it. */
#define LVM_SERIAL_RX_MAX (1u << 20)

struct lvm_console;
struct lvm_serial;
struct lvm_state_reader;
struct lvm_state_writer;

/* `console` may be NULL (output discarded).  NULL + lvm_fail on error. */
struct lvm_serial *lvm_serial_new(struct lvm_irq_line irq,
				  struct lvm_console *console);
void lvm_serial_free(struct lvm_serial *s);
/* Bus handler for the 8 registers at the base port; opaque = the serial. */
void lvm_serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t size,
		   bool is_write);
/* Host -> guest bytes; returns how many were accepted (the rest did not fit). */
size_t lvm_serial_receive(struct lvm_serial *s, const void *bytes, size_t n);
/* Bytes waiting for the guest to read. */
size_t lvm_serial_rx_pending(struct lvm_serial *s);

/*
 * Saved state (util/state.h; the caller opens and closes the section):
 * every register, the THRE interrupt condition and the bytes waiting in
 * the receive buffer.  Load checks each value, replaces the receive
 * buffer and drives the interrupt line as the loaded registers say; 0, or
 * -1 through lvm_state_bad (the device then holds a mix, for freeing).
 */
void lvm_serial_save(const struct lvm_serial *s, struct lvm_state_writer *w);
int lvm_serial_load(struct lvm_serial *s, struct lvm_state_reader *r);

#endif
