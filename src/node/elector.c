/* SPDX-License-Identifier: Apache-2.0 */
/* The election of one ensemble member on the loop: FLE's updates carried out
 * over the election port (notifications in order, one timer), received
 * messages decoded into RECEIVE, the decision handed to the caller. Not the
 * election's rules (src/zab/fle.c) nor the connections (peer_port.c). */
#include "node/elector.h"

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "proto/election.h"
#include "zab/membership.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct elector {
    uv_loop_t *loop;
    struct fle fle;
    struct peer_port *pp;
    struct membership members;
    struct buf config_text; /* membership_format: every notification's config */
    struct buf note;        /* the notification being encoded */
    uv_timer_t timer;       /* FLE's deadline_ms */
    elector_decided_fn *on_decided;
    elector_config_fn *on_config;
    peer_port_listen_failed_fn *on_listen_failed;
    void *ctx;
    int64_t started_ms;
    bool decided;
    int64_t skipped;
};

static int fail(char *errmsg, size_t errmsg_size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *errmsg, size_t errmsg_size, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errmsg && errmsg_size)
        vsnprintf(errmsg, errmsg_size, fmt, ap);
    va_end(ap);
    return rc;
}

static bool elector_has_quorum(void *arg, const int64_t *acks, size_t acks_len)
{
    const struct elector *e = arg;
    return membership_is_quorum(&e->members, acks, acks_len);
}

static void on_timer(uv_timer_t *t);

/* Carries out one update: sends, then the timer, then the decision (last,
 * as the callback may start the next election). */
static void elector_apply(struct elector *e, const struct fle_update *up, bool tick)
{
    for (size_t i = 0; i < up->sends_len; i++) {
        const struct fle_send *s = &up->sends[i];
        struct election_notification n = {
            .state = s->state,
            .leader = s->vote.leader,
            .zxid = s->vote.zxid,
            .election_epoch = s->vote.election_epoch,
            .peer_epoch = s->vote.peer_epoch,
            .version = ELECTION_NOTIFICATION_VERSION,
            .config = {e->config_text.data, (int32_t)e->config_text.len},
        };
        e->note.len = 0;
        election_notification_encode(&e->note, &n);
        int rc = peer_port_send(e->pp, s->to, e->note.data, e->note.len);
        if (rc < 0)
            /* Only a sid outside the port's members: FLE answered a sender
             * the port let in, so this cannot happen short of a bug. */
            LOG_W("Election: cannot send to sid %" PRId64 ": %s", s->to, uv_strerror(rc));
    }
    /* A notification round timed out: Apache's lookForLeader then calls
     * connectAll() unless everything was delivered; re-dialling every peer
     * without a connection does both. */
    if (tick && up->sends_len > 0 && up->state == ELECTION_LOOKING)
        peer_port_connect_all(e->pp);
    if (up->deadline_ms < 0) {
        uv_timer_stop(&e->timer);
    } else {
        int64_t now_ms = (int64_t)uv_now(e->loop);
        int64_t wait_ms = up->deadline_ms > now_ms ? up->deadline_ms - now_ms : 0;
        uv_timer_start(&e->timer, on_timer, (uint64_t)wait_ms, 0);
    }
    if (!up->decided)
        return;
    e->decided = true;
    struct elector_decision d = {
        .state = up->state,
        .vote = up->vote,
        .elapsed_ms = (int64_t)uv_now(e->loop) - e->started_ms,
    };
    LOG_I("Election: %s, leader %" PRId64 " zxid 0x%" PRIx64 " round 0x%" PRIx64
          " peerEpoch 0x%" PRIx64 " after %" PRId64 " ms%s",
          election_state_name(d.state), d.vote.leader, (uint64_t)d.vote.zxid,
          (uint64_t)d.vote.election_epoch, (uint64_t)d.vote.peer_epoch, d.elapsed_ms,
          up->decided_early ? " (every connected voter agreed: no finalizeWait)" : "");
    if (e->on_decided)
        e->on_decided(e->ctx, &d);
}

static int elector_step(struct elector *e, struct fle_event *ev)
{
    struct fle_update up;
    ev->now_ms = (int64_t)uv_now(e->loop);
    int rc = fle_step(&e->fle, ev, &up);
    if (rc < 0)
        return rc;
    elector_apply(e, &up, ev->type == FLE_TICK);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    struct elector *e = t->data;
    struct fle_event ev = {.type = FLE_TICK};
    if (elector_step(e, &ev) < 0)
        LOG_W("Election: tick refused");
}

static void on_message(void *ctx, int64_t from_sid, const uint8_t *bytes, size_t len)
{
    struct elector *e = ctx;
    struct fle_event ev = {.type = FLE_RECEIVE};
    ev.receive.from = from_sid;
    int rc = election_notification_decode(bytes, len, &ev.receive.n);
    if (rc == 0 && e->on_config && ev.receive.n.config.len > 0)
        e->on_config(e->ctx, from_sid, ev.receive.n.config.ptr, (size_t)ev.receive.n.config.len);
    if (rc == 0)
        rc = elector_step(e, &ev);
    if (rc < 0) {
        /* WorkerReceiver skips what it cannot read and goes on. */
        e->skipped++;
        LOG_D("Election: skipped a message of %zu bytes from sid %" PRId64 " (%d)", len, from_sid,
              rc);
    }
}

static void on_connection(void *ctx, int64_t sid, bool up)
{
    struct elector *e = ctx;
    struct fle_event ev = {.type = FLE_CONNECTED};
    ev.connected.sid = sid;
    ev.connected.up = up;
    if (elector_step(e, &ev) < 0)
        LOG_W("Election: connection event refused");
}

static void on_listen_failed(void *ctx, const char *why)
{
    struct elector *e = ctx;
    e->on_listen_failed(e->ctx, why);
}

int elector_new(uv_loop_t *loop, const struct elector_config *cfg, struct elector **out,
                char *errmsg, size_t errmsg_size)
{
    const struct node_config *nc = cfg->node;
    struct elector *e = mem_calloc(1, sizeof(*e));
    e->loop = loop;
    e->on_decided = cfg->on_decided;
    e->on_config = cfg->on_config;
    e->on_listen_failed = cfg->on_listen_failed;
    e->ctx = cfg->ctx;
    buf_init(&e->config_text);
    buf_init(&e->note);
    config_membership(nc, &e->members);
    membership_format(&e->members, &e->config_text);

    int rc = 0;
    if (!membership_find(&e->members, cfg->my_sid)) {
        rc = fail(errmsg, errmsg_size, UV_EINVAL,
                  "election: myid %" PRId64 " has no server.%" PRId64 " line", cfg->my_sid,
                  cfg->my_sid);
        goto err_free;
    }
    int64_t voters[FLE_VOTERS_MAX];
    size_t voters_len = 0;
    int64_t zero_weight[FLE_VOTERS_MAX];
    size_t zero_weight_len = 0;
    struct peer_port_member pm[CONFIG_MEMBERS_MAX];
    for (size_t i = 0; i < e->members.count; i++) {
        const struct member *m = &e->members.members[i];
        pm[i] = (struct peer_port_member){
            .sid = m->sid, .host = m->election.host, .port = m->election.port};
        if (m->role != MEMBER_PARTICIPANT)
            continue;
        if (voters_len == FLE_VOTERS_MAX) {
            rc = fail(errmsg, errmsg_size, UV_EINVAL, "election: more than %d voters",
                      FLE_VOTERS_MAX);
            goto err_free;
        }
        voters[voters_len++] = m->sid;
        /* QuorumHierarchical: a voter of weight 0 is never proposed */
        if (membership_weight(&e->members, m->sid) == 0)
            zero_weight[zero_weight_len++] = m->sid;
    }
    struct fle_config fc = {
        .my_sid = cfg->my_sid,
        .voters = voters,
        .voters_len = voters_len,
        .zero_weight = zero_weight,
        .zero_weight_len = zero_weight_len,
        .has_quorum = elector_has_quorum,
        .has_quorum_arg = e,
        .finalize_wait_ms = cfg->finalize_wait_ms,
        .notification_interval_max_ms = cfg->notification_interval_max_ms,
        .decide_when_connected_agree = true,
    };
    if (fle_init(&e->fle, &fc) < 0) {
        rc = fail(errmsg, errmsg_size, UV_EINVAL, "election: no voters, or bad intervals");
        goto err_free;
    }

    struct peer_port_config pc;
    peer_port_config_defaults(&pc);
    pc.my_sid = cfg->my_sid;
    pc.members = pm;
    pc.member_count = e->members.count;
    pc.listen_on_all_ips = nc->quorum_listen_on_all_ips;
    if (nc->cnx_timeout_ms > 0)
        pc.connect_timeout_ms = nc->cnx_timeout_ms;
    if (nc->tick_time_ms > 0 && nc->sync_limit > 0)
        pc.header_timeout_ms = (int64_t)nc->tick_time_ms * nc->sync_limit;
    pc.bind_attempts = nc->election_port_bind_retry;
    pc.on_message = on_message;
    pc.on_connection = on_connection;
    pc.on_listen_failed = cfg->on_listen_failed ? on_listen_failed : NULL;
    pc.ctx = e;
    rc = peer_port_new(loop, &pc, &e->pp, errmsg, errmsg_size);
    if (rc < 0)
        goto err_free;
    uv_timer_init(loop, &e->timer);
    e->timer.data = e;
    *out = e;
    return 0;

err_free:
    membership_deinit(&e->members);
    buf_deinit(&e->config_text);
    buf_deinit(&e->note);
    mem_free(e);
    return rc;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct elector *e = h->data;
    membership_deinit(&e->members);
    buf_deinit(&e->config_text);
    buf_deinit(&e->note);
    mem_free(e);
}

void elector_free(struct elector *e)
{
    if (!e)
        return;
    peer_port_free(e->pp);
    e->pp = NULL;
    uv_close((uv_handle_t *)&e->timer, on_timer_closed);
}

int elector_start(struct elector *e, int64_t last_zxid, int64_t current_epoch)
{
    e->decided = false;
    e->started_ms = (int64_t)uv_now(e->loop);
    struct fle_event ev = {.type = FLE_START};
    ev.start.last_zxid = last_zxid;
    ev.start.current_epoch = current_epoch;
    LOG_I("Election: LOOKING, sid %" PRId64 " zxid 0x%" PRIx64 " currentEpoch 0x%" PRIx64,
          e->fle.my_sid, (uint64_t)last_zxid, (uint64_t)current_epoch);
    return elector_step(e, &ev);
}

int elector_resume(struct elector *e, int32_t state, const struct fle_vote *vote)
{
    struct fle_event ev = {.type = FLE_RESUME};
    ev.resume.state = state;
    ev.resume.vote = *vote;
    int rc = elector_step(e, &ev);
    if (rc == 0)
        e->decided = true;
    return rc;
}

int elector_epoch_update(struct elector *e, int64_t epoch)
{
    struct fle_event ev = {.type = FLE_EPOCH_UPDATE};
    ev.epoch_update.epoch = epoch;
    return elector_step(e, &ev);
}

void elector_config_update(struct elector *e, const struct membership *members)
{
    buf_clear(&e->config_text);
    membership_format(members, &e->config_text);
}

int32_t elector_state(const struct elector *e)
{
    return e->fle.state;
}

struct fle_vote elector_vote(const struct elector *e)
{
    if (e->fle.state == ELECTION_LOOKING) {
        struct fle_vote v = e->fle.proposal;
        v.election_epoch = e->fle.logicalclock;
        return v;
    }
    return e->fle.current;
}

bool elector_is_decided(const struct elector *e)
{
    return e->decided;
}

const struct peer_port *elector_peer_port(const struct elector *e)
{
    return e->pp;
}

int64_t elector_skipped(const struct elector *e)
{
    return e->skipped;
}
