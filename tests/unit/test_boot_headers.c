/*
 * Boot-protocol header parsing against hostile bytes: the bzImage setup
 * header, multiboot headers (a.out kludge and ELF32), ELF notes, PVH entry
 * notes and initrd placement.  Every input is bounds-checked: nothing here
 * may read past the buffer (the ASan build runs this too).
 */
#include <elf.h>
#include <stdlib.h>

#include "arch/x86/boot/boot_data.h"
#include "arch/x86/boot/boot_kind.h"
#include "arch/x86/boot/elf_note.h"
#include "arch/x86/boot/loader_bzimage.h"
#include "arch/x86/boot/loader_multiboot.h"
#include "arch/x86/boot/loader_pvh.h"
#include "check.h"
#include "util/error.h"

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* A minimal valid bzImage: 4 setup sectors + 4 KiB of kernel. */
static uint8_t *make_bz(size_t *size)
{
	*size = 5 * 512 + 4096;
	uint8_t *b = calloc(1, *size);
	b[0x1f1] = 4;
	put32(b + 0x1f4, 4096 / 16);
	put16(b + 0x1fe, 0xaa55);
	b[0x200] = 0xeb;
	b[0x201] = 0x66;
	put32(b + 0x202, 0x53726448);
	put16(b + 0x206, 0x020f);
	b[0x211] = LOADED_HIGH;
	put32(b + 0x22c, 0x7fffffff);
	put32(b + 0x230, 0x200000);
	put16(b + 0x236, XLF_KERNEL_64);
	put32(b + 0x238, 2047);
	put32(b + 0x258, 0x100000);
	put32(b + 0x260, 0x10000);
	return b;
}

static void test_bzimage_valid(void)
{
	size_t n;
	uint8_t *b = make_bz(&n);
	struct lvm_bzimage bz;
	CHECK(lvm_bzimage_parse("k", b, n, &bz) == 0);
	CHECK_EQ_U64(bz.kernel_offset, 5 * 512);
	CHECK_EQ_U64(bz.kernel_size, 4096);
	CHECK_EQ_U64(bz.load_addr, 0x100000);
	/* syssize rounds up to whole paragraphs: a file up to 15 bytes shorter loads. */
	struct lvm_bzimage short_bz;
	CHECK(lvm_bzimage_parse("k", b, n - 15, &short_bz) == 0);
	CHECK_EQ_U64(short_bz.kernel_size, 4096 - 15);
	CHECK(lvm_bzimage_parse("k", b, n - 16, &short_bz) < 0);
	CHECK(strstr(lvm_error(), "truncated bzImage") != NULL);
	CHECK_EQ_U64(bz.mem_needed, 0x10000);
	CHECK_EQ_U64(bz.cmdline_max, 2047);
	CHECK_EQ_U64(bz.hdr_len, 0x268 - 0x1f1);
	b[0x1f1] = 0; /* setup_sects 0 means 4 */
	CHECK(lvm_bzimage_parse("k", b, n, &bz) == 0);
	CHECK_EQ_U64(bz.kernel_offset, 5 * 512);
	free(b);
}

static void expect_bz_error(uint8_t *b, size_t n, const char *fragment)
{
	struct lvm_bzimage bz;
	CHECK(lvm_bzimage_parse("k", b, n, &bz) < 0);
	if (!strstr(lvm_error(), fragment)) {
		fprintf(stderr, "error \"%s\" lacks \"%s\"\n", lvm_error(), fragment);
		check_failures++;
	}
}

static void test_bzimage_hostile(void)
{
	size_t n;
	uint8_t *b = make_bz(&n);
	for (size_t cut = 0; cut < n; cut += 97) /* every truncation fails cleanly */
		CHECK(lvm_bzimage_parse("k", b, cut, &(struct lvm_bzimage){ 0 }) < 0);
	expect_bz_error(b, 0x300, "truncated bzImage");
	b[0x201] = 0xff; /* header claims to run far past the file */
	expect_bz_error(b, 0x250, "truncated bzImage");
	b[0x201] = 0x66;
	put16(b + 0x206, 0x0204);
	expect_bz_error(b, n, "protocol 2.04 is older than 2.06");
	put16(b + 0x206, 0x020f);
	put16(b + 0x1fe, 0x1234);
	expect_bz_error(b, n, "boot_flag");
	put16(b + 0x1fe, 0xaa55);
	put32(b + 0x1f4, 0xffffffffu); /* syssize beyond the file */
	expect_bz_error(b, n, "truncated bzImage");
	put32(b + 0x1f4, 4096 / 16);
	b[0x1f1] = 0xff; /* setup_sects beyond the file */
	expect_bz_error(b, n, "truncated bzImage");
	b[0x1f1] = 4;
	put16(b + 0x236, 0);
	expect_bz_error(b, n, "no 64-bit entry point");
	put16(b + 0x236, XLF_KERNEL_64);
	b[0x234] = 1;
	put32(b + 0x230, 0x3000);
	expect_bz_error(b, n, "kernel_alignment 0x3000 is not a power of two");
	b[0x211] = 0;
	expect_bz_error(b, n, "zImage");
	put32(b + 0x202, 0x12345678);
	expect_bz_error(b, n, "no \"HdrS\" magic");
	free(b);
}

static void test_multiboot_header(void)
{
	uint8_t buf[8192 + 64];
	memset(buf, 0, sizeof(buf));
	CHECK(lvm_multiboot_find_header(buf, sizeof(buf), NULL) < 0);
	uint32_t flags = 0x10003;
	put32(buf + 8188, 0x1badb002); /* straddles the 8 KiB limit: not found */
	CHECK(lvm_multiboot_find_header(buf, sizeof(buf), NULL) < 0);
	put32(buf + 102, 0x1badb002); /* unaligned: not found */
	put32(buf + 106, flags);
	put32(buf + 110, -(0x1badb002u + flags));
	CHECK(lvm_multiboot_find_header(buf, sizeof(buf), NULL) < 0);
	put32(buf + 64, 0x1badb002);
	put32(buf + 68, flags);
	put32(buf + 72, -(0x1badb002u + flags) + 1); /* bad checksum */
	CHECK(lvm_multiboot_find_header(buf, sizeof(buf), NULL) < 0);
	put32(buf + 72, -(0x1badb002u + flags));
	struct lvm_mb_header h;
	CHECK_EQ_U64(lvm_multiboot_find_header(buf, sizeof(buf), &h), 64);
	CHECK_EQ_U64(h.flags, flags);
	/* a header at the very end of a short file: only 12 bytes copied */
	CHECK_EQ_U64(lvm_multiboot_find_header(buf + 64, 12, &h), 0);
	CHECK_EQ_U64(h.header_addr, 0);
}

/* An ELF64 with one PT_NOTE segment holding `notes`. */
static size_t make_elf_with_notes(uint8_t *buf, size_t cap, const uint8_t *notes, size_t len)
{
	memset(buf, 0, cap);
	Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_phoff = sizeof(eh),
			  .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 1 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	Elf64_Phdr ph = { .p_type = PT_NOTE, .p_offset = 256, .p_filesz = len, .p_align = 4 };
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), &ph, sizeof(ph));
	memcpy(buf + 256, notes, len);
	return 256 + len;
}

static void test_notes(void)
{
	uint8_t notes[64] = { 0 }, elf[512];
	put32(notes, 4);       /* namesz */
	put32(notes + 4, 8);   /* descsz */
	put32(notes + 8, 18);  /* XEN_ELFNOTE_PHYS32_ENTRY */
	memcpy(notes + 12, "Xen", 4);
	put32(notes + 16, 0x100200);
	size_t n = make_elf_with_notes(elf, sizeof(elf), notes, 24);
	uint32_t entry = 0;
	CHECK(lvm_pvh_find_entry("k", elf, n, &entry) == 1);
	CHECK_EQ_U64(entry, 0x100200);
	CHECK_EQ_U64(lvm_x86_boot_kind("k", NULL, elf, n), LVM_BOOT_PVH);
	put32(notes + 20, 1); /* above 4 GiB */
	n = make_elf_with_notes(elf, sizeof(elf), notes, 24);
	CHECK(lvm_pvh_find_entry("k", elf, n, &entry) < 0);
	put32(notes + 4, 3); /* odd descriptor size */
	n = make_elf_with_notes(elf, sizeof(elf), notes, 24);
	CHECK(lvm_pvh_find_entry("k", elf, n, &entry) < 0);
	put32(notes + 4, 0xfffffff0u); /* descriptor runs past the segment */
	n = make_elf_with_notes(elf, sizeof(elf), notes, 24);
	CHECK(lvm_pvh_find_entry("k", elf, n, &entry) < 0);
	put32(notes, 0xfffffff0u); /* name runs past everything */
	put32(notes + 4, 8);
	n = make_elf_with_notes(elf, sizeof(elf), notes, 24);
	CHECK(lvm_pvh_find_entry("k", elf, n, &entry) < 0);
	/* the segment itself past the end of the file */
	n = make_elf_with_notes(elf, sizeof(elf), notes, 24);
	CHECK(lvm_pvh_find_entry("k", elf, n - 10, &entry) < 0);
	/* no note at all: plain ELF64 */
	n = make_elf_with_notes(elf, sizeof(elf), notes, 0);
	CHECK(lvm_pvh_find_entry("k", elf, n, &entry) == 0);
	CHECK_EQ_U64(lvm_x86_boot_kind("k", "auto", elf, n), LVM_BOOT_ELF64);
}

static void test_kind(void)
{
	uint8_t junk[100];
	memset(junk, 0x5a, sizeof(junk));
	CHECK(lvm_x86_boot_kind("k", NULL, junk, sizeof(junk)) < 0);
	CHECK(lvm_x86_boot_kind("k", NULL, junk, 0) < 0);
	CHECK(lvm_x86_boot_kind("k", "efi", junk, sizeof(junk)) < 0);
	CHECK_EQ_U64(lvm_x86_boot_kind("k", "multiboot", junk, sizeof(junk)), LVM_BOOT_MULTIBOOT);
	size_t n;
	uint8_t *b = make_bz(&n);
	CHECK_EQ_U64(lvm_x86_boot_kind("k", NULL, b, n), LVM_BOOT_BZIMAGE);
	free(b);
}

static void test_initrd_place(void)
{
	struct lvm_memory mem = { .memfd = -1, .size = 64 << 20, .nregions = 1 };
	mem.regions[0] = (struct lvm_memory_region){ 0, 64 << 20, 0 };
	uint64_t addr;
	CHECK(lvm_x86_initrd_place(&mem, 4096 * 3 + 1, 0x200000, UINT32_MAX, &addr) == 0);
	CHECK_EQ_U64(addr, (64 << 20) - 4 * 4096);
	CHECK(lvm_x86_initrd_place(&mem, 1 << 20, 0x200000, 0x7fffff, &addr) == 0);
	CHECK_EQ_U64(addr, 0x700000); /* below initrd_addr_max + 1 = 8 MiB */
	CHECK(lvm_x86_initrd_place(&mem, 63 << 20, 0x200000, UINT32_MAX, &addr) < 0);
	CHECK(lvm_x86_initrd_place(&mem, UINT64_MAX, 0, UINT64_MAX, &addr) < 0);
	CHECK(lvm_x86_initrd_place(&mem, 1, (64 << 20) - 1, UINT64_MAX, &addr) < 0);
	CHECK(lvm_x86_initrd_place(&mem, 0, 0x100000, UINT64_MAX, &addr) == 0);
	/* fuzz_boot_data: a kernel end near 2^64 rounded up to 0 and let the
	 * initrd go below it. */
	CHECK(lvm_x86_initrd_place(&mem, 0, UINT64_MAX, UINT32_MAX, &addr) < 0);
	CHECK(lvm_x86_initrd_place(&mem, 4096, UINT64_MAX - 4094, UINT64_MAX, &addr) < 0);
}

int main(void)
{
	RUN_TEST(test_bzimage_valid);
	RUN_TEST(test_bzimage_hostile);
	RUN_TEST(test_multiboot_header);
	RUN_TEST(test_notes);
	RUN_TEST(test_kind);
	RUN_TEST(test_initrd_place);
	return check_failures != 0;
}
