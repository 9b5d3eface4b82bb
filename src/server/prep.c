/* SPDX-License-Identifier: Apache-2.0 */
/* prep.c — PrepRequestProcessor: a write request becomes a txn, checked
 * (paths, versions, ACLs, quotas, sequence numbers) against the tree plus the
 * changes still in flight (struct change). Runs only where txns are made
 * (standalone, a leader); applies nothing. Pure: no I/O, no clock. */
#include "base/buf.h"
#include "base/hmap.h"
#include "base/list.h"
#include "base/log.h"
#include "base/mem.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/auth.h"
#include "server/server_int.h"
#include "tree/path.h"
#include "tree/tree.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- the change overlay ---- */

struct record {
    bool exists;
    struct zk_stat_persisted stat;
    int32_t child_count;
    struct jute_vec acl; /* borrowed: valid until the overlay or tree next changes */
};

static bool record_get(const struct server *s, const char *path, size_t len, struct record *out)
{
    struct change *c = smap_get(&s->change_by_path, path, len);
    if (c) {
        out->exists = c->exists;
        out->stat = c->stat;
        out->child_count = c->child_count;
        out->acl = (struct jute_vec){.count = c->acl_count, .raw = c->acl, .raw_len = c->acl_len};
        return c->exists;
    }
    struct tree_node *n = tree_get(&s->tree, path, len);
    if (!n) {
        out->exists = false;
        return false;
    }
    out->exists = true;
    out->stat = n->stat;
    out->child_count = (int32_t)n->child_count;
    out->acl = tree_node_acl(n);
    return true;
}

static void change_add(struct server *s, int64_t zxid, const char *path, size_t len,
                       const struct record *r)
{
    struct change *c = mem_calloc(1, sizeof(*c));
    c->zxid = zxid;
    c->path = mem_strndup(path, len);
    c->len = len;
    c->exists = r->exists;
    c->stat = r->stat;
    c->child_count = r->child_count;
    if (r->exists && r->acl.count > 0) {
        c->acl = mem_alloc(r->acl.raw_len ? r->acl.raw_len : 1);
        memcpy(c->acl, r->acl.raw, r->acl.raw_len);
        c->acl_len = r->acl.raw_len;
        c->acl_count = r->acl.count;
    }
    c->prev = smap_put(&s->change_by_path, c->path, len, c);
    list_insert_tail(&s->changes, &c->fifo);
}

static void change_free(struct change *c)
{
    mem_free(c->acl);
    mem_free(c->path);
    mem_free(c);
}

/* Undo every change added after `mark` (a failed multi). */
void change_rollback(struct server *s, struct list *mark)
{
    while (s->changes.prev != mark) {
        struct change *c = LIST_ENTRY(s->changes.prev, struct change, fifo);
        list_remove(&c->fifo);
        if (c->prev)
            smap_put(&s->change_by_path, c->prev->path, c->prev->len, c->prev);
        else
            smap_remove(&s->change_by_path, c->path, c->len);
        change_free(c);
    }
}

/* Txn `zxid` is applied: its records and older ones describe the tree now. */
void change_commit(struct server *s, int64_t zxid)
{
    while (!list_is_empty(&s->changes)) {
        struct change *c = LIST_ENTRY(s->changes.next, struct change, fifo);
        if (c->zxid > zxid)
            break;
        list_remove(&c->fifo);
        if (smap_get(&s->change_by_path, c->path, c->len) == c)
            smap_remove(&s->change_by_path, c->path, c->len);
        change_free(c);
    }
}

/* The log refused the txns from `from_zxid` on: their changes go. A dropped
 * change's `prev` may be a record committed and freed since, so the path map
 * is rebuilt from the changes left rather than unwound. */
void change_drop_from(struct server *s, int64_t from_zxid)
{
    smap_deinit(&s->change_by_path); /* its keys are the changes' paths */
    smap_init(&s->change_by_path);
    while (!list_is_empty(&s->changes)) {
        struct change *c = LIST_ENTRY(s->changes.prev, struct change, fifo);
        if (c->zxid < from_zxid)
            break;
        list_remove(&c->fifo);
        change_free(c);
    }
    struct list *it;
    LIST_FOREACH(it, &s->changes)
    {
        struct change *c = LIST_ENTRY(it, struct change, fifo);
        c->prev = smap_put(&s->change_by_path, c->path, c->len, c);
    }
}

/* ---- prep: request record -> txn ---- */

/* The "auth" entry: one digest entry with `perms` per authenticated digest
 * id of the caller, its bytes as they are (a NUL in a user name stays);
 * INVALIDACL when there is none. */
static int32_t acl_expand_auth(int32_t perms, const struct auth_ids *auth, struct buf *out,
                               int32_t *count)
{
    bool any = false;
    for (size_t i = 0; auth && i < auth->count; i++) {
        const struct auth_id *id = &auth->items[i];
        if (strcmp(id->scheme, "digest") != 0)
            continue; /* ip ids are never "authenticated" (IPAuthenticationProvider) */
        struct zk_acl granted = {.perms = perms,
                                 .id = {.scheme = jute_cstr("digest"),
                                        .id = {.ptr = id->id, .len = (int32_t)id->id_len}}};
        zk_acl_encode(out, &granted);
        (*count)++;
        any = true;
    }
    return any ? ZK_OK : ZK_INVALIDACL;
}

/* ZooKeeper's fixupACL with its default providers (world, ip, digest):
 * an empty list, an unknown or null scheme or an invalid id is INVALIDACL; a
 * null id of world, digest or ip is MARSHALLINGERROR (ZooKeeper throws a
 * NullPointerException there); "auth" becomes one entry per authenticated
 * digest id of the caller (INVALIDACL when there is none), whatever its id,
 * null included. Duplicate entries of the request are dropped first.
 * Encodes the resulting items into `out`. */
static int32_t acl_fixup(const struct jute_vec *acl, const struct auth_ids *auth, struct buf *out,
                         int32_t *count_out)
{
    if (acl->count <= 0)
        return ZK_INVALIDACL;
    struct buf seen; /* encoded request items already handled */
    buf_init(&seen);
    struct buf one;
    buf_init(&one);
    struct jute_vec_iter it;
    jute_vec_iter_init(&it, acl);
    struct zk_acl a;
    int32_t count = 0;
    int32_t err = ZK_OK;
    while (!err && jute_vec_next_acl(&it, &a)) {
        buf_clear(&one);
        zk_acl_encode(&one, &a);
        bool dup = false;
        struct jute_reader sr;
        jute_reader_init(&sr, seen.data, seen.len);
        while (!dup && jute_reader_remaining(&sr) > 0) {
            size_t at = sr.pos;
            struct zk_acl prev;
            if (zk_acl_decode(&sr, &prev) != 0)
                break;
            dup = sr.pos - at == one.len && memcmp(seen.data + at, one.data, one.len) == 0;
        }
        if (dup)
            continue;
        buf_append(&seen, one.data, one.len);
        if (a.id.scheme.len < 0) {
            err = ZK_INVALIDACL;
        } else if (scheme_is(a.id.scheme, "auth")) {
            /* the id is ignored: kazoo sends "" as a null string */
            err = acl_expand_auth(a.perms, auth, out, &count);
        } else if (a.id.id.len < 0 &&
                   (scheme_is(a.id.scheme, "world") || scheme_is(a.id.scheme, "digest") ||
                    scheme_is(a.id.scheme, "ip"))) {
            err = ZK_MARSHALLINGERROR; /* ZooKeeper's providers fail on a null id */
        } else if (scheme_is(a.id.scheme, "world") && jute_buf_eq(a.id.id, "anyone", 6)) {
            buf_append(out, one.data, one.len);
            count++;
        } else if ((scheme_is(a.id.scheme, "digest") && auth_digest_id_is_valid(a.id.id)) ||
                   (scheme_is(a.id.scheme, "ip") && auth_ip_id_is_valid(a.id.id))) {
            buf_append(out, one.data, one.len);
            count++;
        } else {
            err = ZK_INVALIDACL;
        }
    }
    if (!err && it.r.failed)
        err = ZK_MARSHALLINGERROR;
    buf_deinit(&one);
    buf_deinit(&seen);
    *count_out = count;
    return err;
}

static bool acl_allows(const struct prep *p, const struct jute_vec *acl, int32_t perm)
{
    return !p->auth || auth_acl_permits(acl, perm, p->auth);
}

/* ZooKeeperServer.checkQuota (with enforceQuota): the deepest quota above
 * the path; a hard limit (countHardLimit, byteHardLimit) refuses with
 * QUOTAEXCEEDED, a soft one (count, bytes) is only logged. */
static int32_t quota_check(struct server *s, const char *path, size_t len, int64_t bytes_diff,
                           int64_t count_diff)
{
    if (!s->cfg.enforce_quota)
        return ZK_OK;
    size_t qlen;
    const char *q = tree_quota_prefix(&s->tree, path, len, &qlen);
    if (!q)
        return ZK_OK;
    char node_path[4096];
    int n = snprintf(node_path, sizeof(node_path), "/zookeeper/quota%.*s/zookeeper_limits",
                     (int)qlen, q);
    struct tree_node *limits =
        n > 0 && (size_t)n < sizeof(node_path) ? tree_get(&s->tree, node_path, (size_t)n) : NULL;
    if (!limits)
        return ZK_OK;
    int64_t count = tree_stats_get(limits->data, limits->data_len, "count");
    int64_t count_hard = tree_stats_get(limits->data, limits->data_len, "countHardLimit");
    int64_t bytes = tree_stats_get(limits->data, limits->data_len, "bytes");
    int64_t bytes_hard = tree_stats_get(limits->data, limits->data_len, "byteHardLimit");
    bool check_count = count_diff != 0 && (count > -1 || count_hard > -1);
    bool check_bytes = bytes_diff != 0 && (bytes > -1 || bytes_hard > -1);
    if (!check_count && !check_bytes)
        return ZK_OK;
    n = snprintf(node_path, sizeof(node_path), "/zookeeper/quota%.*s/zookeeper_stats", (int)qlen,
                 q);
    struct tree_node *stats = tree_get(&s->tree, node_path, (size_t)n);
    if (!stats)
        return ZK_OK;
    struct {
        bool check;
        int64_t now, diff, soft, hard;
        const char *what;
    } checks[2] = {
        {check_count, tree_stats_get(stats->data, stats->data_len, "count"), count_diff, count,
         count_hard, "Count"},
        {check_bytes, tree_stats_get(stats->data, stats->data_len, "bytes"), bytes_diff, bytes,
         bytes_hard, "Byte"},
    };
    for (int i = 0; i < 2; i++) {
        if (!checks[i].check)
            continue;
        bool hard = checks[i].hard > -1;
        int64_t limit = hard ? checks[i].hard : checks[i].soft;
        int64_t next = checks[i].now + checks[i].diff;
        if (next <= limit)
            continue;
        LOG_W("Quota exceeded: %.*s [current %s=%lld, %s%sLimit=%lld]", (int)qlen, q,
              i == 0 ? "count" : "bytes", (long long)next, hard ? "hard" : "soft", checks[i].what,
              (long long)limit);
        if (hard)
            return ZK_QUOTAEXCEEDED;
    }
    return ZK_OK;
}

/* PrepRequestProcessor.pRequest2TxnCreate. `out` receives the txn body; the
 * caller sets the txn type to `op`. */
static int32_t prep_create(struct prep *p, int32_t op, struct jute_buf path, struct jute_buf data,
                           const struct jute_vec *acl, int32_t flags, int64_t ttl, struct buf *out)
{
    struct server *s = p->s;
    if (flags < 0 || flags > 6)
        return ZK_BADARGUMENTS;
    bool is_ttl = flags == 5 || flags == 6;
    bool sequential = flags == 2 || flags == 3 || flags == 6;
    bool ephemeral = flags == 1 || flags == 3;
    bool container = flags == 4;
    /* validateCreateRequest: TTL modes need extendedTypesEnabled; a TTL
     * must be in (0, 2^40); other modes take none (validateTTL). */
    if (is_ttl && !s->cfg.extended_types_enabled)
        return ZK_UNIMPLEMENTED;
    if (is_ttl ? ttl <= 0 || ttl > TREE_TTL_MAX : ttl >= 0)
        return ZK_BADARGUMENTS;
    if (op == ZK_OP_CREATE_TTL && !is_ttl)
        return ZK_BADARGUMENTS; /* ZooKeeper would fail applying it */
    /* validateCreateRequest: an ephemeral's owner is a global session */
    if (ephemeral && p->ephemeral_local_error)
        return ZK_EPHEMERALONLOCALSESSION;
    if (ephemeral && p->check_session) {
        int32_t serr = server_check_global_session(s, p->session_id, p->owner);
        if (serr)
            return serr;
    }
    /* The opcode picks the txn (a plain create with the container flag makes
     * a plain node); the flags pick the mode, as in pRequest2TxnCreate. */
    if (path.len < 0)
        return ZK_BADARGUMENTS;
    const char *pp = (const char *)path.ptr;
    size_t len = (size_t)path.len;
    const char *slash = len ? memrchr(pp, '/', len) : NULL;
    if (!slash || buf_has_nul(path))
        return ZK_BADARGUMENTS;
    struct buf acl_items;
    buf_init(&acl_items);
    int32_t acl_count = 0;
    int32_t err = acl_fixup(acl, p->auth, &acl_items, &acl_count);
    if (err)
        goto out;
    size_t slash_at = (size_t)(slash - pp);
    const char *parent_path = slash_at == 0 ? "/" : pp;
    size_t parent_len = slash_at == 0 ? 1 : slash_at;
    struct record parent;
    if (!record_get(s, parent_path, parent_len, &parent)) {
        err = ZK_NONODE;
        goto out;
    }
    if (!acl_allows(p, &parent.acl, ZK_PERM_CREATE)) {
        err = ZK_NOAUTH;
        goto out;
    }
    char name[64];
    size_t name_len = 0;
    if (sequential)
        name_len = (size_t)snprintf(name, sizeof(name), "%010" PRId32, parent.stat.cversion);
    char *full = mem_alloc(len + name_len + 1);
    memcpy(full, pp, len);
    memcpy(full + len, name, name_len);
    size_t full_len = len + name_len;
    full[full_len] = '\0';
    struct record existing;
    if (!path_is_valid(full, full_len))
        err = ZK_BADARGUMENTS;
    else if (record_get(s, full, full_len, &existing))
        err = ZK_NODEEXISTS;
    else if (tree_owner_kind(&s->tree, parent.stat.ephemeral_owner) == TREE_OWNER_SESSION)
        err = ZK_NOCHILDRENFOREPHEMERALS;
    else
        err = quota_check(s, full, full_len, data.len > 0 ? data.len : 0, 1);
    if (err) {
        mem_free(full);
        goto out;
    }
    int32_t new_cversion = version_next(parent.stat.cversion);
    struct jute_vec acl_vec = {
        .count = acl_count, .raw = acl_items.data, .raw_len = acl_items.len, .items = NULL};
    struct jute_buf full_buf = {.ptr = (const uint8_t *)full, .len = (int32_t)full_len};
    if (op == ZK_OP_CREATE_CONTAINER) {
        struct zk_create_container_txn txn = {
            .path = full_buf, .data = data, .acl = acl_vec, .parent_cversion = new_cversion};
        zk_create_container_txn_encode(out, &txn);
    } else if (op == ZK_OP_CREATE_TTL) {
        struct zk_create_ttl_txn txn = {.path = full_buf,
                                        .data = data,
                                        .acl = acl_vec,
                                        .parent_cversion = new_cversion,
                                        .ttl = ttl};
        zk_create_ttl_txn_encode(out, &txn);
    } else {
        struct zk_create_txn txn = {.path = full_buf,
                                    .data = data,
                                    .acl = acl_vec,
                                    .ephemeral = ephemeral,
                                    .parent_cversion = new_cversion};
        zk_create_txn_encode(out, &txn);
    }
    int64_t owner = container   ? INT64_MIN
                    : is_ttl    ? (int64_t)(0xff00000000000000ULL | (uint64_t)ttl)
                    : ephemeral ? p->session_id
                                : 0;
    parent.child_count++;
    parent.stat.cversion = new_cversion;
    parent.stat.pzxid = p->zxid;
    change_add(s, p->zxid, parent_path, parent_len, &parent);
    struct record node = {.exists = true,
                          .stat = {.czxid = p->zxid,
                                   .mzxid = p->zxid,
                                   .ctime = p->time,
                                   .mtime = p->time,
                                   .ephemeral_owner = owner,
                                   .pzxid = p->zxid},
                          .child_count = 0,
                          .acl = acl_vec};
    change_add(s, p->zxid, full, full_len, &node);
    mem_free(full);
out:
    buf_deinit(&acl_items);
    return err;
}

int32_t prep_delete(struct prep *p, int32_t op, struct jute_buf path, int32_t version,
                    struct buf *out)
{
    struct server *s = p->s;
    if (path.len < 0)
        return ZK_BADARGUMENTS;
    const char *pp = (const char *)path.ptr;
    size_t len = (size_t)path.len;
    const char *slash = len ? memrchr(pp, '/', len) : NULL;
    if (!slash || buf_has_nul(path) || path_is_special(pp, len))
        return ZK_BADARGUMENTS;
    size_t slash_at = (size_t)(slash - pp);
    const char *parent_path = slash_at == 0 ? "/" : pp;
    size_t parent_len = slash_at == 0 ? 1 : slash_at;
    struct record parent, node;
    if (!record_get(s, parent_path, parent_len, &parent))
        return ZK_NONODE;
    if (!acl_allows(p, &parent.acl, ZK_PERM_DELETE))
        return ZK_NOAUTH;
    if (!record_get(s, pp, len, &node))
        return ZK_NONODE;
    if (op == ZK_OP_DELETE_CONTAINER) {
        if (node.child_count > 0)
            return ZK_NOTEMPTY;
        enum tree_owner_kind kind = tree_owner_kind(&s->tree, node.stat.ephemeral_owner);
        if (kind != TREE_OWNER_CONTAINER && kind != TREE_OWNER_TTL)
            return ZK_BADVERSION;
    } else {
        if (version != -1 && version != node.stat.version)
            return ZK_BADVERSION;
        if (node.child_count > 0)
            return ZK_NOTEMPTY;
    }
    struct zk_delete_txn txn = {.path = path};
    zk_delete_txn_encode(out, &txn);
    parent.child_count--;
    parent.stat.pzxid = p->zxid;
    change_add(s, p->zxid, parent_path, parent_len, &parent);
    struct record gone = {.exists = false};
    change_add(s, p->zxid, pp, len, &gone);
    return ZK_OK;
}

static int32_t prep_set_data(struct prep *p, struct jute_buf path, struct jute_buf data,
                             int32_t version, struct buf *out)
{
    struct server *s = p->s;
    if (path.len < 0 || !path_is_valid((const char *)path.ptr, (size_t)path.len))
        return ZK_BADARGUMENTS;
    struct record node;
    if (!record_get(s, (const char *)path.ptr, (size_t)path.len, &node))
        return ZK_NONODE;
    if (!acl_allows(p, &node.acl, ZK_PERM_WRITE))
        return ZK_NOAUTH;
    struct tree_node *old = tree_get(&s->tree, (const char *)path.ptr, (size_t)path.len);
    int64_t old_len = old && old->data_len > 0 ? old->data_len : 0;
    int32_t qerr = quota_check(s, (const char *)path.ptr, (size_t)path.len,
                               (data.len > 0 ? data.len : 0) - old_len, 0);
    if (qerr)
        return qerr;
    if (version != -1 && version != node.stat.version)
        return ZK_BADVERSION;
    int32_t new_version = version_next(node.stat.version);
    struct zk_set_data_txn txn = {.path = path, .data = data, .version = new_version};
    zk_set_data_txn_encode(out, &txn);
    node.stat.version = new_version;
    node.stat.mtime = p->time;
    node.stat.mzxid = p->zxid;
    change_add(s, p->zxid, (const char *)path.ptr, (size_t)path.len, &node);
    return ZK_OK;
}

/* OpCode.reconfig (PrepRequestProcessor): the node makes the new config
 * (io.reconfig_prep), then WRITE on /zookeeper/config is checked, last as
 * in Apache; the txn is a SetDataTxn of that node, version -1, which
 * DataTree.setData stores as the node's version. */
static int32_t prep_reconfig(struct prep *p, const struct zk_reconfig_request *req, struct buf *out)
{
    static const char config_path[] = "/zookeeper/config";
    const size_t config_len = sizeof(config_path) - 1;
    struct server *s = p->s;
    if (s->role != SERVER_LEADER || !s->io.reconfig_prep)
        return ZK_UNIMPLEMENTED; /* standalone: "reconfiguration currently not supported" */
    struct buf config;
    buf_init(&config);
    int32_t err = s->io.reconfig_prep(s->io.ctx, req, p->zxid, &config);
    struct record node;
    if (!err && !record_get(s, config_path, config_len, &node))
        err = ZK_NONODE;
    if (!err && !acl_allows(p, &node.acl, ZK_PERM_WRITE))
        err = ZK_NOAUTH;
    if (!err) {
        struct zk_set_data_txn txn = {.path = jute_buf_of(config_path, config_len),
                                      .data = jute_buf_of(config.data, config.len),
                                      .version = -1};
        zk_set_data_txn_encode(out, &txn);
        node.stat.version = -1;
        node.stat.mtime = p->time;
        node.stat.mzxid = p->zxid;
        change_add(s, p->zxid, config_path, config_len, &node);
    }
    buf_deinit(&config);
    return err;
}

static int32_t prep_set_acl(struct prep *p, struct jute_buf path, const struct jute_vec *acl,
                            int32_t version, struct buf *out)
{
    struct server *s = p->s;
    if (path.len < 0 || !path_is_valid((const char *)path.ptr, (size_t)path.len))
        return ZK_BADARGUMENTS;
    struct buf items;
    buf_init(&items);
    int32_t count = 0;
    int32_t err = acl_fixup(acl, p->auth, &items, &count);
    struct record node;
    if (!err && !record_get(s, (const char *)path.ptr, (size_t)path.len, &node))
        err = ZK_NONODE;
    if (!err && !acl_allows(p, &node.acl, ZK_PERM_ADMIN))
        err = ZK_NOAUTH;
    if (!err && version != -1 && version != node.stat.aversion)
        err = ZK_BADVERSION;
    if (!err) {
        int32_t new_version = version_next(node.stat.aversion);
        struct zk_set_acl_txn txn = {
            .path = path,
            .acl = {.count = count, .raw = items.data, .raw_len = items.len, .items = NULL},
            .version = new_version};
        zk_set_acl_txn_encode(out, &txn);
        node.stat.aversion = new_version;
        node.acl = (struct jute_vec){.count = count, .raw = items.data, .raw_len = items.len};
        change_add(s, p->zxid, (const char *)path.ptr, (size_t)path.len, &node);
    }
    buf_deinit(&items);
    return err;
}

static int32_t prep_check(struct prep *p, struct jute_buf path, int32_t version, struct buf *out)
{
    if (path.len < 0 || !path_is_valid((const char *)path.ptr, (size_t)path.len))
        return ZK_BADARGUMENTS;
    struct record node;
    if (!record_get(p->s, (const char *)path.ptr, (size_t)path.len, &node))
        return ZK_NONODE;
    if (!acl_allows(p, &node.acl, ZK_PERM_READ))
        return ZK_NOAUTH;
    if (version != -1 && version != node.stat.version)
        return ZK_BADVERSION;
    struct zk_check_version_txn txn = {.path = path, .version = version_next(node.stat.version)};
    zk_check_version_txn_encode(out, &txn);
    return ZK_OK;
}

/* The session's ephemerals once the txns in flight are applied. */
void prep_close_session(struct prep *p, struct buf *out)
{
    struct server *s = p->s;
    int64_t id = p->session_id;
    struct smap set; /* keys borrowed from the tree and the overlay */
    smap_init(&set);
    const struct list *eph = tree_ephemerals(&s->tree, id);
    struct list *it;
    if (eph) {
        LIST_FOREACH(it, eph)
        {
            struct tree_node *n = LIST_ENTRY(it, struct tree_node, eph_link);
            smap_put(&set, n->path, n->path_len, n);
        }
    }
    LIST_FOREACH(it, &s->changes)
    {
        struct change *c = LIST_ENTRY(it, struct change, fifo);
        if (!c->exists)
            smap_remove(&set, c->path, c->len);
        else if (c->stat.ephemeral_owner == id)
            smap_put(&set, c->path, c->len, c);
    }
    /* Collect the paths first: adding change records reshapes the overlay. */
    struct jute_buf *paths = mem_calloc(set.count + 1, sizeof(*paths));
    char **copies = mem_calloc(set.count + 1, sizeof(*copies));
    size_t n = 0, pos = 0;
    const char *key;
    size_t key_len;
    void *value;
    while (smap_next(&set, &pos, &key, &key_len, &value)) {
        copies[n] = mem_strndup(key, key_len);
        paths[n] = (struct jute_buf){.ptr = (const uint8_t *)copies[n], .len = (int32_t)key_len};
        n++;
    }
    struct zk_close_session_txn txn = {
        .paths2_delete = {.count = (int32_t)n, .raw = NULL, .raw_len = 0, .items = paths}};
    zk_close_session_txn_encode(out, &txn);
    for (size_t i = 0; i < n; i++) {
        const char *pp = copies[i];
        size_t len = (size_t)paths[i].len;
        size_t plen = path_parent_len(pp, len);
        struct record parent;
        if (record_get(s, pp, plen, &parent)) {
            parent.child_count--;
            parent.stat.pzxid = p->zxid;
            change_add(s, p->zxid, pp, plen, &parent);
        }
        struct record gone = {.exists = false};
        change_add(s, p->zxid, pp, len, &gone);
        mem_free(copies[i]);
    }
    mem_free(copies);
    mem_free(paths);
    smap_deinit(&set);
}

/* One write op (alone or inside a multi): decode its record from r, prep it.
 * Returns the error; on success the txn body is in `out`. */
/* Decodes an op's record only to walk past it; 0 or -1. */
static int skip_op(int32_t op, struct jute_reader *r)
{
    switch (op) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER: {
        struct zk_create_request req;
        return zk_create_request_decode(r, &req);
    }
    case ZK_OP_CREATE_TTL: {
        struct zk_create_ttl_request req;
        return zk_create_ttl_request_decode(r, &req);
    }
    case ZK_OP_SET_DATA: {
        struct zk_set_data_request req;
        return zk_set_data_request_decode(r, &req);
    }
    case ZK_OP_SET_ACL: {
        struct zk_set_acl_request req;
        return zk_set_acl_request_decode(r, &req);
    }
    case ZK_OP_RECONFIG: {
        struct zk_reconfig_request req;
        return zk_reconfig_request_decode(r, &req);
    }
    default: {
        struct zk_path_version_request req;
        return zk_path_version_request_decode(r, &req);
    }
    }
}

int prep_skip_op(int32_t op, struct jute_reader *r)
{
    return skip_op(op, r);
}

int32_t prep_op(struct prep *p, int32_t op, struct jute_reader *r, struct buf *out)
{
    /* a reconfig is refused before its session is looked at */
    if (op == ZK_OP_RECONFIG && !p->s->cfg.reconfig_enabled)
        return ZK_RECONFIGDISABLED;
    /* PrepRequestProcessor checks the session first in every op a client
     * may send (the sweep's deleteContainer is the server's own); a multi
     * goes on past the refused op */
    if (p->check_session && op != ZK_OP_DELETE_CONTAINER) {
        int32_t err = server_check_session(p->s, p->session_id, p->owner);
        if (err)
            return skip_op(op, r) == 0 ? err : ZK_MARSHALLINGERROR;
    }
    switch (op) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER: {
        struct zk_create_request req;
        if (zk_create_request_decode(r, &req) != 0)
            return ZK_MARSHALLINGERROR;
        return prep_create(p, op, req.path, req.data, &req.acl, req.flags, -1, out);
    }
    case ZK_OP_CREATE_TTL: {
        struct zk_create_ttl_request req;
        if (zk_create_ttl_request_decode(r, &req) != 0)
            return ZK_MARSHALLINGERROR;
        return prep_create(p, op, req.path, req.data, &req.acl, req.flags, req.ttl, out);
    }
    case ZK_OP_DELETE: {
        struct zk_path_version_request req;
        if (zk_path_version_request_decode(r, &req) != 0)
            return ZK_MARSHALLINGERROR;
        return prep_delete(p, op, req.path, req.version, out);
    }
    case ZK_OP_DELETE_CONTAINER:
        /* Only the server's sweep deletes containers: ZooKeeper reads a
         * client's deleteContainer as the raw packet bytes, whose NULs make
         * it BADARGUMENTS every time. */
        return ZK_BADARGUMENTS;
    case ZK_OP_SET_DATA: {
        struct zk_set_data_request req;
        if (zk_set_data_request_decode(r, &req) != 0)
            return ZK_MARSHALLINGERROR;
        return prep_set_data(p, req.path, req.data, req.version, out);
    }
    case ZK_OP_SET_ACL: {
        struct zk_set_acl_request req;
        if (zk_set_acl_request_decode(r, &req) != 0)
            return ZK_MARSHALLINGERROR;
        return prep_set_acl(p, req.path, &req.acl, req.version, out);
    }
    case ZK_OP_CHECK: {
        struct zk_path_version_request req;
        if (zk_path_version_request_decode(r, &req) != 0)
            return ZK_MARSHALLINGERROR;
        return prep_check(p, req.path, req.version, out);
    }
    case ZK_OP_RECONFIG: {
        struct zk_reconfig_request req;
        if (zk_reconfig_request_decode(r, &req) != 0)
            return ZK_MARSHALLINGERROR;
        return prep_reconfig(p, &req, out);
    }
    default:
        return ZK_MARSHALLINGERROR;
    }
}

static bool multi_op_is_write(int32_t op)
{
    switch (op) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER:
    case ZK_OP_CREATE_TTL:
    case ZK_OP_DELETE:
    case ZK_OP_SET_DATA:
    case ZK_OP_CHECK:
        return true;
    default:
        return false;
    }
}

/* Inside a multi the server rebuilds each create as Op.create(flags): the
 * opcode follows the flags, so create2 answers as create and the container
 * flag makes a createContainer (MultiOperationRecord.deserialize). Peeks at
 * the flags without consuming the record. */
static int32_t multi_op_type(int32_t type, const struct jute_reader *r)
{
    if (type != ZK_OP_CREATE && type != ZK_OP_CREATE2 && type != ZK_OP_CREATE_CONTAINER)
        return type;
    struct jute_reader peek = *r;
    struct zk_create_request req;
    if (zk_create_request_decode(&peek, &req) != 0)
        return type;
    if (req.flags == ZK_CREATE_CONTAINER)
        return ZK_OP_CREATE_CONTAINER;
    if (req.flags == 5 || req.flags == 6)
        return ZK_OP_CREATE_TTL;
    return ZK_OP_CREATE;
}

/* A multi's sub-txns: every op of a failed multi is kept, the failing one
 * and those after it as ErrorTxn (PrepRequestProcessor, OpCode.multi). */
int32_t prep_multi(struct prep *p, struct jute_reader *r, struct buf *out)
{
    struct server *s = p->s;
    struct list *mark = s->changes.prev;
    struct buf subs; /* encoded zk_txn items */
    buf_init(&subs);
    struct buf body;
    buf_init(&body);
    int32_t count = 0;
    int32_t failed = ZK_OK;
    for (;;) {
        struct zk_multi_header h;
        if (zk_multi_header_decode(r, &h) != 0) {
            failed = ZK_MARSHALLINGERROR;
            break;
        }
        if (h.done)
            break;
        if (!multi_op_is_write(h.type)) {
            failed = ZK_MARSHALLINGERROR;
            break;
        }
        buf_clear(&body);
        int32_t type = multi_op_type(h.type, r);
        if (failed) {
            /* decode the op only to walk past it (h.type: never set_acl) */
            if (skip_op(h.type, r) != 0) {
                failed = ZK_MARSHALLINGERROR;
                break;
            }
            type = ZK_OP_ERROR;
            struct zk_error_txn et = {.err = ZK_RUNTIMEINCONSISTENCY};
            zk_error_txn_encode(&body, &et);
        } else {
            /* a TTL create from a CreateRequest fails to cast in ZooKeeper */
            int32_t err = type == ZK_OP_CREATE_TTL && h.type != ZK_OP_CREATE_TTL
                              ? ZK_MARSHALLINGERROR
                              : prep_op(p, type, r, &body);
            if (err == ZK_MARSHALLINGERROR) {
                failed = err;
                break;
            }
            if (err) {
                failed = err;
                change_rollback(s, mark);
                type = ZK_OP_ERROR;
                buf_clear(&body);
                struct zk_error_txn et = {.err = err};
                zk_error_txn_encode(&body, &et);
            }
        }
        struct zk_txn t = {.type = type, .data = {.ptr = body.data, .len = (int32_t)body.len}};
        zk_txn_encode(&subs, &t);
        count++;
    }
    int32_t result = ZK_OK;
    if (failed == ZK_MARSHALLINGERROR) {
        change_rollback(s, mark);
        result = ZK_MARSHALLINGERROR;
    } else {
        struct zk_multi_txn mt = {
            .txns = {.count = count, .raw = subs.data, .raw_len = subs.len, .items = NULL}};
        zk_multi_txn_encode(out, &mt);
    }
    buf_deinit(&body);
    buf_deinit(&subs);
    return result;
}
