/* SPDX-License-Identifier: Apache-2.0 */
/* purge.c — PurgeTxnLog.purge and retainNRecentSnapshots; start-up removal
 * of temporaries. */
#include "storage/purge.h"

#include "base/mem.h"
#include "storage/snapz.h"
#include "storage/txnlog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void names_add(void *ctx, const char *name)
{
    struct storage_zxids *n = ctx;
    enum snapz_kind kind;
    int64_t zxid = strcmp(n->prefix, "snapshot") == 0 ? snapz_name_zxid(name, &kind)
                                                      : storage_name_zxid(name, n->prefix);
    if (zxid < 0)
        return;
    if (n->count == n->cap) {
        n->cap = n->cap ? n->cap * 2 : 16;
        n->zxids = mem_realloc(n->zxids, n->cap * sizeof(*n->zxids));
    }
    n->zxids[n->count++] = zxid;
}

static int cmp_zxid(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int storage_list_zxids(const struct fs *fs, const char *dir, const char *prefix,
                       struct storage_zxids *out, char *errmsg, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->prefix = prefix;
    int rc = fs->list(fs->ctx, dir, names_add, out);
    if (rc < 0) {
        snprintf(errmsg, errlen, "cannot list %s: %s", dir, strerror(-rc));
        mem_free(out->zxids);
        out->zxids = NULL;
        return rc;
    }
    if (out->count > 1)
        qsort(out->zxids, out->count, sizeof(*out->zxids), cmp_zxid);
    /* snapshot.5 and snapshot.5.gz are one zxid */
    size_t kept = 0;
    for (size_t i = 0; i < out->count; i++)
        if (kept == 0 || out->zxids[kept - 1] != out->zxids[i])
            out->zxids[kept++] = out->zxids[i];
    out->count = kept;
    return 0;
}

static int remove_file(const struct fs *fs, const char *dir, const char *prefix, int64_t zxid,
                       char *errmsg, size_t errlen)
{
    /* a snapshot may be there compressed too (snapshot.<zxid>.gz, .snappy) */
    int kinds = strcmp(prefix, "snapshot") == 0 ? SNAPZ_KINDS : 1;
    for (int k = 0; k < kinds; k++) {
        char path[STORAGE_PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/%s.%" PRIx64 "%s", dir, prefix, (uint64_t)zxid,
                 snapz_suffix((enum snapz_kind)k));
        int rc = fs->unlink(fs->ctx, path);
        if (rc < 0 && rc != -ENOENT) {
            snprintf(errmsg, errlen, "cannot delete %s: %s", path, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int storage_purge(const struct fs *fs, const char *snap_dir, const char *log_dir, int keep,
                  char *errmsg, size_t errlen)
{
    if (keep < 3) {
        snprintf(errmsg, errlen, "snapRetainCount must be at least 3 (got %d)", keep);
        return -EINVAL;
    }
    struct storage_zxids snaps, logs;
    int deleted = 0;
    int rc = storage_list_zxids(fs, snap_dir, "snapshot", &snaps, errmsg, errlen);
    if (rc < 0)
        return rc;
    rc = storage_list_zxids(fs, log_dir, "log", &logs, errmsg, errlen);
    if (rc < 0)
        goto out_snaps;
    if (snaps.count <= (size_t)keep)
        goto out;
    int64_t least = snaps.zxids[snaps.count - (size_t)keep];
    /* the newest log starting at or before the oldest kept snapshot holds
     * the txns right after it */
    int64_t keep_log = -1;
    for (size_t i = 0; i < logs.count; i++)
        if (logs.zxids[i] <= least)
            keep_log = logs.zxids[i];
    for (size_t i = 0; i < snaps.count; i++) {
        if (snaps.zxids[i] >= least)
            break;
        if ((rc = remove_file(fs, snap_dir, "snapshot", snaps.zxids[i], errmsg, errlen)) < 0)
            goto out;
        deleted++;
    }
    for (size_t i = 0; i < logs.count; i++) {
        if (logs.zxids[i] >= keep_log)
            break;
        if ((rc = remove_file(fs, log_dir, "log", logs.zxids[i], errmsg, errlen)) < 0)
            goto out;
        deleted++;
    }
    rc = 0;
out:
    mem_free(logs.zxids);
out_snaps:
    mem_free(snaps.zxids);
    return rc < 0 ? rc : deleted;
}

bool storage_is_temporary(const char *name)
{
    return strncmp(name, "tmp.", 4) == 0;
}

struct temporaries {
    char **names;
    size_t count;
    size_t cap;
};

static void temporaries_add(void *ctx, const char *name)
{
    struct temporaries *t = ctx;
    if (!storage_is_temporary(name))
        return;
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4;
        t->names = mem_realloc(t->names, t->cap * sizeof(*t->names));
    }
    size_t len = strlen(name) + 1;
    t->names[t->count] = mem_alloc(len);
    memcpy(t->names[t->count++], name, len);
}

int storage_remove_temporaries(const struct fs *fs, const char *dir, storage_removed_fn *fn,
                               void *fn_ctx, char *errmsg, size_t errlen)
{
    /* names first, deletions after: readdir's view of a directory that
     * changes under it is unspecified */
    struct temporaries t = {0};
    int rc = fs->list(fs->ctx, dir, temporaries_add, &t);
    if (rc < 0)
        snprintf(errmsg, errlen, "cannot list %s: %s", dir, strerror(-rc));
    int deleted = 0;
    for (size_t i = 0; i < t.count && rc >= 0; i++) {
        char path[STORAGE_PATH_MAX + 256];
        snprintf(path, sizeof(path), "%s/%s", dir, t.names[i]);
        int urc = fs->unlink(fs->ctx, path);
        if (urc == 0) {
            deleted++;
            fn(fn_ctx, path);
        } else if (urc != -ENOENT) {
            snprintf(errmsg, errlen, "cannot delete %s: %s", path, strerror(-urc));
            rc = urc;
        }
    }
    for (size_t i = 0; i < t.count; i++)
        mem_free(t.names[i]);
    mem_free(t.names);
    if (rc >= 0 && deleted > 0) {
        rc = fs->fsync_dir(fs->ctx, dir);
        if (rc < 0)
            snprintf(errmsg, errlen, "cannot sync directory %s: %s", dir, strerror(-rc));
    }
    return rc < 0 ? rc : deleted;
}
