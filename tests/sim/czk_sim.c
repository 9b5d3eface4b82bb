/* SPDX-License-Identifier: Apache-2.0 */
/* czk_sim.c — the deterministic simulator (`czk-sim`): 3, 5 or 7 voters (and
 * 0-2 observers) each running the real src/zab/fle.c, src/zab/zab.c and a
 * src/server (prep, apply, tree, sessions, snapshots, recovery), with client
 * sessions on them, every message encoded and decoded by src/proto, over a
 * simulated network, disk and clock driven by one seeded PRNG. Checks the
 * ensemble's and the clients' invariants after every step (and the
 * ephemerals and session expiry, sync + read, every 100 ms). What is real, what
 * is simulated and how to replay: docs/ARCHITECTURE.md, "Simulation". */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "proto/election.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/quorum.h"
#include "proto/records.h"
#include "server/server.h"
#include "server/server_int.h"
#include "session/session.h"
#include "tree/tree.h"
#include "zab/fle.h"
#include "zab/zab.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_MEMBERS_MAX   9    /* 7 voters and 2 observers */
#define SIM_LINK_MAX      1024 /* packets in flight on one link: a full one resets it */
#define SIM_TICK_MS       100
#define SIM_INIT_LIMIT    10
#define SIM_SYNC_LIMIT    5
#define SIM_COMMITTED_LOG 32 /* small, so that learners behind it get SNAP */
#define SIM_OUTSTANDING   64
#define SIM_STEPS_DEFAULT 40000
#define SIM_CALM_MS       15000 /* the last stretch: no new faults, everything heals */
#define SIM_STABLE_MS     12000 /* a calm run has one leader with every member by then */
#define SIM_COMMIT_MS     3000  /* and its proposals commit within this */
#define SIM_SEEDS         12
#define SIM_DISC_MAX      512
#define SIM_CLIENTS       3    /* client sessions per run */
#define SIM_PATHS         4    /* znodes per client: /c<k>-<j>, written by client k only */
#define SIM_CLIENT_OUT    4    /* requests a client pipelines */
#define SIM_REQUEST_MS    4000 /* a client gives a connection up after this without a reply */
#define SIM_WALL_BASE_MS  INT64_C(1700000000000)
#define SIM_SESSION_MS    8000 /* the clients' session timeout */
#define SIM_EPHEMERALS    2    /* ephemeral znodes per client: /e<k>-<j>, made by its sessions */
#define SIM_SYNCS         64 /* syncs a leader holds for ZAB (more: dropped, the client times out) */
#define SIM_EXPIRE_BY_MS  13000 /* a leader serving this long expired what was abandoned before */
#define SIM_ACTIVE_MS     2000  /* a client answered this recently keeps its session (calm) */
#define SIM_MODEL_EVERY   100   /* ms between checks of the members' ephemerals */

enum sim_planted {
    SIM_PLANTED_NONE,
    SIM_PLANTED_ZAB_ONE_ACK,   /* ZAB commits (and counts a NEWLEADER quorum) on one ack */
    SIM_PLANTED_FLE_ONE_VOTE,  /* FLE decides on one vote */
    SIM_PLANTED_APPLY_SKIP,    /* m2 skips applying some committed setData txns to its tree */
    SIM_PLANTED_ACK_AT_APPEND, /* a leader applies and answers its txns once logged, not committed
                                */
    SIM_PLANTED_NO_TOUCH,      /* the leader ignores the sessions its learners' PINGs report */
    SIM_PLANTED_SYNC_LOCAL,    /* a learner answers its clients' syncs at once, as reads */
    SIM_PLANTED_SYNC_AT_ONCE,  /* the leader answers syncs at once: no commit, no quorum round */
};

enum sim_kind {
    SIM_ELECTION,
    SIM_QUORUM,
};

struct sim_packet {
    int64_t at;
    uint64_t gen;
    uint8_t *bytes;
    size_t len;
};

/* One direction of one connection kind between two members: a FIFO, as TCP. */
struct sim_link {
    struct sim_packet *q;
    size_t head, len;
    int64_t last_at;
    int64_t slow_until, slow_ms;
};

/* A connection between two members (one per kind and pair). Packets carry the
 * generation they were sent on; a reset or a new connection bumps it. */
struct sim_conn {
    uint64_t gen;
    bool alive;
    int64_t opened_at;
};

/* A logged txn: TxnHeader + body exactly as src/server made it. */
struct sim_entry {
    int64_t zxid;
    uint64_t digest; /* of the history up to and including this txn */
    int64_t client_id;
    int32_t cxid, type;
    uint8_t *data; /* owned by the log (NULL in G) */
    size_t len;
};

/* zxid -> digest, as first seen (a history's or a tree's). */
struct sim_dmap {
    int64_t *zxid;
    uint64_t *digest;
    size_t cap, len;
};

/* What a client knows of one of its own znodes from its replies. */
struct sim_path_state {
    bool known, exists;
    int64_t mzxid;
    uint8_t data[8];
};

struct sim_req {
    int32_t xid, type;
    int path;  /* a multi: setData of path and path + 1; SIM_PATHS + j: /e<k>-<j> */
    int owner; /* whose znode /c<owner>-<path> is: the client itself, but for sync + read */
    uint8_t data[8];
    /* sync + read (owner != the client): when the sync was sent, the
     * highest zxid acknowledged to any client, and what the acks said of
     * the znode last */
    int64_t floor;
    struct sim_path_state seen;
};

/* A client session: one connection at a time to one serving member, through
 * the member's real struct server (handshake, requests, replies). */
struct sim_client {
    int member; /* -1: not connected */
    int last_member;
    uint64_t conn;
    bool handshake;
    int64_t since, connect_at;
    int64_t session;
    int32_t next_xid;
    struct sim_req out[SIM_CLIENT_OUT];
    size_t out_head, out_len;
    int64_t last_write_zxid, last_seen_zxid;
    int64_t heard_at; /* its session's last answer (not SESSIONEXPIRED / MOVED) */
    struct sim_path_state paths[SIM_PATHS];
};

/* A sync the leader's server asked for (io.learner_sync), as src/node's
 * leader_port keeps them: handed to ZAB as ZAB_SYNC_REQUEST, answered in
 * order when ZAB releases its token. */
struct sim_sync {
    int64_t sid;  /* a learner's, or SERVER_SYNC_LOCAL */
    uint64_t gen; /* the learner's quorum connection then */
    int64_t target;
    uint64_t token;
};

/* The committed sequence read as ZooKeeper's semantics: per ephemeral znode
 * its creates (zxid, owner), per session its closeSession. */
struct sim_zlist {
    int64_t *zxid, *who;
    size_t len, cap;
};

/* An acknowledged write: its txn must be in G at zxid. */
struct sim_ack {
    int client;
    int64_t zxid, session;
    int32_t xid;
};

/* A member's disk: the txn log (durable up to durable_len), the snapshot it
 * starts from (base), the epoch files, the log thread's one fsync in flight. */
struct sim_disk {
    struct sim_entry *log;
    size_t log_len, log_cap, durable_len;
    int64_t base;
    uint64_t base_digest;
    int64_t accepted, current;
    bool sync_pending;
    size_t sync_len;
    int64_t sync_at;
    int64_t slow_until;
    int64_t full_until;
};

struct sim;

struct sim_member {
    struct sim *sim;
    int index;
    struct server *srv;   /* the real request stages and tree; NULL while down */
    struct buf base_body; /* the snapshot at d.base: its body as server_snapshot_write made it */
    struct buf snap_body; /* a SNAP's body on its way in */
    struct buf props;     /* io.log_append: (zxid, len, txn)* not yet given to ZAB */
    size_t props_off;
    uint64_t closing[SIM_CLIENTS]; /* io.close: connections to close after the call */
    size_t closing_len;
    bool flushing;
    bool serving;
    int64_t sid;
    bool up;
    int64_t restart_at;
    /* local clock = simulated time * (1000 + clock_rate_pm) / 1000 + offset:
     * it runs fast or slow, and only jumps forward */
    int64_t clock_offset_ms;
    int64_t clock_rate_pm;
    int64_t paused_until; /* a VM pause: the member does nothing until then */
    struct fle fle;
    struct zab zab;
    int64_t fle_deadline, zab_deadline; /* local time; -1: none */
    int64_t serving_since;              /* simulated time it became serving */
    struct sim_sync syncs[SIM_SYNCS];   /* the leader's, request order */
    size_t syncs_head, syncs_len, syncs_stepped;
    uint64_t next_sync_token;
    int local_syncs; /* SIM_PLANTED_SYNC_LOCAL: syncs this learner answers itself */
    /* EIO on a log write or fsync: the node stops (a failed fsync is fatal,
     * never retried) at its next timers, losing the unsynced tail */
    bool eio;
    /* The log refused an append (a full disk): every later one too, until
     * the role ends at log_failed_at, as src/node's log writer does. */
    bool log_failed;
    int64_t log_failed_at;
    struct sim_disk d;
    size_t applied_len; /* log entries applied to the tree (the base always is) */
    int64_t commit_zxid;
    size_t commit_g; /* its committed sequence is G[0..commit_g) */
    uint32_t heard[SIM_MEMBERS_MAX];
    bool side; /* which side of a partition */
    bool snap_ready;
    int64_t snap_zxid;
    uint64_t snap_digest;                 /* of the history */
    uint8_t last_e[SIM_MEMBERS_MAX][768]; /* the peer port's last message to each member */
    size_t last_e_len[SIM_MEMBERS_MAX];
    int64_t resend_at[SIM_MEMBERS_MAX];
};

struct sim_disc {
    int64_t at;
    int member;
    int peer;
    uint64_t gen;
};

struct sim_stats {
    long commits, acks, elections, crashes, drops, partitions, snaps, truncs, diffs, jumps,
        refusals, proposals, packets, replies, reads, connects, connlosses, pauses, closes, eios,
        ephemerals, syncs, syncreads, expired, early_decisions, rollovers, rolled;
};

struct sim {
    uint64_t seed, rng;
    int n;  /* members: voters 1..nv, then observers */
    int nv; /* voters */
    int64_t voters[SIM_MEMBERS_MAX];
    enum sim_planted planted;
    bool verbose;
    bool raw_server_free;
    bool pipeline_after_sync; /* clients pipeline behind a sync + read (the default) */
    /* --apache-learners: learners introduce themselves as Apache's do
     * (LearnerInfo without czk's trailer), so a leader steps down at the
     * zxid counter's roll-over instead of starting the next epoch in place */
    bool apache_learners;
    int64_t counter_start; /* --counter-start: each epoch's first zxid counter (0: 1) */
    int64_t steps, calm_at, now;
    struct sim_member m[SIM_MEMBERS_MAX];
    struct sim_link link[2][SIM_MEMBERS_MAX][SIM_MEMBERS_MAX];
    struct sim_conn conn[2][SIM_MEMBERS_MAX][SIM_MEMBERS_MAX]; /* [kind][lo][hi] */
    bool partitioned;
    int64_t partition_until;
    int full_member; /* the member whose disk may fill, -1: none */
    struct sim_disc disc[SIM_DISC_MAX];
    size_t disc_len;
    /* G: the one committed sequence every member's committed txns are a prefix of. */
    struct sim_entry *g;
    size_t g_len, g_cap;
    struct sim_dmap history; /* zxid -> digest of the history up to it */
    struct sim_dmap trees;   /* zxid -> digest of a tree that applied up to it */
    struct sim_client c[SIM_CLIENTS];
    struct sim_ack *acked;
    size_t acked_len, acked_cap, acked_checked;
    int64_t ack_max; /* the highest zxid acked to any client */
    struct sim_path_state acked_state[SIM_CLIENTS][SIM_PATHS]; /* all clients' acks say */
    struct sim_zlist eph_creates[SIM_CLIENTS][SIM_EPHEMERALS]; /* zxid, owner session */
    struct sim_zlist closed;                                   /* zxid, session */
    struct sim_zlist abandoned;                                /* ms, session */
    uint64_t next_conn;
    /* epoch → the member that established it as leader */
    int64_t epoch_leader[4096];
    int64_t epoch_of_leader[4096];
    size_t epochs_len;
    uint64_t next_txn_id;
    int64_t last_ack_at, stable_at;
    int64_t rollover_at; /* the last leader's step-down at the counter's roll-over; -1 */
    bool failed;
    char why[512];
    uint64_t trace;
    struct sim_stats st;
    struct buf body, frame, fwd, req;
    char config_text[640];
};

/* ---- randomness, trace, failure ---- */

static uint64_t sim_rand(struct sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int64_t sim_between(struct sim *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(sim_rand(s) % (uint64_t)(hi - lo + 1));
}

static bool sim_chance(struct sim *s, uint32_t per_million)
{
    return sim_rand(s) % 1000000 < per_million;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

static void sim_trace(struct sim *s, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sim_trace(struct sim *s, int i, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    s->trace = mix(s->trace, (uint64_t)s->now);
    s->trace = mix(s->trace, (uint64_t)i);
    for (const char *p = line; *p; p++)
        s->trace = mix(s->trace, (uint8_t)*p);
    if (s->verbose)
        printf("%7" PRId64 " m%d %s\n", s->now, i + 1, line);
}

static void sim_fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sim_fail(struct sim *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = true;
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(s->why, sizeof(s->why), "t=%" PRId64 " ms: %s", s->now, what);
}

static bool planted_one(void *arg, const int64_t *sids, size_t n)
{
    (void)arg, (void)sids;
    return n >= 1;
}

static int64_t local_now(const struct sim *s, int i)
{
    const struct sim_member *m = &s->m[i];
    return s->now + s->now * m->clock_rate_pm / 1000 + m->clock_offset_ms;
}

static bool paused(const struct sim *s, int i)
{
    return s->m[i].paused_until > s->now;
}

static int quorum(const struct sim *s)
{
    return s->nv / 2 + 1;
}

/* ---- the disk ---- */

static int64_t last_zxid(const struct sim_member *m)
{
    return m->d.log_len ? m->d.log[m->d.log_len - 1].zxid : m->d.base;
}

static int64_t applied_zxid(const struct sim_member *m)
{
    return m->applied_len ? m->d.log[m->applied_len - 1].zxid : m->d.base;
}

static uint64_t last_digest(const struct sim_member *m)
{
    return m->d.log_len ? m->d.log[m->d.log_len - 1].digest : m->d.base_digest;
}

/* The log index of zxid, or -1. */
static long log_find(const struct sim_member *m, int64_t zxid)
{
    size_t lo = 0, hi = m->d.log_len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->d.log[mid].zxid < zxid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->d.log_len && m->d.log[lo].zxid == zxid ? (long)lo : -1;
}

/* The digest of a member's history at zxid (its base or a logged txn), or false. */
static bool digest_at(const struct sim_member *m, int64_t zxid, uint64_t *out)
{
    if (zxid == m->d.base) {
        *out = m->d.base_digest;
        return true;
    }
    long k = log_find(m, zxid);
    if (k < 0)
        return false;
    *out = m->d.log[k].digest;
    return true;
}

/* Equal zxid, equal digest: the first digest seen for a zxid is the one. */
static void check_digest(struct sim *s, struct sim_dmap *map, int i, int64_t zxid, uint64_t digest,
                         const char *what, const char *where)
{
    if (zxid == 0)
        return;
    if (map->len * 2 >= map->cap) {
        size_t cap = map->cap ? map->cap * 2 : 4096;
        int64_t *z = mem_calloc(cap, sizeof(*z));
        uint64_t *d = mem_calloc(cap, sizeof(*d));
        for (size_t k = 0; k < map->cap; k++) {
            if (!map->zxid[k])
                continue;
            size_t h = (size_t)mix(0, (uint64_t)map->zxid[k]) & (cap - 1);
            while (z[h])
                h = (h + 1) & (cap - 1);
            z[h] = map->zxid[k];
            d[h] = map->digest[k];
        }
        mem_free(map->zxid);
        mem_free(map->digest);
        map->zxid = z;
        map->digest = d;
        map->cap = cap;
    }
    size_t h = (size_t)mix(0, (uint64_t)zxid) & (map->cap - 1);
    while (map->zxid[h] && map->zxid[h] != zxid)
        h = (h + 1) & (map->cap - 1);
    if (!map->zxid[h]) {
        map->zxid[h] = zxid;
        map->digest[h] = digest;
        map->len++;
    } else if (map->digest[h] != digest) {
        sim_fail(s, "m%d %s zxid 0x%" PRIx64 " with a %s that differs from another member's", i + 1,
                 where, (uint64_t)zxid, what);
    }
}

static void dmap_free(struct sim_dmap *map)
{
    mem_free(map->zxid);
    mem_free(map->digest);
}

static void disk_append(struct sim_member *m, int64_t zxid, const uint8_t *data, size_t len)
{
    if (m->d.log_len == m->d.log_cap) {
        m->d.log_cap = m->d.log_cap ? 2 * m->d.log_cap : 256;
        m->d.log = mem_realloc(m->d.log, m->d.log_cap * sizeof(*m->d.log));
    }
    struct sim_entry *e = &m->d.log[m->d.log_len];
    uint64_t d = mix(last_digest(m), (uint64_t)zxid);
    for (size_t k = 0; k < len; k++)
        d = mix(d, data[k]);
    struct jute_reader r;
    struct zk_txn_header h = {0};
    jute_reader_init(&r, data, len);
    if (zk_txn_header_decode(&r, &h) != 0)
        h.type = ZK_OP_ERROR - 100; /* checked by the caller: the server never makes one */
    e->zxid = zxid;
    e->digest = d;
    e->client_id = h.client_id;
    e->cxid = h.cxid;
    e->type = h.type;
    e->data = mem_alloc(len ? len : 1);
    memcpy(e->data, data, len);
    e->len = len;
    m->d.log_len++;
}

/* The log keeps its first `len` entries. */
static void disk_cut(struct sim_member *m, size_t len)
{
    while (m->d.log_len > len)
        mem_free(m->d.log[--m->d.log_len].data);
    if (m->d.durable_len > len)
        m->d.durable_len = len;
    if (m->applied_len > len)
        m->applied_len = len;
}

static void disk_sync_start(struct sim *s, int i)
{
    struct sim_member *m = &s->m[i];
    if (m->d.sync_pending || m->d.log_len == m->d.durable_len)
        return;
    m->d.sync_pending = true;
    m->d.sync_len = m->d.log_len;
    bool slow = m->d.slow_until > s->now;
    m->d.sync_at = s->now + (slow ? sim_between(s, 100, 600) : sim_between(s, 1, 8));
}

/* The log thread drains (START comes after it, and after a truncation). */
static void disk_drain(struct sim_member *m)
{
    m->d.durable_len = m->d.log_len;
    m->d.sync_pending = false;
}

/* ---- the committed sequence ---- */

static void zlist_add(struct sim_zlist *l, int64_t zxid, int64_t who)
{
    if (l->len == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->zxid = mem_realloc(l->zxid, l->cap * sizeof(*l->zxid));
        l->who = mem_realloc(l->who, l->cap * sizeof(*l->who));
    }
    l->zxid[l->len] = zxid;
    l->who[l->len++] = who;
}

static void zlist_free(struct sim_zlist *l)
{
    mem_free(l->zxid);
    mem_free(l->who);
}

/* The zxid of session's closeSession in G, or INT64_MAX. */
static int64_t closed_at(const struct sim *s, int64_t session)
{
    for (size_t k = 0; k < s->closed.len; k++)
        if (s->closed.who[k] == session)
            return s->closed.zxid[k];
    return INT64_MAX;
}

/* "/c<k>-<j>" or "/e<k>-<j>" of the sim's clients: its kind, k and j. */
static bool parse_path(struct jute_buf p, char *kind, int *k, int *j)
{
    char path[32];
    if (p.len <= 0 || (size_t)p.len >= sizeof(path))
        return false;
    memcpy(path, p.ptr, (size_t)p.len);
    path[p.len] = 0;
    char tail;
    if (sscanf(path, "/%c%d-%d%c", kind, k, j, &tail) != 3 || *k < 0 || *k >= SIM_CLIENTS || *j < 0)
        return false;
    return (*kind == 'c' && *j < SIM_PATHS) || (*kind == 'e' && *j < SIM_EPHEMERALS);
}

static bool client_active(const struct sim *s, int k);
static int stable_leader(const struct sim *s);

/* A txn joins G: what it does to the sim's znodes and sessions. */
static void model_commit(struct sim *s, const struct sim_entry *e)
{
    struct jute_reader r;
    struct zk_txn_header h;
    jute_reader_init(&r, e->data, e->len);
    if (zk_txn_header_decode(&r, &h) != 0)
        return;
    char kind;
    int k, j;
    if (h.type == ZK_OP_CREATE) {
        struct zk_create_txn ct;
        if (zk_create_txn_decode(&r, &ct) == 0 && parse_path(ct.path, &kind, &k, &j)) {
            if ((kind == 'e') != ct.ephemeral)
                sim_fail(s, "0x%" PRIx64 " creates %.*s %s", (uint64_t)e->zxid, ct.path.len,
                         (const char *)ct.path.ptr, ct.ephemeral ? "ephemeral" : "persistent");
            if (kind == 'e')
                zlist_add(&s->eph_creates[k][j], e->zxid, h.client_id);
        }
    } else if (h.type == ZK_OP_DELETE) {
        struct zk_delete_txn dt;
        if (zk_delete_txn_decode(&r, &dt) == 0 && parse_path(dt.path, &kind, &k, &j) && kind == 'e')
            sim_fail(s, "0x%" PRIx64 " deletes an ephemeral znode no client deletes",
                     (uint64_t)e->zxid);
    } else if (h.type == ZK_OP_CLOSE_SESSION) {
        zlist_add(&s->closed, e->zxid, h.client_id);
        /* A client answered in the last SIM_ACTIVE_MS keeps its session:
         * its member touched it, and (calm, one leader) the leader heard. */
        for (int c = 0; c < SIM_CLIENTS; c++)
            if (s->c[c].session == h.client_id && client_active(s, c))
                sim_fail(s,
                         "0x%" PRIx64 " closes client %d's session 0x%" PRIx64 ", answered %" PRId64
                         " ms ago",
                         (uint64_t)e->zxid, c, (uint64_t)h.client_id, s->now - s->c[c].heard_at);
    }
}

static size_t g_upper(const struct sim *s, int64_t zxid)
{
    size_t lo = 0, hi = s->g_len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->g[mid].zxid <= zxid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool durable_has(const struct sim_member *m, const struct sim_entry *e)
{
    if (e->zxid <= m->d.base)
        return true; /* the snapshot: a prefix of G (checked when committed) */
    long k = log_find(m, e->zxid);
    return k >= 0 && (size_t)k < m->d.durable_len && m->d.log[k].digest == e->digest;
}

/* A serving member's committed sequence moves to upto: the same as G's. */
static void sim_commit(struct sim *s, int i, int64_t upto)
{
    struct sim_member *m = &s->m[i];
    if (m->d.base > m->commit_zxid) {
        size_t k = g_upper(s, m->d.base);
        if (k == 0 || s->g[k - 1].zxid != m->d.base || s->g[k - 1].digest != m->d.base_digest ||
            k < m->commit_g)
            sim_fail(s,
                     "m%d: a snapshot at 0x%" PRIx64 " that is not a prefix of the committed "
                     "sequence",
                     i + 1, (uint64_t)m->d.base);
        m->commit_g = k;
        m->commit_zxid = m->d.base;
    }
    bool leading = m->zab.role == ZAB_LEADING;
    for (size_t k = 0; k < m->d.log_len && !s->failed; k++) {
        const struct sim_entry *e = &m->d.log[k];
        if (e->zxid <= m->commit_zxid)
            continue;
        if (e->zxid > upto)
            break;
        if (m->commit_g < s->g_len) {
            if (s->g[m->commit_g].zxid != e->zxid || s->g[m->commit_g].digest != e->digest)
                sim_fail(s, "m%d: committed prefixes differ at 0x%" PRIx64 " (G has 0x%" PRIx64 ")",
                         i + 1, (uint64_t)e->zxid, (uint64_t)s->g[m->commit_g].zxid);
        } else {
            if (s->g_len && s->g[s->g_len - 1].zxid >= e->zxid)
                sim_fail(s, "m%d: committed zxids do not increase", i + 1);
            if (s->g_len == s->g_cap) {
                s->g_cap = s->g_cap ? 2 * s->g_cap : 1024;
                s->g = mem_realloc(s->g, s->g_cap * sizeof(*s->g));
            }
            s->g[s->g_len] = *e;
            s->g[s->g_len].data = NULL;
            s->g_len++;
            model_commit(s, e);
            s->st.commits++;
            s->st.closes += e->type == ZK_OP_CLOSE_SESSION;
        }
        if (leading) {
            int copies = 0;
            for (int v = 0; v < s->nv; v++) /* observers' copies do not count */
                copies += durable_has(&s->m[v], e);
            if (copies < quorum(s))
                sim_fail(s, "m%d committed 0x%" PRIx64 " with %d durable copies", i + 1,
                         (uint64_t)e->zxid, copies);
        }
        m->commit_g++;
        m->commit_zxid = e->zxid;
    }
}

/* ---- the members' servers: the real request stages, tree and recovery ---- */

static int sim_zab_step(struct sim *s, int i, const struct zab_event *ev);
static void member_flush(struct sim *s, int i);
static struct sim_conn *conn_of(struct sim *s, enum sim_kind kind, int a, int b);
static void link_push(struct sim *s, enum sim_kind kind, int from, int to, const uint8_t *bytes,
                      size_t len);
static void client_lost(struct sim *s, int k, const char *why);

/* A digest of a member's real tree: every node's path, data and persisted
 * stat (all deterministic: times come from the TxnHeader), combined
 * independently of the order children are kept in. */
static uint64_t tree_digest(const struct tree *t)
{
    uint64_t sum = mix(0, (uint64_t)tree_node_count(t));
    const struct tree_node *root = tree_get(t, "/", 1);
    if (!root)
        return sum;
    const struct tree_node **stack = mem_alloc((tree_node_count(t) + 1) * sizeof(*stack));
    size_t len = 0;
    stack[len++] = root;
    while (len) {
        const struct tree_node *n = stack[--len];
        uint64_t h = 0x51;
        for (uint32_t k = 0; k < n->path_len; k++)
            h = mix(h, (uint8_t)n->path[k]);
        h = mix(h, (uint64_t)(int64_t)n->data_len);
        for (int32_t k = 0; k < n->data_len; k++)
            h = mix(h, n->data[k]);
        const struct zk_stat_persisted *st = &n->stat;
        h = mix(h, (uint64_t)st->czxid);
        h = mix(h, (uint64_t)st->mzxid);
        h = mix(h, (uint64_t)st->ctime);
        h = mix(h, (uint64_t)st->mtime);
        h = mix(h, (uint64_t)(uint32_t)st->version);
        h = mix(h, (uint64_t)(uint32_t)st->cversion);
        h = mix(h, (uint64_t)(uint32_t)st->aversion);
        h = mix(h, (uint64_t)st->ephemeral_owner);
        h = mix(h, (uint64_t)st->pzxid);
        h = mix(h, n->child_count);
        sum += h;
        for (uint32_t k = 0; k < n->child_count && len <= tree_node_count(t); k++)
            stack[len++] = n->children[k];
    }
    mem_free(stack);
    return sum;
}

/* Equal zxid, equal tree: checked wherever a tree stands at a zxid. */
static void check_tree(struct sim *s, int i, const char *where)
{
    const struct sim_member *m = &s->m[i];
    check_digest(s, &s->trees, i, server_last_zxid(m->srv), tree_digest(&m->srv->tree), "tree",
                 where);
}

static void io_send(void *ctx, uint64_t conn, const uint8_t *frame, size_t len);

static void io_close(void *ctx, uint64_t conn)
{
    struct sim_member *m = ctx;
    if (m->closing_len < SIM_CLIENTS)
        m->closing[m->closing_len++] = conn;
}

static void io_log_append(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct sim_member *m = ctx;
    jute_write_i64(&m->props, zxid);
    jute_write_i32(&m->props, (int32_t)len);
    buf_append(&m->props, txn, len);
}

static int64_t io_wall_ms(void *ctx)
{
    struct sim_member *m = ctx;
    return SIM_WALL_BASE_MS + local_now(m->sim, m->index);
}

/* A learner forwards a client's write (and revalidations) on its quorum
 * connection to the leader, as a REQUEST packet. */
static void io_forward(void *ctx, const uint8_t *data, size_t len, const struct zk_id *auth,
                       size_t auth_len)
{
    struct sim_member *m = ctx;
    struct sim *s = m->sim;
    int l = (int)m->zab.leader_sid - 1;
    if (!m->serving || m->zab.role == ZAB_LEADING || l < 0 || l >= s->n)
        return;
    if (s->planted == SIM_PLANTED_SYNC_LOCAL && len >= 16 &&
        (int32_t)be32_get(data + 12) == ZK_OP_SYNC) {
        m->local_syncs++; /* the bug: answered here, after this call */
        return;
    }
    buf_clear(&s->fwd);
    quorum_packet_encode(&s->fwd, QUORUM_REQUEST, 0, jute_buf_of(data, len), auth,
                         (int32_t)auth_len);
    link_push(s, SIM_QUORUM, m->index, l, s->fwd.data, s->fwd.len);
}

static void io_revalidate(void *ctx, int64_t session_id, int32_t timeout_ms)
{
    struct sim_member *m = ctx;
    struct sim *s = m->sim;
    int l = (int)m->zab.leader_sid - 1;
    if (!m->serving || m->zab.role == ZAB_LEADING || l < 0 || l >= s->n)
        return;
    struct buf body;
    buf_init(&body);
    jute_write_i64(&body, session_id);
    jute_write_i32(&body, timeout_ms);
    buf_clear(&s->fwd);
    quorum_packet_encode(&s->fwd, QUORUM_REVALIDATE, 0, jute_buf_of(body.data, body.len), NULL, 0);
    buf_deinit(&body);
    link_push(s, SIM_QUORUM, m->index, l, s->fwd.data, s->fwd.len);
}

/* The leader's server asks for a sync (a learner's, or one of its own
 * clients'): it waits for the last txn stamped so far (proposed, or made by
 * prep and not given to ZAB yet), as src/node's leader_port_sync. */
static void io_learner_sync(void *ctx, int64_t sid)
{
    struct sim_member *m = ctx;
    struct sim *s = m->sim;
    if (!m->serving || m->zab.role != ZAB_LEADING || m->syncs_len == SIM_SYNCS)
        return;                        /* never answered: the client times out */
    int64_t target = m->zab.last_zxid; /* proposed, or the history (committed) */
    for (size_t off = m->props_off; off < m->props.len;) {
        target = (int64_t)be64_get(m->props.data + off);
        off += 12 + be32_get(m->props.data + off + 8);
    }
    uint64_t gen = 0;
    if (sid != SERVER_SYNC_LOCAL && sid >= 1 && sid <= s->n)
        gen = conn_of(s, SIM_QUORUM, m->index, (int)sid - 1)->gen;
    m->syncs[(m->syncs_head + m->syncs_len++) % SIM_SYNCS] =
        (struct sim_sync){sid, gen, target, m->next_sync_token++};
}

static void syncs_clear(struct sim_member *m)
{
    m->syncs_head = m->syncs_len = m->syncs_stepped = 0;
    m->local_syncs = 0;
}

/* ZAB released these syncs: answer them in order, a learner's with a SYNC
 * packet on the connection it came on, the leader's own client's with
 * server_sync_done. */
static void answer_syncs(struct sim *s, int i, const uint64_t *tokens, size_t n)
{
    struct sim_member *m = &s->m[i];
    uint64_t copy[SIM_SYNCS];
    if (n > SIM_SYNCS) {
        sim_fail(s, "m%d: ZAB released %zu syncs, %zu were asked", i + 1, n, m->syncs_stepped);
        return;
    }
    memcpy(copy, tokens, n * sizeof(*copy)); /* the next step reuses ZAB's array */
    for (size_t k = 0; k < n && m->up && !s->failed; k++) {
        const struct sim_sync *q = &m->syncs[m->syncs_head];
        if (m->syncs_stepped == 0 || q->token != copy[k]) {
            sim_fail(s, "m%d: ZAB released sync %" PRIu64 " out of order", i + 1, copy[k]);
            return;
        }
        struct sim_sync y = *q;
        m->syncs_head = (m->syncs_head + 1) % SIM_SYNCS;
        m->syncs_len--;
        m->syncs_stepped--;
        sim_trace(s, i, "sync %" PRIu64 " of sid %" PRId64 " answered", y.token, y.sid);
        if (y.sid == SERVER_SYNC_LOCAL) {
            server_sync_done(m->srv, local_now(s, i));
            member_flush(s, i);
        } else if (y.sid >= 1 && y.sid <= s->n &&
                   conn_of(s, SIM_QUORUM, i, (int)y.sid - 1)->gen == y.gen) {
            buf_clear(&s->fwd);
            quorum_packet_encode(&s->fwd, QUORUM_SYNC, 0, (struct jute_buf){NULL, -1}, NULL, 0);
            link_push(s, SIM_QUORUM, i, (int)y.sid - 1, s->fwd.data, s->fwd.len);
        }
    }
}

/* After every call into a server: its txns go to ZAB in order (the leader
 * proposes what prep made), then the syncs it asked for, and the
 * connections it closed are closed. */
static void member_flush(struct sim *s, int i)
{
    struct sim_member *m = &s->m[i];
    if (m->flushing)
        return;
    m->flushing = true;
    bool held = false; /* ZAB_EBUSY: the next epoch's first txn waits for the roll-over */
    while (m->up && !s->failed &&
           ((!held && m->props_off < m->props.len) || m->closing_len ||
            m->syncs_stepped < m->syncs_len || m->local_syncs)) {
        if (!held && m->props_off < m->props.len) {
            const uint8_t *p = m->props.data + m->props_off;
            int64_t zxid = (int64_t)be64_get(p);
            size_t len = be32_get(p + 8);
            m->props_off += 12 + len;
            if (zxid != zab_next_zxid(&m->zab) || m->zab.role != ZAB_LEADING) {
                sim_fail(s, "m%d: prep made 0x%" PRIx64 ", ZAB expects 0x%" PRIx64, i + 1,
                         (uint64_t)zxid, (uint64_t)zab_next_zxid(&m->zab));
                break;
            }
            struct zab_event ev = {.type = ZAB_PROPOSE, .now_ms = local_now(s, i)};
            ev.propose.zxid = zxid;
            ev.propose.data = jute_buf_of(p + 12, len);
            if (sim_zab_step(s, i, &ev) == ZAB_EBUSY) {
                if ((zxid & 0xffffffffLL) != (s->counter_start > 0 ? s->counter_start : 1) ||
                    !m->zab.rolling)
                    sim_fail(s, "m%d: ZAB busy with 0x%" PRIx64 " outside a roll-over", i + 1,
                             (uint64_t)zxid);
                m->props_off -= 12 + len;
                held = true;
                continue;
            }
            s->st.proposals++;
            if (m->up && m->zab.role == ZAB_LEADING && zab_next_zxid(&m->zab) == zxid && !s->failed)
                sim_fail(s, "m%d: ZAB refused the proposal 0x%" PRIx64 " prep made", i + 1,
                         (uint64_t)zxid);
            continue;
        }
        if (m->syncs_stepped < m->syncs_len) {
            if (m->zab.role != ZAB_LEADING || !m->zab.serving) {
                syncs_clear(m); /* forgotten with the role */
                continue;
            }
            const struct sim_sync *q = &m->syncs[(m->syncs_head + m->syncs_stepped) % SIM_SYNCS];
            if (s->planted == SIM_PLANTED_SYNC_AT_ONCE) {
                uint64_t token = q->token; /* the bug: ZAB is not asked */
                m->syncs_stepped++;
                answer_syncs(s, i, &token, 1);
                continue;
            }
            struct zab_event ev = {.type = ZAB_SYNC_REQUEST, .now_ms = local_now(s, i)};
            ev.sync.token = q->token;
            ev.sync.zxid = q->target;
            m->syncs_stepped++; /* before the step: it may answer the sync at once */
            if (sim_zab_step(s, i, &ev) != 0 && !s->failed)
                sim_fail(s, "m%d: ZAB refused a sync", i + 1);
            continue;
        }
        if (m->local_syncs) {
            m->local_syncs--;
            server_sync_done(m->srv, local_now(s, i));
            continue;
        }
        uint64_t conn = m->closing[--m->closing_len];
        server_conn_closed(m->srv, conn, local_now(s, i));
        for (int k = 0; k < SIM_CLIENTS; k++)
            if (s->c[k].member == i && s->c[k].conn == conn) {
                s->c[k].member = -1;
                client_lost(s, k, "closed by the server");
            }
    }
    if (m->props_off == m->props.len) {
        buf_clear(&m->props);
        m->props_off = 0;
    }
    m->flushing = false;
}

/* Every client connection of member i goes (role change, reload, crash). */
static void member_drop_clients(struct sim *s, int i, const char *why)
{
    struct sim_member *m = &s->m[i];
    for (int k = 0; k < SIM_CLIENTS; k++)
        if (s->c[k].member == i) {
            if (m->srv)
                server_conn_closed(m->srv, s->c[k].conn, local_now(s, i));
            s->c[k].member = -1;
            client_lost(s, k, why);
        }
    m->closing_len = 0;
    buf_clear(&m->props);
    m->props_off = 0;
}

/* server_free, with the prepped txns still in flight dropped first (as
 * server_set_role drops them). server_free alone rolls the in-flight
 * changes back through `prev` pointers to changes that may have committed
 * and been freed since: a use-after-free (see docs/ARCHITECTURE.md,
 * "Simulation"; --raw-server-free shows it). */
static void member_server_free(struct sim *s, int i)
{
    struct sim_member *m = &s->m[i];
    if (m->srv && !s->raw_server_free && !list_is_empty(&m->srv->proposals)) {
        int64_t from = LIST_ENTRY(m->srv->proposals.next, const struct proposal, link)->zxid;
        size_t dropped = server_log_failed(m->srv, from, local_now(s, i));
        sim_trace(s, i, "server dropped %zu txns in flight from 0x%" PRIx64, dropped,
                  (uint64_t)from);
    }
    server_free(m->srv);
    m->srv = NULL;
}

/* A fresh struct server with the member's durable state: the snapshot, then
 * every txn of its log replayed (committed or not), as src/node's recovery
 * and its reload after a role ends do. */
static void member_reload(struct sim *s, int i, const char *why)
{
    struct sim_member *m = &s->m[i];
    member_drop_clients(s, i, why);
    syncs_clear(m);
    member_server_free(s, i);
    struct server_config cfg = {.tick_time_ms = 2000,
                                .max_buffer = 0xfffff,
                                .server_id = m->sid,
                                .global_outstanding_limit = 1000,
                                .zxid_counter_start = s->counter_start};
    struct server_io io = {.ctx = m,
                           .send = io_send,
                           .close = io_close,
                           .log_append = io_log_append,
                           .wall_ms = io_wall_ms,
                           .forward = io_forward,
                           .revalidate = io_revalidate,
                           .learner_sync = io_learner_sync};
    m->srv = server_new(&cfg, &io, local_now(s, i));
    server_set_role(m->srv, SERVER_LEARNER, 0, local_now(s, i)); /* as src/node's member */
    char err[256];
    if (m->d.base > 0) {
        size_t consumed = 0;
        if (server_load_snapshot(m->srv, m->base_body.data, m->base_body.len, &consumed,
                                 local_now(s, i), err, sizeof(err)) != 0 ||
            consumed != m->base_body.len) {
            sim_fail(s, "m%d: its snapshot 0x%" PRIx64 " does not load: %s", i + 1,
                     (uint64_t)m->d.base, err);
            return;
        }
        server_set_last_zxid(m->srv, m->d.base);
        check_tree(s, i, "loaded a snapshot at");
    }
    for (size_t k = 0; k < m->d.log_len && !s->failed; k++) {
        const struct sim_entry *e = &m->d.log[k];
        if (server_replay_txn(m->srv, e->data, e->len, local_now(s, i), err, sizeof(err)) != 0)
            sim_fail(s, "m%d: its logged txn 0x%" PRIx64 " does not replay: %s", i + 1,
                     (uint64_t)e->zxid, err);
    }
    m->applied_len = m->d.log_len;
    server_set_last_zxid(m->srv, last_zxid(m));
    if (!s->failed && m->d.log_len)
        check_tree(s, i, "recovered");
}

/* Commits up to `upto` reach the tree: the leader's through
 * server_persisted (its prepped txns), a learner's one txn at a time
 * through server_apply_committed, as src/node drives them. */
static void member_apply(struct sim *s, int i, int64_t upto)
{
    struct sim_member *m = &s->m[i];
    char err[256];
    if (m->zab.role == ZAB_LEADING) {
        size_t k = m->applied_len;
        while (k < m->d.log_len && m->d.log[k].zxid <= upto)
            k++;
        if (k == m->applied_len)
            return;
        m->applied_len = k;
        if (server_role(m->srv) == SERVER_LEADER)
            server_persisted(m->srv, applied_zxid(m), local_now(s, i));
        if (server_last_zxid(m->srv) != applied_zxid(m))
            sim_fail(s, "m%d: the leader's tree is at 0x%" PRIx64 ", its log applied to 0x%" PRIx64,
                     i + 1, (uint64_t)server_last_zxid(m->srv), (uint64_t)applied_zxid(m));
        else
            check_tree(s, i, "applied");
        member_flush(s, i);
        return;
    }
    while (m->applied_len < m->d.log_len && m->d.log[m->applied_len].zxid <= upto && !s->failed) {
        const struct sim_entry *e = &m->d.log[m->applied_len++];
        if (s->planted == SIM_PLANTED_APPLY_SKIP && i == 1 && e->type == ZK_OP_SET_DATA &&
            e->zxid % 5 == 0) {
            server_set_last_zxid(m->srv, e->zxid); /* the bug: the txn never reaches the tree */
        } else if (server_apply_committed(m->srv, e->data, e->len, local_now(s, i), err,
                                          sizeof(err)) < 0) {
            sim_fail(s, "m%d: the committed txn 0x%" PRIx64 " does not apply: %s", i + 1,
                     (uint64_t)e->zxid, err);
            return;
        }
        check_tree(s, i, "applied");
        member_flush(s, i);
    }
}

/* ---- clients ---- */

static void path_of(char *out, size_t cap, int k, int j)
{
    if (j >= SIM_PATHS)
        snprintf(out, cap, "/e%d-%d", k, j - SIM_PATHS);
    else
        snprintf(out, cap, "/c%d-%d", k, j);
}

/* Calm, one leader with every member, and client k answered on its session
 * in the last SIM_ACTIVE_MS: its session may not expire. */
static bool client_active(const struct sim *s, int k)
{
    const struct sim_client *c = &s->c[k];
    return s->now >= s->calm_at + 3000 && c->session != 0 &&
           s->now - c->heard_at <= SIM_ACTIVE_MS && stable_leader(s) >= 0;
}

static bool is_write(int32_t type)
{
    return type == ZK_OP_CREATE || type == ZK_OP_SET_DATA || type == ZK_OP_DELETE ||
           type == ZK_OP_MULTI;
}

/* The connection is gone: every request in flight has an unknown outcome
 * (a write may still commit), as a real client's CONNECTIONLOSS. */
static void client_lost(struct sim *s, int k, const char *why)
{
    struct sim_client *c = &s->c[k];
    for (size_t q = 0; q < c->out_len; q++) {
        const struct sim_req *r = &c->out[(c->out_head + q) % SIM_CLIENT_OUT];
        if (r->path >= SIM_PATHS || r->owner != k)
            continue; /* an ephemeral create, sync + read: nothing the client tracks */
        if (is_write(r->type))
            c->paths[r->path].known = false;
        if (r->type == ZK_OP_MULTI)
            c->paths[(r->path + 1) % SIM_PATHS].known = false;
    }
    c->out_len = 0;
    c->handshake = false;
    c->member = -1;
    c->connect_at = s->now + sim_between(s, 50, 500);
    s->st.connlosses++;
    sim_trace(s, c->last_member, "client %d: connection lost (%s)", k, why);
}

static void client_fail_reply(struct sim *s, int k, const struct sim_req *r, const char *what)
{
    char path[32];
    path_of(path, sizeof(path), r->owner, r->path);
    sim_fail(s, "client %d (session 0x%" PRIx64 "): xid %d (op %d %s): %s", k,
             (uint64_t)s->c[k].session, r->xid, r->type, path, what);
}

static void client_reply_own(struct sim *s, int k, const struct sim_req *q,
                             const struct zk_reply_header *hp, struct jute_reader *rp,
                             struct sim_path_state *p, bool ok);

/* An ack: a write's reply. */
static void record_ack(struct sim *s, int k, const struct zk_reply_header *h)
{
    struct sim_client *c = &s->c[k];
    if (s->acked_len == s->acked_cap) {
        s->acked_cap = s->acked_cap ? 2 * s->acked_cap : 1024;
        s->acked = mem_realloc(s->acked, s->acked_cap * sizeof(*s->acked));
    }
    s->acked[s->acked_len++] = (struct sim_ack){k, h->zxid, c->session, h->xid};
    s->st.acks++;
    s->last_ack_at = s->now;
    if (h->zxid > s->ack_max)
        s->ack_max = h->zxid;
}

/* An ephemeral create's reply: created (the model checks it stays while its
 * session lives), or NODEEXISTS (a session of this client, maybe one left
 * behind, holds it). */
static void client_ephemeral_reply(struct sim *s, int k, const struct sim_req *q,
                                   const struct zk_reply_header *h)
{
    if (h->err == ZK_SESSIONEXPIRED || h->err == ZK_SESSIONMOVED)
        return;
    s->c[k].heard_at = s->now;
    if (h->err == 0)
        s->st.ephemerals++;
    else if (h->err != ZK_NODEEXISTS)
        client_fail_reply(s, k, q, "an unexpected error");
}

/* Whether member i's log holds a delete of /c<o>-<j> in (after, upto]. */
static bool log_deletes(const struct sim_member *m, int o, int j, int64_t after, int64_t upto)
{
    if (m->d.base > after)
        return true; /* in its snapshot: G's own check covers it */
    for (size_t n = 0; n < m->d.log_len && m->d.log[n].zxid <= upto; n++) {
        const struct sim_entry *e = &m->d.log[n];
        if (e->type != ZK_OP_DELETE || e->zxid <= after)
            continue;
        struct jute_reader r;
        struct zk_txn_header th;
        struct zk_delete_txn dt;
        char kind;
        int k, jj;
        jute_reader_init(&r, e->data, e->len);
        if (zk_txn_header_decode(&r, &th) == 0 && zk_delete_txn_decode(&r, &dt) == 0 &&
            parse_path(dt.path, &kind, &k, &jj) && kind == 'c' && k == o && jj == j)
            return true;
    }
    return false;
}

/* sync, then getData of a znode another client writes: linearizable. The
 * sync's answer and the read come at a zxid at or above every write acked
 * to any client before the sync was sent, and the read shows the znode at
 * least as new as the last of those acks left it. */
static void client_sync_read(struct sim *s, int k, const struct sim_req *q,
                             const struct zk_reply_header *h, struct jute_reader *r)
{
    struct sim_client *c = &s->c[k];
    if (h->err == ZK_SESSIONEXPIRED || h->err == ZK_SESSIONMOVED)
        return;
    c->heard_at = s->now;
    if (h->zxid < q->floor) {
        char what[160];
        snprintf(what, sizeof(what),
                 "after a sync, zxid 0x%" PRIx64 " is below 0x%" PRIx64
                 ", acknowledged before the sync was sent",
                 (uint64_t)h->zxid, (uint64_t)q->floor);
        client_fail_reply(s, k, q, what);
        return;
    }
    if (q->type == ZK_OP_SYNC) {
        if (h->err != 0)
            client_fail_reply(s, k, q, "a sync failed");
        s->st.syncs++;
        return;
    }
    s->st.syncreads++;
    const struct sim_path_state *seen = &q->seen;
    if (h->err == ZK_NONODE) {
        if (seen->known && seen->exists &&
            !log_deletes(&s->m[c->member], q->owner, q->path, seen->mzxid, h->zxid))
            client_fail_reply(s, k, q, "NONODE after a sync, with no delete since the acked write");
        return;
    }
    struct zk_get_data_response gd;
    if (h->err != 0 || zk_get_data_response_decode(r, &gd) != 0) {
        client_fail_reply(s, k, q, "a getData after a sync failed");
        return;
    }
    if (!seen->known)
        return;
    if (gd.stat.mzxid < seen->mzxid || (!seen->exists && gd.stat.mzxid == seen->mzxid) ||
        (gd.stat.mzxid == seen->mzxid &&
         (gd.data.len != 8 || memcmp(gd.data.ptr, seen->data, 8) != 0)))
        client_fail_reply(s, k, q, "a read after a sync missed a write acked before it");
}

/* A reply (or the handshake's answer) reaches client k. Replies come in
 * request order; what a reply says must agree with the client's own
 * acknowledged writes (only client k writes its znodes). */
static void client_reply(struct sim *s, int k, const uint8_t *body, size_t len)
{
    struct sim_client *c = &s->c[k];
    struct jute_reader r;
    jute_reader_init(&r, body, len);
    if (c->handshake) {
        struct zk_connect_response cr;
        if (zk_connect_response_decode(&r, &cr) != 0) {
            sim_fail(s, "client %d: a ConnectResponse that does not decode", k);
            return;
        }
        if (cr.time_out <= 0 || cr.session_id == 0) {
            sim_trace(s, 0, "client %d: session 0x%" PRIx64 " refused", k, (uint64_t)c->session);
            c->session = 0; /* a new session next time */
            c->heard_at = INT64_MIN / 2;
            return; /* the server closes the connection */
        }
        if (c->session && cr.session_id != c->session)
            sim_fail(s, "client %d: reconnected with session 0x%" PRIx64 ", got 0x%" PRIx64, k,
                     (uint64_t)c->session, (uint64_t)cr.session_id);
        c->session = cr.session_id;
        c->handshake = false;
        c->since = s->now;
        c->heard_at = s->now;
        s->st.connects++;
        sim_trace(s, c->member, "client %d: session 0x%" PRIx64, k, (uint64_t)c->session);
        return;
    }
    struct zk_reply_header h;
    if (zk_reply_header_decode(&r, &h) != 0) {
        sim_fail(s, "client %d: a reply header that does not decode", k);
        return;
    }
    if (h.xid == -1 || h.xid == -2)
        return; /* a watch event, a ping */
    if (c->out_len == 0) {
        sim_fail(s, "client %d: a reply to xid %d with nothing outstanding", k, h.xid);
        return;
    }
    struct sim_req *q = &c->out[c->out_head];
    if (h.xid != q->xid) {
        sim_fail(s, "client %d: a reply to xid %d while xid %d is the oldest outstanding", k, h.xid,
                 q->xid);
        return;
    }
    c->out_head = (c->out_head + 1) % SIM_CLIENT_OUT;
    c->out_len--;
    s->st.replies++;
    if (h.zxid < c->last_seen_zxid)
        client_fail_reply(s, k, q, "its reply's zxid went back");
    if (h.zxid > c->last_seen_zxid)
        c->last_seen_zxid = h.zxid;
    sim_trace(s, c->member, "client %d: xid %d op %d err %d zxid 0x%" PRIx64, k, h.xid, q->type,
              h.err, (uint64_t)h.zxid);
    if (q->type == ZK_OP_SYNC || q->owner != k) {
        client_sync_read(s, k, q, &h, &r);
        return;
    }
    if (is_write(q->type)) {
        if (h.zxid <= c->last_write_zxid)
            client_fail_reply(s, k, q, "a write acknowledged at a zxid not above the last one's");
        c->last_write_zxid = h.zxid;
        record_ack(s, k, &h);
    }
    if (q->path >= SIM_PATHS) {
        client_ephemeral_reply(s, k, q, &h);
        return;
    }
    struct sim_path_state *p = &c->paths[q->path];
    bool ok = h.err == 0;
    if (h.err == ZK_SESSIONEXPIRED || h.err == ZK_SESSIONMOVED)
        return; /* the session expired, or moved to another member: nothing changed */
    c->heard_at = s->now;
    client_reply_own(s, k, q, &h, &r, p, ok);
    /* What every client's sync + read must see from now on: what this
     * client's acked writes left its znodes as. */
    if (is_write(q->type) && p->known && p->mzxid == h.zxid) {
        s->acked_state[k][q->path] = *p;
        if (q->type == ZK_OP_MULTI)
            s->acked_state[k][(q->path + 1) % SIM_PATHS] = c->paths[(q->path + 1) % SIM_PATHS];
    }
}

/* A reply to a request on client k's own znode p: it agrees with k's acks. */
static void client_reply_own(struct sim *s, int k, const struct sim_req *q,
                             const struct zk_reply_header *hp, struct jute_reader *rp,
                             struct sim_path_state *p, bool ok)
{
    struct sim_client *c = &s->c[k];
    struct zk_reply_header h = *hp;
    struct jute_reader r = *rp;
    switch (q->type) {
    case ZK_OP_CREATE:
        if (ok) {
            if (p->known && p->exists)
                client_fail_reply(s, k, q, "created a znode the client's acked writes left there");
            *p = (struct sim_path_state){true, true, h.zxid, {0}};
            memcpy(p->data, q->data, sizeof(p->data));
        } else if (h.err == ZK_NODEEXISTS) {
            if (p->known && !p->exists)
                client_fail_reply(s, k, q,
                                  "NODEEXISTS for a znode the client's acked delete removed");
        } else {
            client_fail_reply(s, k, q, "an unexpected error");
        }
        break;
    case ZK_OP_SET_DATA:
    case ZK_OP_DELETE:
        if (ok && q->type == ZK_OP_SET_DATA) {
            struct zk_stat st;
            if (zk_stat_decode(&r, &st) != 0 || st.mzxid != h.zxid)
                client_fail_reply(s, k, q, "a setData reply whose Stat is not its txn's");
            if (p->known && !p->exists)
                client_fail_reply(s, k, q, "setData succeeded on a znode the client deleted");
            *p = (struct sim_path_state){true, true, h.zxid, {0}};
            memcpy(p->data, q->data, sizeof(p->data));
        } else if (ok) {
            if (p->known && !p->exists)
                client_fail_reply(s, k, q, "delete succeeded on a znode the client deleted");
            *p = (struct sim_path_state){true, false, h.zxid, {0}};
        } else if (h.err == ZK_NONODE) {
            if (p->known && p->exists)
                client_fail_reply(s, k, q, "NONODE for a znode the client's acked writes made");
            *p = (struct sim_path_state){true, false, h.zxid, {0}};
        } else {
            client_fail_reply(s, k, q, "an unexpected error");
        }
        break;
    case ZK_OP_MULTI: {
        /* The header says 0 either way: the first result tells (an
         * ErrorResult, type -1, when the multi failed). */
        struct sim_path_state *p2 = &c->paths[(q->path + 1) % SIM_PATHS];
        struct zk_multi_header mh;
        struct zk_stat st[2];
        bool failed = zk_multi_header_decode(&r, &mh) != 0 || mh.type != ZK_OP_SET_DATA;
        if (failed) {
            if (h.err != 0 || mh.type != ZK_OP_ERROR)
                client_fail_reply(s, k, q, "a multi reply that does not decode");
            else if (p->known && p->exists && p2->known && p2->exists)
                client_fail_reply(s, k, q, "a multi failed on znodes the client's acks made");
            break;
        }
        if (zk_stat_decode(&r, &st[0]) != 0 || zk_multi_header_decode(&r, &mh) != 0 ||
            mh.type != ZK_OP_SET_DATA || zk_stat_decode(&r, &st[1]) != 0 || st[0].mzxid != h.zxid ||
            st[1].mzxid != h.zxid) {
            client_fail_reply(s, k, q, "a multi's results are not its two setData's");
            break;
        }
        if ((p->known && !p->exists) || (p2->known && !p2->exists))
            client_fail_reply(s, k, q, "a multi set data of a znode the client deleted");
        *p = (struct sim_path_state){true, true, h.zxid, {0}};
        memcpy(p->data, q->data, sizeof(p->data));
        *p2 = *p;
        break;
    }
    case ZK_OP_GET_DATA:
        s->st.reads++;
        if (ok) {
            struct zk_get_data_response gd;
            if (zk_get_data_response_decode(&r, &gd) != 0) {
                client_fail_reply(s, k, q, "a getData reply that does not decode");
                break;
            }
            if (p->known && !p->exists)
                client_fail_reply(s, k, q, "read a znode the client's acked delete removed");
            else if (p->known && (gd.stat.mzxid != p->mzxid || gd.data.len != 8 ||
                                  memcmp(gd.data.ptr, p->data, 8) != 0))
                client_fail_reply(s, k, q, "read missed the client's own acked write");
        } else if (h.err == ZK_NONODE) {
            if (p->known && p->exists)
                client_fail_reply(s, k, q, "NONODE for a znode the client's acked writes made");
        } else {
            client_fail_reply(s, k, q, "an unexpected error");
        }
        break;
    default:
        break;
    }
}

static void io_send(void *ctx, uint64_t conn, const uint8_t *frame, size_t len)
{
    struct sim_member *m = ctx;
    struct sim *s = m->sim;
    for (int k = 0; k < SIM_CLIENTS && !s->failed; k++)
        if (s->c[k].member == m->index && s->c[k].conn == conn && len >= 4)
            client_reply(s, k, frame + 4, len - 4);
}

/* Whether member i's ZAB can take another proposal (else the client waits:
 * the node's backpressure). */
static bool leader_has_room(const struct sim *s, int i)
{
    const struct zab *z = &s->m[i].zab;
    return z->ring_len - z->committed_len + 12 < SIM_OUTSTANDING; /* room for expiries */
}

static void client_connect(struct sim *s, int k)
{
    struct sim_client *c = &s->c[k];
    int cand[SIM_MEMBERS_MAX], nc = 0;
    for (int i = 0; i < s->n; i++)
        if (s->m[i].up && s->m[i].serving && !paused(s, i))
            cand[nc++] = i;
    if (nc == 0) {
        c->connect_at = s->now + 100;
        return;
    }
    int i = cand[sim_between(s, 0, nc - 1)];
    struct sim_member *m = &s->m[i];
    c->member = c->last_member = i;
    c->conn = ++s->next_conn;
    c->handshake = true;
    c->since = s->now;
    c->out_head = c->out_len = 0;
    char ip[32];
    snprintf(ip, sizeof(ip), "10.0.1.%d", k + 1);
    server_conn_open(m->srv, c->conn, ip, local_now(s, i));
    uint8_t pw[16] = {0};
    if (c->session)
        session_password(c->session, pw);
    struct zk_connect_request req = {.protocol_version = 0,
                                     .last_zxid_seen = c->last_seen_zxid,
                                     .time_out = SIM_SESSION_MS,
                                     .session_id = c->session,
                                     .passwd = {.ptr = pw, .len = 16}};
    buf_clear(&s->req);
    zk_connect_request_encode(&s->req, &req);
    jute_write_bool(&s->req, false);
    sim_trace(s, i, "client %d connects (session 0x%" PRIx64 ")", k, (uint64_t)c->session);
    server_conn_receive(m->srv, c->conn, s->req.data, s->req.len, local_now(s, i));
    member_flush(s, i);
}

static void client_request(struct sim *s, int k)
{
    struct sim_client *c = &s->c[k];
    int i = c->member;
    struct sim_member *m = &s->m[i];
    struct sim_req *q = &c->out[(c->out_head + c->out_len) % SIM_CLIENT_OUT];
    uint64_t roll = sim_rand(s) % 100;
    q->type = roll < 22   ? ZK_OP_CREATE
              : roll < 44 ? ZK_OP_SET_DATA
              : roll < 54 ? ZK_OP_DELETE
              : roll < 61 ? ZK_OP_MULTI
              : roll < 88 ? ZK_OP_GET_DATA
                          : ZK_OP_SYNC;
    bool ephemeral = roll >= 70 && roll < 80;
    if (ephemeral)
        q->type = ZK_OP_CREATE;
    if (is_write(q->type) && m->zab.role == ZAB_LEADING && !leader_has_room(s, i))
        return;
    if (q->type == ZK_OP_SYNC && c->out_len > 0 && !s->pipeline_after_sync)
        return; /* alone: what it sees comes from other clients' acks */
    if (q->type == ZK_OP_SYNC && c->out_len + 2 > SIM_CLIENT_OUT)
        return;
    q->path = ephemeral ? SIM_PATHS + (int)sim_between(s, 0, SIM_EPHEMERALS - 1)
                        : (int)sim_between(s, 0, SIM_PATHS - 1);
    q->owner = k;
    if (q->type == ZK_OP_SYNC) {
        /* sync, then a read of another client's znode */
        q->owner = (k + (int)sim_between(s, 1, SIM_CLIENTS - 1)) % SIM_CLIENTS;
        q->floor = s->ack_max;
        q->seen = s->acked_state[q->owner][q->path];
    }
    q->xid = ++c->next_xid;
    uint64_t v = sim_rand(s);
    for (int b = 0; b < 8; b++)
        q->data[b] = (uint8_t)(v >> (8 * b));
    c->out_len++;
    char path[32];
    path_of(path, sizeof(path), q->owner, q->path);
    buf_clear(&s->req);
    struct zk_request_header h = {.xid = q->xid, .type = q->type};
    zk_request_header_encode(&s->req, &h);
    if (q->type == ZK_OP_SYNC) {
        struct zk_path_request sr = {.path = jute_cstr(path)};
        zk_path_request_encode(&s->req, &sr);
        server_conn_receive(m->srv, c->conn, s->req.data, s->req.len, local_now(s, i));
        member_flush(s, i);
        if (c->member != i || s->failed)
            return; /* closed meanwhile */
        /* pipelined right behind it: the read */
        struct sim_req *g = &c->out[(c->out_head + c->out_len) % SIM_CLIENT_OUT];
        *g = *q;
        g->type = ZK_OP_GET_DATA;
        g->xid = ++c->next_xid;
        c->out_len++;
        buf_clear(&s->req);
        h = (struct zk_request_header){.xid = g->xid, .type = g->type};
        zk_request_header_encode(&s->req, &h);
        struct zk_path_watch_request gr = {.path = jute_cstr(path), .watch = false};
        zk_path_watch_request_encode(&s->req, &gr);
        server_conn_receive(m->srv, c->conn, s->req.data, s->req.len, local_now(s, i));
        member_flush(s, i);
        return;
    }
    struct zk_acl acl = {.perms = ZK_PERM_ALL,
                         .id = {.scheme = jute_cstr("world"), .id = jute_cstr("anyone")}};
    if (q->type == ZK_OP_CREATE) {
        struct zk_create_request cr = {.path = jute_cstr(path),
                                       .data = jute_buf_of(q->data, 8),
                                       .acl = {.count = 1, .items = &acl},
                                       .flags = ephemeral ? ZK_CREATE_EPHEMERAL : 0};
        zk_create_request_encode(&s->req, &cr);
    } else if (q->type == ZK_OP_SET_DATA) {
        struct zk_set_data_request sd = {
            .path = jute_cstr(path), .data = jute_buf_of(q->data, 8), .version = -1};
        zk_set_data_request_encode(&s->req, &sd);
    } else if (q->type == ZK_OP_DELETE) {
        struct zk_path_version_request d = {.path = jute_cstr(path), .version = -1};
        zk_path_version_request_encode(&s->req, &d);
    } else if (q->type == ZK_OP_MULTI) {
        for (int op = 0; op < 2; op++) {
            struct zk_multi_header mh = {.type = ZK_OP_SET_DATA, .done = false, .err = -1};
            zk_multi_header_encode(&s->req, &mh);
            path_of(path, sizeof(path), k, (q->path + op) % SIM_PATHS);
            struct zk_set_data_request sd = {
                .path = jute_cstr(path), .data = jute_buf_of(q->data, 8), .version = -1};
            zk_set_data_request_encode(&s->req, &sd);
        }
        struct zk_multi_header end = {.type = -1, .done = true, .err = -1};
        zk_multi_header_encode(&s->req, &end);
    } else {
        struct zk_path_watch_request g = {.path = jute_cstr(path), .watch = false};
        zk_path_watch_request_encode(&s->req, &g);
    }
    server_conn_receive(m->srv, c->conn, s->req.data, s->req.len, local_now(s, i));
    member_flush(s, i);
}

/* Clients: connect to a serving member, pipeline requests, give a silent
 * connection up (and reconnect, with their session, anywhere). */
static void sim_clients(struct sim *s)
{
    for (int k = 0; k < SIM_CLIENTS && !s->failed; k++) {
        struct sim_client *c = &s->c[k];
        if (c->member < 0) {
            if (s->now >= c->connect_at)
                client_connect(s, k);
            continue;
        }
        int i = c->member;
        bool stuck = c->handshake ? s->now - c->since > SIM_REQUEST_MS
                                  : c->out_len && s->now - c->since > SIM_REQUEST_MS;
        if (stuck) {
            struct sim_member *m = &s->m[i];
            c->member = -1;
            client_lost(s, k, "no reply");
            if (m->closing_len < SIM_CLIENTS)
                m->closing[m->closing_len++] = c->conn; /* its FIN, read when it runs */
            if (!paused(s, i))
                member_flush(s, i);
            continue;
        }
        if (paused(s, i))
            continue;
        if (!c->handshake && c->out_len == 0 && sim_chance(s, 150)) {
            /* the client process restarts: its session is left to expire */
            struct sim_member *m = &s->m[i];
            sim_trace(s, i, "client %d restarts, leaving session 0x%" PRIx64, k,
                      (uint64_t)c->session);
            c->member = -1;
            client_lost(s, k, "client restart");
            zlist_add(&s->abandoned, s->now, c->session);
            c->session = 0;
            c->heard_at = INT64_MIN / 2;
            server_conn_closed(m->srv, c->conn, local_now(s, i));
            member_flush(s, i);
            continue;
        }
        bool after_sync = false; /* a sync + read outstanding: wait for it */
        for (size_t q = 0; q < c->out_len && !s->pipeline_after_sync; q++)
            after_sync |= c->out[(c->out_head + q) % SIM_CLIENT_OUT].owner != k;
        if (!c->handshake && c->out_len < SIM_CLIENT_OUT && !after_sync && sim_chance(s, 20000)) {
            if (c->out_len == 0)
                c->since = s->now;
            client_request(s, k);
        }
    }
}

/* At the end: every member holds every acknowledged write it has reached
 * (in its snapshot or, as G has it, in its log). */
static void check_acked_everywhere(struct sim *s)
{
    for (int i = 0; i < s->n && !s->failed; i++) {
        const struct sim_member *m = &s->m[i];
        if (!m->up)
            continue;
        for (size_t k = 0; k < s->acked_len && !s->failed; k++) {
            const struct sim_ack *a = &s->acked[k];
            if (a->zxid <= m->d.base || a->zxid > applied_zxid(m))
                continue;
            size_t g = g_upper(s, a->zxid);
            long at = log_find(m, a->zxid);
            if (at < 0 || m->d.log[at].digest != s->g[g - 1].digest)
                sim_fail(s, "m%d applied past 0x%" PRIx64 " without client %d's acked xid %d",
                         i + 1, (uint64_t)a->zxid, a->client, a->xid);
        }
    }
}

/* Ephemerals and sessions, on every member whose tree stands at a
 * committed zxid Z (its history's digest at Z is G's): each /e<k>-<j> is
 * exactly what G up to Z says — absent, or held by the session of its last
 * create, unless that session's closeSession came since (deleted with it,
 * never before) — and its owner is in the member's session table. */
static void check_ephemerals(struct sim *s)
{
    for (int i = 0; i < s->n && !s->failed; i++) {
        const struct sim_member *m = &s->m[i];
        if (!m->up || !m->srv)
            continue;
        int64_t z = server_last_zxid(m->srv);
        size_t g = g_upper(s, z);
        uint64_t d;
        if (z == 0 || g == 0 || s->g[g - 1].zxid != z || !digest_at(m, z, &d) ||
            d != s->g[g - 1].digest)
            continue;
        for (int k = 0; k < SIM_CLIENTS && !s->failed; k++)
            for (int j = 0; j < SIM_EPHEMERALS && !s->failed; j++) {
                const struct sim_zlist *l = &s->eph_creates[k][j];
                size_t n = l->len;
                while (n > 0 && l->zxid[n - 1] > z)
                    n--;
                int64_t owner = n ? l->who[n - 1] : 0;
                bool want = n > 0 && closed_at(s, owner) > z;
                char path[32];
                path_of(path, sizeof(path), k, SIM_PATHS + j);
                const struct tree_node *node = tree_get(&m->srv->tree, path, strlen(path));
                if (!want && node)
                    sim_fail(s,
                             "m%d at 0x%" PRIx64 " holds %s of session 0x%" PRIx64
                             ", closed at 0x%" PRIx64 " (or never created)",
                             i + 1, (uint64_t)z, path, (uint64_t)node->stat.ephemeral_owner,
                             (uint64_t)closed_at(s, node->stat.ephemeral_owner));
                else if (want && !node)
                    sim_fail(s,
                             "m%d at 0x%" PRIx64 " lost %s of session 0x%" PRIx64
                             " (created at 0x%" PRIx64 ", not closed)",
                             i + 1, (uint64_t)z, path, (uint64_t)owner, (uint64_t)l->zxid[n - 1]);
                else if (want && (node->stat.ephemeral_owner != owner ||
                                  node->stat.czxid != l->zxid[n - 1]))
                    sim_fail(s, "m%d at 0x%" PRIx64 " holds %s of another session or create", i + 1,
                             (uint64_t)z, path);
                else if (want && !session_get(&m->srv->sessions, owner))
                    sim_fail(s,
                             "m%d at 0x%" PRIx64 " holds %s of session 0x%" PRIx64
                             ", not in its session table",
                             i + 1, (uint64_t)z, path, (uint64_t)owner);
            }
    }
}

/* The leader expires what clients left behind: a session abandoned
 * SIM_EXPIRE_BY_MS ago, under a leader serving (and not paused) since, is
 * gone from its session table (8 s timeout, 2 s ticks, a clock up to 15 %
 * slow, the closeSession's commit). And once it has nothing uncommitted,
 * every ephemeral that a member caught up with it holds is of a session in
 * its table. */
static void check_expiry(struct sim *s, bool end)
{
    int l = -1;
    for (int i = 0; i < s->n; i++)
        if (s->m[i].up && s->m[i].serving && s->m[i].zab.role == ZAB_LEADING && !paused(s, i) &&
            !s->m[i].paused_until)
            l = i;
    if (l < 0)
        return;
    const struct sim_member *lm = &s->m[l];
    for (size_t k = 0; k < s->abandoned.len && !s->failed; k++) {
        int64_t since =
            s->abandoned.zxid[k] > lm->serving_since ? s->abandoned.zxid[k] : lm->serving_since;
        int64_t id = s->abandoned.who[k];
        const struct session *ss = session_get(&lm->srv->sessions, id);
        if (s->now - since > SIM_EXPIRE_BY_MS && (!ss || ss->closing)) {
            s->st.expired++; /* checked: forget it */
            s->abandoned.zxid[k] = s->abandoned.zxid[--s->abandoned.len];
            s->abandoned.who[k--] = s->abandoned.who[s->abandoned.len];
            continue;
        }
        if (s->now - since > SIM_EXPIRE_BY_MS)
            sim_fail(s,
                     "m%d leads since %" PRId64 " ms and keeps session 0x%" PRIx64
                     ", abandoned at %" PRId64 " ms",
                     l + 1, lm->serving_since, (uint64_t)id, s->abandoned.zxid[k]);
    }
    const struct zab *z = &lm->zab;
    if (!end || z->ring_len > z->committed_len || lm->props_off < lm->props.len)
        return;
    for (int i = 0; i < s->n && !s->failed; i++) {
        const struct sim_member *m = &s->m[i];
        if (!m->up || !m->srv || server_last_zxid(m->srv) != server_last_zxid(lm->srv))
            continue;
        for (int k = 0; k < SIM_CLIENTS; k++)
            for (int j = 0; j < SIM_EPHEMERALS; j++) {
                char path[32];
                path_of(path, sizeof(path), k, SIM_PATHS + j);
                const struct tree_node *node = tree_get(&m->srv->tree, path, strlen(path));
                if (node && !session_get(&lm->srv->sessions, node->stat.ephemeral_owner))
                    sim_fail(s, "m%d holds %s of session 0x%" PRIx64 ", not live at leader m%d",
                             i + 1, path, (uint64_t)node->stat.ephemeral_owner, l + 1);
            }
    }
}

/* Every acknowledged write is in the committed sequence at its zxid, as the
 * txn its client sent (session and xid). */
static void check_acked(struct sim *s)
{
    for (; s->acked_checked < s->acked_len && !s->failed; s->acked_checked++) {
        const struct sim_ack *a = &s->acked[s->acked_checked];
        size_t g = g_upper(s, a->zxid);
        if (g == 0 || s->g[g - 1].zxid != a->zxid)
            sim_fail(s, "client %d: xid %d acknowledged at 0x%" PRIx64 ", not committed", a->client,
                     a->xid, (uint64_t)a->zxid);
        else if (s->g[g - 1].client_id != a->session || s->g[g - 1].cxid != a->xid)
            sim_fail(s,
                     "client %d: xid %d acknowledged at 0x%" PRIx64 ", committed there is "
                     "session 0x%" PRIx64 " cxid %d",
                     a->client, a->xid, (uint64_t)a->zxid, (uint64_t)s->g[g - 1].client_id,
                     s->g[g - 1].cxid);
    }
}

/* ---- the network ---- */

static struct sim_conn *conn_of(struct sim *s, enum sim_kind kind, int a, int b)
{
    return a < b ? &s->conn[kind][a][b] : &s->conn[kind][b][a];
}

static bool linked(const struct sim *s, int a, int b)
{
    return s->m[a].up && s->m[b].up && !(s->partitioned && s->m[a].side != s->m[b].side);
}

static void quorum_close(struct sim *s, int a, int b, bool notify_a, bool notify_b);
static void election_reset(struct sim *s, int a, int b);

static void link_push(struct sim *s, enum sim_kind kind, int from, int to, const uint8_t *bytes,
                      size_t len)
{
    struct sim_link *l = &s->link[kind][from][to];
    struct sim_conn *c = conn_of(s, kind, from, to);
    if (!c->alive || !linked(s, from, to))
        return;
    if (l->len == SIM_LINK_MAX) { /* a full socket buffer: give the connection up */
        if (kind == SIM_QUORUM)
            quorum_close(s, from, to, true, true);
        else
            election_reset(s, from, to);
        return;
    }
    struct sim_packet *p = &l->q[(l->head + l->len++) % SIM_LINK_MAX];
    int64_t delay = sim_between(s, 1, 20);
    if (l->slow_until > s->now)
        delay += l->slow_ms;
    int64_t at = s->now + delay;
    p->at = at > l->last_at ? at : l->last_at;
    l->last_at = p->at;
    p->gen = c->gen;
    p->bytes = mem_alloc(len);
    memcpy(p->bytes, bytes, len);
    p->len = len;
    s->st.packets++;
}

static void link_pop(struct sim_link *l)
{
    mem_free(l->q[l->head].bytes);
    l->head = (l->head + 1) % SIM_LINK_MAX;
    l->len--;
}

/* A quorum connection closes. An end that did not close it learns so (a RST)
 * when the other can reach it, unless a newer connection between them exists
 * by then. */
static void quorum_close(struct sim *s, int a, int b, bool notify_a, bool notify_b)
{
    struct sim_conn *c = conn_of(s, SIM_QUORUM, a, b);
    bool reach = linked(s, a, b);
    c->gen++;
    c->alive = false;
    for (int k = 0; k < 2 && s->disc_len < SIM_DISC_MAX; k++) {
        int member = k ? a : b, peer = k ? b : a;
        if (!reach || !(k ? notify_a : notify_b))
            continue;
        s->disc[s->disc_len++] =
            (struct sim_disc){s->now + sim_between(s, 1, 5), member, peer, c->gen};
    }
}

static void fle_link(struct sim *s, int i, int j, bool up);

static void election_reset(struct sim *s, int a, int b)
{
    struct sim_conn *c = conn_of(s, SIM_ELECTION, a, b);
    c->gen++;
    c->alive = true;
    /* The peer port dials again and sends its last message once more. */
    s->m[a].resend_at[b] = s->now + sim_between(s, 20, 400);
    s->m[b].resend_at[a] = s->now + sim_between(s, 20, 400);
    /* Both ends' peer ports report the old connection gone and the new one
     * kept (a connection is made only where the two can reach each other). */
    if (linked(s, a, b)) {
        fle_link(s, a, b, false);
        fle_link(s, b, a, false);
        fle_link(s, a, b, true);
        fle_link(s, b, a, true);
    }
}

/* ---- stepping the real modules ---- */

static void sim_fle_step(struct sim *s, int i, const struct fle_event *ev);
static void sim_crash(struct sim *s, int i, bool eio);

static void fle_start(struct sim *s, int i)
{
    struct sim_member *m = &s->m[i];
    disk_drain(m);
    memset(m->heard, 0, sizeof(m->heard));
    struct fle_event ev = {.type = FLE_START, .now_ms = local_now(s, i)};
    ev.start.last_zxid = last_zxid(m);
    ev.start.current_epoch = m->d.current;
    sim_fle_step(s, i, &ev);
}

static void zab_start(struct sim *s, int i, enum zab_role role, int64_t leader_sid)
{
    struct sim_member *m = &s->m[i];
    disk_drain(m);
    struct zab_txn history[SIM_COMMITTED_LOG];
    struct zab_event ev = {.type = ZAB_START, .now_ms = local_now(s, i)};
    ev.start.role = role;
    ev.start.leader_sid = leader_sid;
    ev.start.last_zxid = last_zxid(m);
    ev.start.accepted_epoch = m->d.accepted;
    ev.start.current_epoch = m->d.current;
    if (role == ZAB_LEADING) {
        size_t from = m->d.log_len > SIM_COMMITTED_LOG ? m->d.log_len - SIM_COMMITTED_LOG : 0;
        for (size_t k = from; k < m->d.log_len; k++)
            history[k - from] =
                (struct zab_txn){m->d.log[k].zxid, {m->d.log[k].data, (int32_t)m->d.log[k].len}};
        ev.start.history = history;
        ev.start.history_len = m->d.log_len - from;
    } else {
        /* A new quorum connection to the leader. */
        int l = (int)leader_sid - 1;
        struct sim_conn *c = conn_of(s, SIM_QUORUM, i, l);
        c->gen++;
        c->alive = linked(s, i, l);
        c->opened_at = s->now;
    }
    sim_zab_step(s, i, &ev);
}

static void send_notification(struct sim *s, int i, const struct fle_send *snd)
{
    struct sim_member *m = &s->m[i];
    int to = (int)snd->to - 1;
    if (to < 0 || to >= s->n || to == i) {
        sim_fail(s, "m%d: FLE sent to sid %" PRId64, i + 1, snd->to);
        return;
    }
    if (snd->state == ELECTION_LOOKING && snd->vote.leader >= 1 && snd->vote.leader <= s->n)
        m->heard[snd->vote.leader - 1] |= 1u << i; /* our own vote, looped back */
    struct election_notification n = {
        .state = snd->state,
        .leader = snd->vote.leader,
        .zxid = snd->vote.zxid,
        .election_epoch = snd->vote.election_epoch,
        .peer_epoch = snd->vote.peer_epoch,
        .version = ELECTION_NOTIFICATION_VERSION,
        .config = jute_buf_of(s->config_text, strlen(s->config_text)),
    };
    buf_clear(&s->body);
    buf_clear(&s->frame);
    election_notification_encode(&s->body, &n);
    election_message_encode(&s->frame, s->body.data, s->body.len);
    if (s->frame.len > sizeof(m->last_e[to])) {
        sim_fail(s, "notification too long for the sim");
        return;
    }
    memcpy(m->last_e[to], s->frame.data, s->frame.len);
    m->last_e_len[to] = s->frame.len;
    link_push(s, SIM_ELECTION, i, to, s->frame.data, s->frame.len);
}

static enum zab_role role_of(int32_t state)
{
    switch (state) {
    case ELECTION_LEADING:
        return ZAB_LEADING;
    case ELECTION_OBSERVING:
        return ZAB_OBSERVING;
    default:
        return ZAB_FOLLOWING;
    }
}

/* What member i's peer port reports of its election connection to j, for
 * czk's early election decision (docs/PROTOCOL.md). */
static void fle_link(struct sim *s, int i, int j, bool up)
{
    if (!s->m[i].up || s->failed)
        return;
    struct fle_event ev = {.type = FLE_CONNECTED, .now_ms = local_now(s, i)};
    ev.connected.sid = s->m[j].sid;
    ev.connected.up = up;
    sim_fle_step(s, i, &ev);
}

static void sim_fle_step(struct sim *s, int i, const struct fle_event *ev)
{
    struct sim_member *m = &s->m[i];
    struct fle_update up;
    if (fle_step(&m->fle, ev, &up) != 0) {
        sim_fail(s, "m%d: fle_step refused event %d", i + 1, ev->type);
        return;
    }
    static const char *const names[] = {"START", "RECEIVE", "TICK", "EPOCH_UPDATE", "CONNECTED"};
    sim_trace(s, i,
              "fle %s -> state %d vote (%" PRId64 ", 0x%" PRIx64 ", %" PRId64 ") sends %zu%s%s",
              names[ev->type], up.state, up.vote.leader, (uint64_t)up.vote.zxid, up.vote.peer_epoch,
              up.sends_len, up.decided ? " DECIDED" : "", up.decided_early ? " (early)" : "");
    if (up.decided_early)
        s->st.early_decisions++;
    for (size_t k = 0; k < up.sends_len && !s->failed; k++)
        send_notification(s, i, &up.sends[k]);
    m->fle_deadline = up.deadline_ms;
    if (!up.decided || s->failed)
        return;
    s->st.elections++;
    int64_t leader = up.vote.leader;
    if (leader < 1 || leader > s->nv) {
        sim_fail(s, "m%d decided for sid %" PRId64 ", not a voter", i + 1, leader);
        return;
    }
    /* Nobody decides before votes for its leader from a quorum reached it. */
    if (__builtin_popcount(m->heard[leader - 1]) < quorum(s))
        sim_fail(s, "m%d decided for m%" PRId64 " having heard %d votes for it", i + 1, leader,
                 __builtin_popcount(m->heard[leader - 1]));
    if ((leader == m->sid) != (up.state == ELECTION_LEADING))
        sim_fail(s, "m%d decided state %d for leader %" PRId64, i + 1, up.state, leader);
    zab_start(s, i, role_of(up.state), leader);
}

static void snapshot_sink(void *ctx, const void *p, size_t len)
{
    buf_append(ctx, p, len);
}

static void send_quorum(struct sim *s, int i, const struct zab_send *z)
{
    struct sim_member *m = &s->m[i];
    int to = (int)z->to - 1;
    if (to < 0 || to >= s->n || to == i) {
        sim_fail(s, "m%d: ZAB sent to sid %" PRId64, i + 1, z->to);
        return;
    }
    struct jute_buf data = {NULL, -1};
    buf_clear(&s->body);
    switch (z->payload) {
    case ZAB_PAYLOAD_NONE:
        break;
    case ZAB_PAYLOAD_DATA:
        data = z->data;
        break;
    case ZAB_PAYLOAD_I32:
        quorum_i32_payload_encode(&s->body, z->i32);
        data = jute_buf_of(s->body.data, s->body.len);
        break;
    case ZAB_PAYLOAD_ACTIVATE: /* the simulated clients send no reconfig */
        jute_write_i64(&s->body, z->i64);
        if (z->data.len > 0)
            buf_append(&s->body, z->data.ptr, (size_t)z->data.len);
        data = jute_buf_of(s->body.data, s->body.len);
        break;
    case ZAB_PAYLOAD_LEARNER_INFO: {
        struct zk_learner_info li = {
            .serverid = m->sid, .protocol_version = QUORUM_PROTOCOL_VERSION, .config_version = 0};
        if (s->apache_learners)
            zk_learner_info_encode(&s->body, &li);
        else
            quorum_learner_info_encode(&s->body, m->sid, 0);
        data = jute_buf_of(s->body.data, s->body.len);
        break;
    }
    case ZAB_PAYLOAD_CONFIG:
        data = jute_buf_of(s->config_text, strlen(s->config_text));
        break;
    case ZAB_PAYLOAD_SESSIONS:
        /* the sessions this learner's clients touched since its last PING */
        if (m->srv && m->serving)
            server_take_touched(m->srv, &s->body);
        data = jute_buf_of(s->body.data, s->body.len);
        break;
    }
    buf_clear(&s->frame);
    quorum_packet_encode(&s->frame, z->type, z->zxid, data, NULL, 0);
    if (z->type == QUORUM_SNAP) {
        /* The tree follows the packet: the real snapshot body of the
         * leader's server, which must be exactly at the packet's zxid
         * (everything committed before this update applied, nothing after);
         * the sim adds its zxid and the history's digest. */
        uint64_t digest = 0;
        if (applied_zxid(m) != z->zxid || server_last_zxid(m->srv) != z->zxid ||
            !digest_at(m, z->zxid, &digest))
            sim_fail(s, "m%d sends SNAP 0x%" PRIx64 " with its tree at 0x%" PRIx64, i + 1,
                     (uint64_t)z->zxid, (uint64_t)server_last_zxid(m->srv));
        jute_write_i64(&s->frame, z->zxid);
        jute_write_i64(&s->frame, (int64_t)digest);
        struct buf snap;
        buf_init(&snap);
        server_snapshot_write(m->srv, snapshot_sink, &snap);
        jute_write_buf(&s->frame, jute_buf_of(snap.data, snap.len));
        buf_deinit(&snap);
        jute_write_cstr(&s->frame, "BenWasHere");
        s->st.snaps++;
    }
    if (z->type == QUORUM_DIFF)
        s->st.diffs++;
    if (z->type == QUORUM_TRUNC) {
        /* Nothing committed when the leader decides may be cut. (Txns it
         * commits after deciding may: the learner gets them again, as
         * PROPOSALs right after the TRUNC.) */
        const struct sim_member *t = &s->m[to];
        for (size_t k = t->d.log_len; k > 0 && t->d.log[k - 1].zxid > z->zxid; k--) {
            const struct sim_entry *e = &t->d.log[k - 1];
            size_t g = g_upper(s, e->zxid);
            if (g > 0 && s->g[g - 1].zxid == e->zxid && s->g[g - 1].digest == e->digest)
                sim_fail(s, "m%d sends m%d TRUNC to 0x%" PRIx64 ", cutting committed 0x%" PRIx64,
                         i + 1, to + 1, (uint64_t)z->zxid, (uint64_t)e->zxid);
        }
        s->st.truncs++;
    }
    link_push(s, SIM_QUORUM, i, to, s->frame.data, s->frame.len);
}

static void record_leader(struct sim *s, int i, int64_t epoch)
{
    for (size_t k = 0; k < s->epochs_len; k++)
        if (s->epoch_of_leader[k] == epoch) {
            if (s->epoch_leader[k] != s->m[i].sid)
                sim_fail(s, "two leaders established epoch %" PRId64 ": m%" PRId64 " and m%d",
                         epoch, s->epoch_leader[k], i + 1);
            return;
        }
    if (s->epochs_len < sizeof(s->epoch_leader) / sizeof(s->epoch_leader[0])) {
        s->epoch_of_leader[s->epochs_len] = epoch;
        s->epoch_leader[s->epochs_len++] = s->m[i].sid;
    }
    /* Nothing committed before may be missing from the new leader's history. */
    const struct sim_member *m = &s->m[i];
    for (size_t k = 0; k < s->g_len && !s->failed; k++)
        if (!durable_has(m, &s->g[k]))
            sim_fail(s, "m%d leads epoch %" PRId64 " without committed txn 0x%" PRIx64, i + 1,
                     epoch, (uint64_t)s->g[k].zxid);
}

static void log_failed_role_end(struct sim *s, int i);

static void sim_zab_update(struct sim *s, int i, const struct zab_update *u)
{
    struct sim_member *m = &s->m[i];
    if (u->drain_log) {
        /* src/node's io_drain_log: the log thread joined; a refused write
         * (EIO, a full disk) ends the role before the epochs are written */
        if (m->eio) {
            sim_crash(s, i, true);
            return;
        }
        if (m->log_failed) {
            log_failed_role_end(s, i);
            return;
        }
        disk_drain(m);
    }
    if (u->accepted_epoch >= 0)
        m->d.accepted = u->accepted_epoch;
    if (u->current_epoch >= 0)
        m->d.current = u->current_epoch;
    if (m->d.current > m->d.accepted)
        sim_fail(s, "m%d: currentEpoch %" PRId64 " above acceptedEpoch %" PRId64, i + 1,
                 m->d.current, m->d.accepted);
    if (u->truncate_after_zxid >= 0) {
        if (u->truncate_after_zxid < m->d.base)
            sim_fail(s, "m%d: TRUNC below its snapshot", i + 1);
        size_t keep = m->d.log_len;
        while (keep && m->d.log[keep - 1].zxid > u->truncate_after_zxid)
            keep--;
        disk_cut(m, keep);
        disk_drain(m);
        member_reload(s, i, "TRUNC"); /* the tree reloaded from the log */
        if (m->commit_zxid > last_zxid(m)) {
            m->commit_zxid = last_zxid(m);
            m->commit_g = g_upper(s, m->commit_zxid);
        }
    }
    if (u->snapshot_zxid >= 0) {
        if (!m->snap_ready || m->snap_zxid != u->snapshot_zxid)
            sim_fail(s, "m%d: snapshot 0x%" PRIx64 " without its body", i + 1,
                     (uint64_t)u->snapshot_zxid);
        if (u->snapshot_zxid < m->commit_zxid)
            sim_fail(s, "m%d: SNAP behind what it committed", i + 1);
        m->d.base = u->snapshot_zxid;
        m->d.base_digest = m->snap_digest;
        buf_clear(&m->base_body);
        buf_append(&m->base_body, m->snap_body.data, m->snap_body.len);
        disk_cut(m, 0);
        disk_drain(m);
        check_digest(s, &s->history, i, m->d.base, m->d.base_digest, "history",
                     "loaded a snapshot at");
        member_reload(s, i, "SNAP");
    }
    m->snap_ready = false;
    for (size_t k = 0; k < u->appends_len; k++) {
        const struct zab_txn *t = &u->appends[k];
        if (t->zxid <= last_zxid(m))
            sim_fail(s, "m%d: log zxids do not increase: 0x%" PRIx64 " after 0x%" PRIx64, i + 1,
                     (uint64_t)t->zxid, (uint64_t)last_zxid(m));
        if (m->log_failed || m->d.full_until > s->now) {
            /* The log thread refuses the batch (ENOSPC) and every one after
             * it; the node hears of it a moment later and ends the role
             * (src/node/log_writer.c). The txn never becomes durable here,
             * so ZAB never hears PERSISTED for it: no ACK. */
            if (!m->log_failed) {
                s->st.refusals++;
                m->log_failed = true;
                m->log_failed_at = s->now + sim_between(s, 1, 5);
                sim_trace(s, i, "disk full: append of 0x%" PRIx64 " refused", (uint64_t)t->zxid);
            }
            continue;
        }
        if (m->eio || (s->now < s->calm_at && sim_chance(s, 150))) {
            /* EIO from write: this txn and every later one never reach the
             * log; the node stops at its next timers */
            if (!m->eio) {
                s->st.eios++;
                sim_trace(s, i, "write of 0x%" PRIx64 ": EIO", (uint64_t)t->zxid);
            }
            m->eio = true;
            continue;
        }
        disk_append(m, t->zxid, t->data.ptr, (size_t)t->data.len);
        if (m->d.log[m->d.log_len - 1].type < ZK_OP_ERROR - 50)
            sim_fail(s, "m%d: logged a txn 0x%" PRIx64 " whose TxnHeader does not decode", i + 1,
                     (uint64_t)t->zxid);
        check_digest(s, &s->history, i, t->zxid, m->d.log[m->d.log_len - 1].digest, "history",
                     "logged");
        if (s->planted == SIM_PLANTED_ACK_AT_APPEND && m->zab.role == ZAB_LEADING &&
            server_role(m->srv) == SERVER_LEADER && m->applied_len + 1 == m->d.log_len) {
            m->applied_len = m->d.log_len; /* the bug: standalone's "commit once logged" */
            server_persisted(m->srv, t->zxid, local_now(s, i));
        }
    }
    disk_sync_start(s, i);
    for (size_t k = 0; k < u->closes_len; k++) {
        int j = (int)u->closes[k] - 1;
        if (j >= 0 && j < s->n && j != i)
            quorum_close(s, i, j, false, true);
    }
    for (size_t k = 0; k < u->sends_len && !s->failed; k++)
        send_quorum(s, i, &u->sends[k]);
    member_apply(s, i, u->commit_upto_zxid);
    if (u->serving)
        sim_commit(s, i, u->commit_upto_zxid);
    m->zab_deadline = u->deadline_ms;
    if (u->became_serving) {
        if (u->role == ZAB_LEADING)
            record_leader(s, i, u->established_epoch);
        member_drop_clients(s, i, "role change");
        syncs_clear(m);
        m->serving_since = s->now;
        if (u->role == ZAB_LEADING)
            /* the leader's next zxid is ZAB's first (as src/node's become_serving) */
            server_set_role(
                m->srv, SERVER_LEADER,
                ZAB_ZXID(u->established_epoch, s->counter_start > 0 ? s->counter_start - 1 : 0),
                local_now(s, i));
        else
            server_set_role(m->srv, SERVER_LEARNER, 0, local_now(s, i));
        m->serving = true;
        struct fle_event ev = {.type = FLE_EPOCH_UPDATE, .now_ms = local_now(s, i)};
        ev.epoch_update.epoch = u->established_epoch;
        sim_fle_step(s, i, &ev);
    }
    if (u->epoch_rolled) {
        /* the next epoch in place: clients, sessions and the role stay */
        sim_trace(s, i, "epoch %" PRId64 " in place (the zxid counter's roll-over)",
                  u->established_epoch);
        if (u->role == ZAB_LEADING) {
            s->st.rolled++;
            record_leader(s, i, u->established_epoch);
        }
        struct fle_event ev = {.type = FLE_EPOCH_UPDATE, .now_ms = local_now(s, i)};
        ev.epoch_update.epoch = u->established_epoch;
        sim_fle_step(s, i, &ev);
        if (u->role == ZAB_LEADING)
            member_flush(s, i); /* the txns held for the next epoch go now */
    }
    if (u->stopped) {
        sim_trace(s, i, "zab stopped: %s", u->reason ? u->reason : "?");
        if (u->reason && strstr(u->reason, "zxid counter is exhausted")) {
            s->st.rollovers++;
            s->rollover_at = s->now;
        }
        m->zab_deadline = -1;
        m->serving = false;
        member_reload(s, i, "role over"); /* LOOKING: the tree is reloaded from the log */
        fle_start(s, i);
        return;
    }
    if (u->synced_len && m->up && !s->failed)
        answer_syncs(s, i, u->synced, u->synced_len);
}

static int sim_zab_step(struct sim *s, int i, const struct zab_event *ev)
{
    struct sim_member *m = &s->m[i];
    struct zab_update u;
    int rc = zab_step(&m->zab, ev, &u);
    if (rc == ZAB_EBUSY || rc == ZAB_ENOTREADY)
        return rc;
    if (rc != 0) {
        sim_fail(s, "m%d: zab_step refused event %d: %d", i + 1, ev->type, rc);
        return rc;
    }
    static const char *const names[] = {"START",   "RECEIVE",      "PERSISTED",   "TICK",
                                        "PROPOSE", "DISCONNECTED", "SYNC_REQUEST"};
    sim_trace(s, i,
              "zab %s %d 0x%" PRIx64 " -> role %d phase %d commit 0x%" PRIx64
              " sends %zu appends %zu closes %zu%s%s",
              names[ev->type], ev->type == ZAB_RECEIVE ? ev->receive.type : 0,
              (uint64_t)(ev->type == ZAB_RECEIVE ? ev->receive.zxid : 0), u.role, u.phase,
              (uint64_t)u.commit_upto_zxid, u.sends_len, u.appends_len, u.closes_len,
              u.became_serving ? " SERVING" : "", u.stopped ? " STOPPED" : "");
    sim_zab_update(s, i, &u);
    return 0;
}

/* ---- faults ---- */

/* A crash: of the machine or the process; eio: the node stopped itself on
 * a failed log write or fsync (a process exit: peers see RSTs). */
static void sim_crash(struct sim *s, int i, bool eio)
{
    struct sim_member *m = &s->m[i];
    if (!m->up)
        return;
    s->st.crashes++;
    /* the kernel closes a dead process's sockets: the members that can
     * reach it see its election connection end */
    bool told[SIM_MEMBERS_MAX] = {false};
    for (int j = 0; j < s->n; j++)
        told[j] = j != i && linked(s, i, j);
    bool machine = !eio && sim_chance(s, 500000); /* a machine, not a process: no RST */
    sim_trace(s, i, "crash%s", machine ? " (machine)" : eio ? " (EIO: the node stops)" : "");
    for (int j = 0; j < s->n; j++)
        if (j != i)
            quorum_close(s, i, j, false, !machine);
    m->up = false;
    m->log_failed = false;
    m->paused_until = 0;
    /* Unsynced appends: the OS may have written some of them; a torn tail
     * is cut at recovery. */
    size_t kept =
        m->d.durable_len + (size_t)sim_between(s, 0, (int64_t)(m->d.log_len - m->d.durable_len));
    if (eio)
        kept = m->d.durable_len; /* after a failed fsync nothing unsynced can be trusted */
    m->eio = false;
    disk_cut(m, kept);
    m->d.durable_len = kept;
    member_drop_clients(s, i, "crash");
    member_server_free(s, i);
    m->serving = false;
    m->d.sync_pending = false;
    m->restart_at = s->now + sim_between(s, 200, 3000);
    for (int j = 0; j < s->n; j++)
        if (j != i) {
            struct sim_conn *c = conn_of(s, SIM_ELECTION, i, j);
            c->gen++;
            m->resend_at[j] = -1;
            s->m[j].resend_at[i] = -1;
        }
    zab_deinit(&m->zab);
    for (int j = 0; j < s->n; j++)
        if (told[j])
            fle_link(s, j, i, false);
}

static void sim_configure(struct sim *s, int i)
{
    struct sim_member *m = &s->m[i];
    struct fle_config fc = {.my_sid = m->sid,
                            .voters = s->voters,
                            .voters_len = (size_t)s->nv,
                            .decide_when_connected_agree = true};
    if (s->planted == SIM_PLANTED_FLE_ONE_VOTE)
        fc.has_quorum = planted_one;
    if (fle_init(&m->fle, &fc) != 0)
        abort();
    struct zab_config zc = {.my_sid = m->sid,
                            .voters = s->voters,
                            .voters_len = (size_t)s->nv,
                            .tick_ms = SIM_TICK_MS,
                            .init_limit = SIM_INIT_LIMIT,
                            .sync_limit = SIM_SYNC_LIMIT,
                            .committed_log_max = SIM_COMMITTED_LOG,
                            .outstanding_max = SIM_OUTSTANDING,
                            .first_counter = s->counter_start};
    if (s->planted == SIM_PLANTED_ZAB_ONE_ACK)
        zc.has_quorum = planted_one;
    if (zab_init(&m->zab, &zc) != 0)
        abort();
    m->fle_deadline = m->zab_deadline = -1;
}

static void sim_restart(struct sim *s, int i)
{
    struct sim_member *m = &s->m[i];
    m->up = true;
    m->restart_at = -1;
    sim_trace(s, i, "restart: log to 0x%" PRIx64 ", epochs %" PRId64 "/%" PRId64,
              (uint64_t)last_zxid(m), m->d.accepted, m->d.current);
    /* src/node's recovery refuses a log whose last epoch is above the
     * currentEpoch file ("The current epoch, N, is older than the last
     * zxid"): epochs are written before their txns are logged */
    if (ZAB_EPOCH_OF(last_zxid(m)) > m->d.current)
        sim_fail(s, "m%d: its log reaches epoch %" PRId64 " but its currentEpoch is %" PRId64,
                 i + 1, ZAB_EPOCH_OF(last_zxid(m)), m->d.current);
    sim_configure(s, i);
    /* Recovery replays the whole log into the tree, as ZKDatabase does. */
    member_reload(s, i, "restart");
    if (m->commit_zxid > last_zxid(m)) {
        m->commit_zxid = last_zxid(m);
        m->commit_g = g_upper(s, m->commit_zxid);
    }
    for (int j = 0; j < s->n; j++)
        if (j != i && s->m[j].up)
            election_reset(s, i, j);
    fle_start(s, i);
}

static void sim_faults(struct sim *s)
{
    int n = s->n;
    if (sim_chance(s, 300)) { /* a connection reset */
        int a = (int)sim_between(s, 0, n - 1), b = (int)sim_between(s, 0, n - 1);
        if (a != b && linked(s, a, b)) {
            s->st.drops++;
            if (sim_chance(s, 500000)) {
                sim_trace(s, a, "quorum connection to m%d reset", b + 1);
                quorum_close(s, a, b, true, true);
            } else {
                sim_trace(s, a, "election connection to m%d reset", b + 1);
                election_reset(s, a, b);
            }
        }
    }
    if (sim_chance(s, 120)) { /* a crash, the leader more often */
        int i = (int)sim_between(s, 0, n - 1);
        for (int j = 0; j < n && sim_chance(s, 400000); j++)
            if (s->m[j].up && s->m[j].zab.role == ZAB_LEADING)
                i = j;
        int down = 0;
        for (int j = 0; j < n; j++)
            down += !s->m[j].up;
        if (s->m[i].up && down < n - 1)
            sim_crash(s, i, false);
    }
    if (!s->partitioned && sim_chance(s, 60)) {
        s->partitioned = true;
        s->partition_until = s->now + sim_between(s, 500, 6000);
        s->st.partitions++;
        for (int i = 0; i < n; i++)
            s->m[i].side = sim_chance(s, 500000);
        sim_trace(s, 0, "partition until %" PRId64, s->partition_until);
        for (int a = 0; a < n; a++)
            for (int b = a + 1; b < n; b++)
                if (s->m[a].side != s->m[b].side)
                    for (int k = 0; k < 2; k++) {
                        s->conn[k][a][b].gen++; /* silently dead: timeouts find out */
                        s->conn[k][a][b].alive = false;
                    }
    }
    if (sim_chance(s, 150)) { /* a slow link for a while */
        int a = (int)sim_between(s, 0, n - 1), b = (int)sim_between(s, 0, n - 1);
        if (a != b) {
            for (int k = 0; k < 2; k++) {
                s->link[k][a][b].slow_until = s->now + sim_between(s, 500, 4000);
                s->link[k][a][b].slow_ms = sim_between(s, 30, 700);
            }
        }
    }
    if (sim_chance(s, 30)) { /* a clock jumps forward */
        int i = (int)sim_between(s, 0, n - 1);
        int64_t jump = sim_between(s, 500, 8000);
        s->m[i].clock_offset_ms += jump;
        s->st.jumps++;
        sim_trace(s, i, "clock jumps %" PRId64 " ms", jump);
    }
    if (sim_chance(s, 25)) { /* a VM pause: frozen, then every timer due at once */
        int i = (int)sim_between(s, 0, n - 1);
        if (s->m[i].up && !paused(s, i)) {
            s->m[i].paused_until = s->now + sim_between(s, 1000, 6000);
            s->st.pauses++;
            sim_trace(s, i, "paused until %" PRId64, s->m[i].paused_until);
        }
    }
    if (sim_chance(s, 100)) { /* a slow disk */
        int i = (int)sim_between(s, 0, n - 1);
        s->m[i].d.slow_until = s->now + sim_between(s, 500, 5000);
    }
    if (s->full_member >= 0 && sim_chance(s, 40)) { /* a full disk on one member */
        int64_t until = s->now + sim_between(s, 1000, 6000);
        s->m[s->full_member].d.full_until = until;
        sim_trace(s, s->full_member, "disk full until %" PRId64, until);
    }
}

/* After the faults stop: everything heals. */
static void sim_heal(struct sim *s)
{
    for (int i = 0; i < s->n; i++) {
        struct sim_member *m = &s->m[i];
        if (!m->up && (m->restart_at < 0 || m->restart_at > s->now))
            m->restart_at = s->now;
        m->d.full_until = m->d.slow_until = 0;
        if (m->paused_until > s->now)
            m->paused_until = s->now;
        for (int j = 0; j < s->n; j++)
            for (int k = 0; k < 2; k++)
                s->link[k][i][j].slow_until = 0;
    }
    if (s->partitioned)
        s->partition_until = s->now;
}

/* ---- delivery ---- */

static void deliver_election(struct sim *s, int from, int to, const struct sim_packet *p)
{
    struct jute_buf msg;
    size_t used = 0;
    struct election_notification n;
    if (election_message_split(p->bytes, p->len, &msg, &used) != 0 || used != p->len ||
        election_notification_decode(msg.ptr, (size_t)msg.len, &n) != 0) {
        sim_fail(s, "m%d: an election message from m%d does not decode", to + 1, from + 1);
        return;
    }
    if (n.leader >= 1 && n.leader <= s->n)
        s->m[to].heard[n.leader - 1] |= 1u << from;
    struct fle_event ev = {.type = FLE_RECEIVE, .now_ms = local_now(s, to)};
    ev.receive.from = s->m[from].sid;
    ev.receive.n = n;
    sim_fle_step(s, to, &ev);
}

/* The client traffic on a quorum connection (src/node's ports carry it
 * beside ZAB): a learner's REQUESTs and REVALIDATEs to the leader, the
 * leader's REVALIDATE answers. False: the packet waits (the leader's ZAB is
 * full: the node stops reading that learner). */
static bool deliver_client_packet(struct sim *s, int from, int to,
                                  const struct zk_quorum_packet *qp)
{
    struct sim_member *m = &s->m[to];
    if (!m->serving)
        return true; /* not serving yet or any more: gone with the connection */
    int64_t now = local_now(s, to);
    struct jute_reader r;
    jute_reader_init(&r, qp->data.ptr, qp->data.len > 0 ? (size_t)qp->data.len : 0);
    if (m->zab.role != ZAB_LEADING) {
        if (qp->type == QUORUM_REVALIDATE) {
            int64_t session = jute_read_i64(&r);
            bool valid = jute_read_bool(&r);
            if (!r.failed)
                server_revalidated(m->srv, session, valid, now);
            member_flush(s, to);
        }
        return true;
    }
    if (qp->type == QUORUM_REVALIDATE) {
        int64_t session = jute_read_i64(&r);
        int32_t timeout_ms = jute_read_i32(&r);
        if (r.failed) {
            sim_fail(s, "m%d: a REVALIDATE from m%d does not decode", to + 1, from + 1);
            return true;
        }
        bool valid = server_revalidate_session(m->srv, s->m[from].sid, session, timeout_ms, now);
        struct buf body;
        buf_init(&body);
        jute_write_i64(&body, session);
        jute_write_bool(&body, valid);
        buf_clear(&s->fwd);
        quorum_packet_encode(&s->fwd, QUORUM_REVALIDATE, 0, jute_buf_of(body.data, body.len), NULL,
                             0);
        buf_deinit(&body);
        link_push(s, SIM_QUORUM, to, from, s->fwd.data, s->fwd.len);
        member_flush(s, to);
        return true;
    }
    if (!leader_has_room(s, to))
        return false;
    char err[256];
    if (server_learner_request(m->srv, s->m[from].sid, qp->data.ptr, (size_t)qp->data.len, NULL, 0,
                               now, err, sizeof(err)) != 0)
        sim_fail(s, "m%d: m%d's REQUEST refused: %s", to + 1, from + 1, err);
    member_flush(s, to);
    return true;
}

/* Returns false when the packet must wait (a learner still dialling). */
static bool deliver_quorum(struct sim *s, int from, int to, const struct sim_packet *p)
{
    struct sim_member *m = &s->m[to];
    size_t plen = 0;
    struct zk_quorum_packet qp;
    struct jute_reader r;
    if (quorum_packet_split(p->bytes, p->len, QUORUM_MAX_BUFFER_DEFAULT, &plen) != 0 || plen == 0) {
        sim_fail(s, "m%d: a quorum packet from m%d does not split", to + 1, from + 1);
        return true;
    }
    jute_reader_init(&r, p->bytes, plen);
    if (zk_quorum_packet_decode(&r, &qp) != 0) {
        sim_fail(s, "m%d: a quorum packet from m%d does not decode", to + 1, from + 1);
        return true;
    }
    bool leading = m->zab.role == ZAB_LEADING;
    bool from_leader = m->zab.role != ZAB_LOOKING && !leading && m->zab.leader_sid == from + 1;
    if (!leading && !from_leader) {
        struct sim_conn *c = conn_of(s, SIM_QUORUM, from, to);
        bool hello = qp.type == QUORUM_FOLLOWERINFO || qp.type == QUORUM_OBSERVERINFO;
        if (hello && s->now < c->opened_at + 2000)
            return false; /* not listening yet: Learner.connectToLeader retries */
        quorum_close(s, from, to, true, false); /* refused */
        return true;
    }
    if (qp.type == QUORUM_REQUEST || qp.type == QUORUM_REVALIDATE)
        return deliver_client_packet(s, from, to, &qp);
    if (qp.type == QUORUM_PING && leading && m->serving) {
        /* A learner's PING: the sessions its clients touched (Leader's
         * LearnerHandler -> SessionTracker.touchSession). */
        struct quorum_ping_iter it;
        int64_t session_id;
        int32_t timeout_ms;
        if (quorum_ping_iter_init(&it, qp.data) != 0)
            sim_fail(s, "m%d: a PING from m%d with sessions that do not decode", to + 1, from + 1);
        else
            while (quorum_ping_next(&it, &session_id, &timeout_ms))
                if (s->planted != SIM_PLANTED_NO_TOUCH) /* the bug: the touches are lost */
                    server_touch_session(m->srv, session_id, timeout_ms, local_now(s, to));
    }
    if (qp.type == QUORUM_SNAP) {
        struct jute_reader body;
        jute_reader_init(&body, p->bytes + plen, p->len - plen);
        m->snap_zxid = jute_read_i64(&body);
        m->snap_digest = (uint64_t)jute_read_i64(&body);
        struct jute_buf tree = jute_read_buf(&body);
        buf_clear(&m->snap_body);
        if (tree.len > 0)
            buf_append(&m->snap_body, tree.ptr, (size_t)tree.len);
        struct jute_buf ben = jute_read_buf(&body);
        m->snap_ready = !body.failed && ben.len == 10 && memcmp(ben.ptr, "BenWasHere", 10) == 0;
    }
    struct zab_event ev = {.type = ZAB_RECEIVE, .now_ms = local_now(s, to)};
    ev.receive.from = s->m[from].sid;
    ev.receive.type = qp.type;
    ev.receive.zxid = qp.zxid;
    ev.receive.data = qp.data;
    sim_zab_step(s, to, &ev);
    if (qp.type == QUORUM_SYNC && from_leader && m->up && m->serving &&
        m->zab.phase == ZAB_BROADCAST && !s->failed) {
        /* the leader's answer to the oldest sync this learner forwarded
         * (src/node/quorum_port.c hands it to the server the same way) */
        server_sync_done(m->srv, local_now(s, to));
        member_flush(s, to);
    }
    return true;
}

static void sim_deliver(struct sim *s)
{
    for (int k = 0; k < 2; k++)
        for (int a = 0; a < s->n; a++)
            for (int b = 0; b < s->n; b++) {
                struct sim_link *l = &s->link[k][a][b];
                if (paused(s, b))
                    continue; /* queued until it resumes */
                while (l->len && l->q[l->head].at <= s->now && !s->failed) {
                    struct sim_packet *p = &l->q[l->head];
                    const struct sim_conn *c = conn_of(s, (enum sim_kind)k, a, b);
                    if (p->gen != c->gen || !c->alive || !linked(s, a, b)) {
                        link_pop(l);
                        continue;
                    }
                    if (k == SIM_ELECTION) {
                        deliver_election(s, a, b, p);
                    } else if (!deliver_quorum(s, a, b, p)) {
                        p->at = s->now + 50;
                        break;
                    }
                    if (l->len && &l->q[l->head] == p)
                        link_pop(l);
                }
            }
}

/* The node hears that its log refused an append: the role ends and the
 * server is rebuilt from what the disk holds (src/node/log_writer.c). */
static void log_failed_role_end(struct sim *s, int i)
{
    struct sim_member *m = &s->m[i];
    m->log_failed = false;
    if (m->zab.role == ZAB_LOOKING)
        return;
    sim_trace(s, i, "the log refused appends: the role ends");
    struct zab_event ev = {.type = ZAB_START, .now_ms = local_now(s, i)};
    ev.start.role = ZAB_LOOKING;
    ev.start.last_zxid = last_zxid(m);
    ev.start.accepted_epoch = m->d.accepted;
    ev.start.current_epoch = m->d.current;
    sim_zab_step(s, i, &ev);
    if (!m->up || s->failed)
        return;
    m->zab_deadline = -1;
    m->serving = false;
    member_reload(s, i, "log refused");
    fle_start(s, i);
}

static void sim_timers(struct sim *s)
{
    for (size_t k = 0; k < s->disc_len;) {
        struct sim_disc d = s->disc[k];
        if (d.at > s->now || paused(s, d.member)) {
            k++;
            continue;
        }
        s->disc[k] = s->disc[--s->disc_len];
        if (s->m[d.member].up && conn_of(s, SIM_QUORUM, d.member, d.peer)->gen == d.gen) {
            struct zab_event ev = {.type = ZAB_DISCONNECTED, .now_ms = local_now(s, d.member)};
            ev.disconnected.sid = s->m[d.peer].sid;
            sim_zab_step(s, d.member, &ev);
        }
    }
    for (int i = 0; i < s->n && !s->failed; i++) {
        struct sim_member *m = &s->m[i];
        if (!m->up) {
            if (m->restart_at >= 0 && m->restart_at <= s->now)
                sim_restart(s, i);
            continue;
        }
        if (paused(s, i))
            continue;
        if (m->paused_until) {
            m->paused_until = 0;
            sim_trace(s, i, "resumes");
            member_flush(s, i);
        }
        if (m->eio) {
            sim_crash(s, i, true);
            continue;
        }
        if (m->log_failed && m->log_failed_at <= s->now)
            log_failed_role_end(s, i);
        if (m->srv && server_next_tick_ms(m->srv) <= local_now(s, i)) {
            server_tick(m->srv, local_now(s, i)); /* the leader expires sessions */
            member_flush(s, i);
        }
        for (int j = 0; j < s->n; j++)
            if (m->resend_at[j] >= 0 && m->resend_at[j] <= s->now) {
                m->resend_at[j] = -1;
                if (m->last_e_len[j])
                    link_push(s, SIM_ELECTION, i, j, m->last_e[j], m->last_e_len[j]);
            }
        if (m->d.sync_pending && m->d.sync_at <= s->now && s->now < s->calm_at &&
            sim_chance(s, 500)) {
            /* EIO from fsync: nothing is reported durable, the node stops
             * (DESIGN.md: a failed fsync is fatal, never retried) */
            s->st.eios++;
            sim_trace(s, i, "fsync: EIO");
            sim_crash(s, i, true);
            continue;
        }
        if (m->d.sync_pending && m->d.sync_at <= s->now) {
            m->d.sync_pending = false;
            m->d.durable_len = m->d.sync_len;
            struct zab_event ev = {.type = ZAB_PERSISTED, .now_ms = local_now(s, i)};
            ev.persisted.zxid = m->d.log[m->d.sync_len - 1].zxid;
            sim_zab_step(s, i, &ev);
            if (m->up)
                disk_sync_start(s, i);
        }
        if (m->up && m->fle_deadline >= 0 && m->fle_deadline <= local_now(s, i)) {
            struct fle_event ev = {.type = FLE_TICK, .now_ms = local_now(s, i)};
            sim_fle_step(s, i, &ev);
        }
        if (m->up && m->zab_deadline >= 0 && m->zab_deadline <= local_now(s, i)) {
            struct zab_event ev = {.type = ZAB_TICK, .now_ms = local_now(s, i)};
            sim_zab_step(s, i, &ev);
        }
    }
}

/* Calm: one leader with every member, in one epoch. */
static int stable_leader(const struct sim *s)
{
    int leader = -1;
    for (int i = 0; i < s->n; i++) {
        const struct sim_member *m = &s->m[i];
        if (!m->up || !m->zab.serving)
            return -1;
        if (m->zab.role == ZAB_LEADING) {
            if (leader >= 0)
                return -1;
            leader = i;
        }
    }
    if (leader < 0)
        return -1;
    for (int i = 0; i < s->n; i++)
        if (s->m[i].zab.epoch != s->m[leader].zab.epoch ||
            s->m[i].zab.leader_sid != s->m[leader].sid)
            return -1;
    return leader;
}

static void sim_setup(struct sim *s, uint64_t seed, int n, int64_t steps, enum sim_planted planted,
                      bool verbose)
{
    bool raw_server_free = s->raw_server_free, pipeline_after_sync = s->pipeline_after_sync;
    bool apache_learners = s->apache_learners;
    int64_t counter_start = s->counter_start;
    memset(s, 0, sizeof(*s));
    s->raw_server_free = raw_server_free;
    s->pipeline_after_sync = pipeline_after_sync;
    s->apache_learners = apache_learners;
    s->counter_start = counter_start;
    s->seed = seed;
    s->rng = seed * UINT64_C(0x2545f4914f6cdd1d) + (uint64_t)n;
    /* Members 1..n vote; a third of the runs add 1 or 2 observers after them. */
    s->nv = n;
    s->n = n += sim_chance(s, 333333) ? (int)sim_between(s, 1, 2) : 0;
    s->planted = planted;
    s->verbose = verbose;
    s->steps = steps;
    s->calm_at = steps > 2 * SIM_CALM_MS ? steps - SIM_CALM_MS : steps / 2;
    s->full_member = sim_chance(s, 500000) ? (int)sim_between(s, 0, n - 1) : -1;
    s->stable_at = -1;
    s->rollover_at = -1;
    s->last_ack_at = -1;
    buf_init(&s->body);
    buf_init(&s->frame);
    buf_init(&s->fwd);
    buf_init(&s->req);
    for (int k = 0; k < SIM_CLIENTS; k++) {
        s->c[k].member = -1;
        s->c[k].connect_at = sim_between(s, 2000, 6000);
        s->c[k].heard_at = INT64_MIN / 2;
    }
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        if (i < s->nv)
            s->voters[i] = i + 1;
        used += (size_t)snprintf(s->config_text + used, sizeof(s->config_text) - used,
                                 "server.%d=10.0.0.%d:2888:3888:%s\n", i + 1, i + 1,
                                 i < s->nv ? "participant" : "observer");
    }
    snprintf(s->config_text + used, sizeof(s->config_text) - used, "version=0");
    for (int k = 0; k < 2; k++)
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) {
                s->link[k][a][b].q = mem_calloc(SIM_LINK_MAX, sizeof(struct sim_packet));
                s->conn[k][a][b].alive = k == SIM_ELECTION;
            }
    for (int i = 0; i < n; i++) {
        struct sim_member *m = &s->m[i];
        m->sim = s;
        m->index = i;
        if (sim_chance(s, 500000)) /* a clock that runs up to 15% fast or slow */
            m->clock_rate_pm = sim_between(s, -150, 150);
        buf_init(&m->base_body);
        buf_init(&m->snap_body);
        buf_init(&m->props);
        m->sid = i + 1;
        m->restart_at = sim_between(s, 0, 2000); /* members come up over 2 s */
        for (int j = 0; j < SIM_MEMBERS_MAX; j++)
            m->resend_at[j] = -1;
    }
}

static void sim_teardown(struct sim *s)
{
    for (int i = 0; i < s->n; i++) {
        struct sim_member *m = &s->m[i];
        if (m->up)
            zab_deinit(&m->zab);
        for (int k = 0; k < SIM_CLIENTS; k++)
            if (s->c[k].member == i && m->srv)
                server_conn_closed(m->srv, s->c[k].conn, local_now(s, i));
        member_server_free(s, i);
        disk_cut(m, 0);
        mem_free(m->d.log);
        buf_deinit(&m->base_body);
        buf_deinit(&m->snap_body);
        buf_deinit(&m->props);
    }
    for (int k = 0; k < 2; k++)
        for (int a = 0; a < s->n; a++)
            for (int b = 0; b < s->n; b++) {
                struct sim_link *l = &s->link[k][a][b];
                while (l->len)
                    link_pop(l);
                mem_free(l->q);
            }
    mem_free(s->g);
    dmap_free(&s->history);
    dmap_free(&s->trees);
    mem_free(s->acked);
    for (int k = 0; k < SIM_CLIENTS; k++) {
        for (int j = 0; j < SIM_EPHEMERALS; j++)
            zlist_free(&s->eph_creates[k][j]);
    }
    zlist_free(&s->closed);
    zlist_free(&s->abandoned);
    buf_deinit(&s->body);
    buf_deinit(&s->frame);
    buf_deinit(&s->fwd);
    buf_deinit(&s->req);
}

static const char *planted_name(enum sim_planted p)
{
    switch (p) {
    case SIM_PLANTED_ZAB_ONE_ACK:
        return "zab-one-ack";
    case SIM_PLANTED_FLE_ONE_VOTE:
        return "fle-one-vote";
    case SIM_PLANTED_APPLY_SKIP:
        return "apply-skip";
    case SIM_PLANTED_ACK_AT_APPEND:
        return "ack-at-append";
    case SIM_PLANTED_NO_TOUCH:
        return "no-touch";
    case SIM_PLANTED_SYNC_LOCAL:
        return "sync-local";
    case SIM_PLANTED_SYNC_AT_ONCE:
        return "sync-at-once";
    default:
        return NULL;
    }
}

/* One run; returns true when every check held. */
static bool sim_run(struct sim *s, uint64_t seed, int n, int64_t steps, enum sim_planted planted,
                    bool verbose, int print, struct sim_stats *sum)
{
    sim_setup(s, seed, n, steps, planted, verbose);
    for (s->now = 0; s->now < s->steps && !s->failed; s->now++) {
        bool calm = s->now >= s->calm_at;
        if (s->now == s->calm_at)
            sim_heal(s);
        if (!calm)
            sim_faults(s);
        if (s->partitioned && s->now >= s->partition_until) {
            s->partitioned = false;
            sim_trace(s, 0, "partition heals");
            for (int a = 0; a < s->n; a++)
                for (int b = a + 1; b < s->n; b++)
                    if (s->m[a].side != s->m[b].side && s->m[a].up && s->m[b].up)
                        election_reset(s, a, b);
        }
        sim_timers(s);
        sim_deliver(s);
        if (!s->failed)
            sim_clients(s);
        check_acked(s);
        if (s->now % SIM_MODEL_EVERY == 0 && !s->failed) {
            check_ephemerals(s);
            check_expiry(s, false);
        }
        if (calm && s->stable_at < 0 && stable_leader(s) >= 0)
            s->stable_at = s->now;
    }
    /* A leader that stepped down at the zxid counter's roll-over in the calm
     * (--counter-start: the clients' writes make these) is a fault of its
     * own: the ensemble may still be electing and syncing at the end. */
    bool electing = s->rollover_at >= 0 && s->rollover_at > s->now - SIM_COMMIT_MS;
    if (!s->failed && electing && stable_leader(s) < 0) {
        sim_trace(s, 0, "the end: still electing after the roll-over at %" PRId64, s->rollover_at);
    } else if (!s->failed) {
        int leader = stable_leader(s);
        if (s->stable_at < 0 || s->stable_at > s->calm_at + SIM_STABLE_MS || leader < 0)
            sim_fail(s,
                     "no leader with every member %d ms after the faults stopped (stable at "
                     "%" PRId64 ")",
                     (int)(s->now - s->calm_at), s->stable_at);
        else if (s->last_ack_at < s->now - SIM_COMMIT_MS)
            sim_fail(s, "no client write acknowledged in the last %d ms of calm", SIM_COMMIT_MS);
        else {
            /* Every proposal older than SIM_COMMIT_MS committed. */
            const struct zab *z = &s->m[leader].zab;
            if (z->ring_len > z->committed_len) {
                const struct zab_entry *e =
                    &z->ring[(z->ring_head + z->committed_len) % z->ring_cap];
                if (e->proposed_ms < local_now(s, leader) - SIM_COMMIT_MS)
                    sim_fail(s, "proposal 0x%" PRIx64 " uncommitted for %" PRId64 " ms",
                             (uint64_t)e->zxid, local_now(s, leader) - e->proposed_ms);
            }
        }
    }
    if (!s->failed)
        check_acked_everywhere(s);
    if (!s->failed) {
        check_ephemerals(s);
        check_expiry(s, true);
    }
    const char *p = planted_name(planted);
    if (print == 2 || (print == 1 && s->failed)) {
        printf("czk-sim: seed %" PRIu64 ", %d members (%d observers), %" PRId64
               " steps%s%s: %s; commits %ld, "
               "writes acked %ld, reads %ld, ephemerals created %ld, syncs %ld, reads after sync "
               "%ld, sessions connected %ld, connections lost %ld, sessions closed %ld (abandoned "
               "ones "
               "seen expired %ld), EIO %ld, "
               "decisions %ld, crashes %ld, resets %ld, partitions %ld, clock jumps "
               "%ld, VM pauses %ld, refused appends %ld, DIFF %ld, TRUNC %ld, SNAP %ld, packets "
               "%ld; stable at "
               "%" PRId64 "; trace %016" PRIx64 "\n",
               seed, n, s->n - s->nv, steps, p ? ", planted " : "", p ? p : "",
               s->failed ? "FAILED" : "ok", s->st.commits, s->st.acks, s->st.reads,
               s->st.ephemerals, s->st.syncs, s->st.syncreads, s->st.connects, s->st.connlosses,
               s->st.closes, s->st.expired, s->st.eios, s->st.elections, s->st.crashes, s->st.drops,
               s->st.partitions, s->st.jumps, s->st.pauses, s->st.refusals, s->st.diffs,
               s->st.truncs, s->st.snaps, s->st.packets, s->stable_at, s->trace);
        if (s->counter_start > 0)
            printf("  counter start %" PRIx64 ": %ld epochs started in place, %ld leaders "
                   "stepped down at the roll-over\n",
                   (uint64_t)s->counter_start, s->st.rolled, s->st.rollovers);
        char counter[64] = "";
        if (s->counter_start > 0)
            snprintf(counter, sizeof(counter), " --counter-start %" PRIx64 "%s",
                     (uint64_t)s->counter_start, s->apache_learners ? " --apache-learners" : "");
        if (s->failed)
            printf("  %s\n  replay: czk-sim --seed %" PRIu64 " --members %d --steps %" PRId64
                   "%s%s%s%s\n",
                   s->why, seed, n, steps, p ? " --planted " : "", p ? p : "",
                   s->pipeline_after_sync ? "" : " --no-pipeline-after-sync", counter);
    }
    sum->commits += s->st.commits;
    sum->acks += s->st.acks;
    sum->reads += s->st.reads;
    sum->ephemerals += s->st.ephemerals;
    sum->syncs += s->st.syncs;
    sum->syncreads += s->st.syncreads;
    sum->closes += s->st.closes;
    sum->expired += s->st.expired;
    sum->eios += s->st.eios;
    sum->elections += s->st.elections;
    sum->crashes += s->st.crashes;
    sum->drops += s->st.drops;
    sum->partitions += s->st.partitions;
    sum->early_decisions += s->st.early_decisions;
    sum->snaps += s->st.snaps;
    sum->truncs += s->st.truncs;
    sum->diffs += s->st.diffs;
    sum->refusals += s->st.refusals;
    sum->jumps += s->st.jumps;
    sum->pauses += s->st.pauses;
    sum->rollovers += s->st.rollovers;
    sum->rolled += s->st.rolled;
    bool ok = !s->failed;
    sim_teardown(s);
    return ok;
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: czk-sim [--seed S] [--members 3|5|7] [--steps K] [--seeds N] [--from F]\n"
        "               [--planted zab-one-ack|fle-one-vote|apply-skip|ack-at-append|no-touch|\n"
        "                          sync-local|sync-at-once]\n"
        "               [--verbose]\n"
        "               [--raw-server-free] [--no-pipeline-after-sync]\n"
        "               [--counter-start HEX] (each epoch's first zxid counter: near\n"
        "               ffffffff, leaders start the next epoch at the counter's roll-over)\n"
        "               [--apache-learners] (learners without czk's LearnerInfo trailer:\n"
        "               leaders step down at the roll-over, as Apache's)\n"
        "  without --seed: seeds F..F+N-1 (default 1..%d) x 3, 5, 7 members, then the\n"
        "  golden seeds\n",
        SIM_SEEDS);
}

int main(int argc, char **argv)
{
    long long seed = -1;
    int members = 0, seeds = SIM_SEEDS;
    long long from = 1;
    int64_t steps = SIM_STEPS_DEFAULT;
    enum sim_planted planted = SIM_PLANTED_NONE;
    bool verbose = false, raw_server_free = false, pipeline_after_sync = true;
    bool apache_learners = false;
    int64_t counter_start = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--members") == 0 && i + 1 < argc) {
            members = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            steps = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            seeds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            from = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
        } else if (strcmp(argv[i], "--raw-server-free") == 0) {
            raw_server_free = true;
        } else if (strcmp(argv[i], "--counter-start") == 0 && i + 1 < argc) {
            char *end;
            counter_start = (int64_t)strtoll(argv[++i], &end, 16);
            if (*end || counter_start < 1 || counter_start > 0xfffffffeLL) {
                usage();
                return 2;
            }
        } else if (strcmp(argv[i], "--apache-learners") == 0) {
            apache_learners = true;
        } else if (strcmp(argv[i], "--no-pipeline-after-sync") == 0) {
            pipeline_after_sync = false; /* clients wait behind a sync + read */
        } else if (strcmp(argv[i], "--planted") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "zab-one-ack") == 0)
                planted = SIM_PLANTED_ZAB_ONE_ACK;
            else if (strcmp(argv[i], "fle-one-vote") == 0)
                planted = SIM_PLANTED_FLE_ONE_VOTE;
            else if (strcmp(argv[i], "apply-skip") == 0)
                planted = SIM_PLANTED_APPLY_SKIP;
            else if (strcmp(argv[i], "ack-at-append") == 0)
                planted = SIM_PLANTED_ACK_AT_APPEND;
            else if (strcmp(argv[i], "no-touch") == 0)
                planted = SIM_PLANTED_NO_TOUCH;
            else if (strcmp(argv[i], "sync-local") == 0)
                planted = SIM_PLANTED_SYNC_LOCAL;
            else if (strcmp(argv[i], "sync-at-once") == 0)
                planted = SIM_PLANTED_SYNC_AT_ONCE;
            else {
                usage();
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if ((members != 0 && members != 3 && members != 5 && members != 7) || steps < 1000 ||
        seeds < 1 || from < 1) {
        usage();
        return 2;
    }
    log_set_level(LOG_ERROR); /* the servers' own log lines: only their errors */
    struct sim *s = mem_calloc(1, sizeof(*s));
    s->raw_server_free = raw_server_free;
    s->pipeline_after_sync = pipeline_after_sync;
    s->apache_learners = apache_learners;
    s->counter_start = counter_start;
    struct sim_stats sum = {0};
    int runs = 0, failed = 0;
    static const int sizes[] = {3, 5, 7};
    for (long long sd = seed >= 0 ? seed : from; sd <= (seed >= 0 ? seed : from + seeds - 1); sd++)
        for (size_t k = 0; k < 3; k++) {
            int n = members ? members : sizes[k];
            if (members && k > 0)
                break;
            runs++;
            /* One seed: its line. The seed set: failures (of a planted bug: the first). */
            int print = seed >= 0 ? 2 : planted != SIM_PLANTED_NONE && failed > 0 ? 0 : 1;
            failed += !sim_run(s, (uint64_t)sd, n, steps, planted, verbose, print, &sum);
        }
    /* Golden seeds: runs that once found a bug (docs/ARCHITECTURE.md, "Simulation"). */
    static const struct {
        uint64_t seed;
        int members;
    } golden[] = {
        {5, 5},   /* a reconnecting learner closed at every attempt */
        {75, 3},  /* an ack from before a TRUNC counted: committed with one copy */
        {148, 7}, /* the same with 7 members */
    };
    for (size_t k = 0; seed < 0 && k < sizeof(golden) / sizeof(golden[0]); k++) {
        runs++;
        int print = planted != SIM_PLANTED_NONE && failed > 0 ? 0 : 1;
        failed +=
            !sim_run(s, golden[k].seed, golden[k].members, steps, planted, verbose, print, &sum);
    }
    mem_free(s);
    const char *p = planted_name(planted);
    if (seed >= 0)
        return failed ? 1 : 0;
    printf("czk-sim: %d runs, %d failed%s%s; commits %ld, writes acked %ld, reads %ld, ephemerals "
           "%ld, syncs %ld, reads after sync %ld, sessions closed %ld (abandoned ones seen expired "
           "%ld), EIO %ld, decisions %ld (before finalizeWait %ld), "
           "crashes %ld, "
           "resets %ld, partitions %ld, clock jumps %ld, VM pauses %ld, refused appends %ld, DIFF "
           "%ld, TRUNC "
           "%ld, SNAP %ld\n",
           runs, failed, p ? ", planted " : "", p ? p : "", sum.commits, sum.acks, sum.reads,
           sum.ephemerals, sum.syncs, sum.syncreads, sum.closes, sum.expired, sum.eios,
           sum.elections, sum.early_decisions, sum.crashes, sum.drops, sum.partitions, sum.jumps,
           sum.pauses, sum.refusals, sum.diffs, sum.truncs, sum.snaps);
    if (counter_start > 0) {
        printf("czk-sim: counter start %" PRIx64 ": %ld epochs started in place, %ld leaders "
               "stepped down at the zxid counter's roll-over\n",
               (uint64_t)counter_start, sum.rolled, sum.rollovers);
        if ((apache_learners ? sum.rollovers : sum.rolled) == 0 && seed < 0) {
            printf("czk-sim: no roll-over in any run: the counter start shows nothing\n");
            return 1;
        }
        if (apache_learners && sum.rolled > 0) {
            printf("czk-sim: an epoch started in place with Apache's learners\n");
            return 1;
        }
    }
    if (planted != SIM_PLANTED_NONE) {
        /* A test of the test: the checks must catch the planted bug. */
        bool caught = failed * 2 >= runs;
        printf("czk-sim: planted %s %s (%d of %d runs failed)\n", p,
               caught ? "caught" : "NOT caught", failed, runs);
        return caught ? 0 : 1;
    }
    return failed ? 1 : 0;
}
