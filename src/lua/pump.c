/*
 * The control thread's wait.  Whichever machine a recipe waits on, every
 * live machine is served (their stop eventfds, console output, hook queues,
 * timers, control sockets and, if asked for, stdin): output goes to the
 * Lua side (expect, console functions, on_line), stdin to the guest's
 * console input (machine/machine.h: UART and virtio console).  Only this
 * thread ever runs Lua.
 */
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "machine/machine.h"
#include "lua/binding.h"

#define PENDING_MAX (1u << 20) /* expect() looks at most at the newest 1 MiB */

void lvm_lua_output_free(struct lvm_output *out)
{
	free(out->pending);
	memset(out, 0, sizeof(*out));
}

static void remember_tail(struct lvm_output *out, const char *p, size_t n)
{
	const size_t cap = sizeof(out->tail);
	if (n >= cap) {
		memcpy(out->tail, p + n - cap, cap);
		out->tail_len = cap;
		return;
	}
	if (out->tail_len + n > cap) {
		size_t drop = out->tail_len + n - cap;
		memmove(out->tail, out->tail + drop, out->tail_len - drop);
		out->tail_len -= drop;
	}
	memcpy(out->tail + out->tail_len, p, n);
	out->tail_len += n;
}

static void append_pending(struct lvm_output *out, const char *p, size_t n)
{
	if (out->pending_len + n > PENDING_MAX) {
		size_t drop = out->pending_len + n - PENDING_MAX;
		if (drop >= out->pending_len) {
			p += drop - out->pending_len;
			n -= drop - out->pending_len;
			out->pending_len = 0;
		} else {
			memmove(out->pending, out->pending + drop, out->pending_len - drop);
			out->pending_len -= drop;
		}
	}
	if (out->pending_len + n > out->pending_cap) {
		size_t cap = out->pending_cap ? out->pending_cap : 4096;
		while (cap < out->pending_len + n)
			cap *= 2;
		char *grown = realloc(out->pending, cap);
		if (!grown)
			return;
		out->pending = grown;
		out->pending_cap = cap;
	}
	memcpy(out->pending + out->pending_len, p, n);
	out->pending_len += n;
}

/* Splits output into lines for console:on_line hooks. */
static void feed_lines(lua_State *L, struct lvm_lua_machine *m, int machine_index,
		       const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' || m->line_len == sizeof(m->line)) {
			lvm_lua_deliver_line(L, m, machine_index, m->line, m->line_len);
			m->line_len = 0;
			if (p[i] == '\n')
				continue;
		}
		m->line[m->line_len++] = p[i];
	}
}

static bool has_line_hooks(lua_State *L, int machine_index)
{
	lvm_lua_push_state(L, machine_index, "lines");
	bool any = lua_rawlen(L, -1) > 0;
	lua_pop(L, 1);
	return any;
}

/* Takes everything the console captured; calls the Lua sink and line hooks. */
void lvm_lua_drain(lua_State *L, struct lvm_lua_machine *m, int machine_index)
{
	machine_index = lua_absindex(L, machine_index);
	char chunk[4096];
	size_t n;
	bool lines = has_line_hooks(L, machine_index);
	while ((n = lvm_console_take(&m->vm->console, chunk, sizeof(chunk))) > 0) {
		remember_tail(&m->out, chunk, n);
		append_pending(&m->out, chunk, n);
		if (m->sink_ref != LUA_NOREF) {
			/* Like any hook: protected, limited, no waiting or closing inside. */
			lua_rawgeti(L, LUA_REGISTRYINDEX, m->sink_ref);
			lua_pushlstring(L, chunk, n);
			lvm_lua_call_hook(L, m, 1, 0, "console");
		}
		if (lines)
			feed_lines(L, m, machine_index, chunk, n);
	}
}

static void forward_stdin(struct lvm_lua_machine *m)
{
	char buf[4096], keys[sizeof(buf) + 1];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n > 0) {
		size_t len = lvm_lua_tty_filter(m, buf, (size_t)n, keys); /* tty.c: Ctrl-A escapes */
		const char *full;
		size_t accepted; /* a guest that does not read loses keys, as on a real UART */
		lvm_machine_input(m->machine, keys, len, &full, &accepted);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN))
		m->stdin_eof = true;
}

/* Delivers the stop event (on("exit"), on("reset"), ...) once. */
static void fire_stop(lua_State *L, struct lvm_lua_machine *m, int machine_index)
{
	if (m->stop_fired || !lvm_vm_stopped(m->vm))
		return;
	m->stop_fired = true;
	lvm_lua_tty_drop(m); /* the terminal is the user's again */
	lvm_lua_fire_event(L, m, machine_index, lvm_stop_reason_name(m->vm->reason), 0);
}

/*
 * Every machine of this Lua state is served while the control thread waits
 * on any one of them: its output drained, its hooks, timers, events and
 * control socket answered.  Otherwise a vCPU of machine B blocked on a Lua
 * hook would wait until the recipe happened to wait on B.  Machines are
 * remembered in a weak-keyed registry table; hooks still run one at a time.
 */
#define LIVE_MACHINES "luavmm.live"
#define MAX_SERVED 32
#define MAX_POLL_FDS (MAX_SERVED * 3 + 1 + 16)

void lvm_lua_register_live(lua_State *L, int index)
{
	index = lua_absindex(L, index);
	if (lua_getfield(L, LUA_REGISTRYINDEX, LIVE_MACHINES) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_createtable(L, 0, 1);
		lua_pushliteral(L, "k");
		lua_setfield(L, -2, "__mode");
		lua_setmetatable(L, -2);
		lua_pushvalue(L, -1);
		lua_setfield(L, LUA_REGISTRYINDEX, LIVE_MACHINES);
	}
	lua_pushvalue(L, index);
	lua_pushboolean(L, 1);
	lua_rawset(L, -3);
	lua_pop(L, 1);
}

struct served {
	struct lvm_lua_machine *m;
	int index; /* the machine's userdata on the Lua stack */
};

/* Pushes `self` and every other started, open machine; fills `out`. */
static int push_served(lua_State *L, int self_index, struct served *out)
{
	int n = 0;
	luaL_checkstack(L, MAX_SERVED + 4, "too many machines to serve");
	lua_pushvalue(L, self_index);
	out[n++] = (struct served){ lua_touserdata(L, -1), lua_gettop(L) };
	if (lua_getfield(L, LUA_REGISTRYINDEX, LIVE_MACHINES) != LUA_TTABLE) {
		lua_pop(L, 1);
		return n;
	}
	int live = lua_gettop(L);
	lua_pushnil(L);
	while (n < MAX_SERVED && lua_next(L, live)) {
		lua_pop(L, 1); /* the value */
		struct lvm_lua_machine *other = luaL_testudata(L, -1, LVM_MACHINE_MT);
		if (other && other != out[0].m && other->vm && other->vm->started) {
			lua_pushvalue(L, -1);
			lua_insert(L, live); /* keep it below the iteration state */
			live++;
			out[n++] = (struct served){ other, live - 1 };
		}
	}
	lua_remove(L, live);
	return n;
}

/* Output, timers and the stop event of one machine; true if output came. */
static bool serve_idle(lua_State *L, const struct served *s)
{
	if (!s->m->vm)
		return false;
	size_t before = s->m->out.pending_len;
	lvm_lua_drain(L, s->m, s->index);
	lvm_lua_run_timers(L, s->m, s->index);
	fire_stop(L, s->m, s->index);
	return s->m->out.pending_len != before;
}

/* Milliseconds until the deadline or the earliest timer of any machine. */
static int served_timeout_ms(const struct served *s, int n, double deadline)
{
	for (int i = 0; i < n; i++) {
		double next = s[i].m->vm ? lvm_lua_next_timer(s[i].m) : -1;
		if (next >= 0 && (deadline < 0 || next < deadline))
			deadline = next;
	}
	if (deadline < 0)
		return -1;
	double left = deadline - lvm_monotonic_seconds();
	if (left <= 0)
		return 0;
	return left > 3600 ? 3600 * 1000 : (int)(left * 1000) + 1;
}

struct poll_set {
	struct pollfd fds[MAX_POLL_FDS];
	unsigned n;
	int hooks_at[MAX_SERVED];    /* index in fds, per served machine */
	unsigned ctl_at[MAX_SERVED], ctl_n[MAX_SERVED];
	int stdin_at;
};

static void add_fd(struct poll_set *ps, int fd)
{
	ps->fds[ps->n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
}

static void build_poll_set(struct poll_set *ps, const struct served *s, int n)
{
	ps->n = 0;
	ps->stdin_at = -1;
	for (int i = 0; i < n; i++) {
		struct lvm_vm *vm = s[i].m->vm;
		ps->hooks_at[i] = -1;
		ps->ctl_n[i] = 0;
		if (!vm)
			continue;
		/* A stopped machine's stop fd stays readable: watch it only until then. */
		if (!s[i].m->stop_fired)
			add_fd(ps, vm->stop_fd);
		add_fd(ps, vm->console.notify_fd);
		ps->hooks_at[i] = (int)ps->n;
		add_fd(ps, vm->hooks.notify_fd);
		ps->ctl_at[i] = ps->n;
		ps->ctl_n[i] = lvm_lua_control_pollfds(s[i].m, ps->fds + ps->n, MAX_POLL_FDS - 1 - ps->n);
		ps->n += ps->ctl_n[i];
	}
	if (s[0].m->vm && s[0].m->stdin_input && !s[0].m->stdin_eof) {
		ps->stdin_at = (int)ps->n;
		add_fd(ps, STDIN_FILENO);
	}
}

/*
 * Right after answering a hook, the guest's next access often follows
 * within microseconds: look for it by spinning briefly instead of going to
 * sleep in poll() (a wake-up costs tens of microseconds on a nested host).
 */
struct served_list {
	const struct served *s;
	int n;
};

static bool any_hook_pending(const void *arg)
{
	const struct served_list *list = arg;
	for (int i = 0; i < list->n; i++)
		if (list->s[i].m->vm && lvm_hookq_pending(&list->s[i].m->vm->hooks))
			return true;
	return false;
}

static bool serve_spinning(lua_State *L, const struct served *s, int n)
{
	struct served_list list = { s, n };
	if (!lvm_hookq_spin(any_hook_pending, &list, LVM_HOOKQ_SPIN_NS))
		return false;
	for (int i = 0; i < n; i++)
		if (s[i].m->vm && lvm_hookq_pending(&s[i].m->vm->hooks))
			lvm_lua_serve_hooks(L, s[i].m, s[i].index);
	return true;
}

/* One round: waits at most `timeout` ms, then serves what became ready.
 * Returns true if it answered hooks. */
static bool serve_once(lua_State *L, const struct served *s, int n, int timeout)
{
	bool hooks = false;
	struct poll_set ps;
	build_poll_set(&ps, s, n);
	if (poll(ps.fds, ps.n, timeout) < 0)
		return false;
	for (int i = 0; i < n; i++) {
		if (!s[i].m->vm || ps.hooks_at[i] < 0)
			continue;
		if (ps.fds[ps.hooks_at[i]].revents & POLLIN) {
			lvm_lua_serve_hooks(L, s[i].m, s[i].index);
			hooks = true;
		}
		if (ps.ctl_n[i] > 0 && s[i].m->vm)
			lvm_lua_control_serve(L, s[i].m, s[i].index, ps.fds + ps.ctl_at[i], ps.ctl_n[i]);
	}
	if (ps.stdin_at >= 0 && s[0].m->vm && (ps.fds[ps.stdin_at].revents & (POLLIN | POLLHUP)))
		forward_stdin(s[0].m);
	return hooks;
}

bool lvm_lua_pump(lua_State *L, struct lvm_lua_machine *m, int machine_index, double deadline,
		  bool until_output)
{
	machine_index = lua_absindex(L, machine_index);
	int top = lua_gettop(L);
	lvm_lua_pump_depth++;
	struct served served[MAX_SERVED];
	int n = push_served(L, machine_index, served);
	bool got_output = false, hooks_active = false;
	for (;;) {
		for (int i = 0; i < n; i++) {
			bool output = serve_idle(L, &served[i]);
			if (i == 0)
				got_output |= output;
		}
		if (!m->vm || (until_output && got_output) || lvm_vm_stopped(m->vm))
			break;
		int timeout = served_timeout_ms(served, n, deadline);
		if (timeout == 0 && deadline >= 0 && lvm_monotonic_seconds() >= deadline)
			break;
		if (hooks_active && serve_spinning(L, served, n))
			continue;
		hooks_active = serve_once(L, served, n, timeout);
	}
	lua_settop(L, top);
	lvm_lua_pump_depth--;
	return got_output;
}

void lvm_lua_push_tail(lua_State *L, const struct lvm_lua_machine *m)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	size_t start = m->out.tail_len > 300 ? m->out.tail_len - 300 : 0;
	for (size_t i = start; i < m->out.tail_len; i++) {
		unsigned char c = (unsigned char)m->out.tail[i];
		if (c == '\n')
			luaL_addstring(&b, "\\n");
		else if (c == '\r')
			luaL_addstring(&b, "\\r");
		else if (c < 0x20 || c == 0x7f) {
			char esc[8];
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			luaL_addstring(&b, esc);
		} else
			luaL_addchar(&b, (char)c);
	}
	luaL_pushresult(&b);
}
