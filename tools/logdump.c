/* SPDX-License-Identifier: Apache-2.0 */
/* logdump.c — czk-logdump: prints ZooKeeper txn logs (log.*) and snapshots
 * (snapshot.*) as text or JSON lines and checks their checksums, like
 * ZooKeeper's TxnLogToolkit and SnapshotFormatter. Formats: docs/FORMATS.md.
 * Reads a live data dir: temporaries are skipped and a file that is gone by
 * the time it is opened (purged, renamed) is reported, not an error.
 * Exit status: 0 all files intact, 1 damage found, 2 bad usage or unreadable. */
#include "base/buf.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "storage/epoch.h"
#include "storage/fs.h"
#include "storage/purge.h"
#include "storage/snapfile.h"
#include "storage/snapz.h"
#include "storage/txnlog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dump {
    bool json;
    const char *path_filter; /* --path: only txns touching this node */
    const char *file;
    struct buf line;
    int64_t shown;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: czk-logdump [--json] [--path ZNODE] FILE|DIR...\n"
               "\n"
               "Prints ZooKeeper/czk txn logs (log.<zxid>), snapshots (snapshot.<zxid>,\n"
               "also .gz and .snappy) and the epoch files (currentEpoch, acceptedEpoch),\n"
               "and verifies their checksums. A directory (such as dataDir/version-2)\n"
               "stands for those files in it. Temporary files (tmp.*) are skipped, and\n"
               "so are files removed since they were listed. --path prints only the txns\n"
               "that touch one znode (its history). Exit status 1 if any file is damaged.\n");
}

static void json_str(struct buf *b, const char *s, size_t len)
{
    buf_append_u8(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf_append_u8(b, '\\');
            buf_append_u8(b, c);
        } else if (c < 0x20 || c >= 0x7f) {
            buf_printf(b, "\\u%04x", c);
        } else {
            buf_append_u8(b, c);
        }
    }
    buf_append_u8(b, '"');
}

static void emit(struct dump *d)
{
    fwrite(d->line.data, 1, d->line.len, stdout);
    fputc('\n', stdout);
    buf_clear(&d->line);
}

/* The txn body as one line (records' own printers). */
static void print_body(struct buf *out, int32_t type, const uint8_t *p, size_t len)
{
    struct jute_reader r;
    jute_reader_init(&r, p, len);
    int rc = 0;
    switch (type) {
#define PRINT_AS(op, rec)                                                                          \
    case op: {                                                                                     \
        struct zk_##rec v;                                                                         \
        if ((rc = zk_##rec##_decode(&r, &v)) == 0)                                                 \
            zk_##rec##_print(out, &v);                                                             \
        break;                                                                                     \
    }
        PRINT_AS(ZK_OP_CREATE, create_txn)
        PRINT_AS(ZK_OP_CREATE2, create_txn)
        PRINT_AS(ZK_OP_CREATE_CONTAINER, create_container_txn)
        PRINT_AS(ZK_OP_CREATE_TTL, create_ttl_txn)
        PRINT_AS(ZK_OP_DELETE, delete_txn)
        PRINT_AS(ZK_OP_DELETE_CONTAINER, delete_txn)
        PRINT_AS(ZK_OP_SET_DATA, set_data_txn)
        PRINT_AS(ZK_OP_RECONFIG, set_data_txn)
        PRINT_AS(ZK_OP_SET_ACL, set_acl_txn)
        PRINT_AS(ZK_OP_CHECK, check_version_txn)
        PRINT_AS(ZK_OP_CREATE_SESSION, create_session_txn)
        PRINT_AS(ZK_OP_ERROR, error_txn)
#undef PRINT_AS
    case ZK_OP_CLOSE_SESSION:
        if (len > 0) {
            struct zk_close_session_txn v;
            if ((rc = zk_close_session_txn_decode(&r, &v)) == 0)
                zk_close_session_txn_print(out, &v);
        }
        break;
    case ZK_OP_MULTI: {
        struct zk_multi_txn m;
        if ((rc = zk_multi_txn_decode(&r, &m)) != 0)
            break;
        struct jute_vec_iter it;
        struct zk_txn sub;
        jute_vec_iter_init(&it, &m.txns);
        buf_printf(out, "[");
        bool first = true;
        while (jute_vec_next_txn(&it, &sub)) {
            buf_printf(out, "%s%s ", first ? "" : "; ", zk_op_name(sub.type));
            print_body(out, sub.type, sub.data.ptr, sub.data.len < 0 ? 0 : (size_t)sub.data.len);
            first = false;
        }
        buf_printf(out, "]");
        break;
    }
    default:
        buf_printf(out, "(%zu bytes)", len);
    }
    if (rc != 0)
        buf_printf(out, "(undecodable %zu bytes)", len);
}

/* Does the txn touch `path`? (its path field, a multi's sub-txns, or a
 * closeSession's ephemerals) */
static bool touches(int32_t type, const uint8_t *p, size_t len, const char *path)
{
    struct jute_reader r;
    jute_reader_init(&r, p, len);
    size_t plen = strlen(path);
    switch (type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER:
    case ZK_OP_CREATE_TTL:
    case ZK_OP_DELETE:
    case ZK_OP_DELETE_CONTAINER:
    case ZK_OP_SET_DATA:
    case ZK_OP_RECONFIG:
    case ZK_OP_SET_ACL:
    case ZK_OP_CHECK: {
        struct jute_buf b = jute_read_buf(&r);
        return !r.failed && jute_buf_eq(b, path, plen);
    }
    case ZK_OP_CLOSE_SESSION: {
        struct zk_close_session_txn v;
        if (len == 0 || zk_close_session_txn_decode(&r, &v) != 0)
            return false;
        struct jute_vec_iter it;
        struct jute_buf b;
        jute_vec_iter_init(&it, &v.paths2_delete);
        while (jute_vec_next_str(&it, &b))
            if (jute_buf_eq(b, path, plen))
                return true;
        return false;
    }
    case ZK_OP_MULTI: {
        struct zk_multi_txn m;
        if (zk_multi_txn_decode(&r, &m) != 0)
            return false;
        struct jute_vec_iter it;
        struct zk_txn sub;
        jute_vec_iter_init(&it, &m.txns);
        while (jute_vec_next_txn(&it, &sub))
            if (touches(sub.type, sub.data.ptr, sub.data.len < 0 ? 0 : (size_t)sub.data.len, path))
                return true;
        return false;
    }
    default:
        return false;
    }
}

static int on_record(void *ctx, const uint8_t *txn, size_t len, size_t off)
{
    struct dump *d = ctx;
    struct jute_reader r;
    jute_reader_init(&r, txn, len);
    struct zk_txn_header h;
    if (zk_txn_header_decode(&r, &h) != 0)
        return 0;
    const uint8_t *body = txn + r.pos;
    size_t body_len = len - r.pos;
    if (d->path_filter && !touches(h.type, body, body_len, d->path_filter))
        return 0;
    struct buf text;
    buf_init(&text);
    print_body(&text, h.type, body, body_len);
    if (d->json) {
        buf_printf(&d->line, "{\"file\":");
        json_str(&d->line, d->file, strlen(d->file));
        buf_printf(&d->line,
                   ",\"offset\":%zu,\"zxid\":%" PRId64 ",\"session\":%" PRId64 ",\"cxid\":%" PRId32
                   ",\"time\":%" PRId64 ",\"type\":\"%s\",\"txn\":",
                   off, h.zxid, h.client_id, h.cxid, h.time, zk_op_name(h.type));
        json_str(&d->line, (const char *)text.data, text.len);
        buf_printf(&d->line, "}");
    } else {
        buf_printf(&d->line,
                   "zxid 0x%" PRIx64 " session 0x%" PRIx64 " cxid 0x%" PRIx32 " time %" PRId64
                   " %s %.*s",
                   (uint64_t)h.zxid, (uint64_t)h.client_id, (uint32_t)h.cxid, h.time,
                   zk_op_name(h.type), (int)text.len, text.data ? (const char *)text.data : "");
    }
    emit(d);
    buf_deinit(&text);
    d->shown++;
    return 0;
}

/* currentEpoch, acceptedEpoch (and their .tmp): the number, or why not.
 * 0 intact, 1 damaged, -ENOENT (nothing printed) if there is no such file. */
static int dump_epoch(struct dump *d, const char *file)
{
    char dir[STORAGE_PATH_MAX];
    const char *slash = strrchr(file, '/');
    size_t dlen = slash ? (size_t)(slash - file) : 1;
    if (dlen >= sizeof(dir))
        dlen = sizeof(dir) - 1;
    memcpy(dir, slash ? file : ".", dlen);
    dir[dlen] = '\0';
    int64_t epoch = 0;
    char err[STORAGE_PATH_MAX + 256];
    int rc = epoch_read(fs_posix(), dir, slash ? slash + 1 : file, &epoch, err, sizeof(err));
    if (rc == -ENOENT)
        return rc;
    if (d->json) {
        buf_printf(&d->line, "{\"file\":");
        json_str(&d->line, file, strlen(file));
        if (rc == 0) {
            buf_printf(&d->line, ",\"summary\":true,\"epoch\":%" PRId64 ",\"ok\":true}", epoch);
        } else {
            buf_printf(&d->line, ",\"summary\":true,\"ok\":false,\"reason\":");
            json_str(&d->line, err, strlen(err));
            buf_printf(&d->line, "}");
        }
        emit(d);
    } else if (rc == 0) {
        printf("%s: epoch %" PRId64 "\n", file, epoch);
    } else {
        printf("%s: DAMAGED: %s\n", file, err);
    }
    return rc == 0 ? 0 : 1;
}

static bool is_epoch_file(const char *file)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    static const char *const names[] = {EPOCH_CURRENT, EPOCH_ACCEPTED, EPOCH_CURRENT ".tmp",
                                        EPOCH_ACCEPTED ".tmp"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(base, names[i]) == 0)
            return true;
    return false;
}

static int dump_log(struct dump *d, const uint8_t *p, size_t len)
{
    if (!d->json && !d->path_filter)
        printf("%s: txn log, format version %" PRIu32 ", dbid %" PRId64 "\n", d->file,
               be32_get(p + 4), (int64_t)be64_get(p + 8));
    struct txnlog_scan scan;
    txnlog_scan(p, len, on_record, d, &scan);
    static const char *const ends[] = {"clean", "torn", "corrupt", "header"};
    if (d->json) {
        buf_printf(&d->line, "{\"file\":");
        json_str(&d->line, d->file, strlen(d->file));
        buf_printf(&d->line,
                   ",\"summary\":true,\"records\":%" PRId64 ",\"last_zxid\":%" PRId64
                   ",\"end\":\"%s\",\"good_length\":%zu",
                   scan.records, scan.last_zxid, ends[scan.end], scan.good_len);
        if (scan.end != TXNLOG_END_CLEAN) {
            buf_printf(&d->line, ",\"bad_offset\":%zu,\"reason\":", scan.bad_off);
            json_str(&d->line, scan.reason, strlen(scan.reason));
        }
        buf_printf(&d->line, "}");
        emit(d);
    } else if (scan.end == TXNLOG_END_CLEAN) {
        printf("%s: %" PRId64 " txns, checksums good, last zxid 0x%" PRIx64 "\n", d->file,
               scan.records, (uint64_t)scan.last_zxid);
    } else {
        printf("%s: %" PRId64 " good txns, then %s damage at offset %zu: %s\n", d->file,
               scan.records, ends[scan.end], scan.bad_off, scan.reason);
    }
    return scan.end == TXNLOG_END_CLEAN ? 0 : 1;
}

static int dump_snapshot(struct dump *d, const uint8_t *p, size_t len)
{
    char err[512] = "";
    struct jute_reader r;
    jute_reader_init(&r, p + SNAP_HEADER_LEN, len - SNAP_HEADER_LEN);
    int32_t sessions = jute_read_i32(&r);
    for (int32_t i = 0; !r.failed && i < sessions; i++) {
        int64_t id = jute_read_i64(&r);
        int32_t timeout = jute_read_i32(&r);
        if (r.failed || d->path_filter)
            continue;
        if (d->json)
            buf_printf(&d->line, "{\"session\":%" PRId64 ",\"timeout\":%" PRId32 "}", id, timeout);
        else
            buf_printf(&d->line, "session 0x%" PRIx64 " timeout %" PRId32, (uint64_t)id, timeout);
        emit(d);
    }
    int32_t acls = jute_read_i32(&r);
    for (int32_t i = 0; !r.failed && i < acls; i++) {
        int64_t id = jute_read_i64(&r);
        int32_t n = jute_read_i32(&r);
        struct buf text;
        buf_init(&text);
        for (int32_t k = 0; k < n && !r.failed; k++) {
            struct zk_acl a;
            if (zk_acl_decode(&r, &a) != 0) {
                r.failed = true;
                break;
            }
            buf_printf(&text, "%s%.*s:%.*s:%" PRId32, k ? "," : "", (int)a.id.scheme.len,
                       a.id.scheme.ptr, (int)a.id.id.len, a.id.id.ptr, a.perms);
        }
        if (!r.failed && !d->path_filter) {
            if (d->json) {
                buf_printf(&d->line, "{\"acl_id\":%" PRId64 ",\"acl\":", id);
                json_str(&d->line, text.data ? (const char *)text.data : "", text.len);
                buf_printf(&d->line, "}");
            } else {
                buf_printf(&d->line, "acl %" PRId64 " [%.*s]", id, (int)text.len,
                           text.data ? (const char *)text.data : "");
            }
            emit(d);
        }
        buf_deinit(&text);
    }
    int64_t nodes = 0;
    for (;;) {
        struct jute_buf path = jute_read_buf(&r);
        if (r.failed || path.len < 0 || jute_buf_eq(path, "/", 1))
            break;
        struct jute_buf data = jute_read_buf(&r);
        int64_t acl = jute_read_i64(&r);
        struct zk_stat_persisted st;
        if (r.failed || zk_stat_persisted_decode(&r, &st) != 0) {
            r.failed = true;
            break;
        }
        nodes++;
        const char *ps = path.len ? (const char *)path.ptr : "/";
        size_t pl = path.len ? (size_t)path.len : 1;
        if (d->path_filter &&
            !(strlen(d->path_filter) == pl && memcmp(ps, d->path_filter, pl) == 0))
            continue;
        if (d->json) {
            buf_printf(&d->line, "{\"path\":");
            json_str(&d->line, ps, pl);
            buf_printf(&d->line, ",\"data\":");
            if (data.len < 0)
                buf_printf(&d->line, "null");
            else
                json_str(&d->line, (const char *)data.ptr, (size_t)data.len);
            buf_printf(&d->line,
                       ",\"acl_id\":%" PRId64 ",\"czxid\":%" PRId64 ",\"mzxid\":%" PRId64
                       ",\"ctime\":%" PRId64 ",\"mtime\":%" PRId64 ",\"version\":%" PRId32
                       ",\"cversion\":%" PRId32 ",\"aversion\":%" PRId32
                       ",\"ephemeralOwner\":%" PRId64 ",\"pzxid\":%" PRId64 "}",
                       acl, st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.cversion,
                       st.aversion, st.ephemeral_owner, st.pzxid);
        } else {
            buf_printf(&d->line,
                       "%.*s  data %" PRId32 " bytes acl %" PRId64 " czxid 0x%" PRIx64
                       " mzxid 0x%" PRIx64 " pzxid 0x%" PRIx64 " version %" PRId32
                       " cversion %" PRId32 " aversion %" PRId32 " ephemeralOwner 0x%" PRIx64,
                       (int)pl, ps, data.len < 0 ? 0 : data.len, acl, (uint64_t)st.czxid,
                       (uint64_t)st.mzxid, (uint64_t)st.pzxid, st.version, st.cversion, st.aversion,
                       (uint64_t)st.ephemeral_owner);
        }
        emit(d);
    }
    int rc = 0;
    if (r.failed) {
        snprintf(err, sizeof(err), "malformed body near offset %zu", SNAP_HEADER_LEN + r.pos);
        rc = 1;
    } else if (snapfile_check_seal(p, len, SNAP_HEADER_LEN + r.pos, err, sizeof(err)) < 0) {
        rc = 1;
    }
    if (d->json) {
        buf_printf(&d->line, "{\"file\":");
        json_str(&d->line, d->file, strlen(d->file));
        buf_printf(&d->line,
                   ",\"summary\":true,\"sessions\":%" PRId32 ",\"nodes\":%" PRId64 ",\"ok\":%s",
                   sessions, nodes, rc ? "false" : "true");
        if (rc) {
            buf_printf(&d->line, ",\"reason\":");
            json_str(&d->line, err, strlen(err));
        }
        buf_printf(&d->line, "}");
        emit(d);
    } else if (rc) {
        printf("%s: DAMAGED: %s\n", d->file, err);
    } else {
        printf("%s: snapshot, %" PRId32 " sessions, %" PRId64 " nodes, checksums good\n", d->file,
               sessions, nodes);
    }
    return rc;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* One file: 0 intact (or skipped), 1 damaged, 2 unreadable. `named`: the
 * user gave it (rather than a directory listing), so a skip is said. */
static int dump_path(struct dump *d, const char *path, bool named)
{
    d->file = path;
    const char *base = base_name(path);
    if (storage_is_temporary(base)) {
        if (named)
            fprintf(stderr,
                    "czk-logdump: %s: skipped (a temporary file: being written, or left "
                    "by a crash)\n",
                    path);
        return 0;
    }
    if (is_epoch_file(path)) {
        int rc = dump_epoch(d, path);
        if (rc == -ENOENT)
            goto vanished;
        return rc;
    }
    const struct fs *fs = fs_posix();
    uint8_t *p;
    size_t len;
    int rc = fs->read_file(fs->ctx, path, &p, &len);
    if (rc == -ENOENT)
        goto vanished;
    if (rc < 0) {
        fprintf(stderr, "czk-logdump: %s: %s\n", path, strerror(-rc));
        return 2;
    }
    enum snapz_kind kind;
    if (snapz_name_zxid(base, &kind) >= 0 && kind != SNAPZ_PLAIN) {
        uint8_t *plain;
        size_t plain_len;
        char err[512];
        if (snapz_decompress(kind, p, len, SNAPZ_MAX_OUT, &plain, &plain_len, err, sizeof(err)) <
            0) {
            fprintf(stderr, "czk-logdump: %s: %s\n", path, err);
            free(p);
            return 1;
        }
        free(p);
        p = plain;
        len = plain_len;
    }
    int status = 0;
    if (len >= 8 && be32_get(p) == TXNLOG_MAGIC) {
        status = dump_log(d, p, len) ? 1 : 0;
    } else if (len >= SNAP_HEADER_LEN && be32_get(p) == SNAP_MAGIC) {
        status = dump_snapshot(d, p, len) ? 1 : 0;
    } else {
        fprintf(stderr, "czk-logdump: %s: neither a txn log nor a snapshot\n", path);
        status = 1;
    }
    free(p);
    return status;

vanished:
    /* a live data dir: purged, or a temporary renamed, since it was listed */
    fprintf(stderr, "czk-logdump: %s: vanished (removed since it was listed); skipped\n", path);
    return 0;
}

struct dir_entry {
    int order; /* epoch files, snapshots, logs */
    int64_t zxid;
    char name[256];
};

struct dir_list {
    struct dir_entry *entries;
    size_t count;
    size_t cap;
};

static void dir_add(void *ctx, const char *name)
{
    struct dir_list *l = ctx;
    struct dir_entry e = {.order = 0, .zxid = 0};
    enum snapz_kind kind;
    if (storage_is_temporary(name) || strlen(name) >= sizeof(e.name))
        return;
    if (is_epoch_file(name)) {
        e.order = 0;
    } else if ((e.zxid = snapz_name_zxid(name, &kind)) >= 0) {
        e.order = 1;
    } else if ((e.zxid = storage_name_zxid(name, "log")) >= 0) {
        e.order = 2;
    } else {
        return; /* not a data file: czk.lock, myid, version-2, ... */
    }
    snprintf(e.name, sizeof(e.name), "%s", name);
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        struct dir_entry *grown = realloc(l->entries, l->cap * sizeof(*grown));
        if (!grown) {
            fprintf(stderr, "czk-logdump: out of memory\n");
            exit(2);
        }
        l->entries = grown;
    }
    l->entries[l->count++] = e;
}

static int dir_entry_cmp(const void *a, const void *b)
{
    const struct dir_entry *x = a, *y = b;
    if (x->order != y->order)
        return x->order - y->order;
    if (x->zxid != y->zxid)
        return x->zxid < y->zxid ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The data files of a directory, in order; -ENOTDIR if path is a file. */
static int dump_dir(struct dump *d, const char *path)
{
    const struct fs *fs = fs_posix();
    struct dir_list l = {0};
    int rc = fs->list(fs->ctx, path, dir_add, &l);
    if (rc == -ENOTDIR || rc == -ENOENT)
        return -ENOTDIR; /* a file (or nothing): dump_path says which */
    if (rc < 0) {
        fprintf(stderr, "czk-logdump: %s: %s\n", path, strerror(-rc));
        return 2;
    }
    qsort(l.entries, l.count, sizeof(*l.entries), dir_entry_cmp);
    int status = 0;
    for (size_t i = 0; i < l.count; i++) {
        char file[STORAGE_PATH_MAX + 300];
        snprintf(file, sizeof(file), "%s/%s", path, l.entries[i].name);
        int frc = dump_path(d, file, false);
        if (frc > status)
            status = frc;
    }
    free(l.entries);
    return status;
}

int main(int argc, char **argv)
{
    struct dump d = {0};
    buf_init(&d.line);
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "--json") == 0) {
            d.json = true;
        } else if (strcmp(argv[first], "--path") == 0 && first + 1 < argc) {
            d.path_filter = argv[++first];
        } else if (strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    int status = 0;
    for (int i = first; i < argc; i++) {
        int rc = dump_dir(&d, argv[i]);
        if (rc == -ENOTDIR)
            rc = dump_path(&d, argv[i], true);
        if (rc > status)
            status = rc;
    }
    buf_deinit(&d.line);
    return status;
}
