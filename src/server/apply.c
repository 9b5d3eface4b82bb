/* SPDX-License-Identifier: Apache-2.0 */
/* apply.c — the apply stage (FinalRequestProcessor): a committed txn goes
 * into the tree and the session table, fires its watches and, when this
 * server holds the request that made it, becomes that request's reply. It
 * needs nothing from prep, so a follower applies a leader's txns with the
 * same code as a standalone server its own. Pure: no I/O. */
#include "base/buf.h"
#include "base/list.h"
#include "base/log.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/auth.h"
#include "server/server_int.h"
#include "session/session.h"
#include "session/watch.h"
#include "tree/tree.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct apply_ctx {
    struct server *s;
    int64_t zxid;
    int32_t event_type;
    const char *path;
    size_t path_len;
    struct jute_vec acl; /* of the event's node: a watcher needs READ on it */
};

static void fire_one(void *ctx, struct watch_owner *o)
{
    struct apply_ctx *a = ctx;
    struct server_session *ss = o->data;
    /* ZooKeeper 3.8.4+ (ZOOKEEPER-4799, CVE-2024-23944): an event reaches
     * only a connection that may read the node it is about */
    if (!ss->conn || !auth_acl_permits(&a->acl, ZK_PERM_READ, &ss->conn->auth))
        return;
    server_send_event(a->s, ss, a->event_type, a->path, a->path_len, a->zxid);
}

static void on_tree_event(void *ctx, int32_t type, const struct tree_node *node)
{
    struct apply_ctx *a = ctx;
    struct server *s = a->s;
    const char *path = node->path;
    size_t len = node->path_len;
    a->event_type = type;
    a->path = path;
    a->path_len = len;
    a->acl = tree_node_acl(node);
    uint64_t stamp = ++s->watch_stamp;
    switch (type) {
    case ZK_EVENT_NODE_CREATED:
    case ZK_EVENT_NODE_DATA_CHANGED:
        watch_trigger(&s->data_watches, path, len, false, stamp, fire_one, a);
        break;
    case ZK_EVENT_NODE_DELETED:
        watch_trigger(&s->data_watches, path, len, false, stamp, fire_one, a);
        watch_trigger(&s->child_watches, path, len, false, stamp, fire_one, a);
        break;
    case ZK_EVENT_NODE_CHILDREN_CHANGED:
        watch_trigger(&s->child_watches, path, len, true, stamp, fire_one, a);
        break;
    default:
        break;
    }
}

/* SESSIONMOVED is a connection-level error (ZOOKEEPER-710):
 * FinalRequestProcessor closes the connection instead of answering, for an
 * error txn and for a multi with such a result. */
static bool session_moved(const struct tree_result *res)
{
    if (res->type == ZK_OP_ERROR)
        return res->err == ZK_SESSIONMOVED;
    for (size_t i = 0; i < res->op_count; i++)
        if (res->ops[i].type == ZK_OP_ERROR && res->ops[i].err == ZK_SESSIONMOVED)
            return true;
    return false;
}

static void write_reply(struct server *s, struct request *req, const struct tree_result *res,
                        int64_t zxid)
{
    struct buf *b = &req->reply;
    buf_clear(b);
    size_t at = frame_begin(b);
    /* A multi's header says 0 even when it failed: the per-op results carry
     * the errors (FinalRequestProcessor never copies rc.err for multi). */
    int32_t err = req->type == ZK_OP_MULTI && res->type == ZK_OP_MULTI ? ZK_OK : res->err;
    server_reply_header(b, req->xid, zxid, err);
    if (res->type == ZK_OP_ERROR) {
        frame_end(b, at);
        return;
    }
    switch (req->type) {
    case ZK_OP_CREATE: {
        struct zk_path_request resp = {.path = res->path};
        zk_path_request_encode(b, &resp);
        break;
    }
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER:
    case ZK_OP_CREATE_TTL: {
        struct zk_create2_response resp = {.path = res->path, .stat = res->stat};
        zk_create2_response_encode(b, &resp);
        break;
    }
    case ZK_OP_SET_DATA:
    case ZK_OP_SET_ACL: {
        struct zk_stat_response resp = {.stat = res->stat};
        zk_stat_response_encode(b, &resp);
        break;
    }
    case ZK_OP_RECONFIG: {
        /* FinalRequestProcessor: the config now in force, and the stat */
        struct tree_node *n = tree_get(&s->tree, res->path.ptr ? (const char *)res->path.ptr : "",
                                       res->path.len > 0 ? (size_t)res->path.len : 0);
        struct zk_get_data_response resp = {.data = n ? (struct jute_buf){n->data, n->data_len}
                                                      : (struct jute_buf){NULL, -1},
                                            .stat = res->stat};
        zk_get_data_response_encode(b, &resp);
        break;
    }
    case ZK_OP_MULTI: {
        for (size_t i = 0; i < res->op_count; i++) {
            const struct tree_op_result *op = &res->ops[i];
            int32_t type = op->type;
            if (type == ZK_OP_CREATE_CONTAINER || type == ZK_OP_CREATE_TTL)
                type = ZK_OP_CREATE2;
            struct zk_multi_header h = {
                .type = type, .done = false, .err = type == ZK_OP_ERROR ? op->err : 0};
            zk_multi_header_encode(b, &h);
            switch (type) {
            case ZK_OP_CREATE: {
                struct zk_path_request resp = {.path = op->path};
                zk_path_request_encode(b, &resp);
                break;
            }
            case ZK_OP_CREATE2: {
                struct zk_create2_response resp = {.path = op->path, .stat = op->stat};
                zk_create2_response_encode(b, &resp);
                break;
            }
            case ZK_OP_SET_DATA: {
                struct zk_stat_response resp = {.stat = op->stat};
                zk_stat_response_encode(b, &resp);
                break;
            }
            case ZK_OP_ERROR: {
                struct zk_error_response resp = {.err = op->err};
                zk_error_response_encode(b, &resp);
                break;
            }
            default:
                break;
            }
        }
        struct zk_multi_header end = {.type = -1, .done = true, .err = -1};
        zk_multi_header_encode(b, &end);
        break;
    }
    default:
        break;
    }
    frame_end(b, at);
}

/* A txn this server did not prep (a leader's): its session is the table's;
 * a createSession adds it, as recovery does. NULL for the server's own txns
 * (session 0) and for a session this server never heard of. */
static struct server_session *remote_session(struct server *s, const struct zk_txn_header *h,
                                             const uint8_t *body, size_t len, int64_t now_ms)
{
    if (h->type == ZK_OP_CREATE_SESSION && !session_get(&s->sessions, h->client_id)) {
        struct jute_reader r;
        jute_reader_init(&r, body, len);
        struct zk_create_session_txn cs;
        int rc = zk_create_session_txn_decode(&r, &cs);
        assert(rc == 0);
        (void)rc;
        server_session_restore(s, h->client_id, cs.time_out, now_ms);
    }
    return (struct server_session *)session_get(&s->sessions, h->client_id);
}

/* The local request, if any, gets its reply; a txn this server did not prep
 * finds its session in the table (a createSession adds it first). */
void apply_txn(struct server *s, const uint8_t *txn, size_t len, const struct apply_local *local,
               int64_t now_ms)
{
    struct jute_reader r;
    jute_reader_init(&r, txn, len);
    struct zk_txn_header h;
    int rc = zk_txn_header_decode(&r, &h);
    assert(rc == 0);
    (void)rc;
    struct server_session *ss =
        local ? local->sess : remote_session(s, &h, txn + r.pos, len - r.pos, now_ms);
    struct request *req = local ? local->req : NULL;
    if (ss && h.type == ZK_OP_CREATE_SESSION) {
        ss->creating = false; /* committed: snapshots hold it from now on */
        if (ss->local) {
            /* an upgrade proposed here before the session became global
             * (or a learner's commit of one): a global session now */
            ss->local = false;
            s->local_sessions--;
        }
    }
    struct apply_ctx a = {.s = s, .zxid = h.zxid};
    struct tree_result res;
    tree_apply(&s->tree, &h, txn + r.pos, len - r.pos, on_tree_event, &a, &res);
    if (h.type == ZK_OP_RECONFIG && res.err == ZK_OK && s->io.reconfig_applied) {
        struct tree_node *cfg =
            tree_get(&s->tree, (const char *)res.path.ptr, (size_t)res.path.len);
        if (cfg)
            s->io.reconfig_applied(s->io.ctx, h.zxid, cfg->data,
                                   cfg->data_len > 0 ? (size_t)cfg->data_len : 0);
    }
    if (req) {
        if (h.type == ZK_OP_CREATE_SESSION) {
            /* the handshake's reply */
            struct server_conn *c = server_conn_get(s, req->conn_id);
            server_connect_response(s, &req->reply, ss->base.timeout_ms, ss->base.id,
                                    c && c->old_client);
        } else if (session_moved(&res)) {
            LOG_I("session 0x%" PRIx64 " moved to another server: closing its connection here",
                  (uint64_t)h.client_id);
            buf_clear(&req->reply);
            req->close_after = true;
        } else if (req->ephemeral_local && req->type != ZK_OP_MULTI) {
            /* the leader refused it as a txn; ZooKeeper's learner answers
             * with the exception checkUpgradeSession set */
            buf_clear(&req->reply);
            size_t at = frame_begin(&req->reply);
            server_reply_header(&req->reply, req->xid, h.zxid, ZK_EPHEMERALONLOCALSESSION);
            frame_end(&req->reply, at);
        } else {
            write_reply(s, req, &res, h.zxid);
        }
        req->ready = true;
    }
    tree_result_deinit(&res);
    if (h.type == ZK_OP_CLOSE_SESSION && ss) {
        /* the reply (if any) goes first, then the connection closes */
        server_session_drain(s, ss, now_ms);
        if (ss->conn)
            server_conn_close(s, ss->conn);
        session_remove(&s->sessions, &ss->base);
        server_session_free(s, ss);
        return;
    }
    if (ss)
        server_session_drain(s, ss, now_ms);
}

int server_apply_committed(struct server *s, const uint8_t *txn, size_t len, int64_t now_ms,
                           char *errmsg, size_t errlen)
{
    /* apply_txn trusts its input (prep made it); a leader's bytes are checked
     * here first, so garbage from the wire is refused, never asserted on. */
    struct jute_reader r;
    jute_reader_init(&r, txn, len);
    struct zk_txn_header h;
    if (zk_txn_header_decode(&r, &h) != 0) {
        snprintf(errmsg, errlen, "txn too short for a TxnHeader (%zu bytes)", len);
        return -1;
    }
    if (h.type == ZK_OP_CREATE_SESSION) {
        struct zk_create_session_txn cs;
        if (zk_create_session_txn_decode(&r, &cs) != 0) {
            snprintf(errmsg, errlen, "zxid 0x%" PRIx64 ": truncated CreateSessionTxn",
                     (uint64_t)h.zxid);
            return -1;
        }
    }
    /* a learner's own forwarded request, if one waits for this txn */
    struct server_session *ss =
        s->role == SERVER_LEARNER ? (struct server_session *)session_get(&s->sessions, h.client_id)
                                  : NULL;
    struct request *req = ss ? learner_waiting(ss, h.cxid, h.type) : NULL;
    struct apply_local local = {.sess = ss, .req = req};
    apply_txn(s, txn, len, req ? &local : NULL, now_ms);
    server_set_last_zxid(s, h.zxid);
    return 0;
}
