/* SPDX-License-Identifier: Apache-2.0 */
/* Reading compressed snapshots (see snapz.h). gzip through zlib; snappy
 * by our own decoder of the raw block format inside snappy-java's stream:
 *
 *   snappy-java = magic, int version, int compatibleVersion, chunk*
 *   magic       = 0x82 "SNAPPY" 0x00
 *   chunk       = int length (big-endian), byte[length] raw snappy block
 *   block       = varint uncompressedLength, element*
 *   element     = literal | copy1 | copy2 | copy4   (tag byte, low 2 bits)
 */
#include "storage/snapz.h"

#include "storage/txnlog.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

static const uint8_t snappy_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

const char *snapz_suffix(enum snapz_kind kind)
{
    return kind == SNAPZ_GZIP ? ".gz" : kind == SNAPZ_SNAPPY ? ".snappy" : "";
}

int64_t snapz_name_zxid(const char *name, enum snapz_kind *kind)
{
    const char *prefix = "snapshot.";
    size_t plen = strlen(prefix);
    if (strncmp(name, prefix, plen) != 0)
        return -1;
    const char *dot = strchr(name + plen, '.');
    *kind = SNAPZ_PLAIN;
    if (dot) {
        if (strcasecmp(dot, ".gz") == 0)
            *kind = SNAPZ_GZIP;
        else if (strcasecmp(dot, ".snappy") == 0)
            *kind = SNAPZ_SNAPPY;
        else
            return -1;
    }
    char hex[24];
    size_t hlen = dot ? (size_t)(dot - name) - plen : strlen(name + plen);
    if (hlen == 0 || hlen >= sizeof(hex))
        return -1;
    memcpy(hex, name + plen, hlen);
    hex[hlen] = '\0';
    char plain[48];
    snprintf(plain, sizeof(plain), "snapshot.%s", hex);
    return storage_name_zxid(plain, "snapshot");
}

struct out_buf {
    uint8_t *p;
    size_t len, cap, max;
};

static bool out_reserve(struct out_buf *o, size_t extra)
{
    if (extra > o->max - o->len)
        return false;
    if (o->len + extra <= o->cap)
        return true;
    size_t cap = o->cap ? o->cap : 1 << 16;
    while (cap < o->len + extra)
        cap = cap > o->max / 2 ? o->max : cap * 2;
    uint8_t *p = realloc(o->p, cap);
    if (!p)
        return false;
    o->p = p;
    o->cap = cap;
    return true;
}

static int gzip_decompress(const uint8_t *in, size_t len, struct out_buf *o, char *errmsg,
                           size_t errlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        snprintf(errmsg, errlen, "gzip: cannot start zlib");
        return -1;
    }
    size_t off = 0;
    int rc = -1;
    for (;;) {
        if (!out_reserve(o, 1 << 16)) {
            snprintf(errmsg, errlen, "gzip: more than %zu bytes uncompressed", o->max);
            break;
        }
        size_t in_chunk = len - off > (1u << 30) ? (1u << 30) : len - off;
        zs.next_in = (Bytef *)(uintptr_t)(in + off);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = o->p + o->len;
        zs.avail_out = (uInt)(o->cap - o->len > (1u << 30) ? (1u << 30) : o->cap - o->len);
        uInt out_before = zs.avail_out;
        int z = inflate(&zs, Z_NO_FLUSH);
        off += in_chunk - zs.avail_in;
        o->len += out_before - zs.avail_out;
        if (z == Z_STREAM_END) {
            /* GZIPInputStream reads members one after another */
            if (off == len) {
                rc = 0;
                break;
            }
            if (len - off < 2 || in[off] != 0x1f || in[off + 1] != 0x8b) {
                snprintf(errmsg, errlen, "gzip: junk after the stream at offset %zu", off);
                break;
            }
            inflateReset(&zs);
            continue;
        }
        if (z == Z_BUF_ERROR && off == len) {
            snprintf(errmsg, errlen, "gzip: truncated (the stream ends at offset %zu)", len);
            break;
        }
        if (z != Z_OK && z != Z_BUF_ERROR) {
            snprintf(errmsg, errlen, "gzip: %s near offset %zu", zs.msg ? zs.msg : "corrupt", off);
            break;
        }
    }
    inflateEnd(&zs);
    return rc;
}

/* One raw snappy block at in[0, len), appended to o. */
static int snappy_block(const uint8_t *in, size_t len, struct out_buf *o, char *errmsg,
                        size_t errlen, size_t at)
{
    size_t off = 0;
    uint64_t want = 0;
    for (int shift = 0;; shift += 7) {
        if (off == len || shift > 28) {
            snprintf(errmsg, errlen, "snappy: bad block length at offset %zu", at);
            return -1;
        }
        uint8_t b = in[off++];
        want |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    if (!out_reserve(o, (size_t)want)) {
        snprintf(errmsg, errlen, "snappy: block of %llu bytes at offset %zu is too large",
                 (unsigned long long)want, at);
        return -1;
    }
    size_t start = o->len, end = start + (size_t)want;
    while (off < len) {
        uint8_t tag = in[off++];
        size_t n, dist = 0;
        switch (tag & 3) {
        case 0: { /* literal */
            n = (size_t)(tag >> 2);
            if (n >= 60) {
                size_t bytes = n - 59;
                if (len - off < bytes)
                    goto bad;
                n = 0;
                for (size_t i = 0; i < bytes; i++)
                    n |= (size_t)in[off + i] << (8 * i);
                off += bytes;
            }
            n += 1;
            if (len - off < n || end - o->len < n)
                goto bad;
            memcpy(o->p + o->len, in + off, n);
            o->len += n;
            off += n;
            continue;
        }
        case 1:
            if (len - off < 1)
                goto bad;
            n = 4 + ((tag >> 2) & 7);
            dist = ((size_t)(tag >> 5) << 8) | in[off];
            off += 1;
            break;
        case 2:
            if (len - off < 2)
                goto bad;
            n = 1 + (tag >> 2);
            dist = (size_t)in[off] | (size_t)in[off + 1] << 8;
            off += 2;
            break;
        default:
            if (len - off < 4)
                goto bad;
            n = 1 + (tag >> 2);
            dist = (size_t)in[off] | (size_t)in[off + 1] << 8 | (size_t)in[off + 2] << 16 |
                   (size_t)in[off + 3] << 24;
            off += 4;
            break;
        }
        /* a copy reaches back into this block's output only */
        if (dist == 0 || dist > o->len - start || end - o->len < n)
            goto bad;
        uint8_t *d = o->p + o->len;
        const uint8_t *src = d - dist;
        for (size_t i = 0; i < n; i++) /* may overlap: byte by byte */
            d[i] = src[i];
        o->len += n;
    }
    if (o->len != end)
        goto bad;
    return 0;
bad:
    snprintf(errmsg, errlen, "snappy: corrupt block at offset %zu (element at %zu)", at, at + off);
    return -1;
}

static int snappy_decompress(const uint8_t *in, size_t len, struct out_buf *o, char *errmsg,
                             size_t errlen)
{
    if (len < 16 || memcmp(in, snappy_magic, sizeof(snappy_magic)) != 0) {
        snprintf(errmsg, errlen, "snappy: no snappy-java header");
        return -1;
    }
    size_t off = 16; /* magic, version, compatible version */
    while (off < len) {
        /* SnappyInputStream also takes a stream appended to another */
        if (len - off >= 16 && memcmp(in + off, snappy_magic, sizeof(snappy_magic)) == 0) {
            off += 16;
            continue;
        }
        if (len - off < 4) {
            snprintf(errmsg, errlen, "snappy: truncated chunk length at offset %zu", off);
            return -1;
        }
        uint32_t n = (uint32_t)in[off] << 24 | (uint32_t)in[off + 1] << 16 |
                     (uint32_t)in[off + 2] << 8 | in[off + 3];
        off += 4;
        if (n > len - off) {
            snprintf(errmsg, errlen, "snappy: chunk of %u bytes at offset %zu is truncated", n,
                     off - 4);
            return -1;
        }
        if (snappy_block(in + off, n, o, errmsg, errlen, off) < 0)
            return -1;
        off += n;
    }
    return 0;
}

int snapz_decompress(enum snapz_kind kind, const uint8_t *in, size_t len, size_t max_out,
                     uint8_t **out, size_t *out_len, char *errmsg, size_t errlen)
{
    struct out_buf o = {.max = max_out};
    int rc = -1;
    if (kind == SNAPZ_GZIP)
        rc = gzip_decompress(in, len, &o, errmsg, errlen);
    else if (kind == SNAPZ_SNAPPY)
        rc = snappy_decompress(in, len, &o, errmsg, errlen);
    else
        snprintf(errmsg, errlen, "not a compressed snapshot");
    if (rc < 0) {
        free(o.p);
        return -1;
    }
    *out = o.p;
    *out_len = o.len;
    return 0;
}
