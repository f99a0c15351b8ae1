/*
 * raw_loader: the start-up floor.  Loads a luavmm test guest ELF with the
 * same entry state luavmm gives it (rawvm.c), runs its one vCPU on the main
 * thread and acts as the guest's only devices: COM1 output goes to stdout
 * byte by byte (unbuffered, like luavmm's console), the line status register
 * always reads "transmitter empty", and a write to the debug-exit port ends
 * the process with status (value << 1) | 1.
 *
 * usage: raw_loader [-b [-s [-t]]] [-c N [-p]] GUEST.elf [CMDLINE [MEMORY_MIB]]
 *   -b: the bare floor: no in-kernel irqchip and no PIT (rawvm.h)
 *   -c N: N vCPUs; vCPU 0 runs the guest, the others are only created
 *         (the kernel's own price of a machine that size, rawvm.h)
 *   -p: create vCPUs 1..N-1 on helper threads, one per host CPU
 *   -s: with -b, the in-kernel LAPICs of a split irqchip (as luavmm has)
 *   -t: with -s, a thread per AP blocked in KVM_RUN (waiting for a SIPI)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "rawvm.h"

static void do_io(struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	size_t len = (size_t)run->io.size * run->io.count;
	if (run->io.direction == KVM_EXIT_IO_OUT) {
		if (run->io.port == RAWVM_COM1) {
			for (uint32_t i = 0; i < run->io.count; i++) {
				ssize_t w = write(STDOUT_FILENO, data + i * run->io.size, 1);
				(void)w;
			}
		} else if (run->io.port == RAWVM_DEBUG_EXIT) {
			uint32_t v = 0;
			memcpy(&v, data, run->io.size < 4 ? run->io.size : 4);
			exit((int)((v << 1) | 1) & 0xff);
		}
	} else {
		memset(data, run->io.port == RAWVM_COM1_LSR ? RAWVM_LSR_THRE_TEMT : 0xff, len);
	}
}

int main(int argc, char **argv)
{
	struct rawvm vm = { .ncpus = 1 };
	for (; argc > 1 && argv[1][0] == '-'; argc--, argv++) {
		if (strcmp(argv[1], "-b") == 0) {
			vm.bare = 1;
		} else if (strcmp(argv[1], "-p") == 0) {
			vm.parallel = 1;
		} else if (strcmp(argv[1], "-s") == 0) {
			vm.split = 1;
		} else if (strcmp(argv[1], "-t") == 0) {
			vm.threads = 1;
		} else if (strcmp(argv[1], "-c") == 0 && argc > 2) {
			vm.ncpus = (unsigned)strtoul(argv[2], NULL, 0);
			argc--;
			argv++;
		} else {
			break;
		}
	}
	if (argc < 2 || vm.ncpus < 1) {
		fprintf(stderr, "usage: raw_loader [-b [-s [-t]]] [-c N [-p]] GUEST.elf [CMDLINE [MEMORY_MIB]]\n");
		return 2;
	}
	size_t mib = argc > 3 ? strtoul(argv[3], NULL, 0) : 64;
	if (rawvm_create(&vm, argv[1], argc > 2 ? argv[2] : "", mib << 20) < 0)
		return 2;
	for (;;) {
		if (ioctl(vm.vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("KVM_RUN");
			return 2;
		}
		switch (vm.run->exit_reason) {
		case KVM_EXIT_IO:
			do_io(vm.run);
			break;
		case KVM_EXIT_MMIO:
			if (!vm.run->mmio.is_write)
				memset(vm.run->mmio.data, 0xff, sizeof(vm.run->mmio.data));
			break;
		default:
			fprintf(stderr, "raw_loader: exit reason %u\n", vm.run->exit_reason);
			return 2;
		}
	}
}
