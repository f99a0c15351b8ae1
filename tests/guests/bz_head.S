/*
 * The start of the bootcheck guest's bzImage payload: boot.rst's 64-bit
 * entry is the protected-mode kernel's load address + 0x200, so this
 * section (linked first, at 1 MiB) puts a jump to the runtime's 64-bit
 * entry there.  mkbzimage checks that e_entry (bz_entry) is at +0x200.
 */
	.section .text.head, "ax"
	.code64
	.fill 0x200, 1, 0xcc
	.globl bz_entry
bz_entry:
	jmp	_start

	.section .note.GNU-stack, "", @progbits
