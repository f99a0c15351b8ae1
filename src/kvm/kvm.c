#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/error.h"

/* Capabilities the core relies on, with the reason shown if one is missing. */
static const struct {
	long cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP (in-kernel interrupt controller)" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2 (in-kernel timer)" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT (clean vCPU stop)" },
};

static const char *device_path(void)
{
	const char *path = getenv("LUAVMM_KVM_DEVICE");
	return path && *path ? path : LVM_KVM_DEVICE_DEFAULT;
}

int lvm_kvm_open(void)
{
	const char *path = device_path();
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return lvm_fail("cannot open %s: no such device (is KVM enabled and the kvm module loaded?)", path);
		if (errno == EACCES || errno == EPERM)
			return lvm_fail("cannot open %s: permission denied (add the user to the 'kvm' group or run as root)", path);
		return lvm_fail_errno("cannot open %s", path);
	}
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		close(fd);
		return lvm_fail("%s: KVM API version %d, luavmm needs %d", path, version,
				KVM_API_VERSION);
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (lvm_kvm_check(fd, required_caps[i].cap) <= 0) {
			close(fd);
			return lvm_fail("%s: missing capability %s", path, required_caps[i].name);
		}
	}
	return fd;
}

int lvm_kvm_check(int kvm_fd, long capability)
{
	int r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, capability);
	return r < 0 ? 0 : r;
}

unsigned lvm_kvm_max_vcpus(int kvm_fd)
{
	/* api.rst 4.4: KVM_CAP_MAX_VCPUS, falling back to NR_VCPUS, then 4. */
	int max = lvm_kvm_check(kvm_fd, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = lvm_kvm_check(kvm_fd, KVM_CAP_NR_VCPUS);
	return max > 0 ? (unsigned)max : 4;
}
