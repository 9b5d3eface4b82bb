/* SPDX-License-Identifier: Apache-2.0 */
/* buf.h — a growable byte buffer. Aborts on allocation failure (server rule);
 * the client library checks buf_reserve's result instead. */
#ifndef CZK_BASE_BUF_H
#define CZK_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_deinit(struct buf *b);
/* Make room for at least `extra` more bytes. */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_u8(struct buf *b, uint8_t v);
void buf_append_be32(struct buf *b, uint32_t v);
void buf_append_be64(struct buf *b, uint64_t v);
/* printf into the buffer, keeping it NUL-terminated past len. */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_clear(struct buf *b);
/* Overwrite 4 bytes at `at` with a big-endian value (frame length patching). */
void buf_put_be32(struct buf *b, size_t at, uint32_t v);

/* Inline: every field a decoder reads goes through these (8.5 % of a 1M
 * znode snapshot's load was the call itself). */
static inline uint32_t be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t be64_get(const uint8_t *p)
{
    return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}

#endif
