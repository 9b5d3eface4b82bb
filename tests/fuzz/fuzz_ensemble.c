/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: a leader and a learner (src/server's SERVER_LEADER and
 * SERVER_LEARNER) driven by commands from the input: client frames to
 * either, the relay between them (REQUESTs up, committed txns and SYNCs
 * down), raw REQUEST packets and raw committed txns as a broken peer would
 * send them, revalidation answers, touches, ticks, connections closing and
 * role changes. Neither server may crash, assert or leak. */
#include "base/buf.h"
#include "base/log.h"
#include "proto/jute.h"
#include "proto/records.h"
#include "server/server.h"
#include "session/session.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PACKETS_MAX 64
#define CONNS       3

struct packet {
    struct buf data;
    int64_t zxid;   /* txns: the zxid */
    int sync_after; /* learner_sync: txns logged before it */
};

struct ens {
    struct server *leader, *learner;
    struct packet fwd[PACKETS_MAX];
    int fwd_count, fwd_done;
    struct packet txns[PACKETS_MAX];
    int txn_count, txn_done;
    int syncs[PACKETS_MAX];
    int sync_count, sync_done;
    int64_t last_zxid, persisted;
    int64_t revalidate_id;
    bool open[2][CONNS];
    int64_t now;
    bool diverged; /* raw txns, or more than PACKETS_MAX: the trees may differ */
};

static void on_send(void *ctx, uint64_t conn, const uint8_t *frame, size_t len)
{
    (void)ctx;
    (void)conn;
    (void)frame;
    (void)len;
}

static void on_close(void *ctx, uint64_t conn)
{
    (void)ctx;
    (void)conn;
}

static int64_t on_wall(void *ctx)
{
    (void)ctx;
    return 1700000000000;
}

static void on_log(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct ens *e = ctx;
    e->last_zxid = zxid;
    if (e->txn_count == PACKETS_MAX) {
        e->diverged = true; /* the learner misses the rest: it must cope */
        return;
    }
    struct packet *p = &e->txns[e->txn_count++];
    buf_clear(&p->data);
    buf_append(&p->data, txn, len);
    p->zxid = zxid;
}

static void on_forward(void *ctx, const uint8_t *data, size_t len, const struct zk_id *auth,
                       size_t auth_len)
{
    (void)auth;
    (void)auth_len;
    struct ens *e = ctx;
    if (e->fwd_count == PACKETS_MAX)
        return;
    struct packet *p = &e->fwd[e->fwd_count++];
    buf_clear(&p->data);
    buf_append(&p->data, data, len);
}

static void on_revalidate(void *ctx, int64_t session_id, int32_t timeout_ms)
{
    (void)timeout_ms;
    ((struct ens *)ctx)->revalidate_id = session_id;
}

static void on_learner_sync(void *ctx, int64_t sid)
{
    (void)sid;
    struct ens *e = ctx;
    if (e->sync_count < PACKETS_MAX)
        e->syncs[e->sync_count++] = e->txn_count;
}

/* The quorum port: REQUESTs up, commits and SYNCs down, in order. */
static void relay(struct ens *e)
{
    char err[128];
    struct zk_id ip = {.scheme = jute_cstr("ip"), .id = jute_cstr("127.0.0.1")};
    for (; e->fwd_done < e->fwd_count; e->fwd_done++) {
        const struct buf *d = &e->fwd[e->fwd_done].data;
        int rc =
            server_learner_request(e->leader, 2, d->data, d->len, &ip, 1, e->now, err, sizeof(err));
        (void)rc;
    }
    server_persisted(e->leader, e->last_zxid, e->now);
    e->persisted = e->last_zxid;
    for (; e->txn_done < e->txn_count; e->txn_done++) {
        while (e->sync_done < e->sync_count && e->syncs[e->sync_done] <= e->txn_done) {
            server_sync_done(e->learner, e->now);
            e->sync_done++;
        }
        const struct buf *t = &e->txns[e->txn_done].data;
        int rc = server_apply_committed(e->learner, t->data, t->len, e->now, err, sizeof(err));
        (void)rc;
    }
    for (; e->sync_done < e->sync_count; e->sync_done++)
        server_sync_done(e->learner, e->now);
}

static void connect_frame(struct server *s, uint64_t conn, int64_t session, int64_t now)
{
    struct buf b;
    buf_init(&b);
    uint8_t pw[16] = {0};
    if (session)
        session_password(session, pw);
    struct zk_connect_request req = {
        .time_out = 4000, .session_id = session, .passwd = {.ptr = pw, .len = 16}};
    zk_connect_request_encode(&b, &req);
    server_conn_receive(s, conn, b.data, b.len, now);
    buf_deinit(&b);
}

static void close_all(struct ens *e)
{
    for (int w = 0; w < 2; w++) {
        for (uint64_t c = 0; c < CONNS; c++) {
            if (!e->open[w][c])
                continue;
            server_conn_closed(w ? e->leader : e->learner, c + 1, e->now);
            e->open[w][c] = false;
        }
    }
}

/* A new term: the relay's queues are lost with the old connection. */
static void new_term(struct ens *e, uint8_t arg)
{
    close_all(e);
    e->fwd_done = e->fwd_count;
    e->txn_done = e->txn_count;
    e->sync_done = e->sync_count;
    int64_t epoch = (int64_t)(arg % 4 + 2) << 32;
    if (epoch <= server_last_zxid(e->leader))
        epoch = server_last_zxid(e->leader) + 1;
    server_set_role(e->leader, SERVER_LEADER, epoch, e->now);
    server_set_role(e->learner, SERVER_LEARNER, 0, e->now);
}

static void step(struct ens *e, uint8_t op, const uint8_t *p, size_t len)
{
    bool to_leader = op & 0x80;
    struct server *s = to_leader ? e->leader : e->learner;
    uint64_t conn = (uint64_t)((op >> 4) & 7) % CONNS;
    bool *open = &e->open[to_leader][conn];
    char err[128];
    e->now += 7;
    switch (op & 0xf) {
    case 0: /* a client frame; a new connection's first is a good handshake */
        if (!*open) {
            server_conn_open(s, conn + 1, "127.0.0.1", e->now);
            *open = true;
            connect_frame(s, conn + 1, 0, e->now);
        }
        server_conn_receive(s, conn + 1, p, len, e->now);
        break;
    case 1:
        relay(e);
        break;
    case 2: {
        int rc = server_learner_request(e->leader, 2 + (op >> 4), p, len, NULL, 0, e->now, err,
                                        sizeof(err));
        (void)rc;
        break;
    }
    case 3: {
        e->diverged = true;
        int rc = server_apply_committed(e->learner, p, len, e->now, err, sizeof(err));
        (void)rc;
        break;
    }
    case 4:
        server_revalidated(e->learner, e->revalidate_id, op & 0x10, e->now);
        break;
    case 5:
        server_sync_done(e->learner, e->now);
        break;
    case 6:
        e->now += len > 0 ? (int64_t)p[0] * 100 : 1000;
        server_tick(e->leader, e->now);
        server_tick(e->learner, e->now);
        break;
    case 7:
        if (len >= 12) {
            int64_t id = (int64_t)be64_get(p);
            int32_t timeout = (int32_t)be32_get(p + 8);
            server_touch_session(e->leader, id, timeout, e->now);
            (void)server_revalidate_session(e->leader, op >> 4, id, timeout, e->now);
        }
        break;
    case 8: { /* the connection's client reconnects with its session (or the input's) */
        struct server_conn_info info = {0};
        if (*open) {
            (void)server_get_conn_info(s, conn + 1, &info);
            server_conn_closed(s, conn + 1, e->now);
        }
        server_conn_open(s, conn + 1, "127.0.0.1", e->now);
        *open = true;
        int64_t session = len >= 8 ? (int64_t)be64_get(p) : info.session_id;
        connect_frame(s, conn + 1, session, e->now);
        break;
    }
    case 9:
        if (*open)
            server_conn_closed(s, conn + 1, e->now);
        *open = false;
        break;
    case 10: {
        struct buf touched;
        buf_init(&touched);
        server_take_touched(e->learner, &touched);
        buf_deinit(&touched);
        break;
    }
    case 11:
        new_term(e, len > 0 ? p[0] : 0);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_ERROR);
    static struct ens e; /* large; one run at a time */
    memset(&e, 0, sizeof(e));
    for (int i = 0; i < PACKETS_MAX; i++) {
        buf_init(&e.fwd[i].data);
        buf_init(&e.txns[i].data);
    }
    struct server_io io = {.ctx = &e,
                           .send = on_send,
                           .close = on_close,
                           .log_append = on_log,
                           .wall_ms = on_wall,
                           .forward = on_forward,
                           .revalidate = on_revalidate,
                           .learner_sync = on_learner_sync};
    struct server_config cfg = {.tick_time_ms = 2000, .max_buffer = 0xfffff, .server_id = 1};
    e.leader = server_new(&cfg, &io, 0);
    cfg.server_id = 2;
    e.learner = server_new(&cfg, &io, 0);
    server_set_role(e.leader, SERVER_LEADER, (int64_t)1 << 32, 0);
    server_set_role(e.learner, SERVER_LEARNER, 0, 0);

    /* commands: op, a 2-byte length, that many bytes */
    size_t pos = 0;
    while (pos + 3 <= size) {
        uint8_t op = data[pos];
        size_t len = (size_t)data[pos + 1] << 8 | data[pos + 2];
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        step(&e, op, data + pos, len);
        pos += len;
    }
    relay(&e);
    /* every txn the leader committed reached the learner: the same tree */
    struct server_stats a, b;
    server_get_stats(e.leader, &a);
    server_get_stats(e.learner, &b);
    if (!e.diverged && (a.node_count != b.node_count || a.ephemeral_count != b.ephemeral_count ||
                        a.data_bytes != b.data_bytes || a.last_zxid != b.last_zxid))
        abort();
    close_all(&e);
    server_free(e.leader);
    server_free(e.learner);
    for (int i = 0; i < PACKETS_MAX; i++) {
        buf_deinit(&e.fwd[i].data);
        buf_deinit(&e.txns[i].data);
    }
    return 0;
}
