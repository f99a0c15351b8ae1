#include "devices/debug_exit.h"

#include <stddef.h>

void lvm_debug_exit_io(void *opaque, uint64_t offset, uint8_t *data,
		       uint32_t size, bool is_write)
{
	struct lvm_debug_exit *d = opaque;

	/* Reads: leave the bus's 0xff fill, as an unclaimed port would read. */
	if (!is_write || !d || !d->on_exit || !data || offset != 0)
		return;
	if (size != 1 && size != 2 && size != 4)
		return;
	uint32_t value = 0;
	for (uint32_t i = 0; i < size; i++)
		value |= (uint32_t)data[i] << (8 * i);
	d->on_exit(d->opaque, value);
}
