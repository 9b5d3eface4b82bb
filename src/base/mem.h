/* SPDX-License-Identifier: Apache-2.0 */
/* mem.h — allocation that aborts with a message on failure (server code only). */
#ifndef CZK_BASE_MEM_H
#define CZK_BASE_MEM_H

#include <stddef.h>

void *mem_alloc(size_t size);
void *mem_calloc(size_t n, size_t size);
void *mem_realloc(void *p, size_t size);
char *mem_strndup(const char *s, size_t len);
void mem_free(void *p);

/* Zeroed pages in a mapping of their own that a fork()ed child does not
 * inherit (MADV_DONTFORK): the snapshot's fork() then neither copies their
 * page tables nor makes the parent's next write to each of them a
 * copy-on-write fault. The child must not touch them. Freed with
 * mem_unmap(p, size) and the same size. */
void *mem_map_unforked(size_t size);
void mem_unmap(void *p, size_t size);

#endif
