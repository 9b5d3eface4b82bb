/* SPDX-License-Identifier: Apache-2.0 */
/* benchmark.c — czk-benchmark, a ZooKeeper load generator: N sessions with K
 * pipelined requests each, driven by one thread with poll() and encoded with
 * czk's own jute codec. It speaks the plain client protocol, so one run can be
 * pointed at czk-server and another at Apache ZooKeeper with the same client.
 * This file: the options and main(); the rest is in the benchmark_*.c files
 * (benchmark.h). Phases, probes and how to read the figures:
 * docs/PERFORMANCE.md. */
#include "benchmark.h"

#include "base/mem.h"
#include "proto/proto.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

void bench_die(const struct bench *b, const char *fmt, ...)
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

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

const char *bench_phase_name(enum bench_kind kind)
{
    for (size_t i = 0; i < PHASE_NAME_COUNT; i++)
        if (phase_names[i].kind == kind)
            return phase_names[i].name;
    if (kind == KIND_WATCH_GET)
        return "watch-register";
    return kind == KIND_CREATE_PARENTS ? "setup-parents" : "cleanup-parents";
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
        return bench_failover_writer(&b);

    bool need_server =
        b.opt.phase_count > 0 || b.opt.latency_probe || b.opt.watches > 0 || b.opt.probe_timed;
    if (need_server) {
        b.session_count = b.opt.sessions;
        b.sessions = mem_calloc(b.session_count, sizeof *b.sessions);
        b.pfds = mem_calloc(b.session_count, sizeof *b.pfds);
        for (size_t i = 0; i < b.session_count; i++)
            bench_session_connect(&b, &b.sessions[i], i);
        bench_create_root(&b);
        if (!b.root_created) {
            if (!b.opt.clean)
                bench_die(&b,
                          "%s already exists (left by an earlier run?): pass --clean to "
                          "delete it first",
                          b.opt.root);
            bench_delete_tree(&b, b.opt.root);
            bench_create_root(&b);
        }
    }
    if (b.opt.phase_count > 0) {
        bench_run_untimed(&b, KIND_CREATE_PARENTS, b.parent_count, "setup (parents)");
        b.parents_exist = true;
        bench_print_header(&b);
        for (size_t i = 0; i < b.opt.phase_count; i++)
            bench_run_phase(&b, b.opt.phases[i]);
    } else if (b.opt.latency_probe || b.opt.tcp_pingpong) {
        bench_print_header(&b);
    }

    if (b.opt.latency_probe || b.opt.tcp_pingpong)
        bench_run_probes(&b);

    if (b.opt.watches > 0)
        bench_run_watches(&b);

    if (b.opt.probe_timed)
        bench_run_timed_probe(&b);

    if (need_server) {
        if (b.probe_exists) {
            char path[BENCH_PATH_MAX];
            bench_probe_path(&b, path);
            (void)bench_sync_call(&b, &b.sessions[0], ZK_OP_DELETE, path, NULL, 0, NULL);
        }
        if (!b.opt.keep)
            bench_cleanup(&b);
        for (size_t i = 0; i < b.session_count; i++)
            bench_session_close(&b, &b.sessions[i]);
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
