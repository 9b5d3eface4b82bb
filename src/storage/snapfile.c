/* SPDX-License-Identifier: Apache-2.0 */
/* snapfile.c — the snapshot file around the body (FileSnap, SnapStream). */
#include "storage/snapfile.h"

#include "base/buf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static int flush_buf(struct snapfile_writer *w)
{
    if (w->err || w->used == 0)
        return w->err;
    int rc = w->fs->pwrite(w->fs->ctx, w->fd, w->buf, w->used, w->off);
    if (rc < 0) {
        w->err = rc;
        return rc;
    }
    w->off += w->used;
    w->used = 0;
    if (w->fs->writeback && w->off - w->pushed >= SNAP_WRITEBACK_CHUNK) {
        /* errors here only lose the pacing: the final fdatasync decides */
        if (w->pushed > w->synced)
            (void)w->fs->writeback(w->fs->ctx, w->fd, w->synced, w->pushed - w->synced, 1);
        w->synced = w->pushed;
        (void)w->fs->writeback(w->fs->ctx, w->fd, w->pushed, w->off - w->pushed, 0);
        w->pushed = w->off;
    }
    return 0;
}

/* Runs len bytes (or, with Z_FINISH, the end of the stream) through the
 * gzip stream into the buffer, writing the buffer out whenever it fills. */
static void deflate_into(struct snapfile_writer *w, const void *p, size_t len, int flush)
{
    z_stream *zs = w->deflate;
    zs->next_in = (Bytef *)(uintptr_t)p;
    zs->avail_in = (uInt)len;
    for (;;) {
        zs->next_out = w->buf + w->used;
        zs->avail_out = (uInt)(SNAP_WRITE_BUF - w->used);
        int rc = deflate(zs, flush);
        w->used = SNAP_WRITE_BUF - zs->avail_out;
        if (rc == Z_STREAM_ERROR) {
            w->err = -EIO;
            return;
        }
        if (w->used == SNAP_WRITE_BUF && flush_buf(w) < 0)
            return;
        if (flush == Z_FINISH ? rc == Z_STREAM_END : zs->avail_in == 0 && zs->avail_out > 0)
            return;
    }
}

void snapfile_write(void *ctx, const void *p, size_t len)
{
    struct snapfile_writer *w = ctx;
    if (w->err)
        return;
    w->adler = storage_adler32(w->adler, p, len);
    if (w->deflate) {
        /* zlib takes at most 4 GB a call */
        const uint8_t *b = p;
        while (len > 0 && !w->err) {
            size_t n = len > (1u << 30) ? (1u << 30) : len;
            deflate_into(w, b, n, Z_NO_FLUSH);
            b += n;
            len -= n;
        }
        return;
    }
    const uint8_t *b = p;
    while (len > 0) {
        size_t n = SNAP_WRITE_BUF - w->used;
        if (n > len)
            n = len;
        memcpy(w->buf + w->used, b, n);
        w->used += n;
        b += n;
        len -= n;
        if (w->used == SNAP_WRITE_BUF && flush_buf(w) < 0)
            return;
    }
}

static void deflate_end(struct snapfile_writer *w)
{
    if (!w->deflate)
        return;
    deflateEnd(w->deflate);
    free(w->deflate);
    w->deflate = NULL;
}

int snapfile_begin(struct snapfile_writer *w, const struct fs *fs, const char *dir, int64_t zxid,
                   bool gzip, int64_t pid, uint64_t seq)
{
    memset(w, 0, sizeof(*w));
    w->fs = fs;
    w->fd = -1;
    w->adler = storage_adler32_init();
    snprintf(w->dir, sizeof(w->dir), "%s", dir);
    snprintf(w->tmp_path, sizeof(w->tmp_path), "%s/tmp.snapshot.%" PRIx64 ".%" PRId64 ".%" PRIu64,
             dir, (uint64_t)zxid, pid, seq);
    snprintf(w->path, sizeof(w->path), "%s/snapshot.%" PRIx64 "%s", dir, (uint64_t)zxid,
             gzip ? ".gz" : "");
    w->buf = malloc(SNAP_WRITE_BUF);
    if (!w->buf) {
        snprintf(w->errmsg, sizeof(w->errmsg), "out of memory");
        return -ENOMEM;
    }
    if (gzip) {
        z_stream *zs = calloc(1, sizeof(*zs));
        /* GZIPOutputStream: deflate at the default level, a gzip wrapper */
        if (!zs || deflateInit2(zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                Z_DEFAULT_STRATEGY) != Z_OK) {
            free(zs);
            free(w->buf);
            w->buf = NULL;
            snprintf(w->errmsg, sizeof(w->errmsg), "cannot start zlib's deflate");
            return -ENOMEM;
        }
        w->deflate = zs;
    }
    int fd = fs->open(fs->ctx, w->tmp_path, FS_CREATE);
    if (fd < 0) {
        snprintf(w->errmsg, sizeof(w->errmsg), "cannot create %s: %s", w->tmp_path, strerror(-fd));
        free(w->buf);
        w->buf = NULL;
        deflate_end(w);
        return fd;
    }
    w->fd = fd;
    w->tmp_exists = true;
    uint8_t hdr[SNAP_HEADER_LEN];
    put_be32(hdr, SNAP_MAGIC);
    put_be32(hdr + 4, STORAGE_VERSION);
    put_be64(hdr + 8, (uint64_t)(int64_t)SNAP_DBID);
    snapfile_write(w, hdr, sizeof(hdr));
    return 0;
}

/* SnapStream.sealStream: the checksum so far, then "/" (both checksummed). */
static void seal(struct snapfile_writer *w)
{
    uint8_t s[13];
    put_be64(s, w->adler);
    put_be32(s + 8, 1);
    s[12] = '/';
    snapfile_write(w, s, sizeof(s));
}

static void remove_tmp(struct snapfile_writer *w)
{
    if (w->tmp_exists)
        (void)w->fs->unlink(w->fs->ctx, w->tmp_path);
    w->tmp_exists = false;
}

int snapfile_finish(struct snapfile_writer *w)
{
    seal(w);
    uint8_t digest[20];
    put_be64(digest, 0); /* zxid 0: "The digest value is empty in snapshot" */
    put_be32(digest + 8, SNAP_DIGEST_VERSION);
    put_be64(digest + 12, 0);
    snapfile_write(w, digest, sizeof(digest));
    seal(w);
    if (w->deflate && !w->err)
        deflate_into(w, NULL, 0, Z_FINISH);
    deflate_end(w);
    int rc = flush_buf(w);
    const char *what = "cannot write";
    if (rc == 0) {
        what = "cannot fsync";
        rc = w->fs->fdatasync(w->fs->ctx, w->fd);
    }
    int crc = w->fs->close(w->fs->ctx, w->fd);
    w->fd = -1;
    if (rc == 0 && crc < 0) {
        what = "cannot close";
        rc = crc;
    }
    free(w->buf);
    w->buf = NULL;
    if (rc < 0) {
        snprintf(w->errmsg, sizeof(w->errmsg), "%s %s: %s", what, w->tmp_path, strerror(-rc));
        remove_tmp(w);
    }
    return rc;
}

int snapfile_publish(struct snapfile_writer *w)
{
    int rc = w->fs->rename(w->fs->ctx, w->tmp_path, w->path);
    if (rc < 0) {
        snprintf(w->errmsg, sizeof(w->errmsg), "cannot rename %s: %s", w->tmp_path, strerror(-rc));
        remove_tmp(w);
        return rc;
    }
    w->tmp_exists = false;
    rc = w->fs->fsync_dir(w->fs->ctx, w->dir);
    if (rc < 0)
        snprintf(w->errmsg, sizeof(w->errmsg), "cannot fsync directory %s: %s", w->dir,
                 strerror(-rc));
    return rc;
}

int snapfile_commit(struct snapfile_writer *w)
{
    int rc = snapfile_finish(w);
    return rc < 0 ? rc : snapfile_publish(w);
}

void snapfile_abort(struct snapfile_writer *w)
{
    if (w->fd >= 0)
        (void)w->fs->close(w->fs->ctx, w->fd);
    w->fd = -1;
    remove_tmp(w);
    free(w->buf);
    w->buf = NULL;
    deflate_end(w);
}

bool snapfile_looks_valid(const uint8_t *p, size_t len)
{
    if (len < 10)
        return false;
    return be32_get(p + len - 5) == 1 && p[len - 1] == '/';
}

int snapfile_check_header(const uint8_t *p, size_t len, char *errmsg, size_t errlen)
{
    if (len < SNAP_HEADER_LEN || be32_get(p) != SNAP_MAGIC) {
        snprintf(errmsg, errlen, "not a snapshot (bad magic)");
        return -1;
    }
    if (be32_get(p + 4) != STORAGE_VERSION) {
        snprintf(errmsg, errlen, "unsupported snapshot version %" PRIu32, be32_get(p + 4));
        return -1;
    }
    return SNAP_HEADER_LEN;
}

/* *adler covers p[0, *done); extend it to `off` and check the seal there. */
static int check_one_seal(const uint8_t *p, size_t len, size_t off, uint32_t *adler, size_t *done,
                          char *errmsg, size_t errlen)
{
    if (len - off < 13) {
        snprintf(errmsg, errlen, "truncated at offset %zu (no checksum seal)", off);
        return -1;
    }
    *adler = storage_adler32(*adler, p + *done, off - *done);
    *done = off;
    uint64_t stored = be64_get(p + off);
    if (stored != *adler) {
        snprintf(errmsg, errlen,
                 "checksum mismatch at offset %zu (stored %" PRIu64 ", computed %" PRIu32 ")", off,
                 stored, *adler);
        return -1;
    }
    if (be32_get(p + off + 8) != 1 || p[off + 12] != '/') {
        snprintf(errmsg, errlen, "bad seal at offset %zu", off + 8);
        return -1;
    }
    return 0;
}

int snapfile_check_seal(const uint8_t *p, size_t len, size_t off, char *errmsg, size_t errlen)
{
    uint32_t adler = storage_adler32_init();
    size_t done = 0;
    if (off > len || check_one_seal(p, len, off, &adler, &done, errmsg, errlen) < 0)
        return -1;
    off += 13;
    if (off == len)
        return 0; /* no digest: written with digest.enabled=false, or before 3.6 */
    if (len - off < 12) {
        snprintf(errmsg, errlen, "truncated digest at offset %zu", off);
        return -1;
    }
    int32_t version = (int32_t)be32_get(p + off + 8);
    size_t dlen;
    if (version < 2) {
        /* old digests are hex strings */
        if (len - off < 16) {
            snprintf(errmsg, errlen, "truncated digest at offset %zu", off);
            return -1;
        }
        int32_t slen = (int32_t)be32_get(p + off + 12);
        dlen = 16 + (slen > 0 ? (size_t)slen : 0);
    } else {
        dlen = 20;
    }
    if (len - off < dlen) {
        snprintf(errmsg, errlen, "truncated digest at offset %zu", off);
        return -1;
    }
    return check_one_seal(p, len, off + dlen, &adler, &done, errmsg, errlen);
}
