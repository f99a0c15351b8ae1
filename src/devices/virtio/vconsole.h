/*
 * virtio-console (virtio 1.2 §5.3), port 0 only (no MULTIPORT): what the
 * guest transmits goes to the machine's console sink, like the UART's
 * output; bytes given to lvm_vconsole_receive reach the guest's receiveq.
 */
#ifndef LVM_DEVICES_VIRTIO_VCONSOLE_H
#define LVM_DEVICES_VIRTIO_VCONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/vm.h"

#define LVM_VCONSOLE_RX_MAX 4096u /* bytes waiting for receive buffers */

struct lvm_vconsole;

struct lvm_vconsole *lvm_vconsole_new(struct lvm_vm *vm, uint64_t base, unsigned gsi);
int lvm_vconsole_start(struct lvm_vconsole *c);
void lvm_vconsole_free(struct lvm_vconsole *c);
/* Queues input for the guest; returns how many bytes were accepted. Any thread. */
size_t lvm_vconsole_receive(struct lvm_vconsole *c, const void *bytes, size_t n);

/* Its entry in the machine's device table (devices/device.h), in vconsole.c. */
struct lvm_device_type;
extern const struct lvm_device_type lvm_vconsole_device;

#endif
