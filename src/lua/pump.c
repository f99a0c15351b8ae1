/*
 * The control thread's wait: poll the machine's stop eventfd, the console's
 * output notification and (if the recipe asked) stdin, then move output to
 * the Lua side and input to the UART.  Only this thread ever runs Lua.
 */
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/pc.h"
#include "lua/binding.h"

#define PENDING_MAX (1u << 20) /* expect() looks at most at the newest 1 MiB */

double lvm_lua_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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
static void feed_lines(lua_State *L, struct lua_machine *m, int machine_index,
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
void lvm_lua_drain(lua_State *L, struct lua_machine *m, int machine_index)
{
	machine_index = lua_absindex(L, machine_index);
	char chunk[4096];
	size_t n;
	bool lines = has_line_hooks(L, machine_index);
	while ((n = lvm_console_take(&m->vm->console, chunk, sizeof(chunk))) > 0) {
		remember_tail(&m->out, chunk, n);
		append_pending(&m->out, chunk, n);
		if (m->sink_ref != LUA_NOREF) {
			lua_rawgeti(L, LUA_REGISTRYINDEX, m->sink_ref);
			lua_pushlstring(L, chunk, n);
			lua_call(L, 1, 0);
		}
		if (lines)
			feed_lines(L, m, machine_index, chunk, n);
	}
}

static void forward_stdin(struct lua_machine *m)
{
	char buf[4096], keys[sizeof(buf) + 1];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n > 0) {
		size_t len = lvm_lua_tty_filter(m, buf, (size_t)n, keys); /* tty.c: Ctrl-A escapes */
		lvm_serial_receive(lvm_pc_of(m->vm)->serial, keys, len);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN))
		m->stdin_eof = true;
}

/* Milliseconds until the earlier of the deadline and the next timer. */
static int poll_timeout_ms(const struct lua_machine *m, double deadline)
{
	double next = lvm_lua_next_timer(m);
	if (next >= 0 && (deadline < 0 || next < deadline))
		deadline = next;
	if (deadline < 0)
		return -1;
	double left = deadline - lvm_lua_now();
	if (left <= 0)
		return 0;
	return left > 3600 ? 3600 * 1000 : (int)(left * 1000) + 1;
}

/* Delivers the stop event (on("exit"), on("reset"), ...) once. */
static void fire_stop(lua_State *L, struct lua_machine *m, int machine_index)
{
	if (m->stop_fired || !lvm_vm_stopped(m->vm))
		return;
	m->stop_fired = true;
	lvm_lua_tty_drop(m); /* the terminal is the user's again */
	lvm_lua_fire_event(L, m, machine_index, lvm_stop_reason_name(m->vm->reason), 0);
}

enum { FD_STOP, FD_CONSOLE, FD_HOOKS, FD_STDIN, FD_FIXED };
#define MAX_POLL_FDS (FD_FIXED + 16)

/* One round of the control loop: waits at most `timeout` ms, serves what is ready. */
static void serve_once(lua_State *L, struct lua_machine *m, int machine_index, int timeout)
{
	struct lvm_vm *vm = m->vm;
	struct pollfd fds[MAX_POLL_FDS] = {
		[FD_STOP] = { .fd = vm->stop_fd, .events = POLLIN },
		[FD_CONSOLE] = { .fd = vm->console.notify_fd, .events = POLLIN },
		[FD_HOOKS] = { .fd = vm->hooks.notify_fd, .events = POLLIN },
		[FD_STDIN] = { .fd = m->stdin_input && !m->stdin_eof ? STDIN_FILENO : -1,
			       .events = POLLIN },
	};
	unsigned nctl = lvm_lua_control_pollfds(m, fds + FD_FIXED, MAX_POLL_FDS - FD_FIXED);
	if (poll(fds, FD_FIXED + nctl, timeout) < 0) {
		if (errno != EINTR)
			return;
		nctl = 0;
	}
	if (fds[FD_HOOKS].revents & POLLIN)
		lvm_lua_serve_hooks(L, m, machine_index);
	if (fds[FD_STDIN].revents & (POLLIN | POLLHUP))
		forward_stdin(m);
	if (nctl > 0 && m->vm)
		lvm_lua_control_serve(L, m, machine_index, fds + FD_FIXED, nctl);
}

bool lvm_lua_pump(lua_State *L, struct lua_machine *m, int machine_index, double deadline,
		  bool until_output)
{
	machine_index = lua_absindex(L, machine_index);
	struct lvm_vm *vm = m->vm;
	bool got_output = false;
	for (;;) {
		size_t before = m->out.pending_len;
		lvm_lua_drain(L, m, machine_index);
		got_output |= m->out.pending_len != before;
		lvm_lua_run_timers(L, m, machine_index);
		fire_stop(L, m, machine_index);
		if ((until_output && got_output) || lvm_vm_stopped(vm))
			return got_output;
		int timeout = poll_timeout_ms(m, deadline);
		if (timeout == 0 && deadline >= 0 && lvm_lua_now() >= deadline)
			return got_output;
		serve_once(L, m, machine_index, timeout);
	}
}

void lvm_lua_push_tail(lua_State *L, const struct lua_machine *m)
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
