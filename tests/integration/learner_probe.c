/* SPDX-License-Identifier: Apache-2.0 */
/* learner_probe — one czk learner (src/node/quorum_port.c + src/zab/zab.c +
 * a struct server) following a leader, for test_learner.py. TEST-ONLY
 * persistence: txns are written with txnlog_writer on the loop thread and
 * fsynced once per loop iteration (a uv_check handle, the node's group-commit
 * point) before PERSISTED is stepped; no log thread, no snapshot children.
 * TRUNC is refused (the connection ends). The real binding is the node's.
 *   learner_probe --sid N --leader-sid L --leader HOST:PORT --voters 1,2,3
 *       --data DIR [--role observer|follower] [--tick-ms 2000]
 *       [--init-limit 10] [--sync-limit 5]
 * DIR holds myid-less ZooKeeper files: version-2/{log,snapshot}.*, the epoch
 * files. On start it loads the newest snapshot and replays the logs after it.
 * Output, one JSON object per line (stdout, flushed):
 *   {"event":"recovered","zxid":Z,"accepted_epoch":A,"current_epoch":C}
 *   {"event":"connected"}  {"event":"sync","mode":"DIFF|TRUNC|SNAP","zxid":Z}
 *   {"event":"serving","epoch":E}  {"event":"stopped","reason":"..."}
 * Commands, one per line on stdin:
 *   zxid  -> {"applied":Z}
 *   dump  -> {"node":PATH,"data":HEX,"czxid":..,"mzxid":..,"ctime":..,"mtime":..,
 *             "version":..,"cversion":..,"aversion":..,"ephemeralOwner":..,"pzxid":..}
 *            per node (pre-order), then {"dump_end":NODES,"zxid":Z}; the fields
 *            are the snapshot's StatPersisted: cversion counts creates (a
 *            client's Stat shows 2 * cversion - children, DataNode.copyStat)
 * SIGTERM / SIGINT / EOF on stdin: stop, exit 0. Exit 1 if the learner's
 * connection ended (after printing "stopped"). */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "node/quorum_port.h"
#include "probe_io.h"
#include "proto/jute.h"
#include "proto/quorum.h"
#include "server/server.h"
#include "storage/epoch.h"
#include "storage/fs.h"
#include "storage/purge.h"
#include "storage/snapfile.h"
#include "storage/txnlog.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define PROBE_VOTERS_MAX 16
#define PROBE_PATH_MAX   (STORAGE_PATH_MAX + 64)

struct probe {
    uv_loop_t loop;
    uv_check_t check;
    struct probe_io io;
    struct quorum_port *qp;
    struct server *server;
    struct txnlog_writer log;
    bool log_dirty;
    int64_t logged_zxid;
    char dir[STORAGE_PATH_MAX]; /* version-2 */
    uint64_t snap_seq;
    struct buf snap_body; /* a SNAP's body, gathered whole and loaded at its end */
    int exit_code;
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

static struct server *new_server(struct probe *p)
{
    struct server_io io = {
        .ctx = p, .send = no_send, .close = no_close, .log_append = no_log, .wall_ms = wall_ms};
    struct server_config cfg = {.tick_time_ms = 2000, .max_buffer = 0xfffff};
    return server_new(&cfg, &io, (int64_t)uv_now(&p->loop));
}

static int64_t now_ms(struct probe *p)
{
    return (int64_t)uv_now(&p->loop);
}

/* ---- recovery: newest snapshot, then the logs after it ---- */

struct replay {
    struct probe *p;
    int64_t last;
};

static int replay_record(void *ctx, const uint8_t *txn, size_t len, size_t off)
{
    (void)off;
    struct replay *r = ctx;
    if (len < TXNLOG_TXN_HEADER_LEN)
        return 1;
    int64_t zxid = (int64_t)be64_get(txn + 12);
    if (zxid <= r->last)
        return 0;
    char why[256];
    if (server_replay_txn(r->p->server, txn, len, now_ms(r->p), why, sizeof(why)) < 0) {
        fprintf(stderr, "replay: %s\n", why);
        return 1;
    }
    r->last = zxid;
    return 0;
}

static int recover(struct probe *p, int64_t *last_zxid)
{
    const struct fs *fs = fs_posix();
    char err[512];
    struct storage_zxids snaps = {.prefix = "snapshot"}, logs = {.prefix = "log"};
    if (storage_list_zxids(fs, p->dir, "snapshot", &snaps, err, sizeof(err)) < 0 ||
        storage_list_zxids(fs, p->dir, "log", &logs, err, sizeof(err)) < 0) {
        fprintf(stderr, "list %s: %s\n", p->dir, err);
        return -1;
    }
    int rc = -1;
    struct replay r = {.p = p, .last = 0};
    if (snaps.count > 0) {
        int64_t zxid = snaps.zxids[snaps.count - 1];
        char path[PROBE_PATH_MAX];
        snprintf(path, sizeof(path), "%s/snapshot.%" PRIx64, p->dir, (uint64_t)zxid);
        uint8_t *bytes;
        size_t len, consumed;
        if (fs->read_file(fs->ctx, path, &bytes, &len) < 0) {
            fprintf(stderr, "read %s\n", path);
            goto out;
        }
        int lrc = snapfile_check_header(bytes, len, err, sizeof(err));
        if (lrc >= 0)
            lrc = server_load_snapshot(p->server, bytes + SNAP_HEADER_LEN, len - SNAP_HEADER_LEN,
                                       &consumed, now_ms(p), err, sizeof(err));
        free(bytes);
        if (lrc < 0) {
            fprintf(stderr, "%s: %s\n", path, err);
            goto out;
        }
        server_set_last_zxid(p->server, zxid);
        r.last = zxid;
    }
    for (size_t i = 0; i < logs.count; i++) {
        /* a log whose successor starts at or below the snapshot holds nothing newer */
        if (i + 1 < logs.count && logs.zxids[i + 1] <= r.last)
            continue;
        char path[PROBE_PATH_MAX];
        snprintf(path, sizeof(path), "%s/log.%" PRIx64, p->dir, (uint64_t)logs.zxids[i]);
        uint8_t *bytes;
        size_t len;
        if (fs->read_file(fs->ctx, path, &bytes, &len) < 0) {
            fprintf(stderr, "read %s\n", path);
            goto out;
        }
        struct txnlog_scan scan;
        txnlog_scan(bytes, len, replay_record, &r, &scan);
        free(bytes);
    }
    *last_zxid = r.last;
    rc = 0;
out:
    mem_free(snaps.zxids);
    mem_free(logs.zxids);
    return rc;
}

/* ---- the learner's io: test-only synchronous storage ---- */

static int io_write_epoch(void *ctx, const char *name, int64_t epoch)
{
    struct probe *p = ctx;
    char err[512];
    int rc = epoch_write(fs_posix(), p->dir, name, epoch, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "%s\n", err);
    return rc;
}

static int io_truncate(void *ctx, int64_t zxid)
{
    (void)ctx;
    fprintf(stderr, "TRUNC to 0x%" PRIx64 ": not implemented by the probe\n", (uint64_t)zxid);
    return -1;
}

static int log_sync(struct probe *p)
{
    if (!p->log_dirty)
        return 0;
    int rc = txnlog_writer_sync(&p->log);
    if (rc < 0) {
        fprintf(stderr, "%s\n", p->log.errmsg);
        return rc;
    }
    p->log_dirty = false;
    return 0;
}

static int io_drain_log(void *ctx)
{
    return log_sync(ctx);
}

static int io_snap_begin(void *ctx, int64_t zxid)
{
    struct probe *p = ctx;
    (void)zxid;
    buf_clear(&p->snap_body);
    return 0;
}

static int io_snap_body(void *ctx, const uint8_t *bytes, size_t len)
{
    struct probe *p = ctx;
    buf_append(&p->snap_body, bytes, len);
    return 0;
}

static int io_snap_end(void *ctx, int64_t zxid)
{
    struct probe *p = ctx;
    const uint8_t *body = p->snap_body.data;
    size_t len = p->snap_body.len;
    char err[512];
    /* Txns after the snapshot go to a new log file. */
    if (log_sync(p) < 0 || txnlog_writer_roll(&p->log) < 0)
        return -1;
    server_free(p->server);
    p->server = new_server(p);
    size_t consumed;
    if (server_load_snapshot(p->server, body, len, &consumed, now_ms(p), err, sizeof(err)) < 0 ||
        consumed != len) {
        fprintf(stderr, "SNAP body: %s\n", err);
        return -1;
    }
    server_set_last_zxid(p->server, zxid);
    struct snapfile_writer w;
    if (snapfile_begin(&w, fs_posix(), p->dir, zxid, false, (int64_t)getpid(), p->snap_seq++) < 0) {
        fprintf(stderr, "%s\n", w.errmsg);
        return -1;
    }
    server_snapshot_write(p->server, snapfile_write, &w);
    if (snapfile_commit(&w) < 0) {
        fprintf(stderr, "%s\n", w.errmsg);
        return -1;
    }
    p->logged_zxid = zxid;
    return 0;
}

static int io_log_append(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct probe *p = ctx;
    struct buf rec;
    buf_init(&rec);
    txnlog_record_encode(&rec, txn, len);
    int rc = txnlog_writer_append(&p->log, rec.data, rec.len, zxid);
    buf_deinit(&rec);
    if (rc < 0) {
        fprintf(stderr, "%s\n", p->log.errmsg);
        return rc;
    }
    p->log_dirty = true;
    p->logged_zxid = zxid;
    return 0;
}

static int io_apply(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct probe *p = ctx;
    char err[256];
    if (server_apply_committed(p->server, txn, len, now_ms(p), err, sizeof(err)) < 0) {
        fprintf(stderr, "apply 0x%" PRIx64 ": %s\n", (uint64_t)zxid, err);
        return -1;
    }
    return 0;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
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

static void shutdown_probe(struct probe *p);

static void io_event(void *ctx, enum quorum_port_event ev, int32_t type, int64_t zxid,
                     const char *reason)
{
    struct probe *p = ctx;
    switch (ev) {
    case QUORUM_PORT_CONNECTED:
        printf("{\"event\":\"connected\"}\n");
        break;
    case QUORUM_PORT_SYNC:
        printf("{\"event\":\"sync\",\"mode\":\"%s\",\"zxid\":%" PRId64 "}\n",
               quorum_type_name(type), zxid);
        break;
    case QUORUM_PORT_SERVING:
        printf("{\"event\":\"serving\",\"epoch\":%" PRId64 "}\n", zxid);
        break;
    case QUORUM_PORT_EPOCH:
        printf("{\"event\":\"epoch\",\"epoch\":%" PRId64 "}\n", zxid);
        break;
    case QUORUM_PORT_STOPPED:
        printf("{\"event\":\"stopped\",\"reason\":");
        json_str(reason ? reason : "");
        printf("}\n");
        p->exit_code = 1;
        break;
    }
    fflush(stdout);
}

/* The group-commit point: one fsync for what this iteration logged, then
 * PERSISTED (never from inside an io callback). */
static void on_check(uv_check_t *h)
{
    struct probe *p = h->data;
    if (!p->qp || !p->log_dirty)
        return;
    if (log_sync(p) < 0) {
        p->exit_code = 3; /* a failed fsync is fatal */
        shutdown_probe(p);
        return;
    }
    quorum_port_persisted(p->qp, p->logged_zxid);
}

/* ---- the dump: the applied tree, from a snapshot body ---- */

struct dump_sink {
    struct buf b;
};

static void dump_sink(void *ctx, const void *data, size_t len)
{
    buf_append(&((struct dump_sink *)ctx)->b, data, len);
}

static void dump(struct probe *p)
{
    struct dump_sink d;
    buf_init(&d.b);
    server_snapshot_write(p->server, dump_sink, &d);
    struct jute_reader r;
    jute_reader_init(&r, d.b.data, d.b.len);
    int32_t n = jute_read_i32(&r);
    for (int32_t i = 0; i < n; i++) {
        (void)jute_read_i64(&r);
        (void)jute_read_i32(&r);
    }
    int32_t acls = jute_read_i32(&r);
    for (int32_t i = 0; i < acls; i++) {
        (void)jute_read_i64(&r);
        int32_t k = jute_read_i32(&r);
        for (int32_t j = 0; j < k; j++) {
            (void)jute_read_i32(&r);
            (void)jute_read_buf(&r);
            (void)jute_read_buf(&r);
        }
    }
    int64_t nodes = 0;
    while (!r.failed) {
        struct jute_buf path = jute_read_buf(&r);
        if (r.failed || (path.len == 1 && path.ptr[0] == '/'))
            break;
        struct jute_buf data = jute_read_buf(&r);
        (void)jute_read_i64(&r); /* acl */
        int64_t czxid = jute_read_i64(&r), mzxid = jute_read_i64(&r);
        int64_t ctime = jute_read_i64(&r), mtime = jute_read_i64(&r);
        int32_t version = jute_read_i32(&r), cversion = jute_read_i32(&r);
        int32_t aversion = jute_read_i32(&r);
        int64_t owner = jute_read_i64(&r), pzxid = jute_read_i64(&r);
        if (r.failed)
            break;
        char pathz[4096];
        int plen = path.len > 0 ? path.len : 0;
        if (plen >= (int)sizeof(pathz))
            plen = (int)sizeof(pathz) - 1;
        memcpy(pathz, path.ptr, (size_t)plen);
        pathz[plen] = '\0';
        printf("{\"node\":");
        json_str(plen ? pathz : "/");
        printf(",\"data\":\"");
        for (int32_t i = 0; i < data.len; i++)
            printf("%02x", data.ptr[i]);
        printf("\",\"czxid\":%" PRId64 ",\"mzxid\":%" PRId64 ",\"ctime\":%" PRId64
               ",\"mtime\":%" PRId64 ",\"version\":%d,\"cversion\":%d,\"aversion\":%d"
               ",\"ephemeralOwner\":%" PRId64 ",\"pzxid\":%" PRId64 "}\n",
               czxid, mzxid, ctime, mtime, version, cversion, aversion, owner, pzxid);
        nodes++;
    }
    printf("{\"dump_end\":%" PRId64 ",\"zxid\":%" PRId64 "}\n", nodes, server_last_zxid(p->server));
    fflush(stdout);
    buf_deinit(&d.b);
}

/* ---- stdin commands, signals, main ---- */

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void shutdown_probe(struct probe *p)
{
    if (p->stopping)
        return;
    p->stopping = true;
    quorum_port_free(p->qp);
    p->qp = NULL;
    uv_close((uv_handle_t *)&p->check, on_closed);
    probe_io_close(&p->io);
}

static void stop(void *ctx)
{
    shutdown_probe(ctx);
}

static void command(void *ctx, char *cmd)
{
    struct probe *p = ctx;
    if (strcmp(cmd, "zxid") == 0) {
        printf("{\"applied\":%" PRId64 "}\n", server_last_zxid(p->server));
        fflush(stdout);
    } else if (strcmp(cmd, "dump") == 0) {
        dump(p);
    } else if (cmd[0]) {
        printf("{\"error\":\"unknown command\"}\n");
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    /* a peer that closes its connection must cost an EPIPE, not the
     * probe (czk-server ignores SIGPIPE too) */
    signal(SIGPIPE, SIG_IGN);
    const char *data = probe_arg(argc, argv, 1, "--data", NULL);
    const char *leader = probe_arg(argc, argv, 1, "--leader", NULL);
    const char *voters_arg = probe_arg(argc, argv, 1, "--voters", NULL);
    if (!data || !leader || !voters_arg || !strchr(leader, ':')) {
        fprintf(stderr, "usage: learner_probe --sid N --leader-sid L --leader HOST:PORT "
                        "--voters 1,2,3 --data DIR [--role observer|follower]\n");
        return 2;
    }
    static struct probe probe; /* main()'s file */
    struct probe *p = &probe;
    uv_loop_init(&p->loop);
    snprintf(p->dir, sizeof(p->dir), "%s/version-2", data);
    mkdir(data, 0755);
    mkdir(p->dir, 0755);
    txnlog_writer_init(&p->log, fs_posix(), p->dir, 64 * 1024 * 1024);
    buf_init(&p->snap_body);
    p->server = new_server(p);

    int64_t last_zxid = 0, accepted = 0, current = 0;
    char err[512];
    if (recover(p, &last_zxid) < 0)
        return 2;
    int rc = epoch_read(fs_posix(), p->dir, EPOCH_ACCEPTED, &accepted, err, sizeof(err));
    if (rc < 0 && rc != -ENOENT)
        return fprintf(stderr, "%s\n", err), 2;
    rc = epoch_read(fs_posix(), p->dir, EPOCH_CURRENT, &current, err, sizeof(err));
    if (rc < 0 && rc != -ENOENT)
        return fprintf(stderr, "%s\n", err), 2;
    printf("{\"event\":\"recovered\",\"zxid\":%" PRId64 ",\"accepted_epoch\":%" PRId64
           ",\"current_epoch\":%" PRId64 "}\n",
           last_zxid, accepted, current);
    fflush(stdout);

    int64_t voters[PROBE_VOTERS_MAX];
    size_t voters_len = 0;
    for (const char *v = voters_arg; *v && voters_len < PROBE_VOTERS_MAX;) {
        voters[voters_len++] = strtoll(v, NULL, 10);
        const char *c = strchr(v, ',');
        if (!c)
            break;
        v = c + 1;
    }
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)(strrchr(leader, ':') - leader), leader);
    const char *role = probe_arg(argc, argv, 1, "--role", "observer");
    struct quorum_port_config cfg = {
        .my_sid = strtoll(probe_arg(argc, argv, 1, "--sid", "4"), NULL, 10),
        .role = strcmp(role, "follower") == 0 ? ZAB_FOLLOWING : ZAB_OBSERVING,
        .leader_sid = strtoll(probe_arg(argc, argv, 1, "--leader-sid", "3"), NULL, 10),
        .leader_host = host,
        .leader_port = atoi(strrchr(leader, ':') + 1),
        .voters = voters,
        .voters_len = voters_len,
        .tick_ms = strtoll(probe_arg(argc, argv, 1, "--tick-ms", "2000"), NULL, 10),
        .init_limit = strtoll(probe_arg(argc, argv, 1, "--init-limit", "10"), NULL, 10),
        .sync_limit = strtoll(probe_arg(argc, argv, 1, "--sync-limit", "5"), NULL, 10),
        .last_zxid = last_zxid,
        .accepted_epoch = accepted,
        .current_epoch = current,
        .config_version = strtoll(probe_arg(argc, argv, 1, "--config-version", "0"), NULL, 16),
    };
    struct quorum_port_io io = {.ctx = p,
                                .write_epoch = io_write_epoch,
                                .drain_log = io_drain_log,
                                .truncate = io_truncate,
                                .snap_begin = io_snap_begin,
                                .snap_body = io_snap_body,
                                .snap_end = io_snap_end,
                                .log_append = io_log_append,
                                .apply = io_apply,
                                .on_event = io_event};
    uv_check_init(&p->loop, &p->check);
    p->check.data = p;
    uv_check_start(&p->check, on_check);
    probe_io_start(&p->io, &p->loop, 256, command, stop, p);
    rc = quorum_port_new(&p->loop, &cfg, &io, &p->qp, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "learner: %s\n", err);
        shutdown_probe(p);
        p->exit_code = 2;
    }
    uv_run(&p->loop, UV_RUN_DEFAULT);
    if (log_sync(p) < 0)
        p->exit_code = 3;
    txnlog_writer_deinit(&p->log);
    buf_deinit(&p->snap_body);
    server_free(p->server);
    probe_io_free(&p->io);
    (void)uv_loop_close(&p->loop);
    return p->exit_code;
}
