#include "arch/x86/boot/elf_note.h"

#include <elf.h>
#include <string.h>

#include "util/error.h"

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* One PT_NOTE segment: [off, end) of the file, entries padded to `align`. */
static int scan_segment(const char *path, const uint8_t *data, uint64_t off, uint64_t end,
			uint64_t align, const char *name, uint32_t type, const uint8_t **desc,
			uint32_t *descsz)
{
	size_t name_len = strlen(name) + 1;
	while (end - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		memcpy(&nh, data + off, sizeof(nh));
		uint64_t name_off = off + sizeof(nh);
		uint64_t desc_off = align_up(name_off + nh.n_namesz, align);
		uint64_t next = align_up(desc_off + nh.n_descsz, align);
		if (desc_off > end || nh.n_descsz > end - desc_off)
			return lvm_fail("kernel %s: ELF note at offset %llu runs past its segment", path,
					(unsigned long long)off);
		if (nh.n_type == type && nh.n_namesz == name_len &&
		    memcmp(data + name_off, name, name_len) == 0) {
			*desc = data + desc_off;
			*descsz = nh.n_descsz;
			return 1;
		}
		if (next <= off || next > end)
			break;
		off = next;
	}
	return 0;
}

int lvm_elf64_find_note(const char *path, const uint8_t *data, size_t size, const char *name,
			uint32_t type, const uint8_t **desc, uint32_t *descsz)
{
	Elf64_Ehdr eh;
	if (size < sizeof(eh) || memcmp(data, ELFMAG, SELFMAG) != 0)
		return 0;
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr))
		return 0;
	if (eh.e_phoff > size || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff)
		return lvm_fail("kernel %s: truncated ELF (program headers past the end)", path);
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_NOTE)
			continue;
		if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
			return lvm_fail("kernel %s: ELF note segment past the end of the file", path);
		int rc = scan_segment(path, data, ph.p_offset, ph.p_offset + ph.p_filesz,
				      ph.p_align == 8 ? 8 : 4, name, type, desc, descsz);
		if (rc != 0)
			return rc;
	}
	return 0;
}
