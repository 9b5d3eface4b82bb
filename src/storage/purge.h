/* SPDX-License-Identifier: Apache-2.0 */
/* purge.h — ZooKeeper's PurgeTxnLog: keep the `keep` newest snapshots and
 * the txn logs needed to replay from the oldest of them (every log starting
 * after it, and the newest log starting at or before it); delete the rest.
 * Both directories are version-2 directories. File I/O only through struct fs. */
#ifndef CZK_STORAGE_PURGE_H
#define CZK_STORAGE_PURGE_H

#include "storage/fs.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The zxids of the files "<prefix>.<zxid hex>" in dir, ascending; free
 * out->zxids with mem_free. Returns 0, or a negative errno with the reason
 * in errmsg. */
struct storage_zxids {
    const char *prefix;
    int64_t *zxids;
    size_t count;
    size_t cap;
};
int storage_list_zxids(const struct fs *fs, const char *dir, const char *prefix,
                       struct storage_zxids *out, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));

/* keep >= 3 as ZooKeeper requires. Returns the number of files deleted, or a
 * negative errno with the reason in errmsg (files deleted so far stay deleted:
 * each deletion leaves a recoverable directory). */
int storage_purge(const struct fs *fs, const char *snap_dir, const char *log_dir, int keep,
                  char *errmsg, size_t errlen) __attribute__((warn_unused_result));

/* A temporary file: "tmp.<anything>", a snapshot being written
 * (tmp.snapshot.<zxid>.<pid>.<n>). Readers of a live directory skip these;
 * ZooKeeper writes none and ignores them. */
bool storage_is_temporary(const char *name);

/* Called with the path of each temporary that storage_remove_temporaries
 * deleted (borrowed). */
typedef void storage_removed_fn(void *ctx, const char *path);

/* Delete every temporary in dir: left by a writer that died before renaming
 * it (a crash, a power loss). Only for a directory this process has locked
 * (dirlock.h), where no other process writes one. Returns how many were
 * deleted, or a negative errno with the reason in errmsg; a file that is
 * already gone is not an error. */
int storage_remove_temporaries(const struct fs *fs, const char *dir, storage_removed_fn *fn,
                               void *fn_ctx, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));

#endif
