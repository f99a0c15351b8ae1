/*
 * virtio-net as the machine sees it (devices/device.h): the recipe key
 *   nets = { NAME = { tap = "tap0", mac = "52:54:00:12:34:56", rate_limit = {...} } }
 * and the faces the Lua layer offers on vm.nets.NAME.
 */
#include "devices/virtio/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device.h"
#include "util/error.h"
#include "util/rate_config.h"
#include "util/throttle.h"

struct net_params {
	const char *tap;
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

static int parse_into(struct net_params *p, const struct lvm_value *v, const char *where,
		      unsigned index)
{
	static const char *const keys[] = { "tap", "mac", "rate_limit", NULL };
	if (v->type != LVM_VALUE_TABLE)
		return lvm_fail("%s must be a table, not a %s", where, lvm_value_type_name(v));
	if (lvm_value_check_keys(v, where, keys, NULL) < 0)
		return -1;
	const struct lvm_value *tap = lvm_value_get(v, "tap");
	const struct lvm_value *mac = lvm_value_get(v, "mac");
	const struct lvm_value *rate = lvm_value_get(v, "rate_limit");
	if (string_key(tap, where, "tap") < 0 || string_key(mac, where, "mac") < 0)
		return -1;
	if (!tap)
		return lvm_fail("%s.tap is required (a tap device name)", where);
	p->tap = tap->str;
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
 * truncated form may match an allowed one, but opening it fails. */
static unsigned net_resources(const void *params, struct lvm_device_resource *out)
{
	const struct net_params *p = params;
	out[0] = (struct lvm_device_resource){ .key = "tap", .write = true };
	snprintf(out[0].buf, sizeof(out[0].buf), "tap:%s", p->tap);
	out[0].name = out[0].buf;
	return 1;
}

static void *net_create(const struct lvm_device_env *env, const void *params)
{
	const struct net_params *p = params;
	struct lvm_net *net = lvm_net_new(env->vm, env->base, env->gsi, p->tap, p->mac);
	if (!net) {
		lvm_fail_prefix("tap: ");
		return NULL;
	}
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
	out[n++] = (struct lvm_device_stat){ "link_up", s.link_up };
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
	.filter_method = "on_packet",
	.filter_frames = true,
	.set_filter = net_set_filter,
	.throttle = net_throttle,
	.quiesce = net_quiesce,
	.resume = net_resume,
	.save = net_save,
	.load = net_load,
};
