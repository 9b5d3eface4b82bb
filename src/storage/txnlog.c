/* SPDX-License-Identifier: Apache-2.0 */
/* txnlog.c — ZooKeeper's txn log format (FileTxnLog, FilePadding, Util). */
#include "storage/txnlog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

uint32_t storage_adler32(uint32_t adler, const void *p, size_t len)
{
    const uint8_t *b = p;
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        adler = (uint32_t)adler32(adler, b, n);
        b += n;
        len -= n;
    }
    return adler;
}

void txnlog_record_encode(struct buf *b, const uint8_t *txn, size_t len)
{
    buf_append_be64(b, storage_adler32(storage_adler32_init(), txn, len));
    buf_append_be32(b, (uint32_t)len);
    buf_append(b, txn, len);
    buf_append_u8(b, TXNLOG_END_BYTE);
}

int64_t txnlog_record_zxid(const uint8_t *record)
{
    return (int64_t)be64_get(record + 12 + 12);
}

size_t txnlog_record_len(const uint8_t *record)
{
    return TXNLOG_RECORD_OVERHEAD + be32_get(record + 8);
}

int64_t storage_name_zxid(const char *name, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (strncmp(name, prefix, plen) != 0 || name[plen] != '.')
        return -1;
    const char *h = name + plen + 1;
    if (!*h || strlen(h) > 16)
        return -1;
    uint64_t v = 0;
    for (; *h; h++) {
        int d;
        if (*h >= '0' && *h <= '9')
            d = *h - '0';
        else if (*h >= 'a' && *h <= 'f')
            d = *h - 'a' + 10;
        else if (*h >= 'A' && *h <= 'F')
            d = *h - 'A' + 10;
        else
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    return (int64_t)v;
}

/* ---- writing ---- */

void txnlog_writer_init(struct txnlog_writer *w, const struct fs *fs, const char *dir,
                        uint64_t prealloc_bytes)
{
    memset(w, 0, sizeof(*w));
    w->fs = fs;
    snprintf(w->dir, sizeof(w->dir), "%s", dir);
    w->fd = -1;
    w->prealloc_bytes = prealloc_bytes;
}

static int writer_fail(struct txnlog_writer *w, int rc, const char *what)
{
    snprintf(w->errmsg, sizeof(w->errmsg), "%s %s: %s", what, w->path, strerror(-rc));
    return rc;
}

static int writer_open(struct txnlog_writer *w, int64_t zxid)
{
    snprintf(w->path, sizeof(w->path), "%s/log.%" PRIx64, w->dir, (uint64_t)zxid);
    int fd = w->fs->open(w->fs->ctx, w->path, FS_CREATE);
    if (fd < 0)
        return writer_fail(w, fd, "cannot create");
    uint8_t hdr[TXNLOG_HEADER_LEN] = {0};
    uint32_t magic = TXNLOG_MAGIC;
    for (int i = 0; i < 4; i++) {
        hdr[i] = (uint8_t)(magic >> (24 - 8 * i));
        hdr[4 + i] = (uint8_t)((uint32_t)STORAGE_VERSION >> (24 - 8 * i));
    }
    /* dbid (long) 0 */
    int rc = w->fs->pwrite(w->fs->ctx, fd, hdr, sizeof(hdr), 0);
    if (rc < 0) {
        /* never synced into the directory: remove it, a retry starts afresh */
        (void)w->fs->close(w->fs->ctx, fd);
        (void)w->fs->unlink(w->fs->ctx, w->path);
        return writer_fail(w, rc, "cannot write the header of");
    }
    w->fd = fd;
    w->pos = TXNLOG_HEADER_LEN;
    w->size = TXNLOG_HEADER_LEN;
    w->file_zxid = zxid;
    /* The new name must survive a crash once its records are synced. */
    rc = w->fs->fsync_dir(w->fs->ctx, w->dir);
    if (rc < 0)
        return writer_fail(w, rc, "cannot sync the directory of");
    return 0;
}

/* FilePadding.padFile: grow by whole preAllocSize blocks before the end is near. */
static int writer_pad(struct txnlog_writer *w, size_t len)
{
    if (w->prealloc_bytes == 0)
        return 0;
    uint64_t need = w->pos + len + TXNLOG_PAD_MARGIN;
    if (need < w->size)
        return 0;
    uint64_t size = w->size;
    while (size <= need)
        size += w->prealloc_bytes;
    int rc = w->fs->allocate(w->fs->ctx, w->fd, w->size, size - w->size);
    if (rc < 0)
        return writer_fail(w, rc, "cannot preallocate");
    w->size = size;
    return 0;
}

static bool is_full(int rc)
{
    return rc == -ENOSPC || rc == -EDQUOT;
}

/* Put the file back as it was before a refused append: a partial write may
 * have left records in the padding, and a later append at `pos` shorter than
 * them would leave valid-looking records after it (and a log that recovery
 * calls damaged), so everything from `pos` on goes, padding included.
 * Failing to do so, or to make it durable, is fatal. */
static int writer_undo(struct txnlog_writer *w, bool opened, uint64_t pos)
{
    char reason[sizeof(w->errmsg)];
    snprintf(reason, sizeof(reason), "%s", w->errmsg);
    int rc;
    if (opened) {
        (void)w->fs->close(w->fs->ctx, w->fd);
        w->fd = -1;
        rc = w->fs->unlink(w->fs->ctx, w->path);
        if (rc == 0)
            rc = w->fs->fsync_dir(w->fs->ctx, w->dir);
        if (rc < 0)
            return writer_fail(w, rc, "disk full, and cannot remove");
    } else {
        rc = w->fs->truncate(w->fs->ctx, w->path, pos);
        if (rc < 0)
            return writer_fail(w, rc, "disk full, and cannot cut back");
        w->pos = pos;
        w->size = pos;
    }
    snprintf(w->errmsg, sizeof(w->errmsg), "%s", reason);
    return TXNLOG_ERR_FULL;
}

int txnlog_writer_append(struct txnlog_writer *w, const uint8_t *records, size_t len,
                         int64_t first_zxid)
{
    int rc;
    bool opened = false;
    if (w->fd < 0) {
        rc = writer_open(w, first_zxid);
        if (rc < 0)
            return is_full(rc) && w->fd < 0 ? TXNLOG_ERR_FULL : rc;
        opened = true;
    }
    uint64_t pos = w->pos;
    if ((rc = writer_pad(w, len)) < 0)
        return is_full(rc) ? writer_undo(w, opened, pos) : rc;
    rc = w->fs->pwrite(w->fs->ctx, w->fd, records, len, w->pos);
    if (rc < 0) {
        writer_fail(w, rc, "cannot write to");
        return is_full(rc) ? writer_undo(w, opened, pos) : rc;
    }
    w->pos += len;
    if (w->pos > w->size)
        w->size = w->pos;
    return 0;
}

int txnlog_writer_sync(struct txnlog_writer *w)
{
    if (w->fd < 0)
        return 0;
    int rc = w->fs->fdatasync(w->fs->ctx, w->fd);
    return rc < 0 ? writer_fail(w, rc, "cannot fsync") : 0;
}

int txnlog_writer_roll(struct txnlog_writer *w)
{
    if (w->fd < 0)
        return 0;
    int rc = txnlog_writer_sync(w);
    if (rc < 0)
        return rc;
    /* The preallocation only speeds up the file's fsyncs while it is
     * written: a finished file gives it back, keeping what its records need
     * (ZooKeeper's sparse padding costs no disk either). Readers stop at the
     * end of the file as they stop at zero padding. Not synced, and errors
     * are ignored: a crash that undoes it leaves padding, which is harmless
     * and cut at the next start-up. */
    if (w->size > w->pos && w->fs->ftruncate)
        (void)w->fs->ftruncate(w->fs->ctx, w->fd, w->pos);
    rc = w->fs->close(w->fs->ctx, w->fd);
    w->fd = -1;
    return rc < 0 ? writer_fail(w, rc, "cannot close") : 0;
}

void txnlog_writer_deinit(struct txnlog_writer *w)
{
    if (w->fd >= 0)
        (void)w->fs->close(w->fs->ctx, w->fd);
    w->fd = -1;
}

/* ---- reading ---- */

/* A complete record with a good checksum and end byte at off? */
static bool record_valid_at(const uint8_t *p, size_t len, size_t off)
{
    if (len - off < TXNLOG_RECORD_OVERHEAD)
        return false;
    uint64_t sum = be64_get(p + off);
    uint32_t n = be32_get(p + off + 8);
    if (n < TXNLOG_TXN_HEADER_LEN || sum > UINT32_MAX ||
        (uint64_t)n > len - off - TXNLOG_RECORD_OVERHEAD)
        return false;
    if (p[off + 12 + n] != TXNLOG_END_BYTE)
        return false;
    return storage_adler32(storage_adler32_init(), p + off + 12, n) == (uint32_t)sum;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

void txnlog_scan(const uint8_t *p, size_t len, txnlog_record_fn *fn, void *ctx,
                 struct txnlog_scan *out)
{
    memset(out, 0, sizeof(*out));
    out->last_zxid = -1;
    if (len < TXNLOG_HEADER_LEN || be32_get(p) != TXNLOG_MAGIC ||
        be32_get(p + 4) != STORAGE_VERSION) {
        /* A header cut short by a crash right after the file was created. */
        if (len < TXNLOG_HEADER_LEN && all_zero(p, len)) {
            out->end = TXNLOG_END_TORN;
            snprintf(out->reason, sizeof(out->reason), "header incomplete (%zu bytes)", len);
        } else {
            out->end = TXNLOG_END_HEADER;
            snprintf(out->reason, sizeof(out->reason), "not a txn log (bad magic or version)");
        }
        return;
    }
    size_t off = TXNLOG_HEADER_LEN;
    out->good_len = off;
    while (off < len) {
        if (len - off < 12) {
            if (all_zero(p + off, len - off))
                return;
            snprintf(out->reason, sizeof(out->reason), "partial record header");
            goto damaged;
        }
        uint64_t sum = be64_get(p + off);
        uint32_t n = be32_get(p + off + 8);
        if (n == 0) {
            /* zero padding: the end, if it is all zeros */
            if (sum == 0 && all_zero(p + off, len - off))
                return;
            snprintf(out->reason, sizeof(out->reason), "record of length 0 before the end");
            goto damaged;
        }
        if ((uint64_t)n + 1 > len - off - 12) {
            snprintf(out->reason, sizeof(out->reason), "partial record (length %" PRIu32 ")", n);
            goto damaged;
        }
        if (p[off + 12 + n] != TXNLOG_END_BYTE) {
            snprintf(out->reason, sizeof(out->reason), "missing end-of-record byte");
            goto damaged;
        }
        uint32_t actual = storage_adler32(storage_adler32_init(), p + off + 12, n);
        if (sum > UINT32_MAX || (uint32_t)sum != actual) {
            snprintf(out->reason, sizeof(out->reason),
                     "checksum mismatch (stored %" PRIu64 ", computed %" PRIu32 ")", sum, actual);
            goto damaged;
        }
        if (n < TXNLOG_TXN_HEADER_LEN) {
            snprintf(out->reason, sizeof(out->reason), "record too short for a TxnHeader");
            goto damaged;
        }
        out->records++;
        out->last_zxid = (int64_t)be64_get(p + off + 12 + 12);
        size_t at = off;
        off += TXNLOG_RECORD_OVERHEAD + n;
        out->good_len = off;
        if (fn && fn(ctx, p + at + 12, n, at) != 0)
            return;
    }
    return;

damaged:
    out->bad_off = off;
    out->end = TXNLOG_END_TORN;
    /* A valid record anywhere after the damage means the damage is not a
     * torn tail (only the last, unsynced batch can be torn). */
    for (size_t at = off + 1; at + TXNLOG_RECORD_OVERHEAD <= len; at++) {
        if (p[at] != 0 || p[at + 1] != 0 || p[at + 2] != 0 || p[at + 3] != 0)
            continue; /* checksums are 32-bit values in a long */
        if (record_valid_at(p, len, at)) {
            out->end = TXNLOG_END_CORRUPT;
            char more[64];
            snprintf(more, sizeof(more), "; a valid record follows at offset %zu", at);
            size_t used = strlen(out->reason);
            snprintf(out->reason + used, sizeof(out->reason) - used, "%s", more);
            return;
        }
    }
}
