/* SPDX-License-Identifier: Apache-2.0 */
/* The log thread and its hand-off: the loop frames each txn as a log record
 * and hands over one batch per iteration (the group-commit point); the thread
 * writes it, rolls files, fsyncs once per batch and reports back, or refuses
 * the batch when the disk is full. Not the log format (src/storage/txnlog.c). */
#include "base/buf.h"
#include "base/log.h"
#include "node/node.h"
#include "node/node_int.h"
#include "server/server.h"
#include "storage/fs.h"
#include "storage/txnlog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

/* How often "disk full" is logged while writes keep being refused. */
#define NODE_DISK_FULL_LOG_MS 10000

/* ---- the loop's side ---- */

/* Frame the txn as a log record; the check phase hands this iteration's
 * records to the log thread at once (the group-commit point). */
void node__io_log_append(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct node *n = ctx;
    if (zxid > n->log_appended_zxid)
        n->log_appended_zxid = zxid;
    if (n->history)
        node__history_push(n, zxid, txn, len);
    txnlog_record_encode(&n->log_out, txn, len);
    n->log_batch_txns++;
    node__wake(n);
}

size_t node__log_queued(struct node *n)
{
    size_t queued = atomic_load_explicit(&n->log.queued_bytes, memory_order_relaxed);
    return queued + n->log_out.len;
}

/* Hand this iteration's records to the log thread. */
void node__log_handoff(struct node *n)
{
    if (n->log_out.len == 0)
        return;
    struct four_letter_counters *k = &n->counters;
    int64_t txns = n->log_batch_txns;
    k->batch_count++;
    k->batch_sum += txns;
    if (k->batch_count == 1 || txns < k->batch_min)
        k->batch_min = txns;
    if (txns > k->batch_max)
        k->batch_max = txns;
    n->log_batch_txns = 0;
    pthread_mutex_lock(&n->log.mu);
    n->log.queued_bytes += n->log_out.len;
    if (n->log.pending.len == 0) {
        struct buf t = n->log.pending;
        n->log.pending = n->log_out;
        n->log_out = t;
    } else {
        buf_append(&n->log.pending, n->log_out.data, n->log_out.len);
    }
    pthread_cond_signal(&n->log.cond);
    pthread_mutex_unlock(&n->log.mu);
    buf_clear(&n->log_out);
}

bool node__log_drained(struct node *n)
{
    if (n->log_out.len > 0)
        return false;
    pthread_mutex_lock(&n->log.mu);
    bool drained = n->log.pending.len == 0 && n->log.queued_bytes == 0 && !n->log.failed;
    pthread_mutex_unlock(&n->log.mu);
    return drained;
}

/* The log thread refused a batch for lack of space: drop what was handed
 * over after it (prepped on top of the refused txns), answer them all with
 * an error, and let the thread take new batches: each is tried afresh, so
 * writes resume by themselves once there is space. */
void node__log_failed(struct node *n)
{
    struct node_log *l = &n->log;
    char reason[sizeof(l->failed_reason)];
    char path[sizeof(l->writer.path)];
    pthread_mutex_lock(&l->mu);
    /* the thread leaves the writer alone while `failed` is set */
    int64_t from_zxid = l->failed_from_zxid;
    snprintf(reason, sizeof(reason), "%s", l->failed_reason);
    snprintf(path, sizeof(path), "%s", l->writer.path);
    l->queued_bytes -= l->pending.len;
    buf_clear(&l->pending);
    l->failed = false;
    pthread_mutex_unlock(&l->mu);
    buf_clear(&n->log_out);
    n->log_batch_txns = 0;
    int64_t handed_zxid = n->log_appended_zxid;
    n->log_appended_zxid = from_zxid - 1;
    int64_t now = node__now_ms(n);
    size_t refused;
    if (n->ens) {
        /* An ensemble member's role ends (on_check) and, the log drained,
         * its server is rebuilt from the data dir (ensemble.c's full
         * reload: a tree is never kept after a refused batch). Its tree
         * may already hold refused txns, committed by the others (a
         * learner applies a DIFF's commits as they come, a leader what a
         * quorum acked), so
         * server_log_failed's precondition does not hold: leave the server
         * alone. */
        refused = handed_zxid >= from_zxid ? (size_t)(handed_zxid - from_zxid + 1) : 0;
    } else {
        refused = server_log_failed(n->server, from_zxid, now);
    }
    if (n->disk_full && now - n->disk_full_logged_ms < NODE_DISK_FULL_LOG_MS) {
        n->disk_full_quiet_txns += (int64_t)refused;
        n->disk_full_quiet_batches++;
        return;
    }
    char since[128] = "";
    if (n->disk_full_quiet_batches > 0)
        snprintf(since, sizeof(since),
                 " [%" PRId64 " more txns in %" PRId64 " batches refused since the last message]",
                 n->disk_full_quiet_txns, n->disk_full_quiet_batches);
    LOG_E("disk full writing %s: %zu txns from zxid 0x%" PRIx64
          " refused; writes fail until space returns (%s)%s",
          path, refused, (uint64_t)from_zxid, reason, since);
    n->disk_full = true;
    n->disk_full_logged_ms = now;
    n->disk_full_quiet_txns = 0;
    n->disk_full_quiet_batches = 0;
}

/* ---- the log thread ---- */

static void log_fatal(struct node_log *l) __attribute__((noreturn));

/* A failed fsync, or a failed write other than a full disk, is never
 * retried (DESIGN.md "Durability rules"): nothing after it can be
 * acknowledged honestly. A full disk is not fatal: the writer puts the file
 * back as it was and the batch is refused (node__log_failed). */
static void log_fatal(struct node_log *l)
{
    LOG_E("Fatal error in the txn log, stopping the server: %s", l->writer.errmsg);
    _exit(3);
}

static int64_t log_roll_after(struct node_log *l)
{
    /* xorshift64: the thread's own randomness, no locks, no allocation */
    l->rng ^= l->rng << 13;
    l->rng ^= l->rng >> 7;
    l->rng ^= l->rng << 17;
    int64_t half = l->snap_count / 2;
    return half + (half > 0 ? (int64_t)(l->rng % (uint64_t)half) : 0);
}

/* Append one run of records to the current file. False if the disk is full
 * (the records are not in the log); any other failure is fatal. */
static bool log_append(struct node_log *l, const uint8_t *p, size_t len)
{
    int rc = txnlog_writer_append(&l->writer, p, len, txnlog_record_zxid(p));
    if (rc == TXNLOG_ERR_FULL)
        return false;
    if (rc < 0)
        log_fatal(l);
    return true;
}

/* Write one batch of whole records, rolling to a new file when the current
 * one holds more than roll_after txns; *rolls counts the rolls. Returns the
 * length written: less than len if the disk filled up, and the records from
 * there on are not in the log (those before it are, synced by the roll). */
static size_t log_write_batch(struct node_log *l, const uint8_t *p, size_t len, uint64_t *rolls)
{
    size_t seg = 0, off = 0;
    int64_t seg_txns = 0;
    while (off < len) {
        if (l->txns_in_file > l->roll_after) {
            if (off > seg && !log_append(l, p + seg, off - seg)) {
                l->txns_in_file -= seg_txns;
                return seg;
            }
            if (txnlog_writer_roll(&l->writer) < 0)
                log_fatal(l);
            seg = off;
            seg_txns = 0;
            l->txns_in_file = 0;
            l->roll_after = log_roll_after(l);
            (*rolls)++;
        }
        l->txns_in_file++;
        seg_txns++;
        off += txnlog_record_len(p + off);
    }
    if (off > seg && !log_append(l, p + seg, off - seg)) {
        l->txns_in_file -= seg_txns;
        return seg;
    }
    return len;
}

/* The zxid of the last record in p[0, len), which holds whole records. */
static int64_t log_last_zxid(const uint8_t *p, size_t len)
{
    size_t off = 0, last = 0;
    while (off < len) {
        last = off;
        off += txnlog_record_len(p + off);
    }
    return txnlog_record_zxid(p + last);
}

static void *log_thread_main(void *arg)
{
    struct node_log *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while ((l->pending.len == 0 || l->failed) && !l->stop)
            pthread_cond_wait(&l->cond, &l->mu);
        if (l->pending.len == 0 || l->failed)
            break;
        struct buf t = l->writing;
        l->writing = l->pending;
        l->pending = t;
        pthread_mutex_unlock(&l->mu);

        uint64_t rolls = 0;
        size_t written = log_write_batch(l, l->writing.data, l->writing.len, &rolls);
        if (written == l->writing.len && l->force_sync && txnlog_writer_sync(&l->writer) < 0)
            log_fatal(l);

        pthread_mutex_lock(&l->mu);
        if (written > 0)
            l->persisted_zxid = log_last_zxid(l->writing.data, written);
        if (written < l->writing.len) {
            l->failed = true;
            l->failed_from_zxid = txnlog_record_zxid(l->writing.data + written);
            snprintf(l->failed_reason, sizeof(l->failed_reason), "%s", l->writer.errmsg);
        }
        l->queued_bytes -= l->writing.len;
        l->writing.len = 0;
        l->rolls += rolls;
        uv_async_send(&l->async);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

void node__on_log_async(uv_async_t *h)
{
    /* the check phase that follows this poll applies what was persisted */
    node__wake(h->data);
}

void node__log_stop(struct node *n)
{
    struct node_log *l = &n->log;
    if (!l->started)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    l->started = false;
    /* synced, and its preallocation given back, as at a roll */
    if (txnlog_writer_roll(&l->writer) < 0)
        LOG_E("%s", l->writer.errmsg);
    txnlog_writer_deinit(&l->writer);
}

int node__log_start(struct node *n, char *errmsg, size_t errlen)
{
    struct node_log *l = &n->log;
    l->snap_count = n->cfg.snap_count;
    l->force_sync = n->cfg.force_sync;
    l->rng = ((uint64_t)node__wall_now_ms() * UINT64_C(0x9e3779b97f4a7c15)) ^ (uint64_t)getpid();
    if (l->rng == 0)
        l->rng = 1;
    l->roll_after = log_roll_after(l);
    txnlog_writer_init(&l->writer, fs_posix(), n->log_dir, (uint64_t)n->cfg.prealloc_bytes);
    int rc = pthread_create(&l->thread, NULL, log_thread_main, l);
    if (rc != 0)
        return node__fail(errmsg, errlen, NODE_ERR_LOOP, "cannot start the log thread: %s",
                          strerror(rc));
    l->started = true;
    return 0;
}
