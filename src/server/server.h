/* SPDX-License-Identifier: Apache-2.0 */
/* server.h — ZooKeeper's request stages as a pure state machine: handshake,
 * per-session order, prep (request -> txn), commit, finish (apply, watch
 * events, reply), reads, session expiry. Pure: no I/O and no clock; bytes
 * come in through server_conn_receive, time through now_ms (monotonic), and
 * everything leaves through the caller's struct server_io. Standalone zab is
 * "commit once logged": every txn goes out through io.log_append, and the
 * driver calls server_persisted(zxid) once it is durable (in order).
 *
 * Driver contract (src/node): never call into the server from inside an io
 * callback; after io.close(conn) flush that connection's queued output, close
 * it, then call server_conn_closed(conn). Call server_conn_closed exactly once
 * per connection that was opened, whoever closed it. */
#ifndef CZK_SERVER_SERVER_H
#define CZK_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct buf;
struct zk_reconfig_request; /* proto/records.h */
struct zk_id;               /* proto/records.h: the jute Id record (scheme, id as counted bytes) */

/* What the server is in its ensemble (src/server/learner.c, leader.c). */
enum server_role {
    SERVER_STANDALONE, /* as today (the default) */
    SERVER_LEADER,     /* as standalone, plus learners' requests, touches, revalidation, owners */
    SERVER_LEARNER,    /* follower/observer: writes forwarded, commits applied, no expiry/sweeps */
    /* A member cut off from its quorum (readonlymode.enabled; Apache's
     * ReadOnlyZooKeeperServer): only clients whose ConnectRequest says
     * readOnly, each on a new local session (never logged; not a global
     * session of the tree: those are refused); reads as usual; writes, sync
     * and check answered NOTREADONLY; local sessions expire here, and all go
     * with the role. */
    SERVER_READ_ONLY,
};

struct server_config {
    int32_t tick_time_ms;           /* tickTime, default 3000 in code (2000 in sample cfg) */
    int32_t min_session_timeout_ms; /* default 2 * tick */
    int32_t max_session_timeout_ms; /* default 20 * tick */
    int32_t max_buffer;             /* jute.maxbuffer */
    int32_t global_outstanding_limit;
    int64_t server_id;                   /* myid; 0 standalone */
    bool extended_types_enabled;         /* TTL nodes (extendedTypesEnabled) */
    int32_t container_check_interval_ms; /* the container and TTL sweep; 0 = 60000 */
    int32_t container_max_per_minute;    /* deletions by the sweep; 0 = 10000 */
    int32_t container_max_never_used_ms; /* 0: a container that never had children stays */
    /* "super:<base64 sha1>": addauth digest with that password is the super
     * user (DigestAuthenticationProvider.superDigest); NULL or "" for none. */
    const char *super_digest;
    bool enforce_quota; /* enforceQuota: hard limits refuse with QUOTAEXCEEDED */
    /* localSessionsEnabled (LEADER, LEARNER): a new session is local to this
     * server (never logged; its closeSession and expiry are local; it moves
     * to no other server); an ephemeral create upgrades it to a global
     * session (a createSession txn) with local_sessions_upgrading, and is
     * refused EPHEMERALONLOCALSESSION without. A LEADER takes requests of
     * sessions it does not know from other servers' sids as their local
     * sessions (LeaderSessionTracker). */
    bool local_sessions;
    bool local_sessions_upgrading;
    /* reconfigEnabled: a reconfig request goes to io.reconfig_prep (a
     * LEADER's) or is UNIMPLEMENTED (standalone, as Apache's); without it
     * RECONFIGDISABLED. */
    bool reconfig_enabled;
    /* czk.zxidCounterStart: a LEADER's zxid after counter 0xfffffffe is
     * the next epoch's, at this counter (quorum_zxid_after; 0: 1). A
     * standalone server's zxid is a plain counter, as Apache's. */
    int64_t zxid_counter_start;
};

struct server_io {
    void *ctx;
    /* A whole frame, length prefix included; the bytes are borrowed for the call. */
    void (*send)(void *ctx, uint64_t conn_id, const uint8_t *frame, size_t len);
    /* Close the connection once its queued output is flushed. */
    void (*close)(void *ctx, uint64_t conn_id);
    /* Make a txn durable: TxnHeader + body as it goes into the log. Then call
     * server_persisted(zxid) (zxids are appended in increasing order). */
    void (*log_append)(void *ctx, int64_t zxid, const uint8_t *txn, size_t len);
    /* Wall-clock milliseconds for ctime/mtime (TxnHeader.time). */
    int64_t (*wall_ms)(void *ctx);
    /* Optional (NULL: never). Whether the connection's client has this much
     * unread output that no more replies should be built for it: its
     * session's queued reads then wait, in order, until the node calls
     * server_conn_writable. Writes are prepped and committed regardless. */
    bool (*conn_backlogged)(void *ctx, uint64_t conn_id);
    /* LEARNER: send this REQUEST to the leader: `data` is the QuorumPacket
     * data (long sessionId, int cxid, int type, then the request record as the
     * client sent it), `auth` the connection's auth ids for authinfo. Both are
     * borrowed for the call. */
    void (*forward)(void *ctx, const uint8_t *data, size_t len, const struct zk_id *auth,
                    size_t auth_len);
    /* LEARNER: send REVALIDATE(session_id, timeout_ms); answer with server_revalidated. */
    void (*revalidate)(void *ctx, int64_t session_id, int32_t timeout_ms);
    /* LEADER: a learner's sync request (learner_sid) reached its turn: the
     * node answers it with a SYNC packet once everything proposed so far has
     * committed and a quorum has confirmed the leader since (leader_port_sync).
     * Called from inside server_learner_request. learner_sid SERVER_SYNC_LOCAL:
     * a sync of this server's own client (from inside server_conn_receive),
     * answered by the node with server_sync_done under the same rule (issue
     * 10: sync + read is linearizable); the oldest waiting one completes.
     * NULL: a local sync is answered at once, as a read. */
    void (*learner_sync)(void *ctx, int64_t learner_sid);
    /* LEADER with reconfig_enabled (PrepRequestProcessor, OpCode.reconfig):
     * the config a reconfig request makes, as its txn carries it (the
     * /zookeeper/config text, version `zxid`), into `out`; or its error:
     * RECONFIGINPROGRESS, BADVERSION, BADARGUMENTS, NEWCONFIGNOQUORUM. The
     * server then checks WRITE on /zookeeper/config (NOAUTH), last, as
     * Apache does. NULL: UNIMPLEMENTED. */
    int32_t (*reconfig_prep)(void *ctx, const struct zk_reconfig_request *req, int64_t zxid,
                             struct buf *out);
    /* Optional. A reconfig txn was applied (committed): `config` is its
     * /zookeeper/config text, version `zxid`; the member activates it
     * (QuorumPeer.processReconfig). Called before the request's reply is
     * built, on every role. */
    void (*reconfig_applied)(void *ctx, int64_t zxid, const uint8_t *config, size_t len);
};
#define SERVER_SYNC_LOCAL (-1)

struct server_stats {
    int64_t packets_received;
    int64_t packets_sent;
    int64_t latency_min_ms; /* -1 before the first request */
    int64_t latency_max_ms;
    int64_t latency_total_ms;
    int64_t latency_count;
    int64_t outstanding_requests;
    int64_t last_zxid;
    size_t node_count;
    size_t watch_count;         /* data + child watches */
    size_t watch_path_count;    /* distinct watched paths */
    size_t watch_session_count; /* sessions with data watches */
    size_t data_watch_count;    /* wchs: data watches only, as ZooKeeper */
    size_t data_watch_path_count;
    size_t ephemeral_count;
    size_t session_count;       /* global sessions (mntr's zk_global_sessions) */
    size_t local_session_count; /* READ_ONLY: its own (zk_local_sessions) */
    uint64_t data_bytes;
};

struct server_conn_info {
    int64_t session_id; /* 0 before the handshake completes */
    int32_t timeout_ms;
    int64_t outstanding;
    int64_t packets_received;
    int64_t packets_sent;
    int64_t last_zxid;
    int64_t last_cxid;
    int32_t last_op;
    int64_t latency_min_ms;
    int64_t latency_max_ms;
    int64_t latency_total_ms;
    int64_t latency_count;
    int64_t established_ms;
    int64_t last_response_ms;
};

struct server *server_new(const struct server_config *cfg, const struct server_io *io,
                          int64_t now_ms);
void server_free(struct server *s);

/* Switch role. `zxid`: LEADER: the zxid counter becomes it (epoch << 32),
 * so the next txn prepped is zxid + 1 (Apache's zk.setZxid(makeZxid(epoch,
 * 0))); ignored otherwise. Call with no connection open (the node closes the
 * client connections whenever the role changes). Whatever the old role left
 * in flight goes: txns not yet applied (as server_log_failed drops them),
 * requests still queued, forwarded syncs, pending touches. A new leader
 * restarts every session's timeout at now_ms and makes no session owned. */
void server_set_role(struct server *s, enum server_role role, int64_t zxid, int64_t now_ms);
enum server_role server_role(const struct server *s);

/* ==== an ensemble's leader (src/server/leader.c) ==== */

/* LEADER: a learner's REQUEST packet (data as io.forward's; auth from the
 * packet's authinfo: ip, digest and super ids are kept, other schemes
 * ignored). Prepped as a local write, with ZooKeeper's session checks
 * (SessionTrackerImpl.checkSession): an unknown or closing session ->
 * ErrorTxn(SESSIONEXPIRED), a session owned by another server ->
 * ErrorTxn(SESSIONMOVED); createSession tracks the session with learner_sid
 * as its owner; closeSession is never checked; sync calls io.learner_sync;
 * check (13) is a write, as Apache's learners forward it; other types
 * (reads) are ignored. Txns go through io.log_append like local ones;
 * their replies go nowhere (the learner answers its client). Returns 0, or
 * -1 with errmsg and nothing changed when the packet is shorter than its
 * header (or a createSession than its timeout): the node drops that learner. */
int server_learner_request(struct server *s, int64_t learner_sid, const uint8_t *data, size_t len,
                           const struct zk_id *auth, size_t auth_len, int64_t now_ms, char *errmsg,
                           size_t errlen) __attribute__((warn_unused_result));
/* LEADER: a learner's PING reported this session (SessionTracker.touchSession):
 * its expiry moves to now + timeout_ms; unknown or closing sessions stay as they are. */
void server_touch_session(struct server *s, int64_t session_id, int32_t timeout_ms, int64_t now_ms);
/* LEADER: REVALIDATE from learner_sid: true when the session is open (it is
 * then touched with timeout_ms and learner_sid becomes its owner). */
bool server_revalidate_session(struct server *s, int64_t learner_sid, int64_t session_id,
                               int32_t timeout_ms, int64_t now_ms);

/* ==== an ensemble's follower or observer (src/server/learner.c) ==== */

/* LEARNER: the leader's answer to io.revalidate: finish (or refuse, as
 * ZooKeeper: a ConnectResponse with timeout 0 and session 0, then close) the
 * waiting handshakes of that session. */
void server_revalidated(struct server *s, int64_t session_id, bool valid, int64_t now_ms);
/* LEARNER: the leader's SYNC packet: complete the oldest forwarded sync (its
 * SyncResponse goes out in its session's order). LEADER: the same for the
 * oldest of its own clients' syncs (io.learner_sync(SERVER_SYNC_LOCAL)). */
void server_sync_done(struct server *s, int64_t now_ms);
/* LEARNER: append (long sessionId, int timeoutMs)* of the sessions this
 * server's clients touched since the last call, and forget them (a PING's
 * answer to the leader). */
void server_take_touched(struct server *s, struct buf *out);
/* LEARNER: a session an observer of ours touched (its PING to our observer
 * master, ObserverMaster.touch): report it in our next PING to the leader,
 * as our own clients' touches. No-op for a session we do not know. */
void server_relay_touch(struct server *s, int64_t session_id);

/* remote_ip: the client's address as text ("127.0.0.1", "::1"), its "ip" id. */
void server_conn_open(struct server *s, uint64_t conn_id, const char *remote_ip, int64_t now_ms);
/* One frame's body (length prefix stripped; the driver has already checked
 * the length against max_buffer). The first frame is the ConnectRequest. */
void server_conn_receive(struct server *s, uint64_t conn_id, const uint8_t *body, size_t len,
                         int64_t now_ms);
void server_conn_closed(struct server *s, uint64_t conn_id, int64_t now_ms);
/* The connection is no longer backlogged (io.conn_backlogged): run the reads
 * its session held back, in order, until it is backlogged again. */
void server_conn_writable(struct server *s, uint64_t conn_id, int64_t now_ms);
/* Requests of this connection accepted but not yet answered (ZooKeeper's
 * ServerCnxn outstanding count); 0 for an unknown connection. */
int64_t server_conn_outstanding(const struct server *s, uint64_t conn_id);

void server_persisted(struct server *s, int64_t zxid, int64_t now_ms);
/* The log refused every txn from from_zxid on (the disk is full: ENOSPC);
 * none of them is in the log and none was applied. Each is dropped with the
 * in-flight changes prepped on it, and zxids continue from from_zxid. A
 * client's write is answered with ZK_SYSTEMERROR and no body, in its
 * session's order (the reads queued behind it then run); a handshake whose
 * createSession was refused gets no session (its connection is closed); a
 * refused closeSession leaves the session open (expiry retries it at the
 * next tick); the container sweep retries at its next run. Every txn below
 * from_zxid must have been passed to server_persisted already. Returns the
 * number of txns refused. */
size_t server_log_failed(struct server *s, int64_t from_zxid, int64_t now_ms);
/* Expire sessions; call at server_next_tick_ms or later. */
void server_tick(struct server *s, int64_t now_ms);
/* Work that may wait for a quiet moment, a slice per call (the watches of
 * closed connections). True while some is left: call again soon. */
bool server_background(struct server *s);
int64_t server_next_tick_ms(const struct server *s);
/* Requests accepted but not yet answered, across all sessions. */
int64_t server_outstanding(const struct server *s);

void server_get_stats(const struct server *s, struct server_stats *out);
void server_reset_stats(struct server *s);
bool server_get_conn_info(const struct server *s, uint64_t conn_id, struct server_conn_info *out);
void server_reset_conn_stats(struct server *s);

/* ==== dumps (src/server/dump.c): the four-letter words that list the
 * whole state, as Apache ZooKeeper 3.8 prints them, a slice at a time ==== */
struct server_dump;

enum server_dump_kind {
    SERVER_DUMP_WATCHES_BY_PATH,    /* wchp: each watched path, then its sessions */
    SERVER_DUMP_WATCHES_BY_SESSION, /* wchc: each watching session, then its paths */
    /* dump, up to "Connections dump:": the expiry buckets with their
     * sessions, the sessions with their ephemerals */
    SERVER_DUMP_SESSIONS,
};

/* Appends java.util.Date.toString of `wall_ms` to `out`. */
typedef void server_date_fn(struct buf *out, int64_t wall_ms);

/* Start a dump. now_ms is the session table's clock, wall_ms the wall clock
 * at the same moment (expiry times print as wall-clock dates with `date`;
 * only SERVER_DUMP_SESSIONS uses them). wchp and wchc list the data watches
 * only, as ZooKeeper does. The dump holds no pointer into the server: the
 * server may change, or be freed, between steps. Free with server_dump_free. */
struct server_dump *server_dump_new(struct server *s, enum server_dump_kind kind, int64_t now_ms,
                                    int64_t wall_ms, server_date_fn *date);
/* Append the next part of the text to `out`, doing about `budget` units of
 * work (a watch, a session, an ephemeral or 40 bytes each). True while more
 * is to come. What changes between steps: wchp and wchc show each watch
 * present throughout exactly once, and a watch added or removed meanwhile
 * or not (wchc gathers the watches by session first, holding its text until
 * it is printed); dump takes its session ids and expiry buckets when it
 * starts, and each session's ephemerals when it prints them. */
bool server_dump_step(struct server *s, struct server_dump *d, size_t budget, struct buf *out);
void server_dump_free(struct server_dump *d);

/* ==== persistence (src/server/persist.c): snapshots and recovery ====
 * The snapshot body is ZooKeeper's SerializeUtils.serializeSnapshot: the
 * sessions (int count, then long id, int timeout each), the ACL cache (int
 * count, then long id, vector<ACL> each), the nodes in pre-order (ustring
 * path, root as "", then DataNode: buffer data, long acl id, StatPersisted),
 * and the path "/" as the end marker. src/storage frames it in a file. */

/* Where server_snapshot_write puts the body, in pieces. */
typedef void snapshot_sink_fn(void *ctx, const void *p, size_t len);

/* The zxid of the last applied txn: the state server_snapshot_write writes. */
int64_t server_last_zxid(const struct server *s);
/* Write the body of a snapshot of the applied state: every committed session
 * (not those whose createSession is still in the log) and the tree. Reads
 * only; safe in a fork()ed child. */
void server_snapshot_write(const struct server *s, snapshot_sink_fn *sink, void *ctx);
/* A digest of what server_snapshot_write writes (the committed sessions
 * with their timeouts, every node with its data, ACL and stat, but
 * /zookeeper/config, which each load sets anew) and the last zxid,
 * independent of the order of the maps: two servers with equal states have
 * equal digests, whatever history led there. Reads only. */
uint64_t server_state_digest(const struct server *s);
/* Load a snapshot body into a server that has applied nothing yet. Sessions
 * restart their timeouts at now_ms. *consumed is where the body ended (the
 * seal follows). Returns 0, or -1 with the reason and offset in errmsg (the
 * server is then half-loaded: free it). */
int server_load_snapshot(struct server *s, const uint8_t *body, size_t len, size_t *consumed,
                         int64_t now_ms, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));
/* The same, as the body arrives (a leader's SNAP): begin, then feed the
 * bytes in order. A feed decodes every whole item in p[0..len) (the session
 * count, a session, the ACL cache's size, an ACL entry, a node, the end
 * marker) and says in *consumed how far: feed the rest again with the bytes
 * that follow. Returns 1 once the end marker is read (*consumed ends after
 * it), 0 for more, -1 with errmsg for a malformed body or, with `last`, one
 * that ends inside an item (the server is half-loaded: free it). The
 * loader keeps no pointer into the bytes fed. end frees the loader, not
 * the server. */
struct server_snap_load;
struct server_snap_load *server_snap_load_begin(struct server *s, int64_t now_ms);
int server_snap_load_feed(struct server_snap_load *l, const uint8_t *p, size_t len, bool last,
                          size_t *consumed, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));
void server_snap_load_end(struct server_snap_load *l);
/* Apply one committed txn read back from the log (TxnHeader + body, maybe a
 * TxnDigest after it): createSession adds the session with its timeout from
 * now_ms, closeSession removes it, every txn goes through tree_apply.
 * Returns 0; 1 when an operation of it failed (NONODE, NODEEXISTS, ...:
 * expected where a fuzzy snapshot already holds part of the txn's effect;
 * the txn was applied as far as it goes, as ZooKeeper does, and errmsg says
 * what failed); -1 if the txn cannot be decoded. */
int server_replay_txn(struct server *s, const uint8_t *txn, size_t len, int64_t now_ms,
                      char *errmsg, size_t errlen) __attribute__((warn_unused_result));
/* A learner: apply one txn its leader committed (TxnHeader + body, maybe a
 * TxnDigest, as PROPOSAL / INFORM carry it), in zxid order, through the
 * apply stage the server's own txns use: the tree, the watch events of this
 * server's clients, createSession / closeSession in the session table
 * (timeouts from now_ms). LEARNER: when the txn's session waits here for a
 * forwarded request with the txn's cxid (createSession: the handshake), the
 * txn answers it exactly as standalone answers its own write (ConnectResponse,
 * the reply, ErrorTxn -> the error alone, a multi's results; closeSession:
 * the reply, then the connection closes), and the reads queued behind it run.
 * Otherwise nobody is answered. -1 with errmsg, and nothing changed,
 * when the TxnHeader (or a createSession's body) does not decode; a body
 * that does not decode otherwise applies as far as it goes, as in
 * server_replay_txn. */
int server_apply_committed(struct server *s, const uint8_t *txn, size_t len, int64_t now_ms,
                           char *errmsg, size_t errlen) __attribute__((warn_unused_result));
/* An ensemble member: /zookeeper/config holds the membership text (tree_set_config). */
void server_set_config_node(struct server *s, const uint8_t *text, size_t len, int64_t version,
                            int64_t wall_ms);
/* After recovery: the last zxid applied; new txns continue after it (or
 * after the counter server_set_role(SERVER_LEADER) set, if that is higher). */
void server_set_last_zxid(struct server *s, int64_t zxid);

#endif
