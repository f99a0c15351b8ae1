#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

static uint8_t *read_all(int fd, const char *what, const char *path, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf) {
		lvm_fail("%s %s: out of memory for %zu bytes", what, path, size);
		return NULL;
	}
	size_t done = 0;
	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				lvm_fail_errno("%s %s: read", what, path);
			else
				lvm_fail("%s %s: file shrank while reading", what, path);
			free(buf);
			return NULL;
		}
		done += (size_t)n;
	}
	return buf;
}

static const char *kind_of(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a regular file";
}

/*
 * O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
 * forever.  Regular files ignore the flag; it is cleared all the same.
 */
int lvm_open_regular(const char *what, const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return lvm_fail_errno("%s %s: cannot open", what, path);
	if (fstat(fd, st) < 0) {
		lvm_fail_errno("%s %s: stat", what, path);
	} else if (!S_ISREG(st->st_mode)) {
		lvm_fail("%s %s: not a regular file (%s)", what, path, kind_of(st->st_mode));
	} else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		lvm_fail_errno("%s %s: fcntl", what, path);
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

uint8_t *lvm_read_file(const char *what, const char *path, uint64_t max_size, size_t *size)
{
	struct stat st;
	int fd = lvm_open_regular(what, path, &st);
	if (fd < 0)
		return NULL;
	uint8_t *buf = NULL;
	if ((uint64_t)st.st_size > max_size) {
		lvm_fail("%s %s: %llu bytes is larger than guest RAM (%llu bytes)", what, path,
			 (unsigned long long)st.st_size, (unsigned long long)max_size);
	} else {
		buf = read_all(fd, what, path, (size_t)st.st_size);
		*size = (size_t)st.st_size;
	}
	close(fd);
	return buf;
}
