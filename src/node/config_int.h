/* SPDX-License-Identifier: Apache-2.0 */
/* What config.c (zoo.cfg's keys) and config_dynamic.c (reconfigEnabled's
 * files) share: java.util.Properties as read from a file. Not for other
 * modules. */
#ifndef CZK_NODE_CONFIG_INT_H
#define CZK_NODE_CONFIG_INT_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct config_entry {
    char *key;
    char *value;
    /* the value as java.util.Properties holds it: leading blanks dropped,
     * trailing ones kept (QuorumMaj reads server.N values so) */
    char *raw_value;
    int line;
};

struct config_parser {
    const char *source;
    struct config_entry *entries;
    size_t count;
    size_t cap;
    char *errmsg;
    size_t errlen;
    bool ensemble; /* config_parse_file_ensemble: a replicated config is accepted */
};

/* An error "<source><what fmt says>" into p->errmsg; returns code. */
int config__fail(struct config_parser *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A hex digit's value, or -1. */
int config__hex_digit(char c);
/* String.trim of the span s, len: characters <= ' ' dropped at both ends. */
void config__trim(const char **s, size_t *len);
/* The bytes of the file p->source names (at most 16 MiB). */
int config__read_file(struct config_parser *p, struct buf *text);
/* Properties.load: p->entries from `text`, in order, with line numbers. */
int config__prop_parse(struct config_parser *p, const char *text, size_t len);
void config__free_entries(struct config_parser *p);
/* server.N, group*, weight*: the keys a dynamic config file holds. */
bool config__is_membership_key(const char *key);

#endif
