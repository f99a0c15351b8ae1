/*
 * vm.vsock:connect(port [, timeout_s]) -> stream, host_port: a host
 * connection to the guest's vsock listener on `port`, without a unix
 * socket file: the device's generic method connect_fd (devices/virtio/
 * vsock.c) hands over one end of a socketpair that it treats like a host
 * process that sent "CONNECT port\n"; the "OK <host_port>\n" line (or EOF
 * if the guest refuses) is read here.  The stream has :send(s),
 * :receive([n [, timeout_s]]) -> bytes | nil, "closed" | nil, "timeout",
 * and :close().  Waiting serves every live machine the way expect does
 * (lvm_lua_pump in short slices), so hooks and output keep flowing.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lua/binding.h"
#include "util/clock.h"

#define LVM_VSOCK_STREAM_MT "luavmm.vsock_stream"
#define SLICE_S 0.005 /* how long one pump runs between looks at the socket */

struct stream {
	int fd;
};

static struct stream *check_stream(lua_State *L)
{
	struct stream *s = luaL_checkudata(L, 1, LVM_VSOCK_STREAM_MT);
	if (s->fd < 0)
		luaL_error(L, "vsock stream: closed");
	return s;
}

/* Waits for `events` on fd until `deadline`, serving the machine (the
 * stream's user value 1) meanwhile.  [-0, +0, e] */
static bool wait_fd(lua_State *L, int stream_index, int fd, short events, double deadline)
{
	lua_getiuservalue(L, stream_index, 1);
	int mi = lua_gettop(L);
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, mi);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		if (poll(&p, 1, 0) > 0) {
			lua_pop(L, 1);
			return true;
		}
		double now = lvm_monotonic_seconds();
		if (now >= deadline) {
			lua_pop(L, 1);
			return false;
		}
		double until = now + SLICE_S < deadline ? now + SLICE_S : deadline;
		if (m->vm && !lvm_vm_stopped(m->vm))
			lvm_lua_pump(L, m, mi, until, false);
		else if (poll(&p, 1, 10) > 0) { /* nothing to serve: just wait */
			lua_pop(L, 1);
			return true;
		}
	}
}

static int stream_send(lua_State *L)
{
	struct stream *s = check_stream(L);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	double timeout = luaL_optnumber(L, 3, 30);
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
		if (!wait_fd(L, 1, s->fd, POLLOUT, deadline)) {
			lua_pushnil(L);
			lua_pushstring(L, "timeout");
			return 2;
		}
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* Reads what is there, at most n bytes, once readable: [-0, +1|2, e] */
static int receive_into(lua_State *L, int stream_index, int fd, size_t max, double deadline)
{
	if (!wait_fd(L, stream_index, fd, POLLIN, deadline)) {
		lua_pushnil(L);
		lua_pushstring(L, "timeout");
		return 2;
	}
	luaL_Buffer b;
	char *p = luaL_buffinitsize(L, &b, max);
	ssize_t n = recv(fd, p, max, MSG_DONTWAIT);
	if (n <= 0) {
		lua_pushnil(L);
		lua_pushstring(L, n == 0 || (errno != EAGAIN && errno != EINTR) ? "closed" : "timeout");
		return 2;
	}
	luaL_pushresultsize(&b, (size_t)n);
	return 1;
}

static int stream_receive(lua_State *L)
{
	struct stream *s = check_stream(L);
	lua_Integer max = luaL_optinteger(L, 2, 65536);
	luaL_argcheck(L, max > 0 && max <= (1 << 24), 2, "from 1 to 16 MiB");
	double timeout = luaL_optnumber(L, 3, 30);
	return receive_into(L, 1, s->fd, (size_t)max, lvm_monotonic_seconds() + timeout);
}

static int stream_close(lua_State *L)
{
	struct stream *s = luaL_checkudata(L, 1, LVM_VSOCK_STREAM_MT);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	return 0;
}

static int stream_tostring(lua_State *L)
{
	struct stream *s = luaL_checkudata(L, 1, LVM_VSOCK_STREAM_MT);
	lua_pushstring(L, s->fd >= 0 ? "luavmm.vsock_stream" : "luavmm.vsock_stream (closed)");
	return 1;
}

/* vm.vsock:connect(port [, timeout_s]): self (the device object) at 1. */
int lvm_lua_vsock_connect(lua_State *L)
{
	lua_Integer port = luaL_checkinteger(L, 2);
	double timeout = luaL_optnumber(L, 3, 30);
	lua_getfield(L, 1, "connect_fd"); /* the device's generic method */
	lua_pushvalue(L, 1);
	lua_pushinteger(L, port);
	lua_call(L, 2, 1);
	int fd = (int)lua_tointeger(L, -1);
	lua_pop(L, 1);
	struct stream *s = lua_newuserdatauv(L, sizeof(*s), 1);
	s->fd = fd;
	luaL_setmetatable(L, LVM_VSOCK_STREAM_MT);
	int si = lua_gettop(L);
	lua_getiuservalue(L, 1, 1); /* the device object's machine (lua/devices.c) */
	lua_setiuservalue(L, si, 1);
	/* "OK <host_port>\n", a byte at a time so no stream data is taken. */
	double deadline = lvm_monotonic_seconds() + timeout;
	char line[32];
	size_t n = 0;
	while (n < sizeof(line) - 1) {
		if (!wait_fd(L, si, fd, POLLIN, deadline))
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
}
