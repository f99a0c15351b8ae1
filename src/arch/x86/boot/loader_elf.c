#include "arch/x86/boot/loader_elf.h"

#include <elf.h>
#include <string.h>

#include "util/error.h"

int lvm_elf_is_elf(const uint8_t *data, size_t size)
{
	return size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0;
}

static int check_header(const char *path, const uint8_t *data, size_t size, Elf64_Ehdr *eh)
{
	if (!lvm_elf_is_elf(data, size))
		return lvm_fail("kernel %s: not an ELF file (bad magic)", path);
	if (size < sizeof(*eh))
		return lvm_fail("kernel %s: truncated ELF header (%zu bytes)", path, size);
	memcpy(eh, data, sizeof(*eh));
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return lvm_fail("kernel %s: not a 64-bit little-endian ELF", path);
	if (eh->e_machine != EM_X86_64)
		return lvm_fail("kernel %s: ELF machine %u is not x86-64", path, eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return lvm_fail("kernel %s: ELF type %u is not an executable", path, eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0)
		return lvm_fail("kernel %s: ELF has no usable program headers", path);
	uint64_t table_end = eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (eh->e_phoff > size || table_end > size)
		return lvm_fail("kernel %s: truncated ELF (program headers end at %llu, file has %zu bytes)",
				path, (unsigned long long)table_end, size);
	return 0;
}

static int load_segment(struct lvm_memory *mem, const char *path, const uint8_t *data,
			size_t size, const Elf64_Phdr *ph, uint64_t low_limit)
{
	if (ph->p_filesz > ph->p_memsz)
		return lvm_fail("kernel %s: segment at 0x%llx has filesz > memsz", path,
				(unsigned long long)ph->p_paddr);
	if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
		return lvm_fail("kernel %s: truncated ELF (segment data ends at %llu, file has %zu bytes)",
				path, (unsigned long long)(ph->p_offset + ph->p_filesz), size);
	if (ph->p_paddr < low_limit)
		return lvm_fail("kernel %s: segment at 0x%llx is below 0x%llx (reserved for boot data)",
				path, (unsigned long long)ph->p_paddr, (unsigned long long)low_limit);
	uint8_t *dst = lvm_memory_ptr(mem, ph->p_paddr, ph->p_memsz);
	if (!dst)
		return lvm_fail("kernel %s: segment 0x%llx+0x%llx lies outside guest RAM (%llu MiB)",
				path, (unsigned long long)ph->p_paddr,
				(unsigned long long)ph->p_memsz,
				(unsigned long long)(mem->size >> 20));
	memcpy(dst, data + ph->p_offset, ph->p_filesz);
	/* Fresh RAM is already zero; clearing it would only back .bss pages
	 * with memory before the guest ever touches them. */
	if (!mem->untouched)
		memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	return 0;
}

static int load_all(struct lvm_memory *mem, const char *path, const uint8_t *data,
		    size_t size, uint64_t low_limit, struct lvm_elf_image *out, int need_entry)
{
	Elf64_Ehdr eh;
	if (check_header(path, data, size, &eh) < 0)
		return -1;
	*out = (struct lvm_elf_image){ .entry = eh.e_entry, .lowest = UINT64_MAX };
	int entry_loaded = !need_entry;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (load_segment(mem, path, data, size, &ph, low_limit) < 0)
			return -1;
		if (ph.p_paddr < out->lowest)
			out->lowest = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > out->highest)
			out->highest = ph.p_paddr + ph.p_memsz;
		/* Static kernels are linked 1:1, so the entry is physical too. */
		if (eh.e_entry >= ph.p_paddr && eh.e_entry - ph.p_paddr < ph.p_memsz)
			entry_loaded = 1;
	}
	if (out->highest == 0)
		return lvm_fail("kernel %s: ELF has no loadable segments", path);
	if (!entry_loaded)
		return lvm_fail("kernel %s: entry point 0x%llx is not inside a loaded segment", path,
				(unsigned long long)eh.e_entry);
	return 0;
}

int lvm_elf64_load(struct lvm_memory *mem, const char *path, const uint8_t *data,
		   size_t size, uint64_t low_limit, struct lvm_elf_image *out)
{
	return load_all(mem, path, data, size, low_limit, out, 1);
}

int lvm_elf64_load_segments(struct lvm_memory *mem, const char *path, const uint8_t *data,
			    size_t size, uint64_t low_limit, struct lvm_elf_image *out)
{
	return load_all(mem, path, data, size, low_limit, out, 0);
}
