/* SPDX-License-Identifier: Apache-2.0 */
/* txnlog.h — ZooKeeper's txn log (FileTxnLog), byte for byte: files named
 * log.<hex zxid of their first txn> in dataLogDir/version-2, a FileHeader
 * ("ZKLG", version 2, dbid 0), then records of
 *   long  Adler-32 of the txn bytes
 *   int   length of the txn bytes
 *   bytes TxnHeader + txn body (ZooKeeper 3.8 may add a TxnDigest; czk
 *         writes none and skips one on reading)
 *   byte  0x42 'B'
 * and zero padding preallocated in preAllocSize blocks (FilePadding) while
 * the file is written, cut off when it is rolled (see docs/FORMATS.md). The
 * grammar is in docs/FORMATS.md. The writer does file I/O only through a
 * struct fs; the scanner is pure. */
#ifndef CZK_STORAGE_TXNLOG_H
#define CZK_STORAGE_TXNLOG_H

#include "base/buf.h"
#include "storage/fs.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORAGE_VERSION        2
#define STORAGE_PATH_MAX       4200
#define TXNLOG_MAGIC           0x5a4b4c47 /* "ZKLG" */
#define TXNLOG_DBID            0
#define TXNLOG_HEADER_LEN      16
#define TXNLOG_RECORD_OVERHEAD 13 /* checksum 8 + length 4 + end byte 1 */
#define TXNLOG_TXN_HEADER_LEN  32 /* clientId 8, cxid 4, zxid 8, time 8, type 4 */
#define TXNLOG_END_BYTE        0x42
/* ZooKeeper pads when fewer than this many bytes are left (FilePadding). */
#define TXNLOG_PAD_MARGIN 4096

uint32_t storage_adler32(uint32_t adler, const void *p, size_t len);
static inline uint32_t storage_adler32_init(void)
{
    return 1;
}

/* Appends one txn (TxnHeader + body) framed as a log record to b. */
void txnlog_record_encode(struct buf *b, const uint8_t *txn, size_t len);
/* The zxid of a record encoded by txnlog_record_encode (its TxnHeader). */
int64_t txnlog_record_zxid(const uint8_t *record);
/* The whole length of the record at `record` (at least 13 bytes readable). */
size_t txnlog_record_len(const uint8_t *record);

/* "log.<hex>" / "snapshot.<hex>": the zxid, or -1 if `name` is not
 * `prefix` + "." + lowercase or uppercase hex digits only. */
int64_t storage_name_zxid(const char *name, const char *prefix);

/* ---- writing ---- */

struct txnlog_writer {
    const struct fs *fs;
    char dir[STORAGE_PATH_MAX];
    char path[STORAGE_PATH_MAX + 32];
    int fd; /* -1 when no file is open: the next append starts one */
    uint64_t pos;
    uint64_t size; /* allocated */
    uint64_t prealloc_bytes;
    int64_t file_zxid;
    char errmsg[STORAGE_PATH_MAX + 128];
};

void txnlog_writer_init(struct txnlog_writer *w, const struct fs *fs, const char *dir,
                        uint64_t prealloc_bytes);
/* Returned by txnlog_writer_append when the disk is full (ENOSPC or
 * EDQUOT): the records were refused and the file is as it was before the
 * call. Not an errno. */
#define TXNLOG_ERR_FULL (-10000)

/* Write whole records (txnlog_record_encode) at the end of the current file,
 * starting log.<first_zxid> first if none is open. Not durable until
 * txnlog_writer_sync. On ENOSPC or EDQUOT (writing or preallocating) the
 * file is cut back to its last record before the call (a file this call
 * created is removed), and TXNLOG_ERR_FULL is returned: the writer can be
 * used again. Any other failure returns a negative errno and leaves the
 * file in an unknown state (the caller must stop). The reason and the file
 * are in w->errmsg either way. */
int txnlog_writer_append(struct txnlog_writer *w, const uint8_t *records, size_t len,
                         int64_t first_zxid) __attribute__((warn_unused_result));
int txnlog_writer_sync(struct txnlog_writer *w) __attribute__((warn_unused_result));
/* Sync the current file, cut its preallocation off (the file ends at its
 * last record) and close it; the next append starts a new one. */
int txnlog_writer_roll(struct txnlog_writer *w) __attribute__((warn_unused_result));
/* Close without syncing. */
void txnlog_writer_deinit(struct txnlog_writer *w);

/* ---- reading (pure) ---- */

enum txnlog_end {
    TXNLOG_END_CLEAN = 0,   /* end of file, or zero padding */
    TXNLOG_END_TORN = 1,    /* damage at the very end: partial record, bad checksum, junk */
    TXNLOG_END_CORRUPT = 2, /* damage followed by a valid record: not a torn tail */
    TXNLOG_END_HEADER = 3,  /* not a txn log (bad FileHeader) */
};

struct txnlog_scan {
    enum txnlog_end end;
    size_t good_len; /* offset just past the last good record */
    size_t bad_off;  /* where the damage starts (end != CLEAN) */
    int64_t records;
    int64_t last_zxid; /* -1 if none */
    char reason[160];
};

/* One record's txn bytes (TxnHeader + body + possibly a TxnDigest), borrowed;
 * `off` is the record's offset in the file. Return non-zero to stop. */
typedef int txnlog_record_fn(void *ctx, const uint8_t *txn, size_t len, size_t off);

/* Walk a whole log file's bytes: check the header and every record. */
void txnlog_scan(const uint8_t *p, size_t len, txnlog_record_fn *fn, void *ctx,
                 struct txnlog_scan *out);

#endif
