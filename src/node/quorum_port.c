/* SPDX-License-Identifier: Apache-2.0 */
/* The learner's end of the quorum port on libuv: one TCP connection to the
 * leader, its byte stream cut into QuorumPackets (and a SNAP's body), each
 * stepped through struct zab, each update carried out through the caller's
 * io in the order that makes an ACK honest. Not the leader's side, not the
 * log thread (the io's). */
#include "node/quorum_port.h"

#include "base/log.h"
#include "base/mem.h"
#include "node/net.h"
#include "proto/jute.h"
#include "proto/quorum.h"
#include "proto/records.h"
#include "storage/epoch.h"

#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#define QUORUM_PORT_READ_CHUNK (64 * 1024)
/* Bytes queued to the leader and not yet written: past it the leader is not
 * reading (a learner sends little: acks and pings), and the connection ends. */
#define QUORUM_PORT_OUT_MAX (16 * 1024 * 1024)
/* Between connect attempts while the leader is not listening yet: from 5 ms,
 * doubling up to 50 (Apache sleeps 1 s between its 5 tries). A new leader
 * binds within milliseconds of its decision, which with czk's early
 * election decision (docs/PROTOCOL.md) can come a little after ours; each
 * try costs a refused connect on loopback. */
#define QUORUM_PORT_RETRY_MIN_MS 5
#define QUORUM_PORT_RETRY_MS     50

/* A txn logged and not yet committed (Apache's pendingTxns), kept until
 * the commit that applies it; zab bounds how many. */
struct pending_txn {
    int64_t zxid;
    uint8_t *data;
    size_t len;
};

struct quorum_port {
    uv_loop_t *loop;
    struct quorum_port_config cfg;
    struct quorum_port_io io;
    char *host;
    int64_t *voters;
    struct sockaddr_storage addr;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_timer_t timer;
    int handles; /* open handles; the struct goes when the last closes */
    bool tcp_open, connected, over, freed;
    bool retry_wait;             /* a failed connect: dial again when the timer fires */
    int64_t retry_ms;            /* the next wait after a refused connect */
    int64_t connect_deadline_ms; /* the leader may not be listening yet: retry until then */

    struct zab zab;
    int64_t deadline_ms;

    struct buf in; /* received, from `in_off` not yet consumed */
    size_t in_off;
    bool in_snap; /* the bytes at in_off are a SNAP's body */
    int64_t snap_zxid;
    struct quorum_snap_scan scan;

    struct pending_txn *pending;
    size_t pending_cap, pending_head, pending_len;
    int64_t applied_zxid;

    /* Backpressure: the leader's packets are not read (nor those already
     * read stepped) while ZAB's unacked backlog is at its mark; the log
     * thread's PERSISTED brings it down, then reading goes on. */
    bool paused;
    uint64_t pauses;

    size_t out_bytes; /* queued to the socket, not yet written */
    struct buf out;   /* sent since the last flush, not yet handed to libuv */
    struct buf scratch;
};

struct write_req {
    uv_write_t req;
    struct quorum_port *qp;
    size_t len;
    uint8_t data[];
};

static void event(struct quorum_port *qp, enum quorum_port_event ev, int32_t type, int64_t zxid,
                  const char *reason)
{
    if (qp->io.on_event)
        qp->io.on_event(qp->io.ctx, ev, type, zxid, reason);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct quorum_port *qp = h->data;
    if (--qp->handles > 0 || !qp->freed)
        return;
    for (size_t i = 0; i < qp->pending_len; i++)
        mem_free(qp->pending[(qp->pending_head + i) % qp->pending_cap].data);
    mem_free(qp->pending);
    zab_deinit(&qp->zab);
    buf_deinit(&qp->in);
    buf_deinit(&qp->scratch);
    buf_deinit(&qp->out);
    mem_free(qp->voters);
    mem_free(qp->host);
    mem_free(qp);
}

/* The end of this connection: once, with one log line and one STOPPED. */
static void finish(struct quorum_port *qp, const char *reason)
{
    if (qp->over)
        return;
    qp->over = true;
    LOG_W("Learner %" PRId64 ": connection to leader %" PRId64 " over: %s", qp->cfg.my_sid,
          qp->cfg.leader_sid, reason);
    if (qp->tcp_open) {
        qp->tcp_open = false;
        uv_close((uv_handle_t *)&qp->tcp, on_handle_closed);
    }
    uv_timer_stop(&qp->timer);
    event(qp, QUORUM_PORT_STOPPED, 0, -1, reason);
}

static void on_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct quorum_port *qp = w->qp;
    qp->out_bytes -= w->len;
    mem_free(w);
    if (status < 0 && !qp->freed)
        finish(qp, "write to the leader failed");
}

/* Packets of one read, timer or call are gathered and written together
 * (flush): a learner acks a batch of proposals with one write, not one
 * write per ACK. */
static void send_bytes(struct quorum_port *qp, const uint8_t *p, size_t len)
{
    if (qp->over || !qp->tcp_open)
        return;
    if (qp->out_bytes + qp->out.len + len > QUORUM_PORT_OUT_MAX) {
        finish(qp, "the leader is not reading");
        return;
    }
    buf_append(&qp->out, p, len);
}

/* Hands what send_bytes gathered to libuv, in one write. */
static void flush(struct quorum_port *qp)
{
    if (qp->out.len == 0)
        return;
    if (qp->over || !qp->tcp_open) {
        buf_clear(&qp->out);
        return;
    }
    size_t len = qp->out.len;
    struct write_req *w = mem_alloc(sizeof(*w) + len);
    w->qp = qp;
    w->len = len;
    memcpy(w->data, qp->out.data, len);
    buf_clear(&qp->out);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&qp->tcp, &b, 1, on_written);
    if (rc < 0) {
        mem_free(w);
        finish(qp, "write to the leader failed");
        return;
    }
    qp->out_bytes += len;
}

static void send_packet(struct quorum_port *qp, const struct zab_send *s)
{
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
    case ZAB_PAYLOAD_LEARNER_INFO: /* LearnerInfo, and czk's trailer */
        quorum_learner_info_encode(&data, qp->cfg.my_sid, qp->cfg.config_version);
        payload = jute_buf_of(data.data, data.len);
        break;
    case ZAB_PAYLOAD_SESSIONS:
        if (qp->io.ping_sessions)
            qp->io.ping_sessions(qp->io.ctx, &data);
        payload = jute_buf_of(data.data, data.len); /* Learner.ping: never null */
        break;
    case ZAB_PAYLOAD_CONFIG: /* a leader's; never asked of a learner */
    case ZAB_PAYLOAD_ACTIVATE:
        break;
    }
    buf_clear(&qp->scratch);
    quorum_packet_encode(&qp->scratch, s->type, s->zxid, payload, NULL, 0);
    send_bytes(qp, qp->scratch.data, qp->scratch.len);
    buf_deinit(&data);
}

static void pending_push(struct quorum_port *qp, const struct zab_txn *t)
{
    if (qp->pending_len == qp->pending_cap) {
        size_t cap = qp->pending_cap ? 2 * qp->pending_cap : 64;
        struct pending_txn *p = mem_alloc(cap * sizeof(*p));
        for (size_t i = 0; i < qp->pending_len; i++)
            p[i] = qp->pending[(qp->pending_head + i) % qp->pending_cap];
        mem_free(qp->pending);
        qp->pending = p;
        qp->pending_cap = cap;
        qp->pending_head = 0;
    }
    size_t len = t->data.len > 0 ? (size_t)t->data.len : 0;
    struct pending_txn *e = &qp->pending[(qp->pending_head + qp->pending_len) % qp->pending_cap];
    e->zxid = t->zxid;
    e->len = len;
    e->data = mem_alloc(len ? len : 1);
    if (len)
        memcpy(e->data, t->data.ptr, len);
    qp->pending_len++;
}

/* Drop pending txns after `zxid` (TRUNC) or all of them (SNAP: -1). */
static void pending_cut(struct quorum_port *qp, int64_t zxid)
{
    while (qp->pending_len > 0) {
        struct pending_txn *e =
            &qp->pending[(qp->pending_head + qp->pending_len - 1) % qp->pending_cap];
        if (zxid >= 0 && e->zxid <= zxid)
            break;
        mem_free(e->data);
        qp->pending_len--;
    }
}

static void arm_timer(struct quorum_port *qp);

/* The driver contract (zab.h, struct zab_update): persist, then send, then
 * apply. Returns false when the connection ended. */
static bool carry_out(struct quorum_port *qp, const struct zab_update *up, int32_t sync_type,
                      int64_t sync_zxid)
{
    void *ctx = qp->io.ctx;
    if (up->drain_log && qp->io.drain_log(ctx)) {
        finish(qp, "local storage failed (the log before the next epoch)");
        return false;
    }
    if (up->accepted_epoch >= 0 && qp->io.write_epoch(ctx, EPOCH_ACCEPTED, up->accepted_epoch)) {
        finish(qp, "local storage failed (acceptedEpoch)");
        return false;
    }
    if (up->current_epoch >= 0 && qp->io.write_epoch(ctx, EPOCH_CURRENT, up->current_epoch)) {
        finish(qp, "local storage failed (currentEpoch)");
        return false;
    }
    if (up->truncate_after_zxid >= 0) {
        if (qp->io.truncate(ctx, up->truncate_after_zxid)) {
            finish(qp, "local storage failed (truncate)");
            return false;
        }
        /* the cut reloads the tree: the loop's clock may be seconds old */
        uv_update_time(qp->loop);
        pending_cut(qp, up->truncate_after_zxid);
        qp->applied_zxid = up->truncate_after_zxid;
    }
    if (up->snapshot_zxid >= 0) { /* loaded and written before the step: see read_snapshot */
        pending_cut(qp, -1);
        qp->applied_zxid = up->snapshot_zxid;
    }
    for (size_t i = 0; i < up->appends_len; i++) {
        const struct zab_txn *t = &up->appends[i];
        size_t len = t->data.len > 0 ? (size_t)t->data.len : 0;
        if (qp->io.log_append(ctx, t->zxid, t->data.ptr, len)) {
            finish(qp, "local storage failed (log)");
            return false;
        }
        pending_push(qp, t);
    }
    for (size_t i = 0; i < up->sends_len; i++)
        send_packet(qp, &up->sends[i]);
    while (qp->pending_len > 0 && !qp->over) {
        struct pending_txn *e = &qp->pending[qp->pending_head];
        if (e->zxid > up->commit_upto_zxid)
            break;
        if (e->zxid > qp->applied_zxid) {
            if (qp->io.apply(ctx, e->zxid, e->data, e->len)) {
                finish(qp, "the leader sent a txn that does not apply");
                return false;
            }
            qp->applied_zxid = e->zxid;
        }
        mem_free(e->data);
        qp->pending_head = (qp->pending_head + 1) % qp->pending_cap;
        qp->pending_len--;
    }
    if (qp->over)
        return false;
    if (sync_type)
        event(qp, QUORUM_PORT_SYNC, sync_type, sync_zxid, NULL);
    if (up->became_serving)
        event(qp, QUORUM_PORT_SERVING, 0, up->established_epoch, NULL);
    if (up->epoch_rolled)
        event(qp, QUORUM_PORT_EPOCH, 0, up->established_epoch, NULL);
    if (up->stopped) {
        finish(qp, up->reason ? up->reason : "stopped");
        return false;
    }
    qp->deadline_ms = up->deadline_ms;
    arm_timer(qp);
    return true;
}

static bool step(struct quorum_port *qp, const struct zab_event *ev, int32_t sync_type,
                 int64_t sync_zxid)
{
    struct zab_update up;
    if (zab_step(&qp->zab, ev, &up) != 0) {
        finish(qp, "bad event for the ZAB core");
        return false;
    }
    return carry_out(qp, &up, sync_type, sync_zxid);
}

static void dial(struct quorum_port *qp);

static void on_timer(uv_timer_t *t)
{
    struct quorum_port *qp = t->data;
    if (!qp->connected && qp->retry_wait) {
        dial(qp);
        return;
    }
    if (!qp->connected) {
        finish(qp, "connect to the leader timed out");
        return;
    }
    struct zab_event ev = {.type = ZAB_TICK, .now_ms = (int64_t)uv_now(qp->loop)};
    (void)step(qp, &ev, 0, -1);
    flush(qp);
}

static void arm_timer(struct quorum_port *qp)
{
    if (qp->deadline_ms < 0) {
        uv_timer_stop(&qp->timer);
        return;
    }
    int64_t now = (int64_t)uv_now(qp->loop);
    int64_t wait = qp->deadline_ms > now ? qp->deadline_ms - now : 0;
    uv_timer_start(&qp->timer, on_timer, (uint64_t)wait, 0);
}

static bool receive(struct quorum_port *qp, int32_t type, int64_t zxid, struct jute_buf data)
{
    struct zab_event ev = {.type = ZAB_RECEIVE, .now_ms = (int64_t)uv_now(qp->loop)};
    ev.receive.from = qp->cfg.leader_sid;
    ev.receive.type = type;
    ev.receive.zxid = zxid;
    ev.receive.data = data;
    bool sync = type == QUORUM_DIFF || type == QUORUM_TRUNC || type == QUORUM_SNAP;
    if (type == QUORUM_NEWLEADER && qp->io.leader_config && data.len > 0)
        qp->io.leader_config(qp->io.ctx, data.ptr, (size_t)data.len);
    if (!step(qp, &ev, sync ? type : 0, zxid))
        return false;
    if ((type == QUORUM_REVALIDATE || type == QUORUM_SYNC) && qp->io.packet &&
        qp->zab.phase == ZAB_BROADCAST)
        qp->io.packet(qp->io.ctx, type, zxid, data.ptr, data.len > 0 ? (size_t)data.len : 0);
    return !qp->over;
}

/* After a SNAP packet: the body and "BenWasHere" (Learner.syncWithLeader
 * reads them from the packet stream). The body's items go to the caller as
 * soon as the scan has walked them, and leave the buffer. 1: done and
 * stepped; 0: need more; -1: the connection ended. */
static int read_snapshot(struct quorum_port *qp)
{
    const uint8_t *p = qp->in.data + qp->in_off;
    size_t avail = qp->in.len - qp->in_off;
    int rc = quorum_snap_scan(&qp->scan, p, avail, qp->cfg.max_buffer);
    if (rc < 0) {
        finish(qp, rc == PEER_ETOOBIG ? "snapshot from the leader: a length above the limit"
                                      : "snapshot from the leader: malformed");
        return -1;
    }
    size_t walked = quorum_snap_scan_body_walked(&qp->scan);
    if (walked > 0) {
        if (qp->io.snap_body(qp->io.ctx, p, walked) != 0) {
            finish(qp, "snapshot from the leader did not load");
            return -1;
        }
        quorum_snap_scan_drop(&qp->scan, walked);
        qp->in_off += walked;
    }
    if (rc == 0)
        return 0;
    int failed = qp->io.snap_end(qp->io.ctx, qp->snap_zxid);
    /* Writing a large tree's snapshot takes a while on the loop: stamp what
     * follows (the leader's packets read meanwhile) with the time now, or
     * the next tick takes the write for the leader's silence. */
    uv_update_time(qp->loop);
    if (failed) {
        finish(qp, "snapshot from the leader did not load");
        return -1;
    }
    qp->in_off += qp->scan.pos;
    qp->in_snap = false;
    return receive(qp, QUORUM_SNAP, qp->snap_zxid, (struct jute_buf){NULL, -1}) ? 1 : -1;
}

/* Too many txns logged and not yet acked: stop here (zab.h,
 * zab_learner_backlog). Only once serving: a sync's DIFF must be read whole,
 * up to NEWLEADER, before anything is acked. */
static bool backlog_full(const struct quorum_port *qp)
{
    return qp->zab.phase == ZAB_BROADCAST &&
           zab_learner_backlog(&qp->zab) >= zab_learner_backlog_high(&qp->zab);
}

/* Every whole packet received so far, in order, unless the backlog says
 * wait: then reading stops until quorum_port_persisted resumes it. */
static void process_input(struct quorum_port *qp)
{
    while (!qp->over) {
        if (backlog_full(qp)) {
            if (!qp->paused) {
                qp->paused = true;
                if (qp->pauses++ == 0)
                    LOG_I("Learner %" PRId64 ": backpressure: %zu txns logged and not yet acked, "
                          "reading from leader %" PRId64 " paused until the log catches up "
                          "(logged once per connection)",
                          qp->cfg.my_sid, zab_learner_backlog(&qp->zab), qp->cfg.leader_sid);
                uv_read_stop((uv_stream_t *)&qp->tcp);
            }
            break;
        }
        if (qp->in_snap) {
            if (read_snapshot(qp) <= 0)
                break;
            continue;
        }
        const uint8_t *p = qp->in.data + qp->in_off;
        size_t avail = qp->in.len - qp->in_off;
        size_t packet_len;
        int rc = quorum_packet_split(p, avail, qp->cfg.max_buffer, &packet_len);
        if (rc < 0) {
            finish(qp, rc == PEER_ETOOBIG ? "packet from the leader above jute.maxbuffer"
                                          : "malformed packet from the leader");
            return;
        }
        if (packet_len == 0) {
            /* data ≤ max_buffer was checked; only a long authinfo can get here */
            if (avail > 2 * qp->cfg.max_buffer + 64)
                finish(qp, "packet from the leader above jute.maxbuffer");
            break;
        }
        struct jute_reader r;
        jute_reader_init(&r, p, packet_len);
        struct zk_quorum_packet pk;
        if (zk_quorum_packet_decode(&r, &pk) != 0) {
            finish(qp, "malformed packet from the leader");
            return;
        }
        qp->in_off += packet_len;
        if (pk.type == QUORUM_SNAP && qp->zab.phase == ZAB_SYNC && qp->zab.sync_base < 0) {
            /* The tree must hold the body before SNAP is stepped (zab.h). */
            qp->in_snap = true;
            qp->snap_zxid = pk.zxid;
            quorum_snap_scan_init(&qp->scan);
            if (qp->io.snap_begin(qp->io.ctx, pk.zxid) != 0) {
                finish(qp, "local storage failed (snapshot)");
                return;
            }
            continue;
        }
        if (!receive(qp, pk.type, pk.zxid, pk.data))
            return;
    }
    if (qp->over)
        return;
    /* Keep the unconsumed tail only; the views into it are no longer held. */
    if (qp->in_off > 0 && (qp->in_off == qp->in.len || qp->in_off >= QUORUM_PORT_READ_CHUNK)) {
        buf_consume(&qp->in, qp->in_off);
        qp->in_off = 0;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct quorum_port *qp = h->data;
    buf_reserve(&qp->in, QUORUM_PORT_READ_CHUNK);
    *out = uv_buf_init((char *)qp->in.data + qp->in.len, QUORUM_PORT_READ_CHUNK);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct quorum_port *qp = s->data;
    if (n < 0) {
        struct zab_event ev = {.type = ZAB_DISCONNECTED, .now_ms = (int64_t)uv_now(qp->loop)};
        ev.disconnected.sid = qp->cfg.leader_sid;
        if (step(qp, &ev, 0, -1))
            finish(qp, n == UV_EOF ? "the leader closed the connection" : "read failed");
        return;
    }
    qp->in.len += (size_t)n;
    process_input(qp);
    flush(qp);
}

static void on_retry_closed(uv_handle_t *h)
{
    struct quorum_port *qp = h->data;
    if (qp->freed) {
        on_handle_closed(h);
        return;
    }
    qp->handles--;
    uv_tcp_init(qp->loop, &qp->tcp);
    qp->tcp.data = qp;
    qp->tcp_open = true;
    qp->handles++;
    qp->retry_wait = true;
    uv_timer_start(&qp->timer, on_timer, (uint64_t)qp->retry_ms, 0);
    qp->retry_ms =
        qp->retry_ms * 2 < QUORUM_PORT_RETRY_MS ? qp->retry_ms * 2 : QUORUM_PORT_RETRY_MS;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct quorum_port *qp = req->data;
    if (qp->freed || qp->over)
        return;
    if (status < 0) {
        if ((int64_t)uv_now(qp->loop) + qp->retry_ms >= qp->connect_deadline_ms) {
            finish(qp, "connect to the leader failed");
            return;
        }
        /* Learner.connectToLeader: the leader may not listen yet; a new
         * socket, and another try a little later */
        qp->tcp_open = false;
        uv_close((uv_handle_t *)&qp->tcp, on_retry_closed);
        return;
    }
    uv_timer_stop(&qp->timer);
    qp->connected = true;
    uv_tcp_nodelay(&qp->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&qp->tcp, on_alloc, on_read);
    if (rc < 0) {
        finish(qp, "read from the leader failed");
        return;
    }
    event(qp, QUORUM_PORT_CONNECTED, 0, -1, NULL);
    struct zab_event ev = {.type = ZAB_START, .now_ms = (int64_t)uv_now(qp->loop)};
    ev.start.role = qp->cfg.role;
    ev.start.leader_sid = qp->cfg.leader_sid;
    ev.start.last_zxid = qp->cfg.last_zxid;
    ev.start.accepted_epoch = qp->cfg.accepted_epoch;
    ev.start.current_epoch = qp->cfg.current_epoch;
    (void)step(qp, &ev, 0, -1);
    flush(qp);
}

/* One connect attempt; the timer ends the wait at the deadline. */
static void dial(struct quorum_port *qp)
{
    qp->retry_wait = false;
    qp->connect_req.data = qp;
    int rc =
        uv_tcp_connect(&qp->connect_req, &qp->tcp, (const struct sockaddr *)&qp->addr, on_connect);
    if (rc < 0) {
        finish(qp, "connect to the leader failed");
        return;
    }
    int64_t wait = qp->connect_deadline_ms - (int64_t)uv_now(qp->loop);
    uv_timer_start(&qp->timer, on_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss, char *errmsg,
                   size_t errmsg_size)
{
    int gai = net_resolve(host, port, ss);
    if (gai != 0) {
        snprintf(errmsg, errmsg_size, "leader host %s does not resolve: %s", host,
                 gai_strerror(gai));
        return UV_EAI_NONAME;
    }
    return 0;
}

int quorum_port_new(uv_loop_t *loop, const struct quorum_port_config *cfg,
                    const struct quorum_port_io *io, struct quorum_port **out, char *errmsg,
                    size_t errmsg_size)
{
    *out = NULL;
    if ((cfg->role != ZAB_FOLLOWING && cfg->role != ZAB_OBSERVING) || !cfg->leader_host ||
        cfg->leader_port <= 0 || cfg->leader_port > 65535 || !io->write_epoch || !io->truncate ||
        !io->snap_begin || !io->snap_body || !io->snap_end || !io->log_append || !io->apply) {
        snprintf(errmsg, errmsg_size, "bad learner config");
        return UV_EINVAL;
    }
    int rc = UV_EINVAL;
    struct quorum_port *qp = mem_calloc(1, sizeof(*qp));
    qp->loop = loop;
    qp->cfg = *cfg;
    qp->io = *io;
    qp->host = mem_strndup(cfg->leader_host, strlen(cfg->leader_host));
    qp->cfg.leader_host = qp->host;
    qp->voters = mem_alloc((cfg->voters_len ? cfg->voters_len : 1) * sizeof(int64_t));
    if (cfg->voters_len)
        memcpy(qp->voters, cfg->voters, cfg->voters_len * sizeof(int64_t));
    qp->cfg.voters = qp->voters;
    if (!qp->cfg.max_buffer)
        qp->cfg.max_buffer = QUORUM_MAX_BUFFER_DEFAULT;
    if (qp->cfg.connect_timeout_ms <= 0)
        qp->cfg.connect_timeout_ms = cfg->tick_ms * cfg->init_limit;
    buf_init(&qp->in);
    buf_init(&qp->scratch);
    buf_init(&qp->out);
    qp->applied_zxid = cfg->last_zxid;
    qp->deadline_ms = -1;
    struct zab_config zc = {.my_sid = cfg->my_sid,
                            .voters = qp->voters,
                            .voters_len = cfg->voters_len,
                            .tick_ms = cfg->tick_ms,
                            .init_limit = cfg->init_limit,
                            .has_quorum = cfg->has_quorum,
                            .has_quorum_arg = cfg->has_quorum_arg,
                            .sync_limit = cfg->sync_limit};
    if (zab_init(&qp->zab, &zc) != 0) {
        snprintf(errmsg, errmsg_size, "bad ZAB config (voters, tickTime, initLimit, syncLimit)");
        goto err_free;
    }
    rc = resolve(qp->host, cfg->leader_port, &qp->addr, errmsg, errmsg_size);
    if (rc < 0)
        goto err_zab;
    uv_timer_init(loop, &qp->timer);
    qp->timer.data = qp;
    qp->handles++;
    uv_tcp_init(loop, &qp->tcp);
    qp->tcp.data = qp;
    qp->tcp_open = true;
    qp->handles++;
    qp->connect_deadline_ms = (int64_t)uv_now(loop) + qp->cfg.connect_timeout_ms;
    qp->retry_ms = QUORUM_PORT_RETRY_MIN_MS;
    dial(qp);
    *out = qp;
    return 0;

err_zab:
    zab_deinit(&qp->zab);
err_free:
    buf_deinit(&qp->in);
    buf_deinit(&qp->scratch);
    buf_deinit(&qp->out);
    mem_free(qp->voters);
    mem_free(qp->host);
    mem_free(qp);
    return rc;
}

void quorum_port_persisted(struct quorum_port *qp, int64_t zxid)
{
    if (qp->over || !qp->connected)
        return;
    struct zab_event ev = {.type = ZAB_PERSISTED, .now_ms = (int64_t)uv_now(qp->loop)};
    ev.persisted.zxid = zxid;
    (void)step(qp, &ev, 0, -1);
    /* The acks went into `out` above: they leave first, then what waited
     * is stepped and reading goes on (below half the mark: not a pause per
     * txn). */
    if (qp->paused && !qp->over &&
        zab_learner_backlog(&qp->zab) <= zab_learner_backlog_high(&qp->zab) / 2) {
        qp->paused = false;
        flush(qp);
        process_input(qp);
        if (!qp->over && !qp->paused &&
            uv_read_start((uv_stream_t *)&qp->tcp, on_alloc, on_read) < 0)
            finish(qp, "read from the leader failed");
    }
    flush(qp);
}

int quorum_port_send(struct quorum_port *qp, int32_t type, const uint8_t *data, size_t len,
                     const struct zk_id *auth, size_t auth_len)
{
    if (qp->over || !qp->connected || qp->zab.phase != ZAB_BROADCAST)
        return -1;
    buf_clear(&qp->scratch);
    quorum_packet_encode(&qp->scratch, type, -1, jute_buf_of(data, len), auth, (int32_t)auth_len);
    send_bytes(qp, qp->scratch.data, qp->scratch.len);
    return qp->over ? -1 : 0;
}

void quorum_port_flush(struct quorum_port *qp)
{
    flush(qp);
}

void quorum_port_free(struct quorum_port *qp)
{
    if (!qp)
        return;
    qp->freed = true;
    qp->over = true; /* no STOPPED for a connection the caller closes */
    if (qp->tcp_open) {
        qp->tcp_open = false;
        uv_close((uv_handle_t *)&qp->tcp, on_handle_closed);
    }
    if (!uv_is_closing((uv_handle_t *)&qp->timer))
        uv_close((uv_handle_t *)&qp->timer, on_handle_closed);
}

const struct zab *quorum_port_zab(const struct quorum_port *qp)
{
    return &qp->zab;
}

int64_t quorum_port_applied_zxid(const struct quorum_port *qp)
{
    return qp->applied_zxid;
}
