/* SPDX-License-Identifier: Apache-2.0 */
/* The epoch files (see epoch.h). ZooKeeper reads the first line and parses
 * it as a Java long; anything else there is refused, never guessed. */
#include "storage/epoch.h"

#include "storage/txnlog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPOCH_TEXT_MAX 64

int epoch_read(const struct fs *fs, const char *dir, const char *name, int64_t *out, char *errmsg,
               size_t errlen)
{
    char path[STORAGE_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    uint8_t *bytes;
    size_t len;
    int rc = fs->read_file(fs->ctx, path, &bytes, &len);
    if (rc < 0) {
        snprintf(errmsg, errlen, "cannot read %s: %s", path, strerror(-rc));
        return rc;
    }
    /* the first line, as BufferedReader.readLine */
    size_t line = 0;
    while (line < len && bytes[line] != '\n' && bytes[line] != '\r')
        line++;
    char text[EPOCH_TEXT_MAX + 1];
    size_t shown = line < EPOCH_TEXT_MAX ? line : EPOCH_TEXT_MAX;
    memcpy(text, bytes, shown);
    text[shown] = '\0';
    free(bytes);
    bool ok = line > 0 && line <= EPOCH_TEXT_MAX && memchr(text, '\0', shown) == NULL;
    const char *digits = text + (text[0] == '-' || text[0] == '+');
    for (const char *c = digits; ok && *c; c++)
        ok = *c >= '0' && *c <= '9';
    ok = ok && *digits;
    if (ok) {
        errno = 0;
        long long v = strtoll(text, NULL, 10);
        ok = errno == 0;
        *out = (int64_t)v;
    }
    if (!ok) {
        for (size_t i = 0; i < shown; i++)
            if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] >= 0x7f)
                text[i] = '?';
        snprintf(errmsg, errlen, "Found \"%s%s\" in %s, not an epoch number", text,
                 line > shown ? "..." : "", path);
        return -EINVAL;
    }
    return 0;
}

int epoch_write(const struct fs *fs, const char *dir, const char *name, int64_t value, char *errmsg,
                size_t errlen)
{
    char path[STORAGE_PATH_MAX + 32], tmp[STORAGE_PATH_MAX + 40];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    char text[32];
    int len = snprintf(text, sizeof(text), "%" PRId64, value);
    const char *step = "create", *what = tmp;
    int fd = fs->open(fs->ctx, tmp, FS_CREATE);
    int rc = fd;
    if (fd >= 0) {
        step = "write";
        rc = fs->pwrite(fs->ctx, fd, text, (size_t)len, 0);
        if (rc >= 0) {
            step = "sync";
            rc = fs->fdatasync(fs->ctx, fd);
        }
        int crc = fs->close(fs->ctx, fd);
        if (rc >= 0 && crc < 0) {
            step = "close";
            rc = crc;
        }
    }
    if (rc >= 0) {
        step = "rename";
        what = path;
        rc = fs->rename(fs->ctx, tmp, path);
    }
    if (rc >= 0) {
        step = "sync the directory of";
        rc = fs->fsync_dir(fs->ctx, dir);
    }
    if (rc < 0) {
        snprintf(errmsg, errlen, "cannot %s %s: %s", step, what, strerror(-rc));
        if (fd >= 0 && what == tmp)
            (void)fs->unlink(fs->ctx, tmp);
        return rc;
    }
    return 0;
}
