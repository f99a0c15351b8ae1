/* See rawvm.h.  Every step fails loudly: this is a measuring tool. */
#include "rawvm.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luavmm/bootinfo.h"

static int fail(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	fputs("rawvm: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (saved)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
	return -1;
}

/* The in-kernel irqchip and PIT luavmm used to create (a bare VM has neither). */
static int create_interrupts(struct rawvm *vm)
{
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail("KVM_CREATE_IRQCHIP");
	struct kvm_pit_config pit;
	memset(&pit, 0, sizeof(pit));
	pit.flags = KVM_PIT_SPEAKER_DUMMY;
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return fail("KVM_CREATE_PIT2");
	return 0;
}

/* --- the vCPUs beyond the first: created, never touched again ---------------- */

struct ap_batch {
	int vm_fd;
	unsigned first, step, ncpus;
	int failed_errno;
};

static int *ap_fds; /* by vCPU id; [0] unused */

static void *create_aps(void *arg)
{
	struct ap_batch *b = arg;
	for (unsigned id = b->first; id < b->ncpus; id += b->step) {
		ap_fds[id] = ioctl(b->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
		if (ap_fds[id] < 0) {
			b->failed_errno = errno;
			break;
		}
	}
	return NULL;
}

/* -t: one thread per AP in KVM_RUN, which returns only when exit() kills it. */
static void *run_ap(void *arg)
{
	int fd = (int)(intptr_t)arg;
	while (ioctl(fd, KVM_RUN, 0) < 0 && errno == EINTR)
		;
	return NULL;
}

static int start_ap_threads(struct rawvm *vm)
{
	int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	for (unsigned id = 1; id < vm->ncpus; id++) {
		int fd = ap_fds[id];
		if (mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED)
			return fail("mmap kvm_run of vCPU %u", id);
		pthread_t t;
		int rc = pthread_create(&t, NULL, run_ap, (void *)(intptr_t)fd);
		if (rc) {
			errno = rc;
			return fail("pthread_create");
		}
	}
	return 0;
}

enum { MAX_HELPERS = 64 };
static pthread_t helpers[MAX_HELPERS];
static struct ap_batch batches[MAX_HELPERS];
static unsigned nhelpers;

/* Sequential: all of them now.  Parallel: helper threads, joined by finish_aps. */
static int start_aps(struct rawvm *vm)
{
	if (vm->ncpus <= 1)
		return 0;
	ap_fds = calloc(vm->ncpus, sizeof(*ap_fds)); /* process lifetime */
	if (!ap_fds)
		return fail("calloc");
	unsigned n = 1;
	if (vm->parallel) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus < 1 ? 1 : cpus > MAX_HELPERS ? MAX_HELPERS : (unsigned)cpus;
	}
	for (unsigned i = 0; i < n; i++)
		batches[i] = (struct ap_batch){ vm->vm_fd, 1 + i, n, vm->ncpus, 0 };
	if (!vm->parallel) {
		create_aps(&batches[0]);
		errno = batches[0].failed_errno;
		return errno ? fail("KVM_CREATE_VCPU (vCPUs 1 to %u)", vm->ncpus - 1) : 0;
	}
	for (nhelpers = 0; nhelpers < n; nhelpers++) {
		int rc = pthread_create(&helpers[nhelpers], NULL, create_aps, &batches[nhelpers]);
		if (rc) {
			errno = rc;
			return fail("pthread_create");
		}
	}
	return 0;
}

static int finish_aps(void)
{
	int err = 0;
	for (unsigned i = 0; i < nhelpers; i++) {
		pthread_join(helpers[i], NULL);
		if (batches[i].failed_errno)
			err = batches[i].failed_errno;
	}
	nhelpers = 0;
	errno = err;
	return err ? fail("KVM_CREATE_VCPU (parallel)") : 0;
}

static int create_machine(struct rawvm *vm)
{
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return fail("open /dev/kvm");
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return fail("KVM_CREATE_VM");
	/* TSS/identity pages just under 4 GiB, as luavmm; then the irqchip and PIT. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		return fail("KVM_SET_TSS_ADDR");
	uint64_t ident = 0xfffbc000ull;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
		return fail("KVM_SET_IDENTITY_MAP_ADDR");
	if (!vm->bare && create_interrupts(vm) < 0)
		return -1;
	if (vm->split) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };
		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			return fail("KVM_ENABLE_CAP KVM_CAP_SPLIT_IRQCHIP");
	}

	vm->mem_fd = memfd_create("rawvm-ram", MFD_CLOEXEC);
	if (vm->mem_fd < 0)
		return fail("memfd_create");
	if (ftruncate(vm->mem_fd, (off_t)vm->mem_size) < 0)
		return fail("ftruncate guest RAM");
	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		       vm->mem_fd, 0);
	if (vm->mem == MAP_FAILED)
		return fail("mmap guest RAM");
	struct kvm_userspace_memory_region slot;
	memset(&slot, 0, sizeof(slot));
	slot.memory_size = vm->mem_size;
	slot.userspace_addr = (uint64_t)(uintptr_t)vm->mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		return fail("KVM_CREATE_VCPU");
	if (start_aps(vm) < 0)
		return -1;
	int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	vm->run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED)
		return fail("mmap kvm_run");

	/* CPUID before SREGS: without it KVM refuses EFER.LME. */
	enum { NENT = 256 };
	struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + NENT * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return fail("calloc");
	cpuid->nent = NENT;
	int rc = ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid);
	if (rc == 0)
		rc = ioctl(vm->vcpu_fd, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (rc < 0)
		return fail("KVM_GET_SUPPORTED_CPUID/KVM_SET_CPUID2");
	return 0;
}

/* Copies the PT_LOAD segments to their physical addresses; returns e_entry or 0. */
static uint64_t load_elf(struct rawvm *vm, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		fail("%s", path);
		return 0;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *img = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (img == MAP_FAILED) {
		fail("mmap %s", path);
		return 0;
	}
	uint64_t entry = 0;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	errno = 0;
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size) {
		fail("%s: not an x86-64 ELF", path);
		goto out;
	}
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff);
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (ph[i].p_filesz > ph[i].p_memsz || ph[i].p_offset + ph[i].p_filesz > size ||
		    ph[i].p_paddr < LVM_BOOT_LOW_LIMIT || ph[i].p_paddr + ph[i].p_memsz > vm->mem_size) {
			fail("%s: segment %u does not fit", path, i);
			goto out;
		}
		memcpy(vm->mem + ph[i].p_paddr, img + ph[i].p_offset, ph[i].p_filesz);
		/* RAM is fresh (zero) memfd pages: the bss needs no memset. */
	}
	entry = eh->e_entry;
out:
	munmap(img, size);
	return entry;
}

static void write_boot_data(struct rawvm *vm, const char *cmdline)
{
	static const uint64_t gdt[4] = {
		0, 0,
		0x00af9b000000ffffull, /* 0x10: 64-bit code */
		0x00cf93000000ffffull, /* 0x18: flat data */
	};
	memcpy(vm->mem + LVM_BOOT_GDT_ADDR, gdt, sizeof(gdt));

	/* Identity map of 4 GiB: PML4, PDPT, 4 PDs of 2 MiB pages, P|RW|US. */
	const uint64_t flags = 0x7;
	uint64_t *pml4 = (uint64_t *)(vm->mem + LVM_BOOT_PML4_ADDR);
	uint64_t *pdpt = pml4 + 512, *pd = pml4 + 1024;
	pml4[0] = (LVM_BOOT_PML4_ADDR + 0x1000) | flags;
	for (uint64_t g = 0; g < 4; g++)
		pdpt[g] = (LVM_BOOT_PML4_ADDR + 0x2000 + g * 0x1000) | flags;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | flags | 0x80;

	size_t len = strlen(cmdline);
	if (len >= LVM_BOOT_CMDLINE_MAX)
		len = LVM_BOOT_CMDLINE_MAX - 1;
	memcpy(vm->mem + LVM_BOOT_CMDLINE_ADDR, cmdline, len);
	struct lvm_bootinfo *bi = (struct lvm_bootinfo *)(vm->mem + LVM_BOOT_INFO_ADDR);
	memset(bi, 0, sizeof(*bi));
	bi->magic = LVM_BOOTINFO_MAGIC;
	bi->version = LVM_BOOTINFO_VERSION;
	bi->mem_size = vm->mem_size;
	bi->cmdline_addr = LVM_BOOT_CMDLINE_ADDR;
	bi->cmdline_len = (uint32_t)len;
	bi->ncpus = 1; /* the others never run: the guest must not wait for them */
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, int code)
{
	struct kvm_segment s;
	memset(&s, 0, sizeof(s));
	s.limit = 0xffffffff;
	s.selector = sel;
	s.type = type;
	s.present = 1;
	s.s = 1;
	s.g = 1;
	s.l = code ? 1 : 0;
	s.db = code ? 0 : 1;
	return s;
}

static int enter_long_mode(struct rawvm *vm, uint64_t entry)
{
	struct kvm_sregs sregs;
	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs = seg(LVM_BOOT_CODE_SEL, 0xb, 1);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg(LVM_BOOT_DATA_SEL, 0x3, 0);
	sregs.gdt.base = LVM_BOOT_GDT_ADDR;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = 0x80010033; /* PG | WP | NE | ET | MP | PE */
	sregs.cr3 = LVM_BOOT_PML4_ADDR;
	sregs.cr4 = 0x620; /* OSXMMEXCPT | OSFXSR | PAE */
	sregs.efer = 0x501; /* LMA | LME | SCE */
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	struct kvm_regs regs;
	memset(&regs, 0, sizeof(regs));
	regs.rip = entry;
	regs.rsi = LVM_BOOT_INFO_ADDR;
	regs.rsp = LVM_BOOT_STACK_TOP;
	regs.rflags = 2;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");
	return 0;
}

int rawvm_create(struct rawvm *vm, const char *elf_path, const char *cmdline, size_t mem_size)
{
	struct rawvm asked = *vm;
	memset(vm, 0, sizeof(*vm));
	vm->bare = asked.bare;
	vm->ncpus = asked.ncpus ? asked.ncpus : 1;
	vm->parallel = asked.parallel;
	vm->split = asked.split;
	vm->threads = asked.threads && asked.split; /* a bare AP would run from its reset vector */
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->mem_fd = -1;
	vm->mem_size = mem_size;
	if (create_machine(vm) < 0)
		return -1;
	uint64_t entry = load_elf(vm, elf_path);
	if (!entry)
		return -1;
	write_boot_data(vm, cmdline);
	if (enter_long_mode(vm, entry) < 0 || finish_aps() < 0)
		return -1;
	return vm->threads ? start_ap_threads(vm) : 0;
}
