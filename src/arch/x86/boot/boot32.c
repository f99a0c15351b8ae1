#include "arch/x86/boot/boot32.h"

#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/layout.h"
#include "util/error.h"

/* Flat 4 GiB descriptors (SDM vol. 3A §3.4.5): 32-bit code, data. */
static const uint64_t gdt32[] = {
	0,
	0x00cf9b000000ffffull, /* 0x08: code, D=1, DPL 0 */
	0x00cf93000000ffffull, /* 0x10: data, read/write */
};

static struct kvm_segment segment32(uint16_t selector, uint8_t type)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
}

static int set_sregs32(struct lvm_vcpu *vcpu)
{
	struct kvm_sregs sregs;
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return lvm_fail_errno("vcpu %u: KVM_GET_SREGS", vcpu->index);
	sregs.cs = segment32(LVM_BOOT32_CODE_SEL, 0xb);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
		segment32(LVM_BOOT32_DATA_SEL, 0x3);
	/* PVH: "TR: must be a 32-bit TSS (active) with a base of '0' and a
	 * limit of '0x67'". */
	sregs.tr = (struct kvm_segment){ .limit = 0x67, .type = 0xb, .present = 1 };
	sregs.gdt.base = LVM_BOOT_GDT32_ADDR;
	sregs.gdt.limit = sizeof(gdt32) - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = 0x11; /* PE | ET; paging off */
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return lvm_fail_errno("vcpu %u: KVM_SET_SREGS (protected mode)", vcpu->index);
	return 0;
}

int lvm_x86_enter_protected_mode(struct lvm_vm *vm, struct lvm_vcpu *vcpu, uint32_t entry,
				 uint32_t eax, uint32_t ebx)
{
	void *gdt = lvm_memory_ptr(&vm->mem, LVM_BOOT_GDT32_ADDR, sizeof(gdt32));
	if (!gdt)
		return lvm_fail("memory: too small for the boot GDT");
	memcpy(gdt, gdt32, sizeof(gdt32));
	if (set_sregs32(vcpu) < 0)
		return -1;
	struct kvm_regs regs;
	memset(&regs, 0, sizeof(regs));
	regs.rip = entry;
	regs.rax = eax;
	regs.rbx = ebx;
	regs.rflags = 0x2; /* IF and VM clear; bit 1 reads as one */
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return lvm_fail_errno("vcpu %u: KVM_SET_REGS", vcpu->index);
	return 0;
}
