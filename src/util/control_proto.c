#include "util/control_proto.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Moves all `len` bytes in one direction, riding out EINTR and short counts. */
static int transfer_all(int fd, char *p, size_t len, bool sending)
{
	while (len > 0) {
		ssize_t n = sending ? send(fd, p, len, MSG_NOSIGNAL) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	return transfer_all(fd, (char *)(uintptr_t)data, len, true);
}

static int read_all(int fd, void *data, size_t len)
{
	return transfer_all(fd, data, len, false);
}

static void encode(unsigned char *h, size_t len)
{
	for (int i = 0; i < 4; i++)
		h[i] = (unsigned char)(len >> (8 * i));
}

static uint32_t decode(const unsigned char *h)
{
	return (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
}

int lvm_control_send(int fd, const void *data, size_t len)
{
	unsigned char head[4];
	if (len > LVM_CONTROL_MAX_MESSAGE) {
		errno = EMSGSIZE;
		return -1;
	}
	encode(head, len);
	return write_all(fd, head, 4) < 0 ? -1 : write_all(fd, data, len);
}

long lvm_control_recv(int fd, char **out)
{
	unsigned char head[4];
	if (read_all(fd, head, 4) < 0)
		return -1;
	uint32_t len = decode(head);
	if (len > LVM_CONTROL_MAX_MESSAGE) {
		errno = EMSGSIZE;
		return -1;
	}
	char *buf = malloc((size_t)len + 1);
	if (!buf)
		return -1;
	if (read_all(fd, buf, len) < 0) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	*out = buf;
	return (long)len;
}

long lvm_control_frame_size(const char *buf, size_t len)
{
	if (len < 4)
		return 0;
	uint32_t body = decode((const unsigned char *)buf);
	if (body > LVM_CONTROL_MAX_MESSAGE)
		return -1;
	return len >= 4 + (size_t)body ? 4 + (long)body : 0;
}

/* ---- non-blocking reader ------------------------------------------------ */

/* The buffer never needs more than one largest frame plus a read's worth. */
#define READER_MAX (4 + LVM_CONTROL_MAX_MESSAGE + 4096)

char *lvm_control_reader_space(struct lvm_control_reader *r, size_t *room)
{
	if (r->start > 0) { /* parsed frames are gone: move the rest down */
		memmove(r->buf, r->buf + r->start, r->len - r->start);
		r->len -= r->start;
		r->start = 0;
	}
	if (r->cap - r->len < 4096 && r->cap < READER_MAX) {
		size_t cap = r->cap ? r->cap * 2 : 8192;
		cap = cap < READER_MAX ? cap : READER_MAX;
		char *buf = realloc(r->buf, cap);
		if (!buf)
			return NULL;
		r->buf = buf;
		r->cap = cap;
	}
	*room = r->cap - r->len;
	return r->buf + r->len;
}

void lvm_control_reader_commit(struct lvm_control_reader *r, size_t n)
{
	r->len += n;
}

int lvm_control_reader_next(struct lvm_control_reader *r, const char **body, size_t *len)
{
	size_t have = r->len - r->start;
	if (have < 4)
		return 0;
	uint32_t size = decode((const unsigned char *)r->buf + r->start);
	*len = size;
	if (size > LVM_CONTROL_MAX_MESSAGE)
		return -1;
	if (have - 4 < size)
		return 0;
	*body = r->buf + r->start + 4;
	r->start += 4 + (size_t)size;
	return 1;
}

void lvm_control_reader_free(struct lvm_control_reader *r)
{
	free(r->buf);
	*r = (struct lvm_control_reader){ 0 };
}

/* ---- non-blocking writer ------------------------------------------------ */

static bool writer_reserve(struct lvm_control_writer *w, size_t more)
{
	if (w->start > 0) {
		memmove(w->buf, w->buf + w->start, w->len - w->start);
		w->len -= w->start;
		w->start = 0;
	}
	if (w->cap - w->len >= more)
		return true;
	size_t cap = w->cap ? w->cap : 4096;
	while (cap - w->len < more)
		cap *= 2;
	char *buf = realloc(w->buf, cap);
	if (!buf)
		return false;
	w->buf = buf;
	w->cap = cap;
	return true;
}

bool lvm_control_writer_add(struct lvm_control_writer *w, char status, const char *text,
			    size_t len, size_t bound)
{
	if (len >= LVM_CONTROL_MAX_MESSAGE || (w->len - w->start) + 5 + len > bound)
		return false;
	if (!writer_reserve(w, 5 + len))
		return false;
	encode((unsigned char *)w->buf + w->len, len + 1);
	w->buf[w->len + 4] = status;
	memcpy(w->buf + w->len + 5, text, len);
	w->len += 5 + len;
	return true;
}

int lvm_control_writer_flush(struct lvm_control_writer *w, int fd)
{
	while (w->len > w->start) {
		ssize_t n = send(fd, w->buf + w->start, w->len - w->start, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		w->start += (size_t)n;
	}
	w->start = w->len = 0;
	return 0;
}

void lvm_control_writer_free(struct lvm_control_writer *w)
{
	free(w->buf);
	*w = (struct lvm_control_writer){ 0 };
}
