/* SPDX-License-Identifier: Apache-2.0 */
/* The client port: listening, accepting (connection limits per IP),
 * framing, each connection's output queue, backpressure (pause, throttle),
 * idle expiry and the four-letter-word glue. Follows NIOServerCnxn and
 * NIOServerCnxnFactory. Not the words' text (four_letter.c) nor the server. */
#include "base/buf.h"
#include "base/hmap.h"
#include "base/list.h"
#include "base/log.h"
#include "base/mem.h"
#include "node/config.h"
#include "node/four_letter.h"
#include "node/leader_port.h"
#include "node/net.h"
#include "node/node.h"
#include "node/node_int.h"
#include "server/server.h"

#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#define NODE_READ_CHUNK     65536
#define NODE_LISTEN_BACKLOG 1024
#define NODE_PEER_MAX       80
#define NODE_IP_MAX         64
/* A connection buffer larger than this is released once empty. */
#define NODE_BUF_KEEP (256 * 1024)
/* How often repeated accept errors are summarised (RateLogger's 100 ms). */
#define NODE_RATE_LOG_MS 100
/* Txn bytes waiting for the log thread beyond which client input pauses. */
#define NODE_LOG_QUEUE_MAX ((size_t)64 << 20)
/* wchp, wchc, dump: their text is made a step at a time (this many watches
 * or sessions), for at most this long per loop iteration across all such
 * connections, and only while the connection has less than this queued. */
#define NODE_DUMP_STEP      1024
#define NODE_DUMP_SLICE_NS  (1000 * 1000)
#define NODE_DUMP_OUT_BYTES (256 * 1024)

struct node_ip {
    size_t count;
    size_t len;
    char ip[];
};

struct node_conn {
    uv_tcp_t tcp;
    struct node *node;
    uint64_t id;
    struct list link;       /* node.conns, in accept order */
    struct list dirty_link; /* node.dirty while output or a close waits for the check phase */
    bool dirty;
    struct node_ip *ip;
    char peer[NODE_PEER_MAX]; /* "/127.0.0.1:50586" */
    struct buf in;            /* received, not yet framed */
    struct buf out;           /* queued, not yet handed to libuv */
    struct buf inflight;      /* being written */
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    bool writing;
    bool shutting_down;
    bool reading;
    bool output_paused;   /* unsent output reached czk.clientOutputPauseBytes */
    bool handshake_seen;  /* a frame went to the server (ZooKeeper's "initialized") */
    bool close_requested; /* flush, then close */
    /* A role's end: its last replies go out, then a FIN; what the client
     * still sends is read and dropped until it closes (or expiry_ms), so
     * that no unread input makes the close a reset that loses them. */
    bool lingering;
    bool closing;     /* uv_close called */
    bool four_letter; /* answered a four-letter word: reads nothing more */
    int pending_cmd;  /* stmk waiting for its 8-byte mask, else -1 */
    /* wchp, wchc, dump being made as the client reads (node__four_letter_pump) */
    struct server_dump *dump;
    int dump_cmd;
    size_t dump_bytes;     /* written so far, for the packet count */
    struct list dump_link; /* node.dumps */
    int64_t four_letter_received;
    int64_t four_letter_sent;
    int64_t established_wall_ms;
    int64_t expiry_ms;   /* closed if still idle then (NIOServerCnxnFactory's ExpiryQueue) */
    uint64_t server_gen; /* node.server_gen when it opened: its server is n->server while equal */
};

static void conn_flush(struct node_conn *c);
static void conn_process_input(struct node_conn *c);
static void conn_update_reading(struct node_conn *c);
static bool conn_is_backlogged(const struct node_conn *c);
static bool conn_is_paused(const struct node_conn *c);

/* ---- RateLogger: the first of a run of equal messages, then a count ---- */

static void rate_log_flush(struct rate_log *r)
{
    if (r->msg[0] && r->count > 0) {
        if (r->count > 1)
            LOG_W("[%d times] %s", r->count, r->msg);
        else
            LOG_W("%s", r->msg);
    }
    r->msg[0] = '\0';
    r->count = 0;
}

static void rate_log(struct rate_log *r, int64_t now_ms, const char *msg)
{
    if (strcmp(msg, r->msg) == 0) {
        r->count++;
        if (now_ms - r->since_ms >= NODE_RATE_LOG_MS) {
            rate_log_flush(r);
            snprintf(r->msg, sizeof(r->msg), "%s", msg);
            r->since_ms = now_ms;
        }
        return;
    }
    rate_log_flush(r);
    snprintf(r->msg, sizeof(r->msg), "%s", msg);
    r->since_ms = now_ms;
    LOG_W("%s", msg);
}

/* ---- addresses in Java's spelling ---- */

/* InetAddress.getHostAddress; IPv4-mapped IPv6 reads as IPv4 as in Java. */
static int format_address(const struct sockaddr_storage *ss, char *ip, size_t ip_size, int *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, ip_size);
        *port = ntohs(a->sin_port);
        return AF_INET;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        const uint8_t *b = a->sin6_addr.s6_addr;
        *port = ntohs(a->sin6_port);
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) == 0) {
            snprintf(ip, ip_size, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
            return AF_INET;
        }
        size_t used = 0;
        for (int i = 0; i < 8 && used < ip_size; i++) {
            int w = snprintf(ip + used, ip_size - used, "%s%x", i ? ":" : "",
                             (unsigned)(b[2 * i] << 8 | b[2 * i + 1]));
            used += w > 0 ? (size_t)w : 0;
        }
        if (a->sin6_scope_id && used < ip_size)
            snprintf(ip + used, ip_size - used, "%%%u", (unsigned)a->sin6_scope_id);
        return AF_INET6;
    }
    snprintf(ip, ip_size, "?");
    *port = 0;
    return AF_UNSPEC;
}

/* InetSocketAddress.toString (Java 14+ brackets IPv6 literals). */
static void format_peer(const struct sockaddr_storage *ss, char *peer, size_t peer_size, char *ip,
                        size_t ip_size)
{
    int port;
    int family = format_address(ss, ip, ip_size, &port);
    if (family == AF_INET6)
        snprintf(peer, peer_size, "/[%s]:%d", ip, port);
    else
        snprintf(peer, peer_size, "/%s:%d", ip, port);
}

/* ---- connections ---- */

static struct node_conn *conn_get(struct node *n, uint64_t id)
{
    return imap_get(&n->conns_by_id, id);
}

static int64_t conn_session_id(struct node_conn *c)
{
    struct server_conn_info info;
    if (c->node->server && server_get_conn_info(c->node->server, c->id, &info))
        return info.session_id;
    return 0;
}

static void conn_mark_dirty(struct node_conn *c)
{
    if (c->dirty || c->closing)
        return;
    c->dirty = true;
    list_insert_tail(&c->node->dirty, &c->dirty_link);
    node__wake(c->node);
}

/* NIOServerCnxnFactory.touchCnxn: idle connections are closed after their
 * session timeout (nio.sessionlessCnxnTimeout before a session exists),
 * rounded up to the next multiple of that interval. */
static void conn_touch(struct node_conn *c)
{
    struct node *n = c->node;
    int64_t timeout = n->cfg.sessionless_timeout_ms;
    struct server_conn_info info;
    if (c->handshake_seen && server_get_conn_info(n->server, c->id, &info) && info.session_id &&
        info.timeout_ms > 0)
        timeout = info.timeout_ms;
    int64_t interval = n->cfg.sessionless_timeout_ms;
    int64_t at = node__now_ms(n) + timeout;
    c->expiry_ms = (at / interval + 1) * interval;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct node_conn *c = h->data;
    struct node *n = c->node;
    imap_remove(&n->conns_by_id, c->id);
    list_remove(&c->link);
    if (c->server_gen == n->server_gen)
        server_conn_closed(n->server, c->id, node__now_ms(n));
    if (c->dump) {
        list_remove(&c->dump_link);
        server_dump_free(c->dump);
    }
    buf_deinit(&c->in);
    buf_deinit(&c->out);
    buf_deinit(&c->inflight);
    mem_free(c);
}

static void conn_release_ip(struct node_conn *c)
{
    struct node *n = c->node;
    struct node_ip *ip = c->ip;
    if (!ip)
        return;
    c->ip = NULL;
    if (--ip->count == 0) {
        smap_remove(&n->ips, ip->ip, ip->len);
        mem_free(ip);
    }
}

/* Close now; queued output is dropped. Safe anywhere: the server hears of
 * it from the close callback. */
static void conn_close_now(struct node_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    if (c->dirty) {
        c->dirty = false;
        list_remove(&c->dirty_link);
    }
    c->node->conn_count--;
    conn_release_ip(c);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_conn_shutdown(uv_shutdown_t *req, int status)
{
    struct node_conn *c = req->data;
    if (c->lingering && status == 0)
        return; /* the client's close (or expiry) closes it */
    conn_close_now(c);
}

static void on_conn_write(uv_write_t *req, int status)
{
    struct node_conn *c = req->data;
    c->writing = false;
    if (c->inflight.cap > NODE_BUF_KEEP)
        buf_deinit(&c->inflight);
    else
        buf_clear(&c->inflight);
    if (c->closing)
        return;
    if (status < 0) {
        LOG_I("Unable to write to client %s, session = 0x%" PRIx64 ": %s", c->peer,
              (uint64_t)conn_session_id(c), uv_strerror(status));
        c->node->counters.connection_drop_count++;
        conn_close_now(c);
        return;
    }
    conn_touch(c);
    conn_flush(c);
    if (c->output_paused && !conn_is_backlogged(c)) {
        /* the client read enough: first the frames already received, then
         * the socket again */
        c->output_paused = false;
        server_conn_writable(c->node->server, c->id, node__now_ms(c->node));
        conn_process_input(c);
        conn_update_reading(c);
    }
}

/* Hand queued output to libuv; once all is written, close if asked to. */
static void conn_flush(struct node_conn *c)
{
    if (c->closing || c->shutting_down)
        return;
    if (!c->writing && c->out.len > 0) {
        struct buf t = c->inflight;
        c->inflight = c->out;
        c->out = t;
        uv_buf_t b = uv_buf_init((char *)c->inflight.data, (unsigned)c->inflight.len);
        c->write_req.data = c;
        int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_conn_write);
        if (rc < 0) {
            LOG_I("Unable to write to client %s: %s", c->peer, uv_strerror(rc));
            conn_close_now(c);
            return;
        }
        c->writing = true;
    }
    if (c->close_requested && !c->writing && c->out.len == 0) {
        c->shutting_down = true;
        c->shutdown_req.data = c;
        if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_conn_shutdown) < 0)
            conn_close_now(c);
    }
}

static bool conn_wants_input(const struct node_conn *c)
{
    if (c->lingering)
        return !c->closing && !c->node->stopping;
    return !c->closing && !c->close_requested && (!c->four_letter || c->pending_cmd >= 0) &&
           !conn_is_paused(c) && !c->node->stopping;
}

static void on_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct node_conn *c = h->data;
    buf_reserve(&c->in, NODE_READ_CHUNK);
    *b = uv_buf_init((char *)c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

static void on_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct node_conn *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_EOF)
            LOG_I("Unable to read additional data from client, it probably closed the socket: "
                  "address = %s, session = 0x%" PRIx64,
                  c->peer, (uint64_t)conn_session_id(c));
        else
            LOG_I("Read error from client %s, session = 0x%" PRIx64 ": %s", c->peer,
                  (uint64_t)conn_session_id(c), uv_strerror((int)nread));
        c->node->counters.connection_drop_count++;
        conn_close_now(c);
        return;
    }
    if (c->lingering)
        return; /* dropped */
    c->in.len += (size_t)nread;
    conn_touch(c);
    conn_process_input(c);
    conn_update_reading(c);
}

static void conn_update_reading(struct node_conn *c)
{
    if (c->closing)
        return;
    bool want = conn_wants_input(c);
    if (want && !c->reading) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, on_conn_alloc, on_conn_read);
        if (rc < 0) {
            LOG_W("Cannot read from %s: %s", c->peer, uv_strerror(rc));
            conn_close_now(c);
            return;
        }
        c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* ---- the server's io ---- */

void node__io_send(void *ctx, uint64_t conn_id, const uint8_t *frame, size_t len)
{
    struct node *n = ctx;
    struct node_conn *c = conn_get(n, conn_id);
    if (!c || c->closing)
        return;
    if (len >= 4) {
        struct four_letter_counters *k = &n->counters;
        int64_t size = (int64_t)len - 4;
        k->response_size_last = size;
        if (k->response_size_min < 0 || size < k->response_size_min)
            k->response_size_min = size;
        if (size > k->response_size_max)
            k->response_size_max = size;
    }
    if (c->out.len + c->inflight.len + len > n->cfg.output_limit_bytes) {
        LOG_W("Closing connection from %s, session = 0x%" PRIx64
              ": more than %zu bytes of replies and events are waiting for the client to read "
              "them (czk.clientOutputMaxBytes)",
              c->peer, (uint64_t)conn_session_id(c), n->cfg.output_limit_bytes);
        conn_close_now(c);
        return;
    }
    buf_append(&c->out, frame, len);
    conn_mark_dirty(c);
    if (!c->output_paused && conn_is_backlogged(c)) {
        c->output_paused = true;
        conn_update_reading(c);
    }
}

void node__io_close(void *ctx, uint64_t conn_id)
{
    struct node *n = ctx;
    struct node_conn *c = conn_get(n, conn_id);
    if (!c || c->closing)
        return;
    c->close_requested = true;
    conn_update_reading(c);
    conn_mark_dirty(c);
}

/* ---- backpressure ----
 * Two reasons to stop reading a connection, and to stop handing its
 * buffered frames to the server (which is what builds replies):
 * - its own unsent output reached czk.clientOutputPauseBytes: its client is
 *   not reading. It resumes when a write completes below the bound.
 * - the server as a whole is over globalOutstandingLimit (or the log thread
 *   has more than NODE_LOG_QUEUE_MAX waiting) and this connection has
 *   requests outstanding (ZooKeeperServer.shouldThrottle): connections with
 *   nothing outstanding are still read, so a client that waits for its
 *   answers is never queued behind those that flood. These resume together
 *   once the server is back under the limit. */

static bool conn_is_backlogged(const struct node_conn *c)
{
    return c->out.len + c->inflight.len >= c->node->cfg.output_pause_bytes;
}

bool node__io_conn_backlogged(void *ctx, uint64_t conn_id)
{
    struct node_conn *c = conn_get(ctx, conn_id);
    return c && conn_is_backlogged(c);
}

static bool conn_is_throttled(const struct node_conn *c)
{
    struct node *n = c->node;
    return n->throttled && server_conn_outstanding(n->server, c->id) > 0;
}

static bool conn_is_paused(const struct node_conn *c)
{
    return conn_is_backlogged(c) || conn_is_throttled(c);
}

bool node__over_limit(struct node *n)
{
    return server_outstanding(n->server) > n->cfg.global_outstanding_limit ||
           node__log_queued(n) > NODE_LOG_QUEUE_MAX;
}

static void node_throttle(struct node *n)
{
    if (n->throttled)
        return;
    n->throttled = true;
    LOG_D("Throttling reads: %" PRId64 " requests outstanding (globalOutstandingLimit %" PRId32 ")",
          server_outstanding(n->server), n->cfg.global_outstanding_limit);
    struct list *it;
    LIST_FOREACH(it, &n->conns)
    {
        conn_update_reading(LIST_ENTRY(it, struct node_conn, link));
    }
}

/* Resume: first the frames already buffered, in connection order, then reading. */
void node__unthrottle(struct node *n)
{
    n->throttled = false;
    LOG_D("Resuming reads: %" PRId64 " requests outstanding", server_outstanding(n->server));
    struct list *it;
    LIST_FOREACH(it, &n->conns)
    {
        /* no stop when one re-throttles the server: a connection with
         * nothing outstanding is still served (conn_is_throttled), and its
         * buffered frames would otherwise wait for more bytes to arrive */
        struct node_conn *c = LIST_ENTRY(it, struct node_conn, link);
        if (c->in.len >= 4 && conn_wants_input(c))
            conn_process_input(c);
    }
    LIST_FOREACH(it, &n->conns)
    {
        conn_update_reading(LIST_ENTRY(it, struct node_conn, link));
    }
}

/* ---- four-letter words ---- */

/* The rest of the reply (all of it unless a dump came first); then close. */
static void four_letter_reply(struct node_conn *c, const struct buf *out)
{
    struct node *n = c->node;
    int64_t packets = four_letter_packets(c->dump_bytes + out->len);
    buf_append(&c->out, out->data, out->len);
    c->four_letter_sent += packets;
    n->counters.packets_sent += packets;
    c->close_requested = true;
    conn_update_reading(c);
    conn_mark_dirty(c);
}

static struct four_letter_conn *four_letter_conns(struct node *n, size_t *count)
{
    struct four_letter_conn *all = mem_calloc(n->conn_count ? n->conn_count : 1, sizeof(*all));
    int64_t now = node__now_ms(n);
    int64_t wall = node__wall_now_ms();
    size_t i = 0;
    struct list *it;
    LIST_FOREACH(it, &n->conns)
    {
        struct node_conn *c = LIST_ENTRY(it, struct node_conn, link);
        if (c->closing || i == n->conn_count)
            continue;
        struct four_letter_conn *f = &all[i++];
        snprintf(f->peer, sizeof(f->peer), "%s", c->peer);
        if (!c->four_letter)
            f->interest_ops = (c->reading ? 1 : 0) | (c->writing || c->out.len ? 4 : 0);
        if (!server_get_conn_info(n->server, c->id, &f->info)) {
            memset(&f->info, 0, sizeof(f->info));
            f->info.latency_min_ms = -1;
        }
        f->info.packets_received += c->four_letter_received;
        f->info.packets_sent += c->four_letter_sent;
        f->info.established_ms = c->established_wall_ms;
        f->expiry_wall_ms = wall + (c->expiry_ms - now);
    }
    *count = i;
    return all;
}

/* Run `cmd` and queue its text (after a dump's, for wchp, wchc and dump). */
/* A member's part of conf and mntr (QuorumZooKeeperServer.dumpConf,
 * LeaderZooKeeperServer's gauges). */
static void four_letter_quorum_of(struct node *n, struct four_letter_quorum *q)
{
    const struct node_ens *e = n->ens;
    memset(q, 0, sizeof(*q));
    q->sid = e->sid;
    q->init_limit = n->cfg.init_limit;
    q->sync_limit = n->cfg.sync_limit;
    q->peer_type = n->cfg.peer_type;
    for (size_t i = 0; i < e->members.count; i++) {
        const struct member *m = &e->members.members[i];
        if (m->sid == e->sid) {
            q->election_port = m->election.port;
            q->quorum_port = m->quorum.port;
            q->peer_type = (int)m->role;
        }
    }
    q->membership = &e->members;
    q->voters = e->voters_len;
    /* an observer's learner master (Observer.getLearnerMasterId) */
    q->leader_sid = e->master_sid >= 0 ? e->master_sid : e->leader_sid;
    if (e->om) {
        struct leader_port_stats ls;
        leader_port_stats(e->om, &ls);
        q->observer_master = true;
        q->synced_observers = (int64_t)ls.synced_observers;
    }
    if (e->leader) {
        struct leader_port_stats ls;
        leader_port_stats(e->leader, &ls);
        q->learners = (int64_t)ls.learners;
        q->synced_followers = (int64_t)ls.synced_followers;
        q->synced_observers = (int64_t)ls.synced_observers;
        q->pending_syncs = (int64_t)ls.pending_syncs;
        q->leader_uptime_ms = e->serving ? node__now_ms(n) - e->serving_since_ms : 0;
    }
}

static void four_letter_finish(struct node_conn *c, int cmd)
{
    struct node *n = c->node;
    struct four_letter_input in = {
        .cfg = &n->cfg,
        .server = n->server,
        .counters = &n->counters,
        .client_port = n->port,
        .snap_dir = n->snap_dir,
        .log_dir = n->log_dir,
        .host_name = n->host_name,
        .uptime_ms = node__now_ms(n) - n->start_ms,
        .trace_mask = n->trace_mask,
        .mode = n->ens ? node__ens_mode(n) : NULL,
        .not_serving = !node__serving(n),
        .proposal_sizes = {-1, -1, -1},
    };
    struct four_letter_quorum quorum;
    if (n->ens) {
        four_letter_quorum_of(n, &quorum);
        in.quorum = &quorum;
    }
    if (n->ens && n->ens->leader) {
        in.proposal_sizes[0] = n->ens->last_proposal_size;
        in.proposal_sizes[1] = n->ens->min_proposal_size;
        in.proposal_sizes[2] = n->ens->max_proposal_size;
    }
    struct four_letter_conn *conns = NULL;
    if (cmd == FOUR_LETTER_CONS || cmd == FOUR_LETTER_STAT || cmd == FOUR_LETTER_DUMP)
        conns = four_letter_conns(n, &in.conn_count);
    else
        in.conn_count = n->conn_count;
    in.conns = conns;
    struct buf out;
    buf_init(&out);
    four_letter_run(cmd, &in, &out);
    mem_free(conns);
    if (cmd == FOUR_LETTER_SRST) {
        /* ServerStats.reset: counters, latency, response sizes, ServerMetrics. */
        server_reset_stats(n->server);
        four_letter_counters_reset(&n->counters);
    } else if (cmd == FOUR_LETTER_CRST) {
        server_reset_conn_stats(n->server);
        struct list *it;
        LIST_FOREACH(it, &n->conns)
        {
            struct node_conn *o = LIST_ENTRY(it, struct node_conn, link);
            o->four_letter_received = 0;
            o->four_letter_sent = 0;
        }
    }
    if (cmd == FOUR_LETTER_TELNET_CLOSE) {
        /* ZooKeeper runs no command for it and reads the bytes as a length. */
        LOG_W("Close of session 0x0: Len error. A message from %s with advertised length of %d"
              " is either a malformed message or too large to process"
              " (length is greater than jute.maxbuffer=%" PRId32 ")",
              c->peer, (int)(int32_t)0xfff4fffdu, n->cfg.max_buffer);
        buf_deinit(&out);
        conn_close_now(c);
        return;
    }
    four_letter_reply(c, &out);
    buf_deinit(&out);
}

/* wchp, wchc and dump list the whole state: their text is made a step at a
 * time from the check phase (node__four_letter_pump), as the client reads it, so
 * that neither the loop nor the connection's buffer holds it all. */
static void four_letter_execute(struct node_conn *c, int cmd)
{
    struct node *n = c->node;
    int kind = four_letter_dump_kind(cmd);
    if (kind < 0 || (!node__serving(n) && four_letter_needs_server(cmd))) {
        four_letter_finish(c, cmd);
        return;
    }
    c->dump = server_dump_new(n->server, (enum server_dump_kind)kind, node__now_ms(n),
                              node__wall_now_ms(), four_letter_java_date);
    c->dump_cmd = cmd;
    list_insert_tail(&n->dumps, &c->dump_link);
    node__wake(n);
}

static bool four_letter_pumpable(const struct node_conn *c)
{
    return !c->closing && c->out.len + c->inflight.len < NODE_DUMP_OUT_BYTES;
}

/* One slice of every dump in progress whose client has drained enough, for
 * NODE_DUMP_SLICE_NS at most in all; those served go to the back of the
 * line. True while some dump could go on at once. */
bool node__four_letter_pump(struct node *n)
{
    uint64_t start = uv_hrtime();
    size_t left = 0;
    for (struct list *it = n->dumps.next; it != &n->dumps; it = it->next)
        left++;
    bool pending = false;
    while (left-- > 0) {
        struct node_conn *c = LIST_ENTRY(n->dumps.next, struct node_conn, dump_link);
        list_remove(&c->dump_link);
        list_insert_tail(&n->dumps, &c->dump_link);
        if (!four_letter_pumpable(c))
            continue;
        if (uv_hrtime() - start >= NODE_DUMP_SLICE_NS) {
            pending = true;
            continue;
        }
        bool more = true;
        while (more && four_letter_pumpable(c) && uv_hrtime() - start < NODE_DUMP_SLICE_NS) {
            size_t before = c->out.len;
            more = server_dump_step(n->server, c->dump, NODE_DUMP_STEP, &c->out);
            c->dump_bytes += c->out.len - before;
        }
        if (more) {
            pending = pending || four_letter_pumpable(c);
            conn_mark_dirty(c);
            continue;
        }
        list_remove(&c->dump_link);
        server_dump_free(c->dump);
        c->dump = NULL;
        four_letter_finish(c, c->dump_cmd);
    }
    return pending;
}

/* NIOServerCnxn.checkFourLetterWord: count the packet, stop reading, refuse
 * a word that is not whitelisted, else run it (stmk first reads its mask). */
static void four_letter_begin(struct node_conn *c, int cmd)
{
    struct node *n = c->node;
    c->four_letter = true;
    c->four_letter_received++;
    n->counters.packets_received++;
    n->counters.bytes_received += 4;
    if (!config_four_letter_enabled(&n->cfg, cmd)) {
        LOG_D("Command %s is not executed because it is not in the whitelist.",
              four_letter_name(cmd));
        struct buf out;
        buf_init(&out);
        four_letter_refuse(cmd, &out);
        four_letter_reply(c, &out);
        buf_deinit(&out);
        return;
    }
    LOG_I("Processing %s command from %s", four_letter_name(cmd), c->peer);
    if (cmd == FOUR_LETTER_STMK) {
        c->pending_cmd = cmd;
        return;
    }
    four_letter_execute(c, cmd);
}

/* ---- framing ---- */

/* Frames out of the input buffer, one body at a time to the server, until
 * the buffer runs dry, the connection is closing, or it is paused (see
 * "backpressure"; the rest waits in the buffer). */
static void conn_process_input(struct node_conn *c)
{
    struct node *n = c->node;
    size_t pos = 0;
    while (!c->closing && !c->close_requested && !conn_is_paused(c) && !n->stopping) {
        size_t avail = c->in.len - pos;
        if (avail == 0)
            break;
        const uint8_t *p = c->in.data + pos;
        if (c->pending_cmd >= 0) {
            if (avail < 8)
                break;
            n->trace_mask = (int64_t)be64_get(p);
            pos += 8;
            int cmd = c->pending_cmd;
            c->pending_cmd = -1;
            four_letter_execute(c, cmd);
            break;
        }
        if (c->four_letter || avail < 4)
            break;
        if (!c->handshake_seen) {
            int cmd = four_letter_lookup(p);
            if (cmd >= 0) {
                pos += 4;
                four_letter_begin(c, cmd);
                continue;
            }
        }
        int32_t len = (int32_t)be32_get(p);
        if (len < 0 || len > n->cfg.max_buffer) {
            LOG_W("Close of session 0x%" PRIx64 ": Len error. A message from %s with advertised "
                  "length of %" PRId32 " is either a malformed message or too large to process "
                  "(length is greater than jute.maxbuffer=%" PRId32 ")",
                  (uint64_t)conn_session_id(c), c->peer, len, n->cfg.max_buffer);
            conn_close_now(c);
            return;
        }
        if (avail - 4 < (size_t)len) {
            buf_reserve(&c->in, (size_t)len + 4 - avail);
            break;
        }
        if (!c->handshake_seen && !node__serving(n)) {
            /* NIOServerCnxn.readConnectRequest: "ZooKeeperServer not running" */
            LOG_I("Refusing the session of %s: this member is not serving (%s)", c->peer,
                  node__ens_mode(n));
            conn_close_now(c);
            return;
        }
        if (!c->handshake_seen) {
            c->handshake_seen = true;
            n->counters.connection_request_count++;
            if (c->server_gen != n->server_gen) {
                /* opened before a role's end replaced the server */
                server_conn_open(n->server, c->id, c->ip ? c->ip->ip : "", node__now_ms(n));
                c->server_gen = n->server_gen;
            }
        }
        n->counters.bytes_received += 4 + len;
        pos += 4 + (size_t)len;
        server_conn_receive(n->server, c->id, p + 4, (size_t)len, node__now_ms(n));
        if (node__over_limit(n))
            node_throttle(n);
    }
    if (c->closing)
        return;
    buf_consume(&c->in, pos);
    if (c->in.len == 0 && c->in.cap > NODE_BUF_KEEP)
        buf_deinit(&c->in);
}

/* ---- accepting ---- */

static void on_rejected_closed(uv_handle_t *h)
{
    mem_free(h->data);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct node *n = listener->data;
    if (status < 0) {
        char reason[200];
        snprintf(reason, sizeof(reason), "Error accepting new connection: %s", uv_strerror(status));
        rate_log(&n->accept_log, node__now_ms(n), reason);
        return;
    }
    struct node_conn *c = mem_calloc(1, sizeof(*c));
    c->node = n;
    c->pending_cmd = -1;
    list_init(&c->link);
    list_init(&c->dirty_link);
    list_init(&c->dump_link);
    uv_tcp_init(&n->loop, &c->tcp);
    c->tcp.data = c;
    int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        LOG_W("Error accepting new connection: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&c->tcp, on_rejected_closed);
        return;
    }
    struct sockaddr_storage ss;
    int ss_len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    char ip[NODE_IP_MAX];
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &ss_len) < 0) {
        snprintf(c->peer, sizeof(c->peer), "/?:0");
        snprintf(ip, sizeof(ip), "?");
    } else {
        format_peer(&ss, c->peer, sizeof(c->peer), ip, sizeof(ip));
    }
    size_t ip_len = strlen(ip);
    struct node_ip *entry = smap_get(&n->ips, ip, ip_len);
    char reason[200] = "";
    if (n->cfg.max_cnxns > 0 && n->conn_count >= (size_t)n->cfg.max_cnxns)
        snprintf(reason, sizeof(reason),
                 "Error accepting new connection: Too many connections max allowed is %" PRId32,
                 n->cfg.max_cnxns);
    else if (n->cfg.max_client_cnxns > 0 && entry &&
             entry->count >= (size_t)n->cfg.max_client_cnxns)
        snprintf(reason, sizeof(reason),
                 "Error accepting new connection: Too many connections from /%s - max is %" PRId32,
                 ip, n->cfg.max_client_cnxns);
    if (reason[0]) {
        n->counters.connection_rejected++;
        rate_log(&n->accept_log, node__now_ms(n), reason);
        uv_close((uv_handle_t *)&c->tcp, on_rejected_closed);
        return;
    }
    rate_log_flush(&n->accept_log);
    if (!entry) {
        entry = mem_calloc(1, sizeof(*entry) + ip_len + 1);
        entry->len = ip_len;
        memcpy(entry->ip, ip, ip_len + 1);
        smap_put(&n->ips, entry->ip, entry->len, entry);
    }
    entry->count++;
    c->ip = entry;
    uv_tcp_nodelay(&c->tcp, 1);
    c->id = ++n->next_conn_id;
    c->established_wall_ms = node__wall_now_ms();
    imap_put(&n->conns_by_id, c->id, c);
    list_insert_tail(&n->conns, &c->link);
    n->conn_count++;
    LOG_D("Accepted socket connection from %s", c->peer);
    c->server_gen = n->server_gen;
    server_conn_open(n->server, c->id, ip, node__now_ms(n));
    conn_touch(c);
    conn_update_reading(c);
}

void node__on_expiry(uv_timer_t *t)
{
    struct node *n = t->data;
    int64_t now = node__now_ms(n);
    struct list *it = n->conns.next;
    while (it != &n->conns) {
        struct node_conn *c = LIST_ENTRY(it, struct node_conn, link);
        it = it->next;
        if (c->closing || c->expiry_ms > now)
            continue;
        n->counters.sessionless_connections_expired++;
        LOG_I("Closing connection from %s, session = 0x%" PRIx64 ": idle for too long", c->peer,
              (uint64_t)conn_session_id(c));
        conn_close_now(c);
    }
}

void node__flush_dirty(struct node *n)
{
    while (!list_is_empty(&n->dirty)) {
        struct node_conn *c = LIST_ENTRY(n->dirty.next, struct node_conn, dirty_link);
        list_remove(&c->dirty_link);
        c->dirty = false;
        conn_flush(c);
    }
}

/* Close every connection now (the loop is stopping); queued output is
 * dropped. */
void node__close_conns(struct node *n)
{
    struct list *it = n->conns.next;
    while (it != &n->conns) {
        struct node_conn *c = LIST_ENTRY(it, struct node_conn, link);
        it = it->next;
        conn_close_now(c);
    }
}

void node__close_client_conns(struct node *n)
{
    struct list *it = n->conns.next;
    while (it != &n->conns) {
        struct node_conn *c = LIST_ENTRY(it, struct node_conn, link);
        it = it->next;
        /* a four-letter word or a connection that has sent nothing yet is
         * not a session: it stays, so `ruok` answers through a role's end */
        if (c->closing || c->lingering || (!c->handshake_seen && !c->dump))
            continue;
        if (c->server_gen == n->server_gen) {
            /* the server hears of it now, not from the close callback: it
             * may be kept for the next role, and take no connection along */
            server_conn_closed(n->server, c->id, node__now_ms(n));
            c->server_gen = UINT64_MAX;
        }
        /* the role's last replies first (a reconfig's answer, whose
         * activation ended the role), then the close */
        c->lingering = true;
        c->close_requested = true;
        c->in.len = 0;
        c->expiry_ms = node__now_ms(n) + NODE_ROLE_END_LINGER_MS;
        conn_update_reading(c);
        conn_flush(c);
    }
}

/* ---- listening ---- */

static int node_resolve(const char *host, int port, struct sockaddr_storage *ss, char *errmsg,
                        size_t errlen)
{
    int gai = net_resolve(host, port, ss);
    if (gai != 0)
        return node__fail(errmsg, errlen, NODE_ERR_RESOLVE, "clientPortAddress %s: %s", host,
                          gai_strerror(gai));
    return 0;
}

int node__client_bind(struct node *n, char *errmsg, size_t errlen)
{
    const struct node_config *cfg = &n->cfg;
    struct sockaddr_storage ss;
    int rc;
    char shown[CONFIG_ADDRESS_MAX + 16];
    uv_tcp_init(&n->loop, &n->listener);
    n->listener.data = n;
    if (cfg->client_port_address[0]) {
        rc = node_resolve(cfg->client_port_address, cfg->client_port, &ss, errmsg, errlen);
        if (rc < 0)
            return rc;
        char ip[NODE_IP_MAX];
        format_peer(&ss, shown, sizeof(shown), ip, sizeof(ip));
        rc = uv_tcp_bind(&n->listener, (const struct sockaddr *)&ss, 0);
    } else {
        /* Every address: IPv6 and IPv4 on one socket when IPv6 exists, as the JVM does. */
        snprintf(shown, sizeof(shown), "0.0.0.0/0.0.0.0:%" PRId32, cfg->client_port);
        uv_ip6_addr("::", cfg->client_port, (struct sockaddr_in6 *)&ss);
        rc = uv_tcp_bind(&n->listener, (const struct sockaddr *)&ss, 0);
        if (rc == UV_EAFNOSUPPORT || rc == UV_EADDRNOTAVAIL) {
            uv_ip4_addr("0.0.0.0", cfg->client_port, (struct sockaddr_in *)&ss);
            rc = uv_tcp_bind(&n->listener, (const struct sockaddr *)&ss, 0);
        }
    }
    snprintf(n->bind_text, sizeof(n->bind_text), "%s", shown);
    LOG_I("binding to port %s", n->bind_text);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&n->listener, NODE_LISTEN_BACKLOG, on_connection);
    if (rc < 0)
        return node__fail(errmsg, errlen, NODE_ERR_BIND, "cannot bind to %s: %s",
                          n->bind_text + (n->bind_text[0] == '/'), uv_strerror(rc));
    struct sockaddr_storage bound;
    int bound_len = sizeof(bound);
    n->port = cfg->client_port;
    if (uv_tcp_getsockname(&n->listener, (struct sockaddr *)&bound, &bound_len) == 0) {
        char ip[NODE_IP_MAX];
        int port;
        format_address(&bound, ip, sizeof(ip), &port);
        n->port = port;
    }
    return 0;
}
