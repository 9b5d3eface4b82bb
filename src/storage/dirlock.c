/* SPDX-License-Identifier: Apache-2.0 */
/* dirlock.c — the data directory lock (see dirlock.h). */
#include "storage/dirlock.h"

#include "storage/txnlog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define DIRLOCK_TEXT_MAX 64

int dirlock_acquire(struct dirlock *l, const struct fs *fs, const char *dir, int64_t pid,
                    uint64_t token, char *errmsg, size_t errlen)
{
    l->fd = -1;
    if (!fs->lock)
        return 0;
    char path[STORAGE_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, DIRLOCK_NAME);
    char text[DIRLOCK_TEXT_MAX], holder[DIRLOCK_TEXT_MAX];
    snprintf(text, sizeof(text), "%" PRId64 "\n%016" PRIx64 "\n", pid, token);
    int fd = fs->lock(fs->ctx, path, text, holder, sizeof(holder));
    if (fd >= 0) {
        l->fd = fd;
        return 0;
    }
    if (fd != -EWOULDBLOCK) {
        snprintf(errmsg, errlen, "cannot lock %s: %s", path, strerror(-fd));
        return fd;
    }
    if (strcmp(holder, text) == 0)
        return 0; /* ours, under another name (dataLogDir = dataDir) */
    /* the first line is the holder's pid; anything else is shown as unknown */
    int64_t holder_pid = 0;
    int used = 0;
    if (sscanf(holder, "%" SCNd64 "%n", &holder_pid, &used) != 1 || holder_pid <= 0 ||
        (holder[used] != '\n' && holder[used] != '\0'))
        holder_pid = 0;
    char who[48];
    if (holder_pid > 0)
        snprintf(who, sizeof(who), "pid %" PRId64, holder_pid);
    else
        snprintf(who, sizeof(who), "pid unknown");
    snprintf(errmsg, errlen,
             "%s is in use by another server (%s): %s is locked. Refusing to start; stop "
             "that server, or give this one a directory of its own",
             dir, who, path);
    return DIRLOCK_ERR_HELD;
}

void dirlock_release(struct dirlock *l, const struct fs *fs)
{
    if (l->fd >= 0)
        (void)fs->close(fs->ctx, l->fd);
    l->fd = -1;
}
