/* SPDX-License-Identifier: Apache-2.0 */
/* leader_port.h — the leader's side of the quorum port (Apache's Leader,
 * LearnerCnxAcceptor and one LearnerHandler per learner) on a libuv loop: it
 * listens on the leader's quorum address, accepts learners, splits each
 * stream into QuorumPackets, steps ONE struct zab (role ZAB_LEADING) with
 * every learner's packets and carries out each update in zab.h's order
 * (epochs, appends, closes, sends, commit). It touches no disk and no tree:
 * the epochs, the leader's own log, the snapshot, the apply and the learners'
 * requests are the caller's, through struct leader_port_io. The learner's
 * side is quorum_port.h. Wire: docs/PROTOCOL.md, "Quorum port"; rules:
 * "ZAB"; the binding: docs/ARCHITECTURE.md, "ZAB".
 *
 * Callback rules. io callbacks run only on the loop thread, from inside
 * leader_port_new, leader_port_propose, leader_port_persisted,
 * leader_port_sync or the port's own libuv callbacks (reads, timers), and
 * never inside one another. From inside a callback the caller may call
 * leader_port_propose, leader_port_persisted and leader_port_sync: they are
 * queued and run once the callback has returned, before the outer call
 * returns (so a REQUEST whose prep makes a txn may propose it at once). The
 * read-only accessors (next_zxid, zab, stats, epoch) may be called anywhere.
 * leader_port_free must not be called from inside a callback: call it from
 * the loop afterwards (e.g. on STOPPED, from a uv_idle or the node's
 * deferred work). */
#ifndef CZK_NODE_LEADER_PORT_H
#define CZK_NODE_LEADER_PORT_H

#include "base/buf.h"
#include "proto/records.h"
#include "zab/zab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

/* What the port reports (io.on_event), for the node, logs and tests. */
enum leader_port_event {
    /* A quorum acked NEWLEADER: the epoch is established (leader_port_epoch)
     * and the server may serve (step FLE's EPOCH_UPDATE). sid: ours. */
    LEADER_PORT_SERVING,
    /* A quorum took the next epoch in place (the zxid counter's roll-over):
     * leader_port_epoch is it; step FLE's EPOCH_UPDATE. sid: ours. */
    LEADER_PORT_EPOCH,
    /* A learner introduced itself (FOLLOWERINFO / OBSERVERINFO accepted);
     * reason: "follower" or "observer". */
    LEADER_PORT_LEARNER_UP,
    /* The learner was sent DIFF, TRUNC or SNAP (reason: that name). */
    LEADER_PORT_LEARNER_SYNC,
    /* The learner got UPTODATE: synced and serving. */
    LEADER_PORT_LEARNER_SYNCED,
    /* The connection of an introduced learner ended (reason). */
    LEADER_PORT_LEARNER_DOWN,
    /* Leadership is over (lost quorum, a timeout, a failed epoch write):
     * every connection is closed, nothing more will happen; free the port
     * and go back to LOOKING. Once per port; never after leader_port_free. */
    LEADER_PORT_STOPPED,
};

/* The caller's side of an update. Every pointer argument is borrowed for
 * the call. */
struct leader_port_io {
    void *ctx;
    /* Step 1: write and fsync the acceptedEpoch or currentEpoch file
     * ("acceptedEpoch" / "currentEpoch"). Non-zero: leadership ends
     * (STOPPED, "local storage failed"). Required. */
    int (*write_epoch)(void *ctx, const char *name, int64_t epoch);
    /* Step 3: log one of our own proposals (TxnHeader + txn [+ TxnDigest]),
     * in zxid order; report durability with leader_port_persisted. Required. */
    void (*log_append)(void *ctx, int64_t zxid, const uint8_t *txn, size_t len);
    /* Step 5: every txn up to `zxid` is committed: apply those not yet
     * applied (the leader's server: server_persisted). Called with zxids
     * increasing; the first call after START carries START's last_zxid (the
     * history, already applied). Required. */
    void (*commit)(void *ctx, int64_t zxid);
    /* Step 4, a SNAP: append the snapshot body of the applied tree (exactly
     * at the SNAP's zxid: everything committed so far is applied, as the
     * commit rule above guarantees) to `out` — server_snapshot_write's
     * output, which quorum_snap_scan reads. Required. */
    void (*snapshot)(void *ctx, struct buf *out);
    /* Step 4, a SNAP, off the loop and off the loop's thread (issue 10):
     * fork() a child that waits for one byte on *go_fd, then writes exactly
     * what io.snapshot would append, of the tree as it is at this call (the
     * copy-on-write image), straight into the learner's socket `sock` (it
     * is non-blocking: poll), then _exits 0; a child that reads EOF on
     * *go_fd instead exits at once. It must die with its parent
     * (PR_SET_PDEATHSIG) and keep *done_fd's peer open until it exits. 0:
     * *go_fd (the write end of the go pipe), *done_fd (a pipe's read end
     * that reads EOF once the child is gone) and *pid are the port's from
     * then on: it sends the go byte once everything before the body has
     * left for the socket, reaps the child at EOF, and kills it with
     * SIGKILL first when the learner goes mid-stream; a child that exits
     * non-zero drops the learner. Every packet for that learner after the
     * SNAP waits, in order, until the body and "BenWasHere" are out. The
     * loop thus never touches the body's bytes. Negative: that SNAP falls
     * back to io.snapshot. NULL: io.snapshot always. */
    int (*snapshot_fork)(void *ctx, int sock, int *go_fd, int *done_fd, pid_t *pid);
    /* A learner's REQUEST: `data` is the packet's data (long sessionId, int
     * cxid, int type, request bytes; quorum_request_decode checked it), auth
     * the packet's authinfo (auth_len ids, NULL when none). Return non-zero
     * for a request the server cannot take: that learner is dropped. NULL:
     * requests are ignored. */
    int (*request)(void *ctx, int64_t sid, const uint8_t *data, size_t len,
                   const struct zk_id *auth, size_t auth_len);
    /* A learner's REVALIDATE: is the session valid (touch it, make `sid`
     * its owner)? The port answers REVALIDATE(sessionId, valid). NULL: every
     * session is invalid. */
    bool (*revalidate)(void *ctx, int64_t sid, int64_t session_id, int32_t timeout_ms);
    /* A follower's observer master (ObserverMaster.revalidateSession): a
     * learner's REVALIDATE (its zxid and data, borrowed) goes to the
     * caller, which answers later with leader_port_send. NULL: the port
     * answers at once with io.revalidate. */
    void (*revalidate_relay)(void *ctx, int64_t sid, int64_t zxid, const uint8_t *data, size_t len);
    /* One session a learner's PING reports as touched. NULL: ignored. */
    void (*touch)(void *ctx, int64_t sid, int64_t session_id, int32_t timeout_ms);
    /* A leader_port_sync(LEADER_PORT_SYNC_LOCAL) is answered (one call per
     * sync, in the order asked): the leader's server answers its oldest
     * waiting client sync (server_sync_done). NULL: not told. */
    void (*local_synced)(void *ctx);
    /* NULL: not told. `reason` is a static string or NULL. */
    void (*on_event)(void *ctx, enum leader_port_event ev, int64_t sid, const char *reason);
};

struct leader_port_config {
    int64_t my_sid;
    const int64_t *voters; /* participants (copied); my_sid among them */
    size_t voters_len;
    /* NULL: a majority of the voters (QuorumMaj); else the membership's
     * rule (membership_is_quorum: hierarchical quorums). */
    zab_quorum_fn *has_quorum;
    void *has_quorum_arg;
    const int64_t *observers; /* sids allowed to connect as observers (copied) */
    size_t observers_len;
    int64_t tick_ms, init_limit, sync_limit;
    /* Where to listen: the leader's quorum address (server.N's first port).
     * listen_all_ips (quorumListenOnAllIPs): the wildcard of its family. */
    const char *host;
    int port;
    bool listen_all_ips;
    /* From recovery: the last logged zxid (durable; 0: none), the epoch
     * files. */
    int64_t last_zxid, accepted_epoch, current_epoch;
    /* The newest txns of the log, ascending, ending at last_zxid: what DIFF
     * is served from (zab.h, ZAB_START). Copied. May be empty: a learner not
     * at last_zxid then gets SNAP (or TRUNC). */
    const struct zab_txn *history;
    size_t history_len;
    /* NEWLEADER's data: QuorumVerifier.toString() (membership_format) and
     * its version (a learner with a higher configVersion is refused, as
     * LearnerHandler does). Copied. */
    const char *config_text;
    int64_t config_version;
    /* reconfigEnabled with a config still at version 0 (Leader.lead,
     * ZOOKEEPER-1783): NEWLEADER carries it under the version of the
     * epoch's first zxid, which the learners and the leader take once a
     * quorum acked it. */
    bool config_version_from_epoch;
    /* jute.maxbuffer + extrasize for one packet; 0: QUORUM_MAX_BUFFER_DEFAULT. */
    size_t max_buffer;
    /* A memory bound per learner: bytes the kernel has not taken yet plus
     * the round being sent (a SNAP's body not counted), or packets held
     * behind a streamed SNAP body beyond it. Past it the learner
     * is taken as not reading and dropped (it comes back and resyncs); one
     * round is at most outstanding_max proposals. Liveness is ZAB's (a
     * learner silent or lagging syncLimit ticks is dropped). 0: 64 MiB. */
    size_t learner_output_max;
    /* zab_config's bounds; 0: zab's defaults. */
    size_t committed_log_max, outstanding_max;
    /* zab_config.first_counter (czk.zxidCounterStart); 0: 1 */
    int64_t first_counter;
    /* A follower's observer master: COMMITANDACTIVATE / INFORMANDACTIVATE
     * name this designated leader (the follower's leader, as Apache's
     * ObserverMaster.informAndActivate passes on), not us. */
    bool designated_leader_set;
    int64_t designated_leader;
};

struct leader_port;

/* Copies the config, binds and listens, and STARTs zab as leader. UV_EINVAL
 * for a bad config (no voters, my_sid not a voter, io callbacks missing,
 * history not ending at last_zxid), UV_EAI_NONAME for a host that does not
 * resolve, or the bind/listen error (UV_EADDRINUSE, ...), with the reason in
 * errmsg. May call io.write_epoch and io.on_event (a voter set of one); *out
 * is set before any callback runs. After a failure the memory goes once the
 * loop has run the close callbacks. */
__attribute__((warn_unused_result)) int leader_port_new(uv_loop_t *loop,
                                                        const struct leader_port_config *cfg,
                                                        const struct leader_port_io *io,
                                                        struct leader_port **out, char *errmsg,
                                                        size_t errmsg_size);

/* Closes the listener, every connection and the timers; no callback runs
 * after it. The memory goes once the close callbacks have run (keep the
 * loop running). NULL: no-op. Not from inside an io callback. */
void leader_port_free(struct leader_port *lp);

/* The zxid the next leader_port_propose must carry (the queued proposals
 * counted); -1 when not serving (before SERVING, after STOPPED). */
int64_t leader_port_next_zxid(const struct leader_port *lp);

/* Propose one txn (TxnHeader + txn [+ TxnDigest], copied) with zxid ==
 * leader_port_next_zxid(). Never ZAB_EBUSY: beyond zab's outstanding_max
 * the txn waits in the port's queue, in order, and is proposed as earlier
 * ones commit. ZAB_ENOTREADY when not serving, ZAB_EINVAL for another zxid.
 * The queue holds at most LEADER_PORT_QUEUE_MAX_BYTES: past it leadership
 * ends (STOPPED, "proposal queue full") — the server's
 * globalOutstandingLimit is meant to keep it far below. May call
 * io.log_append and io.on_event. */
__attribute__((warn_unused_result)) int leader_port_propose(struct leader_port *lp, int64_t zxid,
                                                            const uint8_t *txn, size_t len);
#define LEADER_PORT_QUEUE_MAX_BYTES ((size_t)1 << 30)

/* Hold the packets of every call that follows until leader_port_uncork,
 * which writes them with one write per learner. The node corks for each
 * turn of its loop's check phase, where it proposes a batch of txns and
 * hears of its own log's progress: without it every proposal would be a
 * write per learner. Packets caused by a learner's own packets (commits
 * after its ack, its sync answers) are written at the end of that read. */
void leader_port_cork(struct leader_port *lp);
/* Write what the cork held. No-op when not corked. May call io.on_event
 * (a learner dropped by its output bound). Not from inside an io callback. */
void leader_port_uncork(struct leader_port *lp);

/* Everything handed to io.log_append up to `zxid` is durable (fsynced): our
 * own ack. May call io.commit, io.snapshot or io.snapshot_fork (none today)
 * and io.on_event. */
void leader_port_persisted(struct leader_port *lp, int64_t zxid);

/* Sends one packet (data copied; NULL: null data) to learner `sid`'s
 * connection number `gen` (0: its current one), written at once unless
 * corked: a follower's observer master relays the leader's REVALIDATE and
 * SYNC answers with it. No-op when that learner has no such connection (a
 * new connection does not get the answers of the old one's requests). Not
 * from inside an io callback. */
void leader_port_send(struct leader_port *lp, int64_t sid, uint64_t gen, int32_t type, int64_t zxid,
                      const uint8_t *data, size_t len);
/* The number of learner `sid`'s current connection; 0: none. */
uint64_t leader_port_learner_gen(const struct leader_port *lp, int64_t sid);

/* Apache's Leader.processSync, made linearizable (issue 10): send
 * QuorumPacket(SYNC, 0, null, null) to learner `sid` once (a) every
 * proposal handed to leader_port_propose before this call has committed
 * (at once if none is outstanding) and (b) a quorum of voters, the leader
 * counting itself, answered a PING sent after this call (or ACKed a
 * proposal made after it): ZAB_SYNC_REQUEST. A sync makes ZAB send a PING
 * round at once. A leader that has lost its quorum never answers: the
 * sync waits until leadership ends (STOPPED) and is forgotten then. Syncs
 * are answered in the order asked. Dropped when that learner's connection
 * ends first. sid LEADER_PORT_SYNC_LOCAL: a sync of the leader's own
 * client, answered by io.local_synced instead of a packet. Ignored when
 * not serving. At most LEADER_PORT_SYNCS_MAX wait: past it that learner is
 * dropped (a local sync is ignored, with a warning). May call io.local_synced
 * and io.on_event. */
void leader_port_sync(struct leader_port *lp, int64_t sid);
#define LEADER_PORT_SYNC_LOCAL (-1)
#define LEADER_PORT_SYNCS_MAX  100000

/* For mntr / srvr (Apache's zk_learners, zk_synced_followers,
 * zk_synced_observers, zk_pending_syncs) and tests. */
struct leader_port_stats {
    size_t learners;         /* introduced learners with a connection */
    size_t synced_followers; /* voters that got UPTODATE */
    size_t synced_observers;
    size_t pending_syncs;        /* leader_port_sync calls not yet answered */
    size_t queued_proposals;     /* waiting for zab's outstanding_max */
    size_t connections;          /* open, introduced or not */
    int64_t connections_dropped; /* ended by the port (garbage, unknown sid, ...) */
};
void leader_port_stats(const struct leader_port *lp, struct leader_port_stats *out);

/* The ZAB core (role, phase, learners), read-only. */
const struct zab *leader_port_zab(const struct leader_port *lp);
/* The config NEWLEADER carries and learners' config versions are held to
 * from now on (the leader took a new version: reconfigEnabled). Copied. */
void leader_port_config_update(struct leader_port *lp, const char *text, int64_t version);

/* The established epoch once SERVING; -1 before. */
int64_t leader_port_epoch(const struct leader_port *lp);
/* The observers that may connect from now on (a reconfig's activation);
 * those connected stay (a removed one leaves once it activates). Copied. */
void leader_port_observers_update(struct leader_port *lp, const int64_t *observers, size_t len);
/* A reconfig in force that keeps this leader a voter: the voters and
 * observers that may connect from now on (copied). ZAB counts acks and
 * quorums over the new voters (zab_voters_update). A learner the config no
 * longer names in the role it connected with stays, counting for nothing,
 * until it leaves (it does once it activates the config, as Apache's).
 * 0, or -1 for a list ZAB refuses (my sid not a voter, too many): nothing
 * changed, the role must end. */
__attribute__((warn_unused_result)) int
leader_port_members_update(struct leader_port *lp, const int64_t *voters, size_t voters_len,
                           const int64_t *observers, size_t observers_len);
/* The port it listens on (useful with port 0 in tests). */
int leader_port_bound_port(const struct leader_port *lp);

#endif
