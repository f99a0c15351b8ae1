/*
 * The table of device kinds a recipe can ask for (devices/device.h), in
 * the order their slots are handed out.  Adding a device is adding its
 * entry here.
 */
#ifndef LVM_MACHINE_DEVICES_H
#define LVM_MACHINE_DEVICES_H

#include "devices/device.h"

extern const struct lvm_device_type *const lvm_device_types[];
extern const unsigned lvm_device_type_count;

/* The kind whose recipe key is `key`, or NULL. */
const struct lvm_device_type *lvm_device_type_find(const char *key);

#endif
