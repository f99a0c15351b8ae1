/*
 * What the architecture layer provides to the generic VM (the kernel's
 * kvm_arch_* pattern): kvm/ declares, arch/<arch>/ implements.
 */
#ifndef LVM_KVM_ARCH_H
#define LVM_KVM_ARCH_H

struct lvm_vm;
struct lvm_vm_options;

/*
 * VM-wide set-up that must precede guest memory and vCPUs: for x86 the
 * TSS and identity-map pages and the irqchip of opts->irqchip.
 */
int lvm_arch_vm_init(struct lvm_vm *vm, const struct lvm_vm_options *opts);

#endif
