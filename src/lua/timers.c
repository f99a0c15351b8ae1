/*
 * Timers: vm:after(ms, fn) and vm:every(ms, fn) return a handle with
 * :cancel().  They fire on the control thread while it waits (vm:wait,
 * console:expect, vm:run): the poll in pump.c sleeps until the earliest
 * due timer, so no timer fd is needed per timer.  A timer's function gets
 * (vm, handle); its errors are hook errors.
 *
 * Pending timers are a binary heap (adding, cancelling and firing cost
 * O(log n)), at most LVM_TIMERS_MAX per machine.  One turn runs the timers
 * due when it starts; a timer added during the turn (by a timer or a hook)
 * waits for the next one, so a callback that re-adds itself cannot keep a
 * wait from returning at its deadline.
 */
#include <stdlib.h>

#include "lua/binding.h"

#define LVM_TIMER_MT "luavmm.timer"

struct timer_handle {
	unsigned slot, id; /* valid while user value 1 (the machine) is open */
};

void lvm_lua_timers_init(struct lvm_lua_machine *m)
{
	m->timers = (struct lvm_timers){ .turn = -1 };
}

static struct lvm_timer *find_timer(struct lvm_lua_machine *m, unsigned slot, unsigned id)
{
	struct lvm_timers *ts = &m->timers;
	if (slot >= ts->nslots || ts->slots[slot].id != id || ts->slots[slot].fn_ref == LUA_NOREF)
		return NULL;
	return &ts->slots[slot];
}

/* ---- the heap of slot numbers, ordered by (due, id) ------------------ */

static bool earlier(const struct lvm_timers *ts, unsigned a, unsigned b)
{
	const struct lvm_timer *x = &ts->slots[ts->heap[a]], *y = &ts->slots[ts->heap[b]];
	return x->due < y->due || (x->due == y->due && x->id < y->id);
}

static void swap(struct lvm_timers *ts, unsigned a, unsigned b)
{
	unsigned s = ts->heap[a];
	ts->heap[a] = ts->heap[b];
	ts->heap[b] = s;
	ts->slots[ts->heap[a]].heap_pos = a;
	ts->slots[ts->heap[b]].heap_pos = b;
}

static void sift_up(struct lvm_timers *ts, unsigned i)
{
	while (i > 0 && earlier(ts, i, (i - 1) / 2)) {
		swap(ts, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct lvm_timers *ts, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, min = i;
		if (l < ts->nheap && earlier(ts, l, min))
			min = l;
		if (r < ts->nheap && earlier(ts, r, min))
			min = r;
		if (min == i)
			return;
		swap(ts, i, min);
		i = min;
	}
}

static void heap_remove(struct lvm_timers *ts, unsigned pos)
{
	unsigned last = --ts->nheap;
	if (pos == last)
		return;
	swap(ts, pos, last);
	sift_down(ts, pos);
	sift_up(ts, pos);
}

/* ---- slots ----------------------------------------------------------- */

static void grow(lua_State *L, struct lvm_timers *ts)
{
	unsigned cap = ts->slots_cap ? ts->slots_cap * 2 : 8;
	struct lvm_timer *slots = realloc(ts->slots, cap * sizeof(*slots));
	if (slots)
		ts->slots = slots;
	unsigned *heap = slots ? realloc(ts->heap, cap * sizeof(*heap)) : NULL;
	if (heap)
		ts->heap = heap;
	unsigned *free_list = heap ? realloc(ts->free, cap * sizeof(*free_list)) : NULL;
	if (!free_list)
		luaL_error(L, "timers: out of memory");
	ts->free = free_list;
	ts->slots_cap = cap;
}

static unsigned new_slot(lua_State *L, struct lvm_timers *ts, const char *what)
{
	if (ts->nheap >= LVM_TIMERS_MAX)
		luaL_error(L, "%s: too many pending timers (the limit is %d per machine; cancel some or reuse vm:every)",
			   what, (int)LVM_TIMERS_MAX);
	if (ts->nfree > 0)
		return ts->free[--ts->nfree];
	if (ts->nslots == ts->slots_cap)
		grow(L, ts);
	return ts->nslots++;
}

static void release(lua_State *L, struct lvm_timers *ts, unsigned slot)
{
	luaL_unref(L, LUA_REGISTRYINDEX, ts->slots[slot].fn_ref);
	ts->slots[slot].fn_ref = LUA_NOREF;
	ts->free[ts->nfree++] = slot;
}

static void push_handle(lua_State *L, int machine_index, unsigned slot, unsigned id)
{
	struct timer_handle *h = lua_newuserdatauv(L, sizeof(*h), 1);
	h->slot = slot;
	h->id = id;
	luaL_setmetatable(L, LVM_TIMER_MT);
	lua_pushvalue(L, machine_index);
	lua_setiuservalue(L, -2, 1);
}

static int add_timer(lua_State *L, bool repeat)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	struct lvm_timers *ts = &m->timers;
	lua_Number ms = lvm_lua_timer_ms(L, 2, repeat ? "every" : "after"); /* "50ms", "2s" */
	luaL_checktype(L, 3, LUA_TFUNCTION);
	if (!(ms >= 0) || (repeat && ms < 1))
		return luaL_argerror(L, 2, repeat ? "the period must be at least 1 ms"
						  : "the delay must not be negative");
	unsigned slot = new_slot(L, ts, repeat ? "every" : "after");
	struct lvm_timer *t = &ts->slots[slot];
	double due = lvm_monotonic_seconds() + ms / 1000;
	if (ts->turn >= 0 && due <= ts->turn) /* added during a turn: the next one */
		due = ts->turn + 1e-6;
	lua_pushvalue(L, 3);
	*t = (struct lvm_timer){ .due = due, .interval = repeat ? ms / 1000 : 0,
				 .fn_ref = luaL_ref(L, LUA_REGISTRYINDEX), .id = ++ts->next_id,
				 .heap_pos = ts->nheap };
	ts->heap[ts->nheap++] = slot;
	sift_up(ts, t->heap_pos);
	push_handle(L, 1, slot, t->id);
	return 1;
}

static int machine_after(lua_State *L)
{
	return add_timer(L, false);
}

static int machine_every(lua_State *L)
{
	return add_timer(L, true);
}

static struct lvm_timer *handle_timer(lua_State *L, struct lvm_lua_machine **m)
{
	struct timer_handle *h = luaL_checkudata(L, 1, LVM_TIMER_MT);
	lua_getiuservalue(L, 1, 1);
	*m = luaL_testudata(L, -1, LVM_MACHINE_MT);
	return *m && (*m)->vm ? find_timer(*m, h->slot, h->id) : NULL;
}

/* handle:cancel() -> true if the timer was still pending. */
static int timer_cancel(lua_State *L)
{
	struct lvm_lua_machine *m;
	struct lvm_timer *t = handle_timer(L, &m);
	if (t) {
		heap_remove(&m->timers, t->heap_pos);
		release(L, &m->timers, (unsigned)(t - m->timers.slots));
	}
	lua_pushboolean(L, t != NULL);
	return 1;
}

static int timer_pending(lua_State *L)
{
	struct lvm_lua_machine *m;
	lua_pushboolean(L, handle_timer(L, &m) != NULL);
	return 1;
}

double lvm_lua_next_timer(const struct lvm_lua_machine *m)
{
	const struct lvm_timers *ts = &m->timers;
	return ts->nheap ? ts->slots[ts->heap[0]].due : -1;
}

/* Takes the earliest timer off the heap (a periodic one goes back with its
 * next due time) and pushes its function; returns its slot. */
static unsigned take_first(lua_State *L, struct lvm_timers *ts, double now)
{
	unsigned slot = ts->heap[0];
	struct lvm_timer *t = &ts->slots[slot];
	lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn_ref);
	if (t->interval > 0) {
		while (t->due <= now) /* no burst after a long hook: skip missed periods */
			t->due += t->interval;
		sift_down(ts, 0);
	} else {
		heap_remove(ts, 0);
		release(L, ts, slot);
	}
	return slot;
}

/* Runs every timer due when the turn starts, each at most once. */
void lvm_lua_run_timers(lua_State *L, struct lvm_lua_machine *m, int machine_index)
{
	machine_index = lua_absindex(L, machine_index);
	struct lvm_timers *ts = &m->timers;
	double now = lvm_monotonic_seconds();
	ts->turn = now;
	while (m->vm && !lvm_vm_stopped(m->vm) && ts->nheap > 0 &&
	       ts->slots[ts->heap[0]].due <= now) {
		unsigned id = ts->slots[ts->heap[0]].id;
		unsigned slot = take_first(L, ts, now);
		lua_pushvalue(L, machine_index);
		push_handle(L, machine_index, slot, id);
		lvm_lua_call_hook(L, m, 2, 0, "timer");
	}
	ts->turn = -1;
}

void lvm_lua_timers_free(lua_State *L, struct lvm_lua_machine *m)
{
	struct lvm_timers *ts = &m->timers;
	for (unsigned i = 0; i < ts->nheap; i++)
		luaL_unref(L, LUA_REGISTRYINDEX, ts->slots[ts->heap[i]].fn_ref);
	free(ts->slots);
	free(ts->heap);
	free(ts->free);
	lvm_lua_timers_init(m);
}

static const luaL_Reg timer_methods[] = {
	{ "cancel", timer_cancel },
	{ "pending", timer_pending },
	{ NULL, NULL },
};

static const luaL_Reg machine_timer_methods[] = {
	{ "after", machine_after },
	{ "every", machine_every },
	{ NULL, NULL },
};

void lvm_lua_register_timers(lua_State *L)
{
	luaL_newmetatable(L, LVM_TIMER_MT);
	luaL_newlib(L, timer_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	lvm_lua_add_methods(L, machine_timer_methods);
}
