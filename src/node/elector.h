/* SPDX-License-Identifier: Apache-2.0 */
/* elector.h — fast leader election (src/zab/fle.h) bound to the election port
 * (src/node/peer_port.h) on a libuv loop: what an ensemble member runs to
 * find its role, as Apache's QuorumPeer runs FastLeaderElection over its
 * QuorumCnxManager. It carries out fle_step's updates (notifications encoded
 * with the membership's config text, one timer for the deadline) and reports
 * the decision; discovery, sync and broadcast (ZAB) are the caller's. */
#ifndef CZK_NODE_ELECTOR_H
#define CZK_NODE_ELECTOR_H

#include "node/config.h"
#include "node/peer_port.h"
#include "zab/fle.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* The end of an election: state is ELECTION_LEADING, _FOLLOWING or
 * _OBSERVING (proto/election.h) and vote lookForLeader's end vote (leader
 * sid, its zxid, the round, its peerEpoch). */
struct elector_decision {
    int32_t state;
    struct fle_vote vote;
    int64_t elapsed_ms; /* from the START that began this election */
};

/* Called on the loop thread once per election, when it ends. The callback
 * may call elector_epoch_update and elector_start, not elector_free. */
typedef void elector_decided_fn(void *ctx, const struct elector_decision *d);
/* A notification's config text (FastLeaderElection's WorkerReceiver reads
 * it to learn of a reconfiguration): borrowed for the call, which must not
 * free the elector. */
typedef void elector_config_fn(void *ctx, int64_t from_sid, const uint8_t *text, size_t len);

struct elector_config {
    int64_t my_sid; /* myid; must be one of node->members */
    /* server.N (voters and observers), version=, cnxTimeout,
     * quorumListenOnAllIPs, tickTime x syncLimit (the header deadline).
     * Borrowed for elector_new only. */
    const struct node_config *node;
    elector_decided_fn *on_decided;
    elector_config_fn *on_config; /* may be NULL */
    /* May be NULL: then the election port is bound once, and its failure is
     * elector_new's. Else electionPortBindRetry's binds, then this
     * (peer_port_listen_failed_fn). */
    peer_port_listen_failed_fn *on_listen_failed;
    void *ctx;
    /* 0: FLE's defaults (finalizeWait 200 ms, notification interval 200 ms
     * doubling to 60 s), as fle_config. */
    int64_t finalize_wait_ms;
    int64_t notification_interval_max_ms;
};

struct elector;

/* Binds the election port (peer_port_new) and prepares the election, which
 * begins at elector_start. The membership text sent in every notification is
 * membership_format of the config's server.N lines and version (the bytes of
 * /zookeeper/config). Errors: UV_EINVAL for a config the election cannot run
 * (my sid not a member, no voters, more than FLE_VOTERS_MAX), or
 * peer_port_new's, with the reason in errmsg. */
__attribute__((warn_unused_result)) int elector_new(uv_loop_t *loop,
                                                    const struct elector_config *cfg,
                                                    struct elector **out, char *errmsg,
                                                    size_t errmsg_size);

/* Closes the port and the timer; the memory goes once their close callbacks
 * have run (the loop must run on). NULL: no-op. */
void elector_free(struct elector *e);

/* A new election (QuorumPeer entering LOOKING): FLE_START with our last
 * logged zxid (-1: nothing loaded) and the currentEpoch file. Allowed at any
 * time; an election in progress starts over in the next round. Errors: FLE's
 * (FLE_EINVAL). */
__attribute__((warn_unused_result)) int elector_start(struct elector *e, int64_t last_zxid,
                                                      int64_t current_epoch);

/* QuorumPeer.updateElectionVote: once ZAB has the new epoch, answers to
 * LOOKING peers carry it. */
__attribute__((warn_unused_result)) int elector_epoch_update(struct elector *e, int64_t epoch);
/* The config every notification carries from now on (the membership's
 * version changed: reconfigEnabled). */
void elector_config_update(struct elector *e, const struct membership *members);

/* A new elector (the servers changed: reconfig) of a server whose role
 * goes on: it answers as the last one decided, state (LEADING, FOLLOWING,
 * OBSERVING) and vote, without an election (FLE_RESUME). Errors: FLE's. */
__attribute__((warn_unused_result)) int elector_resume(struct elector *e, int32_t state,
                                                       const struct fle_vote *vote);

/* The state (enum election_state) and vote to report (`srvr`'s Mode, logs):
 * the proposal while LOOKING, the end vote after a decision. */
int32_t elector_state(const struct elector *e);
struct fle_vote elector_vote(const struct elector *e);
/* Whether an election has run to a decision since the last elector_start. */
bool elector_is_decided(const struct elector *e);

/* The election port, borrowed, for its counters (peer_port_peer_stats). */
const struct peer_port *elector_peer_port(const struct elector *e);

/* Messages that did not decode (skipped, as WorkerReceiver does). */
int64_t elector_skipped(const struct elector *e);

#endif
