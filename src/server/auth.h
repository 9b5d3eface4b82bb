/* SPDX-License-Identifier: Apache-2.0 */
/* auth.h — ZooKeeper's ACL checks and its built-in authentication providers
 * (world, ip, digest; super through a configured digest). A connection holds
 * a list of authenticated ids; an ACL entry grants its permissions to the ids
 * it matches (ZooKeeperServer.checkACL). Pure. */
#ifndef CZK_SERVER_AUTH_H
#define CZK_SERVER_AUTH_H

#include "base/buf.h"
#include "proto/jute.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An authenticated id. The scheme is one of the server's own names ("ip",
 * "digest", "super"); the id is a length-counted byte string, never a C
 * string: a digest user name is whatever bytes the client sent before the
 * first ':', NUL bytes included, as ZooKeeper keeps it. `id` is
 * NUL-terminated after `id_len` bytes only for convenience. */
struct auth_id {
    char *scheme;
    uint8_t *id;
    size_t id_len;
};

struct auth_ids {
    struct auth_id *items;
    size_t count;
};

void auth_ids_init(struct auth_ids *ids);
void auth_ids_deinit(struct auth_ids *ids);
/* Adds (scheme, id[0..id_len)) unless the list already has it. `scheme` is a
 * server constant; `id` is copied. */
void auth_ids_add(struct auth_ids *ids, const char *scheme, const uint8_t *id, size_t id_len);
/* The user part of an id as ZooKeeper's providers report it (whoAmI): for
 * digest the bytes before the first ':', for ip the address, otherwise "". */
struct jute_buf auth_id_user(const struct auth_id *id);

/* "user:password" -> "user:base64(sha1(user:password))" (DigestAuthenticationProvider). */
void auth_digest_of(const uint8_t *cred, size_t len, struct buf *out);
/* A digest id as getACL shows it without ADMIN (CVE-2019-0201): ZooKeeper's
 * id.replaceAll(":.*", ":x") on the bytes, so "user:hash" -> "user:x"; as
 * Java's '.' stops at a line terminator, so does the masking. */
void auth_digest_masked(struct jute_buf id, struct buf *out);
/* Whether an id is well formed for its scheme (the providers' isValid). */
bool auth_digest_id_is_valid(struct jute_buf id);
bool auth_ip_id_is_valid(struct jute_buf id);
/* IPAuthenticationProvider.matches: client address against "addr[/bits]".
 * An expression with a NUL byte is never valid and never matches. */
bool auth_ip_matches(struct jute_buf client_ip, struct jute_buf expr);

/* Does the ACL (encoded items) grant `perm` to anyone in `ids`? An empty or
 * null ACL grants everything; a "super" id passes every check. */
bool auth_acl_permits(const struct jute_vec *acl, int32_t perm, const struct auth_ids *ids);

#endif
