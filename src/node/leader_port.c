/* SPDX-License-Identifier: Apache-2.0 */
/* The leader's end of the quorum port on libuv: a listener, one connection
 * per learner (each stream cut into QuorumPackets), ONE struct zab stepped
 * with all of them, each update carried out through the caller's io in the
 * order that makes a commit honest. Not the learner's side (quorum_port.c),
 * not the log thread, not the server (the io's). */
#include "node/leader_port.h"

#include "base/log.h"
#include "base/mem.h"
#include "node/leader_port_int.h"
#include "node/net.h"
#include "proto/jute.h"
#include "proto/quorum.h"
#include "storage/epoch.h"

#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* learner_output_max's default: what one learner may have pending (libuv's
 * write queue, not yet taken by the kernel) before it is taken as not
 * reading and dropped. A follower that stopped reading (SIGSTOP, a full
 * disk, backpressure from a log far behind) costs the leader at most this;
 * the leader and the others never wait for it, and it re-syncs (DIFF or
 * SNAP) when it comes back. 64 MiB is seconds of proposals at full speed,
 * more than syncLimit x tickTime usually allows. */
#define LEADER_PORT_OUT_DEFAULT ((size_t)64 * 1024 * 1024)
/* Connections open at once, introduced or not: learners, plus room for a
 * learner's new connection while its old one is still known. */
#define LEADER_PORT_CONNS_MAX (2 * ZAB_LEARNERS_MAX)
#define LEADER_PORT_BACKLOG   64

struct write_req {
    uv_write_t req;
    struct learner_conn *c;
    uint8_t *data;
    size_t len, snap;
};

/* ---- small helpers ---- */

static int64_t now_ms(const struct leader_port *lp)
{
    return (int64_t)uv_now(lp->loop);
}

static void event(struct leader_port *lp, enum leader_port_event ev, int64_t sid,
                  const char *reason)
{
    if (lp->io.on_event && !lp->freed)
        lp->io.on_event(lp->io.ctx, ev, sid, reason);
}

static bool sid_in(const int64_t *sids, size_t n, int64_t sid)
{
    for (size_t i = 0; i < n; i++)
        if (sids[i] == sid)
            return true;
    return false;
}

static struct learner_conn *conn_of(const struct leader_port *lp, int64_t sid)
{
    for (size_t i = 0; i < lp->conns_len; i++)
        if (lp->conns[i]->sid == sid)
            return lp->conns[i];
    return NULL;
}

void leader_port__maybe_free(struct leader_port *lp)
{
    if (lp->handles > 0 || !lp->freed)
        return;
    for (size_t i = 0; i < lp->queue_len; i++)
        mem_free(lp->queue[(lp->queue_head + i) % lp->queue_cap].data);
    mem_free(lp->queue);
    mem_free(lp->syncs);
    mem_free(lp->disconnects);
    mem_free(lp->conns);
    zab_deinit(&lp->zab);
    mem_free(lp->voters);
    mem_free(lp->observers);
    mem_free(lp->config_text);
    mem_free(lp);
}

static void on_port_handle_closed(uv_handle_t *h)
{
    struct leader_port *lp = h->data;
    lp->handles--;
    leader_port__maybe_free(lp);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct learner_conn *c = h->data;
    struct leader_port *lp = c->lp;
    buf_deinit(&c->in);
    buf_deinit(&c->out);
    buf_deinit(&c->held);
    mem_free(c);
    lp->handles--;
    leader_port__maybe_free(lp);
}

/* ---- connections ---- */

static void conn_close_detail(struct learner_conn *c, const char *reason, const char *detail,
                              enum close_kind kind);

void leader_port__conn_close(struct learner_conn *c, const char *reason, enum close_kind kind)
{
    conn_close_detail(c, reason, NULL, kind);
}

/* `detail`: figures for the log line only (the event gets `reason`). */
static void conn_close_detail(struct learner_conn *c, const char *reason, const char *detail,
                              enum close_kind kind)
{
    struct leader_port *lp = c->lp;
    if (c->closing)
        return;
    c->closing = true;
    for (size_t i = 0; i < lp->conns_len; i++)
        if (lp->conns[i] == c) {
            lp->conns[i] = lp->conns[--lp->conns_len];
            break;
        }
    if (kind == CLOSE_DROP || kind == CLOSE_REPLACED)
        lp->dropped++;
    if (kind != CLOSE_STOP) {
        if (c->sid >= 0)
            LOG_W("Leader %" PRId64 ": learner %" PRId64 " dropped: %s%s", lp->cfg.my_sid, c->sid,
                  reason, detail ? detail : "");
        else
            LOG_W("Leader %" PRId64 ": quorum connection dropped before its LearnerInfo: %s",
                  lp->cfg.my_sid, reason);
    }
    if (c->sid >= 0 && (kind == CLOSE_PEER || kind == CLOSE_DROP)) {
        if (lp->disconnects_len == lp->disconnects_cap) {
            lp->disconnects_cap = lp->disconnects_cap ? 2 * lp->disconnects_cap : 16;
            lp->disconnects =
                mem_realloc(lp->disconnects, lp->disconnects_cap * sizeof(*lp->disconnects));
        }
        lp->disconnects[lp->disconnects_len++] = c->sid;
    }
    if (c->sid >= 0 && kind != CLOSE_STOP)
        event(lp, LEADER_PORT_LEARNER_DOWN, c->sid, reason);
    buf_clear(&c->out);
    c->out_snap = 0;
    leader_port__snap_end(c, true);
    buf_clear(&c->held);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

#define LEADER_PORT_OUT_RESERVE ((size_t)256 << 10)

static void on_written(uv_write_t *req, int status);

static void conn_flush(struct learner_conn *c)
{
    struct leader_port *lp = c->lp;
    if (c->closing)
        return;
    if (c->held.len > lp->cfg.learner_output_max) {
        leader_port__conn_close(
            c, "the learner is not reading (held behind its SNAP above learner_output_max)",
            CLOSE_DROP);
        return;
    }
    if (c->out.len == 0) {
        leader_port__snap_pace(c);
        return;
    }
    /* What the kernel has not taken yet (libuv's queue), a SNAP body still
     * in it not counted, plus this round. */
    size_t queued = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
    size_t snap = c->snap_in_flight < queued ? c->snap_in_flight : queued;
    size_t plain = queued - snap + (c->out.len - c->out_snap);
    if (plain > lp->cfg.learner_output_max) {
        char detail[128];
        snprintf(detail, sizeof(detail), " (%zu bytes pending, learner_output_max %zu)", plain,
                 lp->cfg.learner_output_max);
        conn_close_detail(c, "the learner is not reading (output above learner_output_max)", detail,
                          CLOSE_DROP);
        return;
    }
    struct write_req *w = mem_alloc(sizeof(*w));
    w->c = c;
    w->data = c->out.data;
    w->len = c->out.len;
    w->snap = c->out_snap;
    buf_init(&c->out);
    /* the next turn is likely the same size: one allocation, not a
     * realloc per doubling (capped: a SNAP turn is not the norm) */
    buf_reserve(&c->out, w->len < LEADER_PORT_OUT_RESERVE ? w->len : LEADER_PORT_OUT_RESERVE);
    c->out_snap = 0;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc < 0) {
        mem_free(w->data);
        mem_free(w);
        leader_port__conn_close(c, "write to the learner failed", CLOSE_DROP);
        return;
    }
    c->snap_in_flight += w->snap;
    leader_port__snap_pace(c);
}

static void flush_all(struct leader_port *lp)
{
    /* conn_flush may close (and so remove) the connection it flushes. */
    for (size_t i = 0; i < lp->conns_len;) {
        struct learner_conn *c = lp->conns[i];
        conn_flush(c);
        if (i < lp->conns_len && lp->conns[i] == c)
            i++;
    }
}

static void send_packet(struct leader_port *lp, struct learner_conn *c, int32_t type, int64_t zxid,
                        struct jute_buf data)
{
    (void)lp;
    if (c->closing)
        return;
    quorum_packet_encode(c->stream ? &c->held : &c->out, type, zxid, data, NULL, 0);
}

/* ---- the update ---- */

/* Leadership over: once, one log line, one STOPPED. */
static void finish(struct leader_port *lp, const char *reason)
{
    if (lp->over)
        return;
    lp->over = true;
    LOG_W("Leader %" PRId64 ": leadership over: %s", lp->cfg.my_sid, reason);
    while (lp->conns_len > 0)
        leader_port__conn_close(lp->conns[lp->conns_len - 1], reason, CLOSE_STOP);
    uv_timer_stop(&lp->timer);
    for (size_t i = 0; i < lp->queue_len; i++)
        mem_free(lp->queue[(lp->queue_head + i) % lp->queue_cap].data);
    lp->queue_head = lp->queue_len = lp->queue_bytes = 0;
    lp->syncs_head = lp->syncs_len = lp->syncs_stepped = 0;
    lp->disconnects_len = 0;
    lp->epoch = -1;
    event(lp, LEADER_PORT_STOPPED, lp->cfg.my_sid, reason);
}

/* ZAB released this sync (the oldest it holds): the learner's SYNC packet
 * goes now; true for the leader's own client's, whose answer (io.local_synced)
 * waits for this update's commits to be applied. */
static bool answer_sync(struct leader_port *lp, uint64_t token)
{
    if (lp->over || lp->freed)
        return false;
    if (lp->syncs_stepped == 0 || lp->syncs[lp->syncs_head].token != token) {
        LOG_E("Leader %" PRId64 ": ZAB answered sync %" PRIu64 " out of order", lp->cfg.my_sid,
              token);
        abort(); /* an invariant: crashing beats answering the wrong sync */
    }
    struct pending_sync s = lp->syncs[lp->syncs_head];
    lp->syncs_head = (lp->syncs_head + 1) % lp->syncs_cap;
    lp->syncs_len--;
    lp->syncs_stepped--;
    if (s.sid == LEADER_PORT_SYNC_LOCAL)
        return true;
    struct learner_conn *c = conn_of(lp, s.sid);
    if (c && c->gen == s.gen)
        send_packet(lp, c, QUORUM_SYNC, 0, (struct jute_buf){NULL, -1});
    return false;
}

static void on_timer(uv_timer_t *t);

static void arm_timer(struct leader_port *lp, int64_t deadline_ms)
{
    if (lp->over || lp->freed)
        return;
    int64_t now = now_ms(lp);
    /* At least every tick: introductions that never come are timed out there. */
    int64_t wait = deadline_ms < 0 ? lp->cfg.tick_ms : deadline_ms - now;
    if (wait < 0)
        wait = 0;
    if (wait > lp->cfg.tick_ms)
        wait = lp->cfg.tick_ms;
    uv_timer_start(&lp->timer, on_timer, (uint64_t)wait, 0);
}

static void encode_send(struct leader_port *lp, const struct zab_send *s)
{
    struct learner_conn *c = conn_of(lp, s->to);
    if (!c)
        return; /* gone since: ZAB hears of it from the deferred DISCONNECTED */
    struct buf data;
    buf_init(&data);
    struct jute_buf payload = {NULL, -1};
    switch (s->payload) {
    case ZAB_PAYLOAD_NONE:
        break;
    case ZAB_PAYLOAD_DATA:
        payload = s->data;
        break;
    case ZAB_PAYLOAD_I32:
        quorum_i32_payload_encode(&data, s->i32);
        payload = jute_buf_of(data.data, data.len);
        break;
    case ZAB_PAYLOAD_CONFIG: {
        size_t len = strlen(lp->config_text);
        const char *v = strstr(lp->config_text, "version=");
        if (lp->cfg.config_version_from_epoch && v) {
            /* membership_format ends in version=<hex>: NEWLEADER's zxid */
            buf_append(&data, lp->config_text, (size_t)(v - lp->config_text));
            buf_printf(&data, "version=%" PRIx64, (uint64_t)s->zxid);
            payload = jute_buf_of(data.data, data.len);
        } else {
            payload = jute_buf_of(lp->config_text, len);
        }
        break;
    }
    case ZAB_PAYLOAD_ACTIVATE:
        jute_write_i64(&data, lp->cfg.designated_leader_set ? lp->cfg.designated_leader : s->i64);
        if (s->data.len > 0)
            buf_append(&data, s->data.ptr, (size_t)s->data.len);
        payload = jute_buf_of(data.data, data.len);
        break;
    case ZAB_PAYLOAD_LEARNER_INFO: /* a learner's; never asked of a leader */
    case ZAB_PAYLOAD_SESSIONS:
        break;
    }
    send_packet(lp, c, s->type, s->zxid, payload);
    buf_deinit(&data);
    if (s->type == QUORUM_SNAP && !c->closing && !c->stream)
        leader_port__snap_body(lp, c);
}

/* The driver contract (zab.h, struct zab_update): persist, then send, then
 * apply. */
static void carry_out(struct leader_port *lp, const struct zab_update *up)
{
    void *ctx = lp->io.ctx;
    if (up->accepted_epoch >= 0 && lp->io.write_epoch(ctx, EPOCH_ACCEPTED, up->accepted_epoch)) {
        finish(lp, "local storage failed (acceptedEpoch)");
        return;
    }
    if (up->current_epoch >= 0 && lp->io.write_epoch(ctx, EPOCH_CURRENT, up->current_epoch)) {
        finish(lp, "local storage failed (currentEpoch)");
        return;
    }
    /* A leader is never told to truncate or load a snapshot. */
    for (size_t i = 0; i < up->appends_len; i++) {
        const struct zab_txn *t = &up->appends[i];
        lp->io.log_append(ctx, t->zxid, t->data.ptr, t->data.len > 0 ? (size_t)t->data.len : 0);
    }
    /* ZAB's reason per close; the limits behind a timeout in the log line. */
    char detail[96];
    snprintf(detail, sizeof(detail), " (syncLimit %" PRId64 " x tickTime %" PRId64 " ms)",
             lp->cfg.sync_limit, lp->cfg.tick_ms);
    for (size_t i = 0; i < up->closes_len; i++) {
        struct learner_conn *c = conn_of(lp, up->closes[i]);
        const char *why = up->close_reasons[i] ? up->close_reasons[i] : "dropped by ZAB";
        if (c)
            conn_close_detail(c, why, strstr(why, "syncLimit") ? detail : NULL, CLOSE_ZAB);
    }
    /* An Apache learner's CommitProcessor pairs each COMMIT and SYNC with
     * the requests it forwarded, in the order it forwarded them: the answer
     * to its sync must come before the COMMIT of any txn proposed after the
     * sync arrived (Apache's Leader sends it right after the COMMIT of the
     * sync's last txn), or that learner stalls for good. Every sync released
     * in this update is confirmed already, so each goes before the first
     * COMMIT (or INFORM, or a reconfig's *ANDACTIVATE) past its target. */
    size_t synced_done = 0, local_due = 0;
    for (size_t i = 0; i < up->sends_len; i++) {
        const struct zab_send *s = &up->sends[i];
        if (s->type == QUORUM_COMMIT || s->type == QUORUM_INFORM ||
            s->type == QUORUM_COMMITANDACTIVATE || s->type == QUORUM_INFORMANDACTIVATE)
            while (synced_done < up->synced_len && lp->syncs_stepped > 0 &&
                   lp->syncs[lp->syncs_head].target < s->zxid)
                local_due += answer_sync(lp, up->synced[synced_done++]);
        encode_send(lp, s);
    }
    if (up->commit_upto_zxid > lp->committed_zxid) {
        lp->committed_zxid = up->commit_upto_zxid;
        lp->io.commit(ctx, up->commit_upto_zxid);
    }
    while (synced_done < up->synced_len)
        local_due += answer_sync(lp, up->synced[synced_done++]);
    for (; local_due > 0 && !lp->over && !lp->freed; local_due--)
        if (lp->io.local_synced)
            lp->io.local_synced(ctx);
    for (size_t i = 0; i < up->sends_len; i++) {
        const struct zab_send *s = &up->sends[i];
        if (s->type == QUORUM_DIFF || s->type == QUORUM_TRUNC || s->type == QUORUM_SNAP)
            event(lp, LEADER_PORT_LEARNER_SYNC, s->to, quorum_type_name(s->type));
        else if (s->type == QUORUM_UPTODATE)
            event(lp, LEADER_PORT_LEARNER_SYNCED, s->to, NULL);
    }
    if (up->became_serving) {
        lp->epoch = up->established_epoch;
        LOG_I("Leader %" PRId64 ": serving epoch %" PRId64, lp->cfg.my_sid, lp->epoch);
        event(lp, LEADER_PORT_SERVING, lp->cfg.my_sid, NULL);
    }
    if (up->epoch_rolled) {
        lp->epoch = up->established_epoch;
        event(lp, LEADER_PORT_EPOCH, lp->cfg.my_sid, NULL);
    }
    if (up->stopped) {
        finish(lp, up->reason ? up->reason : "stopped");
        return;
    }
    arm_timer(lp, up->deadline_ms);
}

/* 0, or ZAB's error with nothing changed. Only with depth > 0. */
static int step(struct leader_port *lp, const struct zab_event *ev)
{
    struct zab_update up;
    int rc = zab_step(&lp->zab, ev, &up);
    if (rc != 0)
        return rc;
    carry_out(lp, &up);
    return 0;
}

/* What callbacks asked for, in order: DISCONNECTEDs, our acks, the syncs
 * asked for (to ZAB, which answers them; their targets are zxids, so the
 * proposals still queued need not go first), proposals as room frees up. */
static void run_deferred(struct leader_port *lp)
{
    while (!lp->over && !lp->freed) {
        struct zab_event ev = {.now_ms = now_ms(lp)};
        if (lp->disconnects_len > 0) {
            ev.type = ZAB_DISCONNECTED;
            ev.disconnected.sid = lp->disconnects[0];
            memmove(lp->disconnects, lp->disconnects + 1,
                    --lp->disconnects_len * sizeof(*lp->disconnects));
            /* the sid may have a new connection by now: ZAB's learner is that one */
            if (conn_of(lp, ev.disconnected.sid))
                continue;
            (void)step(lp, &ev);
            continue;
        }
        if (lp->persisted_want > lp->persisted_done) {
            lp->persisted_done = lp->persisted_want;
            ev.type = ZAB_PERSISTED;
            ev.persisted.zxid = lp->persisted_want;
            (void)step(lp, &ev);
            continue;
        }
        if (lp->syncs_stepped < lp->syncs_len && lp->zab.serving) {
            const struct pending_sync *s =
                &lp->syncs[(lp->syncs_head + lp->syncs_stepped) % lp->syncs_cap];
            ev.type = ZAB_SYNC_REQUEST;
            ev.sync.token = s->token;
            ev.sync.zxid = s->target;
            lp->syncs_stepped++; /* before the step: it may answer the sync at once */
            if (step(lp, &ev) != 0) {
                lp->syncs_stepped--;
                finish(lp, "ZAB refused a sync");
                break;
            }
            continue;
        }
        if (lp->queue_len > 0 && lp->zab.serving) {
            struct queued_txn *q = &lp->queue[lp->queue_head];
            ev.type = ZAB_PROPOSE;
            ev.propose.zxid = q->zxid;
            ev.propose.data = jute_buf_of(q->data, q->len);
            int rc = step(lp, &ev);
            if (rc == ZAB_EBUSY)
                break;
            if (lp->over)
                break;
            if (rc != 0) {
                finish(lp, "ZAB refused a queued proposal");
                break;
            }
            mem_free(q->data);
            lp->queue_bytes -= q->len;
            lp->queue_head = (lp->queue_head + 1) % lp->queue_cap;
            lp->queue_len--;
            continue;
        }
        break;
    }
}

void leader_port__enter(struct leader_port *lp)
{
    lp->depth++;
}

void leader_port__leave(struct leader_port *lp)
{
    if (lp->depth == 1) {
        /* A flush may drop a learner (output bound): ZAB hears of it now. */
        do {
            run_deferred(lp);
            if (lp->corked)
                break;
            flush_all(lp);
        } while (lp->disconnects_len > 0 && !lp->over && !lp->freed);
    }
    lp->depth--;
}

void leader_port_cork(struct leader_port *lp)
{
    lp->corked = true;
}

void leader_port_uncork(struct leader_port *lp)
{
    if (!lp->corked)
        return;
    lp->corked = false;
    leader_port__enter(lp);
    leader_port__leave(lp);
}

/* ---- packets from a learner ---- */

static void drop(struct learner_conn *c, const char *reason)
{
    leader_port__conn_close(c, reason, CLOSE_DROP);
}

/* The first packet: LearnerHandler.run's LearnerInfo checks. */
static bool introduce(struct learner_conn *c, const struct zk_quorum_packet *pk)
{
    struct leader_port *lp = c->lp;
    char why[160];
    if (pk->type != QUORUM_FOLLOWERINFO && pk->type != QUORUM_OBSERVERINFO) {
        const char *name = quorum_type_name(pk->type);
        snprintf(why, sizeof(why),
                 "first packet is of type %d (%s), not FOLLOWERINFO or "
                 "OBSERVERINFO",
                 (int)pk->type, name ? name : "unknown");
        drop(c, why);
        return false;
    }
    struct quorum_learner_info info;
    if (quorum_learner_info_decode(pk->data, &info) != 0) {
        drop(c, "LearnerInfo that does not decode");
        return false;
    }
    bool observer = pk->type == QUORUM_OBSERVERINFO;
    int64_t sid = info.serverid;
    bool known =
        sid != lp->cfg.my_sid && (sid_in(lp->voters, lp->cfg.voters_len, sid) ||
                                  (observer && sid_in(lp->observers, lp->cfg.observers_len, sid)));
    if (!known) {
        snprintf(why, sizeof(why), "sid %" PRId64 " is not a %s of the current config", sid,
                 observer ? "member" : "participant");
        drop(c, why);
        return false;
    }
    if (info.protocol_version < QUORUM_PROTOCOL_VERSION) {
        drop(c, "learner protocol older than 0x10000 (before 3.4)");
        return false;
    }
    if (info.has_config_version && info.config_version > lp->cfg.config_version) {
        drop(c, "follower is ahead of the leader (has a later activated configuration)");
        return false;
    }
    struct learner_conn *old = conn_of(lp, sid);
    if (old)
        leader_port__conn_close(old, "replaced by a new connection of the same sid",
                                CLOSE_REPLACED);
    c->sid = sid;
    c->observer = observer;
    LOG_I("Leader %" PRId64 ": learner %" PRId64 " (%s) connected", lp->cfg.my_sid, sid,
          observer ? "observer" : "follower");
    event(lp, LEADER_PORT_LEARNER_UP, sid, observer ? "observer" : "follower");
    return !c->closing;
}

static void on_request(struct learner_conn *c, const struct zk_quorum_packet *pk)
{
    struct leader_port *lp = c->lp;
    struct quorum_request req;
    if (quorum_request_decode(pk->data, &req) != 0) {
        drop(c, "REQUEST data that does not decode");
        return;
    }
    if (!lp->io.request)
        return;
    struct zk_id *ids = NULL;
    size_t n = 0;
    if (pk->authinfo.count > 0) {
        ids = mem_alloc((size_t)pk->authinfo.count * sizeof(*ids));
        struct jute_vec_iter it;
        jute_vec_iter_init(&it, &pk->authinfo);
        while (n < (size_t)pk->authinfo.count && jute_vec_next_id(&it, &ids[n]))
            n++;
    }
    int rc =
        lp->io.request(lp->io.ctx, c->sid, pk->data.ptr, (size_t)pk->data.len, n ? ids : NULL, n);
    mem_free(ids);
    if (rc != 0)
        drop(c, "a REQUEST the server refused");
}

static void on_revalidate(struct learner_conn *c, const struct zk_quorum_packet *pk)
{
    struct leader_port *lp = c->lp;
    struct quorum_revalidate v;
    if (quorum_revalidate_decode(pk->data, &v) != 0) {
        drop(c, "REVALIDATE data that does not decode");
        return;
    }
    if (lp->io.revalidate_relay) {
        /* a follower's observer master: the leader answers, later */
        lp->io.revalidate_relay(lp->io.ctx, c->sid, pk->zxid, pk->data.ptr, (size_t)pk->data.len);
        return;
    }
    bool valid =
        lp->io.revalidate && lp->io.revalidate(lp->io.ctx, c->sid, v.session_id, v.timeout_ms);
    if (c->closing)
        return;
    struct buf b;
    buf_init(&b);
    struct quorum_revalidate_reply r = {.session_id = v.session_id, .valid = valid};
    quorum_revalidate_reply_encode(&b, &r);
    /* Leader.revalidateSession answers with the same packet, data replaced. */
    send_packet(lp, c, QUORUM_REVALIDATE, pk->zxid, jute_buf_of(b.data, b.len));
    buf_deinit(&b);
}

static void on_ping(struct learner_conn *c, const struct zk_quorum_packet *pk)
{
    struct leader_port *lp = c->lp;
    struct quorum_ping_iter it;
    if (quorum_ping_iter_init(&it, pk->data) != 0) {
        drop(c, "PING data not a multiple of 12 bytes");
        return;
    }
    int64_t session_id;
    int32_t timeout_ms;
    while (quorum_ping_next(&it, &session_id, &timeout_ms))
        if (lp->io.touch)
            lp->io.touch(lp->io.ctx, c->sid, session_id, timeout_ms);
}

static void handle_packet(struct learner_conn *c, const struct zk_quorum_packet *pk)
{
    struct leader_port *lp = c->lp;
    if (c->sid < 0 && !introduce(c, pk))
        return;
    struct zab_event ev = {.type = ZAB_RECEIVE, .now_ms = now_ms(lp)};
    ev.receive.from = c->sid;
    ev.receive.type = pk->type;
    ev.receive.zxid = pk->zxid;
    ev.receive.data = pk->data;
    if (step(lp, &ev) != 0) {
        drop(c, "a packet the ZAB core refused");
        return;
    }
    if (c->closing || lp->over)
        return;
    switch (pk->type) {
    case QUORUM_REQUEST:
        on_request(c, pk);
        break;
    case QUORUM_REVALIDATE:
        on_revalidate(c, pk);
        break;
    case QUORUM_PING:
        on_ping(c, pk);
        break;
    default:
        break;
    }
}

static void process_input(struct learner_conn *c)
{
    struct leader_port *lp = c->lp;
    while (!c->closing && !lp->over) {
        const uint8_t *p = c->in.data + c->in_off;
        size_t avail = c->in.len - c->in_off;
        size_t packet_len;
        int rc = quorum_packet_split(p, avail, lp->cfg.max_buffer, &packet_len);
        if (rc < 0) {
            char why[96];
            snprintf(why, sizeof(why), "malformed packet (%s)", peer_err_name(rc));
            drop(c, why);
            return;
        }
        if (packet_len == 0) {
            if (avail > 2 * lp->cfg.max_buffer + 64)
                drop(c, "packet above jute.maxbuffer");
            break;
        }
        struct jute_reader r;
        jute_reader_init(&r, p, packet_len);
        struct zk_quorum_packet pk;
        if (zk_quorum_packet_decode(&r, &pk) != 0) {
            drop(c, "malformed packet (does not decode)");
            return;
        }
        c->in_off += packet_len;
        handle_packet(c, &pk);
    }
    if (c->closing)
        return;
    if (c->in_off > 0 && (c->in_off == c->in.len || c->in_off >= LEADER_PORT_READ_CHUNK)) {
        buf_consume(&c->in, c->in_off);
        c->in_off = 0;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct learner_conn *c = h->data;
    buf_reserve(&c->in, LEADER_PORT_READ_CHUNK);
    *out = uv_buf_init((char *)c->in.data + c->in.len, LEADER_PORT_READ_CHUNK);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct learner_conn *c = s->data;
    struct leader_port *lp = c->lp;
    if (c->closing || lp->freed)
        return;
    leader_port__enter(lp);
    if (n < 0) {
        leader_port__conn_close(
            c, n == UV_EOF ? "the learner closed the connection" : "read from the learner failed",
            CLOSE_PEER);
    } else if (n > 0) {
        c->in.len += (size_t)n;
        if (c->sid < 0 && c->in.len > 2 * lp->cfg.max_buffer + 64)
            drop(c, "first packet above jute.maxbuffer");
        else
            process_input(c);
    }
    leader_port__leave(lp);
}

static void on_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct learner_conn *c = w->c;
    struct leader_port *lp = c->lp;
    c->snap_in_flight -= w->snap;
    mem_free(w->data);
    mem_free(w);
    if (status < 0 && !c->closing && !lp->freed) {
        leader_port__enter(lp);
        leader_port__conn_close(c, "write to the learner failed", CLOSE_DROP);
        leader_port__leave(lp);
    } else if (c->stream && !c->closing && !lp->freed) {
        leader_port__enter(lp);
        leader_port__snap_pace(c);
        leader_port__leave(lp);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct leader_port *lp = server->data;
    if (status < 0 || lp->freed)
        return;
    struct learner_conn *c = mem_calloc(1, sizeof(*c));
    c->lp = lp;
    c->sid = -1;
    c->gen = ++lp->next_gen;
    c->since_ms = now_ms(lp);
    buf_init(&c->in);
    buf_init(&c->out);
    buf_init(&c->held);
    uv_tcp_init(lp->loop, &c->tcp);
    c->tcp.data = c;
    lp->handles++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    if (lp->over || lp->conns_len >= LEADER_PORT_CONNS_MAX) {
        LOG_W("Leader %" PRId64 ": quorum connection refused: %s", lp->cfg.my_sid,
              lp->over ? "not leading any more" : "too many connections");
        lp->dropped++;
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    if (lp->conns_len == lp->conns_cap) {
        lp->conns_cap = lp->conns_cap ? 2 * lp->conns_cap : 16;
        lp->conns = mem_realloc(lp->conns, lp->conns_cap * sizeof(*lp->conns));
    }
    lp->conns[lp->conns_len++] = c;
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        leader_port__enter(lp);
        drop(c, "read from the learner failed");
        leader_port__leave(lp);
    }
}

static void on_timer(uv_timer_t *t)
{
    struct leader_port *lp = t->data;
    if (lp->over || lp->freed)
        return;
    leader_port__enter(lp);
    int64_t now = now_ms(lp);
    /* LearnerHandler's socket timeout on the first read: initLimit ticks. */
    for (size_t i = 0; i < lp->conns_len;) {
        struct learner_conn *c = lp->conns[i];
        if (c->sid < 0 && now - c->since_ms > lp->cfg.init_limit * lp->cfg.tick_ms) {
            drop(c, "no LearnerInfo within initLimit");
            continue;
        }
        i++;
    }
    struct zab_event ev = {.type = ZAB_TICK, .now_ms = now};
    (void)step(lp, &ev);
    leader_port__leave(lp);
}

/* ---- the API ---- */

static int bind_listener(struct leader_port *lp, char *errmsg, size_t errmsg_size)
{
    struct sockaddr_storage ss;
    int gai = net_resolve(lp->cfg.host, lp->cfg.port, &ss);
    if (gai != 0) {
        snprintf(errmsg, errmsg_size, "quorum address %s does not resolve: %s", lp->cfg.host,
                 gai_strerror(gai));
        return UV_EAI_NONAME;
    }
    if (lp->cfg.listen_all_ips) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            a->sin6_addr = in6addr_any;
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            a->sin_addr.s_addr = htonl(INADDR_ANY);
        }
    }
    int rc = uv_tcp_bind(&lp->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&lp->listener, LEADER_PORT_BACKLOG, on_connection);
    if (rc < 0) {
        snprintf(errmsg, errmsg_size, "quorum port %s:%d: %s", lp->cfg.host, lp->cfg.port,
                 uv_strerror(rc));
        return rc;
    }
    struct sockaddr_storage got;
    int len = sizeof(got);
    lp->bound_port = lp->cfg.port;
    if (uv_tcp_getsockname(&lp->listener, (struct sockaddr *)&got, &len) == 0)
        lp->bound_port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                         : ((struct sockaddr_in *)&got)->sin_port);
    return 0;
}

static int64_t *copy_sids(const int64_t *sids, size_t n)
{
    int64_t *out = mem_alloc((n ? n : 1) * sizeof(int64_t));
    if (n)
        memcpy(out, sids, n * sizeof(int64_t));
    return out;
}

int leader_port_new(uv_loop_t *loop, const struct leader_port_config *cfg,
                    const struct leader_port_io *io, struct leader_port **out, char *errmsg,
                    size_t errmsg_size)
{
    *out = NULL;
    if (!cfg->host || cfg->port < 0 || cfg->port > 65535 || !cfg->voters_len ||
        !sid_in(cfg->voters, cfg->voters_len, cfg->my_sid) || !io->write_epoch || !io->log_append ||
        !io->commit || !io->snapshot || cfg->tick_ms <= 0) {
        snprintf(errmsg, errmsg_size, "bad leader config");
        return UV_EINVAL;
    }
    struct leader_port *lp = mem_calloc(1, sizeof(*lp));
    lp->loop = loop;
    lp->cfg = *cfg;
    lp->io = *io;
    lp->voters = copy_sids(cfg->voters, cfg->voters_len);
    lp->observers = copy_sids(cfg->observers, cfg->observers_len);
    lp->cfg.voters = lp->voters;
    lp->cfg.observers = lp->observers;
    const char *text = cfg->config_text ? cfg->config_text : "";
    lp->config_text = mem_strndup(text, strlen(text));
    lp->cfg.config_text = lp->config_text;
    lp->cfg.history = NULL; /* copied by ZAB at START */
    lp->cfg.history_len = 0;
    if (!lp->cfg.max_buffer)
        lp->cfg.max_buffer = QUORUM_MAX_BUFFER_DEFAULT;
    if (!lp->cfg.learner_output_max)
        lp->cfg.learner_output_max = LEADER_PORT_OUT_DEFAULT;
    lp->committed_zxid = -1;
    lp->epoch = -1;
    lp->persisted_want = lp->persisted_done = cfg->last_zxid;
    struct zab_config zc = {.my_sid = cfg->my_sid,
                            .voters = lp->voters,
                            .voters_len = cfg->voters_len,
                            .tick_ms = cfg->tick_ms,
                            .init_limit = cfg->init_limit,
                            .has_quorum = cfg->has_quorum,
                            .has_quorum_arg = cfg->has_quorum_arg,
                            .sync_limit = cfg->sync_limit,
                            .committed_log_max = cfg->committed_log_max,
                            .outstanding_max = cfg->outstanding_max,
                            .first_counter = cfg->first_counter};
    if (zab_init(&lp->zab, &zc) != 0) {
        snprintf(errmsg, errmsg_size, "bad ZAB config (voters, tickTime, initLimit, syncLimit)");
        mem_free(lp->voters);
        mem_free(lp->observers);
        mem_free(lp->config_text);
        mem_free(lp);
        return UV_EINVAL;
    }
    uv_tcp_init(loop, &lp->listener);
    lp->listener.data = lp;
    lp->handles++;
    uv_timer_init(loop, &lp->timer);
    lp->timer.data = lp;
    lp->handles++;
    int rc = bind_listener(lp, errmsg, errmsg_size);
    if (rc < 0) {
        leader_port_free(lp);
        return rc;
    }
    struct zab_event ev = {.type = ZAB_START, .now_ms = now_ms(lp)};
    ev.start.role = ZAB_LEADING;
    ev.start.leader_sid = cfg->my_sid;
    ev.start.last_zxid = cfg->last_zxid;
    ev.start.accepted_epoch = cfg->accepted_epoch;
    ev.start.current_epoch = cfg->current_epoch;
    ev.start.history = cfg->history;
    ev.start.history_len = cfg->history_len;
    *out = lp;
    leader_port__enter(lp);
    rc = step(lp, &ev);
    leader_port__leave(lp);
    if (rc != 0) {
        snprintf(errmsg, errmsg_size,
                 "ZAB refused START (epochs, last zxid, or a history not ending at it)");
        *out = NULL;
        lp->over = true;
        leader_port_free(lp);
        return UV_EINVAL;
    }
    LOG_I("Leader %" PRId64 ": quorum port %s:%d open, last zxid 0x%" PRIx64, cfg->my_sid,
          cfg->host, lp->bound_port, (uint64_t)cfg->last_zxid);
    return 0;
}

void leader_port_free(struct leader_port *lp)
{
    if (!lp)
        return;
    lp->freed = true;
    lp->over = true;
    while (lp->conns_len > 0)
        leader_port__conn_close(lp->conns[lp->conns_len - 1], "leader port closed", CLOSE_STOP);
    if (!uv_is_closing((uv_handle_t *)&lp->listener))
        uv_close((uv_handle_t *)&lp->listener, on_port_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&lp->timer))
        uv_close((uv_handle_t *)&lp->timer, on_port_handle_closed);
}

void leader_port_config_update(struct leader_port *lp, const char *text, int64_t version)
{
    mem_free(lp->config_text);
    lp->config_text = mem_strndup(text, strlen(text));
    lp->cfg.config_text = lp->config_text;
    lp->cfg.config_version = version;
    lp->cfg.config_version_from_epoch = false;
}

void leader_port_observers_update(struct leader_port *lp, const int64_t *observers, size_t len)
{
    mem_free(lp->observers);
    lp->observers = copy_sids(observers, len);
    lp->cfg.observers = lp->observers;
    lp->cfg.observers_len = len;
}

int leader_port_members_update(struct leader_port *lp, const int64_t *voters, size_t voters_len,
                               const int64_t *observers, size_t observers_len)
{
    if (lp->over || !sid_in(voters, voters_len, lp->cfg.my_sid) ||
        zab_voters_update(&lp->zab, voters, voters_len) != 0)
        return -1;
    mem_free(lp->voters);
    lp->voters = copy_sids(voters, voters_len);
    lp->cfg.voters = lp->voters;
    lp->cfg.voters_len = voters_len;
    leader_port_observers_update(lp, observers, observers_len);
    return 0;
}

int64_t leader_port_next_zxid(const struct leader_port *lp)
{
    if (lp->over)
        return -1;
    int64_t next = zab_next_zxid(&lp->zab);
    if (next < 0 || lp->queue_len == 0)
        return next;
    const struct queued_txn *last =
        &lp->queue[(lp->queue_head + lp->queue_len - 1) % lp->queue_cap];
    return quorum_zxid_after(last->zxid, lp->cfg.first_counter);
}

int leader_port_propose(struct leader_port *lp, int64_t zxid, const uint8_t *txn, size_t len)
{
    if (lp->over || !lp->zab.serving)
        return ZAB_ENOTREADY;
    if (zxid != leader_port_next_zxid(lp) || len > INT32_MAX)
        return ZAB_EINVAL;
    leader_port__enter(lp);
    if (lp->queue_bytes + len > LEADER_PORT_QUEUE_MAX_BYTES) {
        finish(lp, "proposal queue full");
        leader_port__leave(lp);
        return ZAB_ENOTREADY;
    }
    if (lp->queue_len == lp->queue_cap) {
        size_t cap = lp->queue_cap ? 2 * lp->queue_cap : 64;
        struct queued_txn *q = mem_alloc(cap * sizeof(*q));
        for (size_t i = 0; i < lp->queue_len; i++)
            q[i] = lp->queue[(lp->queue_head + i) % lp->queue_cap];
        mem_free(lp->queue);
        lp->queue = q;
        lp->queue_cap = cap;
        lp->queue_head = 0;
    }
    struct queued_txn *q = &lp->queue[(lp->queue_head + lp->queue_len) % lp->queue_cap];
    q->zxid = zxid;
    q->len = len;
    q->data = mem_alloc(len ? len : 1);
    if (len)
        memcpy(q->data, txn, len);
    lp->queue_len++;
    lp->queue_bytes += len;
    leader_port__leave(lp);
    return 0;
}

void leader_port_persisted(struct leader_port *lp, int64_t zxid)
{
    if (lp->over)
        return;
    leader_port__enter(lp);
    if (zxid > lp->persisted_want)
        lp->persisted_want = zxid;
    leader_port__leave(lp);
}

uint64_t leader_port_learner_gen(const struct leader_port *lp, int64_t sid)
{
    const struct learner_conn *c = conn_of(lp, sid);
    return c ? c->gen : 0;
}

void leader_port_send(struct leader_port *lp, int64_t sid, uint64_t gen, int32_t type, int64_t zxid,
                      const uint8_t *data, size_t len)
{
    struct learner_conn *c = conn_of(lp, sid);
    if (lp->over || !c || (gen != 0 && c->gen != gen))
        return;
    leader_port__enter(lp);
    send_packet(lp, c, type, zxid, data ? jute_buf_of(data, len) : (struct jute_buf){NULL, -1});
    leader_port__leave(lp);
}

void leader_port_sync(struct leader_port *lp, int64_t sid)
{
    if (lp->over || !lp->zab.serving)
        return;
    struct learner_conn *c = NULL;
    if (sid != LEADER_PORT_SYNC_LOCAL) {
        c = conn_of(lp, sid);
        if (!c)
            return; /* its learner is gone: Apache's sendSync finds no handler either */
    }
    leader_port__enter(lp);
    if (lp->syncs_len >= LEADER_PORT_SYNCS_MAX) {
        if (c)
            drop(c, "too many pending syncs");
        else
            LOG_W("Leader %" PRId64 ": too many pending syncs: a client's sync is ignored",
                  lp->cfg.my_sid);
        leader_port__leave(lp);
        return;
    }
    if (lp->syncs_len == lp->syncs_cap) {
        size_t cap = lp->syncs_cap ? 2 * lp->syncs_cap : 16;
        struct pending_sync *s = mem_alloc(cap * sizeof(*s));
        for (size_t i = 0; i < lp->syncs_len; i++)
            s[i] = lp->syncs[(lp->syncs_head + i) % lp->syncs_cap];
        mem_free(lp->syncs);
        lp->syncs = s;
        lp->syncs_cap = cap;
        lp->syncs_head = 0;
    }
    /* Leader.processSync: outstanding means proposed (or queued) and not
     * committed; the last of them is the one to wait for. */
    int64_t target = lp->committed_zxid;
    if (lp->queue_len > 0)
        target = lp->queue[(lp->queue_head + lp->queue_len - 1) % lp->queue_cap].zxid;
    else if (lp->zab.serving && lp->zab.last_zxid > target)
        target = lp->zab.last_zxid; /* proposed, or the history (committed) */
    lp->syncs[(lp->syncs_head + lp->syncs_len) % lp->syncs_cap] = (struct pending_sync){
        .sid = sid, .gen = c ? c->gen : 0, .target = target, .token = lp->next_sync_token++};
    lp->syncs_len++;
    leader_port__leave(lp); /* handed to ZAB there (or by the outer call, from inside a callback) */
}

void leader_port_stats(const struct leader_port *lp, struct leader_port_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < lp->conns_len; i++)
        if (lp->conns[i]->sid >= 0)
            out->learners++;
    if (!lp->over)
        for (size_t i = 0; i < lp->zab.learners_len; i++) {
            const struct zab_learner *l = &lp->zab.learners[i];
            if (l->state != ZAB_LEARNER_SYNCED)
                continue;
            if (l->observer)
                out->synced_observers++;
            else
                out->synced_followers++;
        }
    out->pending_syncs = lp->syncs_len;
    out->queued_proposals = lp->queue_len;
    out->connections = lp->conns_len;
    out->connections_dropped = lp->dropped;
}

const struct zab *leader_port_zab(const struct leader_port *lp)
{
    return &lp->zab;
}

int64_t leader_port_epoch(const struct leader_port *lp)
{
    return lp->epoch;
}

int leader_port_bound_port(const struct leader_port *lp)
{
    return lp->bound_port;
}
