/* virtio-rng (virtio 1.2 §5.4): fills each writable buffer from getrandom(). */
#ifndef LVM_DEVICES_VIRTIO_RNG_H
#define LVM_DEVICES_VIRTIO_RNG_H

#include <stdint.h>

#include "kvm/vm.h"

struct lvm_rng;

struct lvm_rng *lvm_rng_new(struct lvm_vm *vm, uint64_t base, unsigned gsi);
int lvm_rng_start(struct lvm_rng *rng);
void lvm_rng_free(struct lvm_rng *rng);
uint64_t lvm_rng_bytes(const struct lvm_rng *rng);

/* Its entry in the machine's device table (devices/device.h), in rng.c. */
struct lvm_device_type;
extern const struct lvm_device_type lvm_rng_device;

#endif
