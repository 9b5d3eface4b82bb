/* SPDX-License-Identifier: Apache-2.0 */
#include "tree/tree.h"

#include "base/mem.h"
#include "proto/proto.h"
#include "tree/path.h"

#include <assert.h>
#include <string.h>

static struct tree_acl *acl_intern(struct tree *t, const uint8_t *raw, size_t raw_len,
                                   int32_t count)
{
    struct tree_acl *a = smap_get(&t->acls, (const char *)raw, raw_len);
    if (!a) {
        a = mem_alloc(sizeof(*a));
        a->raw = mem_alloc(raw_len ? raw_len : 1);
        if (raw_len)
            memcpy(a->raw, raw, raw_len);
        a->raw_len = raw_len;
        a->count = count < 0 ? 0 : count;
        a->refs = 0;
        smap_put(&t->acls, (const char *)a->raw, raw_len, a);
    }
    a->refs++;
    return a;
}

static void acl_release(struct tree *t, struct tree_acl *a)
{
    assert(a->refs > 0);
    if (--a->refs > 0)
        return;
    smap_remove(&t->acls, (const char *)a->raw, a->raw_len);
    mem_free(a->raw);
    mem_free(a);
}

static struct list *eph_list(struct tree *t, int64_t owner, bool create)
{
    struct list *l = imap_get(&t->ephemerals, (uint64_t)owner);
    if (!l && create) {
        l = mem_alloc(sizeof(*l));
        list_init(l);
        imap_put(&t->ephemerals, (uint64_t)owner, l);
    }
    return l;
}

enum tree_owner_kind tree_owner_kind(const struct tree *t, int64_t owner)
{
    if (owner == 0)
        return TREE_OWNER_NONE;
    if (owner == INT64_MIN)
        return TREE_OWNER_CONTAINER;
    /* the extended-type bits after the 0xff byte are 0 for TTL, the only one */
    if (t->extended_types && ((uint64_t)owner >> 40) == 0xff0000)
        return TREE_OWNER_TTL;
    return TREE_OWNER_SESSION;
}

static struct list *special_list(struct tree *t, int64_t owner)
{
    switch (tree_owner_kind(t, owner)) {
    case TREE_OWNER_CONTAINER:
        return &t->containers;
    case TREE_OWNER_TTL:
        return &t->ttls;
    default:
        return NULL;
    }
}

/* A node not yet in the map, with no ACL. */
static struct tree_node *node_alloc(const char *path, size_t len, struct jute_buf data)
{
    /* the path lives after the node: one allocation, never resized */
    struct tree_node *n = mem_alloc(sizeof(*n) + len + 1);
    memset(n, 0, sizeof(*n));
    n->path = (char *)(n + 1);
    memcpy(n->path, path, len);
    n->path[len] = '\0';
    n->path_len = (uint32_t)len;
    size_t slash = len;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    n->name_off = (uint32_t)slash;
    if (data.len >= 0) {
        n->data = mem_alloc(data.len ? (size_t)data.len : 1);
        if (data.len)
            memcpy(n->data, data.ptr, (size_t)data.len);
    }
    n->data_len = data.len;
    list_init(&n->eph_link);
    return n;
}

static struct tree_node *node_new(struct tree *t, const char *path, size_t len,
                                  struct jute_buf data, struct tree_acl *acl)
{
    struct tree_node *n = node_alloc(path, len, data);
    n->acl = acl;
    smap_put(&t->nodes, n->path, len, n);
    t->data_bytes += len + (data.len > 0 ? (size_t)data.len : 0);
    return n;
}

static void child_add(struct tree_node *parent, struct tree_node *child)
{
    if (parent->child_count == parent->child_cap) {
        parent->child_cap = parent->child_cap ? parent->child_cap * 2 : 4;
        parent->children =
            mem_realloc(parent->children, parent->child_cap * sizeof(*parent->children));
    }
    child->parent = parent;
    child->index_in_parent = parent->child_count;
    parent->children[parent->child_count++] = child;
}

static void child_remove(struct tree_node *parent, struct tree_node *child)
{
    uint32_t i = child->index_in_parent;
    assert(i < parent->child_count && parent->children[i] == child);
    struct tree_node *last = parent->children[--parent->child_count];
    parent->children[i] = last;
    last->index_in_parent = i;
    child->parent = NULL;
}

static void node_free(struct tree *t, struct tree_node *n)
{
    t->data_bytes -= n->path_len + (n->data_len > 0 ? (size_t)n->data_len : 0);
    acl_release(t, n->acl);
    mem_free(n->children);
    mem_free(n->data);
    mem_free(n);
}

static void acl_open_unsafe(struct buf *b, int32_t perms)
{
    struct zk_acl acl = {.perms = perms,
                         .id = {.scheme = jute_cstr("world"), .id = jute_cstr("anyone")}};
    zk_acl_encode(b, &acl);
}

void tree_init(struct tree *t)
{
    smap_init_unforked(&t->nodes);
    smap_init(&t->acls);
    imap_init(&t->ephemerals);
    smap_init(&t->quotas);
    list_init(&t->containers);
    list_init(&t->ttls);
    t->extended_types = false;
    t->last_zxid = 0;
    t->data_bytes = 0;

    struct buf open;
    buf_init(&open);
    acl_open_unsafe(&open, ZK_PERM_ALL);
    struct buf read;
    buf_init(&read);
    acl_open_unsafe(&read, ZK_PERM_READ);

    struct jute_buf empty = {.ptr = (const uint8_t *)"", .len = 0};
    struct tree_node *root = node_new(t, "/", 1, empty, acl_intern(t, open.data, open.len, 1));
    t->root = root;
    struct tree_node *zk =
        node_new(t, "/zookeeper", 10, empty, acl_intern(t, open.data, open.len, 1));
    child_add(root, zk);
    struct tree_node *quota =
        node_new(t, "/zookeeper/quota", 16, empty, acl_intern(t, open.data, open.len, 1));
    child_add(zk, quota);
    struct tree_node *config =
        node_new(t, "/zookeeper/config", 17, empty, acl_intern(t, read.data, read.len, 1));
    child_add(zk, config);
    config->stat.aversion = -1; /* DataTree sets its ACL with version -1 */
    buf_deinit(&open);
    buf_deinit(&read);
}

void tree_deinit(struct tree *t)
{
    size_t pos = 0;
    const char *key;
    size_t key_len;
    void *value;
    while (smap_next(&t->nodes, &pos, &key, &key_len, &value)) {
        struct tree_node *n = value;
        mem_free(n->children);
        mem_free(n->data);
        mem_free(n);
    }
    pos = 0;
    while (smap_next(&t->acls, &pos, &key, &key_len, &value)) {
        struct tree_acl *a = value;
        mem_free(a->raw);
        mem_free(a);
    }
    uint64_t ikey;
    pos = 0;
    while (imap_next(&t->ephemerals, &pos, &ikey, &value))
        mem_free(value);
    pos = 0;
    while (smap_next(&t->quotas, &pos, &key, &key_len, &value))
        mem_free(value);
    smap_deinit(&t->quotas);
    smap_deinit(&t->nodes);
    smap_deinit(&t->acls);
    imap_deinit(&t->ephemerals);
}

struct tree_node *tree_get(const struct tree *t, const char *path, size_t len)
{
    /* ZooKeeper keeps the root under "" as well as "/". */
    if (len == 0)
        return t->root;
    return smap_get(&t->nodes, path, len);
}

void tree_node_stat(const struct tree *t, const struct tree_node *n, struct zk_stat *out)
{
    out->czxid = n->stat.czxid;
    out->mzxid = n->stat.mzxid;
    out->ctime = n->stat.ctime;
    out->mtime = n->stat.mtime;
    out->version = n->stat.version;
    /* The stored cversion counts creates; a Stat reports changes, one
     * create and one delete per child gone (DataNode.copyStat). */
    out->cversion = (int32_t)((uint32_t)n->stat.cversion * 2u - n->child_count);
    out->aversion = n->stat.aversion;
    out->ephemeral_owner = tree_owner_kind(t, n->stat.ephemeral_owner) == TREE_OWNER_SESSION
                               ? n->stat.ephemeral_owner
                               : 0;
    out->data_length = n->data_len < 0 ? 0 : n->data_len;
    out->num_children = (int32_t)n->child_count;
    out->pzxid = n->stat.pzxid;
}

struct jute_vec tree_node_acl(const struct tree_node *n)
{
    return (struct jute_vec){
        .count = n->acl->count, .raw = n->acl->raw, .raw_len = n->acl->raw_len, .items = NULL};
}

const struct list *tree_ephemerals(const struct tree *t, int64_t session_id)
{
    return imap_get(&t->ephemerals, (uint64_t)session_id);
}

size_t tree_ephemeral_count(const struct tree *t)
{
    size_t count = 0, pos = 0;
    uint64_t key;
    void *value;
    while (imap_next(&t->ephemerals, &pos, &key, &value)) {
        struct list *it;
        LIST_FOREACH(it, (struct list *)value)
        count++;
    }
    return count;
}

/* ---- quotas ---- */

#define QUOTA_ROOT     "/zookeeper/quota"
#define QUOTA_ROOT_LEN (sizeof(QUOTA_ROOT) - 1)
#define QUOTA_LIMITS   "zookeeper_limits"
#define QUOTA_STATS    "zookeeper_stats"

const char *tree_quota_prefix(const struct tree *t, const char *path, size_t len, size_t *out_len)
{
    if (t->quotas.count == 0)
        return NULL;
    /* the path itself, then each ancestor but "/" */
    for (size_t at = len; at > 1;) {
        const char *key = smap_get(&t->quotas, path, at);
        if (key) {
            *out_len = at;
            return key;
        }
        while (at > 1 && path[at - 1] != '/')
            at--;
        at = at > 1 ? at - 1 : 1;
    }
    return NULL;
}

/* StatsTrack: "key=value" pairs split on runs of ',' and ';'. */
int64_t tree_stats_get(const uint8_t *data, int32_t len, const char *key)
{
    size_t key_len = strlen(key);
    size_t n = len < 0 ? 0 : (size_t)len;
    size_t i = 0;
    while (i < n) {
        while (i < n && (data[i] == ',' || data[i] == ';'))
            i++;
        size_t start = i;
        while (i < n && data[i] != ',' && data[i] != ';')
            i++;
        const uint8_t *eq = memchr(data + start, '=', i - start);
        if (!eq || (size_t)(eq - data - (ptrdiff_t)start) != key_len ||
            memcmp(data + start, key, key_len) != 0)
            continue;
        int64_t v = 0;
        bool neg = false, digits = false;
        const uint8_t *p = eq + 1;
        if (p < data + i && *p == '-') {
            neg = true;
            p++;
        }
        while (p < data + i && *p >= '0' && *p <= '9') {
            v = v * 10 + (*p++ - '0');
            digits = true;
        }
        return digits ? (neg ? -v : v) : -1;
    }
    return -1;
}

static void node_set_data(struct tree *t, struct tree_node *n, const void *data, size_t len)
{
    t->data_bytes -= n->data_len > 0 ? (size_t)n->data_len : 0;
    mem_free(n->data);
    n->data = mem_alloc(len ? len : 1);
    memcpy(n->data, data, len);
    n->data_len = (int32_t)len;
    t->data_bytes += len;
}

void tree_set_config(struct tree *t, const uint8_t *text, size_t len, int64_t zxid, int64_t mtime)
{
    struct tree_node *n = tree_get(t, "/zookeeper/config", 17);
    if (!n)
        return;
    node_set_data(t, n, text, len);
    n->stat.mtime = mtime;
    n->stat.mzxid = zxid;
    n->stat.version = -1;
}

/* StatsTrack.toString: count and bytes first, then "=" and the other keys
 * sorted, each after a ';'. Only count and bytes change here, so the rest of
 * the old text is kept as it was. */
static void stats_write(struct tree *t, struct tree_node *stats, int64_t count, int64_t bytes)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "count=%lld,bytes=%lld", (long long)count, (long long)bytes);
    const uint8_t *semi =
        stats->data_len > 0 ? memchr(stats->data, ';', (size_t)stats->data_len) : NULL;
    if (semi) {
        buf_append_u8(&b, '=');
        buf_append(&b, semi, (size_t)(stats->data + stats->data_len - semi));
    }
    node_set_data(t, stats, b.data, b.len);
    buf_deinit(&b);
}

static struct tree_node *stats_node(struct tree *t, const char *qpath, size_t qlen)
{
    struct buf p;
    buf_init(&p);
    buf_printf(&p, QUOTA_ROOT "%.*s/" QUOTA_STATS, (int)qlen, qpath);
    struct tree_node *n = tree_get(t, (const char *)p.data, p.len);
    buf_deinit(&p);
    return n;
}

/* updateQuotaStat: the deepest quota above `path` changes by the diffs. */
static void quota_update(struct tree *t, const char *path, size_t len, int64_t bytes_diff,
                         int64_t count_diff)
{
    size_t qlen;
    const char *q = tree_quota_prefix(t, path, len, &qlen);
    if (!q)
        return;
    struct tree_node *stats = stats_node(t, q, qlen);
    if (!stats)
        return;
    int64_t count = tree_stats_get(stats->data, stats->data_len, "count");
    int64_t bytes = tree_stats_get(stats->data, stats->data_len, "bytes");
    stats_write(t, stats, count + count_diff, bytes + bytes_diff);
}

/* updateQuotaForPath: count the subtree at `qpath` (itself included). */
static void quota_recount(struct tree *t, const char *qpath, size_t qlen)
{
    struct tree_node *stats = stats_node(t, qpath, qlen);
    if (!stats)
        return;
    int64_t count = 0, bytes = 0;
    struct tree_node *top = tree_get(t, qpath, qlen);
    if (top) {
        size_t cap = 64, sp = 0;
        struct tree_node **stack = mem_alloc(cap * sizeof(*stack));
        stack[sp++] = top;
        while (sp) {
            struct tree_node *x = stack[--sp];
            count++;
            bytes += x->data_len > 0 ? x->data_len : 0;
            for (uint32_t i = 0; i < x->child_count; i++) {
                if (sp == cap) {
                    cap *= 2;
                    stack = mem_realloc(stack, cap * sizeof(*stack));
                }
                stack[sp++] = x->children[i];
            }
        }
        mem_free(stack);
    }
    stats_write(t, stats, count, bytes);
}

/* A node created or deleted under /zookeeper/quota/P: zookeeper_limits sets
 * or clears P's quota; a new zookeeper_stats gets P's counts. */
static void quota_node_changed(struct tree *t, const char *path, size_t len, bool created)
{
    if (len <= QUOTA_ROOT_LEN || memcmp(path, QUOTA_ROOT, QUOTA_ROOT_LEN) != 0)
        return;
    size_t plen = path_parent_len(path, len);
    const char *name = path + plen + 1;
    size_t name_len = len - plen - 1;
    const char *qpath = path + QUOTA_ROOT_LEN;
    size_t qlen = plen - QUOTA_ROOT_LEN;
    if (name_len == sizeof(QUOTA_LIMITS) - 1 && memcmp(name, QUOTA_LIMITS, name_len) == 0) {
        if (created && !smap_get(&t->quotas, qpath, qlen)) {
            char *key = mem_strndup(qpath, qlen);
            smap_put(&t->quotas, key, qlen, key);
        } else if (!created) {
            mem_free(smap_remove(&t->quotas, qpath, qlen));
        }
    } else if (created && name_len == sizeof(QUOTA_STATS) - 1 &&
               memcmp(name, QUOTA_STATS, name_len) == 0) {
        quota_recount(t, qpath, qlen);
    }
}

void tree_quota_rebuild(struct tree *t)
{
    size_t pos = 0;
    const char *key;
    size_t key_len;
    void *value;
    while (smap_next(&t->quotas, &pos, &key, &key_len, &value))
        mem_free(value);
    smap_deinit(&t->quotas);
    smap_init(&t->quotas);
    pos = 0;
    while (smap_next(&t->nodes, &pos, &key, &key_len, &value))
        quota_node_changed(t, key, key_len, true);
    /* the counts, now that every quota is known */
    pos = 0;
    while (smap_next(&t->quotas, &pos, &key, &key_len, &value))
        quota_recount(t, key, key_len);
}

static void emit(tree_event_fn *on_event, void *ctx, int32_t type, const struct tree_node *node)
{
    if (on_event)
        on_event(ctx, type, node);
}

/* DataTree.createNode */
static int32_t apply_create(struct tree *t, struct jute_buf path, struct jute_buf data,
                            const struct jute_vec *acl, int64_t owner, int32_t parent_cversion,
                            int64_t zxid, int64_t time, tree_event_fn *on_event, void *ctx,
                            struct zk_stat *stat_out)
{
    const char *p = (const char *)path.ptr;
    size_t len = path.len < 0 ? 0 : (size_t)path.len;
    if (len < 2 || p[0] != '/')
        return ZK_NONODE;
    size_t plen = path_parent_len(p, len);
    struct tree_node *parent = tree_get(t, p, plen);
    if (!parent)
        return ZK_NONODE;
    if (tree_get(t, p, len))
        return ZK_NODEEXISTS;
    if (parent_cversion == -1)
        parent_cversion = version_next(parent->stat.cversion);
    if (parent_cversion > parent->stat.cversion) {
        parent->stat.cversion = parent_cversion;
        parent->stat.pzxid = zxid;
    }
    struct tree_acl *a = acl_intern(t, acl->raw, acl->count > 0 ? acl->raw_len : 0, acl->count);
    struct tree_node *n = node_new(t, p, len, data, a);
    n->stat = (struct zk_stat_persisted){.czxid = zxid,
                                         .mzxid = zxid,
                                         .ctime = time,
                                         .mtime = time,
                                         .ephemeral_owner = owner,
                                         .pzxid = zxid};
    child_add(parent, n);
    struct list *special = special_list(t, owner);
    if (special)
        list_insert_tail(special, &n->eph_link);
    else if (owner != 0)
        list_insert_tail(eph_list(t, owner, true), &n->eph_link);
    if (stat_out)
        tree_node_stat(t, n, stat_out);
    quota_node_changed(t, p, len, true);
    quota_update(t, p, len, data.len > 0 ? data.len : 0, 1);
    emit(on_event, ctx, ZK_EVENT_NODE_CREATED, n);
    emit(on_event, ctx, ZK_EVENT_NODE_CHILDREN_CHANGED, parent);
    return ZK_OK;
}

/* DataTree.deleteNode */
static int32_t apply_delete(struct tree *t, const char *p, size_t len, int64_t zxid,
                            tree_event_fn *on_event, void *ctx)
{
    struct tree_node *n = tree_get(t, p, len);
    if (!n || !n->parent)
        return ZK_NONODE;
    /* prep refuses NOTEMPTY; only a replayed log can ask for it */
    if (n->child_count > 0)
        return ZK_NOTEMPTY;
    struct tree_node *parent = n->parent;
    child_remove(parent, n);
    if (zxid > parent->stat.pzxid)
        parent->stat.pzxid = zxid;
    smap_remove(&t->nodes, n->path, n->path_len);
    if (!list_is_empty(&n->eph_link)) {
        list_remove(&n->eph_link);
        struct list *l = special_list(t, n->stat.ephemeral_owner)
                             ? NULL
                             : eph_list(t, n->stat.ephemeral_owner, false);
        if (l && list_is_empty(l)) {
            imap_remove(&t->ephemerals, (uint64_t)n->stat.ephemeral_owner);
            mem_free(l);
        }
    }
    quota_node_changed(t, n->path, n->path_len, false);
    quota_update(t, n->path, n->path_len, -(int64_t)(n->data_len > 0 ? n->data_len : 0), -1);
    emit(on_event, ctx, ZK_EVENT_NODE_DELETED, n);
    emit(on_event, ctx, ZK_EVENT_NODE_CHILDREN_CHANGED, parent);
    node_free(t, n);
    return ZK_OK;
}

static int32_t apply_set_data(struct tree *t, struct jute_buf path, struct jute_buf data,
                              int32_t version, int64_t zxid, int64_t time, tree_event_fn *on_event,
                              void *ctx, struct zk_stat *stat_out)
{
    struct tree_node *n =
        tree_get(t, (const char *)path.ptr, (size_t)(path.len < 0 ? 0 : path.len));
    if (!n)
        return ZK_NONODE;
    int64_t old_len = n->data_len > 0 ? n->data_len : 0;
    t->data_bytes -= n->data_len > 0 ? (size_t)n->data_len : 0;
    mem_free(n->data);
    n->data = NULL;
    if (data.len >= 0) {
        n->data = mem_alloc(data.len ? (size_t)data.len : 1);
        if (data.len)
            memcpy(n->data, data.ptr, (size_t)data.len);
    }
    n->data_len = data.len;
    t->data_bytes += data.len > 0 ? (size_t)data.len : 0;
    n->stat.mtime = time;
    n->stat.mzxid = zxid;
    n->stat.version = version;
    tree_node_stat(t, n, stat_out);
    quota_update(t, n->path, n->path_len, (data.len > 0 ? data.len : 0) - old_len, 0);
    emit(on_event, ctx, ZK_EVENT_NODE_DATA_CHANGED, n);
    return ZK_OK;
}

static int32_t apply_set_acl(struct tree *t, struct jute_buf path, const struct jute_vec *acl,
                             int32_t version, struct zk_stat *stat_out)
{
    struct tree_node *n =
        tree_get(t, (const char *)path.ptr, (size_t)(path.len < 0 ? 0 : path.len));
    if (!n)
        return ZK_NONODE;
    struct tree_acl *a = acl_intern(t, acl->raw, acl->count > 0 ? acl->raw_len : 0, acl->count);
    acl_release(t, n->acl);
    n->acl = a;
    n->stat.aversion = version;
    tree_node_stat(t, n, stat_out);
    return ZK_OK;
}

static void apply_close_session(struct tree *t, int64_t session, const uint8_t *body,
                                size_t body_len, int64_t zxid, tree_event_fn *on_event, void *ctx)
{
    /* The txn names the paths (CloseSessionTxn); an old log may have none,
     * and then the session's own list decides (DataTree.killSession). */
    struct jute_reader r;
    jute_reader_init(&r, body, body_len);
    struct zk_close_session_txn txn;
    if (body_len > 0 && zk_close_session_txn_decode(&r, &txn) == 0 &&
        txn.paths2_delete.count >= 0) {
        struct jute_vec_iter it;
        jute_vec_iter_init(&it, &txn.paths2_delete);
        struct jute_buf p;
        while (jute_vec_next_str(&it, &p)) {
            if (p.len < 0)
                continue; /* a null string: only in bytes no server wrote */
            struct tree_node *n = tree_get(t, (const char *)p.ptr, (size_t)p.len);
            if (n && n->stat.ephemeral_owner == session)
                (void)apply_delete(t, (const char *)p.ptr, (size_t)p.len, zxid, on_event, ctx);
        }
    }
    /* Deleting the last node frees the list; a node that cannot go (it has
     * children, only in a damaged log) stays and the walk moves on. */
    struct list *l = eph_list(t, session, false);
    for (struct list *it = l ? l->next : NULL; it && it != l;) {
        struct list *next = it->next;
        bool last = next == l;
        struct tree_node *n = LIST_ENTRY(it, struct tree_node, eph_link);
        (void)apply_delete(t, n->path, n->path_len, zxid, on_event, ctx);
        if (last)
            break;
        it = next;
    }
}

/* Applies one non-multi txn; returns its error. */
static int32_t apply_one(struct tree *t, int64_t session, int32_t type, int64_t zxid, int64_t time,
                         const uint8_t *body, size_t body_len, tree_event_fn *on_event, void *ctx,
                         struct jute_buf *path_out, struct zk_stat *stat_out)
{
    struct jute_reader r;
    jute_reader_init(&r, body, body_len);
    switch (type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2: {
        struct zk_create_txn txn;
        if (zk_create_txn_decode(&r, &txn) != 0)
            return ZK_MARSHALLINGERROR;
        *path_out = txn.path;
        return apply_create(t, txn.path, txn.data, &txn.acl, txn.ephemeral ? session : 0,
                            txn.parent_cversion, zxid, time, on_event, ctx, stat_out);
    }
    case ZK_OP_CREATE_CONTAINER: {
        struct zk_create_container_txn txn;
        if (zk_create_container_txn_decode(&r, &txn) != 0)
            return ZK_MARSHALLINGERROR;
        *path_out = txn.path;
        return apply_create(t, txn.path, txn.data, &txn.acl, INT64_MIN, txn.parent_cversion, zxid,
                            time, on_event, ctx, stat_out);
    }
    case ZK_OP_CREATE_TTL: {
        struct zk_create_ttl_txn txn;
        if (zk_create_ttl_txn_decode(&r, &txn) != 0)
            return ZK_MARSHALLINGERROR;
        *path_out = txn.path;
        int64_t owner =
            (int64_t)(0xff00000000000000ULL | ((uint64_t)txn.ttl & 0xffffffffffffffULL));
        return apply_create(t, txn.path, txn.data, &txn.acl, owner, txn.parent_cversion, zxid, time,
                            on_event, ctx, stat_out);
    }
    case ZK_OP_DELETE:
    case ZK_OP_DELETE_CONTAINER: {
        struct zk_delete_txn txn;
        if (zk_delete_txn_decode(&r, &txn) != 0 || txn.path.len < 0)
            return ZK_MARSHALLINGERROR;
        *path_out = txn.path;
        return apply_delete(t, (const char *)txn.path.ptr, (size_t)txn.path.len, zxid, on_event,
                            ctx);
    }
    case ZK_OP_RECONFIG: /* DataTree.processTxn: a SetDataTxn of /zookeeper/config */
    case ZK_OP_SET_DATA: {
        struct zk_set_data_txn txn;
        if (zk_set_data_txn_decode(&r, &txn) != 0)
            return ZK_MARSHALLINGERROR;
        *path_out = txn.path;
        return apply_set_data(t, txn.path, txn.data, txn.version, zxid, time, on_event, ctx,
                              stat_out);
    }
    case ZK_OP_SET_ACL: {
        struct zk_set_acl_txn txn;
        if (zk_set_acl_txn_decode(&r, &txn) != 0)
            return ZK_MARSHALLINGERROR;
        *path_out = txn.path;
        return apply_set_acl(t, txn.path, &txn.acl, txn.version, stat_out);
    }
    case ZK_OP_CHECK: {
        struct zk_check_version_txn txn;
        if (zk_check_version_txn_decode(&r, &txn) != 0)
            return ZK_MARSHALLINGERROR;
        *path_out = txn.path;
        return ZK_OK;
    }
    case ZK_OP_ERROR: {
        struct zk_error_txn txn;
        if (zk_error_txn_decode(&r, &txn) != 0)
            return ZK_MARSHALLINGERROR;
        return txn.err;
    }
    case ZK_OP_CLOSE_SESSION:
        apply_close_session(t, session, body, body_len, zxid, on_event, ctx);
        return ZK_OK;
    case ZK_OP_CREATE_SESSION:
    default:
        return ZK_OK;
    }
}

static void apply_multi(struct tree *t, const struct zk_txn_header *hdr, const uint8_t *body,
                        size_t body_len, tree_event_fn *on_event, void *ctx,
                        struct tree_result *res)
{
    struct jute_reader r;
    jute_reader_init(&r, body, body_len);
    struct zk_multi_txn multi;
    if (zk_multi_txn_decode(&r, &multi) != 0 || multi.txns.count < 0) {
        res->err = ZK_MARSHALLINGERROR;
        return;
    }
    /* A multi with any error sub-txn applies nothing: ops before the failure
     * report 0 and those after it RUNTIMEINCONSISTENCY (DataTree.processTxn). */
    bool failed = false;
    struct jute_vec_iter it;
    struct zk_txn sub;
    jute_vec_iter_init(&it, &multi.txns);
    while (jute_vec_next_txn(&it, &sub))
        if (sub.type == ZK_OP_ERROR)
            failed = true;
    res->ops = mem_calloc((size_t)multi.txns.count, sizeof(*res->ops));
    bool post_failed = false;
    jute_vec_iter_init(&it, &multi.txns);
    while (jute_vec_next_txn(&it, &sub) && res->op_count < (size_t)multi.txns.count) {
        struct tree_op_result *op = &res->ops[res->op_count++];
        op->type = sub.type;
        op->path = (struct jute_buf){.ptr = NULL, .len = -1};
        const uint8_t *sub_body = sub.data.ptr;
        size_t sub_len = sub.data.len < 0 ? 0 : (size_t)sub.data.len;
        if (sub.type == ZK_OP_ERROR) {
            post_failed = true;
        } else if (failed) {
            op->type = ZK_OP_ERROR;
            op->err = post_failed ? ZK_RUNTIMEINCONSISTENCY : ZK_OK;
            continue;
        }
        op->err = apply_one(t, hdr->client_id, sub.type, hdr->zxid, hdr->time, sub_body, sub_len,
                            on_event, ctx, &op->path, &op->stat);
        if (op->err != 0 && res->err == 0)
            res->err = op->err;
        if (op->err != 0 && !failed && res->unexpected_err == 0)
            res->unexpected_err = op->err;
    }
}

/* A create replayed over a fuzzy snapshot that already holds the node: the
 * parent may have been written before the node was deleted and created again
 * by another session, so it takes the txn's cversion and pzxid
 * (DataTree.processTxn, setCversionPzxid). */
static void replay_adjust_parent(struct tree *t, const uint8_t *body, size_t body_len, int64_t zxid)
{
    struct jute_reader r;
    jute_reader_init(&r, body, body_len);
    struct zk_create_txn txn;
    if (zk_create_txn_decode(&r, &txn) != 0 || txn.path.len < 2)
        return;
    const char *p = (const char *)txn.path.ptr;
    struct tree_node *parent = tree_get(t, p, path_parent_len(p, (size_t)txn.path.len));
    if (!parent)
        return;
    int32_t cversion = txn.parent_cversion;
    if (cversion == -1)
        cversion = version_next(parent->stat.cversion);
    if (cversion > parent->stat.cversion) {
        parent->stat.cversion = cversion;
        parent->stat.pzxid = zxid;
    }
}

void tree_apply(struct tree *t, const struct zk_txn_header *hdr, const uint8_t *body,
                size_t body_len, tree_event_fn *on_event, void *ctx, struct tree_result *res)
{
    memset(res, 0, sizeof(*res));
    res->type = hdr->type;
    res->path = (struct jute_buf){.ptr = NULL, .len = -1};
    if (hdr->type == ZK_OP_MULTI)
        apply_multi(t, hdr, body, body_len, on_event, ctx, res);
    else
        res->err = apply_one(t, hdr->client_id, hdr->type, hdr->zxid, hdr->time, body, body_len,
                             on_event, ctx, &res->path, &res->stat);
    if (hdr->type != ZK_OP_MULTI && hdr->type != ZK_OP_ERROR)
        res->unexpected_err = res->err;
    if (hdr->type == ZK_OP_CREATE && res->err == ZK_NODEEXISTS)
        replay_adjust_parent(t, body, body_len, hdr->zxid);
    if (hdr->zxid > t->last_zxid)
        t->last_zxid = hdr->zxid;
}

void tree_result_deinit(struct tree_result *res)
{
    mem_free(res->ops);
    res->ops = NULL;
    res->op_count = 0;
}

/* ---- loading a snapshot ---- */

void tree_reserve(struct tree *t, size_t nodes)
{
    smap_reserve(&t->nodes, nodes);
}

struct tree_node *tree_load_node(struct tree *t, const char *path, size_t len, struct jute_buf data,
                                 const uint8_t *acl_raw, size_t acl_raw_len, int32_t acl_count,
                                 const struct zk_stat_persisted *stat,
                                 struct tree_node **parent_hint, struct tree_acl **acl_hint)
{
    if (len < 2 || path[0] != '/')
        return NULL;
    /* Pre-order: siblings come one after another, so the last parent is
     * usually the one; comparing paths costs less than hashing one. */
    size_t plen = path_parent_len(path, len);
    struct tree_node *parent = *parent_hint;
    if (!parent || parent->path_len != plen || memcmp(parent->path, path, plen) != 0) {
        parent = tree_get(t, path, plen);
        if (!parent)
            return NULL;
        *parent_hint = parent;
    }
    /* One map probe, not a lookup then an insert: a path already there is
     * put back (only a damaged snapshot repeats a path). */
    struct tree_node *n = node_alloc(path, len, data);
    struct tree_node *old = smap_put(&t->nodes, n->path, len, n);
    if (old) {
        smap_put(&t->nodes, old->path, old->path_len, old);
        mem_free(n->data);
        mem_free(n);
        /* as a create that finds the node: only the stored Stat lands */
        old->stat = *stat;
        return old;
    }
    t->data_bytes += len + (data.len > 0 ? (size_t)data.len : 0);
    struct tree_acl *a = *acl_hint;
    if (a)
        a->refs++;
    else
        a = *acl_hint = acl_intern(t, acl_raw, acl_count > 0 ? acl_raw_len : 0, acl_count);
    n->acl = a;
    n->stat = *stat;
    child_add(parent, n);
    int64_t owner = stat->ephemeral_owner;
    struct list *special = special_list(t, owner);
    if (special)
        list_insert_tail(special, &n->eph_link);
    else if (owner != 0)
        list_insert_tail(eph_list(t, owner, true), &n->eph_link);
    quota_node_changed(t, path, len, true);
    quota_update(t, path, len, data.len > 0 ? data.len : 0, 1);
    return n;
}
