/* SPDX-License-Identifier: Apache-2.0 */
/* server_int.h — the server's internal state, shared by the files of
 * src/server (server.c: connections, session queues and the stage driver;
 * prep.c: request -> txn; apply.c: txn -> tree, sessions, watches, reply;
 * read.c: the reads; persist.c: snapshots and recovery). Not for use outside
 * src/server. */
#ifndef CZK_SERVER_SERVER_INT_H
#define CZK_SERVER_SERVER_INT_H

#include "base/buf.h"
#include "base/hmap.h"
#include "base/list.h"
#include "proto/jute.h"
#include "server/auth.h"
#include "server/server.h"
#include "session/session.h"
#include "session/watch.h"
#include "tree/tree.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct server_conn;
struct prep;

struct server_session {
    struct session base;         /* first: the session table hands these back */
    struct watch_owner *watches; /* its own allocation: it may outlive the session (dying) */
    struct server_conn *conn;    /* NULL while no connection is attached */
    struct list queue;           /* struct request.link, in arrival order */
    bool refused;                /* its createSession was refused by the log (disk full) */
    /* LEADER: the server whose client holds it (SessionImpl.owner): this
     * server's sid or a learner's; none until a request or revalidation
     * claims it */
    bool has_owner;
    int64_t owner;
    /* LEARNER: its createSession is not applied here yet (not in a snapshot) */
    bool creating;
    bool touched; /* LEARNER: listed in s->touched since the last ping */
    /* READ_ONLY: a session of this server alone (a local session): never
     * logged, in no snapshot or digest; it goes with the role */
    bool local;
    /* What the session sent while a sync of it waits for the leader's
     * answer: (u64 conn id, u32 length, request) each, in arrival order;
     * handled once the sync is answered (server_sync_done). */
    struct buf parked;
};

struct server_conn {
    uint64_t id;
    struct server_session *session;
    bool handshaken;
    bool old_client; /* its ConnectRequest had no readOnly byte: nor will the answer */
    bool read_only;  /* its ConnectRequest's readOnly flag (canBeReadOnly) */
    bool closing;    /* io.close was called: ignore further input */
    struct server_conn_info info;
    char ip[64];
    struct auth_ids auth; /* ip, then whatever addauth added */
};

/* One request, from arrival to reply, in its session's queue. A write is
 * ready once its txn is applied (the reply is built then); a read runs when
 * it reaches the head of the queue. */
struct request {
    struct list link;
    uint64_t conn_id; /* the connection that sent it; the reply goes nowhere else */
    int32_t xid;
    int32_t type;
    bool is_write;
    bool ready;
    bool close_after;    /* closeSession and unimplemented ops: close after the reply */
    const uint8_t *body; /* reads: the request record */
    uint8_t *body_owned; /* body, when the request waits in a queue */
    size_t body_len;
    struct buf reply; /* a whole frame, once ready */
    int64_t received_ms;
    /* LEARNER: sent to the leader; xid is the cxid its txn comes back with
     * (a sync: answered by the leader's SYNC, in s->syncs order) */
    bool forwarded;
    bool revalidating; /* LEARNER: a re-attach waiting for the leader's REVALIDATE answer */
    /* LEARNER: an ephemeral create of a local session, not upgraded: the
     * leader refuses it (SESSIONEXPIRED: it has no such global session) and
     * the client hears EPHEMERALONLOCALSESSION (a multi: its results) */
    bool ephemeral_local;
    struct sync_wait *sync; /* LEARNER: its place in s->syncs, while it waits */
};

/* LEARNER: a forwarded sync in the order the leader answers them; req is
 * NULL once the request is gone (its SYNC still comes and is consumed). */
struct sync_wait {
    struct list link;
    struct request *req;
    int64_t session_id;
};

/* A txn on its way through the log; in zxid order. */
struct proposal {
    struct list link;
    int64_t zxid;
    struct buf txn; /* TxnHeader + body */
    struct request *req;
    struct server_session *sess; /* the session the txn belongs to */
};

/* ZooKeeper's ChangeRecord: the state a path will have once every txn in
 * flight is applied, so that prep sees the tree plus those changes. */
struct change {
    struct list fifo;
    struct change *prev; /* the record this one shadowed in the map */
    int64_t zxid;
    char *path;
    size_t len;
    bool exists;
    struct zk_stat_persisted stat;
    int32_t child_count;
    uint8_t *acl; /* encoded ACL items, owned */
    size_t acl_len;
    int32_t acl_count;
};

struct server {
    struct server_config cfg;
    enum server_role role;
    size_t local_sessions; /* sessions with .local */
    size_t local_closing;  /* of those, closed by the client (gone with the connection) */
    struct list syncs;     /* LEARNER: struct sync_wait.link, oldest first */
    struct buf touched;    /* LEARNER: ids (8 bytes each) of sessions touched since the last ping */
    struct server_io io;
    struct tree tree;
    struct session_table sessions;
    struct watch_table data_watches;
    struct watch_table child_watches;
    struct imap conns; /* conn id -> struct server_conn */
    struct list proposals;
    int64_t next_zxid;          /* the next txn's: take it with server__take_zxid */
    struct list changes;        /* struct change.fifo, zxid order */
    struct smap change_by_path; /* the newest change per path */
    uint64_t watch_stamp;
    int64_t outstanding;
    struct server_stats stats;
    /* scratch for building frames: events and small replies, and reads
     * answered at once (a read may send events while its reply is built) */
    struct buf out;
    struct buf read_out;
    /* the txn being applied, for watch events */
    int64_t applying_zxid;
    int64_t next_container_check_ms;
    char super_digest[256];
    /* watch owners of closed connections still being cleared a slice at a
     * time (server_background): a session with a million watches must not
     * stop the loop while they go */
    struct watch_owner **dying;
    size_t dying_count;
    size_t dying_cap;
};

/* Watches cleared at once when a connection closes, and per
 * server_background call for a larger owner (~1 ms of loop time). */
#define SERVER_WATCH_CLEAR_SLICE 4096

/* A new, empty watch owner for ss (freed with mem_free once cleared). */
struct watch_owner *server_watch_owner_new(struct server_session *ss);
/* Drops all of ss's watches: at once when they are few, else by handing the
 * owner to server_background and giving ss a fresh one. */
void server_watches_drop(struct server *s, struct server_session *ss);

/* ==== server.c: connections and replies, for every stage ==== */

/* The zxid of the txn being made, and the next one's: a LEADER's counter
 * goes on into the next epoch after 0xfffffffe (quorum_zxid_after), the
 * zxid ZAB expects; any other role's is a plain counter. */
int64_t server__take_zxid(struct server *s);

struct server_conn *server_conn_get(const struct server *s, uint64_t id);
/* Asks the driver to close c once its output is flushed (io.close, once);
 * input from it is ignored from now on. */
void server_conn_close(struct server *s, struct server_conn *c);
/* A ReplyHeader record (no frame) into `b`. */
void server_reply_header(struct buf *b, int32_t xid, int64_t zxid, int32_t err);
/* A watch event to ss's connection, if it has one; zxid -1 for events that
 * setWatches sends. Uses s->out. */
void server_send_event(struct server *s, struct server_session *ss, int32_t type, const char *path,
                       size_t len, int64_t zxid);

/* The ConnectResponse frame into `b` (after buf_clear); old_client: without
 * the readOnly byte, which is true while the server is READ_ONLY (Apache's
 * `this instanceof ReadOnlyZooKeeperServer`, for a refusal too). */
void server_connect_response(const struct server *s, struct buf *b, int32_t timeout_ms,
                             int64_t session_id, bool old_client);
/* Send every ready request at the head of the session's queue, running reads
 * as they reach the head. */
void server_session_drain(struct server *s, struct server_session *ss, int64_t now_ms);
/* Frees a session already removed from the table: detaches its connection,
 * drops its watches and its queued requests. */
void server_session_free(struct server *s, struct server_session *ss);

static inline bool buf_has_nul(struct jute_buf b)
{
    return b.len > 0 && memchr(b.ptr, 0, (size_t)b.len) != NULL;
}

static inline bool scheme_is(struct jute_buf b, const char *name)
{
    return jute_buf_eq(b, name, strlen(name));
}

/* The request record of a request, from arrival to reply. */
struct request *server_request_new(struct server_conn *c, int32_t xid, int32_t type,
                                   int64_t now_ms);
void server_request_free(struct request *req);
/* Appends req to ss's queue (and counts it outstanding for c, if any). */
void server_enqueue(struct server *s, struct server_session *ss, struct server_conn *c,
                    struct request *req);
/* Sends a frame to c unless it is closing. */
void server_conn_send(struct server *s, struct server_conn *c, const struct buf *frame);
/* A txn into the log (io.log_append) and the proposals list: TxnHeader
 * (session_id, cxid, zxid, time, type) + body. sess and req: what apply_txn
 * gets as local once it is persisted (either may be NULL). */
void server_propose(struct server *s, struct server_session *sess, int64_t session_id,
                    struct request *req, int32_t cxid, int32_t type, int64_t zxid, int64_t time,
                    const struct buf *body);
/* prep for one write request (or closeSession) into `body`; returns the
 * txn's type: ZK_OP_ERROR with an ErrorTxn body when prep refused it. */
int32_t server_prep_write(struct prep *p, int32_t type, struct jute_reader *r, struct buf *body);
/* Attaches c to ss (closing an earlier connection of ss) and queues the
 * handshake's reply: ready at once, or (`ready` false) once a txn or the
 * leader answers. Returns the queued request. */
struct request *server_session_attach(struct server *s, struct server_conn *c,
                                      struct server_session *ss, int32_t timeout_ms, bool ready,
                                      int64_t now_ms);
/* A new session with no connection, in the table with its timeout from now_ms. */
struct server_session *server_session_new(struct server *s, int64_t id, int32_t timeout_ms,
                                          int64_t now_ms);

/* ==== leader.c ==== */

/* SessionTrackerImpl.checkSession for a request owned by `owner`: ZK_OK (an
 * unowned session becomes owner's), ZK_SESSIONEXPIRED (unknown or closing)
 * or ZK_SESSIONMOVED (another server's). */
int32_t server_check_session(struct server *s, int64_t session_id, int64_t owner);
/* An ephemeral's owner must be a global session (checkGlobalSession): a
 * local or unknown one has expired. */
int32_t server_check_global_session(struct server *s, int64_t session_id, int64_t owner);

/* ==== learner.c: forwarding to the leader ==== */

/* Records that ss's client was heard from (for the next PING). */
void learner_note_touch(struct server *s, struct server_session *ss);
/* A write, closeSession or sync of c's session: forwarded and queued. */
struct request *learner_forward(struct server *s, struct server_conn *c, struct server_session *ss,
                                int32_t xid, int32_t type, const uint8_t *rec, size_t rec_len,
                                int64_t now_ms);
/* A local session becomes global: its createSession (cxid 0, no handshake
 * waits for it) goes to the leader ahead of the request that needs it. */
void learner_upgrade_session(struct server *s, struct server_conn *c, struct server_session *ss);
/* A new session's handshake: forward its createSession. */
void learner_create_session(struct server *s, struct server_conn *c, struct server_session *ss,
                            int64_t now_ms);
/* A re-attach whose password checked out: ask the leader (io.revalidate). */
void learner_reattach(struct server *s, struct server_conn *c, int64_t session_id,
                      int32_t timeout_ms, int64_t now_ms);
/* The forwarded request a committed txn answers, or NULL. */
struct request *learner_waiting(struct server_session *ss, int32_t cxid, int32_t txn_type);
/* Whether a sync of the session waits for the leader's answer. */
bool server_session_sync_waiting(const struct server_session *ss);
/* The requests parked behind an answered sync, in order (re-parked behind
 * a sync among them). */
void server_session_unpark(struct server *s, struct server_session *ss, int64_t now_ms);
/* Forget every forwarded sync and pending touch (a role change). */
void learner_reset(struct server *s);

/* Wall-clock milliseconds for a txn's time (io.wall_ms; 0 without one). */
static inline int64_t server_wall_ms(const struct server *s)
{
    return s->io.wall_ms ? s->io.wall_ms(s->io.ctx) : 0;
}

/* ==== sweep.c ==== */

/* ContainerManager's run: deleteContainer txns (session 0) for the
 * containers and TTL nodes due, at most maxPerMinute's share. */
void server_container_sweep(struct server *s);

/* ==== local.c: local sessions and read-only mode ==== */

/* A local session ends (closed, expired, the role over): out of the table
 * and the counts, freed. */
void server_local_free(struct server *s, struct server_session *ss);
/* A local session's time is up: it goes, and its connection closes. */
void server_local_expire_one(struct server *s, struct server_session *ss);
/* READ_ONLY, LEARNER with local sessions: expire the local sessions due
 * (global ones are the leader's). */
void server_local_expire(struct server *s, int64_t now_ms);
/* LEADER, LEARNER: a request of a local session. closeSession is answered
 * here; an ephemeral create upgrades the session, or (no upgrading) sets
 * *ephemeral_local for the write to fail as ZooKeeper fails it. True when
 * the request was answered. */
bool server_local_request(struct server *s, struct server_conn *c, struct server_session *ss,
                          int32_t xid, int32_t type, const uint8_t *rec, size_t len,
                          bool *ephemeral_local, int64_t now_ms);
/* READ_ONLY: changes, sync and check answered NOTREADONLY, closeSession
 * locally; true when the request was answered. */
bool server_read_only_refuses(struct server *s, struct server_conn *c, struct server_session *ss,
                              int32_t xid, int32_t type, int64_t now_ms);

/* ==== prep.c: a write request -> a txn; only where txns are made ==== */

/* The txn being prepped: its zxid and time are taken before prep runs. */
struct prep {
    struct server *s;
    struct server_session *sess; /* NULL for the sweep, and a leader's txn of an unknown session */
    int64_t session_id;          /* the txn's session (0: the server's own) */
    const struct auth_ids *auth; /* the caller's ids; NULL for the server's own txns */
    int64_t zxid;
    int64_t time;
    /* LEADER: each op first checks the session (server_check_session) as
     * owned by `owner` */
    bool check_session;
    int64_t owner;
    /* an ephemeral create of a local session that may not upgrade:
     * EPHEMERALONLOCALSESSION (QuorumZooKeeperServer.checkUpgradeSession) */
    bool ephemeral_local_error;
};

/* One write op (alone or inside a multi): decodes its record from r and
 * preps it. Returns ZK_OK with the txn body in `out` (the txn's type is `op`)
 * and the op's change records added, or the error (nothing added). */
int32_t prep_op(struct prep *p, int32_t op, struct jute_reader *r, struct buf *out);
/* Walk past one op's record of a multi (decoded, not prepped): 0, or -1
 * when it does not decode. */
int prep_skip_op(int32_t op, struct jute_reader *r);
/* A multi: its MultiTxn in `out`, a failed op and those after it as ErrorTxn.
 * ZK_MARSHALLINGERROR (nothing in `out`, its changes rolled back) when the
 * request does not decode. */
int32_t prep_multi(struct prep *p, struct jute_reader *r, struct buf *out);
/* The CloseSessionTxn of p->sess: its ephemerals once the txns in flight are
 * applied. */
void prep_close_session(struct prep *p, struct buf *out);
/* delete, or (op ZK_OP_DELETE_CONTAINER) the container sweep's deleteContainer. */
int32_t prep_delete(struct prep *p, int32_t op, struct jute_buf path, int32_t version,
                    struct buf *out);

/* The change records in flight are prep's only state; the stage driver tells
 * prep when their txns leave the pipeline. Txn `zxid` is applied: drop its
 * records and older ones. */
void change_commit(struct server *s, int64_t zxid);
/* The log refused the txns from `from_zxid` on: drop their records. */
void change_drop_from(struct server *s, int64_t from_zxid);
/* Drop every record added after `mark`, restoring the ones they shadowed:
 * only for records added since the last commit (a failed multi), whose
 * `prev` are all alive; never &s->changes (change_drop_from(INT64_MIN)). */
void change_rollback(struct server *s, struct list *mark);

/* ==== apply.c: the apply stage, the same for every txn wherever it was prepped ==== */

/* What the server that prepped a txn knows of it. */
struct apply_local {
    struct server_session *sess; /* the txn's session; NULL for the container sweep */
    struct request *req;         /* the request waiting for it; NULL for expiry, the sweep */
};

/* Applies one committed txn (TxnHeader + body, as logged), in zxid order:
 * tree_apply, the watch events it fires (sent before any reply), the reply of
 * the local request, the session's queue drained; a closeSession then removes
 * the session and closes its connection. `local` is NULL for a txn this
 * server did not prep (a leader's): its session is looked up by
 * TxnHeader.clientId (a createSession adds it first) and no reply is built;
 * prep's change records are not touched either way (the driver calls
 * change_commit for its own txns). */
void apply_txn(struct server *s, const uint8_t *txn, size_t len, const struct apply_local *local,
               int64_t now_ms);

/* ==== read.c: the read opcodes, answered from the applied tree ==== */

/* Runs a read that has reached the head of its session's queue: its whole
 * reply frame goes into req->reply and it is marked ready (with an empty
 * reply when its connection is gone). setWatches may send events first. */
void read_execute(struct server *s, struct server_session *ss, struct request *req);

/* ==== persist.c ==== */

/* Adds session `id` to the table (or, if present, sets its timeout and
 * touches it), with no connection: recovery, and apply for a leader's
 * createSession. */
void server_session_restore(struct server *s, int64_t id, int32_t timeout_ms, int64_t now_ms);

#endif
