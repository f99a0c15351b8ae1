/*
 * The vCPU -> control-thread hand-off: FIFO order of posted writes before
 * a read's answer, a bounded queue applying back-pressure, close releasing
 * blocked vCPUs, and removed hooks staying valid (dead) until destroy.
 */
#include <pthread.h>
#include <unistd.h>

#include "check.h"
#include "kvm/hookq.h"

struct guest {
	struct lvm_bus *bus;
	int writes;
	uint32_t answer;
};

static void *vcpu(void *arg)
{
	struct guest *g = arg;
	for (int i = 1; i <= g->writes; i++) {
		uint32_t v = (uint32_t)i;
		lvm_bus_dispatch(g->bus, 0x510, (uint8_t *)&v, 4, true);
	}
	lvm_bus_dispatch(g->bus, 0x510, (uint8_t *)&g->answer, 4, false);
	return NULL;
}

/* Control side: sums written values; answers a read with the sum so far. */
static uint64_t serve_until_read(struct lvm_hookq *q)
{
	uint64_t sum = 0;
	for (;;) {
		struct lvm_hook_req reqs[16];
		unsigned n = lvm_hookq_take(q, reqs, 16);
		for (unsigned i = 0; i < n; i++) {
			if (reqs[i].is_write) {
				uint32_t v;
				memcpy(&v, reqs[i].data, 4);
				sum += v;
			} else {
				uint32_t a = (uint32_t)sum;
				lvm_hookq_answer(q, &reqs[i], (uint8_t *)&a);
				return sum;
			}
		}
		if (n == 0)
			usleep(100);
	}
}

static void test_writes_then_read_in_order(void)
{
	struct lvm_bus bus;
	struct lvm_hookq q;
	lvm_bus_init(&bus);
	CHECK(lvm_hookq_init(&q) == 0);
	CHECK(lvm_hookq_add(&q, &bus, LVM_HOOK_PIO, 0x510, 4, 7, false) != NULL);
	CHECK(lvm_hookq_add(&q, &bus, LVM_HOOK_PIO, 0x512, 1, 8, false) == NULL); /* overlap */
	/* 1000 writes through a 256-entry queue: the vCPU must wait for room */
	struct guest g = { &bus, 1000, 0 };
	pthread_t t;
	pthread_create(&t, NULL, vcpu, &g);
	uint64_t sum = serve_until_read(&q);
	pthread_join(t, NULL);
	CHECK_EQ_U64(sum, 1000 * 1001 / 2);
	CHECK_EQ_U64(g.answer, sum);
	lvm_hookq_destroy(&q);
	lvm_bus_destroy(&bus);
}

static void test_close_releases_a_blocked_read(void)
{
	struct lvm_bus bus;
	struct lvm_hookq q;
	lvm_bus_init(&bus);
	CHECK(lvm_hookq_init(&q) == 0);
	lvm_hookq_add(&q, &bus, LVM_HOOK_PIO, 0x510, 4, 7, false);
	struct guest g = { &bus, 0, 0 };
	pthread_t t;
	pthread_create(&t, NULL, vcpu, &g);
	while (lvm_hookq_waiting(&q) == 0)
		usleep(100);
	lvm_hookq_close(&q);
	pthread_join(t, NULL);
	CHECK_EQ_U64(g.answer, 0xffffffff);
	/* a request taken before the close may still be answered: harmless */
	struct lvm_hook_req reqs[4];
	unsigned n = lvm_hookq_take(&q, reqs, 4);
	for (unsigned i = 0; i < n; i++)
		lvm_hookq_answer(&q, &reqs[i], (const uint8_t *)"\1\2\3\4");
	lvm_hookq_destroy(&q);
	lvm_bus_destroy(&bus);
}

static void test_removed_hook_is_dead_not_freed(void)
{
	struct lvm_bus bus;
	struct lvm_hookq q;
	lvm_bus_init(&bus);
	CHECK(lvm_hookq_init(&q) == 0);
	struct lvm_hook *h = lvm_hookq_add(&q, &bus, LVM_HOOK_MMIO, 0xd0000000, 0x1000, 1, false);
	lvm_hookq_remove(&q, h);
	lvm_hookq_remove(&q, h); /* twice is harmless */
	CHECK(h->dead == 1);     /* still readable: freed only by destroy */
	uint32_t v = 0;
	CHECK(!lvm_bus_dispatch(&bus, 0xd0000000, (uint8_t *)&v, 4, false));
	CHECK(lvm_hookq_add(&q, &bus, LVM_HOOK_MMIO, 0xd0000000, 0x1000, 2, false) != NULL);
	lvm_hookq_destroy(&q);
	lvm_bus_destroy(&bus);
}

int main(void)
{
	test_writes_then_read_in_order();
	test_close_releases_a_blocked_read();
	test_removed_hook_is_dead_not_freed();
	return check_failures ? 1 : 0;
}
