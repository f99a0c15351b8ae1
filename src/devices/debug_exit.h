/*
 * QEMU's isa-debug-exit convention (port 0xf4, length 4): a guest ends the
 * VM by writing a value V; the VMM then reports exit status (V << 1) | 1, so
 * a guest can never fake a clean exit 0.
 */
#ifndef LVM_DEVICES_DEBUG_EXIT_H
#define LVM_DEVICES_DEBUG_EXIT_H

#include <stdbool.h>
#include <stdint.h>

struct lvm_debug_exit {
	/* Called on the writing vCPU's thread with the value as written. */
	void (*on_exit)(void *opaque, uint32_t value);
	void *opaque;
};

/*
 * Bus handler; opaque = struct lvm_debug_exit *.  A write of size 1, 2 or 4
 * at offset 0 calls on_exit with the (zero-extended, little-endian) value;
 * other writes are ignored and reads return all-ones.
 */
void lvm_debug_exit_io(void *opaque, uint64_t offset, uint8_t *data,
		       uint32_t size, bool is_write);

#endif
