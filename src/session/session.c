/* SPDX-License-Identifier: Apache-2.0 */
#include "session/session.h"

#include "base/mem.h"

#include <assert.h>

static int64_t round_to_tick(const struct session_table *st, int64_t t)
{
    return (t / st->tick_ms + 1) * st->tick_ms;
}

void session_table_init(struct session_table *st, int64_t tick_ms, int64_t server_id,
                        int64_t now_ms)
{
    imap_init(&st->by_id);
    imap_init(&st->buckets);
    st->tick_ms = tick_ms > 0 ? tick_ms : 1;
    st->next_expiry_ms = round_to_tick(st, now_ms);
    uint64_t id = ((uint64_t)now_ms << 24) >> 8;
    id |= (uint64_t)server_id << 56;
    st->next_id = (int64_t)id;
}

void session_table_deinit(struct session_table *st)
{
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (imap_next(&st->buckets, &pos, &key, &value))
        mem_free(value);
    imap_deinit(&st->buckets);
    imap_deinit(&st->by_id);
}

int64_t session_next_id(struct session_table *st)
{
    int64_t id = st->next_id++;
    /* Never hand out the container marker or an id already live. */
    while (id == 0 || id == INT64_MIN || imap_get(&st->by_id, (uint64_t)id))
        id = st->next_id++;
    return id;
}

void session_password(int64_t session_id, uint8_t out[16])
{
    /* java.util.Random: 48-bit LCG; nextBytes takes nextInt() 4 bytes at a time, low first. */
    uint64_t seed = ((uint64_t)session_id ^ 0xB3415C00ULL ^ 0x5DEECE66DULL) & ((1ULL << 48) - 1);
    for (int i = 0; i < 16;) {
        seed = (seed * 0x5DEECE66DULL + 0xBULL) & ((1ULL << 48) - 1);
        uint32_t rnd = (uint32_t)(seed >> 16);
        for (int n = 0; n < 4 && i < 16; n++) {
            out[i++] = (uint8_t)rnd;
            rnd >>= 8;
        }
    }
}

static void bucket_put(struct session_table *st, struct session *s)
{
    struct list *b = imap_get(&st->buckets, (uint64_t)s->expire_at_ms);
    if (!b) {
        b = mem_alloc(sizeof(*b));
        list_init(b);
        imap_put(&st->buckets, (uint64_t)s->expire_at_ms, b);
    }
    list_insert_tail(b, &s->bucket_link);
}

/* An emptied bucket stays until its time has passed (session_expired),
 * as in ZooKeeper's ExpiryQueue: dump lists it ("0 expire at ..."), and a
 * session touched every tick does not allocate a bucket every tick. */
static void bucket_take(struct session_table *st, struct session *s)
{
    (void)st;
    if (list_is_empty(&s->bucket_link))
        return;
    list_remove(&s->bucket_link);
}

void session_add(struct session_table *st, struct session *s, int64_t now_ms)
{
    list_init(&s->bucket_link);
    s->closing = false;
    imap_put(&st->by_id, (uint64_t)s->id, s);
    s->expire_at_ms = round_to_tick(st, now_ms + s->timeout_ms);
    bucket_put(st, s);
}

struct session *session_get(const struct session_table *st, int64_t id)
{
    return imap_get(&st->by_id, (uint64_t)id);
}

void session_remove(struct session_table *st, struct session *s)
{
    bucket_take(st, s);
    imap_remove(&st->by_id, (uint64_t)s->id);
}

void session_touch(struct session_table *st, struct session *s, int64_t now_ms)
{
    if (s->closing)
        return;
    int64_t at = round_to_tick(st, now_ms + s->timeout_ms);
    if (at == s->expire_at_ms && !list_is_empty(&s->bucket_link))
        return;
    bucket_take(st, s);
    s->expire_at_ms = at;
    bucket_put(st, s);
}

void session_reopen(struct session_table *st, struct session *s)
{
    s->closing = false;
    if (!list_is_empty(&s->bucket_link))
        return;
    s->expire_at_ms = st->next_expiry_ms;
    bucket_put(st, s);
}

struct session *session_expired(struct session_table *st, int64_t now_ms)
{
    while (st->next_expiry_ms <= now_ms) {
        struct list *b = imap_get(&st->buckets, (uint64_t)st->next_expiry_ms);
        if (b && !list_is_empty(b)) {
            struct session *s = LIST_ENTRY(b->next, struct session, bucket_link);
            bucket_take(st, s);
            return s;
        }
        if (b) {
            imap_remove(&st->buckets, (uint64_t)st->next_expiry_ms);
            mem_free(b);
        }
        st->next_expiry_ms += st->tick_ms;
    }
    return NULL;
}

int64_t session_next_expiry_ms(const struct session_table *st)
{
    return st->next_expiry_ms;
}
