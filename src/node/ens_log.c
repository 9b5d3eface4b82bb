/* SPDX-License-Identifier: Apache-2.0 */
/* ens_log.c — an ensemble member's log beyond the log thread: the newest
 * txns kept in memory (the committed log a leader port serves DIFF from,
 * ZKDatabase.committedLog) and TRUNC's cut of the log files
 * (ZKDatabase.truncateLog). */
#include "base/buf.h"
#include "base/mem.h"
#include "node/node_int.h"
#include "proto/jute.h"
#include "storage/fs.h"
#include "storage/purge.h"
#include "storage/txnlog.h"
#include "zab/zab.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the committed log kept for DIFF ---- */

static void history_pop(struct node_history *h)
{
    struct node_history_txn *t = &h->ring[h->head];
    h->bytes -= t->len;
    mem_free(t->data);
    h->head = (h->head + 1) % NODE_HISTORY_MAX;
    h->len--;
}

void node__history_push(struct node *n, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct node_history *h = n->history;
    if (h->len > 0 && h->ring[(h->head + h->len - 1) % NODE_HISTORY_MAX].zxid >= zxid)
        return;
    while (h->len > 0 && (h->len == NODE_HISTORY_MAX || h->bytes + len > NODE_HISTORY_MAX_BYTES))
        history_pop(h);
    struct node_history_txn *t = &h->ring[(h->head + h->len) % NODE_HISTORY_MAX];
    t->zxid = zxid;
    t->len = len;
    t->data = mem_alloc(len ? len : 1);
    if (len)
        memcpy(t->data, txn, len);
    h->bytes += len;
    h->len++;
}

void node__history_clear(struct node *n)
{
    while (n->history->len > 0)
        history_pop(n->history);
    n->history->head = 0;
}

struct zab_txn *node__history_upto(const struct node *n, int64_t upto, size_t *len)
{
    const struct node_history *h = n->history;
    struct zab_txn *hist = mem_alloc((h->len ? h->len : 1) * sizeof(*hist));
    *len = 0;
    for (size_t i = 0; i < h->len; i++) {
        const struct node_history_txn *t = &h->ring[(h->head + i) % NODE_HISTORY_MAX];
        if (t->zxid > upto)
            break;
        hist[*len].zxid = t->zxid;
        hist[*len].data = jute_buf_of(t->data, t->len);
        (*len)++;
    }
    if (*len > 0 && hist[*len - 1].zxid != upto)
        *len = 0;
    return hist;
}

/* ---- TRUNC: cut the log after a zxid ---- */

struct cut_scan {
    int64_t zxid;
    size_t cut_at; /* offset of the first record after zxid; 0: none */
    bool found;
};

static int cut_record(void *ctx, const uint8_t *txn, size_t len, size_t off)
{
    (void)len; /* the scan checked it holds a TxnHeader */
    struct cut_scan *c = ctx;
    if (!c->found && (int64_t)be64_get(txn + 12) > c->zxid) {
        c->cut_at = off;
        c->found = true;
    }
    return 0;
}

int node__truncate_log(struct node *n, int64_t zxid, char *errmsg, size_t errlen)
{
    const struct fs *fs = fs_posix();
    struct storage_zxids logs, snaps;
    if (storage_list_zxids(fs, n->log_dir, "log", &logs, errmsg, errlen) < 0)
        return -1;
    int rc = 0;
    for (size_t i = logs.count; i > 0 && rc == 0; i--) {
        char path[STORAGE_PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/log.%" PRIx64, n->log_dir, (uint64_t)logs.zxids[i - 1]);
        if (logs.zxids[i - 1] > zxid) {
            rc = fs->unlink(fs->ctx, path);
            continue;
        }
        uint8_t *bytes;
        size_t len;
        rc = fs->read_file(fs->ctx, path, &bytes, &len);
        if (rc < 0)
            break;
        struct cut_scan c = {.zxid = zxid};
        struct txnlog_scan scan;
        txnlog_scan(bytes, len, cut_record, &c, &scan);
        free(bytes);
        if (c.found)
            rc = fs->truncate(fs->ctx, path, c.cut_at);
        break;
    }
    mem_free(logs.zxids);
    if (rc < 0)
        return node__fail(errmsg, errlen, -1, "cutting %s: %s", n->log_dir, strerror(-rc));
    /* a snapshot past the cut would bring the cut txns back at recovery */
    if (storage_list_zxids(fs, n->snap_dir, "snapshot", &snaps, errmsg, errlen) < 0)
        return -1;
    for (size_t i = 0; i < snaps.count && rc == 0; i++) {
        if (snaps.zxids[i] <= zxid)
            continue;
        char path[STORAGE_PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/snapshot.%" PRIx64, n->snap_dir, (uint64_t)snaps.zxids[i]);
        rc = fs->unlink(fs->ctx, path);
    }
    mem_free(snaps.zxids);
    if (rc < 0)
        return node__fail(errmsg, errlen, -1, "removing snapshots after 0x%" PRIx64 ": %s",
                          (uint64_t)zxid, strerror(-rc));
    n->log_appended_zxid = zxid;
    return 0;
}
