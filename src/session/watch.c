/* SPDX-License-Identifier: Apache-2.0 */
#include "session/watch.h"

#include "base/mem.h"

#include <string.h>

struct watch_path {
    char *path;
    size_t len;
    struct list watches; /* struct watch.path_link */
    struct watch_table *table;
};

struct watch {
    struct list path_link;
    struct list owner_link;
    struct watch_path *wp;
    struct watch_owner *owner;
    enum watch_mode mode;
};

void watch_table_init(struct watch_table *wt)
{
    smap_init(&wt->paths);
    wt->count = 0;
    wt->recursive_count = 0;
}

void watch_owner_init(struct watch_owner *o, int64_t session_id)
{
    o->session_id = session_id;
    list_init(&o->watches);
    o->stamp = 0;
    o->count = 0;
}

static void watch_free(struct watch *w)
{
    struct watch_path *wp = w->wp;
    list_remove(&w->path_link);
    list_remove(&w->owner_link);
    w->owner->count--;
    wp->table->count--;
    if (w->mode == WATCH_PERSISTENT_RECURSIVE)
        wp->table->recursive_count--;
    mem_free(w);
    if (list_is_empty(&wp->watches)) {
        smap_remove(&wp->table->paths, wp->path, wp->len);
        mem_free(wp->path);
        mem_free(wp);
    }
}

void watch_table_deinit(struct watch_table *wt)
{
    size_t pos = 0;
    const char *key;
    size_t key_len;
    void *value;
    while (smap_next(&wt->paths, &pos, &key, &key_len, &value)) {
        struct watch_path *wp = value;
        while (!list_is_empty(&wp->watches)) {
            struct watch *w = LIST_ENTRY(wp->watches.next, struct watch, path_link);
            list_remove(&w->path_link);
            list_remove(&w->owner_link);
            w->owner->count--;
            mem_free(w);
        }
        mem_free(wp->path);
        mem_free(wp);
    }
    smap_deinit(&wt->paths);
    wt->count = 0;
    wt->recursive_count = 0;
}

static struct watch *find(const struct watch_path *wp, const struct watch_owner *o)
{
    struct list *it;
    LIST_FOREACH(it, &wp->watches)
    {
        struct watch *w = LIST_ENTRY(it, struct watch, path_link);
        if (w->owner == o)
            return w;
    }
    return NULL;
}

static void set_mode(struct watch_table *wt, struct watch *w, enum watch_mode mode)
{
    if (w->mode == WATCH_PERSISTENT_RECURSIVE)
        wt->recursive_count--;
    w->mode = mode;
    if (mode == WATCH_PERSISTENT_RECURSIVE)
        wt->recursive_count++;
}

bool watch_add(struct watch_table *wt, struct watch_owner *o, const char *path, size_t len,
               enum watch_mode mode)
{
    struct watch_path *wp = smap_get(&wt->paths, path, len);
    struct watch *w;
    if (!wp) {
        wp = mem_alloc(sizeof(*wp));
        wp->path = mem_strndup(path, len);
        wp->len = len;
        wp->table = wt;
        list_init(&wp->watches);
        smap_put(&wt->paths, wp->path, len, wp);
    } else if ((w = find(wp, o)) != NULL) {
        set_mode(wt, w, mode);
        return false;
    }
    w = mem_alloc(sizeof(*w));
    w->wp = wp;
    w->owner = o;
    w->mode = WATCH_STANDARD;
    set_mode(wt, w, mode);
    list_insert_tail(&wp->watches, &w->path_link);
    list_insert_tail(&o->watches, &w->owner_link);
    o->count++;
    wt->count++;
    return true;
}

bool watch_contains(const struct watch_table *wt, const struct watch_owner *o, const char *path,
                    size_t len)
{
    struct watch_path *wp = smap_get(&wt->paths, path, len);
    return wp && find(wp, o);
}

bool watch_remove(struct watch_table *wt, struct watch_owner *o, const char *path, size_t len)
{
    struct watch_path *wp = smap_get(&wt->paths, path, len);
    struct watch *w = wp ? find(wp, o) : NULL;
    if (!w)
        return false;
    watch_free(w);
    return true;
}

/* Fire the watches of one path entry; `at_path` is false for an ancestor. */
static size_t trigger_entry(struct watch_path *wp, bool at_path, bool children_event,
                            uint64_t stamp, watch_fire_fn *fire, void *ctx)
{
    size_t fired = 0;
    struct list *it = wp->watches.next;
    while (it != &wp->watches) {
        struct watch *w = LIST_ENTRY(it, struct watch, path_link);
        it = it->next;
        if (!w->owner)
            continue; /* the guard of watch_trigger */
        bool hit;
        if (w->mode == WATCH_PERSISTENT_RECURSIVE)
            hit = !children_event;
        else
            hit = at_path;
        if (!hit)
            continue;
        struct watch_owner *o = w->owner;
        if (w->mode == WATCH_STANDARD)
            watch_free(w); /* the guard keeps wp alive */
        if (o->stamp != stamp) {
            o->stamp = stamp;
            fire(ctx, o);
            fired++;
        }
    }
    return fired;
}

size_t watch_trigger(struct watch_table *wt, const char *path, size_t len, bool children_event,
                     uint64_t stamp, watch_fire_fn *fire, void *ctx)
{
    size_t fired = 0;
    size_t at = len;
    bool at_path = true;
    for (;;) {
        struct watch_path *wp = smap_get(&wt->paths, path, at);
        if (wp) {
            /* Keep the entry alive while its watches fire: a standard watch
             * freed as the last one would free it under the iteration. */
            struct watch guard = {.wp = wp, .mode = WATCH_PERSISTENT};
            list_insert_tail(&wp->watches, &guard.path_link);
            fired += trigger_entry(wp, at_path, children_event, stamp, fire, ctx);
            list_remove(&guard.path_link);
            if (list_is_empty(&wp->watches)) {
                smap_remove(&wt->paths, wp->path, wp->len);
                mem_free(wp->path);
                mem_free(wp);
            }
        }
        if (wt->recursive_count == 0 || at <= 1)
            break;
        /* the parent: "/a/b" -> "/a" -> "/" */
        while (at > 1 && path[at - 1] != '/')
            at--;
        at = at > 1 ? at - 1 : 1;
        at_path = false;
    }
    return fired;
}

void watch_owner_clear(struct watch_owner *o)
{
    while (!list_is_empty(&o->watches))
        watch_free(LIST_ENTRY(o->watches.next, struct watch, owner_link));
}

void watch_table_visit(const struct watch_table *wt, watch_visit_fn *visit, void *ctx)
{
    size_t pos = 0;
    const char *key;
    size_t key_len;
    void *value;
    while (smap_next(&wt->paths, &pos, &key, &key_len, &value)) {
        struct watch_path *wp = value;
        struct list *it;
        LIST_FOREACH(it, &wp->watches)
        {
            struct watch *w = LIST_ENTRY(it, struct watch, path_link);
            visit(ctx, wp->path, wp->len, w->owner->session_id);
        }
    }
}
