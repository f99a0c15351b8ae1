/*
 * libFuzzer target for virtio-net (net.c): transmit chains of any shape
 * (short, header only, longer than a frame, write-only), received frames
 * of any length into receive buffers of any size, and the per-frame
 * filter.  The tap device is a SOCK_SEQPACKET socket pair: the link flags
 * -Wl,--wrap=open,--wrap=ioctl route net.c's open("/dev/net/tun") and its
 * two tap ioctls here, so no network device is needed.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "devices/virtio/net.h"
#include "fuzz_virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __wrap_open(const char *path, int flags, ...);
int __real_open(const char *path, int flags, ...);
int __wrap_ioctl(int fd, unsigned long request, ...);
int __real_ioctl(int fd, unsigned long request, ...);

static int wire = -1; /* the network's end of the tap */

int __wrap_open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	int mode = (flags & O_CREAT) ? va_arg(ap, int) : 0;
	va_end(ap);
	if (strcmp(path, "/dev/net/tun") != 0)
		return __real_open(path, flags, mode);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	wire = sv[1];
	return sv[0];
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (request == TUNSETIFF || request == TUNSETVNETHDRSZ)
		return 0;
	return __real_ioctl(fd, request, arg);
}

/* Opcode 15: a frame arrives from the network (header + payload). */
static void arrive(struct fv *s, struct fz *in)
{
	static uint8_t frame[70000];
	uint16_t len = fz_u16(in);
	fz_bytes(in, frame, len < 32 ? len : 32);
	ssize_t ignored = send(wire, frame, len, MSG_DONTWAIT);
	(void)ignored;
	(void)s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	static struct fv s;
	fv_vm_init(&s);
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
	struct lvm_net *net = lvm_net_new(&s.vm, 0xd0000000u, 5, "fuzz0", mac);
	if (!net)
		abort();
	s.t = fake_last_transport;
	s.extra = arrive;
	uint8_t nverdicts = fz_u8(&in);
	if (nverdicts & 1) {
		struct fz v = { in.p, in.n < nverdicts ? in.n : nverdicts };
		in.p += v.n;
		in.n -= v.n;
		lvm_net_set_filter(net, fv_filter(&s, v));
	}
	fv_driver_init(&s, &in);
	fv_run(&s, &in);
	lvm_net_free(net);
	close(wire);
	wire = -1;
	fv_vm_free(&s);
	return 0;
}
