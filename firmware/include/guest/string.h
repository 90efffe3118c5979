/* SPDX-License-Identifier: MIT */
/*
 * The few string functions the guests use. gcc may also emit calls to
 * memcpy/memset/memmove/memcmp on its own, even when freestanding, so these
 * four keep their standard names.
 */
#ifndef GUEST_STRING_H
#define GUEST_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

#endif
