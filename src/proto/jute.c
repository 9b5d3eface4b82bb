/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/jute.h"

#include <string.h>

void jute_reader_init(struct jute_reader *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->failed = false;
}

static bool jute_need(struct jute_reader *r, size_t n)
{
    if (r->failed || r->len - r->pos < n) {
        r->failed = true;
        return false;
    }
    return true;
}

int32_t jute_read_i32(struct jute_reader *r)
{
    if (!jute_need(r, 4))
        return 0;
    uint32_t v = be32_get(r->p + r->pos);
    r->pos += 4;
    return (int32_t)v;
}

int64_t jute_read_i64(struct jute_reader *r)
{
    if (!jute_need(r, 8))
        return 0;
    uint64_t v = be64_get(r->p + r->pos);
    r->pos += 8;
    return (int64_t)v;
}

bool jute_read_bool(struct jute_reader *r)
{
    if (!jute_need(r, 1))
        return false;
    return r->p[r->pos++] != 0;
}

struct jute_buf jute_read_buf(struct jute_reader *r)
{
    struct jute_buf b = {.ptr = NULL, .len = -1};
    int32_t len = jute_read_i32(r);
    if (r->failed || len < 0)
        return b;
    if (!jute_need(r, (size_t)len))
        return b;
    b.ptr = r->p + r->pos;
    b.len = len;
    r->pos += (size_t)len;
    return b;
}

int32_t jute_read_vec_count(struct jute_reader *r)
{
    int32_t n = jute_read_i32(r);
    if (r->failed)
        return -1;
    /* Every item takes at least one byte: a count beyond what is left is a lie. */
    if (n > 0 && (size_t)n > jute_reader_remaining(r)) {
        r->failed = true;
        return -1;
    }
    return n < 0 ? -1 : n;
}

void jute_write_i32(struct buf *b, int32_t v)
{
    buf_append_be32(b, (uint32_t)v);
}

void jute_write_i64(struct buf *b, int64_t v)
{
    buf_append_be64(b, (uint64_t)v);
}

void jute_write_bool(struct buf *b, bool v)
{
    buf_append_u8(b, v ? 1 : 0);
}

void jute_write_buf(struct buf *b, struct jute_buf v)
{
    jute_write_bytes(b, v.ptr, v.len);
}

void jute_write_bytes(struct buf *b, const void *p, int32_t len)
{
    if (len < 0 || (len > 0 && p == NULL)) {
        jute_write_i32(b, -1);
        return;
    }
    jute_write_i32(b, len);
    buf_append(b, p, (size_t)len);
}

void jute_write_cstr(struct buf *b, const char *s)
{
    jute_write_buf(b, jute_cstr(s));
}

struct jute_buf jute_cstr(const char *s)
{
    if (!s)
        return (struct jute_buf){.ptr = NULL, .len = -1};
    return (struct jute_buf){.ptr = (const uint8_t *)s, .len = (int32_t)strlen(s)};
}
