/* SPDX-License-Identifier: Apache-2.0 */
/* hmap.h — open-addressing hash maps: byte-string keys (smap) and 64-bit keys (imap).
 * Keys of an smap are borrowed: the caller keeps them alive while the entry exists
 * (the tree keys its map by each node's own path). Values are opaque pointers. */
#ifndef CZK_BASE_HMAP_H
#define CZK_BASE_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct smap_slot {
    const char *key; /* NULL = empty */
    size_t key_len;
    uint64_t hash; /* tombstone: key == smap_tombstone */
    void *value;
};

struct smap {
    struct smap_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    size_t used;   /* count + tombstones */
    bool unforked; /* slots from mem_map_unforked: a fork()ed child must not read the map */
};

void smap_init(struct smap *m);
/* A map whose slots a fork()ed child does not inherit (mem_map_unforked):
 * for the tree's path index, which the parent writes at random while a
 * snapshot child walks the tree by its child links. */
void smap_init_unforked(struct smap *m);
void smap_deinit(struct smap *m);
uint64_t smap_hash(const char *key, size_t len);
void *smap_get(const struct smap *m, const char *key, size_t len);
/* Insert or replace; returns the previous value or NULL. */
void *smap_put(struct smap *m, const char *key, size_t len, void *value);
/* Makes room for `count` entries in all, so that inserting up to that many
 * never rehashes (loading a snapshot of known size). */
void smap_reserve(struct smap *m, size_t count);
/* Remove; returns the removed value or NULL. */
void *smap_remove(struct smap *m, const char *key, size_t len);
/* Iterate: *pos starts at 0; returns false at the end. */
bool smap_next(const struct smap *m, size_t *pos, const char **key, size_t *key_len, void **value);

struct imap_slot {
    uint64_t key;
    uint8_t state; /* 0 empty, 1 full, 2 tombstone */
    void *value;
};

struct imap {
    struct imap_slot *slots;
    size_t cap;
    size_t count;
    size_t used;
};

void imap_init(struct imap *m);
void imap_deinit(struct imap *m);
void *imap_get(const struct imap *m, uint64_t key);
void *imap_put(struct imap *m, uint64_t key, void *value);
void *imap_remove(struct imap *m, uint64_t key);
bool imap_next(const struct imap *m, size_t *pos, uint64_t *key, void **value);

#endif
