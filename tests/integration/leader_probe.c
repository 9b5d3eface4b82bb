/* SPDX-License-Identifier: Apache-2.0 */
/* leader_probe — one czk ensemble member that leads: the election
 * (src/node/elector.h) and, once elected, the leader's quorum port
 * (src/node/leader_port.c driving src/zab/zab.c) over a struct server
 * holding a small tree, for test_leader.py. TEST-ONLY persistence: the log
 * is an array in memory, "durable" once per loop iteration (a uv_check, the
 * node's group-commit point) when PERSISTED is reported; the epoch files
 * are real (dataDir/version-2). Learners' requests are turned into txns by
 * hand (createSession, closeSession, sync; every other write gets an
 * ErrorTxn(UNIMPLEMENTED)): the real binding is the node's, with the
 * server's prep.
 *   leader_probe ZOO_CFG [--txns N] [--epoch E] [--history 0|1] [--committed-log N]
 * It reads zoo.cfg and dataDir/myid like czk-server; its tree starts as
 * /probe ("czk leader") and /probe/n1 .. /probe/n{N-1} ("v1" ...), created
 * by txns of epoch E (zxids E<<32 | 1 ..), so it holds the highest zxid of
 * a fresh ensemble. --history 1 hands those txns (and every later one) to
 * ZAB as the committed log a DIFF is served from; 0: nothing (SNAP).
 * --committed-log N: zab_config.committed_log_max (0: ZAB's default, 500).
 * --outstanding N: zab_config.outstanding_max (0: ZAB's default, 1000); a
 * burst beyond it waits in leader_port's queue.
 * --output-max N: leader_port_config.learner_output_max (0: its default).
 * Output, one JSON object a line (stdout, flushed):
 *   {"event":"recovered","zxid":Z,"epoch":E}
 *   {"event":"decided","state":"LEADING|FOLLOWING|...","leader":L}
 *   {"event":"leading","port":P}   {"event":"serving","epoch":E}
 *   {"event":"learner_up|learner_sync|learner_synced|learner_down","sid":S,"reason":"..."}
 *   {"event":"stopped","reason":"..."}  (then it elects again)
 * Commands, one a line on stdin:
 *   create PATH DATA  -> {"proposed":Z} or {"error":"..."}
 *   burst N PREFIX [SIZE] -> N creates PREFIX0 .. PREFIX{N-1} (data "b<i>", or
 *                        SIZE bytes) proposed at once:
 *                        {"first":Z1,"last":Z2,"queued":Q} or {"error":"..."}
 *   state             -> {"committed":C,"applied":A,"next":N,"learners":..,
 *                         "synced_followers":..,"synced_observers":..,
 *                         "pending_syncs":..,"dropped":..}
 * SIGTERM / SIGINT / EOF on stdin: stop, exit 0. */
#include "base/buf.h"
#include "base/mem.h"
#include "node/config.h"
#include "node/elector.h"
#include "node/leader_port.h"
#include "probe_io.h"
#include "proto/election.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/quorum.h"
#include "proto/records.h"
#include "server/server.h"
#include "storage/epoch.h"
#include "storage/fs.h"
#include "zab/membership.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#define PROBE_SIDS_MAX     CONFIG_MEMBERS_MAX
#define PROBE_SESSIONS_MAX 1024

struct logged_txn {
    int64_t zxid;
    uint8_t *data;
    size_t len;
};

struct probe {
    uv_loop_t loop;
    uv_check_t check;
    uv_timer_t restart;
    struct probe_io io;
    struct node_config cfg;
    int64_t sid;
    char dir[CONFIG_PATH_MAX + 16]; /* version-2 */
    bool history;
    size_t committed_log_max, outstanding_max, output_max;
    struct elector *elector;
    struct leader_port *lp;
    struct server *server;
    struct logged_txn *log;
    size_t log_len, log_cap;
    size_t applied; /* log entries applied to the server */
    int64_t logged_zxid, persisted_zxid;
    int64_t accepted_epoch, current_epoch;
    int64_t sessions[PROBE_SESSIONS_MAX];
    size_t sessions_len;
    bool stopping;
};

static void no_send(void *ctx, uint64_t conn, const uint8_t *frame, size_t len)
{
    (void)ctx, (void)conn, (void)frame, (void)len;
}

static void no_close(void *ctx, uint64_t conn)
{
    (void)ctx, (void)conn;
}

static void no_log(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    (void)ctx, (void)zxid, (void)txn, (void)len;
}

static int64_t wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(struct probe *p)
{
    return (int64_t)uv_now(&p->loop);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* ---- txns, as the log holds them: TxnHeader + record ---- */

static void txn_header(struct buf *b, int64_t session, int32_t cxid, int64_t zxid, int32_t type)
{
    struct zk_txn_header h = {
        .client_id = session, .cxid = cxid, .zxid = zxid, .time = wall_ms(NULL), .type = type};
    zk_txn_header_encode(b, &h);
}

static void create_txn(struct buf *b, int64_t zxid, const char *path, const char *data)
{
    txn_header(b, 0, 0, zxid, ZK_OP_CREATE);
    struct zk_acl acl = {.perms = 31,
                         .id = {.scheme = jute_cstr("world"), .id = jute_cstr("anyone")}};
    struct zk_create_txn t = {.path = jute_cstr(path),
                              .data = jute_buf_of(data, strlen(data)),
                              .acl = {.count = 1, .items = &acl},
                              .ephemeral = false,
                              .parent_cversion = -1};
    zk_create_txn_encode(b, &t);
}

static void log_push(struct probe *p, int64_t zxid, const uint8_t *txn, size_t len)
{
    if (p->log_len == p->log_cap) {
        p->log_cap = p->log_cap ? 2 * p->log_cap : 64;
        p->log = mem_realloc(p->log, p->log_cap * sizeof(*p->log));
    }
    struct logged_txn *t = &p->log[p->log_len++];
    t->zxid = zxid;
    t->len = len;
    t->data = mem_alloc(len ? len : 1);
    memcpy(t->data, txn, len);
    p->logged_zxid = zxid;
}

static void session_note(struct probe *p, const uint8_t *txn, size_t len)
{
    struct jute_reader r;
    jute_reader_init(&r, txn, len);
    struct zk_txn_header h;
    if (zk_txn_header_decode(&r, &h) != 0)
        return;
    if (h.type == ZK_OP_CREATE_SESSION && p->sessions_len < PROBE_SESSIONS_MAX) {
        p->sessions[p->sessions_len++] = h.client_id;
    } else if (h.type == ZK_OP_CLOSE_SESSION) {
        for (size_t i = 0; i < p->sessions_len; i++)
            if (p->sessions[i] == h.client_id) {
                p->sessions[i] = p->sessions[--p->sessions_len];
                break;
            }
    }
}

/* ---- the leader port's io ---- */

static int io_write_epoch(void *ctx, const char *name, int64_t epoch)
{
    struct probe *p = ctx;
    char err[512];
    int rc = epoch_write(fs_posix(), p->dir, name, epoch, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "%s\n", err);
        return rc;
    }
    if (strcmp(name, EPOCH_ACCEPTED) == 0)
        p->accepted_epoch = epoch;
    else
        p->current_epoch = epoch;
    return 0;
}

static void io_log_append(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    log_push(ctx, zxid, txn, len);
}

static void io_commit(void *ctx, int64_t zxid)
{
    struct probe *p = ctx;
    while (p->applied < p->log_len && p->log[p->applied].zxid <= zxid) {
        struct logged_txn *t = &p->log[p->applied];
        char err[256];
        if (server_apply_committed(p->server, t->data, t->len, now_ms(p), err, sizeof(err)) < 0)
            fprintf(stderr, "apply 0x%" PRIx64 ": %s\n", (uint64_t)t->zxid, err);
        session_note(p, t->data, t->len);
        p->applied++;
    }
}

static void snap_sink(void *ctx, const void *data, size_t len)
{
    buf_append(ctx, data, len);
}

static void io_snapshot(void *ctx, struct buf *out)
{
    struct probe *p = ctx;
    server_snapshot_write(p->server, snap_sink, out);
}

static int propose(struct probe *p, struct buf *txn)
{
    int64_t zxid = leader_port_next_zxid(p->lp);
    /* the zxid is at offset 12 of the TxnHeader (clientId, cxid, zxid) */
    buf_put_be32(txn, 12, (uint32_t)((uint64_t)zxid >> 32));
    buf_put_be32(txn, 16, (uint32_t)zxid);
    return leader_port_propose(p->lp, zxid, txn->data, txn->len);
}

static int io_request(void *ctx, int64_t sid, const uint8_t *data, size_t len,
                      const struct zk_id *auth, size_t auth_len)
{
    (void)auth, (void)auth_len;
    struct probe *p = ctx;
    struct quorum_request rq;
    if (quorum_request_decode(jute_buf_of(data, len), &rq) != 0)
        return -1;
    if (rq.type == ZK_OP_SYNC) {
        leader_port_sync(p->lp, sid);
        return 0;
    }
    struct buf txn;
    buf_init(&txn);
    if (rq.type == ZK_OP_CREATE_SESSION) {
        if (rq.request.len < 4) {
            buf_deinit(&txn);
            return -1;
        }
        txn_header(&txn, rq.session_id, rq.cxid, 0, ZK_OP_CREATE_SESSION);
        struct zk_create_session_txn t = {.time_out = (int32_t)be32_get(rq.request.ptr)};
        zk_create_session_txn_encode(&txn, &t);
    } else if (rq.type == ZK_OP_CLOSE_SESSION) {
        txn_header(&txn, rq.session_id, rq.cxid, 0, ZK_OP_CLOSE_SESSION);
        jute_write_i32(&txn, 0); /* CloseSessionTxn: no paths to delete */
    } else {
        txn_header(&txn, rq.session_id, rq.cxid, 0, ZK_OP_ERROR);
        struct zk_error_txn t = {.err = ZK_UNIMPLEMENTED};
        zk_error_txn_encode(&txn, &t);
    }
    int rc = propose(p, &txn);
    buf_deinit(&txn);
    if (rc != 0)
        fprintf(stderr, "propose from learner %" PRId64 ": %d\n", sid, rc);
    return 0;
}

static bool io_revalidate(void *ctx, int64_t sid, int64_t session_id, int32_t timeout_ms)
{
    (void)sid, (void)timeout_ms;
    struct probe *p = ctx;
    for (size_t i = 0; i < p->sessions_len; i++)
        if (p->sessions[i] == session_id)
            return true;
    return false;
}

static void on_restart(uv_timer_t *t);

static void io_event(void *ctx, enum leader_port_event ev, int64_t sid, const char *reason)
{
    struct probe *p = ctx;
    static const char *const names[] = {
        [LEADER_PORT_SERVING] = "serving",
        [LEADER_PORT_EPOCH] = "epoch",
        [LEADER_PORT_LEARNER_UP] = "learner_up",
        [LEADER_PORT_LEARNER_SYNC] = "learner_sync",
        [LEADER_PORT_LEARNER_SYNCED] = "learner_synced",
        [LEADER_PORT_LEARNER_DOWN] = "learner_down",
        [LEADER_PORT_STOPPED] = "stopped",
    };
    printf("{\"event\":\"%s\",\"sid\":%" PRId64, names[ev], sid);
    if (ev == LEADER_PORT_SERVING || ev == LEADER_PORT_EPOCH)
        printf(",\"epoch\":%" PRId64, leader_port_epoch(p->lp));
    if (reason) {
        printf(",\"reason\":");
        json_str(reason);
    }
    printf("}\n");
    fflush(stdout);
    if ((ev == LEADER_PORT_SERVING || ev == LEADER_PORT_EPOCH) &&
        elector_epoch_update(p->elector, leader_port_epoch(p->lp)))
        fprintf(stderr, "elector_epoch_update failed\n");
    if (ev == LEADER_PORT_STOPPED)
        uv_timer_start(&p->restart, on_restart, 0, 0);
}

/* ---- election and leadership ---- */

static void lead(struct probe *p)
{
    int64_t voters[PROBE_SIDS_MAX], observers[PROBE_SIDS_MAX];
    size_t nv = 0, no = 0;
    const struct member *me = NULL;
    for (size_t i = 0; i < p->cfg.member_count; i++) {
        const struct member *m = &p->cfg.members[i];
        if (m->role == MEMBER_OBSERVER)
            observers[no++] = m->sid;
        else
            voters[nv++] = m->sid;
        if (m->sid == p->sid)
            me = m;
    }
    struct membership ms;
    config_membership(&p->cfg, &ms);
    struct buf text;
    buf_init(&text);
    membership_format(&ms, &text);
    buf_append_u8(&text, 0);
    struct zab_txn *hist = NULL;
    size_t hist_len = 0;
    if (p->history && p->log_len > 0) {
        hist = mem_alloc(p->log_len * sizeof(*hist));
        for (size_t i = 0; i < p->log_len; i++)
            hist[hist_len++] =
                (struct zab_txn){p->log[i].zxid, jute_buf_of(p->log[i].data, p->log[i].len)};
    }
    struct leader_port_config lc = {
        .my_sid = p->sid,
        .voters = voters,
        .voters_len = nv,
        .observers = observers,
        .observers_len = no,
        .tick_ms = p->cfg.tick_time_ms,
        .init_limit = p->cfg.init_limit,
        .sync_limit = p->cfg.sync_limit,
        .host = me->quorum.host,
        .port = me->quorum.port,
        .listen_all_ips = p->cfg.quorum_listen_on_all_ips,
        .last_zxid = p->logged_zxid,
        .accepted_epoch = p->accepted_epoch,
        .current_epoch = p->current_epoch,
        .history = hist,
        .history_len = hist_len,
        .config_text = (const char *)text.data,
        .config_version = ms.version,
        .committed_log_max = p->committed_log_max,
        .outstanding_max = p->outstanding_max,
        .learner_output_max = p->output_max,
    };
    struct leader_port_io io = {.ctx = p,
                                .write_epoch = io_write_epoch,
                                .log_append = io_log_append,
                                .commit = io_commit,
                                .snapshot = io_snapshot,
                                .request = io_request,
                                .revalidate = io_revalidate,
                                .on_event = io_event};
    char err[512];
    int rc = leader_port_new(&p->loop, &lc, &io, &p->lp, err, sizeof(err));
    mem_free(hist);
    buf_deinit(&text);
    membership_deinit(&ms);
    if (rc < 0) {
        fprintf(stderr, "leader_port_new: %s\n", err);
        printf("{\"event\":\"stopped\",\"reason\":\"leader_port_new failed\"}\n");
        fflush(stdout);
        p->lp = NULL;
        uv_timer_start(&p->restart, on_restart, 1000, 0);
        return;
    }
    printf("{\"event\":\"leading\",\"port\":%d}\n", leader_port_bound_port(p->lp));
    fflush(stdout);
}

static void on_decided(void *ctx, const struct elector_decision *d)
{
    struct probe *p = ctx;
    printf("{\"event\":\"decided\",\"state\":\"%s\",\"leader\":%" PRId64 "}\n",
           election_state_name(d->state), d->vote.leader);
    fflush(stdout);
    if (d->state == ELECTION_LEADING && !p->stopping)
        lead(p);
}

/* After STOPPED (never inside the port's callback): free it, elect again. */
static void on_restart(uv_timer_t *t)
{
    struct probe *p = t->data;
    leader_port_free(p->lp);
    p->lp = NULL;
    if (p->stopping)
        return;
    if (elector_start(p->elector, p->logged_zxid, p->current_epoch) < 0)
        fprintf(stderr, "elector_start failed\n");
}

/* The group-commit point: what this iteration logged is "durable". */
static void on_check(uv_check_t *h)
{
    struct probe *p = h->data;
    if (!p->lp || p->persisted_zxid >= p->logged_zxid)
        return;
    p->persisted_zxid = p->logged_zxid;
    leader_port_persisted(p->lp, p->persisted_zxid);
}

/* ---- stdin, signals, main ---- */

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void shutdown_probe(struct probe *p)
{
    if (p->stopping)
        return;
    p->stopping = true;
    leader_port_free(p->lp);
    p->lp = NULL;
    elector_free(p->elector);
    uv_close((uv_handle_t *)&p->check, on_closed);
    uv_close((uv_handle_t *)&p->restart, on_closed);
    probe_io_close(&p->io);
}

static void stop(void *ctx)
{
    shutdown_probe(ctx);
}

static size_t queued(struct probe *p)
{
    struct leader_port_stats s;
    leader_port_stats(p->lp, &s);
    return s.queued_proposals;
}

static void command(void *ctx, char *cmd)
{
    struct probe *p = ctx;
    if (strncmp(cmd, "create ", 7) == 0) {
        char *path = cmd + 7;
        char *data = strchr(path, ' ');
        if (data)
            *data++ = '\0';
        if (!p->lp || leader_port_next_zxid(p->lp) < 0) {
            printf("{\"error\":\"not serving\"}\n");
        } else {
            struct buf txn;
            buf_init(&txn);
            int64_t zxid = leader_port_next_zxid(p->lp);
            create_txn(&txn, zxid, path, data ? data : "");
            int rc = propose(p, &txn);
            buf_deinit(&txn);
            if (rc == 0)
                printf("{\"proposed\":%" PRId64 "}\n", zxid);
            else
                printf("{\"error\":\"propose: %d\"}\n", rc);
        }
    } else if (strncmp(cmd, "burst ", 6) == 0) {
        int n = atoi(cmd + 6);
        char *prefix = strchr(cmd + 6, ' ');
        char *size = prefix ? strchr(prefix + 1, ' ') : NULL;
        if (size)
            *size++ = '\0';
        size_t data_len = size ? (size_t)strtoull(size, NULL, 10) : 0;
        char *data = mem_alloc(data_len + 32);
        int64_t first = -1, last = -1;
        int rc = p->lp && prefix ? 0 : -1;
        for (int i = 0; i < n && rc == 0; i++) {
            char path[512];
            snprintf(path, sizeof(path), "%s%d", prefix + 1, i);
            if (data_len) {
                memset(data, 'x', data_len);
                data[data_len] = '\0';
            } else {
                snprintf(data, 32, "b%d", i);
            }
            struct buf txn;
            buf_init(&txn);
            last = leader_port_next_zxid(p->lp);
            if (first < 0)
                first = last;
            create_txn(&txn, last, path, data);
            rc = propose(p, &txn);
            buf_deinit(&txn);
        }
        mem_free(data);
        if (rc == 0)
            printf("{\"first\":%" PRId64 ",\"last\":%" PRId64 ",\"queued\":%zu}\n", first, last,
                   queued(p));
        else
            printf("{\"error\":\"burst: %d\"}\n", rc);
    } else if (strcmp(cmd, "state") == 0) {
        struct leader_port_stats s = {0};
        int64_t next = -1;
        if (p->lp) {
            leader_port_stats(p->lp, &s);
            next = leader_port_next_zxid(p->lp);
        }
        int64_t applied = p->applied ? p->log[p->applied - 1].zxid : 0;
        printf("{\"committed\":%" PRId64 ",\"applied\":%" PRId64 ",\"next\":%" PRId64
               ",\"learners\":%zu,\"synced_followers\":%zu,\"synced_observers\":%zu"
               ",\"pending_syncs\":%zu,\"dropped\":%" PRId64 ",\"connections\":%zu}\n",
               applied, server_last_zxid(p->server), next, s.learners, s.synced_followers,
               s.synced_observers, s.pending_syncs, s.connections_dropped, s.connections);
    } else if (cmd[0]) {
        printf("{\"error\":\"unknown command\"}\n");
    }
    fflush(stdout);
}

/* The starting tree: /probe and its children, txns of `epoch`, applied. */
static void seed(struct probe *p, int64_t epoch, int txns)
{
    for (int i = 0; i < txns; i++) {
        char path[64], data[64];
        if (i == 0) {
            snprintf(path, sizeof(path), "/probe");
            snprintf(data, sizeof(data), "czk leader");
        } else {
            snprintf(path, sizeof(path), "/probe/n%d", i);
            snprintf(data, sizeof(data), "v%d", i);
        }
        struct buf txn;
        buf_init(&txn);
        int64_t zxid = ZAB_ZXID(epoch, i + 1);
        create_txn(&txn, zxid, path, data);
        log_push(p, zxid, txn.data, txn.len);
        buf_deinit(&txn);
    }
    io_commit(p, p->logged_zxid);
    p->persisted_zxid = p->logged_zxid;
}

int main(int argc, char **argv)
{
    /* a peer that closes its connection must cost an EPIPE, not the
     * probe (czk-server ignores SIGPIPE too) */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fprintf(stderr, "usage: leader_probe ZOO_CFG [--txns N] [--epoch E] [--history 0|1] "
                        "[--committed-log N] [--outstanding N] [--output-max N]\n");
        return 2;
    }
    static struct probe probe; /* main()'s file */
    struct probe *p = &probe;
    char err[512];
    if (config_parse_file_ensemble(argv[1], &p->cfg, err, sizeof(err)) < 0 ||
        config_read_myid(p->cfg.data_dir, &p->sid, err, sizeof(err)) < 0) {
        fprintf(stderr, "leader_probe: %s\n", err);
        return 2;
    }
    int txns = atoi(probe_arg(argc, argv, 2, "--txns", "5"));
    int64_t epoch = strtoll(probe_arg(argc, argv, 2, "--epoch", "1"), NULL, 10);
    p->history = atoi(probe_arg(argc, argv, 2, "--history", "1")) != 0;
    p->committed_log_max =
        (size_t)strtoull(probe_arg(argc, argv, 2, "--committed-log", "0"), NULL, 10);
    p->outstanding_max = (size_t)strtoull(probe_arg(argc, argv, 2, "--outstanding", "0"), NULL, 10);
    p->output_max = (size_t)strtoull(probe_arg(argc, argv, 2, "--output-max", "0"), NULL, 10);
    if (txns < 1 || epoch < 1) {
        fprintf(stderr, "leader_probe: --txns and --epoch must be at least 1\n");
        return 2;
    }
    if (snprintf(p->dir, sizeof(p->dir), "%s/version-2", p->cfg.data_dir) >= (int)sizeof(p->dir)) {
        fprintf(stderr, "leader_probe: the data dir's path is too long\n");
        return 2;
    }
    mkdir(p->dir, 0755);
    uv_loop_init(&p->loop);
    struct server_io sio = {
        .ctx = p, .send = no_send, .close = no_close, .log_append = no_log, .wall_ms = wall_ms};
    struct server_config scfg = {.tick_time_ms = p->cfg.tick_time_ms, .max_buffer = 0xfffff};
    p->server = server_new(&scfg, &sio, now_ms(p));
    seed(p, epoch, txns);
    if (io_write_epoch(p, EPOCH_ACCEPTED, epoch) < 0 || io_write_epoch(p, EPOCH_CURRENT, epoch) < 0)
        return 2;
    printf("{\"event\":\"recovered\",\"zxid\":%" PRId64 ",\"epoch\":%" PRId64 "}\n", p->logged_zxid,
           epoch);
    fflush(stdout);

    struct elector_config ec = {
        .my_sid = p->sid, .node = &p->cfg, .on_decided = on_decided, .ctx = p};
    if (elector_new(&p->loop, &ec, &p->elector, err, sizeof(err)) < 0) {
        fprintf(stderr, "leader_probe: %s\n", err);
        return 1;
    }
    uv_check_init(&p->loop, &p->check);
    p->check.data = p;
    uv_check_start(&p->check, on_check);
    uv_timer_init(&p->loop, &p->restart);
    p->restart.data = p;
    probe_io_start(&p->io, &p->loop, 1024, command, stop, p);
    if (elector_start(p->elector, p->logged_zxid, p->current_epoch) < 0) {
        fprintf(stderr, "leader_probe: elector_start failed\n");
        shutdown_probe(p);
    }
    uv_run(&p->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&p->loop);
    for (size_t i = 0; i < p->log_len; i++)
        mem_free(p->log[i].data);
    mem_free(p->log);
    server_free(p->server);
    probe_io_free(&p->io);
    if (rc != 0)
        fprintf(stderr, "leader_probe: handles left open\n");
    return rc == 0 ? 0 : 1;
}
