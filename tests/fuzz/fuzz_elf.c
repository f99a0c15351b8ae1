/*
 * libFuzzer target for the ELF64 kernel loader (loader_elf.c), the ELF
 * note reader (elf_note.c) and the PVH loader that uses both
 * (loader_pvh.c).  Input: one byte of options, then the kernel file.
 * The loaders write into a guest RAM of a few MiB; ASan catches anything
 * they touch outside it or outside the file.
 */
#include <stdint.h>

#include "arch/x86/boot/elf_note.h"
#include "arch/x86/boot/loader_elf.h"
#include "arch/x86/boot/loader_pvh.h"
#include "arch/x86/layout.h"
#include "fake_vm.h"
#include "luavmm/bootinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	uint8_t opt = fz_u8(&in);
	/* The file in its own exactly sized allocation: ASan sees overreads. */
	uint8_t *file = malloc(in.n ? in.n : 1);
	memcpy(file, in.p, in.n);
	size_t len = in.n;

	struct lvm_vm vm;
	struct lvm_vcpu vcpu;
	fake_vm_init(&vm, &vcpu, 4u << 20, opt & 1, (opt >> 1) & 1);
	struct lvm_elf_image img;
	uint64_t low = (opt & 4) ? LVM_BOOT_LOW_LIMIT : 0;
	if (opt & 8)
		lvm_elf64_load(&vm.mem, "fuzz", file, len, low, &img);
	else
		lvm_elf64_load_segments(&vm.mem, "fuzz", file, len, low, &img);

	const uint8_t *desc;
	uint32_t descsz;
	if (lvm_elf64_find_note("fuzz", file, len, LVM_ELFNOTE_NAME, LVM_ELFNOTE_BOOTINFO, &desc,
				&descsz) == 1) {
		volatile uint8_t sink = 0;
		for (uint32_t i = 0; i < descsz; i++)
			sink ^= desc[i];
		(void)sink;
	}
	uint32_t entry;
	lvm_pvh_find_entry("fuzz", file, len, &entry);

	if (opt & 16) {
		struct lvm_x86_boot boot = { .kernel = "fuzz", .cmdline = "console=ttyS0" };
		if (opt & 32)
			boot.initrd = fake_initrd((uint64_t)(opt >> 6) << 19, file, len);
		lvm_pvh_load(&vm, &boot, file, len);
	}
	fake_vm_free(&vm);
	free(file);
	return 0;
}
