/*
 * virtio-net as the machine sees it (devices/device.h): the recipe key
 *   nets = { NAME = { tap = "tap0" | user = true | switch = SW,
 *                     forward = { { host = 2222, guest = 22 }, ... },  -- user only
 *                     mac = "52:54:00:12:34:56", rate_limit = {...} } }
 * (SW: a luavmm.switch(), which reaches us as a value of type "switch"
 * carrying the switch's id: lua/value.c) and the faces the Lua layer
 * offers on vm.nets.NAME: stats, on_packet, set_rate_limit and link.
 */
#include "devices/virtio/net.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device.h"
#include "devices/virtio/net_backend.h"
#include "util/error.h"
#include "util/eth_switch.h"
#include "util/rate_config.h"
#include "util/throttle.h"

enum net_kind { NET_TAP, NET_USER, NET_SWITCH };

struct net_params {
	enum net_kind kind;
	const char *tap;
	uint32_t switch_id;
	struct lvm_net_user_config user;
	uint8_t mac[6];
	struct lvm_rate_config rate_limit;
};

/* "52:54:00:12:34:56" -> 6 bytes; false if malformed or not unicast. */
static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char end;
	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
				      &b[4], &b[5], &end) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return !(mac[0] & 1);
}

static int string_key(const struct lvm_value *v, const char *where, const char *key)
{
	if (v && v->type != LVM_VALUE_STRING)
		return lvm_fail("%s.%s must be a string, not a %s", where, key, lvm_value_type_name(v));
	return 0;
}

/* A port number 1..65535 at `key` of the table `v`; -1 + lvm_error. */
static int port_key(const struct lvm_value *v, const char *where, const char *key, uint16_t *out)
{
	const struct lvm_value *p = lvm_value_get(v, key);
	char shown[64];
	if (!p)
		return lvm_fail("%s.%s is required (a port number)", where, key);
	if (p->type != LVM_VALUE_INTEGER || p->integer < 1 || p->integer > 65535)
		return lvm_fail("%s.%s must be a port number 1..65535, not %s", where, key,
				lvm_value_show(p, shown, sizeof(shown)));
	*out = (uint16_t)p->integer;
	return 0;
}

/* forward[i] = { host = PORT, guest = PORT, udp = BOOL, host_addr = "A.B.C.D" } */
static int parse_forward(const struct lvm_value *v, const char *where, struct lvm_net_forward *f)
{
	static const char *const keys[] = { "host", "guest", "udp", "host_addr", NULL };
	if (v->type != LVM_VALUE_TABLE)
		return lvm_fail("%s must be a table like { host = 2222, guest = 22 }, not a %s", where,
				lvm_value_type_name(v));
	if (lvm_value_check_keys(v, where, keys, NULL) < 0 ||
	    port_key(v, where, "host", &f->host_port) < 0 ||
	    port_key(v, where, "guest", &f->guest_port) < 0)
		return -1;
	const struct lvm_value *udp = lvm_value_get(v, "udp");
	if (udp && udp->type != LVM_VALUE_BOOLEAN)
		return lvm_fail("%s.udp must be a boolean, not a %s", where, lvm_value_type_name(udp));
	f->udp = udp && udp->boolean;
	const struct lvm_value *addr = lvm_value_get(v, "host_addr");
	if (string_key(addr, where, "host_addr") < 0)
		return -1;
	if (inet_pton(AF_INET, addr ? addr->str : "127.0.0.1", &f->host_addr) != 1)
		return lvm_fail("%s.host_addr = \"%s\" is not an IPv4 address like \"127.0.0.1\"",
				where, addr->str);
	return 0;
}

static int parse_forwards(const struct lvm_value *list, const char *where,
			  struct lvm_net_user_config *c)
{
	int64_t n = list->type == LVM_VALUE_TABLE ? lvm_value_len(list) : -1;
	if (n < 0 || (unsigned)n != list->nfields)
		return lvm_fail("%s.forward must be a list like { { host = 2222, guest = 22 } }", where);
	if (n > (int64_t)LVM_NET_FORWARDS_MAX)
		return lvm_fail("%s.forward has %lld entries (at most %u)", where, (long long)n,
				LVM_NET_FORWARDS_MAX);
	for (int64_t i = 1; i <= n; i++) {
		char at[300];
		snprintf(at, sizeof(at), "%s.forward[%lld]", where, (long long)i);
		struct lvm_net_forward *f = &c->forward[i - 1];
		if (parse_forward(lvm_value_item(list, i), at, f) < 0)
			return -1;
		for (int64_t j = 0; j < i - 1; j++) {
			const struct lvm_net_forward *g = &c->forward[j];
			if (g->udp == f->udp && g->host_port == f->host_port &&
			    g->host_addr.s_addr == f->host_addr.s_addr)
				return lvm_fail("%s: host port %u (%s) is forwarded twice", at,
						f->host_port, f->udp ? "udp" : "tcp");
		}
	}
	c->nforwards = (unsigned)n;
	return 0;
}

/* Which network the NIC is on: exactly one of tap, user and switch. */
static int parse_kind(struct net_params *p, const struct lvm_value *v, const char *where)
{
	const struct lvm_value *tap = lvm_value_get(v, "tap");
	const struct lvm_value *user = lvm_value_get(v, "user");
	const struct lvm_value *sw = lvm_value_get(v, "switch");
	if ((tap != NULL) + (user != NULL) + (sw != NULL) != 1)
		return lvm_fail("%s: give one of tap, user or switch", where);
	if (tap) {
		if (string_key(tap, where, "tap") < 0)
			return -1;
		p->kind = NET_TAP;
		p->tap = tap->str;
	} else if (user) {
		char shown[64];
		if (user->type != LVM_VALUE_BOOLEAN || !user->boolean)
			return lvm_fail("%s.user must be true (a user network), not %s", where,
					lvm_value_show(user, shown, sizeof(shown)));
		p->kind = NET_USER;
	} else {
		if (sw->type != LVM_VALUE_OTHER || !sw->type_name || strcmp(sw->type_name, "switch"))
			return lvm_fail("%s.switch must be a switch (luavmm.switch()), not a %s", where,
					lvm_value_type_name(sw));
		struct lvm_switch *s = lvm_switch_get((uint32_t)sw->integer);
		if (!s)
			return lvm_fail_prefix("%s.switch: ", where);
		lvm_switch_put(s);
		p->kind = NET_SWITCH;
		p->switch_id = (uint32_t)sw->integer;
	}
	const struct lvm_value *forward = lvm_value_get(v, "forward");
	if (forward && p->kind != NET_USER)
		return lvm_fail("%s.forward needs user = true (forwards are a user network's)", where);
	return forward ? parse_forwards(forward, where, &p->user) : 0;
}

static int parse_into(struct net_params *p, const struct lvm_value *v, const char *where,
		      unsigned index)
{
	static const char *const keys[] = { "tap", "user", "switch", "forward", "mac", "rate_limit",
					    NULL };
	if (v->type != LVM_VALUE_TABLE)
		return lvm_fail("%s must be a table, not a %s", where, lvm_value_type_name(v));
	if (lvm_value_check_keys(v, where, keys, NULL) < 0)
		return -1;
	const struct lvm_value *mac = lvm_value_get(v, "mac");
	const struct lvm_value *rate = lvm_value_get(v, "rate_limit");
	if (parse_kind(p, v, where) < 0 || string_key(mac, where, "mac") < 0)
		return -1;
	/* Default MAC: locally administered, stable per NIC position. */
	const uint8_t def[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + index) };
	memcpy(p->mac, def, 6);
	if (mac && !parse_mac(mac->str, p->mac))
		return lvm_fail("%s.mac = \"%s\" is not a unicast MAC like \"52:54:00:12:34:56\"",
				where, mac->str);
	char at[256];
	snprintf(at, sizeof(at), "%s.rate_limit", where);
	return rate ? lvm_rate_config_parse(rate, at, &p->rate_limit) : 0;
}

static void *net_parse(const struct lvm_value *v, const char *where, unsigned index)
{
	struct net_params *p = calloc(1, sizeof(*p));
	if (!p) {
		lvm_fail("out of memory");
		return NULL;
	}
	if (parse_into(p, v, where, index) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* The tap, as "tap:NAME" (opened, or created, read-write).  A name too
 * long for the buffer is also too long for an interface (IFNAMSIZ): its
 * truncated form may match an allowed one, but opening it fails.  A user
 * network is "net:user": it opens host sockets (outgoing connections for
 * the guest, its forwards' listeners), which a sandbox must allow.  A
 * switch port opens nothing. */
static unsigned net_resources(const void *params, struct lvm_device_resource *out)
{
	const struct net_params *p = params;
	if (p->kind == NET_USER) {
		out[0] = (struct lvm_device_resource){ .key = "user", .name = "net:user", .write = true };
		return 1;
	}
	if (p->kind != NET_TAP)
		return 0;
	out[0] = (struct lvm_device_resource){ .key = "tap", .write = true };
	snprintf(out[0].buf, sizeof(out[0].buf), "tap:%s", p->tap);
	out[0].name = out[0].buf;
	return 1;
}

static struct lvm_net_backend *new_backend(const struct lvm_device_env *env,
					   const struct net_params *p)
{
	struct lvm_net_backend *b = NULL;
	switch (p->kind) {
	case NET_TAP:
		if (!(b = lvm_net_tap_new(p->tap)))
			lvm_fail_prefix("tap: ");
		break;
	case NET_USER: /* its errors name "user" or "forward[N]" */
		b = lvm_net_user_new(env->vm, &p->user);
		break;
	case NET_SWITCH:
		if (!(b = lvm_net_switch_new(p->switch_id, env->name, p->mac)))
			lvm_fail_prefix("switch: ");
		break;
	}
	return b;
}

static void *net_create(const struct lvm_device_env *env, const void *params)
{
	const struct net_params *p = params;
	struct lvm_net_backend *b = new_backend(env, p);
	struct lvm_net *net = b ? lvm_net_new_backend(env->vm, env->base, env->gsi, b, p->mac) : NULL;
	if (!net)
		return NULL;
	if (lvm_throttle_configure(lvm_net_throttle(net), &p->rate_limit) < 0) {
		lvm_fail_prefix("rate_limit: ");
		lvm_net_free(net);
		return NULL;
	}
	return net;
}

static unsigned net_stats(void *dev, struct lvm_device_stat *out)
{
	struct lvm_net_stats s = lvm_net_stats(dev);
	unsigned n = 0;
	out[n++] = (struct lvm_device_stat){ "rx_packets", s.rx_packets };
	out[n++] = (struct lvm_device_stat){ "tx_packets", s.tx_packets };
	out[n++] = (struct lvm_device_stat){ "rx_bytes", s.rx_bytes };
	out[n++] = (struct lvm_device_stat){ "tx_bytes", s.tx_bytes };
	out[n++] = (struct lvm_device_stat){ "rx_dropped", s.rx_dropped };
	out[n++] = (struct lvm_device_stat){ "dropped", s.policy_dropped };
	out[n++] = (struct lvm_device_stat){ "tx_while_down", s.tx_while_down };
	out[n++] = (struct lvm_device_stat){ "rx_while_down", s.rx_while_down };
	out[n++] = (struct lvm_device_stat){ "link_up", s.link_up };
	out[n++] = (struct lvm_device_stat){ "queue_dropped", s.queue_dropped };
	out[n++] = (struct lvm_device_stat){ "switch", lvm_net_switch_id(dev) };
	out[n++] = (struct lvm_device_stat){ "throttled", lvm_throttle_count(lvm_net_throttle(dev)) };
	return n;
}

static int net_start(void *dev) { return lvm_net_start(dev); }
static void net_free(void *dev) { lvm_net_free(dev); }
static void net_set_filter(void *dev, const struct lvm_filter *f) { lvm_net_set_filter(dev, f); }
static struct lvm_throttle *net_throttle(void *dev) { return lvm_net_throttle(dev); }
static int net_quiesce(void *dev) { return lvm_net_quiesce(dev); }
static void net_resume(void *dev) { lvm_net_resume(dev); }
static void net_save(void *dev, struct lvm_state_writer *w) { lvm_net_save(dev, w); }
static int net_load(void *dev, struct lvm_state_reader *r) { return lvm_net_load(dev, r); }

/* vm.nets.NAME:link(false | true) cuts or restores the cable; :link()
 * says whether it is in (1) or out (0). */
static int net_call_link(void *dev, const struct lvm_value *args, int64_t *out)
{
	const struct lvm_value *up = lvm_value_item(args, 1);
	if (lvm_value_len(args) > 1)
		return lvm_fail("takes one argument (true: cable in, false: out)");
	if (!up) {
		out[0] = lvm_net_link(dev) ? 1 : 0;
		return 1;
	}
	if (up->type != LVM_VALUE_BOOLEAN)
		return lvm_fail("give true (cable in) or false (cable out), not a %s",
				lvm_value_type_name(up));
	lvm_net_set_link(dev, up->boolean);
	return 0;
}

static const struct lvm_device_method net_methods[] = {
	{ "link", net_call_link },
	{ NULL, NULL },
};

const struct lvm_device_type lvm_net_device = {
	.key = "nets",
	.object = "net",
	.named = true,
	.parse = net_parse,
	.resources = net_resources,
	.create = net_create,
	.start = net_start,
	.free = net_free,
	.stats = net_stats,
	.methods = net_methods,
	.filter_method = "on_packet",
	.filter_frames = true,
	.set_filter = net_set_filter,
	.throttle = net_throttle,
	.quiesce = net_quiesce,
	.resume = net_resume,
	.save = net_save,
	.load = net_load,
};
