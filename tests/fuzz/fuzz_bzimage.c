/*
 * libFuzzer target for the bzImage setup-header parser and loader
 * (loader_bzimage.c: lvm_bzimage_parse, then lvm_bzimage_load up to the
 * vCPU set-up, with the command line, initrd and device tree placement it
 * does on the way).  Input: an options byte, a command-line length byte,
 * a device-tree length byte, then the file.
 */
#include <stdint.h>

#include "arch/x86/boot/loader_bzimage.h"
#include "fake_vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	uint8_t opt = fz_u8(&in);
	size_t cmdline_len = (size_t)fz_u8(&in) * 16;
	size_t dtb_len = (size_t)fz_u8(&in) * 256;
	uint8_t *file = malloc(in.n ? in.n : 1);
	memcpy(file, in.p, in.n);
	size_t len = in.n;

	struct lvm_bzimage bz;
	lvm_bzimage_detect(file, len);
	if (lvm_bzimage_parse("fuzz", file, len, &bz) == 0 && bz.hdr_len > sizeof(bz.hdr))
		abort();

	if (opt & 1) {
		struct lvm_vm vm;
		struct lvm_vcpu vcpu;
		fake_vm_init(&vm, &vcpu, (opt & 2) ? 8u << 20 : 4u << 20, opt & 4, 1);
		char *cmdline = malloc(cmdline_len + 1);
		memset(cmdline, 'x', cmdline_len);
		cmdline[cmdline_len] = 0;
		void *dtb = dtb_len ? calloc(1, dtb_len) : NULL;
		struct lvm_x86_boot boot = { .kernel = "fuzz", .cmdline = cmdline, .dtb = dtb,
					     .dtb_size = dtb_len };
		if (opt & 8)
			boot.initrd = fake_initrd((uint64_t)(opt >> 4) << 18, file, len);
		lvm_bzimage_load(&vm, &boot, file, len);
		free(dtb);
		free(cmdline);
		fake_vm_free(&vm);
	}
	free(file);
	return 0;
}
