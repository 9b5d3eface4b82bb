/* SPDX-License-Identifier: Apache-2.0 */
/* fle.h — fast leader election as Apache ZooKeeper 3.8 runs it
 * (FastLeaderElection.lookForLeader and Messenger.WorkerReceiver), as a pure
 * state machine: fle_step(event) → update. No sockets, no clock, no globals:
 * time comes in the events, notifications leave in the update and the caller
 * encodes them (proto/election.h) with its own config bytes. Rules and their
 * Apache names: docs/PROTOCOL.md, "Fast leader election". */
#ifndef CZK_ZAB_FLE_H
#define CZK_ZAB_FLE_H

#include "proto/election.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most voters a view may hold (observers are not listed, see fle_config). */
#define FLE_VOTERS_MAX 64
/* One step sends at most one notification to every voter plus one reply. */
#define FLE_SENDS_MAX (FLE_VOTERS_MAX + 2)
/* FastLeaderElection.finalizeWait, minNotificationInterval (the
 * zookeeper.fastleader.minNotificationInterval property, default finalizeWait)
 * and maxNotificationInterval (zookeeper.fastleader.maxNotificationInterval). */
#define FLE_FINALIZE_WAIT_MS             200
#define FLE_NOTIFICATION_INTERVAL_MIN_MS 200
#define FLE_NOTIFICATION_INTERVAL_MAX_MS 60000
/* getInitId() & co. of a server outside the voting view: Long.MIN_VALUE. */
#define FLE_NO_VOTE INT64_MIN

/* A voter's election connection as FLE_CONNECTED reported it. */
enum { FLE_LINK_NEVER = 0, FLE_LINK_UP = 1, FLE_LINK_LOST = 2 };

/* Errors of fle_init and fle_step. */
enum {
    FLE_EINVAL = -1, /* a malformed config or event */
};

/* The set of voters that agree on a vote: is it a quorum? (QuorumVerifier.
 * containsQuorum). `acks` holds distinct sids of the view's voters. */
typedef bool fle_quorum_fn(void *arg, const int64_t *acks, size_t acks_len);

struct fle_config {
    int64_t my_sid;
    /* The voting view (QuorumVerifier.getVotingMembers, current and next
     * config): participants only. A server whose sid is not here is a
     * non-voter (an observer): it votes for nobody and ends OBSERVING.
     * Non-voters need not be listed: their notifications are answered. */
    const int64_t *voters;
    size_t voters_len; /* 1..FLE_VOTERS_MAX, distinct */
    /* Voters of weight 0 (QuorumHierarchical): never proposed as leader by
     * totalOrderPredicate. QuorumMaj gives every sid weight 1: leave empty. */
    const int64_t *zero_weight;
    size_t zero_weight_len;
    /* NULL: a majority of voters_len (QuorumMaj: acks > voters / 2). */
    fle_quorum_fn *has_quorum;
    void *has_quorum_arg;
    /* 0: the FLE_* defaults above. */
    int64_t finalize_wait_ms;
    int64_t notification_interval_min_ms;
    int64_t notification_interval_max_ms;
    /* czk's rule, not Apache's (docs/PROTOCOL.md, "Fast leader election"):
     * inside the finalizeWait loop, decide at once when every other voter
     * has either voted in this round for our proposal with its election
     * connection up (FLE_CONNECTED), or lost the connection it had. No
     * better vote can come from the former (a voter adopts a vote only if
     * it beats its own), and the latter can send nothing. A voter never
     * connected since we started may be starting up: it is waited for, as
     * Apache waits. false: Apache's wait, always. */
    bool decide_when_connected_agree;
};

/* A vote as Apache's Vote: the proposed leader, its last zxid and epoch, and
 * the election round (logicalclock) it was cast in. */
struct fle_vote {
    int64_t leader;
    int64_t zxid;
    int64_t election_epoch;
    int64_t peer_epoch;
};

enum fle_event_type {
    /* A new election (QuorumPeer entering LOOKING → lookForLeader):
     * logicalclock + 1, vote for ourselves, notify every voter. The round
     * survives across STARTs, as Apache's logicalclock does. */
    FLE_START,
    /* A notification decoded from `from`'s election connection. */
    FLE_RECEIVE,
    /* Time passed: the caller calls this at (or after) update.deadline_ms. */
    FLE_TICK,
    /* QuorumPeer.updateElectionVote: once the leader has a new epoch (leader:
     * Leader.lead; learner: registerWithLeader), the vote we answer with
     * carries it as peer_epoch. */
    FLE_EPOCH_UPDATE,
    /* The election connection to a voter came up or went down (used only
     * with decide_when_connected_agree; a voter starts as never connected). */
    FLE_CONNECTED,
    /* QuorumPeer.restartLeaderElection while not LOOKING (a reconfig that
     * keeps this server's role and leader): this new instance takes the
     * role and vote the last one decided, without an election; the next
     * START begins one after that vote's round. */
    FLE_RESUME,
};

struct fle_event {
    enum fle_event_type type;
    int64_t now_ms; /* monotonic; never decreases between steps */
    union {
        struct {
            int64_t last_zxid;     /* getLastLoggedZxid(); -1: nothing loaded */
            int64_t current_epoch; /* the currentEpoch file */
        } start;
        struct {
            int64_t from; /* the sid of the connection's header */
            /* state, leader, zxid, election_epoch, peer_epoch, version are
             * read; the config (reconfig) is the caller's. */
            struct election_notification n;
        } receive;
        struct {
            int64_t epoch;
        } epoch_update;
        struct {
            int64_t sid;
            bool up;
        } connected;
        struct {
            int32_t state; /* LEADING, FOLLOWING or OBSERVING */
            struct fle_vote vote;
        } resume;
    };
};

/* A notification to encode (state, leader, zxid, electionEpoch, peerEpoch,
 * our config) and send to sid `to`. Never addressed to ourselves: our own
 * vote is counted inside fle_step, as QuorumCnxManager loops it back. */
struct fle_send {
    int64_t to;
    int32_t state; /* enum election_state */
    struct fle_vote vote;
};

struct fle_update {
    struct fle_send sends[FLE_SENDS_MAX];
    size_t sends_len;
    /* When to TICK next (absolute, the events' clock); -1: no timer. */
    int64_t deadline_ms;
    /* This step ended the election: state is LEADING, FOLLOWING or
     * OBSERVING and `vote` is the final vote (lookForLeader's endVote). */
    bool decided;
    bool decided_early; /* ... by decide_when_connected_agree, before finalizeWait ran out */
    int32_t state;      /* after the step */
    struct fle_vote vote;
};

/* One voter's entry in recvset / outofelection. */
struct fle_ballot {
    bool present;
    int32_t state;   /* the sender's state */
    int32_t version; /* as Apache's Vote.version: 0 or the notification's */
    struct fle_vote vote;
};

/* All fields are private to fle.c; tests may read them. */
struct fle {
    int64_t my_sid;
    int64_t voters[FLE_VOTERS_MAX];
    size_t voters_len;
    bool zero_weight[FLE_VOTERS_MAX];
    fle_quorum_fn *has_quorum;
    void *has_quorum_arg;
    int64_t finalize_wait_ms;
    int64_t interval_min_ms;
    int64_t interval_max_ms;
    bool decide_when_connected_agree;
    int8_t link[FLE_VOTERS_MAX]; /* by voter index: FLE_LINK_* */

    bool started;
    int32_t state;                   /* QuorumPeer.getPeerState() */
    int64_t logicalclock;            /* the election round */
    int64_t init_zxid;               /* getInitLastLoggedZxid() */
    int64_t init_epoch;              /* getPeerEpoch() */
    struct fle_vote proposal;        /* proposedLeader/Zxid/Epoch; election_epoch unused */
    struct fle_vote current;         /* QuorumPeer.currentVote */
    int64_t notification_timeout_ms; /* notTimeout */
    int64_t poll_deadline_ms;        /* when recvqueue.poll(notTimeout) gives up */
    bool finalizing;                 /* inside the finalizeWait loop */
    int64_t finalize_deadline_ms;
    bool self_pending; /* our own notification, looped back at the end of a step */
    struct fle_vote self_vote;
    struct fle_ballot recvset[FLE_VOTERS_MAX];
    struct fle_ballot outofelection[FLE_VOTERS_MAX];
};

/* Copies the config (nothing is borrowed past the call). FLE_EINVAL for no
 * voters, too many, duplicates, or a negative interval. State: LOOKING, not
 * started: RECEIVE and TICK do nothing until the first START. */
__attribute__((warn_unused_result)) int fle_init(struct fle *fle, const struct fle_config *config);

/* Runs one event; fills `up` (cleared first). Returns 0, or FLE_EINVAL for an
 * unknown event type or a notification state outside 0..3 (nothing changes).
 * The caller then sends up->sends in order (a newer notification to a peer
 * may replace an unsent older one, as QuorumCnxManager's queue of one does),
 * arms a timer for up->deadline_ms, and on up->decided hands the role to
 * ZAB. While decided, RECEIVE still answers LOOKING voters and every
 * non-voter with the current vote; START begins the next election. */
__attribute__((warn_unused_result)) int fle_step(struct fle *fle, const struct fle_event *ev,
                                                 struct fle_update *up);

/* totalOrderPredicate: does (id, zxid, epoch) beat (cur_id, cur_zxid,
 * cur_epoch)? Higher peerEpoch, then zxid, then sid; never a weight-0 id. */
bool fle_vote_beats(const struct fle *fle, int64_t id, int64_t zxid, int64_t epoch, int64_t cur_id,
                    int64_t cur_zxid, int64_t cur_epoch);

#endif
