/* SPDX-License-Identifier: Apache-2.0 */
/* The text of the four-letter words that list the whole state (wchp, wchc,
 * dump), produced a slice at a time so that a large table never holds the
 * loop: the caller asks for the next part as its client drains the last.
 * The tables may change between slices; each dump says what it promises.
 * Pure: no I/O; times are arguments. */
#include "base/buf.h"
#include "base/hmap.h"
#include "base/mem.h"
#include "server/server_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* dump's session part: the expiry buckets, taken in one walk when the dump
 * starts (ids only, which is cheap), printed later. */
struct dump_bucket {
    int64_t expire_at_ms;
    size_t first; /* into ids */
    size_t count;
};

/* One ExpiryQueue's sets (SessionTrackerImpl's, or a local tracker's), as
 * ExpiryQueue.dump lists them: the buckets by time, the sessions of one
 * bucket in any order, empty buckets too ("0 expire at ..."). */
struct dump_sets {
    const char *title; /* "Session Sets", "Local Session Sets", "Global Session Sets" */
    struct dump_bucket *buckets;
    size_t count;
    size_t total; /* ExpiryQueue.elemMap.size */
    int64_t *ids;
};

struct dump_global {
    int64_t id;
    int32_t timeout_ms;
};

struct server_dump {
    enum server_dump_kind kind;
    int phase;
    /* wchp, wchc: the walk over the data watches */
    struct watch_cursor cursor;
    int64_t *ids;
    size_t ids_cap;
    /* wchc: "\t<path>\n" lines per session id (struct buf), then printed */
    struct imap by_session;
    size_t by_session_pos;
    /* dump: the session trackers' text, as the server's role has them.
     * STANDALONE, LEADER: one set ("Session Sets"); with local sessions
     * (LeaderSessionTracker) the local ones', then "Global Session Sets".
     * LEARNER, READ_ONLY (LearnerSessionTracker): the local sets when it
     * has local sessions, then "Global Sessions(n):" and each global
     * session with its timeout, by id. */
    int64_t now_ms;
    int64_t wall_ms;
    server_date_fn *date;
    struct dump_sets sets[2];
    size_t set_count;
    size_t set_at;
    size_t bucket_at;
    size_t session_at; /* within the current bucket */
    bool learner;
    struct dump_global *globals;
    size_t global_count;
    size_t global_at;
    int64_t *eph_ids; /* sessions with ephemerals when the dump started */
    size_t eph_count;
    size_t eph_at;
};

static int compare_global(const void *a, const void *b)
{
    int64_t x = ((const struct dump_global *)a)->id;
    int64_t y = ((const struct dump_global *)b)->id;
    return (x > y) - (x < y);
}

static int compare_bucket(const void *a, const void *b)
{
    int64_t x = ((const struct dump_bucket *)a)->expire_at_ms;
    int64_t y = ((const struct dump_bucket *)b)->expire_at_ms;
    return (x > y) - (x < y);
}

enum { SETS_ALL, SETS_LOCAL, SETS_GLOBAL };

/* The sets of the sessions `which` picks. The table's buckets hold local
 * and global sessions alike: a bucket with none of them is left out of a
 * local or global listing (an empty bucket of one tracker cannot be told
 * from another's). */
static void snapshot_sets(struct server *s, struct dump_sets *set, const char *title, int which)
{
    const struct imap *buckets = &s->sessions.buckets;
    set->title = title;
    set->buckets = mem_alloc((buckets->count ? buckets->count : 1) * sizeof(*set->buckets));
    size_t all = session_count(&s->sessions);
    size_t cap = all ? all : 1, n_ids = 0, pos = 0;
    set->ids = mem_alloc(cap * sizeof(*set->ids));
    uint64_t key;
    void *value;
    while (imap_next(buckets, &pos, &key, &value)) {
        struct dump_bucket *b = &set->buckets[set->count];
        b->expire_at_ms = (int64_t)key;
        b->first = n_ids;
        struct list *it;
        LIST_FOREACH(it, (struct list *)value)
        {
            const struct server_session *ss =
                (const struct server_session *)LIST_ENTRY(it, struct session, bucket_link);
            if ((which == SETS_LOCAL && !ss->local) || (which == SETS_GLOBAL && ss->local))
                continue;
            if (n_ids == cap) {
                cap *= 2;
                set->ids = mem_realloc(set->ids, cap * sizeof(*set->ids));
            }
            set->ids[n_ids++] = ss->base.id;
        }
        b->count = n_ids - b->first;
        if (b->count > 0 || which == SETS_ALL)
            set->count++;
    }
    /* elemMap: a popped session stays counted until it is removed */
    set->total = which == SETS_ALL ? all : n_ids;
    qsort(set->buckets, set->count, sizeof(*set->buckets), compare_bucket);
}

static void snapshot_sessions(struct server *s, struct server_dump *d)
{
    enum server_role role = server_role(s);
    d->learner = role == SERVER_LEARNER || role == SERVER_READ_ONLY;
    bool local = role == SERVER_READ_ONLY ||
                 (s->cfg.local_sessions && (role == SERVER_LEADER || role == SERVER_LEARNER));
    if (local)
        snapshot_sets(s, &d->sets[d->set_count++], "Local Session Sets", SETS_LOCAL);
    if (!d->learner)
        snapshot_sets(s, &d->sets[d->set_count++], local ? "Global Session Sets" : "Session Sets",
                      local ? SETS_GLOBAL : SETS_ALL);
    if (d->learner) {
        size_t all = session_count(&s->sessions), pos = 0;
        uint64_t key;
        void *value;
        d->globals = mem_alloc((all ? all : 1) * sizeof(*d->globals));
        while (imap_next(&s->sessions.by_id, &pos, &key, &value)) {
            const struct server_session *ss = value;
            if (!ss->local)
                d->globals[d->global_count++] =
                    (struct dump_global){ss->base.id, ss->base.timeout_ms};
        }
        qsort(d->globals, d->global_count, sizeof(*d->globals), compare_global);
    }

    const struct imap *eph = &s->tree.ephemerals;
    d->eph_ids = mem_alloc((eph->count ? eph->count : 1) * sizeof(*d->eph_ids));
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (imap_next(eph, &pos, &key, &value))
        d->eph_ids[d->eph_count++] = (int64_t)key;
}

struct server_dump *server_dump_new(struct server *s, enum server_dump_kind kind, int64_t now_ms,
                                    int64_t wall_ms, server_date_fn *date)
{
    struct server_dump *d = mem_calloc(1, sizeof(*d));
    d->kind = kind;
    imap_init(&d->by_session);
    if (kind == SERVER_DUMP_SESSIONS) {
        d->now_ms = now_ms;
        d->wall_ms = wall_ms;
        d->date = date;
        snapshot_sessions(s, d);
    } else {
        watch_cursor_start(&s->data_watches, &d->cursor);
    }
    return d;
}

void server_dump_free(struct server_dump *d)
{
    if (!d)
        return;
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (imap_next(&d->by_session, &pos, &key, &value)) {
        buf_deinit(value);
        mem_free(value);
    }
    imap_deinit(&d->by_session);
    mem_free(d->ids);
    for (size_t i = 0; i < d->set_count; i++) {
        mem_free(d->sets[i].buckets);
        mem_free(d->sets[i].ids);
    }
    mem_free(d->globals);
    mem_free(d->eph_ids);
    mem_free(d);
}

/* ---- wchp: WatchManager.dumpWatches(byPath) ---- */

static void path_lines(void *ctx, const char *path, size_t len, const int64_t *ids, size_t count)
{
    struct buf *out = ctx;
    if (count == 0)
        return;
    buf_append(out, path, len); /* raw, as ZooKeeper prints it: "%.*s" stops at a NUL */
    buf_append_u8(out, '\n');
    for (size_t i = 0; i < count; i++)
        buf_printf(out, "\t0x%" PRIx64 "\n", (uint64_t)ids[i]);
}

/* ---- wchc: WatchManager.dumpWatches(by session) ---- */

static void session_lines(void *ctx, const char *path, size_t len, const int64_t *ids, size_t count)
{
    struct server_dump *d = ctx;
    for (size_t i = 0; i < count; i++) {
        struct buf *lines = imap_get(&d->by_session, (uint64_t)ids[i]);
        if (!lines) {
            lines = mem_alloc(sizeof(*lines));
            buf_init(lines);
            imap_put(&d->by_session, (uint64_t)ids[i], lines);
        }
        buf_append_u8(lines, '\t');
        buf_append(lines, path, len);
        buf_append_u8(lines, '\n');
    }
}

/* Print (and free) sessions' lines until about `budget` bytes are out. */
static bool print_sessions(struct server_dump *d, size_t budget, struct buf *out)
{
    size_t start = out->len;
    uint64_t id;
    void *value;
    while (out->len - start < budget) {
        if (!imap_next(&d->by_session, &d->by_session_pos, &id, &value))
            return false;
        struct buf *lines = value;
        buf_printf(out, "0x%" PRIx64 "\n", id);
        buf_append(out, lines->data, lines->len);
        buf_deinit(lines);
        buf_init(lines); /* freed with the map */
    }
    return true;
}

/* ---- dump: SessionTracker, ephemerals (DumpCommand) ---- */

static bool print_session_part(struct server *s, struct server_dump *d, size_t budget,
                               struct buf *out)
{
    size_t done = 0;
    if (d->phase == 0) {
        buf_printf(out, "SessionTracker dump:\n");
        d->phase = 1;
    }
    while (d->phase == 1 && done < budget) {
        if (d->set_at == d->set_count) {
            if (d->learner)
                buf_printf(out, "Global Sessions(%zu):\n", d->global_count);
            d->phase = 3;
            break;
        }
        const struct dump_sets *set = &d->sets[d->set_at];
        if (d->bucket_at == 0 && d->session_at == 0)
            buf_printf(out, "%s (%zu)/(%zu):\n", set->title, set->count, set->total);
        if (d->bucket_at == set->count) {
            d->set_at++;
            d->bucket_at = 0;
            continue;
        }
        const struct dump_bucket *b = &set->buckets[d->bucket_at];
        if (d->session_at == 0) {
            buf_printf(out, "%zu expire at ", b->count);
            d->date(out, d->wall_ms + (b->expire_at_ms - d->now_ms));
            buf_printf(out, ":\n");
        }
        while (d->session_at < b->count && done < budget) {
            buf_printf(out, "\t0x%" PRIx64 "\n", (uint64_t)set->ids[b->first + d->session_at]);
            d->session_at++;
            done++;
        }
        if (d->session_at == b->count) {
            d->bucket_at++;
            d->session_at = 0;
        }
        done++;
    }
    while (d->phase == 3 && done < budget) {
        if (d->global_at == d->global_count) {
            buf_printf(out, "ephemeral nodes dump:\nSessions with Ephemerals (%zu):\n",
                       d->eph_count);
            d->phase = 2;
            break;
        }
        const struct dump_global *g = &d->globals[d->global_at++];
        buf_printf(out, "0x%" PRIx64 "\t%" PRId32 "ms\n", (uint64_t)g->id, g->timeout_ms);
        done++;
    }
    /* DataTree.dumpEphemerals: a session's ephemerals as they are now, or
     * none if it has gone since the dump started */
    while (d->phase == 2 && done < budget) {
        if (d->eph_at == d->eph_count)
            return false;
        int64_t id = d->eph_ids[d->eph_at++];
        buf_printf(out, "0x%" PRIx64 ":\n", (uint64_t)id);
        struct list *nodes = imap_get(&s->tree.ephemerals, (uint64_t)id);
        if (nodes) {
            struct list *it;
            LIST_FOREACH(it, nodes)
            {
                struct tree_node *n = LIST_ENTRY(it, struct tree_node, eph_link);
                buf_printf(out, "\t%s\n", n->path);
                done++;
            }
        }
        done++;
    }
    return true;
}

bool server_dump_step(struct server *s, struct server_dump *d, size_t budget, struct buf *out)
{
    switch (d->kind) {
    case SERVER_DUMP_WATCHES_BY_PATH:
        return watch_cursor_step(&s->data_watches, &d->cursor, budget, path_lines, out, &d->ids,
                                 &d->ids_cap);
    case SERVER_DUMP_WATCHES_BY_SESSION:
        if (d->phase == 0) {
            if (watch_cursor_step(&s->data_watches, &d->cursor, budget, session_lines, d, &d->ids,
                                  &d->ids_cap))
                return true;
            d->phase = 1;
            return true;
        }
        /* about 40 bytes a line: the same work as `budget` watches */
        return print_sessions(d, budget * 40, out);
    case SERVER_DUMP_SESSIONS:
        return print_session_part(s, d, budget, out);
    }
    return false;
}
