/* Reading whole input files (kernels, initrds) with errors that name them. */
#ifndef LVM_UTIL_FILE_H
#define LVM_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/*
 * Opens `path` for reading if it is a regular file, without blocking on a
 * FIFO; fills *st.  Otherwise -1 with a one-line error naming `what` and
 * the path ("kernel /x: not a regular file (a FIFO)").
 */
int lvm_open_regular(const char *what, const char *path, struct stat *st);

/*
 * Reads `path` into a malloc'd buffer.  `what` names the file's role in
 * error messages ("kernel"); files larger than `max_size` are refused.
 */
uint8_t *lvm_read_file(const char *what, const char *path, uint64_t max_size, size_t *size);

#endif
