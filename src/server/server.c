/* SPDX-License-Identifier: Apache-2.0 */
/* server.c — one server's request pipeline as functions of events: the
 * connections and handshake, per-session FIFO queues, and the driver that runs
 * the stages (prep.c, apply.c, read.c) and takes txns through the log; session
 * expiry (local sessions and read-only mode: local.c; the container sweep:
 * sweep.c). Pure: no I/O, no clock. */
#include "server/server.h"

#include "base/buf.h"
#include "base/hmap.h"
#include "base/list.h"
#include "base/log.h"
#include "base/mem.h"
#include "proto/proto.h"
#include "proto/quorum.h"
#include "proto/records.h"
#include "server/auth.h"
#include "server/server_int.h"
#include "session/session.h"
#include "session/watch.h"
#include "tree/tree.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- connections and replies ---- */

struct server_conn *server_conn_get(const struct server *s, uint64_t id)
{
    return imap_get(&s->conns, id);
}

void server_conn_close(struct server *s, struct server_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    s->io.close(s->io.ctx, c->id);
}

void server_conn_send(struct server *s, struct server_conn *c, const struct buf *frame)
{
    if (c->closing)
        return;
    c->info.packets_sent++;
    s->stats.packets_sent++;
    s->io.send(s->io.ctx, c->id, frame->data, frame->len);
}

void server_reply_header(struct buf *b, int32_t xid, int64_t zxid, int32_t err)
{
    struct zk_reply_header h = {.xid = xid, .zxid = zxid, .err = err};
    zk_reply_header_encode(b, &h);
}

static void send_header_only(struct server *s, struct server_conn *c, int32_t xid, int64_t zxid,
                             int32_t err)
{
    buf_clear(&s->out);
    size_t at = frame_begin(&s->out);
    server_reply_header(&s->out, xid, zxid, err);
    frame_end(&s->out, at);
    server_conn_send(s, c, &s->out);
}

struct watch_owner *server_watch_owner_new(struct server_session *ss)
{
    struct watch_owner *o = mem_alloc(sizeof(*o));
    watch_owner_init(o, ss->base.id, ss);
    return o;
}

void server_watches_drop(struct server *s, struct server_session *ss)
{
    struct watch_owner *o = ss->watches;
    if (o->count <= SERVER_WATCH_CLEAR_SLICE) {
        watch_owner_clear(o);
        return;
    }
    watch_owner_kill(o);
    o->data = NULL;
    if (s->dying_count == s->dying_cap) {
        s->dying_cap = s->dying_cap ? s->dying_cap * 2 : 8;
        s->dying = mem_realloc(s->dying, s->dying_cap * sizeof(*s->dying));
    }
    s->dying[s->dying_count++] = o;
    ss->watches = server_watch_owner_new(ss);
}

bool server_background(struct server *s)
{
    size_t budget = SERVER_WATCH_CLEAR_SLICE;
    while (s->dying_count > 0) {
        struct watch_owner *o = s->dying[s->dying_count - 1];
        size_t before = o->count;
        if (!watch_owner_clear_some(o, budget))
            return true;
        budget -= before;
        mem_free(o);
        s->dying_count--;
        if (budget == 0)
            break;
    }
    return s->dying_count > 0;
}

static void session_detach(struct server *s, struct server_session *ss)
{
    if (!ss->conn)
        return;
    ss->conn->session = NULL;
    ss->conn = NULL;
    /* parked requests are the gone connection's */
    buf_deinit(&ss->parked);
    buf_init(&ss->parked);
    /* Watches belong to the connection in ZooKeeper: the client sets them
     * again (setWatches) when it reconnects. */
    server_watches_drop(s, ss);
}

/* ---- proposals: standalone zab is "commit once logged" ---- */

void server_propose(struct server *s, struct server_session *sess, int64_t session_id,
                    struct request *req, int32_t cxid, int32_t type, int64_t zxid, int64_t time,
                    const struct buf *body)
{
    struct proposal *pr = mem_calloc(1, sizeof(*pr));
    pr->zxid = zxid;
    pr->req = req;
    pr->sess = sess;
    buf_init(&pr->txn);
    struct zk_txn_header h = {
        .client_id = session_id, .cxid = cxid, .zxid = zxid, .time = time, .type = type};
    zk_txn_header_encode(&pr->txn, &h);
    buf_append(&pr->txn, body->data, body->len);
    list_insert_tail(&s->proposals, &pr->link);
    s->io.log_append(s->io.ctx, zxid, pr->txn.data, pr->txn.len);
}

/* ---- requests ---- */

struct request *server_request_new(struct server_conn *c, int32_t xid, int32_t type, int64_t now_ms)
{
    struct request *req = mem_calloc(1, sizeof(*req));
    req->conn_id = c ? c->id : 0;
    req->xid = xid;
    req->type = type;
    req->received_ms = now_ms;
    buf_init(&req->reply);
    list_init(&req->link);
    return req;
}

void server_request_free(struct request *req)
{
    if (req->sync)
        req->sync->req = NULL; /* its SYNC still comes, and finds nobody */
    buf_deinit(&req->reply);
    mem_free(req->body_owned);
    mem_free(req);
}

static void stats_latency(struct server *s, struct server_conn *c, int64_t latency_ms)
{
    struct server_stats *st = &s->stats;
    if (st->latency_min_ms < 0 || latency_ms < st->latency_min_ms)
        st->latency_min_ms = latency_ms;
    if (latency_ms > st->latency_max_ms)
        st->latency_max_ms = latency_ms;
    st->latency_total_ms += latency_ms;
    st->latency_count++;
    if (c) {
        struct server_conn_info *ci = &c->info;
        if (ci->latency_min_ms < 0 || latency_ms < ci->latency_min_ms)
            ci->latency_min_ms = latency_ms;
        if (latency_ms > ci->latency_max_ms)
            ci->latency_max_ms = latency_ms;
        ci->latency_total_ms += latency_ms;
        ci->latency_count++;
    }
}

static void reply_sent(struct server *s, struct server_conn *c, const struct request *req,
                       int64_t now_ms)
{
    if (req->reply.len)
        server_conn_send(s, c, &req->reply);
    c->info.last_cxid = req->xid;
    c->info.last_op = req->type;
    c->info.last_zxid = s->tree.last_zxid;
    c->info.last_response_ms = now_ms;
    stats_latency(s, c, now_ms - req->received_ms);
    if (req->close_after)
        server_conn_close(s, c);
}

/* Send every ready request at the head of the session's queue, running reads
 * as they reach the head. */
void server_session_drain(struct server *s, struct server_session *ss, int64_t now_ms)
{
    while (!list_is_empty(&ss->queue)) {
        struct request *req = LIST_ENTRY(ss->queue.next, struct request, link);
        /* A read's reply is built when it runs: not for a client that is not
         * reading what it already has (server_conn_writable resumes). */
        if (!req->ready && !req->is_write && s->io.conn_backlogged &&
            s->io.conn_backlogged(s->io.ctx, req->conn_id))
            break;
        if (!req->ready && !req->is_write)
            read_execute(s, ss, req);
        if (!req->ready)
            break;
        list_remove(&req->link);
        s->outstanding--;
        struct server_conn *c = server_conn_get(s, req->conn_id);
        if (c && c->session == ss) {
            c->info.outstanding--;
            reply_sent(s, c, req, now_ms);
        }
        server_request_free(req);
    }
}

void server_send_event(struct server *s, struct server_session *ss, int32_t type, const char *path,
                       size_t len, int64_t zxid)
{
    struct server_conn *c = ss->conn;
    if (!c)
        return;
    buf_clear(&s->out);
    size_t at = frame_begin(&s->out);
    server_reply_header(&s->out, ZK_XID_NOTIFICATION, zxid, 0);
    struct zk_watcher_event ev = {.type = type,
                                  .state = ZK_STATE_SYNC_CONNECTED,
                                  .path = {.ptr = (const uint8_t *)path, .len = (int32_t)len}};
    zk_watcher_event_encode(&s->out, &ev);
    frame_end(&s->out, at);
    server_conn_send(s, c, &s->out);
}

void server_connect_response(const struct server *s, struct buf *b, int32_t timeout_ms,
                             int64_t session_id, bool old_client)
{
    buf_clear(b);
    size_t at = frame_begin(b);
    uint8_t passwd[16] = {0};
    if (session_id)
        session_password(session_id, passwd);
    struct zk_connect_response resp = {.protocol_version = 0,
                                       .time_out = timeout_ms,
                                       .session_id = session_id,
                                       .passwd = {.ptr = passwd, .len = 16}};
    zk_connect_response_encode(b, &resp);
    if (!old_client)
        jute_write_bool(b, s->role == SERVER_READ_ONLY);
    frame_end(b, at);
}

void server_session_free(struct server *s, struct server_session *ss)
{
    session_detach(s, ss);
    while (!list_is_empty(&ss->queue)) {
        struct request *req = LIST_ENTRY(ss->queue.next, struct request, link);
        list_remove(&req->link);
        s->outstanding--;
        server_request_free(req);
    }
    buf_deinit(&ss->parked);
    mem_free(ss->watches);
    mem_free(ss);
}

/* ---- the log: txns committed or refused ---- */

void server_persisted(struct server *s, int64_t zxid, int64_t now_ms)
{
    while (!list_is_empty(&s->proposals)) {
        struct proposal *pr = LIST_ENTRY(s->proposals.next, struct proposal, link);
        if (pr->zxid > zxid)
            break;
        list_remove(&pr->link);
        struct apply_local local = {.sess = pr->sess, .req = pr->req};
        apply_txn(s, pr->txn.data, pr->txn.len, &local, now_ms);
        change_commit(s, pr->zxid);
        buf_deinit(&pr->txn);
        mem_free(pr);
    }
}

int64_t server__take_zxid(struct server *s)
{
    int64_t zxid = s->next_zxid;
    s->next_zxid =
        s->role == SERVER_LEADER ? quorum_zxid_after(zxid, s->cfg.zxid_counter_start) : zxid + 1;
    return zxid;
}

static int32_t proposal_type(const struct proposal *pr)
{
    /* TxnHeader: long clientId, int cxid, long zxid, long time, int type */
    return (int32_t)be32_get(pr->txn.data + 28);
}

size_t server_log_failed(struct server *s, int64_t from_zxid, int64_t now_ms)
{
    assert(from_zxid > s->tree.last_zxid && from_zxid <= s->next_zxid);
    struct list failed;
    list_init(&failed);
    size_t count = 0;
    struct list *it = s->proposals.next;
    while (it != &s->proposals) {
        struct proposal *pr = LIST_ENTRY(it, struct proposal, link);
        it = it->next;
        if (pr->zxid < from_zxid)
            continue;
        list_remove(&pr->link);
        list_insert_tail(&failed, &pr->link);
        count++;
    }
    change_drop_from(s, from_zxid);
    s->next_zxid = from_zxid;
    /* Undo what prep did to sessions; answer the clients' writes. */
    LIST_FOREACH(it, &failed)
    {
        struct proposal *pr = LIST_ENTRY(it, struct proposal, link);
        int32_t type = proposal_type(pr);
        if (type == ZK_OP_CREATE_SESSION && pr->sess) {
            pr->sess->refused = true;
            continue;
        }
        if (type == ZK_OP_CLOSE_SESSION && pr->sess)
            session_reopen(&s->sessions, &pr->sess->base);
        struct request *req = pr->req;
        if (!req)
            continue; /* the server's own: expiry and the sweep try again */
        req->close_after = false;
        buf_clear(&req->reply);
        size_t at = frame_begin(&req->reply);
        server_reply_header(&req->reply, req->xid, s->tree.last_zxid, ZK_SYSTEMERROR);
        frame_end(&req->reply, at);
        req->ready = true;
    }
    /* Send the answers in each session's order, running the reads behind them. */
    LIST_FOREACH(it, &failed)
    {
        struct proposal *pr = LIST_ENTRY(it, struct proposal, link);
        if (pr->sess && !pr->sess->refused)
            server_session_drain(s, pr->sess, now_ms);
    }
    /* A handshake whose session was never created: no session, no answer. */
    while (!list_is_empty(&failed)) {
        struct proposal *pr = LIST_ENTRY(failed.next, struct proposal, link);
        list_remove(&pr->link);
        if (proposal_type(pr) == ZK_OP_CREATE_SESSION && pr->sess) {
            struct server_session *ss = pr->sess;
            LOG_W("session 0x%" PRIx64 " not created: the txn log refused it, closing the "
                  "connection",
                  (uint64_t)ss->base.id);
            if (ss->conn)
                server_conn_close(s, ss->conn);
            session_remove(&s->sessions, &ss->base);
            server_session_free(s, ss);
        }
        buf_deinit(&pr->txn);
        mem_free(pr);
    }
    return count;
}

/* ---- requests in ---- */

void server_enqueue(struct server *s, struct server_session *ss, struct server_conn *c,
                    struct request *req)
{
    list_insert_tail(&ss->queue, &req->link);
    s->outstanding++;
    if (c)
        c->info.outstanding++;
}

int32_t server_prep_write(struct prep *p, int32_t type, struct jute_reader *r, struct buf *body)
{
    int32_t err;
    if (type == ZK_OP_MULTI) {
        err = prep_multi(p, r, body);
    } else if (type == ZK_OP_CLOSE_SESSION) {
        prep_close_session(p, body);
        err = ZK_OK;
    } else {
        err = prep_op(p, type, r, body);
    }
    if (!err)
        return type;
    buf_clear(body);
    struct zk_error_txn et = {.err = err};
    zk_error_txn_encode(body, &et);
    return ZK_OP_ERROR;
}

static void handle_write(struct server *s, struct server_conn *c, struct server_session *ss,
                         int32_t xid, int32_t type, struct jute_reader *r, bool ephemeral_local,
                         int64_t now_ms)
{
    if (s->role == SERVER_LEARNER) {
        struct request *req =
            learner_forward(s, c, ss, xid, type, r->p + r->pos, r->len - r->pos, now_ms);
        req->ephemeral_local = ephemeral_local;
        return;
    }
    struct request *req = server_request_new(c, xid, type, now_ms);
    req->is_write = true;
    server_enqueue(s, ss, c, req);
    struct prep p = {.s = s,
                     .sess = ss,
                     .session_id = ss->base.id,
                     .auth = &c->auth,
                     .zxid = server__take_zxid(s),
                     .time = server_wall_ms(s),
                     .check_session = s->role == SERVER_LEADER,
                     .owner = s->cfg.server_id,
                     .ephemeral_local_error = ephemeral_local};
    struct buf body;
    buf_init(&body);
    int32_t txn_type = server_prep_write(&p, type, r, &body);
    if (type == ZK_OP_CLOSE_SESSION) {
        ss->base.closing = true;
        req->close_after = true;
    }
    server_propose(s, ss, ss->base.id, req, xid, txn_type, p.zxid, p.time, &body);
    buf_deinit(&body);
}

static void handle_unimplemented(struct server *s, struct server_conn *c, struct server_session *ss,
                                 int32_t xid, int32_t type, int64_t now_ms)
{
    LOG_W("session 0x%" PRIx64 ": unknown request type %" PRId32 ", closing the connection",
          (uint64_t)ss->base.id, type);
    struct request *req = server_request_new(c, xid, type, now_ms);
    req->close_after = true;
    size_t at = frame_begin(&req->reply);
    server_reply_header(&req->reply, xid, -1, ZK_UNIMPLEMENTED);
    frame_end(&req->reply, at);
    req->ready = true;
    req->is_write = true; /* never executed as a read */
    server_enqueue(s, ss, c, req);
    server_session_drain(s, ss, now_ms);
}

static bool op_is_read(int32_t type)
{
    switch (type) {
    case ZK_OP_EXISTS:
    case ZK_OP_GET_DATA:
    case ZK_OP_GET_ACL:
    case ZK_OP_GET_CHILDREN:
    case ZK_OP_GET_CHILDREN2:
    case ZK_OP_SYNC:
    case ZK_OP_PING:
    case ZK_OP_SET_WATCHES:
    case ZK_OP_MULTI_READ:
    case ZK_OP_GET_ALL_CHILDREN_NUMBER:
    case ZK_OP_GET_EPHEMERALS:
    case ZK_OP_SET_WATCHES2:
    case ZK_OP_ADD_WATCH:
    case ZK_OP_CHECK_WATCHES:
    case ZK_OP_REMOVE_WATCHES:
    case ZK_OP_WHO_AM_I:
        return true;
    default:
        return false;
    }
}

/* sasl (102) on a server without a SASL provider: ZooKeeper's processSasl
 * meets a null SASL server and answers OK with a null token, at once. */
static void handle_sasl(struct server *s, struct server_conn *c, int32_t xid)
{
    buf_clear(&s->out);
    size_t at = frame_begin(&s->out);
    server_reply_header(&s->out, xid, 0, ZK_OK);
    struct zk_sasl_token resp = {.token = {.ptr = NULL, .len = -1}};
    zk_sasl_token_encode(&s->out, &resp);
    frame_end(&s->out, at);
    server_conn_send(s, c, &s->out);
}

/* addauth (xid -4), answered at once as ZooKeeper does: digest always
 * succeeds (the id is user:base64(sha1(user:password))); ip adds the
 * caller's address; any other scheme fails and closes the connection. */
static void handle_auth(struct server *s, struct server_conn *c, int32_t xid, struct jute_reader *r)
{
    struct zk_auth_packet ap;
    int32_t err = ZK_AUTHFAILED;
    if (zk_auth_packet_decode(r, &ap) == 0 && ap.auth.len >= 0) {
        if (scheme_is(ap.scheme, "digest")) {
            struct buf id;
            buf_init(&id);
            auth_digest_of(ap.auth.ptr, (size_t)ap.auth.len, &id);
            auth_ids_add(&c->auth, "digest", id.data, id.len);
            if (s->super_digest[0] && strlen(s->super_digest) == id.len &&
                memcmp(s->super_digest, id.data, id.len) == 0)
                auth_ids_add(&c->auth, "super", NULL, 0);
            buf_deinit(&id);
            err = ZK_OK;
        } else if (scheme_is(ap.scheme, "ip")) {
            auth_ids_add(&c->auth, "ip", (const uint8_t *)c->ip, strlen(c->ip));
            err = ZK_OK;
        }
    }
    send_header_only(s, c, xid, 0, err);
    if (err) {
        struct buf scheme; /* client bytes: escaped, so that a NUL or a line end stays visible */
        buf_init(&scheme);
        zk_print_str(&scheme, ap.scheme);
        buf_append_u8(&scheme, '\0');
        LOG_W("session 0x%" PRIx64 ": authentication failed for scheme %s, closing",
              (uint64_t)(c->session ? c->session->base.id : 0), (const char *)scheme.data);
        buf_deinit(&scheme);
        server_conn_close(s, c);
    }
}

static void handle_request(struct server *s, struct server_conn *c, const uint8_t *body, size_t len,
                           int64_t now_ms)
{
    struct server_session *ss = c->session;
    struct jute_reader r;
    jute_reader_init(&r, body, len);
    struct zk_request_header h;
    if (zk_request_header_decode(&r, &h) != 0) {
        LOG_W("connection %" PRIu64 ": request shorter than its header, closing", c->id);
        server_conn_close(s, c);
        return;
    }
    if (!ss)
        return;
    session_touch(&s->sessions, &ss->base, now_ms);
    if (s->role == SERVER_LEARNER && !ss->local)
        learner_note_touch(s, ss);
    if (h.type == ZK_OP_AUTH) {
        handle_auth(s, c, h.xid, &r);
        return;
    }
    if (h.type == ZK_OP_SASL) {
        handle_sasl(s, c, h.xid);
        return;
    }
    if (ss->base.closing && h.type != ZK_OP_PING) {
        /* a closeSession is in flight: ZooKeeper answers SESSIONEXPIRED */
        struct request *req = server_request_new(c, h.xid, h.type, now_ms);
        size_t at = frame_begin(&req->reply);
        server_reply_header(&req->reply, h.xid, s->tree.last_zxid, ZK_SESSIONEXPIRED);
        frame_end(&req->reply, at);
        req->ready = true;
        req->is_write = true;
        server_enqueue(s, ss, c, req);
        server_session_drain(s, ss, now_ms);
        return;
    }
    if (s->role == SERVER_READ_ONLY && server_read_only_refuses(s, c, ss, h.xid, h.type, now_ms))
        return;
    if (s->role == SERVER_LEADER && ss->has_owner && ss->owner != s->cfg.server_id) {
        /* PrepRequestProcessor checks every request's session on the
         * leader, reads and pings too: one that moved to another server
         * has its connection here closed (SESSIONMOVED is a connection
         * error, FinalRequestProcessor) */
        LOG_I("session 0x%" PRIx64 " moved to server %" PRId64 ": closing its connection here",
              (uint64_t)ss->base.id, ss->owner);
        server_conn_close(s, c);
        return;
    }
    bool ephemeral_local = false;
    if (ss->local && !server_session_sync_waiting(ss) &&
        server_local_request(s, c, ss, h.xid, h.type, body + r.pos, len - r.pos, &ephemeral_local,
                             now_ms))
        return;
    /* A sync of the session waits for the leader's answer: what the session
     * sends after it waits for that answer too. czk's leader answers a sync
     * after a quorum round (issue 10), not in line with its commits as
     * Apache's does; a write let through could commit and be applied here
     * first, and the reads queued behind the sync would see a write sent
     * after them, and the write's reply would follow the sync's higher
     * zxid. */
    if (server_session_sync_waiting(ss)) {
        buf_append_be64(&ss->parked, c->id);
        buf_append_be32(&ss->parked, (uint32_t)len);
        buf_append(&ss->parked, body, len);
        return;
    }
    /* createSession only comes from the handshake */
    if (zk_op_is_write(h.type) && h.type != ZK_OP_CREATE_SESSION) {
        handle_write(s, c, ss, h.xid, h.type, &r, ephemeral_local, now_ms);
        return;
    }
    /* LEADER: a client's sync waits for io.learner_sync's answer too (issue 10) */
    if (h.type == ZK_OP_SYNC &&
        (s->role == SERVER_LEARNER || (s->role == SERVER_LEADER && s->io.learner_sync))) {
        learner_forward(s, c, ss, h.xid, h.type, body + r.pos, len - r.pos, now_ms);
        return;
    }
    if (op_is_read(h.type)) {
        size_t rest = len - r.pos;
        if (list_is_empty(&ss->queue)) {
            /* Nothing ahead of it: answer now, without queueing a copy. */
            struct request now_req = {.conn_id = c->id,
                                      .xid = h.xid,
                                      .type = h.type,
                                      .body = body + r.pos,
                                      .body_len = rest,
                                      .received_ms = now_ms,
                                      .reply = s->read_out};
            read_execute(s, ss, &now_req);
            s->read_out = now_req.reply;
            reply_sent(s, c, &now_req, now_ms);
            return;
        }
        struct request *req = server_request_new(c, h.xid, h.type, now_ms);
        req->body_owned = mem_alloc(rest ? rest : 1);
        memcpy(req->body_owned, body + r.pos, rest);
        req->body = req->body_owned;
        req->body_len = rest;
        server_enqueue(s, ss, c, req);
        server_session_drain(s, ss, now_ms);
        return;
    }
    handle_unimplemented(s, c, ss, h.xid, h.type, now_ms);
}

bool server_session_sync_waiting(const struct server_session *ss)
{
    for (const struct list *it = ss->queue.next; it != &ss->queue; it = it->next) {
        const struct request *req =
            (const struct request *)(const void *)((const char *)it -
                                                   offsetof(struct request, link));
        if (req->type == ZK_OP_SYNC && req->forwarded && !req->ready)
            return true;
    }
    return false;
}

void server_session_unpark(struct server *s, struct server_session *ss, int64_t now_ms)
{
    if (ss->parked.len == 0 || server_session_sync_waiting(ss))
        return;
    struct buf todo = ss->parked;
    buf_init(&ss->parked);
    int64_t id = ss->base.id;
    size_t off = 0;
    while (off < todo.len) {
        uint64_t conn_id = be64_get(todo.data + off);
        size_t len = be32_get(todo.data + off + 8);
        const uint8_t *body = todo.data + off + 12;
        off += 12 + len;
        struct server_conn *c = server_conn_get(s, conn_id);
        if (!c || c->closing || c->session != ss)
            continue;
        handle_request(s, c, body, len, now_ms); /* parks again behind a sync */
        if ((struct server_session *)session_get(&s->sessions, id) != ss)
            break; /* gone meanwhile */
    }
    buf_deinit(&todo);
}

struct server_session *server_session_new(struct server *s, int64_t id, int32_t timeout_ms,
                                          int64_t now_ms)
{
    struct server_session *ss = mem_calloc(1, sizeof(*ss));
    ss->base.id = id;
    ss->base.timeout_ms = timeout_ms;
    session_password(id, ss->base.passwd);
    ss->watches = server_watch_owner_new(ss);
    list_init(&ss->queue);
    buf_init(&ss->parked);
    session_add(&s->sessions, &ss->base, now_ms);
    return ss;
}

struct request *server_session_attach(struct server *s, struct server_conn *c,
                                      struct server_session *ss, int32_t timeout_ms, bool ready,
                                      int64_t now_ms)
{
    if (ss->conn) {
        LOG_I("session 0x%" PRIx64 " moved to a new connection, closing the old one",
              (uint64_t)ss->base.id);
        struct server_conn *old = ss->conn;
        session_detach(s, ss);
        server_conn_close(s, old);
    }
    ss->conn = c;
    c->session = ss;
    c->info.session_id = ss->base.id;
    /* touched with the timeout asked for, which the session keeps not
     * (SessionTrackerImpl.touchSession) */
    int32_t saved = ss->base.timeout_ms;
    ss->base.timeout_ms = timeout_ms;
    session_touch(&s->sessions, &ss->base, now_ms);
    ss->base.timeout_ms = saved;
    struct request *creq = server_request_new(c, 0, ZK_OP_CREATE_SESSION, now_ms);
    creq->is_write = true;
    server_enqueue(s, ss, c, creq);
    if (ready) {
        creq->ready = true;
        server_connect_response(s, &creq->reply, timeout_ms, ss->base.id, c->old_client);
        server_session_drain(s, ss, now_ms);
    }
    return creq;
}

static void connect_new(struct server *s, struct server_conn *c, int32_t timeout, int64_t now_ms)
{
    struct server_session *ss =
        server_session_new(s, session_next_id(&s->sessions), timeout, now_ms);
    LOG_D("new session 0x%" PRIx64 " timeout %" PRId32, (uint64_t)ss->base.id, timeout);
    /* READ_ONLY: always (Apache 3.8 makes it local only with
     * localSessionsEnabled=true, and without it answers the handshake with
     * a bare NOTREADONLY header, which no client can read) */
    if (s->role == SERVER_READ_ONLY ||
        (s->cfg.local_sessions && (s->role == SERVER_LEADER || s->role == SERVER_LEARNER))) {
        /* a local session: answered at once, nothing logged */
        ss->local = true;
        s->local_sessions++;
        LOG_I("Created local session 0x%" PRIx64 ", timeout %" PRId32, (uint64_t)ss->base.id,
              timeout);
        server_session_attach(s, c, ss, timeout, true, now_ms);
        return;
    }
    ss->conn = c;
    c->session = ss;
    c->info.session_id = ss->base.id;
    if (s->role == SERVER_LEARNER) {
        learner_create_session(s, c, ss, now_ms);
        return;
    }
    if (s->role == SERVER_LEADER) {
        ss->has_owner = true;
        ss->owner = s->cfg.server_id;
    }
    struct request *creq = server_request_new(c, 0, ZK_OP_CREATE_SESSION, now_ms);
    creq->is_write = true;
    server_enqueue(s, ss, c, creq);
    struct buf b;
    buf_init(&b);
    struct zk_create_session_txn txn = {.time_out = timeout};
    zk_create_session_txn_encode(&b, &txn);
    server_propose(s, ss, ss->base.id, creq, 0, ZK_OP_CREATE_SESSION, server__take_zxid(s),
                   server_wall_ms(s), &b);
    buf_deinit(&b);
}

static void connect_existing(struct server *s, struct server_conn *c,
                             const struct zk_connect_request *req, int32_t timeout, int64_t now_ms)
{
    uint8_t expect[16];
    session_password(req->session_id, expect);
    bool passwd_ok = req->passwd.len == 16 && memcmp(req->passwd.ptr, expect, 16) == 0;
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, req->session_id);
    /* a local session re-attaches here only (revalidateSession's local
     * branch); elsewhere the leader does not know it */
    bool local = ss && ss->local;
    if (s->role == SERVER_LEARNER && passwd_ok && !local) {
        learner_reattach(s, c, req->session_id, timeout, now_ms);
        return;
    }
    if (s->role == SERVER_READ_ONLY && ss && !ss->local) {
        /* ReadOnlyZooKeeperServer.validateSession: the client tries another
         * server (a read-write one, when it finds one) */
        LOG_I("Refusing global session reconnection in RO mode: session 0x%" PRIx64,
              (uint64_t)req->session_id);
        server_conn_close(s, c);
        return;
    }
    if (!ss || ss->base.closing || !passwd_ok) {
        LOG_I("Invalid session 0x%" PRIx64 " for client, probably expired",
              (uint64_t)req->session_id);
        struct buf b;
        buf_init(&b);
        server_connect_response(s, &b, 0, 0, c->old_client);
        server_conn_send(s, c, &b);
        buf_deinit(&b);
        server_conn_close(s, c);
        return;
    }
    if (s->role == SERVER_LEADER) {
        ss->has_owner = true; /* ZooKeeperServer.revalidateSession: setOwner(ServerCnxn.me) */
        ss->owner = s->cfg.server_id;
    }
    server_session_attach(s, c, ss, timeout, true, now_ms);
}

static void handle_connect(struct server *s, struct server_conn *c, const uint8_t *body, size_t len,
                           int64_t now_ms)
{
    struct jute_reader r;
    jute_reader_init(&r, body, len);
    struct zk_connect_request req;
    if (zk_connect_request_decode(&r, &req) != 0) {
        LOG_W("connection %" PRIu64 ": malformed ConnectRequest (%zu bytes), closing", c->id, len);
        server_conn_close(s, c);
        return;
    }
    /* the readOnly byte is optional (old clients) */
    if (jute_reader_remaining(&r) >= 1)
        c->read_only = jute_read_bool(&r);
    else
        c->old_client = true;
    if (s->role == SERVER_READ_ONLY && !c->read_only) {
        /* ZooKeeperServer.processConnectRequest: closed, no answer */
        LOG_I("Not accepting client %s: read-only mode, and its ConnectRequest is not "
              "read-only",
              c->ip);
        server_conn_close(s, c);
        return;
    }
    if (req.last_zxid_seen > s->tree.last_zxid) {
        LOG_I("Refusing session request for client as it has seen zxid 0x%" PRIx64
              " our last zxid is 0x%" PRIx64 " client must try another server",
              (uint64_t)req.last_zxid_seen, (uint64_t)s->tree.last_zxid);
        server_conn_close(s, c);
        return;
    }
    int32_t timeout = req.time_out;
    if (timeout < s->cfg.min_session_timeout_ms)
        timeout = s->cfg.min_session_timeout_ms;
    if (timeout > s->cfg.max_session_timeout_ms)
        timeout = s->cfg.max_session_timeout_ms;
    c->handshaken = true;
    c->info.timeout_ms = timeout;
    if (req.session_id == 0)
        connect_new(s, c, timeout, now_ms);
    else
        connect_existing(s, c, &req, timeout, now_ms);
}

/* ---- the driver's entry points ---- */

struct server *server_new(const struct server_config *cfg, const struct server_io *io,
                          int64_t now_ms)
{
    struct server *s = mem_calloc(1, sizeof(*s));
    s->cfg = *cfg;
    snprintf(s->super_digest, sizeof(s->super_digest), "%s",
             cfg->super_digest ? cfg->super_digest : "");
    s->cfg.super_digest = s->super_digest;
    if (s->cfg.container_check_interval_ms <= 0)
        s->cfg.container_check_interval_ms = 60000;
    if (s->cfg.container_max_per_minute <= 0)
        s->cfg.container_max_per_minute = 10000;
    if (s->cfg.tick_time_ms <= 0)
        s->cfg.tick_time_ms = 3000;
    if (s->cfg.min_session_timeout_ms <= 0)
        s->cfg.min_session_timeout_ms = 2 * s->cfg.tick_time_ms;
    if (s->cfg.max_session_timeout_ms <= 0)
        s->cfg.max_session_timeout_ms = 20 * s->cfg.tick_time_ms;
    s->io = *io;
    tree_init(&s->tree);
    s->tree.extended_types = s->cfg.extended_types_enabled;
    s->next_container_check_ms = now_ms + s->cfg.container_check_interval_ms;
    session_table_init(&s->sessions, s->cfg.tick_time_ms, s->cfg.server_id, now_ms);
    watch_table_init(&s->data_watches);
    watch_table_init(&s->child_watches);
    imap_init(&s->conns);
    list_init(&s->proposals);
    list_init(&s->syncs);
    buf_init(&s->touched);
    list_init(&s->changes);
    smap_init(&s->change_by_path);
    s->next_zxid = 1;
    buf_init(&s->out);
    buf_init(&s->read_out);
    s->stats.latency_min_ms = -1;
    return s;
}

void server_free(struct server *s)
{
    if (!s)
        return;
    while (!list_is_empty(&s->proposals)) {
        struct proposal *pr = LIST_ENTRY(s->proposals.next, struct proposal, link);
        list_remove(&pr->link);
        buf_deinit(&pr->txn);
        mem_free(pr);
    }
    /* not change_rollback: a record's `prev` may be one committed and freed */
    change_drop_from(s, INT64_MIN);
    learner_reset(s);
    buf_deinit(&s->touched);
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (imap_next(&s->conns, &pos, &key, &value)) {
        struct server_conn *c = value;
        auth_ids_deinit(&c->auth);
        mem_free(c);
    }
    imap_deinit(&s->conns);
    pos = 0;
    while (imap_next(&s->sessions.by_id, &pos, &key, &value)) {
        struct server_session *ss = value;
        ss->conn = NULL;
        watch_owner_clear(ss->watches);
        mem_free(ss->watches);
        while (!list_is_empty(&ss->queue)) {
            struct request *req = LIST_ENTRY(ss->queue.next, struct request, link);
            list_remove(&req->link);
            server_request_free(req);
        }
        buf_deinit(&ss->parked);
        mem_free(ss);
    }
    session_table_deinit(&s->sessions);
    for (size_t i = 0; i < s->dying_count; i++) {
        watch_owner_clear(s->dying[i]);
        mem_free(s->dying[i]);
    }
    mem_free(s->dying);
    watch_table_deinit(&s->data_watches);
    watch_table_deinit(&s->child_watches);
    smap_deinit(&s->change_by_path);
    tree_deinit(&s->tree);
    buf_deinit(&s->out);
    buf_deinit(&s->read_out);
    mem_free(s);
}

void server_conn_open(struct server *s, uint64_t conn_id, const char *remote_ip, int64_t now_ms)
{
    struct server_conn *c = mem_calloc(1, sizeof(*c));
    c->id = conn_id;
    snprintf(c->ip, sizeof(c->ip), "%s", remote_ip ? remote_ip : "");
    auth_ids_init(&c->auth);
    auth_ids_add(&c->auth, "ip", (const uint8_t *)c->ip, strlen(c->ip));
    c->info.latency_min_ms = -1;
    c->info.established_ms = now_ms;
    imap_put(&s->conns, conn_id, c);
}

void server_conn_receive(struct server *s, uint64_t conn_id, const uint8_t *body, size_t len,
                         int64_t now_ms)
{
    struct server_conn *c = server_conn_get(s, conn_id);
    if (!c || c->closing)
        return;
    c->info.packets_received++;
    s->stats.packets_received++;
    if (!c->handshaken)
        handle_connect(s, c, body, len, now_ms);
    else
        handle_request(s, c, body, len, now_ms);
}

void server_conn_closed(struct server *s, uint64_t conn_id, int64_t now_ms)
{
    (void)now_ms;
    struct server_conn *c = imap_remove(&s->conns, conn_id);
    if (!c)
        return;
    struct server_session *ss = c->session;
    if (ss && ss->conn == c) {
        session_detach(s, ss);
        if (ss->local && ss->base.closing)
            server_local_free(s, ss);
    }
    auth_ids_deinit(&c->auth);
    mem_free(c);
}

void server_conn_writable(struct server *s, uint64_t conn_id, int64_t now_ms)
{
    struct server_conn *c = server_conn_get(s, conn_id);
    if (c && !c->closing && c->session && c->session->conn == c)
        server_session_drain(s, c->session, now_ms);
}

/* ---- roles ---- */

/* What a role left queued goes: nobody is connected to wait for it. A
 * learner's session whose createSession never came back goes too; the rest
 * are open and, under a new leader, unowned and timed from now. */
static void sessions_reset(struct server *s, enum server_role role, int64_t now_ms)
{
    struct buf gone; /* ids, 8 bytes each: the table cannot change while walked */
    buf_init(&gone);
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (imap_next(&s->sessions.by_id, &pos, &key, &value)) {
        struct server_session *ss = value;
        while (!list_is_empty(&ss->queue)) {
            struct request *req = LIST_ENTRY(ss->queue.next, struct request, link);
            list_remove(&req->link);
            s->outstanding--;
            server_request_free(req);
        }
        ss->touched = false;
        ss->has_owner = false;
        if (ss->creating || ss->local) {
            buf_append_be64(&gone, key);
            continue;
        }
        if (ss->base.closing)
            session_reopen(&s->sessions, &ss->base);
        if (role == SERVER_LEADER)
            session_touch(&s->sessions, &ss->base, now_ms);
    }
    for (size_t at = 0; at < gone.len; at += 8) {
        struct server_session *ss =
            (struct server_session *)session_get(&s->sessions, (int64_t)be64_get(gone.data + at));
        if (ss->local) {
            server_local_free(s, ss);
            continue;
        }
        session_remove(&s->sessions, &ss->base);
        server_session_free(s, ss);
    }
    buf_deinit(&gone);
}

void server_set_role(struct server *s, enum server_role role, int64_t zxid, int64_t now_ms)
{
    if (!list_is_empty(&s->proposals)) {
        /* never committed under the old role: dropped as a refusing log drops them */
        struct proposal *pr = LIST_ENTRY(s->proposals.next, struct proposal, link);
        (void)server_log_failed(s, pr->zxid, now_ms);
    }
    learner_reset(s);
    sessions_reset(s, role, now_ms);
    s->role = role;
    s->next_container_check_ms = now_ms + s->cfg.container_check_interval_ms;
    if (role == SERVER_LEADER) {
        assert(zxid >= s->tree.last_zxid);
        s->next_zxid = zxid + 1;
    }
}

enum server_role server_role(const struct server *s)
{
    return s->role;
}

void server_tick(struct server *s, int64_t now_ms)
{
    if (s->role == SERVER_READ_ONLY || (s->role == SERVER_LEARNER && s->cfg.local_sessions)) {
        server_local_expire(s, now_ms);
        s->next_container_check_ms = now_ms + s->cfg.container_check_interval_ms;
        return;
    }
    if (s->role == SERVER_LEARNER) {
        /* the leader expires sessions and sweeps containers for everyone */
        s->next_container_check_ms = now_ms + s->cfg.container_check_interval_ms;
        return;
    }
    struct session *base;
    while ((base = session_expired(&s->sessions, now_ms)) != NULL) {
        struct server_session *ss = (struct server_session *)base;
        if (ss->base.closing)
            continue;
        if (ss->local) {
            server_local_expire_one(s, ss);
            continue;
        }
        LOG_I("Expiring session 0x%" PRIx64 ", timeout of %" PRId32 "ms exceeded",
              (uint64_t)ss->base.id, ss->base.timeout_ms);
        struct prep p = {.s = s,
                         .sess = ss,
                         .session_id = ss->base.id,
                         .zxid = server__take_zxid(s),
                         .time = server_wall_ms(s)};
        struct buf body;
        buf_init(&body);
        prep_close_session(&p, &body);
        ss->base.closing = true;
        server_propose(s, ss, ss->base.id, NULL, 0, ZK_OP_CLOSE_SESSION, p.zxid, p.time, &body);
        buf_deinit(&body);
    }
    if (now_ms >= s->next_container_check_ms) {
        server_container_sweep(s);
        s->next_container_check_ms = now_ms + s->cfg.container_check_interval_ms;
    }
}

int64_t server_next_tick_ms(const struct server *s)
{
    if (s->role == SERVER_LEARNER && !s->cfg.local_sessions)
        return s->next_container_check_ms;
    int64_t sessions = session_next_expiry_ms(&s->sessions);
    return sessions < s->next_container_check_ms ? sessions : s->next_container_check_ms;
}

int64_t server_outstanding(const struct server *s)
{
    return s->outstanding;
}

int64_t server_conn_outstanding(const struct server *s, uint64_t conn_id)
{
    const struct server_conn *c = server_conn_get(s, conn_id);
    return c ? c->info.outstanding : 0;
}

void server_get_stats(const struct server *s, struct server_stats *out)
{
    *out = s->stats;
    out->outstanding_requests = s->outstanding;
    out->last_zxid = s->tree.last_zxid;
    out->node_count = tree_node_count(&s->tree);
    out->watch_count = watch_table_count(&s->data_watches) + watch_table_count(&s->child_watches);
    out->watch_path_count =
        watch_table_path_count(&s->data_watches) + watch_table_path_count(&s->child_watches);
    /* wchs counts data watches only, as ZooKeeper's dataWatches.toString */
    out->watch_session_count = watch_table_owner_count(&s->data_watches);
    out->data_watch_count = watch_table_count(&s->data_watches);
    out->data_watch_path_count = watch_table_path_count(&s->data_watches);
    out->ephemeral_count = tree_ephemeral_count(&s->tree);
    out->session_count = session_count(&s->sessions) - s->local_sessions;
    out->local_session_count = s->local_sessions - s->local_closing;
    out->data_bytes = s->tree.data_bytes;
}

void server_reset_stats(struct server *s)
{
    s->stats.packets_received = 0;
    s->stats.packets_sent = 0;
    s->stats.latency_min_ms = -1;
    s->stats.latency_max_ms = 0;
    s->stats.latency_total_ms = 0;
    s->stats.latency_count = 0;
}

bool server_get_conn_info(const struct server *s, uint64_t conn_id, struct server_conn_info *out)
{
    struct server_conn *c = server_conn_get(s, conn_id);
    if (!c)
        return false;
    *out = c->info;
    return true;
}

void server_reset_conn_stats(struct server *s)
{
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (imap_next(&s->conns, &pos, &key, &value)) {
        struct server_conn *c = value;
        c->info.packets_received = 0;
        c->info.packets_sent = 0;
        c->info.latency_min_ms = -1;
        c->info.latency_max_ms = 0;
        c->info.latency_total_ms = 0;
        c->info.latency_count = 0;
        c->info.last_cxid = -1;
        c->info.last_zxid = -1;
    }
}
