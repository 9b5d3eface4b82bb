/* SPDX-License-Identifier: Apache-2.0 */
/* benchmark.h — what the files of czk-benchmark share: the options, the
 * sessions, the run's state (struct bench), and each file's calls on the
 * others. benchmark.c: options and main; benchmark_wire.c: requests encoded,
 * sessions and their blocking calls, frames; benchmark_phases.c: the
 * pipelined engine, the phases, root and cleanup, CPU time from /proc;
 * benchmark_report.c: percentiles, the table and the JSON lines;
 * benchmark_latency.c: the one-at-a-time probes; benchmark_watch.c: the watch
 * load; benchmark_failover.c: the failover writer. bench_probe.h is the timed
 * probe's. A tool's header: not for the server or the library. */
#ifndef CZK_TOOLS_BENCHMARK_H
#define CZK_TOOLS_BENCHMARK_H

#include "base/buf.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_CHILDREN_PER_PARENT 10
#define BENCH_PATH_MAX            512
#define BENCH_ROOT_MAX            400
#define BENCH_FRAME_MAX           (16u * 1024u * 1024u)
#define BENCH_READ_CHUNK          (256u * 1024u)
#define BENCH_STALL_MS            30000
#define BENCH_PING_IDLE_MS        3000
#define BENCH_SESSION_TIMEOUT_MS  30000
#define BENCH_PASSWD_LEN          16
#define BENCH_DATA_SIZE_MAX       (1024u * 1024u - 1024u)
#define BENCH_OUTSTANDING_MAX     4096
#define BENCH_SESSIONS_MAX        1024
#define BENCH_DELETE_BATCH        256
#define BENCH_PIN_THREADS_MAX     1024
#define BENCH_SERVERS_MAX         16
#define BENCH_FAILOVER_TIMEOUT_MS 2000 /* a failover write unanswered this long is lost */
#define BENCH_FAILOVER_BACKOFF_MS 5    /* pause after a member refused us */
#define BENCH_FAILOVER_QUIET_MS   30000

enum bench_kind {
    KIND_CREATE_PARENTS,
    KIND_CREATE,
    KIND_SET,
    KIND_GET,
    KIND_EXISTS,
    KIND_CHILDREN,
    KIND_DELETE,
    KIND_MIXED,
    KIND_DELETE_PARENTS,
    KIND_WATCH_GET, /* getData with watch=true: registers a data watch */
};

#define PHASES_MAX 64

/* One member of --server's list. */
struct bench_server {
    char host[256];
    char port[16];
};

struct bench_options {
    struct bench_server servers[BENCH_SERVERS_MAX]; /* sessions go round robin over them */
    size_t server_count;
    size_t sessions;
    size_t outstanding;
    size_t ops;
    size_t data_size;
    char root[BENCH_ROOT_MAX];
    enum bench_kind phases[PHASES_MAX];
    size_t phase_count;
    long server_pids[BENCH_SERVERS_MAX]; /* CPU time is summed over them */
    size_t server_pid_count;
    const char *label;
    bool json;
    bool latency_probe;
    bool tcp_pingpong;
    bool clean;
    size_t probe_count;
    int probe_cpu_client; /* -1: no pinning */
    int probe_cpu_server;
    size_t timed_ops;         /* --timed-ops: timed ops of non-create phases; 0 = ops */
    size_t slow_us;           /* --slow: log timed requests slower than this; 0 = off */
    size_t setup_outstanding; /* --setup-outstanding: window of untimed setup; 0 = outstanding */
    size_t watches;           /* --watches: the watch load; 0 = off */
    size_t watch_subtree;     /* znodes under the recursive watch */
    size_t watch_close;       /* watches of the session whose close is timed */
    size_t watch_samples;     /* setData round trips timed */
    const char *mem_cmd;      /* run before and after registering (e.g. jcmd GC.heap_info) */
    bool phases_given;
    bool failover_writer; /* --failover-writer: one write at a time, across member failures */
    bool keep;            /* --keep: leave the root and its znodes in place at the end */
    double probe_seconds; /* --probe-seconds: the timed probe's duration, 0 = until SIGUSR1 */
    bool probe_timed;
};

/* A request on the wire whose reply has not arrived yet. Replies of one
 * session come back in request order, so each session keeps a FIFO ring. */
struct inflight {
    int32_t xid;
    int32_t op;
    int32_t expect; /* data length or child count to check, -1 = none */
    uint64_t start_ns;
};

struct session {
    int fd;
    int64_t session_id;
    int32_t next_xid;
    struct buf out;
    size_t out_off;
    struct buf in;
    struct inflight *ring;
    size_t ring_cap;
    size_t ring_head;
    size_t ring_count;
    uint64_t last_send_ns;
};

struct run_stats {
    uint64_t *lat_ns;
    size_t lat_count;
    size_t completed;
    size_t errors;
    size_t tolerated;
    size_t bad_replies;
    int32_t first_err;
};

struct phase_result {
    const char *name;
    size_t ops;
    size_t errors;
    int32_t first_err;
    size_t bad_replies;
    double seconds;
    double p50_us;
    double p99_us;
    double p999_us;
    double max_us;
    double server_cpu_us_per_op; /* < 0: not measured */
    double client_cpu_us_per_op;
};

struct bench {
    struct bench_options opt;
    bool timing; /* inside a timed phase */
    struct session *sessions;
    size_t session_count;
    struct pollfd *pfds;
    uint8_t *data;     /* what create writes */
    uint8_t *data_set; /* what set writes: same size, other bytes */
    size_t parent_count;
    bool parents_exist;
    bool nodes_exist;
    bool probe_exists;
    bool root_created;
    char created_ancestors[16][BENCH_ROOT_MAX];
    size_t created_ancestor_count;
    uint64_t rng;
    long clk_tck;
    bool failed;
    const char *phase;
    FILE *human;
    char tree_root[BENCH_ROOT_MAX + 8]; /* where the phases' leaf and parent paths point */
};

/* ---- benchmark.c ---- */

/* Prints "czk-benchmark: [phase P FAILED: ]message" on stderr and exits 2. */
void bench_die(const struct bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* CLOCK_MONOTONIC in ns. */
uint64_t bench_now_ns(void);
/* The phase's name as --phases spells it, or the name of an internal one. */
const char *bench_phase_name(enum bench_kind kind);

/* ---- benchmark_wire.c ---- */

/* One request frame (length, RequestHeader, the op's record) appended to
 * `out`; `data` for create and setData, `watch` for the reads. */
void bench_encode_request(struct buf *out, int32_t xid, int32_t op, const char *path,
                          const uint8_t *data, size_t data_len, bool watch);
/* A connected TCP socket with TCP_NODELAY, or dies. */
int bench_connect_tcp(const struct bench *b, const char *host, const char *port);
void bench_set_nonblocking(const struct bench *b, int fd, bool on);
/* Writes what the socket takes now; false if the peer is gone. */
bool bench_session_flush(struct session *s);
/* Writes all of s->out, waiting for the socket; dies after BENCH_STALL_MS. */
void bench_session_flush_blocking(const struct bench *b, struct session *s);
/* Reads once; dies when the server closed the connection. */
void bench_session_read_some(const struct bench *b, struct session *s);
/* The length of the complete frame at the head of `in`, or 0 if incomplete. */
size_t bench_frame_ready(const struct bench *b, const struct buf *in, size_t off);
/* Blocks until one whole frame is buffered; returns its length (with prefix). */
size_t bench_session_wait_frame(const struct bench *b, struct session *s);
/* Connects s to member `member` mod the --server count and opens a new
 * session there; s is left non-blocking. Dies on failure. */
void bench_session_connect(struct bench *b, struct session *s, size_t member);
/* A notification, ping, auth or setWatches reply: not a request's. */
bool bench_is_special_xid(int32_t xid);
/* One request, waiting for its reply. The reply body (after ReplyHeader) is
 * copied into `body` if given. Returns the reply's err. */
int32_t bench_sync_call_w(struct bench *b, struct session *s, int32_t op, const char *path,
                          const uint8_t *data, size_t data_len, bool watch, struct buf *body);
/* bench_sync_call_w without a watch. */
int32_t bench_sync_call(struct bench *b, struct session *s, int32_t op, const char *path,
                        const uint8_t *data, size_t data_len, struct buf *body);
/* closeSession, then the socket closed and s's buffers freed. */
void bench_session_close(struct bench *b, struct session *s);
/* Reads one length-prefixed frame into `frame` (grown as needed) from a
 * blocking socket; false on EOF, an error or a frame above BENCH_FRAME_MAX. */
bool bench_read_frame(int fd, struct buf *frame);
/* Whole reads and writes on a blocking socket, EINTR retried (SIGUSR1
 * interrupts a blocked recv: no SA_RESTART); false on EOF or an error.
 */
bool bench_read_full(int fd, uint8_t *p, size_t len);
bool bench_write_full(int fd, const uint8_t *p, size_t len);

/* ---- benchmark_phases.c ---- */

/* Leaf `leaf` of the tree at b->tree_root ("ROOT/pP/nL"). */
void bench_leaf_path(const struct bench *b, size_t leaf, char *out);
/* Queues a ping on s (a heartbeat of an idle session). */
void bench_send_ping(struct session *s, uint64_t now);
/* Runs n_ops operations of `kind` over all sessions, each keeping up to
 * `outstanding` requests in flight. st->lat_ns must hold n_ops entries. */
void bench_run_ops(struct bench *b, enum bench_kind kind, size_t n_ops, struct run_stats *st,
                   int32_t tolerated_err, size_t outstanding);
/* Zeroes st with room for n_ops latencies (free st->lat_ns with mem_free). */
void bench_stats_init(struct run_stats *st, size_t n_ops);
/* Untimed setup or cleanup: creates tolerate NODEEXISTS, deletes NONODE. */
void bench_run_untimed(struct bench *b, enum bench_kind kind, size_t n_ops, const char *why);
/* One timed phase over --ops znodes (set up untimed first), reported. */
void bench_run_phase(struct bench *b, enum bench_kind kind);
/* Creates --root and whichever of its ancestors are missing. */
void bench_create_root(struct bench *b);
/* Deletes a subtree depth-first with an explicit stack (no recursion). */
void bench_delete_tree(struct bench *b, const char *top);
/* Removes what the run created: the znodes, the parents, the root, the
 * ancestors it created. */
void bench_cleanup(struct bench *b);

/* ---- benchmark_report.c ---- */

/* qsort's comparison of uint64_t. */
int bench_cmp_u64(const void *a, const void *b);
/* Nearest-rank percentile of a sorted array, in µs. */
double bench_percentile_us(const uint64_t *sorted, size_t n, double p);
/* `s` as a JSON string, quotes included. */
void bench_json_string(FILE *f, const char *s);
/* Starts a JSON line on stdout: {"label":LABEL (the caller goes on with
 * ,"phase":...}). */
void bench_json_begin(const struct bench *b);
/* The table's header line on b->human. */
void bench_print_header(const struct bench *b);
/* One phase's table line, and with --json its JSON line on stdout. */
void bench_report(const struct bench *b, const struct phase_result *r);
/* p50, p99 and max of `ns` (sorted here), a line and with --json a JSON
 * line; `extra_json` (",\"key\":value...") is appended to it. */
void bench_report_samples(const struct bench *b, const char *name, uint64_t *ns, size_t n,
                          const char *extra_json);

/* ---- benchmark_latency.c ---- */

/* The probes' znode: ROOT/probe. */
void bench_probe_path(const struct bench *b, char *out);
/* --latency-probe and --tcp-pingpong: the same getData request bytes, one
 * at a time, to the server and to a local echo thread, interleaved. */
void bench_run_probes(struct bench *b);
/* --probe-seconds: the getData probe of bench_probe.c on session 0. */
void bench_run_timed_probe(struct bench *b);

/* ---- benchmark_watch.c ---- */

/* --watches: the watch load and its figures (docs/PERFORMANCE.md). */
void bench_run_watches(struct bench *b);

/* ---- benchmark_failover.c ---- */

/* --failover-writer: setData of --root, one at a time, until killed. After a
 * SIGUSR1 (the mark), the failover time runs from the mark to the first write
 * acknowledged with a zxid of a later epoch than the last acknowledged before
 * the mark: the first write the new leader committed. (A failed write is not
 * the criterion: Apache's followers keep their client connections through an
 * election, and a write sent to a dying leader may still be acknowledged.) */
int bench_failover_writer(struct bench *b);

#endif
