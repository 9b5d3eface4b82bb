/* SPDX-License-Identifier: Apache-2.0 */
/* fle.c — FastLeaderElection.lookForLeader and WorkerReceiver's answers, one
 * event at a time. Pure: no I/O; time comes from the caller. Apache runs the
 * election as a thread blocked in recvqueue.poll(); here each poll that would
 * return is a RECEIVE and each poll that would time out is a TICK past
 * poll_deadline_ms (or finalize_deadline_ms inside the finalizeWait loop). */
#include "zab/fle.h"

#include <assert.h>
#include <string.h>

static int voter_index(const struct fle *fle, int64_t sid)
{
    for (size_t i = 0; i < fle->voters_len; i++)
        if (fle->voters[i] == sid)
            return (int)i;
    return -1;
}

/* validVoter: in the current (or next) voting view. */
static bool is_voter(const struct fle *fle, int64_t sid)
{
    return voter_index(fle, sid) >= 0;
}

int fle_init(struct fle *fle, const struct fle_config *config)
{
    if (config->voters_len == 0 || config->voters_len > FLE_VOTERS_MAX)
        return FLE_EINVAL;
    if (config->finalize_wait_ms < 0 || config->notification_interval_min_ms < 0 ||
        config->notification_interval_max_ms < 0)
        return FLE_EINVAL;
    memset(fle, 0, sizeof(*fle));
    fle->my_sid = config->my_sid;
    for (size_t i = 0; i < config->voters_len; i++) {
        for (size_t j = 0; j < i; j++)
            if (config->voters[j] == config->voters[i])
                return FLE_EINVAL;
        fle->voters[i] = config->voters[i];
    }
    fle->voters_len = config->voters_len;
    for (size_t i = 0; i < config->zero_weight_len; i++) {
        int k = voter_index(fle, config->zero_weight[i]);
        if (k >= 0)
            fle->zero_weight[k] = true;
    }
    fle->has_quorum = config->has_quorum;
    fle->has_quorum_arg = config->has_quorum_arg;
    fle->finalize_wait_ms =
        config->finalize_wait_ms ? config->finalize_wait_ms : FLE_FINALIZE_WAIT_MS;
    fle->interval_min_ms = config->notification_interval_min_ms
                               ? config->notification_interval_min_ms
                               : FLE_NOTIFICATION_INTERVAL_MIN_MS;
    fle->interval_max_ms = config->notification_interval_max_ms
                               ? config->notification_interval_max_ms
                               : FLE_NOTIFICATION_INTERVAL_MAX_MS;
    if (fle->interval_max_ms < fle->interval_min_ms)
        return FLE_EINVAL;
    fle->decide_when_connected_agree = config->decide_when_connected_agree;
    fle->state = ELECTION_LOOKING;
    fle->poll_deadline_ms = -1;
    return 0;
}

bool fle_vote_beats(const struct fle *fle, int64_t id, int64_t zxid, int64_t epoch, int64_t cur_id,
                    int64_t cur_zxid, int64_t cur_epoch)
{
    /* QuorumVerifier.getWeight(id) == 0. QuorumMaj answers 1 for any sid,
     * members or not: only a listed zero-weight voter is refused here. */
    int k = voter_index(fle, id);
    if (k >= 0 && fle->zero_weight[k])
        return false;
    return epoch > cur_epoch ||
           (epoch == cur_epoch && (zxid > cur_zxid || (zxid == cur_zxid && id > cur_id)));
}

static bool beats_proposal(const struct fle *fle, const struct fle_vote *v)
{
    return fle_vote_beats(fle, v->leader, v->zxid, v->peer_epoch, fle->proposal.leader,
                          fle->proposal.zxid, fle->proposal.peer_epoch);
}

/* A LOOKING vote of our round for our proposal: what czk's early decision
 * counts (see connected_agree). */
static bool agrees_with_proposal(const struct fle *fle, int state, const struct fle_vote *v)
{
    return state == ELECTION_LOOKING && v->election_epoch == fle->logicalclock &&
           v->leader == fle->proposal.leader && v->zxid == fle->proposal.zxid &&
           v->peer_epoch == fle->proposal.peer_epoch;
}

/* Vote.equals: full comparison when either side is LOOKING; otherwise only
 * the leader and its epoch (ZOOKEEPER-1805), and only the leader when just
 * one of the two has a version (ZOOKEEPER-1732, mixed ensembles). */
static bool ballot_matches(const struct fle_ballot *a, const struct fle_ballot *b)
{
    if (a->state == ELECTION_LOOKING || b->state == ELECTION_LOOKING)
        return a->vote.leader == b->vote.leader && a->vote.zxid == b->vote.zxid &&
               a->vote.election_epoch == b->vote.election_epoch &&
               a->vote.peer_epoch == b->vote.peer_epoch;
    if ((a->version > 0) != (b->version > 0))
        return a->vote.leader == b->vote.leader;
    return a->vote.leader == b->vote.leader && a->vote.peer_epoch == b->vote.peer_epoch;
}

/* getVoteTracker(votes, vote).hasAllQuorums(). Only one view: the last seen
 * (next) config of a reconfig is not tracked (see docs/ARCHITECTURE.md). */
static bool has_quorum_for(const struct fle *fle, const struct fle_ballot *set,
                           const struct fle_ballot *vote)
{
    int64_t acks[FLE_VOTERS_MAX];
    size_t acks_len = 0;
    for (size_t i = 0; i < fle->voters_len; i++)
        if (set[i].present && ballot_matches(vote, &set[i]))
            acks[acks_len++] = fle->voters[i];
    if (fle->has_quorum)
        return fle->has_quorum(fle->has_quorum_arg, acks, acks_len);
    /* QuorumMaj.containsQuorum. To become membership's check when
     * src/zab/membership lands; the hook above already takes it. */
    return acks_len > fle->voters_len / 2;
}

/* checkLeader: a leader other than us must have told us it is LEADING; if
 * it is us, the votes must be of our own round. */
static bool check_leader(const struct fle *fle, const struct fle_ballot *set, int64_t leader,
                         int64_t election_epoch)
{
    if (leader != fle->my_sid) {
        int k = voter_index(fle, leader);
        return k >= 0 && set[k].present && set[k].state == ELECTION_LEADING;
    }
    return fle->logicalclock == election_epoch;
}

static void send(struct fle_update *up, int64_t to, int32_t state, const struct fle_vote *vote)
{
    assert(up->sends_len < FLE_SENDS_MAX);
    struct fle_send *s = &up->sends[up->sends_len++];
    s->to = to;
    s->state = state;
    s->vote = *vote;
}

/* sendNotifications: our proposal, in our round, to every voter. The copy
 * for ourselves is processed at the end of the step. A step calls this at
 * most once, so sends never exceed the voters plus one reply. */
static void send_notifications(struct fle *fle, struct fle_update *up)
{
    struct fle_vote v = fle->proposal;
    v.election_epoch = fle->logicalclock;
    for (size_t i = 0; i < fle->voters_len; i++) {
        if (fle->voters[i] == fle->my_sid) {
            fle->self_pending = true;
            fle->self_vote = v;
        } else {
            send(up, fle->voters[i], ELECTION_LOOKING, &v);
        }
    }
}

static void update_proposal(struct fle *fle, int64_t leader, int64_t zxid, int64_t epoch)
{
    fle->proposal.leader = leader;
    fle->proposal.zxid = zxid;
    fle->proposal.peer_epoch = epoch;
}

static int64_t init_id(const struct fle *fle)
{
    return is_voter(fle, fle->my_sid) ? fle->my_sid : FLE_NO_VOTE;
}

/* setPeerState + leaveInstance: the election is over. */
static void decide(struct fle *fle, struct fle_update *up, const struct fle_vote *end)
{
    if (end->leader == fle->my_sid)
        fle->state = ELECTION_LEADING;
    else
        fle->state = is_voter(fle, fle->my_sid) ? ELECTION_FOLLOWING : ELECTION_OBSERVING;
    fle->current = *end;
    fle->finalizing = false;
    fle->self_pending = false;
    fle->poll_deadline_ms = -1;
    memset(fle->recvset, 0, sizeof(fle->recvset));
    memset(fle->outofelection, 0, sizeof(fle->outofelection));
    up->decided = true;
    up->vote = *end;
}

/* receivedFollowingNotification (LEADING adds only the 2-server oracle,
 * which czk does not have). */
static void received_following(struct fle *fle, struct fle_update *up, int from_k,
                               const struct election_notification *n)
{
    struct fle_vote v = {n->leader, n->zxid, n->election_epoch, n->peer_epoch};
    struct fle_ballot tracked = {true, n->state, n->version, v};
    /* Notifications of our own round count together with the LOOKING ones. */
    if (n->election_epoch == fle->logicalclock) {
        fle->recvset[from_k] = (struct fle_ballot){true, n->state, 0, v};
        if (has_quorum_for(fle, fle->recvset, &tracked) &&
            check_leader(fle, fle->recvset, n->leader, n->election_epoch)) {
            decide(fle, up, &v);
            return;
        }
    }
    /* Before joining an established ensemble, a quorum must follow the same
     * leader, and that leader must say it leads (ZOOKEEPER-1732). */
    fle->outofelection[from_k] = tracked;
    if (has_quorum_for(fle, fle->outofelection, &tracked) &&
        check_leader(fle, fle->outofelection, n->leader, n->election_epoch)) {
        fle->logicalclock = n->election_epoch;
        decide(fle, up, &v);
    }
}

/* One notification taken off recvqueue by lookForLeader. */
static void process_looking(struct fle *fle, struct fle_update *up, int64_t now_ms, int64_t from,
                            const struct election_notification *n)
{
    struct fle_vote nv = {n->leader, n->zxid, n->election_epoch, n->peer_epoch};
    if (fle->finalizing) {
        /* The finalizeWait loop: anything not better is consumed and
         * dropped, and the wait starts again; a better vote goes back to the
         * main loop. The loop looks at no state, round or sender. */
        if (!beats_proposal(fle, &nv)) {
            fle->finalize_deadline_ms = now_ms + fle->finalize_wait_ms;
            /* czk's early decision counts the agreeing votes that come in
             * meanwhile (Apache's loop drops them: it needs none) */
            int k = voter_index(fle, from);
            if (fle->decide_when_connected_agree && k >= 0 &&
                agrees_with_proposal(fle, n->state, &nv))
                fle->recvset[k] = (struct fle_ballot){true, ELECTION_LOOKING, 0, nv};
            return;
        }
        fle->finalizing = false;
    }
    fle->poll_deadline_ms = now_ms + fle->notification_timeout_ms;
    if (!is_voter(fle, from) || !is_voter(fle, n->leader))
        return;
    int from_k = voter_index(fle, from);
    switch (n->state) {
    case ELECTION_LOOKING:
        /* A server that could not load its data (zxid -1) takes no part. */
        if (fle->init_zxid == -1 || n->zxid == -1)
            return;
        if (n->election_epoch > fle->logicalclock) {
            /* A newer round: adopt it, forget this round's votes, and vote
             * for the better of the sender's vote and our own. */
            fle->logicalclock = n->election_epoch;
            memset(fle->recvset, 0, sizeof(fle->recvset));
            if (fle_vote_beats(fle, n->leader, n->zxid, n->peer_epoch, init_id(fle), fle->init_zxid,
                               fle->init_epoch))
                update_proposal(fle, n->leader, n->zxid, n->peer_epoch);
            else
                update_proposal(fle, init_id(fle), fle->init_zxid, fle->init_epoch);
            send_notifications(fle, up);
        } else if (n->election_epoch < fle->logicalclock) {
            return;
        } else if (beats_proposal(fle, &nv)) {
            update_proposal(fle, n->leader, n->zxid, n->peer_epoch);
            send_notifications(fle, up);
        }
        fle->recvset[from_k] = (struct fle_ballot){true, ELECTION_LOOKING, 0, nv};
        struct fle_ballot mine = {true,
                                  ELECTION_LOOKING,
                                  0,
                                  {fle->proposal.leader, fle->proposal.zxid, fle->logicalclock,
                                   fle->proposal.peer_epoch}};
        if (has_quorum_for(fle, fle->recvset, &mine)) {
            fle->finalizing = true;
            fle->finalize_deadline_ms = now_ms + fle->finalize_wait_ms;
        }
        return;
    case ELECTION_OBSERVING:
        return;
    case ELECTION_FOLLOWING:
    case ELECTION_LEADING:
        received_following(fle, up, from_k, n);
        return;
    default:
        assert(0 && "state checked by fle_step");
    }
}

/* WorkerReceiver: answers before (or instead of) handing to lookForLeader. */
static void receive(struct fle *fle, struct fle_update *up, int64_t now_ms, int64_t from,
                    const struct election_notification *n)
{
    if (!is_voter(fle, from)) {
        /* A non-voter (observer) is answered at once with our current vote
         * in our round, whatever our state. */
        struct fle_vote v = fle->current;
        v.election_epoch = fle->logicalclock;
        send(up, from, fle->state, &v);
        return;
    }
    if (fle->state == ELECTION_LOOKING) {
        /* A LOOKING voter behind our round gets our proposal at once. */
        if (n->state == ELECTION_LOOKING && n->election_epoch < fle->logicalclock) {
            struct fle_vote v = fle->proposal;
            v.election_epoch = fle->logicalclock;
            send(up, from, ELECTION_LOOKING, &v);
        } else if (fle->decide_when_connected_agree && n->state == ELECTION_LOOKING &&
                   n->election_epoch == fle->logicalclock &&
                   fle_vote_beats(fle, fle->proposal.leader, fle->proposal.zxid,
                                  fle->proposal.peer_epoch, n->leader, n->zxid, n->peer_epoch)) {
            /* czk: a voter of our round with a worse vote is told ours at
             * once. Apache sends nothing here, so when our first vote
             * reached it before it was LOOKING (it answered as a follower),
             * both wait a notification timeout (200 ms) for the re-send. */
            struct fle_vote v = fle->proposal;
            v.election_epoch = fle->logicalclock;
            send(up, from, ELECTION_LOOKING, &v);
        }
        process_looking(fle, up, now_ms, from, n);
        return;
    }
    /* Not looking: a LOOKING voter learns whom we follow or that we lead,
     * with the round our election ended in. */
    if (n->state == ELECTION_LOOKING)
        send(up, from, fle->state, &fle->current);
}

static void start(struct fle *fle, struct fle_update *up, int64_t now_ms, int64_t last_zxid,
                  int64_t current_epoch)
{
    bool participant = is_voter(fle, fle->my_sid);
    if (!fle->started)
        /* QuorumPeer.startLeaderElection's first currentVote. */
        fle->current = (struct fle_vote){fle->my_sid, last_zxid, -1, current_epoch};
    fle->started = true;
    fle->state = ELECTION_LOOKING;
    memset(fle->recvset, 0, sizeof(fle->recvset));
    memset(fle->outofelection, 0, sizeof(fle->outofelection));
    fle->finalizing = false;
    fle->self_pending = false;
    fle->notification_timeout_ms = fle->interval_min_ms;
    fle->init_zxid = participant ? last_zxid : FLE_NO_VOTE;
    fle->init_epoch = participant ? current_epoch : FLE_NO_VOTE;
    fle->logicalclock++;
    update_proposal(fle, init_id(fle), fle->init_zxid, fle->init_epoch);
    fle->poll_deadline_ms = now_ms + fle->notification_timeout_ms;
    send_notifications(fle, up);
}

static void tick(struct fle *fle, struct fle_update *up, int64_t now_ms)
{
    if (!fle->started || fle->state != ELECTION_LOOKING)
        return;
    if (fle->finalizing) {
        if (now_ms < fle->finalize_deadline_ms)
            return;
        struct fle_vote end = fle->proposal;
        end.election_epoch = fle->logicalclock;
        decide(fle, up, &end);
        return;
    }
    if (now_ms < fle->poll_deadline_ms)
        return;
    /* No notification for notTimeout: notify everyone again (Apache sends
     * only when the connection manager has delivered everything, and
     * otherwise connectAll(); the driver's queue of one per peer does both)
     * and back off, up to maxNotificationInterval; notTimeout never shrinks
     * within one election. */
    send_notifications(fle, up);
    fle->notification_timeout_ms = fle->notification_timeout_ms * 2 < fle->interval_max_ms
                                       ? fle->notification_timeout_ms * 2
                                       : fle->interval_max_ms;
    fle->poll_deadline_ms = now_ms + fle->notification_timeout_ms;
}

/* decide_when_connected_agree: inside the finalizeWait loop (a quorum agrees
 * on our proposal), every other voter has lost its connection or is
 * connected with our proposal as its vote in this round. */
static bool connected_agree(const struct fle *fle)
{
    for (size_t k = 0; k < fle->voters_len; k++) {
        if (fle->voters[k] == fle->my_sid || fle->link[k] == FLE_LINK_LOST)
            continue;
        if (fle->link[k] != FLE_LINK_UP)
            return false;
        const struct fle_ballot *b = &fle->recvset[k];
        if (!b->present || !agrees_with_proposal(fle, b->state, &b->vote))
            return false;
    }
    return true;
}

int fle_step(struct fle *fle, const struct fle_event *ev, struct fle_update *up)
{
    up->sends_len = 0;
    up->decided = false;
    up->decided_early = false;
    switch (ev->type) {
    case FLE_START:
        start(fle, up, ev->now_ms, ev->start.last_zxid, ev->start.current_epoch);
        break;
    case FLE_RECEIVE:
        if (ev->receive.n.state < ELECTION_LOOKING || ev->receive.n.state > ELECTION_OBSERVING)
            return FLE_EINVAL;
        if (fle->started)
            receive(fle, up, ev->now_ms, ev->receive.from, &ev->receive.n);
        break;
    case FLE_TICK:
        tick(fle, up, ev->now_ms);
        break;
    case FLE_EPOCH_UPDATE:
        fle->current.peer_epoch = ev->epoch_update.epoch;
        break;
    case FLE_RESUME:
        if (ev->resume.state != ELECTION_LEADING && ev->resume.state != ELECTION_FOLLOWING &&
            ev->resume.state != ELECTION_OBSERVING)
            return FLE_EINVAL;
        fle->started = true;
        fle->state = ev->resume.state;
        fle->current = ev->resume.vote;
        if (ev->resume.vote.election_epoch > fle->logicalclock)
            fle->logicalclock = ev->resume.vote.election_epoch;
        fle->finalizing = false;
        fle->self_pending = false;
        fle->poll_deadline_ms = -1;
        break;
    case FLE_CONNECTED: {
        int k = voter_index(fle, ev->connected.sid);
        if (k >= 0)
            fle->link[k] = ev->connected.up ? FLE_LINK_UP : FLE_LINK_LOST;
        break;
    }
    default:
        return FLE_EINVAL;
    }
    /* Our own notification, looped back by the connection manager: it
     * arrives after the one being processed, like any other. */
    while (fle->self_pending && fle->state == ELECTION_LOOKING) {
        fle->self_pending = false;
        struct election_notification self = {
            .state = ELECTION_LOOKING,
            .leader = fle->self_vote.leader,
            .zxid = fle->self_vote.zxid,
            .election_epoch = fle->self_vote.election_epoch,
            .peer_epoch = fle->self_vote.peer_epoch,
            .version = ELECTION_NOTIFICATION_VERSION,
            .config = {.len = -1},
        };
        process_looking(fle, up, ev->now_ms, fle->my_sid, &self);
    }
    fle->self_pending = false;
    if (fle->decide_when_connected_agree && fle->finalizing && fle->state == ELECTION_LOOKING &&
        connected_agree(fle)) {
        struct fle_vote end = fle->proposal;
        end.election_epoch = fle->logicalclock;
        decide(fle, up, &end);
        up->decided_early = true;
    }
    up->state = fle->state;
    if (!up->decided)
        up->vote = fle->current;
    if (fle->state != ELECTION_LOOKING || !fle->started)
        up->deadline_ms = -1;
    else
        up->deadline_ms = fle->finalizing ? fle->finalize_deadline_ms : fle->poll_deadline_ms;
    return 0;
}
