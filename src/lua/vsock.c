/*
 * The recipe's side of virtio-vsock (devices/virtio/vsock.c):
 *
 *   vm.vsock:connect(port [, timeout_s]) -> stream, host_port
 *       a host connection to the guest's listener on `port`, without a
 *       unix socket file: the device's generic method connect_fd hands
 *       over one end of a socketpair that it treats like a host process
 *       that sent "CONNECT port\n"; the "OK <host_port>\n" line (or EOF if
 *       the guest refuses) is read here.
 *   vm.vsock:listen(port [, fn]) -> listener
 *       the guest's connections to host port `port` come to the recipe
 *       (before the unix socket "<path>_<port>"): fn(stream, c) runs on the
 *       control thread as a hook; without fn they queue (at most BACKLOG)
 *       for listener:accept([timeout]).  listener:close() stops it.
 *   vm.vsock:on_connect(fn | nil)
 *       the policy: fn(c) for each new connection, c = {direction =
 *       "guest" | "host", port = the listener's port, peer_port = the
 *       opener's, cid = the guest's}; nil, true or "allow" let it through,
 *       false or "deny" refuse it (RST, or the host socket closed).
 *
 * Streams have :send(s), :receive([n [, timeout_s]]) -> bytes | nil,
 * "closed" | nil, "timeout", and :close().  Waiting serves every live
 * machine the way expect does; inside a hook nothing may wait, so there a
 * stream only sends what its socket takes at once and receives what is
 * already there.
 *
 * How the two hooks reach the device: with on_connect or a listener set,
 * one C function (handler, below) is the device's request filter (lua/
 * filter.c, util/request_filter.h).  The device's I/O thread asks it about
 * each new connection through the hook queue and waits for the answer
 * (like a disk's on_request); it runs fn(c), and for a guest connection to
 * a listened port makes a socketpair, gives one end to the listener as a
 * stream and the other to the device, which carries the connection over
 * it.  The socketpair is made here because the I/O thread's seccomp filter
 * allows no socketpair.  State per machine: the machine's state table
 * "vsock" = {on_connect = fn, listeners = {[port] = listener}}.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lua/binding.h"
#include "machine/machine.h"
#include "util/clock.h"
#include "util/request_filter.h"

#define LVM_VSOCK_STREAM_MT "luavmm.vsock_stream"
#define LVM_VSOCK_LISTENER_MT "luavmm.vsock_listener"
#define SLICE_S 0.005 /* every live machine is served at least this often while we wait */
#define BACKLOG 64    /* connections a listener without fn keeps for accept() */

struct stream {
	int fd;
};

/* User values of a listener. */
enum { LV_MACHINE = 1, LV_FN, LV_QUEUE, LV_COUNT = LV_QUEUE };

struct listener {
	uint32_t port;
	bool closed;
};

static struct stream *check_stream(lua_State *L)
{
	struct stream *s = luaL_checkudata(L, 1, LVM_VSOCK_STREAM_MT);
	if (s->fd < 0)
		luaL_error(L, "vsock stream: closed");
	return s;
}

/* ---- waiting ---- */

static bool fd_ready(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	return poll(&p, 1, 0) > 0;
}

static bool queue_ready(lua_State *L, int queue)
{
	return queue && lua_rawlen(L, queue) > 0;
}

/*
 * Waits until `fd` (if >= 0) is ready for `events` or the table at `queue`
 * (if not 0) has an entry, or `deadline` passes (false).  The machine at
 * `mi` is served meanwhile: the wait sleeps in poll() on the fd and the
 * machine's own fds, so it wakes at once when the socket is ready, and
 * every live machine is served at least each SLICE_S.  Inside a hook it
 * raises rather than wait.  [-0, +0, e]
 */
static bool wait_for(lua_State *L, int mi, int fd, short events, int queue, double deadline,
		     const char *what)
{
	mi = lua_absindex(L, mi);
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, mi);
	for (;;) {
		if ((fd >= 0 && fd_ready(fd, events)) || queue_ready(L, queue))
			return true;
		double now = lvm_monotonic_seconds();
		if (now >= deadline)
			return false;
		lvm_lua_check_not_in_hook(L, m, what);
		double until = now + SLICE_S < deadline ? now + SLICE_S : deadline;
		bool live = m->vm && m->vm->started && !lvm_vm_stopped(m->vm);
		if (!live && fd < 0)
			return false; /* nothing will come */
		double timer = live ? lvm_lua_next_timer(m) : -1;
		if (timer >= 0 && timer < until)
			until = timer;
		struct pollfd p[4];
		nfds_t n = 0;
		if (fd >= 0)
			p[n++] = (struct pollfd){ .fd = fd, .events = events };
		if (live) {
			p[n++] = (struct pollfd){ .fd = m->vm->hooks.notify_fd, .events = POLLIN };
			p[n++] = (struct pollfd){ .fd = m->vm->console.notify_fd, .events = POLLIN };
			p[n++] = (struct pollfd){ .fd = m->vm->stop_fd, .events = POLLIN };
		}
		int ms = (int)((until - now) * 1000) + 1;
		int ready = poll(p, n, ms < 0 ? 0 : ms);
		if (ready > 0 && fd >= 0 && p[0].revents)
			continue; /* ours: looked at again above */
		if (live) /* one short round of the control loop for every machine */
			lvm_lua_pump(L, m, mi, lvm_monotonic_seconds() + 0.0005, false);
	}
}

/* ---- streams ---- */

static int stream_send(lua_State *L)
{
	struct stream *s = check_stream(L);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	double timeout = lvm_lua_opt_duration(L, 3, 30);
	double deadline = lvm_monotonic_seconds() + timeout;
	size_t done = 0;
	while (done < len) {
		ssize_t n = send(s->fd, data + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			lua_pushnil(L);
			lua_pushstring(L, "closed");
			return 2;
		}
		lua_getiuservalue(L, 1, 1);
		bool ready = wait_for(L, -1, s->fd, POLLOUT, 0, deadline, "vsock stream:send");
		lua_pop(L, 1);
		if (!ready) {
			lua_pushnil(L);
			lua_pushstring(L, "timeout");
			return 2;
		}
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int stream_receive(lua_State *L)
{
	struct stream *s = check_stream(L);
	lua_Integer max = luaL_optinteger(L, 2, 65536);
	luaL_argcheck(L, max > 0 && max <= (1 << 24), 2, "from 1 to 16 MiB");
	double deadline = lvm_monotonic_seconds() + lvm_lua_opt_duration(L, 3, 30);
	lua_getiuservalue(L, 1, 1);
	bool ready = wait_for(L, -1, s->fd, POLLIN, 0, deadline, "vsock stream:receive");
	lua_pop(L, 1);
	if (!ready) {
		lua_pushnil(L);
		lua_pushstring(L, "timeout");
		return 2;
	}
	luaL_Buffer b;
	char *p = luaL_buffinitsize(L, &b, (size_t)max);
	ssize_t n = recv(s->fd, p, (size_t)max, MSG_DONTWAIT);
	if (n <= 0) {
		lua_pushnil(L);
		lua_pushstring(L, n == 0 || (errno != EAGAIN && errno != EINTR) ? "closed" : "timeout");
		return 2;
	}
	luaL_pushresultsize(&b, (size_t)n);
	return 1;
}

static void close_stream_at(lua_State *L, int index)
{
	struct stream *s = luaL_checkudata(L, index, LVM_VSOCK_STREAM_MT);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static int stream_close(lua_State *L)
{
	close_stream_at(L, 1);
	return 0;
}

static int stream_tostring(lua_State *L)
{
	struct stream *s = luaL_checkudata(L, 1, LVM_VSOCK_STREAM_MT);
	lua_pushstring(L, s->fd >= 0 ? "luavmm.vsock_stream" : "luavmm.vsock_stream (closed)");
	return 1;
}

/* A stream over `fd` whose waits serve the machine at `mi` [-0, +1, e]. */
static void push_stream(lua_State *L, int fd, int mi)
{
	mi = lua_absindex(L, mi);
	struct stream *s = lua_newuserdatauv(L, sizeof(*s), 1);
	s->fd = fd;
	luaL_setmetatable(L, LVM_VSOCK_STREAM_MT);
	lua_pushvalue(L, mi);
	lua_setiuservalue(L, -2, 1);
}

/* ---- the device object's methods: self (vm.vsock) at 1 ---- */

/* Pushes the machine of the device object at 1 [-0, +1, e]. */
static struct lvm_lua_machine *push_machine(lua_State *L)
{
	lua_getiuservalue(L, 1, 1); /* the device object's machine (lua/devices.c) */
	return lvm_lua_check_machine(L, -1);
}

/* vm.vsock:connect(port [, timeout_s]) */
static int vsock_connect(lua_State *L)
{
	lua_Integer port = luaL_checkinteger(L, 2);
	double timeout = lvm_lua_opt_duration(L, 3, 30);
	lua_settop(L, 3);
	push_machine(L);
	lua_getfield(L, 1, "connect_fd"); /* the device's generic method */
	lua_pushvalue(L, 1);
	lua_pushinteger(L, port);
	lua_call(L, 2, 1);
	int fd = (int)lua_tointeger(L, -1);
	lua_pop(L, 1);
	push_stream(L, fd, -1);
	int si = lua_gettop(L), mi = si - 1;
	/* "OK <host_port>\n", a byte at a time so no stream data is taken. */
	double deadline = lvm_monotonic_seconds() + timeout;
	char line[32];
	size_t n = 0;
	while (n < sizeof(line) - 1) {
		if (!wait_for(L, mi, fd, POLLIN, 0, deadline, "vsock:connect"))
			return luaL_error(L, "vsock:connect(%d): no answer from the guest",
					  (int)port);
		ssize_t r = recv(fd, line + n, 1, MSG_DONTWAIT);
		if (r == 0)
			return luaL_error(L, "vsock:connect(%d): connection refused", (int)port);
		if (r < 0)
			continue;
		if (line[n++] == '\n')
			break;
	}
	line[n] = '\0';
	if (strncmp(line, "OK ", 3) != 0)
		return luaL_error(L, "vsock:connect(%d): unexpected answer", (int)port);
	lua_pushvalue(L, si);
	lua_pushinteger(L, strtol(line + 3, NULL, 10));
	return 2;
}

/* The machine's vsock state table, created on first use [-0, +1, e]. */
static void push_vsock_state(lua_State *L, int mi)
{
	lvm_lua_push_state(L, mi, "vsock");
	if (lua_getfield(L, -1, "listeners") != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_setfield(L, -2, "listeners");
	} else {
		lua_pop(L, 1);
	}
}

/* {direction =, port =, peer_port =, cid =} from the handler's arguments 1-4 [-0, +1, e]. */
static void push_connection(lua_State *L)
{
	lua_createtable(L, 0, 4);
	lua_pushvalue(L, 1);
	lua_setfield(L, -2, "direction");
	lua_pushvalue(L, 2);
	lua_setfield(L, -2, "port");
	lua_pushvalue(L, 3);
	lua_setfield(L, -2, "peer_port");
	lua_pushvalue(L, 4);
	lua_setfield(L, -2, "cid");
}

/* on_connect's answer at the top: whether it allows [-1, +0, e]. */
static bool policy_allows(lua_State *L)
{
	int t = lua_type(L, -1);
	const char *s = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	bool allow;
	if (t == LUA_TNIL || (t == LUA_TBOOLEAN && lua_toboolean(L, -1)) ||
	    (s && strcmp(s, "allow") == 0))
		allow = true;
	else if ((t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) || (s && strcmp(s, "deny") == 0))
		allow = false;
	else
		return luaL_error(L, "vsock on_connect returned %s: expected nothing, true, false, \"allow\" or \"deny\"",
				  luaL_tolstring(L, -1, NULL));
	lua_pop(L, 1);
	return allow;
}

/*
 * A guest connection to a listened port: the listener (at `li`) gets its
 * end as a stream; returns the device's end (a stream whose fd the caller
 * takes) or nothing if the connection is refused (the listener's queue is
 * full, no socket, or its fn raised).  [-0, +(0|1), e]
 */
static int hand_to_listener(lua_State *L, struct lvm_lua_machine *m, int mi, int li)
{
	struct listener *l = lua_touserdata(L, li);
	lua_getiuservalue(L, li, LV_FN);
	lua_getiuservalue(L, li, LV_QUEUE);
	int fn = lua_gettop(L) - 1, queue = fn + 1;
	bool has_fn = !lua_isnil(L, fn);
	if (!has_fn && lua_rawlen(L, queue) >= BACKLOG) {
		lua_pop(L, 2);
		return 0;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		lua_pop(L, 2);
		return 0;
	}
	push_stream(L, sv[0], mi); /* the device's end, until it is handed over */
	int dev_end = lua_gettop(L);
	push_stream(L, sv[1], mi);
	if (!has_fn) { /* queued as {stream, c} */
		lua_createtable(L, 2, 0);
		lua_insert(L, -2);
		lua_rawseti(L, -2, 1);
		push_connection(L);
		lua_rawseti(L, -2, 2);
		lua_rawseti(L, queue, (lua_Integer)lua_rawlen(L, queue) + 1);
	} else {
		int s = lua_gettop(L);
		lua_pushvalue(L, fn);
		lua_pushvalue(L, s);
		push_connection(L);
		char what[48];
		snprintf(what, sizeof(what), "vsock listen %u", (int)l->port);
		if (!lvm_lua_call_hook(L, m, 2, 0, what)) {
			/* Reported (and, unless on_hook_error = "continue", the
			 * machine stops): the guest is refused. */
			close_stream_at(L, s);
			close_stream_at(L, dev_end);
			lua_settop(L, fn - 1);
			return 0;
		}
		lua_settop(L, dev_end);
	}
	lua_replace(L, fn); /* the device's end where fn was */
	lua_settop(L, fn);
	return 1;
}

/*
 * The device's filter (run by lvm_lua_vsock_decide, inside the hook's
 * protection): args direction, port, peer_port, cid; upvalue 1 the
 * machine.  Returns whether the connection may go on and, for a listened
 * port, the device's end of its stream.
 */
static int handler(lua_State *L)
{
	lua_settop(L, 4);
	int mi = lua_upvalueindex(1);
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, mi);
	lua_pushvalue(L, mi);
	mi = lua_gettop(L);
	push_vsock_state(L, mi);
	int state = lua_gettop(L);
	if (lua_getfield(L, state, "on_connect") == LUA_TFUNCTION) {
		push_connection(L);
		lua_call(L, 1, 1); /* an error is the hook's: the connection is refused */
		if (!policy_allows(L)) {
			lua_pushboolean(L, 0);
			return 1;
		}
	} else {
		lua_pop(L, 1);
	}
	lua_pushboolean(L, 1);
	if (strcmp(lua_tostring(L, 1), "guest") != 0)
		return 1;
	lua_getfield(L, state, "listeners");
	lua_pushvalue(L, 2);
	if (lua_rawget(L, -2) != LUA_TUSERDATA) {
		lua_settop(L, state + 1);
		return 1; /* nobody in Lua: the unix socket "<path>_<port>", if any */
	}
	lua_pushboolean(L, hand_to_listener(L, m, mi, lua_gettop(L)));
	if (!lua_toboolean(L, -1))
		return 1; /* refused */
	lua_insert(L, -2);
	return 2; /* true, the device's end */
}

void lvm_lua_vsock_decide(lua_State *L, struct lvm_lua_machine *m, int fn_ref,
			  const struct lvm_filter_request *req, struct lvm_filter_result *result)
{
	int top = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
	lua_pushstring(L, req->op == LVM_FILTER_VSOCK_GUEST ? "guest" : "host");
	lua_pushinteger(L, req->port);
	lua_pushinteger(L, req->peer_port);
	lua_pushinteger(L, (lua_Integer)req->cid);
	if (!lvm_lua_call_hook(L, m, 4, 2, "vsock on_connect"))
		return; /* refused: the device set DROP */
	if (lua_toboolean(L, -2)) {
		result->verdict = LVM_FILTER_ALLOW;
		struct stream *s = luaL_testudata(L, -1, LVM_VSOCK_STREAM_MT);
		if (s && s->fd >= 0 && req->stream_fd) {
			*req->stream_fd = s->fd; /* the device's from now on */
			s->fd = -1;
		}
	}
	lua_settop(L, top); /* a device end not handed over is closed by its __gc */
}

/* Installs the handler as the device's filter while on_connect or a
 * listener is set, and removes it otherwise.  Machine at mi, state at st. */
static void update_filter(lua_State *L, struct lvm_lua_machine *m, int mi, int st)
{
	bool needed = lua_getfield(L, st, "on_connect") == LUA_TFUNCTION;
	lua_getfield(L, st, "listeners");
	lua_pushnil(L);
	if (lua_next(L, -2)) {
		needed = true;
		lua_pop(L, 2);
	}
	lua_pop(L, 2);
	const struct lvm_machine_device *d =
		m->machine ? lvm_machine_find(m->machine, "vsock", "vsock") : NULL;
	if (!d)
		luaL_error(L, "vsock: no such device");
	if (needed) {
		lua_pushvalue(L, mi);
		lua_pushcclosure(L, handler, 1);
	} else {
		lua_pushnil(L);
	}
	const struct lvm_filter *f =
		lvm_lua_set_filter(L, mi, -1, "on_connect", "vsock", "vsock", false);
	lua_pop(L, 1);
	d->type->set_filter(d->dev, f);
}

/* vm.vsock:on_connect(fn | nil) */
static int vsock_on_connect(lua_State *L)
{
	lua_settop(L, 2);
	if (!lua_isnil(L, 2))
		luaL_checktype(L, 2, LUA_TFUNCTION);
	struct lvm_lua_machine *m = push_machine(L);
	int mi = lua_gettop(L);
	push_vsock_state(L, mi);
	lua_pushvalue(L, 2);
	lua_setfield(L, -2, "on_connect");
	update_filter(L, m, mi, lua_gettop(L));
	return 0;
}

/* vm.vsock:listen(port [, fn]) -> listener */
static int vsock_listen(lua_State *L)
{
	lua_Integer port = luaL_checkinteger(L, 2);
	luaL_argcheck(L, port >= 0 && port <= UINT32_MAX, 2, "a port from 0 to 4294967295");
	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TFUNCTION);
	lua_settop(L, 3);
	struct lvm_lua_machine *m = push_machine(L);
	int mi = lua_gettop(L);
	push_vsock_state(L, mi);
	int st = lua_gettop(L);
	lua_getfield(L, st, "listeners");
	if (lua_rawgeti(L, -1, port) != LUA_TNIL)
		return luaL_error(L, "vsock:listen(%I): the recipe listens on that port already", port);
	lua_pop(L, 1);
	struct listener *l = lua_newuserdatauv(L, sizeof(*l), LV_COUNT);
	*l = (struct listener){ .port = (uint32_t)port };
	luaL_setmetatable(L, LVM_VSOCK_LISTENER_MT);
	lua_pushvalue(L, mi);
	lua_setiuservalue(L, -2, LV_MACHINE);
	lua_pushvalue(L, 3);
	lua_setiuservalue(L, -2, LV_FN);
	lua_newtable(L);
	lua_setiuservalue(L, -2, LV_QUEUE);
	lua_pushvalue(L, -1);
	lua_rawseti(L, -3, port); /* listeners[port] */
	update_filter(L, m, mi, st);
	return 1;
}

/* ---- listeners ---- */

static struct listener *check_listener(lua_State *L)
{
	return luaL_checkudata(L, 1, LVM_VSOCK_LISTENER_MT);
}

/* listener:accept([timeout_s]) -> stream, c | nil, "timeout" | nil, "closed"
 * (c as on_connect gets it) */
static int listener_accept(lua_State *L)
{
	struct listener *l = check_listener(L);
	double deadline = lvm_monotonic_seconds() + lvm_lua_opt_duration(L, 2, 30);
	if (l->closed) {
		lua_pushnil(L);
		lua_pushstring(L, "closed");
		return 2;
	}
	lua_getiuservalue(L, 1, LV_FN);
	if (!lua_isnil(L, -1))
		return luaL_error(L, "vsock listener %I: its connections go to its function, not to accept()",
				  (lua_Integer)l->port);
	lua_getiuservalue(L, 1, LV_MACHINE);
	lua_getiuservalue(L, 1, LV_QUEUE);
	int queue = lua_gettop(L);
	if (!wait_for(L, queue - 1, -1, 0, queue, deadline, "vsock listener:accept") ||
	    l->closed) {
		lua_pushnil(L);
		lua_pushstring(L, l->closed ? "closed" : "timeout");
		return 2;
	}
	/* The oldest connection first. */
	lua_rawgeti(L, queue, 1);
	int entry = lua_gettop(L);
	lua_Integer n = (lua_Integer)lua_rawlen(L, queue);
	for (lua_Integer i = 1; i < n; i++) {
		lua_rawgeti(L, queue, i + 1);
		lua_rawseti(L, queue, i);
	}
	lua_pushnil(L);
	lua_rawseti(L, queue, n);
	lua_rawgeti(L, entry, 1);
	lua_rawgeti(L, entry, 2);
	return 2;
}

static int listener_close(lua_State *L)
{
	struct listener *l = check_listener(L);
	lua_settop(L, 1); /* __close passes an error object too */
	if (l->closed)
		return 0;
	l->closed = true;
	lua_getiuservalue(L, 1, LV_QUEUE); /* 2: connections nobody accepted: closed */
	for (lua_Integer i = 1; lua_rawgeti(L, 2, i) == LUA_TTABLE; i++) {
		lua_rawgeti(L, -1, 1);
		close_stream_at(L, -1);
		lua_pop(L, 2);
	}
	lua_settop(L, 1);
	lua_newtable(L);
	lua_setiuservalue(L, 1, LV_QUEUE);
	lua_getiuservalue(L, 1, LV_MACHINE);
	int mi = lua_gettop(L);
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, mi);
	if (!m->machine)
		return 0; /* the machine is closed: nothing left to tell */
	push_vsock_state(L, mi);
	int st = lua_gettop(L);
	lua_getfield(L, st, "listeners");
	lua_pushnil(L);
	lua_rawseti(L, -2, l->port);
	update_filter(L, m, mi, st);
	return 0;
}

static int listener_index(lua_State *L)
{
	struct listener *l = check_listener(L);
	const char *key = luaL_checkstring(L, 2);
	if (strcmp(key, "port") == 0)
		lua_pushinteger(L, l->port);
	else if (strcmp(key, "accept") == 0)
		lua_pushcfunction(L, listener_accept);
	else if (strcmp(key, "close") == 0)
		lua_pushcfunction(L, listener_close);
	else
		lua_pushnil(L);
	return 1;
}

static int listener_tostring(lua_State *L)
{
	struct listener *l = check_listener(L);
	lua_pushfstring(L, "luavmm.vsock_listener %I%s", (lua_Integer)l->port,
			l->closed ? " (closed)" : "");
	return 1;
}

bool lvm_lua_vsock_method(lua_State *L, const char *name)
{
	static const luaL_Reg methods[] = {
		{ "connect", vsock_connect },
		{ "listen", vsock_listen },
		{ "on_connect", vsock_on_connect },
		{ NULL, NULL },
	};
	for (const luaL_Reg *r = methods; r->name; r++)
		if (strcmp(r->name, name) == 0) {
			lua_pushcfunction(L, r->func);
			return true;
		}
	return false;
}

void lvm_lua_register_vsock(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "send", stream_send },
		{ "receive", stream_receive },
		{ "close", stream_close },
		{ NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__gc", stream_close },
		{ "__close", stream_close },
		{ "__tostring", stream_tostring },
		{ NULL, NULL },
	};
	luaL_newmetatable(L, LVM_VSOCK_STREAM_MT);
	luaL_setfuncs(L, meta, 0);
	luaL_newlib(L, methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	static const luaL_Reg listener_meta[] = {
		{ "__index", listener_index },
		{ "__close", listener_close },
		{ "__tostring", listener_tostring },
		{ NULL, NULL },
	};
	luaL_newmetatable(L, LVM_VSOCK_LISTENER_MT);
	luaL_setfuncs(L, listener_meta, 0);
	lua_pop(L, 1);
}
