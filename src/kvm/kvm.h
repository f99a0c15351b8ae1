/* The /dev/kvm system fd: opening it and asking what it can do. */
#ifndef LVM_KVM_KVM_H
#define LVM_KVM_KVM_H

/* Overridable with LUAVMM_KVM_DEVICE (tests use it to simulate a missing device). */
#define LVM_KVM_DEVICE_DEFAULT "/dev/kvm"

/* Opens the device, checks the API version and the capabilities luavmm needs. */
int lvm_kvm_open(void);
/* KVM_CHECK_EXTENSION; 0 when absent. */
int lvm_kvm_check(int kvm_fd, long capability);
/* The largest vCPU count this host's KVM accepts for one VM. */
unsigned lvm_kvm_max_vcpus(int kvm_fd);

#endif
