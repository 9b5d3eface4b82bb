/* SPDX-License-Identifier: Apache-2.0 */
/* benchmark_failover.c — czk-benchmark's failover writer (--failover-writer):
 * one session that moves across the --server members as the official
 * clients do, one setData at a time, and the time from a SIGUSR1 mark to the
 * first write a new leader acknowledged, as JSON lines. */
#include "benchmark.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---- the failover writer (--failover-writer) ---- */

/* Set by SIGUSR1, which the harness sends just before it kills a member. */
static volatile sig_atomic_t failover_mark_pending;
static volatile uint64_t failover_mark_ns;

static void failover_on_mark(int sig)
{
    (void)sig;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
    failover_mark_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    failover_mark_pending = 1;
}

/* One session that survives its member: a client of the whole --server list,
 * as the official clients are (ClientCnxn: next host, same session id and
 * password, lastZxidSeen). */
struct failover_client {
    int fd; /* -1: not connected */
    size_t member;
    int64_t session_id; /* 0: none yet */
    uint8_t passwd[BENCH_PASSWD_LEN];
    int64_t last_zxid;
    int32_t next_xid;
    struct buf out;
    struct buf in;
    size_t attempts; /* connection attempts since the last mark */
    bool resumed;    /* the last established session was an existing one */
};

/* A connected socket to srv, or -1: a dead member is no error here. */
static int failover_dial(const struct bench_server *srv)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(srv->host, srv->port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    int one = 1;
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void failover_drop(struct failover_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_clear(&c->out);
    buf_clear(&c->in);
}

/* Sends c->out and waits for one frame until deadline_ns; its length with
 * the prefix, or 0 (and *why set) if the member failed us. */
static size_t failover_exchange(const struct bench *b, struct failover_client *c,
                                uint64_t deadline_ns, const char **why)
{
    size_t off = 0;
    while (off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *why = "send failed";
            return 0;
        }
        off += (size_t)n;
    }
    buf_clear(&c->out);
    for (;;) {
        size_t n = bench_frame_ready(b, &c->in, 0);
        if (n > 0)
            return n;
        uint64_t now = bench_now_ns();
        if (now >= deadline_ns) {
            *why = "no reply in time";
            return 0;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int rc = poll(&p, 1, (int)((deadline_ns - now) / 1000000u) + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            continue; /* the deadline check above decides */
        buf_reserve(&c->in, BENCH_READ_CHUNK);
        ssize_t got = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            *why = got == 0 ? "connection closed" : "receive failed";
            return 0;
        }
        c->in.len += (size_t)got;
    }
}

/* One ConnectRequest to member `member`; true once a session is established. */
static bool failover_handshake(const struct bench *b, struct failover_client *c, size_t member)
{
    c->fd = failover_dial(&b->opt.servers[member]);
    if (c->fd < 0)
        return false;
    c->member = member;
    size_t start = frame_begin(&c->out);
    struct zk_connect_request req = {.protocol_version = 0,
                                     .last_zxid_seen = c->last_zxid,
                                     .time_out = BENCH_SESSION_TIMEOUT_MS,
                                     .session_id = c->session_id,
                                     .passwd = jute_buf_of(c->passwd, sizeof c->passwd)};
    zk_connect_request_encode(&c->out, &req);
    jute_write_bool(&c->out, false);
    frame_end(&c->out, start);
    const char *why = NULL;
    size_t n =
        failover_exchange(b, c, bench_now_ns() + BENCH_FAILOVER_TIMEOUT_MS * 1000000ull, &why);
    if (n == 0) {
        failover_drop(c);
        return false;
    }
    struct jute_reader r;
    jute_reader_init(&r, c->in.data + 4, n - 4);
    struct zk_connect_response resp;
    if (zk_connect_response_decode(&r, &resp) != 0 || resp.time_out <= 0 || resp.session_id == 0 ||
        resp.passwd.len != BENCH_PASSWD_LEN) {
        /* expired (or never ours): start a new session on the next try */
        c->session_id = 0;
        memset(c->passwd, 0, sizeof c->passwd);
        failover_drop(c);
        return false;
    }
    c->resumed = c->session_id != 0;
    c->session_id = resp.session_id;
    memcpy(c->passwd, resp.passwd.ptr, sizeof c->passwd);
    buf_consume(&c->in, n);
    return true;
}

/* Tries the members in turn from the one after the last, until one takes
 * the session. */
static void failover_connect(const struct bench *b, struct failover_client *c)
{
    for (;;) {
        size_t member = (c->member + 1) % b->opt.server_count;
        c->attempts++;
        if (failover_handshake(b, c, member))
            return;
        c->member = member;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = BENCH_FAILOVER_BACKOFF_MS * 1000000L};
        (void)nanosleep(&ts, NULL);
    }
}

/* One request and its reply; false (with *why) if the member failed us. */
static bool failover_call(const struct bench *b, struct failover_client *c, int32_t op,
                          const char *path, const uint8_t *data, size_t data_len, int32_t *err,
                          int64_t *zxid, const char **why)
{
    int32_t xid = c->next_xid++;
    bench_encode_request(&c->out, xid, op, path, data, data_len, false);
    uint64_t deadline = bench_now_ns() + BENCH_FAILOVER_TIMEOUT_MS * 1000000ull;
    for (;;) {
        size_t n = failover_exchange(b, c, deadline, why);
        if (n == 0)
            return false;
        struct jute_reader r;
        jute_reader_init(&r, c->in.data + 4, n - 4);
        struct zk_reply_header h;
        if (zk_reply_header_decode(&r, &h) != 0)
            bench_die(b, "malformed ReplyHeader");
        buf_consume(&c->in, n);
        if (bench_is_special_xid(h.xid))
            continue;
        if (h.xid != xid)
            bench_die(b, "reply xid %" PRId32 ", expected %" PRId32, h.xid, xid);
        if (h.zxid > c->last_zxid)
            c->last_zxid = h.zxid;
        *err = h.err;
        *zxid = h.zxid;
        return true;
    }
}

static void failover_report(const struct bench *b, const char *key, const char *value,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One JSON line on stdout: {"label":..,"phase":"failover",KEY:VALUE, then fmt}. */
static void failover_report(const struct bench *b, const char *key, const char *value,
                            const char *fmt, ...)
{
    bench_json_begin(b);
    printf(",\"phase\":\"failover\",\"%s\":", key);
    bench_json_string(stdout, value);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("}\n");
    fflush(stdout);
}

/* What the writer knows of the last mark (SIGUSR1). */
struct failover_mark {
    bool armed;       /* marked, and no write of a later epoch acknowledged yet */
    uint64_t ns;      /* when the signal came */
    int64_t epoch;    /* of the last write acknowledged before it */
    size_t member;    /* the client's member then */
    uint64_t lost_ns; /* the first failed write after the mark, 0: none */
    const char *lost_why;
    size_t failures;
    size_t acks_old_epoch; /* acknowledged after the mark, still in the old epoch */
};

static void failover_take_mark(struct failover_mark *m, struct failover_client *c,
                               int64_t acked_zxid)
{
    if (!failover_mark_pending)
        return;
    failover_mark_pending = 0;
    *m = (struct failover_mark){.armed = true,
                                .ns = failover_mark_ns,
                                .epoch = acked_zxid >> 32,
                                .member = c->member,
                                .lost_why = ""};
    c->attempts = 0;
}

int bench_failover_writer(struct bench *b)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = failover_on_mark;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        bench_die(b, "sigaction: %s", strerror(errno));
    struct failover_client c = {.fd = -1, .member = b->opt.server_count - 1, .next_xid = 1};
    buf_init(&c.out);
    buf_init(&c.in);
    const char *why = NULL;
    int32_t err = 0;
    int64_t zxid = 0;
    int64_t acked_zxid = 0; /* of the last acknowledged write */
    failover_connect(b, &c);
    while (!failover_call(b, &c, ZK_OP_CREATE, b->opt.root, b->data, b->opt.data_size, &err, &zxid,
                          &why)) {
        failover_drop(&c);
        failover_connect(b, &c);
    }
    if (err != ZK_OK && err != ZK_NODEEXISTS)
        bench_die(b, "create %s: %s", b->opt.root, zk_err_name(err));
    acked_zxid = zxid;
    failover_report(b, "event", "ready", ",\"member\":\"%s:%s\"", b->opt.servers[c.member].host,
                    b->opt.servers[c.member].port);

    struct failover_mark m = {0};
    for (;;) {
        failover_take_mark(&m, &c, acked_zxid);
        if (c.fd < 0)
            failover_connect(b, &c);
        why = NULL;
        bool ok = failover_call(b, &c, ZK_OP_SET_DATA, b->opt.root, b->data_set, b->opt.data_size,
                                &err, &zxid, &why);
        uint64_t now = bench_now_ns();
        if (ok && err != ZK_OK) {
            fprintf(stderr, "czk-benchmark: setData %s: %s\n", b->opt.root, zk_err_name(err));
            why = zk_err_name(err);
            ok = false;
        }
        if (!ok) {
            /* the signal may have cut the wait short that failed */
            failover_take_mark(&m, &c, acked_zxid);
            if (m.armed && m.failures++ == 0) {
                m.lost_ns = now;
                m.lost_why = why ? why : "?";
            }
            failover_drop(&c);
            continue;
        }
        acked_zxid = zxid;
        if (!m.armed)
            continue;
        if ((zxid >> 32) > m.epoch) {
            const struct bench_server *from = &b->opt.servers[m.member];
            const struct bench_server *to = &b->opt.servers[c.member];
            failover_report(
                b, "first_failure", m.lost_why,
                ",\"ms\":%.1f,\"failed_after_ms\":%.1f,\"failed_writes\":%zu,"
                "\"acks_old_epoch\":%zu,\"from\":\"%s:%s\",\"to\":\"%s:%s\",\"attempts\":%zu,"
                "\"session_resumed\":%s,\"epoch\":%" PRId64 ",\"new_epoch\":%" PRId64,
                (double)(now - m.ns) / 1e6, m.lost_ns ? (double)(m.lost_ns - m.ns) / 1e6 : -1.0,
                m.failures, m.acks_old_epoch, from->host, from->port, to->host, to->port,
                c.attempts, c.resumed ? "true" : "false", m.epoch, zxid >> 32);
            m.armed = false;
        } else if (now - m.ns > BENCH_FAILOVER_QUIET_MS * 1000000ull) {
            failover_report(b, "first_failure", m.lost_why, ",\"ms\":null,\"epoch\":%" PRId64,
                            m.epoch);
            m.armed = false;
        } else {
            m.acks_old_epoch++;
        }
    }
}
