/* SPDX-License-Identifier: Apache-2.0 */
/* The election port's connections, as QuorumCnxManager keeps them: listening,
 * dialling every member, the one-connection-per-pair rule, the header, the
 * message stream and one queued message per peer. Not the election (the
 * layer above gets message bodies through on_message). */
#include "node/peer_port.h"

#include "base/buf.h"
#include "base/hmap.h"
#include "base/list.h"
#include "base/log.h"
#include "base/mem.h"
#include "node/net.h"
#include "proto/election.h"

#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PP_NAME_MAX 80
/* Membership refusals remembered so that each is logged once (FIFO). */
#define PP_REFUSALS_MAX 32
#define PP_READ_CHUNK   65536
/* The most bytes a header can take: long, long, int, the address limit. */
#define PP_HEADER_MAX (8 + 8 + 4 + ELECTION_ADDRESS_MAX)

enum conn_state {
    CONN_DIALING, /* ours, connect in progress */
    CONN_POKING,  /* ours to a higher sid: the header goes out, then we close */
    CONN_HEADER,  /* theirs, header not read yet */
    CONN_KEPT,    /* the pair's one connection */
};

struct pp_peer;

struct pp_conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* the connect or header deadline */
    uv_connect_t connect_req;
    uv_write_t write_req;
    struct peer_port *pp;
    struct pp_peer *peer; /* NULL for an incoming connection until its header */
    struct list link;     /* peer_port.conns */
    enum conn_state state;
    bool incoming;
    /* The election address the peer's header names (NULL: ours, dialled to
     * the configured address), and whether that is the peer's server.N
     * line here (claim_matches). */
    char *claimed;
    bool verified;
    int64_t kept_ms; /* when it became the pair's connection */
    bool writing;
    bool closing;
    int handles_open;
    struct buf in;       /* received, not yet parsed; bounded by the state's layout */
    struct buf out;      /* our header, before any message */
    struct buf inflight; /* being written */
    char name[PP_NAME_MAX];
};

struct pp_peer {
    struct peer_port *pp;
    int64_t sid;
    char *host;
    int port;
    struct sockaddr_storage addr;
    uv_timer_t retry_timer;
    int64_t backoff_ms;
    bool down_logged;  /* a failed dial was logged; quiet until one succeeds */
    int64_t probed_ms; /* the last resend that a claim conflict caused */
    struct pp_conn *kept;
    struct pp_conn *dialing; /* DIALING or POKING */
    /* The send queue (capacity 1) and SendWorker's lastMessageSent, framed. */
    struct buf pending;
    bool has_pending;
    struct buf last_sent;
    bool has_last_sent;
    struct peer_port_peer_stats stats;
};

struct peer_port {
    uv_loop_t *loop;
    struct peer_port_config cfg;
    struct pp_peer *peers;
    size_t peer_count;
    struct pp_peer *self;
    uv_tcp_t listener;
    bool listener_open;    /* initialised, not closed: bound or being bound */
    bool listener_closing; /* a failed attempt's handle; reused once closed */
    bool listening;
    uv_timer_t bind_timer; /* the next bind attempt, or giving up */
    int32_t bind_failures;
    char bind_error[160]; /* the last failed attempt's */
    uv_timer_t loopback_timer;
    struct list conns;
    struct buf header; /* ours, encoded once */
    int handles_open;  /* listener, bind and loopback timers, retry timers */
    bool freeing;
    int64_t rejected;
    uint64_t refusals[PP_REFUSALS_MAX]; /* hashes of reasons already logged */
    size_t refusal_count;
};

static void conn_close(struct pp_conn *c, enum log_level level, const char *reason);
static void conn_pump(struct pp_conn *c);
static void peer_dial(struct pp_peer *p);

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

/* ---- lifetime ---- */

static void pp_maybe_release(struct peer_port *pp)
{
    if (!pp->freeing || pp->handles_open > 0 || !list_is_empty(&pp->conns))
        return;
    for (size_t i = 0; i < pp->peer_count; i++) {
        buf_deinit(&pp->peers[i].pending);
        buf_deinit(&pp->peers[i].last_sent);
        mem_free(pp->peers[i].host);
    }
    mem_free(pp->peers);
    buf_deinit(&pp->header);
    mem_free(pp);
}

static void on_pp_handle_closed(uv_handle_t *h)
{
    struct peer_port *pp = h->data;
    pp->handles_open--;
    pp_maybe_release(pp);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct peer_port *pp = h->data;
    pp->listener_closing = false;
    pp->handles_open--;
    pp_maybe_release(pp);
}

static void on_retry_timer_closed(uv_handle_t *h)
{
    struct pp_peer *p = h->data;
    p->pp->handles_open--;
    pp_maybe_release(p->pp);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct pp_conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    struct peer_port *pp = c->pp;
    list_remove(&c->link);
    buf_deinit(&c->in);
    buf_deinit(&c->out);
    buf_deinit(&c->inflight);
    mem_free(c->claimed);
    mem_free(c);
    pp_maybe_release(pp);
}

static struct pp_peer *peer_find(struct peer_port *pp, int64_t sid)
{
    for (size_t i = 0; i < pp->peer_count; i++)
        if (pp->peers[i].sid == sid)
            return &pp->peers[i];
    return NULL;
}

static struct pp_conn *conn_new(struct peer_port *pp, bool incoming)
{
    struct pp_conn *c = mem_calloc(1, sizeof(*c));
    c->pp = pp;
    c->incoming = incoming;
    buf_init(&c->in);
    buf_init(&c->out);
    buf_init(&c->inflight);
    uv_tcp_init(pp->loop, &c->tcp);
    uv_timer_init(pp->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    list_insert_tail(&pp->conns, &c->link);
    return c;
}

/* ---- reconnecting ---- */

static void on_retry_timer(uv_timer_t *t)
{
    peer_dial(t->data);
}

/* Dials again after the back-off, unless the pair already has a connection
 * or a dial under way. A lower sid is dialled to be kept; a higher one is
 * poked (header, close) so that it dials us, as Apache's connectOne does. */
static void peer_schedule(struct pp_peer *p)
{
    if (p->pp->freeing || p == p->pp->self || p->kept || p->dialing)
        return;
    if (!uv_is_active((uv_handle_t *)&p->retry_timer))
        uv_timer_start(&p->retry_timer, on_retry_timer, (uint64_t)p->backoff_ms, 0);
}

static void peer_back_off(struct pp_peer *p)
{
    p->backoff_ms *= 2;
    if (p->backoff_ms > p->pp->cfg.reconnect_max_ms)
        p->backoff_ms = p->pp->cfg.reconnect_max_ms;
}

/* ---- closing ---- */

static void conn_close(struct pp_conn *c, enum log_level level, const char *reason)
{
    if (c->closing)
        return;
    c->closing = true;
    struct pp_peer *p = c->peer;
    if (reason && p)
        log_msg(level, "Election connection %s sid %" PRId64 " (%s): %s",
                c->incoming ? "from" : "to", p->sid, c->name, reason);
    else if (reason)
        log_msg(level, "Election connection %s %s: %s", c->incoming ? "from" : "to", c->name,
                reason);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    if (!p)
        return;
    if (p->kept == c) {
        p->kept = NULL;
        /* A connection closed at once (a server that refuses ours: another
         * ensemble's, or a duplicate sid) is no success: the back-off goes on. */
        if ((int64_t)uv_now(p->pp->loop) - c->kept_ms >= 1000)
            p->backoff_ms = p->pp->cfg.reconnect_min_ms;
        p->stats.connected = false;
        p->stats.connected_incoming = false;
        p->stats.connections_closed++;
        if (p->pp->cfg.on_connection && !p->pp->freeing)
            p->pp->cfg.on_connection(p->pp->cfg.ctx, p->sid, false);
    }
    if (p->dialing == c)
        p->dialing = NULL;
    peer_schedule(p);
}

/* Bad input or a deadline: logged once, with the reason, and closed. */
static void conn_reject(struct pp_conn *c, const char *reason)
{
    c->pp->rejected++;
    conn_close(c, LOG_WARN, reason);
}

/* A refusal for membership reasons (not a member, our own sid, another
 * server claiming a member's sid): the same peer dials again and again, so
 * each distinct reason is logged once at WARN and then at DEBUG. */
static void conn_refuse(struct pp_conn *c, const char *reason)
{
    struct peer_port *pp = c->pp;
    pp->rejected++;
    uint64_t h = smap_hash(reason, strlen(reason));
    size_t n = pp->refusal_count < PP_REFUSALS_MAX ? pp->refusal_count : PP_REFUSALS_MAX;
    for (size_t i = 0; i < n; i++)
        if (pp->refusals[i] == h) {
            conn_close(c, LOG_DEBUG, reason);
            return;
        }
    pp->refusals[pp->refusal_count++ % PP_REFUSALS_MAX] = h;
    char text[ELECTION_ADDRESS_MAX + 512];
    snprintf(text, sizeof(text), "%s (logged once)", reason);
    conn_close(c, LOG_WARN, text);
}

/* ---- writing ---- */

static void on_conn_write(uv_write_t *req, int status)
{
    struct pp_conn *c = req->data;
    c->writing = false;
    c->inflight.len = 0;
    if (c->closing)
        return;
    if (status < 0) {
        char reason[128];
        snprintf(reason, sizeof(reason), "write failed: %s", uv_strerror(status));
        conn_close(c, LOG_INFO, reason);
        return;
    }
    if (c->state == CONN_POKING) {
        /* The higher sid has our header; it dials back (handleConnection). */
        conn_close(c, LOG_DEBUG, "header sent to a higher sid, which dials back");
        return;
    }
    conn_pump(c);
}

/* One write at a time: the header first, then the peer's queued message,
 * which becomes lastMessageSent as it is handed over (SendWorker.run). */
static void conn_pump(struct pp_conn *c)
{
    if (c->writing || c->closing)
        return;
    struct pp_peer *p = c->peer;
    if (c->out.len > 0) {
        struct buf t = c->inflight;
        c->inflight = c->out;
        c->out = t;
        c->out.len = 0;
    } else if (c->state == CONN_KEPT && p->has_pending) {
        struct buf t = c->inflight;
        c->inflight = p->pending;
        p->pending = t;
        p->pending.len = 0;
        p->has_pending = false;
        p->last_sent.len = 0;
        buf_append(&p->last_sent, c->inflight.data, c->inflight.len);
        p->has_last_sent = true;
        p->stats.messages_sent++;
    } else {
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->inflight.data, (unsigned)c->inflight.len);
    c->write_req.data = c;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_conn_write);
    if (rc < 0) {
        char reason[128];
        snprintf(reason, sizeof(reason), "write failed: %s", uv_strerror(rc));
        conn_close(c, LOG_INFO, reason);
        return;
    }
    c->writing = true;
}

/* ---- the pair's connection ---- */

static void on_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

/* c becomes the pair's one connection, replacing an older one (Apache's
 * senderWorkerMap.put after finishing the old SendWorker). */
static void conn_keep(struct pp_conn *c)
{
    struct pp_peer *p = c->peer;
    if (p->kept && p->kept != c)
        conn_close(p->kept, LOG_INFO, "replaced by a newer connection");
    if (p->dialing && p->dialing != c && p->dialing->state == CONN_DIALING)
        conn_close(p->dialing, LOG_DEBUG, NULL);
    if (p->dialing == c)
        p->dialing = NULL;
    uv_timer_stop(&c->timer);
    uv_timer_stop(&p->retry_timer);
    c->state = CONN_KEPT;
    c->kept_ms = (int64_t)uv_now(p->pp->loop);
    p->kept = c;
    p->down_logged = false;
    p->stats.connected = true;
    p->stats.connected_incoming = c->incoming;
    p->stats.connections_kept++;
    LOG_I("Election connection %s sid %" PRId64 " (%s) kept", c->incoming ? "from" : "to", p->sid,
          c->name);
    /* SendWorker: with nothing queued, the last message goes again, in case
     * the old connection lost it; duplicates are harmless to the election. */
    if (!p->has_pending && p->has_last_sent) {
        p->pending.len = 0;
        buf_append(&p->pending, p->last_sent.data, p->last_sent.len);
        p->has_pending = true;
    }
    if (!c->incoming) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, on_conn_alloc, on_conn_read);
        if (rc < 0) {
            conn_close(c, LOG_INFO, uv_strerror(rc));
            return;
        }
    }
    conn_pump(c);
    if (p->kept == c && !c->closing && p->pp->cfg.on_connection)
        p->pp->cfg.on_connection(p->pp->cfg.ctx, p->sid, true);
}

/* InitialMessage.parse: every address must read as host:port. */
static bool addresses_parse(struct jute_buf a)
{
    if (a.len < 0)
        return true; /* the sid-only form carries none */
    const char *s = (const char *)a.ptr;
    size_t n = (size_t)a.len, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '|')
            continue;
        size_t colon = i;
        while (colon > start && s[colon - 1] != ':')
            colon--;
        if (colon <= start + 1 || colon == i || i - colon > 5)
            return false;
        long port = 0;
        for (size_t k = colon; k < i; k++) {
            if (s[k] < '0' || s[k] > '9')
                return false;
            port = port * 10 + (s[k] - '0');
        }
        if (port > 65535)
            return false;
        start = i + 1;
    }
    return true;
}

/* Whether one "host:port" of a header names p's election address as our
 * server.N line has it: the same text (the case of a host name aside), or
 * an IP literal equal to the address that line resolved to. */
static bool address_names_peer(const char *a, size_t n, const struct pp_peer *p)
{
    char mine[300];
    bool v6 = strchr(p->host, ':') != NULL;
    int len = snprintf(mine, sizeof(mine), v6 ? "[%s]:%d" : "%s:%d", p->host, p->port);
    if (len > 0 && (size_t)len < sizeof(mine) && (size_t)len == n && strncasecmp(a, mine, n) == 0)
        return true;
    size_t colon = n;
    while (colon > 0 && a[colon - 1] != ':')
        colon--;
    if (colon < 2 || colon - 1 >= 64)
        return false;
    char host[64];
    size_t hl = colon - 1, ho = 0;
    if (a[0] == '[' && hl >= 2 && a[hl - 1] == ']') {
        ho = 1;
        hl -= 2;
    }
    memcpy(host, a + ho, hl);
    host[hl] = '\0';
    long port = 0; /* the digits addresses_parse checked; a is not terminated */
    for (size_t k = colon; k < n && k < colon + 6; k++)
        port = port * 10 + (a[k] - '0');
    if (port != p->port)
        return false;
    if (p->addr.ss_family == AF_INET) {
        struct in_addr in;
        return uv_inet_pton(AF_INET, host, &in) == 0 &&
               memcmp(&in, &((const struct sockaddr_in *)&p->addr)->sin_addr, sizeof(in)) == 0;
    }
    if (p->addr.ss_family == AF_INET6) {
        struct in6_addr in6;
        return uv_inet_pton(AF_INET6, host, &in6) == 0 &&
               memcmp(&in6, &((const struct sockaddr_in6 *)&p->addr)->sin6_addr, sizeof(in6)) == 0;
    }
    return false;
}

/* Any of the header's addresses ('|'-separated) names p. */
static bool claim_matches(struct jute_buf a, const struct pp_peer *p)
{
    if (a.len <= 0)
        return false;
    const char *s = (const char *)a.ptr;
    size_t n = (size_t)a.len, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '|')
            continue;
        if (address_names_peer(s + start, i - start, p))
            return true;
        start = i + 1;
    }
    return false;
}

/* Whether c (a new connection from p's sid) is the same server as the one
 * p's kept connection came from: both name our server.N line, or both
 * headers name the same address. */
static bool same_claim(const struct pp_conn *kept, const struct pp_conn *c)
{
    if (kept->verified && c->verified)
        return true;
    return kept->claimed && c->claimed && strcmp(kept->claimed, c->claimed) == 0;
}

/* Two live servers claim p's sid (a duplicate myid, or another ensemble's
 * server that reuses it and has our member's address in its config).
 * Apache 3.8 takes the newer connection every time, so the two displace
 * each other and the other one's votes count as this sid's. czk keeps the
 * one that came first, unless only the newer one names p's election
 * address as our server.N line does. */
static bool claim_conflicts(const struct pp_peer *p, const struct pp_conn *c)
{
    const struct pp_conn *kept = p->kept;
    return kept && kept != c && !same_claim(kept, c) && (kept->verified || !c->verified);
}

/* QuorumCnxManager.handleConnection, after the header. */
static void conn_on_header(struct pp_conn *c, const struct election_header *h)
{
    struct peer_port *pp = c->pp;
    char reason[160];
    if (!addresses_parse(h->addresses)) {
        conn_reject(c, "badly formed address in the connection header");
        return;
    }
    if (h->sid == pp->cfg.my_sid) {
        /* ZOOKEEPER-2164: a configuration error or a bug. */
        conn_refuse(c, "a connection from a server with our own sid: a duplicate myid, or "
                       "another ensemble's server");
        return;
    }
    struct pp_peer *p = peer_find(pp, h->sid);
    if (!p) {
        /* Apache 3.8 keeps it (or dials it back at the header's address)
         * and answers its notifications without counting them. */
        snprintf(reason, sizeof(reason),
                 "sid %" PRId64 " is not a member (no server.%" PRId64 " line): refused", h->sid,
                 h->sid);
        conn_refuse(c, reason);
        return;
    }
    if (h->addresses.len > 0)
        c->claimed = mem_strndup((const char *)h->addresses.ptr, (size_t)h->addresses.len);
    c->verified = claim_matches(h->addresses, p);
    if (claim_conflicts(p, c)) {
        char refusal[ELECTION_ADDRESS_MAX * 2 + 400];
        char kept_at[ELECTION_ADDRESS_MAX + 64];
        if (p->kept->claimed)
            snprintf(kept_at, sizeof(kept_at), "naming %s%s", p->kept->claimed,
                     p->kept->verified ? " as our config does" : "");
        else
            snprintf(kept_at, sizeof(kept_at), "on the connection we dialled");
        snprintf(refusal, sizeof(refusal),
                 "refused: it names election address %s, but sid %" PRId64
                 " is connected already, %s (server.%" PRId64
                 " here: %s:%d): a duplicate sid, or another ensemble's server",
                 c->claimed ? c->claimed : "(none)", p->sid, kept_at, p->sid, p->host, p->port);
        c->peer = NULL; /* not this peer's: its close must not touch p */
        conn_refuse(c, refusal);
        /* The kept connection may be half-open (its server restarted with
         * another address): the last message again makes a dead one fail
         * with a reset, at most once a second; a live one takes a
         * duplicate, which the election ignores. */
        int64_t now = (int64_t)uv_now(pp->loop);
        if (now - p->probed_ms >= 1000 && !p->has_pending && p->has_last_sent) {
            p->probed_ms = now;
            p->pending.len = 0;
            buf_append(&p->pending, p->last_sent.data, p->last_sent.len);
            p->has_pending = true;
            conn_pump(p->kept);
        }
        return;
    }
    c->peer = p;
    if (h->sid < pp->cfg.my_sid) {
        /* The higher sid owns the pair's connection. The lower one dialled
         * because it has none, so ours (if any) is stale: close it and dial. */
        conn_close(c, LOG_DEBUG, "a lower sid dialled; dialling back");
        if (p->kept)
            conn_close(p->kept, LOG_INFO, "the lower sid dialled us, so it lost this connection");
        if (!p->dialing) {
            uv_timer_stop(&p->retry_timer);
            peer_dial(p);
        }
        return;
    }
    conn_keep(c);
}

static void conn_process_input(struct pp_conn *c)
{
    struct peer_port *pp = c->pp;
    char reason[160];
    if (c->state == CONN_HEADER) {
        struct election_header h;
        size_t used = 0;
        int rc = election_header_decode(c->in.data, c->in.len, &h, &used);
        if (rc < 0) {
            snprintf(reason, sizeof(reason), "bad connection header (%s)",
                     rc == PEER_EBADVERSION  ? "unknown protocol version"
                     : rc == PEER_ETOOBIG    ? "address longer than 2048 bytes"
                     : rc == PEER_EBADLENGTH ? "address length <= 0"
                                             : "malformed");
            conn_reject(c, reason);
            return;
        }
        if (used == 0)
            return;
        conn_on_header(c, &h);
        if (c->closing)
            return;
        buf_consume(&c->in, used);
    }
    if (c->state != CONN_KEPT)
        return;
    size_t off = 0;
    while (!c->closing) {
        struct jute_buf msg;
        size_t used = 0;
        int rc = election_message_split(c->in.data + off, c->in.len - off, &msg, &used);
        if (rc < 0) {
            snprintf(reason, sizeof(reason), "bad message length %" PRId32 " (limit %d)",
                     (int32_t)be32_get(c->in.data + off), ELECTION_MESSAGE_MAX);
            conn_reject(c, reason);
            return;
        }
        if (used == 0)
            break;
        off += used;
        c->peer->stats.messages_received++;
        pp->cfg.on_message(pp->cfg.ctx, c->peer->sid, msg.ptr, (size_t)msg.len);
    }
    if (!c->closing)
        buf_consume(&c->in, off);
}

/* ---- reading ---- */

static void on_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct pp_conn *c = h->data;
    /* The decoders refuse a length past its limit as soon as they see it,
     * so `in` stays below the largest layout plus one chunk. */
    buf_reserve(&c->in, PP_READ_CHUNK);
    *b = uv_buf_init((char *)c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

static void on_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct pp_conn *c = s->data;
    if (c->closing)
        return;
    if (nread < 0) {
        if (c->state == CONN_HEADER && c->in.len > 0) {
            conn_reject(c, "closed inside the connection header");
        } else if (c->state == CONN_KEPT && c->in.len > 0) {
            conn_reject(c, "closed inside a message");
        } else {
            char reason[128];
            snprintf(reason, sizeof(reason), "closed: %s",
                     nread == UV_EOF ? "end of stream" : uv_strerror((int)nread));
            conn_close(c, c->state == CONN_KEPT ? LOG_INFO : LOG_DEBUG, reason);
        }
        return;
    }
    if (c->state != CONN_HEADER && c->state != CONN_KEPT)
        return; /* a poke reads nothing */
    c->in.len += (size_t)nread;
    conn_process_input(c);
}

/* ---- dialling ---- */

static void on_conn_timer(uv_timer_t *t)
{
    struct pp_conn *c = t->data;
    char reason[96];
    if (c->state == CONN_HEADER) {
        snprintf(reason, sizeof(reason), "no header within %" PRId64 " ms",
                 c->pp->cfg.header_timeout_ms);
        conn_reject(c, reason);
    } else {
        snprintf(reason, sizeof(reason), "connect timed out after %" PRId64 " ms",
                 c->pp->cfg.connect_timeout_ms);
        conn_close(c, LOG_INFO, reason);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct pp_conn *c = req->data;
    if (c->closing)
        return;
    struct pp_peer *p = c->peer;
    if (status < 0) {
        /* Apache logs "Cannot open channel" each time; once per outage is enough. */
        char reason[128];
        snprintf(reason, sizeof(reason), "cannot open channel: %s", uv_strerror(status));
        conn_close(c, p->down_logged ? LOG_DEBUG : LOG_INFO, reason);
        p->down_logged = true;
        return;
    }
    uv_timer_stop(&c->timer);
    uv_tcp_nodelay(&c->tcp, 1);
    buf_append(&c->out, c->pp->header.data, c->pp->header.len);
    if (p->sid > c->pp->cfg.my_sid) {
        c->state = CONN_POKING;
        conn_pump(c);
        return;
    }
    conn_keep(c);
}

static void peer_dial(struct pp_peer *p)
{
    struct peer_port *pp = p->pp;
    if (pp->freeing || p->kept || p->dialing)
        return;
    struct pp_conn *c = conn_new(pp, false);
    c->peer = p;
    c->verified = true; /* dialled to our server.N line's address */
    c->state = CONN_DIALING;
    p->dialing = c;
    p->stats.dials++;
    snprintf(c->name, sizeof(c->name), "%s:%d", p->host, p->port);
    peer_back_off(p);
    c->connect_req.data = c;
    int rc =
        uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&p->addr, on_connect);
    if (rc < 0) {
        char reason[128];
        snprintf(reason, sizeof(reason), "cannot open channel: %s", uv_strerror(rc));
        conn_close(c, p->down_logged ? LOG_DEBUG : LOG_INFO, reason);
        p->down_logged = true;
        return;
    }
    uv_timer_start(&c->timer, on_conn_timer, (uint64_t)pp->cfg.connect_timeout_ms, 0);
}

/* ---- accepting ---- */

static void on_connection(uv_stream_t *listener, int status)
{
    struct peer_port *pp = listener->data;
    if (status < 0) {
        LOG_W("Election port: accept failed: %s", uv_strerror(status));
        return;
    }
    struct pp_conn *c = conn_new(pp, true);
    c->state = CONN_HEADER;
    int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        conn_close(c, LOG_WARN, uv_strerror(rc));
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    snprintf(c->name, sizeof(c->name), "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        char ip[64] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        snprintf(c->name, sizeof(c->name), "%s:%d", ip, port);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, on_conn_timer, (uint64_t)pp->cfg.header_timeout_ms, 0);
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_conn_alloc, on_conn_read);
    if (rc < 0)
        conn_close(c, LOG_WARN, uv_strerror(rc));
}

/* ---- sending ---- */

static void on_loopback(uv_timer_t *t)
{
    struct peer_port *pp = t->data;
    struct pp_peer *self = pp->self;
    if (!self->has_pending)
        return;
    /* on_message may queue the next loopback message into `pending`. */
    struct buf msg = self->pending;
    buf_init(&self->pending);
    self->has_pending = false;
    self->stats.messages_received++;
    pp->cfg.on_message(pp->cfg.ctx, self->sid, msg.data + 4, msg.len - 4);
    buf_deinit(&msg);
}

int peer_port_send(struct peer_port *pp, int64_t sid, const uint8_t *bytes, size_t len)
{
    if (len == 0 || len > ELECTION_MESSAGE_MAX)
        return UV_EMSGSIZE;
    struct pp_peer *p = peer_find(pp, sid);
    if (!p)
        return UV_ENOENT;
    if (p->has_pending)
        p->stats.messages_replaced++;
    p->pending.len = 0;
    election_message_encode(&p->pending, bytes, len);
    p->has_pending = true;
    if (p == pp->self) {
        uv_timer_start(&pp->loopback_timer, on_loopback, 0, 0);
        return 0;
    }
    if (p->kept)
        conn_pump(p->kept);
    else if (!p->dialing && !pp->freeing && !uv_is_active((uv_handle_t *)&p->retry_timer))
        peer_dial(p); /* toSend → connectOne; while backing off, the timer dials */
    return 0;
}

int peer_port_send_all(struct peer_port *pp, const uint8_t *bytes, size_t len)
{
    if (len == 0 || len > ELECTION_MESSAGE_MAX)
        return UV_EMSGSIZE;
    for (size_t i = 0; i < pp->peer_count; i++) {
        int rc = peer_port_send(pp, pp->peers[i].sid, bytes, len);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void peer_port_connect_all(struct peer_port *pp)
{
    if (pp->freeing)
        return;
    for (size_t i = 0; i < pp->peer_count; i++) {
        struct pp_peer *p = &pp->peers[i];
        if (p == pp->self || p->kept || p->dialing)
            continue;
        uv_timer_stop(&p->retry_timer);
        peer_dial(p);
    }
}

int peer_port_peer_stats(const struct peer_port *pp, int64_t sid, struct peer_port_peer_stats *out)
{
    for (size_t i = 0; i < pp->peer_count; i++)
        if (pp->peers[i].sid == sid) {
            *out = pp->peers[i].stats;
            return 0;
        }
    return UV_ENOENT;
}

int64_t peer_port_rejected(const struct peer_port *pp)
{
    return pp->rejected;
}

/* ---- setup ---- */

void peer_port_config_defaults(struct peer_port_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->connect_timeout_ms = 5000;
    cfg->header_timeout_ms = 10000;
    cfg->reconnect_min_ms = 100;
    cfg->reconnect_max_ms = 5000;
    cfg->bind_attempts = 3;
    cfg->bind_retry_interval_ms = 1000;
}

/* Blocking, so done once, before the loop runs. */
static int resolve(const char *host, int port, struct sockaddr_storage *ss, char *errmsg,
                   size_t errmsg_size)
{
    int gai = net_resolve(host, port, ss);
    if (gai != 0)
        return fail(errmsg, errmsg_size, UV_EAI_NONAME, "election address %s: %s", host,
                    gai_strerror(gai));
    return 0;
}

static int check_config(const struct peer_port_config *cfg, char *errmsg, size_t errmsg_size)
{
    if (!cfg->on_message || cfg->connect_timeout_ms <= 0 || cfg->header_timeout_ms <= 0 ||
        cfg->reconnect_min_ms <= 0 || cfg->reconnect_max_ms < cfg->reconnect_min_ms ||
        cfg->bind_attempts < 0 || cfg->bind_retry_interval_ms <= 0)
        return fail(errmsg, errmsg_size, UV_EINVAL, "election port: bad timeouts or no callback");
    bool found = false;
    for (size_t i = 0; i < cfg->member_count; i++) {
        const struct peer_port_member *m = &cfg->members[i];
        if (m->sid < 0 || !m->host || m->port <= 0 || m->port > 65535)
            return fail(errmsg, errmsg_size, UV_EINVAL, "election port: bad member sid %" PRId64,
                        m->sid);
        for (size_t k = 0; k < i; k++)
            if (cfg->members[k].sid == m->sid)
                return fail(errmsg, errmsg_size, UV_EINVAL, "election port: sid %" PRId64 " twice",
                            m->sid);
        found = found || m->sid == cfg->my_sid;
    }
    if (!found)
        return fail(errmsg, errmsg_size, UV_EINVAL,
                    "election port: my sid %" PRId64 " is not a member", cfg->my_sid);
    return 0;
}

/* One bind, as ListenerHandler.createNewServerSocket: a fresh handle each
 * time (a failed one is closed, as Apache closes its ServerSocket). */
static int pp_listen(struct peer_port *pp, char *errmsg, size_t errmsg_size)
{
    struct pp_peer *self = pp->self;
    struct sockaddr_storage ss = self->addr;
    if (pp->cfg.listen_on_all_ips) {
        if (ss.ss_family == AF_INET6)
            uv_ip6_addr("::", self->port, (struct sockaddr_in6 *)&ss);
        else
            uv_ip4_addr("0.0.0.0", self->port, (struct sockaddr_in *)&ss);
    }
    uv_tcp_init(pp->loop, &pp->listener);
    pp->listener.data = pp;
    pp->listener_open = true;
    pp->handles_open++;
    int rc = uv_tcp_bind(&pp->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&pp->listener, 128, on_connection);
    if (rc < 0) {
        uv_close((uv_handle_t *)&pp->listener, on_listener_closed);
        pp->listener_open = false;
        pp->listener_closing = true;
        return fail(errmsg, errmsg_size, rc, "election port %s:%d: %s", self->host, self->port,
                    uv_strerror(rc));
    }
    pp->listening = true;
    return 0;
}

static void on_bind_timer(uv_timer_t *t);

/* Listener.acceptConnections: after each failed bind, a pause; then the
 * next attempt, or (the attempts used up) giving up. */
static void bind_failed(struct peer_port *pp)
{
    int32_t n = ++pp->bind_failures;
    int32_t max = pp->cfg.bind_attempts;
    /* Forever: the 1st, 2nd, 4th, 8th ... failure, not one a second. */
    if (max == 0 && (n & (n - 1)) == 0)
        LOG_W("%s (bind attempt %" PRId32
              "; electionPortBindRetry=0: trying forever, every %" PRId64 " ms)",
              pp->bind_error, n, pp->cfg.bind_retry_interval_ms);
    else if (max > 0)
        LOG_W("%s (bind attempt %" PRId32 " of %" PRId32 ", electionPortBindRetry); %s in %" PRId64
              " ms",
              pp->bind_error, n, max, n >= max ? "giving up" : "trying again",
              pp->cfg.bind_retry_interval_ms);
    uv_timer_start(&pp->bind_timer, on_bind_timer, (uint64_t)pp->cfg.bind_retry_interval_ms, 0);
}

static void on_bind_timer(uv_timer_t *t)
{
    struct peer_port *pp = t->data;
    if (pp->freeing || pp->listening)
        return;
    int32_t max = pp->cfg.bind_attempts;
    if (max > 0 && pp->bind_failures >= max) {
        char why[320];
        snprintf(why, sizeof(why),
                 "%s: gave up after %" PRId32 " failed binds, %" PRId64
                 " ms apart (electionPortBindRetry=%" PRId32 "; 0 retries forever)",
                 pp->bind_error, pp->bind_failures, pp->cfg.bind_retry_interval_ms, max);
        pp->cfg.on_listen_failed(pp->cfg.ctx, why);
        return;
    }
    if (pp->listener_closing) {
        /* the last attempt's handle is not closed yet: soon */
        uv_timer_start(&pp->bind_timer, on_bind_timer, 1, 0);
        return;
    }
    if (pp_listen(pp, pp->bind_error, sizeof(pp->bind_error)) < 0) {
        bind_failed(pp);
        return;
    }
    LOG_I("Election port %s:%d: listening, after %" PRId32 " failed bind%s", pp->self->host,
          pp->self->port, pp->bind_failures, pp->bind_failures == 1 ? "" : "s");
}

int peer_port_new(uv_loop_t *loop, const struct peer_port_config *cfg, struct peer_port **out,
                  char *errmsg, size_t errmsg_size)
{
    int rc = check_config(cfg, errmsg, errmsg_size);
    if (rc < 0)
        return rc;
    struct peer_port *pp = mem_calloc(1, sizeof(*pp));
    pp->loop = loop;
    pp->cfg = *cfg;
    pp->cfg.members = NULL;
    pp->cfg.member_count = 0;
    list_init(&pp->conns);
    buf_init(&pp->header);
    pp->peer_count = cfg->member_count;
    pp->peers = mem_calloc(cfg->member_count, sizeof(*pp->peers));
    for (size_t i = 0; i < cfg->member_count; i++) {
        struct pp_peer *p = &pp->peers[i];
        p->pp = pp;
        p->sid = cfg->members[i].sid;
        p->host = mem_strndup(cfg->members[i].host, strlen(cfg->members[i].host));
        p->port = cfg->members[i].port;
        p->backoff_ms = cfg->reconnect_min_ms;
        buf_init(&p->pending);
        buf_init(&p->last_sent);
        if (p->sid == cfg->my_sid)
            pp->self = p;
    }
    for (size_t i = 0; i < pp->peer_count; i++) {
        rc = resolve(pp->peers[i].host, pp->peers[i].port, &pp->peers[i].addr, errmsg, errmsg_size);
        if (rc < 0)
            goto err_free;
    }
    /* The header every dial opens with: V1, our sid, our election address
     * as configured (3.8 without multiAddress.enabled). */
    char addr[300];
    bool v6 = strchr(pp->self->host, ':') != NULL;
    snprintf(addr, sizeof(addr), v6 ? "[%s]:%d" : "%s:%d", pp->self->host, pp->self->port);
    election_header_encode(&pp->header, ELECTION_PROTOCOL_V1, cfg->my_sid,
                           (struct jute_buf){(const uint8_t *)addr, (int32_t)strlen(addr)});

    uv_timer_init(loop, &pp->loopback_timer);
    pp->loopback_timer.data = pp;
    uv_timer_init(loop, &pp->bind_timer);
    pp->bind_timer.data = pp;
    pp->handles_open = 2;
    for (size_t i = 0; i < pp->peer_count; i++) {
        struct pp_peer *p = &pp->peers[i];
        if (p == pp->self)
            continue;
        uv_timer_init(loop, &p->retry_timer);
        p->retry_timer.data = p;
        pp->handles_open++;
    }
    rc = pp_listen(pp, pp->bind_error, sizeof(pp->bind_error));
    if (rc < 0 && !cfg->on_listen_failed) {
        fail(errmsg, errmsg_size, rc, "%s", pp->bind_error);
        peer_port_free(pp);
        return rc;
    }
    LOG_I("Election port %s:%d: sid %" PRId64 ", %zu members%s", pp->self->host, pp->self->port,
          cfg->my_sid, pp->peer_count, rc < 0 ? ", not listening yet" : "");
    if (rc < 0)
        bind_failed(pp);
    for (size_t i = 0; i < pp->peer_count; i++)
        if (&pp->peers[i] != pp->self)
            peer_dial(&pp->peers[i]);
    *out = pp;
    return 0;

err_free:
    for (size_t i = 0; i < pp->peer_count; i++)
        mem_free(pp->peers[i].host);
    mem_free(pp->peers);
    buf_deinit(&pp->header);
    mem_free(pp);
    return rc;
}

void peer_port_free(struct peer_port *pp)
{
    if (!pp || pp->freeing)
        return;
    pp->freeing = true;
    struct list *it = pp->conns.next;
    while (it != &pp->conns) {
        struct pp_conn *c = LIST_ENTRY(it, struct pp_conn, link);
        it = it->next;
        conn_close(c, LOG_DEBUG, NULL);
    }
    if (pp->listener_open) {
        uv_close((uv_handle_t *)&pp->listener, on_listener_closed);
        pp->listener_open = false;
        pp->listener_closing = true;
    }
    uv_close((uv_handle_t *)&pp->bind_timer, on_pp_handle_closed);
    uv_close((uv_handle_t *)&pp->loopback_timer, on_pp_handle_closed);
    for (size_t i = 0; i < pp->peer_count; i++)
        if (&pp->peers[i] != pp->self)
            uv_close((uv_handle_t *)&pp->peers[i].retry_timer, on_retry_timer_closed);
}
