/* SPDX-License-Identifier: Apache-2.0 */
/* benchmark_latency.c — czk-benchmark's round trips one at a time:
 * --latency-probe (getData on one session) beside --tcp-pingpong (the same
 * bytes to a local echo thread), optionally pinned to CPUs (--probe-cpus);
 * and --probe-seconds, which hands session 0 to bench_probe.c. */
#include "base/mem.h"
#include "bench_probe.h"
#include "benchmark.h"
#include "proto/proto.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- probes: one request at a time ---- */

/* Pins thread `tid` (0: the caller) to one CPU, saving its mask first. */
static bool pin_thread(pid_t tid, int cpu, cpu_set_t *saved)
{
    if (saved && sched_getaffinity(tid, sizeof *saved, saved) != 0)
        return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((size_t)cpu, &set);
    return sched_setaffinity(tid, sizeof set, &set) == 0;
}

/* While the probes run, the client, the echo thread and every thread of the
 * server can be pinned (--probe-cpus), and put back afterwards. */
struct probe_pins {
    bool active;
    cpu_set_t client_saved;
    size_t server_count;
    pid_t server_tids[BENCH_PIN_THREADS_MAX];
    cpu_set_t server_saved[BENCH_PIN_THREADS_MAX];
};

static void probe_pin(const struct bench *b, struct probe_pins *pins)
{
    memset(pins, 0, sizeof *pins);
    if (b->opt.probe_cpu_client < 0)
        return;
    if (!pin_thread(0, b->opt.probe_cpu_client, &pins->client_saved))
        bench_die(b, "cannot pin the client to CPU %d: %s", b->opt.probe_cpu_client,
                  strerror(errno));
    pins->active = true;
    if (b->opt.server_pid_count == 0 || !b->opt.latency_probe)
        return;
    for (size_t p = 0; p < b->opt.server_pid_count; p++) {
        char dir_path[64];
        snprintf(dir_path, sizeof dir_path, "/proc/%ld/task", b->opt.server_pids[p]);
        DIR *dir = opendir(dir_path);
        if (!dir) {
            fprintf(stderr, "czk-benchmark: %s: %s: the server is not pinned\n", dir_path,
                    strerror(errno));
            continue;
        }
        struct dirent *de;
        while ((de = readdir(dir)) != NULL && pins->server_count < BENCH_PIN_THREADS_MAX) {
            long tid = strtol(de->d_name, NULL, 10);
            if (tid <= 0)
                continue;
            size_t i = pins->server_count;
            if (pin_thread((pid_t)tid, b->opt.probe_cpu_server, &pins->server_saved[i])) {
                pins->server_tids[i] = (pid_t)tid;
                pins->server_count++;
            }
        }
        closedir(dir);
    }
    if (pins->server_count == 0)
        fprintf(stderr, "czk-benchmark: could not pin the server's threads\n");
}

static void probe_unpin(struct probe_pins *pins)
{
    if (!pins->active)
        return;
    (void)sched_setaffinity(0, sizeof pins->client_saved, &pins->client_saved);
    for (size_t i = 0; i < pins->server_count; i++)
        (void)sched_setaffinity(pins->server_tids[i], sizeof pins->server_saved[i],
                                &pins->server_saved[i]);
}

struct echo_server {
    int listen_fd;
    uint16_t port;
    size_t reply_len; /* whole reply frame, length prefix included */
    int cpu;          /* pin the echo thread there; -1 = don't */
    pthread_t thread;
};

/* The peer of --tcp-pingpong: answers each frame with a frame of reply_len
 * bytes carrying the request's xid, as a ZooKeeper reply would. */
static void *echo_server_main(void *arg)
{
    struct echo_server *e = arg;
    if (e->cpu >= 0)
        (void)pin_thread(0, e->cpu, NULL);
    int fd = accept(e->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct buf in;
    struct buf reply;
    buf_init(&in);
    buf_init(&reply);
    buf_reserve(&reply, e->reply_len);
    memset(reply.data, 0, e->reply_len);
    reply.len = e->reply_len;
    buf_put_be32(&reply, 0, (uint32_t)(e->reply_len - 4));
    while (bench_read_frame(fd, &in)) {
        if (in.len >= 8)
            memcpy(reply.data + 4, in.data + 4, 4);
        if (!bench_write_full(fd, reply.data, reply.len))
            break;
    }
    close(fd);
    buf_deinit(&in);
    buf_deinit(&reply);
    return NULL;
}

static void echo_server_start(const struct bench *b, struct echo_server *e, size_t reply_len,
                              int cpu)
{
    e->reply_len = reply_len;
    e->cpu = cpu;
    e->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (e->listen_fd < 0)
        bench_die(b, "socket: %s", strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sa_len = sizeof sa;
    if (bind(e->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(e->listen_fd, 1) != 0 ||
        getsockname(e->listen_fd, (struct sockaddr *)&sa, &sa_len) != 0)
        bench_die(b, "echo server: %s", strerror(errno));
    e->port = ntohs(sa.sin_port);
    int rc = pthread_create(&e->thread, NULL, echo_server_main, e);
    if (rc != 0)
        bench_die(b, "pthread_create: %s", strerror(rc));
}

static void echo_server_stop(struct echo_server *e)
{
    pthread_join(e->thread, NULL);
    close(e->listen_fd);
}

/* One kind of round trip of the probes: ZooKeeper getData or raw TCP. */
struct probe_lane {
    const char *name;
    int fd;
    struct buf req;
    size_t reply_len;
    bool check_err; /* the reply is a ZooKeeper one: its err must be 0 */
    uint64_t *lat_ns;
    uint64_t total_ns;
    size_t errors;
    struct buf reply;
};

static void probe_lane_init(struct probe_lane *l, const char *name, int fd, bool check_err,
                            size_t count)
{
    memset(l, 0, sizeof *l);
    l->name = name;
    l->fd = fd;
    l->check_err = check_err;
    buf_init(&l->req);
    buf_init(&l->reply);
    l->lat_ns = mem_calloc(count ? count : 1, sizeof *l->lat_ns);
}

static void probe_lane_deinit(struct probe_lane *l)
{
    buf_deinit(&l->req);
    buf_deinit(&l->reply);
    mem_free(l->lat_ns);
}

/* One blocking round trip. The xid (bytes 4..7) is renumbered each time and
 * must come back; stray notifications and ping replies are skipped. */
static uint64_t probe_round_trip(const struct bench *b, struct probe_lane *l, int32_t xid)
{
    buf_put_be32(&l->req, 4, (uint32_t)xid);
    uint64_t start = bench_now_ns();
    if (!bench_write_full(l->fd, l->req.data, l->req.len))
        bench_die(b, "%s: send: %s", l->name, strerror(errno));
    int32_t got;
    do {
        if (!bench_read_frame(l->fd, &l->reply) || l->reply.len < 8)
            bench_die(b, "%s: the peer closed the connection or sent a bad frame", l->name);
        got = (int32_t)be32_get(l->reply.data + 4);
    } while (got != xid && bench_is_special_xid(got));
    uint64_t end = bench_now_ns();
    if (got != xid)
        bench_die(b, "%s: reply xid %" PRId32 ", expected %" PRId32, l->name, got, xid);
    if (l->check_err && (l->reply.len < 20 || be32_get(l->reply.data + 16) != 0))
        l->errors++;
    return end - start;
}

/* Runs `count` round trips on each lane, interleaved one by one, after an
 * untimed warm-up of 10 % (at most 1,000). Interleaving matters on a VM:
 * how fast an idle vCPU wakes up depends on what else runs, and the two
 * lanes must be measured under the same conditions to be compared. */
static void probe_run(const struct bench *b, struct probe_lane *lanes, size_t lane_count,
                      size_t count)
{
    size_t warmup = count / 10 < 1000 ? count / 10 : 1000;
    int32_t xid = 1000000;
    for (size_t i = 0; i < warmup + count; i++) {
        for (size_t k = 0; k < lane_count; k++) {
            uint64_t t = probe_round_trip(b, &lanes[k], ++xid);
            if (i >= warmup) {
                lanes[k].lat_ns[i - warmup] = t;
                lanes[k].total_ns += t;
            }
        }
    }
}

static void report_probe(const struct bench *b, struct probe_lane *l, size_t count)
{
    qsort(l->lat_ns, count, sizeof *l->lat_ns, bench_cmp_u64);
    double seconds = (double)l->total_ns / 1e9;
    double rate = seconds > 0 ? (double)count / seconds : 0;
    double p50 = bench_percentile_us(l->lat_ns, count, 0.50);
    double p99 = bench_percentile_us(l->lat_ns, count, 0.99);
    double p999 = bench_percentile_us(l->lat_ns, count, 0.999);
    fprintf(b->human,
            "%-14s %9zu %7zu %8.3f %11.1f %9.1f %9.1f %9.1f  (request %zu B, reply %zu B)", l->name,
            count, l->errors, seconds, rate, p50, p99, p999, l->req.len, l->reply_len);
    if (l->errors > 0)
        fprintf(b->human, "  FAILED: %zu errors", l->errors);
    fputc('\n', b->human);
    fflush(b->human);
    if (!b->opt.json)
        return;
    bench_json_begin(b);
    printf(",\"phase\":\"%s\",\"ok\":%s,\"ops\":%zu,\"errors\":%zu,\"seconds\":%.6f,"
           "\"ops_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
           "\"mean_us\":%.2f,\"request_bytes\":%zu,\"reply_bytes\":%zu}\n",
           l->name, l->errors == 0 ? "true" : "false", count, l->errors, seconds, rate, p50, p99,
           p999, count ? seconds * 1e6 / (double)count : 0, l->req.len, l->reply_len);
    fflush(stdout);
}

void bench_probe_path(const struct bench *b, char *out)
{
    snprintf(out, BENCH_PATH_MAX, "%s/probe", b->opt.root);
}

/* GetDataResponse frame: length, ReplyHeader (16), data (4 + B), Stat (68). */
static size_t get_data_reply_len(size_t data_size)
{
    return 4 + 16 + 4 + data_size + 68;
}

void bench_run_probes(struct bench *b)
{
    struct probe_lane lanes[2];
    size_t lane_count = 0;
    size_t count = b->opt.probe_count;
    char path[BENCH_PATH_MAX];
    bench_probe_path(b, path);
    struct session *s = NULL;
    struct echo_server echo;
    int echo_fd = -1;
    b->phase = "latency-probe";
    if (b->opt.latency_probe) {
        s = &b->sessions[0];
        int32_t err = bench_sync_call(b, s, ZK_OP_CREATE, path, b->data, b->opt.data_size, NULL);
        if (err != ZK_OK && err != ZK_NODEEXISTS)
            bench_die(b, "create %s: %s", path, zk_err_name(err));
        b->probe_exists = true;
        /* The other sessions sit idle for a while: heartbeat them first. */
        uint64_t now = bench_now_ns();
        for (size_t i = 1; i < b->session_count; i++) {
            bench_send_ping(&b->sessions[i], now);
            if (!bench_session_flush(&b->sessions[i]))
                bench_die(b, "send to the server: %s", strerror(errno));
        }
        bench_set_nonblocking(b, s->fd, false);
        struct probe_lane *l = &lanes[lane_count++];
        probe_lane_init(l, "latency-probe", s->fd, true, count);
        bench_encode_request(&l->req, 0, ZK_OP_GET_DATA, path, NULL, 0, false);
        l->reply_len = get_data_reply_len(b->opt.data_size);
    }
    if (b->opt.tcp_pingpong) {
        echo_server_start(b, &echo, get_data_reply_len(b->opt.data_size), b->opt.probe_cpu_server);
        char port[16];
        snprintf(port, sizeof port, "%u", (unsigned)echo.port);
        echo_fd = bench_connect_tcp(b, "127.0.0.1", port);
        struct probe_lane *l = &lanes[lane_count++];
        probe_lane_init(l, "tcp-pingpong", echo_fd, false, count);
        bench_encode_request(&l->req, 0, ZK_OP_GET_DATA, path, NULL, 0, false);
        l->reply_len = echo.reply_len;
    }
    struct probe_pins *pins = mem_alloc(sizeof *pins); /* 128 KiB of saved masks */
    probe_pin(b, pins);
    probe_run(b, lanes, lane_count, count);
    probe_unpin(pins);
    mem_free(pins);
    b->phase = NULL;
    for (size_t k = 0; k < lane_count; k++) {
        report_probe(b, &lanes[k], count);
        if (lanes[k].errors > 0)
            b->failed = true;
    }
    if (lane_count == 2) {
        double zk = bench_percentile_us(lanes[0].lat_ns, count, 0.50);
        double tcp = bench_percentile_us(lanes[1].lat_ns, count, 0.50);
        if (tcp > 0)
            fprintf(b->human, "round trip: getData p50 %.1f us = %.2f x raw TCP p50 %.1f us\n", zk,
                    zk / tcp, tcp);
    }
    if (s) {
        bench_set_nonblocking(b, s->fd, true);
        s->last_send_ns = bench_now_ns();
    }
    if (echo_fd >= 0) {
        close(echo_fd);
        echo_server_stop(&echo);
    }
    for (size_t k = 0; k < lane_count; k++)
        probe_lane_deinit(&lanes[k]);
}

void bench_run_timed_probe(struct bench *b)
{
    char path[BENCH_PATH_MAX];
    bench_probe_path(b, path);
    struct session *s = &b->sessions[0];
    int32_t err = bench_sync_call(b, s, ZK_OP_CREATE, path, b->data, b->opt.data_size, NULL);
    if (err != ZK_OK && err != ZK_NODEEXISTS)
        bench_die(b, "create %s: %s", path, zk_err_name(err));
    b->probe_exists = true;
    bench_set_nonblocking(b, s->fd, false);
    struct buf req;
    buf_init(&req);
    bench_encode_request(&req, 0, ZK_OP_GET_DATA, path, NULL, 0, false);
    struct bench_probe_args a = {
        .fd = s->fd,
        .req = req.data,
        .req_len = req.len,
        .seconds = b->opt.probe_seconds,
        .label = b->opt.label,
        .json = b->opt.json,
        .human = b->human,
    };
    int rc = bench_probe_timed(&a);
    buf_deinit(&req);
    if (rc < 0)
        bench_die(b, "the timed probe lost its connection");
    if (rc > 0)
        b->failed = true;
    bench_set_nonblocking(b, s->fd, true);
    s->last_send_ns = bench_now_ns();
}
