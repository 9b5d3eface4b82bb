/* SPDX-License-Identifier: Apache-2.0 */
/* thp.h — keep the server's heap on transparent huge pages.
 *
 * A snapshot is a fork(): the loop stops while the kernel copies the page
 * tables, about 12 ms per GB of heap in 4 KiB pages and 1/30 of that in
 * 2 MiB pages. While the child writes, each page the parent writes is copied
 * and its 2 MiB page split back into 4 KiB entries, so after every snapshot
 * the heap is collapsed into huge pages again (madvise MADV_COLLAPSE, Linux
 * 6.1+) off the loop. Off when CZK_MALLOC_HUGEPAGES=0 and on kernels without
 * THP or MADV_COLLAPSE. (Sanitizer builds run it too, on their allocator's
 * memory, so that the tests exercise it.) */
#ifndef CZK_NODE_THP_H
#define CZK_NODE_THP_H

#include <stdbool.h>
#include <stddef.h>

struct thp_report {
    size_t regions;      /* mappings asked to collapse */
    size_t bytes;        /* their size */
    size_t split_before; /* bytes of them not on huge pages before */
    int err;             /* 0, or the errno of the first failing madvise */
};

/* Whether collapsing can help here: checks the environment and the kernel's
 * THP mode once. */
bool thp_enabled(void);

/* Collapses the dense anonymous mappings of this process (the malloc heaps)
 * into huge pages. Blocking and slow (it copies memory): call it from a
 * worker thread. Returns false when the kernel has no MADV_COLLAPSE, after
 * which thp_enabled() answers false. */
bool thp_collapse(struct thp_report *out);

/* glibc puts malloc's memory on transparent huge pages as it grows only
 * when told so before main() runs (the tunable glibc.malloc.hugetlb=1).
 * A heap on 4 KiB pages costs a page fault per 4 KiB first touched and a
 * TLB miss on most random accesses: loading 1.1M znodes takes ~3x the CPU
 * (measured: docs/PERFORMANCE.md). So when thp_enabled() and
 * GLIBC_TUNABLES does not mention the tunable, re-execute this program with
 * it added (the same pid, arguments and environment otherwise). Call first
 * thing in main(); returns only when it does not re-execute, or exec
 * failed (then with the environment as it was). */
void thp_malloc_reexec(char **argv);

#endif
