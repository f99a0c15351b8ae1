/*
 * virtio-balloon (virtio 1.2 §5.5): the host sets a target (num_pages), the
 * driver inflates the balloon by handing page frames over the inflate
 * queue, and the device gives those pages back to the host (a hole punched
 * in the guest-RAM memfd: lvm_memory_discard).  Deflated pages need
 * nothing: the guest's next touch faults in a zero page.  With
 * VIRTIO_BALLOON_F_STATS_VQ the driver reports its memory statistics; with
 * VIRTIO_BALLOON_F_REPORTING it reports free pages, given back the same way.
 */
#ifndef LVM_DEVICES_VIRTIO_BALLOON_H
#define LVM_DEVICES_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm/vm.h"

struct lvm_balloon;

struct lvm_balloon_options {
	bool stats;            /* offer VIRTIO_BALLOON_F_STATS_VQ */
	bool deflate_on_oom;   /* offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
	uint32_t stats_interval_ms; /* how often to ask for fresh stats (0: only once) */
	bool free_page_reporting; /* offer VIRTIO_BALLOON_F_REPORTING */
};

struct lvm_balloon *lvm_balloon_new(struct lvm_vm *vm, uint64_t base, unsigned gsi,
				    const struct lvm_balloon_options *opt);
int lvm_balloon_start(struct lvm_balloon *b);
void lvm_balloon_free(struct lvm_balloon *b);
/* The host's target, in 4 KiB pages: updates num_pages and tells the driver. */
void lvm_balloon_set_target(struct lvm_balloon *b, uint32_t pages);
uint32_t lvm_balloon_target(struct lvm_balloon *b);
/* The balloon's size as the driver last reported it (config `actual`), in pages. */
uint32_t lvm_balloon_actual(struct lvm_balloon *b);

/* Its entry in the machine's device table (devices/device.h), in balloon.c. */
struct lvm_device_type;
extern const struct lvm_device_type lvm_balloon_device;

#endif
