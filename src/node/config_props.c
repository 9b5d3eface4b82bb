/* SPDX-License-Identifier: Apache-2.0 */
/* java.util.Properties as ZooKeeper reads zoo.cfg and its dynamic file:
 * Properties.load's syntax into config_parser entries, and the errors that
 * name file and line (config_int.h). */
#include "base/buf.h"
#include "base/mem.h"
#include "node/config.h"
#include "node/config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int config__fail(struct config_parser *p, int code, const char *fmt, ...)
{
    if (p->errmsg && p->errlen) {
        int n = snprintf(p->errmsg, p->errlen, "%s", p->source);
        size_t used = n < 0 ? 0 : (size_t)n;
        if (used < p->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->errmsg + used, p->errlen - used, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

/* ---- java.util.Properties syntax ---- */

static bool prop_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

int config__hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void append_utf8(struct buf *b, uint32_t cp)
{
    if (cp < 0x80) {
        buf_append_u8(b, (uint8_t)cp);
    } else if (cp < 0x800) {
        buf_append_u8(b, (uint8_t)(0xc0 | (cp >> 6)));
        buf_append_u8(b, (uint8_t)(0x80 | (cp & 0x3f)));
    } else {
        buf_append_u8(b, (uint8_t)(0xe0 | (cp >> 12)));
        buf_append_u8(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)));
        buf_append_u8(b, (uint8_t)(0x80 | (cp & 0x3f)));
    }
}

/* Properties.loadConvert: undo backslash escapes. Returns false on a
 * malformed \uXXXX. The result is NUL-terminated. */
static bool prop_unescape(const char *s, size_t len, struct buf *out)
{
    buf_clear(out);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 >= len) {
            buf_append_u8(out, (uint8_t)c);
            continue;
        }
        c = s[++i];
        if (c == 'u') {
            if (i + 4 >= len)
                return false;
            uint32_t cp = 0;
            for (int k = 1; k <= 4; k++) {
                int d = config__hex_digit(s[i + (size_t)k]);
                if (d < 0)
                    return false;
                cp = cp << 4 | (uint32_t)d;
            }
            i += 4;
            append_utf8(out, cp);
            continue;
        }
        switch (c) {
        case 't':
            c = '\t';
            break;
        case 'r':
            c = '\r';
            break;
        case 'n':
            c = '\n';
            break;
        case 'f':
            c = '\f';
            break;
        default:
            break;
        }
        buf_append_u8(out, (uint8_t)c);
    }
    buf_append_u8(out, 0);
    out->len--;
    return true;
}

/* String.trim: drop characters <= ' ' at both ends. */
void config__trim(const char **s, size_t *len)
{
    while (*len && (unsigned char)(*s)[0] <= ' ') {
        (*s)++;
        (*len)--;
    }
    while (*len && (unsigned char)(*s)[*len - 1] <= ' ')
        (*len)--;
}

static void entry_add(struct config_parser *p, const char *key, size_t key_len, const char *value,
                      size_t value_len, int line)
{
    config__trim(&key, &key_len);
    const char *raw = value;
    size_t raw_len = value_len;
    config__trim(&value, &value_len);
    if (p->count == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->entries = mem_realloc(p->entries, p->cap * sizeof(*p->entries));
    }
    struct config_entry *e = &p->entries[p->count++];
    e->key = mem_strndup(key, key_len);
    e->value = mem_strndup(value, value_len);
    e->raw_value = mem_strndup(raw, raw_len);
    e->line = line;
}

/* Split one logical line into key and value (Properties.load0). */
static int prop_line(struct config_parser *p, const char *s, size_t len, int line, struct buf *key,
                     struct buf *value)
{
    size_t key_len = 0;
    size_t value_start = len;
    bool has_sep = false;
    bool backslash = false;
    while (key_len < len) {
        char c = s[key_len];
        if ((c == '=' || c == ':') && !backslash) {
            value_start = key_len + 1;
            has_sep = true;
            break;
        }
        if (prop_is_space(c) && !backslash) {
            value_start = key_len + 1;
            break;
        }
        backslash = c == '\\' ? !backslash : false;
        key_len++;
    }
    while (value_start < len) {
        char c = s[value_start];
        if (!prop_is_space(c)) {
            if (!has_sep && (c == '=' || c == ':'))
                has_sep = true;
            else
                break;
        }
        value_start++;
    }
    if (!prop_unescape(s, key_len, key))
        return config__fail(p, CONFIG_ERR_VALUE, ":%d: malformed \\uxxxx escape in a key", line);
    if (!prop_unescape(s + value_start, len - value_start, value))
        return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: malformed \\uxxxx escape", line,
                            (const char *)key->data);
    entry_add(p, (const char *)key->data, key->len, (const char *)value->data, value->len, line);
    return 0;
}

/* Properties.LineReader: natural lines (\n, \r, \r\n) joined into logical
 * lines by a trailing odd run of backslashes; leading blanks, blank lines
 * and comment lines skipped. */
int config__prop_parse(struct config_parser *p, const char *text, size_t len)
{
    struct buf logical, key, value;
    buf_init(&logical);
    buf_init(&key);
    buf_init(&value);
    int rc = 0;
    size_t i = 0;
    int line = 0;
    while (i < len && rc == 0) {
        line++;
        int start_line = line;
        buf_clear(&logical);
        bool first = true;
        for (;;) {
            while (i < len && prop_is_space(text[i]))
                i++;
            size_t begin = i;
            while (i < len && text[i] != '\n' && text[i] != '\r')
                i++;
            size_t end = i;
            if (i < len && text[i++] == '\r' && i < len && text[i] == '\n')
                i++;
            if (first && (end == begin || text[begin] == '#' || text[begin] == '!'))
                break;
            first = false;
            size_t slashes = 0;
            while (slashes < end - begin && text[end - 1 - slashes] == '\\')
                slashes++;
            bool more = slashes % 2 == 1;
            buf_append(&logical, text + begin, end - begin - (more ? 1 : 0));
            if (!more || i >= len)
                break;
            line++;
        }
        if (!first)
            rc = prop_line(p, (const char *)logical.data, logical.len, start_line, &key, &value);
    }
    buf_deinit(&logical);
    buf_deinit(&key);
    buf_deinit(&value);
    return rc;
}

void config__free_entries(struct config_parser *p)
{
    for (size_t i = 0; i < p->count; i++) {
        mem_free(p->entries[i].key);
        mem_free(p->entries[i].value);
        mem_free(p->entries[i].raw_value);
    }
    mem_free(p->entries);
    p->entries = NULL;
    p->count = p->cap = 0;
}

/* The bytes of the file p->source names (at most 16 MiB). */
int config__read_file(struct config_parser *p, struct buf *text)
{
    FILE *f = fopen(p->source, "rb");
    if (!f)
        return config__fail(p, CONFIG_ERR_IO, ": cannot open: %s", strerror(errno));
    int rc = 0;
    for (;;) {
        buf_reserve(text, 4096);
        size_t n = fread(text->data + text->len, 1, text->cap - text->len, f);
        text->len += n;
        if (n == 0)
            break;
        if (text->len > (size_t)16 << 20) {
            rc = config__fail(p, CONFIG_ERR_IO, ": larger than 16 MiB");
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = config__fail(p, CONFIG_ERR_IO, ": read error: %s", strerror(errno));
    fclose(f);
    return rc;
}
