/*
 * libFuzzer target for boot-kind detection (boot_kind.c): every probe
 * boot = "auto" runs over a file (luavmm note, "HdrS", multiboot header,
 * PVH note, ELF magic), and the recipe's explicit names.  Input: a byte
 * choosing the requested kind, then the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot/boot_kind.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const requested[] = { NULL, "auto", "elf64", "pvh", "bzimage",
						  "multiboot", "", "AUTO", "pvh " };
	if (size < 1)
		return 0;
	const char *req = requested[data[0] % (sizeof(requested) / sizeof(requested[0]))];
	uint8_t *file = malloc(size - 1 ? size - 1 : 1);
	memcpy(file, data + 1, size - 1);
	int kind = lvm_x86_boot_kind("fuzz", req, file, size - 1);
	if (kind >= 0 && !lvm_x86_boot_kind_name((enum lvm_boot_kind)kind))
		abort();
	free(file);
	return 0;
}
