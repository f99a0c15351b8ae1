/* The ELF64 loader against well-formed and hostile images (no KVM needed). */
#include <elf.h>
#include <stddef.h>
#include <stdlib.h>

#include "arch/x86/boot/loader_elf.h"
#include "check.h"
#include "util/error.h"

#define RAM_SIZE (8u << 20)

static struct lvm_memory fake_ram(void)
{
	struct lvm_memory mem = { .memfd = -1, .size = RAM_SIZE, .nregions = 1 };
	mem.host = calloc(1, RAM_SIZE);
	mem.regions[0] = (struct lvm_memory_region){ 0, RAM_SIZE, 0 };
	return mem;
}

/* A one-segment image: 16 bytes of code at `paddr`, memsz 32. */
struct image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint8_t code[16];
};

static struct image good_image(uint64_t paddr)
{
	struct image im;
	memset(&im, 0, sizeof(im));
	memcpy(im.eh.e_ident, ELFMAG, SELFMAG);
	im.eh.e_ident[EI_CLASS] = ELFCLASS64;
	im.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	im.eh.e_type = ET_EXEC;
	im.eh.e_machine = EM_X86_64;
	im.eh.e_entry = paddr + 4;
	im.eh.e_phoff = offsetof(struct image, ph);
	im.eh.e_phentsize = sizeof(Elf64_Phdr);
	im.eh.e_phnum = 1;
	im.ph.p_type = PT_LOAD;
	im.ph.p_offset = offsetof(struct image, code);
	im.ph.p_paddr = im.ph.p_vaddr = paddr;
	im.ph.p_filesz = sizeof(im.code);
	im.ph.p_memsz = 32;
	for (unsigned i = 0; i < sizeof(im.code); i++)
		im.code[i] = (uint8_t)(0xa0 + i);
	return im;
}

static int load(struct lvm_memory *mem, const void *data, size_t size, struct lvm_elf_image *out)
{
	return lvm_elf64_load(mem, "test.elf", data, size, 0x100000, out);
}

static void test_loads_segment_and_zeroes_bss(void)
{
	struct lvm_memory mem = fake_ram();
	memset(mem.host + 0x200000, 0x55, 64);
	struct image im = good_image(0x200000);
	struct lvm_elf_image out;
	CHECK(load(&mem, &im, sizeof(im), &out) == 0);
	CHECK_EQ_U64(out.entry, 0x200004);
	CHECK_EQ_U64(out.lowest, 0x200000);
	CHECK_EQ_U64(out.highest, 0x200020);
	CHECK_EQ_U64(mem.host[0x200000], 0xa0);
	CHECK_EQ_U64(mem.host[0x20000f], 0xaf);
	CHECK_EQ_U64(mem.host[0x200010], 0);  /* bss zeroed */
	CHECK_EQ_U64(mem.host[0x20001f], 0);
	CHECK_EQ_U64(mem.host[0x200020], 0x55); /* beyond memsz untouched */
	free(mem.host);
}

static void expect_error(const void *data, size_t size, const char *fragment)
{
	struct lvm_memory mem = fake_ram();
	struct lvm_elf_image out;
	CHECK(load(&mem, data, size, &out) < 0);
	if (!strstr(lvm_error(), fragment)) {
		fprintf(stderr, "error \"%s\" lacks \"%s\"\n", lvm_error(), fragment);
		check_failures++;
	}
	free(mem.host);
}

static void test_rejects_hostile_images(void)
{
	struct image im = good_image(0x200000);
	expect_error("hello world, not an elf", 23, "not an ELF");
	expect_error(&im, 20, "truncated ELF header");
	expect_error(&im, offsetof(struct image, ph) + 8, "truncated ELF");
	expect_error(&im, offsetof(struct image, code) + 4, "truncated ELF");

	im = good_image(0x200000);
	im.eh.e_machine = EM_AARCH64;
	expect_error(&im, sizeof(im), "not x86-64");

	im = good_image(0x200000);
	im.eh.e_ident[EI_CLASS] = ELFCLASS32;
	expect_error(&im, sizeof(im), "64-bit");

	im = good_image(RAM_SIZE - 16); /* memsz 32 runs past the end of RAM */
	expect_error(&im, sizeof(im), "outside guest RAM");

	im = good_image(0x200000);
	im.ph.p_paddr = UINT64_MAX - 8; /* wraps */
	expect_error(&im, sizeof(im), "outside guest RAM");

	im = good_image(0x8000);
	expect_error(&im, sizeof(im), "below");

	im = good_image(0x200000);
	im.ph.p_offset = UINT64_MAX - 4;
	expect_error(&im, sizeof(im), "truncated ELF");

	im = good_image(0x200000);
	im.eh.e_phnum = 0xffff;
	expect_error(&im, sizeof(im), "truncated ELF");

	im = good_image(0x200000);
	im.eh.e_entry = 0x300000;
	expect_error(&im, sizeof(im), "entry point");

	im = good_image(0x200000);
	im.ph.p_filesz = 64;
	expect_error(&im, sizeof(im), "filesz > memsz");
}

int main(void)
{
	RUN_TEST(test_loads_segment_and_zeroes_bss);
	RUN_TEST(test_rejects_hostile_images);
	return CHECK_DONE();
}
