#include "util/control_proto.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Moves all `len` bytes in one direction, riding out EINTR and short counts. */
static int transfer_all(int fd, char *p, size_t len, bool sending)
{
	while (len > 0) {
		ssize_t n = sending ? write(fd, p, len) : read(fd, p, len);
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

int lvm_control_send(int fd, const void *data, size_t len)
{
	unsigned char head[4] = { (unsigned char)len, (unsigned char)(len >> 8),
				  (unsigned char)(len >> 16), (unsigned char)(len >> 24) };
	if (len > LVM_CONTROL_MAX_MESSAGE) {
		errno = EMSGSIZE;
		return -1;
	}
	return write_all(fd, head, 4) < 0 ? -1 : write_all(fd, data, len);
}

static uint32_t decode(const unsigned char *h)
{
	return (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
}

long lvm_control_recv(int fd, char **out)
{
	unsigned char head[4];
	if (read_all(fd, head, 4) < 0)
		return -1;
	uint32_t len = decode(head);
	if (len > LVM_CONTROL_MAX_MESSAGE)
		return -1;
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
