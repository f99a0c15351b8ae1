/*
 * Snapshot and fork of virtio devices on real KVM, without guest code: a
 * driver set up through MMIO register writes (the bus dispatch a vCPU
 * exit takes) on machine A, requests served by the real I/O thread, then
 * quiesce, save, and a load into the same device on a fresh machine B
 * whose RAM is a copy of A's.  B must carry on with the rings A left (the
 * same indices, a notification that was pending, requests completed at
 * quiesce); corrupt or mismatched sections must be refused, changing
 * nothing.
 */
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_vsock.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "devices/device.h"
#include "devices/virtio/balloon.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vconsole.h"
#include "devices/virtio/vsock.h"
#include "util/error.h"
#include "util/request_filter.h"
#include "util/state.h"
#include "util/value.h"

#define RAM (16u << 20)
#define BASE 0xd0000000ull
#define GSI 5u
#define QSIZE 16u
#define DATA 0x100000u

/* ---- a machine and a driver ---- */

static struct lvm_vm *new_vm(void)
{
	struct lvm_vm_options o = { .mem_size = RAM, .ncpus = 1, .irqchip = LVM_IRQCHIP_KERNEL };
	struct lvm_vm *vm = lvm_vm_create(&o);
	if (!vm) {
		fprintf(stderr, "vm: %s\n", lvm_error());
		exit(1);
	}
	return vm;
}

/* The guest driver's own memory (its next indices) travels with the RAM copy. */
struct drv {
	struct lvm_vm *vm;
	uint16_t avail_idx[4], next_desc[4];
	uint32_t bump;
};

struct buf {
	uint32_t gpa, len;
	bool write;
};

static uint64_t ring(unsigned q, unsigned which)
{
	return 0x10000u + q * 0x4000u + which * 0x1000u;
}

static void *gpa(struct drv *d, uint64_t a)
{
	return d->vm->mem.host + a;
}

static void wr(struct drv *d, uint64_t off, uint32_t v)
{
	uint8_t b[4];
	memcpy(b, &v, 4);
	CHECK(lvm_bus_dispatch(&d->vm->mmio, BASE + off, b, 4, true));
}

static uint32_t rd(struct drv *d, uint64_t off)
{
	uint8_t b[4] = { 0 };
	CHECK(lvm_bus_dispatch(&d->vm->mmio, BASE + off, b, 4, false));
	uint32_t v;
	memcpy(&v, b, 4);
	return v;
}

static uint32_t alloc(struct drv *d, uint32_t len)
{
	uint32_t at = d->bump ? d->bump : DATA;
	d->bump = at + ((len + 15) & ~15u);
	return at;
}

/* Status, every offered feature, nq queues of QSIZE, DRIVER_OK. */
static void drv_init(struct drv *d, struct lvm_vm *vm, unsigned nq)
{
	*d = (struct drv){ .vm = vm };
	wr(d, VIRTIO_MMIO_STATUS, 0);
	wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
		uint32_t offered = rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
		wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		wr(d, VIRTIO_MMIO_DRIVER_FEATURES, offered);
	}
	uint32_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		     VIRTIO_CONFIG_S_FEATURES_OK;
	wr(d, VIRTIO_MMIO_STATUS, s);
	CHECK(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < nq; q++) {
		wr(d, VIRTIO_MMIO_QUEUE_SEL, q);
		wr(d, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
		wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)ring(q, 0));
		wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)ring(q, 1));
		wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)ring(q, 2));
		wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
		CHECK(rd(d, VIRTIO_MMIO_QUEUE_READY) == 1);
	}
	wr(d, VIRTIO_MMIO_STATUS, s | VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Makes a chain of bufs available on queue q (no notification). */
static void offer(struct drv *d, unsigned q, const struct buf *bufs, unsigned n)
{
	struct vring_desc *table = gpa(d, ring(q, 0));
	uint16_t head = d->next_desc[q] % QSIZE;
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % QSIZE);
		table[idx] = (struct vring_desc){
			.addr = bufs[i].gpa, .len = bufs[i].len,
			.flags = (uint16_t)((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)((head + i + 1) % QSIZE),
		};
	}
	d->next_desc[q] = (uint16_t)(head + n);
	struct vring_avail *avail = gpa(d, ring(q, 1));
	avail->ring[d->avail_idx[q] % QSIZE] = head;
	__atomic_store_n(&avail->idx, ++d->avail_idx[q], __ATOMIC_RELEASE);
}

static void notify(struct drv *d, unsigned q)
{
	wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static uint16_t used_idx(struct drv *d, unsigned q)
{
	struct vring_used *u = gpa(d, ring(q, 2));
	return __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
}

static struct vring_used_elem used_elem(struct drv *d, unsigned q, uint16_t i)
{
	struct vring_used *u = gpa(d, ring(q, 2));
	return u->ring[i % QSIZE];
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Waits (at most 2 s) for queue q's used index to reach `idx`. */
static bool wait_used(struct drv *d, unsigned q, uint16_t idx)
{
	for (int i = 0; i < 2000; i++) {
		if (used_idx(d, q) == idx)
			return true;
		sleep_ms(1);
	}
	fprintf(stderr, "queue %u: used index %u, expected %u\n", q, used_idx(d, q), idx);
	return false;
}

/* ---- devices through their table entries ---- */

static void *make(const struct lvm_device_type *type, struct lvm_vm *vm, const struct lvm_value *v)
{
	struct lvm_device_env env = { .vm = vm, .base = BASE, .gsi = GSI, .name = "d" };
	void *params = NULL;
	if (type->parse) {
		params = type->parse(v, type->key, 0);
		if (!params) {
			fprintf(stderr, "%s: %s\n", type->key, lvm_error());
			return NULL;
		}
	}
	void *dev = type->create(&env, params);
	if (!dev)
		fprintf(stderr, "%s: %s\n", type->key, lvm_error());
	free(params);
	return dev;
}

/* A machine with one device, started. */
struct m {
	struct lvm_vm *vm;
	const struct lvm_device_type *type;
	void *dev;
};

static bool m_new(struct m *m, const struct lvm_device_type *type, const struct lvm_value *v)
{
	m->vm = new_vm();
	m->type = type;
	m->dev = make(type, m->vm, v);
	return m->dev != NULL;
}

static void m_free(struct m *m)
{
	if (m->dev)
		m->type->free(m->dev);
	lvm_vm_destroy(m->vm);
	m->dev = NULL;
}

static void save(struct m *m, struct lvm_state_writer *w)
{
	lvm_state_writer_init(w);
	lvm_state_begin(w, "dev");
	m->type->save(m->dev, w);
	CHECK(lvm_state_finish(w) == 0);
}

/* A section list holding `n` bytes as the section "dev". */
static void raw(struct lvm_state_writer *w, const void *p, size_t n)
{
	lvm_state_writer_init(w);
	lvm_state_begin(w, "dev");
	lvm_state_put_bytes(w, p, n);
	CHECK(lvm_state_finish(w) == 0);
}

/* What the machine does: the section, the device's load, the leftovers check. */
static int load(struct m *m, const struct lvm_state_writer *w)
{
	struct lvm_state_reader r;
	if (lvm_state_check(w->buf, w->len) < 0 || lvm_state_section(w->buf, w->len, "dev", &r) < 0)
		return -1;
	int rc = m->type->load(m->dev, &r);
	int done = lvm_state_section_done(&r);
	CHECK(rc == 0 || done < 0); /* a failed load leaves a reason for section_done */
	return rc < 0 || done < 0 ? -1 : 0;
}

/* The saved section's payload. */
static size_t payload(const struct lvm_state_writer *w, uint8_t *out, size_t max)
{
	struct lvm_state_reader r;
	if (lvm_state_section(w->buf, w->len, "dev", &r) < 0 || r.len > max)
		return 0;
	memcpy(out, r.p, r.len);
	return r.len;
}

static bool error_has(const char *what)
{
	if (strstr(lvm_error(), what))
		return true;
	fprintf(stderr, "error \"%s\" lacks \"%s\"\n", lvm_error(), what);
	return false;
}

/* The registers a driver can read back, to compare two machines. */
struct regs {
	uint32_t status, isr, gen, queue[4][8];
};

static struct regs read_regs(struct drv *d, unsigned nq)
{
	static const uint64_t qregs[8] = { VIRTIO_MMIO_QUEUE_NUM, VIRTIO_MMIO_QUEUE_READY,
		VIRTIO_MMIO_QUEUE_DESC_LOW, VIRTIO_MMIO_QUEUE_DESC_HIGH, VIRTIO_MMIO_QUEUE_AVAIL_LOW,
		VIRTIO_MMIO_QUEUE_AVAIL_HIGH, VIRTIO_MMIO_QUEUE_USED_LOW, VIRTIO_MMIO_QUEUE_USED_HIGH };
	struct regs r = { rd(d, VIRTIO_MMIO_STATUS), rd(d, VIRTIO_MMIO_INTERRUPT_STATUS),
			  rd(d, VIRTIO_MMIO_CONFIG_GENERATION), { { 0 } } };
	for (unsigned q = 0; q < nq; q++) {
		wr(d, VIRTIO_MMIO_QUEUE_SEL, q);
		for (unsigned i = 0; i < 8; i++)
			r.queue[q][i] = rd(d, qregs[i]);
	}
	return r;
}

/* B gets A's RAM (the machine's snapshot does that), the driver its memory. */
static void copy_ram(struct lvm_vm *to, const uint8_t *ram)
{
	memcpy(to->mem.host, ram, RAM);
}

/* ---- rng: the transport alone ---- */

static void rng_request(struct drv *d, uint32_t len)
{
	struct buf b = { alloc(d, len), len, true };
	offer(d, 0, &b, 1);
}

static void test_rng_roundtrip(void)
{
	struct m a, b;
	struct drv d;
	struct lvm_state_writer w;
	CHECK(m_new(&a, &lvm_rng_device, NULL));
	CHECK(a.type->start(a.dev) == 0);
	drv_init(&d, a.vm, 1);
	rng_request(&d, 64);
	notify(&d, 0);
	CHECK(wait_used(&d, 0, 1));
	CHECK(used_elem(&d, 0, 0).len == 64);
	CHECK(rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING);

	/* Quiesced: a notification reaches the eventfd but nothing is served. */
	CHECK(a.type->quiesce(a.dev) == 0);
	rng_request(&d, 32);
	notify(&d, 0);
	sleep_ms(30);
	CHECK(used_idx(&d, 0) == 1);
	struct regs before = read_regs(&d, 1);
	save(&a, &w);
	uint8_t *ram = malloc(RAM);
	memcpy(ram, a.vm->mem.host, RAM);
	struct drv saved = d;
	a.type->resume(a.dev);
	CHECK(wait_used(&d, 0, 2)); /* the original carries on */
	m_free(&a);

	CHECK(m_new(&b, &lvm_rng_device, NULL));
	copy_ram(b.vm, ram);
	CHECK(load(&b, &w) == 0);
	d = saved;
	d.vm = b.vm;
	struct regs after = read_regs(&d, 1);
	CHECK(memcmp(&before, &after, sizeof(before)) == 0);
	CHECK(b.type->start(b.dev) == 0);
	CHECK(wait_used(&d, 0, 2)); /* the pending notification was not lost */
	CHECK(used_elem(&d, 0, 1).len == 32);
	rng_request(&d, 16);
	notify(&d, 0);
	CHECK(wait_used(&d, 0, 3));
	CHECK(used_elem(&d, 0, 2).len == 16);
	/* Quiesce and resume also work on a device that never started. */
	m_free(&b);
	lvm_state_writer_free(&w);
	free(ram);
}

/* A device quiesced, saved, and freed while quiesced: its I/O thread leaves. */
static void test_free_while_quiesced(void)
{
	struct m a;
	struct drv d;
	CHECK(m_new(&a, &lvm_rng_device, NULL));
	CHECK(a.type->start(a.dev) == 0);
	drv_init(&d, a.vm, 1);
	CHECK(a.type->quiesce(a.dev) == 0);
	rng_request(&d, 8);
	notify(&d, 0);
	sleep_ms(5);
	m_free(&a); /* must not hang */
}

/* ---- corrupt and mismatched transport sections ---- */

/* Offsets in the transport's fields (mmio.c lvm_virtio_save), no broken reason. */
enum { O_ID = 0, O_STATUS = 4, O_FEATURES = 16, O_ISR = 28, O_NQ = 40, O_Q0 = 41 };
enum { Q_READY = 0, Q_SIZE = 1, Q_DESC = 3, Q_AVAIL = 11, Q_USED = 19, Q_EVENT = 27 };

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

static void test_corrupt_sections(void)
{
	struct m a, b;
	struct drv d;
	struct lvm_state_writer w;
	CHECK(m_new(&a, &lvm_rng_device, NULL));
	drv_init(&d, a.vm, 1);
	save(&a, &w);
	uint8_t good[256], p[260];
	size_t n = payload(&w, good, sizeof(good));
	lvm_state_writer_free(&w);
	CHECK(n == O_Q0 + 36);
	CHECK(m_new(&b, &lvm_rng_device, NULL));
	struct drv db = { .vm = b.vm };

	/* Every truncation is refused and leaves the fresh device as it was. */
	for (size_t len = 0; len < n; len++) {
		raw(&w, good, len);
		CHECK(load(&b, &w) < 0);
		lvm_state_writer_free(&w);
		CHECK(rd(&db, VIRTIO_MMIO_STATUS) == 0);
	}
	struct {
		size_t at;
		unsigned width;
		uint64_t value;
		const char *why;
	} bad[] = {
		{ O_ID, 4, 2, "device type" },
		{ O_STATUS, 4, 0x1f, "status" },
		{ O_FEATURES, 8, 0, "features" },            /* FEATURES_OK without VERSION_1 */
		{ O_FEATURES, 8, (1ull << 32) | (1ull << 50), "features" }, /* not offered */
		{ O_ISR, 4, 4, "interrupt status" },
		{ O_NQ, 1, 2, "queues" },
		{ O_Q0 + Q_READY, 1, 2, "" },                /* a bool that is not 0 or 1 */
		{ O_Q0 + Q_SIZE, 2, 3, "power of 2" },
		{ O_Q0 + Q_SIZE, 2, 512, "power of 2" },
		{ O_Q0 + Q_SIZE, 2, 0, "power of 2" },
		{ O_Q0 + Q_DESC, 8, RAM - 0x10, "outside guest RAM" },
		{ O_Q0 + Q_DESC, 8, ring(0, 0) + 8, "misaligned" },
		{ O_Q0 + Q_AVAIL, 8, ~0ull - 1, "outside guest RAM" },
		{ O_Q0 + Q_USED, 8, ring(0, 2) + 2, "misaligned" },
		{ O_Q0 + Q_EVENT, 1, 7, "" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(p, good, n);
		if (bad[i].width == 1)
			p[bad[i].at] = (uint8_t)bad[i].value;
		else if (bad[i].width == 2)
			put16(p + bad[i].at, (uint16_t)bad[i].value);
		else if (bad[i].width == 4)
			put32(p + bad[i].at, (uint32_t)bad[i].value);
		else
			put64(p + bad[i].at, bad[i].value);
		raw(&w, p, n);
		int rc = load(&b, &w);
		CHECK(rc < 0);
		if (rc < 0)
			CHECK(error_has(bad[i].why) && error_has("state section 'dev'"));
		else
			fprintf(stderr, "mutation %zu was accepted\n", i);
		lvm_state_writer_free(&w);
		CHECK(rd(&db, VIRTIO_MMIO_STATUS) == 0);
	}
	/* Bytes left over (the load itself went through: section_done says no,
	 * and the machine throws the device away). */
	memcpy(p, good, n);
	p[n] = 0;
	raw(&w, p, n + 1);
	CHECK(load(&b, &w) < 0 && error_has("left over"));
	lvm_state_writer_free(&w);
	/* A queue that is not ready may hold any layout (the driver is writing it). */
	memcpy(p, good, n);
	p[O_Q0 + Q_READY] = 0;
	put16(p + O_Q0 + Q_SIZE, 3);
	put64(p + O_Q0 + Q_DESC, ~0ull);
	raw(&w, p, n);
	CHECK(load(&b, &w) == 0);
	lvm_state_writer_free(&w);
	wr(&db, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK(rd(&db, VIRTIO_MMIO_QUEUE_NUM) == 3 && rd(&db, VIRTIO_MMIO_QUEUE_READY) == 0);
	/* And the good one still loads into the same device. */
	raw(&w, good, n);
	CHECK(load(&b, &w) == 0);
	lvm_state_writer_free(&w);
	CHECK(rd(&db, VIRTIO_MMIO_QUEUE_READY) == 1);

	/* Another kind of device refuses an rng's section. */
	struct m c;
	CHECK(m_new(&c, &lvm_vconsole_device, NULL));
	raw(&w, good, n);
	CHECK(load(&c, &w) < 0 && error_has("device type"));
	lvm_state_writer_free(&w);
	m_free(&c);
	m_free(&b);
	m_free(&a);
}

/* ---- blk: a request waiting in the gate, the disk's size ---- */

static char disk_path[64];

static void make_disk(size_t bytes)
{
	snprintf(disk_path, sizeof(disk_path), "/tmp/lvm-state-disk-XXXXXX");
	int fd = mkstemp(disk_path);
	CHECK(fd >= 0);
	uint8_t *z = calloc(1, bytes);
	CHECK(write(fd, z, bytes) == (ssize_t)bytes);
	free(z);
	close(fd);
}

static void blk_params(struct lvm_value *v, struct lvm_field *f, const char *path)
{
	f[0] = (struct lvm_field){ .key = "path",
				   .value = { .type = LVM_VALUE_STRING, .str = path, .len = strlen(path) } };
	*v = (struct lvm_value){ .type = LVM_VALUE_TABLE, .fields = f, .nfields = 1 };
}

/* A read or write of one sector; returns the status byte's gpa. */
static uint32_t blk_rw(struct drv *d, uint32_t type, uint64_t sector, uint32_t data)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	struct buf bufs[3] = {
		{ alloc(d, sizeof(h)), sizeof(h), false },
		{ data, 512, type == VIRTIO_BLK_T_IN },
		{ alloc(d, 1), 1, true },
	};
	memcpy(gpa(d, bufs[0].gpa), &h, sizeof(h));
	*(uint8_t *)gpa(d, bufs[2].gpa) = 0xff;
	offer(d, 0, bufs, 3);
	return bufs[2].gpa;
}

/* A filter that delays every request for a minute, or (blocking) waits
 * until the test lets it answer. */
struct test_filter {
	struct lvm_filter f;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned calls;
	bool block, release;
};

static void filter_check(void *opaque, const struct lvm_filter_request *req,
			 struct lvm_filter_result *result)
{
	(void)req;
	struct test_filter *tf = opaque;
	pthread_mutex_lock(&tf->lock);
	tf->calls++;
	pthread_cond_broadcast(&tf->cond);
	while (tf->block && !tf->release)
		pthread_cond_wait(&tf->cond, &tf->lock);
	pthread_mutex_unlock(&tf->lock);
	if (!tf->block)
		*result = (struct lvm_filter_result){ LVM_FILTER_DELAY, 60000 };
}

static void filter_init(struct test_filter *tf, bool block)
{
	*tf = (struct test_filter){ .f = { filter_check, tf }, .block = block };
	pthread_mutex_init(&tf->lock, NULL);
	pthread_cond_init(&tf->cond, NULL);
}

static bool filter_wait_calls(struct test_filter *tf, unsigned n)
{
	for (int i = 0; i < 2000; i++) {
		pthread_mutex_lock(&tf->lock);
		unsigned calls = tf->calls;
		pthread_mutex_unlock(&tf->lock);
		if (calls >= n)
			return true;
		sleep_ms(1);
	}
	return false;
}

static void test_blk_roundtrip(void)
{
	make_disk(64 << 10);
	struct lvm_field f[1];
	struct lvm_value v;
	blk_params(&v, f, disk_path);
	struct m a, b;
	struct drv d;
	struct lvm_state_writer w;
	CHECK(m_new(&a, &lvm_blk_device, &v));
	CHECK(a.type->start(a.dev) == 0);
	drv_init(&d, a.vm, 1);
	uint32_t data = alloc(&d, 512);
	memset(gpa(&d, data), 'A', 512);
	uint32_t st = blk_rw(&d, VIRTIO_BLK_T_OUT, 2, data);
	notify(&d, 0);
	CHECK(wait_used(&d, 0, 1));
	CHECK(*(uint8_t *)gpa(&d, st) == VIRTIO_BLK_S_OK);

	/* A read the filter delays for a minute: quiesce serves it now. */
	struct test_filter tf;
	filter_init(&tf, false);
	a.type->set_filter(a.dev, &tf.f);
	uint32_t in = alloc(&d, 512);
	st = blk_rw(&d, VIRTIO_BLK_T_IN, 2, in);
	notify(&d, 0);
	CHECK(filter_wait_calls(&tf, 1));
	sleep_ms(10);
	CHECK(used_idx(&d, 0) == 1);
	CHECK(a.type->quiesce(a.dev) == 0);
	CHECK(used_idx(&d, 0) == 2);
	CHECK(*(uint8_t *)gpa(&d, st) == VIRTIO_BLK_S_OK);
	CHECK(((uint8_t *)gpa(&d, in))[511] == 'A');
	save(&a, &w);
	uint8_t *ram = malloc(RAM);
	memcpy(ram, a.vm->mem.host, RAM);
	struct drv saved = d;
	a.type->set_filter(a.dev, NULL);
	a.type->resume(a.dev);
	m_free(&a);

	CHECK(m_new(&b, &lvm_blk_device, &v));
	copy_ram(b.vm, ram);
	CHECK(load(&b, &w) == 0);
	CHECK(b.type->start(b.dev) == 0);
	d = saved;
	d.vm = b.vm;
	uint32_t in2 = alloc(&d, 512);
	st = blk_rw(&d, VIRTIO_BLK_T_IN, 2, in2);
	notify(&d, 0);
	CHECK(wait_used(&d, 0, 3));
	CHECK(*(uint8_t *)gpa(&d, st) == VIRTIO_BLK_S_OK);
	CHECK(((uint8_t *)gpa(&d, in2))[0] == 'A');
	CHECK(used_elem(&d, 0, 2).len == 513);
	m_free(&b);

	/* The disk grew: refused, naming both sizes. */
	CHECK(truncate(disk_path, 128 << 10) == 0);
	CHECK(m_new(&b, &lvm_blk_device, &v));
	CHECK(load(&b, &w) < 0);
	CHECK(error_has("disk size changed: was 65536, now 131072 bytes"));
	m_free(&b);
	/* Read-only now: refused (the negotiated features are gone, too). */
	CHECK(truncate(disk_path, 64 << 10) == 0);
	struct lvm_field f2[2] = { f[0], { .key = "readonly",
					   .value = { .type = LVM_VALUE_BOOLEAN, .boolean = true } } };
	struct lvm_value v2 = { .type = LVM_VALUE_TABLE, .fields = f2, .nfields = 2 };
	CHECK(m_new(&b, &lvm_blk_device, &v2));
	CHECK(load(&b, &w) < 0);
	m_free(&b);
	lvm_state_writer_free(&w);
	free(ram);
	unlink(disk_path);
}

/* A filter waiting for the control thread: quiesce fails at once, cleanly. */
static void test_blk_filter_running(void)
{
	make_disk(64 << 10);
	struct lvm_field f[1];
	struct lvm_value v;
	blk_params(&v, f, disk_path);
	struct m a;
	struct drv d;
	CHECK(m_new(&a, &lvm_blk_device, &v));
	CHECK(a.type->start(a.dev) == 0);
	drv_init(&d, a.vm, 1);
	struct test_filter tf;
	filter_init(&tf, true);
	a.type->set_filter(a.dev, &tf.f);
	uint32_t st = blk_rw(&d, VIRTIO_BLK_T_IN, 0, alloc(&d, 512));
	notify(&d, 0);
	CHECK(filter_wait_calls(&tf, 1));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(a.type->quiesce(a.dev) < 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(error_has("filter is waiting for the control thread"));
	CHECK(t1.tv_sec - t0.tv_sec < 2);
	/* The device still works: the filter answers, the request completes. */
	pthread_mutex_lock(&tf.lock);
	tf.release = true;
	pthread_cond_broadcast(&tf.cond);
	pthread_mutex_unlock(&tf.lock);
	CHECK(wait_used(&d, 0, 1));
	CHECK(*(uint8_t *)gpa(&d, st) == VIRTIO_BLK_S_OK);
	CHECK(a.type->quiesce(a.dev) == 0);
	a.type->resume(a.dev);
	a.type->set_filter(a.dev, NULL);
	m_free(&a);
	unlink(disk_path);
}

/* ---- virtio-console: input waiting for receive buffers ---- */

static void test_vconsole_roundtrip(void)
{
	struct m a, b;
	struct drv d;
	struct lvm_state_writer w;
	CHECK(m_new(&a, &lvm_vconsole_device, NULL));
	CHECK(a.type->start(a.dev) == 0);
	drv_init(&d, a.vm, 2);
	CHECK(a.type->receive(a.dev, "hello", 5) == 5);
	sleep_ms(10); /* no receive buffer yet: it waits in the device */
	CHECK(a.type->quiesce(a.dev) == 0);
	save(&a, &w);
	uint8_t *ram = malloc(RAM);
	memcpy(ram, a.vm->mem.host, RAM);
	struct drv saved = d;
	a.type->resume(a.dev);
	m_free(&a);

	CHECK(m_new(&b, &lvm_vconsole_device, NULL));
	copy_ram(b.vm, ram);
	CHECK(load(&b, &w) == 0);
	CHECK(b.type->start(b.dev) == 0);
	d = saved;
	d.vm = b.vm;
	struct buf rx = { alloc(&d, 64), 64, true };
	offer(&d, 0, &rx, 1);
	notify(&d, 0);
	CHECK(wait_used(&d, 0, 1));
	CHECK(used_elem(&d, 0, 0).len == 5);
	CHECK(memcmp(gpa(&d, rx.gpa), "hello", 5) == 0);
	m_free(&b);

	/* An input blob larger than the device's buffer is refused. */
	uint8_t p[256];
	size_t n = payload(&w, p, sizeof(p));
	CHECK(n == O_Q0 + 2 * 36 + 4 + 4 + 5);
	put32(p + n - 9, 5000);
	lvm_state_writer_free(&w);
	raw(&w, p, n);
	CHECK(m_new(&b, &lvm_vconsole_device, NULL));
	CHECK(load(&b, &w) < 0 && error_has("longer"));
	m_free(&b);
	lvm_state_writer_free(&w);
	free(ram);
}

/* ---- balloon: target, actual, the held stats buffer ---- */

static void test_balloon_roundtrip(void)
{
	struct lvm_field f[1] = { { .key = "stats_interval_ms",
				    .value = { .type = LVM_VALUE_INTEGER, .integer = 500 } } };
	struct lvm_value v = { .type = LVM_VALUE_TABLE, .fields = f, .nfields = 1 };
	struct m a, b;
	struct drv d;
	struct lvm_state_writer w;
	CHECK(m_new(&a, &lvm_balloon_device, &v));
	CHECK(a.type->start(a.dev) == 0);
	drv_init(&d, a.vm, 3);
	/* The stats buffer: free_memory = 12345; the device keeps it. */
	uint8_t stat[10] = { 4, 0 };
	uint64_t val = 12345;
	memcpy(stat + 2, &val, 8);
	struct buf sb = { alloc(&d, 10), 10, false };
	memcpy(gpa(&d, sb.gpa), stat, 10);
	offer(&d, 2, &sb, 1);
	notify(&d, 2);
	sleep_ms(10);
	lvm_balloon_set_target(a.dev, 256);
	wr(&d, VIRTIO_MMIO_CONFIG + 4, 128); /* actual */
	CHECK(lvm_balloon_actual(a.dev) == 128);
	CHECK(a.type->quiesce(a.dev) == 0);
	CHECK(used_idx(&d, 2) == 0); /* still held */
	save(&a, &w);
	uint8_t *ram = malloc(RAM);
	memcpy(ram, a.vm->mem.host, RAM);
	struct drv saved = d;
	a.type->resume(a.dev);
	m_free(&a);

	CHECK(m_new(&b, &lvm_balloon_device, &v));
	copy_ram(b.vm, ram);
	CHECK(load(&b, &w) == 0);
	d = saved;
	d.vm = b.vm;
	CHECK(lvm_balloon_target(b.dev) == 256);
	CHECK(lvm_balloon_actual(b.dev) == 128);
	CHECK(rd(&d, VIRTIO_MMIO_CONFIG) == 256);
	struct lvm_device_stat stats[LVM_DEVICE_STATS_MAX];
	unsigned ns = b.type->stats(b.dev, stats);
	bool found = false;
	for (unsigned i = 0; i < ns; i++)
		found |= !strcmp(stats[i].name, "free_memory") && stats[i].value == 12345;
	CHECK(found);
	CHECK(b.type->start(b.dev) == 0);
	/* The held buffer goes back when fresh numbers are due (the re-armed timer). */
	CHECK(wait_used(&d, 2, 1));
	CHECK(used_elem(&d, 2, 0).id == 0);
	m_free(&b);

	/* Without the stats queue the held buffer cannot be: refused. */
	uint8_t p[512];
	size_t n = payload(&w, p, sizeof(p));
	lvm_state_writer_free(&w);
	size_t fields = O_Q0 + 3 * 36; /* num_pages, actual, held, head, seen, ntags */
	put32(p + fields, 0xffffffffu); /* a target beyond RAM */
	raw(&w, p, n);
	CHECK(m_new(&b, &lvm_balloon_device, &v));
	CHECK(load(&b, &w) < 0 && error_has("target"));
	m_free(&b);
	lvm_state_writer_free(&w);
	put32(p + fields, 256);
	put16(p + fields + 9, QSIZE); /* the held head beyond the queue */
	raw(&w, p, n);
	CHECK(m_new(&b, &lvm_balloon_device, &v));
	CHECK(load(&b, &w) < 0 && error_has("held stats buffer"));
	m_free(&b);
	lvm_state_writer_free(&w);
	free(ram);
}

/* ---- vsock: connections stay with the saved machine; the loaded one
 * resets the guest's (TRANSPORT_RESET); the held receive buffer ---- */

static void vsock_params(struct lvm_value *v, struct lvm_field *f, int64_t cid)
{
	f[0] = (struct lvm_field){ .key = "cid", .value = { .type = LVM_VALUE_INTEGER, .integer = cid } };
	*v = (struct lvm_value){ .type = LVM_VALUE_TABLE, .fields = f, .nfields = 1 };
}

static uint64_t vsock_stat(struct m *m, const char *name)
{
	struct lvm_device_stat st[LVM_DEVICE_STATS_MAX];
	unsigned n = m->type->stats(m->dev, st);
	for (unsigned i = 0; i < n; i++)
		if (strcmp(st[i].name, name) == 0)
			return st[i].value;
	return UINT64_MAX;
}

static void test_vsock(void)
{
	struct lvm_field f[1];
	struct lvm_value v;
	vsock_params(&v, f, 7);
	struct m a, b;
	struct drv d;
	struct lvm_state_writer w;
	CHECK(m_new(&a, &lvm_vsock_device, &v));
	CHECK(a.type->start(a.dev) == 0);
	drv_init(&d, a.vm, 3);
	struct buf rx[2] = { { alloc(&d, 256), 256, true }, { alloc(&d, 256), 256, true } };
	struct buf ev = { alloc(&d, 8), 8, true };
	offer(&d, 0, &rx[0], 1);
	offer(&d, 0, &rx[1], 1);
	notify(&d, 0);
	offer(&d, 2, &ev, 1); /* the driver's event buffer: kept until an event */
	notify(&d, 2);

	/* A connection from the host, still open when A is saved. */
	struct lvm_value args = { .type = LVM_VALUE_TABLE };
	struct lvm_field port = { .key = NULL, .index = 1,
				  .value = { .type = LVM_VALUE_INTEGER, .integer = 1234 } };
	args.fields = &port;
	args.nfields = 1;
	int64_t out[LVM_DEVICE_RESULTS_MAX];
	CHECK(a.type->methods[0].call(a.dev, &args, out) == 1);
	CHECK(wait_used(&d, 0, 1)); /* the REQUEST */
	struct virtio_vsock_hdr req;
	memcpy(&req, gpa(&d, rx[0].gpa), sizeof(req));
	CHECK(req.op == VIRTIO_VSOCK_OP_REQUEST && req.dst_port == 1234);
	sleep_ms(10); /* the device takes rx[1] and waits for a packet */
	CHECK(used_idx(&d, 2) == 0);
	CHECK(a.type->quiesce(a.dev) == 0);
	save(&a, &w);
	uint8_t *ram = malloc(RAM);
	memcpy(ram, a.vm->mem.host, RAM);
	struct drv saved = d;
	a.type->resume(a.dev);
	/* A keeps its connection and sends its guest no event. */
	CHECK(vsock_stat(&a, "connections") == 1);
	sleep_ms(10);
	CHECK(used_idx(&d, 2) == 0 && vsock_stat(&a, "transport_resets") == 0);
	m_free(&a);
	close((int)out[0]);

	/* B: no connection; TRANSPORT_RESET in the event buffer; a packet for
	 * the connection the guest knew is answered with RST in the buffer A held. */
	CHECK(m_new(&b, &lvm_vsock_device, &v));
	copy_ram(b.vm, ram);
	CHECK(load(&b, &w) == 0);
	CHECK(b.type->start(b.dev) == 0);
	d = saved;
	d.vm = b.vm;
	CHECK(wait_used(&d, 2, 1));
	struct vring_used_elem e = used_elem(&d, 2, 0);
	uint32_t id;
	memcpy(&id, gpa(&d, ev.gpa), sizeof(id));
	CHECK(e.len == sizeof(struct virtio_vsock_event) && id == VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	CHECK(vsock_stat(&b, "connections") == 0 && vsock_stat(&b, "transport_resets") == 1);
	uint8_t hdr[LVM_VSOCK_HDR_LEN];
	struct lvm_vsock_pkt rw = { .src_cid = 7, .dst_cid = 2, .src_port = req.dst_port,
				    .dst_port = req.src_port, .type = VIRTIO_VSOCK_TYPE_STREAM,
				    .op = VIRTIO_VSOCK_OP_RW };
	lvm_vsock_encode(&rw, hdr);
	struct buf tx2 = { alloc(&d, sizeof(hdr)), sizeof(hdr), false };
	memcpy(gpa(&d, tx2.gpa), hdr, sizeof(hdr));
	offer(&d, 1, &tx2, 1);
	notify(&d, 1);
	CHECK(wait_used(&d, 0, 2));
	e = used_elem(&d, 0, 1);
	CHECK(e.id == 1 && e.len == LVM_VSOCK_HDR_LEN);
	uint16_t op;
	memcpy(&op, (uint8_t *)gpa(&d, rx[1].gpa) + offsetof(struct virtio_vsock_hdr, op), 2);
	CHECK(op == VIRTIO_VSOCK_OP_RST);
	m_free(&b);

	/* Another CID: refused. */
	vsock_params(&v, f, 8);
	CHECK(m_new(&b, &lvm_vsock_device, &v));
	CHECK(load(&b, &w) < 0 && error_has("guest CID 7"));
	m_free(&b);
	lvm_state_writer_free(&w);
	free(ram);
}

/* ---- net: a frame waiting in the transmit gate (needs a tap: root) ---- */

static bool net_new(struct m *m, const char *tap, const char *mac)
{
	struct lvm_field f[2] = {
		{ .key = "tap", .value = { .type = LVM_VALUE_STRING, .str = tap, .len = strlen(tap) } },
		{ .key = "mac", .value = { .type = LVM_VALUE_STRING, .str = mac, .len = strlen(mac) } },
	};
	struct lvm_value v = { .type = LVM_VALUE_TABLE, .fields = f, .nfields = 2 };
	return m_new(m, &lvm_net_device, &v);
}

static void test_net(void)
{
	struct m a, b;
	struct drv d;
	struct lvm_state_writer w;
	char tap_a[16], tap_b[16];
	snprintf(tap_a, sizeof(tap_a), "lvmsa%d", (int)getpid() % 100000);
	snprintf(tap_b, sizeof(tap_b), "lvmsb%d", (int)getpid() % 100000);
	if (!net_new(&a, tap_a, "52:54:00:aa:bb:cc")) {
		printf("skip test_net: no tap here\n");
		lvm_vm_destroy(a.vm);
		return;
	}
	CHECK(a.type->start(a.dev) == 0);
	drv_init(&d, a.vm, 2);
	struct test_filter tf;
	filter_init(&tf, false);
	a.type->set_filter(a.dev, &tf.f);
	uint32_t len = sizeof(struct virtio_net_hdr_v1) + 60;
	struct buf frame = { alloc(&d, len), len, false };
	offer(&d, 1, &frame, 1);
	notify(&d, 1);
	CHECK(filter_wait_calls(&tf, 1));
	sleep_ms(10);
	CHECK(used_idx(&d, 1) == 0);
	CHECK(a.type->quiesce(a.dev) == 0); /* the delayed frame goes now */
	CHECK(used_idx(&d, 1) == 1);
	save(&a, &w);
	a.type->set_filter(a.dev, NULL);
	a.type->resume(a.dev);
	m_free(&a);

	CHECK(net_new(&b, tap_b, "52:54:00:aa:bb:cc"));
	CHECK(load(&b, &w) == 0);
	m_free(&b);
	CHECK(net_new(&b, tap_b, "52:54:00:aa:bb:cd"));
	CHECK(load(&b, &w) < 0 && error_has("mac 52:54:00:aa:bb:cc"));
	m_free(&b);
	lvm_state_writer_free(&w);
}

int main(void)
{
	RUN_TEST(test_rng_roundtrip);
	RUN_TEST(test_free_while_quiesced);
	RUN_TEST(test_corrupt_sections);
	RUN_TEST(test_blk_roundtrip);
	RUN_TEST(test_blk_filter_running);
	RUN_TEST(test_vconsole_roundtrip);
	RUN_TEST(test_balloon_roundtrip);
	RUN_TEST(test_vsock);
	RUN_TEST(test_net);
	return CHECK_DONE();
}
