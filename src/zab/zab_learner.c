/* SPDX-License-Identifier: Apache-2.0 */
/* zab_learner.c — a follower's or observer's side of ZAB (Learner.
 * registerWithLeader, syncWithLeader, Follower.followLeader,
 * Observer.observeLeader), one event at a time; the leader's side and the
 * step are zab.c's. Pure: no I/O. */
#include "base/mem.h"
#include "proto/quorum.h"
#include "zab/zab.h"
#include "zab/zab_int.h"

#include <string.h>

static void learner_commit_upto(struct zab *zab)
{
    int64_t upto = zab->commit_target < zab->last_zxid ? zab->commit_target : zab->last_zxid;
    if (upto > zab->committed_zxid)
        zab->committed_zxid = upto;
}

/* After persistence: the ACK of NEWLEADER first, then one ACK per logged
 * proposal (SendAckRequestProcessor after SyncRequestProcessor's flush). */
void zab__learner_acks(struct zab *zab, struct zab_update *up)
{
    if (zab->newleader_seen && !zab->newleader_acked &&
        zab->persisted_zxid >= zab->newleader_target) {
        /* currentEpoch only once the synced txns are durable
         * (ZOOKEEPER-4646): a learner that wrote it first and then lost
         * them (a crash before the fsync, a full disk) would carry the new
         * epoch with a short log, win the next election on it and cut
         * txns that were committed. */
        zab->current_epoch = zab->epoch;
        up->current_epoch = zab->epoch;
        zab__send_simple(zab, zab->leader_sid, QUORUM_ACK, ZAB_ZXID(zab->epoch, 0));
        zab->newleader_acked = true;
    }
    if (!zab->newleader_acked)
        return;
    while (zab->unacked_len > 0) {
        int64_t zxid = zab->unacked[zab->unacked_head];
        if (zxid > zab->persisted_zxid)
            break;
        zab__send_simple(zab, zab->leader_sid, QUORUM_ACK, zxid);
        zab->unacked_head = (zab->unacked_head + 1) % zab->unacked_cap;
        zab->unacked_len--;
    }
}

void zab__learner_start(struct zab *zab, const struct zab_event *ev)
{
    zab->role = ev->start.role;
    zab->phase = ZAB_DISCOVERY;
    zab->leader_sid = ev->start.leader_sid;
    zab->heard_ms = ev->now_ms;
    zab->epoch_known = false;
    zab->sync_base = -1;
    zab->commit_target = -1;
    zab->newleader_seen = zab->newleader_acked = false;
    zab->unacked_head = zab->unacked_len = 0;
    zab__send(zab, zab->leader_sid,
              zab->role == ZAB_OBSERVING ? QUORUM_OBSERVERINFO : QUORUM_FOLLOWERINFO,
              ZAB_ZXID(zab->accepted_epoch, 0), ZAB_PAYLOAD_LEARNER_INFO,
              (struct jute_buf){NULL, -1}, 0);
}

static void learner_log(struct zab *zab, struct zab_update *up, int64_t zxid, struct jute_buf data,
                        bool ack)
{
    if (zxid <= zab->last_zxid) {
        zab__stop(zab, up, "leader sent a zxid not above our last");
        return;
    }
    if (ack && zab->unacked_len == zab->unacked_cap) {
        if (zab->unacked_cap >= ZAB_UNACKED_MAX) {
            zab__stop(zab, up, "leader sent more unacked txns than the bound (ZAB_UNACKED_MAX)");
            return;
        }
        size_t cap =
            2 * zab->unacked_cap < ZAB_UNACKED_MAX ? 2 * zab->unacked_cap : ZAB_UNACKED_MAX;
        int64_t *ring = mem_alloc(cap * sizeof(*ring));
        for (size_t i = 0; i < zab->unacked_len; i++)
            ring[i] = zab->unacked[(zab->unacked_head + i) % zab->unacked_cap];
        mem_free(zab->unacked);
        zab->unacked = ring;
        zab->unacked_cap = cap;
        zab->unacked_head = 0;
    }
    zab__append(zab, zxid, data);
    zab->last_zxid = zxid;
    if (ack) {
        zab->unacked[(zab->unacked_head + zab->unacked_len) % zab->unacked_cap] = zxid;
        zab->unacked_len++;
    }
}

/* A czk leader's LEADERINFO while serving: the next epoch, in place (the
 * zxid counter's roll-over; zab.c, roll_start). Our log is made durable to
 * here first, so that a currentEpoch naming the next epoch never sits on a
 * log short of the last one's txns (as for NEWLEADER, ZOOKEEPER-4646);
 * every proposal before it is ACKed, then ACKEPOCH(our last zxid, the
 * epoch). Apache's leaders never send it: we said we can (our LearnerInfo's
 * trailer). */
static void learner_roll(struct zab *zab, struct zab_update *up, int64_t zxid)
{
    int64_t epoch = ZAB_EPOCH_OF(zxid);
    if (epoch != zab->epoch + 1 || epoch <= zab->accepted_epoch) {
        zab__stop(zab, up, "LEADERINFO while serving names an epoch other than the next");
        return;
    }
    up->drain_log = true;
    zab->persisted_zxid = zab->last_zxid;
    zab->accepted_epoch = zab->current_epoch = zab->epoch = epoch;
    up->accepted_epoch = up->current_epoch = epoch;
    zab__learner_acks(zab, up);
    zab__send(zab, zab->leader_sid, QUORUM_ACKEPOCH, zab->last_zxid, ZAB_PAYLOAD_I32,
              (struct jute_buf){NULL, -1}, (int32_t)epoch);
    up->epoch_rolled = true;
    up->established_epoch = epoch;
}

void zab__learner_receive(struct zab *zab, const struct zab_event *ev, struct zab_update *up)
{
    if (ev->receive.from != zab->leader_sid)
        return;
    zab->heard_ms = ev->now_ms;
    int64_t zxid = ev->receive.zxid;
    bool synced_op = zab->sync_base >= 0; /* DIFF / TRUNC / SNAP seen */
    int32_t type = ev->receive.type;
    struct jute_buf data = ev->receive.data;
    /* A reconfig's commit: ZAB's part is the COMMIT's or the INFORM's; the
     * activation is the server's, when it applies the txn. */
    if (type == QUORUM_COMMITANDACTIVATE) {
        type = QUORUM_COMMIT;
    } else if (type == QUORUM_INFORMANDACTIVATE) {
        int64_t designated;
        if (quorum_activate_decode(ev->receive.data, &designated, &data) != 0) {
            zab__stop(zab, up, "INFORMANDACTIVATE shorter than its designated leader");
            return;
        }
        type = QUORUM_INFORM;
    }
    switch (type) {
    case QUORUM_LEADERINFO: {
        if (zab->phase == ZAB_BROADCAST) {
            learner_roll(zab, up, zxid);
            return;
        }
        /* registerWithLeader: accept the epoch before ACKEPOCH. */
        if (zab->phase != ZAB_DISCOVERY) {
            zab__stop(zab, up, "LEADERINFO out of order");
            return;
        }
        int64_t new_epoch = ZAB_EPOCH_OF(zxid);
        int32_t ack_data;
        if (new_epoch > zab->accepted_epoch) {
            ack_data = (int32_t)zab->current_epoch;
            zab->accepted_epoch = new_epoch;
            up->accepted_epoch = new_epoch;
        } else if (new_epoch == zab->accepted_epoch) {
            ack_data = -1;
        } else {
            zab__stop(zab, up, "leader's epoch is less than our accepted epoch");
            return;
        }
        zab->epoch = new_epoch;
        zab->epoch_known = true;
        zab__send(zab, zab->leader_sid, QUORUM_ACKEPOCH, zab->last_zxid, ZAB_PAYLOAD_I32,
                  (struct jute_buf){NULL, -1}, ack_data);
        zab->phase = ZAB_SYNC;
        return;
    }
    case QUORUM_DIFF:
    case QUORUM_TRUNC:
    case QUORUM_SNAP:
        if (zab->phase != ZAB_SYNC || synced_op) {
            zab__stop(zab, up, "sync packet out of order");
            return;
        }
        zab->sync_base = zxid < 0 ? 0 : zxid;
        if (ev->receive.type == QUORUM_TRUNC && zxid < zab->last_zxid) {
            /* Log and tree cut back at once (ZKDatabase.truncateLog). */
            up->truncate_after_zxid = zxid;
            zab->last_zxid = zxid;
            zab->persisted_zxid = zxid;
            while (zab->unacked_len > 0 &&
                   zab->unacked[(zab->unacked_head + zab->unacked_len - 1) % zab->unacked_cap] >
                       zxid)
                zab->unacked_len--;
        } else if (ev->receive.type == QUORUM_SNAP) {
            up->snapshot_zxid = zxid;
            zab->last_zxid = zxid;
            zab->persisted_zxid = zxid;
            zab->unacked_len = 0;
        }
        if (zxid > zab->commit_target)
            zab->commit_target = zxid;
        learner_commit_upto(zab);
        return;
    case QUORUM_PROPOSAL:
        if (zab->phase == ZAB_DISCOVERY || !synced_op) {
            zab__stop(zab, up, "PROPOSAL out of order");
            return;
        }
        if (zab->role == ZAB_OBSERVING) {
            /* A DIFF's PROPOSAL+COMMIT pairs (queueCommittedProposals) and
             * the leader's toBeApplied go to observers too, and
             * syncWithLeader logs them unacked; once serving,
             * Observer.processPacket ignores PROPOSAL ("Ignoring proposal"). */
            if (zab->phase == ZAB_SYNC)
                learner_log(zab, up, zxid, ev->receive.data, false);
            return;
        }
        learner_log(zab, up, zxid, ev->receive.data, true);
        if (zab->role != ZAB_LOOKING)
            learner_commit_upto(zab);
        return;
    case QUORUM_INFORM:
        if (zab->phase == ZAB_DISCOVERY || !synced_op) {
            zab__stop(zab, up, "INFORM out of order");
            return;
        }
        learner_log(zab, up, zxid, data, false);
        if (zab->role == ZAB_LOOKING)
            return;
        if (zxid > zab->commit_target)
            zab->commit_target = zxid;
        learner_commit_upto(zab);
        return;
    case QUORUM_COMMIT:
        if (zab->role == ZAB_OBSERVING && zab->phase == ZAB_BROADCAST)
            return; /* Observer.processPacket: "Ignoring commit" */
        if (!synced_op || zxid > zab->last_zxid) {
            zab__stop(zab, up, "COMMIT of a txn we do not have");
            return;
        }
        if (zxid > zab->commit_target)
            zab->commit_target = zxid;
        learner_commit_upto(zab);
        return;
    case QUORUM_NEWLEADER:
        if (!synced_op || zab->newleader_seen || ZAB_EPOCH_OF(zxid) != zab->epoch) {
            zab__stop(zab, up, "NEWLEADER out of order");
            return;
        }
        /* syncWithLeader: once the synced txns are durable, currentEpoch
         * and the ACK (learner_acks). */
        zab->newleader_seen = true;
        zab->newleader_target = zab->last_zxid;
        zab__learner_acks(zab, up);
        return;
    case QUORUM_UPTODATE:
        if (!zab->newleader_acked || zab->phase != ZAB_SYNC) {
            zab__stop(zab, up, "UPTODATE out of order");
            return;
        }
        zab->phase = ZAB_BROADCAST;
        zab->serving = true;
        up->became_serving = true;
        up->established_epoch = zab->epoch;
        zab__send_simple(zab, zab->leader_sid, QUORUM_ACK, ZAB_ZXID(zab->epoch, 0));
        return;
    case QUORUM_PING:
        /* Learner.syncWithLeader reads PINGs and ignores them until
         * UPTODATE: an Apache leader takes any packet other than the ACK of
         * NEWLEADER for a protocol error and drops the learner */
        if (zab->phase == ZAB_BROADCAST)
            zab__send(zab, zab->leader_sid, QUORUM_PING, zxid, ZAB_PAYLOAD_SESSIONS,
                      (struct jute_buf){NULL, -1}, 0);
        return;
    default:
        return; /* SYNC, REVALIDATE...: the server's business */
    }
}
