/*
 * libFuzzer target for what every boot protocol places the same way
 * (boot_data.c): the command line against a kernel's limit, and the
 * initrd's placement between the kernel's end and the protocol's highest
 * address, for a file of any size.  Input: a RAM layout byte, the limit,
 * lowest, addr_max and initrd size, then the command line.
 */
#include <stdint.h>

#include "arch/x86/boot/boot_data.h"
#include "arch/x86/layout.h"
#include "fake_vm.h"
#include "luavmm/bootinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	uint8_t opt = fz_u8(&in);
	uint64_t max_len = fz_u64(&in);
	uint64_t lowest = fz_u64(&in);
	uint64_t addr_max = fz_u64(&in);
	uint64_t rd_size = fz_u64(&in);
	char *cmdline = malloc(in.n + 1);
	memcpy(cmdline, in.p, in.n);
	cmdline[in.n] = 0;

	struct lvm_memory mem;
	fz_mem_init(&mem, (opt & 2) ? 8u << 20 : 4u << 20, opt & 1, 1);
	uint64_t len;
	if (lvm_x86_write_cmdline(&mem, (opt & 4) ? NULL : cmdline, max_len, "the limit", &len) == 0) {
		const char *at = lvm_memory_ptr(&mem, LVM_BOOT_CMDLINE_ADDR, len + 1);
		if (!at || at[len] != 0 || len > max_len)
			abort();
	}
	uint64_t addr;
	if (lvm_x86_initrd_place(&mem, rd_size, lowest, addr_max, &addr) == 0) {
		/* Where it went must be RAM, page aligned, and inside both limits. */
		if (addr % LVM_INITRD_ALIGN || addr < lowest || !lvm_memory_ptr(&mem, addr, rd_size) ||
		    (rd_size && addr + rd_size - 1 > addr_max))
			abort();
	}
	if (opt & 8) {
		struct lvm_x86_initrd rd;
		const char *path = fake_initrd(rd_size % (16u << 20), cmdline, in.n);
		if (lvm_x86_load_initrd(&mem, path, lowest, addr_max, "addr_max", &rd) == 0 &&
		    !lvm_memory_ptr(&mem, rd.addr, rd.size))
			abort();
	}
	fz_mem_free(&mem);
	free(cmdline);
	return 0;
}
