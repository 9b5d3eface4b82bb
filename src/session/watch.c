/* SPDX-License-Identifier: Apache-2.0 */
/* The watch tables. Each watched path has one entry holding the path and its
 * first watcher; further watchers of the path hang off it in a ring and are
 * indexed by (owner, path) in the table, so nothing here scans a path's
 * watchers except a trigger, which has to visit them anyway. */
#include "session/watch.h"

#include "base/hmap.h"
#include "base/mem.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

struct watch {
    struct list owner_link;    /* in owner->watches */
    struct watch_owner *owner; /* NULL: a path entry's free first slot */
    uint8_t mode;              /* enum watch_mode */
    bool is_extra;             /* inside a struct watch_extra, else a path's first */
    uint32_t epoch;            /* a path's first: the last cursor that visited the path */
};

/* The second and later watchers of one path. */
struct watch_extra {
    struct watch w;
    struct watch_path *wp;
    struct list path_link; /* a ring of the path's extras, without a head */
};

struct watch_path {
    struct watch first;
    struct watch_table *table;
    struct watch_extra *extras; /* any member of the ring, NULL if none */
    uint32_t extra_count;
    uint32_t hash; /* low bits of smap_hash(path); tables stay below 2^32 slots */
    uint32_t len;
    char path[]; /* NUL-terminated */
};

/* ---- the pointer sets ---- */

typedef size_t entry_hash_fn(const void *entry);

static size_t path_entry_hash(const void *entry)
{
    return ((const struct watch_path *)entry)->hash;
}

static size_t pair_hash(const struct watch_owner *o, const struct watch_path *wp)
{
    uint64_t k = (uint64_t)(uintptr_t)o * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)wp;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

static size_t extra_entry_hash(const void *entry)
{
    const struct watch_extra *e = entry;
    return pair_hash(e->w.owner, e->wp);
}

/* A removed entry's slot: lookups go on past it, inserts reuse it. Removal
 * then never reads another entry (each read is a likely cache miss in a
 * table of a million paths), which is what a closing session pays per watch. */
static const char set_tombstone[1];
#define SET_TOMBSTONE ((void *)(uintptr_t)set_tombstone)

static void set_init(struct watch_set *s)
{
    s->resizes = 0;
    s->slots = NULL;
    s->cap = 0;
    s->count = 0;
    s->used = 0;
}

/* set_init for a set that may be under a cursor: the count of resizes goes on. */
static void set_reset(struct watch_set *s)
{
    uint64_t resizes = s->resizes + 1;
    set_init(s);
    s->resizes = resizes;
}

/* Rehash the live entries into `cap` slots, dropping the tombstones. */
static void set_resize(struct watch_set *s, size_t cap, entry_hash_fn *hash)
{
    void **old = s->slots;
    size_t old_cap = s->cap;
    size_t mask = cap - 1;
    s->slots = mem_calloc(cap, sizeof(*s->slots));
    s->cap = cap;
    s->used = s->count;
    s->resizes++;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i] || old[i] == SET_TOMBSTONE)
            continue;
        size_t j = hash(old[i]) & mask;
        while (s->slots[j])
            j = (j + 1) & mask;
        s->slots[j] = old[i];
    }
    mem_free(old);
}

/* Insert `entry`, which is not in the set. */
static void set_insert(struct watch_set *s, void *entry, size_t h, entry_hash_fn *hash)
{
    if ((s->used + 1) * 4 > s->cap * 3) {
        size_t cap = s->cap ? s->cap : 16;
        while ((s->count + 1) * 2 > cap)
            cap *= 2;
        set_resize(s, cap, hash);
    }
    size_t mask = s->cap - 1;
    size_t i = h & mask;
    while (s->slots[i] && s->slots[i] != SET_TOMBSTONE)
        i = (i + 1) & mask;
    if (!s->slots[i])
        s->used++;
    s->slots[i] = entry;
    s->count++;
}

/* Remove `entry`, which is in the set. The set shrinks when it is mostly
 * empty, so that a table that once held a million watches does not keep
 * their slots. */
static void set_remove(struct watch_set *s, const void *entry, size_t h, entry_hash_fn *hash)
{
    size_t mask = s->cap - 1;
    size_t i = h & mask;
    while (s->slots[i] != entry)
        i = (i + 1) & mask;
    s->slots[i] = SET_TOMBSTONE;
    s->count--;
    if (s->count == 0) {
        mem_free(s->slots);
        set_reset(s);
    } else if (s->cap > 16 && s->count * 8 < s->cap) {
        set_resize(s, s->cap / 2, hash);
    }
}

/* ---- entries ---- */

static uint32_t path_hash(const char *path, size_t len)
{
    return (uint32_t)smap_hash(path, len);
}

static struct watch_path *path_find(const struct watch_table *wt, const char *path, size_t len,
                                    uint32_t h)
{
    const struct watch_set *s = &wt->paths;
    if (s->cap == 0)
        return NULL;
    size_t mask = s->cap - 1;
    for (size_t i = h & mask; s->slots[i]; i = (i + 1) & mask) {
        struct watch_path *wp = s->slots[i];
        if (wp != SET_TOMBSTONE && wp->hash == h && wp->len == len &&
            memcmp(wp->path, path, len) == 0)
            return wp;
    }
    return NULL;
}

static struct watch_extra *extra_find(const struct watch_table *wt, const struct watch_path *wp,
                                      const struct watch_owner *o)
{
    const struct watch_set *s = &wt->extras;
    if (wp->extra_count == 0 || s->cap == 0)
        return NULL;
    size_t mask = s->cap - 1;
    for (size_t i = pair_hash(o, wp) & mask; s->slots[i]; i = (i + 1) & mask) {
        struct watch_extra *e = s->slots[i];
        if (e != SET_TOMBSTONE && e->w.owner == o && e->wp == wp)
            return e;
    }
    return NULL;
}

static struct watch *find(const struct watch_table *wt, struct watch_path *wp,
                          const struct watch_owner *o)
{
    if (wp->first.owner == o)
        return &wp->first;
    struct watch_extra *e = extra_find(wt, wp, o);
    return e ? &e->w : NULL;
}

static struct watch_path *path_of(struct watch *w)
{
    if (w->is_extra)
        return LIST_ENTRY(w, struct watch_extra, w)->wp;
    return LIST_ENTRY(w, struct watch_path, first);
}

static struct watch_extra *ring_next(const struct watch_extra *e)
{
    return LIST_ENTRY(e->path_link.next, struct watch_extra, path_link);
}

static void set_mode(struct watch_table *wt, struct watch *w, enum watch_mode mode)
{
    if (w->mode == WATCH_PERSISTENT_RECURSIVE)
        wt->recursive_count--;
    w->mode = (uint8_t)mode;
    if (mode == WATCH_PERSISTENT_RECURSIVE)
        wt->recursive_count++;
}

/* The owner's count of watches in `wt`, a slot claimed for it if needed. */
static size_t *owner_table_count(struct watch_owner *o, struct watch_table *wt)
{
    size_t *free_slot = NULL;
    for (size_t i = 0; i < WATCH_OWNER_TABLES; i++) {
        if (o->tables[i] == wt)
            return &o->table_counts[i];
        if (!free_slot && o->table_counts[i] == 0) {
            free_slot = &o->table_counts[i];
            o->tables[i] = wt;
        }
    }
    assert(free_slot && "an owner watches in more than WATCH_OWNER_TABLES tables");
    return free_slot;
}

static void owner_count_add(struct watch_owner *o, struct watch_table *wt)
{
    size_t *n = owner_table_count(o, wt);
    if ((*n)++ == 0 && !o->dying)
        wt->owner_count++;
}

static void owner_count_remove(struct watch_owner *o, struct watch_table *wt)
{
    size_t *n = owner_table_count(o, wt);
    if (--(*n) == 0 && !o->dying)
        wt->owner_count--;
}

/* Drop one watch; its path entry stays, even if now empty (path_release). */
static void watch_unlink(struct watch *w)
{
    struct watch_path *wp = path_of(w);
    struct watch_table *wt = wp->table;
    list_remove(&w->owner_link);
    w->owner->count--;
    owner_count_remove(w->owner, wt);
    wt->count--;
    if (w->mode == WATCH_PERSISTENT_RECURSIVE)
        wt->recursive_count--;
    if (!w->is_extra) {
        w->owner = NULL;
        return;
    }
    struct watch_extra *e = LIST_ENTRY(w, struct watch_extra, w);
    set_remove(&wt->extras, e, extra_entry_hash(e), extra_entry_hash);
    if (--wp->extra_count == 0)
        wp->extras = NULL;
    else if (wp->extras == e)
        wp->extras = ring_next(e);
    list_remove(&e->path_link);
    mem_free(e);
}

/* Free a path entry that has no watcher left. */
static void path_release(struct watch_path *wp)
{
    if (wp->first.owner || wp->extra_count > 0)
        return;
    set_remove(&wp->table->paths, wp, wp->hash, path_entry_hash);
    mem_free(wp);
}

/* ---- the interface ---- */

void watch_table_init(struct watch_table *wt)
{
    set_init(&wt->paths);
    set_init(&wt->extras);
    wt->count = 0;
    wt->recursive_count = 0;
    wt->owner_count = 0;
    wt->cursor_epoch = 0;
}

void watch_owner_init(struct watch_owner *o, int64_t session_id, void *data)
{
    o->session_id = session_id;
    o->data = data;
    o->dying = false;
    list_init(&o->watches);
    o->stamp = 0;
    o->count = 0;
    for (size_t i = 0; i < WATCH_OWNER_TABLES; i++) {
        o->tables[i] = NULL;
        o->table_counts[i] = 0;
    }
}

void watch_table_deinit(struct watch_table *wt)
{
    for (size_t i = 0; i < wt->paths.cap; i++) {
        struct watch_path *wp = wt->paths.slots[i];
        if (!wp || wp == SET_TOMBSTONE)
            continue;
        if (wp->first.owner) {
            list_remove(&wp->first.owner_link);
            wp->first.owner->count--;
            owner_count_remove(wp->first.owner, wt);
        }
        struct watch_extra *e = wp->extras;
        for (uint32_t k = 0; k < wp->extra_count; k++) {
            struct watch_extra *next = ring_next(e);
            list_remove(&e->w.owner_link);
            e->w.owner->count--;
            owner_count_remove(e->w.owner, wt);
            mem_free(e);
            e = next;
        }
        mem_free(wp);
    }
    mem_free(wt->paths.slots);
    mem_free(wt->extras.slots);
    watch_table_init(wt);
}

bool watch_add(struct watch_table *wt, struct watch_owner *o, const char *path, size_t len,
               enum watch_mode mode)
{
    uint32_t h = path_hash(path, len);
    struct watch_path *wp = path_find(wt, path, len, h);
    struct watch *w;
    if (!wp) {
        /* offsetof, not sizeof: the path starts in sizeof's tail padding */
        wp = mem_alloc(offsetof(struct watch_path, path) + len + 1);
        memset(wp, 0, offsetof(struct watch_path, path));
        wp->table = wt;
        wp->hash = h;
        wp->len = (uint32_t)len;
        memcpy(wp->path, path, len);
        wp->path[len] = '\0';
        set_insert(&wt->paths, wp, h, path_entry_hash);
        w = &wp->first;
    } else if ((w = find(wt, wp, o)) != NULL) {
        set_mode(wt, w, mode);
        return false;
    } else if (!wp->first.owner) {
        w = &wp->first;
    } else {
        struct watch_extra *e = mem_alloc(sizeof(*e));
        e->w.is_extra = true;
        e->w.owner = o;
        e->wp = wp;
        if (wp->extras) {
            list_insert_tail(&wp->extras->path_link, &e->path_link);
        } else {
            list_init(&e->path_link);
            wp->extras = e;
        }
        wp->extra_count++;
        set_insert(&wt->extras, e, pair_hash(o, wp), extra_entry_hash);
        w = &e->w;
    }
    w->owner = o;
    w->mode = WATCH_STANDARD;
    set_mode(wt, w, mode);
    list_insert_tail(&o->watches, &w->owner_link);
    o->count++;
    owner_count_add(o, wt);
    wt->count++;
    return true;
}

bool watch_contains(const struct watch_table *wt, const struct watch_owner *o, const char *path,
                    size_t len)
{
    struct watch_path *wp = path_find(wt, path, len, path_hash(path, len));
    return wp && find(wt, wp, o);
}

bool watch_remove(struct watch_table *wt, struct watch_owner *o, const char *path, size_t len)
{
    struct watch_path *wp = path_find(wt, path, len, path_hash(path, len));
    struct watch *w = wp ? find(wt, wp, o) : NULL;
    if (!w)
        return false;
    watch_unlink(w);
    path_release(wp);
    return true;
}

/* One watch meets an event; `at_path` is false for an ancestor's watch. */
static size_t trigger_watch(struct watch *w, bool at_path, bool children_event, uint64_t stamp,
                            watch_fire_fn *fire, void *ctx)
{
    bool hit = w->mode == WATCH_PERSISTENT_RECURSIVE ? !children_event : at_path;
    if (!hit)
        return 0;
    struct watch_owner *o = w->owner;
    if (w->mode == WATCH_STANDARD)
        watch_unlink(w);
    if (o->dying || o->stamp == stamp)
        return 0;
    o->stamp = stamp;
    fire(ctx, o);
    return 1;
}

/* The entry stays allocated while its watches fire (watch_unlink never frees
 * it), and `fire` changes no table, so the ring's next member is safe to hold
 * across the current one's removal. */
static size_t trigger_entry(struct watch_path *wp, bool at_path, bool children_event,
                            uint64_t stamp, watch_fire_fn *fire, void *ctx)
{
    size_t fired = 0;
    if (wp->first.owner)
        fired += trigger_watch(&wp->first, at_path, children_event, stamp, fire, ctx);
    struct watch_extra *e = wp->extras;
    uint32_t n = wp->extra_count;
    for (uint32_t k = 0; k < n; k++) {
        struct watch_extra *next = ring_next(e);
        fired += trigger_watch(&e->w, at_path, children_event, stamp, fire, ctx);
        e = next;
    }
    path_release(wp);
    return fired;
}

size_t watch_trigger(struct watch_table *wt, const char *path, size_t len, bool children_event,
                     uint64_t stamp, watch_fire_fn *fire, void *ctx)
{
    size_t fired = 0;
    size_t at = len;
    bool at_path = true;
    for (;;) {
        struct watch_path *wp = path_find(wt, path, at, path_hash(path, at));
        if (wp)
            fired += trigger_entry(wp, at_path, children_event, stamp, fire, ctx);
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

bool watch_owner_clear_some(struct watch_owner *o, size_t max)
{
    for (size_t i = 0; i < max && !list_is_empty(&o->watches); i++) {
        struct watch *w = LIST_ENTRY(o->watches.next, struct watch, owner_link);
        struct watch_path *wp = path_of(w);
        watch_unlink(w);
        path_release(wp);
    }
    return list_is_empty(&o->watches);
}

void watch_owner_kill(struct watch_owner *o)
{
    if (o->dying)
        return;
    for (size_t i = 0; i < WATCH_OWNER_TABLES; i++)
        if (o->table_counts[i] > 0)
            o->tables[i]->owner_count--;
    o->dying = true;
}

void watch_owner_clear(struct watch_owner *o)
{
    (void)watch_owner_clear_some(o, SIZE_MAX);
}

void watch_table_visit(const struct watch_table *wt, watch_visit_fn *visit, void *ctx)
{
    for (size_t i = 0; i < wt->paths.cap; i++) {
        const struct watch_path *wp = wt->paths.slots[i];
        if (!wp || wp == SET_TOMBSTONE)
            continue;
        if (wp->first.owner && !wp->first.owner->dying)
            visit(ctx, wp->path, wp->len, wp->first.owner->session_id);
        const struct watch_extra *e = wp->extras;
        for (uint32_t k = 0; k < wp->extra_count; k++) {
            if (!e->w.owner->dying)
                visit(ctx, wp->path, wp->len, e->w.owner->session_id);
            e = ring_next(e);
        }
    }
}

void watch_cursor_start(struct watch_table *wt, struct watch_cursor *cur)
{
    if (++wt->cursor_epoch == 0) /* 0 is every new entry's: never a cursor's */
        wt->cursor_epoch = 1;
    cur->pos = 0;
    cur->resizes = wt->paths.resizes;
    cur->epoch = wt->cursor_epoch;
    cur->restarted = false;
}

bool watch_cursor_step(struct watch_table *wt, struct watch_cursor *cur, size_t budget,
                       watch_path_fn *visit, void *ctx, int64_t **ids, size_t *ids_cap)
{
    if (cur->resizes != wt->paths.resizes) {
        cur->pos = 0;
        cur->resizes = wt->paths.resizes;
        cur->restarted = true;
    }
    size_t spent = 0;
    while (cur->pos < wt->paths.cap) {
        if (spent >= budget)
            return true;
        struct watch_path *wp = wt->paths.slots[cur->pos++];
        spent++;
        if (!wp || wp == SET_TOMBSTONE)
            continue;
        if (cur->restarted && wp->first.epoch == cur->epoch)
            continue;
        wp->first.epoch = cur->epoch;
        size_t need = 1 + (size_t)wp->extra_count;
        if (need > *ids_cap) {
            size_t cap = *ids_cap ? *ids_cap : 16;
            while (cap < need)
                cap *= 2;
            *ids = mem_realloc(*ids, cap * sizeof(**ids));
            *ids_cap = cap;
        }
        size_t n = 0;
        if (wp->first.owner && !wp->first.owner->dying)
            (*ids)[n++] = wp->first.owner->session_id;
        const struct watch_extra *e = wp->extras;
        for (uint32_t k = 0; k < wp->extra_count; k++) {
            if (!e->w.owner->dying)
                (*ids)[n++] = e->w.owner->session_id;
            e = ring_next(e);
        }
        spent += wp->extra_count;
        visit(ctx, wp->path, wp->len, *ids, n);
    }
    return false;
}
