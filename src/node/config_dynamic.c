/* SPDX-License-Identifier: Apache-2.0 */
/* reconfigEnabled's files as Apache 3.8 writes them beside the config file:
 * zoo.cfg.bak, zoo.cfg.dynamic.<version>, and zoo.cfg pointing at it
 * (config.h: config_backup, config_write_dynamic). */
#include "base/buf.h"
#include "base/hmap.h"
#include "base/log.h"
#include "base/mem.h"
#include "node/config.h"
#include "node/config_int.h"
#include "zab/membership.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* `text` as `path`, durably: a temporary beside it, fsynced, renamed. */
static int write_file_atomic(const char *path, const uint8_t *text, size_t len, char *errmsg,
                             size_t errlen)
{
    char tmp[CONFIG_PATH_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(errmsg, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return CONFIG_ERR_IO;
    }
    bool ok = fwrite(text, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok || rename(tmp, path) != 0) {
        if (ok)
            err = errno;
        snprintf(errmsg, errlen, "%s: cannot write: %s", path, strerror(err));
        unlink(tmp);
        return CONFIG_ERR_IO;
    }
    return 0;
}

int config_backup(const struct node_config *cfg, char *errmsg, size_t errlen)
{
    struct config_parser p = {.source = cfg->source, .errmsg = errmsg, .errlen = errlen};
    struct buf text;
    buf_init(&text);
    int rc = config__read_file(&p, &text);
    if (rc == 0) {
        char bak[CONFIG_PATH_MAX + 8];
        snprintf(bak, sizeof(bak), "%s.bak", cfg->source);
        rc = write_file_atomic(bak, text.data, text.len, errmsg, errlen);
    }
    buf_deinit(&text);
    return rc;
}

static int compare_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The dynamic file's text (QuorumPeerConfig.writeDynamicConfig):
 * membership_format's lines, version= only with keep_version (the .next
 * file), sorted (String order: bytes, for these ASCII lines), '\n' between
 * them. */
static void dynamic_text(const struct membership *m, bool keep_version, struct buf *out)
{
    struct buf all;
    buf_init(&all);
    membership_format(m, &all);
    buf_append(&all, "", 1);
    size_t n = 0;
    for (size_t i = 0; i < all.len; i++)
        n += all.data[i] == '\n';
    char **lines = mem_alloc((n + 1) * sizeof(*lines));
    size_t count = 0;
    char *save = NULL;
    for (char *line = strtok_r((char *)all.data, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        if (keep_version || strncmp(line, "version=", 8) != 0)
            lines[count++] = line;
    qsort(lines, count, sizeof(*lines), compare_lines);
    for (size_t i = 0; i < count; i++) {
        if (i)
            buf_append(out, "\n", 1);
        buf_append(out, lines[i], strlen(lines[i]));
    }
    mem_free(lines);
    buf_deinit(&all);
}

/* String.hashCode of a key (UTF-8 here; Java hashes UTF-16 code units),
 * then ConcurrentHashMap.spread. */
static uint32_t properties_hash(const char *key)
{
    uint32_t h = 0;
    const uint8_t *s = (const uint8_t *)key;
    while (*s) {
        uint32_t cp = *s++;
        int more = cp >= 0xf0 ? 3 : cp >= 0xe0 ? 2 : cp >= 0xc0 ? 1 : 0;
        if (more)
            cp &= 0x3fu >> more;
        for (; more > 0 && (*s & 0xc0) == 0x80; more--)
            cp = (cp << 6) | (*s++ & 0x3fu);
        if (cp >= 0x10000) {
            h = 31 * h + (0xd800 + ((cp - 0x10000) >> 10));
            h = 31 * h + (0xdc00 + ((cp - 0x10000) & 0x3ff));
        } else {
            h = 31 * h + cp;
        }
    }
    return (h ^ (h >> 16)) & 0x7fffffffu;
}

/* The order java.util.Properties' entrySet() gives `n` distinct keys put
 * in this order (QuorumPeerConfig.editStaticConfig writes zoo.cfg so): Java
 * 9+ keeps them in a ConcurrentHashMap made with capacity 8 (a table of 16
 * bins, doubled once it holds 3/4 of that), walked bin by bin; a bin's
 * list is in put order until a resize splits it: the nodes before the
 * bin's last run of one side are prepended to their new list, so they come
 * out reversed, ahead of that run (ConcurrentHashMap.transfer). Keys few
 * enough that no bin turns into a tree (8 in one bin). Fills order[n]. */
static void properties_order(const struct config_entry *const *keys, size_t n, size_t *order)
{
    size_t table = 16, threshold = 12, count = 0;
    size_t *head = mem_alloc(table * sizeof(*head));
    size_t *next = mem_alloc((n ? n : 1) * sizeof(*next));
    uint32_t *hash = mem_alloc((n ? n : 1) * sizeof(*hash));
    const size_t none = SIZE_MAX;
    for (size_t b = 0; b < table; b++)
        head[b] = none;
    for (size_t i = 0; i < n; i++) {
        hash[i] = properties_hash(keys[i]->key);
        next[i] = none;
        size_t *at = &head[hash[i] & (table - 1)];
        while (*at != none)
            at = &next[*at];
        *at = i;
        if (++count < threshold)
            continue;
        size_t *grown = mem_alloc(2 * table * sizeof(*grown));
        for (size_t b = 0; b < table; b++) {
            size_t lo = none, hi = none, last_run = head[b];
            size_t run_bit = last_run != none ? hash[last_run] & table : 0;
            for (size_t p = last_run != none ? next[last_run] : none; p != none; p = next[p])
                if ((hash[p] & table) != run_bit) {
                    run_bit = hash[p] & table;
                    last_run = p;
                }
            if (run_bit == 0)
                lo = last_run;
            else
                hi = last_run;
            for (size_t p = head[b], after; p != last_run; p = after) {
                after = next[p];
                size_t *to = (hash[p] & table) ? &hi : &lo;
                next[p] = *to;
                *to = p;
            }
            grown[b] = lo;
            grown[b + table] = hi;
        }
        mem_free(head);
        head = grown;
        table *= 2;
        threshold = table - table / 4;
    }
    size_t k = 0;
    for (size_t b = 0; b < table; b++)
        for (size_t p = head[b]; p != none; p = next[p])
            order[k++] = p;
    mem_free(hash);
    mem_free(next);
    mem_free(head);
}

int config_write_dynamic(struct node_config *cfg, const struct membership *m, int64_t my_sid,
                         char *errmsg, size_t errlen)
{
    const struct member *me = membership_find(m, my_sid);
    bool erase_client = me && me->has_client;
    char dyn[CONFIG_PATH_MAX];
    int n = snprintf(dyn, sizeof(dyn), "%s.dynamic.%" PRIx64, cfg->source, (uint64_t)m->version);
    if (n < 0 || (size_t)n >= sizeof(dyn)) {
        snprintf(errmsg, errlen, "%s: path too long for its dynamic config file", cfg->source);
        return CONFIG_ERR_VALUE;
    }
    struct buf text;
    buf_init(&text);
    dynamic_text(m, false, &text);
    int rc = write_file_atomic(dyn, text.data, text.len, errmsg, errlen);
    buf_deinit(&text);
    if (rc)
        return rc;
    char real[PATH_MAX];
    if (!realpath(dyn, real)) {
        snprintf(errmsg, errlen, "%s: %s", dyn, strerror(errno));
        return CONFIG_ERR_IO;
    }
    /* zoo.cfg as its Properties: every key=value but the membership's */
    struct config_parser p = {.source = cfg->source, .errmsg = errmsg, .errlen = errlen};
    struct buf old;
    buf_init(&old);
    rc = config__read_file(&p, &old);
    if (rc == 0)
        rc = config__prop_parse(&p, (const char *)old.data, old.len);
    buf_deinit(&old);
    if (rc == 0) {
        /* the keys in first-put order, each with its last value */
        struct smap last;
        smap_init(&last);
        const struct config_entry **keys = mem_alloc((p.count ? p.count : 1) * sizeof(*keys));
        size_t *order = mem_alloc((p.count ? p.count : 1) * sizeof(*order));
        size_t n_keys = 0;
        for (size_t i = 0; i < p.count; i++) {
            const struct config_entry *e = &p.entries[i];
            const struct config_entry **seen = smap_get(&last, e->key, strlen(e->key));
            if (seen) {
                *seen = e;
                continue;
            }
            keys[n_keys] = e;
            smap_put(&last, e->key, strlen(e->key), &keys[n_keys]);
            n_keys++;
        }
        properties_order(keys, n_keys, order);
        struct buf out;
        buf_init(&out);
        for (size_t i = 0; i < n_keys; i++) {
            const struct config_entry *e = keys[order[i]];
            if (config__is_membership_key(e->key) ||
                strncmp(e->key, "dynamicConfigFile", 17) == 0 ||
                strncmp(e->key, "peerType", 8) == 0 ||
                (erase_client && strncmp(e->key, "clientPort", 10) == 0))
                continue;
            buf_printf(&out, "%s=%s\n", e->key, e->value);
        }
        buf_printf(&out, "dynamicConfigFile=%s\n", real);
        mem_free(order);
        mem_free(keys);
        smap_deinit(&last);
        rc = write_file_atomic(cfg->source, out.data, out.len, errmsg, errlen);
        buf_deinit(&out);
    }
    config__free_entries(&p);
    if (rc == 0)
        snprintf(cfg->dynamic_config_file, sizeof(cfg->dynamic_config_file), "%s", dyn);
    return rc;
}

int config_write_dynamic_next(const struct node_config *cfg, const struct membership *m,
                              char *errmsg, size_t errlen)
{
    char next[CONFIG_PATH_MAX + 16];
    snprintf(next, sizeof(next), "%s.dynamic.next", cfg->source);
    struct buf text;
    buf_init(&text);
    dynamic_text(m, true, &text);
    int rc = write_file_atomic(next, text.data, text.len, errmsg, errlen);
    buf_deinit(&text);
    return rc;
}

void config_remove_dynamic_next(const struct node_config *cfg)
{
    char next[CONFIG_PATH_MAX + 16];
    snprintf(next, sizeof(next), "%s.dynamic.next", cfg->source);
    if (unlink(next) != 0 && errno != ENOENT)
        LOG_W("%s: cannot remove: %s", next, strerror(errno));
}
