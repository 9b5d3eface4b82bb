/* SPDX-License-Identifier: Apache-2.0 */
/* Start-up: make the data dirs this server's (lock, then remove the
 * temporaries dead writers left), load the newest valid snapshot, replay the
 * txn log after it, check the epoch files, cut torn tails and padding. Runs
 * before the loop does; not the log thread (log_writer.c) nor snapshots. */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "node/config.h"
#include "node/node.h"
#include "node/node_int.h"
#include "server/server.h"
#include "storage/dirlock.h"
#include "storage/epoch.h"
#include "storage/fs.h"
#include "storage/purge.h"
#include "storage/snapfile.h"
#include "storage/snapz.h"
#include "storage/txnlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

/* replayed txns that did not apply cleanly: how many are logged one by one */
#define NODE_REPLAY_MISMATCH_LOGGED 10

/* java.io.File.getAbsolutePath: relative paths hang off the working
 * directory; repeated and trailing slashes go. */
void node__absolute_dir(const char *path, const char *suffix, char *out, size_t size)
{
    struct buf b;
    buf_init(&b);
    if (path[0] != '/') {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)))
            buf_printf(&b, "%s/", cwd);
    }
    buf_printf(&b, "%s/%s", path, suffix);
    size_t w = 0;
    for (size_t r = 0; r < b.len; r++) {
        if (b.data[r] == '/' && w > 0 && out[w - 1] == '/')
            continue;
        if (w + 1 < size)
            out[w++] = (char)b.data[r];
    }
    while (w > 1 && out[w - 1] == '/')
        w--;
    out[w] = '\0';
    buf_deinit(&b);
}

static void log_removed_temporary(void *ctx, const char *path)
{
    (void)ctx;
    LOG_W("Removed stale temporary file %s (a snapshot whose writer stopped before finishing it)",
          path);
}

/* Make dataDir and dataLogDir this server's (dirlock.h), then clear what
 * dead writers left in them: with the lock held, no live process writes a
 * temporary there. */
int node__claim_dirs(struct node *n, char *errmsg, size_t errlen)
{
    const struct fs *fs = fs_posix();
    char data_dir[CONFIG_PATH_MAX + 16], log_dir[CONFIG_PATH_MAX + 16];
    node__absolute_dir(n->cfg.data_dir, "", data_dir, sizeof(data_dir));
    node__absolute_dir(n->cfg.data_log_dir, "", log_dir, sizeof(log_dir));
    uint64_t token = (uint64_t)node__wall_now_ms() * UINT64_C(0x9e3779b97f4a7c15) ^ uv_hrtime() ^
                     (uint64_t)(uintptr_t)n;
    int64_t pid = (int64_t)getpid();
    char why[CONFIG_PATH_MAX + 256];
    int rc = dirlock_acquire(&n->data_lock, fs, data_dir, pid, token, why, sizeof(why));
    if (rc == 0)
        rc = dirlock_acquire(&n->log_lock, fs, log_dir, pid, token, why, sizeof(why));
    if (rc < 0)
        return node__fail(errmsg, errlen, rc == DIRLOCK_ERR_HELD ? NODE_ERR_LOCKED : NODE_ERR_DATA,
                          "%s", why);
    rc = storage_remove_temporaries(fs, n->snap_dir, log_removed_temporary, n, why, sizeof(why));
    if (rc >= 0 && strcmp(n->log_dir, n->snap_dir) != 0)
        rc = storage_remove_temporaries(fs, n->log_dir, log_removed_temporary, n, why, sizeof(why));
    if (rc < 0)
        return node__fail(errmsg, errlen, NODE_ERR_DATA, "%s", why);
    return 0;
}

/* ---- epochs: currentEpoch and acceptedEpoch (QuorumPeer.loadDataBase) ---- */

/* Reads one epoch file, creating it from the data's epoch when missing. */
static int node_epoch_file(struct node *n, const char *name, int64_t zxid_epoch, int64_t *out,
                           char *errmsg, size_t errlen)
{
    const struct fs *fs = fs_posix();
    char why[STORAGE_PATH_MAX + 256];
    int rc = epoch_read(fs, n->snap_dir, name, out, why, sizeof(why));
    if (rc == 0)
        return 0;
    if (rc != -ENOENT)
        return node__fail(errmsg, errlen, NODE_ERR_DATA, "%s. Refusing to start", why);
    *out = zxid_epoch;
    LOG_I("%s not found! Creating with a reasonable default of %" PRId64
          ". This should only happen when you are upgrading your installation",
          name, zxid_epoch);
    if (epoch_write(fs, n->snap_dir, name, zxid_epoch, why, sizeof(why)) < 0)
        return node__fail(errmsg, errlen, NODE_ERR_DATA, "%s", why);
    return 0;
}

/* The epoch files may not be older than the data they sit with: that would
 * let an ensemble reuse zxids. A standalone server never changes them; it
 * keeps them so that the data dir can join an ensemble or go to ZooKeeper. */
static int node_load_epochs(struct node *n, int64_t last_zxid, char *errmsg, size_t errlen)
{
    int64_t zxid_epoch = (int64_t)((uint64_t)last_zxid >> 32);
    int64_t current, accepted;
    int rc = node_epoch_file(n, EPOCH_CURRENT, zxid_epoch, &current, errmsg, errlen);
    if (rc < 0)
        return rc;
    if (zxid_epoch > current) {
        /* a crash between writing currentEpoch.tmp and its rename */
        const struct fs *fs = fs_posix();
        char why[STORAGE_PATH_MAX + 256];
        int64_t pending;
        rc = epoch_read(fs, n->snap_dir, EPOCH_CURRENT ".tmp", &pending, why, sizeof(why));
        if (rc == 0 && pending >= zxid_epoch) {
            LOG_I("%s/" EPOCH_CURRENT ".tmp found. Setting current epoch to %" PRId64, n->snap_dir,
                  pending);
            if (epoch_write(fs, n->snap_dir, EPOCH_CURRENT, pending, why, sizeof(why)) < 0)
                return node__fail(errmsg, errlen, NODE_ERR_DATA, "%s", why);
            current = pending;
        } else {
            return node__fail(errmsg, errlen, NODE_ERR_DATA,
                              "The current epoch, %" PRId64 " (%s/" EPOCH_CURRENT
                              "), is older than the last zxid, 0x%" PRIx64 " (epoch %" PRId64
                              "): the epoch files are not those of this data. Refusing to start; "
                              "nothing was changed",
                              current, n->snap_dir, (uint64_t)last_zxid, zxid_epoch);
        }
    }
    rc = node_epoch_file(n, EPOCH_ACCEPTED, zxid_epoch, &accepted, errmsg, errlen);
    if (rc < 0)
        return rc;
    if (accepted < current)
        return node__fail(errmsg, errlen, NODE_ERR_DATA,
                          "The accepted epoch, %" PRId64 " (%s/" EPOCH_ACCEPTED
                          "), is less than the current epoch, %" PRId64 ". Refusing to start",
                          accepted, n->snap_dir, current);
    LOG_D("currentEpoch %" PRId64 ", acceptedEpoch %" PRId64, current, accepted);
    n->current_epoch = current;
    n->accepted_epoch = accepted;
    return 0;
}

/* ---- recovery: newest valid snapshot, then the log after it ---- */

/* The zxids of dir's "<prefix>.<zxid>" files, ascending. */
static int node_list(const char *dir, const char *prefix, struct storage_zxids *out, char *errmsg,
                     size_t errlen)
{
    int rc = storage_list_zxids(fs_posix(), dir, prefix, out, errmsg, errlen);
    return rc < 0 ? NODE_ERR_DATA : 0;
}

struct replay_ctx {
    struct node *n;
    struct server *server; /* what the txns apply to */
    bool dry;              /* a check: n's history is left alone */
    int64_t last_zxid;
    int64_t now_ms;
    int64_t count;
    int64_t mismatched; /* txns that did not apply cleanly */
    const char *path;   /* the log file being read */
    char errmsg[512];
    size_t err_off;
    bool failed;
};

static int replay_record(void *ctx, const uint8_t *txn, size_t len, size_t off)
{
    struct replay_ctx *r = ctx;
    int64_t zxid = (int64_t)be64_get(txn + 12);
    if (!r->dry && r->n->history)
        node__history_push(r->n, zxid, txn, len);
    if (zxid <= r->last_zxid)
        return 0; /* in the snapshot already */
    /* zxids within an epoch have no holes: a hole is a missing log file */
    if (zxid > r->last_zxid + 1 && (uint64_t)zxid >> 32 == (uint64_t)r->last_zxid >> 32) {
        snprintf(r->errmsg, sizeof(r->errmsg),
                 "txn 0x%" PRIx64 " follows 0x%" PRIx64 ": the txns between them are in no log "
                 "file (was a log removed?)",
                 (uint64_t)zxid, (uint64_t)r->last_zxid);
        r->failed = true;
        r->err_off = off;
        return 1;
    }
    char why[256];
    int rc = server_replay_txn(r->server, txn, len, r->now_ms, why, sizeof(why));
    if (rc < 0) {
        snprintf(r->errmsg, sizeof(r->errmsg), "%s", why);
        r->failed = true;
        r->err_off = off;
        return 1;
    }
    if (rc > 0 && r->mismatched++ < NODE_REPLAY_MISMATCH_LOGGED)
        LOG_I("Replaying %s (offset %zu): %s; applied as far as it goes (normal after a "
              "snapshot taken while writes went on, as ZooKeeper's are)",
              r->path, off, why);
    r->last_zxid = zxid;
    r->count++;
    return 0;
}

/* The snapshot file of zxid: plain, else .gz, else .snappy (SnapStream);
 * a compressed one decompressed. */
static int node_read_snapshot(struct node *n, int64_t zxid, char *path, size_t pathlen,
                              uint8_t **bytes, size_t *len, char *why, size_t whylen)
{
    const struct fs *fs = fs_posix();
    int rc = -ENOENT;
    enum snapz_kind kind = SNAPZ_PLAIN;
    for (int k = 0; k < SNAPZ_KINDS && rc == -ENOENT; k++) {
        kind = (enum snapz_kind)k;
        snprintf(path, pathlen, "%s/snapshot.%" PRIx64 "%s", n->snap_dir, (uint64_t)zxid,
                 snapz_suffix(kind));
        rc = fs->read_file(fs->ctx, path, bytes, len);
    }
    if (rc < 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(-rc));
        return -1;
    }
    if (kind == SNAPZ_PLAIN)
        return 0;
    uint8_t *plain;
    size_t plain_len;
    char err[512];
    rc = snapz_decompress(kind, *bytes, *len, SNAPZ_MAX_OUT, &plain, &plain_len, err, sizeof(err));
    free(*bytes);
    if (rc < 0) {
        snprintf(why, whylen, "%s: %s", path, err);
        return -1;
    }
    LOG_I("%s: %zu bytes uncompressed", path, plain_len);
    *bytes = plain;
    *len = plain_len;
    return 0;
}

static int node_load_snapshot(struct node *n, struct server *s, int64_t zxid, char *why,
                              size_t whylen)
{
    char path[STORAGE_PATH_MAX + 64];
    uint8_t *bytes;
    size_t len;
    if (node_read_snapshot(n, zxid, path, sizeof(path), &bytes, &len, why, whylen) < 0)
        return -1;
    int rc = -1;
    char err[512];
    size_t consumed;
    if (!snapfile_looks_valid(bytes, len)) {
        snprintf(why, whylen, "%s: incomplete (does not end with a seal)", path);
    } else if (snapfile_check_header(bytes, len, err, sizeof(err)) < 0) {
        snprintf(why, whylen, "%s: %s", path, err);
    } else if (server_load_snapshot(s, bytes + SNAP_HEADER_LEN, len - SNAP_HEADER_LEN, &consumed,
                                    node__now_ms(n), err, sizeof(err)) < 0) {
        snprintf(why, whylen, "%s: %s", path, err);
    } else if (snapfile_check_seal(bytes, len, SNAP_HEADER_LEN + consumed, err, sizeof(err)) < 0) {
        snprintf(why, whylen, "%s: %s", path, err);
    } else {
        rc = 0;
    }
    free(bytes);
    return rc;
}

/* Logs still preallocated (the one being written at a crash, or one whose
 * roll did not get to give its padding back) are cut at their last record:
 * no log is written to again, so the zeros only take disk. Failing costs
 * disk, not data: a warning. */
static void node_trim_logs(struct node *n, const struct storage_zxids *logs,
                           const size_t *padded_len)
{
    const struct fs *fs = fs_posix();
    for (size_t i = 0; i < logs->count; i++) {
        if (padded_len[i] == 0)
            continue;
        char path[STORAGE_PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/log.%" PRIx64, n->log_dir, (uint64_t)logs->zxids[i]);
        int rc = fs->truncate(fs->ctx, path, padded_len[i]);
        if (rc < 0)
            LOG_W("cannot give back the preallocated end of %s: %s", path, strerror(-rc));
        else
            LOG_D("%s cut to its last record (%zu bytes)", path, padded_len[i]);
    }
}

/* The first `limit` bytes of path (fewer if it is shorter) into a malloc'd
 * buffer (free with free). 0 or a negative errno. */
static int read_prefix(const char *path, size_t limit, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint8_t *b = malloc(limit ? limit : 1);
    if (!b) {
        (void)close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < limit) {
        ssize_t r = pread(fd, b + got, limit - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            free(b);
            (void)close(fd);
            return e;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    (void)close(fd);
    *out = b;
    *len = got;
    return 0;
}

/* FileTxnSnapLog.restore into *sp. Nothing on disk changes unless recovery
 * succeeds; then a torn tail of the last log is cut off, and the zero
 * padding of the others. A dry run (a check of the tree an ensemble member
 * kept) changes nothing on disk nor in n, and reads no epoch file. */
static int recover_into(struct node *n, struct server **sp, bool dry, char *errmsg, size_t errlen)
{
    int64_t started_ms = node__now_ms(n);
    if (!dry && n->history)
        node__history_clear(n);
    struct storage_zxids snaps, logs;
    size_t *padded_len = NULL;
    int rc = node_list(n->snap_dir, "snapshot", &snaps, errmsg, errlen);
    if (rc < 0)
        return rc;
    rc = node_list(n->log_dir, "log", &logs, errmsg, errlen);
    if (rc < 0)
        goto out_snaps;

    int64_t snap_zxid = -1;
    for (size_t i = snaps.count; i > 0; i--) {
        int64_t zxid = snaps.zxids[i - 1];
        LOG_I("Reading snapshot %s/snapshot.%" PRIx64, n->snap_dir, (uint64_t)zxid);
        char why[STORAGE_PATH_MAX + 1024];
        if (node_load_snapshot(n, *sp, zxid, why, sizeof(why)) == 0) {
            snap_zxid = zxid;
            break;
        }
        LOG_W("problem reading snap file: %s; trying an older one", why);
        server_free(*sp);
        *sp = node__server_new(n);
    }
    if (snaps.count > 0 && snap_zxid < 0) {
        rc = node__fail(errmsg, errlen, NODE_ERR_DATA, "Not able to find valid snapshots in %s",
                        n->snap_dir);
        goto out_logs;
    }
    if (snap_zxid >= 0)
        server_set_last_zxid(*sp, snap_zxid);

    /* FileTxnLog.getLogFiles: the newest file starting at or before the
     * snapshot's zxid, and every later one. */
    size_t first = 0;
    for (size_t i = 0; i < logs.count; i++)
        if (logs.zxids[i] <= snap_zxid)
            first = i;
    struct replay_ctx r = {.n = n,
                           .server = *sp,
                           .dry = dry,
                           .last_zxid = snap_zxid < 0 ? 0 : snap_zxid,
                           .now_ms = node__now_ms(n)};
    char torn_path[STORAGE_PATH_MAX + 64] = "";
    size_t torn_len = 0;
    /* clean logs that still have their preallocation: cut after recovery */
    padded_len = mem_calloc(logs.count + 1, sizeof(*padded_len));
    for (size_t i = first; i < logs.count; i++) {
        char path[STORAGE_PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/log.%" PRIx64, n->log_dir, (uint64_t)logs.zxids[i]);
        const struct fs *fs = fs_posix();
        uint8_t *bytes;
        size_t len;
        /* a check's read of the file being written stops where the writer
         * is: its preallocated zeros are tens of MB (the thread is idle) */
        bool written = dry && n->log.writer.fd >= 0 && strcmp(path, n->log.writer.path) == 0;
        int frc = written ? read_prefix(path, (size_t)n->log.writer.pos, &bytes, &len)
                          : fs->read_file(fs->ctx, path, &bytes, &len);
        if (frc < 0) {
            rc = node__fail(errmsg, errlen, NODE_ERR_DATA, "cannot read %s: %s", path,
                            strerror(-frc));
            goto out_logs;
        }
        struct txnlog_scan scan;
        r.path = path;
        txnlog_scan(bytes, len, replay_record, &r, &scan);
        size_t nonzero = 0;
        while (nonzero < len && bytes[nonzero] == 0)
            nonzero++;
        bool only_zeros = nonzero == len;
        free(bytes);
        if (r.failed) {
            rc = node__fail(errmsg, errlen, NODE_ERR_DATA,
                            "%s: cannot apply the record at offset %zu: %s. Refusing to start; "
                            "nothing was changed on disk",
                            path, r.err_off, r.errmsg);
            goto out_logs;
        }
        bool last = i + 1 == logs.count;
        if (scan.end == TXNLOG_END_CLEAN) {
            if (len > scan.good_len)
                padded_len[i] = scan.good_len;
            continue;
        }
        if (last && scan.end == TXNLOG_END_HEADER && only_zeros &&
            logs.zxids[i] == r.last_zxid + 1) {
            /* the file the log rolled to (it starts right after the last
             * txn recovered), created and preallocated, but not even its
             * header reached the disk: nothing in it was ever synced */
            LOG_W("%s holds only zeros (%zu bytes): a log file created just before a crash, "
                  "with nothing acknowledged in it; removing it",
                  path, len);
            snprintf(torn_path, sizeof(torn_path), "%s", path);
            torn_len = 0;
            continue;
        }
        if (last && scan.end == TXNLOG_END_TORN) {
            LOG_W("%s: torn tail at offset %zu (%s): truncating to the last complete record "
                  "(%zu bytes); those txns were never acknowledged",
                  path, scan.bad_off, scan.reason, scan.good_len);
            snprintf(torn_path, sizeof(torn_path), "%s", path);
            torn_len = scan.good_len;
            continue;
        }
        rc = node__fail(errmsg, errlen, NODE_ERR_DATA,
                        "%s is damaged at offset %zu: %s. Refusing to start; nothing was changed "
                        "on disk (restore the file from a backup, or move it and every later "
                        "log away to lose the txns in them)",
                        path, scan.end == TXNLOG_END_HEADER ? 0 : scan.bad_off, scan.reason);
        goto out_logs;
    }
    if (dry) {
        server_set_last_zxid(*sp, r.last_zxid);
        rc = 0;
        goto out_logs;
    }
    rc = node_load_epochs(n, r.last_zxid, errmsg, errlen);
    if (rc < 0)
        goto out_logs;
    if (torn_path[0]) {
        const struct fs *fs = fs_posix();
        int trc = torn_len <= TXNLOG_HEADER_LEN ? fs->unlink(fs->ctx, torn_path)
                                                : fs->truncate(fs->ctx, torn_path, torn_len);
        if (trc < 0) {
            rc = node__fail(errmsg, errlen, NODE_ERR_DATA, "cannot cut the torn tail of %s: %s",
                            torn_path, strerror(-trc));
            goto out_logs;
        }
    }
    node_trim_logs(n, &logs, padded_len);
    if (r.mismatched > 0)
        LOG_W("%" PRId64 " replayed txns did not apply cleanly (the first %d are logged above): "
              "expected after a snapshot written under load by ZooKeeper; with czk's own "
              "snapshots it means the snapshot and the log disagree",
              r.mismatched, NODE_REPLAY_MISMATCH_LOGGED);
    server_set_last_zxid(*sp, r.last_zxid);
    n->log_persisted_zxid = r.last_zxid;
    n->log_appended_zxid = r.last_zxid;
    n->log.persisted_zxid = r.last_zxid;
    LOG_I("Snapshot loaded in %" PRId64 " ms, highest zxid is 0x%" PRIx64 " (%" PRId64
          " txns replayed from the log)",
          node__now_ms(n) - started_ms, (uint64_t)r.last_zxid, r.count);
    /* ZooKeeperServer.loadData ends with a snapshot, so that the data dir
     * always holds one (ZooKeeper refuses logs without a snapshot). */
    bool have = false;
    for (size_t i = 0; i < snaps.count; i++)
        if (snaps.zxids[i] == r.last_zxid && snap_zxid == r.last_zxid)
            have = true;
    n->snap_wanted = !have;
    rc = 0;
out_logs:
    mem_free(padded_len);
    mem_free(logs.zxids);
out_snaps:
    mem_free(snaps.zxids);
    return rc;
}

int node__recover(struct node *n, char *errmsg, size_t errlen)
{
    return recover_into(n, &n->server, false, errmsg, errlen);
}

int node__recover_check(struct node *n, struct server **out, char *errmsg, size_t errlen)
{
    *out = node__server_new(n);
    int rc = recover_into(n, out, true, errmsg, errlen);
    if (rc < 0) {
        server_free(*out);
        *out = NULL;
    }
    return rc;
}
