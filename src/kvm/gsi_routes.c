#include "kvm/gsi_routes.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/error.h"

void lvm_gsi_routes_init(struct lvm_gsi_routes *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
}

void lvm_gsi_routes_destroy(struct lvm_gsi_routes *r)
{
	free(r->entries);
	r->entries = NULL;
	r->count = 0;
	pthread_mutex_destroy(&r->lock);
}

static int push(int vm_fd, const struct kvm_irq_routing_entry *e, unsigned n)
{
	struct kvm_irq_routing *table = calloc(1, sizeof(*table) + n * sizeof(*e));
	if (!table)
		return lvm_fail("out of memory");
	table->nr = n;
	if (n)
		memcpy(table->entries, e, n * sizeof(*e));
	int rc = ioctl(vm_fd, KVM_SET_GSI_ROUTING, table);
	free(table);
	return rc < 0 ? lvm_fail_errno("KVM_SET_GSI_ROUTING (%u routes)", n) : 0;
}

/* The table with [first, first + n) replaced, in GSI order; NULL + lvm_error. */
static struct kvm_irq_routing_entry *merged(const struct lvm_gsi_routes *r, unsigned first,
					    unsigned n, const struct kvm_irq_routing_entry *add,
					    unsigned count, unsigned *out_count)
{
	struct kvm_irq_routing_entry *out = calloc(r->count + count + 1, sizeof(*out));
	if (!out) {
		lvm_fail("out of memory");
		return NULL;
	}
	unsigned k = 0, i = 0;
	for (; i < r->count && r->entries[i].gsi < first; i++)
		out[k++] = r->entries[i];
	for (unsigned j = 0; j < count; j++)
		out[k++] = add[j];
	for (; i < r->count; i++)
		if (r->entries[i].gsi >= first + n)
			out[k++] = r->entries[i];
	*out_count = k;
	return out;
}

int lvm_gsi_routes_set(struct lvm_gsi_routes *r, int vm_fd, unsigned first, unsigned n,
		       const struct kvm_irq_routing_entry *entries, unsigned count, bool do_push)
{
	for (unsigned j = 0; j < count; j++)
		if (entries[j].gsi < first || entries[j].gsi - first >= n ||
		    (j && entries[j].gsi < entries[j - 1].gsi))
			return lvm_fail("gsi routes: GSI %u is outside %u+%u or out of order",
					entries[j].gsi, first, n);
	pthread_mutex_lock(&r->lock);
	unsigned total = 0;
	struct kvm_irq_routing_entry *table = merged(r, first, n, entries, count, &total);
	int rc = table ? 0 : -1;
	if (rc == 0 && total > LVM_GSI_ROUTES_MAX)
		rc = lvm_fail("gsi routes: %u routes, at most %u", total, LVM_GSI_ROUTES_MAX);
	if (rc == 0 && do_push)
		rc = push(vm_fd, table, total);
	if (rc == 0) {
		free(r->entries);
		r->entries = table;
		r->count = total;
		r->pushes += do_push;
	} else {
		free(table);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int lvm_gsi_routes_set_msi(struct lvm_gsi_routes *r, int vm_fd, unsigned gsi,
			   const struct lvm_msi *msi)
{
	struct kvm_irq_routing_entry e = { .gsi = gsi, .type = KVM_IRQ_ROUTING_MSI };
	if (msi) {
		e.u.msi.address_lo = (uint32_t)msi->address;
		e.u.msi.address_hi = (uint32_t)(msi->address >> 32);
		e.u.msi.data = msi->data;
	}
	return lvm_gsi_routes_set(r, vm_fd, gsi, 1, &e, msi ? 1 : 0, true);
}
