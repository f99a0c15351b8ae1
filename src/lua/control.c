/*
 * The control socket: `control = PATH` in the machine table (or
 * `luavmm run --control PATH`) opens a unix socket that `luavmm attach`
 * talks to.  The socket is created with mode 0600 and every connection's
 * peer uid (SO_PEERCRED) must be ours; others get one refusal message.
 * Requests are Lua chunks evaluated on the control thread, from its poll
 * loop (so only while the recipe is in vm:wait, expect or vm:run), in an
 * environment where `vm` is the machine and other names fall back to the
 * globals.  A chunk runs like a hook (instruction limit, no waiting) but
 * its errors go back to the client and never stop the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/control_proto.h"
#include "lua/binding.h"

#define MAX_CLIENTS 8

struct control_client {
	int fd;
	int env_ref; /* registry: this session's environment (globals persist) */
	char *buf;
	size_t len, cap;
};

struct lvm_control {
	int listen_fd;
	char path[108];
	struct control_client clients[MAX_CLIENTS];
};

const char *lvm_lua_default_control;

static int bind_socket(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	mode_t old = umask(0177); /* the socket file is born 0600 */
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* A socket file nobody listens on (a previous run died) may be replaced. */
static void remove_stale(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
	    errno == ECONNREFUSED)
		unlink(path);
	if (fd >= 0)
		close(fd);
}

int lvm_lua_control_open(lua_State *L, struct lvm_lua_machine *m, const char *path)
{
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return luaL_error(L, "machine: control = \"%s\": path too long for a unix socket", path);
	remove_stale(path);
	int fd = bind_socket(path);
	if (fd < 0)
		return luaL_error(L, "machine: control = \"%s\": %s", path, strerror(errno));
	struct lvm_control *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		unlink(path);
		return luaL_error(L, "machine: control: out of memory");
	}
	c->listen_fd = fd;
	snprintf(c->path, sizeof(c->path), "%s", path);
	for (int i = 0; i < MAX_CLIENTS; i++)
		c->clients[i] = (struct control_client){ .fd = -1, .env_ref = LUA_NOREF };
	m->control = c;
	return 0;
}

static void drop_client(lua_State *L, struct control_client *cl)
{
	close(cl->fd);
	free(cl->buf);
	luaL_unref(L, LUA_REGISTRYINDEX, cl->env_ref);
	*cl = (struct control_client){ .fd = -1, .env_ref = LUA_NOREF };
}

void lvm_lua_control_close(lua_State *L, struct lvm_lua_machine *m)
{
	struct lvm_control *c = m->control;
	if (!c)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0)
			drop_client(L, &c->clients[i]);
	close(c->listen_fd);
	unlink(c->path);
	free(c);
	m->control = NULL;
}

unsigned lvm_lua_control_pollfds(struct lvm_lua_machine *m, struct pollfd *fds, unsigned max)
{
	struct lvm_control *c = m->control;
	if (!c || max < 1 + MAX_CLIENTS)
		return 0;
	fds[0] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
	for (int i = 0; i < MAX_CLIENTS; i++)
		fds[1 + i] = (struct pollfd){ .fd = c->clients[i].fd, .events = POLLIN };
	return 1 + MAX_CLIENTS;
}

static void reply(int fd, bool ok, const char *text, size_t len)
{
	char *msg = malloc(len + 1);
	if (!msg)
		return;
	msg[0] = ok ? '0' : '1';
	memcpy(msg + 1, text, len);
	lvm_control_send(fd, msg, len + 1);
	free(msg);
}

static void accept_client(struct lvm_control *c)
{
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != getuid()) {
		char why[128];
		int n = snprintf(why, sizeof(why), "permission denied: uid %u is not the owner of this VM",
				 (unsigned)cred.uid);
		reply(fd, false, why, (size_t)n);
		close(fd);
		return;
	}
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (c->clients[i].fd < 0) {
			c->clients[i].fd = fd;
			c->clients[i].env_ref = LUA_NOREF;
			return;
		}
	}
	reply(fd, false, "too many clients", 16);
	close(fd);
}

/* print() inside a control chunk: collected for the reply. */
static int collect_print(lua_State *L)
{
	int n = lua_gettop(L);
	luaL_Buffer b;
	lua_pushvalue(L, lua_upvalueindex(1));
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_addchar(&b, '\n');
	luaL_pushresult(&b);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	return 0;
}

/* The session's environment: vm, a collecting print, then the globals. */
static void push_env(lua_State *L, struct control_client *cl, int machine_index, int out_index)
{
	if (lua_rawgeti(L, LUA_REGISTRYINDEX, cl->env_ref) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_createtable(L, 0, 1);
		lua_pushglobaltable(L);
		lua_setfield(L, -2, "__index");
		lua_setmetatable(L, -2);
		lua_pushvalue(L, -1);
		cl->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	lua_pushvalue(L, machine_index);
	lua_setfield(L, -2, "vm");
	lua_pushvalue(L, out_index);
	lua_pushcclosure(L, collect_print, 1);
	lua_setfield(L, -2, "print");
}

/* Loads "return CHUNK" (an expression) or else CHUNK; leaves a function or an error. */
static int load_chunk(lua_State *L, const char *src, size_t len)
{
	lua_pushliteral(L, "return ");
	lua_pushlstring(L, src, len);
	lua_concat(L, 2);
	int status = luaL_loadbufferx(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=attach", "t");
	lua_remove(L, -2);
	if (status == LUA_OK)
		return status;
	lua_pop(L, 1);
	return luaL_loadbufferx(L, src, len, "=attach", "t");
}

static void evaluate(lua_State *L, struct lvm_lua_machine *m, int machine_index,
		     struct control_client *cl, const char *src, size_t len)
{
	int top = lua_gettop(L);
	lua_newtable(L); /* printed lines */
	int out = lua_gettop(L);
	int status = load_chunk(L, src, len);
	if (status == LUA_OK) {
		push_env(L, cl, machine_index, out);
		lua_setupvalue(L, -2, 1);
		status = lvm_lua_pcall_limited(L, m, 0, LUA_MULTRET);
	}
	int nres = lua_gettop(L) - out; /* results, or the error message */
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (lua_Integer i = 1; lua_rawgeti(L, out, i) == LUA_TSTRING; i++)
		luaL_addvalue(&b);
	lua_pop(L, 1);
	for (int i = 1; i <= nres; i++) {
		luaL_tolstring(L, out + i, NULL);
		luaL_addvalue(&b);
		luaL_addchar(&b, i < nres ? '\t' : '\n');
	}
	luaL_pushresult(&b);
	size_t n;
	const char *text = lua_tolstring(L, -1, &n);
	reply(cl->fd, status == LUA_OK, text, n);
	lua_settop(L, top);
}

/* Reads what arrived; evaluates each whole request. */
static void serve_client(lua_State *L, struct lvm_lua_machine *m, int machine_index,
			 struct control_client *cl)
{
	if (cl->cap - cl->len < 4096) {
		size_t cap = cl->cap ? cl->cap * 2 : 8192;
		char *buf = cap <= 2 * LVM_CONTROL_MAX_MESSAGE ? realloc(cl->buf, cap) : NULL;
		if (!buf) {
			drop_client(L, cl);
			return;
		}
		cl->buf = buf;
		cl->cap = cap;
	}
	ssize_t got = read(cl->fd, cl->buf + cl->len, cl->cap - cl->len);
	if (got <= 0) {
		if (got == 0 || (errno != EINTR && errno != EAGAIN))
			drop_client(L, cl);
		return;
	}
	cl->len += (size_t)got;
	long size;
	while (cl->fd >= 0 && (size = lvm_control_frame_size(cl->buf, cl->len)) != 0) {
		if (size < 0) {
			drop_client(L, cl);
			return;
		}
		evaluate(L, m, machine_index, cl, cl->buf + 4, (size_t)size - 4);
		memmove(cl->buf, cl->buf + size, cl->len - (size_t)size);
		cl->len -= (size_t)size;
		if (!m->vm || lvm_vm_stopped(m->vm))
			return;
	}
}

void lvm_lua_control_serve(lua_State *L, struct lvm_lua_machine *m, int machine_index,
			   const struct pollfd *fds, unsigned n)
{
	struct lvm_control *c = m->control;
	if (!c || n < 1 + MAX_CLIENTS)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (fds[1 + i].fd >= 0 && fds[1 + i].revents && c->clients[i].fd == fds[1 + i].fd)
			serve_client(L, m, machine_index, &c->clients[i]);
	if (fds[0].revents & POLLIN)
		accept_client(c);
}
