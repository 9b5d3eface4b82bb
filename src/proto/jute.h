/* SPDX-License-Identifier: Apache-2.0 */
/* jute.h — ZooKeeper's jute binary encoding: big-endian int/long, 1-byte
 * boolean, buffer/ustring as int length (-1 = null) + bytes, vector as int
 * count (-1 = null) + items. Pure. Decoding never allocates: buffers, strings
 * and vectors are views into the input. */
#ifndef CZK_PROTO_JUTE_H
#define CZK_PROTO_JUTE_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A buffer or ustring view; len == -1 is jute's null. */
struct jute_buf {
    const uint8_t *ptr;
    int32_t len;
};

/* A vector. Decoded: count and the raw encoded items (iterate with
 * jute_vec_iter). To encode, set count and either `items` (an array of the
 * element's C type) or `raw` (already-encoded items). count == -1 is null. */
struct jute_vec {
    int32_t count;
    const uint8_t *raw;
    size_t raw_len;
    const void *items;
};

struct jute_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool failed;
};

void jute_reader_init(struct jute_reader *r, const uint8_t *p, size_t len);
int32_t jute_read_i32(struct jute_reader *r);
int64_t jute_read_i64(struct jute_reader *r);
bool jute_read_bool(struct jute_reader *r);
struct jute_buf jute_read_buf(struct jute_reader *r);
/* Reads a vector count and remembers where the items start; the caller then
 * decodes the items (to find their end) and calls jute_read_vec_end. */
int32_t jute_read_vec_count(struct jute_reader *r);
static inline size_t jute_reader_remaining(const struct jute_reader *r)
{
    return r->len - r->pos;
}

void jute_write_i32(struct buf *b, int32_t v);
void jute_write_i64(struct buf *b, int64_t v);
void jute_write_bool(struct buf *b, bool v);
void jute_write_buf(struct buf *b, struct jute_buf v);
void jute_write_bytes(struct buf *b, const void *p, int32_t len);
void jute_write_cstr(struct buf *b, const char *s);

static inline struct jute_buf jute_buf_of(const void *p, size_t len)
{
    return (struct jute_buf){.ptr = p, .len = (int32_t)len};
}
struct jute_buf jute_cstr(const char *s);
static inline bool jute_buf_eq(struct jute_buf a, const char *s, size_t len)
{
    return a.len >= 0 && (size_t)a.len == len && (len == 0 || __builtin_memcmp(a.ptr, s, len) == 0);
}

#endif
