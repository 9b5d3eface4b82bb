/* SPDX-License-Identifier: Apache-2.0 */
/* ens_observer_master.c — observerMasterPort in a member: a serving
 * follower's observer master (Apache's ObserverMaster) and an observer's
 * choice of the voter it syncs from (Observer.findLearnerMaster). The
 * observer master is a leader_port whose only voter is this follower, in
 * the follower's own epoch: ZAB's leader side syncs each observer (DIFF from
 * the committed txns we hold, TRUNC, SNAP of our tree) and sends it an
 * INFORM for every txn we apply; observers' requests and revalidations go to
 * our leader through our own connection, and its answers come back here. */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "node/leader_port.h"
#include "node/node.h"
#include "node/node_int.h"
#include "node/quorum_port.h"
#include "proto/proto.h"
#include "proto/quorum.h"
#include "server/server.h"
#include "zab/membership.h"
#include "zab/zab.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A listen that failed (the port is taken: on one host, by another
 * follower's observer master) is tried again after this. */
#define OM_RETRY_MS 1000

/* The relayed answers awaited, in the order forwarded: a sync's (from,
 * master number, connection number), a revalidation's (session, the same). */
#define OM_SYNC_ITEM         24
#define OM_REVALIDATION_ITEM 32

static int om_write_epoch(void *ctx, const char *name, int64_t epoch)
{
    /* the epoch is our leader's, already in our files */
    (void)ctx, (void)name, (void)epoch;
    return 0;
}

static void om_log_append(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    /* our quorum port logged it already */
    (void)ctx, (void)zxid, (void)txn, (void)len;
}

static void om_commit(void *ctx, int64_t zxid)
{
    /* proposed as it is applied: nothing more to apply */
    (void)ctx, (void)zxid;
}

static void om_sink(void *ctx, const void *p, size_t len)
{
    buf_append(ctx, p, len);
}

static void om_snapshot(void *ctx, struct buf *out)
{
    struct node *n = ctx;
    server_snapshot_write(n->server, om_sink, out);
}

/* Who asked, for the answer: noted as the item is queued (queue_flush
 * takes them in the same order, node__om_sent). */
static void note_queued(struct node *n, int64_t sid)
{
    struct node_ens *e = n->ens;
    jute_write_i64(&e->om_queued, e->om_gen);
    jute_write_i64(&e->om_queued, (int64_t)leader_port_learner_gen(e->om, sid));
}

/* ObserverMaster.submitLearnerRequest: FollowerRequestProcessor, which
 * forwards it to our leader (a sync's answer comes back: node__om_answer). */
static int om_request(void *ctx, int64_t sid, const uint8_t *data, size_t len,
                      const struct zk_id *auth, size_t auth_len)
{
    struct node *n = ctx;
    if (n->ens->serving && n->ens->learner) {
        note_queued(n, sid);
        node__ens_queue_request(n, sid, data, len, auth, auth_len);
    }
    return 0;
}

/* ObserverMaster.revalidateSession: to our leader, the answer relayed. */
static void om_revalidate(void *ctx, int64_t sid, int64_t zxid, const uint8_t *data, size_t len)
{
    (void)zxid;
    struct node *n = ctx;
    if (n->ens->serving && n->ens->learner && len >= 12) {
        note_queued(n, sid);
        node__ens_queue_revalidate(n, sid, data, len);
    }
}

/* ObserverMaster.touch: reported in our next PING to the leader. */
static void om_touch(void *ctx, int64_t sid, int64_t session_id, int32_t timeout_ms)
{
    (void)sid, (void)timeout_ms;
    struct node *n = ctx;
    if (n->ens->serving)
        server_relay_touch(n->server, session_id);
}

static void om_event(void *ctx, enum leader_port_event ev, int64_t sid, const char *reason)
{
    struct node *n = ctx;
    switch (ev) {
    case LEADER_PORT_SERVING:
    case LEADER_PORT_EPOCH:
        break;
    case LEADER_PORT_LEARNER_UP:
        LOG_I("Observer master: observer %" PRId64 " connected", sid);
        break;
    case LEADER_PORT_LEARNER_SYNC:
        LOG_I("Observer master: observer %" PRId64 " synced by %s", sid, reason ? reason : "?");
        break;
    case LEADER_PORT_LEARNER_SYNCED:
        LOG_I("Observer master: observer %" PRId64 " is up to date", sid);
        break;
    case LEADER_PORT_LEARNER_DOWN:
        LOG_I("Observer master: observer %" PRId64 " gone: %s", sid, reason ? reason : "");
        break;
    case LEADER_PORT_STOPPED:
        LOG_W("Observer master stopped: %s", reason ? reason : "");
        n->ens->om_over = true;
        node__wake(n);
        break;
    }
}

static void forget_relayed(struct node_ens *e)
{
    buf_clear(&e->om_queued);
    e->om_queued_off = 0;
    buf_clear(&e->om_syncs);
    e->om_syncs_off = 0;
    buf_clear(&e->om_revalidations);
    e->om_revalidations_off = 0;
}

void node__om_stop(struct node *n)
{
    struct node_ens *e = n->ens;
    if (e->om)
        LOG_I("Observer master: closing");
    leader_port_free(e->om);
    e->om = NULL;
    e->om_over = false;
    e->om_warned = false;
    e->om_retry_ms = 0;
    forget_relayed(e);
}

void node__om_config_update(struct node *n)
{
    struct node_ens *e = n->ens;
    if (!e->om)
        return;
    /* a reconfig the role goes on through (no election): observers it adds
     * may connect, NEWLEADER carries the new config */
    size_t observers_len;
    int64_t *observers = node__ens_observers(e, &observers_len);
    leader_port_observers_update(e->om, observers, observers_len);
    mem_free(observers);
    struct buf text;
    buf_init(&text);
    membership_format(&e->members, &text);
    buf_append(&text, "", 1);
    leader_port_config_update(e->om, (const char *)text.data, e->members.version);
    buf_deinit(&text);
}

/* ObserverMaster.start, once the follower serves (Follower.followLeader):
 * the tree as it is now is the observers' starting point. */
static void om_start(struct node *n)
{
    struct node_ens *e = n->ens;
    const struct member *me = membership_find(&e->members, e->sid);
    if (!me) {
        e->om_retry_ms = node__now_ms(n) + OM_RETRY_MS;
        return;
    }
    int64_t applied = server_last_zxid(n->server);
    int64_t epoch = n->current_epoch;
    if (ZAB_EPOCH_OF(applied) > epoch)
        epoch = ZAB_EPOCH_OF(applied);
    /* the next txn we apply carries the next counter of our epoch (ZAB
     * goes on from `applied` in it), or a leader's first of a new epoch (1,
     * or czk.zxidCounterStart, taken to be the ensemble's); a wrong guess
     * restarts us at that txn (node__om_apply) */
    int64_t first_counter = n->cfg.zxid_counter_start > 0 ? n->cfg.zxid_counter_start : 1;
    if (epoch < 1 || (ZAB_EPOCH_OF(applied) == epoch && (uint32_t)applied >= 0xfffffffe)) {
        e->om_retry_ms = node__now_ms(n) + OM_RETRY_MS;
        return;
    }
    /* DIFF from the committed txns of the log we hold, ending at the tree */
    size_t hist_len, observers_len;
    struct zab_txn *hist = node__history_upto(n, applied, &hist_len);
    int64_t *observers = node__ens_observers(e, &observers_len);
    struct buf text;
    buf_init(&text);
    membership_format(&e->members, &text);
    buf_append(&text, "", 1);
    int64_t voter = e->sid;
    struct leader_port_config lc = {
        .my_sid = e->sid,
        .voters = &voter,
        .voters_len = 1,
        .observers = observers,
        .observers_len = observers_len,
        .tick_ms = n->cfg.tick_time_ms,
        .init_limit = n->cfg.init_limit,
        .sync_limit = n->cfg.sync_limit,
        .host = me->quorum.host,
        .port = n->cfg.observer_master_port,
        .listen_all_ips = n->cfg.quorum_listen_on_all_ips,
        .last_zxid = applied,
        /* ZAB's leader proposes acceptedEpoch + 1: our epoch
         * (ObserverMaster.getEpochToPropose is the current epoch) */
        .accepted_epoch = epoch - 1,
        .current_epoch = epoch - 1,
        .history = hist,
        .history_len = hist_len,
        .config_text = (const char *)text.data,
        .config_version = n->cfg.config_version,
        .max_buffer = 2 * (size_t)n->cfg.max_buffer,
        .first_counter = first_counter,
        .designated_leader_set = true,
        .designated_leader = e->leader_sid,
    };
    struct leader_port_io io = {
        .ctx = n,
        .write_epoch = om_write_epoch,
        .log_append = om_log_append,
        .commit = om_commit,
        .snapshot = om_snapshot,
        .snapshot_fork = node__snapshot_fork,
        .request = om_request,
        .revalidate_relay = om_revalidate,
        .touch = om_touch,
        .on_event = om_event,
    };
    char why[512];
    int rc = leader_port_new(&n->loop, &lc, &io, &e->om, why, sizeof(why));
    buf_deinit(&text);
    mem_free(observers);
    mem_free(hist);
    if (rc < 0) {
        e->om = NULL;
        e->om_retry_ms = node__now_ms(n) + OM_RETRY_MS;
        if (!e->om_warned)
            LOG_W("Observer master: cannot listen on %s:%d: %s (trying again every %d ms)",
                  me->quorum.host, n->cfg.observer_master_port, why, OM_RETRY_MS);
        e->om_warned = true;
        return;
    }
    e->om_gen++;
    LOG_I("Observer master: serving observers on %s:%d (epoch %" PRId64 ", zxid 0x%" PRIx64 ")",
          me->quorum.host, n->cfg.observer_master_port, epoch, (uint64_t)applied);
}

void node__om_pump(struct node *n)
{
    struct node_ens *e = n->ens;
    if (n->cfg.observer_master_port <= 0)
        return;
    bool due = e->state == ELECTION_FOLLOWING && e->serving && e->learner && !e->lost && !e->ending;
    if (e->om && (e->om_over || !due)) {
        /* the answers still due from the leader keep their place in the
         * queues (our own syncs behind them must wait for theirs); they
         * go nowhere now (another master, another generation) */
        leader_port_free(e->om);
        e->om = NULL;
        e->om_over = false;
    }
    if (!e->om && due && node__now_ms(n) >= e->om_retry_ms)
        om_start(n);
}

void node__om_apply(struct node *n, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct node_ens *e = n->ens;
    if (e->om_over)
        return; /* restarts at the check phase, from the tree */
    /* the INFORMs of a read's commits go in one write per observer, at the
     * check phase (node__ens_uncork); a relayed SYNC queues behind them */
    leader_port_cork(e->om);
    if (leader_port_next_zxid(e->om) != zxid || leader_port_propose(e->om, zxid, txn, len) < 0) {
        /* not the txn its ZAB expects (a new epoch, another counter start):
         * the observers re-sync with the next check phase's master */
        LOG_I("Observer master: restarting at zxid 0x%" PRIx64 " (expected 0x%" PRIx64 ")",
              (uint64_t)zxid, (uint64_t)leader_port_next_zxid(e->om));
        e->om_over = true;
        node__wake(n);
        return;
    }
    leader_port_persisted(e->om, zxid);
}

void node__om_sent(struct node *n, int kind, int64_t from, bool sent, const uint8_t *data,
                   size_t len)
{
    struct node_ens *e = n->ens;
    if (n->cfg.observer_master_port <= 0)
        return;
    /* whose answer: (from, the observer master's number, its connection's) */
    int64_t om_gen = -1, gen = 0; /* -1: no master's (the answer goes nowhere) */
    if (from >= 0 && e->om_queued_off + 16 <= e->om_queued.len) {
        om_gen = (int64_t)be64_get(e->om_queued.data + e->om_queued_off);
        gen = (int64_t)be64_get(e->om_queued.data + e->om_queued_off + 8);
        e->om_queued_off += 16;
        if (e->om_queued_off == e->om_queued.len) {
            buf_clear(&e->om_queued);
            e->om_queued_off = 0;
        }
    } else if (from >= 0) {
        LOG_W("Observer master: a relayed packet of observer %" PRId64 " without its asker", from);
    }
    if (!sent)
        return;
    if (kind == ENS_ITEM_REQUEST && len >= 16 && (int32_t)be32_get(data + 12) == ZK_OP_SYNC) {
        jute_write_i64(&e->om_syncs, from);
        jute_write_i64(&e->om_syncs, om_gen);
        jute_write_i64(&e->om_syncs, gen);
    } else if (kind == ENS_ITEM_REVALIDATE && from >= 0 && len >= 8) {
        buf_append(&e->om_revalidations, data, 8);
        jute_write_i64(&e->om_revalidations, from);
        jute_write_i64(&e->om_revalidations, om_gen);
        jute_write_i64(&e->om_revalidations, gen);
    }
}

bool node__om_answer(struct node *n, int32_t type, int64_t zxid, const uint8_t *data, size_t len)
{
    struct node_ens *e = n->ens;
    if (n->cfg.observer_master_port <= 0)
        return false;
    if (type == QUORUM_SYNC) {
        /* FollowerZooKeeperServer.sync: the oldest sync forwarded */
        if (e->om_syncs_off + OM_SYNC_ITEM > e->om_syncs.len)
            return false;
        const uint8_t *head = e->om_syncs.data + e->om_syncs_off;
        int64_t from = (int64_t)be64_get(head);
        int64_t om_gen = (int64_t)be64_get(head + 8);
        uint64_t gen = be64_get(head + 16);
        e->om_syncs_off += OM_SYNC_ITEM;
        if (e->om_syncs_off == e->om_syncs.len) {
            buf_clear(&e->om_syncs);
            e->om_syncs_off = 0;
        }
        if (from < 0)
            return false;
        if (e->om && om_gen == e->om_gen)
            leader_port_send(e->om, from, gen, QUORUM_SYNC, 0, NULL, 0);
        return true;
    }
    if (type == QUORUM_REVALIDATE && len >= 9 &&
        e->om_revalidations_off + OM_REVALIDATION_ITEM <= e->om_revalidations.len) {
        /* ObserverMaster.revalidateLearnerSession: ours unless it answers
         * the oldest relayed one */
        const uint8_t *head = e->om_revalidations.data + e->om_revalidations_off;
        if (be64_get(head) != be64_get(data))
            return false;
        int64_t from = (int64_t)be64_get(head + 8);
        int64_t om_gen = (int64_t)be64_get(head + 16);
        uint64_t gen = be64_get(head + 24);
        e->om_revalidations_off += OM_REVALIDATION_ITEM;
        if (e->om_revalidations_off == e->om_revalidations.len) {
            buf_clear(&e->om_revalidations);
            e->om_revalidations_off = 0;
        }
        if (e->om && om_gen == e->om_gen)
            leader_port_send(e->om, from, gen, QUORUM_REVALIDATE, zxid, data, len);
        if (data[8] != 0)
            server_relay_touch(n->server, (int64_t)be64_get(data));
        return true;
    }
    return false;
}

static uint64_t om_next_rand(struct node_ens *e)
{
    /* xorshift64 */
    uint64_t x = e->om_rand ? e->om_rand : 0x2545f4914f6cdd1dull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    e->om_rand = x;
    return x;
}

int64_t node__om_election_delay_ms(struct node *n)
{
    return (int64_t)(om_next_rand(n->ens) % NODE_OBSERVER_ELECTION_DELAY_MS);
}

int64_t node__om_next_master(struct node *n)
{
    struct node_ens *e = n->ens;
    if (!e->om_masters || e->om_masters_version != e->members.version ||
        e->om_masters_len != e->voters_len) {
        /* QuorumPeer.updateObserverMasterList: every voter, shuffled */
        mem_free(e->om_masters);
        e->om_masters = mem_alloc((e->voters_len ? e->voters_len : 1) * sizeof(int64_t));
        memcpy(e->om_masters, e->voters, e->voters_len * sizeof(int64_t));
        e->om_masters_len = e->voters_len;
        e->om_masters_version = e->members.version;
        e->om_masters_next = 0;
        for (size_t i = e->om_masters_len; i > 1; i--) {
            size_t j = (size_t)(om_next_rand(e) % i);
            int64_t t = e->om_masters[i - 1];
            e->om_masters[i - 1] = e->om_masters[j];
            e->om_masters[j] = t;
        }
    }
    if (e->om_masters_len == 0)
        return -1;
    if (e->om_masters_next >= e->om_masters_len)
        e->om_masters_next = 0;
    return e->om_masters[e->om_masters_next++];
}
