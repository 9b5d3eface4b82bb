/* SPDX-License-Identifier: Apache-2.0 */
/* persist.c — the server's state as ZooKeeper serialises it (SerializeUtils,
 * DataTree.serialize/deserialize, ReferenceCountedACLCache) and the replay of
 * committed txns at start-up. Pure: bytes in and out through the caller. */
#include "base/buf.h"
#include "base/hmap.h"
#include "base/mem.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/server.h"
#include "server/server_int.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define PERSIST_FLUSH (64 * 1024)

/* ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID: a node with a null ACL. */
#define PERSIST_ACL_OPEN_UNSAFE (-1)

int64_t server_last_zxid(const struct server *s)
{
    return s->tree.last_zxid;
}

void server_set_last_zxid(struct server *s, int64_t zxid)
{
    if (zxid > s->tree.last_zxid)
        s->tree.last_zxid = zxid;
    /* never back: a leader's counter is at its epoch already */
    if (s->next_zxid <= s->tree.last_zxid)
        s->next_zxid = s->tree.last_zxid + 1;
}

/* ---- writing ---- */

struct out {
    struct buf b;
    snapshot_sink_fn *sink;
    void *ctx;
};

static void out_flush(struct out *o, bool force)
{
    if (o->b.len > 0 && (force || o->b.len >= PERSIST_FLUSH)) {
        o->sink(o->ctx, o->b.data, o->b.len);
        buf_clear(&o->b);
    }
}

/* Sessions whose createSession txn is not applied yet are not in the
 * committed state (ZooKeeper adds them to the database on commit). */
static void pending_sessions(const struct server *s, struct imap *out)
{
    for (const struct list *it = s->proposals.next; it != &s->proposals; it = it->next) {
        const struct proposal *pr =
            (const struct proposal *)(const void *)((const char *)it -
                                                    offsetof(struct proposal, link));
        struct jute_reader r;
        jute_reader_init(&r, pr->txn.data, pr->txn.len);
        struct zk_txn_header h;
        if (zk_txn_header_decode(&r, &h) == 0 && h.type == ZK_OP_CREATE_SESSION)
            imap_put(out, (uint64_t)h.client_id, (void *)1);
    }
    /* a learner's: forwarded, not come back yet; a read-only server's own */
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (imap_next(&s->sessions.by_id, &pos, &key, &value)) {
        const struct server_session *ss = value;
        if (ss->creating || ss->local)
            imap_put(out, key, (void *)1);
    }
}

void server_snapshot_write(const struct server *s, snapshot_sink_fn *sink, void *ctx)
{
    struct out o = {.sink = sink, .ctx = ctx};
    buf_init(&o.b);

    struct imap pending;
    imap_init(&pending);
    pending_sessions(s, &pending);
    int32_t count = 0;
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (imap_next(&s->sessions.by_id, &pos, &key, &value))
        if (!imap_get(&pending, key))
            count++;
    jute_write_i32(&o.b, count);
    pos = 0;
    while (imap_next(&s->sessions.by_id, &pos, &key, &value)) {
        const struct session *ss = value;
        if (imap_get(&pending, key))
            continue;
        jute_write_i64(&o.b, ss->id);
        jute_write_i32(&o.b, ss->timeout_ms);
        out_flush(&o, false);
    }
    imap_deinit(&pending);

    /* The ACL cache: each interned list gets an id from 1 up. */
    struct imap acl_ids;
    imap_init(&acl_ids);
    jute_write_i32(&o.b, (int32_t)s->tree.acls.count);
    pos = 0;
    const char *skey;
    size_t skey_len;
    int64_t next_id = 1;
    while (smap_next(&s->tree.acls, &pos, &skey, &skey_len, &value)) {
        const struct tree_acl *a = value;
        imap_put(&acl_ids, (uint64_t)(uintptr_t)a, (void *)(uintptr_t)next_id);
        jute_write_i64(&o.b, next_id++);
        jute_write_i32(&o.b, a->count);
        buf_append(&o.b, a->raw, a->raw_len);
        out_flush(&o, false);
    }

    /* Nodes in pre-order (parents first), with an explicit stack; by the
     * child links, not the path index, which a fork()ed snapshot child does
     * not have (smap_init_unforked). */
    const struct tree_node *root = s->tree.root;
    size_t stack_cap = 64, depth = 0;
    const struct tree_node **stack = mem_alloc(stack_cap * sizeof(*stack));
    stack[depth++] = root;
    while (depth > 0) {
        const struct tree_node *n = stack[--depth];
        if (n == root)
            jute_write_i32(&o.b, 0); /* the root's path is "" */
        else
            jute_write_bytes(&o.b, n->path, (int32_t)n->path_len);
        jute_write_bytes(&o.b, n->data, n->data_len);
        jute_write_i64(&o.b, (int64_t)(uintptr_t)imap_get(&acl_ids, (uint64_t)(uintptr_t)n->acl));
        zk_stat_persisted_encode(&o.b, &n->stat);
        out_flush(&o, false);
        if (depth + n->child_count > stack_cap) {
            while (depth + n->child_count > stack_cap)
                stack_cap *= 2;
            stack = mem_realloc(stack, stack_cap * sizeof(*stack));
        }
        for (uint32_t i = n->child_count; i > 0; i--)
            stack[depth++] = n->children[i - 1];
    }
    mem_free(stack);
    imap_deinit(&acl_ids);
    jute_write_bytes(&o.b, "/", 1);
    out_flush(&o, true);
    buf_deinit(&o.b);
}

/* ---- the digest of the committed state ---- */

/* FNV-1a over the bytes, then a finalizer (splitmix64) so that sums of
 * item hashes do not cancel in simple ways. */
static uint64_t digest_bytes(const uint8_t *p, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;
    return h;
}

uint64_t server_state_digest(const struct server *s)
{
    struct imap pending;
    imap_init(&pending);
    pending_sessions(s, &pending);
    struct buf b;
    buf_init(&b);
    uint64_t sum = 0;
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (imap_next(&s->sessions.by_id, &pos, &key, &value)) {
        const struct session *ss = value;
        if (imap_get(&pending, key))
            continue;
        buf_clear(&b);
        buf_append(&b, "s", 1);
        jute_write_i64(&b, ss->id);
        jute_write_i32(&b, ss->timeout_ms);
        sum += digest_bytes(b.data, b.len);
    }
    imap_deinit(&pending);
    pos = 0;
    const char *path;
    size_t path_len;
    while (smap_next(&s->tree.nodes, &pos, &path, &path_len, &value)) {
        const struct tree_node *n = value;
        if (path_len == 17 && memcmp(path, "/zookeeper/config", 17) == 0)
            continue; /* local: each load sets it anew (tree_set_config) */
        buf_clear(&b);
        buf_append(&b, "n", 1);
        jute_write_bytes(&b, n->path, (int32_t)n->path_len);
        jute_write_bytes(&b, n->data, n->data_len);
        if (n->acl)
            buf_append(&b, n->acl->raw, n->acl->raw_len);
        else
            jute_write_i32(&b, -1);
        zk_stat_persisted_encode(&b, &n->stat);
        sum += digest_bytes(b.data, b.len);
    }
    buf_clear(&b);
    jute_write_i64(&b, s->tree.last_zxid);
    sum += digest_bytes(b.data, b.len);
    buf_deinit(&b);
    return sum;
}

/* ---- loading ---- */

struct acl_entry {
    const uint8_t *raw;
    size_t raw_len;
    int32_t count;
    struct tree_acl *interned; /* once a loaded node holds it */
};

static int load_fail(char *errmsg, size_t errlen, size_t off, const char *what)
{
    snprintf(errmsg, errlen, "%s at offset %zu of the snapshot body", what, off);
    return -1;
}

void server_session_restore(struct server *s, int64_t id, int32_t timeout_ms, int64_t now_ms)
{
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, id);
    if (ss) {
        ss->base.timeout_ms = timeout_ms;
        session_touch(&s->sessions, &ss->base, now_ms);
        return;
    }
    (void)server_session_new(s, id, timeout_ms, now_ms);
}

static void session_forget(struct server *s, int64_t id)
{
    struct server_session *ss = (struct server_session *)session_get(&s->sessions, id);
    if (!ss)
        return;
    session_remove(&s->sessions, &ss->base);
    watch_owner_clear(ss->watches);
    mem_free(ss->watches);
    buf_deinit(&ss->parked);
    mem_free(ss);
}

/* Apply a synthetic txn (no events); its outcome is not needed. */
static void apply_synthetic(struct server *s, int32_t type, int64_t owner, int64_t zxid,
                            const struct buf *body)
{
    struct zk_txn_header h = {.client_id = owner, .cxid = 0, .zxid = zxid, .time = 0, .type = type};
    struct tree_result res;
    int64_t last = s->tree.last_zxid;
    tree_apply(&s->tree, &h, body->data, body->len, NULL, NULL, &res);
    tree_result_deinit(&res);
    s->tree.last_zxid = last;
}

static int load_node(struct server *s, const char *path, size_t path_len, struct jute_buf data,
                     struct acl_entry *acl, const struct zk_stat_persisted *st,
                     struct tree_node **parent_hint, struct buf *scratch, char *errmsg,
                     size_t errlen, size_t off)
{
    struct jute_vec acl_vec = {.count = acl->count, .raw = acl->raw, .raw_len = acl->raw_len};
    struct jute_buf jpath = jute_buf_of(path, path_len);
    /* Only "/" and "/zookeeper/..." exist before the snapshot's nodes. */
    bool preexisting = path_len == 1 || (path_len >= 10 && memcmp(path, "/zookeeper", 10) == 0);
    struct tree_node *n = preexisting ? tree_get(&s->tree, path, path_len) : NULL;
    buf_clear(scratch);
    if (n) {
        /* "/", "/zookeeper" and its children exist from tree_init */
        struct zk_set_acl_txn sa = {.path = jpath, .acl = acl_vec, .version = st->aversion};
        zk_set_acl_txn_encode(scratch, &sa);
        apply_synthetic(s, ZK_OP_SET_ACL, 0, st->mzxid, scratch);
        buf_clear(scratch);
        struct zk_set_data_txn sd = {.path = jpath, .data = data, .version = st->version};
        zk_set_data_txn_encode(scratch, &sd);
        apply_synthetic(s, ZK_OP_SET_DATA, 0, st->mzxid, scratch);
    } else {
        if (path_len < 2 || path[0] != '/') {
            snprintf(errmsg, errlen, "bad path %.*s at offset %zu of the snapshot body",
                     (int)(path_len > 200 ? 200 : path_len), path, off);
            return -1;
        }
        n = tree_load_node(&s->tree, path, path_len, data, acl->raw, acl->raw_len, acl->count, st,
                           parent_hint, &acl->interned);
        if (!n) {
            snprintf(errmsg, errlen,
                     "Invalid Datatree, unable to find parent of path %.*s at offset %zu of the "
                     "snapshot body",
                     (int)(path_len > 200 ? 200 : path_len), path, off);
            return -1;
        }
    }
    n->stat = *st;
    return 0;
}

/* The nodes in a snapshot's node list, by skipping over them (a sequential
 * pass over the bytes, a few ms per million nodes), so that the path map is
 * sized once. Stops at the "/" end marker or at anything malformed, which
 * the real pass then reports. */
static size_t count_nodes(const uint8_t *p, size_t len)
{
    /* acl id, then StatPersisted: czxid mzxid ctime mtime version cversion
     * aversion ephemeralOwner pzxid */
    const size_t fixed = 8 + 8 * 4 + 4 * 3 + 8 * 2;
    size_t off = 0, count = 0;
    for (;;) {
        if (len - off < 4)
            return count;
        int32_t plen = (int32_t)be32_get(p + off);
        if (plen < 0 || (size_t)plen > len - off - 4)
            return count;
        if (plen == 1 && p[off + 4] == '/')
            return count;
        off += 4 + (size_t)plen;
        if (len - off < 4)
            return count;
        int32_t dlen = (int32_t)be32_get(p + off);
        size_t skip = 4 + (dlen > 0 ? (size_t)dlen : 0);
        if (skip > len - off || fixed > len - off - skip)
            return count;
        off += skip + fixed;
        count++;
    }
}

/* The body decoded as it arrives: whole items at a time (the session count,
 * a session, the ACL cache's size, an ACL entry, a node, the end marker);
 * what is left of a partial item is fed again with the bytes that follow. */
enum snap_load_phase {
    LOAD_SESSION_COUNT,
    LOAD_SESSIONS,
    LOAD_ACL_COUNT,
    LOAD_ACLS,
    LOAD_NODES,
    LOAD_DONE,
};

struct server_snap_load {
    struct server *s;
    int64_t now_ms;
    enum snap_load_phase phase;
    int64_t left;     /* sessions or ACL entries still to come */
    size_t base;      /* body offset of the next byte fed */
    struct imap acls; /* ACL id -> struct acl_entry, its raw items after it */
    struct buf scratch;
    struct buf open_acl;
    struct acl_entry open_entry;
    struct tree_node *parent_hint;
    bool presize; /* the whole body is fed at once: size the path map from it */
};

struct server_snap_load *server_snap_load_begin(struct server *s, int64_t now_ms)
{
    struct server_snap_load *l = mem_alloc(sizeof(*l));
    *l = (struct server_snap_load){.s = s, .now_ms = now_ms, .phase = LOAD_SESSION_COUNT};
    imap_init(&l->acls);
    buf_init(&l->scratch);
    buf_init(&l->open_acl);
    struct zk_acl world = {.perms = ZK_PERM_ALL,
                           .id = {.scheme = jute_cstr("world"), .id = jute_cstr("anyone")}};
    zk_acl_encode(&l->open_acl, &world);
    l->open_entry =
        (struct acl_entry){.raw = l->open_acl.data, .raw_len = l->open_acl.len, .count = 1};
    return l;
}

void server_snap_load_end(struct server_snap_load *l)
{
    if (!l)
        return;
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (imap_next(&l->acls, &pos, &key, &value))
        mem_free(value);
    imap_deinit(&l->acls);
    buf_deinit(&l->scratch);
    buf_deinit(&l->open_acl);
    mem_free(l);
}

/* What a body that ends inside an item of this phase lacks. */
static const char *load_short(enum snap_load_phase phase, bool in_path)
{
    switch (phase) {
    case LOAD_SESSION_COUNT:
        return "bad session count";
    case LOAD_SESSIONS:
        return "truncated session list";
    case LOAD_ACL_COUNT:
        return "bad ACL cache size";
    case LOAD_ACLS:
        return "truncated ACL cache";
    default:
        return in_path ? "truncated node list (no \"/\" end marker)" : "truncated node";
    }
}

/* One ACL cache entry: (long id, vector<ACL>), its items copied (the bytes
 * fed are not kept). 1: read; 0: short. */
static int load_acl_entry(struct server_snap_load *l, struct jute_reader *r)
{
    int64_t id = jute_read_i64(r);
    int32_t n = jute_read_i32(r);
    if (r->failed)
        return 0;
    size_t start = r->pos;
    for (int32_t k = 0; k < n; k++) {
        struct zk_acl a;
        if (zk_acl_decode(r, &a) != 0)
            return 0;
    }
    size_t raw_len = r->pos - start;
    struct acl_entry *e = mem_alloc(sizeof(*e) + raw_len);
    uint8_t *raw = (uint8_t *)(e + 1);
    memcpy(raw, r->p + start, raw_len);
    *e = (struct acl_entry){.raw = raw, .raw_len = raw_len, .count = n, .interned = NULL};
    mem_free(imap_put(&l->acls, (uint64_t)id, e));
    return 1;
}

/* One node, or the end marker. 1: read; 0: short; -1: malformed. */
static int load_one_node(struct server_snap_load *l, struct jute_reader *r, size_t at,
                         bool *in_path, char *errmsg, size_t errlen)
{
    *in_path = true;
    struct jute_buf path = jute_read_buf(r);
    if (r->failed)
        return 0;
    if (path.len < 0)
        return load_fail(errmsg, errlen, at, "truncated node list (no \"/\" end marker)");
    if (jute_buf_eq(path, "/", 1)) {
        l->phase = LOAD_DONE;
        return 1;
    }
    *in_path = false;
    struct jute_buf data = jute_read_buf(r);
    int64_t acl_id = jute_read_i64(r);
    struct zk_stat_persisted st;
    memset(&st, 0, sizeof(st)); /* the tree keeps it whole, padding included */
    if (r->failed || zk_stat_persisted_decode(r, &st) != 0)
        return 0;
    struct acl_entry *acl =
        acl_id == PERSIST_ACL_OPEN_UNSAFE ? &l->open_entry : imap_get(&l->acls, (uint64_t)acl_id);
    if (!acl) {
        snprintf(errmsg, errlen,
                 "Failed to fetch acls for %" PRId64 " at offset %zu of the snapshot body", acl_id,
                 at);
        return -1;
    }
    const char *p = path.len == 0 ? "/" : (const char *)path.ptr;
    size_t plen = path.len == 0 ? 1 : (size_t)path.len;
    if (memchr(p, 0, plen))
        return load_fail(errmsg, errlen, at, "NUL in a path");
    if (load_node(l->s, p, plen, data, acl, &st, &l->parent_hint, &l->scratch, errmsg, errlen, at) <
        0)
        return -1;
    return 1;
}

int server_snap_load_feed(struct server_snap_load *l, const uint8_t *p, size_t len, bool last,
                          size_t *consumed, char *errmsg, size_t errlen)
{
    struct jute_reader r;
    jute_reader_init(&r, p, len);
    size_t done = 0; /* whole items */
    int rc = 1;
    bool in_path = true;
    while (l->phase != LOAD_DONE && rc > 0) {
        r.pos = done;
        r.failed = false;
        size_t at = l->base + done;
        switch (l->phase) {
        case LOAD_SESSION_COUNT:
        case LOAD_ACL_COUNT: {
            int32_t count = jute_read_i32(&r);
            if (r.failed) {
                rc = 0;
            } else if (count < 0) {
                rc = load_fail(errmsg, errlen, at,
                               l->phase == LOAD_SESSION_COUNT ? "bad session count"
                                                              : "bad ACL cache size");
            } else {
                l->left = count;
                l->phase = l->phase == LOAD_SESSION_COUNT ? LOAD_SESSIONS : LOAD_ACLS;
            }
            break;
        }
        case LOAD_SESSIONS:
        case LOAD_ACLS:
            if (l->left == 0) {
                l->phase = l->phase == LOAD_SESSIONS ? LOAD_ACL_COUNT : LOAD_NODES;
                if (l->phase == LOAD_NODES && l->presize)
                    tree_reserve(&l->s->tree,
                                 tree_node_count(&l->s->tree) + count_nodes(p + done, len - done));
                continue;
            }
            if (l->phase == LOAD_SESSIONS) {
                int64_t id = jute_read_i64(&r);
                int32_t timeout = jute_read_i32(&r);
                rc = r.failed ? 0 : 1;
                if (rc)
                    server_session_restore(l->s, id, timeout, l->now_ms);
            } else {
                rc = load_acl_entry(l, &r);
            }
            if (rc > 0)
                l->left--;
            break;
        case LOAD_NODES:
            rc = load_one_node(l, &r, at, &in_path, errmsg, errlen);
            break;
        case LOAD_DONE:
            break;
        }
        if (rc > 0)
            done = r.pos;
    }
    *consumed = done;
    l->base += done;
    if (rc < 0)
        return -1;
    if (l->phase == LOAD_DONE)
        return 1;
    if (last)
        return load_fail(errmsg, errlen, l->base, load_short(l->phase, in_path));
    return 0;
}

int server_load_snapshot(struct server *s, const uint8_t *body, size_t len, size_t *consumed,
                         int64_t now_ms, char *errmsg, size_t errlen)
{
    *consumed = 0;
    struct server_snap_load *l = server_snap_load_begin(s, now_ms);
    l->presize = true;
    int rc = server_snap_load_feed(l, body, len, true, consumed, errmsg, errlen);
    server_snap_load_end(l);
    return rc < 0 ? -1 : 0;
}

int server_replay_txn(struct server *s, const uint8_t *txn, size_t len, int64_t now_ms,
                      char *errmsg, size_t errlen)
{
    struct jute_reader r;
    jute_reader_init(&r, txn, len);
    struct zk_txn_header h;
    if (zk_txn_header_decode(&r, &h) != 0) {
        snprintf(errmsg, errlen, "txn too short for a TxnHeader (%zu bytes)", len);
        return -1;
    }
    const uint8_t *body = txn + r.pos;
    size_t body_len = len - r.pos;
    if (h.type == ZK_OP_CREATE_SESSION) {
        struct zk_create_session_txn cs;
        if (zk_create_session_txn_decode(&r, &cs) != 0) {
            snprintf(errmsg, errlen, "zxid 0x%" PRIx64 ": truncated CreateSessionTxn",
                     (uint64_t)h.zxid);
            return -1;
        }
        server_session_restore(s, h.client_id, cs.time_out, now_ms);
    }
    struct tree_result res;
    tree_apply(&s->tree, &h, body, body_len, NULL, NULL, &res);
    int32_t err = res.unexpected_err;
    tree_result_deinit(&res);
    if (err == ZK_MARSHALLINGERROR) {
        snprintf(errmsg, errlen, "zxid 0x%" PRIx64 ": the body of this %s txn does not decode",
                 (uint64_t)h.zxid, zk_op_name(h.type));
        return -1;
    }
    if (h.type == ZK_OP_CLOSE_SESSION)
        session_forget(s, h.client_id);
    server_set_last_zxid(s, h.zxid);
    if (err != 0) {
        snprintf(errmsg, errlen, "zxid 0x%" PRIx64 " (%s) did not apply: %s", (uint64_t)h.zxid,
                 zk_op_name(h.type), zk_err_name(err));
        return 1;
    }
    return 0;
}

void server_set_config_node(struct server *s, const uint8_t *text, size_t len, int64_t version,
                            int64_t wall_ms)
{
    tree_set_config(&s->tree, text, len, version, wall_ms);
}
