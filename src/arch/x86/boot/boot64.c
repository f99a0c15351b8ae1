#include "arch/x86/boot/boot64.h"

#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/error.h"
#include "luavmm/bootinfo.h"

#define X86_CR0_PE (1ull << 0)
#define X86_CR0_MP (1ull << 1)
#define X86_CR0_ET (1ull << 4)
#define X86_CR0_NE (1ull << 5)
#define X86_CR0_WP (1ull << 16)
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define X86_CR4_OSFXSR (1ull << 9)
#define X86_CR4_OSXMMEXCPT (1ull << 10)
#define X86_EFER_SCE (1ull << 0)
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_LMA (1ull << 10)

#define PTE_PRESENT (1ull << 0)
#define PTE_WRITE (1ull << 1)
#define PTE_USER (1ull << 2)
#define PTE_LARGE (1ull << 7)

#define IDENTITY_MAP_GIB 4
#define PAGE 4096u

/* Flat descriptors (SDM vol. 3A §3.4.5): 64-bit code, and 4 GiB data. */
static const uint64_t boot_gdt[] = {
	0,
	0,
	0x00af9b000000ffffull, /* 0x10: code, L=1, DPL 0 */
	0x00cf93000000ffffull, /* 0x18: data, read/write */
};

/*
 * PML4 -> one PDPT -> four page directories of 2 MiB pages, mapping
 * [0, 4 GiB) 1:1.  U/S is set everywhere so test guests can run ring-3
 * code on these tables without building their own.
 */
static int write_page_tables(struct lvm_vm *vm)
{
	const uint64_t pml4_gpa = LVM_BOOT_PML4_ADDR, pdpt_gpa = pml4_gpa + PAGE;
	const uint64_t pd_gpa = pdpt_gpa + PAGE, flags = PTE_PRESENT | PTE_WRITE | PTE_USER;
	uint64_t *tables = lvm_memory_ptr(&vm->mem, pml4_gpa, (2 + IDENTITY_MAP_GIB) * PAGE);
	if (!tables)
		return lvm_fail("memory: too small for the boot page tables");
	memset(tables, 0, (2 + IDENTITY_MAP_GIB) * PAGE);
	uint64_t *pml4 = tables, *pdpt = tables + 512, *pd = tables + 1024;
	pml4[0] = pdpt_gpa | flags;
	for (unsigned g = 0; g < IDENTITY_MAP_GIB; g++)
		pdpt[g] = (pd_gpa + g * PAGE) | flags;
	for (uint64_t i = 0; i < IDENTITY_MAP_GIB * 512ull; i++)
		pd[i] = (i << 21) | flags | PTE_LARGE;
	return 0;
}

int lvm_x86_write_long_mode_tables(struct lvm_vm *vm)
{
	void *gdt = lvm_memory_ptr(&vm->mem, LVM_BOOT_GDT_ADDR, sizeof(boot_gdt));
	if (!gdt)
		return lvm_fail("memory: too small for the boot GDT");
	memcpy(gdt, boot_gdt, sizeof(boot_gdt));
	return write_page_tables(vm);
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = code ? 0 : 1, /* a 64-bit code segment has D=0, L=1 */
		.s = 1,
		.l = code ? 1 : 0,
		.g = 1,
	};
}

int lvm_x86_enter_long_mode(struct lvm_vcpu *vcpu, uint64_t entry, uint64_t rsi)
{
	struct kvm_sregs sregs;
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return lvm_fail_errno("vcpu %u: KVM_GET_SREGS", vcpu->index);
	sregs.cs = flat_segment(LVM_BOOT_CODE_SEL, 0xb, true);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
		flat_segment(LVM_BOOT_DATA_SEL, 0x3, false);
	sregs.gdt.base = LVM_BOOT_GDT_ADDR;
	sregs.gdt.limit = sizeof(boot_gdt) - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	sregs.cr3 = LVM_BOOT_PML4_ADDR;
	sregs.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	sregs.efer = X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return lvm_fail_errno("vcpu %u: KVM_SET_SREGS (long mode)", vcpu->index);

	struct kvm_regs regs;
	memset(&regs, 0, sizeof(regs));
	regs.rip = entry;
	regs.rsi = rsi;
	regs.rsp = LVM_BOOT_STACK_TOP;
	regs.rflags = 0x2; /* bit 1 is reserved and reads as one */
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return lvm_fail_errno("vcpu %u: KVM_SET_REGS", vcpu->index);
	return 0;
}
