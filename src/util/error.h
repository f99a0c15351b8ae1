/*
 * One error message per thread.  Core functions that fail return -1 (or
 * NULL) and leave a one-line, human-readable explanation here; the caller
 * (the Lua binding or main) decides how to show it.
 */
#ifndef LVM_UTIL_ERROR_H
#define LVM_UTIL_ERROR_H

#if defined(__GNUC__)
#define LVM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LVM_PRINTF(a, b)
#endif

/* Sets the message; always returns -1 so callers can `return lvm_fail(...)`. */
int lvm_fail(const char *fmt, ...) LVM_PRINTF(1, 2);
/* Like lvm_fail, appending ": strerror(errno)". */
int lvm_fail_errno(const char *fmt, ...) LVM_PRINTF(1, 2);
/* Puts the formatted text in front of the current message ("disks.root." +
 * "path: cannot open ..."); returns -1. */
int lvm_fail_prefix(const char *fmt, ...) LVM_PRINTF(1, 2);
const char *lvm_error(void);
/* One line on stderr: "luavmm: warning: ..." (something worked, but not as asked). */
void lvm_warn(const char *fmt, ...) LVM_PRINTF(1, 2);

#endif
