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

static void on_event(void *ctx, int32_t type, const char *path, size_t len)
{
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
    CHECK(tree_get(&t, "/m", 2) == NULL);
    tree_result_deinit(&res);
    buf_deinit(&subs);
    buf_deinit(&one);

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

    buf_deinit(&b);
    tree_deinit(&t);
    return check_result("test_tree");
}
