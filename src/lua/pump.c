/*
 * The control thread's wait.  Whichever machine a recipe waits on, every
 * live machine is served (their stop eventfds, console output, hook queues,
 * timers, control sockets and, if asked for, stdin): output goes to the
 * Lua side (expect, console functions, on_line), stdin to the guest's
 * console input (machine/machine.h: UART and virtio console).  Only this
 * thread ever runs Lua.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "machine/machine.h"
#include "util/error.h"
#include "lua/binding.h"

#define PENDING_MAX (1u << 20) /* expect() looks at most at the newest 1 MiB */

/* The console log survives this: console:log() works after close(). */
void lvm_lua_output_free(struct lvm_output *out)
{
	free(out->pending);
	out->pending = NULL;
	out->pending_len = out->pending_cap = 0;
}

void lvm_lua_log_free(struct lvm_output *out)
{
	free(out->log);
	out->log = NULL;
	out->log_len = out->log_cap = out->log_start = 0;
}

/* Appends to the console log: a buffer growing to LVM_LOG_MAX, then a ring
 * overwriting its oldest bytes. */
static void append_log(struct lvm_output *out, const char *p, size_t n)
{
	if (n > LVM_LOG_MAX) {
		out->log_dropped += n - LVM_LOG_MAX;
		p += n - LVM_LOG_MAX;
		n = LVM_LOG_MAX;
	}
	if (out->log_cap < LVM_LOG_MAX && out->log_len + n > out->log_cap) {
		size_t cap = out->log_cap ? out->log_cap : 4096;
		while (cap < out->log_len + n && cap < LVM_LOG_MAX)
			cap *= 2;
		if (cap > LVM_LOG_MAX)
			cap = LVM_LOG_MAX;
		char *grown = realloc(out->log, cap); /* log_start is 0 until the ring is full */
		if (!grown) {
			out->log_dropped += n;
			return;
		}
		out->log = grown;
		out->log_cap = cap;
	}
	size_t cap = out->log_cap;
	while (n > 0) {
		size_t end = (out->log_start + out->log_len) % cap, k;
		if (out->log_len == cap) { /* full: overwrite the oldest bytes */
			k = n < cap - end ? n : cap - end;
			out->log_start = (out->log_start + k) % cap;
			out->log_dropped += k;
		} else {
			size_t room = cap - out->log_len;
			k = n < room ? n : room;
			if (k > cap - end)
				k = cap - end;
			out->log_len += k;
		}
		memcpy(out->log + end, p, k);
		p += k;
		n -= k;
	}
}

void lvm_lua_push_log(lua_State *L, const struct lvm_output *out)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	size_t first = out->log_len;
	if (out->log_start + first > out->log_cap)
		first = out->log_cap - out->log_start;
	if (first > 0)
		luaL_addlstring(&b, out->log + out->log_start, first);
	if (out->log_len > first)
		luaL_addlstring(&b, out->log, out->log_len - first);
	luaL_pushresult(&b);
}

/* ---- `luavmm run -v`: lifecycle events and status lines on stderr ---- */

int lvm_lua_verbose;

#define STATUS_EVERY_S 10.0

void lvm_lua_note(const struct lvm_lua_machine *m, const char *fmt, ...)
{
	if (!lvm_lua_verbose)
		return;
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fprintf(stderr, "luavmm: %s: %s\n", m->name[0] ? m->name : "machine", text);
	fflush(stderr);
}

static double seconds_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* A status line per STATUS_EVERY_S while a running machine is silent. */
static void maybe_status(struct lvm_lua_machine *m)
{
	if (!lvm_lua_verbose || !m->vm || !m->vm->started || lvm_vm_stopped(m->vm))
		return;
	double now = lvm_monotonic_seconds();
	double quiet_since = m->last_output > m->last_status ? m->last_output : m->last_status;
	if (now - quiet_since < STATUS_EVERY_S)
		return;
	m->last_status = now;
	struct lvm_vcpu_stats exits = lvm_vm_exit_stats(m->vm);
	lvm_lua_note(m, "running for %.0f s, no console output for %.0f s (%llu bytes so far; exits: %llu io, %llu mmio, %llu other)",
		     seconds_since(&m->vm->start_time), now - m->last_output,
		     (unsigned long long)m->vm->console.bytes_total, (unsigned long long)exits.io,
		     (unsigned long long)exits.mmio, (unsigned long long)exits.other);
}

static double next_status(const struct lvm_lua_machine *m)
{
	if (!lvm_lua_verbose || !m->vm || !m->vm->started || lvm_vm_stopped(m->vm))
		return -1;
	double quiet_since = m->last_output > m->last_status ? m->last_output : m->last_status;
	return quiet_since + STATUS_EVERY_S;
}

/* ---- SIGINT and SIGTERM in `luavmm run` (never in the module) ---- */

static int signal_pipe[2] = { -1, -1 };
static volatile sig_atomic_t first_signal, signal_count;
static struct termios initial_termios;
static bool have_termios;

/*
 * The first signal only records itself and wakes the control thread's poll
 * (the self-pipe): the wait in progress stops every machine and returns, so
 * the recipe runs on to its end and its <close> variables.  A second one
 * ends the process at once with the signal's default action, after giving
 * the terminal back as it was when luavmm started.
 */
static void on_stop_signal(int sig)
{
	int saved_errno = errno;
	if (signal_count++ > 0) {
		if (have_termios)
			tcsetattr(STDIN_FILENO, TCSADRAIN, &initial_termios);
		signal(sig, SIG_DFL);
		raise(sig);
		errno = saved_errno;
		return;
	}
	first_signal = sig;
	char byte = (char)sig;
	if (write(signal_pipe[1], &byte, 1) < 0) {
		/* the flag is enough: the pipe only shortens the wait */
	}
	errno = saved_errno;
}

void lvm_lua_catch_signals(void)
{
	static const int stop_signals[] = { SIGINT, SIGTERM };
	if (signal_pipe[0] >= 0 || pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return;
	have_termios = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &initial_termios) == 0;
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++) {
		struct sigaction old;
		/* an ignored signal (a background job's SIGINT) stays ignored */
		if (sigaction(stop_signals[i], NULL, &old) < 0 || old.sa_handler == SIG_IGN)
			continue;
		struct sigaction sa = { .sa_handler = on_stop_signal };
		sigemptyset(&sa.sa_mask);
		sigaction(stop_signals[i], &sa, NULL);
	}
}

int lvm_lua_signal_caught(void)
{
	return first_signal;
}

static const char *signal_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
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
		append_log(&m->out, chunk, n);
		m->last_output = lvm_monotonic_seconds();
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
	if (m->vm->reason == LVM_STOP_RESET && m->restart_on_reset) {
		/* on_reset = "restart": the guest's reset is a reboot, not an end. */
		if (lvm_machine_restart(m->machine) == 0) {
			m->restarts++;
			lvm_lua_note(m, "restarted after a guest reset (%llu so far)",
				     (unsigned long long)m->restarts);
			lvm_lua_fire_event(L, m, machine_index, "restart", 0);
			return;
		}
		lvm_warn("%s: on_reset = \"restart\": %s", m->name[0] ? m->name : "machine",
			 lvm_error());
	}
	m->stop_fired = true;
	lvm_lua_tty_drop(m); /* the terminal is the user's again */
	lvm_lua_note(m, "stopped: %s (%s), exit status %d", lvm_stop_reason_name(m->vm->reason),
		     m->vm->detail, lvm_lua_exit_status(m));
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

/* After SIGINT/SIGTERM: every running machine stops with reason "killed". */
static void stop_on_signal(const struct served *s, int n)
{
	int sig = first_signal;
	if (!sig)
		return;
	for (int i = 0; i < n; i++) {
		struct lvm_lua_machine *m = s[i].m;
		if (m->vm && m->vm->started && !lvm_vm_stopped(m->vm)) {
			m->stop_signal = sig;
			lvm_vm_stop(m->vm, LVM_STOP_HOST, 128 + sig, "stopped by %s", signal_name(sig));
		}
	}
}

/* Output, timers and the stop event of one machine; true if output came. */
static bool serve_idle(lua_State *L, const struct served *s)
{
	if (!s->m->vm)
		return false;
	size_t before = s->m->out.pending_len;
	lvm_lua_drain(L, s->m, s->index);
	lvm_lua_run_timers(L, s->m, s->index);
	if (s->m->vm) {
		fire_stop(L, s->m, s->index);
		maybe_status(s->m);
	}
	return s->m->out.pending_len != before;
}

/* Milliseconds until the deadline or the earliest timer of any machine. */
static int served_timeout_ms(const struct served *s, int n, double deadline)
{
	for (int i = 0; i < n; i++) {
		double next = s[i].m->vm ? lvm_lua_next_timer(s[i].m) : -1;
		if (next >= 0 && (deadline < 0 || next < deadline))
			deadline = next;
		next = next_status(s[i].m);
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
	int signal_at; /* the self-pipe of SIGINT/SIGTERM (luavmm run only) */
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
	if (n > 0 && s[0].m->vm && s[0].m->stdin_input && !s[0].m->stdin_eof) {
		ps->stdin_at = (int)ps->n;
		add_fd(ps, STDIN_FILENO);
	}
	ps->signal_at = -1;
	if (signal_pipe[0] >= 0) {
		ps->signal_at = (int)ps->n;
		add_fd(ps, signal_pipe[0]);
	}
}

static void drain_signal_pipe(void)
{
	char buf[16];
	while (read(signal_pipe[0], buf, sizeof(buf)) > 0)
		;
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
	static struct lvm_spin spin = LVM_SPIN_INIT; /* the control thread's */
	if (!lvm_spin_until(&spin, any_hook_pending, &list))
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
	if (ps.signal_at >= 0 && (ps.fds[ps.signal_at].revents & POLLIN))
		drain_signal_pipe();
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
		stop_on_signal(served, n);
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

/*
 * One round for luavmm.wait_until: serves every started machine, waits once
 * (until anything is ready for them, a timer is due or `deadline` passes),
 * serves what became ready and returns.  Without a started machine it only
 * waits (for the deadline or a stop signal).
 */
void lvm_lua_serve_round(lua_State *L, double deadline)
{
	int top = lua_gettop(L);
	struct lvm_lua_machine *first = NULL;
	if (lua_getfield(L, LUA_REGISTRYINDEX, LIVE_MACHINES) == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			lua_pop(L, 1);
			struct lvm_lua_machine *m = luaL_testudata(L, -1, LVM_MACHINE_MT);
			if (m && m->vm && m->vm->started) {
				first = m; /* its userdata stays on the stack */
				break;
			}
		}
	}
	lvm_lua_pump_depth++;
	struct served served[MAX_SERVED] = { { NULL, 0 } };
	int n = first ? push_served(L, -1, served) : 0;
	stop_on_signal(served, n);
	for (int i = 0; i < n; i++)
		serve_idle(L, &served[i]);
	if (!first_signal) {
		int timeout = served_timeout_ms(served, n, deadline);
		if (n > 0) {
			serve_once(L, served, n, timeout);
		} else if (timeout != 0) {
			struct pollfd fd = { .fd = signal_pipe[0], .events = POLLIN };
			poll(&fd, signal_pipe[0] >= 0 ? 1 : 0, timeout);
		}
		stop_on_signal(served, n);
		for (int i = 0; i < n; i++)
			serve_idle(L, &served[i]);
	}
	lvm_lua_pump_depth--;
	lua_settop(L, top);
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
