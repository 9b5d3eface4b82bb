/* SPDX-License-Identifier: Apache-2.0 */
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void mem_fail(size_t size)
{
    fprintf(stderr, "czk: out of memory allocating %zu bytes\n", size);
    abort();
}

void *mem_alloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        mem_fail(size);
    return p;
}

void *mem_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        mem_fail(n * size);
    return p;
}

void *mem_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        mem_fail(size);
    return q;
}

char *mem_strndup(const char *s, size_t len)
{
    char *p = mem_alloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void mem_free(void *p)
{
    free(p);
}

void *mem_map_unforked(size_t size)
{
    void *p =
        mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        mem_fail(size);
    /* Without it the pages are merely shared with children as any others:
     * slower after a fork, still correct. Big maps are looked up at random:
     * huge pages save TLB misses where the kernel gives them on request. */
    (void)madvise(p, size ? size : 1, MADV_DONTFORK);
    if (size >= (size_t)2 << 20)
        (void)madvise(p, size, MADV_HUGEPAGE);
    return p;
}

void mem_unmap(void *p, size_t size)
{
    if (p)
        (void)munmap(p, size ? size : 1);
}
