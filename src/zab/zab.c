/* SPDX-License-Identifier: Apache-2.0 */
/* zab.c — Leader.lead with its LearnerHandlers, and Learner.registerWithLeader
 * / syncWithLeader / Follower.followLeader, one event at a time. Apache runs a
 * thread per learner blocked in waits (getEpochToPropose, waitForEpochAck,
 * waitForNewLeaderAck); here each wait is a set of sids and a deadline, and
 * what the woken threads would queue is sent by the step that completes the
 * set. Pure: no I/O; time comes from the caller. */
#include "zab/zab.h"

#include "base/mem.h"
#include "proto/quorum.h"
#include "zab/zab_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int voter_index(const struct zab *zab, int64_t sid)
{
    for (size_t i = 0; i < zab->voters_len; i++)
        if (zab->voters[i] == sid)
            return (int)i;
    return -1;
}

static uint64_t voter_bit(int voter)
{
    return voter >= 0 ? (uint64_t)1 << voter : 0;
}

static bool has_quorum(const struct zab *zab, uint64_t bits)
{
    int64_t sids[ZAB_VOTERS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < zab->voters_len; i++)
        if (bits & ((uint64_t)1 << i))
            sids[n++] = zab->voters[i];
    if (zab->has_quorum)
        return zab->has_quorum(zab->has_quorum_arg, sids, n);
    return n > zab->voters_len / 2; /* QuorumMaj */
}

int zab_init(struct zab *zab, const struct zab_config *config)
{
    if (config->voters_len == 0 || config->voters_len > ZAB_VOTERS_MAX)
        return ZAB_EINVAL;
    if (config->tick_ms <= 0 || config->init_limit <= 0 || config->sync_limit <= 0)
        return ZAB_EINVAL;
    for (size_t i = 0; i < config->voters_len; i++)
        for (size_t j = 0; j < i; j++)
            if (config->voters[j] == config->voters[i])
                return ZAB_EINVAL;
    memset(zab, 0, sizeof(*zab));
    zab->my_sid = config->my_sid;
    memcpy(zab->voters, config->voters, config->voters_len * sizeof(int64_t));
    zab->voters_len = config->voters_len;
    zab->my_voter = voter_index(zab, zab->my_sid);
    zab->tick_ms = config->tick_ms;
    zab->init_limit = config->init_limit;
    zab->sync_limit = config->sync_limit;
    zab->committed_log_max =
        config->committed_log_max ? config->committed_log_max : ZAB_COMMITTED_LOG_DEFAULT;
    zab->outstanding_max =
        config->outstanding_max ? config->outstanding_max : ZAB_OUTSTANDING_DEFAULT;
    zab->first_counter = config->first_counter > 0 ? config->first_counter : 1;
    zab->has_quorum = config->has_quorum;
    zab->has_quorum_arg = config->has_quorum_arg;
    zab->ring_cap = zab->committed_log_max + zab->outstanding_max;
    zab->ring = mem_calloc(zab->ring_cap, sizeof(*zab->ring));
    /* The leader bounds only its uncommitted proposals: a follower that is
     * not in the quorum of the moment can fall behind the commit point by any
     * number of txns (a slow fsync, a snapshot, a busy CPU). The node pauses
     * reading at zab_learner_backlog_high (docs/PERFORMANCE.md, "A follower
     * drops out under load"); the ring grows on demand up to ZAB_UNACKED_MAX. */
    zab->unacked_cap = zab->committed_log_max + zab->outstanding_max;
    if (zab->unacked_cap > ZAB_UNACKED_MAX)
        zab->unacked_cap = ZAB_UNACKED_MAX;
    zab->unacked = mem_calloc(zab->unacked_cap, sizeof(*zab->unacked));
    zab->role = ZAB_LOOKING;
    zab->committed_zxid = -1;
    return 0;
}

static struct zab_entry *ring_at(const struct zab *zab, size_t i)
{
    ZAB_ASSERT(i < zab->ring_len);
    return &zab->ring[(zab->ring_head + i) % zab->ring_cap];
}

/* Bits by old voter index to bits by new index (-1: dropped). */
static uint64_t remap_bits(uint64_t bits, const int *to)
{
    uint64_t out = 0;
    for (int i = 0; i < ZAB_VOTERS_MAX; i++)
        if ((bits & ((uint64_t)1 << i)) && to[i] >= 0)
            out |= (uint64_t)1 << to[i];
    return out;
}

int zab_voters_update(struct zab *zab, const int64_t *voters, size_t voters_len)
{
    if (voters_len == 0 || voters_len > ZAB_VOTERS_MAX)
        return ZAB_EINVAL;
    for (size_t i = 0; i < voters_len; i++)
        for (size_t j = 0; j < i; j++)
            if (voters[j] == voters[i])
                return ZAB_EINVAL;
    int to[ZAB_VOTERS_MAX];
    for (int i = 0; i < ZAB_VOTERS_MAX; i++) {
        to[i] = -1;
        for (size_t j = 0; (size_t)i < zab->voters_len && j < voters_len; j++)
            if (voters[j] == zab->voters[i])
                to[i] = (int)j;
    }
    memcpy(zab->voters, voters, voters_len * sizeof(int64_t));
    zab->voters_len = voters_len;
    zab->my_voter = voter_index(zab, zab->my_sid);
    for (size_t i = 0; i < zab->ring_len; i++) {
        struct zab_entry *e = ring_at(zab, i);
        e->acks = remap_bits(e->acks, to);
    }
    zab->connecting = remap_bits(zab->connecting, to);
    zab->electing = remap_bits(zab->electing, to);
    zab->newleader_acks = remap_bits(zab->newleader_acks, to);
    zab->roll_acks = remap_bits(zab->roll_acks, to);
    for (size_t i = 0; i < zab->learners_len; i++) {
        struct zab_learner *l = &zab->learners[i];
        l->voter = l->observer ? -1 : voter_index(zab, l->sid);
    }
    return 0;
}

static void ring_clear(struct zab *zab)
{
    for (size_t i = 0; i < zab->ring_len; i++)
        mem_free(ring_at(zab, i)->data);
    zab->ring_head = zab->ring_len = zab->committed_len = 0;
}

static struct zab_entry *ring_push(struct zab *zab, int64_t zxid, struct jute_buf data)
{
    ZAB_ASSERT(zab->ring_len < zab->ring_cap);
    ZAB_ASSERT(zab->ring_len == 0 || ring_at(zab, zab->ring_len - 1)->zxid < zxid);
    struct zab_entry *e = &zab->ring[(zab->ring_head + zab->ring_len) % zab->ring_cap];
    zab->ring_len++;
    e->zxid = zxid;
    e->len = data.len > 0 ? (size_t)data.len : 0;
    e->data = mem_alloc(e->len ? e->len : 1);
    if (e->len)
        memcpy(e->data, data.ptr, e->len);
    e->acks = 0;
    e->proposed_ms = 0;
    return e;
}

/* The committed log's bound: the oldest committed txn goes (minCommittedLog
 * moves up); a learner behind it then gets SNAP. Run at the start of each
 * step, never inside one (the step's sends borrow the entries). */
static void ring_trim(struct zab *zab)
{
    while (zab->committed_len > zab->committed_log_max) {
        mem_free(zab->ring[zab->ring_head].data);
        zab->ring_head = (zab->ring_head + 1) % zab->ring_cap;
        zab->ring_len--;
        zab->committed_len--;
    }
}

static struct jute_buf entry_buf(const struct zab_entry *e)
{
    return (struct jute_buf){e->data, (int32_t)e->len};
}

void zab_deinit(struct zab *zab)
{
    ring_clear(zab);
    mem_free(zab->ring);
    mem_free(zab->unacked);
    mem_free(zab->sends);
    mem_free(zab->appends);
    mem_free(zab->syncs);
    mem_free(zab->synced);
    memset(zab, 0, sizeof(*zab));
}

/* ---- the update ---- */

static void close_conn(struct zab *zab, int64_t sid, const char *reason)
{
    ZAB_ASSERT(zab->closes_len < sizeof(zab->closes) / sizeof(zab->closes[0]));
    zab->close_reasons[zab->closes_len] = reason;
    zab->closes[zab->closes_len++] = sid;
}

void zab__send(struct zab *zab, int64_t to, int32_t type, int64_t zxid, enum zab_payload payload,
               struct jute_buf data, int32_t i32)
{
    if (zab->sends_len == zab->sends_cap) {
        zab->sends_cap = zab->sends_cap ? 2 * zab->sends_cap : 64;
        zab->sends = mem_realloc(zab->sends, zab->sends_cap * sizeof(*zab->sends));
    }
    zab->sends[zab->sends_len++] = (struct zab_send){to, type, zxid, payload, data, i32, 0};
}

/* A reconfig txn (TxnHeader.type at offset 28 is OpCode.reconfig, 16):
 * committed by COMMITANDACTIVATE / INFORMANDACTIVATE (Leader.tryToCommit). */
static bool entry_is_reconfig(const struct zab_entry *e)
{
    return e->len >= 32 && e->data[28] == 0 && e->data[29] == 0 && e->data[30] == 0 &&
           e->data[31] == 16;
}

/* Leader.commitAndActivate / informAndActivate: the designated leader is
 * this leader (czk's leader stays on through a reconfig that keeps it a
 * voter; one that does not ends its role after the activation). */
static void send_activate(struct zab *zab, int64_t to, int32_t type, const struct zab_entry *e,
                          struct jute_buf data)
{
    zab__send(zab, to, type, e->zxid, ZAB_PAYLOAD_ACTIVATE, data, 0);
    zab->sends[zab->sends_len - 1].i64 = zab->my_sid;
}

void zab__send_simple(struct zab *zab, int64_t to, int32_t type, int64_t zxid)
{
    zab__send(zab, to, type, zxid, ZAB_PAYLOAD_NONE, (struct jute_buf){NULL, -1}, 0);
}

void zab__append(struct zab *zab, int64_t zxid, struct jute_buf data)
{
    if (zab->appends_len == zab->appends_cap) {
        zab->appends_cap = zab->appends_cap ? 2 * zab->appends_cap : 64;
        zab->appends = mem_realloc(zab->appends, zab->appends_cap * sizeof(*zab->appends));
    }
    zab->appends[zab->appends_len++] = (struct zab_txn){zxid, data};
}

void zab__stop(struct zab *zab, struct zab_update *up, const char *reason)
{
    if (zab->role == ZAB_LEADING) {
        for (size_t i = 0; i < zab->learners_len; i++)
            close_conn(zab, zab->learners[i].sid, reason);
    } else if (zab->role != ZAB_LOOKING) {
        close_conn(zab, zab->leader_sid, reason);
    }
    zab->learners_len = 0;
    ring_clear(zab);
    zab->syncs_head = zab->syncs_len = 0; /* never answered: the role's connections close */
    zab->unacked_head = zab->unacked_len = 0;
    zab->rolling = false;
    zab->role = ZAB_LOOKING;
    zab->phase = ZAB_DISCOVERY;
    zab->serving = false;
    up->stopped = true;
    up->reason = reason;
}

/* ---- leader: learners ---- */

static struct zab_learner *learner_find(struct zab *zab, int64_t sid)
{
    for (size_t i = 0; i < zab->learners_len; i++)
        if (zab->learners[i].sid == sid)
            return &zab->learners[i];
    return NULL;
}

/* LearnerHandler.shutdown: the connection goes; the waits keep what it gave
 * (Apache's connectingFollowers, electingFollowers and the NEWLEADER ackset
 * are not cleared when a handler dies). */
static void learner_drop(struct zab *zab, struct zab_learner *l, const char *reason)
{
    close_conn(zab, l->sid, reason);
    *l = zab->learners[--zab->learners_len];
}

/* SyncLimitCheck.updateProposal: a PROPOSAL goes to a voter whose NEWLEADER
 * ACK came in (Apache starts the check there). A new mark when the last is
 * syncLimit/8 old: the marks stay few, and an ACK that lands between two
 * marks times the rest from the later one (late by at most that, never
 * early: a learner is never dropped before syncLimit). */
static void lag_sent(const struct zab *zab, struct zab_learner *l, int64_t zxid, int64_t now)
{
    if (l->voter < 0 || l->state < ZAB_LEARNER_NEWLEADER_ACKED)
        return;
    int64_t grain_ms = zab->sync_limit * zab->tick_ms / 8;
    size_t n = l->lag_marks_len;
    if (n == 0 || (n < ZAB_LAG_MARKS && now - l->lag_marks[n - 1].sent_ms >= grain_ms)) {
        l->lag_marks[n] = (struct zab_lag_mark){zxid, now};
        l->lag_marks_len++;
    }
    l->lag_sent_zxid = zxid;
    l->lag_sent_ms = now;
}

/* SyncLimitCheck.updateAck: everything up to `zxid` is acknowledged. */
static void lag_acked(struct zab_learner *l, int64_t zxid)
{
    size_t popped = 0;
    while (popped < l->lag_marks_len && l->lag_marks[popped].zxid <= zxid)
        popped++;
    if (popped == 0)
        return;
    memmove(l->lag_marks, l->lag_marks + popped,
            (l->lag_marks_len - popped) * sizeof(l->lag_marks[0]));
    l->lag_marks_len -= popped;
    /* What is left unacked was sent after the last mark popped and within
     * a grain of it (or a mark would stand for it): timed from the newest
     * send, late by at most that grain. */
    if (l->lag_marks_len == 0 && zxid < l->lag_sent_zxid) {
        l->lag_marks[0] = (struct zab_lag_mark){l->lag_sent_zxid, l->lag_sent_ms};
        l->lag_marks_len = 1;
    }
}

static bool is_forwarding(const struct zab_learner *l)
{
    return l->state >= ZAB_LEARNER_SYNCING;
}

static void send_leaderinfo(struct zab *zab, struct zab_learner *l)
{
    zab__send(zab, l->sid, QUORUM_LEADERINFO, ZAB_ZXID(zab->epoch, 0), ZAB_PAYLOAD_I32,
              (struct jute_buf){NULL, -1}, QUORUM_PROTOCOL_VERSION);
    l->state = ZAB_LEARNER_EPOCH;
}

static void queue_entry(struct zab *zab, const struct zab_learner *l, const struct zab_entry *e,
                        bool commit)
{
    zab__send(zab, l->sid, QUORUM_PROPOSAL, e->zxid, ZAB_PAYLOAD_DATA, entry_buf(e), 0);
    if (commit)
        zab__send_simple(zab, l->sid, QUORUM_COMMIT, e->zxid);
}

/* LearnerHandler.syncFollower + Leader.startForwarding + NEWLEADER: what a
 * learner that acked the epoch is sent, all in one step. */
static void sync_learner(struct zab *zab, struct zab_learner *l, int64_t now_ms)
{
    int64_t peer = l->last_zxid;
    bool peer_new_epoch = (peer & 0xffffffffLL) == 0;
    int64_t last_processed = zab->committed_zxid;
    int64_t min_committed = last_processed, max_committed = last_processed;
    if (zab->committed_len > 0) {
        min_committed = ring_at(zab, 0)->zxid;
        max_committed = ring_at(zab, zab->committed_len - 1)->zxid;
    }
    int64_t current = peer; /* what the learner will have: startForwarding's lastSeenZxid */
    bool need_snap = true;
    if (last_processed == peer) {
        zab__send_simple(zab, l->sid, QUORUM_DIFF, peer);
        need_snap = false;
    } else if (peer > max_committed && !peer_new_epoch) {
        zab__send_simple(zab, l->sid, QUORUM_TRUNC, max_committed);
        current = max_committed;
        need_snap = false;
    } else if (max_committed >= peer && min_committed <= peer) {
        /* queueCommittedProposals over the committed log. */
        bool need_op = true;
        int64_t queued = peer, prev = -1;
        for (size_t i = 0; i < zab->committed_len; i++) {
            const struct zab_entry *e = ring_at(zab, i);
            if (e->zxid < peer) {
                prev = e->zxid;
                continue;
            }
            if (need_op) {
                if (e->zxid == peer) {
                    zab__send_simple(zab, l->sid, QUORUM_DIFF, max_committed);
                    need_op = false;
                    continue;
                }
                if (peer_new_epoch) {
                    zab__send_simple(zab, l->sid, QUORUM_DIFF, max_committed);
                    need_op = false;
                } else if (e->zxid > peer) {
                    /* The learner has txns we never had: it may have led. A
                     * TRUNC may not cross an epoch; SNAP instead. */
                    if (ZAB_EPOCH_OF(e->zxid) != ZAB_EPOCH_OF(peer))
                        break;
                    zab__send_simple(zab, l->sid, QUORUM_TRUNC, prev);
                    need_op = false;
                }
            }
            if (e->zxid <= queued)
                continue;
            queue_entry(zab, l, e, true);
            queued = e->zxid;
        }
        /* need_op still set: the learner's tail crosses an epoch we do not
         * share (nothing was queued then); SNAP. */
        if (!need_op) {
            current = queued;
            need_snap = false;
        }
    }
    /* peer < minCommittedLog: Apache may read older txns from its txn log
     * (zookeeper.snapshotSizeFactor); czk sends SNAP. */
    if (need_snap) {
        current = last_processed;
        zab__send_simple(zab, l->sid, QUORUM_SNAP, last_processed);
    }
    /* startForwarding: the outstanding proposals it lacks (participants
     * only; observers get INFORM once they commit). */
    if (!l->observer)
        for (size_t i = zab->committed_len; i < zab->ring_len; i++) {
            struct zab_entry *e = ring_at(zab, i);
            if (e->zxid > current) {
                /* An ack from its previous connection counts no more: a
                 * TRUNC or SNAP cuts that copy. It acks again once logged. */
                e->acks &= ~voter_bit(l->voter);
                queue_entry(zab, l, e, false);
            }
        }
    zab__send(zab, l->sid, QUORUM_NEWLEADER, ZAB_ZXID(zab->epoch, 0), ZAB_PAYLOAD_CONFIG,
              (struct jute_buf){NULL, -1}, 0);
    l->state = ZAB_LEARNER_SYNCING;
    l->forwarded_ms = now_ms;
}

static void try_newleader_quorum(struct zab *zab, struct zab_update *up, int64_t now_ms)
{
    if (zab->phase != ZAB_SYNC || !(zab->newleader_acks & voter_bit(zab->my_voter)) ||
        !has_quorum(zab, zab->newleader_acks))
        return;
    /* quorumFormed: the leader serves; every learner that acked gets UPTODATE. */
    zab->phase = ZAB_BROADCAST;
    zab->serving = true;
    up->became_serving = true;
    up->established_epoch = zab->epoch;
    zab->next_counter = zab->first_counter;
    /* a log already in this epoch (a follower's observer master, which
     * serves its leader's epoch): the counter goes on from it */
    if (ZAB_EPOCH_OF(zab->last_zxid) == zab->epoch &&
        (int64_t)(uint32_t)zab->last_zxid >= zab->next_counter)
        zab->next_counter = (int64_t)(uint32_t)zab->last_zxid + 1;
    zab->next_check_ms = now_ms + zab->tick_ms;
    for (size_t i = 0; i < zab->learners_len; i++) {
        struct zab_learner *l = &zab->learners[i];
        if (l->state == ZAB_LEARNER_NEWLEADER_ACKED) {
            zab__send_simple(zab, l->sid, QUORUM_UPTODATE, -1);
            l->state = ZAB_LEARNER_SYNCED;
            l->heard_ms = now_ms;
        }
    }
}

static void try_epoch_quorum(struct zab *zab, struct zab_update *up, int64_t now_ms)
{
    if (zab->epoch_acked || !(zab->electing & voter_bit(zab->my_voter)) ||
        !has_quorum(zab, zab->electing))
        return;
    /* electionFinished: Leader.lead writes currentEpoch, counts its own
     * NEWLEADER ack, and the waiting handlers sync their learners. */
    zab->epoch_acked = true;
    zab->current_epoch = zab->epoch;
    up->current_epoch = zab->epoch;
    zab->newleader_acks |= voter_bit(zab->my_voter);
    zab->phase = ZAB_SYNC;
    zab->phase_deadline_ms = now_ms + zab->init_limit * zab->tick_ms;
    for (size_t i = 0; i < zab->learners_len; i++)
        if (zab->learners[i].state == ZAB_LEARNER_ACKED)
            sync_learner(zab, &zab->learners[i], now_ms);
    try_newleader_quorum(zab, up, now_ms);
}

static void try_decide_epoch(struct zab *zab, struct zab_update *up, int64_t now_ms)
{
    if (zab->epoch_known || !(zab->connecting & voter_bit(zab->my_voter)) ||
        !has_quorum(zab, zab->connecting))
        return;
    /* getEpochToPropose: a quorum connected; max(acceptedEpoch) + 1 is ours. */
    zab->epoch_known = true;
    zab->accepted_epoch = zab->epoch;
    up->accepted_epoch = zab->epoch;
    for (size_t i = 0; i < zab->learners_len; i++)
        if (zab->learners[i].state == ZAB_LEARNER_INFO)
            send_leaderinfo(zab, &zab->learners[i]);
    /* The leader's own waitForEpochAck(leaderStateSummary). */
    zab->electing |= voter_bit(zab->my_voter);
    zab->phase_deadline_ms = now_ms + zab->init_limit * zab->tick_ms;
    try_epoch_quorum(zab, up, now_ms);
}

/* ---- leader: the epoch roll-over (docs/PROTOCOL.md, "ZAB: the epoch
 * roll-over") ----
 * Apache's leader steps down before the zxid counter would wrap, and the
 * election that follows starts the next epoch: every client reconnects.
 * czk's leader starts it in place, with discovery's promise and sync's
 * durability rule: after proposing counter 0xfffffffe it sends each synced
 * learner LEADERINFO(next epoch); a learner makes its log durable to that
 * point, writes acceptedEpoch and currentEpoch, and answers ACKEPOCH. Once
 * a quorum (the leader too) has, the leader proposes in the next epoch.
 * Any member whose currentEpoch names the next epoch thus holds every txn
 * of the last one, and every txn of the next one follows a quorum's. */

static void roll_try_end(struct zab *zab, struct zab_update *up)
{
    if (!zab->rolling || !(zab->roll_acks & voter_bit(zab->my_voter)) ||
        !has_quorum(zab, zab->roll_acks))
        return;
    zab->rolling = false;
    zab->epoch = zab->roll_epoch;
    zab->next_counter = zab->first_counter;
    up->epoch_rolled = true;
    up->established_epoch = zab->epoch;
    /* learners that came during it were kept waiting: now their LEADERINFO */
    for (size_t i = 0; i < zab->learners_len; i++)
        if (zab->learners[i].state == ZAB_LEARNER_INFO)
            send_leaderinfo(zab, &zab->learners[i]);
}

/* Once its own log is durable to the roll-over's point (no proposal
 * follows it until the end), the leader takes the epoch itself. */
static void roll_self(struct zab *zab, struct zab_update *up)
{
    if (!zab->rolling || (zab->roll_acks & voter_bit(zab->my_voter)) ||
        zab->persisted_zxid < zab->last_zxid)
        return;
    zab->accepted_epoch = zab->current_epoch = zab->roll_epoch;
    up->accepted_epoch = up->current_epoch = zab->roll_epoch;
    zab->roll_acks |= voter_bit(zab->my_voter);
    roll_try_end(zab, up);
}

/* Right after the PROPOSAL of counter 0xfffffffe. Only when every learner
 * connected says it can (a czk learner's LearnerInfo trailer); otherwise
 * the next PROPOSE steps down, as Apache's leader does. */
static void roll_start(struct zab *zab, struct zab_update *up, int64_t now_ms)
{
    for (size_t i = 0; i < zab->learners_len; i++)
        if (!(zab->learners[i].czk_features & QUORUM_CZK_EPOCH_ROLL))
            return;
    zab->rolling = true;
    zab->roll_epoch = zab->epoch + 1;
    zab->roll_acks = 0;
    zab->roll_deadline_ms = now_ms + zab->sync_limit * zab->tick_ms;
    for (size_t i = 0; i < zab->learners_len;) {
        struct zab_learner *l = &zab->learners[i];
        if (l->state != ZAB_LEARNER_SYNCED) {
            /* in discovery or sync under the old epoch: it syncs again */
            learner_drop(zab, l, "the leader starts the next epoch (the zxid counter's roll-over)");
            continue;
        }
        zab__send(zab, l->sid, QUORUM_LEADERINFO, ZAB_ZXID(zab->roll_epoch, 0), ZAB_PAYLOAD_I32,
                  (struct jute_buf){NULL, -1}, QUORUM_PROTOCOL_VERSION);
        i++;
    }
    roll_self(zab, up);
}

static void leader_start(struct zab *zab, const struct zab_event *ev, struct zab_update *up)
{
    zab->role = ZAB_LEADING;
    zab->phase = ZAB_DISCOVERY;
    zab->leader_sid = zab->my_sid;
    zab->learners_len = 0;
    zab->connecting = zab->electing = zab->newleader_acks = 0;
    zab->epoch_known = zab->epoch_acked = false;
    zab->rolling = false;
    ring_clear(zab);
    zab->ping_round = 0;
    zab->syncs_head = zab->syncs_len = 0;
    size_t skip = ev->start.history_len > zab->committed_log_max
                      ? ev->start.history_len - zab->committed_log_max
                      : 0;
    for (size_t i = skip; i < ev->start.history_len; i++)
        ring_push(zab, ev->start.history[i].zxid, ev->start.history[i].data);
    zab->committed_len = zab->ring_len;
    /* Everything in the leader's log is its history: applied now
     * (ZKDatabase.loadDataBase), committed by the new epoch. */
    zab->committed_zxid = zab->last_zxid;
    zab->start_current_epoch = zab->current_epoch;
    zab->start_last_zxid = zab->last_zxid;
    zab->epoch = zab->accepted_epoch + 1; /* getEpochToPropose(self, acceptedEpoch) */
    zab->connecting = voter_bit(zab->my_voter);
    zab->phase_deadline_ms = ev->now_ms + zab->init_limit * zab->tick_ms;
    zab->next_ping_ms = ev->now_ms + zab->tick_ms / 2;
    try_decide_epoch(zab, up, ev->now_ms);
}

/* StateSummary.isMoreRecentThan(leaderStateSummary). */
static bool ahead_of_leader(const struct zab *zab, int64_t current_epoch, int64_t last_zxid)
{
    return current_epoch > zab->start_current_epoch ||
           (current_epoch == zab->start_current_epoch && last_zxid > zab->start_last_zxid);
}

static void try_commit(struct zab *zab, struct zab_update *up)
{
    (void)up;
    while (zab->committed_len < zab->ring_len) {
        struct zab_entry *e = ring_at(zab, zab->committed_len);
        if (!has_quorum(zab, e->acks))
            break;
        /* Leader.tryToCommit: strictly in zxid order. */
        ZAB_ASSERT(e->zxid > zab->committed_zxid);
        zab->committed_len++;
        zab->committed_zxid = e->zxid;
        for (size_t i = 0; i < zab->learners_len; i++) {
            const struct zab_learner *l = &zab->learners[i];
            if (!is_forwarding(l))
                continue;
            if (entry_is_reconfig(e) && l->observer)
                send_activate(zab, l->sid, QUORUM_INFORMANDACTIVATE, e, entry_buf(e));
            else if (entry_is_reconfig(e))
                send_activate(zab, l->sid, QUORUM_COMMITANDACTIVATE, e, (struct jute_buf){NULL, 0});
            else if (l->observer)
                zab__send(zab, l->sid, QUORUM_INFORM, e->zxid, ZAB_PAYLOAD_DATA, entry_buf(e), 0);
            else
                zab__send_simple(zab, l->sid, QUORUM_COMMIT, e->zxid);
        }
    }
    /* no ring_trim here: this step's sends (INFORM, a DIFF's PROPOSALs) may
     * point into the entries it would free; the next step trims first */
}

static void leader_receive(struct zab *zab, const struct zab_event *ev, struct zab_update *up)
{
    int64_t from = ev->receive.from;
    int64_t now = ev->now_ms;
    struct zab_learner *l = learner_find(zab, from);
    int32_t type = ev->receive.type;
    if (type == QUORUM_FOLLOWERINFO || type == QUORUM_OBSERVERINFO) {
        struct quorum_learner_info info;
        /* A new connection replaces the old one, which the node has closed
         * already (one connection per sid): forget the learner, close nothing
         * (a close would name the new connection). */
        if (l)
            *l = zab->learners[--zab->learners_len];
        if (quorum_learner_info_decode(ev->receive.data, &info) != 0 || info.serverid != from ||
            info.protocol_version < QUORUM_PROTOCOL_VERSION ||
            zab->learners_len == ZAB_LEARNERS_MAX) {
            close_conn(zab, from, "a bad LearnerInfo, or too many learners");
            return;
        }
        l = &zab->learners[zab->learners_len++];
        memset(l, 0, sizeof(*l));
        l->sid = from;
        l->observer = type == QUORUM_OBSERVERINFO;
        l->voter = l->observer ? -1 : voter_index(zab, from);
        l->accepted_epoch = ZAB_EPOCH_OF(ev->receive.zxid);
        l->czk_features = info.czk_features;
        l->heard_ms = l->since_ms = now;
        l->state = ZAB_LEARNER_INFO;
        if (!zab->epoch_known) {
            if (l->accepted_epoch >= zab->epoch)
                zab->epoch = l->accepted_epoch + 1;
            zab->connecting |= voter_bit(l->voter);
            try_decide_epoch(zab, up, now);
        } else if (!zab->rolling) {
            send_leaderinfo(zab, l);
        } /* rolling: its LEADERINFO names the next epoch, once taken (roll_end) */
        return;
    }
    if (!l)
        return; /* nothing from a connection that has not introduced itself */
    l->heard_ms = now;
    switch (type) {
    case QUORUM_ACKEPOCH: {
        int32_t current;
        if (l->state == ZAB_LEARNER_SYNCED) {
            /* The roll-over's: it took the epoch, its log durable to the
             * LEADERINFO (a late one, after the roll-over ended, is moot). */
            if (quorum_i32_payload_decode(ev->receive.data, &current) != 0 ||
                (current != zab->epoch && (!zab->rolling || current != zab->roll_epoch))) {
                learner_drop(zab, l, "ACKEPOCH of another epoch while serving");
                return;
            }
            if (zab->rolling && current == zab->roll_epoch && l->voter >= 0) {
                zab->roll_acks |= voter_bit(l->voter);
                roll_try_end(zab, up);
            }
            return;
        }
        if (l->state != ZAB_LEARNER_EPOCH ||
            quorum_i32_payload_decode(ev->receive.data, &current) != 0) {
            learner_drop(zab, l, "ACKEPOCH out of order or malformed");
            return;
        }
        l->current_epoch = current;
        l->last_zxid = ev->receive.zxid;
        /* waitForEpochAck returns at once when the election is finished:
         * a learner that joins later (an old leader with txns nobody else
         * logged) is synced, by TRUNC or SNAP, not dropped. */
        if (current != -1 && !zab->epoch_acked) {
            if (ahead_of_leader(zab, current, ev->receive.zxid)) {
                learner_drop(zab, l, "follower is ahead of the leader");
                return;
            }
            if (ev->receive.zxid != -1)
                zab->electing |= voter_bit(l->voter);
        }
        l->state = ZAB_LEARNER_ACKED;
        if (zab->epoch_acked)
            sync_learner(zab, l, now);
        else
            try_epoch_quorum(zab, up, now);
        return;
    }
    case QUORUM_ACK:
        if (l->state == ZAB_LEARNER_SYNCING) {
            if (ev->receive.zxid != ZAB_ZXID(zab->epoch, 0)) {
                /* Apache 3.8's learner logs the txns of its sync on its
                 * SyncThread, whose ACK of one may overtake the ACK of
                 * NEWLEADER; the latter follows. Not counted (Apache's
                 * LearnerHandler takes it for NEWLEADER's: lost too). */
                if ((ev->receive.zxid & 0xffffffffLL) != 0 && ev->receive.zxid > 0 &&
                    ev->receive.zxid <= zab->last_zxid)
                    return;
                learner_drop(zab, l, "the ACK of NEWLEADER carries another zxid");
                return;
            }
            l->state = ZAB_LEARNER_NEWLEADER_ACKED; /* syncLimitCheck.start() */
            zab->newleader_acks |= voter_bit(l->voter);
            if (zab->phase == ZAB_BROADCAST) {
                zab__send_simple(zab, l->sid, QUORUM_UPTODATE, -1);
                l->state = ZAB_LEARNER_SYNCED;
            } else {
                try_newleader_quorum(zab, up, now);
            }
            return;
        }
        /* The ACK of UPTODATE: the PING answers after it count for syncs. */
        if (l->state == ZAB_LEARNER_SYNCED && ev->receive.zxid == ZAB_ZXID(zab->epoch, 0))
            l->uptodate_acked = true;
        /* processAck: the ACK of UPTODATE (zxid epoch << 32) is ignored, so
         * is one for a zxid no longer outstanding. */
        if ((ev->receive.zxid & 0xffffffffLL) == 0 || l->voter < 0 ||
            l->state < ZAB_LEARNER_NEWLEADER_ACKED)
            return;
        /* (a zxid never proposed confirms nothing) */
        if (ev->receive.zxid > l->acked_zxid && ev->receive.zxid <= zab->last_zxid)
            l->acked_zxid = ev->receive.zxid;
        lag_acked(l, ev->receive.zxid);
        for (size_t i = zab->committed_len; i < zab->ring_len; i++) {
            struct zab_entry *e = ring_at(zab, i);
            if (e->zxid == ev->receive.zxid) {
                e->acks |= voter_bit(l->voter);
                break;
            }
        }
        try_commit(zab, up);
        return;
    case QUORUM_PING:
        /* An answer to our PING (Learner.ping); its touches are the server's. */
        if (l->uptodate_acked && l->ping_first_round > 0)
            l->pings_answered++;
        return;
    default:
        return; /* REQUEST, REVALIDATE: signs of life; the server's business */
    }
}

/* LearnerHandler.ping to every learner being forwarded to; zxid: the last
 * proposed, as Apache's. A learner already sent UPTODATE takes its first
 * counted round here. */
static void ping_round(struct zab *zab)
{
    zab->ping_round++;
    for (size_t i = 0; i < zab->learners_len; i++) {
        struct zab_learner *l = &zab->learners[i];
        if (!is_forwarding(l))
            continue;
        zab__send_simple(zab, l->sid, QUORUM_PING, zab->last_zxid);
        if (l->state == ZAB_LEARNER_SYNCED && l->ping_first_round == 0)
            l->ping_first_round = zab->ping_round;
    }
}

/* The voters heard from after a sync of PING round `round` (0: none) whose
 * last txn was `zxid`: the leader itself, each voter that answered that
 * round or a later one, and each that ACKed a proposal made after it. */
static uint64_t sync_confirmed(const struct zab *zab, int64_t round, int64_t zxid)
{
    uint64_t bits = voter_bit(zab->my_voter);
    for (size_t i = 0; i < zab->learners_len; i++) {
        const struct zab_learner *l = &zab->learners[i];
        if (l->voter < 0)
            continue;
        int64_t answered = l->uptodate_acked && l->ping_first_round > 0 && l->pings_answered > 0
                               ? l->ping_first_round + l->pings_answered - 1
                               : 0;
        if ((round > 0 && answered >= round) || l->acked_zxid > zxid)
            bits |= voter_bit(l->voter);
    }
    return bits;
}

static int leader_sync_request(struct zab *zab, const struct zab_event *ev)
{
    if (zab->role != ZAB_LEADING || !zab->serving)
        return ZAB_ENOTREADY;
    if (ev->sync.zxid < -1)
        return ZAB_EINVAL;
    if (zab->syncs_len >= ZAB_SYNCS_MAX)
        return ZAB_EBUSY;
    if (zab->syncs_len == zab->syncs_cap) {
        size_t cap = zab->syncs_cap ? 2 * zab->syncs_cap : 16;
        struct zab_sync *q = mem_alloc(cap * sizeof(*q));
        for (size_t i = 0; i < zab->syncs_len; i++)
            q[i] = zab->syncs[(zab->syncs_head + i) % zab->syncs_cap];
        mem_free(zab->syncs);
        zab->syncs = q;
        zab->syncs_cap = cap;
        zab->syncs_head = 0;
    }
    int64_t zxid = ev->sync.zxid >= 0 ? ev->sync.zxid : zab->last_zxid;
    /* Only a round sent from now on was sent after the sync arrived. */
    zab->syncs[(zab->syncs_head + zab->syncs_len) % zab->syncs_cap] =
        (struct zab_sync){ev->sync.token, zxid, zab->ping_round + 1};
    zab->syncs_len++;
    return 0;
}

/* After every leader step: release the syncs whose txns committed and whose
 * quorum answered, in order (both conditions only get easier for older
 * syncs); then, if one still waits for a round not sent yet, send it now,
 * unless the last round is itself short of a quorum (its answers, or the
 * half-tick rounds, come first: one round in flight at a time). */
static void leader_syncs(struct zab *zab)
{
    while (zab->syncs_len > 0) {
        const struct zab_sync *q = &zab->syncs[zab->syncs_head];
        if (q->zxid > zab->committed_zxid ||
            !has_quorum(zab, sync_confirmed(zab, q->round, q->zxid)))
            break;
        if (zab->synced_len == zab->synced_cap) {
            zab->synced_cap = zab->synced_cap ? 2 * zab->synced_cap : 16;
            zab->synced = mem_realloc(zab->synced, zab->synced_cap * sizeof(*zab->synced));
        }
        zab->synced[zab->synced_len++] = q->token;
        zab->syncs_head = (zab->syncs_head + 1) % zab->syncs_cap;
        zab->syncs_len--;
    }
    if (zab->syncs_len == 0)
        return;
    const struct zab_sync *newest =
        &zab->syncs[(zab->syncs_head + zab->syncs_len - 1) % zab->syncs_cap];
    if (newest->round <= zab->ping_round)
        return;
    if (zab->ping_round > 0 && !has_quorum(zab, sync_confirmed(zab, zab->ping_round, INT64_MAX)))
        return;
    ping_round(zab);
}

static bool learner_synced(const struct zab *zab, const struct zab_learner *l, int64_t now)
{
    if (l->voter < 0)
        return false;
    if (l->state == ZAB_LEARNER_SYNCED)
        return now - l->heard_ms <= zab->sync_limit * zab->tick_ms;
    return now - l->since_ms <= (zab->init_limit + zab->sync_limit) * zab->tick_ms;
}

static void leader_tick(struct zab *zab, struct zab_update *up, int64_t now)
{
    if (zab->rolling && now >= zab->roll_deadline_ms) {
        zab__stop(zab, up,
                  "the quorum did not take the next epoch within syncLimit x tickTime (the zxid "
                  "counter's roll-over): a new election starts it");
        return;
    }
    if (zab->phase != ZAB_BROADCAST && now >= zab->phase_deadline_ms) {
        zab__stop(zab, up,
                  !zab->epoch_known ? "timeout while waiting for epoch from quorum"
                  : !zab->epoch_acked
                      ? "timeout while waiting for epoch to be acked by quorum"
                      : "timeout while waiting for NEWLEADER to be acked by quorum");
        return;
    }
    for (size_t i = 0; i < zab->learners_len;) {
        struct zab_learner *l = &zab->learners[i];
        int64_t sync_ms = zab->sync_limit * zab->tick_ms;
        int64_t limit_ms =
            l->state == ZAB_LEARNER_SYNCED ? sync_ms : zab->init_limit * zab->tick_ms;
        /* SyncLimitCheck: the oldest PROPOSAL it has not ACKed, committed by
         * the others or not; before it, an outstanding one forwarded during
         * its sync (from the forwarding on). */
        bool lagging = l->lag_marks_len > 0 && now - l->lag_marks[0].sent_ms > sync_ms;
        if (!lagging && is_forwarding(l) && l->voter >= 0 &&
            l->state >= ZAB_LEARNER_NEWLEADER_ACKED)
            for (size_t k = zab->committed_len; k < zab->ring_len; k++) {
                const struct zab_entry *e = ring_at(zab, k);
                if (!(e->acks & voter_bit(l->voter))) {
                    int64_t since =
                        e->proposed_ms > l->forwarded_ms ? e->proposed_ms : l->forwarded_ms;
                    lagging = now - since > sync_ms;
                    break;
                }
            }
        if (lagging)
            learner_drop(zab, l,
                         "transaction timeout: a proposal not acked within syncLimit x tickTime");
        else if (now - l->heard_ms > limit_ms)
            learner_drop(zab, l,
                         l->state == ZAB_LEARNER_SYNCED
                             ? "no packet from the learner within syncLimit x tickTime"
                             : "the learner's sync did not finish within initLimit x tickTime");
        else
            i++;
    }
    if (now >= zab->next_ping_ms) {
        ping_round(zab);
        zab->next_ping_ms = now + zab->tick_ms / 2;
    }
    if (zab->phase == ZAB_BROADCAST && now >= zab->next_check_ms) {
        uint64_t synced = voter_bit(zab->my_voter);
        for (size_t i = 0; i < zab->learners_len; i++)
            if (learner_synced(zab, &zab->learners[i], now))
                synced |= voter_bit(zab->learners[i].voter);
        if (!has_quorum(zab, synced)) {
            zab__stop(zab, up, "not sufficient followers synced");
            return;
        }
        zab->next_check_ms = now + zab->tick_ms;
    }
}

static int leader_propose(struct zab *zab, const struct zab_event *ev, struct zab_update *up)
{
    if (zab->role != ZAB_LEADING || !zab->serving)
        return ZAB_ENOTREADY;
    if (ev->propose.zxid != zab_next_zxid(zab) || ev->propose.data.len < 0)
        return ZAB_EINVAL;
    if (zab->next_counter > 0xfffffffeLL) {
        if (zab->rolling)
            return ZAB_EBUSY; /* the next epoch's first txn waits for the quorum */
        /* Leader.propose: a txn whose counter is all ones is not proposed;
         * the leader steps down and an election starts a new epoch. Only
         * when a learner cannot roll over (roll_start): Apache's. Its
         * client hears of it as of any role's end. */
        zab__stop(zab, up,
                  "the zxid counter is exhausted (its low 32 bits would roll over) and a "
                  "learner cannot start the next epoch in place (Apache ZooKeeper's): a new "
                  "election starts it, as Apache ZooKeeper does");
        return 0;
    }
    if (zab->ring_len - zab->committed_len >= zab->outstanding_max)
        return ZAB_EBUSY;
    if (zab->ring_len == zab->ring_cap) {
        /* Committed entries fill the ring only when committed_log_max does;
         * ring_trim keeps it at most that. */
        ZAB_ASSERT(0 && "ring full");
    }
    struct zab_entry *e = ring_push(zab, ev->propose.zxid, ev->propose.data);
    e->proposed_ms = ev->now_ms;
    zab->last_zxid = e->zxid;
    zab->next_counter++;
    zab__append(zab, e->zxid, entry_buf(e));
    for (size_t i = 0; i < zab->learners_len; i++) {
        struct zab_learner *l = &zab->learners[i];
        if (is_forwarding(l) && !l->observer) {
            queue_entry(zab, l, e, false);
            lag_sent(zab, l, e->zxid, ev->now_ms);
        }
    }
    if ((e->zxid & 0xffffffffLL) == 0xfffffffeLL)
        roll_start(zab, up, ev->now_ms);
    return 0;
}

static void leader_persisted(struct zab *zab, struct zab_update *up)
{
    for (size_t i = zab->committed_len; i < zab->ring_len; i++) {
        struct zab_entry *e = ring_at(zab, i);
        if (e->zxid <= zab->persisted_zxid)
            e->acks |= voter_bit(zab->my_voter);
    }
    try_commit(zab, up);
    roll_self(zab, up);
}

/* ---- the step ---- */

static void fill(struct zab *zab, struct zab_update *up, int64_t now)
{
    up->appends = zab->appends;
    up->appends_len = zab->appends_len;
    up->sends = zab->sends;
    up->sends_len = zab->sends_len;
    up->synced = zab->synced;
    up->synced_len = zab->synced_len;
    up->closes = zab->closes;
    up->close_reasons = zab->close_reasons;
    up->closes_len = zab->closes_len;
    up->commit_upto_zxid = zab->committed_zxid;
    up->role = zab->role;
    up->phase = zab->phase;
    up->serving = zab->serving;
    up->deadline_ms = -1;
    if (zab->role == ZAB_LEADING) {
        up->deadline_ms = zab->next_ping_ms;
        if (zab->phase != ZAB_BROADCAST && zab->phase_deadline_ms < up->deadline_ms)
            up->deadline_ms = zab->phase_deadline_ms;
        if (zab->rolling && zab->roll_deadline_ms < up->deadline_ms)
            up->deadline_ms = zab->roll_deadline_ms;
        if (up->deadline_ms < now)
            up->deadline_ms = now;
    } else if (zab->role != ZAB_LOOKING) {
        int64_t limit = zab->newleader_seen ? zab->sync_limit : zab->init_limit;
        up->deadline_ms = zab->heard_ms + limit * zab->tick_ms;
    }
}

size_t zab_learner_backlog(const struct zab *zab)
{
    return zab->role == ZAB_FOLLOWING || zab->role == ZAB_OBSERVING ? zab->unacked_len : 0;
}

size_t zab_learner_backlog_high(const struct zab *zab)
{
    return zab->committed_log_max + zab->outstanding_max;
}

int64_t zab_next_zxid(const struct zab *zab)
{
    if (zab->role != ZAB_LEADING || !zab->serving)
        return -1;
    if (zab->next_counter > 0xfffffffeLL)
        return ZAB_ZXID(zab->epoch + 1, zab->first_counter);
    return ZAB_ZXID(zab->epoch, zab->next_counter);
}

int zab_step(struct zab *zab, const struct zab_event *ev, struct zab_update *up)
{
    memset(up, 0, sizeof(*up));
    up->accepted_epoch = up->current_epoch = -1;
    up->truncate_after_zxid = up->snapshot_zxid = -1;
    up->established_epoch = -1;
    zab->sends_len = zab->appends_len = zab->closes_len = zab->synced_len = 0;
    /* The last update's pointers are no longer borrowed: the committed log
     * goes back to its bound before anything is added to the ring. */
    ring_trim(zab);
    int rc = 0;
    switch (ev->type) {
    case ZAB_START: {
        enum zab_role role = ev->start.role;
        if (role != ZAB_LOOKING && role != ZAB_LEADING && role != ZAB_FOLLOWING &&
            role != ZAB_OBSERVING)
            return ZAB_EINVAL;
        if (ev->start.last_zxid < 0 || ev->start.accepted_epoch < 0 ||
            ev->start.current_epoch < 0 || ev->start.current_epoch > ev->start.accepted_epoch)
            return ZAB_EINVAL;
        if (role == ZAB_LEADING && zab->my_voter < 0)
            return ZAB_EINVAL;
        if (role == ZAB_LEADING && ev->start.history_len > 0) {
            for (size_t i = 1; i < ev->start.history_len; i++)
                if (ev->start.history[i].zxid <= ev->start.history[i - 1].zxid)
                    return ZAB_EINVAL;
            if (ev->start.history[ev->start.history_len - 1].zxid != ev->start.last_zxid)
                return ZAB_EINVAL;
        }
        if (zab->role != ZAB_LOOKING)
            zab__stop(zab, up, "restarted");
        up->stopped = false;
        up->reason = NULL;
        zab->last_zxid = zab->persisted_zxid = ev->start.last_zxid;
        zab->accepted_epoch = ev->start.accepted_epoch;
        zab->current_epoch = ev->start.current_epoch;
        zab->committed_zxid = -1;
        zab->serving = false;
        if (role == ZAB_LEADING)
            leader_start(zab, ev, up);
        else if (role != ZAB_LOOKING)
            zab__learner_start(zab, ev);
        break;
    }
    case ZAB_RECEIVE:
        if (zab->role == ZAB_LEADING)
            leader_receive(zab, ev, up);
        else if (zab->role != ZAB_LOOKING)
            zab__learner_receive(zab, ev, up);
        break;
    case ZAB_PERSISTED:
        if (ev->persisted.zxid > zab->persisted_zxid && ev->persisted.zxid <= zab->last_zxid)
            zab->persisted_zxid = ev->persisted.zxid;
        if (zab->role == ZAB_LEADING)
            leader_persisted(zab, up);
        else if (zab->role != ZAB_LOOKING)
            zab__learner_acks(zab, up);
        break;
    case ZAB_TICK:
        if (zab->role == ZAB_LEADING) {
            leader_tick(zab, up, ev->now_ms);
        } else if (zab->role != ZAB_LOOKING) {
            int64_t limit = zab->newleader_seen ? zab->sync_limit : zab->init_limit;
            /* While the driver pauses reading (the backlog at its mark),
             * the leader's packets wait in the socket: we are the slow one. */
            if (ev->now_ms - zab->heard_ms >= limit * zab->tick_ms)
                zab__stop(
                    zab, up,
                    zab->phase == ZAB_BROADCAST &&
                            zab_learner_backlog(zab) >= zab_learner_backlog_high(zab)
                        ? "leader unread: our log is more than syncLimit behind (backpressure)"
                        : "leader silent");
        }
        break;
    case ZAB_PROPOSE:
        rc = leader_propose(zab, ev, up);
        if (rc != 0)
            return rc;
        break;
    case ZAB_SYNC_REQUEST:
        rc = leader_sync_request(zab, ev);
        if (rc != 0)
            return rc;
        break;
    case ZAB_DISCONNECTED:
        if (zab->role == ZAB_LEADING) {
            struct zab_learner *l = learner_find(zab, ev->disconnected.sid);
            if (l)
                *l = zab->learners[--zab->learners_len];
        } else if (zab->role != ZAB_LOOKING && ev->disconnected.sid == zab->leader_sid) {
            zab->role = ZAB_LOOKING; /* the connection is gone already: nothing to close */
            zab__stop(zab, up, "connection to the leader closed");
        }
        break;
    default:
        return ZAB_EINVAL;
    }
    if (zab->role == ZAB_LEADING && zab->serving)
        leader_syncs(zab);
    fill(zab, up, ev->now_ms);
    return 0;
}
