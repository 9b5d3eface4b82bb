/* SPDX-License-Identifier: Apache-2.0 */
/* benchmark_report.c — czk-benchmark's output: nearest-rank percentiles, the
 * human table (stdout, or stderr with --json) and one JSON line per phase or
 * sample set on stdout. */
#include "benchmark.h"
#include "proto/proto.h"

#include <stdlib.h>

int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

double bench_percentile_us(const uint64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted[rank - 1] / 1000.0;
}

void bench_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void bench_json_begin(const struct bench *b)
{
    printf("{\"label\":");
    bench_json_string(stdout, b->opt.label);
}

void bench_print_header(const struct bench *b)
{
    fprintf(b->human, "%-14s %9s %7s %8s %11s %9s %9s %9s %9s %11s %11s\n", "phase", "ops",
            "errors", "seconds", "ops/s", "p50_us", "p99_us", "p99.9_us", "max_us", "srv_us/op",
            "cli_us/op");
}

void bench_report(const struct bench *b, const struct phase_result *r)
{
    char srv[32];
    if (r->server_cpu_us_per_op >= 0)
        snprintf(srv, sizeof srv, "%.2f", r->server_cpu_us_per_op);
    else
        snprintf(srv, sizeof srv, "-");
    double ops_per_s = r->seconds > 0 ? (double)r->ops / r->seconds : 0;
    fprintf(b->human, "%-14s %9zu %7zu %8.3f %11.1f %9.1f %9.1f %9.1f %9.1f %11s %11.2f", r->name,
            r->ops, r->errors, r->seconds, ops_per_s, r->p50_us, r->p99_us, r->p999_us, r->max_us,
            srv, r->client_cpu_us_per_op);
    if (r->errors > 0) {
        fprintf(b->human, "  FAILED: %zu of %zu ops failed", r->errors, r->ops);
        if (r->first_err != 0)
            fprintf(b->human, " (first: %s)", zk_err_name(r->first_err));
        if (r->bad_replies > 0)
            fprintf(b->human, " (%zu unexpected reply bodies)", r->bad_replies);
    }
    fputc('\n', b->human);
    fflush(b->human);
    if (!b->opt.json)
        return;
    bench_json_begin(b);
    printf(",\"phase\":\"%s\",\"ok\":%s,\"ops\":%zu,\"errors\":%zu", r->name,
           r->errors == 0 ? "true" : "false", r->ops, r->errors);
    if (r->first_err != 0)
        printf(",\"first_error\":\"%s\"", zk_err_name(r->first_err));
    printf(",\"seconds\":%.6f,\"ops_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f"
           ",\"max_us\":%.1f",
           r->seconds, ops_per_s, r->p50_us, r->p99_us, r->p999_us, r->max_us);
    if (r->server_cpu_us_per_op >= 0)
        printf(",\"server_cpu_us_per_op\":%.3f", r->server_cpu_us_per_op);
    else
        printf(",\"server_cpu_us_per_op\":null");
    printf(",\"client_cpu_us_per_op\":%.3f,\"sessions\":%zu,\"outstanding\":%zu,\"data_size\":%zu}"
           "\n",
           r->client_cpu_us_per_op, b->opt.sessions, b->opt.outstanding, b->opt.data_size);
    fflush(stdout);
}

void bench_report_samples(const struct bench *b, const char *name, uint64_t *ns, size_t n,
                          const char *extra_json)
{
    qsort(ns, n, sizeof *ns, bench_cmp_u64);
    double p50 = bench_percentile_us(ns, n, 0.50);
    double p99 = bench_percentile_us(ns, n, 0.99);
    double max = n ? (double)ns[n - 1] / 1000.0 : 0;
    fprintf(b->human, "%-28s %9zu samples  p50 %10.1f us  p99 %10.1f us  max %10.1f us\n", name, n,
            p50, p99, max);
    fflush(b->human);
    if (!b->opt.json)
        return;
    bench_json_begin(b);
    printf(",\"phase\":\"%s\",\"ok\":true,\"samples\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"max_us\":%.1f%s}\n",
           name, n, p50, p99, max, extra_json ? extra_json : "");
    fflush(stdout);
}
