/*
 * The control socket's framing, shared by the server (src/lua/control.c)
 * and `luavmm attach`.  Every message is a 4-byte little-endian length
 * followed by that many bytes.  A request is a Lua chunk; a reply starts
 * with one status byte ('0' ok, '1' error) followed by text.
 */
#ifndef LVM_UTIL_CONTROL_PROTO_H
#define LVM_UTIL_CONTROL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define LVM_CONTROL_MAX_MESSAGE (1u << 20)

/* Writes one message (blocking); 0 or -1 (errno set). */
int lvm_control_send(int fd, const void *data, size_t len);
/* Reads one whole message (blocking) into a malloc'd buffer (NUL-terminated);
 * returns its length, or -1 on EOF/error/oversize. */
long lvm_control_recv(int fd, char **out);
/* If buf[0, len) holds a whole message, returns its total size (4 + body); else 0;
 * -1 if the announced size is too big. */
long lvm_control_frame_size(const char *buf, size_t len);

#endif
