/*
 * The console: where guest output goes and where the control thread reads
 * it.  Devices (the UART, later virtio-console) call lvm_console_write from
 * vCPU threads.  Output is written straight to the sink fd (stdout or a
 * file) when there is one, so the common case never waits for Lua, and is
 * also kept in a bounded capture buffer that the control thread drains
 * (for expect() and Lua sink functions).  notify_fd becomes readable when
 * the capture buffer goes from empty to non-empty.
 */
#ifndef LVM_KVM_CONSOLE_BUFFER_H
#define LVM_KVM_CONSOLE_BUFFER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define LVM_CONSOLE_CAPTURE_MAX (1u << 20) /* oldest bytes dropped beyond this */

struct lvm_console {
	pthread_mutex_t lock;      /* the capture buffer: never held across I/O */
	pthread_mutex_t sink_lock; /* writes to sink_fd, which may block */
	int notify_fd;  /* eventfd */
	int sink_fd;    /* -1: none */
	int owns_sink;  /* close sink_fd on destroy */
	char *buf;
	size_t len, cap;
	uint64_t bytes_total;
	uint64_t bytes_dropped;
	uint64_t sink_dropped; /* bytes a stalled sink never took (VM stopping) */
	const int *stopping;   /* the owner's stop flag: a stalled write gives up */
};

int lvm_console_init(struct lvm_console *c);
void lvm_console_destroy(struct lvm_console *c);
/* Takes ownership of fd when owns is non-zero. */
void lvm_console_set_sink(struct lvm_console *c, int fd, int owns);
void lvm_console_write(struct lvm_console *c, const void *data, size_t n);
/*
 * Moves up to `max` captured bytes into `out` and returns how many; clears
 * the notification once the buffer is empty.  Control thread only.
 */
size_t lvm_console_take(struct lvm_console *c, char *out, size_t max);

#endif
