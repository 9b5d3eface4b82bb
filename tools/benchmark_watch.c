/* SPDX-License-Identifier: Apache-2.0 */
/* benchmark_watch.c — czk-benchmark's watch load (--watches): N data watches
 * and a persistent recursive one registered, the server's RSS before and
 * after, and what a watched setData and a session's close cost with and
 * without them. */
#include "base/mem.h"
#include "benchmark.h"
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

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
    bench_stats_init(&st, n);
    bench_run_ops(b, kind, n, &st, ZK_OK, b->opt.outstanding);
    if (st.errors > 0)
        bench_die(b, "%zu of %zu ops failed (first: %s)", st.errors, n,
                  st.first_err ? zk_err_name(st.first_err) : "unexpected reply body");
    mem_free(st.lat_ns);
    b->sessions = saved;
    b->session_count = saved_count;
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
    bench_session_connect(b, &setter, 0);
    bench_session_connect(b, &watcher, 0);
    char saved_root[sizeof b->tree_root];
    size_t saved_ops = b->opt.ops;
    memcpy(saved_root, b->tree_root, sizeof saved_root);
    use_tree(b, root, n_leaves);
    char path[BENCH_PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        bench_leaf_path(b, i % n_leaves, path);
        bench_set_nonblocking(b, watcher.fd, true);
        int32_t err = bench_sync_call_w(b, &watcher, ZK_OP_GET_DATA, path, NULL, 0, true, NULL);
        if (err != ZK_OK)
            bench_die(b, "getData %s: %s", path, zk_err_name(err));
        uint64_t t0 = bench_now_ns();
        err =
            bench_sync_call(b, &setter, ZK_OP_SET_DATA, path, b->data_set, b->opt.data_size, NULL);
        ns[i] = bench_now_ns() - t0;
        if (err != ZK_OK)
            bench_die(b, "setData %s: %s", path, zk_err_name(err));
    }
    use_tree(b, saved_root, saved_ops);
    bench_report_samples(b, name, ns, n, NULL);
    bench_session_close(b, &setter);
    bench_session_close(b, &watcher);
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
        bench_session_connect(b, &s, 0);
        bench_session_connect(b, &probe, 0);
        if (k > 0) {
            use_tree(b, root, k);
            run_ops_on(b, &s, KIND_WATCH_GET, k);
            use_tree(b, saved_root, saved_ops);
        }
        uint64_t t0 = bench_now_ns();
        bench_session_close(b, &s);
        ns[r] = bench_now_ns() - t0;
        (void)bench_sync_call(b, &probe, ZK_OP_EXISTS, b->opt.root, NULL, 0, NULL);
        next_ns[r] = bench_now_ns() - t0;
        bench_session_close(b, &probe);
    }
    char extra[64];
    snprintf(extra, sizeof extra, ",\"watches_per_session\":%zu", k);
    bench_report_samples(b, name, ns, REPS, extra);
    char next_name[128];
    snprintf(next_name, sizeof next_name, "%s+next", name);
    bench_report_samples(b, next_name, next_ns, REPS, extra);
}

void bench_run_watches(struct bench *b)
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
        bench_run_untimed(b, KIND_CREATE_PARENTS, b->parent_count, "setup (parents)");
        b->parents_exist = true;
    }
    if (!b->nodes_exist) {
        bench_run_untimed(b, KIND_CREATE, n, "setup (create znodes)");
        b->nodes_exist = true;
    }
    if (m > 0) {
        int32_t err = bench_sync_call(b, &b->sessions[0], ZK_OP_CREATE, sub, NULL, 0, NULL);
        if (err != ZK_OK)
            bench_die(b, "create %s: %s", sub, zk_err_name(err));
        use_tree(b, sub, m);
        bench_run_untimed(b, KIND_CREATE_PARENTS, b->parent_count, "setup (subtree parents)");
        bench_run_untimed(b, KIND_CREATE, m, "setup (subtree znodes)");
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
    bench_print_header(b);
    bench_run_phase(b, KIND_WATCH_GET);
    if (m > 0) {
        b->phase = "addWatch";
        int32_t err = bench_sync_call(b, &b->sessions[0], ZK_OP_ADD_WATCH, sub, NULL, 0, NULL);
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
            bench_json_begin(b);
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
        uint64_t t0 = bench_now_ns();
        bench_session_close(b, &b->sessions[i]);
        ns[i] = bench_now_ns() - t0;
        bench_session_connect(b, &b->sessions[i], i);
    }
    char extra[64];
    snprintf(extra, sizeof extra, ",\"watches_per_session\":%zu", n / b->session_count);
    bench_report_samples(b, "close (loading sessions)", ns, b->session_count, extra);
    mem_free(ns);

    if (m > 0) {
        use_tree(b, sub, m);
        bench_run_untimed(b, KIND_DELETE, m, "cleanup (subtree znodes)");
        bench_run_untimed(b, KIND_DELETE_PARENTS, b->parent_count, "cleanup (subtree parents)");
        (void)bench_sync_call(b, &b->sessions[0], ZK_OP_DELETE, sub, NULL, 0, NULL);
    }
    use_tree(b, root, n);
}
