/* SPDX-License-Identifier: Apache-2.0 */
/* The data tree: txns in, Stat and events out, as ZooKeeper's DataTree does. */
#include "check.h"
#include "proto/proto.h"
#include "tree/path.h"
#include "tree/tree.h"

#include <string.h>

struct events {
    char log[2048];
};

static void on_event(void *ctx, int32_t type, const struct tree_node *node)
{
    const char *path = node->path;
    size_t len = node->path_len;
    struct events *e = ctx;
    size_t at = strlen(e->log);
    snprintf(e->log + at, sizeof(e->log) - at, "%d:%.*s;", type, (int)len, path);
}

static void apply(struct tree *t, int32_t type, int64_t zxid, int64_t session, struct buf *body,
                  struct events *ev, struct tree_result *res)
{
    struct zk_txn_header h = {
        .client_id = session, .cxid = 1, .zxid = zxid, .time = 1000 + zxid, .type = type};
    tree_apply(t, &h, body->data, body->len, on_event, ev, res);
}

static void create_txn(struct buf *b, const char *path, bool ephemeral, int32_t parent_cversion)
{
    struct zk_acl acl = {.perms = 31,
                         .id = {.scheme = jute_cstr("world"), .id = jute_cstr("anyone")}};
    struct zk_create_txn txn = {.path = jute_cstr(path),
                                .data = {.ptr = (const uint8_t *)"d", .len = 1},
                                .acl = {.count = 1, .items = &acl},
                                .ephemeral = ephemeral,
                                .parent_cversion = parent_cversion};
    buf_clear(b);
    zk_create_txn_encode(b, &txn);
}

int main(void)
{
    struct tree t;
    tree_init(&t);
    CHECK_EQ_INT(tree_node_count(&t), 4);
    struct tree_node *root = tree_get(&t, "/", 1);
    CHECK(root && root->child_count == 1);
    CHECK(tree_get(&t, "/zookeeper/config", 17) != NULL);

    struct buf b;
    buf_init(&b);
    struct events ev = {{0}};
    struct tree_result res;

    create_txn(&b, "/a", false, 1);
    apply(&t, ZK_OP_CREATE2, 5, 0x11, &b, &ev, &res);
    CHECK_EQ_INT(res.err, 0);
    CHECK_EQ_INT(res.stat.czxid, 5);
    CHECK_EQ_INT(res.stat.pzxid, 5);
    CHECK_EQ_INT(res.stat.ctime, 1005);
    CHECK_EQ_INT(res.stat.data_length, 1);
    tree_result_deinit(&res);
    CHECK(strcmp(ev.log, "1:/a;4:/;") == 0);
    CHECK_EQ_INT(root->stat.cversion, 1);
    CHECK_EQ_INT(root->stat.pzxid, 5);

    create_txn(&b, "/a/e", true, 1);
    apply(&t, ZK_OP_CREATE, 6, 0x11, &b, &ev, &res);
    tree_result_deinit(&res);
    CHECK_EQ_INT(tree_get(&t, "/a/e", 4)->stat.ephemeral_owner, 0x11);
    CHECK_EQ_INT(tree_ephemeral_count(&t), 1);

    /* existing node: NODEEXISTS, tree unchanged, zxid still advances */
    apply(&t, ZK_OP_CREATE, 7, 0x11, &b, &ev, &res);
    CHECK_EQ_INT(res.err, ZK_NODEEXISTS);
    tree_result_deinit(&res);
    CHECK_EQ_INT(t.last_zxid, 7);

    /* setData: version from the txn, mzxid and mtime, NodeDataChanged */
    struct zk_set_data_txn sd = {
        .path = jute_cstr("/a"), .data = {.ptr = NULL, .len = -1}, .version = 1};
    buf_clear(&b);
    zk_set_data_txn_encode(&b, &sd);
    ev.log[0] = 0;
    apply(&t, ZK_OP_SET_DATA, 8, 0x11, &b, &ev, &res);
    CHECK_EQ_INT(res.stat.version, 1);
    CHECK_EQ_INT(res.stat.mzxid, 8);
    CHECK_EQ_INT(res.stat.czxid, 5);
    CHECK_EQ_INT(res.stat.data_length, 0);
    CHECK_EQ_INT(res.stat.num_children, 1);
    tree_result_deinit(&res);
    CHECK(strcmp(ev.log, "3:/a;") == 0);
    CHECK_EQ_INT(tree_get(&t, "/a", 2)->data_len, -1);

    /* closeSession deletes the ephemerals: pzxid moves, cversion does not */
    struct jute_buf paths[1] = {jute_cstr("/a/e")};
    struct zk_close_session_txn cs = {.paths2_delete = {.count = 1, .items = paths}};
    buf_clear(&b);
    zk_close_session_txn_encode(&b, &cs);
    ev.log[0] = 0;
    apply(&t, ZK_OP_CLOSE_SESSION, 9, 0x11, &b, &ev, &res);
    tree_result_deinit(&res);
    CHECK(strcmp(ev.log, "2:/a/e;4:/a;") == 0);
    CHECK(tree_get(&t, "/a/e", 4) == NULL);
    CHECK_EQ_INT(tree_get(&t, "/a", 2)->stat.pzxid, 9);
    CHECK_EQ_INT(tree_get(&t, "/a", 2)->stat.cversion, 1);
    CHECK_EQ_INT(tree_ephemeral_count(&t), 0);

    /* multi with an error: nothing applies, ops report 0 / err / -2 */
    struct buf subs, one;
    buf_init(&subs);
    buf_init(&one);
    create_txn(&one, "/m", false, 2);
    struct zk_txn t1 = {.type = ZK_OP_CREATE, .data = {.ptr = one.data, .len = (int32_t)one.len}};
    zk_txn_encode(&subs, &t1);
    buf_clear(&one);
    struct zk_error_txn et = {.err = ZK_NONODE};
    zk_error_txn_encode(&one, &et);
    struct zk_txn t2 = {.type = ZK_OP_ERROR, .data = {.ptr = one.data, .len = (int32_t)one.len}};
    zk_txn_encode(&subs, &t2);
    buf_clear(&one);
    et.err = ZK_RUNTIMEINCONSISTENCY;
    zk_error_txn_encode(&one, &et);
    t2.data = (struct jute_buf){.ptr = one.data, .len = (int32_t)one.len};
    zk_txn_encode(&subs, &t2);
    struct zk_multi_txn mt = {.txns = {.count = 3, .raw = subs.data, .raw_len = subs.len}};
    buf_clear(&b);
    zk_multi_txn_encode(&b, &mt);
    apply(&t, ZK_OP_MULTI, 10, 0x11, &b, &ev, &res);
    CHECK_EQ_INT(res.op_count, 3);
    CHECK_EQ_INT(res.ops[0].err, 0);
    CHECK_EQ_INT(res.ops[0].type, ZK_OP_ERROR);
    CHECK_EQ_INT(res.ops[1].err, ZK_NONODE);
    CHECK_EQ_INT(res.ops[2].err, ZK_RUNTIMEINCONSISTENCY);
    CHECK_EQ_INT(res.err, ZK_NONODE);
    CHECK_EQ_INT(res.unexpected_err, 0); /* it failed when proposed: nothing unexpected */
    CHECK(tree_get(&t, "/m", 2) == NULL);
    tree_result_deinit(&res);
    buf_deinit(&subs);
    buf_deinit(&one);

    /* Replaying a log over a snapshot that holds part of it (ZooKeeper's
     * snapshots are fuzzy, DataTree.processTxn): failures are reported in
     * unexpected_err and the rest applies; no assertion, no endless loop. */
    {
        struct tree rt;
        tree_init(&rt);
        create_txn(&b, "/p", false, 1);
        apply(&rt, ZK_OP_CREATE, 20, 0, &b, &ev, &res);
        tree_result_deinit(&res);
        create_txn(&b, "/p/c", false, 1);
        apply(&rt, ZK_OP_CREATE, 21, 0, &b, &ev, &res);
        tree_result_deinit(&res);
        /* a create that finds its node: NODEEXISTS, and the parent takes
         * the txn's cversion and pzxid when they are newer */
        create_txn(&b, "/p/c", false, 3);
        apply(&rt, ZK_OP_CREATE, 22, 0, &b, &ev, &res);
        CHECK_EQ_INT(res.unexpected_err, ZK_NODEEXISTS);
        tree_result_deinit(&res);
        struct tree_node *p = tree_get(&rt, "/p", 2);
        CHECK(p->stat.cversion == 3 && p->stat.pzxid == 22);
        create_txn(&b, "/p/c", false, 2); /* older: the parent keeps its Stat */
        apply(&rt, ZK_OP_CREATE, 23, 0, &b, &ev, &res);
        tree_result_deinit(&res);
        CHECK(p->stat.cversion == 3 && p->stat.pzxid == 22);
        /* deleting a node with children: NOTEMPTY, nothing changes */
        struct zk_delete_txn dt = {.path = jute_cstr("/p")};
        buf_clear(&b);
        zk_delete_txn_encode(&b, &dt);
        apply(&rt, ZK_OP_DELETE, 24, 0, &b, &ev, &res);
        CHECK_EQ_INT(res.unexpected_err, ZK_NOTEMPTY);
        tree_result_deinit(&res);
        CHECK(tree_get(&rt, "/p", 2) == p && p->child_count == 1);
        /* setData of a missing node */
        struct zk_set_data_txn sd2 = {.path = jute_cstr("/nope"), .version = 1};
        buf_clear(&b);
        zk_set_data_txn_encode(&b, &sd2);
        apply(&rt, ZK_OP_SET_DATA, 25, 0, &b, &ev, &res);
        CHECK_EQ_INT(res.unexpected_err, ZK_NONODE);
        tree_result_deinit(&res);
        /* an ephemeral with a child (only a damaged log makes one): closing
         * its session deletes the other ephemerals and stops */
        create_txn(&b, "/p/e1", true, -1);
        apply(&rt, ZK_OP_CREATE, 26, 0x77, &b, &ev, &res);
        tree_result_deinit(&res);
        create_txn(&b, "/p/e1/x", false, -1);
        apply(&rt, ZK_OP_CREATE, 27, 0, &b, &ev, &res);
        tree_result_deinit(&res);
        create_txn(&b, "/p/e2", true, -1);
        apply(&rt, ZK_OP_CREATE, 28, 0x77, &b, &ev, &res);
        tree_result_deinit(&res);
        buf_clear(&b);
        apply(&rt, ZK_OP_CLOSE_SESSION, 29, 0x77, &b, &ev, &res);
        tree_result_deinit(&res);
        CHECK(tree_get(&rt, "/p/e1", 5) != NULL && tree_get(&rt, "/p/e2", 5) == NULL);
        /* a body that does not decode */
        buf_clear(&b);
        buf_append(&b, "\x00\x00", 2);
        apply(&rt, ZK_OP_SET_DATA, 30, 0, &b, &ev, &res);
        CHECK_EQ_INT(res.unexpected_err, ZK_MARSHALLINGERROR);
        tree_result_deinit(&res);
        tree_deinit(&rt);
    }

    /* paths, as PathUtils.validatePath */
    CHECK(path_is_valid("/", 1));
    CHECK(path_is_valid("/a.b/..c/...", 12));
    CHECK(!path_is_valid("", 0));
    CHECK(!path_is_valid("a", 1));
    CHECK(!path_is_valid("/a/", 3));
    CHECK(!path_is_valid("//a", 3));
    CHECK(!path_is_valid("/a/./b", 6));
    CHECK(!path_is_valid("/a/..", 5));
    CHECK(!path_is_valid("/a\0b", 4));
    CHECK(!path_is_valid("/a\x01", 3));
    CHECK(!path_is_valid("/\xf0\x9f\x98\x80", 5)); /* outside the BMP: a surrogate pair in Java */
    CHECK(path_is_valid("/\xc3\xa9", 3));
    CHECK(!path_is_valid("/\xc3", 2));
    CHECK_EQ_INT(path_parent_len("/a", 2), 1);
    CHECK_EQ_INT(path_parent_len("/a/b", 4), 2);

    /* tree_load_node: a snapshot's node lands as its create txn would, with
     * the stored Stat and without touching the parent's */
    {
        struct tree lt;
        tree_init(&lt);
        struct buf acl_raw;
        buf_init(&acl_raw);
        /* read and write: an ACL no node of tree_init has */
        struct zk_acl acl = {.perms = 3,
                             .id = {.scheme = jute_cstr("world"), .id = jute_cstr("anyone")}};
        zk_acl_encode(&acl_raw, &acl);
        struct tree_node *parent_hint = NULL;
        struct tree_acl *acl_hint = NULL;
        struct zk_stat_persisted st = {
            .czxid = 7, .mzxid = 9, .ctime = 1, .mtime = 2, .version = 3, .pzxid = 7};
        struct jute_buf d2 = {.ptr = (const uint8_t *)"xy", .len = 2};
        const char *limits = "/zookeeper/quota/q/zookeeper_limits";
        const char *stats = "/zookeeper/quota/q/zookeeper_stats";
        struct jute_buf none = {.ptr = NULL, .len = -1};
        struct jute_buf lim = jute_cstr("count=10,bytes=100");
        struct jute_buf zero = jute_cstr("count=0,bytes=0");
        CHECK(tree_load_node(&lt, "/zookeeper/quota/q", 18, none, acl_raw.data, acl_raw.len, 1, &st,
                             &parent_hint, &acl_hint) != NULL);
        CHECK(tree_load_node(&lt, limits, strlen(limits), lim, acl_raw.data, acl_raw.len, 1, &st,
                             &parent_hint, &acl_hint) != NULL);
        CHECK(tree_load_node(&lt, stats, strlen(stats), zero, acl_raw.data, acl_raw.len, 1, &st,
                             &parent_hint, &acl_hint) != NULL);
        struct tree_node *q = tree_load_node(&lt, "/q", 2, d2, acl_raw.data, acl_raw.len, 1, &st,
                                             &parent_hint, &acl_hint);
        CHECK(q && q->stat.version == 3 && q->stat.mzxid == 9 && q->data_len == 2);
        struct zk_stat_persisted eph = st;
        eph.ephemeral_owner = 0x42;
        struct tree_node *e = tree_load_node(&lt, "/q/e", 4, jute_cstr("abc"), acl_raw.data,
                                             acl_raw.len, 1, &eph, &parent_hint, &acl_hint);
        CHECK(e && e->parent == q && q->child_count == 1);
        CHECK(q->stat.cversion == 0 && q->stat.pzxid == 7); /* the parent's Stat is kept */
        CHECK(e->acl == q->acl && e->acl == acl_hint && acl_hint->refs == 5);
        CHECK_EQ_INT(tree_ephemeral_count(&lt), 1);
        struct tree_node *sn = tree_get(&lt, stats, strlen(stats));
        CHECK(sn && tree_stats_get(sn->data, sn->data_len, "count") == 2);
        CHECK(tree_stats_get(sn->data, sn->data_len, "bytes") == 5);
        /* a repeated path keeps its data and ACL and takes the Stat */
        struct zk_stat_persisted again = st;
        again.version = 8;
        CHECK(tree_load_node(&lt, "/q/e", 4, d2, acl_raw.data, acl_raw.len, 1, &again, &parent_hint,
                             &acl_hint) == e);
        CHECK(e->data_len == 3 && e->stat.version == 8 && acl_hint->refs == 5);
        CHECK_EQ_INT(tree_node_count(&lt), 9);
        /* no parent, or not absolute */
        CHECK(tree_load_node(&lt, "/x/y", 4, d2, acl_raw.data, acl_raw.len, 1, &st, &parent_hint,
                             &acl_hint) == NULL);
        CHECK(tree_load_node(&lt, "x", 1, d2, acl_raw.data, acl_raw.len, 1, &st, &parent_hint,
                             &acl_hint) == NULL);
        CHECK_EQ_INT(tree_node_count(&lt), 9);
        buf_deinit(&acl_raw);
        tree_deinit(&lt);
    }

    buf_deinit(&b);
    tree_deinit(&t);
    return check_result("test_tree");
}
