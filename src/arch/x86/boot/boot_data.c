#include "arch/x86/boot/boot_data.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "util/error.h"
#include "util/file.h"

int lvm_x86_write_cmdline(struct lvm_memory *mem, const char *cmdline, uint64_t max_len,
			  const char *limit_name, uint64_t *len)
{
	size_t n = cmdline ? strlen(cmdline) : 0;
	if (max_len > LVM_BOOT_CMDLINE_MAX - 1)
		max_len = LVM_BOOT_CMDLINE_MAX - 1;
	if (n > max_len)
		return lvm_fail("cmdline: %zu bytes exceeds %s %llu", n, limit_name,
				(unsigned long long)max_len);
	char *dst = lvm_memory_ptr(mem, LVM_BOOT_CMDLINE_ADDR, n + 1);
	if (!dst)
		return lvm_fail("memory: too small for the command line");
	memcpy(dst, cmdline ? cmdline : "", n + 1);
	if (len)
		*len = n;
	return 0;
}

int lvm_x86_initrd_place(const struct lvm_memory *mem, uint64_t size, uint64_t lowest,
			 uint64_t addr_max, uint64_t *addr)
{
	uint64_t top = mem->regions[0].gpa + mem->regions[0].size; /* low RAM only */
	if (addr_max < UINT64_MAX && addr_max + 1 < top)
		top = addr_max + 1;
	if (lowest > UINT64_MAX - (LVM_INITRD_ALIGN - 1))
		return -1; /* rounding it up would wrap to 0 */
	lowest = (lowest + LVM_INITRD_ALIGN - 1) & ~(uint64_t)(LVM_INITRD_ALIGN - 1);
	if (size > top || top - size < lowest)
		return -1;
	*addr = (top - size) & ~(uint64_t)(LVM_INITRD_ALIGN - 1);
	return *addr >= lowest ? 0 : -1;
}

static int read_into(int fd, uint8_t *dst, uint64_t size, const char *path)
{
	uint64_t done = 0;
	while (done < size) {
		ssize_t n = pread(fd, dst + done, size - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return lvm_fail_errno("initrd %s: read", path);
		if (n == 0)
			return lvm_fail("initrd %s: file shrank while reading", path);
		done += (uint64_t)n;
	}
	return 0;
}

static int load_fd(struct lvm_memory *mem, int fd, const struct stat *st, const char *path,
		   uint64_t lowest, uint64_t addr_max, const char *limit_name,
		   struct lvm_x86_initrd *out)
{
	uint64_t size = (uint64_t)st->st_size, addr;
	if (lvm_x86_initrd_place(mem, size, lowest, addr_max, &addr) < 0)
		return lvm_fail("initrd %s: %llu MiB (%llu bytes) does not fit between the kernel's end 0x%llx and %s 0x%llx in %llu MiB of RAM",
				path, (unsigned long long)((size + (1 << 20) - 1) >> 20),
				(unsigned long long)size, (unsigned long long)lowest, limit_name,
				(unsigned long long)addr_max, (unsigned long long)(mem->size >> 20));
	uint8_t *dst = lvm_memory_ptr(mem, addr, size);
	if (!dst)
		return lvm_fail("initrd %s: 0x%llx+%llu is outside guest RAM", path,
				(unsigned long long)addr, (unsigned long long)size);
	if (read_into(fd, dst, size, path) < 0)
		return -1;
	*out = (struct lvm_x86_initrd){ addr, size };
	return 0;
}

int lvm_x86_load_initrd(struct lvm_memory *mem, const char *path, uint64_t lowest,
			uint64_t addr_max, const char *limit_name, struct lvm_x86_initrd *out)
{
	*out = (struct lvm_x86_initrd){ 0, 0 };
	if (!path)
		return 0;
	struct stat st;
	int fd = lvm_open_regular("initrd", path, &st); /* a FIFO is refused, not waited on */
	if (fd < 0)
		return -1;
	int rc = load_fd(mem, fd, &st, path, lowest, addr_max, limit_name, out);
	close(fd);
	return rc;
}
