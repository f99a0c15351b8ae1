/*
 * A struct lvm_vm with no KVM behind it, for the loader targets: guest RAM
 * from fuzz_input.h and one vCPU whose fd is -1, so a loader runs to its
 * last step (setting the vCPU's registers) and then fails cleanly there.
 * Also an initrd file the target sizes per input (a memfd, named through
 * /proc/self/fd so the loaders open it by path like a recipe's file).
 */
#ifndef LVM_FUZZ_FAKE_VM_H
#define LVM_FUZZ_FAKE_VM_H

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "kvm/vm.h"

static inline void fake_vm_init(struct lvm_vm *vm, struct lvm_vcpu *vcpu, uint64_t ram,
				int split, int untouched)
{
	memset(vm, 0, sizeof(*vm));
	memset(vcpu, 0, sizeof(*vcpu));
	vm->kvm_fd = vm->vm_fd = -1;
	fz_mem_init(&vm->mem, ram, split, untouched);
	vcpu->vm = vm;
	vcpu->fd = -1;
	vm->ncpus = 1;
	vm->vcpus = vcpu;
}

static inline void fake_vm_free(struct lvm_vm *vm)
{
	fz_mem_free(&vm->mem);
}

/* The path of a file of `size` bytes (its first bytes `head`), reused across inputs. */
static inline const char *fake_initrd(uint64_t size, const void *head, size_t head_len)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("fuzz-initrd", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0)
		abort();
	if (head_len > size)
		head_len = (size_t)size;
	if (head_len && pwrite(fd, head, head_len, 0) != (ssize_t)head_len)
		abort();
	return path;
}

#endif
