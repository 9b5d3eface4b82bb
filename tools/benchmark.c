/* SPDX-License-Identifier: Apache-2.0 */
/* benchmark.c — czk-benchmark, a ZooKeeper load generator: N sessions with K
 * pipelined requests each, driven by one thread with poll() and encoded with
 * czk's own jute codec. It speaks the plain client protocol, so one run can be
 * pointed at czk-server and another at Apache ZooKeeper with the same client.
 * Phases, probes and how to read the figures: docs/PERFORMANCE.md. */

#include "base/buf.h"
#include "base/mem.h"
#include "bench_probe.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

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

struct phase_name {
    const char *name;
    enum bench_kind kind;
};

/* The user-visible phases, in the default order. */
static const struct phase_name phase_names[] = {
    {"create", KIND_CREATE}, {"set", KIND_SET},           {"get", KIND_GET},
    {"exists", KIND_EXISTS}, {"children", KIND_CHILDREN}, {"delete", KIND_DELETE},
    {"mixed", KIND_MIXED},
};
#define PHASE_NAME_COUNT (sizeof phase_names / sizeof phase_names[0])
#define PHASES_MAX       64

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
    char tree_root[BENCH_ROOT_MAX + 8]; /* where leaf_path and parent_path point */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: czk-benchmark [options]\n"
            "  --server HOST:PORT[,HOST:PORT...]\n"
            "                         server to load (default 127.0.0.1:2181); with a list\n"
            "                         (an ensemble's members) session i connects to member\n"
            "                         i mod count, and every session syncs before each phase\n"
            "  --sessions N           client sessions (default 8)\n"
            "  --outstanding K        pipelined requests per session (default 32)\n"
            "  --ops N                operations per phase, over all sessions (default 100000)\n"
            "  --phases LIST          comma list of create,set,get,exists,children,delete,mixed\n"
            "                         (default all, in that order; 'none' for probes only)\n"
            "  --data-size B          znode data size in bytes (default 100)\n"
            "  --root PATH            benchmark subtree, created with its parents and removed\n"
            "                         at the end (default /czk-bench)\n"
            "  --clean                delete a pre-existing root subtree first\n"
            "  --keep                 leave the root and the znodes of the phases in place\n"
            "                         at the end (e.g. --phases create --keep loads a tree)\n"
            "  --timed-ops N          time only N ops of each phase other than create and\n"
            "                         delete, over a tree of --ops znodes (default: --ops)\n"
            "  --slow US              print each timed request slower than US µs, with the\n"
            "                         wall-clock time of its answer (to match server logs)\n"
            "  --setup-outstanding K  pipelined requests per session for the untimed setup\n"
            "                         and cleanup (default: --outstanding)\n"
            "  --server-pid PID[,PID...]\n"
            "                         report the server's CPU time per operation (summed\n"
            "                         over the pids: every member of an ensemble)\n"
            "  --label NAME           name carried in the output\n"
            "  --json                 one JSON object per phase on stdout (table on stderr)\n"
            "  --latency-probe        one session, one getData at a time: unloaded round trip\n"
            "  --tcp-pingpong         the same round trips over raw loopback TCP, to compare\n"
            "  --probe-count N        round trips of each probe (default 20000)\n"
            "  --probe-seconds S      after the phases, a getData probe on one session for S\n"
            "                         seconds (fractions allowed; 0 = until SIGUSR1, which\n"
            "                         also ends a timed run): says 'probe running' on stderr\n"
            "                         once answered, then p50/p99/p99.9/max (phase \"probe\")\n"
            "  --probe-cpus C,S       during the probes, pin the client to CPU C and the echo\n"
            "                         thread and every thread of --server-pid to CPU S\n"
            "  --watches N            watch load: N data watches (getData watch=true) on N\n"
            "                         znodes over all sessions, then the figures below; runs\n"
            "                         no other phase unless --phases is given\n"
            "  --watch-subtree M      znodes under ROOT/r, with a persistent recursive watch\n"
            "                         on ROOT/r (default 100000; 0 = none)\n"
            "  --watch-close K        watches of the session whose closeSession is timed\n"
            "                         (default 10000)\n"
            "  --watch-samples S      setData round trips timed, with and without the\n"
            "                         watches (default 1000)\n"
            "  --mem-cmd CMD          shell command run before and after registering the\n"
            "                         watches (with BENCH_MEM_POINT=before|after)\n"
            "  --failover-writer      no phases: one setData of --root at a time, forever,\n"
            "                         resuming the session on the next member of --server\n"
            "                         when a write fails; SIGUSR1 marks a kill, and the time\n"
            "                         from the mark to the first write acknowledged in a\n"
            "                         later epoch is printed as a JSON line\n");
}

static void bench_die(const struct bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void bench_die(const struct bench *b, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "czk-benchmark: ");
    if (b && b->phase)
        fprintf(stderr, "phase %s FAILED: ", b->phase);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *state)
{
    /* xorshift64*: fixed seed, so two runs issue the same mixed sequence. */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t client_cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
           (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
}

/* utime + stime of all the server's threads, in clock ticks (proc(5)). */
static bool server_cpu_ticks(long pid, uint64_t *ticks)
{
    char path[64];
    char line[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* comm may hold spaces and parentheses: fields restart after the last ')'. */
    const char *p = strrchr(line, ')');
    if (!p)
        return false;
    unsigned long utime = 0;
    unsigned long stime = 0;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return false;
    *ticks = (uint64_t)utime + (uint64_t)stime;
    return true;
}

/* Time on CPU of the server's live threads, in ns: the sum of the first
 * field of /proc/PID/task/TID/schedstat. Finer than clock ticks (10 ms),
 * which matters below 1 µs per operation; misses threads that exit. */
static bool server_cpu_schedstat_ns(long pid, uint64_t *ns)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *dir = opendir(path);
    if (!dir)
        return false;
    uint64_t sum = 0;
    size_t tasks = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        long tid = strtol(de->d_name, NULL, 10);
        if (tid <= 0)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/task/%ld/schedstat", pid, tid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the thread just exited */
        unsigned long long run_ns = 0;
        if (fscanf(f, "%llu", &run_ns) == 1) {
            sum += run_ns;
            tasks++;
        }
        fclose(f);
    }
    closedir(dir);
    *ns = sum;
    return tasks > 0;
}

/* The server's CPU time in ns: schedstat if the kernel has it, else ticks. */
static bool server_cpu_ns(long pid, long clk_tck, bool *fine, uint64_t *ns)
{
    if (*fine && server_cpu_schedstat_ns(pid, ns))
        return true;
    *fine = false;
    uint64_t ticks = 0;
    if (!server_cpu_ticks(pid, &ticks))
        return false;
    *ns = ticks * 1000000000u / (uint64_t)clk_tck;
    return true;
}

/* The CPU time of every --server-pid, summed, from one source for all. */
static bool servers_cpu_ns(const struct bench_options *o, long clk_tck, bool *fine, uint64_t *ns)
{
    for (int pass = 0; pass < 2; pass++) {
        bool fine_start = *fine;
        uint64_t sum = 0;
        size_t i = 0;
        for (; i < o->server_pid_count; i++) {
            uint64_t one = 0;
            if (!server_cpu_ns(o->server_pids[i], clk_tck, fine, &one))
                return false;
            sum += one;
        }
        if (*fine == fine_start) {
            *ns = sum;
            return true;
        }
        /* one pid lacked schedstat: read them all again in ticks */
    }
    return false;
}

static bool parse_size(const char *s, size_t min, size_t max, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        return false;
    *out = (size_t)v;
    return true;
}

/* One HOST:PORT of s[0..len). */
static bool parse_one_server(struct bench_server *srv, const char *s, size_t len)
{
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (!colon || colon == s)
        return false;
    size_t host_len = (size_t)(colon - s);
    size_t port_len = len - host_len - 1;
    if (port_len == 0 || port_len >= sizeof srv->port || host_len >= sizeof srv->host)
        return false;
    memcpy(srv->host, s, host_len);
    srv->host[host_len] = '\0';
    memcpy(srv->port, colon + 1, port_len);
    srv->port[port_len] = '\0';
    return true;
}

static bool parse_servers(struct bench_options *o, const char *s)
{
    o->server_count = 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (o->server_count == BENCH_SERVERS_MAX ||
            !parse_one_server(&o->servers[o->server_count], p, len))
            return false;
        o->server_count++;
        if (!comma)
            return true;
        p = comma + 1;
    }
}

static bool parse_pids(struct bench_options *o, const char *s)
{
    o->server_pid_count = 0;
    for (const char *p = s;;) {
        char *end = NULL;
        errno = 0;
        long pid = strtol(p, &end, 10);
        if (errno != 0 || end == p || pid <= 0 || pid > (1L << 30) ||
            (*end != ',' && *end != '\0') || o->server_pid_count == BENCH_SERVERS_MAX)
            return false;
        o->server_pids[o->server_pid_count++] = pid;
        if (*end == '\0')
            return true;
        p = end + 1;
    }
}

static bool parse_phases(struct bench_options *o, const char *s)
{
    o->phase_count = 0;
    if (strcmp(s, "none") == 0 || s[0] == '\0')
        return true;
    const char *p = s;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        bool found = false;
        for (size_t i = 0; i < PHASE_NAME_COUNT; i++) {
            if (strlen(phase_names[i].name) == len && memcmp(phase_names[i].name, p, len) == 0) {
                if (o->phase_count == PHASES_MAX)
                    return false;
                o->phases[o->phase_count++] = phase_names[i].kind;
                found = true;
                break;
            }
        }
        if (!found) {
            fprintf(stderr, "czk-benchmark: unknown phase '%.*s'\n", (int)len, p);
            return false;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return true;
}

static bool parse_cpus(struct bench_options *o, const char *s)
{
    char *end = NULL;
    long client = strtol(s, &end, 10);
    if (end == s || *end != ',')
        return false;
    const char *rest = end + 1;
    long server = strtol(rest, &end, 10);
    if (end == rest || *end != '\0' || client < 0 || server < 0 || client >= CPU_SETSIZE ||
        server >= CPU_SETSIZE)
        return false;
    o->probe_cpu_client = (int)client;
    o->probe_cpu_server = (int)server;
    return true;
}

static bool parse_root(struct bench_options *o, const char *s)
{
    size_t len = strlen(s);
    if (len < 2 || len >= sizeof o->root - 40 || s[0] != '/' || s[len - 1] == '/' ||
        strstr(s, "//") != NULL)
        return false;
    strcpy(o->root, s);
    return true;
}

static const char *phase_name_of(enum bench_kind kind)
{
    for (size_t i = 0; i < PHASE_NAME_COUNT; i++)
        if (phase_names[i].kind == kind)
            return phase_names[i].name;
    if (kind == KIND_WATCH_GET)
        return "watch-register";
    return kind == KIND_CREATE_PARENTS ? "setup-parents" : "cleanup-parents";
}

/* ---- encoding ---- */

static void encode_request(struct buf *out, int32_t xid, int32_t op, const char *path,
                           const uint8_t *data, size_t data_len, bool watch)
{
    size_t start = frame_begin(out);
    struct zk_request_header h = {.xid = xid, .type = op};
    zk_request_header_encode(out, &h);
    switch (op) {
    case ZK_OP_CREATE: {
        /* ZooDefs.Ids.OPEN_ACL_UNSAFE: world:anyone with every permission. */
        struct zk_acl open_acl = {.perms = ZK_PERM_ALL,
                                  .id = {.scheme = jute_cstr("world"), .id = jute_cstr("anyone")}};
        struct zk_create_request r = {.path = jute_cstr(path),
                                      .data = jute_buf_of(data, data_len),
                                      .acl = {.count = 1, .items = &open_acl},
                                      .flags = ZK_CREATE_PERSISTENT};
        zk_create_request_encode(out, &r);
        break;
    }
    case ZK_OP_DELETE: {
        struct zk_path_version_request r = {.path = jute_cstr(path), .version = -1};
        zk_path_version_request_encode(out, &r);
        break;
    }
    case ZK_OP_SET_DATA: {
        struct zk_set_data_request r = {
            .path = jute_cstr(path), .data = jute_buf_of(data, data_len), .version = -1};
        zk_set_data_request_encode(out, &r);
        break;
    }
    case ZK_OP_EXISTS:
    case ZK_OP_GET_DATA:
    case ZK_OP_GET_CHILDREN: {
        struct zk_path_watch_request r = {.path = jute_cstr(path), .watch = watch};
        zk_path_watch_request_encode(out, &r);
        break;
    }
    case ZK_OP_SYNC: {
        struct zk_path_request r = {.path = jute_cstr(path)};
        zk_path_request_encode(out, &r);
        break;
    }
    case ZK_OP_ADD_WATCH: {
        /* AddWatchMode: 0 PERSISTENT, 1 PERSISTENT_RECURSIVE */
        struct zk_add_watch_request r = {.path = jute_cstr(path), .mode = 1};
        zk_add_watch_request_encode(out, &r);
        break;
    }
    default: /* ping, closeSession: header only */
        break;
    }
    frame_end(out, start);
}

/* ---- sessions ---- */

static int connect_tcp(const struct bench *b, const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        bench_die(b, "cannot resolve %s:%s: %s", host, port, gai_strerror(rc));
    int fd = -1;
    int last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        bench_die(b, "cannot connect to %s:%s: %s", host, port, strerror(last_errno));
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        bench_die(b, "TCP_NODELAY: %s", strerror(errno));
    return fd;
}

static void set_nonblocking(const struct bench *b, int fd, bool on)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0)
        bench_die(b, "fcntl: %s", strerror(errno));
}

/* Writes what the socket takes now; false if the peer is gone. */
static bool session_flush(struct session *s)
{
    while (s->out_off < s->out.len) {
        ssize_t n = send(s->fd, s->out.data + s->out_off, s->out.len - s->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return false;
        }
        s->out_off += (size_t)n;
    }
    if (s->out_off == s->out.len) {
        buf_clear(&s->out);
        s->out_off = 0;
    }
    return true;
}

static void session_flush_blocking(const struct bench *b, struct session *s)
{
    while (s->out_off < s->out.len || s->out.len > 0) {
        if (!session_flush(s))
            bench_die(b, "send to the server: %s", strerror(errno));
        if (s->out.len == 0)
            break;
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        if (poll(&p, 1, BENCH_STALL_MS) == 0)
            bench_die(b, "the server took nothing for %d s", BENCH_STALL_MS / 1000);
    }
}

/* Reads once; dies when the server closed the connection. */
static void session_read_some(const struct bench *b, struct session *s)
{
    buf_reserve(&s->in, BENCH_READ_CHUNK);
    ssize_t n;
    do {
        n = recv(s->fd, s->in.data + s->in.len, s->in.cap - s->in.len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0)
        bench_die(b, "receive from the server: %s", strerror(errno));
    if (n == 0)
        bench_die(b, "the server closed the connection (session 0x%" PRIx64 ")",
                  (uint64_t)s->session_id);
    s->in.len += (size_t)n;
}

/* The length of the complete frame at the head of `in`, or 0 if incomplete. */
static size_t frame_ready(const struct bench *b, const struct buf *in, size_t off)
{
    if (in->len - off < 4)
        return 0;
    uint32_t len = be32_get(in->data + off);
    if (len > BENCH_FRAME_MAX)
        bench_die(b, "reply frame of %" PRIu32 " bytes: protocol error", len);
    if (in->len - off - 4 < len)
        return 0;
    return 4 + (size_t)len;
}

/* Blocks until one whole frame is buffered; returns its length (with prefix). */
static size_t session_wait_frame(const struct bench *b, struct session *s)
{
    for (;;) {
        size_t n = frame_ready(b, &s->in, 0);
        if (n > 0)
            return n;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        int rc = poll(&p, 1, BENCH_STALL_MS);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            bench_die(b, "no reply from the server for %d s", BENCH_STALL_MS / 1000);
        session_read_some(b, s);
    }
}

/* Connects s to member `member` mod the --server count. */
static void session_connect(struct bench *b, struct session *s, size_t member)
{
    memset(s, 0, sizeof *s);
    buf_init(&s->out);
    buf_init(&s->in);
    const struct bench_server *srv = &b->opt.servers[member % b->opt.server_count];
    s->fd = connect_tcp(b, srv->host, srv->port);
    s->next_xid = 1;
    s->ring_cap = b->opt.outstanding > b->opt.setup_outstanding ? b->opt.outstanding
                                                                : b->opt.setup_outstanding;
    s->ring = mem_calloc(s->ring_cap, sizeof *s->ring);

    /* As the official clients send it: a 16-byte zero password for a new
     * session, then the readOnly flag (ClientCnxnSocket, zookeeper.c). */
    static const uint8_t zero_passwd[BENCH_PASSWD_LEN] = {0};
    size_t start = frame_begin(&s->out);
    struct zk_connect_request req = {.protocol_version = 0,
                                     .last_zxid_seen = 0,
                                     .time_out = BENCH_SESSION_TIMEOUT_MS,
                                     .session_id = 0,
                                     .passwd = jute_buf_of(zero_passwd, sizeof zero_passwd)};
    zk_connect_request_encode(&s->out, &req);
    jute_write_bool(&s->out, false);
    frame_end(&s->out, start);
    session_flush_blocking(b, s);

    size_t n = session_wait_frame(b, s);
    struct jute_reader r;
    jute_reader_init(&r, s->in.data + 4, n - 4);
    struct zk_connect_response resp;
    if (zk_connect_response_decode(&r, &resp) != 0)
        bench_die(b, "malformed ConnectResponse");
    if (resp.time_out <= 0 || resp.session_id == 0)
        bench_die(b, "the server refused the session (timeout %" PRId32 ")", resp.time_out);
    s->session_id = resp.session_id;
    buf_consume(&s->in, n);
    set_nonblocking(b, s->fd, true);
    s->last_send_ns = now_ns();
}

static bool is_special_xid(int32_t xid)
{
    return xid == ZK_XID_NOTIFICATION || xid == ZK_XID_PING || xid == ZK_XID_AUTH ||
           xid == ZK_XID_SET_WATCHES;
}

/* One request, waiting for its reply. The reply body (after ReplyHeader) is
 * copied into `body` if given. Returns the reply's err. */
static int32_t sync_call_w(struct bench *b, struct session *s, int32_t op, const char *path,
                           const uint8_t *data, size_t data_len, bool watch, struct buf *body)
{
    int32_t xid = s->next_xid++;
    encode_request(&s->out, xid, op, path, data, data_len, watch);
    session_flush_blocking(b, s);
    s->last_send_ns = now_ns();
    for (;;) {
        size_t n = session_wait_frame(b, s);
        struct jute_reader r;
        jute_reader_init(&r, s->in.data + 4, n - 4);
        struct zk_reply_header h;
        if (zk_reply_header_decode(&r, &h) != 0)
            bench_die(b, "malformed ReplyHeader");
        if (is_special_xid(h.xid)) {
            buf_consume(&s->in, n);
            continue;
        }
        if (h.xid != xid)
            bench_die(b, "reply xid %" PRId32 ", expected %" PRId32, h.xid, xid);
        if (body) {
            buf_clear(body);
            buf_append(body, r.p + r.pos, jute_reader_remaining(&r));
        }
        buf_consume(&s->in, n);
        return h.err;
    }
}

static int32_t sync_call(struct bench *b, struct session *s, int32_t op, const char *path,
                         const uint8_t *data, size_t data_len, struct buf *body)
{
    return sync_call_w(b, s, op, path, data, data_len, false, body);
}

static void session_close(struct bench *b, struct session *s)
{
    if (s->fd < 0)
        return;
    set_nonblocking(b, s->fd, true);
    int32_t err = sync_call(b, s, ZK_OP_CLOSE_SESSION, NULL, NULL, 0, NULL);
    if (err != 0)
        fprintf(stderr, "czk-benchmark: closeSession: %s\n", zk_err_name(err));
    close(s->fd);
    s->fd = -1;
    buf_deinit(&s->out);
    buf_deinit(&s->in);
    mem_free(s->ring);
}

/* ---- the pipelined engine ---- */

static void parent_path(const struct bench *b, size_t parent, char *out)
{
    snprintf(out, BENCH_PATH_MAX, "%s/p%zu", b->tree_root, parent);
}

static void leaf_path(const struct bench *b, size_t leaf, char *out)
{
    snprintf(out, BENCH_PATH_MAX, "%s/p%zu/n%zu", b->tree_root, leaf / BENCH_CHILDREN_PER_PARENT,
             leaf);
}

static int32_t children_of(const struct bench *b, size_t parent)
{
    size_t first = parent * BENCH_CHILDREN_PER_PARENT;
    size_t left = b->opt.ops - first;
    return (int32_t)(left < BENCH_CHILDREN_PER_PARENT ? left : BENCH_CHILDREN_PER_PARENT);
}

/* Queues operation `index` of a phase on session s. */
static void enqueue_op(struct bench *b, struct session *s, enum bench_kind kind, size_t index,
                       uint64_t now)
{
    char path[BENCH_PATH_MAX];
    int32_t op = ZK_OP_GET_DATA;
    const uint8_t *data = NULL;
    size_t data_len = 0;
    int32_t expect = -1;
    bool watch = false;
    switch (kind) {
    case KIND_CREATE_PARENTS:
        op = ZK_OP_CREATE;
        parent_path(b, index, path);
        break;
    case KIND_CREATE:
        op = ZK_OP_CREATE;
        leaf_path(b, index, path);
        data = b->data;
        data_len = b->opt.data_size;
        break;
    case KIND_SET:
        op = ZK_OP_SET_DATA;
        leaf_path(b, index, path);
        data = b->data_set;
        data_len = b->opt.data_size;
        break;
    case KIND_GET:
        op = ZK_OP_GET_DATA;
        leaf_path(b, index, path);
        expect = (int32_t)b->opt.data_size;
        break;
    case KIND_EXISTS:
        op = ZK_OP_EXISTS;
        leaf_path(b, index, path);
        break;
    case KIND_CHILDREN: {
        size_t parent = index % b->parent_count;
        op = ZK_OP_GET_CHILDREN;
        parent_path(b, parent, path);
        expect = children_of(b, parent);
        break;
    }
    case KIND_DELETE:
        op = ZK_OP_DELETE;
        leaf_path(b, index, path);
        break;
    case KIND_MIXED: {
        uint64_t r = rng_next(&b->rng);
        leaf_path(b, (size_t)(r % b->opt.ops), path);
        if ((r >> 40) % 10 == 0) {
            op = ZK_OP_SET_DATA;
            data = b->data_set;
            data_len = b->opt.data_size;
        } else {
            op = ZK_OP_GET_DATA;
            expect = (int32_t)b->opt.data_size;
        }
        break;
    }
    case KIND_DELETE_PARENTS:
        op = ZK_OP_DELETE;
        parent_path(b, index, path);
        break;
    case KIND_WATCH_GET:
        op = ZK_OP_GET_DATA;
        watch = true;
        leaf_path(b, index, path);
        expect = (int32_t)b->opt.data_size;
        break;
    }
    int32_t xid = s->next_xid++;
    encode_request(&s->out, xid, op, path, data, data_len, watch);
    size_t slot = (s->ring_head + s->ring_count) % s->ring_cap;
    s->ring[slot] = (struct inflight){.xid = xid, .op = op, .expect = expect, .start_ns = now};
    s->ring_count++;
    s->last_send_ns = now;
}

/* Checks that a successful reply's body parses and holds what we expect. */
static bool reply_body_ok(const struct inflight *f, struct jute_reader *r)
{
    switch (f->op) {
    case ZK_OP_CREATE: {
        struct zk_path_request v; /* CreateResponse: one ustring, the path */
        return zk_path_request_decode(r, &v) == 0 && v.path.len > 0;
    }
    case ZK_OP_DELETE:
        return true;
    case ZK_OP_EXISTS:
    case ZK_OP_SET_DATA: {
        struct zk_stat_response v;
        return zk_stat_response_decode(r, &v) == 0;
    }
    case ZK_OP_GET_DATA: {
        struct zk_get_data_response v;
        return zk_get_data_response_decode(r, &v) == 0 &&
               (f->expect < 0 || v.data.len == f->expect) && v.stat.data_length == v.data.len;
    }
    case ZK_OP_GET_CHILDREN: {
        struct zk_children_response v;
        return zk_children_response_decode(r, &v) == 0 &&
               (f->expect < 0 || v.children.count == f->expect);
    }
    default:
        return true;
    }
}

/* Parses every complete reply in s->in; returns how many were requests'. */
static size_t session_take_replies(struct bench *b, struct session *s, struct run_stats *st,
                                   int32_t tolerated_err, uint64_t now)
{
    size_t off = 0;
    size_t taken = 0;
    for (;;) {
        size_t n = frame_ready(b, &s->in, off);
        if (n == 0)
            break;
        struct jute_reader r;
        jute_reader_init(&r, s->in.data + off + 4, n - 4);
        off += n;
        struct zk_reply_header h;
        if (zk_reply_header_decode(&r, &h) != 0)
            bench_die(b, "malformed ReplyHeader");
        if (is_special_xid(h.xid))
            continue;
        if (s->ring_count == 0)
            bench_die(b, "reply xid %" PRId32 " with no request outstanding", h.xid);
        const struct inflight *f = &s->ring[s->ring_head];
        if (f->xid != h.xid)
            bench_die(b, "reply xid %" PRId32 ", expected %" PRId32 ": replies out of order", h.xid,
                      f->xid);
        st->lat_ns[st->lat_count++] = now - f->start_ns;
        if (b->opt.slow_us > 0 && b->timing && now - f->start_ns >= b->opt.slow_us * 1000) {
            /* wall-clock, to set beside the server's log lines */
            struct timespec wall;
            clock_gettime(CLOCK_REALTIME, &wall);
            struct tm tm;
            localtime_r(&wall.tv_sec, &tm);
            fprintf(stderr, "slow: %s %.1f ms, answered at %02d:%02d:%02d,%03ld\n", b->phase,
                    (double)(now - f->start_ns) / 1e6, tm.tm_hour, tm.tm_min, tm.tm_sec,
                    wall.tv_nsec / 1000000);
        }
        if (h.err != ZK_OK) {
            if (h.err == tolerated_err && tolerated_err != ZK_OK) {
                st->tolerated++;
            } else {
                st->errors++;
                if (st->first_err == 0)
                    st->first_err = h.err;
            }
        } else if (!reply_body_ok(f, &r)) {
            st->errors++;
            st->bad_replies++;
        }
        s->ring_head = (s->ring_head + 1) % s->ring_cap;
        s->ring_count--;
        st->completed++;
        taken++;
    }
    buf_consume(&s->in, off);
    return taken;
}

static void send_ping(struct session *s, uint64_t now)
{
    encode_request(&s->out, ZK_XID_PING, ZK_OP_PING, NULL, NULL, 0, false);
    s->last_send_ns = now;
}

/* Runs n_ops operations of `kind` over all sessions, each keeping up to
 * `outstanding` requests in flight. st->lat_ns must hold n_ops entries. */
static void run_ops(struct bench *b, enum bench_kind kind, size_t n_ops, struct run_stats *st,
                    int32_t tolerated_err, size_t outstanding)
{
    size_t next = 0;
    uint64_t last_progress_ns = now_ns();
    while (st->completed < n_ops) {
        uint64_t now = now_ns();
        for (size_t i = 0; i < b->session_count; i++) {
            struct session *s = &b->sessions[i];
            while (s->ring_count < outstanding && next < n_ops)
                enqueue_op(b, s, kind, next++, now);
            /* Idle sessions still owe the server a heartbeat. */
            if (s->ring_count == 0 && now - s->last_send_ns > BENCH_PING_IDLE_MS * 1000000ull)
                send_ping(s, now);
            if (!session_flush(s))
                bench_die(b, "send to the server: %s", strerror(errno));
            b->pfds[i] = (struct pollfd){
                .fd = s->fd, .events = (short)(POLLIN | (s->out.len > 0 ? POLLOUT : 0))};
        }
        int rc = poll(b->pfds, (nfds_t)b->session_count, 1000);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            bench_die(b, "poll: %s", strerror(errno));
        }
        now = now_ns();
        if (rc == 0) {
            if (now - last_progress_ns > BENCH_STALL_MS * 1000000ull)
                bench_die(b, "no reply for %d s (%zu of %zu done)", BENCH_STALL_MS / 1000,
                          st->completed, n_ops);
            continue;
        }
        for (size_t i = 0; i < b->session_count; i++) {
            struct session *s = &b->sessions[i];
            short ev = b->pfds[i].revents;
            if (ev & (POLLIN | POLLHUP | POLLERR)) {
                session_read_some(b, s);
                if (session_take_replies(b, s, st, tolerated_err, now) > 0)
                    last_progress_ns = now;
            }
        }
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array, in µs. */
static double percentile_us(const uint64_t *sorted, size_t n, double p)
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

static void json_string(FILE *f, const char *s)
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

static void print_header(const struct bench *b)
{
    fprintf(b->human, "%-14s %9s %7s %8s %11s %9s %9s %9s %9s %11s %11s\n", "phase", "ops",
            "errors", "seconds", "ops/s", "p50_us", "p99_us", "p99.9_us", "max_us", "srv_us/op",
            "cli_us/op");
}

static void report(const struct bench *b, const struct phase_result *r)
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
    printf("{\"label\":");
    json_string(stdout, b->opt.label);
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

static void stats_init(struct run_stats *st, size_t n_ops)
{
    memset(st, 0, sizeof *st);
    st->lat_ns = mem_calloc(n_ops ? n_ops : 1, sizeof *st->lat_ns);
}

/* Untimed setup or cleanup: creates tolerate NODEEXISTS, deletes NONODE. */
static void run_untimed(struct bench *b, enum bench_kind kind, size_t n_ops, const char *why)
{
    struct run_stats st;
    stats_init(&st, n_ops);
    const char *saved = b->phase;
    b->phase = why;
    bool is_create = kind == KIND_CREATE || kind == KIND_CREATE_PARENTS;
    run_ops(b, kind, n_ops, &st, is_create ? ZK_NODEEXISTS : ZK_NONODE,
            b->opt.setup_outstanding ? b->opt.setup_outstanding : b->opt.outstanding);
    if (st.errors > 0) {
        fprintf(stderr, "czk-benchmark: %s: %zu of %zu ops failed (first: %s)\n", why, st.errors,
                n_ops, st.first_err ? zk_err_name(st.first_err) : "unexpected reply body");
        b->failed = true;
    }
    b->phase = saved;
    mem_free(st.lat_ns);
}

/* With several members, a read on one may not yet see a write acknowledged
 * through another (ZooKeeper promises order per session only): every session
 * syncs its member with the leader before a timed phase. */
static void sync_sessions(struct bench *b)
{
    if (b->opt.server_count < 2)
        return;
    for (size_t i = 0; i < b->session_count; i++) {
        int32_t err = sync_call(b, &b->sessions[i], ZK_OP_SYNC, b->opt.root, NULL, 0, NULL);
        if (err != ZK_OK)
            bench_die(b, "sync %s: %s", b->opt.root, zk_err_name(err));
    }
}

static void run_phase(struct bench *b, enum bench_kind kind)
{
    const char *name = phase_name_of(kind);
    size_t n = b->opt.ops;
    /* Each phase finds the znodes it needs; setting them up is not timed. */
    if (kind == KIND_CREATE && b->nodes_exist) {
        run_untimed(b, KIND_DELETE, n, "setup (delete before create)");
        b->nodes_exist = false;
    } else if (kind != KIND_CREATE && !b->nodes_exist) {
        run_untimed(b, KIND_CREATE, n, "setup (create znodes)");
        b->nodes_exist = true;
    }
    sync_sessions(b);

    struct run_stats st;
    stats_init(&st, n);
    b->phase = name;
    b->rng = 0x9E3779B97F4A7C15ull;
    uint64_t srv0 = 0;
    uint64_t srv1 = 0;
    bool fine = true;
    bool srv_ok = b->opt.server_pid_count > 0 && servers_cpu_ns(&b->opt, b->clk_tck, &fine, &srv0);
    uint64_t cli0 = client_cpu_us();
    uint64_t t0 = now_ns();
    size_t timed = n;
    if (b->opt.timed_ops > 0 && b->opt.timed_ops < n && kind != KIND_CREATE && kind != KIND_DELETE)
        timed = b->opt.timed_ops;
    b->timing = true;
    run_ops(b, kind, timed, &st, ZK_OK, b->opt.outstanding);
    b->timing = false;
    uint64_t t1 = now_ns();
    uint64_t cli1 = client_cpu_us();
    bool fine_start = fine;
    /* Both readings must come from the same source to be subtracted. */
    srv_ok = srv_ok && servers_cpu_ns(&b->opt, b->clk_tck, &fine, &srv1) && fine == fine_start;
    b->phase = NULL;
    if (b->opt.server_pid_count > 0 && !srv_ok)
        fprintf(stderr, "czk-benchmark: cannot read /proc/PID/stat of every --server-pid\n");

    qsort(st.lat_ns, st.lat_count, sizeof *st.lat_ns, cmp_u64);
    struct phase_result r = {
        .name = name,
        .ops = timed,
        .errors = st.errors,
        .first_err = st.first_err,
        .bad_replies = st.bad_replies,
        .seconds = (double)(t1 - t0) / 1e9,
        .p50_us = percentile_us(st.lat_ns, st.lat_count, 0.50),
        .p99_us = percentile_us(st.lat_ns, st.lat_count, 0.99),
        .p999_us = percentile_us(st.lat_ns, st.lat_count, 0.999),
        .max_us = percentile_us(st.lat_ns, st.lat_count, 1.0),
        .server_cpu_us_per_op =
            srv_ok ? (srv1 > srv0 ? (double)(srv1 - srv0) : 0.0) / 1e3 / (double)timed : -1.0,
        .client_cpu_us_per_op = (double)(cli1 - cli0) / (double)timed,
    };
    report(b, &r);
    if (st.errors > 0)
        b->failed = true;
    mem_free(st.lat_ns);

    if (kind == KIND_CREATE)
        b->nodes_exist = true;
    else if (kind == KIND_DELETE)
        b->nodes_exist = false;
}

/* ---- root and cleanup ---- */

static void create_root(struct bench *b)
{
    struct session *s = &b->sessions[0];
    char prefix[BENCH_ROOT_MAX];
    size_t len = strlen(b->opt.root);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && b->opt.root[i] != '/')
            continue;
        memcpy(prefix, b->opt.root, i);
        prefix[i] = '\0';
        int32_t err = sync_call(b, s, ZK_OP_CREATE, prefix, NULL, 0, NULL);
        if (err == ZK_OK && i < len) {
            if (b->created_ancestor_count < sizeof b->created_ancestors / BENCH_ROOT_MAX)
                strcpy(b->created_ancestors[b->created_ancestor_count++], prefix);
        } else if (err == ZK_OK) {
            b->root_created = true;
        } else if (err != ZK_NODEEXISTS) {
            bench_die(b, "create %s: %s", prefix, zk_err_name(err));
        }
    }
}

static void push_path(char ***stack, size_t *count, size_t *cap, const char *path)
{
    if (*count == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *stack = mem_realloc(*stack, *cap * sizeof **stack);
    }
    (*stack)[(*count)++] = mem_strndup(path, strlen(path));
}

/* Deletes `n` paths with one batch of pipelined requests on s; errs[i] gets
 * each reply's err. */
static void pipelined_deletes(struct bench *b, struct session *s, char *const *paths, size_t n,
                              int32_t *errs)
{
    int32_t first_xid = s->next_xid;
    for (size_t i = 0; i < n; i++)
        encode_request(&s->out, s->next_xid++, ZK_OP_DELETE, paths[i], NULL, 0, false);
    session_flush_blocking(b, s);
    s->last_send_ns = now_ns();
    size_t got = 0;
    while (got < n) {
        size_t len = session_wait_frame(b, s);
        struct jute_reader r;
        jute_reader_init(&r, s->in.data + 4, len - 4);
        struct zk_reply_header h;
        if (zk_reply_header_decode(&r, &h) != 0)
            bench_die(b, "malformed ReplyHeader");
        buf_consume(&s->in, len);
        if (is_special_xid(h.xid))
            continue;
        if (h.xid != first_xid + (int32_t)got)
            bench_die(b, "reply xid %" PRId32 ", expected %" PRId32, h.xid,
                      first_xid + (int32_t)got);
        errs[got++] = h.err;
    }
}

/* Deletes a subtree depth-first with an explicit stack (no recursion). */
static void delete_tree(struct bench *b, const char *top)
{
    struct session *s = &b->sessions[0];
    char **stack = NULL;
    size_t count = 0;
    size_t cap = 0;
    struct buf body;
    buf_init(&body);
    push_path(&stack, &count, &cap, top);
    while (count > 0) {
        char *path = stack[count - 1];
        int32_t err = sync_call(b, s, ZK_OP_GET_CHILDREN, path, NULL, 0, &body);
        struct zk_children_response v = {0};
        if (err == ZK_OK) {
            struct jute_reader r;
            jute_reader_init(&r, body.data, body.len);
            if (zk_children_response_decode(&r, &v) != 0)
                bench_die(b, "malformed getChildren reply for %s", path);
        } else if (err != ZK_NONODE) {
            bench_die(b, "getChildren %s: %s", path, zk_err_name(err));
        }
        if (err == ZK_NONODE || v.children.count <= 0) {
            err = sync_call(b, s, ZK_OP_DELETE, path, NULL, 0, NULL);
            if (err == ZK_NOTEMPTY)
                continue; /* someone added a child meanwhile: list again */
            if (err != ZK_OK && err != ZK_NONODE)
                bench_die(b, "delete %s: %s", path, zk_err_name(err));
            mem_free(path);
            count--;
            continue;
        }
        /* Most children are leaves: delete them all, pipelined, and descend
         * only into those that turn out to have children of their own. */
        char **children = mem_calloc((size_t)v.children.count, sizeof *children);
        size_t n_children = 0;
        struct jute_vec_iter it;
        struct jute_buf child;
        jute_vec_iter_init(&it, &v.children);
        while (jute_vec_next_str(&it, &child)) {
            size_t len = strlen(path) + 1 + (size_t)child.len;
            if (len >= BENCH_PATH_MAX * 2)
                bench_die(b, "path too long under %s", path);
            children[n_children] = mem_alloc(len + 1);
            snprintf(children[n_children], len + 1, "%s/%.*s", path, (int)child.len,
                     (const char *)child.ptr);
            n_children++;
        }
        for (size_t i = 0; i < n_children; i += BENCH_DELETE_BATCH) {
            size_t n = n_children - i < BENCH_DELETE_BATCH ? n_children - i : BENCH_DELETE_BATCH;
            int32_t errs[BENCH_DELETE_BATCH];
            pipelined_deletes(b, s, children + i, n, errs);
            for (size_t j = 0; j < n; j++) {
                if (errs[j] == ZK_NOTEMPTY)
                    push_path(&stack, &count, &cap, children[i + j]);
                else if (errs[j] != ZK_OK && errs[j] != ZK_NONODE)
                    bench_die(b, "delete %s: %s", children[i + j], zk_err_name(errs[j]));
            }
        }
        for (size_t i = 0; i < n_children; i++)
            mem_free(children[i]);
        mem_free(children);
    }
    mem_free(stack);
    buf_deinit(&body);
}

static void cleanup(struct bench *b)
{
    b->phase = NULL;
    if (b->nodes_exist)
        run_untimed(b, KIND_DELETE, b->opt.ops, "cleanup (znodes)");
    if (b->parents_exist)
        run_untimed(b, KIND_DELETE_PARENTS, b->parent_count, "cleanup (parents)");
    b->nodes_exist = false;
    b->parents_exist = false;
    struct session *s = &b->sessions[0];
    int32_t err = sync_call(b, s, ZK_OP_DELETE, b->opt.root, NULL, 0, NULL);
    if (err == ZK_NOTEMPTY) {
        /* Failed ops can leave znodes behind; remove whatever is there. */
        delete_tree(b, b->opt.root);
    } else if (err != ZK_OK && err != ZK_NONODE) {
        fprintf(stderr, "czk-benchmark: delete %s: %s\n", b->opt.root, zk_err_name(err));
        b->failed = true;
    }
    for (size_t i = b->created_ancestor_count; i-- > 0;) {
        err = sync_call(b, s, ZK_OP_DELETE, b->created_ancestors[i], NULL, 0, NULL);
        if (err != ZK_OK && err != ZK_NOTEMPTY && err != ZK_NONODE)
            fprintf(stderr, "czk-benchmark: delete %s: %s\n", b->created_ancestors[i],
                    zk_err_name(err));
    }
}

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

bool bench_read_full(int fd, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool bench_write_full(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads one length-prefixed frame into `frame` (grown as needed). */
static bool read_frame(int fd, struct buf *frame)
{
    uint8_t hdr[4];
    if (!bench_read_full(fd, hdr, 4))
        return false;
    uint32_t len = be32_get(hdr);
    if (len > BENCH_FRAME_MAX)
        return false;
    buf_clear(frame);
    buf_reserve(frame, 4 + (size_t)len);
    memcpy(frame->data, hdr, 4);
    if (!bench_read_full(fd, frame->data + 4, len))
        return false;
    frame->len = 4 + (size_t)len;
    return true;
}

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
    while (read_frame(fd, &in)) {
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
    uint64_t start = now_ns();
    if (!bench_write_full(l->fd, l->req.data, l->req.len))
        bench_die(b, "%s: send: %s", l->name, strerror(errno));
    int32_t got;
    do {
        if (!read_frame(l->fd, &l->reply) || l->reply.len < 8)
            bench_die(b, "%s: the peer closed the connection or sent a bad frame", l->name);
        got = (int32_t)be32_get(l->reply.data + 4);
    } while (got != xid && is_special_xid(got));
    uint64_t end = now_ns();
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
    qsort(l->lat_ns, count, sizeof *l->lat_ns, cmp_u64);
    double seconds = (double)l->total_ns / 1e9;
    double rate = seconds > 0 ? (double)count / seconds : 0;
    double p50 = percentile_us(l->lat_ns, count, 0.50);
    double p99 = percentile_us(l->lat_ns, count, 0.99);
    double p999 = percentile_us(l->lat_ns, count, 0.999);
    fprintf(b->human,
            "%-14s %9zu %7zu %8.3f %11.1f %9.1f %9.1f %9.1f  (request %zu B, reply %zu B)", l->name,
            count, l->errors, seconds, rate, p50, p99, p999, l->req.len, l->reply_len);
    if (l->errors > 0)
        fprintf(b->human, "  FAILED: %zu errors", l->errors);
    fputc('\n', b->human);
    fflush(b->human);
    if (!b->opt.json)
        return;
    printf("{\"label\":");
    json_string(stdout, b->opt.label);
    printf(",\"phase\":\"%s\",\"ok\":%s,\"ops\":%zu,\"errors\":%zu,\"seconds\":%.6f,"
           "\"ops_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
           "\"mean_us\":%.2f,\"request_bytes\":%zu,\"reply_bytes\":%zu}\n",
           l->name, l->errors == 0 ? "true" : "false", count, l->errors, seconds, rate, p50, p99,
           p999, count ? seconds * 1e6 / (double)count : 0, l->req.len, l->reply_len);
    fflush(stdout);
}

static void probe_path(const struct bench *b, char *out)
{
    snprintf(out, BENCH_PATH_MAX, "%s/probe", b->opt.root);
}

/* GetDataResponse frame: length, ReplyHeader (16), data (4 + B), Stat (68). */
static size_t get_data_reply_len(size_t data_size)
{
    return 4 + 16 + 4 + data_size + 68;
}

/* --latency-probe and --tcp-pingpong: the same getData request bytes, one
 * at a time, to the server and to a local echo thread, interleaved. */
static void run_probes(struct bench *b)
{
    struct probe_lane lanes[2];
    size_t lane_count = 0;
    size_t count = b->opt.probe_count;
    char path[BENCH_PATH_MAX];
    probe_path(b, path);
    struct session *s = NULL;
    struct echo_server echo;
    int echo_fd = -1;
    b->phase = "latency-probe";
    if (b->opt.latency_probe) {
        s = &b->sessions[0];
        int32_t err = sync_call(b, s, ZK_OP_CREATE, path, b->data, b->opt.data_size, NULL);
        if (err != ZK_OK && err != ZK_NODEEXISTS)
            bench_die(b, "create %s: %s", path, zk_err_name(err));
        b->probe_exists = true;
        /* The other sessions sit idle for a while: heartbeat them first. */
        uint64_t now = now_ns();
        for (size_t i = 1; i < b->session_count; i++) {
            send_ping(&b->sessions[i], now);
            if (!session_flush(&b->sessions[i]))
                bench_die(b, "send to the server: %s", strerror(errno));
        }
        set_nonblocking(b, s->fd, false);
        struct probe_lane *l = &lanes[lane_count++];
        probe_lane_init(l, "latency-probe", s->fd, true, count);
        encode_request(&l->req, 0, ZK_OP_GET_DATA, path, NULL, 0, false);
        l->reply_len = get_data_reply_len(b->opt.data_size);
    }
    if (b->opt.tcp_pingpong) {
        echo_server_start(b, &echo, get_data_reply_len(b->opt.data_size), b->opt.probe_cpu_server);
        char port[16];
        snprintf(port, sizeof port, "%u", (unsigned)echo.port);
        echo_fd = connect_tcp(b, "127.0.0.1", port);
        struct probe_lane *l = &lanes[lane_count++];
        probe_lane_init(l, "tcp-pingpong", echo_fd, false, count);
        encode_request(&l->req, 0, ZK_OP_GET_DATA, path, NULL, 0, false);
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
        double zk = percentile_us(lanes[0].lat_ns, count, 0.50);
        double tcp = percentile_us(lanes[1].lat_ns, count, 0.50);
        if (tcp > 0)
            fprintf(b->human, "round trip: getData p50 %.1f us = %.2f x raw TCP p50 %.1f us\n", zk,
                    zk / tcp, tcp);
    }
    if (s) {
        set_nonblocking(b, s->fd, true);
        s->last_send_ns = now_ns();
    }
    if (echo_fd >= 0) {
        close(echo_fd);
        echo_server_stop(&echo);
    }
    for (size_t k = 0; k < lane_count; k++)
        probe_lane_deinit(&lanes[k]);
}

/* --probe-seconds: the getData probe of bench_probe.c on session 0. */
static void run_timed_probe(struct bench *b)
{
    char path[BENCH_PATH_MAX];
    probe_path(b, path);
    struct session *s = &b->sessions[0];
    int32_t err = sync_call(b, s, ZK_OP_CREATE, path, b->data, b->opt.data_size, NULL);
    if (err != ZK_OK && err != ZK_NODEEXISTS)
        bench_die(b, "create %s: %s", path, zk_err_name(err));
    b->probe_exists = true;
    set_nonblocking(b, s->fd, false);
    struct buf req;
    buf_init(&req);
    encode_request(&req, 0, ZK_OP_GET_DATA, path, NULL, 0, false);
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
    set_nonblocking(b, s->fd, true);
    s->last_send_ns = now_ns();
}

/* ---- the watch load (--watches) ---- */

/* VmRSS of one server process in kB, or -1. */
static long server_rss_kb(long pid)
{
    char path[64];
    char line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* VmRSS of every --server-pid in kB, summed; -1 if one cannot be read or none given. */
static long servers_rss_kb(const struct bench_options *o)
{
    long sum = 0;
    for (size_t i = 0; i < o->server_pid_count; i++) {
        long kb = server_rss_kb(o->server_pids[i]);
        if (kb < 0)
            return -1;
        sum += kb;
    }
    return o->server_pid_count > 0 ? sum : -1;
}

static void run_mem_cmd(const struct bench *b, const char *point)
{
    if (!b->opt.mem_cmd)
        return;
    fflush(stdout);
    fflush(stderr);
    if (setenv("BENCH_MEM_POINT", point, 1) != 0 || system(b->opt.mem_cmd) != 0)
        fprintf(stderr, "czk-benchmark: --mem-cmd failed at %s\n", point);
}

/* Points leaf_path and parent_path at a layout of n leaves under `root`. */
static void use_tree(struct bench *b, const char *root, size_t n)
{
    snprintf(b->tree_root, sizeof b->tree_root, "%s", root);
    b->opt.ops = n;
    b->parent_count = (n + BENCH_CHILDREN_PER_PARENT - 1) / BENCH_CHILDREN_PER_PARENT;
}

/* run_ops on one session only: the others neither send nor read meanwhile. */
static void run_ops_on(struct bench *b, struct session *s, enum bench_kind kind, size_t n)
{
    struct session *saved = b->sessions;
    size_t saved_count = b->session_count;
    b->sessions = s;
    b->session_count = 1;
    struct run_stats st;
    stats_init(&st, n);
    run_ops(b, kind, n, &st, ZK_OK, b->opt.outstanding);
    if (st.errors > 0)
        bench_die(b, "%zu of %zu ops failed (first: %s)", st.errors, n,
                  st.first_err ? zk_err_name(st.first_err) : "unexpected reply body");
    mem_free(st.lat_ns);
    b->sessions = saved;
    b->session_count = saved_count;
}

static void report_samples(const struct bench *b, const char *name, uint64_t *ns, size_t n,
                           const char *extra_json)
{
    qsort(ns, n, sizeof *ns, cmp_u64);
    double p50 = percentile_us(ns, n, 0.50);
    double p99 = percentile_us(ns, n, 0.99);
    double max = n ? (double)ns[n - 1] / 1000.0 : 0;
    fprintf(b->human, "%-28s %9zu samples  p50 %10.1f us  p99 %10.1f us  max %10.1f us\n", name, n,
            p50, p99, max);
    fflush(b->human);
    if (!b->opt.json)
        return;
    printf("{\"label\":");
    json_string(stdout, b->opt.label);
    printf(",\"phase\":\"%s\",\"ok\":true,\"samples\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"max_us\":%.1f%s}\n",
           name, n, p50, p99, max, extra_json ? extra_json : "");
    fflush(stdout);
}

/* setData round trips, one at a time, each on a znode that a second session
 * has just set a data watch on (untimed): the write fires that watch, plus
 * the recursive one when the znode is under it. Both sessions are new, so
 * that none idles past its timeout during a long registration. */
static void watch_set_samples(struct bench *b, const char *name, const char *root, size_t n_leaves)
{
    size_t n = b->opt.watch_samples;
    uint64_t *ns = mem_calloc(n ? n : 1, sizeof *ns);
    struct session setter, watcher;
    session_connect(b, &setter, 0);
    session_connect(b, &watcher, 0);
    char saved_root[sizeof b->tree_root];
    size_t saved_ops = b->opt.ops;
    memcpy(saved_root, b->tree_root, sizeof saved_root);
    use_tree(b, root, n_leaves);
    char path[BENCH_PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        leaf_path(b, i % n_leaves, path);
        set_nonblocking(b, watcher.fd, true);
        int32_t err = sync_call_w(b, &watcher, ZK_OP_GET_DATA, path, NULL, 0, true, NULL);
        if (err != ZK_OK)
            bench_die(b, "getData %s: %s", path, zk_err_name(err));
        uint64_t t0 = now_ns();
        err = sync_call(b, &setter, ZK_OP_SET_DATA, path, b->data_set, b->opt.data_size, NULL);
        ns[i] = now_ns() - t0;
        if (err != ZK_OK)
            bench_die(b, "setData %s: %s", path, zk_err_name(err));
    }
    use_tree(b, saved_root, saved_ops);
    report_samples(b, name, ns, n, NULL);
    session_close(b, &setter);
    session_close(b, &watcher);
    mem_free(ns);
}

/* The closeSession round trip of new sessions holding k data watches each
 * (k distinct leaves of `root`; k = 0: none), and the time from sending it
 * to the reply of an exists sent by another session right after the close
 * reply: a server that replies first and drops the watches afterwards (as
 * Apache ZooKeeper does) shows their cost only in the second figure. */
static void watch_close_samples(struct bench *b, const char *name, const char *root, size_t k)
{
    enum { REPS = 5 };
    uint64_t ns[REPS];
    uint64_t next_ns[REPS];
    char saved_root[sizeof b->tree_root];
    size_t saved_ops = b->opt.ops;
    memcpy(saved_root, b->tree_root, sizeof saved_root);
    for (size_t r = 0; r < REPS; r++) {
        struct session s, probe;
        session_connect(b, &s, 0);
        session_connect(b, &probe, 0);
        if (k > 0) {
            use_tree(b, root, k);
            run_ops_on(b, &s, KIND_WATCH_GET, k);
            use_tree(b, saved_root, saved_ops);
        }
        uint64_t t0 = now_ns();
        session_close(b, &s);
        ns[r] = now_ns() - t0;
        (void)sync_call(b, &probe, ZK_OP_EXISTS, b->opt.root, NULL, 0, NULL);
        next_ns[r] = now_ns() - t0;
        session_close(b, &probe);
    }
    char extra[64];
    snprintf(extra, sizeof extra, ",\"watches_per_session\":%zu", k);
    report_samples(b, name, ns, REPS, extra);
    char next_name[128];
    snprintf(next_name, sizeof next_name, "%s+next", name);
    report_samples(b, next_name, next_ns, REPS, extra);
}

static void run_watches(struct bench *b)
{
    size_t n = b->opt.watches;
    size_t m = b->opt.watch_subtree;
    char root[BENCH_ROOT_MAX + 8];
    char sub[BENCH_ROOT_MAX + 8];
    snprintf(root, sizeof root, "%s", b->opt.root);
    snprintf(sub, sizeof sub, "%s/r", b->opt.root);
    const char *saved_phase = b->phase;

    /* the znodes: n leaves under ROOT, m under ROOT/r */
    use_tree(b, root, n);
    if (!b->parents_exist) {
        run_untimed(b, KIND_CREATE_PARENTS, b->parent_count, "setup (parents)");
        b->parents_exist = true;
    }
    if (!b->nodes_exist) {
        run_untimed(b, KIND_CREATE, n, "setup (create znodes)");
        b->nodes_exist = true;
    }
    if (m > 0) {
        int32_t err = sync_call(b, &b->sessions[0], ZK_OP_CREATE, sub, NULL, 0, NULL);
        if (err != ZK_OK)
            bench_die(b, "create %s: %s", sub, zk_err_name(err));
        use_tree(b, sub, m);
        run_untimed(b, KIND_CREATE_PARENTS, b->parent_count, "setup (subtree parents)");
        run_untimed(b, KIND_CREATE, m, "setup (subtree znodes)");
        use_tree(b, root, n);
    }
    const char *sample_root = m > 0 ? sub : root;
    size_t sample_leaves = m > 0 ? m : n;
    size_t close_k = b->opt.watch_close;
    if (close_k > sample_leaves)
        close_k = sample_leaves;
    fprintf(b->human, "watch load: %zu data watches on %zu znodes over %zu sessions; %s\n", n, n,
            b->session_count,
            m > 0 ? "a persistent recursive watch on ROOT/r" : "no recursive watch");

    /* before: the same operations with no other watch registered */
    watch_set_samples(b, "set-watched (no load)", sample_root, sample_leaves);
    watch_close_samples(b, "close (0 watches, no load)", sample_root, 0);
    watch_close_samples(b, "close (K watches, no load)", sample_root, close_k);

    long rss0 = servers_rss_kb(&b->opt);
    run_mem_cmd(b, "before");
    print_header(b);
    run_phase(b, KIND_WATCH_GET);
    if (m > 0) {
        b->phase = "addWatch";
        int32_t err = sync_call(b, &b->sessions[0], ZK_OP_ADD_WATCH, sub, NULL, 0, NULL);
        if (err != ZK_OK)
            bench_die(b, "addWatch %s: %s", sub, zk_err_name(err));
        b->phase = saved_phase;
    }
    long rss1 = servers_rss_kb(&b->opt);
    run_mem_cmd(b, "after");
    if (rss0 >= 0 && rss1 >= 0) {
        double per = (double)(rss1 - rss0) * 1024.0 / (double)n;
        fprintf(b->human, "server RSS %ld kB -> %ld kB: %+.1f bytes per watch\n", rss0, rss1, per);
        if (b->opt.json) {
            printf("{\"label\":");
            json_string(stdout, b->opt.label);
            printf(",\"phase\":\"watch-memory\",\"ok\":true,\"watches\":%zu,\"rss_before_kb\":%ld,"
                   "\"rss_after_kb\":%ld,\"bytes_per_watch\":%.1f}\n",
                   n, rss0, rss1, per);
            fflush(stdout);
        }
    }

    /* with every watch in place */
    watch_set_samples(b, "set-watched (loaded)", sample_root, sample_leaves);
    watch_close_samples(b, "close (0 watches, loaded)", sample_root, 0);
    watch_close_samples(b, "close (K watches, loaded)", sample_root, close_k);

    /* the loading sessions close with ~n/sessions watches each (the first
     * also holds the recursive watch); new ones take their place */
    uint64_t *ns = mem_calloc(b->session_count, sizeof *ns);
    for (size_t i = 0; i < b->session_count; i++) {
        uint64_t t0 = now_ns();
        session_close(b, &b->sessions[i]);
        ns[i] = now_ns() - t0;
        session_connect(b, &b->sessions[i], i);
    }
    char extra[64];
    snprintf(extra, sizeof extra, ",\"watches_per_session\":%zu", n / b->session_count);
    report_samples(b, "close (loading sessions)", ns, b->session_count, extra);
    mem_free(ns);

    if (m > 0) {
        use_tree(b, sub, m);
        run_untimed(b, KIND_DELETE, m, "cleanup (subtree znodes)");
        run_untimed(b, KIND_DELETE_PARENTS, b->parent_count, "cleanup (subtree parents)");
        (void)sync_call(b, &b->sessions[0], ZK_OP_DELETE, sub, NULL, 0, NULL);
    }
    use_tree(b, root, n);
}

/* ---- the failover writer (--failover-writer) ---- */

/* Set by SIGUSR1, which the harness sends just before it kills a member. */
static volatile sig_atomic_t failover_mark_pending;
static volatile uint64_t failover_mark_ns;

static void failover_on_mark(int sig)
{
    (void)sig;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
    failover_mark_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    failover_mark_pending = 1;
}

/* One session that survives its member: a client of the whole --server list,
 * as the official clients are (ClientCnxn: next host, same session id and
 * password, lastZxidSeen). */
struct failover_client {
    int fd; /* -1: not connected */
    size_t member;
    int64_t session_id; /* 0: none yet */
    uint8_t passwd[BENCH_PASSWD_LEN];
    int64_t last_zxid;
    int32_t next_xid;
    struct buf out;
    struct buf in;
    size_t attempts; /* connection attempts since the last mark */
    bool resumed;    /* the last established session was an existing one */
};

/* A connected socket to srv, or -1: a dead member is no error here. */
static int failover_dial(const struct bench_server *srv)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(srv->host, srv->port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    int one = 1;
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void failover_drop(struct failover_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_clear(&c->out);
    buf_clear(&c->in);
}

/* Sends c->out and waits for one frame until deadline_ns; its length with
 * the prefix, or 0 (and *why set) if the member failed us. */
static size_t failover_exchange(const struct bench *b, struct failover_client *c,
                                uint64_t deadline_ns, const char **why)
{
    size_t off = 0;
    while (off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *why = "send failed";
            return 0;
        }
        off += (size_t)n;
    }
    buf_clear(&c->out);
    for (;;) {
        size_t n = frame_ready(b, &c->in, 0);
        if (n > 0)
            return n;
        uint64_t now = now_ns();
        if (now >= deadline_ns) {
            *why = "no reply in time";
            return 0;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int rc = poll(&p, 1, (int)((deadline_ns - now) / 1000000u) + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            continue; /* the deadline check above decides */
        buf_reserve(&c->in, BENCH_READ_CHUNK);
        ssize_t got = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            *why = got == 0 ? "connection closed" : "receive failed";
            return 0;
        }
        c->in.len += (size_t)got;
    }
}

/* One ConnectRequest to member `member`; true once a session is established. */
static bool failover_handshake(const struct bench *b, struct failover_client *c, size_t member)
{
    c->fd = failover_dial(&b->opt.servers[member]);
    if (c->fd < 0)
        return false;
    c->member = member;
    size_t start = frame_begin(&c->out);
    struct zk_connect_request req = {.protocol_version = 0,
                                     .last_zxid_seen = c->last_zxid,
                                     .time_out = BENCH_SESSION_TIMEOUT_MS,
                                     .session_id = c->session_id,
                                     .passwd = jute_buf_of(c->passwd, sizeof c->passwd)};
    zk_connect_request_encode(&c->out, &req);
    jute_write_bool(&c->out, false);
    frame_end(&c->out, start);
    const char *why = NULL;
    size_t n = failover_exchange(b, c, now_ns() + BENCH_FAILOVER_TIMEOUT_MS * 1000000ull, &why);
    if (n == 0) {
        failover_drop(c);
        return false;
    }
    struct jute_reader r;
    jute_reader_init(&r, c->in.data + 4, n - 4);
    struct zk_connect_response resp;
    if (zk_connect_response_decode(&r, &resp) != 0 || resp.time_out <= 0 || resp.session_id == 0 ||
        resp.passwd.len != BENCH_PASSWD_LEN) {
        /* expired (or never ours): start a new session on the next try */
        c->session_id = 0;
        memset(c->passwd, 0, sizeof c->passwd);
        failover_drop(c);
        return false;
    }
    c->resumed = c->session_id != 0;
    c->session_id = resp.session_id;
    memcpy(c->passwd, resp.passwd.ptr, sizeof c->passwd);
    buf_consume(&c->in, n);
    return true;
}

/* Tries the members in turn from the one after the last, until one takes
 * the session. */
static void failover_connect(const struct bench *b, struct failover_client *c)
{
    for (;;) {
        size_t member = (c->member + 1) % b->opt.server_count;
        c->attempts++;
        if (failover_handshake(b, c, member))
            return;
        c->member = member;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = BENCH_FAILOVER_BACKOFF_MS * 1000000L};
        (void)nanosleep(&ts, NULL);
    }
}

/* One request and its reply; false (with *why) if the member failed us. */
static bool failover_call(const struct bench *b, struct failover_client *c, int32_t op,
                          const char *path, const uint8_t *data, size_t data_len, int32_t *err,
                          int64_t *zxid, const char **why)
{
    int32_t xid = c->next_xid++;
    encode_request(&c->out, xid, op, path, data, data_len, false);
    uint64_t deadline = now_ns() + BENCH_FAILOVER_TIMEOUT_MS * 1000000ull;
    for (;;) {
        size_t n = failover_exchange(b, c, deadline, why);
        if (n == 0)
            return false;
        struct jute_reader r;
        jute_reader_init(&r, c->in.data + 4, n - 4);
        struct zk_reply_header h;
        if (zk_reply_header_decode(&r, &h) != 0)
            bench_die(b, "malformed ReplyHeader");
        buf_consume(&c->in, n);
        if (is_special_xid(h.xid))
            continue;
        if (h.xid != xid)
            bench_die(b, "reply xid %" PRId32 ", expected %" PRId32, h.xid, xid);
        if (h.zxid > c->last_zxid)
            c->last_zxid = h.zxid;
        *err = h.err;
        *zxid = h.zxid;
        return true;
    }
}

static void failover_report(const struct bench *b, const char *key, const char *value,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One JSON line on stdout: {"label":..,"phase":"failover",KEY:VALUE, then fmt}. */
static void failover_report(const struct bench *b, const char *key, const char *value,
                            const char *fmt, ...)
{
    printf("{\"label\":");
    json_string(stdout, b->opt.label);
    printf(",\"phase\":\"failover\",\"%s\":", key);
    json_string(stdout, value);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("}\n");
    fflush(stdout);
}

/* What the writer knows of the last mark (SIGUSR1). */
struct failover_mark {
    bool armed;       /* marked, and no write of a later epoch acknowledged yet */
    uint64_t ns;      /* when the signal came */
    int64_t epoch;    /* of the last write acknowledged before it */
    size_t member;    /* the client's member then */
    uint64_t lost_ns; /* the first failed write after the mark, 0: none */
    const char *lost_why;
    size_t failures;
    size_t acks_old_epoch; /* acknowledged after the mark, still in the old epoch */
};

static void failover_take_mark(struct failover_mark *m, struct failover_client *c,
                               int64_t acked_zxid)
{
    if (!failover_mark_pending)
        return;
    failover_mark_pending = 0;
    *m = (struct failover_mark){.armed = true,
                                .ns = failover_mark_ns,
                                .epoch = acked_zxid >> 32,
                                .member = c->member,
                                .lost_why = ""};
    c->attempts = 0;
}

/* --failover-writer: setData of --root, one at a time, until killed. After a
 * SIGUSR1 (the mark), the failover time runs from the mark to the first write
 * acknowledged with a zxid of a later epoch than the last acknowledged before
 * the mark: the first write the new leader committed. (A failed write is not
 * the criterion: Apache's followers keep their client connections through an
 * election, and a write sent to a dying leader may still be acknowledged.) */
static int failover_writer(struct bench *b)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = failover_on_mark;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        bench_die(b, "sigaction: %s", strerror(errno));
    struct failover_client c = {.fd = -1, .member = b->opt.server_count - 1, .next_xid = 1};
    buf_init(&c.out);
    buf_init(&c.in);
    const char *why = NULL;
    int32_t err = 0;
    int64_t zxid = 0;
    int64_t acked_zxid = 0; /* of the last acknowledged write */
    failover_connect(b, &c);
    while (!failover_call(b, &c, ZK_OP_CREATE, b->opt.root, b->data, b->opt.data_size, &err, &zxid,
                          &why)) {
        failover_drop(&c);
        failover_connect(b, &c);
    }
    if (err != ZK_OK && err != ZK_NODEEXISTS)
        bench_die(b, "create %s: %s", b->opt.root, zk_err_name(err));
    acked_zxid = zxid;
    failover_report(b, "event", "ready", ",\"member\":\"%s:%s\"", b->opt.servers[c.member].host,
                    b->opt.servers[c.member].port);

    struct failover_mark m = {0};
    for (;;) {
        failover_take_mark(&m, &c, acked_zxid);
        if (c.fd < 0)
            failover_connect(b, &c);
        why = NULL;
        bool ok = failover_call(b, &c, ZK_OP_SET_DATA, b->opt.root, b->data_set, b->opt.data_size,
                                &err, &zxid, &why);
        uint64_t now = now_ns();
        if (ok && err != ZK_OK) {
            fprintf(stderr, "czk-benchmark: setData %s: %s\n", b->opt.root, zk_err_name(err));
            why = zk_err_name(err);
            ok = false;
        }
        if (!ok) {
            /* the signal may have cut the wait short that failed */
            failover_take_mark(&m, &c, acked_zxid);
            if (m.armed && m.failures++ == 0) {
                m.lost_ns = now;
                m.lost_why = why ? why : "?";
            }
            failover_drop(&c);
            continue;
        }
        acked_zxid = zxid;
        if (!m.armed)
            continue;
        if ((zxid >> 32) > m.epoch) {
            const struct bench_server *from = &b->opt.servers[m.member];
            const struct bench_server *to = &b->opt.servers[c.member];
            failover_report(
                b, "first_failure", m.lost_why,
                ",\"ms\":%.1f,\"failed_after_ms\":%.1f,\"failed_writes\":%zu,"
                "\"acks_old_epoch\":%zu,\"from\":\"%s:%s\",\"to\":\"%s:%s\",\"attempts\":%zu,"
                "\"session_resumed\":%s,\"epoch\":%" PRId64 ",\"new_epoch\":%" PRId64,
                (double)(now - m.ns) / 1e6, m.lost_ns ? (double)(m.lost_ns - m.ns) / 1e6 : -1.0,
                m.failures, m.acks_old_epoch, from->host, from->port, to->host, to->port,
                c.attempts, c.resumed ? "true" : "false", m.epoch, zxid >> 32);
            m.armed = false;
        } else if (now - m.ns > BENCH_FAILOVER_QUIET_MS * 1000000ull) {
            failover_report(b, "first_failure", m.lost_why, ",\"ms\":null,\"epoch\":%" PRId64,
                            m.epoch);
            m.armed = false;
        } else {
            m.acks_old_epoch++;
        }
    }
}

/* ---- main ---- */

static void options_default(struct bench_options *o)
{
    memset(o, 0, sizeof *o);
    strcpy(o->servers[0].host, "127.0.0.1");
    strcpy(o->servers[0].port, "2181");
    o->server_count = 1;
    o->sessions = 8;
    o->outstanding = 32;
    o->ops = 100000;
    o->data_size = 100;
    strcpy(o->root, "/czk-bench");
    for (size_t i = 0; i < PHASE_NAME_COUNT; i++)
        o->phases[i] = phase_names[i].kind;
    o->phase_count = PHASE_NAME_COUNT;
    o->label = "";
    o->probe_count = 20000;
    o->probe_cpu_client = -1;
    o->probe_cpu_server = -1;
    o->watch_subtree = 100000;
    o->watch_close = 10000;
    o->watch_samples = 1000;
}

static int parse_options(struct bench_options *o, int argc, char **argv)
{
    enum {
        OPT_SERVER = 256,
        OPT_SESSIONS,
        OPT_OUTSTANDING,
        OPT_OPS,
        OPT_PHASES,
        OPT_DATA_SIZE,
        OPT_ROOT,
        OPT_CLEAN,
        OPT_SERVER_PID,
        OPT_LABEL,
        OPT_JSON,
        OPT_LATENCY_PROBE,
        OPT_TCP_PINGPONG,
        OPT_PROBE_COUNT,
        OPT_PROBE_CPUS,
        OPT_WATCHES,
        OPT_WATCH_SUBTREE,
        OPT_WATCH_CLOSE,
        OPT_WATCH_SAMPLES,
        OPT_MEM_CMD,
        OPT_TIMED_OPS,
        OPT_SLOW,
        OPT_SETUP_OUTSTANDING,
        OPT_FAILOVER_WRITER,
        OPT_KEEP,
        OPT_PROBE_SECONDS,
        OPT_HELP,
    };
    static const struct option longopts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"sessions", required_argument, NULL, OPT_SESSIONS},
        {"outstanding", required_argument, NULL, OPT_OUTSTANDING},
        {"ops", required_argument, NULL, OPT_OPS},
        {"phases", required_argument, NULL, OPT_PHASES},
        {"data-size", required_argument, NULL, OPT_DATA_SIZE},
        {"root", required_argument, NULL, OPT_ROOT},
        {"clean", no_argument, NULL, OPT_CLEAN},
        {"server-pid", required_argument, NULL, OPT_SERVER_PID},
        {"label", required_argument, NULL, OPT_LABEL},
        {"json", no_argument, NULL, OPT_JSON},
        {"latency-probe", no_argument, NULL, OPT_LATENCY_PROBE},
        {"tcp-pingpong", no_argument, NULL, OPT_TCP_PINGPONG},
        {"probe-count", required_argument, NULL, OPT_PROBE_COUNT},
        {"probe-cpus", required_argument, NULL, OPT_PROBE_CPUS},
        {"watches", required_argument, NULL, OPT_WATCHES},
        {"watch-subtree", required_argument, NULL, OPT_WATCH_SUBTREE},
        {"watch-close", required_argument, NULL, OPT_WATCH_CLOSE},
        {"watch-samples", required_argument, NULL, OPT_WATCH_SAMPLES},
        {"mem-cmd", required_argument, NULL, OPT_MEM_CMD},
        {"timed-ops", required_argument, NULL, OPT_TIMED_OPS},
        {"slow", required_argument, NULL, OPT_SLOW},
        {"setup-outstanding", required_argument, NULL, OPT_SETUP_OUTSTANDING},
        {"failover-writer", no_argument, NULL, OPT_FAILOVER_WRITER},
        {"keep", no_argument, NULL, OPT_KEEP},
        {"probe-seconds", required_argument, NULL, OPT_PROBE_SECONDS},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case OPT_SERVER:
            ok = parse_servers(o, optarg);
            break;
        case OPT_SESSIONS:
            ok = parse_size(optarg, 1, BENCH_SESSIONS_MAX, &o->sessions);
            break;
        case OPT_OUTSTANDING:
            ok = parse_size(optarg, 1, BENCH_OUTSTANDING_MAX, &o->outstanding);
            break;
        case OPT_SLOW:
            ok = parse_size(optarg, 1, SIZE_MAX / 2000, &o->slow_us);
            break;
        case OPT_TIMED_OPS:
            ok = parse_size(optarg, 1, SIZE_MAX / 2, &o->timed_ops);
            break;
        case OPT_SETUP_OUTSTANDING:
            ok = parse_size(optarg, 1, BENCH_OUTSTANDING_MAX, &o->setup_outstanding);
            break;
        case OPT_OPS:
            ok = parse_size(optarg, 1, 100000000, &o->ops);
            break;
        case OPT_PHASES:
            ok = parse_phases(o, optarg);
            o->phases_given = true;
            break;
        case OPT_WATCHES:
            ok = parse_size(optarg, 1, 100000000, &o->watches);
            break;
        case OPT_WATCH_SUBTREE:
            ok = parse_size(optarg, 0, 100000000, &o->watch_subtree);
            break;
        case OPT_WATCH_CLOSE:
            ok = parse_size(optarg, 0, 100000000, &o->watch_close);
            break;
        case OPT_WATCH_SAMPLES:
            ok = parse_size(optarg, 1, 10000000, &o->watch_samples);
            break;
        case OPT_MEM_CMD:
            o->mem_cmd = optarg;
            break;
        case OPT_DATA_SIZE:
            ok = parse_size(optarg, 0, BENCH_DATA_SIZE_MAX, &o->data_size);
            break;
        case OPT_ROOT:
            ok = parse_root(o, optarg);
            break;
        case OPT_CLEAN:
            o->clean = true;
            break;
        case OPT_FAILOVER_WRITER:
            o->failover_writer = true;
            break;
        case OPT_KEEP:
            o->keep = true;
            break;
        case OPT_PROBE_SECONDS: {
            char *end = NULL;
            errno = 0;
            o->probe_seconds = strtod(optarg, &end);
            ok = errno == 0 && end != optarg && *end == '\0' && o->probe_seconds >= 0 &&
                 o->probe_seconds <= 86400;
            o->probe_timed = true;
            break;
        }
        case OPT_SERVER_PID:
            ok = parse_pids(o, optarg);
            break;
        case OPT_LABEL:
            o->label = optarg;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_LATENCY_PROBE:
            o->latency_probe = true;
            break;
        case OPT_TCP_PINGPONG:
            o->tcp_pingpong = true;
            break;
        case OPT_PROBE_CPUS:
            ok = parse_cpus(o, optarg);
            break;
        case OPT_PROBE_COUNT:
            ok = parse_size(optarg, 1, 10000000, &o->probe_count);
            break;
        case OPT_HELP:
        case 'h':
            usage(stdout);
            exit(0);
        default:
            ok = false;
            break;
        }
        if (!ok) {
            if (c != '?')
                fprintf(stderr, "czk-benchmark: bad value for --%s: %s\n",
                        longopts[c - OPT_SERVER].name, optarg ? optarg : "");
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "czk-benchmark: unexpected argument %s\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct bench b;
    memset(&b, 0, sizeof b);
    options_default(&b.opt);
    if (parse_options(&b.opt, argc, argv) != 0)
        return 2;
    b.human = b.opt.json || b.opt.failover_writer ? stderr : stdout; /* stdout: JSON only */
    if (b.opt.watches > 0) {
        b.opt.ops = b.opt.watches; /* the watched znodes are the phases' leaves */
        if (!b.opt.phases_given)
            b.opt.phase_count = 0;
    }
    snprintf(b.tree_root, sizeof b.tree_root, "%s", b.opt.root);
    b.clk_tck = sysconf(_SC_CLK_TCK);
    if (b.clk_tck <= 0)
        b.clk_tck = 100;
    b.data = mem_alloc(b.opt.data_size ? b.opt.data_size : 1);
    b.data_set = mem_alloc(b.opt.data_size ? b.opt.data_size : 1);
    memset(b.data, 'c', b.opt.data_size);
    memset(b.data_set, 's', b.opt.data_size);
    b.parent_count = (b.opt.ops + BENCH_CHILDREN_PER_PARENT - 1) / BENCH_CHILDREN_PER_PARENT;

    char servers[BENCH_SERVERS_MAX * 280] = "";
    for (size_t i = 0; i < b.opt.server_count; i++) {
        size_t len = strlen(servers);
        snprintf(servers + len, sizeof servers - len, "%s%s:%s", i ? "," : "",
                 b.opt.servers[i].host, b.opt.servers[i].port);
    }
    fprintf(b.human,
            "czk-benchmark%s%s: server%s %s, %zu sessions x %zu outstanding, %zu ops/phase, "
            "%zu-byte data, root %s%s\n",
            b.opt.label[0] ? " " : "", b.opt.label, b.opt.server_count > 1 ? "s" : "", servers,
            b.opt.sessions, b.opt.outstanding, b.opt.ops, b.opt.data_size, b.opt.root,
            b.opt.server_pid_count > 0 ? ", server CPU from /proc" : "");
    if (b.opt.failover_writer)
        return failover_writer(&b);

    bool need_server =
        b.opt.phase_count > 0 || b.opt.latency_probe || b.opt.watches > 0 || b.opt.probe_timed;
    if (need_server) {
        b.session_count = b.opt.sessions;
        b.sessions = mem_calloc(b.session_count, sizeof *b.sessions);
        b.pfds = mem_calloc(b.session_count, sizeof *b.pfds);
        for (size_t i = 0; i < b.session_count; i++)
            session_connect(&b, &b.sessions[i], i);
        create_root(&b);
        if (!b.root_created) {
            if (!b.opt.clean)
                bench_die(&b,
                          "%s already exists (left by an earlier run?): pass --clean to "
                          "delete it first",
                          b.opt.root);
            delete_tree(&b, b.opt.root);
            create_root(&b);
        }
    }
    if (b.opt.phase_count > 0) {
        run_untimed(&b, KIND_CREATE_PARENTS, b.parent_count, "setup (parents)");
        b.parents_exist = true;
        print_header(&b);
        for (size_t i = 0; i < b.opt.phase_count; i++)
            run_phase(&b, b.opt.phases[i]);
    } else if (b.opt.latency_probe || b.opt.tcp_pingpong) {
        print_header(&b);
    }

    if (b.opt.latency_probe || b.opt.tcp_pingpong)
        run_probes(&b);

    if (b.opt.watches > 0)
        run_watches(&b);

    if (b.opt.probe_timed)
        run_timed_probe(&b);

    if (need_server) {
        if (b.probe_exists) {
            char path[BENCH_PATH_MAX];
            probe_path(&b, path);
            (void)sync_call(&b, &b.sessions[0], ZK_OP_DELETE, path, NULL, 0, NULL);
        }
        if (!b.opt.keep)
            cleanup(&b);
        for (size_t i = 0; i < b.session_count; i++)
            session_close(&b, &b.sessions[i]);
    }
    mem_free(b.sessions);
    mem_free(b.pfds);
    mem_free(b.data);
    mem_free(b.data_set);
    if (b.failed) {
        fprintf(stderr, "czk-benchmark: FAILED: some operations returned errors (see above)\n");
        return 1;
    }
    return 0;
}
