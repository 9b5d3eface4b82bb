/* SPDX-License-Identifier: Apache-2.0 */
/* An ensemble member's life (QuorumPeer.run): LOOKING until the election
 * (elector.c) decides, then LEADING (leader_port.c) or FOLLOWING / OBSERVING
 * (quorum_port.c), bound to the node's log thread and its struct server;
 * when the role ends, every session's connection closes, the log thread drains
 * (the loop goes on: four-letter words answer), the tree is kept and brought
 * forward to the last logged txn (ZooKeeper's fastForwardDataBase), or, when
 * that cannot be shown equal, reloaded from the data dir, and the election
 * starts again. The ports' callbacks never call
 * back into the ports: what must go to them (proposals, forwarded requests,
 * syncs) is queued here and handed over in the check phase (node__ens_pump). */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "node/elector.h"
#include "node/leader_port.h"
#include "node/node.h"
#include "node/node_int.h"
#include "node/quorum_port.h"
#include "proto/election.h"
#include "proto/jute.h"
#include "proto/quorum.h"
#include "server/server.h"
#include "storage/epoch.h"
#include "storage/fs.h"
#include "storage/snapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* The wait before electing again after a role ended by a full disk. */
#define ENS_LOOK_BACKOFF_MS_MIN 1000
#define ENS_LOOK_BACKOFF_MS_MAX 8000

/* Items queued for a port, in order: [u8 kind][i64 a][u32 len][len bytes]
 * (+ for REQUEST: [u32 ids] then each id as [u32 len][scheme][u32 len][id]);
 * the kinds: node_int.h, ENS_ITEM_*. */

const char *node__ens_mode(const struct node *n)
{
    if (!n->ens)
        return "standalone";
    if (n->ens->read_only)
        return "read-only";
    switch (n->ens->state) {
    case ELECTION_LEADING:
        return "leader";
    case ELECTION_FOLLOWING:
        return "follower";
    case ELECTION_OBSERVING:
        return "observer";
    default:
        return "looking";
    }
}

bool node__serving(const struct node *n)
{
    return !n->ens || n->ens->serving || n->ens->read_only;
}

/* ---- the queue ---- */

/* ZAB's quorums as the membership decides them (QuorumMaj or
 * QuorumHierarchical). */
static bool ens_has_quorum(void *arg, const int64_t *sids, size_t n)
{
    const struct node_ens *e = arg;
    /* Leader.propose: while a reconfig is pending, its config's quorum too */
    return membership_is_quorum(&e->members, sids, n) &&
           (!e->next_pending || membership_is_quorum(&e->next_members, sids, n));
}

static void queue_item(struct node_ens *e, int kind, int64_t a, const uint8_t *p, size_t len)
{
    uint8_t k = (uint8_t)kind;
    buf_append(&e->queue, &k, 1);
    jute_write_i64(&e->queue, a);
    jute_write_i32(&e->queue, (int32_t)len);
    if (len)
        buf_append(&e->queue, p, len);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- the server's io in an ensemble ---- */

void node__ens_log_append(struct node *n, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct node_ens *e = n->ens;
    if (e->state != ELECTION_LEADING || !e->leader) {
        LOG_E("a txn (zxid 0x%" PRIx64 ") made while not leading: dropped", (uint64_t)zxid);
        return;
    }
    queue_item(e, ENS_ITEM_PROPOSE, zxid, txn, len);
    if (e->last_proposal_size < 0 || (int64_t)len < e->min_proposal_size)
        e->min_proposal_size = (int64_t)len;
    if ((int64_t)len > e->max_proposal_size)
        e->max_proposal_size = (int64_t)len;
    e->last_proposal_size = (int64_t)len;
    node__wake(n);
}

void node__io_forward(void *ctx, const uint8_t *data, size_t len, const struct zk_id *auth,
                      size_t auth_len)
{
    struct node *n = ctx;
    if (!n->ens)
        return;
    node__ens_queue_request(n, -1, data, len, auth, auth_len);
}

void node__ens_queue_request(struct node *n, int64_t from, const uint8_t *data, size_t len,
                             const struct zk_id *auth, size_t auth_len)
{
    struct node_ens *e = n->ens;
    queue_item(e, ENS_ITEM_REQUEST, from, data, len);
    jute_write_i32(&e->queue, (int32_t)auth_len);
    for (size_t i = 0; i < auth_len; i++) {
        /* counted bytes, a null one as empty */
        struct jute_buf parts[2] = {auth[i].scheme, auth[i].id};
        for (int k = 0; k < 2; k++) {
            int32_t n_bytes = parts[k].len > 0 ? parts[k].len : 0;
            jute_write_i32(&e->queue, n_bytes);
            if (n_bytes)
                buf_append(&e->queue, parts[k].ptr, (size_t)n_bytes);
        }
    }
    node__wake(n);
}

void node__io_revalidate(void *ctx, int64_t session_id, int32_t timeout_ms)
{
    struct node *n = ctx;
    if (!n->ens)
        return;
    struct buf b;
    buf_init(&b);
    jute_write_i64(&b, session_id);
    jute_write_i32(&b, timeout_ms);
    node__ens_queue_revalidate(n, -1, b.data, b.len);
    buf_deinit(&b);
}

void node__ens_queue_revalidate(struct node *n, int64_t from, const uint8_t *data, size_t len)
{
    queue_item(n->ens, ENS_ITEM_REVALIDATE, from, data, len);
    node__wake(n);
}

void node__io_learner_sync(void *ctx, int64_t learner_sid)
{
    struct node *n = ctx;
    if (!n->ens)
        return;
    queue_item(n->ens, ENS_ITEM_SYNC, learner_sid, NULL, 0);
    node__wake(n);
}

/* ---- common io of both ports ---- */

static int io_write_epoch(void *ctx, const char *name, int64_t epoch)
{
    struct node *n = ctx;
    char why[STORAGE_PATH_MAX + 256];
    if (epoch_write(fs_posix(), n->snap_dir, name, epoch, why, sizeof(why)) < 0) {
        LOG_E("%s", why);
        return -1;
    }
    if (strcmp(name, EPOCH_ACCEPTED) == 0)
        n->accepted_epoch = epoch;
    else
        n->current_epoch = epoch;
    return 0;
}

static int io_log_append(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    node__io_log_append(ctx, zxid, txn, len);
    node__ens_txn_logged(ctx, txn, len);
    return 0;
}

/* Everything handed to the log thread is written and synced, the thread is
 * gone: the log files may be changed or read. */
void node__ens_log_drain(struct node *n)
{
    node__log_handoff(n);
    node__log_stop(n);
}

int node__ens_log_restart(struct node *n)
{
    char why[256];
    n->log.stop = false;
    n->log.failed = false;
    n->log.persisted_zxid = n->log_appended_zxid;
    n->log_persisted_zxid = n->log_appended_zxid;
    if (node__log_start(n, why, sizeof(why)) < 0) {
        LOG_E("%s", why);
        return -1;
    }
    return 0;
}

/* /zookeeper/config of a freshly loaded tree (ZKDatabase.initConfigInZKDatabase). */
void node__ens_config_node(struct node *n)
{
    struct buf text;
    buf_init(&text);
    membership_format(&n->ens->members, &text);
    server_set_config_node(n->server, text.data, text.len, n->cfg.config_version,
                           node__wall_now_ms());
    buf_deinit(&text);
}

/* A fresh struct server with the data dir's state (the client connections
 * of the old one are gone or going: see node_conn.server_gen). */
static int reload(struct node *n)
{
    node__ens_log_drain(n);
    node__snapshot_wait(n);
    server_free(n->server);
    n->server = node__server_new(n);
    n->server_gen++;
    char why[1024];
    if (node__recover(n, why, sizeof(why)) < 0) {
        LOG_E("reloading the data dir: %s", why);
        return -1;
    }
    n->ens->tree_partial = false;
    node__ens_config_node(n);
    return node__ens_log_restart(n);
}

/* ---- the learner's io ---- */

/* The epoch roll-over: what the log thread was given is durable before the
 * next epoch's currentEpoch is written. A refused batch (disk full) is
 * answered as the thread would have it answered, and the role ends. */
static int io_drain_log(void *ctx)
{
    struct node *n = ctx;
    node__ens_log_drain(n);
    bool refused = n->log.failed;
    if (refused)
        node__log_failed(n);
    if (node__ens_log_restart(n) < 0 || refused)
        return -1;
    return 0;
}

/* The next epoch, taken in place (the zxid counter's roll-over): the
 * clients, sessions and role stay; the election's vote names the epoch. */
static void epoch_rolled(struct node *n, int64_t epoch)
{
    LOG_I("The zxid counter's roll-over: serving in epoch %" PRId64
          " without an election (every member of this leadership is czk)",
          epoch);
    n->ens->serving_epoch = epoch;
    if (elector_epoch_update(n->ens->elector, epoch) < 0)
        LOG_W("The election does not take epoch %" PRId64, epoch);
}

static int io_truncate(void *ctx, int64_t zxid)
{
    struct node *n = ctx;
    node__ens_log_drain(n);
    /* a snapshot child still writing (of the state before the cut) would
     * publish its file after the cut removed the later ones: wait first */
    node__snapshot_wait(n);
    char why[STORAGE_PATH_MAX + 256];
    if (node__truncate_log(n, zxid, why, sizeof(why)) < 0) {
        LOG_E("TRUNC to 0x%" PRIx64 ": %s", (uint64_t)zxid, why);
        return -1;
    }
    LOG_I("Truncated the txn log after 0x%" PRIx64 " as the leader asked (TRUNC)", (uint64_t)zxid);
    return reload(n);
}

static int io_apply(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct node *n = ctx;
    char why[256];
    if (n->ens->om)
        node__om_apply(n, zxid, txn, len);
    if (server_apply_committed(n->server, txn, len, node__now_ms(n), why, sizeof(why)) < 0) {
        LOG_E("the committed txn 0x%" PRIx64 " does not apply: %s", (uint64_t)zxid, why);
        return -1;
    }
    return 0;
}

static void io_ping_sessions(void *ctx, struct buf *out)
{
    struct node *n = ctx;
    if (n->ens->serving)
        server_take_touched(n->server, out);
}

static void io_learner_packet(void *ctx, int32_t type, int64_t zxid, const uint8_t *data,
                              size_t len)
{
    struct node *n = ctx;
    if (!n->ens->serving)
        return;
    int64_t now = node__now_ms(n);
    if (node__om_answer(n, type, zxid, data, len)) {
        /* an observer's, relayed to it */
    } else if (type == QUORUM_SYNC) {
        server_sync_done(n->server, now);
    } else if (type == QUORUM_REVALIDATE) {
        if (len < 9) {
            LOG_W("a REVALIDATE answer of %zu bytes from the leader: ignored", len);
            return;
        }
        server_revalidated(n->server, (int64_t)be64_get(data), data[8] != 0, now);
    }
    node__wake(n);
}

static void io_leader_config(void *ctx, const uint8_t *text, size_t len)
{
    struct node *n = ctx;
    buf_clear(&n->ens->leader_config);
    buf_append(&n->ens->leader_config, text, len);
}

static void io_learner_event(void *ctx, enum quorum_port_event ev, int32_t sync_type, int64_t zxid,
                             const char *reason)
{
    struct node *n = ctx;
    struct node_ens *e = n->ens;
    switch (ev) {
    case QUORUM_PORT_CONNECTED:
        LOG_I("Connected to the leader %" PRId64, e->leader_sid);
        break;
    case QUORUM_PORT_SYNC:
        LOG_I("Getting a %s from the leader 0x%" PRIx64,
              sync_type == QUORUM_DIFF    ? "diff"
              : sync_type == QUORUM_TRUNC ? "truncate"
                                          : "snapshot",
              (uint64_t)zxid);
        break;
    case QUORUM_PORT_SERVING:
        e->serving_epoch = zxid;
        e->serving_due = true;
        break;
    case QUORUM_PORT_EPOCH:
        epoch_rolled(n, zxid);
        break;
    case QUORUM_PORT_STOPPED:
        e->lost = true;
        snprintf(e->lost_reason, sizeof(e->lost_reason), "%s", reason ? reason : "stopped");
        break;
    }
    node__wake(n);
}

/* ---- the leader's io ---- */

static void io_leader_log_append(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    node__io_log_append(ctx, zxid, txn, len);
    node__ens_txn_logged(ctx, txn, len);
}

/* Applied at once: a SNAP the port sends right after takes the tree as it
 * is (exactly at the commit point). The server only queues output here. */
static void io_commit(void *ctx, int64_t zxid)
{
    struct node *n = ctx;
    struct node_ens *e = n->ens;
    if (zxid <= e->applied_commit)
        return;
    e->applied_commit = zxid;
    server_persisted(n->server, zxid, node__now_ms(n));
    node__wake(n);
}

static void snapshot_sink(void *ctx, const void *p, size_t len)
{
    buf_append(ctx, p, len);
}

static void io_snapshot(void *ctx, struct buf *out)
{
    struct node *n = ctx;
    server_snapshot_write(n->server, snapshot_sink, out);
}

static int io_request(void *ctx, int64_t sid, const uint8_t *data, size_t len,
                      const struct zk_id *auth, size_t auth_len)
{
    struct node *n = ctx;
    if (!n->ens->serving)
        return 0; /* the role is ending */
    char why[256];
    int rc = server_learner_request(n->server, sid, data, len, auth, auth_len, node__now_ms(n), why,
                                    sizeof(why));
    node__wake(n);
    if (rc < 0) {
        LOG_W("A request from learner %" PRId64 " does not decode: %s", sid, why);
        return -1;
    }
    return 0;
}

/* ZAB released a sync of one of our own clients (issue 10). */
static void io_local_synced(void *ctx)
{
    struct node *n = ctx;
    if (!n->ens->serving)
        return;
    server_sync_done(n->server, node__now_ms(n));
    node__wake(n);
}

static bool io_revalidate(void *ctx, int64_t sid, int64_t session_id, int32_t timeout_ms)
{
    struct node *n = ctx;
    if (!n->ens->serving)
        return false;
    return server_revalidate_session(n->server, sid, session_id, timeout_ms, node__now_ms(n));
}

static void io_touch(void *ctx, int64_t sid, int64_t session_id, int32_t timeout_ms)
{
    (void)sid;
    struct node *n = ctx;
    if (n->ens->serving)
        server_touch_session(n->server, session_id, timeout_ms, node__now_ms(n));
}

static void io_leader_event(void *ctx, enum leader_port_event ev, int64_t sid, const char *reason)
{
    struct node *n = ctx;
    struct node_ens *e = n->ens;
    switch (ev) {
    case LEADER_PORT_SERVING: /* maybe inside leader_port_new: e->leader not set yet */
        e->serving_due = true;
        break;
    case LEADER_PORT_EPOCH:
        epoch_rolled(n, leader_port_epoch(e->leader));
        break;
    case LEADER_PORT_LEARNER_UP:
        LOG_I("Learner %" PRId64 " connected as %s", sid, reason ? reason : "learner");
        break;
    case LEADER_PORT_LEARNER_SYNC:
        LOG_I("Learner %" PRId64 " synced by %s", sid, reason ? reason : "?");
        break;
    case LEADER_PORT_LEARNER_SYNCED:
        LOG_I("Learner %" PRId64 " is up to date", sid);
        break;
    case LEADER_PORT_LEARNER_DOWN:
        LOG_I("Learner %" PRId64 " gone: %s", sid, reason ? reason : "");
        break;
    case LEADER_PORT_STOPPED:
        e->lost = true;
        snprintf(e->lost_reason, sizeof(e->lost_reason), "%s", reason ? reason : "stopped");
        break;
    }
    node__wake(n);
}

/* ---- roles ---- */

/* Listener's socketBindErrorHandler: a member that cannot take election
 * connections cannot rejoin an election, so it exits (Apache's exit code
 * 14, UNABLE_TO_BIND_QUORUM_PORT: main). */
static void on_listen_failed(void *ctx, const char *why)
{
    struct node *n = ctx;
    LOG_E("%s. Without its election port this member cannot take part in leader elections: "
          "stopping",
          why);
    n->run_error = NODE_ERR_ELECTION_BIND;
    node_stop(n);
}

static void on_decided(void *ctx, const struct elector_decision *d)
{
    struct node *n = ctx;
    n->ens->decision = *d;
    n->ens->decided = true;
    node__wake(n);
}

static int start_learning(struct node *n, const struct elector_decision *d)
{
    struct node_ens *e = n->ens;
    const struct member *leader = membership_find(&e->members, d->vote.leader);
    if (!leader) {
        LOG_E("The elected leader %" PRId64 " is not in the membership", d->vote.leader);
        return -1;
    }
    int64_t master = d->vote.leader;
    int port = leader->quorum.port;
    e->master_sid = -1;
    if (d->state == ELECTION_OBSERVING && n->cfg.observer_master_port > 0) {
        /* Observer.findLearnerMaster: the voters in turn, at their quorum
         * host and our observerMasterPort; never the leader's quorum port */
        master = node__om_next_master(n);
        leader = master >= 0 ? membership_find(&e->members, master) : NULL;
        if (!leader) {
            LOG_E("No learner master found");
            return -1;
        }
        port = n->cfg.observer_master_port;
        e->master_sid = master;
        LOG_I("Observing new leader sid=%" PRId64 " addr=%s:%d", master, leader->quorum.host, port);
    }
    struct quorum_port_config qc = {
        .my_sid = e->sid,
        .role = d->state == ELECTION_OBSERVING ? ZAB_OBSERVING : ZAB_FOLLOWING,
        .leader_sid = master,
        .leader_host = leader->quorum.host,
        .leader_port = port,
        .voters = e->voters,
        .voters_len = e->voters_len,
        .has_quorum = ens_has_quorum,
        .has_quorum_arg = e,
        .tick_ms = n->cfg.tick_time_ms,
        .init_limit = n->cfg.init_limit,
        .sync_limit = n->cfg.sync_limit,
        .last_zxid = n->log_appended_zxid,
        .accepted_epoch = n->accepted_epoch,
        .current_epoch = n->current_epoch,
        .config_version = n->cfg.config_version,
        .max_buffer = 2 * (size_t)n->cfg.max_buffer, /* jute.maxbuffer + its extrasize */
    };
    struct quorum_port_io io = {
        .ctx = n,
        .write_epoch = io_write_epoch,
        .drain_log = io_drain_log,
        .truncate = io_truncate,
        .snap_begin = node__snap_begin,
        .snap_body = node__snap_body,
        .snap_end = node__snap_end,
        .log_append = io_log_append,
        .apply = io_apply,
        .ping_sessions = io_ping_sessions,
        .packet = io_learner_packet,
        .leader_config = io_leader_config,
        .on_event = io_learner_event,
    };
    char why[512];
    buf_clear(&e->leader_config);
    if (quorum_port_new(&n->loop, &qc, &io, &e->learner, why, sizeof(why)) < 0) {
        LOG_E("Cannot follow %" PRId64 ": %s", master, why);
        return -1;
    }
    return 0;
}

int node__ens_elector_rebuild(struct node *n)
{
    char why[512];
    elector_free(n->ens->elector);
    n->ens->elector = NULL;
    if (node__ens_elector_new(n, why, sizeof(why)) < 0) {
        LOG_E("The election port cannot start on the new config: %s: stopping", why);
        node_stop(n);
        return -1;
    }
    return 0;
}

int64_t *node__ens_observers(const struct node_ens *e, size_t *len)
{
    int64_t *observers = mem_alloc((e->members.count ? e->members.count : 1) * sizeof(int64_t));
    *len = 0;
    for (size_t i = 0; i < e->members.count; i++)
        if (e->members.members[i].role == MEMBER_OBSERVER)
            observers[(*len)++] = e->members.members[i].sid;
    return observers;
}

static int start_leading(struct node *n)
{
    struct node_ens *e = n->ens;
    /* Leader.proposalStats: each term's Leader starts a new BufferStats */
    e->last_proposal_size = e->min_proposal_size = e->max_proposal_size = -1;
    const struct member *me = membership_find(&e->members, e->sid);
    struct buf text;
    buf_init(&text);
    membership_format(&e->members, &text);
    buf_append(&text, "", 1); /* a C string */
    size_t observers_len, hist_len;
    int64_t *observers = node__ens_observers(e, &observers_len);
    /* the history must end at the last logged txn */
    struct zab_txn *hist = node__history_upto(n, n->log_appended_zxid, &hist_len);
    struct leader_port_config lc = {
        .my_sid = e->sid,
        .voters = e->voters,
        .voters_len = e->voters_len,
        .has_quorum = ens_has_quorum,
        .has_quorum_arg = e,
        .observers = observers,
        .observers_len = observers_len,
        .tick_ms = n->cfg.tick_time_ms,
        .init_limit = n->cfg.init_limit,
        .sync_limit = n->cfg.sync_limit,
        .host = me->quorum.host,
        .port = me->quorum.port,
        .listen_all_ips = n->cfg.quorum_listen_on_all_ips,
        .last_zxid = n->log_appended_zxid,
        .accepted_epoch = n->accepted_epoch,
        .current_epoch = n->current_epoch,
        .history = hist,
        .history_len = hist_len,
        .config_text = (const char *)text.data,
        .config_version = n->cfg.config_version,
        .config_version_from_epoch = n->cfg.reconfig_enabled && e->members.version == 0,
        .max_buffer = 2 * (size_t)n->cfg.max_buffer, /* jute.maxbuffer + its extrasize */
        .first_counter = n->cfg.zxid_counter_start,
    };
    struct leader_port_io io = {
        .ctx = n,
        .write_epoch = io_write_epoch,
        .log_append = io_leader_log_append,
        .commit = io_commit,
        .snapshot = io_snapshot,
        .snapshot_fork = node__snapshot_fork,
        .request = io_request,
        .revalidate = io_revalidate,
        .touch = io_touch,
        .local_synced = io_local_synced,
        .on_event = io_leader_event,
    };
    char why[512];
    int rc = leader_port_new(&n->loop, &lc, &io, &e->leader, why, sizeof(why));
    buf_deinit(&text);
    mem_free(observers);
    mem_free(hist);
    if (rc < 0) {
        LOG_E("Cannot lead: %s", why);
        return -1;
    }
    e->applied_commit = -1;
    return 0;
}

/* ---- read-only mode (readonlymode.enabled) ---- */

/* Still LOOKING after the grace period (QuorumPeer's roZkMgr: max(2 s,
 * tickTime), "before we decide we're partitioned"): serve read-only
 * clients from the tree as it is, until the election decides. */
static void on_ro_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    struct node_ens *e = n->ens;
    if (n->stopping || e->state != ELECTION_LOOKING || e->decided || e->ending || e->read_only)
        return;
    e->read_only = true;
    server_set_role(n->server, SERVER_READ_ONLY, 0, node__now_ms(n));
    LOG_I("Read-only server started: serving read-only clients (zxid 0x%" PRIx64 ")",
          (uint64_t)server_last_zxid(n->server));
    node__wake(n);
}

/* The election decided: read-only clients go (as Apache's roZk.shutdown
 * closes every connection), and their local sessions with the role. */
static void read_only_end(struct node *n)
{
    struct node_ens *e = n->ens;
    if (e->ro_timer_ready)
        uv_timer_stop(&e->ro_timer);
    if (!e->read_only)
        return;
    e->read_only = false;
    node__close_client_conns(n);
    server_set_role(n->server, SERVER_LEARNER, 0, node__now_ms(n));
    LOG_I("Read-only server stopped: the election decided");
}

static void look(struct node *n)
{
    struct node_ens *e = n->ens;
    if (e->look_waiting) {
        /* a role ended while the pause after the last one ran (a config
         * seen meanwhile): that pause's LOOKING must not come on top of
         * the role this one elects */
        uv_timer_stop(&e->look_timer);
        e->look_waiting = false;
    }
    e->state = ELECTION_LOOKING;
    e->elections++;
    if (e->rebuild_elector) {
        e->rebuild_elector = false;
        if (!membership_find(&e->members, e->sid)) {
            LOG_W("This server (sid %" PRId64 ") is not in the ensemble's config (version %" PRIx64
                  ") any more: it stays LOOKING and serves no one until it is named again",
                  e->sid, (uint64_t)e->members.version);
        } else if (node__ens_elector_rebuild(n) < 0) {
            return;
        }
    }
    LOG_I("LOOKING (last zxid 0x%" PRIx64 ", current epoch %" PRId64 ")",
          (uint64_t)n->log_appended_zxid, n->current_epoch);
    if (elector_start(e->elector, n->log_appended_zxid, n->current_epoch) < 0)
        LOG_E("The election cannot start");
    if (n->cfg.read_only_enabled && e->ro_timer_ready && !e->read_only) {
        int64_t grace = n->cfg.tick_time_ms > 2000 ? n->cfg.tick_time_ms : 2000;
        LOG_I("Read-only mode: serving read-only clients in %" PRId64 " ms unless a leader "
              "is found",
              grace);
        uv_timer_start(&e->ro_timer, on_ro_timer, (uint64_t)grace, 0);
    }
}

static void on_look_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    struct node_ens *e = n->ens;
    e->look_waiting = false;
    if (n->stopping)
        return;
    look(n);
    node__wake(n);
}

/* The kept tree brought to what a reload of the data dir gives
 * (ZKDatabase.fastForwardDataBase): the txns logged beyond the tree's zxid
 * (proposals logged, never committed here) are applied, from the log's
 * newest txns in memory (n->history). -1 with why when the tree cannot be
 * kept: it is ahead of the log, or the txns are no longer in memory. */
static int fast_forward(struct node *n, int64_t *applied, char *why, size_t whylen)
{
    struct node_history *h = n->history;
    int64_t tree_zxid = server_last_zxid(n->server);
    *applied = 0;
    if (tree_zxid > n->log_appended_zxid) {
        snprintf(why, whylen, "the tree (0x%" PRIx64 ") is ahead of the log (0x%" PRIx64 ")",
                 (uint64_t)tree_zxid, (uint64_t)n->log_appended_zxid);
        return -1;
    }
    if (tree_zxid == n->log_appended_zxid)
        return 0;
    const struct node_history_txn *oldest = &h->ring[h->head];
    const struct node_history_txn *newest = &h->ring[(h->head + h->len - 1) % NODE_HISTORY_MAX];
    if (h->len == 0 || oldest->zxid > tree_zxid + 1 || newest->zxid != n->log_appended_zxid) {
        snprintf(why, whylen,
                 "the txns logged after 0x%" PRIx64 " are no longer all in memory (%zu kept)",
                 (uint64_t)tree_zxid, h->len);
        return -1;
    }
    int64_t now = node__now_ms(n);
    for (size_t i = 0; i < h->len; i++) {
        const struct node_history_txn *t = &h->ring[(h->head + i) % NODE_HISTORY_MAX];
        if (t->zxid <= tree_zxid)
            continue;
        char err[256];
        int rc = server_replay_txn(n->server, t->data, t->len, now, err, sizeof(err));
        if (rc < 0) {
            snprintf(why, whylen, "the logged txn 0x%" PRIx64 " does not apply: %s",
                     (uint64_t)t->zxid, err);
            return -1;
        }
        if (rc > 0)
            LOG_W("Fast-forwarding the kept tree: txn 0x%" PRIx64 ": %s", (uint64_t)t->zxid, err);
        server_set_last_zxid(n->server, t->zxid);
        (*applied)++;
    }
    return 0;
}

/* CZK_ROLE_END_VERIFY=1: the kept tree must equal a reload of the data dir;
 * crashing beats serving a tree that differs from the log. */
static void verify_kept_tree(struct node *n)
{
    struct server *check;
    char why[1024];
    if (node__recover_check(n, &check, why, sizeof(why)) < 0) {
        LOG_E("CZK_ROLE_END_VERIFY: the data dir does not reload: %s", why);
        abort();
    }
    uint64_t kept = server_state_digest(n->server);
    uint64_t loaded = server_state_digest(check);
    int64_t kept_zxid = server_last_zxid(n->server), loaded_zxid = server_last_zxid(check);
    struct server_stats ks, ls;
    server_get_stats(n->server, &ks);
    server_get_stats(check, &ls);
    server_free(check);
    if (kept != loaded || kept_zxid != loaded_zxid) {
        LOG_E("CZK_ROLE_END_VERIFY: the kept tree differs from the data dir: digest %016" PRIx64
              " vs %016" PRIx64 ", zxid 0x%" PRIx64 " vs 0x%" PRIx64 ", %zu vs %zu nodes, %zu vs "
              "%zu sessions",
              kept, loaded, (uint64_t)kept_zxid, (uint64_t)loaded_zxid, ks.node_count,
              ls.node_count, ks.session_count, ls.session_count);
        abort();
    }
    LOG_I("CZK_ROLE_END_VERIFY: the kept tree equals the data dir's (digest %016" PRIx64
          ", %zu nodes, zxid 0x%" PRIx64 ")",
          kept, ks.node_count, (uint64_t)kept_zxid);
}

/* The log is drained: keep the tree (brought forward) when that is provably
 * what a reload gives, else reload the data dir; then elect again. */
static void role_end_finish(struct node *n)
{
    struct node_ens *e = n->ens;
    e->ending = false;
    int64_t drained_ms = node__now_ms(n) - e->ending_since_ms;
    char why[512] = "";
    int64_t applied = 0;
    bool keep = !e->ending_reload && !n->disk_full && !e->tree_partial;
    if (e->tree_partial)
        snprintf(why, sizeof(why), "the leader's snapshot was cut off");
    else if (!keep)
        snprintf(why, sizeof(why), "the txn log failed (disk full)");
    else if (fast_forward(n, &applied, why, sizeof(why)) < 0)
        keep = false;
    e->ending_reload = false;
    if (keep) {
        LOG_I("Role over: kept the tree (zxid 0x%" PRIx64 ", %" PRId64
              " logged txns applied beyond the commits; the log drained in %" PRId64 " ms)",
              (uint64_t)server_last_zxid(n->server), applied, drained_ms);
        if (e->verify)
            verify_kept_tree(n);
    } else {
        int64_t started_ms = node__now_ms(n);
        LOG_W("Role over: reloading the data dir: %s", why);
        if (reload(n) < 0) {
            LOG_E("Cannot reload the data dir after the role ended: stopping");
            node_stop(n);
            return;
        }
        LOG_I("Role over: reloaded the data dir in %" PRId64 " ms (the log drained in %" PRId64
              " ms)",
              node__now_ms(n) - started_ms, drained_ms);
    }
    if (e->ending_wait_ms > 0 && e->look_timer_ready) {
        e->state = ELECTION_LOOKING;
        e->look_waiting = true;
        uv_timer_start(&e->look_timer, on_look_timer, (uint64_t)e->ending_wait_ms, 0);
        return;
    }
    look(n);
}

/* The role ended: no client stays, the server's in-flight state of the role
 * goes (server_set_role), and once the log thread has made durable what the
 * role handed it (role_end_finish, from the first check phase that finds
 * node__log_drained: the loop never waits for the disk here; the thread's
 * async wakes it), elect again (after a full disk, not before
 * look_backoff_ms). Meanwhile the member is LOOKING and not serving. */
static void role_end(struct node *n)
{
    struct node_ens *e = n->ens;
    int64_t wait_ms = 0;
    if (n->disk_full) {
        e->look_backoff_ms =
            e->look_backoff_ms > 0 ? e->look_backoff_ms * 2 : ENS_LOOK_BACKOFF_MS_MIN;
        if (e->look_backoff_ms > ENS_LOOK_BACKOFF_MS_MAX)
            e->look_backoff_ms = ENS_LOOK_BACKOFF_MS_MAX;
        wait_ms = e->look_backoff_ms;
        LOG_W("%s role over: %s; electing again in %" PRId64 " ms", node__ens_mode(n),
              e->lost_reason, wait_ms);
    } else {
        LOG_W("%s role over: %s", node__ens_mode(n), e->lost_reason);
    }
    e->lost = false;
    e->serving = false;
    e->serving_due = false;
    e->next_pending = false; /* committed later, it is activated as it is applied */
    node__om_stop(n);
    if (e->master_sid >= 0 && wait_ms == 0)
        /* Observer.waitForObserverElectionDelay: the next learner master
         * is tried after a pause, not in a tight loop of refusals */
        wait_ms = node__om_election_delay_ms(n);
    e->master_sid = -1;
    quorum_port_free(e->learner);
    e->learner = NULL;
    node__snap_abandon(n);
    /* what the role's last steps sent while corked (a reconfig's
     * COMMITANDACTIVATE, whose activation ended the role) goes out first */
    if (e->leader)
        leader_port_uncork(e->leader);
    leader_port_free(e->leader);
    e->leader = NULL;
    buf_clear(&e->queue);
    node__close_client_conns(n);
    /* a learner: no expiry, no sweep, nothing for the gone ports */
    server_set_role(n->server, SERVER_LEARNER, 0, node__now_ms(n));
    e->state = ELECTION_LOOKING;
    e->ending = true;
    /* a refused batch: the tree may hold txns the log does not */
    e->ending_reload = n->disk_full;
    e->ending_since_ms = node__now_ms(n);
    e->ending_wait_ms = wait_ms;
    node__log_handoff(n);
    node__wake(n);
}

static void decision_carry_out(struct node *n)
{
    struct node_ens *e = n->ens;
    const struct elector_decision *d = &e->decision;
    e->decided = false;
    read_only_end(n);
    e->state = d->state;
    e->leader_sid = d->vote.leader;
    LOG_I("%s (leader %" PRId64 ", zxid 0x%" PRIx64 ", election took %" PRId64 " ms)",
          node__ens_mode(n), d->vote.leader, (uint64_t)d->vote.zxid, d->elapsed_ms);
    int rc = d->state == ELECTION_LEADING ? start_leading(n) : start_learning(n, d);
    if (rc < 0) {
        e->lost = true;
        snprintf(e->lost_reason, sizeof(e->lost_reason), "the role could not start");
    }
}

static void become_serving(struct node *n)
{
    struct node_ens *e = n->ens;
    int64_t epoch = e->leader ? leader_port_epoch(e->leader) : e->serving_epoch;
    e->serving_due = false;
    e->serving = true;
    e->serving_since_ms = node__now_ms(n);
    e->look_backoff_ms = 0;
    /* a leader's next zxid is zab's first: as if counter start - 1 applied */
    int64_t start = n->cfg.zxid_counter_start > 0 ? n->cfg.zxid_counter_start : 1;
    if (e->state == ELECTION_LEADING)
        server_set_role(n->server, SERVER_LEADER, ZAB_ZXID(epoch, start - 1), node__now_ms(n));
    else
        server_set_role(n->server, SERVER_LEARNER, 0, node__now_ms(n));
    if (e->state == ELECTION_LEADING && n->cfg.reconfig_enabled && e->members.version == 0)
        /* Leader.startZkServer: NEWLEADER's version, now that a quorum has it */
        node__ens_take_config_version(n, ZAB_ZXID(epoch, 0), "the epoch's first zxid");
    else
        node__ens_adopt_leader_config(n);
    if (elector_epoch_update(e->elector, epoch) < 0)
        LOG_W("The election does not take epoch %" PRId64, epoch);
    LOG_I("Serving clients as %s in epoch %" PRId64, node__ens_mode(n), epoch);
}

/* What the ports need from the queue, in order. */
static void queue_flush(struct node *n)
{
    struct node_ens *e = n->ens;
    size_t off = 0;
    while (off < e->queue.len) {
        const uint8_t *p = e->queue.data + off;
        int kind = p[0];
        int64_t a = (int64_t)be64_get(p + 1);
        size_t len = get_u32(p + 9);
        const uint8_t *bytes = p + 13;
        off += 13 + len;
        if (kind == ENS_ITEM_PROPOSE && e->leader) {
            if (leader_port_propose(e->leader, a, bytes, len) < 0) {
                e->lost = true;
                snprintf(e->lost_reason, sizeof(e->lost_reason),
                         "a txn out of order for ZAB (zxid 0x%" PRIx64 ")", (uint64_t)a);
                break;
            }
        } else if (kind == ENS_ITEM_SYNC && e->leader) {
            /* a learner's sid, or SERVER_SYNC_LOCAL: our own client's */
            leader_port_sync(e->leader, a == SERVER_SYNC_LOCAL ? LEADER_PORT_SYNC_LOCAL : a);
        } else if (kind == ENS_ITEM_REQUEST) {
            size_t ids = get_u32(e->queue.data + off);
            off += 4;
            struct zk_id *auth = mem_alloc((ids ? ids : 1) * sizeof(*auth));
            for (size_t i = 0; i < ids; i++) {
                const uint8_t *q = e->queue.data + off;
                size_t sl = get_u32(q);
                size_t il = get_u32(q + 4 + sl);
                auth[i].scheme = jute_buf_of(q + 4, sl);
                auth[i].id = jute_buf_of(q + 8 + sl, il);
                off += 8 + sl + il;
            }
            bool sent = e->learner &&
                        quorum_port_send(e->learner, QUORUM_REQUEST, bytes, len, auth, ids) == 0;
            node__om_sent(n, kind, a, sent, bytes, len);
            mem_free(auth);
        } else if (kind == ENS_ITEM_REVALIDATE) {
            bool sent = e->learner &&
                        quorum_port_send(e->learner, QUORUM_REVALIDATE, bytes, len, NULL, 0) == 0;
            node__om_sent(n, kind, a, sent, bytes, len);
        }
    }
    buf_clear(&e->queue);
    if (e->learner)
        quorum_port_flush(e->learner);
}

bool node__ens_pump(struct node *n)
{
    struct node_ens *e = n->ens;
    if (!e)
        return false;
    bool progressed = false;
    if (e->lost && e->ending) {
        /* the log failed while draining: the tree may hold refused txns */
        e->lost = false;
        e->ending_reload = true;
    } else if (e->lost) {
        role_end(n);
        return true;
    }
    if (e->ending) {
        if (!node__log_drained(n))
            return progressed;
        role_end_finish(n);
        return true;
    }
    if (e->decided) {
        decision_carry_out(n);
        progressed = true;
    }
    if (e->serving_due && !e->lost) {
        become_serving(n);
        progressed = true;
    }
    node__om_pump(n);
    if (e->queue.len > 0) {
        queue_flush(n);
        progressed = true;
    }
    return progressed;
}

void node__ens_cork(struct node *n)
{
    if (n->ens && n->ens->leader)
        leader_port_cork(n->ens->leader);
}

void node__ens_uncork(struct node *n)
{
    /* a leader port made during the turn was never corked: a no-op then */
    if (n->ens && n->ens->leader)
        leader_port_uncork(n->ens->leader);
    if (n->ens && n->ens->om)
        leader_port_uncork(n->ens->om);
}

void node__ens_persisted(struct node *n, int64_t zxid)
{
    struct node_ens *e = n->ens;
    if (e->learner)
        quorum_port_persisted(e->learner, zxid);
    else if (e->leader)
        leader_port_persisted(e->leader, zxid);
}

/* ---- start and stop ---- */

bool node__config_is_ensemble(const struct node_config *cfg)
{
    return cfg->replicated;
}

int node__ens_elector_new(struct node *n, char *errmsg, size_t errlen)
{
    struct elector_config ec = {.my_sid = n->ens->sid,
                                .node = &n->cfg,
                                .on_decided = on_decided,
                                .on_config = node__ens_notified_config,
                                .on_listen_failed = on_listen_failed,
                                .ctx = n};
    return elector_new(&n->loop, &ec, &n->ens->elector, errmsg, errlen);
}

int node__ens_start(struct node *n, char *errmsg, size_t errlen)
{
    struct node_ens *e = mem_calloc(1, sizeof(*e));
    n->ens = e;
    e->sid = n->my_sid;
    e->applied_commit = -1;
    e->master_sid = -1;
    e->om_rand = (uint64_t)e->sid * 0x9e3779b97f4a7c15ull ^ (uint64_t)uv_hrtime();
    e->last_proposal_size = -1;
    e->min_proposal_size = -1;
    e->max_proposal_size = -1;
    const char *verify = getenv("CZK_ROLE_END_VERIFY");
    e->verify = verify && strcmp(verify, "1") == 0;
    if (e->verify)
        LOG_W("CZK_ROLE_END_VERIFY=1: each tree kept at a role's end is checked against a reload "
              "of the data dir (slow: for tests)");
    buf_init(&e->queue);
    buf_init(&e->leader_config);
    membership_init(&e->next_members);
    config_membership(&n->cfg, &e->members);
    if (n->cfg.reconfig_enabled && n->cfg.dynamic_config_file[0] == '\0') {
        /* QuorumPeerConfig.backupOldConfig */
        char why[CONFIG_PATH_MAX + 128];
        if (config_backup(&n->cfg, why, sizeof(why)) < 0)
            LOG_W("reconfigEnabled: no backup of the config file: %s", why);
    }
    e->voters = mem_alloc((e->members.count ? e->members.count : 1) * sizeof(int64_t));
    for (size_t i = 0; i < e->members.count; i++)
        if (e->members.members[i].role == MEMBER_PARTICIPANT)
            e->voters[e->voters_len++] = e->members.members[i].sid;
    node__ens_config_node(n);
    char why[512];
    if (node__ens_elector_new(n, why, sizeof(why)) < 0)
        return node__fail(errmsg, errlen, NODE_ERR_BIND, "the election port: %s", why);
    uv_timer_init(&n->loop, &e->look_timer);
    e->look_timer.data = n;
    e->look_timer_ready = true;
    uv_timer_init(&n->loop, &e->ro_timer);
    e->ro_timer.data = n;
    e->ro_timer_ready = true;
    look(n);
    return 0;
}

void node__ens_stop(struct node *n)
{
    struct node_ens *e = n->ens;
    if (!e)
        return;
    node__om_stop(n);
    quorum_port_free(e->learner);
    e->learner = NULL;
    node__snap_abandon(n);
    leader_port_free(e->leader);
    e->leader = NULL;
    elector_free(e->elector);
    e->elector = NULL;
    if (e->look_timer_ready) {
        /* closed by the loop's last run, before node__ens_free */
        uv_close((uv_handle_t *)&e->look_timer, NULL);
        e->look_timer_ready = false;
    }
    if (e->ro_timer_ready) {
        uv_close((uv_handle_t *)&e->ro_timer, NULL);
        e->ro_timer_ready = false;
    }
}

void node__ens_free(struct node *n)
{
    struct node_ens *e = n->ens;
    if (!e)
        return;
    buf_deinit(&e->queue);
    buf_deinit(&e->leader_config);
    buf_deinit(&e->om_queued);
    buf_deinit(&e->om_syncs);
    buf_deinit(&e->om_revalidations);
    mem_free(e->om_masters);
    membership_deinit(&e->members);
    membership_deinit(&e->next_members);
    mem_free(e->voters);
    mem_free(e);
    n->ens = NULL;
}
