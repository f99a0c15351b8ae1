/*
 * A multiboot v1 header (Multiboot 0.6.96 §3.1) and entry for the
 * bootcheck guest.  Assembled twice: plain (the ELF variant: the loader
 * uses the program headers) and with -DAOUT_KLUDGE (flag 16: the loader
 * uses the address fields, §3.1.3, to load the flat binary).
 *
 * §3.2: the entry runs in 32-bit protected mode, paging off, with
 * EAX = 0x2BADB002 and EBX = the info structure.  mb_entry keeps EAX for
 * the guest and continues on the runtime's PVH path, which turns EBX into
 * boot_info_addr.
 */
#define MB_MAGIC 0x1badb002
#ifdef AOUT_KLUDGE
#define MB_FLAGS 0x00010003 /* a.out kludge | memory info | page-aligned modules */
#else
#define MB_FLAGS 0x00000003
#endif

	.section .text.head, "ax"
	.balign 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
#ifdef AOUT_KLUDGE
	.long mb_header		/* header_addr */
	.long __image_start	/* load_addr */
	.long __data_end	/* load_end_addr */
	.long __bss_end		/* bss_end_addr */
	.long mb_entry		/* entry_addr */
#endif

	.text
	.code32
	.globl mb_entry
mb_entry:
	movl	%eax, mb_magic
	jmp	pvh_entry

	.data
	.balign 4
	.globl mb_magic
mb_magic:
	.long 0

	.section .note.GNU-stack, "", @progbits
