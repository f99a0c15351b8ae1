/*
 * The "luavmm" ELF note (LVM_ELFNOTE_NAME / LVM_ELFNOTE_BOOTINFO in
 * include/luavmm/bootinfo.h): tells luavmm's boot = "auto" to use its own
 * 64-bit entry (RSI = struct lvm_bootinfo) although the ELF also carries a
 * PVH note.  Linked into every guest except the ones that test PVH or
 * multiboot detection.
 */
	.section .note.luavmm, "a", @note
	.balign 4
	.long 2f - 1f		/* namesz */
	.long 4f - 3f		/* descsz */
	.long 1			/* type: LVM_ELFNOTE_BOOTINFO */
1:	.asciz "luavmm"
2:	.balign 4
3:	.long 1			/* descriptor: contract version */
4:	.balign 4

	.section .note.GNU-stack, "", @progbits
