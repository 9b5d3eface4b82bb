/* SPDX-License-Identifier: Apache-2.0 */
/* The peer-port codec (proto/quorum.h, proto/election.h): every quorum record
 * round-trips, every payload layout matches the bytes Apache's DataOutputStream
 * writes, every cut or lying length fails cleanly; and, given the directory of
 * tests/golden/quorum, the bytes captured from Apache 3.8.0 decode to the
 * lines the capture test derived from Apache's side (README.md there). */
#include "check.h"
#include "peer_lines.h"
#include "proto/election.h"
#include "proto/jute.h"
#include "proto/quorum.h"
#include "proto/records.h"

#include <stdlib.h>
#include <string.h>

static bool bytes_eq(const struct buf *b, const uint8_t *p, size_t n)
{
    return b->len == n && memcmp(b->data, p, n) == 0;
}

/* Decodes `b` as record `rec`, checks it consumes everything, re-encodes to
 * the same bytes, and that every shorter prefix fails. */
#define ROUND_TRIP(rec, value)                                                                     \
    do {                                                                                           \
        struct buf enc_, again_;                                                                   \
        buf_init(&enc_);                                                                           \
        buf_init(&again_);                                                                         \
        zk_##rec##_encode(&enc_, (value));                                                         \
        struct jute_reader r_;                                                                     \
        jute_reader_init(&r_, enc_.data, enc_.len);                                                \
        struct zk_##rec dec_;                                                                      \
        CHECK(zk_##rec##_decode(&r_, &dec_) == 0);                                                 \
        CHECK_EQ_INT(jute_reader_remaining(&r_), 0);                                               \
        zk_##rec##_encode(&again_, &dec_);                                                         \
        CHECK(bytes_eq(&again_, enc_.data, enc_.len));                                             \
        for (size_t cut_ = 0; cut_ < enc_.len; cut_++) {                                           \
            jute_reader_init(&r_, enc_.data, cut_);                                                \
            CHECK(zk_##rec##_decode(&r_, &dec_) != 0);                                             \
        }                                                                                          \
        buf_deinit(&enc_);                                                                         \
        buf_deinit(&again_);                                                                       \
    } while (0)

static void test_records_round_trip(void)
{
    struct zk_learner_info li = {.serverid = 4, .protocol_version = 0x10000, .config_version = 7};
    ROUND_TRIP(learner_info, &li);

    struct zk_id ids[2] = {{.scheme = jute_cstr("digest"), .id = jute_cstr("alice:x")},
                           {.scheme = jute_cstr("ip"), .id = jute_cstr("127.0.0.1")}};
    struct zk_quorum_packet qp = {.type = QUORUM_REQUEST,
                                  .zxid = -1,
                                  .data = jute_cstr("payload"),
                                  .authinfo = {.count = 2, .items = ids}};
    ROUND_TRIP(quorum_packet, &qp);
    struct zk_quorum_packet bare = {
        .type = QUORUM_UPTODATE, .zxid = -1, .data = jute_cstr(NULL), .authinfo = {.count = -1}};
    ROUND_TRIP(quorum_packet, &bare);

    struct zk_quorum_auth_packet ap = {
        .magic = QUORUM_AUTH_MAGIC, .status = 1, .token = jute_cstr("tok")};
    ROUND_TRIP(quorum_auth_packet, &ap);

    /* the bytes, as jute writes them: UPTODATE with null data and authinfo */
    struct buf b;
    buf_init(&b);
    quorum_packet_encode(&b, QUORUM_UPTODATE, -1, jute_cstr(NULL), NULL, 0);
    const uint8_t uptodate[] = {0,    0,    0,    12,   0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK(bytes_eq(&b, uptodate, sizeof(uptodate)));
    buf_clear(&b);
    zk_quorum_auth_packet_print(&b, &ap);
    buf_append_u8(&b, 0);
    /* QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER = -0xa0dbcafecafe1234L */
    CHECK(strstr((const char *)b.data, "magic=6855662812065295820") != NULL);
    buf_deinit(&b);
}

static void test_packet_stream_split(void)
{
    struct buf s;
    buf_init(&s);
    struct zk_id id = {.scheme = jute_cstr("ip"), .id = jute_cstr("10.0.0.1")};
    quorum_packet_encode(&s, QUORUM_LEADERINFO, (int64_t)1 << 32, jute_buf_of("\0\1\0\0", 4), NULL,
                         0);
    size_t first = s.len;
    quorum_packet_encode(&s, QUORUM_REQUEST, -1, jute_cstr("abc"), &id, 1);
    size_t second = s.len - first;
    size_t n = 99;
    /* every proper prefix asks for more, never an error */
    for (size_t cut = 0; cut < first; cut++) {
        CHECK(quorum_packet_split(s.data, cut, QUORUM_MAX_BUFFER_DEFAULT, &n) == 0);
        CHECK_EQ_INT(n, 0);
    }
    CHECK(quorum_packet_split(s.data, s.len, QUORUM_MAX_BUFFER_DEFAULT, &n) == 0);
    CHECK_EQ_INT(n, first);
    for (size_t cut = 0; cut < second; cut++) {
        CHECK(quorum_packet_split(s.data + first, cut, QUORUM_MAX_BUFFER_DEFAULT, &n) == 0);
        CHECK_EQ_INT(n, 0);
    }
    CHECK(quorum_packet_split(s.data + first, second, QUORUM_MAX_BUFFER_DEFAULT, &n) == 0);
    CHECK_EQ_INT(n, second);
    struct jute_reader r;
    jute_reader_init(&r, s.data + first, second);
    struct zk_quorum_packet qp;
    CHECK(zk_quorum_packet_decode(&r, &qp) == 0);
    struct jute_vec_iter it;
    jute_vec_iter_init(&it, &qp.authinfo);
    struct zk_id got;
    CHECK(jute_vec_next_id(&it, &got) && jute_buf_eq(got.id, "10.0.0.1", 8));

    /* data longer than the limit, lengths below -1, absurd authinfo counts */
    uint8_t bad[20] = {0, 0, 0, 2};
    memcpy(bad + 12, "\x00\x10\x00\x00", 4);
    CHECK(quorum_packet_split(bad, sizeof(bad), 0xfffff, &n) == PEER_ETOOBIG);
    CHECK(quorum_packet_split(bad, sizeof(bad), 0x100000, &n) == 0 && n == 0);
    memcpy(bad + 12, "\xff\xff\xff\xfe", 4);
    CHECK(quorum_packet_split(bad, sizeof(bad), 0xfffff, &n) == PEER_EBADLENGTH);
    memcpy(bad + 12, "\xff\xff\xff\xff\xff\xff\xff\xfe", 8);
    CHECK(quorum_packet_split(bad, sizeof(bad), 0xfffff, &n) == PEER_EBADLENGTH);
    memcpy(bad + 12, "\xff\xff\xff\xff\x7f\xff\xff\xff", 8);
    CHECK(quorum_packet_split(bad, sizeof(bad), 0xfffff, &n) == PEER_ETOOBIG);
    CHECK(quorum_type_name(QUORUM_INFORMANDACTIVATE) &&
          !strcmp(quorum_type_name(QUORUM_INFORMANDACTIVATE), "INFORMANDACTIVATE"));
    CHECK(quorum_type_name(0) == NULL && quorum_type_name(20) == NULL);
    CHECK(!strcmp(quorum_type_name(QUORUM_SNAP), "SNAP"));
    buf_deinit(&s);
}

static void test_payloads(void)
{
    struct buf b;
    buf_init(&b);
    /* REQUEST: long session, int cxid, int type, request bytes */
    struct quorum_request rq = {.session_id = 0x0100000000000042LL,
                                .cxid = 7,
                                .type = 1,
                                .request = jute_buf_of("\0\0\0\2/a", 6)};
    quorum_request_encode(&b, &rq);
    const uint8_t rq_bytes[] = {1, 0, 0, 0, 0, 0, 0, 0x42, 0, 0,   0,
                                7, 0, 0, 0, 1, 0, 0, 0,    2, '/', 'a'};
    CHECK(bytes_eq(&b, rq_bytes, sizeof(rq_bytes)));
    struct quorum_request rq2;
    CHECK(quorum_request_decode(jute_buf_of(b.data, b.len), &rq2) == 0);
    CHECK(rq2.session_id == rq.session_id && rq2.cxid == 7 && rq2.type == 1);
    CHECK(rq2.request.len == 6 && memcmp(rq2.request.ptr, "\0\0\0\2/a", 6) == 0);
    CHECK(quorum_request_decode(jute_buf_of(b.data, 16), &rq2) == 0 && rq2.request.len == 0);
    CHECK(quorum_request_decode(jute_buf_of(b.data, 15), &rq2) == PEER_ETRUNCATED);
    CHECK(quorum_request_decode(jute_cstr(NULL), &rq2) == PEER_ETRUNCATED);

    /* PING: (long session, int timeout)* */
    buf_clear(&b);
    quorum_ping_append(&b, 0x11, 30000);
    quorum_ping_append(&b, -2, 4000);
    CHECK_EQ_INT(b.len, 24);
    struct quorum_ping_iter it;
    CHECK(quorum_ping_iter_init(&it, jute_buf_of(b.data, b.len)) == 0);
    int64_t sid;
    int32_t to;
    CHECK(quorum_ping_next(&it, &sid, &to) && sid == 0x11 && to == 30000);
    CHECK(quorum_ping_next(&it, &sid, &to) && sid == -2 && to == 4000);
    CHECK(!quorum_ping_next(&it, &sid, &to));
    CHECK(quorum_ping_iter_init(&it, jute_buf_of(b.data, 23)) == PEER_EBADLENGTH);
    CHECK(quorum_ping_iter_init(&it, jute_cstr(NULL)) == 0 && !quorum_ping_next(&it, &sid, &to));

    /* REVALIDATE both ways */
    buf_clear(&b);
    struct quorum_revalidate rv = {.session_id = 5, .timeout_ms = 6000}, rv2;
    quorum_revalidate_encode(&b, &rv);
    CHECK_EQ_INT(b.len, 12);
    CHECK(quorum_revalidate_decode(jute_buf_of(b.data, b.len), &rv2) == 0);
    CHECK(rv2.session_id == 5 && rv2.timeout_ms == 6000);
    CHECK(quorum_revalidate_decode(jute_buf_of(b.data, 11), &rv2) == PEER_ETRUNCATED);
    buf_clear(&b);
    struct quorum_revalidate_reply rr = {.session_id = 5, .valid = true}, rr2;
    quorum_revalidate_reply_encode(&b, &rr);
    const uint8_t rr_bytes[] = {0, 0, 0, 0, 0, 0, 0, 5, 1};
    CHECK(bytes_eq(&b, rr_bytes, sizeof(rr_bytes)));
    CHECK(quorum_revalidate_reply_decode(jute_buf_of(b.data, b.len), &rr2) == 0 && rr2.valid);
    CHECK(quorum_revalidate_reply_decode(jute_buf_of(b.data, 8), &rr2) == PEER_ETRUNCATED);

    /* LEADERINFO / ACKEPOCH */
    buf_clear(&b);
    quorum_i32_payload_encode(&b, -1);
    int32_t v;
    CHECK(quorum_i32_payload_decode(jute_buf_of(b.data, b.len), &v) == 0 && v == -1);
    CHECK(quorum_i32_payload_decode(jute_buf_of(b.data, 3), &v) == PEER_ETRUNCATED);

    /* LearnerInfo and its short forms */
    buf_clear(&b);
    struct zk_learner_info li = {.serverid = 9, .protocol_version = 0x10000, .config_version = 3};
    zk_learner_info_encode(&b, &li);
    CHECK_EQ_INT(b.len, 20);
    struct quorum_learner_info qi;
    CHECK(quorum_learner_info_decode(jute_buf_of(b.data, 20), &qi) == 0);
    CHECK(qi.serverid == 9 && qi.protocol_version == 0x10000 && qi.has_config_version &&
          qi.config_version == 3);
    CHECK(quorum_learner_info_decode(jute_buf_of(b.data, 12), &qi) == 0);
    CHECK(qi.protocol_version == 0x10000 && !qi.has_config_version);
    CHECK(quorum_learner_info_decode(jute_buf_of(b.data, 8), &qi) == 0);
    CHECK(qi.serverid == 9 && qi.protocol_version == 1);
    CHECK(quorum_learner_info_decode(jute_buf_of(b.data, 7), &qi) == PEER_ETRUNCATED);
    CHECK(qi.czk_features == 0);
    /* czk's: the same 20 bytes (what Apache's LearnerHandler reads), then
     * "czk" and its features; any other trailer is no czk feature */
    buf_clear(&b);
    quorum_learner_info_encode(&b, 9, 3);
    CHECK_EQ_INT(b.len, 24);
    CHECK(memcmp(b.data + 8, "\x00\x01\x00\x00", 4) == 0);
    CHECK(memcmp(b.data + 20, "czk\x01", 4) == 0);
    CHECK(quorum_learner_info_decode(jute_buf_of(b.data, 24), &qi) == 0);
    CHECK(qi.serverid == 9 && qi.config_version == 3 && qi.czk_features == QUORUM_CZK_EPOCH_ROLL);
    CHECK(quorum_learner_info_decode(jute_buf_of(b.data, 23), &qi) == 0 && qi.czk_features == 0);
    b.data[20] = 'x';
    CHECK(quorum_learner_info_decode(jute_buf_of(b.data, 24), &qi) == 0 && qi.czk_features == 0);

    /* the zxid after: the counter, then past fffffffe the next epoch's first */
    CHECK_EQ_INT(quorum_zxid_after(0x0000000500000007LL, 0), 0x0000000500000008LL);
    CHECK_EQ_INT(quorum_zxid_after(0x00000005fffffffdLL, 0), 0x00000005fffffffeLL);
    CHECK_EQ_INT(quorum_zxid_after(0x00000005fffffffeLL, 0), 0x0000000600000001LL);
    CHECK_EQ_INT(quorum_zxid_after(0x00000005fffffffeLL, 0xfffffff0LL), 0x00000006fffffff0LL);

    /* COMMITANDACTIVATE / INFORMANDACTIVATE */
    const uint8_t act[] = {0, 0, 0, 0, 0, 0, 0, 3, 0xaa};
    int64_t designated;
    struct jute_buf rest;
    CHECK(quorum_activate_decode(jute_buf_of(act, 9), &designated, &rest) == 0);
    CHECK(designated == 3 && rest.len == 1 && rest.ptr[0] == 0xaa);
    CHECK(quorum_activate_decode(jute_buf_of(act, 7), &designated, &rest) == PEER_ETRUNCATED);
    buf_deinit(&b);
}

static void test_election_header(void)
{
    struct buf b;
    buf_init(&b);
    election_header_encode(&b, ELECTION_PROTOCOL_V1, 2, jute_cstr("127.0.0.1:3888"));
    CHECK_EQ_INT(b.len, 8 + 8 + 4 + 14);
    struct election_header h;
    size_t used = 99;
    for (size_t cut = 0; cut < b.len; cut++) {
        CHECK(election_header_decode(b.data, cut, &h, &used) == 0);
        CHECK_EQ_INT(used, 0);
    }
    CHECK(election_header_decode(b.data, b.len, &h, &used) == 0);
    CHECK(used == b.len && h.sid == 2 && h.protocol_version == ELECTION_PROTOCOL_V1);
    CHECK(jute_buf_eq(h.addresses, "127.0.0.1:3888", 14));

    /* V2, the old sid-only form, and what InitialMessage.parse refuses */
    b.data[7] = 0x01; /* -65535 */
    CHECK(election_header_decode(b.data, b.len, &h, &used) == 0);
    CHECK(h.protocol_version == ELECTION_PROTOCOL_V2 && used == b.len);
    b.data[7] = 0x02;
    CHECK(election_header_decode(b.data, b.len, &h, &used) == PEER_EBADVERSION);
    b.data[7] = 0x00;
    const uint8_t old[] = {0, 0, 0, 0, 0, 0, 0, 5, 0xde};
    CHECK(election_header_decode(old, sizeof(old), &h, &used) == 0);
    CHECK(used == 8 && h.sid == 5 && h.addresses.len == -1);
    memcpy(b.data + 16, "\0\0\0\0", 4);
    CHECK(election_header_decode(b.data, b.len, &h, &used) == PEER_EBADLENGTH);
    memcpy(b.data + 16, "\xff\xff\xff\xff", 4);
    CHECK(election_header_decode(b.data, b.len, &h, &used) == PEER_EBADLENGTH);
    memcpy(b.data + 16, "\0\0\x08\x01", 4); /* 2049 */
    CHECK(election_header_decode(b.data, b.len, &h, &used) == PEER_ETOOBIG);
    memcpy(b.data + 16, "\0\0\x08\x00", 4); /* 2048: allowed, wait for it */
    CHECK(election_header_decode(b.data, b.len, &h, &used) == 0 && used == 0);
    buf_deinit(&b);
}

static void test_election_messages(void)
{
    struct buf body, msg;
    buf_init(&body);
    buf_init(&msg);
    struct election_notification n = {.state = ELECTION_LOOKING,
                                      .leader = 3,
                                      .zxid = 0x100000005LL,
                                      .election_epoch = 2,
                                      .peer_epoch = 1,
                                      .version = ELECTION_NOTIFICATION_VERSION,
                                      .config = jute_cstr("server.1=a:1:2\nversion=0")};
    election_notification_encode(&body, &n);
    CHECK_EQ_INT(body.len, 44 + 24);
    election_message_encode(&msg, body.data, body.len);
    struct jute_buf m;
    size_t used;
    for (size_t cut = 0; cut < msg.len; cut++) {
        CHECK(election_message_split(msg.data, cut, &m, &used) == 0);
        CHECK_EQ_INT(used, 0);
    }
    CHECK(election_message_split(msg.data, msg.len, &m, &used) == 0 && used == msg.len);
    struct election_notification d;
    CHECK(election_notification_decode(m.ptr, (size_t)m.len, &d) == 0);
    CHECK(d.state == 0 && d.leader == 3 && d.zxid == 0x100000005LL && d.election_epoch == 2 &&
          d.peer_epoch == 1 && d.version == 2);
    CHECK(jute_buf_eq(d.config, "server.1=a:1:2\nversion=0", 24));
    /* trailing bytes are ignored, as WorkerReceiver does */
    buf_append_u8(&body, 0x77);
    CHECK(election_notification_decode(body.data, body.len, &d) == 0 && d.config.len == 24);

    /* the older forms: 28 bytes (peer epoch from the zxid) and 40 (no version) */
    CHECK(election_notification_decode(body.data, 28, &d) == 0);
    CHECK(d.peer_epoch == 1 && d.version == 0 && d.config.len == -1);
    body.data[35] = 9;
    CHECK(election_notification_decode(body.data, 40, &d) == 0);
    CHECK(d.peer_epoch == 9 && d.version == 0 && d.config.len == -1);
    /* every other short length fails, as Apache's BufferUnderflow skips it */
    for (size_t len = 0; len < 44 + 24; len++) {
        int rc = election_notification_decode(body.data, len, &d);
        if (len == 28 || len == 40)
            CHECK(rc == 0);
        else
            CHECK(rc == PEER_ETRUNCATED);
    }
    /* version 1 with more than 40 bytes: no config */
    body.data[39] = 1;
    CHECK(election_notification_decode(body.data, body.len, &d) == 0);
    CHECK(d.version == 1 && d.config.len == -1);
    body.data[39] = 2;
    memcpy(body.data + 40, "\xff\xff\xff\xff", 4);
    CHECK(election_notification_decode(body.data, body.len, &d) == PEER_EBADLENGTH);
    memcpy(body.data + 40, "\x00\x01\x00\x00", 4);
    CHECK(election_notification_decode(body.data, body.len, &d) == PEER_EBADLENGTH);
    memcpy(body.data + 40, "\x00\x00\x00\x19", 4); /* 25 of 24 bytes: one past the end */
    CHECK(election_notification_decode(body.data, body.len - 1, &d) == PEER_ETRUNCATED);
    memcpy(body.data + 40, "\x00\x00\x00\x18", 4);
    memcpy(body.data, "\x00\x00\x00\x04", 4);
    CHECK(election_notification_decode(body.data, body.len, &d) == PEER_EBADSTATE);

    /* message lengths RecvWorker refuses */
    const uint8_t zero[] = {0, 0, 0, 0}, neg[] = {0x80, 0, 0, 0}, big[] = {0, 8, 0, 1};
    const uint8_t max[] = {0, 8, 0, 0};
    CHECK(election_message_split(zero, 4, &m, &used) == PEER_EBADLENGTH);
    CHECK(election_message_split(neg, 4, &m, &used) == PEER_EBADLENGTH);
    CHECK(election_message_split(big, 4, &m, &used) == PEER_ETOOBIG);
    CHECK(election_message_split(max, 4, &m, &used) == 0 && used == 0);
    CHECK(!strcmp(election_state_name(ELECTION_LEADING), "LEADING"));
    CHECK(election_state_name(4) == NULL);
    CHECK(!strcmp(peer_err_name(PEER_ETOOBIG), "too big"));
    buf_deinit(&body);
    buf_deinit(&msg);
}

static char *slurp(const char *dir, const char *name, const char *ext)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap + 1);
    if (s)
        len = fread(s, 1, cap, f);
    fclose(f);
    if (s)
        s[len] = 0;
    return s;
}

static void test_golden(const char *dir)
{
    static const char *const names[] = {
        "election-header-from-apache", "election-from-apache",    "election-to-apache",
        "quorum-from-apache-leader",   "quorum-to-apache-leader",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *hex = slurp(dir, names[i], "hex");
        char *expect = slurp(dir, names[i], "expect");
        CHECK(hex != NULL && expect != NULL);
        if (hex && expect) {
            struct buf bytes, lines;
            buf_init(&bytes);
            buf_init(&lines);
            for (size_t k = 0; hex[k] && hex[k + 1] && hex[k] != '\n'; k += 2) {
                unsigned v;
                CHECK(sscanf(hex + k, "%2x", &v) == 1);
                buf_append_u8(&bytes, (uint8_t)v);
            }
            bool quorum = !strncmp(names[i], "quorum", 6);
            enum peer_lines_mode mode = strstr(names[i], "header")      ? PEER_LINES_HEADER
                                        : strstr(names[i], "to-apache") ? PEER_LINES_CONNECTION
                                                                        : PEER_LINES_MESSAGES;
            int rc = quorum ? peer_lines_quorum(bytes.data, bytes.len, &lines)
                            : peer_lines_election(bytes.data, bytes.len, mode, &lines);
            CHECK_EQ_INT(rc, 0);
            CHECK(lines.len == strlen(expect) && memcmp(lines.data, expect, lines.len) == 0);
            if (lines.len != strlen(expect) || memcmp(lines.data, expect, lines.len) != 0)
                fprintf(stderr, "%s: decoded\n%.*s\nexpected\n%s", names[i], (int)lines.len,
                        (const char *)lines.data, expect);
            /* every cut of a capture decodes to a prefix and a rest, never an error */
            for (size_t cut = 0; cut < bytes.len; cut++) {
                struct buf part;
                buf_init(&part);
                if (quorum)
                    CHECK(peer_lines_quorum(bytes.data, cut, &part) == 0);
                else
                    CHECK(peer_lines_election(bytes.data, cut, mode, &part) == 0);
                buf_deinit(&part);
            }
            buf_deinit(&bytes);
            buf_deinit(&lines);
        }
        free(hex);
        free(expect);
    }
}

/* What follows SNAP: a body as SerializeUtils.serializeSnapshot writes it,
 * then "BenWasHere"; the scan finds both ends however the bytes arrive. */
static void snap_node(struct buf *b, const char *path, const char *data)
{
    jute_write_cstr(b, path);
    jute_write_bytes(b, data, (int32_t)strlen(data));
    jute_write_i64(b, 1); /* acl id */
    for (int i = 0; i < 4; i++)
        jute_write_i64(b, i);
    for (int i = 0; i < 3; i++)
        jute_write_i32(b, i);
    jute_write_i64(b, 0);
    jute_write_i64(b, 7);
}

static void test_snap_scan(void)
{
    struct buf b;
    buf_init(&b);
    jute_write_i32(&b, 2); /* sessions */
    jute_write_i64(&b, 0x100);
    jute_write_i32(&b, 4000);
    jute_write_i64(&b, 0x101);
    jute_write_i32(&b, 6000);
    jute_write_i32(&b, 1); /* ACL cache */
    jute_write_i64(&b, 1);
    jute_write_i32(&b, 1);
    jute_write_i32(&b, 31);
    jute_write_cstr(&b, "world");
    jute_write_cstr(&b, "anyone");
    snap_node(&b, "", "");
    snap_node(&b, "/a", "hello");
    snap_node(&b, "/a/b", "");
    jute_write_cstr(&b, "/");
    size_t body = b.len;
    jute_write_cstr(&b, "BenWasHere");
    size_t total = b.len;
    jute_write_i32(&b, 5); /* the next packet's first bytes */

    /* In one piece, and a byte at a time with the same start. */
    struct quorum_snap_scan sc;
    quorum_snap_scan_init(&sc);
    CHECK_EQ_INT(quorum_snap_scan(&sc, b.data, b.len, QUORUM_MAX_BUFFER_DEFAULT), 1);
    CHECK_EQ_INT(sc.body_len, body);
    CHECK_EQ_INT(sc.pos, total);
    CHECK_EQ_INT(sc.nodes, 3);
    quorum_snap_scan_init(&sc);
    for (size_t n = 0; n < total; n++)
        CHECK_EQ_INT(quorum_snap_scan(&sc, b.data, n, QUORUM_MAX_BUFFER_DEFAULT), 0);
    CHECK_EQ_INT(quorum_snap_scan(&sc, b.data, total, QUORUM_MAX_BUFFER_DEFAULT), 1);
    CHECK_EQ_INT(sc.body_len, body);
    CHECK_EQ_INT(sc.pos, total);

    /* A data buffer above the limit, a negative count, a wrong signature. */
    quorum_snap_scan_init(&sc);
    CHECK_EQ_INT(quorum_snap_scan(&sc, b.data, b.len, 4), PEER_ETOOBIG);
    b.data[body + 4] = 'X';
    quorum_snap_scan_init(&sc);
    CHECK_EQ_INT(quorum_snap_scan(&sc, b.data, b.len, QUORUM_MAX_BUFFER_DEFAULT), PEER_EBADLENGTH);
    b.data[0] = 0xff;
    b.data[3] = 0xfe;
    quorum_snap_scan_init(&sc);
    CHECK_EQ_INT(quorum_snap_scan(&sc, b.data, b.len, QUORUM_MAX_BUFFER_DEFAULT), PEER_EBADLENGTH);
    buf_deinit(&b);
}

int main(int argc, char **argv)
{
    test_records_round_trip();
    test_packet_stream_split();
    test_payloads();
    test_snap_scan();
    test_election_header();
    test_election_messages();
    if (argc > 1)
        test_golden(argv[1]);
    else
        fprintf(stderr, "test_quorum: no golden directory given\n");
    return check_result("test_quorum");
}
