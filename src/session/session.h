/* SPDX-License-Identifier: Apache-2.0 */
/* session.h — the session table and its expiry buckets (ZooKeeper's
 * SessionTrackerImpl + ExpiryQueue): a session expires at its last touch +
 * timeout, rounded up to the next tick. Pure: now_ms is always an argument.
 * The caller allocates each struct session (it may embed it) and owns it. */
#ifndef CZK_SESSION_SESSION_H
#define CZK_SESSION_SESSION_H

#include "base/hmap.h"
#include "base/list.h"

#include <stdbool.h>
#include <stdint.h>

struct session {
    int64_t id;
    int32_t timeout_ms;
    uint8_t passwd[16];
    int64_t expire_at_ms; /* a multiple of the tick */
    struct list bucket_link;
    bool closing; /* a closeSession is in flight: no more touches */
};

struct session_table {
    struct imap by_id;   /* id -> struct session */
    struct imap buckets; /* expire_at_ms -> struct list of sessions */
    int64_t tick_ms;
    int64_t next_expiry_ms; /* the next bucket to look at */
    int64_t next_id;
};

/* server_id goes in the top byte of every id; ids start from now_ms as
 * ZooKeeper's initializeNextSessionId makes them. */
void session_table_init(struct session_table *st, int64_t tick_ms, int64_t server_id,
                        int64_t now_ms);
void session_table_deinit(struct session_table *st);
int64_t session_next_id(struct session_table *st);
/* The 16-byte password ZooKeeper derives from a session id
 * (java.util.Random(id ^ 0xB3415C00).nextBytes). */
void session_password(int64_t session_id, uint8_t out[16]);

void session_add(struct session_table *st, struct session *s, int64_t now_ms);
struct session *session_get(const struct session_table *st, int64_t id);
void session_remove(struct session_table *st, struct session *s);
/* Push the session's expiry to now + timeout (rounded up to a tick). */
void session_touch(struct session_table *st, struct session *s, int64_t now_ms);
/* A closeSession that never happened (its txn was refused): the session is
 * no longer closing, and expires again: at its time, or at the next tick if
 * session_expired has already popped it. */
void session_reopen(struct session_table *st, struct session *s);
/* Pop one session whose expiry has passed, or NULL. Call until NULL. */
struct session *session_expired(struct session_table *st, int64_t now_ms);
/* When session_expired should next be called. */
int64_t session_next_expiry_ms(const struct session_table *st);
static inline size_t session_count(const struct session_table *st)
{
    return st->by_id.count;
}

#endif
