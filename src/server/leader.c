/* SPDX-License-Identifier: Apache-2.0 */
/* leader.c — what an ensemble's leader does beyond a standalone server: the
 * learners' REQUEST packets prepped like local writes (LearnerHandler ->
 * PrepRequestProcessor), session owners and their checks
 * (SessionTrackerImpl.checkSession), touches from learners' pings and
 * REVALIDATE. Pure: no I/O, no clock. */
#include "base/buf.h"
#include "base/log.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/auth.h"
#include "server/server.h"
#include "server/server_int.h"
#include "session/session.h"

#include <inttypes.h>
#include <stdio.h>

/* REQUEST data: long sessionId, int cxid, int type, then the request record. */
#define LEARNER_REQUEST_HEADER_LEN 16

int32_t server_check_session(struct server *s, int64_t session_id, int64_t owner)
{
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, session_id);
    /* LeaderSessionTracker: an unknown global session has expired, but
     * with local sessions one made by another server is its local session */
    if (!ss && s->cfg.local_sessions && (session_id >> 56) != s->cfg.server_id)
        return ZK_OK;
    if (!ss || ss->base.closing)
        return ZK_SESSIONEXPIRED;
    if (ss->local)
        return ZK_OK; /* the local tracker's: no owner */
    if (!ss->has_owner) {
        ss->has_owner = true;
        ss->owner = owner;
        return ZK_OK;
    }
    return ss->owner == owner ? ZK_OK : ZK_SESSIONMOVED;
}

int32_t server_check_global_session(struct server *s, int64_t session_id, int64_t owner)
{
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, session_id);
    if (!ss || ss->local)
        return ZK_SESSIONEXPIRED;
    return server_check_session(s, session_id, owner);
}

/* Touched with this timeout; the session keeps its own (touchSession). */
static void touch_with(struct server *s, struct server_session *ss, int32_t timeout_ms,
                       int64_t now_ms)
{
    int32_t saved = ss->base.timeout_ms;
    ss->base.timeout_ms = timeout_ms;
    session_touch(&s->sessions, &ss->base, now_ms);
    ss->base.timeout_ms = saved;
}

void server_touch_session(struct server *s, int64_t session_id, int32_t timeout_ms, int64_t now_ms)
{
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, session_id);
    if (ss && !ss->base.closing)
        touch_with(s, ss, timeout_ms, now_ms);
}

bool server_revalidate_session(struct server *s, int64_t learner_sid, int64_t session_id,
                               int32_t timeout_ms, int64_t now_ms)
{
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, session_id);
    /* the leader's local session stays with the leader (not a global one) */
    if (!ss || ss->base.closing || ss->local)
        return false;
    touch_with(s, ss, timeout_ms, now_ms);
    ss->has_owner = true;
    ss->owner = learner_sid;
    return true;
}

/* The packet's authinfo as a connection's ids: the schemes this server's
 * ACL checks know; others match nothing here, so they are left out. */
static void auth_from_packet(struct auth_ids *ids, const struct zk_id *auth, size_t auth_len)
{
    static const char *const known[] = {"ip", "digest", "super"};
    for (size_t i = 0; i < auth_len; i++) {
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
            if (!scheme_is(auth[i].scheme, known[k]))
                continue;
            size_t len = auth[i].id.len > 0 ? (size_t)auth[i].id.len : 0;
            auth_ids_add(ids, known[k], auth[i].id.ptr, len);
            break;
        }
    }
}

/* createSession: trackSession + setOwner, then the txn. */
static int leader_create_session(struct server *s, int64_t sid, int64_t session_id, int32_t cxid,
                                 const uint8_t *rec, size_t rec_len, int64_t now_ms, char *errmsg,
                                 size_t errlen)
{
    if (rec_len < 4) {
        snprintf(errmsg, errlen, "createSession of 0x%" PRIx64 " without its timeout",
                 (uint64_t)session_id);
        return -1;
    }
    int32_t timeout = (int32_t)be32_get(rec);
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, session_id);
    /* the proposal holds the session only if it made it: a refused one then
     * takes the session with it, once (server_log_failed) */
    struct server_session *made = NULL;
    if (!ss)
        ss = made = server_session_new(s, session_id, timeout, now_ms);
    struct buf body;
    buf_init(&body);
    int32_t type = ZK_OP_CREATE_SESSION;
    if (ss->base.closing) {
        /* setOwner refuses a closing session */
        type = ZK_OP_ERROR;
        struct zk_error_txn et = {.err = ZK_SESSIONEXPIRED};
        zk_error_txn_encode(&body, &et);
    } else {
        ss->has_owner = true;
        ss->owner = sid;
        struct zk_create_session_txn txn = {.time_out = timeout};
        zk_create_session_txn_encode(&body, &txn);
    }
    int64_t zxid = server__take_zxid(s);
    int64_t time = server_wall_ms(s);
    server_propose(s, made, session_id, NULL, cxid, type, zxid, time, &body);
    buf_deinit(&body);
    return 0;
}

/* A write or closeSession: prepped as a local one with the packet's ids.
 * The proposal holds the session only while it is open: a closing one may
 * be freed by a closeSession applied before this txn. */
static void leader_write(struct server *s, int64_t sid, int64_t session_id, int32_t cxid,
                         int32_t type, const uint8_t *rec, size_t rec_len, const struct zk_id *auth,
                         size_t auth_len)
{
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, session_id);
    if (ss && ss->base.closing)
        ss = NULL;
    struct auth_ids ids;
    auth_ids_init(&ids);
    auth_from_packet(&ids, auth, auth_len);
    struct prep p = {.s = s,
                     .sess = ss,
                     .session_id = session_id,
                     .auth = &ids,
                     .zxid = server__take_zxid(s),
                     .time = server_wall_ms(s),
                     .check_session = true,
                     .owner = sid};
    struct jute_reader r;
    jute_reader_init(&r, rec, rec_len);
    struct buf body;
    buf_init(&body);
    int32_t txn_type = server_prep_write(&p, type, &r, &body);
    if (type == ZK_OP_CLOSE_SESSION && ss)
        ss->base.closing = true;
    server_propose(s, ss, session_id, NULL, cxid, txn_type, p.zxid, p.time, &body);
    buf_deinit(&body);
    auth_ids_deinit(&ids);
}

int server_learner_request(struct server *s, int64_t learner_sid, const uint8_t *data, size_t len,
                           const struct zk_id *auth, size_t auth_len, int64_t now_ms, char *errmsg,
                           size_t errlen)
{
    if (len < LEARNER_REQUEST_HEADER_LEN) {
        snprintf(errmsg, errlen, "REQUEST of %zu bytes, shorter than its header", len);
        return -1;
    }
    int64_t session_id = (int64_t)be64_get(data);
    int32_t cxid = (int32_t)be32_get(data + 8);
    int32_t type = (int32_t)be32_get(data + 12);
    const uint8_t *rec = data + LEARNER_REQUEST_HEADER_LEN;
    size_t rec_len = len - LEARNER_REQUEST_HEADER_LEN;
    if (type == ZK_OP_CREATE_SESSION)
        return leader_create_session(s, learner_sid, session_id, cxid, rec, rec_len, now_ms, errmsg,
                                     errlen);
    if (type == ZK_OP_SYNC) {
        /* Leader.processSync answers it once what is proposed now commits */
        if (s->io.learner_sync)
            s->io.learner_sync(s->io.ctx, learner_sid);
        return 0;
    }
    /* Apache's learners forward check (13) as a write (FollowerRequestProcessor) */
    if (!zk_op_is_write(type) && type != ZK_OP_CHECK) {
        LOG_D("learner %" PRId64 ": request type %" PRId32 " needs no txn, ignored", learner_sid,
              type);
        return 0;
    }
    leader_write(s, learner_sid, session_id, cxid, type, rec, rec_len, auth, auth_len);
    return 0;
}
