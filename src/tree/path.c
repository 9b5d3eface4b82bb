/* SPDX-License-Identifier: Apache-2.0 */
#include "tree/path.h"

#include <stdint.h>
#include <string.h>

/* Decode one UTF-8 sequence; returns its length or 0 if malformed. */
static size_t utf8_decode(const uint8_t *p, size_t left, uint32_t *cp)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2;
        v = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        v = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    static const uint32_t min_by_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_by_len[n] || v > 0x10ffff)
        return 0;
    *cp = v;
    return n;
}

static bool char_is_refused(uint32_t c)
{
    return (c > 0 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) ||
           c >= 0xfff0;
}

bool path_is_valid(const char *path, size_t len)
{
    const uint8_t *p = (const uint8_t *)path;
    if (len == 0 || p[0] != '/')
        return false;
    if (len == 1)
        return true;
    if (p[len - 1] == '/')
        return false;
    for (size_t i = 1; i < len;) {
        uint32_t c;
        size_t n = utf8_decode(p + i, len - i, &c);
        if (n == 0 || c == 0 || char_is_refused(c))
            return false;
        if (c == '/' && p[i - 1] == '/')
            return false;
        if (c == '.') {
            /* "." or ".." as a whole component */
            bool ends = i + 1 == len || p[i + 1] == '/';
            if (ends && (p[i - 1] == '/' || (p[i - 1] == '.' && i >= 2 && p[i - 2] == '/')))
                return false;
        }
        i += n;
    }
    return true;
}

size_t path_parent_len(const char *path, size_t len)
{
    size_t i = len;
    while (i > 0 && path[i - 1] != '/')
        i--;
    /* i is one past the last '/'; the parent of "/a" is "/" */
    return i <= 1 ? 1 : i - 1;
}

bool path_is_special(const char *path, size_t len)
{
    static const char *const special[] = {"/", "/zookeeper", "/zookeeper/quota",
                                          "/zookeeper/config"};
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        if (strlen(special[i]) == len && memcmp(special[i], path, len) == 0)
            return true;
    return false;
}
