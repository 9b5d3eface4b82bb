/* SPDX-License-Identifier: Apache-2.0 */
/* watch.h — one-shot watches by path (ZooKeeper's WatchManager). A server
 * keeps two tables, data (getData/exists) and child (getChildren). Each
 * session's watches hang off its watch_owner so that a closing session drops
 * them all at once. Pure. */
#ifndef CZK_SESSION_WATCH_H
#define CZK_SESSION_WATCH_H

#include "base/hmap.h"
#include "base/list.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct watch_owner {
    int64_t session_id;
    struct list watches; /* struct watch.owner_link */
    uint64_t stamp;      /* the last trigger that reached this owner */
    size_t count;
};

struct watch_table {
    struct smap paths; /* path -> struct watch_path */
    size_t count;
};

void watch_table_init(struct watch_table *wt);
void watch_table_deinit(struct watch_table *wt);
void watch_owner_init(struct watch_owner *o, int64_t session_id);
/* Adds a watch; false if the owner already watches that path in this table. */
bool watch_add(struct watch_table *wt, struct watch_owner *o, const char *path, size_t len);
bool watch_contains(const struct watch_table *wt, const struct watch_owner *o, const char *path,
                    size_t len);
/* Remove one owner's watch on a path; false if it had none. */
bool watch_remove(struct watch_table *wt, struct watch_owner *o, const char *path, size_t len);

typedef void watch_fire_fn(void *ctx, struct watch_owner *o);
/* Remove every watch on `path` and call fire once per owner, skipping owners
 * already reached by this `stamp` (a delete fires data and child watches of
 * one path as one event per session, as ZooKeeper does). Returns how many fired. */
size_t watch_trigger(struct watch_table *wt, const char *path, size_t len, uint64_t stamp,
                     watch_fire_fn *fire, void *ctx);
/* Drop all of an owner's watches, in every table. */
void watch_owner_clear(struct watch_owner *o);

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
