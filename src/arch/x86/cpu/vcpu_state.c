#include "arch/x86/cpu/vcpu_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm/hookq.h"
#include "kvm/vcpu.h"
#include "util/error.h"

#define SREGS_V1 1u
#define SREGS_V2 2u
#define FPU_XSAVE 1u
#define FPU_LEGACY 2u

#define MSR_IA32_TSC 0x10u
#define MSR_IA32_TSC_DEADLINE 0x6e0u

/* KVM_{GET,SET}_MSRS take fewer than 256 entries a call (MAX_IO_MSRS). */
#define MSR_BATCH 128u
/* A sanity bound on KVM_GET_MSR_INDEX_LIST's answer. */
#define MSR_LIST_MAX 65536u

/*
 * MSRs KVM reads and writes for the host but leaves out of
 * KVM_GET_MSR_INDEX_LIST: the MTRRs (8 variable pairs, the fixed ranges,
 * the default type) and TSC_AUX (what RDTSCP/RDPID return: Linux keeps
 * the CPU number there).  One the saving host refuses is not saved.
 */
static const uint32_t unlisted_msrs[] = {
	0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207,
	0x208, 0x209, 0x20a, 0x20b, 0x20c, 0x20d, 0x20e, 0x20f,
	0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,
	0x2ff, 0xc0000103,
};

/* Everything a vCPU's section holds, parsed (load) or read from KVM (save). */
struct cpu_image {
	uint32_t tsc_khz;
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	uint8_t sregs_format;
	struct kvm_sregs sregs;
	struct kvm_sregs2 sregs2;
	uint8_t fpu_format;
	struct kvm_xsave *xsave; /* xsave_size bytes */
	uint32_t xsave_size;
	struct kvm_fpu fpu;
	bool has_xcrs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	uint32_t nmsrs;
	struct kvm_msr_entry *msrs;
};

/* What this host's KVM offers for the state of the VM's vCPUs. */
struct host_caps {
	bool sregs2;
	bool xsave2;
	uint32_t xsave_size; /* 0: no XSAVE, KVM_GET_FPU only */
	bool xcrs;
};

static struct host_caps ask_host_caps(const struct lvm_vm *vm)
{
	struct host_caps c = { 0 };
	c.sregs2 = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SREGS2) > 0;
	c.xcrs = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
	/* KVM_CAP_XSAVE2 answers the area's size for this VM's features. */
	int size = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	if (size > 0) {
		c.xsave2 = true;
		c.xsave_size = (uint32_t)size < sizeof(struct kvm_xsave) ? sizeof(struct kvm_xsave)
									 : (uint32_t)size;
	} else if (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0) {
		c.xsave_size = sizeof(struct kvm_xsave);
	}
	return c;
}

/*
 * Asked once per process: the answers depend on the host's KVM and on the
 * XSAVE features this process may give a guest (its guest permissions),
 * neither of which changes while it runs.  Saving a 64-vCPU machine asked
 * them 64 times (four ioctls each).
 */
static struct host_caps host_caps(const struct lvm_vm *vm)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct host_caps cached;
	static bool asked;
	pthread_mutex_lock(&lock);
	if (!asked) {
		cached = ask_host_caps(vm);
		asked = true;
	}
	struct host_caps c = cached;
	pthread_mutex_unlock(&lock);
	return c;
}

static void free_image(struct cpu_image *img)
{
	if (!img)
		return;
	free(img->xsave);
	free(img->msrs);
	free(img);
}

/* --- saving ------------------------------------------------------------- */

static int vcpu_get(struct lvm_vcpu *vcpu, unsigned long request, void *arg, const char *name)
{
	if (ioctl(vcpu->fd, request, arg) < 0)
		return lvm_fail_errno("cpu.%u: %s", vcpu->index, name);
	return 0;
}

#define VCPU_GET(vcpu, request, arg) vcpu_get(vcpu, request, arg, #request)

/*
 * An exit KVM_RUN returned for an I/O or MMIO access ends only in the next
 * KVM_RUN (an `in` writes RAX, RIP moves past the instruction), and KVM
 * keeps what is left in state no KVM_GET_* shows (api.rst, KVM_RUN): run
 * it once with immediate_exit, which completes the access and returns
 * EINTR before the guest executes anything.  A no-op otherwise.
 */
static int complete_pending_exit(struct lvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t immediate_exit = run->immediate_exit; /* a kick may have left it set */
	run->immediate_exit = 1;
	int rc = ioctl(vcpu->fd, KVM_RUN, 0);
	int err = errno;
	run->immediate_exit = immediate_exit;
	if (rc == 0)
		return lvm_fail("cpu.%u: the access it stopped on needs another exit (reason %u) "
				"before its state can be saved", vcpu->index, run->exit_reason);
	if (err != EINTR) {
		errno = err;
		return lvm_fail_errno("cpu.%u: KVM_RUN (completing its last exit)", vcpu->index);
	}
	return 0;
}

/* KVM_GET_MSR_INDEX_LIST: asked for the count first (E2BIG), then the list. */
static struct kvm_msr_list *msr_index_list(int kvm_fd)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
		lvm_fail_errno("KVM_GET_MSR_INDEX_LIST");
		return NULL;
	}
	if (probe.nmsrs > MSR_LIST_MAX) {
		lvm_fail("KVM_GET_MSR_INDEX_LIST: %u MSRs", probe.nmsrs);
		return NULL;
	}
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	if (!list) {
		lvm_fail("out of memory");
		return NULL;
	}
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(list);
		lvm_fail_errno("KVM_GET_MSR_INDEX_LIST");
		return NULL;
	}
	return list;
}

static bool listed(const uint32_t *indices, size_t n, uint32_t index)
{
	for (size_t i = 0; i < n; i++)
		if (indices[i] == index)
			return true;
	return false;
}

/* The MSRs to try: KVM's list, then the unlisted ones it does not name. */
static uint32_t *build_msrs_to_save(int kvm_fd, size_t *count)
{
	struct kvm_msr_list *list = msr_index_list(kvm_fd);
	if (!list)
		return NULL;
	size_t max = list->nmsrs + sizeof(unlisted_msrs) / sizeof(unlisted_msrs[0]);
	uint32_t *indices = malloc(max * sizeof(uint32_t));
	if (!indices) {
		free(list);
		lvm_fail("out of memory");
		return NULL;
	}
	size_t n = 0;
	for (uint32_t i = 0; i < list->nmsrs; i++)
		if (!listed(indices, n, list->indices[i]))
			indices[n++] = list->indices[i];
	for (size_t i = 0; i < sizeof(unlisted_msrs) / sizeof(unlisted_msrs[0]); i++)
		if (!listed(indices, n, unlisted_msrs[i]))
			indices[n++] = unlisted_msrs[i];
	free(list);
	*count = n;
	return indices;
}

/* The host's list does not change: built once per process (it took two
 * KVM_GET_MSR_INDEX_LIST calls per vCPU saved).  Shared, never freed. */
static const uint32_t *msrs_to_save(int kvm_fd, size_t *count)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static uint32_t *indices;
	static size_t n;
	pthread_mutex_lock(&lock);
	if (!indices)
		indices = build_msrs_to_save(kvm_fd, &n);
	const uint32_t *out = indices;
	*count = n;
	pthread_mutex_unlock(&lock);
	return out;
}

/*
 * KVM_GET_MSRS of up to MSR_BATCH indices into out[]: KVM stops at the
 * first MSR it cannot read and returns how many it read before it.
 */
static int get_msr_batch(struct lvm_vcpu *vcpu, const uint32_t *indices, uint32_t n,
			 struct kvm_msr_entry *out)
{
	_Alignas(struct kvm_msrs) uint8_t buf[sizeof(struct kvm_msrs) +
					      MSR_BATCH * sizeof(struct kvm_msr_entry)];
	struct kvm_msrs *msrs = (struct kvm_msrs *)buf;
	memset(buf, 0, sizeof(buf));
	msrs->nmsrs = n;
	for (uint32_t i = 0; i < n; i++)
		msrs->entries[i].index = indices[i];
	int got = ioctl(vcpu->fd, KVM_GET_MSRS, msrs);
	if (got < 0)
		return lvm_fail_errno("cpu.%u: KVM_GET_MSRS", vcpu->index);
	if ((uint32_t)got > n)
		return lvm_fail("cpu.%u: KVM_GET_MSRS read %d of %u MSRs", vcpu->index, got, n);
	memcpy(out, msrs->entries, (size_t)got * sizeof(*out));
	return got;
}

/* Every MSR the host lets us read; an index that fails is left out. */
static int read_msrs(struct lvm_vcpu *vcpu, struct cpu_image *img)
{
	size_t n;
	const uint32_t *indices = msrs_to_save(vcpu->vm->kvm_fd, &n);
	if (!indices)
		return -1;
	img->msrs = calloc(n ? n : 1, sizeof(*img->msrs));
	if (!img->msrs)
		return lvm_fail("out of memory");
	size_t kept = 0, at = 0;
	while (at < n) {
		uint32_t batch = n - at < MSR_BATCH ? (uint32_t)(n - at) : MSR_BATCH;
		int got = get_msr_batch(vcpu, indices + at, batch, img->msrs + kept);
		if (got < 0)
			return -1;
		kept += (size_t)got;
		at += (size_t)got + ((uint32_t)got < batch); /* skip the one that failed */
	}
	if (kept > LVM_X86_SNAPSHOT_MSRS_MAX)
		return lvm_fail("cpu.%u: %zu MSRs, more than a snapshot holds (%u)", vcpu->index,
				kept, LVM_X86_SNAPSHOT_MSRS_MAX);
	img->nmsrs = (uint32_t)kept;
	return 0;
}

static int read_fpu(struct lvm_vcpu *vcpu, const struct host_caps *host, struct cpu_image *img)
{
	if (host->xsave_size == 0) {
		img->fpu_format = FPU_LEGACY;
		return VCPU_GET(vcpu, KVM_GET_FPU, &img->fpu);
	}
	img->fpu_format = FPU_XSAVE;
	img->xsave_size = host->xsave_size;
	img->xsave = calloc(1, host->xsave_size);
	if (!img->xsave)
		return lvm_fail("out of memory");
	if (host->xsave2)
		return VCPU_GET(vcpu, KVM_GET_XSAVE2, img->xsave);
	return VCPU_GET(vcpu, KVM_GET_XSAVE, img->xsave);
}

static int read_cpu(struct lvm_vcpu *vcpu, struct cpu_image *img)
{
	struct host_caps host = host_caps(vcpu->vm);
	int khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	img->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
	img->sregs_format = host.sregs2 ? SREGS_V2 : SREGS_V1;
	img->has_xcrs = host.xcrs;
	if (VCPU_GET(vcpu, KVM_GET_MP_STATE, &img->mp) < 0 ||
	    VCPU_GET(vcpu, KVM_GET_REGS, &img->regs) < 0 ||
	    (host.sregs2 ? VCPU_GET(vcpu, KVM_GET_SREGS2, &img->sregs2)
			 : VCPU_GET(vcpu, KVM_GET_SREGS, &img->sregs)) < 0 ||
	    read_fpu(vcpu, &host, img) < 0 ||
	    (host.xcrs && VCPU_GET(vcpu, KVM_GET_XCRS, &img->xcrs) < 0) ||
	    VCPU_GET(vcpu, KVM_GET_DEBUGREGS, &img->debugregs) < 0 ||
	    VCPU_GET(vcpu, KVM_GET_LAPIC, &img->lapic) < 0 ||
	    VCPU_GET(vcpu, KVM_GET_VCPU_EVENTS, &img->events) < 0)
		return -1;
	return read_msrs(vcpu, img);
}

static void write_image(struct lvm_state_writer *w, const struct cpu_image *img)
{
	lvm_state_put_u32(w, img->tsc_khz);
	lvm_state_put_u32(w, img->mp.mp_state);
	lvm_state_put_blob(w, &img->regs, sizeof(img->regs));
	lvm_state_put_u8(w, img->sregs_format);
	if (img->sregs_format == SREGS_V2)
		lvm_state_put_blob(w, &img->sregs2, sizeof(img->sregs2));
	else
		lvm_state_put_blob(w, &img->sregs, sizeof(img->sregs));
	lvm_state_put_u8(w, img->fpu_format);
	if (img->fpu_format == FPU_XSAVE)
		lvm_state_put_blob(w, img->xsave, img->xsave_size);
	else
		lvm_state_put_blob(w, &img->fpu, sizeof(img->fpu));
	lvm_state_put_bool(w, img->has_xcrs);
	if (img->has_xcrs)
		lvm_state_put_blob(w, &img->xcrs, sizeof(img->xcrs));
	lvm_state_put_blob(w, &img->debugregs, sizeof(img->debugregs));
	lvm_state_put_blob(w, &img->lapic, sizeof(img->lapic));
	lvm_state_put_blob(w, &img->events, sizeof(img->events));
	lvm_state_put_u32(w, img->nmsrs);
	for (uint32_t i = 0; i < img->nmsrs; i++) {
		lvm_state_put_u32(w, img->msrs[i].index);
		lvm_state_put_u64(w, img->msrs[i].data);
	}
}

/* The vCPU's whole state into a new image; NULL + lvm_error on failure.
 * A vCPU whose set-up is still pending (kvm/vm.h) is set up first: its
 * state is that of a vCPU about to run. */
static struct cpu_image *capture(struct lvm_vcpu *vcpu)
{
	if (lvm_vcpu_set_up(vcpu) < 0)
		return NULL;
	/* Its access would be completed with an answer the hook has not given. */
	if (lvm_hookq_waiting(&vcpu->vm->hooks)) {
		lvm_fail("cpu.%u: a vCPU waits for a Lua hook's answer; cannot save now",
			 vcpu->index);
		return NULL;
	}
	if (complete_pending_exit(vcpu) < 0)
		return NULL;
	struct cpu_image *img = calloc(1, sizeof(*img));
	if (!img) {
		lvm_fail("out of memory");
		return NULL;
	}
	if (read_cpu(vcpu, img) < 0) {
		free_image(img);
		return NULL;
	}
	return img;
}

int lvm_x86_vcpu_save(struct lvm_vcpu *vcpu, struct lvm_state_writer *w)
{
	struct cpu_image *img = capture(vcpu);
	if (!img)
		return -1;
	write_image(w, img);
	free_image(img);
	return 0;
}

/* --- power-on states ------------------------------------------------------ */

/* The xAPIC ID register (SDM vol. 3A §11.4.6): offset 0x20, the ID in bits 31:24. */
#define LAPIC_ID_REG 0x20u

static uint32_t lapic_id_reg(const struct kvm_lapic_state *lapic)
{
	uint32_t v;
	memcpy(&v, lapic->regs + LAPIC_ID_REG, sizeof(v));
	return v;
}

static void set_lapic_id_reg(struct kvm_lapic_state *lapic, uint32_t v)
{
	memcpy(lapic->regs + LAPIC_ID_REG, &v, sizeof(v));
}

/* Whether two images are equal but for the APIC ID and IA32_TSC (which a
 * power-on state's user replaces anyway: sleep.c keeps the running TSC). */
static bool same_but_id(const struct cpu_image *a, const struct cpu_image *b)
{
	struct kvm_lapic_state la = a->lapic, lb = b->lapic;
	set_lapic_id_reg(&la, 0);
	set_lapic_id_reg(&lb, 0);
	if (a->tsc_khz != b->tsc_khz || memcmp(&a->mp, &b->mp, sizeof(a->mp)) != 0 ||
	    memcmp(&a->regs, &b->regs, sizeof(a->regs)) != 0 ||
	    a->sregs_format != b->sregs_format || memcmp(&a->sregs, &b->sregs, sizeof(a->sregs)) != 0 ||
	    memcmp(&a->sregs2, &b->sregs2, sizeof(a->sregs2)) != 0 ||
	    a->fpu_format != b->fpu_format || a->xsave_size != b->xsave_size ||
	    (a->xsave_size && memcmp(a->xsave, b->xsave, a->xsave_size) != 0) ||
	    memcmp(&a->fpu, &b->fpu, sizeof(a->fpu)) != 0 || a->has_xcrs != b->has_xcrs ||
	    memcmp(&a->xcrs, &b->xcrs, sizeof(a->xcrs)) != 0 ||
	    memcmp(&a->debugregs, &b->debugregs, sizeof(a->debugregs)) != 0 ||
	    memcmp(&la, &lb, sizeof(la)) != 0 || memcmp(&a->events, &b->events, sizeof(a->events)) != 0 ||
	    a->nmsrs != b->nmsrs)
		return false;
	for (uint32_t i = 0; i < a->nmsrs; i++)
		if (a->msrs[i].index != b->msrs[i].index ||
		    (a->msrs[i].index != MSR_IA32_TSC && a->msrs[i].data != b->msrs[i].data))
			return false;
	return true;
}

static void put_section(struct lvm_state_writer *w, unsigned index, const struct cpu_image *img)
{
	char name[16];
	snprintf(name, sizeof(name), "cpu.%u", index);
	lvm_state_begin(w, name);
	write_image(w, img);
}

/*
 * KVM resets every AP alike but for its APIC ID (kvm_lapic_reset writes
 * the vCPU id into the xAPIC ID register), and luavmm's CPUID and MSR
 * defaults do not touch what an image holds per AP.  So AP 1 and the last
 * AP are read, and when they agree but for the ID and the TSC (and carry
 * the xAPIC IDs 1 and n-1), the APs between are AP 1's image with their
 * own ID: two reads instead of n-1, each a dozen vCPU ioctls (~0.1-0.3 ms
 * on a nested host).  Otherwise, or with more than 256 vCPUs (IDs beyond
 * 8 bits), each is read.
 */
static int save_aps(struct lvm_vm *vm, struct lvm_state_writer *w)
{
	unsigned last = vm->ncpus - 1;
	struct cpu_image *first = capture(&vm->vcpus[1]);
	struct cpu_image *end = first && last > 1 ? capture(&vm->vcpus[last]) : NULL;
	if (!first || (last > 1 && !end)) {
		free_image(first);
		return -1;
	}
	bool derive = last > 1 && vm->ncpus <= 256 && lapic_id_reg(&first->lapic) == 1u << 24 &&
		      lapic_id_reg(&end->lapic) == last << 24 && same_but_id(first, end);
	put_section(w, 1, first);
	int rc = 0;
	for (unsigned i = 2; i < last && rc == 0; i++) {
		if (derive) {
			set_lapic_id_reg(&first->lapic, i << 24);
			put_section(w, i, first);
			continue;
		}
		struct cpu_image *img = capture(&vm->vcpus[i]);
		if (!img)
			rc = -1;
		else
			put_section(w, i, img);
		free_image(img);
	}
	if (rc == 0 && end)
		put_section(w, last, end);
	free_image(first);
	free_image(end);
	return rc;
}

int lvm_x86_vcpu_save_power_on(struct lvm_vm *vm, struct lvm_state_writer *w)
{
	struct cpu_image *bsp = capture(&vm->vcpus[0]);
	if (!bsp)
		return -1;
	put_section(w, 0, bsp);
	free_image(bsp);
	return vm->ncpus > 1 ? save_aps(vm, w) : 0;
}

/* --- loading ------------------------------------------------------------ */

/* Marks the reader failed and sets lvm_error, both with "cpu.N: why". */
static int refuse(struct lvm_vcpu *vcpu, struct lvm_state_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(struct lvm_vcpu *vcpu, struct lvm_state_reader *r, const char *fmt, ...)
{
	char why[192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	lvm_state_bad(r, "%s", why);
	return lvm_fail("cpu.%u: %s", vcpu->index, why);
}

/* -1 + lvm_error if a read ran past the section or met a bad flag, else 0. */
static int check_reader(struct lvm_vcpu *vcpu, struct lvm_state_reader *r)
{
	return r->failed ? lvm_fail("cpu.%u: %s", vcpu->index, r->why) : 0;
}

/* A blob that must be exactly `size` bytes: the KVM struct `what`. */
static int get_struct(struct lvm_vcpu *vcpu, struct lvm_state_reader *r, void *out, size_t size,
		      const char *what)
{
	uint32_t n = lvm_state_get_u32(r);
	if (!r->failed && n != size)
		return refuse(vcpu, r, "%s is %u bytes in the snapshot, %zu here", what, n, size);
	lvm_state_get_bytes(r, out, size);
	return check_reader(vcpu, r);
}

static int parse_sregs(struct lvm_vcpu *vcpu, struct lvm_state_reader *r, struct cpu_image *img)
{
	img->sregs_format = lvm_state_get_u8(r);
	if (img->sregs_format == SREGS_V1)
		return get_struct(vcpu, r, &img->sregs, sizeof(img->sregs), "struct kvm_sregs");
	if (img->sregs_format == SREGS_V2) {
		if (get_struct(vcpu, r, &img->sregs2, sizeof(img->sregs2), "struct kvm_sregs2") < 0)
			return -1;
		if (img->sregs2.flags & ~(uint64_t)KVM_SREGS2_FLAGS_PDPTRS_VALID)
			return refuse(vcpu, r, "sregs2 flags 0x%llx", (unsigned long long)img->sregs2.flags);
		return 0;
	}
	if (r->failed)
		return check_reader(vcpu, r);
	return refuse(vcpu, r, "special registers in format %u (not 1 or 2)", img->sregs_format);
}

static int parse_fpu(struct lvm_vcpu *vcpu, struct lvm_state_reader *r,
		     const struct host_caps *host, struct cpu_image *img)
{
	img->fpu_format = lvm_state_get_u8(r);
	if (img->fpu_format == FPU_LEGACY)
		return get_struct(vcpu, r, &img->fpu, sizeof(img->fpu), "struct kvm_fpu");
	if (r->failed)
		return check_reader(vcpu, r);
	if (img->fpu_format != FPU_XSAVE)
		return refuse(vcpu, r, "FPU state in format %u (not 1 or 2)", img->fpu_format);
	uint32_t n = lvm_state_get_u32(r);
	if (r->failed)
		return check_reader(vcpu, r);
	if (host->xsave_size == 0)
		return refuse(vcpu, r, "the snapshot has an XSAVE area, this host's KVM has no XSAVE");
	if (n != host->xsave_size)
		return refuse(vcpu, r, "XSAVE area is %u bytes here, the snapshot has %u",
			      host->xsave_size, n);
	img->xsave_size = n;
	img->xsave = calloc(1, n);
	if (!img->xsave)
		return refuse(vcpu, r, "out of memory");
	lvm_state_get_bytes(r, img->xsave, n);
	return check_reader(vcpu, r);
}

static int parse_xcrs(struct lvm_vcpu *vcpu, struct lvm_state_reader *r,
		      const struct host_caps *host, struct cpu_image *img)
{
	img->has_xcrs = lvm_state_get_bool(r);
	if (!img->has_xcrs)
		return check_reader(vcpu, r);
	if (get_struct(vcpu, r, &img->xcrs, sizeof(img->xcrs), "struct kvm_xcrs") < 0)
		return -1;
	if (!host->xcrs)
		return refuse(vcpu, r, "the snapshot has XCRs, this host's KVM has no KVM_SET_XCRS");
	if (img->xcrs.nr_xcrs > KVM_MAX_XCRS)
		return refuse(vcpu, r, "%u XCRs (at most %u)", img->xcrs.nr_xcrs, KVM_MAX_XCRS);
	return 0;
}

static int parse_msrs(struct lvm_vcpu *vcpu, struct lvm_state_reader *r, struct cpu_image *img)
{
	uint32_t n = lvm_state_get_u32(r);
	if (r->failed)
		return check_reader(vcpu, r);
	if (n > LVM_X86_SNAPSHOT_MSRS_MAX)
		return refuse(vcpu, r, "%u MSRs (at most %u)", n, LVM_X86_SNAPSHOT_MSRS_MAX);
	/* 12 bytes each: a count the section cannot hold is refused before allocating. */
	if ((uint64_t)n * 12 > r->len - r->pos)
		return refuse(vcpu, r, "%u MSRs do not fit in the %zu bytes left", n, r->len - r->pos);
	img->msrs = calloc(n ? n : 1, sizeof(*img->msrs));
	if (!img->msrs)
		return refuse(vcpu, r, "out of memory");
	img->nmsrs = n;
	for (uint32_t i = 0; i < n; i++) {
		img->msrs[i].index = lvm_state_get_u32(r);
		img->msrs[i].data = lvm_state_get_u64(r);
	}
	return check_reader(vcpu, r);
}

/* Reads and checks the whole section; nothing reaches KVM yet. */
static int parse_image(struct lvm_vcpu *vcpu, struct lvm_state_reader *r,
		       const struct host_caps *host, struct cpu_image *img)
{
	img->tsc_khz = lvm_state_get_u32(r);
	img->mp.mp_state = lvm_state_get_u32(r);
	if (!r->failed && img->mp.mp_state > KVM_MP_STATE_SUSPENDED)
		return refuse(vcpu, r, "MP state %u", img->mp.mp_state);
	if (get_struct(vcpu, r, &img->regs, sizeof(img->regs), "struct kvm_regs") < 0 ||
	    parse_sregs(vcpu, r, img) < 0 || parse_fpu(vcpu, r, host, img) < 0 ||
	    parse_xcrs(vcpu, r, host, img) < 0 ||
	    get_struct(vcpu, r, &img->debugregs, sizeof(img->debugregs), "struct kvm_debugregs") < 0 ||
	    get_struct(vcpu, r, &img->lapic, sizeof(img->lapic), "struct kvm_lapic_state") < 0 ||
	    get_struct(vcpu, r, &img->events, sizeof(img->events), "struct kvm_vcpu_events") < 0 ||
	    parse_msrs(vcpu, r, img) < 0)
		return -1;
	if (r->pos != r->len)
		return refuse(vcpu, r, "%zu bytes left over", r->len - r->pos);
	return 0;
}

static int vcpu_set(struct lvm_vcpu *vcpu, struct lvm_state_reader *r, unsigned long request,
		    void *arg, const char *name)
{
	if (ioctl(vcpu->fd, request, arg) < 0)
		return refuse(vcpu, r, "%s: %s", name, strerror(errno));
	return 0;
}

#define VCPU_SET(vcpu, r, request, arg) vcpu_set(vcpu, r, request, arg, #request)

/*
 * The guest's TSC runs at the saving host's rate.  KVM_SET_TSC_KHZ fails
 * when this host can neither scale its TSC to it nor emulate it (a rate
 * above the host's, by catching up).
 */
static int load_tsc_khz(struct lvm_vcpu *vcpu, struct lvm_state_reader *r, uint32_t khz)
{
	int here = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	if (khz == 0 || (here > 0 && (uint32_t)here == khz))
		return 0;
	if (ioctl(vcpu->fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0)
		return refuse(vcpu, r, "KVM_SET_TSC_KHZ: this host cannot run the guest's TSC at "
			      "%u kHz (its own runs at %d kHz): %s", khz, here, strerror(errno));
	return 0;
}

/* Without KVM_SET_SREGS2 here: KVM then reads the PDPTRs from guest memory. */
static void sregs2_to_sregs(const struct kvm_sregs2 *s2, struct kvm_sregs *s)
{
	*s = (struct kvm_sregs){
		.cs = s2->cs, .ds = s2->ds, .es = s2->es, .fs = s2->fs, .gs = s2->gs, .ss = s2->ss,
		.tr = s2->tr, .ldt = s2->ldt, .gdt = s2->gdt, .idt = s2->idt,
		.cr0 = s2->cr0, .cr2 = s2->cr2, .cr3 = s2->cr3, .cr4 = s2->cr4, .cr8 = s2->cr8,
		.efer = s2->efer, .apic_base = s2->apic_base,
	}; /* no interrupt_bitmap: a pending interrupt travels in the vCPU events */
}

static int load_sregs(struct lvm_vcpu *vcpu, struct lvm_state_reader *r,
		      const struct host_caps *host, struct cpu_image *img)
{
	if (img->sregs_format == SREGS_V2 && host->sregs2)
		return VCPU_SET(vcpu, r, KVM_SET_SREGS2, &img->sregs2);
	if (img->sregs_format == SREGS_V2)
		sregs2_to_sregs(&img->sregs2, &img->sregs);
	return VCPU_SET(vcpu, r, KVM_SET_SREGS, &img->sregs);
}

static int load_fpu(struct lvm_vcpu *vcpu, struct lvm_state_reader *r, struct cpu_image *img)
{
	if (img->fpu_format == FPU_XSAVE)
		return VCPU_SET(vcpu, r, KVM_SET_XSAVE, img->xsave);
	return VCPU_SET(vcpu, r, KVM_SET_FPU, &img->fpu);
}

/* 0 for IA32_TSC, 2 for TSC_DEADLINE, 1 for the others: the order they are set in. */
static unsigned msr_rank(uint32_t index)
{
	return index == MSR_IA32_TSC ? 0 : index == MSR_IA32_TSC_DEADLINE ? 2 : 1;
}

static int set_msr_batch(struct lvm_vcpu *vcpu, struct lvm_state_reader *r,
			 const struct kvm_msr_entry *entries, uint32_t n)
{
	_Alignas(struct kvm_msrs) uint8_t buf[sizeof(struct kvm_msrs) +
					      MSR_BATCH * sizeof(struct kvm_msr_entry)];
	struct kvm_msrs *msrs = (struct kvm_msrs *)buf;
	memset(buf, 0, sizeof(buf));
	msrs->nmsrs = n;
	memcpy(msrs->entries, entries, n * sizeof(*entries));
	int set = ioctl(vcpu->fd, KVM_SET_MSRS, msrs);
	if (set < 0)
		return refuse(vcpu, r, "KVM_SET_MSRS: %s", strerror(errno));
	if ((uint32_t)set < n) /* KVM stops at the first MSR it refuses */
		return refuse(vcpu, r, "KVM_SET_MSRS: this host does not accept MSR 0x%x = 0x%llx, "
			      "which the saving host had", entries[set].index,
			      (unsigned long long)entries[set].data);
	return 0;
}

/*
 * IA32_TSC.  Some hosts cannot move the guest's TSC (kvm_pvm: the guest
 * reads the host's) yet keep the offset asked for in KVM's own sums (the
 * TSC-deadline timer, kvmclock), which then disagree with what the guest
 * reads by the time the snapshot spent on disk: its timers would fire that
 * much late.  There the TSC is set once more to what the guest reads now,
 * which brings the offset back to (about) zero.
 */
static int load_tsc(struct lvm_vcpu *vcpu, struct lvm_state_reader *r, struct kvm_msr_entry tsc)
{
	if (set_msr_batch(vcpu, r, &tsc, 1) < 0)
		return -1;
	struct kvm_msr_entry now = { .index = MSR_IA32_TSC };
	if (get_msr_batch(vcpu, &now.index, 1, &now) != 1)
		return refuse(vcpu, r, "KVM_GET_MSRS: cannot read back IA32_TSC");
	int khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	uint64_t slack = khz > 0 ? (uint64_t)khz * 50 : 1ull << 27; /* 50 ms of ticks */
	if (now.data >= tsc.data && now.data - tsc.data < slack)
		return 0;
	return set_msr_batch(vcpu, r, &now, 1);
}

static int load_msrs(struct lvm_vcpu *vcpu, struct lvm_state_reader *r, const struct cpu_image *img)
{
	struct kvm_msr_entry *ordered = calloc(img->nmsrs ? img->nmsrs : 1, sizeof(*ordered));
	if (!ordered)
		return refuse(vcpu, r, "out of memory");
	uint32_t n = 0;
	int rc = 0;
	for (uint32_t i = 0; i < img->nmsrs && rc == 0; i++)
		if (msr_rank(img->msrs[i].index) == 0)
			rc = load_tsc(vcpu, r, img->msrs[i]);
	for (unsigned rank = 1; rank < 3; rank++)
		for (uint32_t i = 0; i < img->nmsrs; i++)
			if (msr_rank(img->msrs[i].index) == rank)
				ordered[n++] = img->msrs[i];
	for (uint32_t at = 0; at < n && rc == 0; at += MSR_BATCH)
		rc = set_msr_batch(vcpu, r, ordered + at, n - at < MSR_BATCH ? n - at : MSR_BATCH);
	free(ordered);
	return rc;
}

/* The order is explained in vcpu_state.h. */
static int apply_image(struct lvm_vcpu *vcpu, struct lvm_state_reader *r,
		       const struct host_caps *host, struct cpu_image *img)
{
	/* KVM applies the NMI and SIPI fields only when told to (api.rst). */
	img->events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	if (load_tsc_khz(vcpu, r, img->tsc_khz) < 0 ||
	    VCPU_SET(vcpu, r, KVM_SET_REGS, &img->regs) < 0 ||
	    load_sregs(vcpu, r, host, img) < 0 ||
	    VCPU_SET(vcpu, r, KVM_SET_MP_STATE, &img->mp) < 0 ||
	    load_fpu(vcpu, r, img) < 0 ||
	    (img->has_xcrs && VCPU_SET(vcpu, r, KVM_SET_XCRS, &img->xcrs) < 0) ||
	    VCPU_SET(vcpu, r, KVM_SET_DEBUGREGS, &img->debugregs) < 0 ||
	    VCPU_SET(vcpu, r, KVM_SET_LAPIC, &img->lapic) < 0 ||
	    load_msrs(vcpu, r, img) < 0 ||
	    VCPU_SET(vcpu, r, KVM_SET_VCPU_EVENTS, &img->events) < 0)
		return -1;
	return 0;
}

int lvm_x86_vcpu_load(struct lvm_vcpu *vcpu, struct lvm_state_reader *r)
{
	/* Set up first (CPUID decides what XSAVE and the MSRs accept), as it
	 * would be before it runs; the state loaded then replaces the rest. */
	if (lvm_vcpu_set_up(vcpu) < 0) {
		lvm_state_bad(r, "%s", lvm_error());
		return -1;
	}
	struct host_caps host = host_caps(vcpu->vm);
	struct cpu_image *img = calloc(1, sizeof(*img));
	if (!img)
		return refuse(vcpu, r, "out of memory");
	int rc = parse_image(vcpu, r, &host, img);
	if (rc == 0)
		rc = apply_image(vcpu, r, &host, img);
	free_image(img);
	return rc;
}

/* --- the VM's clock ----------------------------------------------------- */

int lvm_x86_clock_save(struct lvm_vm *vm, struct lvm_state_writer *w)
{
	struct kvm_clock_data clock;
	memset(&clock, 0, sizeof(clock));
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return lvm_fail_errno("clock: KVM_GET_CLOCK");
	lvm_state_put_u64(w, clock.clock);
	return 0;
}

int lvm_x86_clock_load(struct lvm_vm *vm, struct lvm_state_reader *r)
{
	struct kvm_clock_data clock;
	memset(&clock, 0, sizeof(clock));
	clock.clock = lvm_state_get_u64(r);
	if (r->failed)
		return lvm_fail("clock: %s", r->why);
	if (r->pos != r->len) {
		lvm_state_bad(r, "%zu bytes left over", r->len - r->pos);
		return lvm_fail("clock: %s", r->why);
	}
	/* flags 0: the clock continues from the saved value, not from the wall clock. */
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0) {
		lvm_state_bad(r, "KVM_SET_CLOCK: %s", strerror(errno));
		return lvm_fail("clock: %s", r->why);
	}
	return 0;
}
