/* SPDX-License-Identifier: Apache-2.0 */
/* zab.h — ZAB after the election, as Apache ZooKeeper 3.8 runs it (Leader,
 * LearnerHandler, Learner, Follower, Observer): discovery, synchronisation
 * (DIFF / TRUNC / SNAP from the leader's committed log in memory) and
 * broadcast, with pings and the initLimit/syncLimit timeouts, as a pure state
 * machine: zab_step(event) → update. No sockets, clock, disk or globals.
 * Rules and their Apache names: docs/PROTOCOL.md, "ZAB"; the driver
 * contract: docs/ARCHITECTURE.md, "ZAB". */
#ifndef CZK_ZAB_ZAB_H
#define CZK_ZAB_ZAB_H

#include "proto/jute.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Voters (participants) in one view, and learners one leader serves
 * (followers + observers). */
#define ZAB_VOTERS_MAX   64
#define ZAB_LEARNERS_MAX 128

/* Defaults of zab_config's bounds: Apache's zookeeper.commitLogCount (500),
 * and czk's bound on proposals in flight (ZooKeeper bounds them only by
 * globalOutstandingLimit on the request side). */
#define ZAB_COMMITTED_LOG_DEFAULT 500
#define ZAB_OUTSTANDING_DEFAULT   1000

/* Learner: txns logged and not yet ACKed (waiting for the log thread). The
 * node stops reading the leader once zab_learner_backlog reaches
 * zab_learner_backlog_high (backpressure: TCP then slows the leader's sends
 * to this learner, whose SyncLimitCheck drops it if the acks lag syncLimit
 * ticks), so this hard bound is met only during a sync (a DIFF arrives whole
 * before NEWLEADER, and an Apache leader may DIFF from its txn log, beyond
 * its committed log) or by a driver that does not pause: past it the
 * learner drops its leader ("leader sent more unacked txns than the bound").
 * The ring grows on demand: 8 bytes per txn, 1 MiB at the bound. */
#define ZAB_UNACKED_MAX ((size_t)1 << 17)

/* Leader, SyncLimitCheck: a learner's PROPOSALs not yet ACKed are kept as at
 * most this many marks (zxid, sent_ms), one per syncLimit/8 of time; an
 * oldest unacked proposal is timed at most syncLimit/8 late, never early. */
#define ZAB_LAG_MARKS 16

/* Syncs a leader holds unanswered (ZAB_SYNC_REQUEST); one more is ZAB_EBUSY. */
#define ZAB_SYNCS_MAX 100000

/* Errors of zab_init and zab_step; nothing changes when one is returned. */
enum {
    ZAB_EINVAL = -1,    /* a malformed config or event */
    ZAB_EBUSY = -2,     /* PROPOSE with outstanding_max proposals in flight, SYNC_REQUEST with
                           ZAB_SYNCS_MAX waiting: retry later */
    ZAB_ENOTREADY = -3, /* PROPOSE or SYNC_REQUEST on a server that is not an established leader */
};

enum zab_role {
    ZAB_LOOKING,
    ZAB_FOLLOWING,
    ZAB_LEADING,
    ZAB_OBSERVING,
};

/* Where a non-LOOKING server is (the ZAB paper's phases). */
enum zab_phase {
    ZAB_DISCOVERY, /* leader: collecting FOLLOWERINFO / ACKEPOCH; learner: until LEADERINFO */
    ZAB_SYNC,      /* leader: until a quorum acked NEWLEADER; learner: until UPTODATE */
    ZAB_BROADCAST, /* serving */
};

/* Does this set of distinct voter sids hold a quorum (QuorumVerifier.
 * containsQuorum)? NULL in the config: a majority of the voters. */
typedef bool zab_quorum_fn(void *arg, const int64_t *sids, size_t sids_len);

struct zab_config {
    int64_t my_sid;
    const int64_t *voters; /* participants, distinct; observers are not listed */
    size_t voters_len;     /* 1..ZAB_VOTERS_MAX */
    int64_t tick_ms;       /* tickTime */
    int64_t init_limit;    /* initLimit, ticks: discovery and sync */
    int64_t sync_limit;    /* syncLimit, ticks: broadcast */
    /* The leader's committed log in memory (ZKDatabase.committedLog): the
     * newest committed txns kept for DIFF; when full the oldest goes and
     * minCommittedLog moves up. 0: ZAB_COMMITTED_LOG_DEFAULT. */
    size_t committed_log_max;
    /* Proposals in flight: the leader refuses PROPOSE beyond it (ZAB_EBUSY).
     * A learner's backpressure mark is committed_log_max + outstanding_max
     * (zab_learner_backlog_high). 0: ZAB_OUTSTANDING_DEFAULT. */
    size_t outstanding_max;
    /* The zxid counter of the epoch's first PROPOSE (0: 1, ZooKeeper's);
     * at most 0xfffffffe. Near it, the counter's roll-over comes within a
     * few txns (czk.zxidCounterStart, for tests). */
    int64_t first_counter;
    zab_quorum_fn *has_quorum;
    void *has_quorum_arg;
};

/* A txn as a PROPOSAL carries it and the log holds it: TxnHeader, the txn
 * record, [TxnDigest] (FORMATS.md, txn-bytes). */
struct zab_txn {
    int64_t zxid;
    struct jute_buf data;
};

enum zab_event_type {
    /* The election ended (fle's decision) or the server goes LOOKING
     * (role ZAB_LOOKING: everything is forgotten). */
    ZAB_START,
    /* One QuorumPacket decoded from the connection with `from`. */
    ZAB_RECEIVE,
    /* The log thread: every txn appended so far up to `zxid` is durable. */
    ZAB_PERSISTED,
    /* Time passed: call at (or after) update.deadline_ms. */
    ZAB_TICK,
    /* Leader: a txn made by prep, with zxid == zab_next_zxid(). The first
     * zxid of the next epoch (after counter 0xfffffffe) is ZAB_EBUSY until
     * the quorum has taken that epoch (the roll-over below). */
    ZAB_PROPOSE,
    /* The quorum connection with `sid` closed (learner: the leader's). */
    ZAB_DISCONNECTED,
    /* Leader: a sync (a learner's SYNC request or one of the leader's own
     * clients') arrived at now_ms. Its `token` comes back in
     * update.synced once (a) every txn up to sync.zxid has committed and
     * (b) a quorum of voters (the leader counting itself) was heard from
     * after now_ms: each answered a PING the leader sent after this event,
     * or ACKed a proposal made after it. Until then the answer may not go
     * out: a leader that has lost its quorum without knowing it yet
     * (ZOOKEEPER-1675) never answers. A waiting sync makes the leader send a
     * PING round at once (not at the next half tick), unless a round it
     * sent is still short of a quorum of answers. Forgotten when the leader
     * stops. */
    ZAB_SYNC_REQUEST,
};

struct zab_event {
    enum zab_event_type type;
    int64_t now_ms; /* monotonic, never decreasing */
    union {
        struct {
            enum zab_role role; /* LEADING, FOLLOWING, OBSERVING, or LOOKING to stop */
            int64_t leader_sid;
            /* getLastLoggedZxid(): the last txn in the log, durable (the node
             * lets its log thread drain before START); 0 when empty. */
            int64_t last_zxid;
            int64_t accepted_epoch; /* the acceptedEpoch file */
            int64_t current_epoch;  /* the currentEpoch file */
            /* Leader: the newest txns of the log, ascending, ending at
             * last_zxid (ZKDatabase loads up to commitLogCount of them):
             * the committed log a DIFF is served from. Copied. May be empty:
             * every learner not at last_zxid then gets SNAP or TRUNC. */
            const struct zab_txn *history;
            size_t history_len;
        } start;
        struct {
            int64_t from;
            int32_t type; /* enum quorum_type */
            int64_t zxid;
            struct jute_buf data; /* borrowed until the update is carried out */
        } receive;
        struct {
            int64_t zxid;
        } persisted;
        struct zab_txn propose; /* copied */
        struct {
            int64_t sid;
        } disconnected;
        struct {
            uint64_t token; /* the caller's; returned as is */
            /* Wait until this zxid has committed: the last txn stamped before
             * the sync (Leader.processSync's outstanding proposals, counting
             * those the caller has not proposed yet, which must be proposed
             * later). -1: the last proposed to ZAB. */
            int64_t zxid;
        } sync;
    };
};

/* What goes into a sent packet's data. The node fills the ones that are
 * not ZAB's: the LearnerInfo (its sid, 0x10000, its config version), the
 * config text, the sessions a learner's PING reports. */
enum zab_payload {
    ZAB_PAYLOAD_NONE,         /* null data */
    ZAB_PAYLOAD_DATA,         /* `data` */
    ZAB_PAYLOAD_I32,          /* `i32` as 4 bytes (LEADERINFO, ACKEPOCH) */
    ZAB_PAYLOAD_LEARNER_INFO, /* FOLLOWERINFO / OBSERVERINFO: LearnerInfo */
    ZAB_PAYLOAD_CONFIG,       /* NEWLEADER: QuorumVerifier.toString() */
    ZAB_PAYLOAD_SESSIONS,     /* learner's PING: (sessionId, timeout)* it touched */
    /* COMMITANDACTIVATE / INFORMANDACTIVATE: `i64` (the designated leader)
     * as 8 bytes, then `data` (INFORMANDACTIVATE's txn; none for COMMIT) */
    ZAB_PAYLOAD_ACTIVATE,
};

/* One QuorumPacket to `to`. SNAP: the node writes the snapshot of its tree
 * (exactly at `zxid`: everything committed before this update is applied,
 * nothing after) and "BenWasHere" right after the packet. */
struct zab_send {
    int64_t to;
    int32_t type; /* enum quorum_type */
    int64_t zxid;
    enum zab_payload payload;
    struct jute_buf data; /* ZAB_PAYLOAD_DATA, ZAB_PAYLOAD_ACTIVATE */
    int32_t i32;          /* ZAB_PAYLOAD_I32 */
    int64_t i64;          /* ZAB_PAYLOAD_ACTIVATE */
};

/* Carry out in this order (persist, then send, then apply):
 *  0. drain_log: wait until every txn appended before this update is
 *     durable (ZAB counts them persisted from here on: no PERSISTED is
 *     needed for them); a log that cannot make them durable (a refused
 *     write) ends the role instead, before anything below.
 *  1. accepted_epoch / current_epoch (≥ 0): write the file, fsync.
 *  2. truncate_after_zxid (≥ 0): drain the log thread, cut every txn after
 *     it, durably; reload the tree from snapshot + log (Apache's truncateLog).
 *     snapshot_zxid (≥ 0): the tree now holds the SNAP that followed the
 *     packet; write it as snapshot.<zxid> durably before going on. Either
 *     way, no PERSISTED from before may be delivered after this update.
 *  3. appends: hand to the log thread in order (PERSISTED reports them).
 *  4. closes: close those sids' current connections (when a learner's
 *     new connection introduces itself, the node closes any older one of
 *     that sid before stepping it; ZAB never names the old one here);
 *     close_reasons[i] says why closes[i] goes (a static string: log it).
 *     sends: in order.
 *  5. apply every logged txn up to commit_upto_zxid not yet applied.
 *  6. synced: answer those syncs, in this order (after the commits, so the
 *     answer reflects them; a learner's SYNC packet after the COMMITs sent).
 * Pointers are borrowed until the next zab_step (or the event's bytes go). */
struct zab_update {
    int64_t accepted_epoch;
    int64_t current_epoch;
    int64_t truncate_after_zxid;
    int64_t snapshot_zxid;
    const struct zab_txn *appends;
    size_t appends_len;
    const int64_t *closes;
    const char *const *close_reasons; /* closes_len of them */
    size_t closes_len;
    const struct zab_send *sends;
    size_t sends_len;
    const uint64_t *synced; /* ZAB_SYNC_REQUEST tokens whose answer may go now, in request order */
    size_t synced_len;
    int64_t commit_upto_zxid; /* the highest committed zxid so far; -1: none yet */
    int64_t deadline_ms;      /* TICK at or after it; -1: no timer */
    enum zab_role role;       /* after the step */
    enum zab_phase phase;
    bool serving; /* established: clients may be served (after UPTODATE / NEWLEADER quorum) */
    bool became_serving; /* this step: FLE's EPOCH_UPDATE(established_epoch) is due */
    /* This step the server went on serving in the next epoch
     * (established_epoch) without an election: the zxid counter's roll-over
     * (docs/PROTOCOL.md, "ZAB: the epoch roll-over"). FLE's EPOCH_UPDATE is
     * due; the clients, sessions and the server's role stay. */
    bool epoch_rolled;
    int64_t established_epoch;
    bool drain_log;     /* step 0 above */
    bool stopped;       /* this step went back to LOOKING: elect again */
    const char *reason; /* why, when stopped (a static string) */
};

/* A learner as the leader sees it. */
enum zab_learner_state {
    ZAB_LEARNER_NONE,
    ZAB_LEARNER_INFO,            /* FOLLOWERINFO in; waiting for the epoch */
    ZAB_LEARNER_EPOCH,           /* LEADERINFO out; waiting for ACKEPOCH */
    ZAB_LEARNER_ACKED,           /* ACKEPOCH in; waiting for a quorum of them */
    ZAB_LEARNER_SYNCING,         /* sync + NEWLEADER out (forwarding); waiting for its ACK */
    ZAB_LEARNER_NEWLEADER_ACKED, /* waiting for the NEWLEADER quorum */
    ZAB_LEARNER_SYNCED,          /* UPTODATE out */
};

struct zab_learner {
    int64_t sid;
    enum zab_learner_state state;
    bool observer;
    int voter; /* index in voters, -1 for an observer */
    int64_t accepted_epoch;
    int64_t last_zxid; /* from ACKEPOCH */
    int64_t current_epoch;
    int64_t heard_ms;     /* last packet from it */
    int64_t since_ms;     /* when it connected */
    int64_t forwarded_ms; /* when its sync was queued: proposals count against it from then */
    /* Linearizable sync. PINGs answered in order over one TCP stream: the
     * k-th answer that follows the learner's ACK of UPTODATE answers a PING
     * of round ping_first_round + k - 1 or later (a learner that skips one
     * makes this an underestimate, never an overestimate). */
    int64_t ping_first_round; /* the first PING round sent after its UPTODATE; 0: none */
    int64_t pings_answered;   /* PING answers after uptodate_acked */
    bool uptodate_acked;
    int64_t acked_zxid; /* the highest zxid it ACKed that we proposed */
    /* SyncLimitCheck (LearnerHandler), from its NEWLEADER ACK on (a voter's
     * PROPOSALs; observers are sent INFORMs, which are not acked): the
     * proposals sent and not ACKed, committed by the others or not, as
     * marks in zxid order. marks[0].sent_ms times the oldest. A learner
     * ACKs in zxid order: an ACK of z acknowledges everything up to z. */
    struct zab_lag_mark {
        int64_t zxid;    /* ACKed up to this: the mark goes */
        int64_t sent_ms; /* the oldest unacked it stands for was sent no later */
    } lag_marks[ZAB_LAG_MARKS];
    size_t lag_marks_len;
    int64_t lag_sent_zxid, lag_sent_ms; /* the newest PROPOSAL sent, tracked */
    uint8_t czk_features;               /* its LearnerInfo's trailer (QUORUM_CZK_*); 0: Apache's */
};

/* A sync the leader holds (ZAB_SYNC_REQUEST). */
struct zab_sync {
    uint64_t token;
    int64_t zxid;  /* commit this first */
    int64_t round; /* then a quorum's answers to this PING round (or later) */
};

/* One txn the leader holds: committed (the committed log) or outstanding. */
struct zab_entry {
    int64_t zxid;
    uint8_t *data;
    size_t len;
    uint64_t acks; /* bit per voter index */
    int64_t proposed_ms;
};

/* All fields are private to zab.c; tests may read them. */
struct zab {
    int64_t my_sid;
    int64_t voters[ZAB_VOTERS_MAX];
    size_t voters_len;
    int my_voter; /* index, -1 when we are not a voter */
    int64_t tick_ms, init_limit, sync_limit;
    size_t committed_log_max, outstanding_max;
    zab_quorum_fn *has_quorum;
    void *has_quorum_arg;

    enum zab_role role;
    enum zab_phase phase;
    bool serving;
    int64_t leader_sid;
    int64_t accepted_epoch, current_epoch;
    int64_t epoch; /* the new epoch (known: epoch_known) */
    bool epoch_known;
    int64_t last_zxid; /* last txn in our log */
    int64_t persisted_zxid;
    int64_t committed_zxid; /* commit_upto so far */
    int64_t phase_deadline_ms;
    int64_t heard_ms;     /* learner: the leader's last packet */
    int64_t next_ping_ms; /* leader */
    int64_t next_check_ms;

    /* Leader. */
    int64_t start_current_epoch, start_last_zxid; /* leaderStateSummary */
    struct zab_learner learners[ZAB_LEARNERS_MAX];
    size_t learners_len;
    uint64_t connecting;     /* voters (bits) that sent FOLLOWERINFO: getEpochToPropose */
    uint64_t electing;       /* ACKEPOCH quorum: waitForEpochAck */
    uint64_t newleader_acks; /* waitForNewLeaderAck */
    bool epoch_acked;        /* electionFinished: a quorum acked the epoch */
    struct zab_entry *ring;  /* committed log, then outstanding proposals, zxid order */
    size_t ring_cap, ring_head, ring_len;
    size_t committed_len; /* the first committed_len entries of the ring are committed */
    int64_t next_counter;
    int64_t first_counter;
    int64_t ping_round; /* PING rounds sent this leadership */
    /* The roll-over into roll_epoch: from the PROPOSAL of counter
     * 0xfffffffe until a quorum (the leader too) made its log durable to
     * there and took the epoch (roll_acks, bit per voter index). */
    bool rolling;
    int64_t roll_epoch;
    uint64_t roll_acks;
    int64_t roll_deadline_ms;
    struct zab_sync *syncs; /* waiting, request order */
    size_t syncs_cap, syncs_head, syncs_len;

    /* Learner. */
    int64_t sync_base;     /* the DIFF / TRUNC / SNAP zxid */
    int64_t commit_target; /* COMMITs seen (capped at last_zxid for commit_upto) */
    bool newleader_seen, newleader_acked;
    int64_t newleader_target; /* our last zxid at NEWLEADER: durable before its ACK */
    int64_t *unacked;         /* logged zxids waiting for persistence then an ACK */
    size_t unacked_cap, unacked_head, unacked_len;

    /* The update's arrays, reused. */
    struct zab_send *sends;
    size_t sends_len, sends_cap;
    struct zab_txn *appends;
    size_t appends_len, appends_cap;
    uint64_t *synced;
    size_t synced_len, synced_cap;
    int64_t closes[ZAB_LEARNERS_MAX + 2];
    const char *close_reasons[ZAB_LEARNERS_MAX + 2];
    size_t closes_len;
};

/* Copies the config. ZAB_EINVAL for no voters, too many, duplicates, or a
 * non-positive tick or limit. Role: LOOKING. Free with zab_deinit. */
__attribute__((warn_unused_result)) int zab_init(struct zab *zab, const struct zab_config *config);
void zab_deinit(struct zab *zab);

/* A reconfig in force (czk's leader and learners go on through it when
 * their roles stay): the voters from now on, distinct, 1..ZAB_VOTERS_MAX.
 * Every ack, quorum wait and learner a voter had carries over to its place
 * in the new list; a learner no longer listed counts for nothing (the
 * driver closes it). ZAB_EINVAL, nothing changed, for a bad list. */
__attribute__((warn_unused_result)) int zab_voters_update(struct zab *zab, const int64_t *voters,
                                                          size_t voters_len);

/* Runs one event; fills `up`. 0, or a ZAB_E* code with nothing changed.
 * RECEIVE of a packet ZAB does not handle (REQUEST, REVALIDATE, SYNC) only
 * counts as a sign of life: the server layer handles those. A packet that
 * breaks the protocol drops the learner (leader) or the leader (learner). */
__attribute__((warn_unused_result)) int zab_step(struct zab *zab, const struct zab_event *ev,
                                                 struct zab_update *up);

/* The zxid the next PROPOSE must carry (epoch << 32 | counter; after
 * counter 0xfffffffe, the next epoch's first: quorum_zxid_after); -1 when
 * not an established leader. Prep stamps it into the TxnHeader. */
int64_t zab_next_zxid(const struct zab *zab);

/* Learner: txns logged and not yet ACKed (the log thread has them). A
 * driver stops reading the leader's packets while it is at or above
 * zab_learner_backlog_high in ZAB_BROADCAST (ZAB_PERSISTED brings it down)
 * and reads on once it is at or below half of it. 0 for a leader. */
size_t zab_learner_backlog(const struct zab *zab);
size_t zab_learner_backlog_high(const struct zab *zab);

#define ZAB_ZXID(epoch, counter) ((int64_t)(((uint64_t)(epoch) << 32) | (uint32_t)(counter)))
#define ZAB_EPOCH_OF(zxid)       ((int64_t)((uint64_t)(zxid) >> 32))

#endif
