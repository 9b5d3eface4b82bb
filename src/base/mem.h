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

#endif
