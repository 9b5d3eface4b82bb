/* SPDX-License-Identifier: Apache-2.0 */
/* The leader's quorum port (src/node/leader_port.c) in one process: a fake
 * learner on a loopback socket, the loop run in small steps between its
 * reads and writes. Checks the handshake bytes, the driver order (epochs,
 * appends, commit), calls made from inside callbacks (a REQUEST whose
 * handler proposes and syncs), SYNC after the COMMIT it waits for and
 * only once the follower answered a PING sent after the sync (issue 10; a
 * local sync, LEADER_PORT_SYNC_LOCAL, likewise through io.local_synced),
 * REVALIDATE's answer, PING's touches, the proposal queue beyond
 * outstanding_max, and a malformed PING dropping the learner (then, short
 * of a quorum, leadership ends). A SNAP streamed from a fork()ed child
 * (io.snapshot_fork, issue 10): the body byte for byte what io.snapshot
 * gives, then "BenWasHere", then the packets held meanwhile in order; and
 * a learner gone mid-stream: the child killed and reaped, nothing leaked. */
#include "check.h"
#include "node/leader_port.h"
#include "proto/jute.h"
#include "proto/quorum.h"
#include "proto/records.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ZX(e, c) ZAB_ZXID(e, c)

struct t {
    uv_loop_t loop;
    struct leader_port *lp;
    int fd;
    struct buf in;
    /* what io saw */
    int64_t accepted, current;
    int64_t appended[64];
    size_t appended_len;
    int64_t committed;
    int commits;
    int events[8];
    const char *last_down;
    int64_t touched_session;
    int32_t touched_timeout;
    int touches;
    int requests;
    bool propose_in_request;
    bool ignore_pings; /* the fake learner answers every PING unless set */
    int pings;         /* PINGs seen */
    int local_synced;
    size_t snap_len; /* the SNAP body io_snap_* make */
    pid_t snap_pid;  /* io_snap_fork's child */
    int snap_forks, snap_syncs;
};

static int io_write_epoch(void *ctx, const char *name, int64_t epoch)
{
    struct t *t = ctx;
    if (strcmp(name, "acceptedEpoch") == 0)
        t->accepted = epoch;
    else
        t->current = epoch;
    return 0;
}

static void io_log_append(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct t *t = ctx;
    (void)txn, (void)len;
    if (t->appended_len < 64)
        t->appended[t->appended_len++] = zxid;
}

static void io_commit(void *ctx, int64_t zxid)
{
    struct t *t = ctx;
    CHECK(zxid > t->committed);
    t->committed = zxid;
    t->commits++;
}

static void io_snapshot(void *ctx, struct buf *out)
{
    (void)ctx;
    (void)out;
    CHECK(0 && "no SNAP expected");
}

/* The SNAP body the SNAP tests' io makes: `len` bytes that depend on their
 * offset, so a byte lost, doubled or moved shows. */
static void snap_bytes(uint8_t *out, size_t off, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t x = off + i;
        out[i] = (uint8_t)(x * 31u + (x >> 8) + (x >> 16));
    }
}

static void io_snap_sync(void *ctx, struct buf *out)
{
    struct t *t = ctx;
    t->snap_syncs++;
    buf_reserve(out, t->snap_len);
    snap_bytes(out->data + out->len, 0, t->snap_len);
    out->len += t->snap_len;
}

static int io_snap_fork(void *ctx, int sock, int *go_fd, int *done_fd, pid_t *pid)
{
    struct t *t = ctx;
    int go[2], done[2];
    CHECK(pipe(go) == 0);
    CHECK(pipe(done) == 0);
    pid_t parent = getpid();
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(1);
        close(go[1]);
        close(done[0]);
        close(t->fd); /* the fake learner's end: the leader must see it close */
        char g;
        if (read(go[0], &g, 1) != 1)
            _exit(1);
        uint8_t chunk[8192];
        for (size_t off = 0; off < t->snap_len;) {
            size_t n = t->snap_len - off < sizeof(chunk) ? t->snap_len - off : sizeof(chunk);
            snap_bytes(chunk, off, n);
            for (size_t w = 0; w < n;) {
                ssize_t r = write(sock, chunk + w, n - w);
                if (r < 0 && errno == EAGAIN) {
                    struct pollfd pfd = {.fd = sock, .events = POLLOUT};
                    (void)poll(&pfd, 1, -1);
                    continue;
                }
                if (r <= 0)
                    _exit(1);
                w += (size_t)r;
            }
            off += n;
        }
        _exit(0);
    }
    close(go[0]);
    close(done[1]);
    t->snap_forks++;
    t->snap_pid = child;
    *go_fd = go[1];
    *done_fd = done[0];
    *pid = child;
    return 0;
}

static int io_request(void *ctx, int64_t sid, const uint8_t *data, size_t len,
                      const struct zk_id *auth, size_t auth_len)
{
    struct t *t = ctx;
    t->requests++;
    CHECK_EQ_INT(sid, 2);
    CHECK_EQ_INT(auth_len, 1);
    CHECK(auth && auth[0].scheme.len == 2 && memcmp(auth[0].scheme.ptr, "ip", 2) == 0);
    struct quorum_request rq;
    CHECK(quorum_request_decode(jute_buf_of(data, len), &rq) == 0);
    CHECK_EQ_INT(rq.session_id, 0x55);
    if (t->propose_in_request) {
        /* Re-entrant calls: queued, run once this callback returns. */
        int64_t zxid = leader_port_next_zxid(t->lp);
        CHECK_EQ_INT(zxid, ZX(2, 1));
        CHECK(leader_port_propose(t->lp, zxid, (const uint8_t *)"txn", 3) == 0);
        CHECK_EQ_INT(leader_port_next_zxid(t->lp), ZX(2, 2));
        leader_port_sync(t->lp, sid);
        CHECK_EQ_INT(t->appended_len, 0); /* not yet: deferred */
    }
    return 0;
}

static void io_local_synced(void *ctx)
{
    struct t *t = ctx;
    t->local_synced++;
}

static bool io_revalidate(void *ctx, int64_t sid, int64_t session_id, int32_t timeout_ms)
{
    (void)ctx;
    CHECK_EQ_INT(sid, 2);
    CHECK_EQ_INT(timeout_ms, 30000);
    return session_id == 0x55;
}

static void io_touch(void *ctx, int64_t sid, int64_t session_id, int32_t timeout_ms)
{
    struct t *t = ctx;
    CHECK_EQ_INT(sid, 2);
    t->touched_session = session_id;
    t->touched_timeout = timeout_ms;
    t->touches++;
}

static void io_event(void *ctx, enum leader_port_event ev, int64_t sid, const char *reason)
{
    struct t *t = ctx;
    (void)sid;
    t->events[ev]++;
    if (ev == LEADER_PORT_LEARNER_DOWN)
        t->last_down = reason;
}

static void pump(struct t *t, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        uv_run(&t->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static void send_packet(struct t *t, int32_t type, int64_t zxid, struct jute_buf data,
                        const struct zk_id *auth, int32_t auth_count)
{
    struct buf b;
    buf_init(&b);
    quorum_packet_encode(&b, type, zxid, data, auth, auth_count);
    CHECK(write(t->fd, b.data, b.len) == (ssize_t)b.len);
    buf_deinit(&b);
}

/* The next packet from the leader; type -100 when none came in time. Its
 * data is copied into `data` (may be NULL). */
static struct zk_quorum_packet recv_packet(struct t *t, struct buf *data)
{
    struct zk_quorum_packet pk = {.type = -100};
    for (int i = 0; i < 3000; i++) {
        size_t n;
        if (quorum_packet_split(t->in.data, t->in.len, QUORUM_MAX_BUFFER_DEFAULT, &n) == 0 &&
            n > 0) {
            struct jute_reader r;
            jute_reader_init(&r, t->in.data, n);
            CHECK(zk_quorum_packet_decode(&r, &pk) == 0);
            if (pk.type == QUORUM_PING) { /* every tick / 2, and when a sync waits */
                int64_t ping_zxid = pk.zxid;
                buf_consume(&t->in, n);
                t->pings++;
                if (!t->ignore_pings) /* Learner.ping: the same zxid, no touches */
                    send_packet(t, QUORUM_PING, ping_zxid, (struct jute_buf){NULL, -1}, NULL, 0);
                continue;
            }
            if (data) {
                buf_clear(data);
                if (pk.data.len > 0)
                    buf_append(data, pk.data.ptr, (size_t)pk.data.len);
            }
            buf_consume(&t->in, n);
            return pk;
        }
        uint8_t chunk[4096];
        ssize_t got = read(t->fd, chunk, sizeof(chunk));
        if (got > 0) {
            buf_append(&t->in, chunk, (size_t)got);
            continue;
        }
        if (got == 0)
            return pk; /* closed */
        pump(t, 1);
    }
    return pk;
}

/* Reads the leader's packets for about `ms` (PINGs answered unless
 * ignore_pings); how many were of `type`. */
static int packets_within(struct t *t, int ms, int32_t type)
{
    int seen = 0;
    for (int i = 0; i < ms; i++) {
        uint8_t chunk[4096];
        ssize_t got = read(t->fd, chunk, sizeof(chunk));
        if (got > 0)
            buf_append(&t->in, chunk, (size_t)got);
        size_t n;
        while (quorum_packet_split(t->in.data, t->in.len, QUORUM_MAX_BUFFER_DEFAULT, &n) == 0 &&
               n > 0) {
            struct jute_reader r;
            struct zk_quorum_packet pk;
            jute_reader_init(&r, t->in.data, n);
            CHECK(zk_quorum_packet_decode(&r, &pk) == 0);
            int32_t pk_type = pk.type;
            int64_t pk_zxid = pk.zxid;
            buf_consume(&t->in, n);
            if (pk_type == type)
                seen++;
            if (pk_type == QUORUM_PING) {
                t->pings++;
                if (!t->ignore_pings)
                    send_packet(t, QUORUM_PING, pk_zxid, (struct jute_buf){NULL, -1}, NULL, 0);
            }
        }
        pump(t, 1);
    }
    return seen;
}

/* The next `n` raw bytes from the leader (a SNAP body), into out. */
static void recv_raw(struct t *t, size_t n, struct buf *out)
{
    buf_clear(out);
    for (int i = 0; i < 200000 && out->len < n; i++) {
        if (t->in.len > 0) {
            size_t take = t->in.len < n - out->len ? t->in.len : n - out->len;
            buf_append(out, t->in.data, take);
            buf_consume(&t->in, take);
            continue;
        }
        uint8_t chunk[65536];
        ssize_t got = read(t->fd, chunk, sizeof(chunk));
        if (got > 0) {
            buf_append(&t->in, chunk, (size_t)got);
            continue;
        }
        if (got == 0)
            break;
        pump(t, 1);
    }
    CHECK_EQ_INT(out->len, n);
}

static bool closed_by_leader(struct t *t)
{
    for (int i = 0; i < 3000; i++) {
        uint8_t chunk[4096];
        ssize_t got = read(t->fd, chunk, sizeof(chunk));
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return true;
        pump(t, 1);
    }
    return false;
}

static void expect(struct t *t, int32_t type, int64_t zxid)
{
    struct zk_quorum_packet pk = recv_packet(t, NULL);
    if (pk.type != type || pk.zxid != zxid)
        fprintf(stderr, "got type %d zxid 0x%llx, want type %d zxid 0x%llx\n", (int)pk.type,
                (unsigned long long)pk.zxid, (int)type, (unsigned long long)zxid);
    CHECK_EQ_INT(pk.type, type);
    CHECK_EQ_INT(pk.zxid, zxid);
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void test_leader_with_one_follower(void)
{
    static struct t t; /* a test's state */
    memset(&t, 0, sizeof(t));
    uv_loop_init(&t.loop);
    buf_init(&t.in);
    t.committed = -1;
    const int64_t voters[] = {1, 2};
    const struct zab_txn history[] = {{ZX(1, 1), jute_buf_of("a", 1)},
                                      {ZX(1, 2), jute_buf_of("b", 1)},
                                      {ZX(1, 3), jute_buf_of("c", 1)}};
    struct leader_port_config cfg = {.my_sid = 1,
                                     .voters = voters,
                                     .voters_len = 2,
                                     .tick_ms = 100,
                                     /* 10 s: a stall of this process on a
                                      * loaded machine must not end the
                                      * handshake or drop the learner */
                                     .init_limit = 100,
                                     .sync_limit = 100,
                                     .host = "127.0.0.1",
                                     .port = 0,
                                     .last_zxid = ZX(1, 3),
                                     .accepted_epoch = 1,
                                     .current_epoch = 1,
                                     .history = history,
                                     .history_len = 3,
                                     .config_text = "server.1=x\nversion=0",
                                     .outstanding_max = 2};
    struct leader_port_io io = {.ctx = &t,
                                .write_epoch = io_write_epoch,
                                .log_append = io_log_append,
                                .commit = io_commit,
                                .snapshot = io_snapshot,
                                .request = io_request,
                                .revalidate = io_revalidate,
                                .touch = io_touch,
                                .local_synced = io_local_synced,
                                .on_event = io_event};
    char err[256];
    CHECK(leader_port_new(&t.loop, &cfg, &io, &t.lp, err, sizeof(err)) == 0);
    CHECK_EQ_INT(t.committed, ZX(1, 3)); /* the history counts as applied */
    CHECK_EQ_INT(leader_port_next_zxid(t.lp), -1);
    CHECK(leader_port_propose(t.lp, ZX(2, 1), (const uint8_t *)"x", 1) == ZAB_ENOTREADY);
    t.fd = dial(leader_port_bound_port(t.lp));

    /* Discovery: FOLLOWERINFO (acceptedEpoch 1) -> epoch 2. */
    struct buf info;
    buf_init(&info);
    jute_write_i64(&info, 2);
    jute_write_i32(&info, QUORUM_PROTOCOL_VERSION);
    jute_write_i64(&info, 0);
    send_packet(&t, QUORUM_FOLLOWERINFO, ZX(1, 0), jute_buf_of(info.data, info.len), NULL, 0);
    struct buf data;
    buf_init(&data);
    struct zk_quorum_packet pk = recv_packet(&t, &data);
    CHECK_EQ_INT(pk.type, QUORUM_LEADERINFO);
    CHECK_EQ_INT(pk.zxid, ZX(2, 0));
    CHECK_EQ_INT(data.len, 4);
    CHECK_EQ_INT(t.accepted, 2);
    CHECK_EQ_INT(t.events[LEADER_PORT_LEARNER_UP], 1);

    /* ACKEPOCH at 0x100000001: DIFF + the two txns after it + NEWLEADER. */
    struct buf i32;
    buf_init(&i32);
    quorum_i32_payload_encode(&i32, 1);
    send_packet(&t, QUORUM_ACKEPOCH, ZX(1, 1), jute_buf_of(i32.data, i32.len), NULL, 0);
    expect(&t, QUORUM_DIFF, ZX(1, 3));
    expect(&t, QUORUM_PROPOSAL, ZX(1, 2));
    expect(&t, QUORUM_COMMIT, ZX(1, 2));
    expect(&t, QUORUM_PROPOSAL, ZX(1, 3));
    expect(&t, QUORUM_COMMIT, ZX(1, 3));
    pk = recv_packet(&t, &data);
    CHECK_EQ_INT(pk.type, QUORUM_NEWLEADER);
    CHECK_EQ_INT(pk.zxid, ZX(2, 0));
    CHECK(data.len == strlen(cfg.config_text) && memcmp(data.data, "server.1=x", 10) == 0);
    CHECK_EQ_INT(t.current, 2);
    CHECK_EQ_INT(t.events[LEADER_PORT_LEARNER_SYNC], 1);

    /* ACK of NEWLEADER: serving, UPTODATE. */
    send_packet(&t, QUORUM_ACK, ZX(2, 0), (struct jute_buf){NULL, -1}, NULL, 0);
    expect(&t, QUORUM_UPTODATE, -1);
    send_packet(&t, QUORUM_ACK, ZX(2, 0), (struct jute_buf){NULL, -1}, NULL, 0); /* of UPTODATE */
    CHECK_EQ_INT(t.events[LEADER_PORT_SERVING], 1);
    CHECK_EQ_INT(t.events[LEADER_PORT_LEARNER_SYNCED], 1);
    CHECK_EQ_INT(leader_port_epoch(t.lp), 2);
    CHECK_EQ_INT(leader_port_next_zxid(t.lp), ZX(2, 1));
    struct leader_port_stats st;
    leader_port_stats(t.lp, &st);
    CHECK_EQ_INT(st.learners, 1);
    CHECK_EQ_INT(st.synced_followers, 1);

    /* A REQUEST whose handler proposes and asks for a sync from inside the
     * callback: PROPOSAL now, SYNC only after the COMMIT. */
    struct buf req;
    buf_init(&req);
    struct quorum_request rq = {
        .session_id = 0x55, .cxid = 7, .type = 1, .request = jute_buf_of("x", 1)};
    quorum_request_encode(&req, &rq);
    struct zk_id ip = {.scheme = jute_cstr("ip"), .id = jute_cstr("127.0.0.1")};
    t.propose_in_request = true;
    send_packet(&t, QUORUM_REQUEST, -1, jute_buf_of(req.data, req.len), &ip, 1);
    pk = recv_packet(&t, &data);
    CHECK_EQ_INT(t.requests, 1);
    CHECK_EQ_INT(pk.type, QUORUM_PROPOSAL);
    CHECK_EQ_INT(pk.zxid, ZX(2, 1));
    CHECK(data.len == 3 && memcmp(data.data, "txn", 3) == 0);
    CHECK_EQ_INT(t.appended_len, 1);
    CHECK_EQ_INT(t.appended[0], ZX(2, 1));
    leader_port_stats(t.lp, &st);
    CHECK_EQ_INT(st.pending_syncs, 1);
    leader_port_persisted(t.lp, ZX(2, 1)); /* our ack alone is no quorum */
    CHECK_EQ_INT(t.committed, ZX(1, 3));
    send_packet(&t, QUORUM_ACK, ZX(2, 1), (struct jute_buf){NULL, -1}, NULL, 0);
    expect(&t, QUORUM_COMMIT, ZX(2, 1));
    expect(&t, QUORUM_SYNC, 0);
    CHECK_EQ_INT(t.committed, ZX(2, 1));
    leader_port_stats(t.lp, &st);
    CHECK_EQ_INT(st.pending_syncs, 0);
    /* Nothing outstanding: a sync goes once the follower answered the PING
     * sent for it (the leader and it are the quorum). */
    int pings = t.pings;
    leader_port_sync(t.lp, 2);
    expect(&t, QUORUM_SYNC, 0);
    CHECK(t.pings > pings);

    /* Linearizable sync (issue 10): with the follower not answering PINGs,
     * neither a learner's sync nor a local one is answered (for 4 ticks
     * here, well within syncLimit). */
    t.ignore_pings = true;
    leader_port_sync(t.lp, 2);
    leader_port_sync(t.lp, LEADER_PORT_SYNC_LOCAL);
    pings = t.pings;
    CHECK_EQ_INT(packets_within(&t, 400, QUORUM_SYNC), 0);
    CHECK(t.pings >= pings + 3); /* a round at once, then every tick / 2 */
    CHECK_EQ_INT(t.local_synced, 0);
    leader_port_stats(t.lp, &st);
    CHECK_EQ_INT(st.pending_syncs, 2);
    /* The follower answers again: both go, the learner's SYNC then the
     * local one (asked for while a round was short of its quorum, it waits
     * for the next round's answer). */
    t.ignore_pings = false;
    expect(&t, QUORUM_SYNC, 0);
    for (int i = 0; i < 1000 && t.local_synced == 0; i++)
        (void)packets_within(&t, 1, QUORUM_SYNC);
    CHECK_EQ_INT(t.local_synced, 1);
    leader_port_stats(t.lp, &st);
    CHECK_EQ_INT(st.pending_syncs, 0);

    /* REVALIDATE: the same packet back, data (sessionId, valid). */
    struct buf rv;
    buf_init(&rv);
    struct quorum_revalidate v = {.session_id = 0x55, .timeout_ms = 30000};
    quorum_revalidate_encode(&rv, &v);
    send_packet(&t, QUORUM_REVALIDATE, -1, jute_buf_of(rv.data, rv.len), NULL, 0);
    pk = recv_packet(&t, &data);
    CHECK_EQ_INT(pk.type, QUORUM_REVALIDATE);
    CHECK_EQ_INT(pk.zxid, -1);
    static const uint8_t valid[9] = {0, 0, 0, 0, 0, 0, 0, 0x55, 1};
    CHECK(data.len == 9 && memcmp(data.data, valid, 9) == 0);

    /* PING with one touched session. */
    struct buf ping;
    buf_init(&ping);
    quorum_ping_append(&ping, 0x55, 4000);
    send_packet(&t, QUORUM_PING, ZX(2, 1), jute_buf_of(ping.data, ping.len), NULL, 0);
    pump(&t, 30);
    CHECK_EQ_INT(t.touches, 1);
    CHECK_EQ_INT(t.touched_session, 0x55);
    CHECK_EQ_INT(t.touched_timeout, 4000);

    /* Five proposals with outstanding_max 2: three wait in the port's queue,
     * and go out in order as the first ones commit. */
    for (int i = 0; i < 5; i++) {
        int64_t zxid = leader_port_next_zxid(t.lp);
        CHECK_EQ_INT(zxid, ZX(2, 2 + i));
        CHECK(leader_port_propose(t.lp, zxid, (const uint8_t *)"q", 1) == 0);
    }
    CHECK(leader_port_propose(t.lp, ZX(2, 99), (const uint8_t *)"q", 1) == ZAB_EINVAL);
    leader_port_stats(t.lp, &st);
    CHECK_EQ_INT(st.queued_proposals, 3);
    CHECK_EQ_INT(leader_port_next_zxid(t.lp), ZX(2, 7));
    expect(&t, QUORUM_PROPOSAL, ZX(2, 2));
    expect(&t, QUORUM_PROPOSAL, ZX(2, 3));
    for (int i = 0; i < 5; i++) {
        leader_port_persisted(t.lp, ZX(2, 2 + i));
        send_packet(&t, QUORUM_ACK, ZX(2, 2 + i), (struct jute_buf){NULL, -1}, NULL, 0);
        expect(&t, QUORUM_COMMIT, ZX(2, 2 + i));
        if (4 + i <= 6) /* room for one more */
            expect(&t, QUORUM_PROPOSAL, ZX(2, 4 + i));
    }
    CHECK_EQ_INT(t.committed, ZX(2, 6));
    CHECK_EQ_INT(t.appended_len, 6);
    for (size_t i = 0; i < t.appended_len; i++)
        CHECK_EQ_INT(t.appended[i], ZX(2, 1 + (int64_t)i));

    /* A PING whose data is no multiple of 12: the learner is dropped, and
     * with one voter of two left, leadership ends at the next check. */
    send_packet(&t, QUORUM_PING, ZX(2, 6), jute_buf_of("12345", 5), NULL, 0);
    CHECK(closed_by_leader(&t));
    CHECK_EQ_INT(t.events[LEADER_PORT_LEARNER_DOWN], 1);
    CHECK(t.last_down && strstr(t.last_down, "PING"));
    for (int i = 0; i < 2000 && !t.events[LEADER_PORT_STOPPED]; i++)
        pump(&t, 1);
    CHECK_EQ_INT(t.events[LEADER_PORT_STOPPED], 1);
    CHECK_EQ_INT(leader_port_next_zxid(t.lp), -1);
    CHECK(leader_port_propose(t.lp, ZX(2, 7), (const uint8_t *)"q", 1) == ZAB_ENOTREADY);

    leader_port_free(t.lp);
    close(t.fd);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&t.loop) == 0);
    buf_deinit(&t.in);
    buf_deinit(&info);
    buf_deinit(&data);
    buf_deinit(&i32);
    buf_deinit(&req);
    buf_deinit(&rv);
    buf_deinit(&ping);
}

/* A leader of {1, 2} with no history at 0x100000003: a follower that says
 * it is at 0x100000001 gets a SNAP. Up to that SNAP packet. */
static void snap_setup(struct t *t, struct leader_port_io *io)
{
    memset(t, 0, sizeof(*t));
    uv_loop_init(&t->loop);
    buf_init(&t->in);
    t->committed = -1;
    static const int64_t voters[] = {1, 2};
    struct leader_port_config cfg = {.my_sid = 1,
                                     .voters = voters,
                                     .voters_len = 2,
                                     .tick_ms = 100,
                                     .init_limit = 50,
                                     .sync_limit = 50,
                                     .host = "127.0.0.1",
                                     .port = 0,
                                     .last_zxid = ZX(1, 3),
                                     .accepted_epoch = 1,
                                     .current_epoch = 1,
                                     .config_text = "server.1=x\nversion=0"};
    *io = (struct leader_port_io){.ctx = t,
                                  .write_epoch = io_write_epoch,
                                  .log_append = io_log_append,
                                  .commit = io_commit,
                                  .snapshot = io_snap_sync,
                                  .snapshot_fork = io_snap_fork,
                                  .on_event = io_event};
    char err[256];
    CHECK(leader_port_new(&t->loop, &cfg, io, &t->lp, err, sizeof(err)) == 0);
    t->fd = dial(leader_port_bound_port(t->lp));
    struct buf b;
    buf_init(&b);
    jute_write_i64(&b, 2);
    jute_write_i32(&b, QUORUM_PROTOCOL_VERSION);
    jute_write_i64(&b, 0);
    send_packet(t, QUORUM_FOLLOWERINFO, ZX(1, 0), jute_buf_of(b.data, b.len), NULL, 0);
    expect(t, QUORUM_LEADERINFO, ZX(2, 0));
    buf_clear(&b);
    quorum_i32_payload_encode(&b, 1);
    send_packet(t, QUORUM_ACKEPOCH, ZX(1, 1), jute_buf_of(b.data, b.len), NULL, 0);
    buf_deinit(&b);
}

static void snap_teardown(struct t *t)
{
    leader_port_free(t->lp);
    close(t->fd);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&t->loop) == 0);
    buf_deinit(&t->in);
}

/* Reaped by the port: no such child any more. */
static bool reaped(pid_t pid)
{
    int status;
    return waitpid(pid, &status, WNOHANG) < 0 && errno == ECHILD;
}

static void test_snap_streamed_from_a_child(void)
{
    static struct t t;
    struct leader_port_io io;
    snap_setup(&t, &io);
    t.snap_len = 12 * 1024 * 1024 + 12345; /* beyond the socket's buffers: the child waits */
    expect(&t, QUORUM_SNAP, ZX(1, 3));
    CHECK_EQ_INT(t.snap_forks, 1);
    CHECK_EQ_INT(t.snap_syncs, 0);
    struct buf body, want;
    buf_init(&body);
    buf_init(&want);
    recv_raw(&t, t.snap_len, &body);
    io_snap_sync(&t, &want); /* what the synchronous path gives */
    CHECK(body.len == want.len && memcmp(body.data, want.data, want.len) == 0);
    recv_raw(&t, 14, &body);
    CHECK(memcmp(body.data,
                 "\0\0\0\x0a"
                 "BenWasHere",
                 14) == 0);
    /* NEWLEADER was held behind the body; then the rest as ever. */
    expect(&t, QUORUM_NEWLEADER, ZX(2, 0));
    CHECK(reaped(t.snap_pid));
    send_packet(&t, QUORUM_ACK, ZX(2, 0), (struct jute_buf){NULL, -1}, NULL, 0);
    expect(&t, QUORUM_UPTODATE, -1);
    for (int i = 0; i < 1000 && !t.events[LEADER_PORT_SERVING]; i++)
        pump(&t, 1);
    CHECK_EQ_INT(t.events[LEADER_PORT_SERVING], 1);
    /* Serving: a proposal reaches the learner right after. */
    CHECK(leader_port_propose(t.lp, ZX(2, 1), (const uint8_t *)"p", 1) == 0);
    expect(&t, QUORUM_PROPOSAL, ZX(2, 1));
    buf_deinit(&body);
    buf_deinit(&want);
    snap_teardown(&t);
    CHECK_EQ_INT(t.snap_syncs, 1); /* the comparison's only */
}

static void test_snap_learner_gone_mid_stream(void)
{
    static struct t t;
    struct leader_port_io io;
    snap_setup(&t, &io);
    t.snap_len = (size_t)1 << 30; /* never read to the end */
    expect(&t, QUORUM_SNAP, ZX(1, 3));
    CHECK_EQ_INT(t.snap_forks, 1);
    pump(&t, 200); /* the learner reads nothing: the child waits on the full socket */
    CHECK(!reaped(t.snap_pid));
    close(t.fd);
    t.fd = -1;
    for (int i = 0; i < 3000 && !t.events[LEADER_PORT_LEARNER_DOWN]; i++)
        pump(&t, 1);
    CHECK_EQ_INT(t.events[LEADER_PORT_LEARNER_DOWN], 1);
    CHECK(reaped(t.snap_pid));
    struct leader_port_stats st;
    leader_port_stats(t.lp, &st);
    CHECK_EQ_INT(st.connections, 0);
    snap_teardown(&t);
}

int main(void)
{
    test_leader_with_one_follower();
    test_snap_streamed_from_a_child();
    test_snap_learner_gone_mid_stream();
    return check_result("test_leader_port");
}
