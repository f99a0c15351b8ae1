#include "arch/x86/boot/setup_data.h"

#include <string.h>

#include "util/error.h"

int lvm_x86_setup_data_add_dtb(struct lvm_memory *mem, struct boot_params *bp, uint64_t addr,
			       uint64_t end, const void *dtb, size_t size)
{
	if (!dtb || size == 0)
		return 0;
	uint64_t need = sizeof(struct setup_data) + size;
	/* The kernel reads the 64-bit fields in place: keep the node 8-byte aligned. */
	if ((addr & 7) || addr > end || need > end - addr || size > UINT32_MAX)
		return lvm_fail("setup_data: a %zu-byte device tree does not fit at 0x%llx", size,
				(unsigned long long)addr);
	struct setup_data *node = lvm_memory_ptr(mem, addr, need);
	if (!node)
		return lvm_fail("memory: too small for setup_data");
	node->next = bp->hdr.setup_data;
	node->type = SETUP_DTB;
	node->len = (uint32_t)size;
	memcpy(node->data, dtb, size);
	bp->hdr.setup_data = addr;
	return 0;
}
