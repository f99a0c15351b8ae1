/*
 * The VM's GSI routing table (api.rst KVM_SET_GSI_ROUTING).  KVM only takes
 * the table whole, while its routes have several owners: the IOAPIC's pins
 * (the split irqchip's MSI routes, or the kernel irqchip's default pin
 * routes) and the MSI-X vectors of PCI devices.  Each owner replaces the
 * routes of its own GSI range here and the whole table is pushed again.
 * A push KVM refuses changes nothing: the table keeps its old routes, so
 * one bad route (a guest's) never takes the others down with it.
 */
#ifndef LVM_KVM_GSI_ROUTES_H
#define LVM_KVM_GSI_ROUTES_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

#include "kvm/irq.h"

#define LVM_GSI_ROUTES_MAX 1024u /* entries: far below KVM_MAX_IRQ_ROUTES (4096) */

struct lvm_gsi_routes {
	pthread_mutex_t lock;
	struct kvm_irq_routing_entry *entries; /* sorted by GSI */
	unsigned count;
	uint64_t pushes; /* KVM_SET_GSI_ROUTING calls that succeeded */
};

void lvm_gsi_routes_init(struct lvm_gsi_routes *r);
void lvm_gsi_routes_destroy(struct lvm_gsi_routes *r);

/*
 * Replaces every route of GSIs [first, first + n) with `entries` (`count`
 * of them, each with its gsi in that range; several per GSI are allowed,
 * as KVM's PIC + IOAPIC defaults have).  push: hand the whole table to KVM
 * (vm_fd); false only records routes KVM already has.  0, or -1 +
 * lvm_error with nothing changed.  Any thread.
 */
int lvm_gsi_routes_set(struct lvm_gsi_routes *r, int vm_fd, unsigned first, unsigned n,
		       const struct kvm_irq_routing_entry *entries, unsigned count, bool push);

/* One GSI routed to an MSI (msi != NULL) or to nothing. */
int lvm_gsi_routes_set_msi(struct lvm_gsi_routes *r, int vm_fd, unsigned gsi,
			   const struct lvm_msi *msi);

#endif
