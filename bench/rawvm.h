/*
 * rawvm: the smallest honest way to run a luavmm test guest on bare KVM.
 *
 * Shared by raw_loader.c (the start-up floor) and kvm_floor.c (the exit
 * round-trip floor).  It builds the same machine luavmm builds for a 64-bit
 * ELF guest -- in-kernel irqchip + PIT2, memfd-backed RAM in one slot, the
 * host's supported CPUID, the long-mode entry state documented in
 * include/luavmm/bootinfo.h -- and nothing else (with `bare` set, not even
 * the irqchip and the PIT: the cheapest VM KVM will run): no devices, no threads, no
 * event loop.  With `ncpus` > 1 the extra vCPUs are created and left alone.  The caller runs KVM_RUN on the returned vCPU itself.
 */
#ifndef BENCH_RAWVM_H
#define BENCH_RAWVM_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

struct rawvm {
	int bare; /* set before rawvm_create: no in-kernel irqchip and no PIT */
	/* Set before rawvm_create (0 means 1): the vCPU count.  vCPU 0 is set up
	 * and run as always; the others are only created (KVM_CREATE_VCPU, as
	 * many ids as asked), never configured or run: what the kernel alone
	 * charges for a machine of that size.  With `parallel` they are created
	 * by one helper thread per host CPU while vCPU 0 is being set up. */
	unsigned ncpus;
	int parallel;
	/* Set before rawvm_create, with `bare`: the in-kernel LAPICs of a split
	 * irqchip (KVM_CAP_SPLIT_IRQCHIP, as luavmm's default machine has), no
	 * PIC, IOAPIC or PIT.  Each vCPU then costs what luavmm's cost KVM. */
	int split;
	/* Set before rawvm_create, with `split`: each vCPU but 0 gets a thread
	 * blocked in KVM_RUN (an AP waiting for its SIPI), as a VMM gives every
	 * vCPU; exit() ends them (the kernel kills and reaps them). */
	int threads;
	int kvm_fd, vm_fd, vcpu_fd, mem_fd;
	uint8_t *mem;
	size_t mem_size;
	struct kvm_run *run;
};

/* Builds the VM and loads elf_path; prints to stderr and returns -1 on failure. */
int rawvm_create(struct rawvm *vm, const char *elf_path, const char *cmdline, size_t mem_size);

/* The conventional COM1 and isa-debug-exit ports the test guests use. */
#define RAWVM_COM1 0x3f8u
#define RAWVM_COM1_LSR (RAWVM_COM1 + 5)
#define RAWVM_LSR_THRE_TEMT 0x60u
#define RAWVM_DEBUG_EXIT 0xf4u

#endif
