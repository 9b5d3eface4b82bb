/* SPDX-License-Identifier: Apache-2.0 */
/* ZAB after the election (zab/zab.h): Leader / LearnerHandler / Learner rules
 * one test each, then a deterministic simulation of a leader with 2 and 4
 * learners over a seeded network (delays, whole connections dropped), disks
 * that lose unsynced txns on a crash, and re-elections. `test_zab --seed S
 * --learners N` replays one run; `test_zab --planted` runs the simulation
 * with a planted bug (one ack taken for a quorum) and succeeds only if the
 * checks catch it. */
#include "check.h"
#include "proto/quorum.h"
#include "zab/zab.h"

#include <stdlib.h>
#include <string.h>

/* ---- rules, one at a time ---- */

#define TICK_MS     100
#define E(epoch, n) ZAB_ZXID(epoch, n)

static const int64_t voters3[] = {1, 2, 3};
static const int64_t voters5[] = {1, 2, 3, 4, 5};
static struct zab_update up;
static int64_t first_counter; /* zab_config.first_counter of the next init_zab */

static void init_zab(struct zab *z, int64_t me, const int64_t *voters, size_t n, size_t window)
{
    struct zab_config c = {.my_sid = me,
                           .voters = voters,
                           .voters_len = n,
                           .tick_ms = TICK_MS,
                           .init_limit = 10,
                           .sync_limit = 5,
                           .committed_log_max = window,
                           .outstanding_max = 8,
                           .first_counter = first_counter};
    CHECK(zab_init(z, &c) == 0);
}

static void step(struct zab *z, const struct zab_event *ev)
{
    CHECK_EQ_INT(zab_step(z, ev, &up), 0);
}

static void start(struct zab *z, int64_t now, enum zab_role role, int64_t leader, int64_t last,
                  int64_t accepted, int64_t current, const struct zab_txn *hist, size_t hist_len)
{
    struct zab_event ev = {.type = ZAB_START, .now_ms = now};
    ev.start.role = role;
    ev.start.leader_sid = leader;
    ev.start.last_zxid = last;
    ev.start.accepted_epoch = accepted;
    ev.start.current_epoch = current;
    ev.start.history = hist;
    ev.start.history_len = hist_len;
    step(z, &ev);
}

static uint8_t scratch[64];

static struct jute_buf i32_data(int32_t v)
{
    scratch[0] = (uint8_t)((uint32_t)v >> 24);
    scratch[1] = (uint8_t)((uint32_t)v >> 16);
    scratch[2] = (uint8_t)((uint32_t)v >> 8);
    scratch[3] = (uint8_t)v;
    return (struct jute_buf){scratch, 4};
}

static struct jute_buf learner_info(int64_t sid)
{
    for (int i = 0; i < 8; i++)
        scratch[i] = (uint8_t)((uint64_t)sid >> (56 - 8 * i));
    i32_data(QUORUM_PROTOCOL_VERSION);
    memmove(scratch + 8, scratch, 4);
    for (int i = 0; i < 8; i++)
        scratch[i] = (uint8_t)((uint64_t)sid >> (56 - 8 * i));
    memset(scratch + 12, 0, 8);
    return (struct jute_buf){scratch, 20};
}

/* A czk learner's: the same, then czk's trailer (it can roll over). */
static struct jute_buf czk_learner_info(int64_t sid)
{
    struct jute_buf b = learner_info(sid);
    uint32_t t = QUORUM_CZK_MAGIC | QUORUM_CZK_EPOCH_ROLL;
    for (int i = 0; i < 4; i++)
        scratch[20 + i] = (uint8_t)(t >> (24 - 8 * i));
    b.len = 24;
    return b;
}

static void recv(struct zab *z, int64_t now, int64_t from, int32_t type, int64_t zxid,
                 struct jute_buf data)
{
    struct zab_event ev = {.type = ZAB_RECEIVE, .now_ms = now};
    ev.receive.from = from;
    ev.receive.type = type;
    ev.receive.zxid = zxid;
    ev.receive.data = data;
    step(z, &ev);
}

static void recv0(struct zab *z, int64_t now, int64_t from, int32_t type, int64_t zxid)
{
    recv(z, now, from, type, zxid, (struct jute_buf){NULL, -1});
}

static void persisted(struct zab *z, int64_t now, int64_t zxid)
{
    struct zab_event ev = {.type = ZAB_PERSISTED, .now_ms = now};
    ev.persisted.zxid = zxid;
    step(z, &ev);
}

static void tick(struct zab *z, int64_t now)
{
    struct zab_event ev = {.type = ZAB_TICK, .now_ms = now};
    step(z, &ev);
}

static int propose(struct zab *z, int64_t now, const char *text)
{
    struct zab_event ev = {.type = ZAB_PROPOSE, .now_ms = now};
    ev.propose.zxid = zab_next_zxid(z);
    ev.propose.data = (struct jute_buf){(const uint8_t *)text, (int32_t)strlen(text)};
    return zab_step(z, &ev, &up);
}

static const struct zab_send *sent(int64_t to, int32_t type)
{
    for (size_t i = 0; i < up.sends_len; i++)
        if (up.sends[i].to == to && up.sends[i].type == type)
            return &up.sends[i];
    return NULL;
}

static size_t sent_count(int64_t to)
{
    size_t n = 0;
    for (size_t i = 0; i < up.sends_len; i++)
        n += up.sends[i].to == to;
    return n;
}

static bool closed(int64_t sid)
{
    for (size_t i = 0; i < up.closes_len; i++)
        if (up.closes[i] == sid)
            return true;
    return false;
}

static struct zab_txn hist[8];

/* A leader (sid 3 of `voters`) with a committed log of zxids `zxids`. */
static void leader_with(struct zab *z, const int64_t *voters, size_t n, const int64_t *zxids,
                        size_t len, size_t window, int64_t epoch)
{
    init_zab(z, 3, voters, n, window);
    for (size_t i = 0; i < len; i++)
        hist[i] = (struct zab_txn){zxids[i], {(const uint8_t *)"txn", 3}};
    start(z, 0, ZAB_LEADING, 3, len ? zxids[len - 1] : 0, epoch, epoch, hist, len);
}

/* Learner `sid` connects with acceptedEpoch `accepted` and acks the epoch
 * with (current, last). */
static void learner_joins(struct zab *z, int64_t now, int64_t sid, int64_t accepted,
                          int32_t current, int64_t last)
{
    recv(z, now, sid, QUORUM_FOLLOWERINFO, E(accepted, 0), learner_info(sid));
    recv(z, now, sid, QUORUM_ACKEPOCH, last, i32_data(current));
}

static void test_discovery_epoch_is_max_accepted_plus_one_once_a_quorum_connected(void)
{
    struct zab z;
    init_zab(&z, 3, voters5, 5, 4);
    start(&z, 0, ZAB_LEADING, 3, E(4, 2), 4, 4, NULL, 0);
    CHECK_EQ_INT(up.sends_len, 0);
    CHECK_EQ_INT(up.accepted_epoch, -1);
    CHECK_EQ_INT(up.commit_upto_zxid, E(4, 2)); /* the leader's log is its history */
    recv(&z, 10, 1, QUORUM_FOLLOWERINFO, E(6, 0), learner_info(1));
    CHECK_EQ_INT(up.sends_len, 0); /* 2 of 5: no quorum, the handler waits */
    recv(&z, 20, 2, QUORUM_FOLLOWERINFO, E(5, 0), learner_info(2));
    CHECK_EQ_INT(up.accepted_epoch, 7); /* max(4, 6, 5) + 1, written before LEADERINFO */
    const struct zab_send *s = sent(1, QUORUM_LEADERINFO);
    CHECK(s && s->zxid == E(7, 0) && s->payload == ZAB_PAYLOAD_I32 &&
          s->i32 == QUORUM_PROTOCOL_VERSION);
    CHECK(sent(2, QUORUM_LEADERINFO) != NULL);
    /* A late learner gets the chosen epoch at once, whatever it accepted. */
    recv(&z, 30, 4, QUORUM_FOLLOWERINFO, E(9, 0), learner_info(4));
    s = sent(4, QUORUM_LEADERINFO);
    CHECK(s && s->zxid == E(7, 0));
    CHECK_EQ_INT(up.accepted_epoch, -1);
    zab_deinit(&z);
}

static void test_learner_writes_accepted_epoch_then_ackepoch_with_current_epoch_or_minus_one(void)
{
    struct zab z;
    init_zab(&z, 1, voters3, 3, 4);
    start(&z, 0, ZAB_FOLLOWING, 3, E(2, 5), 2, 2, NULL, 0);
    const struct zab_send *s = sent(3, QUORUM_FOLLOWERINFO);
    CHECK(s && s->zxid == E(2, 0) && s->payload == ZAB_PAYLOAD_LEARNER_INFO);
    recv(&z, 5, 3, QUORUM_LEADERINFO, E(3, 0), i32_data(QUORUM_PROTOCOL_VERSION));
    CHECK_EQ_INT(up.accepted_epoch, 3);
    s = sent(3, QUORUM_ACKEPOCH);
    CHECK(s && s->zxid == E(2, 5) && s->payload == ZAB_PAYLOAD_I32 && s->i32 == 2);
    zab_deinit(&z);

    /* Already accepted this epoch: ACKEPOCH -1, nothing written. */
    init_zab(&z, 1, voters3, 3, 4);
    start(&z, 0, ZAB_FOLLOWING, 3, E(2, 5), 3, 2, NULL, 0);
    recv(&z, 5, 3, QUORUM_LEADERINFO, E(3, 0), i32_data(QUORUM_PROTOCOL_VERSION));
    CHECK_EQ_INT(up.accepted_epoch, -1);
    s = sent(3, QUORUM_ACKEPOCH);
    CHECK(s && s->i32 == -1);
    zab_deinit(&z);

    /* A leader's epoch below what we accepted: back to LOOKING. */
    init_zab(&z, 1, voters3, 3, 4);
    start(&z, 0, ZAB_FOLLOWING, 3, E(2, 5), 4, 2, NULL, 0);
    recv(&z, 5, 3, QUORUM_LEADERINFO, E(3, 0), i32_data(QUORUM_PROTOCOL_VERSION));
    CHECK(up.stopped && up.role == ZAB_LOOKING);
    CHECK(sent(3, QUORUM_ACKEPOCH) == NULL);
    zab_deinit(&z);
}

static void test_ackepoch_minus_one_does_not_count_and_leader_writes_current_epoch(void)
{
    struct zab z;
    init_zab(&z, 3, voters3, 3, 4);
    start(&z, 0, ZAB_LEADING, 3, E(1, 1), 1, 1, NULL, 0);
    recv(&z, 1, 1, QUORUM_FOLLOWERINFO, E(1, 0), learner_info(1));
    recv(&z, 1, 2, QUORUM_FOLLOWERINFO, E(1, 0), learner_info(2));
    recv(&z, 2, 1, QUORUM_ACKEPOCH, E(1, 1), i32_data(-1)); /* waitForEpochAck skips it */
    CHECK_EQ_INT(up.current_epoch, -1);
    CHECK(sent(1, QUORUM_NEWLEADER) == NULL);
    recv(&z, 3, 2, QUORUM_ACKEPOCH, E(1, 1), i32_data(1));
    CHECK_EQ_INT(up.current_epoch, 2);
    CHECK(sent(1, QUORUM_DIFF) && sent(2, QUORUM_DIFF)); /* both handlers wake */
    const struct zab_send *s = sent(2, QUORUM_NEWLEADER);
    CHECK(s && s->zxid == E(2, 0) && s->payload == ZAB_PAYLOAD_CONFIG);
    zab_deinit(&z);

    /* A learner ahead of the leader (isMoreRecentThan) is dropped. */
    init_zab(&z, 3, voters3, 3, 4);
    start(&z, 0, ZAB_LEADING, 3, E(1, 1), 1, 1, NULL, 0);
    recv(&z, 1, 1, QUORUM_FOLLOWERINFO, E(1, 0), learner_info(1));
    recv(&z, 2, 1, QUORUM_ACKEPOCH, E(1, 7), i32_data(1));
    CHECK(closed(1));
    CHECK_EQ_INT(up.current_epoch, -1);
    zab_deinit(&z);

    /* Once the epoch is established, one that joins late and is ahead (an
     * old leader with unacked txns) is synced, not dropped: TRUNC to the
     * last txn the leader has, as Leader.waitForEpochAck returns early. */
    leader_with(&z, voters3, 3, (const int64_t[]){E(1, 1), E(1, 2)}, 2, 4, 1);
    learner_joins(&z, 1, 1, 1, 1, E(1, 2));
    recv0(&z, 2, 1, QUORUM_ACK, E(2, 0));
    CHECK(up.serving);
    learner_joins(&z, 3, 2, 1, 1, E(1, 5));
    CHECK(!closed(2));
    const struct zab_send *t = sent(2, QUORUM_TRUNC);
    CHECK(t && t->zxid == E(1, 2));
    zab_deinit(&z);
}

/* The sync a learner at `peer` gets from a leader whose committed log is
 * `zxids` (window 4): the packet types to it in order, as a string. */
static const char *sync_of(const int64_t *zxids, size_t len, int64_t peer, int64_t *op_zxid)
{
    static char out[64];
    struct zab z;
    leader_with(&z, voters3, 3, zxids, len, 4, ZAB_EPOCH_OF(zxids[len - 1]) + 1);
    learner_joins(&z, 1, 1, 1, 1, peer);
    size_t k = 0;
    *op_zxid = -2;
    for (size_t i = 0; i < up.sends_len && k + 1 < sizeof(out); i++) {
        const struct zab_send *s = &up.sends[i];
        if (s->to != 1)
            continue;
        char c = s->type == QUORUM_DIFF        ? 'D'
                 : s->type == QUORUM_TRUNC     ? 'T'
                 : s->type == QUORUM_SNAP      ? 'S'
                 : s->type == QUORUM_PROPOSAL  ? 'p'
                 : s->type == QUORUM_COMMIT    ? 'c'
                 : s->type == QUORUM_NEWLEADER ? 'N'
                                               : '?';
        if (c == 'D' || c == 'T' || c == 'S')
            *op_zxid = s->zxid;
        out[k++] = c;
    }
    out[k] = 0;
    zab_deinit(&z);
    return out;
}

static void test_sync_diff_trunc_snap_as_sync_follower_chooses(void)
{
    /* Six txns, window 4: the committed log holds 1_3..1_6. */
    const int64_t h[] = {E(1, 1), E(1, 2), E(1, 3), E(1, 4), E(1, 5), E(1, 6)};
    int64_t op;
    /* lastProcessedZxid == peerLastZxid: an empty DIFF. */
    CHECK(strcmp(sync_of(h, 6, E(1, 6), &op), "DN") == 0 && op == E(1, 6));
    /* Inside the window: DIFF to maxCommittedLog, then PROPOSAL+COMMIT pairs. */
    CHECK(strcmp(sync_of(h, 6, E(1, 4), &op), "DpcpcN") == 0 && op == E(1, 6));
    /* Ahead of maxCommittedLog: TRUNC to it. */
    CHECK(strcmp(sync_of(h, 6, E(1, 9), &op), "TN") == 0 && op == E(1, 6));
    /* Behind minCommittedLog: SNAP at lastProcessedZxid. */
    CHECK(strcmp(sync_of(h, 6, E(1, 1), &op), "SN") == 0 && op == E(1, 6));
    /* A fresh learner (zxid 0) below the window: SNAP. */
    CHECK(strcmp(sync_of(h, 6, 0, &op), "SN") == 0);
    /* A zxid we never had, inside the window, same epoch: TRUNC to the one
     * before it, then the rest. */
    const int64_t g[] = {E(1, 1), E(1, 2), E(1, 5), E(1, 6)};
    CHECK(strcmp(sync_of(g, 4, E(1, 3), &op), "TpcpcN") == 0 && op == E(1, 2));
    /* ... but a TRUNC never crosses an epoch: SNAP. */
    const int64_t x[] = {E(1, 1), E(1, 2), E(2, 1), E(2, 2)};
    CHECK(strcmp(sync_of(x, 4, E(1, 3), &op), "SN") == 0 && op == E(2, 2));
    /* A peer at a new epoch's first zxid: DIFF and everything after it. */
    CHECK(strcmp(sync_of(x, 4, E(2, 0), &op), "DpcpcN") == 0 && op == E(2, 2));
}

/* A leader (3 of 1,2,3) serving with learners 1 and 2 synced. */
static void serving_leader(struct zab *z)
{
    leader_with(z, voters3, 3, NULL, 0, 4, 0);
    learner_joins(z, 1, 1, 0, 0, 0);
    learner_joins(z, 1, 2, 0, 0, 0);
    recv0(z, 2, 1, QUORUM_ACK, E(1, 0));
    CHECK(up.serving && sent(1, QUORUM_UPTODATE));
    recv0(z, 2, 2, QUORUM_ACK, E(1, 0));
    CHECK(sent(2, QUORUM_UPTODATE));
}

static void test_newleader_quorum_then_uptodate(void)
{
    struct zab z;
    leader_with(&z, voters5, 5, NULL, 0, 4, 0);
    recv(&z, 1, 1, QUORUM_FOLLOWERINFO, 0, learner_info(1));
    recv(&z, 1, 2, QUORUM_FOLLOWERINFO, 0, learner_info(2));
    CHECK(sent(1, QUORUM_LEADERINFO) && sent(2, QUORUM_LEADERINFO));
    recv(&z, 1, 1, QUORUM_ACKEPOCH, 0, i32_data(0));
    CHECK(sent(1, QUORUM_NEWLEADER) == NULL); /* waitForEpochAck: 2 of 5 */
    recv(&z, 1, 2, QUORUM_ACKEPOCH, 0, i32_data(0));
    CHECK(sent(1, QUORUM_NEWLEADER) && sent(2, QUORUM_NEWLEADER));
    recv0(&z, 2, 1, QUORUM_ACK, E(1, 0));
    CHECK(!up.serving && sent(1, QUORUM_UPTODATE) == NULL); /* 2 of 5 */
    CHECK_EQ_INT(zab_next_zxid(&z), -1);
    recv0(&z, 3, 2, QUORUM_ACK, E(1, 0));
    CHECK(up.serving && up.became_serving && up.established_epoch == 1);
    CHECK(sent(1, QUORUM_UPTODATE) && sent(2, QUORUM_UPTODATE));
    CHECK_EQ_INT(zab_next_zxid(&z), E(1, 1));
    /* A learner that acks after the quorum formed gets UPTODATE at once. */
    learner_joins(&z, 4, 4, 0, 0, 0);
    recv0(&z, 5, 4, QUORUM_ACK, E(1, 0));
    CHECK(sent(4, QUORUM_UPTODATE));
    zab_deinit(&z);
}

static void test_commit_in_zxid_order_once_a_quorum_persisted(void)
{
    struct zab z;
    serving_leader(&z);
    CHECK_EQ_INT(propose(&z, 10, "a"), 0);
    CHECK(up.appends_len == 1 && up.appends[0].zxid == E(1, 1));
    CHECK(sent(1, QUORUM_PROPOSAL) && sent(2, QUORUM_PROPOSAL));
    CHECK_EQ_INT(propose(&z, 10, "b"), 0);
    recv0(&z, 11, 1, QUORUM_ACK, E(1, 2));
    persisted(&z, 12, E(1, 2)); /* 1_2: leader + 1, but 1_1 has the leader only */
    CHECK_EQ_INT(up.commit_upto_zxid, 0);
    CHECK(sent(1, QUORUM_COMMIT) == NULL);
    recv0(&z, 13, 2, QUORUM_ACK, E(1, 1));
    CHECK_EQ_INT(up.commit_upto_zxid, E(1, 2));
    CHECK_EQ_INT(up.sends_len, 4);
    CHECK(up.sends[0].type == QUORUM_COMMIT && up.sends[0].zxid == E(1, 1));
    CHECK(up.sends[3].type == QUORUM_COMMIT && up.sends[3].zxid == E(1, 2));
    /* Acks of committed zxids and of UPTODATE are ignored. */
    recv0(&z, 14, 1, QUORUM_ACK, E(1, 1));
    recv0(&z, 14, 1, QUORUM_ACK, E(1, 0));
    CHECK_EQ_INT(up.sends_len, 0);
    zab_deinit(&z);
}

static void test_propose_is_bounded(void)
{
    struct zab z;
    serving_leader(&z);
    for (int i = 0; i < 8; i++)
        CHECK_EQ_INT(propose(&z, 10, "x"), 0);
    CHECK_EQ_INT(propose(&z, 10, "x"), ZAB_EBUSY);
    struct zab_event ev = {.type = ZAB_PROPOSE, .now_ms = 10};
    ev.propose.zxid = E(1, 99);
    CHECK_EQ_INT(zab_step(&z, &ev, &up), ZAB_EINVAL);
    zab_deinit(&z);
    init_zab(&z, 1, voters3, 3, 4);
    CHECK_EQ_INT(propose(&z, 0, "x"), ZAB_ENOTREADY);
    zab_deinit(&z);
}

/* A follower (1) of leader 3, synced by a DIFF with two txns, epoch 2. */
static void synced_follower(struct zab *z, bool persist)
{
    init_zab(z, 1, voters3, 3, 4);
    start(z, 0, ZAB_FOLLOWING, 3, E(1, 1), 1, 1, NULL, 0);
    recv(z, 1, 3, QUORUM_LEADERINFO, E(2, 0), i32_data(QUORUM_PROTOCOL_VERSION));
    recv0(z, 2, 3, QUORUM_DIFF, E(1, 3));
    recv(z, 2, 3, QUORUM_PROPOSAL, E(1, 2), (struct jute_buf){(const uint8_t *)"b", 1});
    CHECK(up.appends_len == 1 && up.appends[0].zxid == E(1, 2));
    recv0(z, 2, 3, QUORUM_COMMIT, E(1, 2));
    CHECK_EQ_INT(up.commit_upto_zxid, E(1, 2));
    recv(z, 2, 3, QUORUM_PROPOSAL, E(1, 3), (struct jute_buf){(const uint8_t *)"c", 1});
    recv0(z, 2, 3, QUORUM_NEWLEADER, E(2, 0));
    CHECK_EQ_INT(up.current_epoch, -1); /* ZOOKEEPER-4646: not before 1_2, 1_3 are durable */
    CHECK(sent(3, QUORUM_ACK) == NULL); /* 1_2, 1_3 not durable yet */
    /* Learner.syncWithLeader ignores PINGs until UPTODATE: an answer before
     * the ACK of NEWLEADER makes an Apache leader drop the learner */
    recv0(z, 2, 3, QUORUM_PING, E(2, 0));
    CHECK(sent(3, QUORUM_PING) == NULL);
    if (!persist)
        return;
    persisted(z, 3, E(1, 3));
    CHECK_EQ_INT(up.current_epoch, 2);
    CHECK(up.sends_len >= 1 && up.sends[0].type == QUORUM_ACK && up.sends[0].zxid == E(2, 0));
    recv0(z, 4, 3, QUORUM_UPTODATE, -1);
    CHECK(up.serving && up.became_serving && up.established_epoch == 2);
    const struct zab_send *s = sent(3, QUORUM_ACK);
    CHECK(s && s->zxid == E(2, 0));
}

static void test_follower_acks_newleader_only_after_the_synced_txns_are_durable(void)
{
    struct zab z;
    synced_follower(&z, false);
    persisted(&z, 3, E(1, 2));
    CHECK(sent(3, QUORUM_ACK) == NULL);
    CHECK_EQ_INT(up.current_epoch, -1);
    persisted(&z, 3, E(1, 3));
    CHECK(sent(3, QUORUM_ACK) != NULL);
    CHECK_EQ_INT(up.current_epoch, 2);
    recv0(&z, 4, 3, QUORUM_COMMIT, E(1, 3));
    CHECK_EQ_INT(up.commit_upto_zxid, E(1, 3));
    zab_deinit(&z);
}

static void test_follower_acks_a_proposal_only_after_it_is_persisted(void)
{
    struct zab z;
    synced_follower(&z, true);
    recv(&z, 5, 3, QUORUM_PROPOSAL, E(2, 1), (struct jute_buf){(const uint8_t *)"d", 1});
    CHECK(up.appends_len == 1 && sent(3, QUORUM_ACK) == NULL);
    recv(&z, 5, 3, QUORUM_PROPOSAL, E(2, 2), (struct jute_buf){(const uint8_t *)"e", 1});
    persisted(&z, 6, E(2, 1));
    CHECK(up.sends_len == 1 && up.sends[0].type == QUORUM_ACK && up.sends[0].zxid == E(2, 1));
    recv0(&z, 7, 3, QUORUM_COMMIT, E(2, 1));
    CHECK_EQ_INT(up.commit_upto_zxid, E(2, 1));
    persisted(&z, 8, E(2, 2));
    CHECK(up.sends_len == 1 && up.sends[0].zxid == E(2, 2));
    /* A COMMIT of a txn never proposed to us: the leader is broken. */
    recv0(&z, 9, 3, QUORUM_COMMIT, E(2, 9));
    CHECK(up.stopped);
    zab_deinit(&z);
}

static void test_learner_trunc_and_snap_are_outputs(void)
{
    struct zab z;
    init_zab(&z, 1, voters3, 3, 4);
    start(&z, 0, ZAB_FOLLOWING, 3, E(1, 9), 1, 1, NULL, 0);
    recv(&z, 1, 3, QUORUM_LEADERINFO, E(2, 0), i32_data(QUORUM_PROTOCOL_VERSION));
    recv0(&z, 2, 3, QUORUM_TRUNC, E(1, 6));
    CHECK_EQ_INT(up.truncate_after_zxid, E(1, 6));
    CHECK_EQ_INT(up.commit_upto_zxid, E(1, 6));
    recv0(&z, 2, 3, QUORUM_NEWLEADER, E(2, 0));
    CHECK(sent(3, QUORUM_ACK) != NULL); /* the cut log is durable as it is */
    CHECK_EQ_INT(up.current_epoch, 2);
    zab_deinit(&z);

    init_zab(&z, 1, voters3, 3, 4);
    start(&z, 0, ZAB_FOLLOWING, 3, 0, 0, 0, NULL, 0);
    recv(&z, 1, 3, QUORUM_LEADERINFO, E(2, 0), i32_data(QUORUM_PROTOCOL_VERSION));
    recv0(&z, 2, 3, QUORUM_SNAP, E(1, 6));
    CHECK_EQ_INT(up.snapshot_zxid, E(1, 6));
    CHECK_EQ_INT(up.commit_upto_zxid, E(1, 6));
    zab_deinit(&z);
}

static void test_leader_pings_every_half_tick_and_drops_silent_learners(void)
{
    struct zab z;
    serving_leader(&z);
    tick(&z, 50);
    CHECK(sent(1, QUORUM_PING) && sent(2, QUORUM_PING));
    CHECK_EQ_INT(up.deadline_ms, 100);
    /* 1 keeps answering, 2 is silent past syncLimit (5 ticks). */
    int64_t now = 50;
    for (; now <= 800; now += 50) {
        recv0(&z, now, 1, QUORUM_PING, 0);
        tick(&z, now);
        if (closed(2))
            break;
    }
    CHECK(closed(2) && now > 2 + 5 * TICK_MS && now <= 2 + 6 * TICK_MS);
    CHECK(up.role == ZAB_LEADING); /* leader + 1 is still a quorum */
    zab_deinit(&z);
}

static void test_leader_steps_down_without_a_synced_quorum(void)
{
    struct zab z;
    serving_leader(&z);
    bool down = false;
    for (int64_t now = 50; now <= 2000 && !down; now += 50) {
        tick(&z, now);
        down = up.stopped;
    }
    CHECK(down && up.role == ZAB_LOOKING && up.reason != NULL);
    CHECK(closed(1) || z.learners_len == 0);
    zab_deinit(&z);

    /* A leader whose quorum never connects gives up after initLimit. */
    leader_with(&z, voters3, 3, NULL, 0, 4, 0);
    tick(&z, 10 * TICK_MS - 1);
    CHECK(!up.stopped);
    tick(&z, 10 * TICK_MS);
    CHECK(up.stopped && strstr(up.reason, "epoch from quorum"));
    zab_deinit(&z);
}

/* Leader.propose: a txn whose counter would be all ones is not proposed:
 * the leader steps down at it, appending nothing (the txn before it was
 * appended and stays: the ring's entries are not used after the stop).
 * So with an Apache learner (no czk trailer in its LearnerInfo). */
static void test_counter_exhaustion_steps_down_before_proposing(void)
{
    struct zab z;
    first_counter = 0xfffffffd;
    serving_leader(&z);
    first_counter = 0;
    CHECK_EQ_INT(zab_next_zxid(&z), E(1, 0xfffffffd));
    CHECK_EQ_INT(propose(&z, 10, "a"), 0);
    CHECK_EQ_INT(propose(&z, 10, "b"), 0);
    CHECK(up.appends_len == 1 && up.appends[0].zxid == E(1, 0xfffffffe));
    CHECK(!up.stopped);
    CHECK_EQ_INT(propose(&z, 10, "c"), 0);
    CHECK_EQ_INT(up.appends_len, 0);
    CHECK(up.stopped && up.role == ZAB_LOOKING && strstr(up.reason, "zxid counter is exhausted"));
    zab_deinit(&z);
}

/* A leader (3 of 1,2,3) serving in epoch 1 with czk learners 1 and 2. */
static void serving_leader_czk(struct zab *z)
{
    leader_with(z, voters3, 3, NULL, 0, 4, 0);
    for (int64_t sid = 1; sid <= 2; sid++) {
        recv(z, 1, sid, QUORUM_FOLLOWERINFO, E(0, 0), czk_learner_info(sid));
        recv(z, 1, sid, QUORUM_ACKEPOCH, 0, i32_data(0));
    }
    recv0(z, 2, 1, QUORUM_ACK, E(1, 0));
    recv0(z, 2, 2, QUORUM_ACK, E(1, 0));
    CHECK(up.serving && sent(2, QUORUM_UPTODATE));
}

/* czk's roll-over: after counter fffffffe every synced learner gets
 * LEADERINFO(next epoch); the next epoch's first txn waits (ZAB_EBUSY)
 * until a quorum, the leader counting itself once its log is durable to
 * there, has written the epoch; then it goes on, nobody dropped. */
static void test_counter_exhaustion_starts_the_next_epoch_in_place_with_czk_learners(void)
{
    struct zab z;
    first_counter = 0xfffffffd;
    serving_leader_czk(&z);
    first_counter = 0;
    CHECK_EQ_INT(propose(&z, 10, "a"), 0);
    CHECK(sent(1, QUORUM_LEADERINFO) == NULL);
    CHECK_EQ_INT(propose(&z, 10, "b"), 0);
    CHECK(up.appends_len == 1 && up.appends[0].zxid == E(1, 0xfffffffe));
    const struct zab_send *li = sent(1, QUORUM_LEADERINFO);
    CHECK(li && li->zxid == E(2, 0) && li->i32 == QUORUM_PROTOCOL_VERSION);
    CHECK(sent(2, QUORUM_LEADERINFO) != NULL);
    /* after the PROPOSAL in the stream */
    CHECK(up.sends[0].type == QUORUM_PROPOSAL && up.sends[0].to == 1);
    CHECK(!up.stopped && up.closes_len == 0);
    CHECK_EQ_INT(up.current_epoch, -1); /* not before its own log is durable */
    CHECK_EQ_INT(zab_next_zxid(&z), E(2, 0xfffffffd));
    CHECK_EQ_INT(propose(&z, 11, "c"), ZAB_EBUSY);
    /* a learner that took it; the leader's own log is not durable yet */
    recv(&z, 12, 1, QUORUM_ACKEPOCH, E(1, 0xfffffffe), i32_data(2));
    CHECK(!up.epoch_rolled && !closed(1));
    persisted(&z, 13, E(1, 0xfffffffe));
    CHECK_EQ_INT(up.accepted_epoch, 2);
    CHECK_EQ_INT(up.current_epoch, 2);
    CHECK(up.epoch_rolled && up.established_epoch == 2 && up.serving && !up.became_serving);
    CHECK_EQ_INT(propose(&z, 14, "c"), 0);
    CHECK(up.appends_len == 1 && up.appends[0].zxid == E(2, 0xfffffffd));
    CHECK(sent(1, QUORUM_PROPOSAL) && sent(2, QUORUM_PROPOSAL));
    /* the other learner's ACKEPOCH, late: moot, not a protocol error */
    recv(&z, 15, 2, QUORUM_ACKEPOCH, E(1, 0xfffffffe), i32_data(2));
    CHECK(!closed(2) && !up.stopped);
    /* an ACKEPOCH of any other epoch while serving is */
    recv(&z, 16, 2, QUORUM_ACKEPOCH, E(1, 0xfffffffe), i32_data(7));
    CHECK(closed(2));
    zab_deinit(&z);
}

/* A learner still syncing when it starts is dropped (it syncs again); one
 * that connects during it waits for LEADERINFO until it ends, then gets the
 * next epoch; without a quorum within syncLimit the leader steps down. */
static void test_roll_over_drops_a_syncing_learner_holds_a_new_one_and_times_out(void)
{
    struct zab z;
    first_counter = 0xfffffffe;
    init_zab(&z, 3, voters5, 5, 4);
    first_counter = 0;
    start(&z, 0, ZAB_LEADING, 3, 0, 0, 0, NULL, 0);
    recv(&z, 1, 1, QUORUM_FOLLOWERINFO, E(0, 0), czk_learner_info(1));
    recv(&z, 1, 2, QUORUM_FOLLOWERINFO, E(0, 0), czk_learner_info(2)); /* 3 of 5 */
    recv(&z, 1, 1, QUORUM_ACKEPOCH, 0, i32_data(0));
    recv(&z, 1, 2, QUORUM_ACKEPOCH, 0, i32_data(0));
    recv0(&z, 2, 1, QUORUM_ACK, E(1, 0));
    recv0(&z, 2, 2, QUORUM_ACK, E(1, 0));
    CHECK(up.serving);
    recv(&z, 3, 4, QUORUM_FOLLOWERINFO, E(0, 0), czk_learner_info(4));
    recv(&z, 3, 4, QUORUM_ACKEPOCH, 0, i32_data(0)); /* synced, NEWLEADER not acked */
    CHECK(sent(4, QUORUM_NEWLEADER) != NULL);
    CHECK_EQ_INT(propose(&z, 10, "a"), 0);
    CHECK(closed(4) && !closed(1) && !closed(2));
    CHECK(sent(1, QUORUM_LEADERINFO) && sent(4, QUORUM_LEADERINFO) == NULL);
    recv(&z, 11, 5, QUORUM_FOLLOWERINFO, E(1, 0), czk_learner_info(5));
    CHECK(sent(5, QUORUM_LEADERINFO) == NULL); /* held */
    persisted(&z, 12, E(1, 0xfffffffe));
    CHECK(!up.epoch_rolled); /* 3 of 5 needed: the leader alone */
    recv(&z, 13, 1, QUORUM_ACKEPOCH, E(1, 0xfffffffe), i32_data(2));
    recv(&z, 14, 2, QUORUM_ACKEPOCH, E(1, 0xfffffffe), i32_data(2));
    CHECK(up.epoch_rolled && up.established_epoch == 2);
    const struct zab_send *li = sent(5, QUORUM_LEADERINFO);
    CHECK(li && li->zxid == E(2, 0));
    zab_deinit(&z);

    /* Nobody answers: syncLimit (5 ticks) later the leader steps down. */
    first_counter = 0xfffffffe;
    serving_leader_czk(&z);
    first_counter = 0;
    CHECK_EQ_INT(propose(&z, 10, "a"), 0);
    persisted(&z, 11, E(1, 0xfffffffe));
    CHECK(!up.epoch_rolled && up.deadline_ms <= 10 + 5 * TICK_MS);
    for (int64_t t = 60; t < 10 + 5 * TICK_MS; t += 50) {
        recv0(&z, t, 1, QUORUM_PING, E(1, 0xfffffffe));
        recv0(&z, t, 2, QUORUM_PING, E(1, 0xfffffffe));
        tick(&z, t);
        CHECK(!up.stopped);
    }
    tick(&z, 10 + 5 * TICK_MS);
    CHECK(up.stopped && strstr(up.reason, "did not take the next epoch"));
    zab_deinit(&z);
}

/* The learner's side: its log durable first (drain_log), every proposal
 * before it ACKed, the epoch written, then ACKEPOCH; it goes on serving and
 * takes the next epoch's proposals. Any other epoch while serving stops it. */
static void test_learner_takes_the_next_epoch_in_place(void)
{
    struct zab z;
    synced_follower(&z, true);
    recv(&z, 5, 3, QUORUM_PROPOSAL, E(2, 1), (struct jute_buf){(const uint8_t *)"d", 1});
    CHECK(sent(3, QUORUM_ACK) == NULL);
    recv(&z, 6, 3, QUORUM_LEADERINFO, E(3, 0), i32_data(QUORUM_PROTOCOL_VERSION));
    CHECK(up.drain_log && up.accepted_epoch == 3 && up.current_epoch == 3);
    CHECK(up.epoch_rolled && up.established_epoch == 3 && up.serving && !up.stopped);
    CHECK(up.sends_len == 2 && up.sends[0].type == QUORUM_ACK && up.sends[0].zxid == E(2, 1));
    CHECK(up.sends[1].type == QUORUM_ACKEPOCH && up.sends[1].zxid == E(2, 1) &&
          up.sends[1].i32 == 3);
    recv(&z, 7, 3, QUORUM_PROPOSAL, E(3, 1), (struct jute_buf){(const uint8_t *)"e", 1});
    CHECK(up.appends_len == 1 && !up.stopped);
    persisted(&z, 8, E(3, 1));
    CHECK(sent(3, QUORUM_ACK) && sent(3, QUORUM_ACK)->zxid == E(3, 1));
    recv(&z, 9, 3, QUORUM_LEADERINFO, E(5, 0), i32_data(QUORUM_PROTOCOL_VERSION));
    CHECK(up.stopped && !up.drain_log && up.current_epoch == -1);
    zab_deinit(&z);
}

/* A reconfig in force, the leader a voter still: acks, quorum waits and
 * learners carry over to the new voters' places; a voter added counts from
 * now on, one removed no more. */
static void test_voters_update_carries_acks_over(void)
{
    struct zab z;
    serving_leader(&z); /* 3 leads 1, 2 */
    CHECK_EQ_INT(propose(&z, 10, "a"), 0);
    recv0(&z, 11, 1, QUORUM_ACK, E(1, 1)); /* no quorum: 3 has not persisted */
    CHECK_EQ_INT(up.commit_upto_zxid, 0);
    const int64_t bad[] = {1, 1};
    CHECK_EQ_INT(zab_voters_update(&z, bad, 2), ZAB_EINVAL);
    CHECK_EQ_INT(zab_voters_update(&z, voters5, 0), ZAB_EINVAL);
    /* 2 leaves, 4 and 5 join: {4, 3, 1, 5}; 1's ack and its learner carry over */
    const int64_t next[] = {4, 3, 1, 5};
    CHECK_EQ_INT(zab_voters_update(&z, next, 4), 0);
    CHECK(z.my_voter == 1 && z.voters_len == 4);
    persisted(&z, 12, E(1, 1));
    CHECK_EQ_INT(up.commit_upto_zxid, 0);  /* 3 and 1 of 4: no majority */
    recv0(&z, 13, 2, QUORUM_ACK, E(1, 1)); /* 2 counts no more */
    CHECK_EQ_INT(up.commit_upto_zxid, 0);
    recv(&z, 14, 4, QUORUM_FOLLOWERINFO, E(1, 0), learner_info(4));
    recv(&z, 14, 4, QUORUM_ACKEPOCH, 0, i32_data(1));
    recv0(&z, 15, 4, QUORUM_ACK, E(1, 0)); /* NEWLEADER's */
    CHECK(sent(4, QUORUM_UPTODATE) != NULL);
    recv0(&z, 16, 4, QUORUM_ACK, E(1, 1));
    CHECK_EQ_INT(up.commit_upto_zxid, E(1, 1)); /* 3, 1, 4 of 4 */
    zab_deinit(&z);
}

/* Found by czk-sim (seed 5, 5 members): a learner that connects again while
 * the leader still holds its old connection. The node closes the old one when
 * the new one introduces itself (one connection per sid); ZAB must not ask it
 * to close that sid, which is now the new connection, or the learner is cut
 * off at every attempt. */
static void test_learner_reconnecting_is_not_closed(void)
{
    struct zab z;
    serving_leader(&z);
    recv(&z, 20, 1, QUORUM_FOLLOWERINFO, E(1, 0), learner_info(1));
    CHECK(!closed(1));
    CHECK(sent(1, QUORUM_LEADERINFO) != NULL);
    CHECK_EQ_INT(z.learners_len, 2);
    zab_deinit(&z);
}

/* Found by czk-sim: a learner acked a proposal, connected again and was sent
 * TRUNC below it (the proposal was not committed yet), so its copy is gone
 * until it logs the proposal again. Its old ack must not count: here it
 * would have made a quorum with the leader's and committed a txn that only
 * the leader held. */
static void test_ack_from_a_previous_connection_does_not_count_after_resync(void)
{
    struct zab z;
    serving_leader(&z);
    CHECK_EQ_INT(propose(&z, 10, "a"), 0);
    recv0(&z, 11, 1, QUORUM_ACK, E(1, 1));
    CHECK_EQ_INT(up.commit_upto_zxid, 0); /* the leader has not persisted it */
    recv(&z, 20, 1, QUORUM_FOLLOWERINFO, E(1, 0), learner_info(1));
    recv(&z, 20, 1, QUORUM_ACKEPOCH, E(1, 1), i32_data(-1));
    const struct zab_send *t = sent(1, QUORUM_TRUNC);
    CHECK(t && t->zxid == 0);
    CHECK(sent(1, QUORUM_PROPOSAL) && sent(1, QUORUM_PROPOSAL)->zxid == E(1, 1));
    persisted(&z, 21, E(1, 1));
    CHECK_EQ_INT(up.commit_upto_zxid, 0);  /* the leader's copy alone */
    recv0(&z, 22, 1, QUORUM_ACK, E(1, 0)); /* NEWLEADER */
    CHECK(sent(1, QUORUM_UPTODATE) != NULL);
    recv0(&z, 23, 1, QUORUM_ACK, E(1, 1)); /* logged again */
    CHECK_EQ_INT(up.commit_upto_zxid, E(1, 1));
    zab_deinit(&z);
}

/* Found by test_ensemble_history.py (an Apache 3.8 follower restarted under
 * load): its SyncThread ACKed a txn of its sync before its ACK of NEWLEADER.
 * The learner stays; the ACK of NEWLEADER that follows brings UPTODATE. */
static void test_txn_ack_before_the_ack_of_newleader_keeps_the_learner(void)
{
    struct zab z;
    serving_leader(&z);
    CHECK_EQ_INT(propose(&z, 10, "a"), 0);
    recv(&z, 20, 1, QUORUM_FOLLOWERINFO, E(1, 0), learner_info(1));
    recv(&z, 20, 1, QUORUM_ACKEPOCH, E(1, 1), i32_data(-1));
    CHECK(sent(1, QUORUM_PROPOSAL) && sent(1, QUORUM_NEWLEADER));
    recv0(&z, 21, 1, QUORUM_ACK, E(1, 1)); /* the sync's txn, logged */
    CHECK(!closed(1));
    CHECK(sent(1, QUORUM_UPTODATE) == NULL);
    recv0(&z, 22, 1, QUORUM_ACK, E(1, 0)); /* NEWLEADER */
    CHECK(sent(1, QUORUM_UPTODATE) != NULL);
    /* an ACK of no txn we have still drops it */
    recv(&z, 30, 2, QUORUM_FOLLOWERINFO, E(1, 0), learner_info(2));
    recv(&z, 30, 2, QUORUM_ACKEPOCH, E(1, 1), i32_data(-1));
    recv0(&z, 31, 2, QUORUM_ACK, E(1, 7));
    CHECK(closed(2));
    zab_deinit(&z);
}

static void test_leader_drops_a_learner_whose_acks_lag(void)
{
    struct zab z;
    serving_leader(&z);
    CHECK_EQ_INT(propose(&z, 100, "a"), 0);
    bool dropped = false;
    for (int64_t now = 150; now <= 1000 && !dropped; now += 50) {
        recv0(&z, now, 1, QUORUM_PING, 0); /* alive, never acks */
        recv0(&z, now, 2, QUORUM_PING, 0);
        recv0(&z, now, 2, QUORUM_ACK, E(1, 1));
        tick(&z, now);
        dropped = closed(1);
        CHECK(!dropped || now > 100 + 5 * TICK_MS);
    }
    CHECK(dropped);
    zab_deinit(&z);
}

static void serving_leader_acked(struct zab *z);

/* One proposal at `now`, acked by follower 2 and the leader: committed
 * whatever follower 1 does. */
static int64_t propose_committed_without_1(struct zab *z, int64_t now)
{
    int64_t zxid = zab_next_zxid(z);
    CHECK_EQ_INT(propose(z, now, "p"), 0);
    recv0(z, now, 2, QUORUM_ACK, zxid);
    persisted(z, now, zxid);
    CHECK_EQ_INT(up.commit_upto_zxid, zxid);
    return zxid;
}

static bool closed_for(int64_t sid, const char *why)
{
    for (size_t i = 0; i < up.closes_len; i++)
        if (up.closes[i] == sid)
            return up.close_reasons[i] && strstr(up.close_reasons[i], why);
    return false;
}

/* LearnerHandler.SyncLimitCheck: follower 1 keeps answering PINGs but
 * stops acking while 2 acks, so every proposal commits without it and the
 * committed log (4 txns here) forgets them. 1 is dropped once its oldest
 * unacked proposal is older than syncLimit x tickTime (500 ms), not before
 * (and at most a grain, syncLimit/8, plus a tick step later). */
static void test_sync_limit_check_drops_a_follower_that_stops_acking_committed_txns(void)
{
    struct zab z;
    serving_leader_acked(&z);
    int64_t first_unacked_ms = 350, dropped_ms = -1;
    for (int64_t now = 100; now <= 1500 && dropped_ms < 0; now += 50) {
        int64_t zxid = propose_committed_without_1(&z, now);
        if (now < first_unacked_ms)
            recv0(&z, now, 1, QUORUM_ACK, zxid);
        recv0(&z, now, 1, QUORUM_PING, 0);
        recv0(&z, now, 2, QUORUM_PING, 0);
        tick(&z, now);
        CHECK(!closed(2));
        if (closed(1)) {
            CHECK(closed_for(1, "transaction timeout"));
            dropped_ms = now;
        }
    }
    CHECK(dropped_ms > first_unacked_ms + 5 * TICK_MS);
    CHECK(dropped_ms <= first_unacked_ms + 5 * TICK_MS + 5 * TICK_MS / 8 + 50);
    CHECK(up.role == ZAB_LEADING && z.learners_len == 1);
    /* The leader and 2 go on committing. */
    propose_committed_without_1(&z, dropped_ms + 10);
    zab_deinit(&z);
}

/* A follower that acks each proposal 400-450 ms after it was sent, in
 * bursts, within syncLimit x tickTime (500 ms): never dropped. */
static void test_sync_limit_check_keeps_a_follower_that_acks_late_within_the_limit(void)
{
    struct zab z;
    serving_leader_acked(&z);
    int64_t zxids[64];
    int64_t sent_ms[64];
    size_t n = 0, acked = 0;
    for (int64_t now = 100; now <= 3000; now += 25) {
        if (n < 64 && now <= 2000) {
            sent_ms[n] = now;
            zxids[n++] = propose_committed_without_1(&z, now);
        }
        /* every 50 ms, ack everything sent at least 400 ms ago */
        if (now % 50 == 0)
            while (acked < n && now - sent_ms[acked] >= 400)
                acked++;
        if (now % 50 == 0 && acked > 0)
            recv0(&z, now, 1, QUORUM_ACK, zxids[acked - 1]);
        recv0(&z, now, 1, QUORUM_PING, 0);
        recv0(&z, now, 2, QUORUM_PING, 0);
        tick(&z, now);
        CHECK(!closed(1) && !closed(2));
    }
    CHECK_EQ_INT(acked, n);
    CHECK(z.learners_len == 2 && z.learners[0].lag_marks_len == 0 &&
          z.learners[1].lag_marks_len == 0);
    zab_deinit(&z);
}

/* Observers are sent INFORMs, which they never ack: SyncLimitCheck leaves
 * them alone. */
static void test_sync_limit_check_leaves_observers_alone(void)
{
    struct zab z;
    serving_leader_acked(&z);
    recv(&z, 5, 9, QUORUM_OBSERVERINFO, 0, learner_info(9));
    recv(&z, 5, 9, QUORUM_ACKEPOCH, 0, i32_data(0));
    recv0(&z, 6, 9, QUORUM_ACK, E(1, 0));
    CHECK(sent(9, QUORUM_UPTODATE));
    for (int64_t now = 100; now <= 2000; now += 50) {
        int64_t zxid = propose_committed_without_1(&z, now);
        CHECK(sent(9, QUORUM_INFORM) && sent(9, QUORUM_INFORM)->zxid == zxid);
        recv0(&z, now, 1, QUORUM_ACK, zxid);
        recv0(&z, now, 1, QUORUM_PING, 0);
        recv0(&z, now, 2, QUORUM_PING, 0);
        recv0(&z, now, 9, QUORUM_PING, 0);
        tick(&z, now);
        CHECK(!closed(9) && !closed(1) && !closed(2));
    }
    CHECK_EQ_INT(z.learners_len, 3);
    zab_deinit(&z);
}

/* The learner's backlog (txns logged, not yet acked) is what the node
 * pauses reading on; a driver that does not pause meets the hard bound only
 * far beyond the mark (the ring grows), and the acks go out in order. */
static void test_learner_backlog_is_reported_and_the_ring_grows(void)
{
    struct zab z;
    synced_follower(&z, true);
    size_t high = zab_learner_backlog_high(&z);
    CHECK_EQ_INT(high, 4 + 8);
    CHECK_EQ_INT(zab_learner_backlog(&z), 0);
    size_t n = 3 * high;
    for (size_t i = 1; i <= n; i++) {
        recv(&z, 5, 3, QUORUM_PROPOSAL, E(2, (int64_t)i),
             (struct jute_buf){(const uint8_t *)"d", 1});
        CHECK(!up.stopped);
    }
    CHECK_EQ_INT(zab_learner_backlog(&z), n);
    persisted(&z, 6, E(2, (int64_t)high));
    CHECK_EQ_INT(up.sends_len, high);
    CHECK(up.sends[0].zxid == E(2, 1) && up.sends[high - 1].zxid == E(2, (int64_t)high));
    CHECK_EQ_INT(zab_learner_backlog(&z), n - high);
    persisted(&z, 7, E(2, (int64_t)n));
    CHECK(up.sends_len == n - high && up.sends[up.sends_len - 1].zxid == E(2, (int64_t)n));
    CHECK_EQ_INT(zab_learner_backlog(&z), 0);
    zab_deinit(&z);
}

static void test_follower_goes_looking_when_the_leader_is_silent(void)
{
    struct zab z;
    synced_follower(&z, true);
    CHECK_EQ_INT(up.deadline_ms, 4 + 5 * TICK_MS);
    tick(&z, 4 + 5 * TICK_MS - 1);
    CHECK(!up.stopped);
    recv0(&z, 400, 3, QUORUM_PING, E(2, 0));
    CHECK(sent(3, QUORUM_PING) && sent(3, QUORUM_PING)->payload == ZAB_PAYLOAD_SESSIONS);
    tick(&z, 400 + 5 * TICK_MS);
    CHECK(up.stopped && up.role == ZAB_LOOKING && closed(3));
    zab_deinit(&z);

    /* Before NEWLEADER the bound is initLimit. */
    init_zab(&z, 1, voters3, 3, 4);
    start(&z, 0, ZAB_FOLLOWING, 3, 0, 0, 0, NULL, 0);
    CHECK_EQ_INT(up.deadline_ms, 10 * TICK_MS);
    zab_deinit(&z);
}

static void test_observer_gets_inform_and_is_not_counted(void)
{
    struct zab z;
    serving_leader(&z);
    recv(&z, 5, 9, QUORUM_OBSERVERINFO, 0, learner_info(9));
    recv(&z, 5, 9, QUORUM_ACKEPOCH, 0, i32_data(0));
    CHECK(sent(9, QUORUM_NEWLEADER));
    recv0(&z, 6, 9, QUORUM_ACK, E(1, 0));
    CHECK(sent(9, QUORUM_UPTODATE));
    CHECK_EQ_INT(propose(&z, 10, "a"), 0);
    CHECK(sent(9, QUORUM_PROPOSAL) == NULL);
    recv0(&z, 11, 9, QUORUM_ACK, E(1, 1)); /* not a voter */
    persisted(&z, 11, E(1, 1));
    CHECK_EQ_INT(up.commit_upto_zxid, 0);
    recv0(&z, 12, 1, QUORUM_ACK, E(1, 1));
    const struct zab_send *s = sent(9, QUORUM_INFORM);
    CHECK(s && s->zxid == E(1, 1) && s->payload == ZAB_PAYLOAD_DATA && s->data.len == 1);
    CHECK(sent(1, QUORUM_COMMIT) && sent(9, QUORUM_COMMIT) == NULL);
    zab_deinit(&z);

    /* The observer's side: INFORM is logged and committed, never acked. */
    init_zab(&z, 9, voters3, 3, 4);
    start(&z, 0, ZAB_OBSERVING, 3, 0, 0, 0, NULL, 0);
    CHECK(sent(3, QUORUM_OBSERVERINFO));
    recv(&z, 1, 3, QUORUM_LEADERINFO, E(1, 0), i32_data(QUORUM_PROTOCOL_VERSION));
    recv0(&z, 1, 3, QUORUM_DIFF, 0);
    recv0(&z, 1, 3, QUORUM_NEWLEADER, E(1, 0));
    CHECK(sent(3, QUORUM_ACK));
    recv0(&z, 1, 3, QUORUM_UPTODATE, -1);
    recv(&z, 2, 3, QUORUM_INFORM, E(1, 1), (struct jute_buf){(const uint8_t *)"a", 1});
    CHECK(up.appends_len == 1 && up.commit_upto_zxid == E(1, 1));
    persisted(&z, 3, E(1, 1));
    CHECK_EQ_INT(sent_count(3), 0);
    zab_deinit(&z);
}

/* A reconfig txn (TxnHeader.type 16 at offset 28) is committed with
 * COMMITANDACTIVATE to followers and INFORMANDACTIVATE to observers, each
 * carrying the leader as the designated one (Leader.tryToCommit); learners
 * read them as COMMIT and INFORM (the 8-byte leader before the txn). */
static void test_reconfig_commits_with_activate(void)
{
    uint8_t txn[40] = {0};
    txn[31] = 16; /* OpCode.reconfig */
    struct zab z;
    serving_leader(&z);
    recv(&z, 5, 9, QUORUM_OBSERVERINFO, 0, learner_info(9));
    recv(&z, 5, 9, QUORUM_ACKEPOCH, 0, i32_data(0));
    recv0(&z, 6, 9, QUORUM_ACK, E(1, 0));
    struct zab_event ev = {.type = ZAB_PROPOSE, .now_ms = 10};
    ev.propose.zxid = zab_next_zxid(&z);
    ev.propose.data = (struct jute_buf){txn, sizeof(txn)};
    CHECK_EQ_INT(zab_step(&z, &ev, &up), 0);
    persisted(&z, 11, E(1, 1));
    recv0(&z, 12, 1, QUORUM_ACK, E(1, 1));
    CHECK_EQ_INT(up.commit_upto_zxid, E(1, 1));
    const struct zab_send *c = sent(1, QUORUM_COMMITANDACTIVATE);
    CHECK(c && c->zxid == E(1, 1) && c->payload == ZAB_PAYLOAD_ACTIVATE && c->i64 == 3 &&
          c->data.len == 0);
    CHECK(sent(1, QUORUM_COMMIT) == NULL);
    const struct zab_send *i = sent(9, QUORUM_INFORMANDACTIVATE);
    CHECK(i && i->payload == ZAB_PAYLOAD_ACTIVATE && i->i64 == 3 && i->data.len == 40);
    CHECK(sent(9, QUORUM_INFORM) == NULL);
    /* any other txn: plain COMMIT */
    CHECK_EQ_INT(propose(&z, 13, "a"), 0);
    persisted(&z, 14, E(1, 2));
    recv0(&z, 15, 1, QUORUM_ACK, E(1, 2));
    CHECK(sent(1, QUORUM_COMMIT) && sent(1, QUORUM_COMMITANDACTIVATE) == NULL);
    zab_deinit(&z);

    /* An observer: INFORMANDACTIVATE logs the txn after the designated
     * leader and commits it; one shorter than 8 bytes drops the leader. */
    uint8_t ia[48] = {0};
    ia[7] = 3;
    memcpy(ia + 8, txn, sizeof(txn));
    init_zab(&z, 9, voters3, 3, 4);
    start(&z, 0, ZAB_OBSERVING, 3, 0, 0, 0, NULL, 0);
    recv(&z, 1, 3, QUORUM_LEADERINFO, E(1, 0), i32_data(QUORUM_PROTOCOL_VERSION));
    recv0(&z, 1, 3, QUORUM_DIFF, 0);
    recv0(&z, 1, 3, QUORUM_NEWLEADER, E(1, 0));
    recv0(&z, 1, 3, QUORUM_UPTODATE, -1);
    recv(&z, 2, 3, QUORUM_INFORMANDACTIVATE, E(1, 1), (struct jute_buf){ia, sizeof(ia)});
    CHECK(up.appends_len == 1 && up.appends[0].data.len == 40 && up.commit_upto_zxid == E(1, 1));
    recv(&z, 3, 3, QUORUM_INFORMANDACTIVATE, E(1, 2), (struct jute_buf){ia, 7});
    CHECK(up.stopped);
    zab_deinit(&z);

    /* A follower: COMMITANDACTIVATE commits as COMMIT does. */
    synced_follower(&z, true);
    recv(&z, 20, 3, QUORUM_PROPOSAL, E(2, 1), (struct jute_buf){txn, sizeof(txn)});
    persisted(&z, 21, E(2, 1));
    recv(&z, 22, 3, QUORUM_COMMITANDACTIVATE, E(2, 1), (struct jute_buf){ia, 8});
    CHECK_EQ_INT(up.commit_upto_zxid, E(2, 1));
    zab_deinit(&z);
}

/* More txns commit in one step than the committed log holds (window 4):
 * the INFORMs of that step point at txns the log drops, which must still be
 * there while the update is carried out (found by ASan in leader_probe). */
static void test_informs_outlive_the_committed_log_trim(void)
{
    static const char *texts[] = {"t1", "t2", "t3", "t4", "t5", "t6", "t7"};
    struct zab z;
    serving_leader(&z);
    recv(&z, 5, 9, QUORUM_OBSERVERINFO, 0, learner_info(9));
    recv(&z, 5, 9, QUORUM_ACKEPOCH, 0, i32_data(0));
    recv0(&z, 6, 9, QUORUM_ACK, E(1, 0));
    CHECK(sent(9, QUORUM_UPTODATE));
    for (int i = 0; i < 7; i++) {
        CHECK_EQ_INT(propose(&z, 10, texts[i]), 0);
        recv0(&z, 10, 1, QUORUM_ACK, E(1, i + 1));
    }
    persisted(&z, 11, E(1, 7)); /* our own ack: all seven commit in this step */
    CHECK_EQ_INT(up.commit_upto_zxid, E(1, 7));
    size_t informs = 0;
    for (size_t i = 0; i < up.sends_len; i++) {
        const struct zab_send *s = &up.sends[i];
        if (s->to != 9 || s->type != QUORUM_INFORM)
            continue;
        int k = (int)(s->zxid & 0xffffffff) - 1;
        CHECK(s->data.len == 2 && memcmp(s->data.ptr, texts[k], 2) == 0);
        informs++;
    }
    CHECK_EQ_INT(informs, 7);
    tick(&z, 12); /* the next step trims the log to its bound */
    CHECK_EQ_INT(z.committed_len, 4);
    zab_deinit(&z);
}

/* Apache 3.8's LearnerHandler sends a DIFF's PROPOSAL+COMMIT pairs to an
 * observer as to a follower (queueCommittedProposals; seen live by
 * test_learner.py's DIFF); syncWithLeader
 * logs them without an ACK. Once serving, the observer ignores PROPOSAL and
 * COMMIT (Observer.processPacket). */
static void test_observer_logs_a_diffs_proposals_unacked(void)
{
    struct zab z;
    init_zab(&z, 9, voters3, 3, 4);
    start(&z, 0, ZAB_OBSERVING, 3, E(1, 1), 1, 1, NULL, 0);
    recv(&z, 1, 3, QUORUM_LEADERINFO, E(2, 0), i32_data(QUORUM_PROTOCOL_VERSION));
    recv0(&z, 1, 3, QUORUM_DIFF, E(1, 2));
    recv(&z, 1, 3, QUORUM_PROPOSAL, E(1, 2), (struct jute_buf){(const uint8_t *)"b", 1});
    CHECK(!up.stopped && up.appends_len == 1 && up.appends[0].zxid == E(1, 2));
    recv0(&z, 1, 3, QUORUM_COMMIT, E(1, 2));
    CHECK_EQ_INT(up.commit_upto_zxid, E(1, 2));
    recv0(&z, 1, 3, QUORUM_NEWLEADER, E(2, 0));
    CHECK(sent(3, QUORUM_ACK) == NULL); /* E(1, 2) is not durable yet */
    persisted(&z, 2, E(1, 2));
    CHECK(sent(3, QUORUM_ACK) && sent_count(3) == 1);
    recv0(&z, 2, 3, QUORUM_UPTODATE, -1);
    recv(&z, 3, 3, QUORUM_PROPOSAL, E(2, 1), (struct jute_buf){(const uint8_t *)"c", 1});
    CHECK(!up.stopped && up.appends_len == 0);
    recv0(&z, 3, 3, QUORUM_COMMIT, E(2, 1));
    CHECK(!up.stopped && up.commit_upto_zxid == E(1, 2));
    zab_deinit(&z);
}

/* ---- linearizable sync (issue 10) ---- */

static int sync_request(struct zab *z, int64_t now, uint64_t token, int64_t zxid)
{
    struct zab_event ev = {.type = ZAB_SYNC_REQUEST, .now_ms = now};
    ev.sync.token = token;
    ev.sync.zxid = zxid;
    return zab_step(z, &ev, &up);
}

static bool released(uint64_t token)
{
    for (size_t i = 0; i < up.synced_len; i++)
        if (up.synced[i] == token)
            return true;
    return false;
}

/* serving_leader, and both learners acked UPTODATE. */
static void serving_leader_acked(struct zab *z)
{
    serving_leader(z);
    recv0(z, 3, 1, QUORUM_ACK, E(1, 0));
    recv0(z, 3, 2, QUORUM_ACK, E(1, 0));
}

static void test_sync_sends_a_ping_round_at_once_and_waits_for_a_quorum_of_answers(void)
{
    struct zab z;
    serving_leader_acked(&z);
    CHECK_EQ_INT(sync_request(&z, 10, 7, -1), 0);
    CHECK_EQ_INT(up.synced_len, 0); /* nothing outstanding, but no quorum heard yet */
    CHECK(sent(1, QUORUM_PING) && sent(2, QUORUM_PING)); /* not at the half tick: now */
    recv0(&z, 11, 2, QUORUM_PING, 0);
    CHECK(released(7)); /* leader + 2 of 3 */
    /* One answer is not a second: 1's lagging answer releases nothing. */
    CHECK_EQ_INT(sync_request(&z, 12, 8, -1), 0);
    CHECK(up.synced_len == 0 && sent(1, QUORUM_PING)); /* the last round had its quorum */
    recv0(&z, 13, 1, QUORUM_PING, 0);                  /* 1 answers the first round only */
    CHECK_EQ_INT(up.synced_len, 0);
    recv0(&z, 14, 1, QUORUM_PING, 0);
    CHECK(released(8));
    zab_deinit(&z);
}

static void test_sync_is_not_answered_by_answers_to_pings_sent_before_it(void)
{
    struct zab z;
    serving_leader_acked(&z);
    tick(&z, 50); /* the half-tick round, before the sync */
    CHECK(sent(1, QUORUM_PING) && sent(2, QUORUM_PING));
    CHECK_EQ_INT(sync_request(&z, 60, 7, -1), 0);
    /* That round is still short of a quorum: no second round in flight. */
    CHECK(up.synced_len == 0 && up.sends_len == 0);
    recv0(&z, 61, 1, QUORUM_PING, 0); /* answers the round sent before the sync */
    CHECK_EQ_INT(up.synced_len, 0);
    CHECK(sent(1, QUORUM_PING) && sent(2, QUORUM_PING)); /* the old round had its quorum */
    recv0(&z, 62, 2, QUORUM_PING, 0);                    /* 2's answer to the old round */
    CHECK_EQ_INT(up.synced_len, 0);
    recv0(&z, 63, 2, QUORUM_PING, 0); /* 2 answers the new one */
    CHECK(up.synced_len == 1 && released(7));
    zab_deinit(&z);

    /* PING answers from before a learner's ACK of UPTODATE do not count
     * (czk learners answer PINGs sent before UPTODATE; Apache's do not). */
    serving_leader(&z);
    CHECK_EQ_INT(sync_request(&z, 10, 9, -1), 0);
    CHECK(sent(1, QUORUM_PING));
    recv0(&z, 11, 1, QUORUM_PING, 0);
    recv0(&z, 11, 2, QUORUM_PING, 0);
    CHECK_EQ_INT(up.synced_len, 0);
    recv0(&z, 12, 1, QUORUM_ACK, E(1, 0)); /* of UPTODATE */
    CHECK_EQ_INT(up.synced_len, 0);
    tick(&z, 50);
    recv0(&z, 51, 1, QUORUM_PING, 0);
    CHECK(released(9));
    zab_deinit(&z);
}

static void test_sync_waits_for_outstanding_proposals_first(void)
{
    struct zab z;
    serving_leader_acked(&z);
    CHECK_EQ_INT(propose(&z, 10, "a"), 0);
    CHECK_EQ_INT(sync_request(&z, 11, 7, -1), 0); /* -1: E(1, 1), the last proposed */
    recv0(&z, 12, 1, QUORUM_PING, 0);
    recv0(&z, 12, 2, QUORUM_PING, 0);
    CHECK_EQ_INT(up.synced_len, 0); /* a quorum answered, E(1, 1) is not committed */
    /* A zxid the caller stamped but has not proposed yet waits too. */
    CHECK_EQ_INT(sync_request(&z, 13, 8, E(1, 2)), 0);
    persisted(&z, 14, E(1, 1));
    recv0(&z, 15, 1, QUORUM_ACK, E(1, 1));
    CHECK(up.commit_upto_zxid == E(1, 1) && sent(1, QUORUM_COMMIT));
    CHECK(up.synced_len == 1 && released(7)); /* in the step that commits */
    /* 8's round was sent later; answered by 1 and its zxid committed, it goes. */
    recv0(&z, 16, 1, QUORUM_PING, 0);
    CHECK_EQ_INT(up.synced_len, 0);
    CHECK_EQ_INT(propose(&z, 17, "b"), 0);
    persisted(&z, 18, E(1, 2));
    recv0(&z, 19, 2, QUORUM_ACK, E(1, 2));
    CHECK(released(8));
    zab_deinit(&z);
}

static void test_sync_ack_of_a_later_proposal_confirms_the_leader(void)
{
    struct zab z;
    serving_leader_acked(&z);
    CHECK_EQ_INT(sync_request(&z, 10, 7, -1), 0);
    recv0(&z, 11, 1, QUORUM_ACK, E(1, 5)); /* never proposed: confirms nothing */
    CHECK_EQ_INT(up.synced_len, 0);
    CHECK_EQ_INT(propose(&z, 11, "a"), 0); /* proposed after the sync */
    recv0(&z, 12, 2, QUORUM_ACK, E(1, 1));
    CHECK(released(7)); /* 2 followed us after the sync arrived */
    zab_deinit(&z);
}

static void test_sync_is_never_answered_by_a_leader_without_its_quorum(void)
{
    struct zab z;
    serving_leader_acked(&z);
    CHECK_EQ_INT(sync_request(&z, 10, 7, -1), 0);
    bool down = false;
    for (int64_t now = 50; now <= 2000 && !down; now += 50) {
        tick(&z, now);
        CHECK_EQ_INT(up.synced_len, 0);
        down = up.stopped;
    }
    CHECK(down && up.role == ZAB_LOOKING);
    CHECK_EQ_INT(sync_request(&z, 2001, 8, -1), ZAB_ENOTREADY);
    zab_deinit(&z);

    /* A leader that is its own quorum answers at once; learners refuse. */
    const int64_t me[] = {3};
    leader_with(&z, me, 1, NULL, 0, 4, 0);
    CHECK(up.serving);
    CHECK_EQ_INT(sync_request(&z, 1, 9, -1), 0);
    CHECK(released(9) && up.sends_len == 0);
    CHECK_EQ_INT(sync_request(&z, 1, 9, -2), ZAB_EINVAL);
    zab_deinit(&z);
    init_zab(&z, 1, voters3, 3, 4);
    start(&z, 0, ZAB_FOLLOWING, 3, 0, 0, 0, NULL, 0);
    CHECK_EQ_INT(sync_request(&z, 1, 9, -1), ZAB_ENOTREADY);
    zab_deinit(&z);
}

static void test_config_and_events_are_checked(void)
{
    struct zab z;
    struct zab_config c = {.my_sid = 1,
                           .voters = voters3,
                           .voters_len = 0,
                           .tick_ms = 1,
                           .init_limit = 1,
                           .sync_limit = 1};
    CHECK_EQ_INT(zab_init(&z, &c), ZAB_EINVAL);
    const int64_t dup[] = {1, 1};
    c.voters = dup;
    c.voters_len = 2;
    CHECK_EQ_INT(zab_init(&z, &c), ZAB_EINVAL);
    init_zab(&z, 1, voters3, 3, 4);
    struct zab_event ev = {.type = ZAB_START};
    ev.start.role = ZAB_LEADING;
    ev.start.accepted_epoch = 1;
    ev.start.current_epoch = 2; /* current > accepted */
    CHECK_EQ_INT(zab_step(&z, &ev, &up), ZAB_EINVAL);
    zab_deinit(&z);
}

/* ---- the simulation ---- */

/* The simulation: members 1..n (member 1.. are voters; with 4 learners one
 * more member, sid 6, is an observer), a seeded network of FIFO links per
 * connection (a TCP link never reorders: each packet leaves no earlier than
 * the one before it on the same link), whole connections dropped, crashes
 * that lose every txn the log thread had not fsynced, and an election
 * stand-in: when there is no leader and a quorum is up, the up voter with the
 * best (currentEpoch, last zxid, sid) leads, as FLE would pick among them.
 * Checked after every step: each log's zxids strictly increase; a txn is
 * committed (applied while serving) on a leader only once a quorum of voters
 * holds it durably; every member's committed sequence is a prefix of one
 * global sequence G, zxids strictly increasing; no truncation cuts a txn of
 * G; every new leader's log holds all of G. */

#define SIM_SEEDS     150
#define SIM_MS        6000
#define SIM_MEMBERS   6
#define SIM_LOG_MAX   8192
#define SIM_LINK_MAX  4096
#define SIM_G_MAX     8192
#define SIM_SYNCS_MAX 256

struct sim_entry {
    int64_t zxid;
    uint32_t id;
};

struct sim_packet {
    int64_t at;
    uint64_t gen;
    int32_t type;
    int64_t zxid;
    int32_t len; /* -1: null */
    uint8_t data[20];
    size_t g_len; /* G's length when sent */
};

struct sim_link {
    struct sim_packet q[SIM_LINK_MAX];
    size_t head, len;
    int64_t last_at;
};

struct sim_member {
    int64_t sid;
    bool observer;
    struct zab zab;
    bool up;
    int64_t down_until;
    int64_t rejoin_at; /* -1: not waiting */
    int64_t deadline;
    struct sim_entry log[SIM_LOG_MAX];
    size_t log_len, durable_len;
    int64_t base; /* the snapshot's zxid (0: none) */
    int64_t accepted, current;
    size_t applied_g; /* its committed sequence is G[0..applied_g) */
    int64_t applied_zxid;
    bool serving;
    uint32_t lead_gen; /* a new one at every START and crash: syncs before it are gone */
};

struct sim {
    uint64_t seed, rng;
    bool planted;
    int n, voters_n;
    int64_t voters[SIM_MEMBERS];
    struct sim_member m[SIM_MEMBERS];
    struct sim_link link[SIM_MEMBERS][SIM_MEMBERS];
    uint64_t gen[SIM_MEMBERS][SIM_MEMBERS]; /* connection generation per pair */
    int leader;                             /* index, -1: none */
    int64_t election_at;
    struct sim_entry g[SIM_G_MAX];
    size_t g_len;
    uint32_t next_id;
    int64_t now;
    char why[200];
    bool failed;
    /* disconnects to deliver: (member, peer sid) */
    int disc_m[64];
    int64_t disc_sid[64];
    size_t disc_len;
    struct sim_stats {
        long commits, elections, crashes, drops, snaps, truncs, diffs, syncs;
    } st;
    /* Syncs asked of leaders and not answered yet (issue 10). */
    struct sim_sync {
        uint64_t token;
        int member;
        uint32_t lead_gen;
        size_t g_len; /* G's length when asked: all of it must be in the answer */
        int64_t asked_ms;
    } syncs[SIM_SYNCS_MAX];
    size_t syncs_len;
    uint64_t next_token;
    size_t sent_g_len; /* of the packet being delivered; SIZE_MAX otherwise */
};

static uint64_t sim_rand(struct sim *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static int64_t sim_between(struct sim *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(sim_rand(s) % (uint64_t)(hi - lo + 1));
}

static bool sim_chance(struct sim *s, uint32_t per_million)
{
    return sim_rand(s) % 1000000 < per_million;
}

static void sim_fail(struct sim *s, const char *what, int64_t a, int64_t b)
{
    if (s->failed)
        return;
    s->failed = true;
    snprintf(s->why, sizeof(s->why), "t=%lld: %s (0x%llx, 0x%llx)", (long long)s->now, what,
             (unsigned long long)a, (unsigned long long)b);
}

static bool planted_quorum(void *arg, const int64_t *sids, size_t n)
{
    (void)arg, (void)sids;
    return n >= 1;
}

static int sim_index(const struct sim *s, int64_t sid)
{
    (void)s;
    return (int)(sid - 1);
}

static int64_t sim_last(const struct sim_member *m)
{
    return m->log_len ? m->log[m->log_len - 1].zxid : m->base;
}

/* Index in G of zxid, or -1. */
static long g_find(const struct sim *s, int64_t zxid)
{
    size_t lo = 0, hi = s->g_len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->g[mid].zxid < zxid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->g_len && s->g[lo].zxid == zxid ? (long)lo : -1;
}

static bool durable_has(const struct sim_member *m, struct sim_entry e)
{
    if (e.zxid <= m->base)
        return true; /* the snapshot: G's prefix up to base (checked when taken) */
    size_t lo = 0, hi = m->durable_len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->log[mid].zxid < e.zxid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->durable_len && m->log[lo].zxid == e.zxid && m->log[lo].id == e.id;
}

static void sim_close(struct sim *s, int a, int b)
{
    s->gen[a][b]++;
    s->gen[b][a]++;
    if (s->disc_len < 64) {
        s->disc_m[s->disc_len] = b;
        s->disc_sid[s->disc_len++] = s->m[a].sid;
        s->disc_m[s->disc_len] = a;
        s->disc_sid[s->disc_len++] = s->m[b].sid;
    }
}

static void sim_send(struct sim *s, int from, const struct zab_send *z)
{
    int to = sim_index(s, z->to);
    struct sim_link *l = &s->link[from][to];
    if (to < 0 || to >= s->n || to == from || !s->m[to].up)
        return;
    if (l->len == SIM_LINK_MAX) { /* a full socket buffer: the connection goes */
        sim_close(s, from, to);
        return;
    }
    struct sim_packet *p = &l->q[(l->head + l->len++) % SIM_LINK_MAX];
    int64_t at = s->now + sim_between(s, 1, 30);
    p->at = at > l->last_at ? at : l->last_at;
    l->last_at = p->at;
    p->gen = s->gen[from][to];
    p->type = z->type;
    p->zxid = z->zxid;
    p->len = -1;
    p->g_len = s->g_len;
    switch (z->payload) {
    case ZAB_PAYLOAD_DATA:
        CHECK(z->data.len == 4);
        memcpy(p->data, z->data.ptr, 4);
        p->len = 4;
        break;
    case ZAB_PAYLOAD_I32:
        memcpy(p->data, i32_data(z->i32).ptr, 4);
        p->len = 4;
        break;
    case ZAB_PAYLOAD_LEARNER_INFO:
        memcpy(p->data, learner_info(s->m[from].sid).ptr, 20);
        p->len = 20;
        break;
    default:
        break;
    }
}

static void sim_step(struct sim *s, int i, const struct zab_event *ev);

/* The member's committed sequence moves to commit_upto (only while serving:
 * before that, applying is the node's business, not a commit). */
static void sim_commit(struct sim *s, int i, int64_t upto)
{
    struct sim_member *m = &s->m[i];
    if (m->base > m->applied_zxid) {
        long k = g_find(s, m->base);
        if (k < 0 || (size_t)k + 1 < m->applied_g)
            sim_fail(s, "a snapshot that is not a prefix of the committed sequence", m->base,
                     m->applied_zxid);
        else
            m->applied_g = (size_t)k + 1;
        m->applied_zxid = m->base;
    }
    size_t lo = 0, hi = m->log_len;
    while (lo < hi) { /* the first entry after applied_zxid */
        size_t mid = (lo + hi) / 2;
        if (m->log[mid].zxid <= m->applied_zxid)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = lo; k < m->log_len && m->log[k].zxid <= upto; k++) {
        struct sim_entry e = m->log[k];
        if (e.zxid <= m->applied_zxid)
            continue;
        if (m->applied_g < s->g_len) {
            if (s->g[m->applied_g].zxid != e.zxid || s->g[m->applied_g].id != e.id)
                sim_fail(s, "committed prefixes differ", e.zxid, s->g[m->applied_g].zxid);
        } else {
            if (s->g_len && s->g[s->g_len - 1].zxid >= e.zxid)
                sim_fail(s, "committed zxids do not increase", e.zxid, s->g[s->g_len - 1].zxid);
            if (s->g_len == SIM_G_MAX)
                return;
            s->g[s->g_len++] = e;
            s->st.commits++;
        }
        if (s->m[i].zab.role == ZAB_LEADING) {
            int copies = 0;
            for (int v = 0; v < s->n; v++)
                copies += !s->m[v].observer && s->m[v].up && durable_has(&s->m[v], e);
            for (int v = 0; v < s->n; v++)
                copies += !s->m[v].observer && !s->m[v].up && durable_has(&s->m[v], e);
            if (copies <= s->voters_n / 2)
                sim_fail(s, "committed without a quorum of persisted copies", e.zxid, copies);
        }
        m->applied_g++;
        m->applied_zxid = e.zxid;
    }
}

/* A sync answered by member i: asked of it in this leadership, the oldest
 * it still holds, and everything committed anywhere before it was asked is
 * in its committed sequence now. */
static void sim_synced(struct sim *s, int i, uint64_t token)
{
    struct sim_member *m = &s->m[i];
    size_t k = 0;
    while (k < s->syncs_len && (s->syncs[k].member != i || s->syncs[k].lead_gen != m->lead_gen))
        k++;
    if (k == s->syncs_len || s->syncs[k].token != token) {
        sim_fail(s, "a sync answered that was not the oldest asked", (int64_t)token, i);
        return;
    }
    if (m->zab.role != ZAB_LEADING || !m->serving || m->applied_g < s->syncs[k].g_len)
        sim_fail(s, "a sync answered without every txn committed before it", (int64_t)token,
                 (int64_t)s->syncs[k].g_len);
    memmove(&s->syncs[k], &s->syncs[k + 1], (s->syncs_len - k - 1) * sizeof(s->syncs[0]));
    s->syncs_len--;
    s->st.syncs++;
}

/* Member i starts again or crashes: its leadership's syncs are gone
 * unanswered (the node closes the connections that asked). */
static void sim_forget_syncs(struct sim *s, int i)
{
    size_t kept = 0;
    for (size_t k = 0; k < s->syncs_len; k++)
        if (s->syncs[k].member != i)
            s->syncs[kept++] = s->syncs[k];
    s->syncs_len = kept;
    s->m[i].lead_gen++;
}

static void sim_apply(struct sim *s, int i, const struct zab_update *u)
{
    struct sim_member *m = &s->m[i];
    if (u->accepted_epoch >= 0)
        m->accepted = u->accepted_epoch;
    if (u->current_epoch >= 0)
        m->current = u->current_epoch;
    if (u->truncate_after_zxid >= 0) {
        s->st.truncs++;
        if (u->truncate_after_zxid < m->base)
            sim_fail(s, "TRUNC below the snapshot", u->truncate_after_zxid, m->base);
        while (m->log_len && m->log[m->log_len - 1].zxid > u->truncate_after_zxid) {
            struct sim_entry e = m->log[--m->log_len];
            /* A TRUNC to the leader's last committed zxid cuts the
             * proposals still outstanding then, which the leader sends
             * again right after it (startForwarding): they may have
             * committed since, while the packet travelled. */
            long k = g_find(s, e.zxid);
            if (k >= 0 && s->g[k].id == e.id && (size_t)k < s->sent_g_len)
                sim_fail(s, "TRUNC cut a committed txn", e.zxid, u->truncate_after_zxid);
        }
        m->durable_len = m->log_len;
    }
    if (u->snapshot_zxid >= 0) {
        s->st.snaps++;
        if (u->snapshot_zxid < m->applied_zxid)
            sim_fail(s, "SNAP behind what we committed", u->snapshot_zxid, m->applied_zxid);
        m->base = u->snapshot_zxid;
        m->log_len = m->durable_len = 0;
    }
    for (size_t k = 0; k < u->appends_len; k++) {
        const struct zab_txn *t = &u->appends[k];
        if (t->zxid <= sim_last(m))
            sim_fail(s, "log zxids do not increase", t->zxid, sim_last(m));
        if (m->log_len == SIM_LOG_MAX)
            return;
        uint32_t id = 0;
        memcpy(&id, t->data.ptr, 4);
        long g = g_find(s, t->zxid);
        if (g >= 0 && s->g[g].id != id)
            sim_fail(s, "one zxid, two txns", t->zxid, id);
        m->log[m->log_len++] = (struct sim_entry){t->zxid, id};
    }
    for (size_t k = 0; k < u->closes_len; k++) {
        int j = sim_index(s, u->closes[k]);
        if (j >= 0 && j < s->n && j != i)
            sim_close(s, i, j);
    }
    for (size_t k = 0; k < u->sends_len; k++) {
        if (u->sends[k].type == QUORUM_DIFF)
            s->st.diffs++;
        sim_send(s, i, &u->sends[k]);
    }
    m->serving = u->serving;
    if (u->serving)
        sim_commit(s, i, u->commit_upto_zxid);
    for (size_t k = 0; k < u->synced_len; k++)
        sim_synced(s, i, u->synced[k]);
    m->deadline = u->deadline_ms;
    if (u->stopped) {
        m->serving = false;
        if (i == s->leader) {
            s->leader = -1;
            s->election_at = s->now + sim_between(s, 100, 400);
        } else {
            m->rejoin_at = s->now + sim_between(s, 50, 300);
        }
    }
}

static void sim_step(struct sim *s, int i, const struct zab_event *ev)
{
    struct zab_update u;
    int rc = zab_step(&s->m[i].zab, ev, &u);
    if (rc == ZAB_EBUSY || rc == ZAB_ENOTREADY)
        return;
    if (rc != 0) {
        sim_fail(s, "zab_step failed", rc, ev->type);
        return;
    }
    sim_apply(s, i, &u);
}

static void sim_start(struct sim *s, int i, enum zab_role role, int leader)
{
    struct sim_member *m = &s->m[i];
    static struct zab_txn history[SIM_LOG_MAX];
    static uint32_t ids[SIM_LOG_MAX];
    m->durable_len = m->log_len; /* START after the log thread drained */
    struct zab_event ev = {.type = ZAB_START, .now_ms = s->now};
    ev.start.role = role;
    ev.start.leader_sid = s->m[leader].sid;
    ev.start.last_zxid = sim_last(m);
    ev.start.accepted_epoch = m->accepted;
    ev.start.current_epoch = m->current;
    if (role == ZAB_LEADING) {
        for (size_t k = 0; k < m->log_len; k++) {
            ids[k] = m->log[k].id;
            history[k] = (struct zab_txn){m->log[k].zxid, {(const uint8_t *)&ids[k], 4}};
        }
        ev.start.history = history;
        ev.start.history_len = m->log_len;
    }
    for (int j = 0; j < s->n; j++)
        if (j != i && (role == ZAB_LEADING || j == leader))
            s->gen[i][j]++, s->gen[j][i]++; /* new connections */
    m->rejoin_at = -1;
    m->serving = false;
    sim_forget_syncs(s, i);
    sim_step(s, i, &ev);
}

static void sim_elect(struct sim *s)
{
    int alive = 0, best = -1;
    for (int i = 0; i < s->n; i++) {
        struct sim_member *m = &s->m[i];
        if (!m->up || m->observer)
            continue;
        alive++;
        if (best < 0 || m->current > s->m[best].current ||
            (m->current == s->m[best].current && sim_last(m) > sim_last(&s->m[best])) ||
            (m->current == s->m[best].current && sim_last(m) == sim_last(&s->m[best]) &&
             m->sid > s->m[best].sid))
            best = i;
    }
    if (alive <= s->voters_n / 2)
        return;
    /* Nothing committed may be missing from the new leader's log. */
    struct sim_member *l = &s->m[best];
    for (size_t k = 0; k < s->g_len; k++) {
        struct sim_entry e = s->g[k];
        if (e.zxid <= l->base)
            continue;
        l->durable_len = l->log_len;
        if (!durable_has(l, e)) {
            sim_fail(s, "a committed txn is missing from the new leader", e.zxid, l->sid);
            return;
        }
    }
    s->st.elections++;
    s->leader = best;
    sim_start(s, best, ZAB_LEADING, best);
    for (int i = 0; i < s->n; i++)
        if (i != best && s->m[i].up)
            sim_start(s, i, s->m[i].observer ? ZAB_OBSERVING : ZAB_FOLLOWING, best);
}

static void sim_crash(struct sim *s, int i)
{
    struct sim_member *m = &s->m[i];
    s->st.crashes++;
    m->up = false;
    m->serving = false;
    sim_forget_syncs(s, i);
    m->log_len = m->durable_len; /* unsynced txns are lost */
    m->down_until = s->now + sim_between(s, 100, 1000);
    for (int j = 0; j < s->n; j++)
        if (j != i)
            sim_close(s, i, j);
    zab_deinit(&m->zab);
    struct zab_config c = {.my_sid = m->sid,
                           .voters = s->voters,
                           .voters_len = (size_t)s->voters_n,
                           .tick_ms = TICK_MS,
                           .init_limit = 10,
                           .sync_limit = 5,
                           .committed_log_max = 16,
                           .outstanding_max = 32,
                           .has_quorum = s->planted ? planted_quorum : NULL};
    CHECK(zab_init(&m->zab, &c) == 0);
    if (i == s->leader) {
        s->leader = -1;
        s->election_at = s->now + sim_between(s, 100, 400);
    }
}

static void sim_setup(struct sim *s, uint64_t seed, int learners, bool planted)
{
    memset(s, 0, sizeof(*s));
    s->seed = seed;
    s->rng = seed * 0x9e3779b97f4a7c15ULL + 1;
    s->planted = planted;
    s->n = learners + 1 + (learners >= 4);
    s->voters_n = learners + 1;
    for (int i = 0; i < s->voters_n; i++)
        s->voters[i] = i + 1;
    for (int i = 0; i < s->n; i++) {
        struct sim_member *m = &s->m[i];
        m->sid = i + 1;
        m->observer = i >= s->voters_n;
        m->up = true;
        m->rejoin_at = -1;
        m->deadline = -1;
        struct zab_config c = {.my_sid = m->sid,
                               .voters = s->voters,
                               .voters_len = (size_t)s->voters_n,
                               .tick_ms = TICK_MS,
                               .init_limit = 10,
                               .sync_limit = 5,
                               .committed_log_max = 16,
                               .outstanding_max = 32,
                               .has_quorum = planted ? planted_quorum : NULL};
        CHECK(zab_init(&m->zab, &c) == 0);
    }
    s->leader = -1;
    s->election_at = 0;
    s->sent_g_len = SIZE_MAX;
}

static void sim_deliver(struct sim *s)
{
    for (int a = 0; a < s->n; a++)
        for (int b = 0; b < s->n; b++) {
            struct sim_link *l = &s->link[a][b];
            while (l->len && l->q[l->head].at <= s->now && !s->failed) {
                struct sim_packet p = l->q[l->head];
                l->head = (l->head + 1) % SIM_LINK_MAX;
                l->len--;
                if (p.gen != s->gen[a][b] || !s->m[b].up || !s->m[a].up)
                    continue;
                struct zab_event ev = {.type = ZAB_RECEIVE, .now_ms = s->now};
                ev.receive.from = s->m[a].sid;
                ev.receive.type = p.type;
                ev.receive.zxid = p.zxid;
                ev.receive.data = (struct jute_buf){p.len >= 0 ? p.data : NULL, p.len};
                s->sent_g_len = p.g_len;
                sim_step(s, b, &ev);
                s->sent_g_len = SIZE_MAX;
            }
        }
}

static int sim_run(uint64_t seed, int learners, bool planted, bool verbose, struct sim_stats *sum)
{
    static struct sim sim;
    struct sim *s = &sim;
    sim_setup(s, seed, learners, planted);
    for (s->now = 0; s->now < SIM_MS && !s->failed; s->now++) {
        bool calm = s->now > SIM_MS - 1500; /* the last 1.5 s: no faults */
        if (!calm && sim_chance(s, 600)) {
            int i = (int)sim_between(s, 0, s->n - 1);
            if (s->leader >= 0 && i != s->leader) {
                s->st.drops++;
                sim_close(s, i, s->leader);
            }
        }
        if (!calm && sim_chance(s, 400)) {
            int i = (int)sim_between(s, 0, s->n - 1);
            if (s->m[i].up && (i != s->leader || sim_chance(s, 300000)))
                sim_crash(s, i);
        }
        for (size_t k = 0; k < s->disc_len; k++) {
            struct sim_member *m = &s->m[s->disc_m[k]];
            if (!m->up)
                continue;
            struct zab_event ev = {.type = ZAB_DISCONNECTED, .now_ms = s->now};
            ev.disconnected.sid = s->disc_sid[k];
            sim_step(s, s->disc_m[k], &ev);
        }
        s->disc_len = 0;
        for (int i = 0; i < s->n; i++) {
            struct sim_member *m = &s->m[i];
            if (!m->up && m->down_until <= s->now) {
                m->up = true;
                m->rejoin_at = s->now;
            }
            if (m->up && m->rejoin_at >= 0 && m->rejoin_at <= s->now && i != s->leader) {
                m->rejoin_at = -1;
                if (s->leader >= 0 && s->m[s->leader].zab.role == ZAB_LEADING)
                    sim_start(s, i, m->observer ? ZAB_OBSERVING : ZAB_FOLLOWING, s->leader);
                else
                    m->rejoin_at = s->now + 100;
            }
        }
        if (s->leader < 0 && s->now >= s->election_at)
            sim_elect(s);
        sim_deliver(s);
        for (int i = 0; i < s->n && !s->failed; i++) {
            struct sim_member *m = &s->m[i];
            if (m->up && m->log_len > m->durable_len && sim_chance(s, 150000)) {
                m->durable_len = m->log_len;
                struct zab_event ev = {.type = ZAB_PERSISTED, .now_ms = s->now};
                ev.persisted.zxid = sim_last(m);
                sim_step(s, i, &ev);
            }
            if (m->up && m->deadline >= 0 && m->deadline <= s->now) {
                struct zab_event ev = {.type = ZAB_TICK, .now_ms = s->now};
                sim_step(s, i, &ev);
            }
        }
        if (s->leader >= 0 && s->m[s->leader].serving && sim_chance(s, 300000)) {
            struct zab *z = &s->m[s->leader].zab;
            uint32_t id = ++s->next_id;
            struct zab_event ev = {.type = ZAB_PROPOSE, .now_ms = s->now};
            ev.propose.zxid = zab_next_zxid(z);
            ev.propose.data = (struct jute_buf){(const uint8_t *)&id, 4};
            sim_step(s, s->leader, &ev);
        }
        /* A sync (deterministic in time: the PRNG's stream stays as it was
         * for the same events). */
        if (s->leader >= 0 && s->m[s->leader].serving && s->now % 37 == 0 &&
            s->syncs_len < SIM_SYNCS_MAX && !s->failed) {
            struct sim_member *m = &s->m[s->leader];
            s->syncs[s->syncs_len++] =
                (struct sim_sync){s->next_token, s->leader, m->lead_gen, s->g_len, s->now};
            struct zab_event ev = {.type = ZAB_SYNC_REQUEST, .now_ms = s->now};
            ev.sync.token = s->next_token++;
            ev.sync.zxid = -1;
            sim_step(s, s->leader, &ev);
        }
    }
    /* The last 1.5 s have no faults: a serving leader answers within 1 s. */
    for (size_t k = 0; k < s->syncs_len && !s->failed && !planted; k++)
        if (s->syncs[k].asked_ms < SIM_MS - 1000 && s->m[s->syncs[k].member].serving)
            sim_fail(s, "a sync of a serving leader never answered", (int64_t)s->syncs[k].token,
                     s->syncs[k].asked_ms);
    if (!s->failed && !planted && s->st.commits == 0)
        sim_fail(s, "no progress", 0, 0);
    for (int i = 0; i < s->n; i++)
        zab_deinit(&s->m[i].zab);
    sum->commits += s->st.commits;
    sum->elections += s->st.elections;
    sum->crashes += s->st.crashes;
    sum->drops += s->st.drops;
    sum->diffs += s->st.diffs;
    sum->truncs += s->st.truncs;
    sum->snaps += s->st.snaps;
    sum->syncs += s->st.syncs;
    if (s->failed && verbose)
        fprintf(stderr,
                "sim: seed %llu, %d learners%s: %s\n  replay: test_zab --seed %llu "
                "--learners %d%s\n",
                (unsigned long long)seed, learners, planted ? " (planted)" : "", s->why,
                (unsigned long long)seed, learners, planted ? " --planted" : "");
    return s->failed ? 1 : 0;
}

static int sim_seeds(bool planted)
{
    int failed = 0, runs = 0;
    static const int sizes[] = {2, 4};
    struct sim_stats sum = {0};
    for (uint64_t seed = 1; seed <= SIM_SEEDS; seed++)
        for (size_t k = 0; k < 2; k++) {
            runs++;
            failed += sim_run(seed, sizes[k], planted, !planted || failed == 0, &sum);
        }
    printf("sim: %d runs, %d failed%s; commits %ld, elections %ld, crashes %ld, dropped "
           "connections %ld, DIFF %ld, TRUNC %ld, SNAP %ld, syncs answered %ld\n",
           runs, failed, planted ? " (planted bug)" : "", sum.commits, sum.elections, sum.crashes,
           sum.drops, sum.diffs, sum.truncs, sum.snaps, sum.syncs);
    if (!planted && sum.syncs == 0)
        failed++;
    return failed;
}

int main(int argc, char **argv)
{
    bool planted = false;
    long long seed = -1;
    int learners = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--planted") == 0)
            planted = true;
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = atoll(argv[++i]);
        else if (strcmp(argv[i], "--learners") == 0 && i + 1 < argc)
            learners = atoi(argv[++i]);
    }
    if (seed >= 0) {
        struct sim_stats st = {0};
        int f = sim_run((uint64_t)seed, learners, planted, true, &st);
        printf("sim: seed %lld, %d learners: %s\n", seed, learners, f ? "FAILED" : "ok");
        return f ? 1 : 0;
    }
    if (planted) {
        int failed = sim_seeds(true);
        CHECK(failed > SIM_SEEDS / 2);
        return check_result("test_zab --planted");
    }
    test_discovery_epoch_is_max_accepted_plus_one_once_a_quorum_connected();
    test_learner_writes_accepted_epoch_then_ackepoch_with_current_epoch_or_minus_one();
    test_ackepoch_minus_one_does_not_count_and_leader_writes_current_epoch();
    test_sync_diff_trunc_snap_as_sync_follower_chooses();
    test_newleader_quorum_then_uptodate();
    test_commit_in_zxid_order_once_a_quorum_persisted();
    test_propose_is_bounded();
    test_follower_acks_newleader_only_after_the_synced_txns_are_durable();
    test_follower_acks_a_proposal_only_after_it_is_persisted();
    test_learner_trunc_and_snap_are_outputs();
    test_leader_pings_every_half_tick_and_drops_silent_learners();
    test_leader_steps_down_without_a_synced_quorum();
    test_counter_exhaustion_steps_down_before_proposing();
    test_counter_exhaustion_starts_the_next_epoch_in_place_with_czk_learners();
    test_roll_over_drops_a_syncing_learner_holds_a_new_one_and_times_out();
    test_learner_takes_the_next_epoch_in_place();
    test_voters_update_carries_acks_over();
    test_leader_drops_a_learner_whose_acks_lag();
    test_learner_reconnecting_is_not_closed();
    test_ack_from_a_previous_connection_does_not_count_after_resync();
    test_txn_ack_before_the_ack_of_newleader_keeps_the_learner();
    test_follower_goes_looking_when_the_leader_is_silent();
    test_sync_limit_check_drops_a_follower_that_stops_acking_committed_txns();
    test_sync_limit_check_keeps_a_follower_that_acks_late_within_the_limit();
    test_sync_limit_check_leaves_observers_alone();
    test_learner_backlog_is_reported_and_the_ring_grows();
    test_observer_gets_inform_and_is_not_counted();
    test_reconfig_commits_with_activate();
    test_informs_outlive_the_committed_log_trim();
    test_observer_logs_a_diffs_proposals_unacked();
    test_config_and_events_are_checked();
    test_sync_sends_a_ping_round_at_once_and_waits_for_a_quorum_of_answers();
    test_sync_is_not_answered_by_answers_to_pings_sent_before_it();
    test_sync_waits_for_outstanding_proposals_first();
    test_sync_ack_of_a_later_proposal_confirms_the_leader();
    test_sync_is_never_answered_by_a_leader_without_its_quorum();
    CHECK_EQ_INT(sim_seeds(false), 0);
    return check_result("test_zab");
}
