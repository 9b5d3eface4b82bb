/* SPDX-License-Identifier: Apache-2.0 */
/* test_storage — the txn log and snapshot formats over an in-memory struct fs:
 * records round-trip, torn tails cut at every byte offset of the last records
 * are recognised (never mistaken for damage before the tail), damage before
 * the tail is, and a snapshot written and loaded gives back the same state. */
#include "base/buf.h"
#include "base/mem.h"
#include "check.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/server.h"
#include "server/server_int.h"
#include "storage/fs.h"
#include "storage/snapfile.h"
#include "storage/snapz.h"
#include "storage/txnlog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- an in-memory disk: a few named files ---- */

#define MEMFS_FILES 8

struct memfs {
    char names[MEMFS_FILES][STORAGE_PATH_MAX + 64];
    struct buf data[MEMFS_FILES];
    bool used[MEMFS_FILES];
    int syncs;
    size_t capacity; /* bytes all files may hold together; 0: unlimited */
};

static size_t memfs_used(const struct memfs *m)
{
    size_t total = 0;
    for (int i = 0; i < MEMFS_FILES; i++)
        if (m->used[i])
            total += m->data[i].len;
    return total;
}

static int memfs_find(struct memfs *m, const char *path)
{
    for (int i = 0; i < MEMFS_FILES; i++)
        if (m->used[i] && strcmp(m->names[i], path) == 0)
            return i;
    return -1;
}

static int memfs_open(void *ctx, const char *path, int flags)
{
    struct memfs *m = ctx;
    int i = memfs_find(m, path);
    if (i >= 0) {
        if (flags & FS_CREATE)
            buf_clear(&m->data[i]);
        return i;
    }
    if (!(flags & FS_CREATE))
        return -ENOENT;
    for (i = 0; i < MEMFS_FILES; i++)
        if (!m->used[i]) {
            m->used[i] = true;
            snprintf(m->names[i], sizeof(m->names[i]), "%s", path);
            buf_init(&m->data[i]);
            return i;
        }
    return -ENOSPC;
}

static int memfs_close(void *ctx, int fd)
{
    (void)ctx;
    (void)fd;
    return 0;
}

static void memfs_grow(struct buf *b, uint64_t size)
{
    if (b->len < size) {
        buf_reserve(b, (size_t)size - b->len);
        memset(b->data + b->len, 0, (size_t)size - b->len);
        b->len = (size_t)size;
    }
}

/* Room for the file to reach `size`? A full disk takes what fits and then
 * fails, as a real one does for a write (a short write, then ENOSPC). */
static size_t memfs_room(const struct memfs *m, int fd, uint64_t size)
{
    size_t len = m->data[fd].len;
    if (m->capacity == 0 || size <= len)
        return (size_t)size;
    size_t free_bytes = m->capacity - memfs_used(m);
    return (size_t)size - len <= free_bytes ? (size_t)size : len + free_bytes;
}

static int memfs_pwrite(void *ctx, int fd, const void *p, size_t len, uint64_t off)
{
    struct memfs *m = ctx;
    size_t end = memfs_room(m, fd, off + len);
    if (end > off) {
        memfs_grow(&m->data[fd], end);
        memcpy(m->data[fd].data + off, p, end - (size_t)off);
    }
    return end < off + len ? -ENOSPC : 0;
}

static int memfs_allocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
    struct memfs *m = ctx;
    if (memfs_room(m, fd, off + len) < off + len)
        return -ENOSPC;
    memfs_grow(&m->data[fd], off + len);
    return 0;
}

static int memfs_truncate(void *ctx, const char *path, uint64_t len)
{
    struct memfs *m = ctx;
    int i = memfs_find(m, path);
    if (i < 0)
        return -ENOENT;
    if (m->data[i].len > len)
        m->data[i].len = (size_t)len;
    else
        memfs_grow(&m->data[i], len);
    return 0;
}

static int memfs_ftruncate(void *ctx, int fd, uint64_t len)
{
    struct memfs *m = ctx;
    if (m->data[fd].len > len)
        m->data[fd].len = (size_t)len;
    else
        memfs_grow(&m->data[fd], len);
    return 0;
}

static int memfs_fdatasync(void *ctx, int fd)
{
    (void)fd;
    ((struct memfs *)ctx)->syncs++;
    return 0;
}

static int memfs_rename(void *ctx, const char *from, const char *to)
{
    struct memfs *m = ctx;
    int i = memfs_find(m, from);
    if (i < 0)
        return -ENOENT;
    int j = memfs_find(m, to);
    if (j >= 0) {
        buf_deinit(&m->data[j]);
        m->used[j] = false;
    }
    snprintf(m->names[i], sizeof(m->names[i]), "%s", to);
    return 0;
}

static int memfs_unlink(void *ctx, const char *path)
{
    struct memfs *m = ctx;
    int i = memfs_find(m, path);
    if (i < 0)
        return -ENOENT;
    buf_deinit(&m->data[i]);
    m->used[i] = false;
    return 0;
}

static int memfs_fsync_dir(void *ctx, const char *dir)
{
    (void)ctx;
    (void)dir;
    return 0;
}

static struct fs memfs_ops(struct memfs *m)
{
    return (struct fs){.ctx = m,
                       .open = memfs_open,
                       .close = memfs_close,
                       .pwrite = memfs_pwrite,
                       .allocate = memfs_allocate,
                       .fdatasync = memfs_fdatasync,
                       .truncate = memfs_truncate,
                       .ftruncate = memfs_ftruncate,
                       .rename = memfs_rename,
                       .unlink = memfs_unlink,
                       .fsync_dir = memfs_fsync_dir};
}

static void memfs_deinit(struct memfs *m)
{
    for (int i = 0; i < MEMFS_FILES; i++)
        if (m->used[i])
            buf_deinit(&m->data[i]);
}

/* ---- txns ---- */

static void txn_create(struct buf *b, int64_t session, int64_t zxid, const char *path,
                       const char *data, bool ephemeral)
{
    buf_clear(b);
    struct zk_txn_header h = {
        .client_id = session, .cxid = 1, .zxid = zxid, .time = 1700000000000 + zxid, .type = 1};
    zk_txn_header_encode(b, &h);
    struct buf acl;
    buf_init(&acl);
    struct zk_acl a = {.perms = ZK_PERM_ALL,
                       .id = {.scheme = jute_cstr("world"), .id = jute_cstr("anyone")}};
    zk_acl_encode(&acl, &a);
    struct zk_create_txn c = {.path = jute_cstr(path),
                              .data = jute_cstr(data),
                              .acl = {.count = 1, .raw = acl.data, .raw_len = acl.len},
                              .ephemeral = ephemeral,
                              .parent_cversion = -1};
    zk_create_txn_encode(b, &c);
    buf_deinit(&acl);
}

static void txn_session(struct buf *b, int64_t session, int64_t zxid, int32_t timeout)
{
    buf_clear(b);
    struct zk_txn_header h = {
        .client_id = session, .cxid = 0, .zxid = zxid, .time = 1700000000000, .type = -10};
    zk_txn_header_encode(b, &h);
    struct zk_create_session_txn t = {.time_out = timeout};
    zk_create_session_txn_encode(b, &t);
}

static int count_records(void *ctx, const uint8_t *txn, size_t len, size_t off)
{
    (void)txn;
    (void)len;
    (void)off;
    (*(int *)ctx)++;
    return 0;
}

/* A log of n creates through the writer (small preallocation blocks). */
static void build_log(struct memfs *m, int n, size_t *record_ends)
{
    struct fs fs = memfs_ops(m);
    struct txnlog_writer w;
    txnlog_writer_init(&w, &fs, "/d", 4096);
    struct buf txn, rec;
    buf_init(&txn);
    buf_init(&rec);
    for (int i = 1; i <= n; i++) {
        char path[32], data[64];
        snprintf(path, sizeof(path), "/n%d", i);
        snprintf(data, sizeof(data), "data-%d-%.*s", i, i % 40,
                 "0123456789012345678901234567890123456789");
        txn_create(&txn, 0, i, path, data, false);
        buf_clear(&rec);
        txnlog_record_encode(&rec, txn.data, txn.len);
        CHECK_EQ_INT(txnlog_record_zxid(rec.data), i);
        CHECK_EQ_INT(txnlog_record_len(rec.data), rec.len);
        CHECK(txnlog_writer_append(&w, rec.data, rec.len, i) == 0);
        record_ends[i] = (size_t)w.pos;
    }
    CHECK(txnlog_writer_sync(&w) == 0);
    txnlog_writer_deinit(&w);
    buf_deinit(&txn);
    buf_deinit(&rec);
}

static void test_log_roundtrip_and_torn_tails(void)
{
    struct memfs m;
    memset(&m, 0, sizeof(m));
    enum { N = 20 };
    size_t ends[N + 1];
    build_log(&m, N, ends);
    int fd = memfs_find(&m, "/d/log.1");
    CHECK(fd >= 0);
    const struct buf *f = &m.data[fd];
    CHECK((f->len - TXNLOG_HEADER_LEN) % 4096 == 0 && f->len > ends[N]);
    CHECK_EQ_INT(be32_get(f->data), TXNLOG_MAGIC);

    struct txnlog_scan scan;
    int count = 0;
    txnlog_scan(f->data, f->len, count_records, &count, &scan);
    CHECK_EQ_INT(scan.end, TXNLOG_END_CLEAN);
    CHECK_EQ_INT(count, N);
    CHECK_EQ_INT(scan.last_zxid, N);
    CHECK_EQ_INT(scan.good_len, ends[N]);

    /* Cut the file at every offset of its last three records, both as a
     * short file and as a preallocated one whose tail reads zeros. */
    size_t from = ends[N - 3];
    uint8_t *copy = malloc(f->len);
    for (size_t cut = from; cut <= ends[N]; cut++) {
        int whole = N - 3;
        while (whole < N && ends[whole + 1] <= cut)
            whole++;
        for (int zero_fill = 0; zero_fill < 2; zero_fill++) {
            size_t len = zero_fill ? f->len : cut;
            memcpy(copy, f->data, f->len);
            if (zero_fill)
                memset(copy + cut, 0, f->len - cut);
            count = 0;
            txnlog_scan(copy, len, count_records, &count, &scan);
            CHECK(scan.end == TXNLOG_END_CLEAN || scan.end == TXNLOG_END_TORN);
            CHECK_EQ_INT(count, whole);
            CHECK_EQ_INT(scan.good_len, ends[whole]);
            if (cut == ends[whole])
                CHECK_EQ_INT(scan.end, TXNLOG_END_CLEAN);
        }
    }

    /* A flipped byte in the last record: a torn tail. */
    memcpy(copy, f->data, f->len);
    copy[ends[N] - 5] ^= 0x40;
    txnlog_scan(copy, f->len, NULL, NULL, &scan);
    CHECK_EQ_INT(scan.end, TXNLOG_END_TORN);
    CHECK_EQ_INT(scan.good_len, ends[N - 1]);

    /* A flipped byte in a middle record: damage before the tail. */
    memcpy(copy, f->data, f->len);
    copy[ends[5] - 5] ^= 0x40;
    count = 0;
    txnlog_scan(copy, f->len, count_records, &count, &scan);
    CHECK_EQ_INT(scan.end, TXNLOG_END_CORRUPT);
    CHECK_EQ_INT(scan.bad_off, ends[4]);
    CHECK_EQ_INT(count, 4);

    /* Not a log at all. */
    memcpy(copy, f->data, f->len);
    copy[0] = 'X';
    txnlog_scan(copy, f->len, NULL, NULL, &scan);
    CHECK_EQ_INT(scan.end, TXNLOG_END_HEADER);
    free(copy);
    memfs_deinit(&m);
}

/* A full disk: an append that does not fit is refused and leaves the file
 * as it was, whether the preallocation or the write itself runs out; a
 * file the append created is removed; once there is room, appends go on
 * and the log reads back with exactly the accepted records. */
static void test_log_full_disk(void)
{
    struct memfs m;
    memset(&m, 0, sizeof(m));
    struct fs fs = memfs_ops(&m);
    struct buf txn, rec;
    buf_init(&txn);
    buf_init(&rec);
    char data[600];
    memset(data, 'd', sizeof(data) - 1);
    data[sizeof(data) - 1] = '\0';

    /* no room even for the header: no file is left behind */
    m.capacity = 8;
    struct txnlog_writer w;
    txnlog_writer_init(&w, &fs, "/d", 4096);
    txn_create(&txn, 0, 1, "/n1", "x", false);
    txnlog_record_encode(&rec, txn.data, txn.len);
    CHECK_EQ_INT(txnlog_writer_append(&w, rec.data, rec.len, 1), TXNLOG_ERR_FULL);
    CHECK(strstr(w.errmsg, "/d/log.1") != NULL);
    CHECK_EQ_INT(memfs_find(&m, "/d/log.1"), -1);
    CHECK_EQ_INT(w.fd, -1);

    /* room for the first blocks: records go in until more are needed */
    m.capacity = TXNLOG_HEADER_LEN + 2 * 4096 + 100; /* pads: 4096 past the end */
    int64_t zxid = 1;
    int rc;
    size_t good = 0;
    while ((rc = txnlog_writer_append(&w, rec.data, rec.len, zxid)) == 0) {
        good = (size_t)w.pos;
        zxid++;
        txn_create(&txn, 0, zxid, "/n", data, false);
        buf_clear(&rec);
        txnlog_record_encode(&rec, txn.data, txn.len);
    }
    CHECK_EQ_INT(rc, TXNLOG_ERR_FULL);
    CHECK(zxid > 2);
    int fd = memfs_find(&m, "/d/log.1");
    CHECK(fd >= 0);
    CHECK_EQ_INT(m.data[fd].len, good); /* cut at the last record, padding gone */
    CHECK_EQ_INT(w.pos, good);

    /* without preallocation the write itself runs short: cut back too */
    w.prealloc_bytes = 0;
    m.capacity = good + rec.len / 2;
    CHECK_EQ_INT(txnlog_writer_append(&w, rec.data, rec.len, zxid), TXNLOG_ERR_FULL);
    CHECK_EQ_INT(m.data[fd].len, good);

    /* space is back: the same zxid goes in where the refused one would have */
    m.capacity = 0;
    w.prealloc_bytes = 4096;
    txn_create(&txn, 0, zxid, "/again", "a", false);
    buf_clear(&rec);
    txnlog_record_encode(&rec, txn.data, txn.len);
    CHECK(txnlog_writer_append(&w, rec.data, rec.len, zxid) == 0);
    CHECK(txnlog_writer_sync(&w) == 0);
    txnlog_writer_deinit(&w);
    struct txnlog_scan scan;
    int count = 0;
    txnlog_scan(m.data[fd].data, m.data[fd].len, count_records, &count, &scan);
    CHECK_EQ_INT(scan.end, TXNLOG_END_CLEAN);
    CHECK_EQ_INT(count, zxid);
    CHECK_EQ_INT(scan.last_zxid, zxid);
    buf_deinit(&txn);
    buf_deinit(&rec);
    memfs_deinit(&m);
}

/* A rolled log ends at its last record: its preallocation is given back,
 * and it reads as it did with the zero padding. The next append starts
 * the next file, preallocated again. */
static void test_log_roll_trims(void)
{
    struct memfs m;
    memset(&m, 0, sizeof(m));
    struct fs fs = memfs_ops(&m);
    struct txnlog_writer w;
    txnlog_writer_init(&w, &fs, "/d", 4096);
    struct buf txn, rec;
    buf_init(&txn);
    buf_init(&rec);
    for (int64_t zxid = 1; zxid <= 4; zxid++) {
        if (zxid == 4)
            CHECK(txnlog_writer_roll(&w) == 0);
        txn_create(&txn, 0, zxid, "/n", "data", false);
        buf_clear(&rec);
        txnlog_record_encode(&rec, txn.data, txn.len);
        CHECK(txnlog_writer_append(&w, rec.data, rec.len, zxid) == 0);
    }
    int first = memfs_find(&m, "/d/log.1"), second = memfs_find(&m, "/d/log.4");
    CHECK(first >= 0 && second >= 0);
    CHECK_EQ_INT(m.data[first].len, TXNLOG_HEADER_LEN + 3 * rec.len);
    CHECK(m.data[second].len > TXNLOG_HEADER_LEN + 4096); /* preallocated */
    struct txnlog_scan scan;
    int count = 0;
    txnlog_scan(m.data[first].data, m.data[first].len, count_records, &count, &scan);
    CHECK_EQ_INT(scan.end, TXNLOG_END_CLEAN);
    CHECK_EQ_INT(count, 3);
    CHECK(txnlog_writer_roll(&w) == 0);
    second = memfs_find(&m, "/d/log.4");
    CHECK_EQ_INT(m.data[second].len, TXNLOG_HEADER_LEN + rec.len);
    txnlog_writer_deinit(&w);
    buf_deinit(&txn);
    buf_deinit(&rec);
    memfs_deinit(&m);
}

static void test_names(void)
{
    CHECK_EQ_INT(storage_name_zxid("log.1a2b", "log"), 0x1a2b);
    CHECK_EQ_INT(storage_name_zxid("snapshot.0", "snapshot"), 0);
    CHECK_EQ_INT(storage_name_zxid("snapshot.10000000a", "snapshot"), 0x10000000a);
    CHECK_EQ_INT(storage_name_zxid("tmp.snapshot.5", "snapshot"), -1);
    CHECK_EQ_INT(storage_name_zxid("log.5.tmp", "log"), -1);
    CHECK_EQ_INT(storage_name_zxid("log.", "log"), -1);
    CHECK_EQ_INT(storage_name_zxid("logx.5", "log"), -1);
}

/* ---- snapshots ---- */

static void nop_send(void *ctx, uint64_t conn, const uint8_t *frame, size_t len)
{
    (void)ctx;
    (void)conn;
    (void)frame;
    (void)len;
}
static void nop_close(void *ctx, uint64_t conn)
{
    (void)ctx;
    (void)conn;
}
static void nop_log(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    (void)ctx;
    (void)zxid;
    (void)txn;
    (void)len;
}
static int64_t nop_wall(void *ctx)
{
    (void)ctx;
    return 1700000000000;
}

static struct server *new_server(void)
{
    struct server_config cfg = {.tick_time_ms = 2000};
    struct server_io io = {
        .send = nop_send, .close = nop_close, .log_append = nop_log, .wall_ms = nop_wall};
    return server_new(&cfg, &io, 0);
}

static void same_tree(const struct server *a, const struct server *b)
{
    CHECK_EQ_INT(tree_node_count(&a->tree), tree_node_count(&b->tree));
    size_t pos = 0;
    const char *key;
    size_t key_len;
    void *value;
    while (smap_next(&a->tree.nodes, &pos, &key, &key_len, &value)) {
        const struct tree_node *x = value;
        const struct tree_node *y = tree_get(&b->tree, key, key_len);
        CHECK(y != NULL);
        if (!y)
            continue;
        CHECK(memcmp(&x->stat, &y->stat, sizeof(x->stat)) == 0);
        CHECK_EQ_INT(x->data_len, y->data_len);
        CHECK(x->data_len <= 0 || memcmp(x->data, y->data, (size_t)x->data_len) == 0);
        CHECK_EQ_INT(x->acl->raw_len, y->acl->raw_len);
        CHECK(memcmp(x->acl->raw, y->acl->raw, x->acl->raw_len) == 0);
        CHECK_EQ_INT(x->child_count, y->child_count);
    }
    CHECK_EQ_INT(session_count(&a->sessions), session_count(&b->sessions));
    CHECK_EQ_INT(tree_ephemeral_count(&a->tree), tree_ephemeral_count(&b->tree));
    CHECK_EQ_INT(server_last_zxid(a), server_last_zxid(b));
}

static void test_snapshot_roundtrip(void)
{
    struct server *s = new_server();
    struct buf txn;
    buf_init(&txn);
    char err[256];
    int64_t zxid = 0;
    txn_session(&txn, 0x1234, ++zxid, 30000);
    CHECK(server_replay_txn(s, txn.data, txn.len, 0, err, sizeof(err)) == 0);
    txn_create(&txn, 0x1234, ++zxid, "/a", "alpha", false);
    CHECK(server_replay_txn(s, txn.data, txn.len, 0, err, sizeof(err)) == 0);
    txn_create(&txn, 0x1234, ++zxid, "/a/b", NULL, false);
    CHECK(server_replay_txn(s, txn.data, txn.len, 0, err, sizeof(err)) == 0);
    txn_create(&txn, 0x1234, ++zxid, "/a/e", "eph", true);
    CHECK(server_replay_txn(s, txn.data, txn.len, 0, err, sizeof(err)) == 0);
    for (int i = 0; i < 50; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/a/b/c%d", i);
        txn_create(&txn, 0x1234, ++zxid, path, "x", false);
        CHECK(server_replay_txn(s, txn.data, txn.len, 0, err, sizeof(err)) == 0);
    }
    CHECK_EQ_INT(server_last_zxid(s), zxid);

    struct memfs m;
    memset(&m, 0, sizeof(m));
    struct fs fs = memfs_ops(&m);
    struct snapfile_writer w;
    CHECK(snapfile_begin(&w, &fs, "/d", zxid, false, 7, 0) == 0);
    /* the temporary's name is the writer's own: pid 7, its snapshot 0 */
    CHECK(memfs_find(&m, "/d/tmp.snapshot.36.7.0") >= 0);
    server_snapshot_write(s, snapfile_write, &w);
    CHECK(snapfile_commit(&w) == 0);
    int fd = memfs_find(&m, "/d/snapshot.36");
    CHECK(fd >= 0);
    CHECK(memfs_find(&m, "/d/tmp.snapshot.36.7.0") < 0);
    const struct buf *f = &m.data[fd];
    CHECK(snapfile_looks_valid(f->data, f->len));
    CHECK_EQ_INT(snapfile_check_header(f->data, f->len, err, sizeof(err)), SNAP_HEADER_LEN);

    struct server *t = new_server();
    size_t consumed;
    CHECK(server_load_snapshot(t, f->data + SNAP_HEADER_LEN, f->len - SNAP_HEADER_LEN, &consumed, 0,
                               err, sizeof(err)) == 0);
    CHECK(snapfile_check_seal(f->data, f->len, SNAP_HEADER_LEN + consumed, err, sizeof(err)) == 0);
    server_set_last_zxid(t, zxid);
    same_tree(s, t);

    /* Fed in pieces, as a leader's SNAP arrives (1, 7, 64, 4096 bytes at a
     * time; a partial item is fed again with the bytes after it), the body
     * loads into the same tree and ends where the whole one did. */
    const uint8_t *body = f->data + SNAP_HEADER_LEN;
    static const size_t pieces[] = {1, 7, 64, 4096};
    for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
        struct server *u = new_server();
        struct server_snap_load *l = server_snap_load_begin(u, 0);
        size_t off = 0, have = 0, used = 0;
        int rc = 0;
        while (rc == 0 && have < consumed) {
            have = have + pieces[k] > consumed ? consumed : have + pieces[k];
            rc = server_snap_load_feed(l, body + off, have - off, false, &used, err, sizeof(err));
            off += used;
        }
        CHECK_EQ_INT(rc, 1);
        CHECK(off == consumed);
        server_snap_load_end(l);
        server_set_last_zxid(u, zxid);
        same_tree(s, u);
        server_free(u);
    }
    /* Cut one byte short: "more", then with `last` a truncation error. */
    {
        struct server *u = new_server();
        struct server_snap_load *l = server_snap_load_begin(u, 0);
        size_t used;
        CHECK_EQ_INT(server_snap_load_feed(l, body, consumed - 1, false, &used, err, sizeof(err)),
                     0);
        CHECK(used < consumed - 1);
        CHECK_EQ_INT(server_snap_load_feed(l, body + used, consumed - 1 - used, true, &used, err,
                                           sizeof(err)),
                     -1);
        CHECK(strstr(err, "truncated node list") != NULL);
        server_snap_load_end(l);
        server_free(u);
    }

    /* Every flipped byte is caught: by the loader or by the seal. */
    uint8_t *copy = malloc(f->len);
    for (size_t at = SNAP_HEADER_LEN; at < f->len; at += 7) {
        memcpy(copy, f->data, f->len);
        copy[at] ^= 0x01;
        struct server *u = new_server();
        bool ok =
            snapfile_looks_valid(copy, f->len) &&
            server_load_snapshot(u, copy + SNAP_HEADER_LEN, f->len - SNAP_HEADER_LEN, &consumed, 0,
                                 err, sizeof(err)) == 0 &&
            snapfile_check_seal(copy, f->len, SNAP_HEADER_LEN + consumed, err, sizeof(err)) == 0;
        CHECK(!ok);
        server_free(u);
    }
    free(copy);

    /* The gzip variant: snapshot.36.gz holds the same bytes, gzipped. */
    CHECK(snapfile_begin(&w, &fs, "/d", zxid, true, 7, 1) == 0);
    server_snapshot_write(s, snapfile_write, &w);
    CHECK(snapfile_commit(&w) == 0);
    int gz = memfs_find(&m, "/d/snapshot.36.gz");
    CHECK(gz >= 0);
    fd = memfs_find(&m, "/d/snapshot.36"); /* the buffers may have moved */
    uint8_t *plain;
    size_t plain_len;
    CHECK(gz >= 0 && fd >= 0 &&
          snapz_decompress(SNAPZ_GZIP, m.data[gz].data, m.data[gz].len, SNAPZ_MAX_OUT, &plain,
                           &plain_len, err, sizeof(err)) == 0);
    if (gz >= 0 && fd >= 0) {
        CHECK(m.data[gz].len < m.data[fd].len);
        CHECK(plain_len == m.data[fd].len && memcmp(plain, m.data[fd].data, plain_len) == 0);
        free(plain);
    }
    server_free(t);
    server_free(s);
    buf_deinit(&txn);
    memfs_deinit(&m);
}

/* A node whose parent is missing, or a repeated path, in a snapshot body. */
static void test_snapshot_bad_nodes(void)
{
    struct zk_stat_persisted st = {.czxid = 2, .mzxid = 2, .pzxid = 2};
    struct buf body;
    buf_init(&body);
    jute_write_i32(&body, 0); /* sessions */
    jute_write_i32(&body, 0); /* ACL cache */
    jute_write_bytes(&body, "/a", 2);
    jute_write_bytes(&body, "1", 1);
    jute_write_i64(&body, -1);
    zk_stat_persisted_encode(&body, &st);
    jute_write_bytes(&body, "/a", 2); /* again: keeps "1", takes this Stat */
    jute_write_bytes(&body, "22", 2);
    jute_write_i64(&body, -1);
    st.version = 4;
    zk_stat_persisted_encode(&body, &st);
    size_t orphan = body.len;
    jute_write_bytes(&body, "/x/y", 4);
    jute_write_bytes(&body, "", 0);
    jute_write_i64(&body, -1);
    zk_stat_persisted_encode(&body, &st);
    jute_write_bytes(&body, "/", 1);

    char err[256];
    size_t consumed;
    struct server *s = new_server();
    CHECK(server_load_snapshot(s, body.data, orphan, &consumed, 0, err, sizeof(err)) != 0);
    const struct tree_node *a = tree_get(&s->tree, "/a", 2);
    CHECK(a && a->data_len == 1 && a->stat.version == 4);
    server_free(s);

    s = new_server();
    CHECK(server_load_snapshot(s, body.data, body.len, &consumed, 0, err, sizeof(err)) != 0);
    char want[128];
    snprintf(want, sizeof(want), "unable to find parent of path /x/y at offset %zu ", orphan);
    CHECK(strstr(err, want) != NULL);
    server_free(s);
    buf_deinit(&body);
}

/* gzip (one member, the way GZIPOutputStream writes) of p[0, len) into b. */
static void gzip_into(struct buf *b, const uint8_t *p, size_t len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t start = b->len;
    buf_reserve(b, deflateBound(&zs, (uLong)len));
    zs.next_in = (Bytef *)(uintptr_t)p;
    zs.avail_in = (uInt)len;
    zs.next_out = b->data + start;
    zs.avail_out = (uInt)(b->cap - start);
    CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    b->len = start + zs.total_out;
    deflateEnd(&zs);
}

static void test_compressed_snapshots(void)
{
    enum snapz_kind kind;
    CHECK_EQ_INT(snapz_name_zxid("snapshot.1a", &kind), 0x1a);
    CHECK_EQ_INT(kind, SNAPZ_PLAIN);
    CHECK_EQ_INT(snapz_name_zxid("snapshot.1a.gz", &kind), 0x1a);
    CHECK_EQ_INT(kind, SNAPZ_GZIP);
    CHECK_EQ_INT(snapz_name_zxid("snapshot.ff.SNAPPY", &kind), 0xff);
    CHECK_EQ_INT(kind, SNAPZ_SNAPPY);
    CHECK_EQ_INT(snapz_name_zxid("snapshot.1a.bak", &kind), -1);
    CHECK_EQ_INT(snapz_name_zxid("snapshot..gz", &kind), -1);
    CHECK_EQ_INT(snapz_name_zxid("tmp.snapshot.1a.gz", &kind), -1);
    CHECK_EQ_INT(snapz_name_zxid("snapshot.xy.gz", &kind), -1);

    /* gzip: round trip, two members one after the other, then every
     * truncation and a bit flip at many places: an error, never a crash */
    size_t n = 300000;
    uint8_t *plain = malloc(n);
    for (size_t i = 0; i < n; i++)
        plain[i] = (uint8_t)((i * 7) ^ (i >> 9));
    struct buf gz;
    buf_init(&gz);
    gzip_into(&gz, plain, n);
    size_t one = gz.len;
    gzip_into(&gz, plain, 1000);
    char err[256];
    uint8_t *out;
    size_t out_len;
    CHECK(snapz_decompress(SNAPZ_GZIP, gz.data, one, SNAPZ_MAX_OUT, &out, &out_len, err,
                           sizeof(err)) == 0);
    CHECK(out_len == n && memcmp(out, plain, n) == 0);
    free(out);
    CHECK(snapz_decompress(SNAPZ_GZIP, gz.data, gz.len, SNAPZ_MAX_OUT, &out, &out_len, err,
                           sizeof(err)) == 0);
    CHECK(out_len == n + 1000 && memcmp(out + n, plain, 1000) == 0);
    free(out);
    CHECK(snapz_decompress(SNAPZ_GZIP, gz.data, one, 1000, &out, &out_len, err, sizeof(err)) < 0);
    for (size_t cut = 0; cut < one; cut += 37) {
        CHECK(snapz_decompress(SNAPZ_GZIP, gz.data, cut, SNAPZ_MAX_OUT, &out, &out_len, err,
                               sizeof(err)) < 0);
    }
    for (size_t at = 0; at < one; at += 53) {
        gz.data[at] ^= 0x10;
        if (snapz_decompress(SNAPZ_GZIP, gz.data, one, SNAPZ_MAX_OUT, &out, &out_len, err,
                             sizeof(err)) == 0)
            free(out); /* a flip in the stored extra fields may still inflate */
        gz.data[at] ^= 0x10;
    }
    buf_deinit(&gz);
    free(plain);

    /* snappy-java: header, then chunks of <length, raw block>. The block
     * here: length 10, literal "abc", a copy of 7 from 3 back (overlapping). */
    static const uint8_t head[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    static const uint8_t block[] = {10, 0x08, 'a', 'b', 'c', 0x0d, 3};
    struct buf sn;
    buf_init(&sn);
    buf_append(&sn, head, sizeof(head));
    buf_append_be32(&sn, sizeof(block));
    buf_append(&sn, block, sizeof(block));
    buf_append_be32(&sn, sizeof(block)); /* a second chunk */
    buf_append(&sn, block, sizeof(block));
    CHECK(snapz_decompress(SNAPZ_SNAPPY, sn.data, sn.len, SNAPZ_MAX_OUT, &out, &out_len, err,
                           sizeof(err)) == 0);
    CHECK(out_len == 20 && memcmp(out, "abcabcabcaabcabcabca", 20) == 0);
    free(out);
    for (size_t cut = 0; cut < sn.len; cut++) {
        bool ok = snapz_decompress(SNAPZ_SNAPPY, sn.data, cut, SNAPZ_MAX_OUT, &out, &out_len, err,
                                   sizeof(err)) == 0;
        /* whole chunks only: after the header, after the first chunk */
        CHECK(ok == (cut == 16 || cut == 16 + 4 + sizeof(block)));
        if (ok)
            free(out);
    }
    /* a copy from before the block, from distance 0, a length that does not
     * match, a literal running past the block */
    static const uint8_t bad[][8] = {{10, 0x08, 'a', 'b', 'c', 0x0d, 4},
                                     {10, 0x08, 'a', 'b', 'c', 0x0d, 0},
                                     {11, 0x08, 'a', 'b', 'c', 0x0d, 3},
                                     {9, 0x08, 'a', 'b', 'c', 0x0d, 3},
                                     {3, 0x10, 'a', 'b', 'c', 0, 0}};
    static const size_t bad_len[] = {7, 7, 7, 7, 5};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sn.len = 0;
        buf_append(&sn, head, sizeof(head));
        buf_append_be32(&sn, (uint32_t)bad_len[i]);
        buf_append(&sn, bad[i], bad_len[i]);
        CHECK(snapz_decompress(SNAPZ_SNAPPY, sn.data, sn.len, SNAPZ_MAX_OUT, &out, &out_len, err,
                               sizeof(err)) < 0);
        CHECK(strstr(err, "snappy: corrupt block") != NULL);
    }
    sn.len = 0;
    buf_append(&sn, "SNAPPY\0\0", 8);
    CHECK(snapz_decompress(SNAPZ_SNAPPY, sn.data, sn.len, SNAPZ_MAX_OUT, &out, &out_len, err,
                           sizeof(err)) < 0);
    buf_deinit(&sn);
}

int main(void)
{
    test_names();
    test_compressed_snapshots();
    test_log_roundtrip_and_torn_tails();
    test_log_full_disk();
    test_log_roll_trims();
    test_snapshot_roundtrip();
    test_snapshot_bad_nodes();
    return check_result("test_storage");
}
