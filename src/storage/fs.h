/* SPDX-License-Identifier: Apache-2.0 */
/* fs.h — the disk interface under the txn log and snapshots: the few file
 * operations durability needs, as a table of functions so that tests and the
 * simulator can swap in a disk that loses unsynced writes, tears them or
 * fails. fs_posix() is the real one (fs_posix.c is the only file that makes
 * these syscalls). Every function returns 0 (or a count) or a negative errno. */
#ifndef CZK_STORAGE_FS_H
#define CZK_STORAGE_FS_H

#include <stddef.h>
#include <stdint.h>

/* Called once per directory entry by fs.list; names are borrowed. */
typedef void fs_list_fn(void *ctx, const char *name);

struct fs {
    void *ctx;
    /* flags: FS_CREATE (create or truncate), else open an existing file for
     * reading and writing. Returns a descriptor >= 0. */
    int (*open)(void *ctx, const char *path, int flags);
    int (*close)(void *ctx, int fd);
    /* Writes all of len bytes at off (retrying short writes). */
    int (*pwrite)(void *ctx, int fd, const void *p, size_t len, uint64_t off);
    /* Reserves [off, off + len) so later writes there need no metadata
     * change; the file grows, reading zeros. */
    int (*allocate)(void *ctx, int fd, uint64_t off, uint64_t len);
    int (*fdatasync)(void *ctx, int fd);
    /* Optional (may be NULL): start writing [off, off + len) back to the
     * device, and with `wait` also wait until it is there (no metadata;
     * sync_file_range). A large file written this way never leaves a pile of
     * dirty pages for another file's fsync to wait behind. */
    int (*writeback)(void *ctx, int fd, uint64_t off, uint64_t len, int wait);
    /* Cut the file at path to len bytes (or extend it with zeros), durably. */
    int (*truncate)(void *ctx, const char *path, uint64_t len);
    /* Optional (may be NULL): cut an open file to len bytes, giving back the
     * blocks after it; not synced (a crash may keep the old length). */
    int (*ftruncate)(void *ctx, int fd, uint64_t len);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*fsync_dir)(void *ctx, const char *dir);
    /* Reads a whole file into *out (free with free()); *len its size. */
    int (*read_file)(void *ctx, const char *path, uint8_t **out, size_t *len);
    int (*list)(void *ctx, const char *dir, fs_list_fn *fn, void *fn_ctx);
    /* Optional (may be NULL): create path if missing and take an exclusive
     * lock on it, held while the returned descriptor is open (flock(2): by
     * the open file, so a fork()ed child that closes its copy keeps nothing
     * locked); then replace its contents with `text`. If another open file
     * holds the lock: -EWOULDBLOCK, and the file's contents (what its holder
     * wrote) in holder, NUL-terminated. */
    int (*lock)(void *ctx, const char *path, const char *text, char *holder, size_t holder_len);
};

enum { FS_CREATE = 1 };

const struct fs *fs_posix(void);

#endif
