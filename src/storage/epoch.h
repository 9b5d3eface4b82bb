/* SPDX-License-Identifier: Apache-2.0 */
/* epoch.h — the `currentEpoch` and `acceptedEpoch` files of a snapshot
 * directory (QuorumPeer): the epoch as a decimal number, no newline,
 * replaced atomically (AtomicFileWritingIdiom: NAME.tmp written and synced,
 * renamed over NAME, the directory synced). */
#ifndef CZK_STORAGE_EPOCH_H
#define CZK_STORAGE_EPOCH_H

#include "storage/fs.h"

#include <stddef.h>
#include <stdint.h>

#define EPOCH_CURRENT  "currentEpoch"
#define EPOCH_ACCEPTED "acceptedEpoch"

/* Reads dir/name into *out. Returns 0; -ENOENT when the file is missing;
 * another negative errno with errmsg naming the file and what is in it
 * (-EINVAL: not a number, as ZooKeeper's "Found X in FILE"). */
int epoch_read(const struct fs *fs, const char *dir, const char *name, int64_t *out, char *errmsg,
               size_t errlen);
/* Replaces dir/name with value. Returns 0 or a negative errno (errmsg set). */
int epoch_write(const struct fs *fs, const char *dir, const char *name, int64_t value, char *errmsg,
                size_t errlen);

#endif
