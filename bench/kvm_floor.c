/*
 * kvm_floor: the exit round-trip floor.  Runs a luavmm test guest (meant
 * for pio-loop) exactly like raw_loader, on the main thread, and does
 * nothing at all for an I/O exit it does not know: that is the cheapest
 * possible KVM_RUN -> KVM_EXIT_IO -> KVM_RUN cycle a VMM can have.  COM1 and
 * debug-exit are handled as in raw_loader so the benchmark harness sees the
 * guest's markers and exit status.
 *
 * On exit it reports to stderr how many exits hit LOOP_PORT and the time
 * between the first and the last of them (its own, harness-free view).
 *
 * usage: kvm_floor GUEST.elf [CMDLINE [LOOP_PORT]]   (LOOP_PORT default 0x500)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "rawvm.h"

static unsigned long long loop_exits;
static struct timespec loop_first, loop_last;

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void report(void)
{
	if (loop_exits > 1) {
		double s = seconds_between(&loop_first, &loop_last);
		fprintf(stderr, "kvm_floor: %llu exits on the loop port, %.1f ns each\n",
			loop_exits, s * 1e9 / (double)(loop_exits - 1));
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: kvm_floor GUEST.elf [CMDLINE [LOOP_PORT]]\n");
		return 2;
	}
	const unsigned loop_port = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 0x500;
	const int verbose = getenv("KVM_FLOOR_VERBOSE") != NULL;
	struct rawvm vm;
	if (rawvm_create(&vm, argv[1], argc > 2 ? argv[2] : "", 64u << 20) < 0)
		return 2;
	struct kvm_run *run = vm.run;
	for (;;) {
		if (ioctl(vm.vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("KVM_RUN");
			return 2;
		}
		if (run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "kvm_floor: exit reason %u\n", run->exit_reason);
			return 2;
		}
		uint8_t *data = (uint8_t *)run + run->io.data_offset;
		if (run->io.port == loop_port) {
			if (verbose) {
				clock_gettime(CLOCK_MONOTONIC, loop_exits ? &loop_last : &loop_first);
				loop_exits++;
			}
		} else if (run->io.direction == KVM_EXIT_IO_IN) {
			memset(data, run->io.port == RAWVM_COM1_LSR ? RAWVM_LSR_THRE_TEMT : 0xff,
			       (size_t)run->io.size * run->io.count);
		} else if (run->io.port == RAWVM_COM1) {
			ssize_t w = write(STDOUT_FILENO, data, 1);
			(void)w;
		} else if (run->io.port == RAWVM_DEBUG_EXIT) {
			uint32_t v = 0;
			memcpy(&v, data, run->io.size < 4 ? run->io.size : 4);
			if (verbose)
				report();
			exit((int)((v << 1) | 1) & 0xff);
		}
	}
}
