/* SPDX-License-Identifier: Apache-2.0 */
/* dirlock.h — one server per data directory: czk.lock in dataDir (and in
 * dataLogDir when that differs) stays locked (flock) while the server runs,
 * and holds its pid, so a second czk server on the directory refuses to
 * start and can say which process it would have fought. ZooKeeper takes no
 * such lock: an Apache server on the same directory is not stopped by it.
 * File I/O only through struct fs. */
#ifndef CZK_STORAGE_DIRLOCK_H
#define CZK_STORAGE_DIRLOCK_H

#include "storage/fs.h"

#include <stddef.h>
#include <stdint.h>

#define DIRLOCK_NAME "czk.lock"
/* Returned by dirlock_acquire when another process holds the lock. Not an errno. */
#define DIRLOCK_ERR_HELD (-10001)

struct dirlock {
    int fd; /* -1: nothing held by this struct */
};

/* Lock dir/czk.lock for this process, writing "<pid>\n<token>\n" into it;
 * `token` tells this process's locks from others' (a directory reached by two
 * names is locked once: the second call finds its own text and returns 0
 * with l->fd -1). Returns 0; DIRLOCK_ERR_HELD with errmsg naming dir and the
 * holder's pid; or a negative errno with errmsg. */
int dirlock_acquire(struct dirlock *l, const struct fs *fs, const char *dir, int64_t pid,
                    uint64_t token, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));
/* Let go (closing the descriptor); the file stays, naming a process that no
 * longer holds it, which does not count. */
void dirlock_release(struct dirlock *l, const struct fs *fs);

#endif
