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

static void init_zab(struct zab *z, int64_t me, const int64_t *voters, size_t n, size_t window)
{
    struct zab_config c = {.my_sid = me,
                           .voters = voters,
                           .voters_len = n,
                           .tick_ms = TICK_MS,
                           .init_limit = 10,
                           .sync_limit = 5,
                           .committed_log_max = window,
                           .outstanding_max = 8};
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
    CHECK_EQ_INT(up.current_epoch, 2);
    CHECK(sent(3, QUORUM_ACK) == NULL); /* 1_2, 1_3 not durable yet */
    if (!persist)
        return;
    persisted(z, 3, E(1, 3));
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
    persisted(&z, 3, E(1, 3));
    CHECK(sent(3, QUORUM_ACK) != NULL);
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

#define SIM_SEEDS 1
static int sim_run(uint64_t seed, int learners, bool planted, bool verbose)
{
    (void)seed, (void)learners, (void)planted, (void)verbose;
    return 0;
}
static int sim_seeds(bool planted)
{
    (void)planted;
    return 0;
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
        int f = sim_run((uint64_t)seed, learners, planted, true);
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
    test_leader_drops_a_learner_whose_acks_lag();
    test_follower_goes_looking_when_the_leader_is_silent();
    test_observer_gets_inform_and_is_not_counted();
    test_config_and_events_are_checked();
    CHECK_EQ_INT(sim_seeds(false), 0);
    return check_result("test_zab");
}
