/*
 * libFuzzer target for the multiboot v1 loader (loader_multiboot.c): the
 * header search, the a.out kludge's address fields, ELF32/ELF64 images,
 * and the info structure lvm_multiboot_load writes.  Input: an options
 * byte, then the kernel file.
 */
#include <stdint.h>

#include "arch/x86/boot/loader_multiboot.h"
#include "fake_vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	uint8_t opt = fz_u8(&in);
	uint8_t *file = malloc(in.n ? in.n : 1);
	memcpy(file, in.p, in.n);
	size_t len = in.n;

	struct lvm_mb_header h;
	long off = lvm_multiboot_find_header(file, len, &h);
	if (off >= 0 && ((size_t)off + 12 > len || off % 4))
		abort();

	struct lvm_vm vm;
	struct lvm_vcpu vcpu;
	fake_vm_init(&vm, &vcpu, 4u << 20, opt & 1, (opt >> 1) & 1);
	struct lvm_mb_image img;
	if (lvm_multiboot_load_image(&vm.mem, "fuzz", file, len, &img) == 0 &&
	    (img.entry < img.lowest || img.entry >= img.highest))
		abort();
	if (opt & 4) {
		struct lvm_x86_boot boot = { .kernel = "fuzz", .cmdline = "multiboot" };
		if (opt & 8)
			boot.initrd = fake_initrd((uint64_t)(opt >> 4) << 18, file, len);
		lvm_multiboot_load(&vm, &boot, file, len);
	}
	fake_vm_free(&vm);
	free(file);
	return 0;
}
