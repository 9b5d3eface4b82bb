/* SPDX-License-Identifier: Apache-2.0 */
/* learner.c — what a follower or observer does instead of prepping: writes,
 * createSession, closeSession and sync go to the leader as REQUEST data
 * (FollowerRequestProcessor, Learner.request) and wait in their session's
 * queue until the leader's committed txn (matched by session and cxid) or
 * SYNC answers them; re-attaching sessions are revalidated with the leader;
 * the sessions its clients touch are reported in pings
 * (LearnerSessionTracker). Pure: no I/O, no clock. */
#include "base/buf.h"
#include "base/list.h"
#include "base/log.h"
#include "base/mem.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/auth.h"
#include "server/server.h"
#include "server/server_int.h"
#include "session/session.h"

#include <assert.h>
#include <inttypes.h>
#include <string.h>

void learner_note_touch(struct server *s, struct server_session *ss)
{
    if (ss->touched)
        return;
    ss->touched = true;
    buf_append_be64(&s->touched, (uint64_t)ss->base.id);
}

void server_relay_touch(struct server *s, int64_t session_id)
{
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, session_id);
    if (ss && !ss->base.closing && s->role == SERVER_LEARNER)
        learner_note_touch(s, ss);
}

void server_take_touched(struct server *s, struct buf *out)
{
    for (size_t at = 0; at + 8 <= s->touched.len; at += 8) {
        int64_t id = (int64_t)be64_get(s->touched.data + at);
        struct server_session *ss = (struct server_session *)session_get(&s->sessions, id);
        if (!ss || !ss->touched)
            continue;
        ss->touched = false;
        buf_append_be64(out, (uint64_t)id);
        buf_append_be32(out, (uint32_t)ss->base.timeout_ms);
    }
    buf_clear(&s->touched);
}

/* REQUEST data (sessionId, cxid, type, record) with c's ids as authinfo. */
static void forward(struct server *s, const struct server_conn *c, int64_t session_id, int32_t cxid,
                    int32_t type, const uint8_t *rec, size_t rec_len)
{
    struct buf data;
    buf_init(&data);
    buf_append_be64(&data, (uint64_t)session_id);
    buf_append_be32(&data, (uint32_t)cxid);
    buf_append_be32(&data, (uint32_t)type);
    buf_append(&data, rec, rec_len);
    size_t count = c ? c->auth.count : 0;
    struct zk_id *ids = mem_calloc(count + 1, sizeof(*ids));
    for (size_t i = 0; i < count; i++) {
        const struct auth_id *a = &c->auth.items[i];
        ids[i].scheme = jute_cstr(a->scheme);
        ids[i].id = jute_buf_of(a->id, a->id_len);
    }
    s->io.forward(s->io.ctx, data.data, data.len, ids, count);
    mem_free(ids);
    buf_deinit(&data);
}

struct request *learner_forward(struct server *s, struct server_conn *c, struct server_session *ss,
                                int32_t xid, int32_t type, const uint8_t *rec, size_t rec_len,
                                int64_t now_ms)
{
    struct request *req = server_request_new(c, xid, type, now_ms);
    req->is_write = true; /* never run as a read: the leader answers it */
    req->forwarded = true;
    if (type == ZK_OP_SYNC) {
        /* answered locally once the leader's SYNC comes: keep the path */
        req->body_owned = mem_alloc(rec_len ? rec_len : 1);
        memcpy(req->body_owned, rec, rec_len);
        req->body = req->body_owned;
        req->body_len = rec_len;
        struct sync_wait *w = mem_calloc(1, sizeof(*w));
        w->req = req;
        w->session_id = ss->base.id;
        list_insert_tail(&s->syncs, &w->link);
        req->sync = w;
    }
    if (type == ZK_OP_CLOSE_SESSION) {
        ss->base.closing = true;
        req->close_after = true;
    }
    server_enqueue(s, ss, c, req);
    if (type == ZK_OP_SYNC && s->role == SERVER_LEADER)
        s->io.learner_sync(s->io.ctx, SERVER_SYNC_LOCAL);
    else
        forward(s, c, ss->base.id, xid, type, rec, rec_len);
    return req;
}

void learner_upgrade_session(struct server *s, struct server_conn *c, struct server_session *ss)
{
    /* as a session being created: not in a snapshot until its txn applies */
    ss->creating = true;
    learner_note_touch(s, ss);
    struct buf timeout; /* the body: int timeout */
    buf_init(&timeout);
    buf_append_be32(&timeout, (uint32_t)ss->base.timeout_ms);
    forward(s, c, ss->base.id, 0, ZK_OP_CREATE_SESSION, timeout.data, timeout.len);
    buf_deinit(&timeout);
}

void learner_create_session(struct server *s, struct server_conn *c, struct server_session *ss,
                            int64_t now_ms)
{
    /* in the table for its queue, but not committed: no snapshot holds it */
    ss->creating = true;
    learner_note_touch(s, ss);
    struct request *creq = server_request_new(c, 0, ZK_OP_CREATE_SESSION, now_ms);
    creq->is_write = true;
    creq->forwarded = true;
    server_enqueue(s, ss, c, creq);
    struct buf timeout; /* the body: int timeout */
    buf_init(&timeout);
    buf_append_be32(&timeout, (uint32_t)ss->base.timeout_ms);
    forward(s, c, ss->base.id, 0, ZK_OP_CREATE_SESSION, timeout.data, timeout.len);
    buf_deinit(&timeout);
}

void learner_reattach(struct server *s, struct server_conn *c, int64_t session_id,
                      int32_t timeout_ms, int64_t now_ms)
{
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, session_id);
    if (!ss) {
        /* created elsewhere, its createSession not applied here yet: a
         * placeholder, gone again if the leader does not know it */
        ss = server_session_new(s, session_id, timeout_ms, now_ms);
        ss->creating = true;
    }
    struct request *creq = server_session_attach(s, c, ss, timeout_ms, false, now_ms);
    creq->revalidating = true;
    learner_note_touch(s, ss);
    s->io.revalidate(s->io.ctx, session_id, timeout_ms);
}

void server_revalidated(struct server *s, int64_t session_id, bool valid, int64_t now_ms)
{
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, session_id);
    if (!ss)
        return; /* closed meanwhile: its connections were closed with it */
    struct list *it;
    LIST_FOREACH(it, &ss->queue)
    {
        struct request *req = LIST_ENTRY(it, struct request, link);
        if (!req->revalidating)
            continue;
        req->revalidating = false;
        const struct server_conn *c = server_conn_get(s, req->conn_id);
        bool old_client = c && c->old_client;
        if (valid) {
            int32_t timeout = c ? c->info.timeout_ms : ss->base.timeout_ms;
            server_connect_response(s, &req->reply, timeout, session_id, old_client);
        } else {
            LOG_I("Invalid session 0x%" PRIx64 " for client, probably expired",
                  (uint64_t)session_id);
            server_connect_response(s, &req->reply, 0, 0, old_client);
            req->close_after = true;
        }
        req->ready = true;
    }
    bool placeholder = !valid && ss->creating;
    server_session_drain(s, ss, now_ms);
    if (placeholder) {
        if (ss->conn)
            server_conn_close(s, ss->conn);
        session_remove(&s->sessions, &ss->base);
        server_session_free(s, ss);
    }
}

void server_sync_done(struct server *s, int64_t now_ms)
{
    if (list_is_empty(&s->syncs)) {
        LOG_W("SYNC from the leader with no sync outstanding, ignored");
        return;
    }
    struct sync_wait *w = LIST_ENTRY(s->syncs.next, struct sync_wait, link);
    list_remove(&w->link);
    struct request *req = w->req;
    int64_t session_id = w->session_id;
    mem_free(w);
    if (!req)
        return; /* its session went meanwhile */
    req->sync = NULL;
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, session_id);
    assert(ss); /* a session that goes frees its requests, clearing w->req */
    /* the SyncResponse with the zxid applied now, as a read answers */
    read_execute(s, ss, req);
    server_session_drain(s, ss, now_ms);
    server_session_unpark(s, ss, now_ms);
}

struct request *learner_waiting(struct server_session *ss, int32_t cxid, int32_t txn_type)
{
    struct list *it;
    LIST_FOREACH(it, &ss->queue)
    {
        struct request *req = LIST_ENTRY(it, struct request, link);
        if (!req->forwarded || req->ready || req->type == ZK_OP_SYNC)
            continue;
        /* CommitProcessor matches by session and cxid; the handshake's cxid
         * 0 must not take the leader's expiry closeSession (cxid 0 too) */
        bool create = req->type == ZK_OP_CREATE_SESSION;
        if (req->xid != cxid || create != (txn_type == ZK_OP_CREATE_SESSION))
            return NULL;
        return req;
    }
    return NULL;
}

void learner_reset(struct server *s)
{
    while (!list_is_empty(&s->syncs)) {
        struct sync_wait *w = LIST_ENTRY(s->syncs.next, struct sync_wait, link);
        list_remove(&w->link);
        if (w->req)
            w->req->sync = NULL;
        mem_free(w);
    }
    buf_clear(&s->touched);
}
