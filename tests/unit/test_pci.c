/*
 * The PCI configuration space and BAR state machine (devices/pci/config.c),
 * the host bridge's two access mechanisms (devices/pci/host.c), and a
 * virtio-pci function on real KVM (devices/virtio/pci.c): BAR sizing and
 * moving on the MMIO bus, MSI-X routes in the VM's GSI routing table,
 * vector validation, masking into the PBA, and a save/load round trip
 * into a fresh machine with hostile states refused.
 */
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "devices/pci/config.h"
#include "devices/pci/host.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"
#include "util/error.h"
#include "util/state.h"

#define ECAM 0xe0000000ull
#define MEM 0xc0000000ull
#define MSI_GSI 24u
#define DEV 1u

/* ---- the config space alone ---- */

static uint32_t cget(const struct lvm_pci_config *c, uint32_t off, uint32_t size)
{
	uint8_t b[4] = { 0 };
	lvm_pci_config_read(c, off, b, size);
	uint32_t v = 0;
	memcpy(&v, b, size);
	return v;
}

static void cput(struct lvm_pci_config *c, uint32_t off, uint32_t size, uint32_t v)
{
	uint8_t b[4];
	memcpy(b, &v, 4);
	lvm_pci_config_write(c, off, b, size);
}

static void new_config(struct lvm_pci_config *c)
{
	struct lvm_pci_ids ids = { .vendor = 0x1af4, .device = 0x1044, .revision = 1,
				   .class_code = 0x00ff00, .subsystem_vendor = 0x1af4,
				   .subsystem = 0x1100, .interrupt_pin = 1 };
	lvm_pci_config_init(c, &ids);
	lvm_pci_config_bar64(c, 0, 0x8000);
}

static void test_bar_sizing(void)
{
	struct lvm_pci_config c;
	new_config(&c);
	CHECK_EQ_U64(cget(&c, PCI_BASE_ADDRESS_0, 4), PCI_BASE_ADDRESS_MEM_TYPE_64);
	cput(&c, PCI_BASE_ADDRESS_0, 4, 0xffffffffu);
	cput(&c, PCI_BASE_ADDRESS_1, 4, 0xffffffffu);
	/* The size mask with the type bits, then the whole upper half. */
	CHECK_EQ_U64(cget(&c, PCI_BASE_ADDRESS_0, 4), 0xffff8000u | PCI_BASE_ADDRESS_MEM_TYPE_64);
	CHECK_EQ_U64(cget(&c, PCI_BASE_ADDRESS_1, 4), 0xffffffffu);
	/* Memory decoding is off: nothing decodes, whatever the address. */
	CHECK_EQ_U64(lvm_pci_config_bar_decode(&c, 0, 1ull << 52), 0);
	cput(&c, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	/* All-ones with decoding on: the range wraps, so still nothing. */
	CHECK_EQ_U64(lvm_pci_config_bar_decode(&c, 0, 1ull << 52), 0);
	cput(&c, PCI_BASE_ADDRESS_0, 4, 0x12345678u); /* low bits below the size are read-only */
	cput(&c, PCI_BASE_ADDRESS_1, 4, 1);
	CHECK_EQ_U64(lvm_pci_config_bar_addr(&c, 0), 0x112340000ull);
	CHECK_EQ_U64(lvm_pci_config_bar_decode(&c, 0, 1ull << 52), 0x112340000ull);
	CHECK_EQ_U64(lvm_pci_config_bar_decode(&c, 0, 0x100000000ull), 0); /* past a limit */
	cput(&c, PCI_BASE_ADDRESS_1, 4, 0);
	cput(&c, PCI_BASE_ADDRESS_0, 4, 0);
	CHECK_EQ_U64(lvm_pci_config_bar_decode(&c, 0, 1ull << 52), 0); /* address 0: unassigned */
	/* BARs 2-5 are not there: all-ones reads back 0 (no BAR). */
	for (unsigned bar = 2; bar < 6; bar++) {
		cput(&c, PCI_BASE_ADDRESS_0 + 4 * bar, 4, 0xffffffffu);
		CHECK_EQ_U64(cget(&c, PCI_BASE_ADDRESS_0 + 4 * bar, 4), 0);
	}
	cput(&c, PCI_ROM_ADDRESS, 4, 0xffffffffu);
	CHECK_EQ_U64(cget(&c, PCI_ROM_ADDRESS, 4), 0);
}

static void test_read_only_and_widths(void)
{
	struct lvm_pci_config c;
	new_config(&c);
	uint8_t cap = lvm_pci_config_add_cap(&c, PCI_CAP_ID_VNDR, 16);
	CHECK_EQ_U64(cap, 0x40);
	CHECK_EQ_U64(cget(&c, PCI_CAPABILITY_LIST, 1), 0x40);
	CHECK(cget(&c, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	uint8_t before[LVM_PCI_CONFIG_SIZE];
	memcpy(before, c.data, sizeof(before));
	for (uint32_t off = 0; off < LVM_PCI_ECAM_FN_SIZE; off += 4)
		cput(&c, off, 4, 0xffffffffu);
	/* IDs, class, header type, capabilities: unchanged. */
	for (uint32_t off = 0; off < 0x10; off++)
		if (off != PCI_COMMAND && off != PCI_COMMAND + 1 && off != PCI_CACHE_LINE_SIZE &&
		    off != PCI_LATENCY_TIMER)
			CHECK_EQ_U64(c.data[off], before[off]);
	CHECK(memcmp(c.data + PCI_SUBSYSTEM_VENDOR_ID, before + PCI_SUBSYSTEM_VENDOR_ID, 4) == 0);
	CHECK(memcmp(c.data + 0x34, before + 0x34, 1) == 0);
	CHECK(memcmp(c.data + 0x40, before + 0x40, 16) == 0);
	CHECK_EQ_U64(cget(&c, PCI_INTERRUPT_PIN, 1), 1);
	CHECK_EQ_U64(cget(&c, PCI_INTERRUPT_LINE, 1), 0xff);
	/* The command register keeps only what the function implements (no I/O space). */
	CHECK_EQ_U64(cget(&c, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		     PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	/* Status: the error bits are RW1C, a written 1 clears them. */
	c.data[PCI_STATUS + 1] |= PCI_STATUS_DETECTED_PARITY >> 8;
	cput(&c, PCI_STATUS, 2, PCI_STATUS_DETECTED_PARITY);
	CHECK_EQ_U64(cget(&c, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	/* Widths: 3 bytes, or across a dword, read all-ones and write nothing. */
	CHECK_EQ_U64(cget(&c, 0, 3) & 0xffffff, 0xffffff);
	CHECK_EQ_U64(cget(&c, 2, 4), 0xffffffffu);
	CHECK(!lvm_pci_config_access_ok(3, 2));
	CHECK(lvm_pci_config_access_ok(2, 2));
	CHECK_EQ_U64(cget(&c, 1, 2), 0x441a); /* byte lanes of "f4 1a 44 10" */
	/* The extended space reads 0: no extended capability. */
	CHECK_EQ_U64(cget(&c, 0x100, 4), 0);
	CHECK_EQ_U64(cget(&c, 0xffc, 4), 0);
	/* A restored state changes writable bits only. */
	uint8_t hostile[LVM_PCI_CONFIG_SIZE];
	memset(hostile, 0xa5, sizeof(hostile));
	lvm_pci_config_restore(&c, hostile);
	CHECK_EQ_U64(cget(&c, 0, 4), 0x10441af4u);
	CHECK_EQ_U64(cget(&c, PCI_BASE_ADDRESS_0, 4), 0xa5a58004u & 0xffff8004u);
	/* Capabilities until the space is full. */
	unsigned n = 1;
	while (lvm_pci_config_add_cap(&c, PCI_CAP_ID_VNDR, 20))
		n++;
	CHECK_EQ_U64(n, 9); /* 0x40 + 16, then 20 bytes each from 0x50 to 0xdc */
	CHECK(c.cap_end <= LVM_PCI_CONFIG_SIZE);
}

/* ---- the host bridge, without KVM ---- */

static void fake_vm(struct lvm_vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = vm->kvm_fd = -1;
	lvm_bus_init(&vm->pio);
	lvm_bus_init(&vm->mmio);
	lvm_gsi_routes_init(&vm->gsi_routes);
}

static uint32_t pio(struct lvm_vm *vm, uint16_t port, uint32_t size, bool write, uint32_t v)
{
	uint8_t b[4];
	memcpy(b, &v, 4);
	lvm_bus_dispatch(&vm->pio, port, b, size, write);
	uint32_t r = 0;
	memcpy(&r, b, size);
	return r;
}

static uint32_t ecam(struct lvm_vm *vm, uint64_t off, uint32_t size, bool write, uint32_t v)
{
	uint8_t b[8] = { 0 };
	memcpy(b, &v, 4);
	lvm_bus_dispatch(&vm->mmio, ECAM + off, b, size, write);
	uint32_t r = 0;
	memcpy(&r, b, size < 4 ? size : 4);
	return r;
}

static void test_host_mechanisms(void)
{
	struct lvm_vm vm;
	fake_vm(&vm);
	struct lvm_pci_host_layout l = { ECAM, MEM, 0x10000000, MSI_GSI };
	struct lvm_pci_host *h = lvm_pci_host_new(&vm, &l);
	CHECK(h != NULL);
	if (!h)
		return;
	/* CONFIG_ADDRESS keeps bit 31 and 23:2 only; byte accesses miss it. */
	pio(&vm, 0xcf8, 4, true, 0xffffffffu);
	CHECK_EQ_U64(pio(&vm, 0xcf8, 4, false, 0), 0x80fffffcu);
	pio(&vm, 0xcf9, 1, true, 0x06);
	CHECK_EQ_U64(pio(&vm, 0xcf8, 4, false, 0), 0x80fffffcu);
	/* 00.0: the host bridge, through both mechanisms. */
	pio(&vm, 0xcf8, 4, true, 0x80000000u);
	CHECK_EQ_U64(pio(&vm, 0xcfc, 4, false, 0), 0x00081b36u);
	CHECK_EQ_U64(pio(&vm, 0xcfe, 2, false, 0), 0x0008);
	CHECK_EQ_U64(pio(&vm, 0xcfd, 1, false, 0), 0x1b);
	CHECK_EQ_U64(pio(&vm, 0xcfd, 4, false, 0), 0xffffffffu); /* past 0xcff */
	CHECK_EQ_U64(ecam(&vm, 0, 4, false, 0), 0x00081b36u);
	pio(&vm, 0xcf8, 4, true, 0x80000008u);
	CHECK_EQ_U64(pio(&vm, 0xcfc, 4, false, 0) >> 8, 0x060000);
	/* Enable bit off, other functions, other devices: nothing there. */
	pio(&vm, 0xcf8, 4, true, 0x00000000u);
	CHECK_EQ_U64(pio(&vm, 0xcfc, 4, false, 0), 0xffffffffu);
	pio(&vm, 0xcf8, 4, true, 0x80000100u);
	CHECK_EQ_U64(pio(&vm, 0xcfc, 4, false, 0), 0xffffffffu);
	CHECK_EQ_U64(ecam(&vm, (DEV << 15), 4, false, 0), 0xffffffffu);
	CHECK_EQ_U64(ecam(&vm, 0, 8, false, 0), 0xffffffffu); /* 8 bytes: not a config access */
	/* The bridge cannot be turned off. */
	ecam(&vm, PCI_COMMAND, 2, true, 0);
	CHECK(ecam(&vm, PCI_COMMAND, 2, false, 0) & PCI_COMMAND_MEMORY);
	/* Where devices go. */
	CHECK_EQ_U64(lvm_pci_host_function_addr(h, 3), ECAM + (3 << 15));
	CHECK_EQ_U64(lvm_pci_host_msi_gsi(h, 3), MSI_GSI + 3 * LVM_PCI_VECTORS_PER_DEVICE);
	unsigned dev = 0;
	CHECK(lvm_pci_host_at(&vm, ECAM + (5 << 15), &dev) == h && dev == 5);
	CHECK(lvm_pci_host_at(&vm, ECAM + (5 << 15) + 0x1000, &dev) == NULL); /* function 1 */
	CHECK(lvm_pci_host_at(&vm, 0xd0000000, &dev) == NULL);
	CHECK_EQ_U64(lvm_pci_host_assign_bar(h, 0x8000), MEM);
	CHECK_EQ_U64(lvm_pci_host_assign_bar(h, 0x10000), MEM + 0x10000); /* aligned */
	CHECK_EQ_U64(lvm_pci_host_assign_bar(h, 0x100000000ull), 0);     /* does not fit */
	CHECK(lvm_pci_host_set(h, 0, NULL, NULL) < 0); /* 00.0 is the bridge's */
	lvm_pci_host_free(h);
	CHECK_EQ_U64(vm.pio.count, 0);
	CHECK_EQ_U64(vm.mmio.count, 0);
	lvm_bus_destroy(&vm.pio);
	lvm_bus_destroy(&vm.mmio);
	lvm_gsi_routes_destroy(&vm.gsi_routes);
}

/* ---- a virtio-pci function on KVM ---- */

struct machine {
	struct lvm_vm *vm;
	struct lvm_pci_host *host;
	struct lvm_rng *rng;
	struct lvm_virtio_transport *t;
};

static bool machine_new(struct machine *m)
{
	struct lvm_vm_options o = { .mem_size = 16u << 20, .ncpus = 1, .irqchip = LVM_IRQCHIP_KERNEL };
	*m = (struct machine){ .vm = lvm_vm_create(&o) };
	struct lvm_pci_host_layout l = { ECAM, MEM, 0x10000000, MSI_GSI };
	m->host = m->vm ? lvm_pci_host_new(m->vm, &l) : NULL;
	m->rng = m->host ? lvm_rng_new(m->vm, lvm_pci_host_function_addr(m->host, DEV), 5) : NULL;
	if (!m->rng) {
		fprintf(stderr, "machine: %s\n", lvm_error());
		return false;
	}
	/* The function's config handler is its transport's. */
	m->t = m->host->slot[DEV].opaque;
	return m->t && m->t->pci != NULL;
}

static void machine_free(struct machine *m)
{
	lvm_rng_free(m->rng);
	lvm_pci_host_free(m->host);
	lvm_vm_destroy(m->vm);
}

static uint32_t cfg(struct machine *m, uint32_t off, uint32_t size)
{
	uint8_t b[4] = { 0 };
	lvm_pci_host_config(m->host, DEV << 3, off, b, size, false);
	uint32_t v = 0;
	memcpy(&v, b, size);
	return v;
}

static void cfg_write(struct machine *m, uint32_t off, uint32_t size, uint32_t v)
{
	uint8_t b[4];
	memcpy(b, &v, 4);
	lvm_pci_host_config(m->host, DEV << 3, off, b, size, true);
}

static uint64_t bar_on_bus(struct machine *m)
{
	for (unsigned i = 0; i < m->vm->mmio.count; i++)
		if (m->vm->mmio.ranges[i].fn == lvm_virtio_pci_bar_io)
			return m->vm->mmio.ranges[i].base;
	return 0;
}

static uint64_t bar_rw(struct machine *m, uint64_t off, uint32_t size, bool write, uint64_t v)
{
	uint8_t b[8];
	memcpy(b, &v, 8);
	CHECK(lvm_bus_dispatch(&m->vm->mmio, m->t->pci->mapped + off, b, size, write));
	uint64_t r = 0;
	memcpy(&r, b, size);
	return r;
}

/* The route KVM has for a GSI: 1 and its MSI, or 0. */
static int route(struct machine *m, unsigned gsi, uint32_t *addr, uint32_t *data)
{
	struct lvm_gsi_routes *r = &m->vm->gsi_routes;
	for (unsigned i = 0; i < r->count; i++)
		if (r->entries[i].gsi == gsi && r->entries[i].type == KVM_IRQ_ROUTING_MSI) {
			*addr = r->entries[i].u.msi.address_lo;
			*data = r->entries[i].u.msi.data;
			return 1;
		}
	return 0;
}

static unsigned find_cap(struct machine *m, uint8_t id)
{
	for (unsigned at = cfg(m, PCI_CAPABILITY_LIST, 1); at; at = cfg(m, at + 1, 1))
		if (cfg(m, at, 1) == id)
			return at;
	return 0;
}

static void test_function(void)
{
	struct machine m;
	CHECK(machine_new(&m));
	if (!m.t || !m.t->pci)
		return;
	CHECK_EQ_U64(cfg(&m, 0, 4), 0x10441af4u);
	CHECK_EQ_U64(cfg(&m, PCI_REVISION_ID, 1), 1);
	CHECK_EQ_U64(cfg(&m, PCI_INTERRUPT_LINE, 1), 5);
	/* The firmware's assignment: decoding at the window's start. */
	CHECK_EQ_U64(bar_on_bus(&m), MEM);
	CHECK_EQ_U64(cfg(&m, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, PCI_COMMAND_MEMORY);
	/* Sizing with decoding off, then a move. */
	cfg_write(&m, PCI_COMMAND, 2, 0);
	CHECK_EQ_U64(bar_on_bus(&m), 0);
	cfg_write(&m, PCI_BASE_ADDRESS_0, 4, 0xffffffffu);
	CHECK_EQ_U64(cfg(&m, PCI_BASE_ADDRESS_0, 4), 0xffff8004u);
	cfg_write(&m, PCI_BASE_ADDRESS_0, 4, 0xc4000000u);
	cfg_write(&m, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	CHECK_EQ_U64(bar_on_bus(&m), 0xc4000000u);
	CHECK_EQ_U64(bar_rw(&m, VIRTIO_PCI_COMMON_NUMQ, 2, false, 0), 1);
	/* Over another device's window: it decodes nothing, the other is untouched. */
	CHECK(lvm_bus_register(&m.vm->mmio, 0xc5000000u, 0x1000, lvm_virtio_pci_bar_io, NULL, "x") == 0);
	cfg_write(&m, PCI_BASE_ADDRESS_0, 4, 0xc5000000u);
	CHECK_EQ_U64(m.t->pci->mapped, 0);
	CHECK_EQ_U64(m.t->pci->bar_conflicts, 1);
	lvm_bus_unregister(&m.vm->mmio, 0xc5000000u);
	cfg_write(&m, PCI_BASE_ADDRESS_0, 4, 0xc4000000u);
	CHECK_EQ_U64(m.t->pci->mapped, 0xc4000000u);

	/* Vectors: one per queue plus one; anything else reads NO_VECTOR. */
	bar_rw(&m, VIRTIO_PCI_COMMON_Q_SELECT, 2, true, 0);
	bar_rw(&m, VIRTIO_PCI_COMMON_Q_MSIX, 2, true, 2);
	CHECK_EQ_U64(bar_rw(&m, VIRTIO_PCI_COMMON_Q_MSIX, 2, false, 0), VIRTIO_MSI_NO_VECTOR);
	bar_rw(&m, VIRTIO_PCI_COMMON_Q_MSIX, 2, true, 1);
	CHECK_EQ_U64(bar_rw(&m, VIRTIO_PCI_COMMON_Q_MSIX, 2, false, 0), 1);
	bar_rw(&m, VIRTIO_PCI_COMMON_Q_SELECT, 2, true, 9);
	CHECK_EQ_U64(bar_rw(&m, VIRTIO_PCI_COMMON_Q_SIZE, 2, false, 0), 0);
	CHECK_EQ_U64(bar_rw(&m, VIRTIO_PCI_COMMON_Q_MSIX, 2, false, 0), VIRTIO_MSI_NO_VECTOR);
	bar_rw(&m, VIRTIO_PCI_COMMON_Q_SELECT, 2, true, 0);
	CHECK_EQ_U64(bar_rw(&m, VIRTIO_PCI_COMMON_Q_SIZE, 2, false, 0), LVM_VQ_MAX_SIZE);
	CHECK_EQ_U64(bar_rw(&m, VIRTIO_PCI_COMMON_STATUS, 4, false, 0), 0); /* wrong width */

	/* MSI-X: entry 1 routed once unmasked with MSI-X on. */
	unsigned msix = find_cap(&m, PCI_CAP_ID_MSIX);
	CHECK(msix != 0);
	CHECK_EQ_U64(cfg(&m, msix + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE, 1);
	unsigned gsi = MSI_GSI + DEV * LVM_PCI_VECTORS_PER_DEVICE + 1;
	uint32_t addr = 0, data = 0;
	bar_rw(&m, 0x4000 + 16, 8, true, 0xfee01000u); /* a QWORD write of address lo/hi */
	bar_rw(&m, 0x4000 + 24, 4, true, 0x45);
	bar_rw(&m, 0x4000 + 28, 4, true, 0);           /* unmasked, MSI-X still off */
	CHECK(!route(&m, gsi, &addr, &data));
	cfg_write(&m, msix + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	CHECK(route(&m, gsi, &addr, &data));
	CHECK_EQ_U64(addr, 0xfee01000u);
	CHECK_EQ_U64(data, 0x45);
	/* The IOAPIC's default routes stay in the table (kernel irqchip). */
	CHECK(m.vm->gsi_routes.count >= 16 * 2 + 8 + 1);
	/* A message to no LAPIC: no route, and interrupts to it are dropped. */
	bar_rw(&m, 0x4000 + 16, 4, true, 0x12345678u);
	CHECK(!route(&m, gsi, &addr, &data));
	pthread_mutex_lock(&m.t->lock);
	lvm_virtio_pci_interrupt(m.t, 0);
	pthread_mutex_unlock(&m.t->lock);
	CHECK_EQ_U64(m.t->pci->msix_dropped, 1);
	bar_rw(&m, 0x4000 + 16, 4, true, 0xfee00000u);
	/* Masked: the interrupt goes to the PBA, and out on unmask. */
	bar_rw(&m, 0x4000 + 28, 4, true, 1);
	pthread_mutex_lock(&m.t->lock);
	lvm_virtio_pci_interrupt(m.t, 0);
	pthread_mutex_unlock(&m.t->lock);
	CHECK_EQ_U64(bar_rw(&m, 0x5000, 8, false, 0), 2);
	uint64_t sent = m.t->pci->msix_sent;
	bar_rw(&m, 0x4000 + 28, 4, true, 0);
	CHECK_EQ_U64(bar_rw(&m, 0x5000, 8, false, 0), 0);
	CHECK_EQ_U64(m.t->pci->msix_sent, sent + 1);
	/* Out of the table: ignored; PBA writes: ignored. */
	bar_rw(&m, 0x4000 + 16 * 2, 4, true, 0xfee00000u);
	CHECK_EQ_U64(bar_rw(&m, 0x4000 + 16 * 2, 4, false, 0), 0);
	bar_rw(&m, 0x5000, 8, true, ~0ull);
	CHECK_EQ_U64(bar_rw(&m, 0x5000, 8, false, 0), 0);
	bar_rw(&m, 0x4000 + 17, 2, true, 0xffff); /* a word: not an MSI-X table access */
	CHECK_EQ_U64(bar_rw(&m, 0x4000 + 16, 4, false, 0), 0xfee00000u);

	/* ---- save, and load into a fresh machine ---- */
	struct lvm_state_writer w;
	lvm_state_writer_init(&w);
	lvm_state_begin(&w, "dev.rng");
	lvm_virtio_save(m.t, &w);
	CHECK(lvm_state_finish(&w) == 0);
	struct machine b;
	CHECK(machine_new(&b));
	struct lvm_state_reader r;
	if (b.t && lvm_state_section(w.buf, w.len, "dev.rng", &r) == 0) {
		CHECK(lvm_virtio_load(b.t, &r) == 0 && lvm_state_section_done(&r) == 0);
		CHECK_EQ_U64(bar_on_bus(&b), 0xc4000000u);
		CHECK(route(&b, gsi, &addr, &data));
		CHECK_EQ_U64(addr, 0xfee00000u);
		CHECK_EQ_U64(cfg(&b, msix + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_ENABLE,
			     PCI_MSIX_FLAGS_ENABLE);
		CHECK_EQ_U64(b.t->pci->queue_vector[0], 1);
	}
	/* Hostile states: a changed vendor ID is not taken; bad vectors and
	 * pending bits are refused, changing nothing. */
	size_t pci_at = w.len - (LVM_PCI_CONFIG_SIZE + 2 + 2 + 1 + 2 * 16 + 4);
	struct { size_t at; uint8_t v; bool refused; } cases[] = {
		{ pci_at + 0, 0x00, false },                          /* vendor ID */
		{ pci_at + LVM_PCI_CONFIG_SIZE + 1, 0x12, true },     /* config vector 0x12xx */
		{ pci_at + LVM_PCI_CONFIG_SIZE + 4, 7, true },        /* nvec */
		{ w.len - 4, 0xff, true },                            /* pending bits */
		{ w.len - 8, 0x02, true },                            /* control: reserved bit */
	};
	for (unsigned i = 0; b.t && i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *copy = malloc(w.len);
		memcpy(copy, w.buf, w.len);
		copy[cases[i].at] = cases[i].v;
		if (lvm_state_section(copy, w.len, "dev.rng", &r) == 0) {
			int rc = lvm_virtio_load(b.t, &r);
			CHECK_EQ_U64(rc < 0, cases[i].refused);
			CHECK_EQ_U64(cfg(&b, 0, 4), 0x10441af4u);
		}
		free(copy);
	}
	lvm_state_writer_free(&w);
	if (b.t)
		machine_free(&b);
	machine_free(&m);
}

int main(void)
{
	RUN_TEST(test_bar_sizing);
	RUN_TEST(test_read_only_and_widths);
	RUN_TEST(test_host_mechanisms);
	RUN_TEST(test_function);
	return CHECK_DONE();
}
