/*
 * The control socket: `control = PATH` in the machine table (or
 * `luavmm run --control PATH`) opens a unix socket that `luavmm attach`
 * talks to.  The socket is created with mode 0600 and every connection's
 * peer uid (SO_PEERCRED) must be ours; others get one refusal message.
 * Requests are Lua chunks evaluated on the control thread, from its poll
 * loop (so only while the recipe is in vm:wait, expect or vm:run), in an
 * environment where `vm` is the machine and other names fall back to the
 * globals.  A chunk runs like a hook (instruction limit, no waiting) but
 * its errors go back to the client and never stop the machine.  Sockets
 * are non-blocking: replies wait in a bounded queue per client, and a
 * client that lets it overflow, vanishes or breaks the framing is dropped,
 * never the control thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
/* Replies queued for a client that does not read: past this it is dropped. */
#define OUTPUT_BOUND (2u * LVM_CONTROL_MAX_MESSAGE + 64)
/* Seconds the listening socket rests when no fd is left to accept with. */
#define ACCEPT_BACKOFF 0.1

struct control_client {
	int fd;
	int env_ref; /* registry: this session's environment (globals persist) */
	struct lvm_control_reader in;
	struct lvm_control_writer out;
	bool eof;  /* the client sent all it will: answer, then close */
	bool dead; /* gone, too slow or broken: dropped once served */
};

struct lvm_control {
	int listen_fd;
	int spare_fd;        /* /dev/null, closed to accept-and-refuse on EMFILE */
	double paused_until; /* lvm_monotonic_seconds() until which accept() rests; 0: never */
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
	c->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	snprintf(c->path, sizeof(c->path), "%s", path);
	for (int i = 0; i < MAX_CLIENTS; i++)
		c->clients[i] = (struct control_client){ .fd = -1, .env_ref = LUA_NOREF };
	m->control = c;
	return 0;
}

static void drop_client(lua_State *L, struct control_client *cl)
{
	close(cl->fd);
	lvm_control_reader_free(&cl->in);
	lvm_control_writer_free(&cl->out);
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
	if (c->spare_fd >= 0)
		close(c->spare_fd);
	unlink(c->path);
	free(c);
	m->control = NULL;
}

static bool listening(struct lvm_control *c)
{
	if (c->paused_until > 0 && lvm_monotonic_seconds() < c->paused_until)
		return false;
	c->paused_until = 0;
	return true;
}

unsigned lvm_lua_control_pollfds(struct lvm_lua_machine *m, struct pollfd *fds, unsigned max)
{
	struct lvm_control *c = m->control;
	if (!c || max < 1 + MAX_CLIENTS)
		return 0;
	fds[0] = (struct pollfd){ .fd = listening(c) ? c->listen_fd : -1, .events = POLLIN };
	for (int i = 0; i < MAX_CLIENTS; i++) {
		const struct control_client *cl = &c->clients[i];
		short events = (short)((cl->eof ? 0 : POLLIN) |
				       (lvm_control_writer_pending(&cl->out) ? POLLOUT : 0));
		fds[1 + i] = (struct pollfd){ .fd = cl->fd, .events = events };
	}
	return 1 + MAX_CLIENTS;
}

/* Queues a reply and sends what the socket takes; never blocks.  A client
 * whose unread replies pass OUTPUT_BOUND, or that is gone, is marked dead. */
static void reply(struct control_client *cl, bool ok, const char *text, size_t len)
{
	char why[160];
	if (len + 1 > LVM_CONTROL_MAX_MESSAGE) {
		int n = snprintf(why, sizeof(why),
				 "the reply (%zu bytes) is over the control socket's frame limit of %u bytes",
				 len + 1, LVM_CONTROL_MAX_MESSAGE);
		ok = false;
		text = why;
		len = (size_t)n;
	}
	if (!lvm_control_writer_add(&cl->out, ok ? '0' : '1', text, len, OUTPUT_BOUND) ||
	    lvm_control_writer_flush(&cl->out, cl->fd) < 0)
		cl->dead = true;
}

/* One error frame to a connection we do not keep: best effort, never blocks. */
static void refuse(int fd, const char *why)
{
	struct lvm_control_writer w = { 0 };
	if (lvm_control_writer_add(&w, '1', why, strlen(why), OUTPUT_BOUND))
		(void)lvm_control_writer_flush(&w, fd);
	lvm_control_writer_free(&w);
	close(fd);
}

/*
 * accept() fails with EMFILE while the connection stays queued, so the
 * listening socket stays readable: without care the poll loop spins.  Give
 * up the spare fd to accept and refuse that connection; if even that fails
 * (another thread took the fd), stop listening for ACCEPT_BACKOFF.
 */
static void out_of_fds(struct lvm_control *c, int err)
{
	int fd = -1;
	if (c->spare_fd >= 0) {
		close(c->spare_fd);
		fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			char why[128];
			snprintf(why, sizeof(why), "luavmm: control: cannot take the connection: %s",
				 strerror(err));
			refuse(fd, why);
		}
		c->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		c->paused_until = lvm_monotonic_seconds() + ACCEPT_BACKOFF;
}

static bool peer_is_owner(int fd, unsigned *uid)
{
	struct ucred cred = { .uid = (uid_t)-1 };
	socklen_t len = sizeof(cred);
	bool ok = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == getuid();
	*uid = (unsigned)cred.uid;
	return ok;
}

static void accept_client(struct lvm_control *c)
{
	if (c->spare_fd < 0)
		c->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			out_of_fds(c, errno);
		return;
	}
	unsigned uid;
	if (!peer_is_owner(fd, &uid)) {
		char why[128];
		snprintf(why, sizeof(why), "permission denied: uid %u is not the owner of this VM", uid);
		refuse(fd, why);
		return;
	}
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (c->clients[i].fd < 0) {
			c->clients[i] = (struct control_client){ .fd = fd, .env_ref = LUA_NOREF };
			return;
		}
	}
	refuse(fd, "too many clients");
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

/*
 * A result as text: tables through luavmm.pretty (nested, keys sorted,
 * addresses in hex) when that module loads, anything else (and tables
 * when it does not) as tostring() would.
 */
static void push_text(lua_State *L, int index)
{
	bool plain = lua_type(L, index) != LUA_TTABLE;
	if (!plain && luaL_getmetafield(L, index, "__tostring") != LUA_TNIL) {
		lua_pop(L, 1); /* the table's own text wins */
		plain = true;
	}
	if (!plain) {
		lua_getglobal(L, "require");
		lua_pushliteral(L, "luavmm.pretty");
		if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1) &&
		    lua_getfield(L, -1, "format") == LUA_TFUNCTION) {
			lua_pushvalue(L, index);
			lua_call(L, 1, 1);
			lua_remove(L, -2); /* the module */
			if (lua_type(L, -1) == LUA_TSTRING)
				return;
			lua_pop(L, 1);
		} else if (lua_istable(L, -1)) {
			lua_pop(L, 2); /* the module and its non-function field */
		} else {
			lua_pop(L, 1); /* the error or a non-module */
		}
	}
	luaL_tolstring(L, index, NULL);
}

/* format(lines, results...): the printed lines, then the results on one line. */
static int format_reply(lua_State *L)
{
	int nres = lua_gettop(L) - 1;
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (lua_Integer i = 1; lua_rawgeti(L, 1, i) == LUA_TSTRING; i++)
		luaL_addvalue(&b);
	lua_pop(L, 1);
	for (int i = 1; i <= nres; i++) {
		push_text(L, 1 + i); /* may run a __tostring */
		luaL_addvalue(&b);
		luaL_addchar(&b, i < nres ? '\t' : '\n');
	}
	luaL_pushresult(&b);
	return 1;
}

struct request {
	struct lvm_lua_machine *m;
	struct control_client *cl;
	const char *src;
	size_t len;
	bool ok; /* the chunk ran and its results became text */
};

/*
 * run_request(machine, request): the reply text.  Loading, running and
 * converting the results (a __tostring is recipe code too) all happen in
 * here, under lua_pcall, so nothing a chunk does can unwind past the
 * control thread's waits and the counters they keep.
 */
static int run_request(lua_State *L)
{
	struct request *rq = lua_touserdata(L, 2);
	lua_settop(L, 1);                   /* 1: the machine */
	lua_newtable(L);                    /* 2: printed lines */
	lua_pushcfunction(L, format_reply); /* 3 */
	lua_pushvalue(L, 2);                /* 4: format's first argument */
	int status = load_chunk(L, rq->src, rq->len);
	if (status == LUA_OK) {
		push_env(L, rq->cl, 1, 2);
		lua_setupvalue(L, -2, 1);
		status = lvm_lua_pcall_limited(L, rq->m, 0, LUA_MULTRET);
	}
	rq->ok = status == LUA_OK;
	if (lvm_lua_pcall_limited(L, rq->m, lua_gettop(L) - 3, 1) != LUA_OK) {
		rq->ok = false;
		lua_pushliteral(L, "cannot convert the results to text: ");
		lua_insert(L, -2);
		lua_concat(L, 2);
	}
	return 1;
}

static void evaluate(lua_State *L, struct lvm_lua_machine *m, int machine_index,
		     struct control_client *cl, const char *src, size_t len)
{
	int top = lua_gettop(L);
	struct request rq = { m, cl, src, len, false };
	lua_pushcfunction(L, run_request);
	lua_pushvalue(L, machine_index);
	lua_pushlightuserdata(L, &rq);
	int status = lua_pcall(L, 2, 1, 0);
	if (status == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
		size_t n;
		const char *text = lua_tolstring(L, -1, &n);
		reply(cl, rq.ok, text, n);
	} else {
		reply(cl, false, "luavmm: control: out of memory", 30);
	}
	lua_settop(L, top);
}

/* Evaluates every whole request received so far, in order. */
static void answer_requests(lua_State *L, struct lvm_lua_machine *m, int machine_index,
			    struct control_client *cl)
{
	const char *body;
	size_t len;
	int rc;
	while (!cl->dead && (rc = lvm_control_reader_next(&cl->in, &body, &len)) != 0) {
		if (rc < 0) {
			char why[128];
			int n = snprintf(why, sizeof(why),
					 "a request of %zu bytes is over the control socket's frame limit of %u bytes",
					 len, LVM_CONTROL_MAX_MESSAGE);
			reply(cl, false, why, (size_t)n);
			cl->eof = true; /* the stream has lost its framing: read no more */
			return;
		}
		evaluate(L, m, machine_index, cl, body, len);
		if (!m->vm || lvm_vm_stopped(m->vm))
			return;
	}
}

static void read_requests(lua_State *L, struct lvm_lua_machine *m, int machine_index,
			  struct control_client *cl)
{
	size_t room;
	char *space = lvm_control_reader_space(&cl->in, &room);
	if (!space) {
		cl->dead = true;
		return;
	}
	ssize_t got = read(cl->fd, space, room);
	if (got < 0) {
		cl->dead = errno != EINTR && errno != EAGAIN;
		return;
	}
	if (got == 0) {
		cl->eof = true;
		return;
	}
	lvm_control_reader_commit(&cl->in, (size_t)got);
	answer_requests(L, m, machine_index, cl);
}

/* Reads what arrived, sends what fits; drops the client once it is done. */
static void serve_client(lua_State *L, struct lvm_lua_machine *m, int machine_index,
			 struct control_client *cl, short revents)
{
	if ((revents & POLLOUT) && lvm_control_writer_flush(&cl->out, cl->fd) < 0)
		cl->dead = true;
	if (!cl->dead && !cl->eof && (revents & (POLLIN | POLLHUP | POLLERR)))
		read_requests(L, m, machine_index, cl);
	if ((revents & POLLERR) || (cl->eof && !lvm_control_writer_pending(&cl->out)))
		cl->dead = true;
	if (cl->dead)
		drop_client(L, cl);
}

void lvm_lua_control_serve(lua_State *L, struct lvm_lua_machine *m, int machine_index,
			   const struct pollfd *fds, unsigned n)
{
	struct lvm_control *c = m->control;
	if (!c || n < 1 + MAX_CLIENTS)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (fds[1 + i].fd >= 0 && fds[1 + i].revents && c->clients[i].fd == fds[1 + i].fd)
			serve_client(L, m, machine_index, &c->clients[i], fds[1 + i].revents);
	if (fds[0].revents & POLLIN)
		accept_client(c);
}
