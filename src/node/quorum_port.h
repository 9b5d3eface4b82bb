/* SPDX-License-Identifier: Apache-2.0 */
/* quorum_port.h — a learner's connection to its leader's quorum port
 * (Learner.connectToLeader, registerWithLeader, syncWithLeader and the
 * Follower / Observer packet loop) on a libuv loop: it dials the leader,
 * splits the stream into QuorumPackets, reads a SNAP's body and "BenWasHere"
 * off the same stream, steps a struct zab (src/zab/zab.h) with every packet
 * and carries out each update in the driver's order: persist, then send,
 * then apply. It touches no disk and no tree itself: the epochs, the log,
 * the snapshot and the apply are the caller's, through struct
 * quorum_port_io. The leader side is not here. Wire: docs/PROTOCOL.md,
 * "Quorum port"; rules: "ZAB". */
#ifndef CZK_NODE_QUORUM_PORT_H
#define CZK_NODE_QUORUM_PORT_H

#include "base/buf.h"
#include "proto/records.h"
#include "zab/zab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* What the connection reports, for logs and tests. */
enum quorum_port_event {
    QUORUM_PORT_CONNECTED, /* TCP up; FOLLOWERINFO / OBSERVERINFO sent */
    QUORUM_PORT_SYNC,      /* DIFF / TRUNC / SNAP (sync_type) with its zxid, once carried out */
    QUORUM_PORT_SERVING,   /* UPTODATE: zxid = the established epoch */
    QUORUM_PORT_EPOCH,     /* the next epoch (zxid) taken in place: the zxid counter's roll-over */
    QUORUM_PORT_STOPPED,   /* the connection is over (reason); go back to LOOKING */
};

/* The caller's side of an update. Callbacks must not call quorum_port_*
 * (persisted, free): do it from the loop afterwards. A callback returning
 * non-zero ends the connection (STOPPED, reason "local storage failed"):
 * a learner that cannot persist must not ack. */
struct quorum_port_io {
    void *ctx;
    /* Step 1: write and fsync the acceptedEpoch or currentEpoch file
     * (`name` is "acceptedEpoch" or "currentEpoch"). */
    int (*write_epoch)(void *ctx, const char *name, int64_t epoch);
    /* Step 0 (the epoch roll-over): return once every txn given to
     * log_append is durable; -1 when the log refused some (the role ends). */
    int (*drain_log)(void *ctx);
    /* Step 2, TRUNC: cut every logged txn after `zxid`, durably, and reload
     * the tree so that it stands at `zxid`. */
    int (*truncate)(void *ctx, int64_t zxid);
    /* Step 2, SNAP, decoded as it arrives (nothing holds the whole body):
     * snap_begin once the SNAP packet is read (the tree at `zxid` follows:
     * drop the current one); snap_body with the body's bytes in order, in
     * whole items (server_snap_load_feed's: the session count, a session,
     * the ACL cache's size, an ACL entry, a node, the end marker; borrowed);
     * snap_end once the end marker came: the tree is the tree at `zxid`,
     * make it durable as snapshot.<zxid> before returning. A connection
     * that ends between snap_begin and snap_end leaves a partial tree: the
     * caller must not keep it. */
    int (*snap_begin)(void *ctx, int64_t zxid);
    int (*snap_body)(void *ctx, const uint8_t *p, size_t len);
    int (*snap_end)(void *ctx, int64_t zxid);
    /* Step 3: log one txn (TxnHeader + body [+ TxnDigest], borrowed), in
     * zxid order; report durability later with quorum_port_persisted. */
    int (*log_append)(void *ctx, int64_t zxid, const uint8_t *txn, size_t len);
    /* Step 5: one committed txn, in zxid order, never twice: apply it
     * (server_apply_committed). Non-zero: the leader sent a txn that does
     * not apply; the connection ends. */
    int (*apply)(void *ctx, int64_t zxid, const uint8_t *txn, size_t len);
    /* A PING's answer: append (long sessionId, int timeoutMs)* for the
     * sessions this server's clients touched since the last one (ping-data).
     * NULL: none. */
    void (*ping_sessions)(void *ctx, struct buf *out);
    /* A REVALIDATE answer or a SYNC from the leader, once serving (the
     * server layer's packets: ZAB only counts them as signs of life).
     * Borrowed. NULL: dropped. */
    void (*packet)(void *ctx, int32_t type, int64_t zxid, const uint8_t *data, size_t len);
    /* NEWLEADER's config text (the leader's last seen QuorumVerifier, as
     * Learner.syncWithLeader reads it), borrowed; before the ACK is sent.
     * NULL: not told. */
    void (*leader_config)(void *ctx, const uint8_t *text, size_t len);
    /* NULL: not told. `reason` is a static string (STOPPED only). */
    void (*on_event)(void *ctx, enum quorum_port_event ev, int32_t sync_type, int64_t zxid,
                     const char *reason);
};

struct quorum_port_config {
    int64_t my_sid;
    enum zab_role role; /* ZAB_FOLLOWING or ZAB_OBSERVING */
    int64_t leader_sid;
    const char *leader_host; /* the leader's quorum address; resolved once, at new */
    int leader_port;
    const int64_t *voters; /* the membership's participants (copied) */
    size_t voters_len;
    /* NULL: a majority of the voters (QuorumMaj); else the membership's
     * rule (membership_is_quorum: hierarchical quorums). */
    zab_quorum_fn *has_quorum;
    void *has_quorum_arg;
    int64_t tick_ms, init_limit, sync_limit;
    /* From recovery: the last logged zxid (0: none), the epoch files. */
    int64_t last_zxid, accepted_epoch, current_epoch;
    int64_t config_version; /* LearnerInfo.configVersion (the membership's version) */
    /* One packet's buffer or string (Apache's jute.maxbuffer + extrasize):
     * 0 for QUORUM_MAX_BUFFER_DEFAULT. */
    size_t max_buffer;
    /* A connect longer than this fails (Apache: initLimit ticks). 0: tick * initLimit. */
    int64_t connect_timeout_ms;
};

struct quorum_port;

/* Copies the config, resolves the leader, and dials it on `loop`. UV_EINVAL
 * for a bad config (role, no voters, ...), UV_EAI_* for a host that does not
 * resolve, with the reason in errmsg. */
__attribute__((warn_unused_result)) int quorum_port_new(uv_loop_t *loop,
                                                        const struct quorum_port_config *cfg,
                                                        const struct quorum_port_io *io,
                                                        struct quorum_port **out, char *errmsg,
                                                        size_t errmsg_size);
/* Everything handed to io->log_append up to `zxid` is durable (fsynced). */
void quorum_port_persisted(struct quorum_port *qp, int64_t zxid);
/* Queues one packet of the server layer (REQUEST, REVALIDATE) for the
 * leader, zxid -1, with `auth` as its authinfo (NULL and 0: null); call
 * quorum_port_flush after a batch of them. -1 when not serving or the
 * connection is over (the caller fails the request). */
int quorum_port_send(struct quorum_port *qp, int32_t type, const uint8_t *data, size_t len,
                     const struct zk_id *auth, size_t auth_len);
/* Writes what was queued since the last write, in one write (the port does
 * it itself after each read, timer and quorum_port_persisted). */
void quorum_port_flush(struct quorum_port *qp);
/* Closes the connection and its timer; the memory goes once their close
 * callbacks have run (keep the loop running). NULL: no-op. */
void quorum_port_free(struct quorum_port *qp);
/* The role and phase the ZAB core is in, and the last txn applied. */
const struct zab *quorum_port_zab(const struct quorum_port *qp);
int64_t quorum_port_applied_zxid(const struct quorum_port *qp);

#endif
