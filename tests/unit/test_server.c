/* SPDX-License-Identifier: Apache-2.0 */
/* The server state machine driven by hand: frames in, frames out, the log
 * "persisting" when the test says so, time moved by the test. */
#include "check.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/server.h"
#include "server/server_int.h" /* apply_txn: a leader's txns, until a follower drives it */
#include "session/session.h"

#include <string.h>

#define MAX_FRAMES 64
/* SERVER_WATCH_CLEAR_SLICE (server_int.h), as this test sees it */
#define SERVER_WATCH_CLEAR_SLICE_FOR_TEST 4096

struct frame {
    uint64_t conn;
    uint8_t bytes[512];
    size_t len;
};

struct fake {
    struct frame frames[MAX_FRAMES];
    int count;
    uint64_t closed[8];
    int closed_count;
    int64_t logged_zxid;
    int logged;
    struct {
        uint8_t bytes[256];
        size_t len;
    } txns[8]; /* the first txns logged, as logged */
    int txn_count;
};

static void fake_send(void *ctx, uint64_t conn, const uint8_t *frame, size_t len)
{
    struct fake *f = ctx;
    if (f->count < MAX_FRAMES && len <= sizeof(f->frames[0].bytes)) {
        f->frames[f->count].conn = conn;
        memcpy(f->frames[f->count].bytes, frame, len);
        f->frames[f->count].len = len;
        f->count++;
    }
}

static void fake_close(void *ctx, uint64_t conn)
{
    struct fake *f = ctx;
    if (f->closed_count < 8)
        f->closed[f->closed_count++] = conn;
}

static void fake_log(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct fake *f = ctx;
    f->logged_zxid = zxid;
    f->logged++;
    if (f->txn_count < 8 && len <= sizeof(f->txns[0].bytes)) {
        memcpy(f->txns[f->txn_count].bytes, txn, len);
        f->txns[f->txn_count++].len = len;
    }
}

static int64_t fake_wall(void *ctx)
{
    (void)ctx;
    return 1700000000000;
}

/* A server whose outputs land in f (zeroed here); its session ids carry server_id. */
static struct server *fake_server_id(struct fake *f, int64_t server_id)
{
    memset(f, 0, sizeof(*f));
    struct server_io io = {.ctx = f,
                           .send = fake_send,
                           .close = fake_close,
                           .log_append = fake_log,
                           .wall_ms = fake_wall};
    struct server_config cfg = {
        .tick_time_ms = 2000, .max_buffer = 0xfffff, .server_id = server_id};
    return server_new(&cfg, &io, 0);
}

static struct server *fake_server(struct fake *f)
{
    return fake_server_id(f, 0);
}

static void send_frame(struct server *s, uint64_t conn, struct buf *b, int64_t now)
{
    server_conn_receive(s, conn, b->data + 4, b->len - 4, now);
    buf_clear(b);
}

static void connect(struct server *s, uint64_t conn, int64_t session, int64_t now)
{
    struct buf b;
    buf_init(&b);
    size_t at = frame_begin(&b);
    uint8_t pw[16] = {0};
    struct zk_connect_request req = {
        .time_out = 10000, .session_id = session, .passwd = {.ptr = pw, .len = 16}};
    zk_connect_request_encode(&b, &req);
    jute_write_bool(&b, false);
    frame_end(&b, at);
    send_frame(s, conn, &b, now);
    buf_deinit(&b);
}

static void request(struct server *s, uint64_t conn, int32_t xid, int32_t type, const char *path,
                    bool watch, int64_t now)
{
    struct buf b;
    buf_init(&b);
    size_t at = frame_begin(&b);
    struct zk_request_header h = {.xid = xid, .type = type};
    zk_request_header_encode(&b, &h);
    if (type == ZK_OP_CREATE || type == ZK_OP_CREATE2) {
        struct zk_acl acl = {.perms = 31,
                             .id = {.scheme = jute_cstr("world"), .id = jute_cstr("anyone")}};
        struct zk_create_request req = {.path = jute_cstr(path),
                                        .data = {.ptr = (const uint8_t *)"v", .len = 1},
                                        .acl = {.count = 1, .items = &acl},
                                        .flags = watch ? 3 : 0};
        zk_create_request_encode(&b, &req);
    } else if (type == ZK_OP_GET_DATA || type == ZK_OP_EXISTS || type == ZK_OP_GET_CHILDREN) {
        struct zk_path_watch_request req = {.path = jute_cstr(path), .watch = watch};
        zk_path_watch_request_encode(&b, &req);
    } else if (type == ZK_OP_DELETE) {
        struct zk_path_version_request req = {.path = jute_cstr(path), .version = -1};
        zk_path_version_request_encode(&b, &req);
    }
    frame_end(&b, at);
    send_frame(s, conn, &b, now);
    buf_deinit(&b);
}

static struct zk_reply_header reply_of(const struct frame *fr, struct jute_reader *r)
{
    jute_reader_init(r, fr->bytes + 4, fr->len - 4);
    struct zk_reply_header h = {0};
    CHECK(zk_reply_header_decode(r, &h) == 0);
    return h;
}

static struct zk_reply_header reply_at(struct fake *f, int i, struct jute_reader *r)
{
    CHECK(i < f->count);
    return reply_of(&f->frames[i < f->count ? i : 0], r);
}

/* Freed with writes in flight on one path, the first of them committed: the
 * second's record points back to the first's, freed at its commit. Freeing
 * the server must not follow it (found by czk-sim; ASan reports the read). */
static void test_free_with_writes_in_flight(void)
{
    struct fake f;
    struct server *s = fake_server(&f);
    server_conn_open(s, 1, "127.0.0.1", 0);
    connect(s, 1, 0, 0);
    server_persisted(s, f.logged_zxid, 1);
    request(s, 1, 1, ZK_OP_CREATE, "/x", false, 1);
    int64_t first = f.logged_zxid;
    request(s, 1, 2, ZK_OP_DELETE, "/x", false, 1);
    CHECK_EQ_INT(f.logged_zxid, first + 1);
    server_persisted(s, first, 2);
    CHECK_EQ_INT(server_outstanding(s), 1);
    server_free(s);
}

/* The disk is full: the log refuses a batch, and every txn from its first
 * zxid on is dropped and answered SYSTEMERROR; nothing was applied. */
static void test_log_failed(void)
{
    struct fake f;
    struct server *s = fake_server(&f);
    server_conn_open(s, 1, "127.0.0.1", 0);
    connect(s, 1, 0, 0);
    server_persisted(s, f.logged_zxid, 1);
    request(s, 1, 1, ZK_OP_CREATE, "/a", false, 1);
    server_persisted(s, f.logged_zxid, 1);
    struct server_stats st;
    server_get_stats(s, &st);
    size_t nodes = st.node_count;
    int64_t applied = st.last_zxid;

    /* pipelined: writes prepped on top of each other, a read between them,
     * a handshake of another connection */
    f.count = 0;
    request(s, 1, 2, ZK_OP_CREATE, "/b", false, 2);
    int64_t from = f.logged_zxid;
    CHECK_EQ_INT(from, applied + 1);
    request(s, 1, 3, ZK_OP_GET_DATA, "/a", false, 2);
    request(s, 1, 4, ZK_OP_CREATE, "/b/c", false, 2);
    server_conn_open(s, 2, "127.0.0.1", 2);
    connect(s, 2, 0, 2);
    request(s, 1, 5, ZK_OP_DELETE, "/a", false, 2);
    CHECK_EQ_INT(f.logged_zxid, from + 3);
    CHECK_EQ_INT(f.count, 0);
    CHECK_EQ_INT(server_outstanding(s), 5);

    CHECK_EQ_INT(server_log_failed(s, from, 3), 4);
    /* session 1: its answers in order, the read between them succeeds */
    struct jute_reader r;
    CHECK_EQ_INT(f.count, 4);
    int32_t xids[4] = {2, 3, 4, 5};
    int32_t errs[4] = {ZK_SYSTEMERROR, ZK_OK, ZK_SYSTEMERROR, ZK_SYSTEMERROR};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(f.frames[i].conn, 1);
        struct zk_reply_header h = reply_at(&f, i, &r);
        CHECK_EQ_INT(h.xid, xids[i]);
        CHECK_EQ_INT(h.err, errs[i]);
        CHECK_EQ_INT(h.zxid, applied);
        if (errs[i])
            CHECK_EQ_INT(jute_reader_remaining(&r), 0);
    }
    /* connection 2 never got a session: closed without an answer */
    CHECK_EQ_INT(f.closed_count, 1);
    CHECK_EQ_INT(f.closed[0], 2);
    CHECK_EQ_INT(server_outstanding(s), 0);
    server_get_stats(s, &st);
    CHECK_EQ_INT(st.session_count, 1);
    CHECK_EQ_INT(st.node_count, nodes);
    CHECK_EQ_INT(st.last_zxid, applied);
    server_conn_closed(s, 2, 3);

    /* space is back: zxids continue from the refused one; prep sees the tree
     * without the refused changes (/b does not exist, /a does) */
    f.count = 0;
    request(s, 1, 6, ZK_OP_CREATE, "/b/c", false, 4);
    CHECK_EQ_INT(f.logged_zxid, from);
    request(s, 1, 7, ZK_OP_CREATE, "/b", false, 4);
    request(s, 1, 8, ZK_OP_DELETE, "/a", false, 4);
    server_persisted(s, f.logged_zxid, 5);
    CHECK_EQ_INT(f.count, 3);
    CHECK_EQ_INT(reply_at(&f, 0, &r).err, ZK_NONODE);
    struct zk_reply_header h = reply_at(&f, 1, &r);
    CHECK_EQ_INT(h.err, ZK_OK);
    CHECK_EQ_INT(h.zxid, from + 1);
    CHECK_EQ_INT(reply_at(&f, 2, &r).err, ZK_OK);

    /* a client's closeSession refused: the session stays open */
    f.count = 0;
    request(s, 1, 9, ZK_OP_CLOSE_SESSION, "", false, 6);
    from = f.logged_zxid;
    request(s, 1, 10, ZK_OP_EXISTS, "/b", false, 6);
    CHECK_EQ_INT(server_log_failed(s, from, 6), 1);
    CHECK_EQ_INT(f.count, 2);
    CHECK_EQ_INT(reply_at(&f, 0, &r).err, ZK_SYSTEMERROR);
    CHECK_EQ_INT(reply_at(&f, 1, &r).err, ZK_SESSIONEXPIRED); /* asked while closing */
    CHECK_EQ_INT(f.closed_count, 1);
    f.count = 0;
    request(s, 1, 11, ZK_OP_EXISTS, "/b", false, 7);
    CHECK_EQ_INT(f.count, 1);
    CHECK_EQ_INT(reply_at(&f, 0, &r).err, ZK_OK);

    /* an ephemeral; then the session expires while the disk is full */
    request(s, 1, 12, ZK_OP_CREATE, "/e", true, 8);
    server_persisted(s, f.logged_zxid, 8);
    server_conn_closed(s, 1, 9);
    int logged = f.logged;
    server_tick(s, 30000);
    CHECK_EQ_INT(f.logged, logged + 1);
    CHECK_EQ_INT(server_log_failed(s, f.logged_zxid, 30000), 1);
    server_get_stats(s, &st);
    CHECK_EQ_INT(st.session_count, 1);
    CHECK_EQ_INT(st.ephemeral_count, 1);
    /* expiry tries again at the next tick, and this time it is logged */
    server_tick(s, 30001);
    CHECK_EQ_INT(f.logged, logged + 1);
    CHECK(server_next_tick_ms(s) <= 32000);
    server_tick(s, 32000);
    CHECK_EQ_INT(f.logged, logged + 2);
    server_persisted(s, f.logged_zxid, 32000);
    server_get_stats(s, &st);
    CHECK_EQ_INT(st.session_count, 0);
    CHECK_EQ_INT(st.ephemeral_count, 0);
    server_free(s);
}

/* Txns this server did not prep (a leader's) go through the same apply stage
 * as its own: sessions come and go with them, watches of local clients fire,
 * and nobody is answered. */
static void test_apply_leader_txns(void)
{
    struct fake fl, ff;
    struct server *leader = fake_server_id(&fl, 2);
    struct server *follower = fake_server(&ff);
    server_set_last_zxid(leader, 200); /* after the follower's own */
    /* the follower's own client watches /x */
    server_conn_open(follower, 1, "127.0.0.1", 0);
    connect(follower, 1, 0, 0);
    server_persisted(follower, ff.logged_zxid, 0);
    request(follower, 1, 1, ZK_OP_EXISTS, "/x", true, 0);
    struct server_stats st;
    server_get_stats(follower, &st);
    size_t nodes = st.node_count;
    CHECK_EQ_INT(st.session_count, 1);

    /* on the leader: a session creates /x and an ephemeral, then closes */
    server_conn_open(leader, 1, "127.0.0.1", 0);
    connect(leader, 1, 0, 0);
    request(leader, 1, 1, ZK_OP_CREATE, "/x", false, 0);
    request(leader, 1, 2, ZK_OP_CREATE, "/e", true, 0);
    request(leader, 1, 3, ZK_OP_CLOSE_SESSION, "", false, 0);
    server_persisted(leader, fl.logged_zxid, 0);
    CHECK_EQ_INT(fl.txn_count, 4);

    ff.count = 0;
    int logged = ff.logged;
    char err[128];
    /* bytes that are no txn are refused before anything changes */
    CHECK_EQ_INT(server_apply_committed(follower, fl.txns[0].bytes, 20, 1, err, sizeof(err)), -1);
    CHECK_EQ_INT(server_apply_committed(follower, fl.txns[0].bytes, 34, 1, err, sizeof(err)), -1);
    server_get_stats(follower, &st);
    CHECK_EQ_INT(st.session_count, 1);
    CHECK_EQ_INT(
        server_apply_committed(follower, fl.txns[0].bytes, fl.txns[0].len, 1, err, sizeof(err)),
        0); /* createSession */
    server_get_stats(follower, &st);
    CHECK_EQ_INT(st.session_count, 2);
    CHECK_EQ_INT(
        server_apply_committed(follower, fl.txns[1].bytes, fl.txns[1].len, 1, err, sizeof(err)),
        0); /* create /x */
    CHECK_EQ_INT(ff.count, 1);
    struct jute_reader r;
    struct zk_reply_header h = reply_at(&ff, 0, &r);
    CHECK_EQ_INT(ff.frames[0].conn, 1);
    CHECK_EQ_INT(h.xid, ZK_XID_NOTIFICATION);
    CHECK_EQ_INT(h.zxid, 202);
    struct zk_watcher_event ev;
    CHECK(zk_watcher_event_decode(&r, &ev) == 0);
    CHECK_EQ_INT(ev.type, ZK_EVENT_NODE_CREATED);
    CHECK(jute_buf_eq(ev.path, "/x", 2));
    CHECK_EQ_INT(
        server_apply_committed(follower, fl.txns[2].bytes, fl.txns[2].len, 1, err, sizeof(err)),
        0); /* the ephemeral */
    server_get_stats(follower, &st);
    CHECK_EQ_INT(st.node_count, nodes + 2);
    CHECK_EQ_INT(st.ephemeral_count, 1);
    CHECK_EQ_INT(
        server_apply_committed(follower, fl.txns[3].bytes, fl.txns[3].len, 1, err, sizeof(err)),
        0); /* closeSession */
    server_get_stats(follower, &st);
    CHECK_EQ_INT(st.session_count, 1);
    CHECK_EQ_INT(st.node_count, nodes + 1);
    CHECK_EQ_INT(st.ephemeral_count, 0);
    CHECK_EQ_INT(st.last_zxid, 204);
    CHECK_EQ_INT(ff.count, 1);
    CHECK_EQ_INT(ff.closed_count, 0);
    CHECK_EQ_INT(ff.logged, logged);
    CHECK_EQ_INT(server_outstanding(follower), 0);

    server_conn_closed(follower, 1, 2);
    server_conn_closed(leader, 1, 2);
    server_free(follower);
    server_free(leader);
}

/* A closed connection's watches go a slice at a time (server_background),
 * never to anyone meanwhile; a small set goes at once. */
static void test_watches_cleared_in_slices(void)
{
    struct fake f;
    struct server *s = fake_server(&f);
    for (uint64_t conn = 1; conn <= 2; conn++) {
        server_conn_open(s, conn, "127.0.0.1", 0);
        connect(s, conn, 0, 0);
        server_persisted(s, f.logged_zxid, 1);
    }
    request(s, 2, 1, ZK_OP_CREATE, "/w", false, 2);
    server_persisted(s, f.logged_zxid, 2);
    /* conn 1 watches 10,000 paths that do not exist (exists, watch=true) */
    enum { WATCHED = 10000 };
    char path[32];
    for (int i = 0; i < WATCHED; i++) {
        snprintf(path, sizeof(path), "/w/n%d", i);
        request(s, 1, 10 + i, ZK_OP_EXISTS, path, true, 3);
    }
    request(s, 1, 1, ZK_OP_GET_DATA, "/w", true, 3);
    struct server_stats st;
    server_get_stats(s, &st);
    CHECK_EQ_INT(st.watch_count, WATCHED + 1);
    CHECK(!server_background(s)); /* nothing to do yet */

    server_conn_closed(s, 1, 4);
    server_get_stats(s, &st);
    CHECK_EQ_INT(st.watch_session_count, 0); /* gone from view at once */
    CHECK(st.watch_count > 0);               /* the tables still hold them */
    /* an event on a watched path meanwhile reaches nobody */
    f.count = 0;
    request(s, 2, 2, ZK_OP_CREATE, "/w/n5", false, 5);
    server_persisted(s, f.logged_zxid, 5);
    CHECK_EQ_INT(f.count, 1);
    CHECK_EQ_INT(f.frames[0].conn, 2);
    int calls = 0;
    while (server_background(s))
        calls++;
    CHECK(calls >= WATCHED / SERVER_WATCH_CLEAR_SLICE_FOR_TEST - 1);
    server_get_stats(s, &st);
    CHECK_EQ_INT(st.watch_count, 0);
    CHECK_EQ_INT(st.watch_path_count, 0);

    /* conn 2's one watch goes as soon as it closes */
    request(s, 2, 3, ZK_OP_GET_DATA, "/w", true, 6);
    server_conn_closed(s, 2, 7);
    server_get_stats(s, &st);
    CHECK_EQ_INT(st.watch_count, 0);
    CHECK(!server_background(s));
    server_free(s);
}

/* ==== an ensemble in one process: a leader, a learner, a standalone
 * reference; the test relays what the quorum port would carry ==== */

#define CAP_FRAMES  128
#define CAP_PACKETS 64

struct cap_auth {
    char scheme[16];
    uint8_t id[128];
    size_t id_len;
};

struct cap {
    struct frame frames[CAP_FRAMES];
    uint8_t frame_big[CAP_FRAMES][1024]; /* the bytes, for frames up to 1 KiB */
    int count;
    uint64_t closed[16];
    int closed_count;
    struct buf fwd[CAP_PACKETS]; /* learner: forwarded REQUEST data */
    struct cap_auth fwd_auth[CAP_PACKETS][4];
    size_t fwd_auth_len[CAP_PACKETS];
    int fwd_count;
    struct buf txns[CAP_PACKETS]; /* leader or standalone: txns logged */
    int txn_count;
    int64_t last_zxid;
    int64_t revalidate_id;
    int32_t revalidate_timeout;
    int revalidate_count;
    int64_t sync_sid[8];
    int sync_after_txns[8]; /* txns logged when the sync arrived */
    int sync_count;
};

static void cap_send(void *ctx, uint64_t conn, const uint8_t *frame, size_t len)
{
    struct cap *c = ctx;
    CHECK(c->count < CAP_FRAMES && len <= sizeof(c->frame_big[0]));
    if (c->count >= CAP_FRAMES || len > sizeof(c->frame_big[0]))
        return;
    c->frames[c->count].conn = conn;
    c->frames[c->count].len = len;
    memcpy(c->frame_big[c->count], frame, len);
    memcpy(c->frames[c->count].bytes, frame, len < 512 ? len : 512);
    c->count++;
}

static void cap_close(void *ctx, uint64_t conn)
{
    struct cap *c = ctx;
    if (c->closed_count < 16)
        c->closed[c->closed_count++] = conn;
}

static void cap_log(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct cap *c = ctx;
    CHECK(zxid > c->last_zxid);
    c->last_zxid = zxid;
    CHECK(c->txn_count < CAP_PACKETS);
    if (c->txn_count < CAP_PACKETS)
        buf_append(&c->txns[c->txn_count++], txn, len);
}

static void cap_forward(void *ctx, const uint8_t *data, size_t len, const struct zk_id *auth,
                        size_t auth_len)
{
    struct cap *c = ctx;
    CHECK(c->fwd_count < CAP_PACKETS);
    if (c->fwd_count >= CAP_PACKETS)
        return;
    buf_append(&c->fwd[c->fwd_count], data, len);
    for (size_t i = 0; i < auth_len && i < 4; i++) {
        struct cap_auth *a = &c->fwd_auth[c->fwd_count][i];
        snprintf(a->scheme, sizeof(a->scheme), "%.*s", (int)auth[i].scheme.len,
                 (const char *)auth[i].scheme.ptr);
        a->id_len = (size_t)auth[i].id.len;
        memcpy(a->id, auth[i].id.ptr, a->id_len);
    }
    c->fwd_auth_len[c->fwd_count] = auth_len < 4 ? auth_len : 4;
    c->fwd_count++;
}

static void cap_revalidate(void *ctx, int64_t session_id, int32_t timeout_ms)
{
    struct cap *c = ctx;
    c->revalidate_id = session_id;
    c->revalidate_timeout = timeout_ms;
    c->revalidate_count++;
}

static void cap_learner_sync(void *ctx, int64_t sid)
{
    struct cap *c = ctx;
    if (c->sync_count < 8) {
        c->sync_sid[c->sync_count] = sid;
        c->sync_after_txns[c->sync_count] = c->txn_count;
        c->sync_count++;
    }
}

static struct server *cap_server_with(struct cap *c, const struct server_config *cfg);

static struct server *cap_server(struct cap *c, int64_t server_id)
{
    struct server_config cfg = {
        .tick_time_ms = 2000, .max_buffer = 0xfffff, .server_id = server_id};
    return cap_server_with(c, &cfg);
}

static struct server *cap_server_with(struct cap *c, const struct server_config *cfg)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < CAP_PACKETS; i++) {
        buf_init(&c->fwd[i]);
        buf_init(&c->txns[i]);
    }
    struct server_io io = {.ctx = c,
                           .send = cap_send,
                           .close = cap_close,
                           .log_append = cap_log,
                           .wall_ms = fake_wall,
                           .forward = cap_forward,
                           .revalidate = cap_revalidate,
                           .learner_sync = cap_learner_sync};
    return server_new(cfg, &io, 0);
}

static void cap_deinit(struct cap *c)
{
    for (int i = 0; i < CAP_PACKETS; i++) {
        buf_deinit(&c->fwd[i]);
        buf_deinit(&c->txns[i]);
    }
}

/* The leader's view of a learner's packet's auth ids. */
static size_t cap_ids(const struct cap *c, int i, struct zk_id *out)
{
    size_t n = c->fwd_auth_len[i];
    for (size_t k = 0; k < n; k++) {
        out[k].scheme = jute_cstr(c->fwd_auth[i][k].scheme);
        out[k].id = jute_buf_of(c->fwd_auth[i][k].id, c->fwd_auth[i][k].id_len);
    }
    return n;
}

/* The quorum port between them: the learner's REQUESTs go to the leader
 * (learner sid 2), the leader logs and commits, its txns come back to the
 * learner in zxid order, each SYNC after the txns proposed before its sync. */
struct relay {
    struct server *leader, *learner;
    struct cap *cl, *cf;
    int fwd_done, txn_done, sync_done;
};

static void relay_once(struct relay *r, int64_t now)
{
    char err[128];
    for (; r->fwd_done < r->cf->fwd_count; r->fwd_done++) {
        struct zk_id ids[4];
        size_t n = cap_ids(r->cf, r->fwd_done, ids);
        const struct buf *d = &r->cf->fwd[r->fwd_done];
        CHECK_EQ_INT(
            server_learner_request(r->leader, 2, d->data, d->len, ids, n, now, err, sizeof(err)),
            0);
    }
    server_persisted(r->leader, r->cl->last_zxid, now);
    for (; r->txn_done < r->cl->txn_count; r->txn_done++) {
        while (r->sync_done < r->cl->sync_count &&
               r->cl->sync_after_txns[r->sync_done] == r->txn_done) {
            server_sync_done(r->learner, now);
            r->sync_done++;
        }
        const struct buf *t = &r->cl->txns[r->txn_done];
        CHECK_EQ_INT(server_apply_committed(r->learner, t->data, t->len, now, err, sizeof(err)), 0);
    }
    while (r->sync_done < r->cl->sync_count) {
        server_sync_done(r->learner, now);
        r->sync_done++;
    }
}

/* Until nothing moves: an answered sync lets the requests parked behind it
 * be forwarded. */
static void relay_run(struct relay *r, int64_t now)
{
    do
        relay_once(r, now);
    while (r->fwd_done < r->cf->fwd_count);
}

static void send_record(struct server *s, uint64_t conn, int32_t xid, int32_t type,
                        const struct buf *record, int64_t now)
{
    struct buf b;
    buf_init(&b);
    size_t at = frame_begin(&b);
    struct zk_request_header h = {.xid = xid, .type = type};
    zk_request_header_encode(&b, &h);
    if (record)
        buf_append(&b, record->data, record->len);
    frame_end(&b, at);
    send_frame(s, conn, &b, now);
    buf_deinit(&b);
}

static const struct zk_acl world_acl = {
    .perms = 31,
    .id = {.scheme = {(const uint8_t *)"world", 5}, .id = {(const uint8_t *)"anyone", 6}}};

static void create_record(struct buf *b, const char *path, int32_t flags, const struct zk_acl *acl)
{
    struct zk_create_request req = {.path = jute_cstr(path),
                                    .data = {.ptr = (const uint8_t *)"v", .len = 1},
                                    .acl = {.count = 1, .items = acl},
                                    .flags = flags};
    zk_create_request_encode(b, &req);
}

/* One session's script: every kind of reply a write can get, reads and a
 * sync between them, a watch, then closeSession. */
static void script(struct server *s, uint64_t conn, int64_t now)
{
    struct buf rec;
    buf_init(&rec);
    create_record(&rec, "/a", 0, &world_acl);
    send_record(s, conn, 1, ZK_OP_CREATE, &rec, now);
    request(s, conn, 2, ZK_OP_GET_DATA, "/a", true, now); /* waits for create /a */
    buf_clear(&rec);
    create_record(&rec, "/a", 0, &world_acl); /* NODEEXISTS: an ErrorTxn */
    send_record(s, conn, 3, ZK_OP_CREATE2, &rec, now);
    buf_clear(&rec);
    struct zk_multi_header mh = {.type = ZK_OP_CREATE, .done = false, .err = -1};
    zk_multi_header_encode(&rec, &mh);
    create_record(&rec, "/m", 0, &world_acl);
    mh.type = ZK_OP_DELETE;
    zk_multi_header_encode(&rec, &mh);
    struct zk_path_version_request del = {.path = jute_cstr("/nope"), .version = -1};
    zk_path_version_request_encode(&rec, &del);
    struct zk_multi_header end = {.type = -1, .done = true, .err = -1};
    zk_multi_header_encode(&rec, &end);
    send_record(s, conn, 4, ZK_OP_MULTI, &rec, now); /* a MultiTxn with errors */
    buf_clear(&rec);
    struct zk_set_data_request sd = {
        .path = jute_cstr("/a"), .data = {.ptr = (const uint8_t *)"w", .len = 1}, .version = 0};
    zk_set_data_request_encode(&rec, &sd);
    send_record(s, conn, 5, ZK_OP_SET_DATA, &rec, now); /* fires the watch */
    buf_clear(&rec);
    struct zk_path_request sync = {.path = jute_cstr("/a")};
    zk_path_request_encode(&rec, &sync);
    send_record(s, conn, 6, ZK_OP_SYNC, &rec, now);
    request(s, conn, 7, ZK_OP_EXISTS, "/a", false, now);
    buf_clear(&rec);
    create_record(&rec, "/e", 3, &world_acl); /* ephemeral sequential */
    send_record(s, conn, 8, ZK_OP_CREATE2, &rec, now);
    buf_clear(&rec);
    struct zk_multi_header bad = {.type = ZK_OP_CREATE, .done = false, .err = -1};
    zk_multi_header_encode(&rec, &bad); /* and no op behind it: MARSHALLINGERROR */
    send_record(s, conn, 9, ZK_OP_MULTI, &rec, now);
    request(s, conn, 10, ZK_OP_CLOSE_SESSION, "", false, now);
    buf_deinit(&rec);
}

/* A learner answers its client with exactly the bytes standalone sends for
 * the same requests: the leader's committed txns are matched to the
 * forwarded requests by session and cxid and go through the same apply
 * stage; reads wait behind the session's forwarded writes. */
static void test_learner_replies_match_standalone(void)
{
    static struct cap cr, cl, cf; /* large: not on the stack */
    const int64_t epoch_zxid = (int64_t)1 << 32;
    struct server *ref = cap_server(&cr, 2);
    server_set_last_zxid(ref, epoch_zxid);
    struct server *leader = cap_server(&cl, 1);
    server_set_role(leader, SERVER_LEADER, epoch_zxid, 0);
    CHECK_EQ_INT(server_role(leader), SERVER_LEADER);
    struct server *learner = cap_server(&cf, 2); /* ids as the reference makes them */
    server_set_role(learner, SERVER_LEARNER, 0, 0);

    server_conn_open(ref, 1, "127.0.0.1", 0);
    connect(ref, 1, 0, 0);
    script(ref, 1, 0);
    server_persisted(ref, cr.last_zxid, 0);

    server_conn_open(learner, 1, "127.0.0.1", 0);
    connect(learner, 1, 0, 0);
    script(learner, 1, 0);
    CHECK_EQ_INT(cf.count, 0);     /* nothing answered before the leader commits */
    CHECK_EQ_INT(cf.txn_count, 0); /* a learner logs nothing itself */
    /* forwarded: createSession, 4 writes, 1 sync; what the session sent
     * after the sync waits for its answer; reads stay local */
    CHECK_EQ_INT(cf.fwd_count, 6);
    const struct buf *cs = &cf.fwd[0];
    CHECK_EQ_INT(cs->len, 20);
    int64_t session = (int64_t)be64_get(cs->data);
    CHECK_EQ_INT((uint64_t)session >> 56, 2);
    CHECK_EQ_INT(be32_get(cs->data + 8), 0);
    CHECK_EQ_INT((int32_t)be32_get(cs->data + 12), ZK_OP_CREATE_SESSION);
    CHECK_EQ_INT(be32_get(cs->data + 16), 10000);
    const struct buf *sy = &cf.fwd[5];
    CHECK_EQ_INT((int32_t)be32_get(sy->data + 12), ZK_OP_SYNC);
    CHECK_EQ_INT(be32_get(sy->data + 8), 6);
    CHECK_EQ_INT(cf.fwd_auth_len[1], 1);
    CHECK(strcmp(cf.fwd_auth[1][0].scheme, "ip") == 0);
    CHECK_EQ_INT(cf.fwd_auth[1][0].id_len, 9);

    struct relay r = {.leader = leader, .learner = learner, .cl = &cl, .cf = &cf};
    relay_run(&r, 0);
    CHECK_EQ_INT(cl.sync_count, 1);
    CHECK_EQ_INT(cl.sync_sid[0], 2);
    CHECK_EQ_INT(cl.txn_count, cr.txn_count);
    for (int i = 0; i < cl.txn_count && i < cr.txn_count; i++) {
        CHECK_EQ_INT(cl.txns[i].len, cr.txns[i].len);
        CHECK(cl.txns[i].len == cr.txns[i].len &&
              memcmp(cl.txns[i].data, cr.txns[i].data, cl.txns[i].len) == 0);
    }
    /* ConnectResponse, 10 replies, 1 watch event */
    CHECK_EQ_INT(cr.count, 12);
    CHECK_EQ_INT(cf.count, cr.count);
    for (int i = 0; i < cf.count && i < cr.count; i++) {
        CHECK_EQ_INT(cf.frames[i].len, cr.frames[i].len);
        CHECK(cf.frames[i].len == cr.frames[i].len &&
              memcmp(cf.frame_big[i], cr.frame_big[i], cf.frames[i].len) == 0);
    }
    /* and they are the answers expected, not merely equal */
    int32_t xids[12] = {0, 1, 2, 3, 4, -1, 5, 6, 7, 8, 9, 10};
    int32_t errs[12] = {0, 0, 0, ZK_NODEEXISTS, 0, 0, 0, 0, 0, 0, ZK_MARSHALLINGERROR, 0};
    for (int i = 1; i < 12 && i < cf.count; i++) {
        struct jute_reader rd;
        jute_reader_init(&rd, cf.frame_big[i] + 4, cf.frames[i].len - 4);
        struct zk_reply_header h = {0};
        CHECK(zk_reply_header_decode(&rd, &h) == 0);
        CHECK_EQ_INT(h.xid, xids[i]);
        CHECK_EQ_INT(h.err, errs[i]);
        if (h.xid == 4) { /* the multi: create ok, then the delete's NONODE */
            struct zk_multi_header mh;
            CHECK(zk_multi_header_decode(&rd, &mh) == 0);
            CHECK_EQ_INT(mh.type, ZK_OP_ERROR);
            CHECK_EQ_INT(mh.err, ZK_OK);
        }
    }
    CHECK_EQ_INT(cf.closed_count, 1);
    CHECK_EQ_INT(cr.closed_count, 1);
    struct server_stats st, sr;
    server_get_stats(learner, &st);
    server_get_stats(ref, &sr);
    CHECK_EQ_INT(st.session_count, 0);
    CHECK_EQ_INT(st.node_count, sr.node_count);
    CHECK_EQ_INT(st.last_zxid, sr.last_zxid);
    CHECK_EQ_INT(server_outstanding(learner), 0);

    server_conn_closed(ref, 1, 1);
    server_conn_closed(learner, 1, 1);
    server_free(ref);
    server_free(leader);
    server_free(learner);
    cap_deinit(&cr);
    cap_deinit(&cl);
    cap_deinit(&cf);
}

static void connect_pw(struct server *s, uint64_t conn, int64_t session, bool right_passwd,
                       int64_t now)
{
    struct buf b;
    buf_init(&b);
    size_t at = frame_begin(&b);
    uint8_t pw[16] = {0};
    if (right_passwd)
        session_password(session, pw);
    struct zk_connect_request req = {
        .time_out = 10000, .session_id = session, .passwd = {.ptr = pw, .len = 16}};
    zk_connect_request_encode(&b, &req);
    jute_write_bool(&b, false);
    frame_end(&b, at);
    send_frame(s, conn, &b, now);
    buf_deinit(&b);
}

static struct zk_connect_response connect_response_at(struct cap *c, int i)
{
    struct zk_connect_response cr = {0};
    CHECK(i < c->count);
    if (i >= c->count)
        return cr;
    struct jute_reader r;
    jute_reader_init(&r, c->frame_big[i] + 4, c->frames[i].len - 4);
    CHECK(zk_connect_response_decode(&r, &cr) == 0);
    return cr;
}

static struct zk_reply_header cap_reply_at(struct cap *c, int i)
{
    struct zk_reply_header h = {0};
    CHECK(i < c->count);
    if (i >= c->count)
        return h;
    struct jute_reader r;
    jute_reader_init(&r, c->frame_big[i] + 4, c->frames[i].len - 4);
    CHECK(zk_reply_header_decode(&r, &h) == 0);
    return h;
}

/* A session re-attaching to a learner is answered only when the leader has
 * revalidated it; a wrong password is refused at once; a session the leader
 * does not know is refused and leaves nothing behind; a session moved to
 * another learner has its connection here closed at its next write (the
 * leader's SESSIONMOVED, as FinalRequestProcessor does). */
static void test_learner_revalidation(void)
{
    static struct cap cl, cf;
    struct server *leader = cap_server(&cl, 1);
    server_set_role(leader, SERVER_LEADER, (int64_t)1 << 32, 0);
    struct server *learner = cap_server(&cf, 2);
    server_set_role(learner, SERVER_LEARNER, 0, 0);
    struct relay r = {.leader = leader, .learner = learner, .cl = &cl, .cf = &cf};
    server_conn_open(learner, 1, "127.0.0.1", 0);
    connect(learner, 1, 0, 0);
    relay_run(&r, 0);
    CHECK_EQ_INT(cf.count, 1);
    int64_t session = connect_response_at(&cf, 0).session_id;
    CHECK(session != 0);
    server_conn_closed(learner, 1, 1);

    /* the client comes back on another connection, pipelining a read */
    server_conn_open(learner, 2, "127.0.0.1", 1);
    connect_pw(learner, 2, session, true, 1);
    request(learner, 2, 1, ZK_OP_EXISTS, "/", false, 1);
    CHECK_EQ_INT(cf.count, 1);
    CHECK_EQ_INT(cf.revalidate_count, 1);
    CHECK_EQ_INT(cf.revalidate_id, session);
    CHECK_EQ_INT(cf.revalidate_timeout, 10000);
    CHECK(server_revalidate_session(leader, 2, session, 10000, 1));
    server_revalidated(learner, session, true, 1);
    CHECK_EQ_INT(cf.count, 3);
    struct zk_connect_response cr = connect_response_at(&cf, 1);
    CHECK_EQ_INT(cr.session_id, session);
    CHECK_EQ_INT(cr.time_out, 10000);
    CHECK_EQ_INT(cap_reply_at(&cf, 2).xid, 1);
    CHECK_EQ_INT(cf.frames[2].conn, 2);

    /* a wrong password: refused without asking the leader */
    server_conn_open(learner, 3, "127.0.0.1", 2);
    connect_pw(learner, 3, session, false, 2);
    CHECK_EQ_INT(cf.revalidate_count, 1);
    CHECK_EQ_INT(cf.count, 4);
    CHECK_EQ_INT(connect_response_at(&cf, 3).session_id, 0);
    CHECK_EQ_INT(cf.closed[cf.closed_count - 1], 3);
    server_conn_closed(learner, 3, 2);

    /* a session nobody knows: the leader says no */
    struct server_stats st;
    server_get_stats(learner, &st);
    size_t sessions = st.session_count;
    int64_t unknown = session + 77;
    server_conn_open(learner, 4, "127.0.0.1", 3);
    connect_pw(learner, 4, unknown, true, 3);
    CHECK_EQ_INT(cf.revalidate_count, 2);
    CHECK(!server_revalidate_session(leader, 2, unknown, 10000, 3));
    server_revalidated(learner, unknown, false, 3);
    CHECK_EQ_INT(cf.count, 5);
    cr = connect_response_at(&cf, 4);
    CHECK_EQ_INT(cr.session_id, 0);
    CHECK_EQ_INT(cr.time_out, 0);
    CHECK_EQ_INT(cf.closed[cf.closed_count - 1], 4);
    server_conn_closed(learner, 4, 3);
    server_get_stats(learner, &st);
    CHECK_EQ_INT(st.session_count, sessions);

    /* the session moves to learner 3: this learner's write of it is refused */
    CHECK(server_revalidate_session(leader, 3, session, 10000, 4));
    struct buf rec;
    buf_init(&rec);
    create_record(&rec, "/x", 0, &world_acl);
    send_record(learner, 2, 2, ZK_OP_CREATE, &rec, 4);
    buf_deinit(&rec);
    relay_run(&r, 4);
    /* SESSIONMOVED (ZOOKEEPER-710): no answer, the connection closes */
    CHECK_EQ_INT(cf.count, 5);
    CHECK_EQ_INT(cf.closed[cf.closed_count - 1], 2);

    server_conn_closed(learner, 2, 5);
    server_free(leader);
    server_free(learner);
    cap_deinit(&cl);
    cap_deinit(&cf);
}

/* czk's leader answers a sync after a quorum round, so a write proposed
 * after the sync can commit before the SYNC reaches the learner. What a
 * session sends after its sync must wait for the sync's answer: let
 * through, the write would be applied first, the read queued behind the
 * sync would see a write sent after it, and the write's reply would follow
 * the sync's higher zxid (found by czk-sim --pipeline-after-sync). */
static void test_learner_holds_requests_behind_a_sync(void)
{
    static struct cap cl, cf;
    struct server *leader = cap_server(&cl, 1);
    server_set_role(leader, SERVER_LEADER, (int64_t)1 << 32, 0);
    struct server *learner = cap_server(&cf, 2);
    server_set_role(learner, SERVER_LEARNER, 0, 0);
    struct relay r = {.leader = leader, .learner = learner, .cl = &cl, .cf = &cf};
    server_conn_open(learner, 1, "127.0.0.1", 0);
    connect(learner, 1, 0, 0);
    struct buf rec;
    buf_init(&rec);
    create_record(&rec, "/a", 0, &world_acl);
    send_record(learner, 1, 1, ZK_OP_CREATE, &rec, 0);
    relay_run(&r, 0);
    CHECK_EQ_INT(cf.count, 2);
    buf_clear(&rec);
    struct zk_path_request sync = {.path = jute_cstr("/a")};
    zk_path_request_encode(&rec, &sync);
    send_record(learner, 1, 2, ZK_OP_SYNC, &rec, 1);
    request(learner, 1, 3, ZK_OP_GET_DATA, "/a", false, 1);
    buf_clear(&rec);
    struct zk_set_data_request sd = {
        .path = jute_cstr("/a"), .data = {.ptr = (const uint8_t *)"w", .len = 1}, .version = -1};
    zk_set_data_request_encode(&rec, &sd);
    send_record(learner, 1, 4, ZK_OP_SET_DATA, &rec, 1);
    buf_deinit(&rec);
    CHECK_EQ_INT(cf.fwd_count, 3); /* createSession, create, sync: not the setData */
    /* the leader as czk's: whatever it was sent commits, and reaches the
     * learner, before the SYNC */
    char err[128];
    for (; r.fwd_done < cf.fwd_count; r.fwd_done++) {
        struct zk_id ids[4];
        size_t n = cap_ids(&cf, r.fwd_done, ids);
        CHECK_EQ_INT(server_learner_request(leader, 2, cf.fwd[r.fwd_done].data,
                                            cf.fwd[r.fwd_done].len, ids, n, 1, err, sizeof(err)),
                     0);
    }
    server_persisted(leader, cl.last_zxid, 1);
    for (; r.txn_done < cl.txn_count; r.txn_done++)
        CHECK_EQ_INT(server_apply_committed(learner, cl.txns[r.txn_done].data,
                                            cl.txns[r.txn_done].len, 1, err, sizeof(err)),
                     0);
    CHECK_EQ_INT(cf.count, 2); /* the sync, the read and the write wait */
    server_sync_done(learner, 2);
    r.sync_done = cl.sync_count;
    CHECK_EQ_INT(cf.count, 4);
    CHECK_EQ_INT(cf.fwd_count, 4); /* now the setData */
    relay_run(&r, 3);
    CHECK_EQ_INT(cf.count, 5);
    int64_t last_zxid = 0;
    for (int i = 2; i < cf.count; i++) {
        struct jute_reader rd;
        jute_reader_init(&rd, cf.frame_big[i] + 4, cf.frames[i].len - 4);
        struct zk_reply_header h = {0};
        CHECK(zk_reply_header_decode(&rd, &h) == 0);
        CHECK_EQ_INT(h.xid, i);
        CHECK_EQ_INT(h.err, 0);
        CHECK(h.zxid >= last_zxid); /* a session's zxids never go back */
        last_zxid = h.zxid;
        if (h.xid == 3) { /* the read sent before the setData: the old data */
            struct zk_get_data_response gd;
            CHECK(zk_get_data_response_decode(&rd, &gd) == 0);
            CHECK(jute_buf_eq(gd.data, "v", 1));
        }
    }
    server_conn_closed(learner, 1, 4);
    server_free(leader);
    server_free(learner);
    cap_deinit(&cl);
    cap_deinit(&cf);
}

/* Syncs are answered in the order they were forwarded, whatever session
 * they belong to: the leader's SYNC names none. */
static void test_learner_syncs_in_order(void)
{
    static struct cap cl, cf;
    struct server *leader = cap_server(&cl, 1);
    server_set_role(leader, SERVER_LEADER, (int64_t)1 << 32, 0);
    struct server *learner = cap_server(&cf, 2);
    server_set_role(learner, SERVER_LEARNER, 0, 0);
    struct relay r = {.leader = leader, .learner = learner, .cl = &cl, .cf = &cf};
    for (uint64_t conn = 1; conn <= 2; conn++) {
        server_conn_open(learner, conn, "127.0.0.1", 0);
        connect(learner, conn, 0, 0);
    }
    relay_run(&r, 0);
    CHECK_EQ_INT(cf.count, 2);
    struct buf rec;
    buf_init(&rec);
    struct zk_path_request sync = {.path = jute_cstr("/")};
    zk_path_request_encode(&rec, &sync);
    send_record(learner, 2, 7, ZK_OP_SYNC, &rec, 1);
    send_record(learner, 1, 8, ZK_OP_SYNC, &rec, 1);
    request(learner, 2, 9, ZK_OP_EXISTS, "/", false, 1); /* behind conn 2's sync */
    buf_deinit(&rec);
    CHECK_EQ_INT(cf.count, 2);
    server_sync_done(learner, 2);
    CHECK_EQ_INT(cf.count, 4);
    CHECK_EQ_INT(cf.frames[2].conn, 2);
    struct zk_reply_header h = cap_reply_at(&cf, 2);
    CHECK_EQ_INT(h.xid, 7);
    CHECK_EQ_INT(h.err, 0);
    struct jute_reader rd;
    jute_reader_init(&rd, cf.frame_big[2] + 4, cf.frames[2].len - 4);
    CHECK(zk_reply_header_decode(&rd, &h) == 0);
    struct zk_path_request resp;
    CHECK(zk_path_request_decode(&rd, &resp) == 0);
    CHECK(jute_buf_eq(resp.path, "/", 1));
    CHECK_EQ_INT(cap_reply_at(&cf, 3).xid, 9);
    server_sync_done(learner, 2);
    CHECK_EQ_INT(cf.count, 5);
    CHECK_EQ_INT(cf.frames[4].conn, 1);
    CHECK_EQ_INT(cap_reply_at(&cf, 4).xid, 8);
    server_sync_done(learner, 2); /* none left: ignored */
    CHECK_EQ_INT(cf.count, 5);
    CHECK_EQ_INT(cl.txn_count, 2); /* the two createSessions only */

    /* a sync whose connection closed: its SYNC is consumed by nobody */
    buf_init(&rec);
    zk_path_request_encode(&rec, &sync);
    send_record(learner, 1, 10, ZK_OP_SYNC, &rec, 3);
    server_conn_closed(learner, 1, 3);
    send_record(learner, 2, 11, ZK_OP_SYNC, &rec, 3);
    buf_deinit(&rec);
    server_sync_done(learner, 4);
    CHECK_EQ_INT(cf.count, 5);
    server_sync_done(learner, 4);
    CHECK_EQ_INT(cf.count, 6);
    CHECK_EQ_INT(cap_reply_at(&cf, 5).xid, 11);

    server_conn_closed(learner, 2, 5);
    server_free(leader);
    server_free(learner);
    cap_deinit(&cl);
    cap_deinit(&cf);
}

/* A learner expires nothing and sweeps nothing (the leader does, for
 * everyone), and reports the sessions its clients touched, once each. */
static void test_learner_no_expiry_reports_touches(void)
{
    static struct cap cl, cf;
    struct server *leader = cap_server(&cl, 1);
    server_set_role(leader, SERVER_LEADER, (int64_t)1 << 32, 0);
    struct server *learner = cap_server(&cf, 2);
    server_set_role(learner, SERVER_LEARNER, 0, 0);
    struct relay r = {.leader = leader, .learner = learner, .cl = &cl, .cf = &cf};
    server_conn_open(learner, 1, "127.0.0.1", 0);
    connect(learner, 1, 0, 0);
    relay_run(&r, 0);
    int64_t session = connect_response_at(&cf, 0).session_id;
    struct buf out;
    buf_init(&out);
    server_take_touched(learner, &out); /* the handshake touched it */
    CHECK_EQ_INT(out.len, 12);
    buf_clear(&out);
    server_take_touched(learner, &out);
    CHECK_EQ_INT(out.len, 0);
    request(learner, 1, 1, ZK_OP_EXISTS, "/", false, 100);
    request(learner, 1, 2, ZK_OP_PING, "", false, 200);
    server_take_touched(learner, &out);
    CHECK_EQ_INT(out.len, 12);
    CHECK_EQ_INT((int64_t)be64_get(out.data), session);
    CHECK_EQ_INT(be32_get(out.data + 8), 10000);
    buf_deinit(&out);

    int fwd = cf.fwd_count;
    server_tick(learner, 10 * 60 * 1000);
    CHECK(server_next_tick_ms(learner) > 10 * 60 * 1000);
    CHECK_EQ_INT(cf.fwd_count, fwd);
    CHECK_EQ_INT(cf.txn_count, 0);
    struct server_stats st;
    server_get_stats(learner, &st);
    CHECK_EQ_INT(st.session_count, 1);
    CHECK_EQ_INT(cf.closed_count, 0);

    server_conn_closed(learner, 1, 1);
    server_free(leader);
    server_free(learner);
    cap_deinit(&cl);
    cap_deinit(&cf);
}

/* A ConnectRequest with the readOnly flag (canBeReadOnly), the session's
 * own password when it has one. */
static void connect_ro(struct server *s, uint64_t conn, int64_t session, int32_t timeout,
                       int64_t now)
{
    struct buf b;
    buf_init(&b);
    size_t at = frame_begin(&b);
    uint8_t pw[16] = {0};
    if (session)
        session_password(session, pw);
    struct zk_connect_request req = {
        .time_out = timeout, .session_id = session, .passwd = {.ptr = pw, .len = 16}};
    zk_connect_request_encode(&b, &req);
    jute_write_bool(&b, true);
    frame_end(&b, at);
    send_frame(s, conn, &b, now);
    buf_deinit(&b);
}

static bool cap_was_closed(const struct cap *c, uint64_t conn)
{
    for (int i = 0; i < c->closed_count; i++)
        if (c->closed[i] == conn)
            return true;
    return false;
}

/* The last byte of frame i: a ConnectResponse's readOnly flag. */
static bool cap_read_only_at(const struct cap *c, int i)
{
    return c->frames[i].len > 4 && c->frame_big[i][c->frames[i].len - 1] == 1;
}

/* READ_ONLY: only read-only clients, each on a local session that is in no
 * snapshot or digest and nowhere logged or forwarded; global sessions are
 * refused and never expire here; changes get NOTREADONLY; a local session
 * expires here, and every local session goes with the role. */
static void test_read_only_sessions(void)
{
    static struct cap cl, cf;
    struct server *leader = cap_server(&cl, 1);
    server_set_role(leader, SERVER_LEADER, (int64_t)1 << 32, 0);
    struct server *learner = cap_server(&cf, 2);
    server_set_role(learner, SERVER_LEARNER, 0, 0);
    struct relay r = {.leader = leader, .learner = learner, .cl = &cl, .cf = &cf};
    server_conn_open(learner, 1, "127.0.0.1", 0);
    connect(learner, 1, 0, 0);
    relay_run(&r, 0);
    int64_t global = connect_response_at(&cf, 0).session_id;
    CHECK(global != 0);
    server_conn_closed(learner, 1, 1);
    uint64_t digest = server_state_digest(learner);

    server_set_role(learner, SERVER_READ_ONLY, 0, 1000);
    int frames = cf.count, fwd = cf.fwd_count, txns = cf.txn_count;
    server_conn_open(learner, 2, "127.0.0.1", 1000);
    connect_ro(learner, 2, 0, 4000, 1000);
    CHECK_EQ_INT(cf.count, frames + 1);
    struct zk_connect_response cr = connect_response_at(&cf, frames);
    int64_t local = cr.session_id;
    CHECK_EQ_INT(cr.time_out, 4000);
    CHECK_EQ_INT(local >> 56, 2);
    CHECK(cap_read_only_at(&cf, frames));
    struct server_stats st;
    server_get_stats(learner, &st);
    CHECK_EQ_INT(st.session_count, 1);
    CHECK_EQ_INT(st.local_session_count, 1);
    CHECK(server_state_digest(learner) == digest);

    /* a client that is not read-only, and the global session: closed, no answer */
    server_conn_open(learner, 3, "127.0.0.1", 1000);
    connect(learner, 3, 0, 1000);
    CHECK(cap_was_closed(&cf, 3));
    server_conn_open(learner, 4, "127.0.0.1", 1000);
    connect_ro(learner, 4, global, 10000, 1000);
    CHECK(cap_was_closed(&cf, 4));
    CHECK_EQ_INT(cf.count, frames + 1);
    server_conn_closed(learner, 3, 1000);
    server_conn_closed(learner, 4, 1000);

    /* a change: NOTREADONLY with the last zxid, nothing forwarded or logged */
    request(learner, 2, 7, ZK_OP_CREATE, "/x", false, 1100);
    CHECK_EQ_INT(cf.count, frames + 2);
    struct zk_reply_header h = cap_reply_at(&cf, frames + 1);
    CHECK_EQ_INT(h.xid, 7);
    CHECK_EQ_INT(h.err, ZK_NOTREADONLY);
    CHECK_EQ_INT(h.zxid, server_last_zxid(learner));
    CHECK_EQ_INT(cf.fwd_count, fwd);
    CHECK_EQ_INT(cf.txn_count, txns);

    /* no connection holds it: the local session expires; the global one stays */
    server_conn_closed(learner, 2, 1200);
    server_tick(learner, 60000);
    server_get_stats(learner, &st);
    CHECK_EQ_INT(st.local_session_count, 0);
    CHECK_EQ_INT(st.session_count, 1);

    /* the role's end takes every local session */
    server_conn_open(learner, 5, "127.0.0.1", 61000);
    connect_ro(learner, 5, 0, 4000, 61000);
    server_conn_closed(learner, 5, 61000);
    server_get_stats(learner, &st);
    CHECK_EQ_INT(st.local_session_count, 1);
    server_set_role(learner, SERVER_LEARNER, 0, 62000);
    server_get_stats(learner, &st);
    CHECK_EQ_INT(st.local_session_count, 0);
    CHECK_EQ_INT(st.session_count, 1);
    CHECK(server_state_digest(learner) == digest);
    CHECK_EQ_INT(cf.txn_count, txns);

    server_free(leader);
    server_free(learner);
    cap_deinit(&cl);
    cap_deinit(&cf);
}

/* A REQUEST packet as a learner sends it. */
static int lreq(struct server *s, int64_t sid, int64_t session, int32_t cxid, int32_t type,
                const struct buf *rec, const char *ip, int64_t now)
{
    struct buf d;
    buf_init(&d);
    buf_append_be64(&d, (uint64_t)session);
    buf_append_be32(&d, (uint32_t)cxid);
    buf_append_be32(&d, (uint32_t)type);
    if (rec)
        buf_append(&d, rec->data, rec->len);
    struct zk_id ids[2] = {{.scheme = jute_cstr("ip"), .id = jute_cstr(ip ? ip : "")},
                           {.scheme = jute_cstr("sasl"), .id = jute_cstr("nobody")}};
    char err[128];
    int rc = server_learner_request(s, sid, d.data, d.len, ids, ip ? 2 : 0, now, err, sizeof(err));
    buf_deinit(&d);
    return rc;
}

struct txn_seen {
    struct zk_txn_header h;
    int32_t err; /* ErrorTxn's */
    struct jute_reader body;
};

static struct txn_seen txn_at(const struct cap *c, int i)
{
    struct txn_seen t = {0};
    CHECK(i < c->txn_count);
    if (i >= c->txn_count)
        return t;
    jute_reader_init(&t.body, c->txns[i].data, c->txns[i].len);
    CHECK(zk_txn_header_decode(&t.body, &t.h) == 0);
    if (t.h.type == ZK_OP_ERROR) {
        struct zk_error_txn et;
        CHECK(zk_error_txn_decode(&t.body, &et) == 0);
        t.err = et.err;
    }
    return t;
}

/* A leader with local sessions (LeaderSessionTracker): a session it does
 * not know from another server's sid is that server's local session (its
 * writes go through, its ephemerals do not: checkGlobalSession); one of its
 * own sid has expired. Its own new sessions are local (no txn); their
 * ephemeral create is an EPHEMERALONLOCALSESSION ErrorTxn, or, upgrading,
 * a createSession txn ahead of the create. */
static void test_leader_local_sessions(void)
{
    for (int upgrading = 0; upgrading < 2; upgrading++) {
        static struct cap cl;
        struct server_config cfg = {.tick_time_ms = 2000,
                                    .max_buffer = 0xfffff,
                                    .server_id = 1,
                                    .local_sessions = true,
                                    .local_sessions_upgrading = upgrading};
        struct server *leader = cap_server_with(&cl, &cfg);
        server_set_role(leader, SERVER_LEADER, (int64_t)1 << 32, 0);
        const int64_t theirs = 0x0200000000000002, ours = 0x0100000000000009;
        struct buf rec;
        buf_init(&rec);
        create_record(&rec, "/a", 0, &world_acl);
        CHECK_EQ_INT(lreq(leader, 2, theirs, 1, ZK_OP_CREATE, &rec, "127.0.0.1", 0), 0);
        CHECK_EQ_INT(txn_at(&cl, 0).h.type, ZK_OP_CREATE);
        buf_clear(&rec);
        create_record(&rec, "/e", 1, &world_acl);
        CHECK_EQ_INT(lreq(leader, 2, theirs, 2, ZK_OP_CREATE, &rec, "127.0.0.1", 0), 0);
        CHECK_EQ_INT(txn_at(&cl, 1).err, ZK_SESSIONEXPIRED);
        buf_clear(&rec);
        create_record(&rec, "/b", 0, &world_acl);
        CHECK_EQ_INT(lreq(leader, 2, ours, 1, ZK_OP_CREATE, &rec, "127.0.0.1", 0), 0);
        CHECK_EQ_INT(txn_at(&cl, 2).err, ZK_SESSIONEXPIRED);
        buf_deinit(&rec);

        server_conn_open(leader, 1, "127.0.0.1", 0);
        connect(leader, 1, 0, 0);
        CHECK_EQ_INT(cl.count, 1); /* answered at once */
        CHECK_EQ_INT(cl.txn_count, 3);
        int64_t local = connect_response_at(&cl, 0).session_id;
        CHECK_EQ_INT(local >> 56, 1);
        struct server_stats st;
        server_get_stats(leader, &st);
        CHECK_EQ_INT(st.local_session_count, 1);
        CHECK_EQ_INT(st.session_count, 0);
        request(leader, 1, 1, ZK_OP_CREATE, "/s", true, 0); /* ephemeral sequential */
        if (upgrading) {
            CHECK_EQ_INT(cl.txn_count, 5);
            CHECK_EQ_INT(txn_at(&cl, 3).h.type, ZK_OP_CREATE_SESSION);
            CHECK_EQ_INT(txn_at(&cl, 3).h.client_id, local);
            CHECK_EQ_INT(txn_at(&cl, 4).h.type, ZK_OP_CREATE);
            server_get_stats(leader, &st);
            CHECK_EQ_INT(st.local_session_count, 0);
            CHECK_EQ_INT(st.session_count, 1);
        } else {
            CHECK_EQ_INT(cl.txn_count, 4);
            CHECK_EQ_INT(txn_at(&cl, 3).err, ZK_EPHEMERALONLOCALSESSION);
        }
        server_conn_closed(leader, 1, 1);
        server_free(leader);
        cap_deinit(&cl);
    }
}

/* A session of the leader's own client that a learner revalidated has
 * moved: the leader closes the old connection at its next request, a read
 * too (PrepRequestProcessor checks every request's session there). */
static void test_leader_closes_a_moved_sessions_connection(void)
{
    static struct cap cl;
    struct server *leader = cap_server(&cl, 1);
    server_set_role(leader, SERVER_LEADER, (int64_t)1 << 32, 0);
    server_conn_open(leader, 1, "127.0.0.1", 0);
    connect(leader, 1, 0, 0);
    CHECK_EQ_INT(cl.txn_count, 1);
    server_persisted(leader, cl.last_zxid, 0);
    CHECK_EQ_INT(cl.count, 1);
    int64_t session = connect_response_at(&cl, 0).session_id;
    request(leader, 1, 1, ZK_OP_EXISTS, "/", false, 1);
    CHECK_EQ_INT(cl.count, 2);
    CHECK(server_revalidate_session(leader, 2, session, 10000, 2));
    request(leader, 1, 2, ZK_OP_EXISTS, "/", false, 3);
    CHECK_EQ_INT(cl.count, 2);
    CHECK(cl.closed_count == 1 && cl.closed[0] == 1);
    server_conn_closed(leader, 1, 3);
    server_free(leader);
    cap_deinit(&cl);
}

/* The leader preps learners' requests with ZooKeeper's session checks:
 * owners, SESSIONMOVED, SESSIONEXPIRED (unknown or closing), the packet's
 * auth ids for ACLs; syncs go to io.learner_sync; bad packets are refused. */
static void test_leader_learner_requests(void)
{
    static struct cap cl;
    struct server *leader = cap_server(&cl, 1);
    server_set_role(leader, SERVER_LEADER, (int64_t)1 << 32, 0);
    const int64_t x = 0x0200000000000001, y = 0x0200000000000002;
    struct buf rec;
    buf_init(&rec);
    buf_append_be32(&rec, 6000);
    CHECK_EQ_INT(lreq(leader, 2, x, 0, ZK_OP_CREATE_SESSION, &rec, "127.0.0.1", 0), 0);
    struct txn_seen t = txn_at(&cl, 0);
    CHECK_EQ_INT(t.h.type, ZK_OP_CREATE_SESSION);
    CHECK_EQ_INT(t.h.client_id, x);
    CHECK_EQ_INT(t.h.zxid, ((int64_t)1 << 32) + 1);

    buf_clear(&rec);
    create_record(&rec, "/a", 0, &world_acl);
    CHECK_EQ_INT(lreq(leader, 2, x, 1, ZK_OP_CREATE, &rec, "127.0.0.1", 0), 0);
    t = txn_at(&cl, 1);
    CHECK_EQ_INT(t.h.type, ZK_OP_CREATE);
    CHECK_EQ_INT(t.h.cxid, 1);
    CHECK_EQ_INT(t.h.client_id, x);
    /* owned by learner 2: learner 3's request is refused */
    CHECK_EQ_INT(lreq(leader, 3, x, 2, ZK_OP_CREATE, &rec, "127.0.0.1", 0), 0);
    t = txn_at(&cl, 2);
    CHECK_EQ_INT(t.h.type, ZK_OP_ERROR);
    CHECK_EQ_INT(t.err, ZK_SESSIONMOVED);
    CHECK_EQ_INT(t.h.cxid, 2);
    CHECK_EQ_INT(t.h.client_id, x);
    /* a session the leader does not know */
    CHECK_EQ_INT(lreq(leader, 2, y, 1, ZK_OP_CREATE, &rec, "127.0.0.1", 0), 0);
    t = txn_at(&cl, 3);
    CHECK_EQ_INT(t.h.type, ZK_OP_ERROR);
    CHECK_EQ_INT(t.err, ZK_SESSIONEXPIRED);
    CHECK_EQ_INT(t.h.client_id, y);
    /* a multi from the wrong learner: each op checks, as PrepRequestProcessor */
    buf_clear(&rec);
    struct zk_multi_header mh = {.type = ZK_OP_CREATE, .done = false, .err = -1};
    zk_multi_header_encode(&rec, &mh);
    create_record(&rec, "/c", 0, &world_acl);
    zk_multi_header_encode(&rec, &mh);
    create_record(&rec, "/d", 0, &world_acl);
    struct zk_multi_header end = {.type = -1, .done = true, .err = -1};
    zk_multi_header_encode(&rec, &end);
    CHECK_EQ_INT(lreq(leader, 3, x, 3, ZK_OP_MULTI, &rec, "127.0.0.1", 0), 0);
    t = txn_at(&cl, 4);
    CHECK_EQ_INT(t.h.type, ZK_OP_MULTI);
    struct zk_multi_txn mt;
    CHECK(zk_multi_txn_decode(&t.body, &mt) == 0);
    CHECK_EQ_INT(mt.txns.count, 2);
    struct jute_vec_iter it;
    jute_vec_iter_init(&it, &mt.txns);
    int32_t want[2] = {ZK_SESSIONMOVED, ZK_RUNTIMEINCONSISTENCY};
    struct zk_txn sub;
    for (int i = 0; i < 2 && jute_vec_next_txn(&it, &sub); i++) {
        CHECK_EQ_INT(sub.type, ZK_OP_ERROR);
        struct jute_reader sr;
        jute_reader_init(&sr, sub.data.ptr, (size_t)sub.data.len);
        struct zk_error_txn et;
        CHECK(zk_error_txn_decode(&sr, &et) == 0);
        CHECK_EQ_INT(et.err, want[i]);
    }

    /* the packet's ip id is what ACLs see */
    struct zk_acl ip_acl = {.perms = 31,
                            .id = {.scheme = jute_cstr("ip"), .id = jute_cstr("10.0.0.1")}};
    buf_clear(&rec);
    create_record(&rec, "/ip", 0, &ip_acl);
    CHECK_EQ_INT(lreq(leader, 2, x, 4, ZK_OP_CREATE, &rec, "127.0.0.1", 0), 0);
    CHECK_EQ_INT(txn_at(&cl, 5).h.type, ZK_OP_CREATE);
    buf_clear(&rec);
    create_record(&rec, "/ip/c", 0, &world_acl);
    CHECK_EQ_INT(lreq(leader, 2, x, 5, ZK_OP_CREATE, &rec, "127.0.0.1", 0), 0);
    CHECK_EQ_INT(txn_at(&cl, 6).err, ZK_NOAUTH);
    CHECK_EQ_INT(lreq(leader, 2, x, 6, ZK_OP_CREATE, &rec, "10.0.0.1", 0), 0);
    CHECK_EQ_INT(txn_at(&cl, 7).h.type, ZK_OP_CREATE);

    /* sync: to the node, no txn; a read type: nothing at all */
    CHECK_EQ_INT(lreq(leader, 2, x, 7, ZK_OP_SYNC, NULL, "127.0.0.1", 0), 0);
    CHECK_EQ_INT(cl.sync_count, 1);
    CHECK_EQ_INT(cl.sync_sid[0], 2);
    CHECK_EQ_INT(lreq(leader, 2, x, 8, ZK_OP_GET_DATA, NULL, "127.0.0.1", 0), 0);
    CHECK_EQ_INT(cl.txn_count, 8);
    /* a top-level check, as Apache's learners forward it: a txn */
    buf_clear(&rec);
    struct zk_path_version_request cv = {.path = jute_cstr("/a"), .version = 0};
    zk_path_version_request_encode(&rec, &cv);
    CHECK_EQ_INT(lreq(leader, 2, x, 11, ZK_OP_CHECK, &rec, "127.0.0.1", 0), 0);
    CHECK_EQ_INT(txn_at(&cl, 8).h.type, ZK_OP_CHECK);
    cv.version = 5;
    buf_clear(&rec);
    zk_path_version_request_encode(&rec, &cv);
    CHECK_EQ_INT(lreq(leader, 2, x, 12, ZK_OP_CHECK, &rec, "127.0.0.1", 0), 0);
    CHECK_EQ_INT(txn_at(&cl, 9).err, ZK_BADVERSION);
    /* packets that do not decode: refused, nothing logged */
    char err[128];
    CHECK_EQ_INT(server_learner_request(leader, 2, rec.data, 10, NULL, 0, 0, err, sizeof(err)), -1);
    buf_clear(&rec);
    buf_append_be32(&rec, 1);
    CHECK_EQ_INT(lreq(leader, 2, y, 0, ZK_OP_CREATE_SESSION, NULL, "127.0.0.1", 0), -1);
    CHECK_EQ_INT(cl.txn_count, 10);

    /* closeSession is not checked (the owner may be anyone); after it, the
     * session is expired for every learner */
    CHECK_EQ_INT(lreq(leader, 3, x, 9, ZK_OP_CLOSE_SESSION, NULL, "127.0.0.1", 0), 0);
    t = txn_at(&cl, 10);
    CHECK_EQ_INT(t.h.type, ZK_OP_CLOSE_SESSION);
    CHECK_EQ_INT(t.h.client_id, x);
    buf_clear(&rec);
    create_record(&rec, "/late", 0, &world_acl);
    CHECK_EQ_INT(lreq(leader, 2, x, 10, ZK_OP_CREATE, &rec, "127.0.0.1", 0), 0);
    CHECK_EQ_INT(txn_at(&cl, 11).err, ZK_SESSIONEXPIRED);
    server_persisted(leader, cl.last_zxid, 1);
    struct server_stats st;
    server_get_stats(leader, &st);
    CHECK_EQ_INT(st.session_count, 0);
    CHECK_EQ_INT(st.last_zxid, cl.last_zxid);
    buf_deinit(&rec);
    server_free(leader);
    cap_deinit(&cl);
}

/* The leader expires learners' sessions (a closeSession txn) unless their
 * pings touch them; a new leader restarts every timeout; zxids continue
 * from the epoch. */
static void test_leader_touches_and_expiry(void)
{
    static struct cap cl;
    struct server *leader = cap_server(&cl, 1);
    const int64_t x = 0x0200000000000001, y = 0x0300000000000001;
    const int64_t epoch_zxid = (int64_t)5 << 32;
    server_set_role(leader, SERVER_LEADER, epoch_zxid, 100000);
    struct buf b;
    buf_init(&b);
    buf_append_be32(&b, 4000);
    CHECK_EQ_INT(lreq(leader, 2, x, 0, ZK_OP_CREATE_SESSION, &b, NULL, 100000), 0);
    CHECK_EQ_INT(lreq(leader, 3, y, 0, ZK_OP_CREATE_SESSION, &b, NULL, 100000), 0);
    buf_deinit(&b);
    CHECK_EQ_INT(txn_at(&cl, 0).h.zxid, epoch_zxid + 1);
    server_persisted(leader, cl.last_zxid, 100000);
    /* x's pings keep it; y is never touched */
    server_tick(leader, 102000);
    CHECK_EQ_INT(cl.txn_count, 2);
    server_touch_session(leader, x, 4000, 103000);
    server_tick(leader, 106000);
    CHECK_EQ_INT(cl.txn_count, 3);
    struct txn_seen t = txn_at(&cl, 2);
    CHECK_EQ_INT(t.h.type, ZK_OP_CLOSE_SESSION);
    CHECK_EQ_INT(t.h.client_id, y);
    server_touch_session(leader, y, 4000, 106000); /* closing: no effect */
    CHECK(!server_revalidate_session(leader, 2, y, 4000, 106000));
    server_persisted(leader, cl.last_zxid, 106000);
    server_touch_session(leader, x, 4000, 106000);
    server_tick(leader, 109000);
    CHECK_EQ_INT(cl.txn_count, 3);
    server_tick(leader, 112000);
    CHECK_EQ_INT(cl.txn_count, 4);
    CHECK_EQ_INT(txn_at(&cl, 3).h.client_id, x);
    server_persisted(leader, cl.last_zxid, 112000);
    struct server_stats st;
    server_get_stats(leader, &st);
    CHECK_EQ_INT(st.session_count, 0);
    server_free(leader);
    cap_deinit(&cl);

    /* a follower promoted: the sessions it applied start their timeouts again */
    static struct cap cf;
    struct server *f = cap_server(&cf, 1);
    server_set_role(f, SERVER_LEARNER, 0, 0);
    static struct cap co;
    struct server *other = cap_server(&co, 2);
    server_set_last_zxid(other, (int64_t)1 << 32);
    server_conn_open(other, 1, "127.0.0.1", 0);
    connect(other, 1, 0, 0);
    char err[128];
    CHECK_EQ_INT(server_apply_committed(f, co.txns[0].data, co.txns[0].len, 0, err, sizeof(err)),
                 0);
    server_set_role(f, SERVER_LEADER, (int64_t)2 << 32, 500000);
    server_set_last_zxid(f, 5); /* late recovery news does not move the counter back */
    server_tick(f, 500000 + 8000);
    CHECK_EQ_INT(cf.txn_count, 0);
    server_tick(f, 500000 + 14000);
    CHECK_EQ_INT(cf.txn_count, 1);
    CHECK_EQ_INT(txn_at(&cf, 0).h.type, ZK_OP_CLOSE_SESSION);
    CHECK_EQ_INT(txn_at(&cf, 0).h.zxid, ((int64_t)2 << 32) + 1);
    server_conn_closed(other, 1, 1);
    server_free(other);
    server_free(f);
    cap_deinit(&co);
    cap_deinit(&cf);
}

/* The leader expires a learner's session: its closeSession txn closes the
 * client's connection on the learner without an answer, its ephemerals go,
 * and a write still waiting there is dropped with it. */
static void test_learner_session_expired_by_leader(void)
{
    static struct cap cl, cf;
    struct server *leader = cap_server(&cl, 1);
    server_set_role(leader, SERVER_LEADER, (int64_t)1 << 32, 0);
    struct server *learner = cap_server(&cf, 2);
    server_set_role(learner, SERVER_LEARNER, 0, 0);
    struct relay r = {.leader = leader, .learner = learner, .cl = &cl, .cf = &cf};
    server_conn_open(learner, 1, "127.0.0.1", 0);
    connect(learner, 1, 0, 0);
    request(learner, 1, 1, ZK_OP_CREATE, "/e", true, 0); /* ephemeral */
    relay_run(&r, 0);
    CHECK_EQ_INT(cf.count, 2);
    struct server_stats st;
    server_get_stats(learner, &st);
    CHECK_EQ_INT(st.ephemeral_count, 1);
    /* a write forwarded, not yet committed, when the leader expires it */
    request(learner, 1, 2, ZK_OP_CREATE, "/f", false, 1);
    CHECK_EQ_INT(server_outstanding(learner), 1);
    server_tick(leader, 60000);
    int closes = cl.txn_count;
    relay_run(&r, 60000); /* the expiry's closeSession, then the create */
    CHECK_EQ_INT(cl.txn_count, closes + 1);
    CHECK_EQ_INT(cf.count, 2);
    CHECK_EQ_INT(cf.closed_count, 1);
    CHECK_EQ_INT(cf.closed[0], 1);
    server_get_stats(learner, &st);
    CHECK_EQ_INT(st.session_count, 0);
    CHECK_EQ_INT(st.ephemeral_count, 0);
    CHECK_EQ_INT(server_outstanding(learner), 0);
    server_conn_closed(learner, 1, 60001);
    server_free(leader);
    server_free(learner);
    cap_deinit(&cl);
    cap_deinit(&cf);
}

int main(void)
{
    test_log_failed();
    test_free_with_writes_in_flight();
    test_watches_cleared_in_slices();
    test_apply_leader_txns();
    test_learner_replies_match_standalone();
    test_learner_revalidation();
    test_learner_syncs_in_order();
    test_learner_holds_requests_behind_a_sync();
    test_learner_no_expiry_reports_touches();
    test_learner_session_expired_by_leader();
    test_read_only_sessions();
    test_leader_local_sessions();
    test_leader_closes_a_moved_sessions_connection();
    test_leader_learner_requests();
    test_leader_touches_and_expiry();

    struct fake f;
    struct server *s = fake_server(&f);

    /* handshake: the ConnectResponse waits for createSession to be logged */
    server_conn_open(s, 1, "127.0.0.1", 0);
    connect(s, 1, 0, 0);
    CHECK_EQ_INT(f.count, 0);
    CHECK_EQ_INT(f.logged, 1);
    server_persisted(s, f.logged_zxid, 1);
    CHECK_EQ_INT(f.count, 1);
    struct jute_reader r;
    jute_reader_init(&r, f.frames[0].bytes + 4, f.frames[0].len - 4);
    struct zk_connect_response cr;
    CHECK(zk_connect_response_decode(&r, &cr) == 0);
    CHECK_EQ_INT(cr.time_out, 10000);
    CHECK(cr.session_id != 0);
    CHECK_EQ_INT(cr.passwd.len, 16);
    int64_t session = cr.session_id;

    /* a read queued behind a write of the same session answers after it */
    f.count = 0;
    request(s, 1, 1, ZK_OP_CREATE, "/a", false, 2);
    request(s, 1, 2, ZK_OP_GET_DATA, "/a", true, 2);
    CHECK_EQ_INT(f.count, 0);
    server_persisted(s, f.logged_zxid, 3);
    CHECK_EQ_INT(f.count, 2);
    struct zk_reply_header h = reply_of(&f.frames[0], &r);
    CHECK_EQ_INT(h.xid, 1);
    CHECK_EQ_INT(h.err, 0);
    h = reply_of(&f.frames[1], &r);
    CHECK_EQ_INT(h.xid, 2);
    CHECK_EQ_INT(h.err, 0);

    /* a second session deletes /a: the watcher's event, then the reply */
    server_conn_open(s, 2, "127.0.0.1", 4);
    connect(s, 2, 0, 4);
    server_persisted(s, f.logged_zxid, 4);
    f.count = 0;
    request(s, 2, 1, ZK_OP_DELETE, "/a", false, 5);
    server_persisted(s, f.logged_zxid, 5);
    CHECK_EQ_INT(f.count, 2);
    CHECK_EQ_INT(f.frames[0].conn, 1);
    h = reply_of(&f.frames[0], &r);
    CHECK_EQ_INT(h.xid, -1);
    struct zk_watcher_event ev;
    CHECK(zk_watcher_event_decode(&r, &ev) == 0);
    CHECK_EQ_INT(ev.type, ZK_EVENT_NODE_DELETED);
    CHECK(jute_buf_eq(ev.path, "/a", 2));
    CHECK_EQ_INT(f.frames[1].conn, 2);

    /* errors: NONODE consumes a zxid and answers with the header alone */
    f.count = 0;
    int logged = f.logged;
    request(s, 2, 2, ZK_OP_DELETE, "/a", false, 6);
    CHECK_EQ_INT(f.logged, logged + 1);
    server_persisted(s, f.logged_zxid, 6);
    h = reply_of(&f.frames[0], &r);
    CHECK_EQ_INT(h.err, ZK_NONODE);
    CHECK_EQ_INT(h.zxid, f.logged_zxid);
    CHECK_EQ_INT(jute_reader_remaining(&r), 0);

    /* an ephemeral goes with its session's expiry; the watcher hears it */
    f.count = 0;
    request(s, 1, 3, ZK_OP_CREATE, "/e", true, 7);
    server_persisted(s, f.logged_zxid, 7);
    request(s, 2, 3, ZK_OP_EXISTS, "/e0000000001", true, 7);
    h = reply_of(&f.frames[f.count - 1], &r);
    CHECK_EQ_INT(h.err, 0);
    server_conn_closed(s, 1, 8);
    f.count = 0;
    server_tick(s, 9000); /* not yet: 10 s timeout */
    CHECK_EQ_INT(f.count, 0);
    server_tick(s, 20000);
    server_persisted(s, f.logged_zxid, 20000);
    CHECK_EQ_INT(f.count, 1);
    h = reply_of(&f.frames[0], &r);
    CHECK(zk_watcher_event_decode(&r, &ev) == 0);
    CHECK_EQ_INT(ev.type, ZK_EVENT_NODE_DELETED);

    /* reattaching the expired session: the "expired" ConnectResponse, then close */
    server_conn_open(s, 3, "127.0.0.1", 20001);
    f.count = 0;
    connect(s, 3, session, 20001);
    CHECK_EQ_INT(f.count, 1);
    jute_reader_init(&r, f.frames[0].bytes + 4, f.frames[0].len - 4);
    CHECK(zk_connect_response_decode(&r, &cr) == 0);
    CHECK_EQ_INT(cr.time_out, 0);
    CHECK_EQ_INT(cr.session_id, 0);
    CHECK_EQ_INT(f.closed[f.closed_count - 1], 3);

    /* an unknown opcode: UNIMPLEMENTED, then the connection closes */
    server_conn_open(s, 4, "127.0.0.1", 20002);
    connect(s, 4, 0, 20002);
    server_persisted(s, f.logged_zxid, 20002);
    f.count = 0;
    request(s, 4, 9, 999, "/", false, 20003);
    h = reply_of(&f.frames[0], &r);
    CHECK_EQ_INT(h.err, ZK_UNIMPLEMENTED);
    CHECK_EQ_INT(f.closed[f.closed_count - 1], 4);
    server_conn_closed(s, 4, 20003);

    server_conn_closed(s, 2, 20003);
    server_conn_closed(s, 3, 20003);
    server_free(s);
    return check_result("test_server");
}
