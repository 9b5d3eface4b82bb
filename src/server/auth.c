/* SPDX-License-Identifier: Apache-2.0 */
#include "server/auth.h"

#include "base/mem.h"
#include "proto/records.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

void auth_ids_init(struct auth_ids *ids)
{
    ids->items = NULL;
    ids->count = 0;
}

void auth_ids_deinit(struct auth_ids *ids)
{
    for (size_t i = 0; i < ids->count; i++) {
        mem_free(ids->items[i].scheme);
        mem_free(ids->items[i].id);
    }
    mem_free(ids->items);
    auth_ids_init(ids);
}

static bool id_is(const struct auth_id *who, const char *scheme, const uint8_t *id, size_t id_len)
{
    return strcmp(who->scheme, scheme) == 0 && who->id_len == id_len &&
           (id_len == 0 || memcmp(who->id, id, id_len) == 0);
}

void auth_ids_add(struct auth_ids *ids, const char *scheme, const uint8_t *id, size_t id_len)
{
    for (size_t i = 0; i < ids->count; i++)
        if (id_is(&ids->items[i], scheme, id, id_len))
            return;
    ids->items = mem_realloc(ids->items, (ids->count + 1) * sizeof(*ids->items));
    struct auth_id *added = &ids->items[ids->count];
    added->scheme = mem_strndup(scheme, strlen(scheme));
    added->id = mem_alloc(id_len + 1);
    if (id_len > 0)
        memcpy(added->id, id, id_len);
    added->id[id_len] = '\0';
    added->id_len = id_len;
    ids->count++;
}

struct jute_buf auth_id_user(const struct auth_id *id)
{
    size_t len = 0;
    if (strcmp(id->scheme, "ip") == 0) {
        len = id->id_len;
    } else if (strcmp(id->scheme, "digest") == 0) {
        const uint8_t *colon = memchr(id->id, ':', id->id_len);
        len = colon ? (size_t)(colon - id->id) : id->id_len;
    }
    return (struct jute_buf){.ptr = id->id, .len = (int32_t)len};
}

void auth_digest_of(const uint8_t *cred, size_t len, struct buf *out)
{
    const uint8_t *colon = memchr(cred, ':', len);
    size_t user_len = colon ? (size_t)(colon - cred) : len;
    uint8_t sha[SHA_DIGEST_LENGTH];
    SHA1(cred, len, sha);
    unsigned char b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    int n = EVP_EncodeBlock(b64, sha, SHA_DIGEST_LENGTH);
    buf_append(out, cred, user_len);
    buf_append_u8(out, ':');
    buf_append(out, b64, (size_t)n);
}

/* Length of the line terminator at p (\n, \r, U+0085, U+2028, U+2029 in
 * UTF-8), 0 if there is none. */
static size_t line_end_len(const uint8_t *p, size_t left)
{
    if (p[0] == '\n' || p[0] == '\r')
        return 1;
    if (left >= 2 && p[0] == 0xc2 && p[1] == 0x85)
        return 2;
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
        return 3;
    return 0;
}

void auth_digest_masked(struct jute_buf id, struct buf *out)
{
    size_t len = id.len < 0 ? 0 : (size_t)id.len;
    size_t i = 0;
    while (i < len) {
        if (id.ptr[i] != ':') {
            buf_append_u8(out, id.ptr[i++]);
            continue;
        }
        buf_append(out, ":x", 2);
        while (i < len && line_end_len(id.ptr + i, len - i) == 0)
            i++;
    }
}

bool auth_digest_id_is_valid(struct jute_buf id)
{
    /* id.split(":") has exactly two parts; Java drops trailing empty parts */
    size_t len = id.len < 0 ? 0 : (size_t)id.len;
    while (len > 0 && id.ptr[len - 1] == ':')
        len--;
    size_t colons = 0;
    for (size_t i = 0; i < len; i++)
        colons += id.ptr[i] == ':';
    return len > 0 && colons == 1;
}

/* Parses "addr[/bits]"; bits defaults to the address length. A NUL byte
 * makes the text invalid: inet_pton and strtol would stop there and accept
 * "127.0.0.1\0junk" as 127.0.0.1, where ZooKeeper refuses it. */
static bool ip_parse(const uint8_t *text, size_t len, uint8_t addr[16], size_t *addr_len,
                     long *bits)
{
    char copy[128];
    if (len == 0 || len >= sizeof(copy) || memchr(text, '\0', len))
        return false;
    memcpy(copy, text, len);
    copy[len] = '\0';
    char *slash = strchr(copy, '/');
    if (slash)
        *slash = '\0';
    if (inet_pton(AF_INET, copy, addr) == 1)
        *addr_len = 4;
    else if (inet_pton(AF_INET6, copy, addr) == 1)
        *addr_len = 16;
    else
        return false;
    *bits = (long)*addr_len * 8;
    if (!slash)
        return true;
    char *end;
    errno = 0;
    long b = strtol(slash + 1, &end, 10);
    if (errno != 0 || end == slash + 1 || *end != '\0' || b < 0 || b > *bits)
        return false;
    *bits = b;
    return true;
}

bool auth_ip_id_is_valid(struct jute_buf id)
{
    uint8_t addr[16];
    size_t addr_len;
    long bits;
    return id.len > 0 && ip_parse(id.ptr, (size_t)id.len, addr, &addr_len, &bits);
}

bool auth_ip_matches(struct jute_buf client_ip, struct jute_buf expr)
{
    uint8_t want[16], have[16];
    size_t want_len, have_len;
    long bits, have_bits;
    if (expr.len <= 0 || !ip_parse(expr.ptr, (size_t)expr.len, want, &want_len, &bits))
        return false;
    if (client_ip.len <= 0 ||
        !ip_parse(client_ip.ptr, (size_t)client_ip.len, have, &have_len, &have_bits) ||
        have_len != want_len)
        return false;
    for (long i = 0; i < bits; i++) {
        uint8_t mask = (uint8_t)(0x80 >> (i % 8));
        if ((want[i / 8] & mask) != (have[i / 8] & mask))
            return false;
    }
    return true;
}

static bool id_matches(const struct auth_id *who, const struct zk_id *acl_id)
{
    size_t scheme_len = strlen(who->scheme);
    if (!jute_buf_eq(acl_id->scheme, who->scheme, scheme_len))
        return false;
    struct jute_buf id = {.ptr = who->id, .len = (int32_t)who->id_len};
    if (strcmp(who->scheme, "ip") == 0)
        return auth_ip_matches(id, acl_id->id);
    return jute_buf_eq(acl_id->id, (const char *)who->id, who->id_len);
}

bool auth_acl_permits(const struct jute_vec *acl, int32_t perm, const struct auth_ids *ids)
{
    if (acl->count <= 0)
        return true;
    for (size_t i = 0; i < ids->count; i++)
        if (strcmp(ids->items[i].scheme, "super") == 0)
            return true;
    struct jute_vec_iter it;
    jute_vec_iter_init(&it, acl);
    struct zk_acl a;
    while (jute_vec_next_acl(&it, &a)) {
        if ((a.perms & perm) == 0)
            continue;
        if (jute_buf_eq(a.id.scheme, "world", 5) && jute_buf_eq(a.id.id, "anyone", 6))
            return true;
        for (size_t i = 0; i < ids->count; i++)
            if (id_matches(&ids->items[i], &a.id))
                return true;
    }
    return false;
}
