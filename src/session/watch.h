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

struct watch_owner {
    int64_t session_id;
    void *data;          /* the user's (the server's session); NULL once dying */
    struct list watches; /* struct watch.owner_link */
    uint64_t stamp;      /* the last trigger that reached this owner */
    size_t count;
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
    size_t used; /* count + tombstones */
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

#endif
