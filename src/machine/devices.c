#include "machine/devices.h"

#include <string.h>

#include "devices/virtio/balloon.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vconsole.h"
#include "devices/virtio/vsock.h"

const struct lvm_device_type *const lvm_device_types[] = {
	&lvm_blk_device,      /* disks = { NAME = {...} } */
	&lvm_net_device,      /* nets = { NAME = {...} } */
	&lvm_rng_device,      /* rng = true */
	&lvm_vconsole_device, /* virtio_console = true */
	&lvm_balloon_device,  /* balloon = true | { stats =, deflate_on_oom =, ... } */
	&lvm_vsock_device,    /* vsock = { cid = 3, path = "v.sock" } */
};

const unsigned lvm_device_type_count = sizeof(lvm_device_types) / sizeof(lvm_device_types[0]);

const struct lvm_device_type *lvm_device_type_find(const char *key)
{
	for (unsigned i = 0; i < lvm_device_type_count; i++)
		if (strcmp(lvm_device_types[i]->key, key) == 0)
			return lvm_device_types[i];
	return NULL;
}
