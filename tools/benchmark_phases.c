/* SPDX-License-Identifier: Apache-2.0 */
/* benchmark_phases.c — czk-benchmark's workload: the pipelined engine (every
 * session keeps K requests in flight, replies checked in order), the timed
 * phases with their untimed setup, the server's and the client's CPU time,
 * the root created and everything removed at the end. */
#include "base/mem.h"
#include "benchmark.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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

/* ---- the pipelined engine ---- */

static void parent_path(const struct bench *b, size_t parent, char *out)
{
    snprintf(out, BENCH_PATH_MAX, "%s/p%zu", b->tree_root, parent);
}

void bench_leaf_path(const struct bench *b, size_t leaf, char *out)
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
        bench_leaf_path(b, index, path);
        data = b->data;
        data_len = b->opt.data_size;
        break;
    case KIND_SET:
        op = ZK_OP_SET_DATA;
        bench_leaf_path(b, index, path);
        data = b->data_set;
        data_len = b->opt.data_size;
        break;
    case KIND_GET:
        op = ZK_OP_GET_DATA;
        bench_leaf_path(b, index, path);
        expect = (int32_t)b->opt.data_size;
        break;
    case KIND_EXISTS:
        op = ZK_OP_EXISTS;
        bench_leaf_path(b, index, path);
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
        bench_leaf_path(b, index, path);
        break;
    case KIND_MIXED: {
        uint64_t r = rng_next(&b->rng);
        bench_leaf_path(b, (size_t)(r % b->opt.ops), path);
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
        bench_leaf_path(b, index, path);
        expect = (int32_t)b->opt.data_size;
        break;
    }
    int32_t xid = s->next_xid++;
    bench_encode_request(&s->out, xid, op, path, data, data_len, watch);
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
        size_t n = bench_frame_ready(b, &s->in, off);
        if (n == 0)
            break;
        struct jute_reader r;
        jute_reader_init(&r, s->in.data + off + 4, n - 4);
        off += n;
        struct zk_reply_header h;
        if (zk_reply_header_decode(&r, &h) != 0)
            bench_die(b, "malformed ReplyHeader");
        if (bench_is_special_xid(h.xid))
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

void bench_send_ping(struct session *s, uint64_t now)
{
    bench_encode_request(&s->out, ZK_XID_PING, ZK_OP_PING, NULL, NULL, 0, false);
    s->last_send_ns = now;
}

void bench_run_ops(struct bench *b, enum bench_kind kind, size_t n_ops, struct run_stats *st,
                   int32_t tolerated_err, size_t outstanding)
{
    size_t next = 0;
    uint64_t last_progress_ns = bench_now_ns();
    while (st->completed < n_ops) {
        uint64_t now = bench_now_ns();
        for (size_t i = 0; i < b->session_count; i++) {
            struct session *s = &b->sessions[i];
            while (s->ring_count < outstanding && next < n_ops)
                enqueue_op(b, s, kind, next++, now);
            /* Idle sessions still owe the server a heartbeat. */
            if (s->ring_count == 0 && now - s->last_send_ns > BENCH_PING_IDLE_MS * 1000000ull)
                bench_send_ping(s, now);
            if (!bench_session_flush(s))
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
        now = bench_now_ns();
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
                bench_session_read_some(b, s);
                if (session_take_replies(b, s, st, tolerated_err, now) > 0)
                    last_progress_ns = now;
            }
        }
    }
}

void bench_stats_init(struct run_stats *st, size_t n_ops)
{
    memset(st, 0, sizeof *st);
    st->lat_ns = mem_calloc(n_ops ? n_ops : 1, sizeof *st->lat_ns);
}

void bench_run_untimed(struct bench *b, enum bench_kind kind, size_t n_ops, const char *why)
{
    struct run_stats st;
    bench_stats_init(&st, n_ops);
    const char *saved = b->phase;
    b->phase = why;
    bool is_create = kind == KIND_CREATE || kind == KIND_CREATE_PARENTS;
    bench_run_ops(b, kind, n_ops, &st, is_create ? ZK_NODEEXISTS : ZK_NONODE,
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
        int32_t err = bench_sync_call(b, &b->sessions[i], ZK_OP_SYNC, b->opt.root, NULL, 0, NULL);
        if (err != ZK_OK)
            bench_die(b, "sync %s: %s", b->opt.root, zk_err_name(err));
    }
}

void bench_run_phase(struct bench *b, enum bench_kind kind)
{
    const char *name = bench_phase_name(kind);
    size_t n = b->opt.ops;
    /* Each phase finds the znodes it needs; setting them up is not timed. */
    if (kind == KIND_CREATE && b->nodes_exist) {
        bench_run_untimed(b, KIND_DELETE, n, "setup (delete before create)");
        b->nodes_exist = false;
    } else if (kind != KIND_CREATE && !b->nodes_exist) {
        bench_run_untimed(b, KIND_CREATE, n, "setup (create znodes)");
        b->nodes_exist = true;
    }
    sync_sessions(b);

    struct run_stats st;
    bench_stats_init(&st, n);
    b->phase = name;
    b->rng = 0x9E3779B97F4A7C15ull;
    uint64_t srv0 = 0;
    uint64_t srv1 = 0;
    bool fine = true;
    bool srv_ok = b->opt.server_pid_count > 0 && servers_cpu_ns(&b->opt, b->clk_tck, &fine, &srv0);
    uint64_t cli0 = client_cpu_us();
    uint64_t t0 = bench_now_ns();
    size_t timed = n;
    if (b->opt.timed_ops > 0 && b->opt.timed_ops < n && kind != KIND_CREATE && kind != KIND_DELETE)
        timed = b->opt.timed_ops;
    b->timing = true;
    bench_run_ops(b, kind, timed, &st, ZK_OK, b->opt.outstanding);
    b->timing = false;
    uint64_t t1 = bench_now_ns();
    uint64_t cli1 = client_cpu_us();
    bool fine_start = fine;
    /* Both readings must come from the same source to be subtracted. */
    srv_ok = srv_ok && servers_cpu_ns(&b->opt, b->clk_tck, &fine, &srv1) && fine == fine_start;
    b->phase = NULL;
    if (b->opt.server_pid_count > 0 && !srv_ok)
        fprintf(stderr, "czk-benchmark: cannot read /proc/PID/stat of every --server-pid\n");

    qsort(st.lat_ns, st.lat_count, sizeof *st.lat_ns, bench_cmp_u64);
    struct phase_result r = {
        .name = name,
        .ops = timed,
        .errors = st.errors,
        .first_err = st.first_err,
        .bad_replies = st.bad_replies,
        .seconds = (double)(t1 - t0) / 1e9,
        .p50_us = bench_percentile_us(st.lat_ns, st.lat_count, 0.50),
        .p99_us = bench_percentile_us(st.lat_ns, st.lat_count, 0.99),
        .p999_us = bench_percentile_us(st.lat_ns, st.lat_count, 0.999),
        .max_us = bench_percentile_us(st.lat_ns, st.lat_count, 1.0),
        .server_cpu_us_per_op =
            srv_ok ? (srv1 > srv0 ? (double)(srv1 - srv0) : 0.0) / 1e3 / (double)timed : -1.0,
        .client_cpu_us_per_op = (double)(cli1 - cli0) / (double)timed,
    };
    bench_report(b, &r);
    if (st.errors > 0)
        b->failed = true;
    mem_free(st.lat_ns);

    if (kind == KIND_CREATE)
        b->nodes_exist = true;
    else if (kind == KIND_DELETE)
        b->nodes_exist = false;
}

/* ---- root and cleanup ---- */

void bench_create_root(struct bench *b)
{
    struct session *s = &b->sessions[0];
    char prefix[BENCH_ROOT_MAX];
    size_t len = strlen(b->opt.root);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && b->opt.root[i] != '/')
            continue;
        memcpy(prefix, b->opt.root, i);
        prefix[i] = '\0';
        int32_t err = bench_sync_call(b, s, ZK_OP_CREATE, prefix, NULL, 0, NULL);
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
        bench_encode_request(&s->out, s->next_xid++, ZK_OP_DELETE, paths[i], NULL, 0, false);
    bench_session_flush_blocking(b, s);
    s->last_send_ns = bench_now_ns();
    size_t got = 0;
    while (got < n) {
        size_t len = bench_session_wait_frame(b, s);
        struct jute_reader r;
        jute_reader_init(&r, s->in.data + 4, len - 4);
        struct zk_reply_header h;
        if (zk_reply_header_decode(&r, &h) != 0)
            bench_die(b, "malformed ReplyHeader");
        buf_consume(&s->in, len);
        if (bench_is_special_xid(h.xid))
            continue;
        if (h.xid != first_xid + (int32_t)got)
            bench_die(b, "reply xid %" PRId32 ", expected %" PRId32, h.xid,
                      first_xid + (int32_t)got);
        errs[got++] = h.err;
    }
}

void bench_delete_tree(struct bench *b, const char *top)
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
        int32_t err = bench_sync_call(b, s, ZK_OP_GET_CHILDREN, path, NULL, 0, &body);
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
            err = bench_sync_call(b, s, ZK_OP_DELETE, path, NULL, 0, NULL);
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

void bench_cleanup(struct bench *b)
{
    b->phase = NULL;
    if (b->nodes_exist)
        bench_run_untimed(b, KIND_DELETE, b->opt.ops, "cleanup (znodes)");
    if (b->parents_exist)
        bench_run_untimed(b, KIND_DELETE_PARENTS, b->parent_count, "cleanup (parents)");
    b->nodes_exist = false;
    b->parents_exist = false;
    struct session *s = &b->sessions[0];
    int32_t err = bench_sync_call(b, s, ZK_OP_DELETE, b->opt.root, NULL, 0, NULL);
    if (err == ZK_NOTEMPTY) {
        /* Failed ops can leave znodes behind; remove whatever is there. */
        bench_delete_tree(b, b->opt.root);
    } else if (err != ZK_OK && err != ZK_NONODE) {
        fprintf(stderr, "czk-benchmark: delete %s: %s\n", b->opt.root, zk_err_name(err));
        b->failed = true;
    }
    for (size_t i = b->created_ancestor_count; i-- > 0;) {
        err = bench_sync_call(b, s, ZK_OP_DELETE, b->created_ancestors[i], NULL, 0, NULL);
        if (err != ZK_OK && err != ZK_NOTEMPTY && err != ZK_NONODE)
            fprintf(stderr, "czk-benchmark: delete %s: %s\n", b->created_ancestors[i],
                    zk_err_name(err));
    }
}
