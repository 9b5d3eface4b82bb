/* SPDX-License-Identifier: Apache-2.0 */
/* read.c — the read opcodes (FinalRequestProcessor's read cases): exists,
 * getData, getChildren, getACL, multiRead, setWatches, addWatch, whoAmI, ...
 * answered from the applied tree, on whichever server the client is
 * connected to. Changes no node, only the caller's watches. Pure: no I/O. */
#include "base/buf.h"
#include "base/list.h"
#include "base/mem.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/auth.h"
#include "server/server_int.h"
#include "session/watch.h"
#include "tree/tree.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Build the reply of a non-multi read into req->reply (ZooKeeper's
 * FinalRequestProcessor switch). */

static void children_vec(const struct tree_node *n, struct jute_buf **items, struct jute_vec *v)
{
    *items = mem_calloc(n->child_count + 1, sizeof(**items));
    for (uint32_t i = 0; i < n->child_count; i++) {
        const struct tree_node *ch = n->children[i];
        (*items)[i] = (struct jute_buf){.ptr = (const uint8_t *)tree_node_name(ch),
                                        .len = (int32_t)(ch->path_len - ch->name_off)};
    }
    *v = (struct jute_vec){.count = (int32_t)n->child_count, .items = *items};
}

/* A read op on the tree: returns the error, appends the response record. */
static int32_t read_op(struct server *s, struct server_session *ss, const struct auth_ids *auth,
                       int32_t type, struct jute_reader *r, struct buf *out, bool watches)
{
    switch (type) {
    case ZK_OP_EXISTS: {
        struct zk_path_watch_request req;
        if (zk_path_watch_request_decode(r, &req) != 0 || req.path.len < 0)
            return ZK_MARSHALLINGERROR;
        if (buf_has_nul(req.path))
            return ZK_BADARGUMENTS;
        const char *p = (const char *)req.path.ptr;
        size_t len = (size_t)req.path.len;
        struct tree_node *n = tree_get(&s->tree, p, len);
        /* ZooKeeper 3.8.4+ (ZOOKEEPER-2590): an existing node's Stat needs
         * READ; refused, no watch is left behind */
        if (n) {
            struct jute_vec acl = tree_node_acl(n);
            if (!auth_acl_permits(&acl, ZK_PERM_READ, auth))
                return ZK_NOAUTH;
        }
        if (req.watch && watches)
            watch_add(&s->data_watches, ss->watches, p, len, WATCH_STANDARD);
        if (!n)
            return ZK_NONODE;
        struct zk_stat_response resp;
        tree_node_stat(&s->tree, n, &resp.stat);
        zk_stat_response_encode(out, &resp);
        return ZK_OK;
    }
    case ZK_OP_GET_DATA: {
        struct zk_path_watch_request req;
        if (zk_path_watch_request_decode(r, &req) != 0 || req.path.len < 0)
            return ZK_MARSHALLINGERROR;
        const char *p = (const char *)req.path.ptr;
        size_t len = (size_t)req.path.len;
        struct tree_node *n = tree_get(&s->tree, p, len);
        if (!n)
            return ZK_NONODE;
        struct jute_vec acl = tree_node_acl(n);
        if (!auth_acl_permits(&acl, ZK_PERM_READ, auth))
            return ZK_NOAUTH;
        if (req.watch && watches)
            watch_add(&s->data_watches, ss->watches, p, len, WATCH_STANDARD);
        struct zk_get_data_response resp = {.data = {.ptr = n->data, .len = n->data_len}};
        tree_node_stat(&s->tree, n, &resp.stat);
        zk_get_data_response_encode(out, &resp);
        return ZK_OK;
    }
    case ZK_OP_GET_CHILDREN:
    case ZK_OP_GET_CHILDREN2: {
        struct zk_path_watch_request req;
        if (zk_path_watch_request_decode(r, &req) != 0 || req.path.len < 0)
            return ZK_MARSHALLINGERROR;
        const char *p = (const char *)req.path.ptr;
        size_t len = (size_t)req.path.len;
        struct tree_node *n = tree_get(&s->tree, p, len);
        if (!n)
            return ZK_NONODE;
        struct jute_vec acl = tree_node_acl(n);
        if (!auth_acl_permits(&acl, ZK_PERM_READ, auth))
            return ZK_NOAUTH;
        if (req.watch && watches)
            watch_add(&s->child_watches, ss->watches, p, len, WATCH_STANDARD);
        struct jute_buf *items;
        struct jute_vec v;
        children_vec(n, &items, &v);
        if (type == ZK_OP_GET_CHILDREN) {
            struct zk_children_response resp = {.children = v};
            zk_children_response_encode(out, &resp);
        } else {
            struct zk_children2_response resp = {.children = v};
            tree_node_stat(&s->tree, n, &resp.stat);
            zk_children2_response_encode(out, &resp);
        }
        mem_free(items);
        return ZK_OK;
    }
    case ZK_OP_GET_ACL: {
        struct zk_path_request req;
        if (zk_path_request_decode(r, &req) != 0 || req.path.len < 0)
            return ZK_MARSHALLINGERROR;
        struct tree_node *n = tree_get(&s->tree, (const char *)req.path.ptr, (size_t)req.path.len);
        if (!n)
            return ZK_NONODE;
        struct jute_vec acl = tree_node_acl(n);
        if (!auth_acl_permits(&acl, ZK_PERM_READ | ZK_PERM_ADMIN, auth))
            return ZK_NOAUTH;
        struct zk_get_acl_response resp = {.acl = acl};
        tree_node_stat(&s->tree, n, &resp.stat);
        if (auth_acl_permits(&acl, ZK_PERM_ADMIN, auth)) {
            zk_get_acl_response_encode(out, &resp);
            return ZK_OK;
        }
        /* Without ADMIN, digest hashes are masked: "user:x" (CVE-2019-0201). */
        struct buf masked;
        buf_init(&masked);
        struct jute_vec_iter it;
        jute_vec_iter_init(&it, &acl);
        struct buf id;
        buf_init(&id);
        struct zk_acl a;
        while (jute_vec_next_acl(&it, &a)) {
            if (jute_buf_eq(a.id.scheme, "digest", 6) && a.id.id.len >= 0) {
                buf_clear(&id);
                auth_digest_masked(a.id.id, &id);
                a.id.id = jute_buf_of(id.data, id.len);
            }
            zk_acl_encode(&masked, &a);
        }
        buf_deinit(&id);
        resp.acl.raw = masked.data;
        resp.acl.raw_len = masked.len;
        zk_get_acl_response_encode(out, &resp);
        buf_deinit(&masked);
        return ZK_OK;
    }
    case ZK_OP_SYNC: {
        struct zk_path_request req;
        if (zk_path_request_decode(r, &req) != 0)
            return ZK_MARSHALLINGERROR;
        zk_path_request_encode(out, &req);
        return ZK_OK;
    }
    case ZK_OP_GET_ALL_CHILDREN_NUMBER: {
        struct zk_path_request req;
        if (zk_path_request_decode(r, &req) != 0 || req.path.len < 0)
            return ZK_MARSHALLINGERROR;
        struct tree_node *n = tree_get(&s->tree, (const char *)req.path.ptr, (size_t)req.path.len);
        if (!n)
            return ZK_NONODE;
        struct jute_vec acl = tree_node_acl(n);
        if (!auth_acl_permits(&acl, ZK_PERM_READ, auth))
            return ZK_NOAUTH;
        /* Count descendants without recursion: walk with an explicit stack. */
        size_t cap = 64, top = 0;
        const struct tree_node **stack = mem_alloc(cap * sizeof(*stack));
        stack[top++] = n;
        int32_t total = 0;
        while (top) {
            const struct tree_node *x = stack[--top];
            for (uint32_t i = 0; i < x->child_count; i++) {
                if (top == cap) {
                    cap *= 2;
                    stack = mem_realloc(stack, cap * sizeof(*stack));
                }
                stack[top++] = x->children[i];
                total++;
            }
        }
        mem_free(stack);
        struct zk_count_response resp = {.total_number = total};
        zk_count_response_encode(out, &resp);
        return ZK_OK;
    }
    case ZK_OP_GET_EPHEMERALS: {
        struct zk_path_request req;
        if (zk_path_request_decode(r, &req) != 0)
            return ZK_MARSHALLINGERROR;
        const struct list *eph = tree_ephemerals(&s->tree, ss->base.id);
        struct buf items;
        buf_init(&items);
        int32_t count = 0;
        bool all = req.path.len <= 0 || jute_buf_eq(req.path, "/", 1);
        if (eph) {
            struct list *it;
            LIST_FOREACH(it, eph)
            {
                struct tree_node *n = LIST_ENTRY(it, struct tree_node, eph_link);
                if (all || (n->path_len >= (uint32_t)req.path.len &&
                            memcmp(n->path, req.path.ptr, (size_t)req.path.len) == 0)) {
                    jute_write_bytes(&items, n->path, (int32_t)n->path_len);
                    count++;
                }
            }
        }
        struct zk_children_response resp = {
            .children = {.count = count, .raw = items.data, .raw_len = items.len}};
        zk_children_response_encode(out, &resp);
        buf_deinit(&items);
        return ZK_OK;
    }
    case ZK_OP_ADD_WATCH: {
        struct zk_add_watch_request req;
        if (zk_add_watch_request_decode(r, &req) != 0 || req.path.len < 0)
            return ZK_MARSHALLINGERROR;
        if (req.mode != 0 && req.mode != 1)
            return ZK_MARSHALLINGERROR; /* WatcherMode.fromZooDef throws */
        enum watch_mode mode = req.mode == 0 ? WATCH_PERSISTENT : WATCH_PERSISTENT_RECURSIVE;
        const char *p = (const char *)req.path.ptr;
        size_t len = (size_t)req.path.len;
        watch_add(&s->data_watches, ss->watches, p, len, mode);
        watch_add(&s->child_watches, ss->watches, p, len, mode);
        struct zk_error_response resp = {.err = 0};
        zk_error_response_encode(out, &resp);
        return ZK_OK;
    }
    case ZK_OP_CHECK_WATCHES:
    case ZK_OP_REMOVE_WATCHES: {
        struct zk_path_type_request req;
        if (zk_path_type_request_decode(r, &req) != 0 || req.path.len < 0)
            return ZK_MARSHALLINGERROR;
        if (req.type < 1 || req.type > 3)
            return ZK_MARSHALLINGERROR; /* WatcherType.fromInt throws */
        const char *p = (const char *)req.path.ptr;
        size_t len = (size_t)req.path.len;
        bool children = req.type == 1 || req.type == 3;
        bool data = req.type == 2 || req.type == 3;
        bool found = false;
        if (type == ZK_OP_CHECK_WATCHES) {
            found = (children && watch_contains(&s->child_watches, ss->watches, p, len)) ||
                    (data && watch_contains(&s->data_watches, ss->watches, p, len));
        } else {
            if (children && watch_remove(&s->child_watches, ss->watches, p, len))
                found = true;
            if (data && watch_remove(&s->data_watches, ss->watches, p, len))
                found = true;
        }
        return found ? ZK_OK : ZK_NOWATCHER;
    }
    case ZK_OP_WHO_AM_I: {
        /* one ClientInfo per id: the provider's user name (digest: the part
         * before ':'), "" for ids without a provider (AuthUtil.getClientInfos) */
        size_t n = auth ? auth->count : 0;
        struct zk_client_info *infos = mem_calloc(n + 1, sizeof(*infos));
        for (size_t i = 0; i < n; i++) {
            infos[i].auth_scheme = jute_cstr(auth->items[i].scheme);
            infos[i].user = auth_id_user(&auth->items[i]);
        }
        struct zk_whoami_response resp = {.client_info = {.count = (int32_t)n, .items = infos}};
        zk_whoami_response_encode(out, &resp);
        mem_free(infos);
        return ZK_OK;
    }
    default:
        return ZK_UNIMPLEMENTED;
    }
}

/* setWatches / setWatches2 after a reconnect: each standard watch fires at
 * once if its node changed after relative_zxid (as DataTree.setWatches),
 * otherwise it is registered again. czk goes further than ZooKeeper (which
 * sends these events unchecked, even 3.9): for a node that exists and that
 * the connection may not READ, no event is sent and the watch is registered
 * whatever the zxids say, so neither an event nor checkWatches tells the
 * client whether the node changed; later events on it reach the client
 * only once it may READ the node (fire_one). A missing node has no ACL:
 * NodeDeleted goes out as before, as `exists` answers NONODE to anyone.
 * Persistent and recursive watches send nothing here and are always
 * registered; fire_one filters their events. */
static void set_watches(struct server *s, struct server_session *ss, const struct auth_ids *auth,
                        const struct zk_set_watches2 *sw)
{
    const struct jute_vec *lists[5] = {&sw->data_watches, &sw->exist_watches, &sw->child_watches,
                                       &sw->persistent_watches, &sw->persistent_recursive_watches};
    for (int kind = 0; kind < 5; kind++) {
        struct jute_vec_iter it;
        jute_vec_iter_init(&it, lists[kind]);
        struct jute_buf pb;
        while (jute_vec_next_str(&it, &pb)) {
            if (pb.len < 0)
                continue;
            const char *p = (const char *)pb.ptr;
            size_t len = (size_t)pb.len;
            struct tree_node *n = tree_get(&s->tree, p, len);
            if (kind >= 3) {
                enum watch_mode mode = kind == 3 ? WATCH_PERSISTENT : WATCH_PERSISTENT_RECURSIVE;
                watch_add(&s->child_watches, ss->watches, p, len, mode);
                watch_add(&s->data_watches, ss->watches, p, len, mode);
                continue;
            }
            struct watch_table *table = kind == 2 ? &s->child_watches : &s->data_watches;
            struct jute_vec acl = n ? tree_node_acl(n) : (struct jute_vec){.count = -1};
            if (n && !auth_acl_permits(&acl, ZK_PERM_READ, auth)) {
                watch_add(table, ss->watches, p, len, WATCH_STANDARD);
            } else if (kind == 0) {
                if (!n)
                    server_send_event(s, ss, ZK_EVENT_NODE_DELETED, p, len, -1);
                else if (n->stat.mzxid > sw->relative_zxid)
                    server_send_event(s, ss, ZK_EVENT_NODE_DATA_CHANGED, p, len, -1);
                else
                    watch_add(table, ss->watches, p, len, WATCH_STANDARD);
            } else if (kind == 1) {
                if (n)
                    server_send_event(s, ss, ZK_EVENT_NODE_CREATED, p, len, -1);
                else
                    watch_add(table, ss->watches, p, len, WATCH_STANDARD);
            } else {
                if (!n)
                    server_send_event(s, ss, ZK_EVENT_NODE_DELETED, p, len, -1);
                else if (n->stat.pzxid > sw->relative_zxid)
                    server_send_event(s, ss, ZK_EVENT_NODE_CHILDREN_CHANGED, p, len, -1);
                else
                    watch_add(table, ss->watches, p, len, WATCH_STANDARD);
            }
        }
    }
}

/* multiRead: getData and getChildren ops, each answered or failed alone. */
static int32_t read_multi(struct server *s, struct server_session *ss, const struct auth_ids *auth,
                          struct jute_reader *r, struct buf *out)
{
    struct buf results;
    buf_init(&results);
    struct buf one;
    buf_init(&one);
    int32_t err = ZK_OK;
    for (;;) {
        struct zk_multi_header h;
        if (zk_multi_header_decode(r, &h) != 0) {
            err = ZK_MARSHALLINGERROR;
            break;
        }
        if (h.done)
            break;
        if (h.type != ZK_OP_GET_DATA && h.type != ZK_OP_GET_CHILDREN) {
            err = ZK_MARSHALLINGERROR;
            break;
        }
        buf_clear(&one);
        /* multiRead's ops never set watches (Op.getData/getChildren drop the flag) */
        int32_t e = read_op(s, ss, auth, h.type, r, &one, false);
        if (e == ZK_MARSHALLINGERROR) {
            err = e;
            break;
        }
        struct zk_multi_header rh = {.type = e ? ZK_OP_ERROR : h.type, .done = false, .err = e};
        zk_multi_header_encode(&results, &rh);
        if (e) {
            struct zk_error_response er = {.err = e};
            zk_error_response_encode(&results, &er);
        } else {
            buf_append(&results, one.data, one.len);
        }
    }
    if (!err) {
        buf_append(out, results.data, results.len);
        struct zk_multi_header end = {.type = -1, .done = true, .err = -1};
        zk_multi_header_encode(out, &end);
    }
    buf_deinit(&one);
    buf_deinit(&results);
    return err;
}

void read_execute(struct server *s, struct server_session *ss, struct request *req)
{
    struct server_conn *c = ss->conn;
    if (!c || c->id != req->conn_id) {
        /* its connection is gone: nobody to answer, no watch to set */
        buf_clear(&req->reply);
        req->ready = true;
        return;
    }
    struct jute_reader r;
    jute_reader_init(&r, req->body, req->body_len);
    struct buf *b = &req->reply;
    buf_clear(b);
    size_t at = frame_begin(b);
    size_t hdr_at = b->len;
    server_reply_header(b, req->xid, 0, 0);
    size_t body_at = b->len;
    int32_t err = ZK_OK;
    switch (req->type) {
    case ZK_OP_PING:
        break;
    case ZK_OP_SET_WATCHES:
    case ZK_OP_SET_WATCHES2: {
        struct zk_set_watches2 sw = {.persistent_watches = {.count = -1},
                                     .persistent_recursive_watches = {.count = -1}};
        int rc;
        if (req->type == ZK_OP_SET_WATCHES) {
            struct zk_set_watches old;
            rc = zk_set_watches_decode(&r, &old);
            sw.relative_zxid = old.relative_zxid;
            sw.data_watches = old.data_watches;
            sw.exist_watches = old.exist_watches;
            sw.child_watches = old.child_watches;
        } else {
            rc = zk_set_watches2_decode(&r, &sw);
        }
        if (rc != 0)
            err = ZK_MARSHALLINGERROR;
        else
            set_watches(s, ss, &c->auth, &sw);
        break;
    }
    case ZK_OP_MULTI_READ:
        err = read_multi(s, ss, &c->auth, &r, b);
        break;
    default:
        err = read_op(s, ss, &c->auth, req->type, &r, b, true);
        break;
    }
    if (err)
        b->len = body_at; /* on error, the header alone */
    /* the header, now that the error and zxid are known */
    struct buf hdr;
    buf_init(&hdr);
    server_reply_header(&hdr, req->xid, s->tree.last_zxid, err);
    memcpy(b->data + hdr_at, hdr.data, hdr.len);
    buf_deinit(&hdr);
    frame_end(b, at);
    req->ready = true;
}
