/*
 * The control socket's framing, shared by the server (src/lua/control.c)
 * and `luavmm attach`.  Every message is a 4-byte little-endian length
 * followed by that many bytes, at most LVM_CONTROL_MAX_MESSAGE in either
 * direction.  A request is a Lua chunk; a reply starts with one status
 * byte ('0' ok, '1' error) followed by text.  Every write uses
 * MSG_NOSIGNAL: a peer that went away is an error, never a SIGPIPE.
 */
#ifndef LVM_UTIL_CONTROL_PROTO_H
#define LVM_UTIL_CONTROL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LVM_CONTROL_MAX_MESSAGE (1u << 20)

/* Writes one message (blocking); 0 or -1 (errno set; EMSGSIZE if too long). */
int lvm_control_send(int fd, const void *data, size_t len);
/* Reads one whole message (blocking) into a malloc'd buffer (NUL-terminated);
 * returns its length, or -1 on EOF/error/oversize (errno EMSGSIZE). */
long lvm_control_recv(int fd, char **out);
/* If buf[0, len) holds a whole message, returns its total size (4 + body); else 0;
 * -1 if the announced size is too big. */
long lvm_control_frame_size(const char *buf, size_t len);

/* Incoming bytes of one connection, cut into frames (non-blocking servers). */
struct lvm_control_reader {
	char *buf;
	size_t start, len, cap; /* unparsed bytes are buf[start, len) */
};

/* Where the next read may put bytes (*room of them); NULL without memory. */
char *lvm_control_reader_space(struct lvm_control_reader *r, size_t *room);
void lvm_control_reader_commit(struct lvm_control_reader *r, size_t n);
/* 1: the next whole frame's body is at *body (*len bytes, valid until the
 * next lvm_control_reader_space); 0: none yet; -1: it announces more than
 * the limit (its announced size in *len). */
int lvm_control_reader_next(struct lvm_control_reader *r, const char **body, size_t *len);
void lvm_control_reader_free(struct lvm_control_reader *r);

/* Replies waiting for a non-blocking socket, bounded per connection. */
struct lvm_control_writer {
	char *buf;
	size_t start, len, cap; /* unsent bytes are buf[start, len) */
};

/* Queues one frame of a status byte and `text`; false if the queue would
 * pass `bound` bytes or memory ran out (the caller drops the peer). */
bool lvm_control_writer_add(struct lvm_control_writer *w, char status, const char *text,
			    size_t len, size_t bound);
/* Sends what the socket takes now; -1 if the peer is gone, else 0. */
int lvm_control_writer_flush(struct lvm_control_writer *w, int fd);
static inline bool lvm_control_writer_pending(const struct lvm_control_writer *w)
{
	return w->len > w->start;
}
void lvm_control_writer_free(struct lvm_control_writer *w);

#endif
