/*
 * The test guests' polling virtio-mmio driver (see virtio.h).
 */
#include "guest.h"
#include "pci.h"
#include "virtio.h"

#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_STATUS 0x070
#define REG_CONFIG_GENERATION 0x0fc
#define REG_QUEUE_DESC 0x080
#define REG_QUEUE_AVAIL 0x090
#define REG_QUEUE_USED 0x0a0
#define REG_CONFIG 0x100

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40
#define INT_CONFIG 2 /* InterruptStatus: configuration change */
#define F_VERSION_1 (1ull << 32)

const char *vdev_source = "none";
static struct vdev devices[VDEV_MAX];
static int ndevices = -1;

/* ---- virtio-pci under the virtio-mmio register names (virtio 1.2 §4.1.4.3) ---- */

static uint32_t mmio8(uint64_t a) { return *(volatile uint8_t *)a; }
static uint32_t mmio16(uint64_t a) { return *(volatile uint16_t *)a; }
static uint32_t mmio32(uint64_t a) { return *(volatile uint32_t *)a; }

static uint32_t pci_reg_read(const struct vdev *d, uint32_t reg)
{
	uint64_t c = d->common;
	if (reg >= REG_CONFIG)
		return d->devcfg ? mmio32(d->devcfg + reg - REG_CONFIG) : 0;
	switch (reg) {
	case REG_MAGIC: return 0x74726976u;
	case REG_VERSION: return 2;
	case REG_DEVICE_ID: return d->device_id;
	case REG_DEVICE_FEATURES: return mmio32(c + 0x04);
	case REG_QUEUE_NUM_MAX: return mmio16(c + 0x18);
	case REG_QUEUE_READY: return mmio16(c + 0x1c);
	case REG_INTERRUPT_STATUS: return mmio8(d->isr);
	case REG_STATUS: return mmio8(c + 0x14);
	case REG_CONFIG_GENERATION: return mmio8(c + 0x15);
	}
	return 0;
}

static void pci_reg_write(struct vdev *d, uint32_t reg, uint32_t v)
{
	uint64_t c = d->common;
	switch (reg) {
	case REG_DEVICE_FEATURES_SEL: *(volatile uint32_t *)(c + 0x00) = v; break;
	case REG_DRIVER_FEATURES_SEL: *(volatile uint32_t *)(c + 0x08) = v; break;
	case REG_DRIVER_FEATURES: *(volatile uint32_t *)(c + 0x0c) = v; break;
	case REG_QUEUE_SEL: *(volatile uint16_t *)(c + 0x16) = (uint16_t)v; break;
	case REG_QUEUE_NUM: *(volatile uint16_t *)(c + 0x18) = (uint16_t)v; break;
	case REG_QUEUE_READY: {
		uint16_t q = (uint16_t)mmio16(c + 0x16);
		if (q < 8)
			d->notify_off[q] = (uint16_t)mmio16(c + 0x1e);
		*(volatile uint16_t *)(c + 0x1c) = (uint16_t)v;
		break;
	}
	case REG_QUEUE_NOTIFY:
		*(volatile uint16_t *)(d->notify + (uint64_t)d->notify_off[v & 7] * d->notify_mult) =
			(uint16_t)v;
		break;
	case REG_STATUS: *(volatile uint8_t *)(c + 0x14) = (uint8_t)v; break;
	case REG_QUEUE_DESC: case REG_QUEUE_DESC + 4:
	case REG_QUEUE_AVAIL: case REG_QUEUE_AVAIL + 4:
	case REG_QUEUE_USED: case REG_QUEUE_USED + 4:
		/* desc 0x20, driver 0x28, device 0x30: the same order, 8 bytes apart */
		*(volatile uint32_t *)(c + 0x20 + ((reg - REG_QUEUE_DESC) & 0x30) / 2 + (reg & 4)) = v;
		break;
	}
}

uint32_t vdev_read(const struct vdev *d, uint32_t reg)
{
	if (d->pci)
		return pci_reg_read(d, reg);
	return *(volatile uint32_t *)(d->base + reg);
}

void vdev_write(const struct vdev *d, uint32_t reg, uint32_t value)
{
	if (d->pci) {
		pci_reg_write((struct vdev *)d, reg, value);
		return;
	}
	*(volatile uint32_t *)(d->base + reg) = value;
}

uint32_t vdev_config32(const struct vdev *d, uint32_t offset)
{
	return vdev_read(d, REG_CONFIG + offset);
}

uint32_t vdev_status(const struct vdev *d)
{
	return vdev_read(d, REG_STATUS);
}

/* ---- discovery: the device tree ---- */

static uint32_t be32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t be64(const void *p)
{
	return (uint64_t)be32(p) << 32 | be32((const uint8_t *)p + 4);
}

/* A node's properties as the walker collects them. */
struct fdt_node {
	int is_virtio;
	uint64_t base, size;
	uint32_t irq;
};

static void fdt_prop(struct fdt_node *n, const char *name, const uint8_t *v, uint32_t len)
{
	if (str_eq(name, "compatible") && len >= 12 && memcmp(v, "virtio,mmio", 12) == 0)
		n->is_virtio = 1;
	else if (str_eq(name, "reg") && len >= 16) {
		n->base = be64(v);
		n->size = be64(v + 8);
	} else if (str_eq(name, "interrupts") && len >= 4)
		n->irq = be32(v);
}

/* Walks the structure block (devicetree spec §5.4); virtio nodes have no children. */
static int fdt_scan(const uint8_t *fdt, struct vdev *out, int max)
{
	if (be32(fdt) != 0xd00dfeedu)
		return -1;
	const uint8_t *p = fdt + be32(fdt + 8), *end = p + be32(fdt + 36);
	const char *strings = (const char *)fdt + be32(fdt + 12);
	struct fdt_node node = { 0 };
	int n = 0;
	while (p + 4 <= end) {
		uint32_t token = be32(p);
		p += 4;
		if (token == 1) { /* BEGIN_NODE: name, NUL, padding */
			memset(&node, 0, sizeof(node));
			p += (strlen((const char *)p) + 4) & ~3ul;
		} else if (token == 2) { /* END_NODE */
			if (node.is_virtio && n < max)
				out[n++] = (struct vdev){ .base = node.base, .size = node.size,
							   .irq = node.irq };
			node.is_virtio = 0;
		} else if (token == 3) { /* PROP: len, nameoff, value, padding */
			uint32_t len = be32(p), nameoff = be32(p + 4);
			fdt_prop(&node, strings + nameoff, p + 8, len);
			p += 8 + ((len + 3) & ~3u);
		} else if (token == 9) {
			break;
		}
	}
	return n;
}

/* ---- discovery: the command line ---- */

static int cmdline_scan(const char *s, struct vdev *out, int max)
{
	static const char key[] = "virtio_mmio.device=";
	int n = 0;
	for (; *s && n < max; s++) {
		if (memcmp(s, key, sizeof(key) - 1) != 0)
			continue;
		const char *p = s + sizeof(key) - 1;
		uint64_t size, base, irq;
		if (!parse_uint(&p, &size))
			continue;
		if (*p == 'K' || *p == 'k') {
			size <<= 10;
			p++;
		}
		if (*p++ != '@' || !parse_uint(&p, &base) || *p++ != ':' || !parse_uint(&p, &irq))
			continue;
		out[n++] = (struct vdev){ .base = base, .size = size, .irq = (uint32_t)irq };
	}
	return n;
}

int vdev_discover(struct vdev *devs, int max)
{
	int n = -1;
	if (bootinfo && bootinfo->dtb_addr) {
		n = fdt_scan((const uint8_t *)bootinfo->dtb_addr, devs, max);
		vdev_source = "dtb";
	}
	if (n <= 0) {
		n = cmdline_scan(cmdline, devs, max);
		vdev_source = n > 0 ? "cmdline" : "none";
	}
	if (n <= 0) {
		n = vpci_discover(devs, max);
		vdev_source = n > 0 ? "pci" : "none";
		return n;
	}
	for (int i = 0; i < n; i++) {
		if (vdev_read(&devs[i], REG_MAGIC) != 0x74726976u ||
		    vdev_read(&devs[i], REG_VERSION) != 2)
			devs[i].device_id = 0;
		else
			devs[i].device_id = vdev_read(&devs[i], REG_DEVICE_ID);
	}
	return n;
}

struct vdev *vdev_find(uint32_t device_id)
{
	if (ndevices < 0)
		ndevices = vdev_discover(devices, VDEV_MAX);
	for (int i = 0; i < ndevices; i++)
		if (devices[i].device_id == device_id)
			return &devices[i];
	return 0;
}

/* ---- initialisation (§3.1.1) ---- */

int vdev_init(struct vdev *d, uint64_t want)
{
	vdev_write(d, REG_STATUS, 0);
	vdev_write(d, REG_STATUS, S_ACK);
	vdev_write(d, REG_STATUS, S_ACK | S_DRIVER);
	vdev_write(d, REG_DEVICE_FEATURES_SEL, 0);
	uint64_t offered = vdev_read(d, REG_DEVICE_FEATURES);
	vdev_write(d, REG_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)vdev_read(d, REG_DEVICE_FEATURES) << 32;
	d->features = offered;
	uint64_t use = (want | F_VERSION_1) & offered;
	vdev_write(d, REG_DRIVER_FEATURES_SEL, 0);
	vdev_write(d, REG_DRIVER_FEATURES, (uint32_t)use);
	vdev_write(d, REG_DRIVER_FEATURES_SEL, 1);
	vdev_write(d, REG_DRIVER_FEATURES, (uint32_t)(use >> 32));
	vdev_write(d, REG_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	return (vdev_status(d) & S_FEATURES_OK) ? 0 : -1;
}

static void write64(struct vdev *d, uint32_t reg, uint64_t v)
{
	vdev_write(d, reg, (uint32_t)v);
	vdev_write(d, reg + 4, (uint32_t)(v >> 32));
}

/* Layout in one page: 16 descriptors (256 B), avail at 256, used at 512. */
int vq_setup(struct vdev *d, struct vq *q, unsigned index, void *mem)
{
	vdev_write(d, REG_QUEUE_SEL, index);
	uint32_t max = vdev_read(d, REG_QUEUE_NUM_MAX);
	if (max < VQ_SIZE)
		return -1;
	memset(mem, 0, 4096);
	uint64_t base = (uint64_t)mem;
	*q = (struct vq){ .dev = d, .index = index, .size = VQ_SIZE,
			  .desc = (volatile struct vq_desc *)base,
			  .avail = (volatile uint16_t *)(base + 256),
			  .used = (volatile uint32_t *)(base + 512) };
	vdev_write(d, REG_QUEUE_NUM, VQ_SIZE);
	write64(d, REG_QUEUE_DESC, base);
	write64(d, REG_QUEUE_AVAIL, base + 256);
	write64(d, REG_QUEUE_USED, base + 512);
	vdev_write(d, REG_QUEUE_READY, 1);
	return vdev_read(d, REG_QUEUE_READY) == 1 ? 0 : -1;
}

void vdev_driver_ok(struct vdev *d)
{
	vdev_write(d, REG_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

void vq_submit(struct vq *q, uint16_t head)
{
	q->avail[2 + (q->avail_idx % q->size)] = head;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	q->avail_idx++;
	q->avail[1] = q->avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vdev_write(q->dev, REG_QUEUE_NOTIFY, q->index);
}

int vq_wait(struct vq *q, uint32_t *len, uint64_t spins)
{
	for (uint64_t i = 0; i < spins; i++) {
		uint16_t used_idx = (uint16_t)(q->used[0] >> 16);
		if (used_idx == q->used_seen)
			continue;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		unsigned slot = q->used_seen % q->size;
		q->used_seen++;
		if (len)
			*len = q->used[1 + 2 * slot + 1];
		return (int)q->used[1 + 2 * slot];
	}
	return -1;
}

/* ---- the hostile guests' frame ---- */

const char *vq_outcome(struct vq *q)
{
	for (unsigned i = 0; i < 20000; i++) {
		if (vdev_status(q->dev) & S_NEEDS_RESET) /* §2.1.2: and a config interrupt */
			return (vdev_read(q->dev, REG_INTERRUPT_STATUS) & INT_CONFIG)
				       ? "needs-reset"
				       : "needs-reset without a config change interrupt";
		uint32_t len;
		if (vq_wait(q, &len, 100000) >= 0)
			return "completed";
	}
	return "ignored";
}

static char hostile_case[32];

/* "PREFIX: A B C\n" */
static void hostile_say(const struct hostile_guest *g, const char *a, const char *b,
			const char *c)
{
	serial_puts(g->prefix);
	serial_puts(": ");
	serial_puts(a);
	serial_puts(b);
	serial_puts(c);
	serial_putc('\n');
}

static uint64_t hostile_run(uint64_t arg)
{
	const struct hostile_guest *g = (const struct hostile_guest *)arg;
	*g->dev = vdev_find(g->device_id);
	if (!*g->dev || g->setup() < 0) {
		hostile_say(g, "FAIL no ", g->device, "");
		return 1;
	}
	const char *result = g->run_case(hostile_case);
	hostile_say(g, hostile_case, " -> ", result);
	if (g->setup() < 0) { /* vdev_init resets the device first */
		hostile_say(g, "FAIL reset", "", "");
		return 1;
	}
	if (g->prove() < 0) {
		hostile_say(g, "FAIL no ", g->proof, " after the reset");
		return 1;
	}
	hostile_say(g, "recovered", "", "");
	return 0;
}

uint32_t hostile_main(const struct hostile_guest *g, const char *args)
{
	const char *p = skip_spaces(args);
	unsigned n = 0;
	while (p[n] && p[n] != ' ' && n < sizeof(hostile_case) - 1) {
		hostile_case[n] = p[n];
		n++;
	}
	return (uint32_t)run_user(hostile_run, (uint64_t)g);
}
