/* SPDX-License-Identifier: Apache-2.0 */
/* bench_probe.c — the timed latency probe of czk-benchmark (--probe-seconds):
 * getData round trips one at a time on one session until a deadline or
 * SIGUSR1, latencies kept in a growing array, nearest-rank percentiles. Used by
 * scripts/bench-snapsync.sh around a follower's SNAP sync. */

#include "bench_probe.h"

#include "base/buf.h"
#include "base/mem.h"
#include "benchmark.h"
#include "proto/proto.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_FRAME_MAX (16u * 1024u * 1024u)
#define PROBE_XID_FIRST 2000000

static volatile sig_atomic_t probe_stop;

static void probe_on_usr1(int sig)
{
    (void)sig;
    probe_stop = 1;
}

static bool probe_read_frame(int fd, struct buf *frame)
{
    uint8_t hdr[4];
    if (!bench_read_full(fd, hdr, 4))
        return false;
    uint32_t len = be32_get(hdr);
    if (len < 16 || len > PROBE_FRAME_MAX)
        return false;
    buf_clear(frame);
    buf_reserve(frame, (size_t)len);
    if (!bench_read_full(fd, frame->data, len))
        return false;
    frame->len = len;
    return true;
}

int bench_probe_timed(const struct bench_probe_args *a)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = probe_on_usr1;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0) {
        fprintf(stderr, "czk-benchmark: sigaction: %s\n", strerror(errno));
        return -1;
    }
    struct buf req;
    buf_init(&req);
    buf_append(&req, a->req, a->req_len);
    struct buf reply;
    buf_init(&reply);
    size_t cap = 65536;
    size_t n = 0;
    uint64_t *lat = mem_alloc(cap * sizeof *lat);
    size_t errors = 0;
    int32_t xid = PROBE_XID_FIRST;
    int rc = 0;
    uint64_t t0 = bench_now_ns();
    uint64_t deadline = a->seconds > 0 ? t0 + (uint64_t)(a->seconds * 1e9) : UINT64_MAX;
    uint64_t now = t0;
    while (!probe_stop && now < deadline) {
        xid++;
        buf_put_be32(&req, 4, (uint32_t)xid);
        uint64_t start = bench_now_ns();
        if (!bench_write_full(a->fd, req.data, req.len)) {
            fprintf(stderr, "czk-benchmark: probe: send: %s\n", strerror(errno));
            rc = -1;
            break;
        }
        int32_t got;
        bool ok;
        do { /* notifications and ping replies carry negative xids */
            ok = probe_read_frame(a->fd, &reply);
            got = ok ? (int32_t)be32_get(reply.data) : 0;
        } while (ok && got != xid && got < 0);
        now = bench_now_ns();
        if (!ok || got != xid) {
            fprintf(stderr, "czk-benchmark: probe: %s\n",
                    ok ? "reply to another request" : "the server closed the connection");
            rc = -1;
            break;
        }
        if (be32_get(reply.data + 12) != 0)
            errors++;
        if (n == cap) {
            cap *= 2;
            lat = mem_realloc(lat, cap * sizeof *lat);
        }
        lat[n++] = now - start;
        if (n == 1) {
            fprintf(a->human, "probe running\n");
            fflush(a->human);
        }
    }
    double seconds = (double)(now - t0) / 1e9;
    qsort(lat, n, sizeof *lat, bench_cmp_u64);
    double p50 = bench_percentile_us(lat, n, 0.50);
    double p99 = bench_percentile_us(lat, n, 0.99);
    double p999 = bench_percentile_us(lat, n, 0.999);
    double max = bench_percentile_us(lat, n, 1.0);
    bool good = rc == 0 && errors == 0 && n > 0;
    fprintf(a->human,
            "%-14s %9zu %7zu %8.3f %11.1f  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f us%s\n",
            "probe", n, errors, seconds, (double)n / (seconds > 0 ? seconds : 1), p50, p99, p999,
            max, good ? "" : "  FAILED");
    fflush(a->human);
    if (a->json) {
        printf("{\"label\":\"%s\",\"phase\":\"probe\",\"ok\":%s,\"ops\":%zu,\"errors\":%zu,"
               "\"seconds\":%.6f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
               "\"max_us\":%.1f}\n",
               a->label, good ? "true" : "false", n, errors, seconds, p50, p99, p999, max);
        fflush(stdout);
    }
    mem_free(lat);
    buf_deinit(&req);
    buf_deinit(&reply);
    if (rc == 0 && (errors > 0 || n == 0))
        rc = 1;
    return rc;
}
