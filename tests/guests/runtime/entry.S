/*
 * Guest entry, descriptor tables, exception stubs and the ring-3 switch.
 *
 * Two ways in, one 64-bit path (see ../README for the full contract):
 *   _start     luavmm: 64-bit long mode, paging on, RSI = struct lvm_bootinfo
 *   pvh_entry  PVH (QEMU -M microvm/pc -kernel): 32-bit protected mode,
 *              paging off, EBX = struct hvm_start_info
 *
 * CPL 0 is emulated on the development host (~8000x slower than native), so
 * nothing here loops: the GDT, TSS, IDT and the PVH path's page tables are
 * all laid out at assembly/link time.  The address fields the assembler
 * cannot split (IDT gate offsets, the TSS base) come from symbols computed by
 * the linker script (guest.ld).
 */

#define KCODE  0x10 /* same values as luavmm's boot GDT */
#define KDATA  0x18
#define UDATA  0x20 /* user data then user code: the order SYSRET wants */
#define UCODE  0x28
#define TSSSEL 0x30

#define USER_RFLAGS 0x3002 /* IOPL = 3, IF = 0, reserved bit 1 */

#define CR0_BOOT 0x80010033 /* PG | WP | NE | ET | MP | PE */
#define CR4_BOOT 0x620      /* OSXMMEXCPT | OSFXSR | PAE */
#define MSR_EFER 0xc0000080
#define EFER_BOOT 0x101     /* LME | SCE */

#define ISR_STUB_SIZE 16

/* ------------------------------------------------------------------ */
/* The PVH ELF note: Xen's XEN_ELFNOTE_PHYS32_ENTRY (18).  The value is a
 * 32-bit physical address, stored as 8 bytes like Linux's vmlinux does
 * (QEMU reads a 64-bit word from a 64-bit ELF).  Note alignment must be 4:
 * QEMU pads the name to the PT_NOTE segment's p_align. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4f - 3f		/* namesz */
	.long 6f - 5f		/* descsz */
	.long 18		/* type */
3:	.asciz "Xen"
4:	.balign 4
5:	.quad pvh_entry
6:	.balign 4

/* ------------------------------------------------------------------ */
	.section .text.entry, "ax"
	.code64
	.globl _start
_start:
	/* luavmm: long mode already; RSI = struct lvm_bootinfo. */
	mov	$kstack_top, %rsp
	mov	%rsi, %r12
	xor	%r13d, %r13d		/* BOOT_LUAVMM */
	jmp	common64

	.code32
	.globl pvh_entry
pvh_entry:
	/* PVH: flat 32-bit protected mode, paging off, no usable stack. */
	mov	%ebx, %esi
	lgdt	gdt_ptr
	mov	$pvh_pml4, %eax
	mov	%eax, %cr3
	mov	$CR4_BOOT, %eax
	mov	%eax, %cr4
	mov	$MSR_EFER, %ecx
	mov	$EFER_BOOT, %eax
	xor	%edx, %edx
	wrmsr
	mov	$CR0_BOOT, %eax
	mov	%eax, %cr0
	ljmp	$KCODE, $pvh64

	.code64
pvh64:
	mov	%esi, %r12d		/* zero-extends */
	mov	$1, %r13d		/* BOOT_PVH */
	mov	$kstack_top, %rsp

common64:
	cld
	call	guest_early		/* e.g. hello's greeting, as early as possible */

	lgdt	gdt_ptr(%rip)
	pushq	$KCODE
	lea	1f(%rip), %rax
	pushq	%rax
	lretq
1:	mov	$KDATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%eax, %fs
	mov	%eax, %gs
	mov	$TSSSEL, %eax
	ltr	%ax
	lidt	idt_ptr(%rip)

	mov	%r13d, %edi
	mov	%r12, %rsi
	call	rt_start		/* never returns */
	ud2

/* ------------------------------------------------------------------ */
/* uint64_t run_user(uint64_t (*fn)(uint64_t), uint64_t arg) */
	.text
	.globl run_user
	.type run_user, @function
run_user:
	push	%rbp
	push	%rbx
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, saved_ksp(%rip)
	mov	$(UDATA | 3), %eax
	mov	%eax, %ds
	mov	%eax, %es
	pushq	$(UDATA | 3)		/* SS */
	pushq	$ustack_top		/* RSP */
	pushq	$USER_RFLAGS		/* RFLAGS */
	pushq	$(UCODE | 3)		/* CS */
	pushq	$user_trampoline	/* RIP */
	iretq				/* RDI = fn, RSI = arg survive */
	.size run_user, . - run_user

user_trampoline:			/* CPL 3 */
	mov	%rdi, %rax
	mov	%rsi, %rdi
	call	*%rax
	mov	%rax, %rdi
	int3				/* back to ring 0: #BP, DPL-3 gate */
user_return_rip:
	ud2

	/* #BP: the ring-3 return if it comes from user_trampoline's int3,
	 * otherwise an ordinary exception. */
bp_entry:
	cmpq	$user_return_rip, (%rsp)
	jne	1f
	testb	$3, 8(%rsp)
	jnz	user_return
1:	pushq	$0
	pushq	$3
	jmp	isr_common

user_return:				/* CPL 0, on the TSS's RSP0 stack */
	mov	saved_ksp(%rip), %rsp
	mov	$KDATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%rdi, %rax
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	ret

/* ------------------------------------------------------------------ */
/* Interrupt stubs, ISR_STUB_SIZE bytes each, for vectors 0..31 (3, #BP,
 * goes to bp_entry).  guest.ld puts this section first, at 1 MiB. */
	.section .text.isr, "ax"
	.balign 4096
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 32
0:	.if vec == 3
	jmp	bp_entry
	.elseif vec == 8 || vec == 10 || vec == 11 || vec == 12 || vec == 13 || vec == 14 || vec == 17 || vec == 21 || vec == 29 || vec == 30
	.else
	pushq	$0			/* no error code from the CPU */
	.endif
	pushq	$vec
	jmp	isr_common
	.org	0b + ISR_STUB_SIZE, 0xcc
	.set vec, vec + 1
	.endr

isr_common:
	/* vector, error, rip, cs, rflags, rsp, ss */
	mov	%rsp, %rdi
	and	$-16, %rsp
	call	rt_exception		/* never returns */
	ud2

/* ------------------------------------------------------------------ */
	.data
	.balign 16
gdt:
	.quad 0
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x10 KCODE: 64-bit, DPL 0 */
	.quad 0x00cf93000000ffff	/* 0x18 KDATA */
	.quad 0x00cff3000000ffff	/* 0x20 UDATA: DPL 3 */
	.quad 0x00affb000000ffff	/* 0x28 UCODE: 64-bit, DPL 3 */
	.word tss_end - tss - 1		/* 0x30 TSS */
	.word tss_base_0_15
	.byte tss_base_16_23
	.byte 0x89			/* present, available 64-bit TSS */
	.byte 0
	.byte tss_base_24_31
	.long tss_base_32_63
	.long 0
gdt_end:

	.balign 8
	.word 0, 0, 0
gdt_ptr:				/* also read by lgdt in 32-bit mode */
	.word gdt_end - gdt - 1
	.quad gdt

	.balign 8
	.word 0, 0, 0
idt_ptr:
	.word idt_end - idt - 1
	.quad idt

	.balign 16
tss:
	.long 0
	.quad trap_stack_top		/* RSP0: exceptions (and the return) from ring 3 */
	.quad 0, 0			/* RSP1, RSP2 */
	.quad 0
	.quad df_stack_top		/* IST1: double fault */
	.quad 0, 0, 0, 0, 0, 0		/* IST2..7 */
	.quad 0
	.word 0
	.word iomap - tss		/* I/O permission bitmap offset */
iomap:	.fill 8192, 1, 0		/* every port allowed at ring 3 */
	.byte 0xff			/* required terminator */
tss_end:
	.globl tss
	.size tss, . - tss

/* Interrupt gates: offset 0..15, selector, IST, type/DPL, offset 16..31,
 * offset 32..63, reserved.  guest.ld checks the stubs do not straddle a
 * 64 KiB boundary, so only the low 16 bits vary. */
	.balign 16
idt:
	.set vec, 0
	.rept 32
	.word isr_stubs_0_15 + vec * ISR_STUB_SIZE
	.word KCODE
	.if vec == 8
	.byte 1				/* #DF on IST1 */
	.else
	.byte 0
	.endif
	.if vec == 3
	.byte 0xee			/* present, DPL 3: int3 allowed at ring 3 */
	.else
	.byte 0x8e			/* present, DPL 0, interrupt gate */
	.endif
	.word isr_stubs_16_31
	.long isr_stubs_32_63
	.long 0
	.set vec, vec + 1
	.endr
idt_end:

/* The PVH path's identity map of [0, 4 GiB): PML4 -> PDPT -> 4 page
 * directories of 2 MiB pages, P | RW | US (| PS), like luavmm's own tables.
 * luavmm boots keep using the VMM's tables. */
	.section .data.pgt, "aw"
	.balign 4096
pvh_pml4:
	.quad pvh_pdpt + 0x7
	.fill 511, 8, 0
pvh_pdpt:
	.quad pvh_pd + 0x0000 + 0x7
	.quad pvh_pd + 0x1000 + 0x7
	.quad pvh_pd + 0x2000 + 0x7
	.quad pvh_pd + 0x3000 + 0x7
	.fill 508, 8, 0
pvh_pd:
	.set i, 0
	.rept 2048
	.quad (i << 21) | 0x87
	.set i, i + 1
	.endr

/* ------------------------------------------------------------------ */
	.bss
	.balign 16
saved_ksp:
	.quad 0
	.balign 4096
	.space 16384
kstack_top:
	.space 8192
trap_stack_top:
	.space 4096
df_stack_top:
	.space 65536
ustack_top:

	.section .note.GNU-stack, "", @progbits
