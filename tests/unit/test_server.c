/* SPDX-License-Identifier: Apache-2.0 */
/* The server state machine driven by hand: frames in, frames out, the log
 * "persisting" when the test says so, time moved by the test. */
#include "check.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/server.h"
#include "server/server_int.h" /* apply_txn: a leader's txns, until a follower drives it */

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

int main(void)
{
    test_log_failed();
    test_watches_cleared_in_slices();
    test_apply_leader_txns();

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
