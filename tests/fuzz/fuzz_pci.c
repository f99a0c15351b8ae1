/*
 * libFuzzer target for the PCI host bridge (devices/pci/host.c, config.c)
 * and a virtio-pci function (devices/virtio/pci.c) in front of the real
 * virtio-rng device: the input is a program of CONFIG_ADDRESS/DATA and
 * ECAM accesses of every width, accesses to wherever BAR 0 decodes (and
 * anywhere else on the MMIO bus), device interrupts, queue service and
 * save/load round trips.  KVM's ioctls succeed without KVM (--wrap=ioctl),
 * so BAR moves, ioeventfds, irqfds and MSI routes all take their paths.
 * Invariants: the BAR is on the bus exactly where the function says it
 * decodes; IDs never change.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "devices/pci/host.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"
#include "fuzz_virtio.h"
#include "util/error.h"
#include "util/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __real_ioctl(int fd, unsigned long request, ...);
int __wrap_ioctl(int fd, unsigned long request, ...);

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	(void)fd;
	(void)request;
	return 0; /* KVM_IOEVENTFD, KVM_IRQFD, KVM_SET_GSI_ROUTING */
}

#define ECAM 0xe0000000ull
#define DEV 1u

struct bar_probe {
	uint64_t base;
	bool found;
};

static void find_bar(void *ctx, const struct lvm_bus_range *r)
{
	struct bar_probe *p = ctx;
	if (r->fn == lvm_virtio_pci_bar_io) {
		p->base = r->base;
		p->found = true;
	}
}

static void access(struct lvm_bus *bus, uint64_t addr, struct fz *in)
{
	static const uint32_t sizes[] = { 1, 2, 4, 8 };
	uint32_t n = sizes[fz_u8(in) & 3];
	bool write = fz_u8(in) & 1;
	uint8_t buf[8];
	fz_bytes(in, buf, sizeof(buf));
	lvm_bus_dispatch(bus, addr, buf, n, write);
}

static void round_trip(struct lvm_virtio_transport *t)
{
	struct lvm_state_writer w;
	lvm_state_writer_init(&w);
	lvm_state_begin(&w, "dev");
	lvm_virtio_save(t, &w);
	if (lvm_state_finish(&w) == 0) {
		struct lvm_state_reader r;
		/* What we saved must load. */
		if (lvm_state_section(w.buf, w.len, "dev", &r) == 0 &&
		    (lvm_virtio_load(t, &r) < 0 || lvm_state_section_done(&r) < 0)) {
			fprintf(stderr, "load: %s (%s)\n", lvm_error(), r.why);
			abort();
		}
	}
	lvm_state_writer_free(&w);
}

static void step(struct fv *s, struct lvm_pci_host *h, struct fz *in)
{
	struct lvm_virtio_transport *t = s->t;
	uint8_t op = fz_u8(in) % 8;
	switch (op) {
	case 0: { /* CONFIG_ADDRESS, any width */
		uint8_t buf[4];
		fz_bytes(in, buf, 4);
		lvm_bus_dispatch(&s->vm.pio, LVM_PCI_CONFIG_ADDRESS_PORT + (fz_u8(in) & 3), buf,
				 1u << (fz_u8(in) % 3), true);
		break;
	}
	case 1: /* CONFIG_DATA */
		access(&s->vm.pio, LVM_PCI_CONFIG_DATA_PORT + (fz_u8(in) & 3), in);
		break;
	case 2: /* ECAM, mostly our function */
		access(&s->vm.mmio, ECAM + (fz_u8(in) & 1 ? (DEV << 15) + (fz_u16(in) & 0xfff)
						       : fz_u32(in) % LVM_PCI_ECAM_SIZE), in);
		break;
	case 3: { /* wherever BAR 0 decodes */
		struct bar_probe p = { 0, false };
		lvm_bus_visit(&s->vm.mmio, find_bar, &p);
		if (p.found)
			access(&s->vm.mmio, p.base + fz_u16(in) % LVM_VIRTIO_PCI_BAR_SIZE, in);
		break;
	}
	case 4: /* anywhere */
		access(&s->vm.mmio, fz_u64(in), in);
		break;
	case 5: /* the device's side: a configuration change, a queue served */
		pthread_mutex_lock(&t->lock);
		if (fz_u8(in) & 1)
			lvm_virtio_config_changed(t);
		else if (lvm_virtio_driver_ok(t) && t->vq[0].ready)
			t->ops->queue_event(t->dev, t, 0);
		pthread_mutex_unlock(&t->lock);
		break;
	case 6:
		round_trip(t);
		break;
	case 7: /* guest memory: rings and buffers */
		fz_bytes(in, s->vm.mem.host + fz_u16(in) % (FV_RAM - 64), 64);
		break;
	}
	(void)h;
}

/* The BAR is on the bus exactly where the function decodes it. */
static void check(struct fv *s)
{
	struct lvm_virtio_pci *p = s->t->pci;
	struct bar_probe probe = { 0, false };
	lvm_bus_visit(&s->vm.mmio, find_bar, &probe);
	if (probe.found != (p->mapped != 0) || (probe.found && probe.base != p->mapped))
		abort();
	if (lvm_pci_config_get(&p->cfg, 0, 4) != (0x1af4u | (0x1040u + 4) << 16))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	static struct fv s;
	fv_vm_init(&s);
	lvm_bus_init(&s.vm.pio);
	lvm_bus_init(&s.vm.mmio);
	lvm_gsi_routes_init(&s.vm.gsi_routes);
	struct lvm_pci_host_layout layout = { ECAM, 0xc0000000ull, 0x10000000ull, 24 };
	struct lvm_pci_host *h = lvm_pci_host_new(&s.vm, &layout);
	struct lvm_rng *rng = h ? lvm_rng_new(&s.vm, ECAM + (DEV << 15), 5) : NULL;
	if (!rng)
		abort();
	s.t = fake_last_transport;
	if (lvm_virtio_pci_attach(s.t, h, DEV) < 0)
		abort();
	for (unsigned i = 0; i < 256 && in.n; i++) {
		step(&s, h, &in);
		check(&s);
	}
	lvm_rng_free(rng);
	lvm_pci_host_free(h);
	lvm_gsi_routes_destroy(&s.vm.gsi_routes);
	lvm_bus_destroy(&s.vm.pio);
	lvm_bus_destroy(&s.vm.mmio);
	fv_vm_free(&s);
	return 0;
}
