/* Sizes as people write them in recipes: "256M", "1G", "4096", "512K". */
#ifndef LVM_UTIL_SIZE_H
#define LVM_UTIL_SIZE_H

#include <stdint.h>

/* 0 on success; -1 if `text` is not a positive size with an optional K/M/G/T suffix. */
int lvm_parse_size(const char *text, uint64_t *bytes);

#endif
