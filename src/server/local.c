/* SPDX-License-Identifier: Apache-2.0 */
/* local.c — sessions of this server alone: local sessions
 * (localSessionsEnabled: LearnerSessionTracker's and LeaderSessionTracker's
 * local trackers, checkUpgradeSession) and read-only mode
 * (ReadOnlyRequestProcessor). Pure: no I/O, no clock. */
#include "base/buf.h"
#include "base/list.h"
#include "base/log.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/server.h"
#include "server/server_int.h"
#include "session/session.h"

#include <inttypes.h>

/* A local session ends: closed, expired, or the role over. */
void server_local_free(struct server *s, struct server_session *ss)
{
    session_remove(&s->sessions, &ss->base);
    s->local_sessions--;
    if (ss->base.closing)
        s->local_closing--;
    server_session_free(s, ss);
}

void server_local_expire_one(struct server *s, struct server_session *ss)
{
    LOG_I("Expiring local session 0x%" PRIx64 ", timeout of %" PRId32 "ms exceeded",
          (uint64_t)ss->base.id, ss->base.timeout_ms);
    struct server_conn *c = ss->conn;
    server_local_free(s, ss);
    if (c)
        server_conn_close(s, c);
}

/* READ_ONLY, LEARNER with local sessions: local sessions expire here,
 * closed locally; global ones wait for the leader (popped from their
 * buckets, they are timed anew by a touch or the next leader's
 * server_set_role). */
void server_local_expire(struct server *s, int64_t now_ms)
{
    struct session *base;
    while ((base = session_expired(&s->sessions, now_ms)) != NULL) {
        struct server_session *ss = (struct server_session *)base;
        if (!ss->local || ss->base.closing)
            continue;
        server_local_expire_one(s, ss);
    }
}

/* A request answered here with its header alone (the last zxid), in the
 * session's order; a local session's closeSession (OK) then closes the
 * connection, and the session goes with it (server_conn_closed). */
static void local_answer(struct server *s, struct server_conn *c, struct server_session *ss,
                         int32_t xid, int32_t type, int32_t err, int64_t now_ms)
{
    struct request *req = server_request_new(c, xid, type, now_ms);
    size_t at = frame_begin(&req->reply);
    server_reply_header(&req->reply, xid, s->tree.last_zxid, err);
    frame_end(&req->reply, at);
    req->ready = true;
    req->is_write = true;
    if (type == ZK_OP_CLOSE_SESSION) {
        LOG_I("Closing local session 0x%" PRIx64, (uint64_t)ss->base.id);
        ss->base.closing = true;
        s->local_closing++;
        req->close_after = true;
    }
    server_enqueue(s, ss, c, req);
    server_session_drain(s, ss, now_ms);
}

/* Whether a create, create2 or multi record creates an ephemeral node
 * (checkUpgradeSession; a record that does not decode: no). */
static bool creates_ephemeral(int32_t type, const uint8_t *rec, size_t len)
{
    struct jute_reader r;
    jute_reader_init(&r, rec, len);
    struct zk_create_request cr;
    if (type != ZK_OP_MULTI)
        return zk_create_request_decode(&r, &cr) == 0 && (cr.flags == 1 || cr.flags == 3);
    for (;;) {
        struct zk_multi_header h;
        if (zk_multi_header_decode(&r, &h) != 0 || h.done)
            return false;
        if (h.type != ZK_OP_CREATE && h.type != ZK_OP_CREATE2) {
            if (prep_skip_op(h.type, &r) != 0)
                return false;
            continue;
        }
        if (zk_create_request_decode(&r, &cr) != 0)
            return false;
        if (cr.flags == 1 || cr.flags == 3)
            return true;
    }
}

/* LEADER: a local session's upgrade: its createSession txn, proposed ahead
 * of the request that needs it (it is global from here on for prep, as
 * trackSession makes it in PrepRequestProcessor). */
static void leader_upgrade_session(struct server *s, struct server_session *ss)
{
    ss->has_owner = true;
    ss->owner = s->cfg.server_id;
    struct buf b;
    buf_init(&b);
    struct zk_create_session_txn txn = {.time_out = ss->base.timeout_ms};
    zk_create_session_txn_encode(&b, &txn);
    int64_t time = server_wall_ms(s);
    server_propose(s, ss, ss->base.id, NULL, 0, ZK_OP_CREATE_SESSION, server__take_zxid(s), time,
                   &b);
    buf_deinit(&b);
}

/* LEADER, LEARNER with local sessions: a local session's closeSession is
 * answered here; its ephemeral create upgrades it to a global session, or
 * (no upgrading) is sent on marked to fail as ZooKeeper fails it. True when
 * the request was answered. */
bool server_local_request(struct server *s, struct server_conn *c, struct server_session *ss,
                          int32_t xid, int32_t type, const uint8_t *rec, size_t len,
                          bool *ephemeral_local, int64_t now_ms)
{
    *ephemeral_local = false;
    if (type == ZK_OP_CLOSE_SESSION) {
        local_answer(s, c, ss, xid, type, ZK_OK, now_ms);
        return true;
    }
    if ((type != ZK_OP_CREATE && type != ZK_OP_CREATE2 && type != ZK_OP_MULTI) ||
        !creates_ephemeral(type, rec, len))
        return false;
    if (!s->cfg.local_sessions_upgrading) {
        *ephemeral_local = true;
        return false;
    }
    LOG_I("Upgrading session 0x%" PRIx64, (uint64_t)ss->base.id);
    ss->local = false;
    s->local_sessions--;
    if (s->role == SERVER_LEARNER)
        learner_upgrade_session(s, c, ss);
    else
        leader_upgrade_session(s, ss);
    return false;
}

/* READ_ONLY: what ReadOnlyRequestProcessor keeps from the tree: every
 * change, sync and check is answered NOTREADONLY (with the last zxid), in
 * the session's order; closeSession closes the local session here (OK, then
 * the connection closes; the session goes with it in server_conn_closed).
 * True when the request was answered so. */
bool server_read_only_refuses(struct server *s, struct server_conn *c, struct server_session *ss,
                              int32_t xid, int32_t type, int64_t now_ms)
{
    int32_t err;
    if (type == ZK_OP_CLOSE_SESSION)
        err = ZK_OK;
    else if ((zk_op_is_write(type) && type != ZK_OP_CREATE_SESSION) || type == ZK_OP_CHECK ||
             type == ZK_OP_SYNC)
        err = ZK_NOTREADONLY;
    else
        return false;
    local_answer(s, c, ss, xid, type, err, now_ms);
    return true;
}
