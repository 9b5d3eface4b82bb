/* SPDX-License-Identifier: Apache-2.0 */
/* bench_probe.h — czk-benchmark's timed latency probe (--probe-seconds): one
 * session, one getData at a time, for a wall-clock duration or until SIGUSR1,
 * so that a script can cover exactly a window it measures (a follower's sync,
 * docs/PERFORMANCE.md). benchmark_latency.c opens the session; this file only drives
 * the round trips and reports them. */
#ifndef CZK_TOOLS_BENCH_PROBE_H
#define CZK_TOOLS_BENCH_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bench_probe_args {
    int fd;             /* a session's socket, blocking, no request in flight */
    const uint8_t *req; /* one getData request frame; its xid (bytes 4..7) is renumbered */
    size_t req_len;
    double seconds; /* run this long; 0 = until SIGUSR1 (also stops a timed run early) */
    const char *label;
    bool json;   /* one JSON line on stdout */
    FILE *human; /* progress and the table line */
};

/* Runs the probe. Prints "probe running" on `human` once the first round trip
 * is answered (scripts wait for it), then the result. Returns 0, 1 when a reply
 * carried an error, or -1 when the connection failed (after saying why). */
int bench_probe_timed(const struct bench_probe_args *a);

#endif
