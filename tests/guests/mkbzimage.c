/*
 * mkbzimage ELF OUT: packs a test guest as a Linux bzImage (boot.rst,
 * protocol 2.15) so luavmm's bzImage loader can be tested with a guest of
 * our own.  The setup code is a stub (luavmm never runs it: it uses the
 * 64-bit entry), but the setup header is real: HdrS, version, setup_sects,
 * syssize, loadflags, pref_address, init_size, xloadflags, cmdline_size.
 *
 * The ELF's loadable bytes become the protected-mode kernel, loaded at
 * their lowest physical address; the 64-bit entry (load address + 0x200)
 * must be the ELF's e_entry.  Host tool: runs at build time.
 */
#include <asm/bootparam.h>
#include <elf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETUP_SECTS 4
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)

static void die(const char *msg)
{
	fprintf(stderr, "mkbzimage: %s\n", msg);
	exit(1);
}

static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("cannot open the input ELF");
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc((size_t)n);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		die("cannot read the input ELF");
	fclose(f);
	*size = (size_t)n;
	return buf;
}

/* The flat image [lowest p_paddr, highest p_paddr + p_filesz). */
static uint8_t *flatten(const uint8_t *elf, size_t size, uint64_t *base, uint64_t *filesz,
			uint64_t *memsz, uint64_t *entry)
{
	Elf64_Ehdr eh;
	if (size < sizeof(eh))
		die("input too small");
	memcpy(&eh, elf, sizeof(eh));
	if (eh.e_phoff > size || eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff)
		die("truncated program headers");
	uint64_t lo = UINT64_MAX, fend = 0, mend = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, elf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
			die("truncated segment");
		lo = ph.p_paddr < lo ? ph.p_paddr : lo;
		fend = ph.p_paddr + ph.p_filesz > fend ? ph.p_paddr + ph.p_filesz : fend;
		mend = ph.p_paddr + ph.p_memsz > mend ? ph.p_paddr + ph.p_memsz : mend;
	}
	if (fend <= lo)
		die("no loadable bytes");
	uint8_t *img = calloc(1, fend - lo);
	if (!img)
		die("out of memory");
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, elf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD)
			memcpy(img + (ph.p_paddr - lo), elf + ph.p_offset, ph.p_filesz);
	}
	*base = lo;
	*filesz = fend - lo;
	*memsz = mend - lo;
	*entry = eh.e_entry;
	return img;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		die("usage: mkbzimage GUEST.elf OUT.bzImage");
	size_t size;
	uint8_t *elf = read_file(argv[1], &size);
	uint64_t base, filesz, memsz, entry;
	uint8_t *kernel = flatten(elf, size, &base, &filesz, &memsz, &entry);
	if (entry != base + 0x200)
		die("the ELF's entry is not at its lowest address + 0x200 (boot.rst's 64-bit entry)");
	uint64_t padded = (filesz + 15) & ~15ull;

	uint8_t setup[SETUP_SIZE];
	memset(setup, 0, sizeof(setup));
	struct setup_header h;
	memset(&h, 0, sizeof(h));
	h.setup_sects = SETUP_SECTS;
	h.syssize = (uint32_t)(padded / 16);
	h.boot_flag = 0xaa55;
	/* "jmp short" over the header: byte 0x201 says where the header ends. */
	h.jump = (uint16_t)(0xeb | ((offsetof(struct setup_header, handover_offset) + 4 + 0x1f1 - 0x202) << 8));
	h.header = 0x53726448; /* "HdrS" */
	h.version = 0x020f;
	h.type_of_loader = 0;
	h.loadflags = LOADED_HIGH;
	h.code32_start = (uint32_t)base;
	h.initrd_addr_max = 0x7fffffff;
	h.kernel_alignment = 0x200000;
	h.relocatable_kernel = 0; /* linked 1:1 at its address */
	h.min_alignment = 21;
	h.xloadflags = XLF_KERNEL_64;
	h.cmdline_size = 2047;
	h.pref_address = base;
	h.init_size = (uint32_t)((memsz + 4095) & ~4095ull);
	memcpy(setup + 0x1f1, &h, offsetof(struct setup_header, handover_offset) + 4);

	FILE *out = fopen(argv[2], "wb");
	if (!out || fwrite(setup, 1, sizeof(setup), out) != sizeof(setup) ||
	    fwrite(kernel, 1, filesz, out) != filesz)
		die("cannot write the output");
	static const uint8_t pad[16];
	if (fwrite(pad, 1, padded - filesz, out) != padded - filesz || fclose(out) != 0)
		die("cannot write the output");
	free(kernel);
	free(elf);
	return 0;
}
