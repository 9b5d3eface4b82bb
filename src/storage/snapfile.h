/* SPDX-License-Identifier: Apache-2.0 */
/* snapfile.h — ZooKeeper's snapshot file (FileSnap, SnapStream), without
 * its contents: snapshot.<hex zxid> in dataDir/version-2 holds a FileHeader
 * ("ZKSN", version 2, dbid -1), the body (sessions and the data tree, written
 * by server_snapshot_write), a seal (long Adler-32 of every byte before it,
 * then the string "/"), a ZxidDigest (long zxid, int version, long digest)
 * and a second seal. czk writes an empty ZxidDigest (zxid 0), as ZooKeeper
 * does when it has no digest, so ZooKeeper skips the digest comparison.
 * Written to tmp.snapshot.<hex zxid>.<pid>.<n> (a name no other process
 * or snapshot uses), synced, renamed, the directory synced. */
#ifndef CZK_STORAGE_SNAPFILE_H
#define CZK_STORAGE_SNAPFILE_H

#include "storage/fs.h"
#include "storage/txnlog.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC          0x5a4b534e /* "ZKSN" */
#define SNAP_DBID           (-1)
#define SNAP_HEADER_LEN     16
#define SNAP_DIGEST_VERSION 2
#define SNAP_WRITE_BUF      (256 * 1024)
/* Write-behind: each chunk of this size is pushed to the device as soon as it
 * is written, and the one before it waited for, so at most two chunks of
 * the snapshot are ever dirty or in flight: a log fsync meanwhile waits
 * behind a few ms of snapshot I/O, not the whole file. */
#define SNAP_WRITEBACK_CHUNK (1024 * 1024)

struct snapfile_writer {
    const struct fs *fs;
    int fd;
    int err; /* first error, negative errno */
    uint64_t off;
    uint64_t pushed; /* written back up to here (started) */
    uint64_t synced; /* and waited for up to here */
    uint32_t adler;
    size_t used;
    uint8_t *buf;  /* SNAP_WRITE_BUF bytes (compressed ones when deflating) */
    void *deflate; /* a zlib stream writing gzip, or NULL for a plain file */
    bool tmp_exists;
    char dir[STORAGE_PATH_MAX];
    char tmp_path[STORAGE_PATH_MAX + 96];
    char path[STORAGE_PATH_MAX + 48];
    char errmsg[STORAGE_PATH_MAX + 160];
};

/* Create the temporary file and write the header. `gzip`: the file is
 * snapshot.<zxid>.gz, a gzip stream of the same bytes (SnapStream).
 * `pid` and `seq` make the temporary's name: the writing process's id and
 * a number that process never gives two snapshots, so no two writers (a
 * server's child and the child of a server started after it, say) share a
 * temporary file. */
int snapfile_begin(struct snapfile_writer *w, const struct fs *fs, const char *dir, int64_t zxid,
                   bool gzip, int64_t pid, uint64_t seq) __attribute__((warn_unused_result));
/* A sink for the body (server_snapshot_write); errors are kept for commit. */
void snapfile_write(void *w, const void *p, size_t len);
/* Seal, sync and close the temporary file. On failure the temporary file
 * is removed and w->errmsg says why. */
int snapfile_finish(struct snapfile_writer *w) __attribute__((warn_unused_result));
/* After snapfile_finish: rename into place, sync the directory. On failure
 * the temporary file is removed and w->errmsg says why. */
int snapfile_publish(struct snapfile_writer *w) __attribute__((warn_unused_result));
/* snapfile_finish, then snapfile_publish. */
int snapfile_commit(struct snapfile_writer *w) __attribute__((warn_unused_result));
/* Give up at any point before the rename: the temporary file is removed. */
void snapfile_abort(struct snapfile_writer *w);

/* ---- reading (pure) ---- */

/* ZooKeeper's SnapStream.isValidSnapshot: long enough and ending in the
 * string "/" (the last seal). */
bool snapfile_looks_valid(const uint8_t *p, size_t len);
/* The header is ZKSN version 2: returns SNAP_HEADER_LEN, or -1 with errmsg. */
int snapfile_check_header(const uint8_t *p, size_t len, char *errmsg, size_t errlen);
/* The body ended at `off`: check the seal there and the digest and second
 * seal after it, if present. 0, or -1 with errmsg. */
int snapfile_check_seal(const uint8_t *p, size_t len, size_t off, char *errmsg, size_t errlen);

#endif
