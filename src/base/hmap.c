/* SPDX-License-Identifier: Apache-2.0 */
#include "base/hmap.h"

#include "base/mem.h"

#include <string.h>

static const char smap_tombstone[1];

uint64_t smap_hash(const char *key, size_t len)
{
    /* FNV-1a, then a final mix so that the low bits spread well. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)key[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

void smap_init(struct smap *m)
{
    memset(m, 0, sizeof(*m));
}

void smap_init_unforked(struct smap *m)
{
    memset(m, 0, sizeof(*m));
    m->unforked = true;
}

static struct smap_slot *smap_slots_new(const struct smap *m, size_t cap)
{
    if (m->unforked)
        return mem_map_unforked(cap * sizeof(struct smap_slot));
    return mem_calloc(cap, sizeof(struct smap_slot));
}

static void smap_slots_free(const struct smap *m, struct smap_slot *slots, size_t cap)
{
    if (m->unforked)
        mem_unmap(slots, cap * sizeof(struct smap_slot));
    else
        mem_free(slots);
}

void smap_deinit(struct smap *m)
{
    bool unforked = m->unforked;
    smap_slots_free(m, m->slots, m->cap);
    smap_init(m);
    m->unforked = unforked;
}

static struct smap_slot *smap_find(const struct smap *m, const char *key, size_t len, uint64_t h)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct smap_slot *s = &m->slots[i];
        if (s->key == NULL)
            return NULL;
        if (s->key != smap_tombstone && s->hash == h && s->key_len == len &&
            memcmp(s->key, key, len) == 0)
            return s;
    }
}

/* Rehashes into a table of `cap` slots (a power of two), dropping tombstones. */
static void smap_rehash(struct smap *m, size_t cap)
{
    struct smap_slot *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = smap_slots_new(m, cap);
    m->cap = cap;
    m->used = m->count;
    for (size_t i = 0; i < old_cap; i++) {
        struct smap_slot *s = &old[i];
        if (s->key == NULL || s->key == smap_tombstone)
            continue;
        size_t mask = cap - 1;
        size_t j = (size_t)s->hash & mask;
        while (m->slots[j].key != NULL)
            j = (j + 1) & mask;
        m->slots[j] = *s;
    }
    smap_slots_free(m, old, old_cap);
}

static void smap_grow(struct smap *m)
{
    size_t cap = m->cap ? m->cap : 16;
    if ((m->count + 1) * 2 > cap)
        cap *= 2;
    smap_rehash(m, cap);
}

void smap_reserve(struct smap *m, size_t count)
{
    size_t cap = m->cap ? m->cap : 16;
    while (count * 4 >= cap * 3)
        cap *= 2;
    if (cap > m->cap)
        smap_rehash(m, cap);
}

void *smap_get(const struct smap *m, const char *key, size_t len)
{
    struct smap_slot *s = smap_find(m, key, len, smap_hash(key, len));
    return s ? s->value : NULL;
}

void *smap_put(struct smap *m, const char *key, size_t len, void *value)
{
    uint64_t h = smap_hash(key, len);
    struct smap_slot *s = smap_find(m, key, len, h);
    if (s) {
        void *old = s->value;
        s->value = value;
        s->key = key;
        return old;
    }
    if ((m->used + 1) * 4 > m->cap * 3)
        smap_grow(m);
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    while (m->slots[i].key != NULL && m->slots[i].key != smap_tombstone)
        i = (i + 1) & mask;
    if (m->slots[i].key == NULL)
        m->used++;
    m->slots[i] = (struct smap_slot){.key = key, .key_len = len, .hash = h, .value = value};
    m->count++;
    return NULL;
}

void *smap_remove(struct smap *m, const char *key, size_t len)
{
    struct smap_slot *s = smap_find(m, key, len, smap_hash(key, len));
    if (!s)
        return NULL;
    void *old = s->value;
    s->key = smap_tombstone;
    s->value = NULL;
    m->count--;
    return old;
}

bool smap_next(const struct smap *m, size_t *pos, const char **key, size_t *key_len, void **value)
{
    for (; *pos < m->cap; (*pos)++) {
        struct smap_slot *s = &m->slots[*pos];
        if (s->key == NULL || s->key == smap_tombstone)
            continue;
        *key = s->key;
        *key_len = s->key_len;
        *value = s->value;
        (*pos)++;
        return true;
    }
    return false;
}

static uint64_t imap_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

void imap_init(struct imap *m)
{
    memset(m, 0, sizeof(*m));
}

void imap_deinit(struct imap *m)
{
    mem_free(m->slots);
    imap_init(m);
}

static struct imap_slot *imap_find(const struct imap *m, uint64_t key)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)imap_hash(key) & mask;; i = (i + 1) & mask) {
        struct imap_slot *s = &m->slots[i];
        if (s->state == 0)
            return NULL;
        if (s->state == 1 && s->key == key)
            return s;
    }
}

static void imap_grow(struct imap *m)
{
    size_t cap = m->cap ? m->cap : 16;
    if ((m->count + 1) * 2 > cap)
        cap *= 2;
    struct imap_slot *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = mem_calloc(cap, sizeof(*m->slots));
    m->cap = cap;
    m->used = m->count;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].state != 1)
            continue;
        size_t mask = cap - 1;
        size_t j = (size_t)imap_hash(old[i].key) & mask;
        while (m->slots[j].state != 0)
            j = (j + 1) & mask;
        m->slots[j] = old[i];
    }
    mem_free(old);
}

void *imap_get(const struct imap *m, uint64_t key)
{
    struct imap_slot *s = imap_find(m, key);
    return s ? s->value : NULL;
}

void *imap_put(struct imap *m, uint64_t key, void *value)
{
    struct imap_slot *s = imap_find(m, key);
    if (s) {
        void *old = s->value;
        s->value = value;
        return old;
    }
    if ((m->used + 1) * 4 > m->cap * 3)
        imap_grow(m);
    size_t mask = m->cap - 1;
    size_t i = (size_t)imap_hash(key) & mask;
    while (m->slots[i].state == 1)
        i = (i + 1) & mask;
    if (m->slots[i].state == 0)
        m->used++;
    m->slots[i] = (struct imap_slot){.key = key, .state = 1, .value = value};
    m->count++;
    return NULL;
}

void *imap_remove(struct imap *m, uint64_t key)
{
    struct imap_slot *s = imap_find(m, key);
    if (!s)
        return NULL;
    void *old = s->value;
    s->state = 2;
    s->value = NULL;
    m->count--;
    return old;
}

bool imap_next(const struct imap *m, size_t *pos, uint64_t *key, void **value)
{
    for (; *pos < m->cap; (*pos)++) {
        struct imap_slot *s = &m->slots[*pos];
        if (s->state != 1)
            continue;
        *key = s->key;
        *value = s->value;
        (*pos)++;
        return true;
    }
    return false;
}
