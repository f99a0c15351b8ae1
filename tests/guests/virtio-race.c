/*
 * virtio-race: several vCPUs race on the same virtio-blk registers.
 * Command line: "N" (requests, default 300).  The boot CPU sets the disk
 * up, then starts every other CPU (bootinfo ncpus; APIC IDs 0..n-1) with
 * the runtime's start_aps().  Each AP runs at ring 3 and loops there,
 * hammering the window:
 *   phase 1: QueueSel (0..7), QueueNumMax, Status, InterruptStatus,
 *            InterruptACK, DeviceFeaturesSel/DeviceFeatures, config reads
 *            and QueueNotify 0, while the boot CPU (ring 3) completes N
 *            one-sector reads, each checked;
 *   phase 2: the APs also reset the device (Status 0) and write Status,
 *            QueueReady and the queue layout registers, while the boot CPU
 *            keeps submitting (its requests may fail or be lost now);
 *   phase 3: the APs stop touching the device and spin at ring 3.
 * The boot CPU then resets the device, sets it up again and proves a good
 * read.  Prints "race: K cpus hammering", "race: N reads ok",
 * "race: chaos survived (M ops)", "race: recovered"; exits 0, or 1 if a
 * phase-1 read failed or the recovery read did.
 */
#include "guest.h"
#include "virtio.h"

#define VIRTIO_ID_BLOCK 2
#define MAX_CPUS 16 /* the boot CPU and up to 15 APs (slots 1..15) */
#define SPINS 4000000000ull

struct blk_req {
	uint32_t type, ioprio;
	uint64_t sector;
};

static struct vq q;
static struct vdev *dev;
static uint8_t ring_page[4096] __attribute__((aligned(4096)));
static uint8_t buf[512] __attribute__((aligned(512)));
static struct blk_req req;
static volatile uint8_t status;

static volatile uint32_t phase;
static volatile uint64_t ap_ops[MAX_CPUS];

/* Ring 3, forever: APs have no TSS, so nothing here may fault or do port I/O. */
static void __attribute__((noreturn)) ap_user(unsigned slot)
{
	uint32_t lcg = (uint32_t)slot * 2654435761u;
	uint64_t n = 0;
	volatile uint32_t *r = (volatile uint32_t *)dev->base;
	while (phase < 3) {
		lcg = lcg * 1103515245u + 12345u;
		uint32_t pick = lcg >> 24;
		switch (pick % 12) {
		case 0: r[0x030 / 4] = pick & 7; break;         /* QueueSel */
		case 1: (void)r[0x034 / 4]; break;              /* QueueNumMax */
		case 2: (void)r[0x070 / 4]; break;              /* Status */
		case 3: (void)r[0x060 / 4]; break;              /* InterruptStatus */
		case 4: r[0x064 / 4] = 1; break;                /* InterruptACK */
		case 5: r[0x014 / 4] = pick & 1; (void)r[0x010 / 4]; break;
		case 6: (void)r[0x100 / 4 + (pick & 7)]; break; /* config */
		case 7: r[0x050 / 4] = 0; break;                /* QueueNotify */
		default:
			if (phase == 2) {
				static const uint32_t regs[] = { 0x070, 0x044, 0x038, 0x080, 0x0a0, 0x070 };
				r[regs[pick % 6] / 4] = (pick & 1) ? 0 : lcg;
			} else {
				(void)r[0x044 / 4];             /* QueueReady */
			}
			break;
		}
		n++;
		ap_ops[slot] = n;
	}
	for (;;)
		__asm__ volatile("pause");
}

static int setup(void)
{
	if (vdev_init(dev, 0) < 0 || vq_setup(dev, &q, 0, ring_page) < 0)
		return -1;
	vdev_driver_ok(dev);
	return 0;
}

static void submit_read(void)
{
	req = (struct blk_req){ 0, 0, 0 };
	status = 0xff;
	vq_set_desc(&q.desc[0], (uint64_t)&req, sizeof(req), VQ_F_NEXT, 1);
	vq_set_desc(&q.desc[1], (uint64_t)buf, 512, VQ_F_WRITE | VQ_F_NEXT, 2);
	vq_set_desc(&q.desc[2], (uint64_t)&status, 1, VQ_F_WRITE, 0);
	vq_submit(&q, 0);
}

static uint64_t find_disk(uint64_t unused)
{
	(void)unused;
	dev = vdev_find(VIRTIO_ID_BLOCK);
	return dev && setup() == 0;
}

static uint64_t race(uint64_t n)
{
	uint32_t len;
	phase = 1;
	for (uint64_t i = 0; i < n; i++) {
		submit_read();
		if (vq_wait(&q, &len, SPINS) != 0 || status != 0 || len != 513)
			return 1;
	}
	serial_puts("race: ");
	serial_put_dec(n);
	serial_puts(" reads ok\n");
	phase = 2;
	for (unsigned i = 0; i < 50; i++) {
		submit_read();
		(void)vq_wait(&q, &len, 2000000); /* lost or failed is fine now */
	}
	phase = 3;
	uint64_t ops = 0;
	for (unsigned i = 0; i < MAX_CPUS; i++)
		ops += ap_ops[i];
	serial_puts("race: chaos survived (");
	serial_put_dec(ops);
	serial_puts(" ops)\n");
	if (setup() < 0)
		return 2;
	submit_read();
	if (vq_wait(&q, &len, SPINS) != 0 || status != 0 || len != 513)
		return 3;
	serial_puts("race: recovered\n");
	return 0;
}

uint32_t guest_main(const char *args)
{
	const char *p = skip_spaces(args);
	uint64_t n = 300;
	if (*p)
		parse_uint(&p, &n);
	if (!run_user(find_disk, 0)) {
		serial_puts("race: FAIL no virtio-blk device\n");
		return 1;
	}
	uint32_t ncpus = bootinfo ? bootinfo->ncpus : 1;
	if (ncpus > MAX_CPUS)
		ncpus = MAX_CPUS;
	unsigned aps = start_aps(MAX_CPUS - 1, AP_RING3, ap_user);
	if (aps + 1 < ncpus) {
		serial_puts("race: FAIL an AP did not check in\n");
		return 1;
	}
	serial_puts("race: ");
	serial_put_dec(aps);
	serial_puts(" cpus hammering\n");
	uint64_t rc = run_user(race, n);
	if (rc)
		serial_puts("race: FAIL\n");
	return (uint32_t)rc;
}
