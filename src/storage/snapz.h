/* SPDX-License-Identifier: Apache-2.0 */
/* snapz.h — compressed snapshots as ZooKeeper 3.8 writes them with
 * zookeeper.snapshot.compression.method (SnapStream): `snapshot.<zxid>.gz`
 * is a gzip stream and `snapshot.<zxid>.snappy` a snappy-java stream
 * (SnappyOutputStream) of the same bytes a plain snapshot file holds, seals
 * included (their checksums cover the uncompressed bytes). Pure: bytes in,
 * bytes out. */
#ifndef CZK_STORAGE_SNAPZ_H
#define CZK_STORAGE_SNAPZ_H

#include <stddef.h>
#include <stdint.h>

enum snapz_kind { SNAPZ_PLAIN, SNAPZ_GZIP, SNAPZ_SNAPPY };

#define SNAPZ_KINDS 3
/* The largest uncompressed snapshot read (a corrupt length cannot ask more). */
#define SNAPZ_MAX_OUT ((size_t)1 << 40)

/* The file name suffix of a kind: "", ".gz", ".snappy". */
const char *snapz_suffix(enum snapz_kind kind);

/* "snapshot.<hex>" with no suffix or a ".gz"/".snappy" one (in any case, as
 * SnapStream.getStreamMode): the zxid and *kind; -1 for any other name. */
int64_t snapz_name_zxid(const char *name, enum snapz_kind *kind);

/* Decompresses a whole file of `kind` (not SNAPZ_PLAIN) into *out (free with
 * free()). Returns 0, or -1 with what is wrong and where in errmsg. Never
 * reads outside `in`; the output grows as needed up to `max_out` bytes. */
int snapz_decompress(enum snapz_kind kind, const uint8_t *in, size_t len, size_t max_out,
                     uint8_t **out, size_t *out_len, char *errmsg, size_t errlen);

#endif
