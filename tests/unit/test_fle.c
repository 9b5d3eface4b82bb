/* SPDX-License-Identifier: Apache-2.0 */
/* Fast leader election (zab/fle.h): FastLeaderElection's rules one test each,
 * then a deterministic simulation of 3, 5 and 7 members (and an observer)
 * over a seeded network that delays, reorders and drops, with a partitioned
 * member, staggered starts and late joiners. `test_fle --seed S` replays one
 * seed; `test_fle --planted` runs the simulation with a planted bug (one vote
 * taken for a quorum) and succeeds only if the checks catch it. */
#include "check.h"
#include "zab/fle.h"

#include <stdlib.h>
#include <string.h>

/* ---- rules, one at a time ---- */

static const int64_t voters3[] = {1, 2, 3};

static void init3(struct fle *f, int64_t me)
{
    struct fle_config c = {.my_sid = me, .voters = voters3, .voters_len = 3};
    CHECK(fle_init(f, &c) == 0);
}

static void start(struct fle *f, struct fle_update *up, int64_t now, int64_t zxid, int64_t epoch)
{
    struct fle_event ev = {.type = FLE_START, .now_ms = now};
    ev.start.last_zxid = zxid;
    ev.start.current_epoch = epoch;
    CHECK(fle_step(f, &ev, up) == 0);
}

static void recv(struct fle *f, struct fle_update *up, int64_t now, int64_t from, int32_t state,
                 int64_t leader, int64_t zxid, int64_t round, int64_t peer_epoch)
{
    struct fle_event ev = {.type = FLE_RECEIVE, .now_ms = now};
    ev.receive.from = from;
    ev.receive.n = (struct election_notification){
        state, leader, zxid, round, peer_epoch, ELECTION_NOTIFICATION_VERSION, {NULL, 0}};
    CHECK(fle_step(f, &ev, up) == 0);
}

static void tick(struct fle *f, struct fle_update *up, int64_t now)
{
    struct fle_event ev = {.type = FLE_TICK, .now_ms = now};
    CHECK(fle_step(f, &ev, up) == 0);
}

static const struct fle_send *sent_to(const struct fle_update *up, int64_t to)
{
    for (size_t i = 0; i < up->sends_len; i++)
        if (up->sends[i].to == to)
            return &up->sends[i];
    return NULL;
}

static void test_start_votes_for_itself_and_notifies_every_voter(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 2);
    start(&f, &up, 1000, 0x100000005, 1);
    CHECK_EQ_INT(up.state, ELECTION_LOOKING);
    CHECK_EQ_INT(up.sends_len, 2); /* 1 and 3; our own copy is counted inside */
    const struct fle_send *s = sent_to(&up, 3);
    CHECK(s && s->state == ELECTION_LOOKING && s->vote.leader == 2 && s->vote.zxid == 0x100000005 &&
          s->vote.election_epoch == 1 && s->vote.peer_epoch == 1);
    CHECK(sent_to(&up, 2) == NULL);
    CHECK_EQ_INT(up.deadline_ms, 1000 + FLE_NOTIFICATION_INTERVAL_MIN_MS);
    CHECK(f.recvset[1].present); /* our own vote is in recvset */
}

/* A new instance after a reconfig that keeps the role: it answers a
 * LOOKING voter with the vote the role stands on, without an election;
 * the next START begins the round after that vote's. */
static void test_resume_answers_with_the_role_s_vote(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 2);
    struct fle_event ev = {.type = FLE_RESUME, .now_ms = 100};
    ev.resume.state = ELECTION_LOOKING;
    CHECK(fle_step(&f, &ev, &up) == FLE_EINVAL);
    ev.resume.state = ELECTION_FOLLOWING;
    ev.resume.vote = (struct fle_vote){3, 0x500000007, 4, 5};
    CHECK(fle_step(&f, &ev, &up) == 0);
    CHECK(up.sends_len == 0 && up.deadline_ms == -1 && !up.decided);
    CHECK_EQ_INT(up.state, ELECTION_FOLLOWING);
    recv(&f, &up, 110, 1, ELECTION_LOOKING, 1, 0x100000000, 1, 1);
    const struct fle_send *s = sent_to(&up, 1);
    CHECK(s && s->state == ELECTION_FOLLOWING && s->vote.leader == 3 &&
          s->vote.zxid == 0x500000007 && s->vote.election_epoch == 4 && s->vote.peer_epoch == 5);
    start(&f, &up, 120, 0x500000009, 5);
    CHECK_EQ_INT(f.logicalclock, 5);
}

static void test_total_order_predicate_epoch_then_zxid_then_sid(void)
{
    struct fle f;
    int64_t zero[] = {3};
    struct fle_config c = {
        .my_sid = 1, .voters = voters3, .voters_len = 3, .zero_weight = zero, .zero_weight_len = 1};
    CHECK(fle_init(&f, &c) == 0);
    CHECK(fle_vote_beats(&f, 1, 0, 2, 2, 100, 1));  /* higher epoch beats higher zxid */
    CHECK(!fle_vote_beats(&f, 2, 100, 1, 1, 0, 2)); /* and the reverse loses */
    CHECK(fle_vote_beats(&f, 1, 6, 1, 2, 5, 1));    /* same epoch: higher zxid beats higher sid */
    CHECK(fle_vote_beats(&f, 2, 5, 1, 1, 5, 1));    /* all equal but sid */
    CHECK(!fle_vote_beats(&f, 2, 5, 1, 2, 5, 1));   /* equal is not better */
    CHECK(!fle_vote_beats(&f, 3, 99, 9, 1, 0, 0));  /* weight 0: never */
}

static void test_higher_round_adopts_round_resets_recvset_and_keeps_better_own_vote(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 3);
    start(&f, &up, 0, 10, 1);
    recv(&f, &up, 5, 1, ELECTION_LOOKING, 1, 5, 1, 1); /* worse, our round */
    CHECK(f.recvset[0].present);
    /* Round 4 from 2 with a worse vote: round adopted, recvset cleared, our
     * own (better) vote sent again in round 4. */
    recv(&f, &up, 10, 2, ELECTION_LOOKING, 2, 3, 4, 1);
    CHECK_EQ_INT(f.logicalclock, 4);
    CHECK(!f.recvset[0].present);
    CHECK(f.recvset[1].present && f.recvset[2].present);
    const struct fle_send *s = sent_to(&up, 1);
    CHECK(s && s->vote.leader == 3 && s->vote.election_epoch == 4);
    /* Round 6 with a better vote: adopted. */
    recv(&f, &up, 20, 1, ELECTION_LOOKING, 1, 99, 6, 1);
    CHECK_EQ_INT(f.proposal.leader, 1);
    CHECK_EQ_INT(f.logicalclock, 6);
    CHECK(sent_to(&up, 2) != NULL);
}

static void test_same_round_better_vote_updates_proposal_and_notifies(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 1);
    start(&f, &up, 0, 5, 1);
    recv(&f, &up, 1, 2, ELECTION_LOOKING, 2, 5, 1, 1); /* same zxid, higher sid */
    CHECK_EQ_INT(f.proposal.leader, 2);
    CHECK_EQ_INT(up.sends_len, 2);
    /* A worse one is recorded but changes nothing and sends nothing. */
    struct fle g;
    init3(&g, 3);
    start(&g, &up, 0, 5, 1);
    recv(&g, &up, 1, 1, ELECTION_LOOKING, 1, 5, 1, 1);
    CHECK_EQ_INT(g.proposal.leader, 3);
    CHECK_EQ_INT(up.sends_len, 0);
    CHECK(g.recvset[0].present);
}

static void test_lower_round_is_ignored_but_a_looking_sender_is_answered(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 1);
    start(&f, &up, 0, 5, 1);
    recv(&f, &up, 1, 2, ELECTION_LOOKING, 2, 50, 3, 1); /* round 3, better: adopt */
    CHECK_EQ_INT(f.logicalclock, 3);
    recv(&f, &up, 2, 3, ELECTION_LOOKING, 3, 99, 2, 1); /* round 2: even a better vote */
    CHECK_EQ_INT(f.proposal.leader, 2);
    CHECK(!f.recvset[2].present);
    CHECK_EQ_INT(up.sends_len, 1);
    CHECK(up.sends[0].to == 3 && up.sends[0].state == ELECTION_LOOKING &&
          up.sends[0].vote.leader == 2 && up.sends[0].vote.election_epoch == 3);
}

static void test_quorum_then_finalize_wait_then_leading(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 3);
    start(&f, &up, 0, 7, 1);
    recv(&f, &up, 10, 1, ELECTION_LOOKING, 3, 7, 1, 1); /* 1 votes for us: 2 of 3 */
    CHECK_EQ_INT(up.state, ELECTION_LOOKING);
    CHECK(!up.decided);
    CHECK_EQ_INT(up.deadline_ms, 10 + FLE_FINALIZE_WAIT_MS);
    tick(&f, &up, 10 + FLE_FINALIZE_WAIT_MS - 1);
    CHECK(!up.decided);
    tick(&f, &up, 10 + FLE_FINALIZE_WAIT_MS);
    CHECK(up.decided);
    CHECK_EQ_INT(up.state, ELECTION_LEADING);
    CHECK(up.vote.leader == 3 && up.vote.zxid == 7 && up.vote.election_epoch == 1 &&
          up.vote.peer_epoch == 1);
    CHECK_EQ_INT(up.deadline_ms, -1);
}

static void test_finalize_wait_drops_worse_votes_and_restarts_on_a_better_one(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 2);
    start(&f, &up, 0, 7, 1);
    recv(&f, &up, 10, 1, ELECTION_LOOKING, 2, 7, 1, 1);
    CHECK(f.finalizing);
    /* Not better: consumed, and the 200 ms start again. */
    recv(&f, &up, 100, 1, ELECTION_LOOKING, 1, 1, 1, 1);
    CHECK_EQ_INT(up.deadline_ms, 100 + FLE_FINALIZE_WAIT_MS);
    tick(&f, &up, 210);
    CHECK(!up.decided);
    /* Better: back to the main loop, which takes it, notifies, and (with
     * our own looped-back vote) has a quorum for 3 again: a new wait. */
    recv(&f, &up, 250, 3, ELECTION_LOOKING, 3, 8, 1, 1);
    CHECK_EQ_INT(f.proposal.leader, 3);
    CHECK(sent_to(&up, 3) != NULL && sent_to(&up, 1) != NULL);
    CHECK(f.finalizing);
    CHECK_EQ_INT(up.deadline_ms, 250 + FLE_FINALIZE_WAIT_MS);
    recv(&f, &up, 260, 1, ELECTION_LOOKING, 3, 8, 1, 1);
    tick(&f, &up, 260 + FLE_FINALIZE_WAIT_MS);
    CHECK(up.decided);
    CHECK_EQ_INT(up.state, ELECTION_FOLLOWING);
    CHECK_EQ_INT(up.vote.leader, 3);
}

/* ---- czk's early decision (decide_when_connected_agree) ---- */

static void init3_early(struct fle *f, int64_t me)
{
    struct fle_config c = {
        .my_sid = me, .voters = voters3, .voters_len = 3, .decide_when_connected_agree = true};
    CHECK(fle_init(f, &c) == 0);
}

static void connected(struct fle *f, struct fle_update *up, int64_t now, int64_t sid, bool is_up)
{
    struct fle_event ev = {.type = FLE_CONNECTED, .now_ms = now};
    ev.connected.sid = sid;
    ev.connected.up = is_up;
    CHECK(fle_step(f, &ev, up) == 0);
}

static void test_early_decision_once_every_connected_voter_agrees(void)
{
    struct fle f;
    struct fle_update up;
    init3_early(&f, 3);
    connected(&f, &up, 0, 1, true);
    connected(&f, &up, 0, 2, true);
    CHECK(!up.decided);
    start(&f, &up, 0, 7, 1);
    recv(&f, &up, 10, 1, ELECTION_LOOKING, 3, 7, 1, 1); /* a quorum, 2 not heard yet */
    CHECK(f.finalizing);
    CHECK(!up.decided);
    CHECK_EQ_INT(up.deadline_ms, 10 + FLE_FINALIZE_WAIT_MS);
    recv(&f, &up, 12, 2, ELECTION_LOOKING, 3, 7, 1, 1); /* the last connected voter */
    CHECK(up.decided);
    CHECK(up.decided_early);
    CHECK_EQ_INT(up.state, ELECTION_LEADING);
    CHECK(up.vote.leader == 3 && up.vote.zxid == 7 && up.vote.election_epoch == 1);
    CHECK_EQ_INT(up.deadline_ms, -1);
}

static void test_early_decision_without_the_voter_whose_connection_is_down(void)
{
    /* The leader (3) was killed: its connection is down. 1 learns 2's better
     * vote, adopts it, and with 2 agreeing follows at once. */
    struct fle f;
    struct fle_update up;
    init3_early(&f, 1);
    connected(&f, &up, 0, 2, true);
    connected(&f, &up, 0, 3, true);
    connected(&f, &up, 5, 3, false);
    start(&f, &up, 10, 7, 1);
    CHECK(!up.decided);
    recv(&f, &up, 11, 2, ELECTION_LOOKING, 2, 8, 1, 1);
    CHECK(up.decided);
    CHECK(up.decided_early);
    CHECK_EQ_INT(up.state, ELECTION_FOLLOWING);
    CHECK_EQ_INT(up.vote.leader, 2);
}

static void test_early_decision_when_the_silent_voter_disconnects(void)
{
    struct fle f;
    struct fle_update up;
    init3_early(&f, 3);
    connected(&f, &up, 0, 1, true);
    connected(&f, &up, 0, 2, true);
    start(&f, &up, 0, 7, 1);
    recv(&f, &up, 10, 1, ELECTION_LOOKING, 3, 7, 1, 1);
    /* 2 votes for someone worse: consumed by the finalizeWait loop, and not
     * an agreement */
    recv(&f, &up, 20, 2, ELECTION_LOOKING, 2, 6, 1, 1);
    CHECK(!up.decided);
    CHECK(f.finalizing);
    connected(&f, &up, 30, 2, false);
    CHECK(up.decided);
    CHECK(up.decided_early);
    CHECK_EQ_INT(up.state, ELECTION_LEADING);
}

static void test_no_early_decision_while_a_voter_was_never_connected(void)
{
    /* 2 may be starting up: waited for, as Apache waits */
    struct fle f;
    struct fle_update up;
    init3_early(&f, 3);
    connected(&f, &up, 0, 1, true);
    start(&f, &up, 0, 7, 1);
    recv(&f, &up, 10, 1, ELECTION_LOOKING, 3, 7, 1, 1);
    CHECK(f.finalizing);
    CHECK(!up.decided);
    CHECK_EQ_INT(up.deadline_ms, 10 + FLE_FINALIZE_WAIT_MS);
    tick(&f, &up, 10 + FLE_FINALIZE_WAIT_MS);
    CHECK(up.decided);
    CHECK(!up.decided_early);
}

static void test_a_worse_vote_of_our_round_is_answered_with_ours(void)
{
    /* 2 missed our first vote (it was still following when it came): its
     * own, worse, vote gets ours back at once, not after notTimeout */
    struct fle f;
    struct fle_update up;
    init3_early(&f, 3);
    start(&f, &up, 0, 7, 1);
    recv(&f, &up, 5, 2, ELECTION_LOOKING, 2, 7, 1, 1);
    const struct fle_send *back = sent_to(&up, 2);
    CHECK(back != NULL);
    if (back)
        CHECK(back->state == ELECTION_LOOKING && back->vote.leader == 3 &&
              back->vote.election_epoch == 1);
    /* an equal or better vote is not answered */
    recv(&f, &up, 6, 1, ELECTION_LOOKING, 3, 7, 1, 1);
    CHECK(sent_to(&up, 1) == NULL);
    /* Apache's rule alone: no answer */
    init3(&f, 3);
    start(&f, &up, 0, 7, 1);
    recv(&f, &up, 5, 2, ELECTION_LOOKING, 2, 7, 1, 1);
    CHECK(sent_to(&up, 2) == NULL);
}

static void test_without_the_rule_connections_change_nothing(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 3);
    connected(&f, &up, 0, 1, true);
    start(&f, &up, 0, 7, 1);
    recv(&f, &up, 10, 1, ELECTION_LOOKING, 3, 7, 1, 1);
    connected(&f, &up, 11, 2, false);
    CHECK(!up.decided);
    CHECK_EQ_INT(up.deadline_ms, 10 + FLE_FINALIZE_WAIT_MS);
    tick(&f, &up, 10 + FLE_FINALIZE_WAIT_MS);
    CHECK(up.decided);
    CHECK(!up.decided_early);
}

static void test_notification_timeout_doubles_up_to_max_and_resends(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 1);
    start(&f, &up, 0, 1, 1);
    int64_t now = 0, interval = FLE_NOTIFICATION_INTERVAL_MIN_MS;
    for (int i = 0; i < 12; i++) {
        CHECK_EQ_INT(up.deadline_ms, now + interval);
        tick(&f, &up, now + interval - 1);
        CHECK_EQ_INT(up.sends_len, 0);
        now += interval;
        tick(&f, &up, now);
        CHECK_EQ_INT(up.sends_len, 2);
        interval = interval * 2 > FLE_NOTIFICATION_INTERVAL_MAX_MS
                       ? FLE_NOTIFICATION_INTERVAL_MAX_MS
                       : interval * 2;
    }
    CHECK_EQ_INT(up.deadline_ms - now, FLE_NOTIFICATION_INTERVAL_MAX_MS);
    CHECK_EQ_INT(f.logicalclock, 1); /* resending is not a new round */
}

static void test_following_notifications_of_our_round_need_the_leader_leading(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 1);
    start(&f, &up, 0, 1, 1);
    /* 2 follows 3 in our round; 3 has not said it leads: checkLeader fails. */
    recv(&f, &up, 5, 2, ELECTION_FOLLOWING, 3, 9, 1, 2);
    CHECK(!up.decided);
    recv(&f, &up, 6, 3, ELECTION_LEADING, 3, 9, 1, 2);
    CHECK(up.decided);
    CHECK_EQ_INT(up.state, ELECTION_FOLLOWING);
    CHECK(up.vote.leader == 3 && up.vote.peer_epoch == 2 && up.vote.election_epoch == 1);
}

static void test_late_joiner_learns_the_leader_out_of_election(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 3);
    start(&f, &up, 0, 1000, 9); /* better data than the leader: still follows */
    /* Replies from an ensemble that elected 1 in round 7. */
    recv(&f, &up, 5, 2, ELECTION_FOLLOWING, 1, 4, 7, 3);
    CHECK(!up.decided);
    recv(&f, &up, 6, 1, ELECTION_LEADING, 1, 4, 7, 3);
    CHECK(up.decided);
    CHECK_EQ_INT(up.state, ELECTION_FOLLOWING);
    CHECK_EQ_INT(up.vote.leader, 1);
    CHECK_EQ_INT(f.logicalclock, 7); /* the round is adopted */
    /* Different peer epochs of the same leader do not agree (Vote.equals). */
    struct fle g;
    init3(&g, 3);
    start(&g, &up, 0, 1000, 9);
    recv(&g, &up, 5, 2, ELECTION_FOLLOWING, 1, 4, 7, 2);
    recv(&g, &up, 6, 1, ELECTION_LEADING, 1, 4, 7, 3);
    CHECK(!up.decided);
}

static void test_decided_server_answers_looking_voters_with_its_current_vote(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 3);
    start(&f, &up, 0, 7, 1);
    recv(&f, &up, 10, 1, ELECTION_LOOKING, 3, 7, 1, 1);
    tick(&f, &up, 1000);
    CHECK_EQ_INT(up.state, ELECTION_LEADING);
    struct fle_event ev = {.type = FLE_EPOCH_UPDATE, .now_ms = 1100};
    ev.epoch_update.epoch = 2;
    CHECK(fle_step(&f, &ev, &up) == 0);
    recv(&f, &up, 1200, 2, ELECTION_LOOKING, 2, 1, 5, 1);
    CHECK_EQ_INT(up.sends_len, 1);
    CHECK(up.sends[0].to == 2 && up.sends[0].state == ELECTION_LEADING &&
          up.sends[0].vote.leader == 3 && up.sends[0].vote.election_epoch == 1 &&
          up.sends[0].vote.peer_epoch == 2);
    recv(&f, &up, 1300, 2, ELECTION_FOLLOWING, 3, 7, 1, 2); /* not looking: no answer */
    CHECK_EQ_INT(up.sends_len, 0);
    CHECK_EQ_INT(up.deadline_ms, -1);
}

static void test_non_voter_is_answered_at_once_and_observer_observes(void)
{
    struct fle v;
    struct fle_update up;
    init3(&v, 1);
    start(&v, &up, 0, 5, 1);
    recv(&v, &up, 1, 9, ELECTION_LOOKING, FLE_NO_VOTE, FLE_NO_VOTE, 1, FLE_NO_VOTE);
    CHECK_EQ_INT(up.sends_len, 1);
    CHECK(up.sends[0].to == 9 && up.sends[0].state == ELECTION_LOOKING &&
          up.sends[0].vote.leader == 1);
    CHECK(!v.recvset[0].present || v.recvset[0].vote.leader == 1); /* only our own vote */

    /* The observer (sid 9) votes for nobody and notifies the voters only. */
    struct fle o;
    struct fle_config c = {.my_sid = 9, .voters = voters3, .voters_len = 3};
    CHECK(fle_init(&o, &c) == 0);
    start(&o, &up, 0, 5, 1);
    CHECK_EQ_INT(up.sends_len, 3);
    CHECK_EQ_INT(up.sends[0].vote.leader, FLE_NO_VOTE);
    recv(&o, &up, 5, 1, ELECTION_FOLLOWING, 2, 5, 1, 2);
    recv(&o, &up, 6, 2, ELECTION_LEADING, 2, 5, 1, 2);
    CHECK(up.decided);
    CHECK_EQ_INT(up.state, ELECTION_OBSERVING);
    CHECK_EQ_INT(up.vote.leader, 2);
}

static void test_unloaded_data_and_foreign_leaders_are_ignored(void)
{
    struct fle f;
    struct fle_update up;
    init3(&f, 1);
    start(&f, &up, 0, 5, 1);
    recv(&f, &up, 1, 2, ELECTION_LOOKING, 2, -1, 1, 1); /* zxid -1 */
    CHECK(!f.recvset[1].present);
    recv(&f, &up, 1, 2, ELECTION_LOOKING, 42, 9, 1, 1); /* leader outside the view */
    CHECK(!f.recvset[1].present);
    CHECK_EQ_INT(f.proposal.leader, 1);
    struct fle g;
    init3(&g, 1);
    start(&g, &up, 0, -1, 0); /* we could not load: LOOKING votes are ignored */
    recv(&g, &up, 1, 2, ELECTION_LOOKING, 2, 9, 1, 1);
    CHECK(!g.recvset[1].present);
    struct fle_event bad = {.type = FLE_RECEIVE, .now_ms = 2};
    bad.receive.from = 2;
    bad.receive.n.state = 7;
    CHECK(fle_step(&g, &bad, &up) == FLE_EINVAL);
}

static void test_config_is_checked(void)
{
    struct fle f;
    int64_t dup[] = {1, 2, 2};
    struct fle_config c = {.my_sid = 1, .voters = dup, .voters_len = 3};
    CHECK(fle_init(&f, &c) == FLE_EINVAL);
    c.voters_len = 0;
    CHECK(fle_init(&f, &c) == FLE_EINVAL);
    c.voters = voters3;
    c.voters_len = 3;
    c.notification_interval_min_ms = 1000;
    c.notification_interval_max_ms = 10;
    CHECK(fle_init(&f, &c) == FLE_EINVAL);
}

/* ---- the simulation ---- */

#define SIM_MAX       8 /* 7 voters + an observer */
#define SIM_MSGS_MAX  4096
#define SIM_END_MS    (15 * 60 * 1000)
#define SIM_INIT_MS   2000 /* the ZAB stand-in's initLimit */
#define SIM_SEEDS_MIN 300

struct sim_msg {
    int64_t at;
    uint64_t seq;
    int from, to;
    struct election_notification n;
};

struct sim_member {
    struct fle fle;
    int64_t sid;
    bool voter;
    int64_t zxid, epoch;
    int64_t vote_zxid, vote_epoch; /* as of the last START: what it voted with */
    int64_t start_at;              /* -1 once started */
    int64_t deadline;              /* the last update's, -1 for none */
    int64_t check_at;              /* the ZAB stand-in's next look, -1 for none */
    bool established;              /* leading a quorum, or connected to such a leader */
    bool isolated;
    bool late; /* started once the others had settled */
    int decisions;
    uint32_t heard[SIM_MAX]; /* per leader: voters whose vote for it reached us */
};

struct sim {
    uint64_t seed, rng;
    int n, n_voters;
    struct sim_member m[SIM_MAX];
    struct sim_msg msgs[SIM_MSGS_MAX];
    size_t msgs_len;
    uint64_t seq;
    int64_t now;
    int drop_pct, delay_max_ms;
    bool calm;  /* no drops, no partition, one start time, short delays */
    bool early; /* odd seeds: decide_when_connected_agree, connections up once both run */
    bool planted;
    int failures;
    int early_decisions; /* decided before finalizeWait ran out */
    char why[256];
};

static uint64_t sim_rand(struct sim *s)
{
    /* splitmix64 */
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int sim_below(struct sim *s, int n)
{
    return (int)(sim_rand(s) % (uint64_t)n);
}

static bool single_vote_quorum(void *arg, const int64_t *acks, size_t acks_len)
{
    (void)arg;
    (void)acks;
    return acks_len >= 1; /* the planted bug */
}

static int quorum_size(const struct sim *s)
{
    return s->n_voters / 2 + 1;
}

static void sim_fail(struct sim *s, const char *why, int a, int b)
{
    if (!s->failures)
        snprintf(s->why, sizeof(s->why), "%s (member %d, %d) at %lld ms", why, a, b,
                 (long long)s->now);
    s->failures++;
}

static bool linked(const struct sim *s, int a, int b)
{
    return !s->m[a].isolated && !s->m[b].isolated;
}

/* (epoch, zxid, sid) of a member, compared as FLE does. */
static bool vote_ge(const struct sim_member *a, const struct sim_member *b)
{
    if (a->vote_epoch != b->vote_epoch)
        return a->vote_epoch > b->vote_epoch;
    if (a->vote_zxid != b->vote_zxid)
        return a->vote_zxid > b->vote_zxid;
    return a->sid >= b->sid;
}

static void sim_net_send(struct sim *s, int from, const struct fle_send *snd)
{
    int to = (int)snd->to - 1;
    if (snd->state == ELECTION_LOOKING && snd->vote.leader >= 1 && s->m[from].voter)
        s->m[from].heard[snd->vote.leader - 1] |= 1u << from; /* our own vote */
    if (!linked(s, from, to) || sim_below(s, 100) < s->drop_pct)
        return;
    if (s->msgs_len == SIM_MSGS_MAX) /* a full link drops, as a closed connection */
        return;
    struct sim_msg *m = &s->msgs[s->msgs_len++];
    m->at = s->now + 1 + sim_below(s, s->delay_max_ms);
    m->seq = s->seq++;
    m->from = from;
    m->to = to;
    m->n = (struct election_notification){snd->state,
                                          snd->vote.leader,
                                          snd->vote.zxid,
                                          snd->vote.election_epoch,
                                          snd->vote.peer_epoch,
                                          ELECTION_NOTIFICATION_VERSION,
                                          {NULL, 0}};
}

static void sim_decided(struct sim *s, int i, const struct fle_update *up)
{
    struct sim_member *m = &s->m[i];
    m->decisions++;
    m->check_at = s->now + SIM_INIT_MS;
    int64_t leader = up->vote.leader;
    if (leader < 1 || leader > s->n_voters) {
        sim_fail(s, "decided for a non-voter", i, (int)leader);
        return;
    }
    /* Nobody decides without a quorum: the votes for this leader that
     * reached us (ours included) must come from a quorum of voters. */
    if (__builtin_popcount(m->heard[leader - 1]) < quorum_size(s))
        sim_fail(s, "decided without hearing a quorum", i, (int)leader - 1);
    if (m->isolated)
        sim_fail(s, "partitioned member decided", i, (int)leader - 1);
}

static void sim_step(struct sim *s, int i, const struct fle_event *ev)
{
    struct fle_update up;
    struct sim_member *m = &s->m[i];
    if (fle_step(&m->fle, ev, &up) != 0) {
        sim_fail(s, "fle_step failed", i, -1);
        return;
    }
    for (size_t k = 0; k < up.sends_len; k++)
        sim_net_send(s, i, &up.sends[k]);
    m->deadline = up.deadline_ms;
    if (up.decided_early)
        s->early_decisions++;
    if (up.decided)
        sim_decided(s, i, &up);
}

/* A member's process starts: its election connections to the running
 * members come up, on both ends (early seeds only); those of a partitioned
 * member are lost again at once (the partition falls after the connect). */
static void sim_connect(struct sim *s, int i)
{
    if (!s->early)
        return;
    for (int j = 0; j < s->n; j++) {
        if (j == i || s->m[j].start_at >= 0)
            continue;
        for (int up = 1; up >= (linked(s, i, j) ? 1 : 0); up--) {
            struct fle_event ev = {.type = FLE_CONNECTED, .now_ms = s->now};
            ev.connected.up = up;
            ev.connected.sid = s->m[j].sid;
            sim_step(s, i, &ev);
            ev.connected.sid = s->m[i].sid;
            sim_step(s, j, &ev);
        }
    }
}

static void sim_start(struct sim *s, int i)
{
    struct fle_event ev = {.type = FLE_START, .now_ms = s->now};
    ev.start.last_zxid = s->m[i].zxid;
    ev.start.current_epoch = s->m[i].epoch;
    s->m[i].vote_zxid = s->m[i].zxid;
    s->m[i].vote_epoch = s->m[i].epoch;
    s->m[i].established = false;
    s->m[i].check_at = -1;
    memset(s->m[i].heard, 0, sizeof(s->m[i].heard));
    sim_step(s, i, &ev);
}

static void sim_epoch(struct sim *s, int i, int64_t epoch)
{
    struct fle_event ev = {.type = FLE_EPOCH_UPDATE, .now_ms = s->now};
    ev.epoch_update.epoch = epoch;
    s->m[i].epoch = epoch;
    s->m[i].established = true;
    s->m[i].check_at = -1;
    sim_step(s, i, &ev);
}

/* A stand-in for ZAB's discovery: a leader that has a quorum of followers
 * within initLimit takes a new epoch; one that has not, and a learner whose
 * leader does not lead, go back to LOOKING, as Leader.lead and
 * Learner.connectToLeader do. */
static void sim_zab_check(struct sim *s, int i)
{
    struct sim_member *m = &s->m[i];
    m->check_at = -1;
    int64_t leader = m->fle.current.leader;
    if (m->fle.state == ELECTION_LEADING) {
        int count = 1;
        int64_t epoch = m->epoch;
        for (int j = 0; j < s->n_voters; j++)
            if (j != i && linked(s, i, j) && s->m[j].fle.state == ELECTION_FOLLOWING &&
                s->m[j].fle.current.leader == m->sid) {
                count++;
                epoch = s->m[j].epoch > epoch ? s->m[j].epoch : epoch;
            }
        if (count < quorum_size(s)) {
            sim_start(s, i);
            return;
        }
        sim_epoch(s, i, epoch + 1);
        for (int j = 0; j < s->n; j++)
            if (j != i && linked(s, i, j) && s->m[j].fle.state != ELECTION_LOOKING &&
                s->m[j].fle.current.leader == m->sid)
                sim_epoch(s, j, epoch + 1);
        return;
    }
    int l = (int)leader - 1;
    if (l < 0 || l >= s->n_voters || !linked(s, i, l) || s->m[l].fle.state != ELECTION_LEADING) {
        sim_start(s, i);
        return;
    }
    if (s->m[l].established)
        sim_epoch(s, i, s->m[l].epoch);
    else if (s->m[l].check_at >= 0)
        m->check_at = s->m[l].check_at + 1; /* wait for the leader's initLimit */
    else
        sim_start(s, i);
}

static void sim_setup(struct sim *s, uint64_t seed, int n_voters, bool planted)
{
    memset(s, 0, sizeof(*s));
    s->seed = seed;
    s->rng = seed;
    s->planted = planted;
    s->early = seed % 2 == 1;
    s->n_voters = n_voters;
    bool observer = sim_below(s, 3) == 0;
    s->n = n_voters + (observer ? 1 : 0);
    s->calm = sim_below(s, 4) == 0;
    s->drop_pct = s->calm ? 0 : sim_below(s, 15);
    s->delay_max_ms = s->calm ? 1 + sim_below(s, 50) : 1 + sim_below(s, 400);
    int isolated = !s->calm && sim_below(s, 3) == 0 ? sim_below(s, n_voters) : -1;
    int late = !s->calm && sim_below(s, 3) == 0 ? sim_below(s, s->n) : -1;
    int64_t voters[SIM_MAX];
    for (int i = 0; i < n_voters; i++)
        voters[i] = i + 1;
    for (int i = 0; i < s->n; i++) {
        struct sim_member *m = &s->m[i];
        m->sid = i + 1;
        m->voter = i < n_voters;
        m->epoch = 1 + sim_below(s, 2);
        m->zxid = (m->epoch << 32) | sim_below(s, 4);
        m->start_at = s->calm ? 0 : sim_below(s, 3000);
        if (i == late) {
            m->start_at = 20000 + sim_below(s, 20000);
            m->late = true;
        }
        m->isolated = i == isolated;
        m->deadline = -1;
        m->check_at = -1;
        struct fle_config c = {.my_sid = m->sid,
                               .voters = voters,
                               .voters_len = (size_t)n_voters,
                               .decide_when_connected_agree = s->early};
        if (planted)
            c.has_quorum = single_vote_quorum;
        if (fle_init(&m->fle, &c) != 0)
            sim_fail(s, "fle_init failed", i, -1);
        /* Some members lived through earlier elections: a higher round. */
        m->fle.logicalclock = sim_below(s, 3);
    }
}

/* The next thing to happen: a delivery, a timer, a start or a ZAB look. */
static bool sim_next(struct sim *s)
{
    int64_t best = INT64_MAX;
    int kind = -1, who = -1;
    for (size_t k = 0; k < s->msgs_len; k++)
        if (s->msgs[k].at < best ||
            (s->msgs[k].at == best && kind == 0 && s->msgs[k].seq < s->msgs[(size_t)who].seq)) {
            best = s->msgs[k].at;
            kind = 0;
            who = (int)k;
        }
    for (int i = 0; i < s->n; i++) {
        const struct sim_member *m = &s->m[i];
        if (m->start_at >= 0 && m->start_at < best)
            best = m->start_at, kind = 1, who = i;
        if (m->start_at < 0 && m->deadline >= 0 && m->deadline < best)
            best = m->deadline, kind = 2, who = i;
        if (m->check_at >= 0 && m->check_at < best)
            best = m->check_at, kind = 3, who = i;
    }
    if (kind < 0 || best > SIM_END_MS)
        return false;
    s->now = best;
    if (kind == 0) {
        struct sim_msg msg = s->msgs[who];
        s->msgs[who] = s->msgs[--s->msgs_len];
        struct sim_member *to = &s->m[msg.to];
        if (to->start_at >= 0) /* not running yet: the connection is refused */
            return true;
        if (s->m[msg.from].voter && msg.n.leader >= 1 && msg.n.leader <= s->n_voters)
            to->heard[msg.n.leader - 1] |= 1u << msg.from;
        struct fle_event ev = {.type = FLE_RECEIVE, .now_ms = s->now};
        ev.receive.from = s->m[msg.from].sid;
        ev.receive.n = msg.n;
        sim_step(s, msg.to, &ev);
    } else if (kind == 1) {
        s->m[who].start_at = -1;
        sim_connect(s, who);
        sim_start(s, who);
    } else if (kind == 2) {
        struct fle_event ev = {.type = FLE_TICK, .now_ms = s->now};
        sim_step(s, who, &ev);
    } else {
        sim_zab_check(s, who);
    }
    return true;
}

/* After the run: the members that can reach a quorum agree on one leader
 * that leads them, and that leader is as good as a quorum of them. */
static void sim_judge(struct sim *s)
{
    int leader = -1;
    for (int i = 0; i < s->n_voters; i++)
        if (!s->m[i].isolated && s->m[i].fle.state == ELECTION_LEADING && s->m[i].established) {
            if (leader >= 0)
                sim_fail(s, "two established leaders", leader, i);
            leader = i;
        }
    if (leader < 0) {
        sim_fail(s, "no established leader", -1, -1);
        return;
    }
    int as_good = 0;
    for (int i = 0; i < s->n; i++) {
        const struct sim_member *m = &s->m[i];
        if (m->isolated) {
            if (m->fle.state != ELECTION_LOOKING)
                sim_fail(s, "partitioned member not looking", i, -1);
            continue;
        }
        int32_t want = i == leader ? ELECTION_LEADING
                       : m->voter  ? ELECTION_FOLLOWING
                                   : ELECTION_OBSERVING;
        if (m->fle.state != want || m->fle.current.leader != s->m[leader].sid || !m->established)
            sim_fail(s, "member not with the leader", i, leader);
        if (m->voter && vote_ge(&s->m[leader], m))
            as_good++;
    }
    if (as_good < quorum_size(s))
        sim_fail(s, "leader worse than a quorum of its members", leader, as_good);
    if (s->calm) {
        /* Everyone hears everyone within finalizeWait: the best one wins,
         * whatever its sid (the epochs the run handed out aside). */
        for (int i = 0; i < s->n_voters; i++)
            if (s->m[i].decisions == 1 && s->m[leader].decisions == 1 &&
                !vote_ge(&s->m[leader], &s->m[i]))
                sim_fail(s, "calm run: the best member did not win", leader, i);
    }
}

/* What the seeds exercised, so that a quiet pass means something. */
struct sim_stats {
    int partitioned, late, observer, lossy, calm, reelections, late_better, early, early_decided;
};

static void sim_count(const struct sim *s, struct sim_stats *st)
{
    bool late = false, reelected = false, partitioned = false;
    int leader = -1;
    for (int i = 0; i < s->n_voters; i++)
        if (s->m[i].fle.state == ELECTION_LEADING && s->m[i].established)
            leader = i;
    for (int i = 0; i < s->n; i++) {
        partitioned |= s->m[i].isolated;
        late |= s->m[i].late;
        reelected |= s->m[i].decisions > 1;
        /* a late joiner with better data that still followed the leader */
        if (s->m[i].late && s->m[i].voter && leader >= 0 && i != leader &&
            !vote_ge(&s->m[leader], &s->m[i]))
            st->late_better++;
    }
    st->partitioned += partitioned;
    st->late += late;
    st->observer += s->n > s->n_voters;
    st->lossy += s->drop_pct > 0;
    st->calm += s->calm;
    st->reelections += reelected;
    st->early += s->early;
    st->early_decided += s->early_decisions > 0;
}

static int sim_run(uint64_t seed, int n_voters, bool planted, bool verbose, struct sim_stats *st)
{
    struct sim *sp = calloc(1, sizeof(*sp));
    if (!sp)
        abort();
    struct sim *s = sp;
    sim_setup(s, seed, n_voters, planted);
    while (!s->failures && sim_next(s)) {
    }
    if (!s->failures)
        sim_judge(s);
    int failures = s->failures;
    sim_count(s, st);
    if (failures && verbose)
        fprintf(stderr,
                "sim: seed %llu, %d voters%s: %s\n  replay: test_fle --seed %llu --voters %d%s\n",
                (unsigned long long)seed, n_voters, planted ? " (planted)" : "", s->why,
                (unsigned long long)seed, n_voters, planted ? " --planted" : "");
    free(sp);
    return failures;
}

static void test_highest_zxid_wins_with_a_lower_sid(void)
{
    /* Calm, simultaneous: sid 1 has the highest zxid of epoch 1. */
    struct fle f[3];
    struct fle_update up;
    int64_t zxid[3] = {0x100000009, 0x100000002, 0x100000003};
    struct sim_msg q[64];
    size_t qn = 0;
    for (int i = 0; i < 3; i++) {
        init3(&f[i], i + 1);
        start(&f[i], &up, 0, zxid[i], 1);
        for (size_t k = 0; k < up.sends_len; k++)
            q[qn++] =
                (struct sim_msg){1, 0, i, (int)up.sends[k].to - 1,
                                 (struct election_notification){up.sends[k].state,
                                                                up.sends[k].vote.leader,
                                                                up.sends[k].vote.zxid,
                                                                up.sends[k].vote.election_epoch,
                                                                up.sends[k].vote.peer_epoch,
                                                                2,
                                                                {NULL, 0}}};
    }
    int decided = 0;
    for (size_t k = 0; k < qn && k < 64; k++) {
        recv(&f[q[k].to], &up, 1, q[k].from + 1, q[k].n.state, q[k].n.leader, q[k].n.zxid,
             q[k].n.election_epoch, q[k].n.peer_epoch);
        for (size_t j = 0; j < up.sends_len && qn < 64; j++)
            q[qn++] =
                (struct sim_msg){1, 0, q[k].to, (int)up.sends[j].to - 1,
                                 (struct election_notification){up.sends[j].state,
                                                                up.sends[j].vote.leader,
                                                                up.sends[j].vote.zxid,
                                                                up.sends[j].vote.election_epoch,
                                                                up.sends[j].vote.peer_epoch,
                                                                2,
                                                                {NULL, 0}}};
    }
    for (int i = 0; i < 3; i++) {
        tick(&f[i], &up, 1 + FLE_FINALIZE_WAIT_MS);
        decided += up.decided;
        CHECK_EQ_INT(up.vote.leader, 1);
    }
    CHECK_EQ_INT(decided, 3);
    CHECK_EQ_INT(f[0].state, ELECTION_LEADING);
}

static int run_seeds(bool planted)
{
    int failed_runs = 0, runs = 0;
    struct sim_stats st = {0};
    static const int sizes[] = {3, 5, 7};
    for (uint64_t seed = 1; seed <= SIM_SEEDS_MIN; seed++)
        for (size_t k = 0; k < 3; k++) {
            runs++;
            if (sim_run(seed, sizes[k], planted, !planted || failed_runs == 0, &st))
                failed_runs++;
        }
    printf("sim: %d runs, %d failed%s; runs with: a partitioned member %d, a late joiner %d "
           "(with better data than the leader %d), an observer %d, drops %d, calm %d, "
           "re-elections %d, the early decision on %d (taken in %d)\n",
           runs, failed_runs, planted ? " (planted bug)" : "", st.partitioned, st.late,
           st.late_better, st.observer, st.lossy, st.calm, st.reelections, st.early,
           st.early_decided);
    /* the early rule is exercised, and not on every run */
    if (!planted) {
        CHECK(st.early_decided > st.early / 4);
        CHECK(st.early < runs);
    }
    return failed_runs;
}

int main(int argc, char **argv)
{
    bool planted = false;
    long long seed = -1;
    int voters = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--planted") == 0)
            planted = true;
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = atoll(argv[++i]);
        else if (strcmp(argv[i], "--voters") == 0 && i + 1 < argc)
            voters = atoi(argv[++i]);
    }
    if (seed >= 0) {
        struct sim_stats st = {0};
        int f = sim_run((uint64_t)seed, voters, planted, true, &st);
        printf("sim: seed %lld, %d voters: %s\n", seed, voters, f ? "FAILED" : "ok");
        return f ? 1 : 0;
    }
    if (planted) {
        /* A test of the test: the checks must catch one vote taken for a
         * quorum, in most runs. */
        int failed = run_seeds(true);
        CHECK(failed > SIM_SEEDS_MIN);
        return check_result("test_fle --planted");
    }
    test_start_votes_for_itself_and_notifies_every_voter();
    test_resume_answers_with_the_role_s_vote();
    test_total_order_predicate_epoch_then_zxid_then_sid();
    test_higher_round_adopts_round_resets_recvset_and_keeps_better_own_vote();
    test_same_round_better_vote_updates_proposal_and_notifies();
    test_lower_round_is_ignored_but_a_looking_sender_is_answered();
    test_quorum_then_finalize_wait_then_leading();
    test_finalize_wait_drops_worse_votes_and_restarts_on_a_better_one();
    test_early_decision_once_every_connected_voter_agrees();
    test_early_decision_without_the_voter_whose_connection_is_down();
    test_early_decision_when_the_silent_voter_disconnects();
    test_no_early_decision_while_a_voter_was_never_connected();
    test_a_worse_vote_of_our_round_is_answered_with_ours();
    test_without_the_rule_connections_change_nothing();
    test_notification_timeout_doubles_up_to_max_and_resends();
    test_following_notifications_of_our_round_need_the_leader_leading();
    test_late_joiner_learns_the_leader_out_of_election();
    test_decided_server_answers_looking_voters_with_its_current_vote();
    test_non_voter_is_answered_at_once_and_observer_observes();
    test_unloaded_data_and_foreign_leaders_are_ignored();
    test_config_is_checked();
    test_highest_zxid_wins_with_a_lower_sid();
    CHECK_EQ_INT(run_seeds(false), 0);
    return check_result("test_fle");
}
