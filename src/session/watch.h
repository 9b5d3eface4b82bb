/* SPDX-License-Identifier: Apache-2.0 */
/* watch.h — watches by path (ZooKeeper's WatchManager): one-shot standard
 * watches, and persistent and persistent-recursive ones (addWatch). A server
 * keeps two tables, data (getData/exists) and child (getChildren); addWatch
 * puts a watch in both. Each session's watches hang off its watch_owner so
 * that a closing connection drops them all at once. Pure. */
#ifndef CZK_SESSION_WATCH_H
#define CZK_SESSION_WATCH_H

#include "base/list.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An owner has watches in at most this many tables (a server has two). */
#define WATCH_OWNER_TABLES 2

struct watch_owner {
    int64_t session_id;
    void *data;          /* the user's (the server's session); NULL once dying */
    struct list watches; /* struct watch.owner_link */
    uint64_t stamp;      /* the last trigger that reached this owner */
    size_t count;
    /* its watches per table, so that a table counts its owners in O(1) */
    struct watch_table *tables[WATCH_OWNER_TABLES];
    size_t table_counts[WATCH_OWNER_TABLES];
    /* Being cleared a slice at a time (watch_owner_clear_some): its watches
     * no longer fire or show, but still take their part of the tables. */
    bool dying;
};

enum watch_mode {
    WATCH_STANDARD = 0,   /* removed when it fires */
    WATCH_PERSISTENT = 1, /* stays; fires for the path itself */
    WATCH_PERSISTENT_RECURSIVE =
        2, /* stays; fires for the whole subtree, never for children events */
};

/* An open-addressing set of pointers (linear probing): the entries carry
 * their own keys, so a slot costs one pointer. */
struct watch_set {
    void **slots;
    size_t cap; /* a power of two, or 0 */
    size_t count;
    size_t used;      /* count + tombstones */
    uint64_t resizes; /* moves every entry: a cursor's slot index is void */
};

/* Memory: a path's first watcher lives inside the path's entry (one
 * allocation: entry + path + that watch), so the common case of one watcher
 * per path costs one allocation and one pointer slot; each further watcher
 * of the same path costs one small allocation and a slot in `extras`, which
 * finds an (owner, path) pair in O(1) however many sessions watch the path. */
struct watch_table {
    struct watch_set paths;  /* struct watch_path, by path */
    struct watch_set extras; /* struct watch_extra, by (owner, path) */
    size_t count;
    size_t recursive_count; /* while 0, triggers look at the path alone */
    size_t owner_count;     /* owners with a watch here, not dying */
    uint32_t cursor_epoch;  /* the last epoch handed to a cursor */
};

void watch_table_init(struct watch_table *wt);
void watch_table_deinit(struct watch_table *wt);
void watch_owner_init(struct watch_owner *o, int64_t session_id, void *data);
/* Adds a watch; if the owner already watches that path in this table, its
 * mode becomes `mode` (ZooKeeper's WatcherModeManager keeps the last one)
 * and the result is false. */
bool watch_add(struct watch_table *wt, struct watch_owner *o, const char *path, size_t len,
               enum watch_mode mode);
/* watch_add, watch_contains, watch_remove: O(1) expected, whatever the
 * number of watchers of the path. */
bool watch_contains(const struct watch_table *wt, const struct watch_owner *o, const char *path,
                    size_t len);
/* Remove one owner's watch on a path; false if it had none. */
bool watch_remove(struct watch_table *wt, struct watch_owner *o, const char *path, size_t len);

typedef void watch_fire_fn(void *ctx, struct watch_owner *o);
/* An event at `path`: fire the watches on the path (standard ones are
 * removed; persistent ones stay) and the recursive watches on the path and
 * its ancestors unless `children_event`. fire is called once per owner,
 * skipping owners already reached by this `stamp` (a delete fires data and
 * child watches of one path as one event per session, as ZooKeeper does).
 * Returns how many fired. Cost: O(watchers of the path), plus one lookup per
 * ancestor while the table holds a recursive watch. `fire` must not add or
 * remove watches. */
size_t watch_trigger(struct watch_table *wt, const char *path, size_t len, bool children_event,
                     uint64_t stamp, watch_fire_fn *fire, void *ctx);
/* The owner's watches stop firing and showing (it is cleared later, a
 * slice at a time, with watch_owner_clear_some); it stops counting as a
 * watcher at once. */
void watch_owner_kill(struct watch_owner *o);
/* Drop all of an owner's watches, in every table: O(its watches). */
void watch_owner_clear(struct watch_owner *o);
/* Drop up to `max` of them; true once none is left. */
bool watch_owner_clear_some(struct watch_owner *o, size_t max);

/* Iterate paths with their watcher session ids (for wchp/wchc). */
typedef void watch_visit_fn(void *ctx, const char *path, size_t len, int64_t session_id);
void watch_table_visit(const struct watch_table *wt, watch_visit_fn *visit, void *ctx);
static inline size_t watch_table_count(const struct watch_table *wt)
{
    return wt->count;
}
static inline size_t watch_table_path_count(const struct watch_table *wt)
{
    return wt->paths.count;
}
/* Owners (sessions) with at least one watch in the table, dying ones not
 * counted: O(1). */
static inline size_t watch_table_owner_count(const struct watch_table *wt)
{
    return wt->owner_count;
}

/* A walk over a table's paths a slice at a time, for the four-letter words
 * that list every watch (wchp, wchc) without holding the loop. The table
 * may change between slices: a path present throughout is visited exactly
 * once; one added or removed meanwhile may be visited or not (ZooKeeper's
 * ConcurrentHashMap iteration promises the same). Each visited path is
 * stamped with the cursor's epoch, so that when the table is rehashed under
 * the cursor (every entry moves) the walk starts over and skips what it has
 * already visited. Two cursors on one table at once overwrite each other's
 * stamps: after a rehash, such a walk may visit a path twice. A cursor holds
 * no pointer into the table; it needs no freeing. */
struct watch_cursor {
    size_t pos;       /* the next slot */
    uint64_t resizes; /* the table's resizes when pos was taken */
    uint32_t epoch;
    bool restarted; /* stamps matter: the walk is in its second pass */
};

/* Called once per visited path, with its watchers (dying ones left out) in
 * `session_ids`; `count` may be 0. */
typedef void watch_path_fn(void *ctx, const char *path, size_t len, const int64_t *session_ids,
                           size_t count);

void watch_cursor_start(struct watch_table *wt, struct watch_cursor *cur);
/* Visit paths until about `budget` slots and watchers have been looked at
 * (a path's watchers are visited together, so one path with more watchers
 * than that goes over it). Returns false once the walk is complete. `ids`
 * is scratch space of *ids_cap entries that grows as needed (mem_realloc;
 * the caller frees it). */
bool watch_cursor_step(struct watch_table *wt, struct watch_cursor *cur, size_t budget,
                       watch_path_fn *visit, void *ctx, int64_t **ids, size_t *ids_cap);

#endif
