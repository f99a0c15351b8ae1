/*
 * Linux's bzImage, loaded the way Documentation/arch/x86/boot.rst
 * describes ("THE LINUX/x86 BOOT PROTOCOL"): the real-mode setup code is
 * skipped, its setup header is copied into a struct boot_params (the "zero
 * page") that we fill in, and the protected-mode kernel is entered at its
 * 64-bit entry point (load address + 0x200) in long mode with RSI pointing
 * at boot_params ("64-bit BOOT PROTOCOL").
 */
#ifndef LVM_ARCH_X86_BOOT_LOADER_BZIMAGE_H
#define LVM_ARCH_X86_BOOT_LOADER_BZIMAGE_H

#include <asm/bootparam.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/boot/boot_data.h"
#include "kvm/vm.h"

#define LVM_BZIMAGE_MIN_VERSION 0x0206u /* cmdline_size appeared in 2.06 */
#define LVM_BZIMAGE_LOADER_ID   0xffu   /* boot.rst: "no assigned id" */

struct lvm_bzimage {
	struct setup_header hdr; /* as found in the file; fields past hdr_len are 0 */
	size_t hdr_len;          /* bytes of it the file defines, from offset 0x1f1 */
	uint64_t kernel_offset;  /* file offset of the protected-mode kernel */
	uint64_t kernel_size;
	uint64_t load_addr;      /* preferred load address */
	uint64_t mem_needed;     /* bytes from load_addr the kernel needs (init_size) */
	uint64_t alignment;      /* kernel_alignment when relocatable, else 0 */
	uint64_t cmdline_max;    /* cmdline_size: longest command line without the NUL */
	uint64_t initrd_addr_max;
};

/* True if the file has the "HdrS" setup-header signature at 0x202. */
bool lvm_bzimage_detect(const uint8_t *data, size_t size);
/* Validates the setup header of `data` (named `path` in errors). */
int lvm_bzimage_parse(const char *path, const uint8_t *data, size_t size,
		      struct lvm_bzimage *out);
/* Loads the kernel, initrd, command line and boot_params; sets up vCPU 0. */
int lvm_bzimage_load(struct lvm_vm *vm, const struct lvm_x86_boot *boot,
		     const uint8_t *data, size_t size);

#endif
