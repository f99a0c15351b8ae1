/*
 * libFuzzer target for the control socket's frame parser (the server's
 * non-blocking reader in src/util/control_proto.c).  The first input byte
 * picks how many bytes each read() delivers; the rest is the byte stream
 * a hostile client sends.  Every frame the reader returns is checked
 * against lvm_control_frame_size on the flat stream and echoed through the
 * bounded writer; ASan catches any access outside the buffers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/control_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reader's frame must be the one the flat parser sees at `at`. */
static void check_frame(const uint8_t *stream, size_t fed, size_t at, const char *body,
			size_t len)
{
	long whole = lvm_control_frame_size((const char *)stream + at, fed - at);
	if (whole != (long)(4 + len) || memcmp(body, stream + at + 4, len) != 0)
		abort();
}

/* Echoes a frame into a writer bounded at 64 KiB; resets it when full. */
static void echo(struct lvm_control_writer *w, const char *body, size_t len)
{
	if (!lvm_control_writer_add(w, '0', body, len, 1u << 16)) {
		lvm_control_writer_free(w);
		if (len + 5 <= (1u << 16) && !lvm_control_writer_add(w, '0', body, len, 1u << 16))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 64 + 1;
	const uint8_t *stream = data + 1;
	size_t total = size - 1, fed = 0, at = 0;
	struct lvm_control_reader r = { 0 };
	struct lvm_control_writer w = { 0 };
	int rc = 0;
	while (fed < total && rc >= 0) {
		size_t room, n;
		char *space = lvm_control_reader_space(&r, &room);
		if (!space)
			abort();
		n = total - fed < step ? total - fed : step;
		n = n < room ? n : room;
		memcpy(space, stream + fed, n);
		lvm_control_reader_commit(&r, n);
		fed += n;
		const char *body;
		size_t len;
		while ((rc = lvm_control_reader_next(&r, &body, &len)) > 0) {
			check_frame(stream, fed, at, body, len);
			echo(&w, body, len);
			at += 4 + len;
		}
		if (rc < 0 && lvm_control_frame_size((const char *)stream + at, fed - at) != -1)
			abort();
	}
	lvm_control_reader_free(&r);
	lvm_control_writer_free(&w);
	return 0;
}
