/*
 * The split-virtqueue parser against well-formed and hostile drivers
 * (virtio 1.2 §2.7), over a plain buffer standing in for guest RAM.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "devices/virtio/queue.h"

#define RAM_SIZE (1u << 20)
#define QSIZE 8u
#define DESC_GPA 0x1000u
#define AVAIL_GPA 0x2000u
#define USED_GPA 0x3000u
#define DATA_GPA 0x10000u

static struct lvm_memory mem;
static struct lvm_vq vq;
static struct lvm_vq_chain chain;

static void *gpa(uint64_t a)
{
	return mem.host + a;
}

static struct vring_desc *desc(unsigned i)
{
	return (struct vring_desc *)gpa(DESC_GPA) + i;
}

static struct vring_avail *avail(void)
{
	return gpa(AVAIL_GPA);
}

static struct vring_used *used(void)
{
	return gpa(USED_GPA);
}

static void setup(void)
{
	if (!mem.host)
		mem.host = malloc(RAM_SIZE);
	memset(mem.host, 0, RAM_SIZE);
	mem.size = RAM_SIZE;
	mem.nregions = 1;
	mem.regions[0] = (struct lvm_memory_region){ 0, RAM_SIZE, 0 };
	memset(&vq, 0, sizeof(vq));
	vq.mem = &mem;
	vq.size = QSIZE;
	vq.desc_gpa = DESC_GPA;
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	vq.indirect = true;
	vq.ready = lvm_vq_activate(&vq);
}

static void set_desc(struct vring_desc *d, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	*d = (struct vring_desc){ addr, len, flags, next };
}

/* Makes descriptor `head` available. */
static void offer(uint16_t head)
{
	struct vring_avail *a = avail();
	a->ring[a->idx % QSIZE] = head;
	a->idx++;
}

static enum lvm_vq_status pop(const char **why)
{
	*why = NULL;
	return lvm_vq_pop(&vq, &chain, why);
}

static void test_activate_checks_rings(void)
{
	setup();
	CHECK(vq.ready);
	vq.used_gpa = RAM_SIZE - 8; /* the used ring would run past RAM */
	CHECK(!lvm_vq_activate(&vq));
	setup();
	vq.desc_gpa = DESC_GPA + 8; /* misaligned */
	CHECK(!lvm_vq_activate(&vq));
	setup();
	vq.size = 6; /* not a power of two */
	CHECK(!lvm_vq_activate(&vq));
	vq.size = 512; /* more than we offer */
	CHECK(!lvm_vq_activate(&vq));
}

static void test_simple_chain(void)
{
	const char *why;
	setup();
	CHECK_EQ_U64(pop(&why), LVM_VQ_EMPTY);
	set_desc(desc(0), DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(desc(1), DATA_GPA + 0x100, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(desc(2), DATA_GPA + 0x400, 1, VRING_DESC_F_WRITE, 0);
	offer(0);
	CHECK_EQ_U64(pop(&why), LVM_VQ_CHAIN);
	CHECK_EQ_U64(chain.head, 0);
	CHECK_EQ_U64(chain.nout, 1);
	CHECK_EQ_U64(chain.nin, 2);
	CHECK_EQ_U64(chain.out_len, 16);
	CHECK_EQ_U64(chain.in_len, 513);
	CHECK(chain.out[0].iov_base == gpa(DATA_GPA));
	CHECK(chain.in[1].iov_base == gpa(DATA_GPA + 0x400));
	CHECK_EQ_U64(pop(&why), LVM_VQ_EMPTY);
	CHECK_EQ_U64(lvm_vq_push(&vq, 0, 513), 0);
	CHECK_EQ_U64(used()->idx, 1);
	CHECK_EQ_U64(used()->ring[0].id, 0);
	CHECK_EQ_U64(used()->ring[0].len, 513);
	CHECK(lvm_vq_push(&vq, QSIZE, 0) < 0); /* no such head */
}

static void test_ring_wraps_around(void)
{
	const char *why;
	setup();
	set_desc(desc(3), DATA_GPA, 4, 0, 0);
	for (unsigned i = 0; i < 3 * QSIZE + 1; i++) {
		offer(3);
		CHECK_EQ_U64(pop(&why), LVM_VQ_CHAIN);
		CHECK_EQ_U64(lvm_vq_push(&vq, 3, 0), 0);
	}
	/* the 16-bit indices wrap too */
	setup();
	avail()->idx = 0xffff;
	vq.last_avail = 0xffff;
	set_desc(desc(0), DATA_GPA, 4, 0, 0);
	offer(0);
	CHECK_EQ_U64(avail()->idx, 0);
	CHECK_EQ_U64(pop(&why), LVM_VQ_CHAIN);
	CHECK_EQ_U64(vq.last_avail, 0);
}

static void test_loops_are_broken(void)
{
	const char *why;
	setup();
	set_desc(desc(0), DATA_GPA, 4, VRING_DESC_F_NEXT, 1);
	set_desc(desc(1), DATA_GPA, 4, VRING_DESC_F_NEXT, 0);
	offer(0);
	CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
	CHECK(why && strstr(why, "loops"));
	setup();
	set_desc(desc(5), DATA_GPA, 4, VRING_DESC_F_NEXT, 5); /* self loop */
	offer(5);
	CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
}

static void test_next_beyond_table(void)
{
	const char *why;
	setup();
	set_desc(desc(0), DATA_GPA, 4, VRING_DESC_F_NEXT, QSIZE);
	offer(0);
	CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
	setup();
	offer(QSIZE + 3); /* head itself out of range */
	CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
}

static void test_buffers_outside_ram(void)
{
	const char *why;
	uint64_t bad[][2] = {
		{ RAM_SIZE, 1 },                 /* just past the end */
		{ RAM_SIZE - 4, 8 },             /* straddles the end */
		{ 0xfffffffffffffff0ull, 0x20 }, /* wraps the address space */
		{ DATA_GPA, 0xffffffffu },       /* huge */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup();
		set_desc(desc(0), bad[i][0], (uint32_t)bad[i][1], 0, 0);
		offer(0);
		CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
		CHECK(why && strstr(why, "outside"));
	}
}

static void test_zero_length_is_skipped(void)
{
	const char *why;
	setup();
	set_desc(desc(0), 0xdeadbeef0000ull, 0, VRING_DESC_F_NEXT, 1);
	set_desc(desc(1), DATA_GPA, 8, 0, 0);
	offer(0);
	CHECK_EQ_U64(pop(&why), LVM_VQ_CHAIN);
	CHECK_EQ_U64(chain.nout, 1);
	CHECK_EQ_U64(chain.out_len, 8);
}

static void test_readable_after_writable(void)
{
	const char *why;
	setup();
	set_desc(desc(0), DATA_GPA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(desc(1), DATA_GPA, 8, 0, 0);
	offer(0);
	CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
}

static void test_avail_index_jump(void)
{
	const char *why;
	setup();
	avail()->idx = QSIZE + 1;
	CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
	CHECK(why && strstr(why, "jumped"));
	setup();
	set_desc(desc(0), DATA_GPA, 8, 0, 0);
	avail()->idx = QSIZE; /* exactly a full ring is fine */
	CHECK_EQ_U64(pop(&why), LVM_VQ_CHAIN);
}

static void test_indirect(void)
{
	const char *why;
	setup();
	struct vring_desc *table = gpa(0x8000);
	set_desc(&table[0], DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(&table[1], DATA_GPA + 16, 100, VRING_DESC_F_WRITE, 0);
	set_desc(desc(2), 0x8000, 2 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 0);
	offer(2);
	CHECK_EQ_U64(pop(&why), LVM_VQ_CHAIN);
	CHECK_EQ_U64(chain.head, 2);
	CHECK_EQ_U64(chain.out_len, 16);
	CHECK_EQ_U64(chain.in_len, 100);
	/* not negotiated */
	setup();
	vq.indirect = false;
	set_desc(desc(2), 0x8000, 32, VRING_DESC_F_INDIRECT, 0);
	offer(2);
	CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
}

static void test_hostile_indirect(void)
{
	const char *why;
	struct vring_desc *table = gpa(0x8000);
	/* an indirect table inside an indirect table */
	setup();
	set_desc(&table[0], 0x9000, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(desc(0), 0x8000, 16, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
	CHECK(why && strstr(why, "inside"));
	/* a loop inside the indirect table */
	setup();
	set_desc(&table[0], DATA_GPA, 4, VRING_DESC_F_NEXT, 1);
	set_desc(&table[1], DATA_GPA, 4, VRING_DESC_F_NEXT, 0);
	set_desc(desc(0), 0x8000, 32, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
	/* bad lengths and places */
	uint64_t bad[][2] = { { 0x8000, 0 }, { 0x8000, 17 }, { RAM_SIZE - 16, 32 },
			      { 0x8008, 16 }, { 0x8000, 16u * (LVM_VQ_MAX_SEGS + 1) } };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup();
		set_desc(desc(0), bad[i][0], (uint32_t)bad[i][1], VRING_DESC_F_INDIRECT, 0);
		offer(0);
		CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
	}
	/* INDIRECT together with NEXT */
	setup();
	set_desc(&table[0], DATA_GPA, 4, 0, 0);
	set_desc(desc(0), 0x8000, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	offer(0);
	CHECK_EQ_U64(pop(&why), LVM_VQ_BROKEN);
}

static void test_interrupt_suppression(void)
{
	setup();
	CHECK(lvm_vq_needs_interrupt(&vq));
	avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	CHECK(!lvm_vq_needs_interrupt(&vq));
	/* event index: interrupt only when used_idx passes used_event */
	setup();
	vq.event_idx = true;
	uint16_t *used_event = (uint16_t *)&avail()->ring[QSIZE];
	*used_event = 1;
	set_desc(desc(0), DATA_GPA, 4, 0, 0);
	lvm_vq_push(&vq, 0, 0); /* used_idx 1 */
	CHECK(lvm_vq_needs_interrupt(&vq)); /* the first one always */
	lvm_vq_push(&vq, 0, 0); /* used_idx 2: crossed 1 -> 2, event 1 */
	CHECK(lvm_vq_needs_interrupt(&vq));
	lvm_vq_push(&vq, 0, 0); /* 3: event still 1 */
	CHECK(!lvm_vq_needs_interrupt(&vq));
	*used_event = 3;
	lvm_vq_push(&vq, 0, 0); /* 4 crosses 3 */
	CHECK(lvm_vq_needs_interrupt(&vq));
}

static void test_arm_notify(void)
{
	setup();
	vq.event_idx = true;
	CHECK(!lvm_vq_arm_notify(&vq));
	uint16_t *avail_event = (uint16_t *)&used()->ring[QSIZE];
	CHECK_EQ_U64(*avail_event, 0);
	set_desc(desc(0), DATA_GPA, 4, 0, 0);
	offer(0);
	CHECK(lvm_vq_arm_notify(&vq));
}

static void test_iov_helpers(void)
{
	char a[4] = "abcd", b[3] = "efg", out[8] = { 0 };
	struct iovec iov[2] = { { a, 4 }, { b, 3 } }, slice[2];
	CHECK_EQ_U64(lvm_iov_read(iov, 2, 2, out, 4), 4);
	CHECK(memcmp(out, "cdef", 4) == 0);
	CHECK_EQ_U64(lvm_iov_read(iov, 2, 6, out, 4), 1);
	CHECK_EQ_U64(lvm_iov_write(iov, 2, 3, "XY", 2), 2);
	CHECK(a[3] == 'X' && b[0] == 'Y');
	CHECK_EQ_U64(lvm_iov_slice(iov, 2, 1, 5, slice, 2), 2);
	CHECK_EQ_U64(slice[0].iov_len, 3);
	CHECK_EQ_U64(slice[1].iov_len, 2);
	CHECK(lvm_iov_slice(iov, 2, 1, 5, slice, 1) < 0);
	CHECK(lvm_iov_slice(iov, 2, 1, 7, slice, 2) < 0); /* runs past the end */
}

int main(void)
{
	RUN_TEST(test_activate_checks_rings);
	RUN_TEST(test_simple_chain);
	RUN_TEST(test_ring_wraps_around);
	RUN_TEST(test_loops_are_broken);
	RUN_TEST(test_next_beyond_table);
	RUN_TEST(test_buffers_outside_ram);
	RUN_TEST(test_zero_length_is_skipped);
	RUN_TEST(test_readable_after_writable);
	RUN_TEST(test_avail_index_jump);
	RUN_TEST(test_indirect);
	RUN_TEST(test_hostile_indirect);
	RUN_TEST(test_interrupt_suppression);
	RUN_TEST(test_arm_notify);
	RUN_TEST(test_iov_helpers);
	free(mem.host);
	return CHECK_DONE();
}
