/*
 * Parsing a rate limit as recipes write it:
 *   { bandwidth = { size = 10485760 | "10M", refill_ms = 1000, burst = ... },
 *     ops = { size = 100, refill_ms = 1000, burst = ... } }
 * One parser for the machine's rate_limit keys, dev:set_rate_limit{} and
 * luavmm.ratelimiter{}.  Errors name the key under `where`, e.g.
 * "disks.d.rate_limit.ops.size must be a non-negative integer, not fast".
 */
#ifndef LVM_UTIL_RATE_CONFIG_H
#define LVM_UTIL_RATE_CONFIG_H

#include "util/ratelimit.h"
#include "util/value.h"

int lvm_rate_config_parse(const struct lvm_value *v, const char *where, struct lvm_rate_config *rc);

#endif
