/* SPDX-License-Identifier: Apache-2.0 */
/* The jute codec against byte vectors captured from real clients (kazoo 2.9
 * and the 3.8 C client's cli_mt, by a socket that recorded their first frame). */
#include "check.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"

#include <string.h>

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void test_connect_request_from_clients(void)
{
    static const struct {
        const char *hex;
        int32_t timeout;
    } captured[] = {
        {"0000002d000000000000000000000000000027100000000000000000000000100000000000000000000000"
         "000000000000",
         10000}, /* kazoo */
        {"0000002d000000000000000000000000000075300000000000000000000000100000000000000000000000"
         "000000000000",
         30000}, /* cli_mt */
    };
    for (size_t i = 0; i < 2; i++) {
        uint8_t bytes[64];
        size_t n = unhex(captured[i].hex, bytes);
        CHECK_EQ_INT(n, 49);
        CHECK_EQ_INT(be32_get(bytes), 45);
        struct jute_reader r;
        jute_reader_init(&r, bytes + 4, n - 4);
        struct zk_connect_request req;
        CHECK(zk_connect_request_decode(&r, &req) == 0);
        CHECK_EQ_INT(req.protocol_version, 0);
        CHECK_EQ_INT(req.last_zxid_seen, 0);
        CHECK_EQ_INT(req.time_out, captured[i].timeout);
        CHECK_EQ_INT(req.session_id, 0);
        CHECK_EQ_INT(req.passwd.len, 16);
        CHECK_EQ_INT(jute_reader_remaining(&r), 1); /* readOnly */
        CHECK(!jute_read_bool(&r));
        /* and back to the same bytes */
        struct buf b;
        buf_init(&b);
        size_t at = frame_begin(&b);
        zk_connect_request_encode(&b, &req);
        jute_write_bool(&b, false);
        frame_end(&b, at);
        CHECK(b.len == n && memcmp(b.data, bytes, n) == 0);
        buf_deinit(&b);
    }
}

static void test_truncated_and_lying_lengths(void)
{
    /* GetDataRequest {path "/a", watch} cut at every length fails cleanly */
    const uint8_t full[] = {0, 0, 0, 2, '/', 'a', 1};
    for (size_t cut = 0; cut < sizeof(full); cut++) {
        struct jute_reader r;
        jute_reader_init(&r, full, cut);
        struct zk_path_watch_request req;
        CHECK(zk_path_watch_request_decode(&r, &req) != 0);
    }
    struct jute_reader r;
    jute_reader_init(&r, full, sizeof(full));
    struct zk_path_watch_request req;
    CHECK(zk_path_watch_request_decode(&r, &req) == 0);
    CHECK(jute_buf_eq(req.path, "/a", 2) && req.watch);

    /* a buffer length beyond the input, negative vector counts, huge counts */
    const uint8_t lie[] = {0x7f, 0xff, 0xff, 0xff, 'x'};
    jute_reader_init(&r, lie, sizeof(lie));
    struct jute_buf b = jute_read_buf(&r);
    CHECK(r.failed && b.len == -1);
    const uint8_t huge_vec[] = {0, 0, 0, 1, '/', 0x7f, 0, 0, 0};
    jute_reader_init(&r, huge_vec, sizeof(huge_vec));
    struct zk_children_response cr;
    CHECK(zk_path_request_decode(&r, &(struct zk_path_request){0}) == 0);
    CHECK(zk_children_response_decode(&r, &cr) != 0);
    const uint8_t null_vec[] = {0xff, 0xff, 0xff, 0xff};
    jute_reader_init(&r, null_vec, sizeof(null_vec));
    CHECK(zk_children_response_decode(&r, &cr) == 0 && cr.children.count == -1);
}

static void test_vectors_and_print(void)
{
    struct zk_acl acls[2] = {
        {.perms = 31, .id = {.scheme = jute_cstr("world"), .id = jute_cstr("anyone")}},
        {.perms = 1, .id = {.scheme = jute_cstr("digest"), .id = jute_cstr("u:h")}}};
    struct zk_create_request req = {.path = jute_cstr("/n"),
                                    .data = {.ptr = (const uint8_t *)"xy", .len = 2},
                                    .acl = {.count = 2, .items = acls},
                                    .flags = 3};
    struct buf b;
    buf_init(&b);
    zk_create_request_encode(&b, &req);
    struct jute_reader r;
    jute_reader_init(&r, b.data, b.len);
    struct zk_create_request back;
    CHECK(zk_create_request_decode(&r, &back) == 0);
    CHECK_EQ_INT(jute_reader_remaining(&r), 0);
    CHECK_EQ_INT(back.acl.count, 2);
    struct jute_vec_iter it;
    jute_vec_iter_init(&it, &back.acl);
    struct zk_acl a;
    CHECK(jute_vec_next_acl(&it, &a) && a.perms == 31 && jute_buf_eq(a.id.id, "anyone", 6));
    CHECK(jute_vec_next_acl(&it, &a) && a.perms == 1 && jute_buf_eq(a.id.scheme, "digest", 6));
    CHECK(!jute_vec_next_acl(&it, &a));
    struct buf p;
    buf_init(&p);
    zk_create_request_print(&p, &back);
    buf_append_u8(&p, 0);
    CHECK(strstr((char *)p.data, "path=\"/n\"") != NULL);
    CHECK(strstr((char *)p.data, "flags=3") != NULL);
    buf_deinit(&p);
    buf_deinit(&b);
}

int main(void)
{
    test_connect_request_from_clients();
    test_truncated_and_lying_lengths();
    test_vectors_and_print();
    CHECK(four_letter_word_is((const uint8_t *)"ruok"));
    CHECK(!four_letter_word_is((const uint8_t *)"\0\0\0\x2d"));
    CHECK(zk_op_is_write(ZK_OP_CREATE) && !zk_op_is_write(ZK_OP_GET_DATA));
    return check_result("test_proto");
}
