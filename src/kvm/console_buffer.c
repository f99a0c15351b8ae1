#include "kvm/console_buffer.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/error.h"

int lvm_console_init(struct lvm_console *c)
{
	memset(c, 0, sizeof(*c));
	c->sink_fd = -1;
	c->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->notify_fd < 0)
		return lvm_fail_errno("console: eventfd");
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->sink_lock, NULL);
	return 0;
}

void lvm_console_destroy(struct lvm_console *c)
{
	if (c->notify_fd < 0)
		return;
	if (c->owns_sink && c->sink_fd >= 0)
		close(c->sink_fd);
	close(c->notify_fd);
	c->notify_fd = -1;
	free(c->buf);
	c->buf = NULL;
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->sink_lock);
}

void lvm_console_set_sink(struct lvm_console *c, int fd, int owns)
{
	pthread_mutex_lock(&c->sink_lock);
	if (c->owns_sink && c->sink_fd >= 0)
		close(c->sink_fd);
	c->sink_fd = fd;
	c->owns_sink = owns;
	pthread_mutex_unlock(&c->sink_lock);
}

static bool stopping(const struct lvm_console *c)
{
	return c->stopping && __atomic_load_n(c->stopping, __ATOMIC_ACQUIRE);
}

/*
 * A sink that stops reading (a pipe into a paused pager, a FIFO) holds the
 * writing vCPU, as a UART without room would hold its guest.  Only that
 * vCPU waits: the capture lock is not held, so the control thread, expect()
 * and timers go on.  It waits in poll() with a short timeout, never in a
 * blocking write, and gives up (dropping and counting the rest) once the VM
 * is stopping, so a stop never waits for the sink's reader.
 */
static void write_sink(struct lvm_console *c, const char *p, size_t n)
{
	while (n > 0) {
		struct pollfd pfd = { .fd = c->sink_fd, .events = POLLOUT };
		int ready = poll(&pfd, 1, 50);
		if (ready == 0 || (ready < 0 && errno == EINTR)) {
			if (!stopping(c))
				continue;
			c->sink_dropped += n;
			return;
		}
		if (ready < 0 || (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
			return; /* broken sink: the capture still has the output */
		/* At most a page: a writable pipe has room for that much. */
		ssize_t w = write(c->sink_fd, p, n < 4096 ? n : 4096);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Keeps the newest LVM_CONSOLE_CAPTURE_MAX bytes. */
static void capture(struct lvm_console *c, const char *p, size_t n)
{
	if (n >= LVM_CONSOLE_CAPTURE_MAX) {
		c->bytes_dropped += c->len + (n - LVM_CONSOLE_CAPTURE_MAX);
		p += n - LVM_CONSOLE_CAPTURE_MAX;
		n = LVM_CONSOLE_CAPTURE_MAX;
		c->len = 0;
	} else if (c->len + n > LVM_CONSOLE_CAPTURE_MAX) {
		size_t drop = c->len + n - LVM_CONSOLE_CAPTURE_MAX;
		memmove(c->buf, c->buf + drop, c->len - drop);
		c->len -= drop;
		c->bytes_dropped += drop;
	}
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + n)
			cap *= 2;
		char *buf = realloc(c->buf, cap);
		if (!buf) {
			c->bytes_dropped += n;
			return;
		}
		c->buf = buf;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
}

void lvm_console_write(struct lvm_console *c, const void *data, size_t n)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&c->sink_lock);
	if (c->sink_fd >= 0)
		write_sink(c, data, n);
	pthread_mutex_unlock(&c->sink_lock);
	pthread_mutex_lock(&c->lock);
	int was_empty = c->len == 0;
	capture(c, data, n);
	c->bytes_total += n;
	pthread_mutex_unlock(&c->lock);
	if (was_empty) {
		uint64_t one = 1;
		ssize_t ignored = write(c->notify_fd, &one, sizeof(one));
		(void)ignored; /* EAGAIN means it is already signalled */
	}
}

size_t lvm_console_take(struct lvm_console *c, char *out, size_t max)
{
	pthread_mutex_lock(&c->lock);
	size_t n = c->len < max ? c->len : max;
	if (n > 0) /* buf is still NULL before the first write */
		memcpy(out, c->buf, n);
	if (n > 0)
		memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	if (c->len == 0) {
		uint64_t value;
		ssize_t ignored = read(c->notify_fd, &value, sizeof(value));
		(void)ignored;
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}
