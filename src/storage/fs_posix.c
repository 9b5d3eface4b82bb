/* SPDX-License-Identifier: Apache-2.0 */
/* fs_posix.c — struct fs over POSIX: the only file in czk that opens, writes,
 * syncs, renames or lists files of the data directories. */
#include "storage/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int posix_open(void *ctx, const char *path, int flags)
{
    (void)ctx;
    int oflags = O_RDWR | O_CLOEXEC;
    if (flags & FS_CREATE)
        oflags |= O_CREAT | O_TRUNC;
    int fd = open(path, oflags, 0644);
    return fd < 0 ? -errno : fd;
}

static int posix_close(void *ctx, int fd)
{
    (void)ctx;
    return close(fd) != 0 ? -errno : 0;
}

static int posix_pwrite(void *ctx, int fd, const void *p, size_t len, uint64_t off)
{
    (void)ctx;
    const uint8_t *b = p;
    while (len > 0) {
        ssize_t w = pwrite(fd, b, len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        b += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int posix_allocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
    (void)ctx;
    if (len == 0)
        return 0;
    if (fallocate(fd, 0, (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS)
        return -errno;
    /* As ZooKeeper's FilePadding does: one zero byte at the new end. */
    static const uint8_t zero = 0;
    return posix_pwrite(ctx, fd, &zero, 1, off + len - 1);
}

static int posix_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    return fdatasync(fd) != 0 ? -errno : 0;
}

static int posix_truncate(void *ctx, const char *path, uint64_t len)
{
    (void)ctx;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (ftruncate(fd, (off_t)len) != 0 || fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int posix_ftruncate(void *ctx, int fd, uint64_t len)
{
    (void)ctx;
    return ftruncate(fd, (off_t)len) != 0 ? -errno : 0;
}

static int posix_lock(void *ctx, const char *path, const char *text, char *holder,
                      size_t holder_len)
{
    (void)ctx;
    if (holder_len)
        holder[0] = '\0';
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc;
    while ((rc = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        rc = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
        if (rc == -EWOULDBLOCK && holder_len) {
            ssize_t got = pread(fd, holder, holder_len - 1, 0);
            holder[got > 0 ? (size_t)got : 0] = '\0';
        }
        close(fd);
        return rc;
    }
    rc = ftruncate(fd, 0) != 0 ? -errno : posix_pwrite(ctx, fd, text, strlen(text), 0);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int posix_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    return rename(from, to) != 0 ? -errno : 0;
}

static int posix_unlink(void *ctx, const char *path)
{
    (void)ctx;
    return unlink(path) != 0 ? -errno : 0;
}

static int posix_fsync_dir(void *ctx, const char *dir)
{
    (void)ctx;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) != 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int posix_read_file(void *ctx, const char *path, uint8_t **out, size_t *len)
{
    (void)ctx;
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) != 0) {
        rc = -errno;
        goto err_close;
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *p = malloc(size ? size : 1);
    if (!p) {
        rc = -ENOMEM;
        goto err_close;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            free(p);
            goto err_close;
        }
        /* shorter than fstat said: cut meanwhile (a log is cut at its last
         * record when it is rolled); what was read is the file */
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *out = p;
    *len = got;
err_close:
    close(fd);
    return rc;
}

static int posix_list(void *ctx, const char *dir, fs_list_fn *fn, void *fn_ctx)
{
    (void)ctx;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            fn(fn_ctx, e->d_name);
    closedir(d);
    return 0;
}

static int posix_writeback(void *ctx, int fd, uint64_t off, uint64_t len, int wait)
{
    (void)ctx;
    unsigned flags = SYNC_FILE_RANGE_WRITE;
    if (wait)
        flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
    while (sync_file_range(fd, (off_t)off, (off_t)len, flags) != 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static const struct fs posix_fs = {
    .ctx = NULL,
    .open = posix_open,
    .close = posix_close,
    .pwrite = posix_pwrite,
    .allocate = posix_allocate,
    .fdatasync = posix_fdatasync,
    .writeback = posix_writeback,
    .truncate = posix_truncate,
    .ftruncate = posix_ftruncate,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .fsync_dir = posix_fsync_dir,
    .read_file = posix_read_file,
    .list = posix_list,
    .lock = posix_lock,
};

const struct fs *fs_posix(void)
{
    return &posix_fs;
}
