/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/records.h"

#include <inttypes.h>

/* Vector codecs per item type. Encoding from `items` uses the item's C type;
 * from `raw`, the bytes are copied as they are. */
static void vec_encode_str(struct buf *b, const struct jute_vec *v)
{
    jute_write_i32(b, v->count);
    if (v->count <= 0)
        return;
    if (v->items) {
        const struct jute_buf *items = v->items;
        for (int32_t i = 0; i < v->count; i++)
            jute_write_buf(b, items[i]);
    } else {
        buf_append(b, v->raw, v->raw_len);
    }
}

static int vec_decode_str(struct jute_reader *r, struct jute_vec *v)
{
    v->items = NULL;
    v->count = jute_read_vec_count(r);
    v->raw = r->p + r->pos;
    size_t start = r->pos;
    for (int32_t i = 0; i < v->count && !r->failed; i++)
        (void)jute_read_buf(r);
    v->raw_len = r->pos - start;
    return r->failed ? -1 : 0;
}

#define ZK_VEC_CODEC(rec)                                                                          \
    static void vec_encode_##rec(struct buf *b, const struct jute_vec *v)                          \
    {                                                                                              \
        jute_write_i32(b, v->count);                                                               \
        if (v->count <= 0)                                                                         \
            return;                                                                                \
        if (v->items) {                                                                            \
            const struct zk_##rec *items = v->items;                                               \
            for (int32_t i = 0; i < v->count; i++)                                                 \
                zk_##rec##_encode(b, &items[i]);                                                   \
        } else {                                                                                   \
            buf_append(b, v->raw, v->raw_len);                                                     \
        }                                                                                          \
    }                                                                                              \
    static int vec_decode_##rec(struct jute_reader *r, struct jute_vec *v)                         \
    {                                                                                              \
        v->items = NULL;                                                                           \
        v->count = jute_read_vec_count(r);                                                         \
        v->raw = r->p + r->pos;                                                                    \
        size_t start = r->pos;                                                                     \
        struct zk_##rec item;                                                                      \
        for (int32_t i = 0; i < v->count && !r->failed; i++)                                       \
            if (zk_##rec##_decode(r, &item) != 0)                                                  \
                break;                                                                             \
        v->raw_len = r->pos - start;                                                               \
        return r->failed ? -1 : 0;                                                                 \
    }                                                                                              \
    bool jute_vec_next_##rec(struct jute_vec_iter *it, struct zk_##rec *out)                       \
    {                                                                                              \
        if (it->left <= 0)                                                                         \
            return false;                                                                          \
        it->left--;                                                                                \
        return zk_##rec##_decode(&it->r, out) == 0;                                                \
    }
CZK_VEC_RECORDS(ZK_VEC_CODEC)

void jute_vec_iter_init(struct jute_vec_iter *it, const struct jute_vec *v)
{
    jute_reader_init(&it->r, v->raw, v->raw ? v->raw_len : 0);
    it->left = v->count;
}

bool jute_vec_next_str(struct jute_vec_iter *it, struct jute_buf *out)
{
    if (it->left <= 0)
        return false;
    it->left--;
    *out = jute_read_buf(&it->r);
    return !it->r.failed;
}

#define ZK_ENC_i32(b, x, a)  jute_write_i32(b, x)
#define ZK_ENC_i64(b, x, a)  jute_write_i64(b, x)
#define ZK_ENC_bool(b, x, a) jute_write_bool(b, x)
#define ZK_ENC_buf(b, x, a)  jute_write_buf(b, x)
#define ZK_ENC_str(b, x, a)  jute_write_buf(b, x)
#define ZK_ENC_rec(b, x, a)  zk_##a##_encode(b, &(x))
#define ZK_ENC_vec(b, x, a)  vec_encode_##a(b, &(x))

#define ZK_DEC_i32(r, x, a)  (x) = jute_read_i32(r)
#define ZK_DEC_i64(r, x, a)  (x) = jute_read_i64(r)
#define ZK_DEC_bool(r, x, a) (x) = jute_read_bool(r)
#define ZK_DEC_buf(r, x, a)  (x) = jute_read_buf(r)
#define ZK_DEC_str(r, x, a)  (x) = jute_read_buf(r)
#define ZK_DEC_rec(r, x, a)  r->failed = zk_##a##_decode(r, &(x)) != 0 || r->failed
#define ZK_DEC_vec(r, x, a)  r->failed = vec_decode_##a(r, &(x)) != 0 || r->failed

static void print_bytes(struct buf *b, struct jute_buf v, bool text)
{
    if (v.len < 0) {
        buf_printf(b, "null");
        return;
    }
    buf_append_u8(b, text ? '"' : '#');
    for (int32_t i = 0; i < v.len; i++) {
        uint8_t c = v.ptr[i];
        if (text && c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            buf_append_u8(b, c);
        else if (text)
            buf_printf(b, "\\x%02x", c);
        else
            buf_printf(b, "%02x", c);
    }
    if (text)
        buf_append_u8(b, '"');
}

void zk_print_str(struct buf *b, struct jute_buf v)
{
    print_bytes(b, v, true);
}

static void print_vec_str(struct buf *b, const struct jute_vec *v)
{
    if (v->count < 0) {
        buf_printf(b, "null");
        return;
    }
    struct jute_vec_iter it;
    jute_vec_iter_init(&it, v);
    struct jute_buf s;
    buf_append_u8(b, '[');
    for (bool first = true; jute_vec_next_str(&it, &s); first = false) {
        if (!first)
            buf_append_u8(b, ',');
        print_bytes(b, s, true);
    }
    buf_append_u8(b, ']');
}

#define ZK_VEC_PRINT(rec)                                                                          \
    static void print_vec_##rec(struct buf *b, const struct jute_vec *v)                           \
    {                                                                                              \
        if (v->count < 0) {                                                                        \
            buf_printf(b, "null");                                                                 \
            return;                                                                                \
        }                                                                                          \
        struct jute_vec_iter it;                                                                   \
        jute_vec_iter_init(&it, v);                                                                \
        struct zk_##rec item;                                                                      \
        buf_append_u8(b, '[');                                                                     \
        for (bool first = true; jute_vec_next_##rec(&it, &item); first = false) {                  \
            if (!first)                                                                            \
                buf_append_u8(b, ',');                                                             \
            zk_##rec##_print(b, &item);                                                            \
        }                                                                                          \
        buf_append_u8(b, ']');                                                                     \
    }
CZK_VEC_RECORDS(ZK_VEC_PRINT)

#define ZK_PRINT_i32(b, x, a)  buf_printf(b, "%" PRId32, x)
#define ZK_PRINT_i64(b, x, a)  buf_printf(b, "%" PRId64, x)
#define ZK_PRINT_bool(b, x, a) buf_printf(b, "%s", (x) ? "true" : "false")
#define ZK_PRINT_buf(b, x, a)  print_bytes(b, x, false)
#define ZK_PRINT_str(b, x, a)  print_bytes(b, x, true)
#define ZK_PRINT_rec(b, x, a)  zk_##a##_print(b, &(x))
#define ZK_PRINT_vec(b, x, a)  print_vec_##a(b, &(x))

#define ZK_FIELD_ENC(kind, arg, name) ZK_ENC_##kind(b, v->name, arg);
#define ZK_FIELD_DEC(kind, arg, name) ZK_DEC_##kind(r, v->name, arg);
#define ZK_FIELD_PRINT(kind, arg, name)                                                            \
    buf_printf(b, " %s=", #name);                                                                  \
    ZK_PRINT_##kind(b, v->name, arg);

#define ZK_FUNC_DEF(rec)                                                                           \
    void zk_##rec##_encode(struct buf *b, const struct zk_##rec *v)                                \
    {                                                                                              \
        REC_##rec(ZK_FIELD_ENC)                                                                    \
    }                                                                                              \
    int zk_##rec##_decode(struct jute_reader *r, struct zk_##rec *v)                               \
    {                                                                                              \
        REC_##rec(ZK_FIELD_DEC) return r->failed ? -1 : 0;                                         \
    }                                                                                              \
    void zk_##rec##_print(struct buf *b, const struct zk_##rec *v)                                 \
    {                                                                                              \
        buf_printf(b, "{%s", #rec);                                                                \
        REC_##rec(ZK_FIELD_PRINT) buf_append_u8(b, '}');                                           \
    }
CZK_RECORDS(ZK_FUNC_DEF)
