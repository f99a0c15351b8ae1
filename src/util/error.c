#include "util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512];

static int vformat(const char *fmt, va_list ap, int saved_errno)
{
	int n = vsnprintf(last_error, sizeof(last_error), fmt, ap);
	if (saved_errno && n >= 0 && (size_t)n < sizeof(last_error))
		snprintf(last_error + n, sizeof(last_error) - (size_t)n, ": %s",
			 strerror(saved_errno));
	return -1;
}

int lvm_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vformat(fmt, ap, 0);
	va_end(ap);
	return -1;
}

int lvm_fail_errno(const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;
	va_start(ap, fmt);
	vformat(fmt, ap, saved_errno);
	va_end(ap);
	errno = saved_errno;
	return -1;
}

const char *lvm_error(void)
{
	return last_error[0] ? last_error : "unknown error";
}

int lvm_fail_prefix(const char *fmt, ...)
{
	char saved[sizeof(last_error)], prefix[256];
	snprintf(saved, sizeof(saved), "%s", lvm_error());
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	size_t n = strlen(prefix);
	memcpy(last_error, prefix, n + 1);
	if (n + 1 < sizeof(last_error))
		snprintf(last_error + n, sizeof(last_error) - n, "%s", saved);
	return -1;
}

void lvm_warn(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "luavmm: warning: %s\n", line);
}
