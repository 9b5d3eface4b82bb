/* SPDX-License-Identifier: Apache-2.0 */
/* The auth module: ids are byte strings (a NUL byte is data, never an end),
 * digest ids as ZooKeeper derives them, ip expressions, ACL checks. */
#include "check.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/auth.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

/* An ACL vector of one entry, encoded into `b` (the vector views it).
 * ACL_OF takes string literals, NUL bytes included. */
static struct jute_vec acl_of(struct buf *b, int32_t perms, const char *scheme, size_t scheme_len,
                              const char *id, size_t id_len)
{
    buf_clear(b);
    struct zk_acl a = {
        .perms = perms,
        .id = {.scheme = jute_buf_of(scheme, scheme_len), .id = jute_buf_of(id, id_len)}};
    zk_acl_encode(b, &a);
    return (struct jute_vec){.count = 1, .raw = b->data, .raw_len = b->len};
}

#define ACL_OF(b, perms, scheme, id)                                                               \
    acl_of((b), (perms), (scheme), sizeof(scheme) - 1, (id), sizeof(id) - 1)

static void digest_b64(const void *cred, size_t len, char out[32])
{
    uint8_t sha[SHA_DIGEST_LENGTH];
    SHA1(cred, len, sha);
    EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
}

static void test_ids_keep_nul_bytes(void)
{
    struct auth_ids ids;
    auth_ids_init(&ids);
    auth_ids_add(&ids, "digest", (const uint8_t *)"mal\0lory:h", 10);
    auth_ids_add(&ids, "digest", (const uint8_t *)"mal\0other:h", 11);
    auth_ids_add(&ids, "digest", (const uint8_t *)"mal\0lory:h", 10); /* already there */
    auth_ids_add(&ids, "digest", (const uint8_t *)"mal", 3);
    CHECK_EQ_INT(ids.count, 3);
    CHECK_EQ_INT(ids.items[0].id_len, 10);
    CHECK(memcmp(ids.items[0].id, "mal\0lory:h", 10) == 0);
    CHECK_EQ_INT(ids.items[1].id_len, 11);

    /* whoAmI's user: the bytes before the first ':', NUL included */
    struct jute_buf user = auth_id_user(&ids.items[0]);
    CHECK_EQ_INT(user.len, 8);
    CHECK(memcmp(user.ptr, "mal\0lory", 8) == 0);
    user = auth_id_user(&ids.items[2]);
    CHECK_EQ_INT(user.len, 3);
    auth_ids_deinit(&ids);

    auth_ids_init(&ids);
    auth_ids_add(&ids, "super", NULL, 0);
    auth_ids_add(&ids, "ip", (const uint8_t *)"10.1.2.3", 8);
    CHECK_EQ_INT(auth_id_user(&ids.items[0]).len, 0);
    CHECK_EQ_INT(auth_id_user(&ids.items[1]).len, 8);
    auth_ids_deinit(&ids);
}

static void test_digest_of(void)
{
    static const char cred[] = "mal\0lory:pw";
    struct buf out;
    buf_init(&out);
    auth_digest_of((const uint8_t *)cred, sizeof(cred) - 1, &out);
    char b64[32];
    digest_b64(cred, sizeof(cred) - 1, b64);
    CHECK_EQ_INT(out.len, 9 + strlen(b64));
    CHECK(memcmp(out.data, "mal\0lory:", 9) == 0);
    CHECK(memcmp(out.data + 9, b64, strlen(b64)) == 0);

    /* no ':' at all: the whole credential is the user (split(":", 2)) */
    buf_clear(&out);
    auth_digest_of((const uint8_t *)"nocolon", 7, &out);
    CHECK(out.len > 8 && memcmp(out.data, "nocolon:", 8) == 0);
    buf_deinit(&out);
}

static void test_acl_permits_compares_bytes(void)
{
    struct buf b;
    buf_init(&b);
    struct auth_ids mal, other;
    auth_ids_init(&mal);
    auth_ids_init(&other);
    auth_ids_add(&mal, "digest", (const uint8_t *)"mal\0lory:H", 10);
    auth_ids_add(&other, "digest", (const uint8_t *)"mal\0other:X", 11);

    struct jute_vec acl = ACL_OF(&b, ZK_PERM_ALL, "digest", "mal\0lory:H");
    CHECK(auth_acl_permits(&acl, ZK_PERM_READ, &mal));
    CHECK(!auth_acl_permits(&acl, ZK_PERM_READ, &other));

    /* the entry czk used to store, cut at the NUL: matches neither */
    acl = ACL_OF(&b, ZK_PERM_ALL, "digest", "mal");
    CHECK(!auth_acl_permits(&acl, ZK_PERM_READ, &mal));
    CHECK(!auth_acl_permits(&acl, ZK_PERM_READ, &other));

    /* a scheme with a NUL is another scheme */
    acl = ACL_OF(&b, ZK_PERM_ALL, "digest\0x", "mal\0lory:H");
    CHECK(!auth_acl_permits(&acl, ZK_PERM_READ, &mal));

    auth_ids_deinit(&mal);
    auth_ids_deinit(&other);
    buf_deinit(&b);
}

static void test_ip(void)
{
    CHECK(auth_ip_id_is_valid(jute_cstr("127.0.0.1")));
    CHECK(auth_ip_id_is_valid(jute_cstr("10.0.0.0/8")));
    CHECK(auth_ip_id_is_valid(jute_cstr("::1")));
    CHECK(!auth_ip_id_is_valid(jute_buf_of("127.0.0.1\0", 10)));
    CHECK(!auth_ip_id_is_valid(jute_buf_of("127.0.0.1\0junk", 14)));
    CHECK(!auth_ip_id_is_valid(jute_buf_of("10.0.0.0/8\0", 11)));
    CHECK(!auth_ip_id_is_valid(jute_buf_of("10.0.0.0\0/8", 11)));
    CHECK(!auth_ip_id_is_valid(jute_cstr("")));

    struct jute_buf me = jute_cstr("10.1.2.3");
    CHECK(auth_ip_matches(me, jute_cstr("10.0.0.0/8")));
    CHECK(auth_ip_matches(me, jute_cstr("10.1.2.3")));
    CHECK(!auth_ip_matches(me, jute_cstr("10.1.2.4")));
    CHECK(!auth_ip_matches(me, jute_buf_of("10.1.2.3\0", 9)));
    CHECK(!auth_ip_matches(me, jute_cstr("::1")));

    struct buf b;
    buf_init(&b);
    struct auth_ids ids;
    auth_ids_init(&ids);
    auth_ids_add(&ids, "ip", (const uint8_t *)"10.1.2.3", 8);
    struct jute_vec acl = ACL_OF(&b, ZK_PERM_READ, "ip", "10.1.2.3\0/0");
    CHECK(!auth_acl_permits(&acl, ZK_PERM_READ, &ids));
    acl = ACL_OF(&b, ZK_PERM_READ, "ip", "10.1.0.0/16");
    CHECK(auth_acl_permits(&acl, ZK_PERM_READ, &ids));
    auth_ids_deinit(&ids);
    buf_deinit(&b);
}

static void test_digest_id_is_valid(void)
{
    CHECK(auth_digest_id_is_valid(jute_cstr("user:hash")));
    CHECK(auth_digest_id_is_valid(jute_buf_of("a\0b:hash", 8)));
    CHECK(auth_digest_id_is_valid(jute_cstr("user:hash::"))); /* Java drops empty tails */
    CHECK(!auth_digest_id_is_valid(jute_cstr("user")));
    CHECK(!auth_digest_id_is_valid(jute_cstr("a:b:c")));
    CHECK(!auth_digest_id_is_valid((struct jute_buf){.ptr = NULL, .len = -1}));
}

static void check_masked(const char *id, size_t id_len, const char *want, size_t want_len)
{
    struct buf out;
    buf_init(&out);
    auth_digest_masked(jute_buf_of(id, id_len), &out);
    CHECK_EQ_INT(out.len, want_len);
    CHECK(out.len == want_len && memcmp(out.data, want, want_len) == 0);
    buf_deinit(&out);
}
#define CHECK_MASKED(id, want) check_masked((id), sizeof(id) - 1, (want), sizeof(want) - 1)

static void test_digest_masked(void)
{
    CHECK_MASKED("user:hash", "user:x");
    CHECK_MASKED("mal\0lory:hash", "mal\0lory:x");
    CHECK_MASKED("nocolon", "nocolon");
    CHECK_MASKED("a:b:c", "a:x");
    /* Java's '.' stops at line terminators; the next ':' is masked again */
    CHECK_MASKED("c:d\ne", "c:x\ne");
    CHECK_MASKED("f:g\r\nh:i", "f:x\r\nh:x");
    CHECK_MASKED("j:k\xe2\x80\xa8l", "j:x\xe2\x80\xa8l");
    CHECK_MASKED("m:n\xc2\x85o", "m:x\xc2\x85o");
    CHECK_MASKED("p:q\xe2\x80\xa7r", "p:x");
}

static void test_world_and_super(void)
{
    struct buf b;
    buf_init(&b);
    struct auth_ids none, super;
    auth_ids_init(&none);
    auth_ids_init(&super);
    auth_ids_add(&super, "super", NULL, 0);
    struct jute_vec acl = ACL_OF(&b, ZK_PERM_READ, "world", "anyone");
    CHECK(auth_acl_permits(&acl, ZK_PERM_READ, &none));
    CHECK(!auth_acl_permits(&acl, ZK_PERM_WRITE, &none));
    acl = ACL_OF(&b, ZK_PERM_READ, "world", "anyone\0");
    CHECK(!auth_acl_permits(&acl, ZK_PERM_READ, &none));
    CHECK(auth_acl_permits(&acl, ZK_PERM_READ, &super));
    auth_ids_deinit(&none);
    auth_ids_deinit(&super);
    buf_deinit(&b);
}

int main(void)
{
    test_ids_keep_nul_bytes();
    test_digest_of();
    test_acl_permits_compares_bytes();
    test_ip();
    test_digest_id_is_valid();
    test_digest_masked();
    test_world_and_super();
    return check_result("test_auth");
}
