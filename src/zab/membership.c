/* SPDX-License-Identifier: Apache-2.0 */
/* The ensemble's members, read and written as ZooKeeper 3.8 does
 * (QuorumPeer.QuorumServer, ConfigUtils.getHostAndPort, QuorumMaj). Pure. */
#include "zab/membership.h"

#include "base/mem.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char wrong_format[] =
    " does not have the form server_config or server_config;client_config where server_config "
    "is the pipe separated list of host:port:port or host:port:port:type and client_config is "
    "port or host:port";

static int fail(char *errmsg, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *errmsg, size_t errlen, const char *fmt, ...)
{
    if (errmsg && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errmsg, errlen, fmt, ap);
        va_end(ap);
    }
    return MEMBERSHIP_ERR_INVALID;
}

void membership_init(struct membership *m)
{
    memset(m, 0, sizeof(*m));
}

void membership_deinit(struct membership *m)
{
    mem_free(m->members);
    mem_free(m->groups);
    mem_free(m->weights);
    memset(m, 0, sizeof(*m));
}

/* ---- Java's string splitting ---- */

struct span {
    const char *s;
    size_t len;
};

#define SPLIT_MAX 8

/* String.split(sep) with limit 0: trailing empty strings are removed, so ""
 * gives one empty part but ";" gives none. Keeps the first SPLIT_MAX parts
 * and counts them all; `parts` has room for SPLIT_MAX + 1 (host_and_port
 * puts the host before them). */
static size_t split(struct span s, char sep, struct span *parts)
{
    if (s.len == 0) {
        parts[0] = s;
        return 1;
    }
    size_t n = 0;
    size_t nonempty_end = 0; /* parts up to the last non-empty one */
    size_t start = 0;
    for (size_t i = 0; i <= s.len; i++) {
        if (i < s.len && s.s[i] != sep)
            continue;
        if (n < SPLIT_MAX)
            parts[n] = (struct span){s.s + start, i - start};
        n++;
        if (i > start)
            nonempty_end = n;
        start = i + 1;
    }
    return nonempty_end;
}

/* ConfigUtils.getHostAndPort: "[v6]:a:b" gives {v6, a, b}; otherwise a
 * split on ':'. */
static int host_and_port(struct span s, struct span *parts, size_t *n, char *errmsg, size_t errlen)
{
    if (s.len == 0 || s.s[0] != '[') {
        *n = split(s, ':', parts);
        return 0;
    }
    const char *close = memchr(s.s, ']', s.len);
    if (!close)
        return fail(errmsg, errlen, "%.*s starts with '[' but has no matching ']:'", (int)s.len,
                    s.s);
    size_t i = (size_t)(close - s.s);
    if (i + 2 == s.len)
        return fail(errmsg, errlen, "%.*s doesn't have a port after colon", (int)s.len, s.s);
    if (i + 2 > s.len) {
        /* s.replaceAll("\\[|\\]", ""): the only bracket pair is at the ends
         * unless the text has more, which no host can use anyway. */
        parts[0] = (struct span){s.s + 1, i - 1};
        *n = 1;
        return 0;
    }
    /* The character after ']' is skipped unchecked, as Apache does. */
    parts[0] = (struct span){s.s + 1, i - 1};
    size_t rest = split((struct span){s.s + i + 2, s.len - i - 2}, ':', parts + 1);
    *n = rest + 1;
    return 0;
}

/* ---- numbers ---- */

static int digit_value(char c, int base)
{
    int d = -1;
    if (c >= '0' && c <= '9')
        d = c - '0';
    else if (c >= 'a' && c <= 'z')
        d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'Z')
        d = c - 'A' + 10;
    return d < base ? d : -1;
}

/* Long.parseLong(s, base) within [min, max] (Integer.parseInt with the int
 * range): optional sign, at least one digit. */
static bool parse_java_long(struct span s, int base, int64_t min, int64_t max, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (s.len && (s.s[0] == '+' || s.s[0] == '-')) {
        neg = s.s[0] == '-';
        i = 1;
    }
    if (i == s.len)
        return false;
    uint64_t limit = neg ? (uint64_t)(-(min + 1)) + 1 : (uint64_t)max;
    uint64_t v = 0;
    for (; i < s.len; i++) {
        int d = digit_value(s.s[i], base);
        if (d < 0)
            return false;
        if (v > (limit - (uint64_t)d) / (uint64_t)base)
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

int membership_sid_parse(const char *text, size_t len, int64_t *sid)
{
    return parse_java_long((struct span){text, len}, 10, INT64_MIN, INT64_MAX, sid)
               ? 0
               : MEMBERSHIP_ERR_INVALID;
}

/* ---- hosts as Java prints them ---- */

/* IPAddressUtil.textToNumericFormatV4: 1 to 4 decimal parts, the last one
 * filling the remaining bytes ("127.1" is 127.0.0.1). */
static bool ipv4_parse(struct span s, uint8_t out[4])
{
    if (s.len == 0 || s.len > 15)
        return false;
    int64_t value = 0;
    int byte = 0;
    bool new_octet = true;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.s[i];
        if (c == '.') {
            if (new_octet || value > 0xff || byte == 3)
                return false;
            out[byte++] = (uint8_t)value;
            value = 0;
            new_octet = true;
        } else {
            int d = digit_value(c, 10);
            if (d < 0)
                return false;
            value = value * 10 + d;
            if (value > 0xffffffffLL)
                return false;
            new_octet = false;
        }
    }
    if (new_octet || value >= (int64_t)1 << ((4 - byte) * 8))
        return false;
    for (int k = 3; k >= byte; k--) {
        out[k] = (uint8_t)(value & 0xff);
        value >>= 8;
    }
    return true;
}

/* IPAddressUtil.textToNumericFormatV6, without zones (the caller keeps a
 * host with '%' verbatim). */
static bool ipv6_parse(struct span s, uint8_t dst[16])
{
    if (s.len < 2)
        return false;
    memset(dst, 0, 16);
    size_t i = 0, j = 0;
    long colonp = -1;
    if (s.s[0] == ':' && s.s[++i] != ':')
        return false;
    size_t curtok = i;
    bool saw_xdigit = false;
    uint32_t val = 0;
    while (i < s.len) {
        char ch = s.s[i++];
        int d = digit_value(ch, 16);
        if (d >= 0) {
            val = val << 4 | (uint32_t)d;
            if (val > 0xffff)
                return false;
            saw_xdigit = true;
            continue;
        }
        if (ch == ':') {
            curtok = i;
            if (!saw_xdigit) {
                if (colonp != -1)
                    return false;
                colonp = (long)j;
                continue;
            }
            if (i == s.len || j + 2 > 16)
                return false;
            dst[j++] = (uint8_t)(val >> 8);
            dst[j++] = (uint8_t)val;
            saw_xdigit = false;
            val = 0;
            continue;
        }
        if (ch == '.' && j + 4 <= 16) {
            struct span v4 = {s.s + curtok, s.len - curtok};
            size_t dots = 0;
            for (size_t k = 0; k < v4.len; k++)
                dots += v4.s[k] == '.';
            uint8_t a[4];
            if (dots != 3 || !ipv4_parse(v4, a))
                return false;
            memcpy(dst + j, a, 4);
            j += 4;
            saw_xdigit = false;
            break;
        }
        return false;
    }
    if (saw_xdigit) {
        if (j + 2 > 16)
            return false;
        dst[j++] = (uint8_t)(val >> 8);
        dst[j++] = (uint8_t)val;
    }
    if (colonp != -1) {
        if (j == 16)
            return false;
        size_t n = j - (size_t)colonp;
        for (size_t k = 1; k <= n; k++) {
            dst[16 - k] = dst[(size_t)colonp + n - k];
            dst[(size_t)colonp + n - k] = 0;
        }
        j = 16;
    }
    return j == 16;
}

/* InetSocketAddress(host, port).getHostString() without name resolution:
 * literals as InetAddress.getHostAddress prints them, "" as the loopback's
 * name, the rest verbatim. */
static int host_normalize(struct span host, char *out, char *errmsg, size_t errlen)
{
    if (host.len == 0) {
        snprintf(out, MEMBER_HOST_MAX, "localhost");
        return 0;
    }
    if (host.len >= MEMBER_HOST_MAX)
        return fail(errmsg, errlen, "host name %.*s... is longer than %d bytes", 32, host.s,
                    MEMBER_HOST_MAX - 1);
    uint8_t a[16];
    bool literal_start = digit_value(host.s[0], 16) >= 0 || host.s[0] == ':';
    if (literal_start && ipv4_parse(host, a)) {
        snprintf(out, MEMBER_HOST_MAX, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
        return 0;
    }
    if (literal_start && !memchr(host.s, '%', host.len) && ipv6_parse(host, a)) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            snprintf(out, MEMBER_HOST_MAX, "%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
            return 0;
        }
        size_t used = 0;
        for (int g = 0; g < 8; g++)
            used += (size_t)snprintf(out + used, MEMBER_HOST_MAX - used, "%s%x", g ? ":" : "",
                                     (unsigned)(a[2 * g] << 8 | a[2 * g + 1]));
        return 0;
    }
    memcpy(out, host.s, host.len);
    out[host.len] = '\0';
    return 0;
}

/* Integer.parseInt, then InetSocketAddress's port check. `host` names the
 * address in Apache's message ("null" for a client address, whose host
 * Apache has not read yet when it reports it). */
static int port_parse(struct span text, const char *host, size_t host_len, int32_t *port,
                      char *errmsg, size_t errlen)
{
    int64_t v;
    if (!parse_java_long(text, 10, INT32_MIN, INT32_MAX, &v))
        return fail(errmsg, errlen, "Address unresolved: %.*s:%.*s", (int)host_len, host,
                    (int)text.len, text.s);
    if (v < 0 || v > 65535)
        return fail(errmsg, errlen, "port out of range:%" PRId64, v);
    *port = (int32_t)v;
    return 0;
}

static bool is_role(struct span s, const char *role)
{
    /* getType: s.trim().toLowerCase() */
    while (s.len && (unsigned char)s.s[0] <= ' ') {
        s.s++;
        s.len--;
    }
    while (s.len && (unsigned char)s.s[s.len - 1] <= ' ')
        s.len--;
    if (s.len != strlen(role))
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != role[i])
            return false;
    }
    return true;
}

int member_parse(int64_t sid, const char *value, size_t len, struct member *out, char *errmsg,
                 size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->sid = sid;
    out->role = MEMBER_PARTICIPANT;
    struct span all = {value, len};
    struct span sc[SPLIT_MAX + 1];
    size_t nsc = split(all, ';', sc);
    if (nsc == 0)
        return fail(errmsg, errlen, "%.*s%s", (int)len, value, wrong_format);
    struct span addrs[SPLIT_MAX + 1];
    size_t naddrs = split(sc[0], '|', addrs);
    int rc;
    if (nsc == 2) {
        struct span cp[SPLIT_MAX + 1];
        size_t ncp;
        rc = host_and_port(sc[1], cp, &ncp, errmsg, errlen);
        if (rc < 0)
            return rc;
        if (ncp > 2 || ncp == 0)
            return fail(errmsg, errlen, "%.*s%s", (int)len, value, wrong_format);
        rc = port_parse(cp[ncp - 1], "null", 4, &out->client.port, errmsg, errlen);
        if (rc < 0)
            return rc;
        struct span chost = ncp == 2 ? cp[0] : (struct span){"0.0.0.0", 7};
        rc = host_normalize(chost, out->client.host, errmsg, errlen);
        if (rc < 0)
            return rc;
        out->has_client = true;
    }
    if (naddrs > 1)
        return fail(errmsg, errlen,
                    "Multiple address feature is disabled, but multiple addresses were specified "
                    "for sid %" PRId64,
                    sid);
    if (naddrs == 0 || nsc > 2)
        return fail(errmsg, errlen, "%.*s%s", (int)len, value, wrong_format);
    struct span sp[SPLIT_MAX + 1];
    size_t nsp;
    rc = host_and_port(addrs[0], sp, &nsp, errmsg, errlen);
    if (rc < 0)
        return rc;
    if (nsp < 3 || nsp > 4)
        return fail(errmsg, errlen, "%.*s%s", (int)len, value, wrong_format);
    rc = port_parse(sp[1], sp[0].s, sp[0].len, &out->quorum.port, errmsg, errlen);
    if (rc == 0)
        rc = port_parse(sp[2], sp[0].s, sp[0].len, &out->election.port, errmsg, errlen);
    if (rc < 0)
        return rc;
    if (out->quorum.port == out->election.port)
        return fail(errmsg, errlen,
                    "Client and election port must be different! Please update the "
                    "configuration file on server.%" PRId64,
                    sid);
    rc = host_normalize(sp[0], out->quorum.host, errmsg, errlen);
    if (rc < 0)
        return rc;
    memcpy(out->election.host, out->quorum.host, sizeof(out->election.host));
    if (nsp == 4) {
        if (is_role(sp[3], "observer"))
            out->role = MEMBER_OBSERVER;
        else if (!is_role(sp[3], "participant"))
            return fail(errmsg, errlen, "Unrecognised peertype: %.*s", (int)sp[3].len, sp[3].s);
    }
    return 0;
}

/* ---- the set ---- */

void membership_put(struct membership *m, const struct member *member)
{
    for (size_t i = 0; i < m->count; i++) {
        if (m->members[i].sid == member->sid) {
            m->members[i] = *member;
            return;
        }
    }
    if (m->count == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 8;
        m->members = mem_realloc(m->members, m->cap * sizeof(*m->members));
    }
    m->members[m->count++] = *member;
}

const struct member *membership_find(const struct membership *m, int64_t sid)
{
    for (size_t i = 0; i < m->count; i++)
        if (m->members[i].sid == sid)
            return &m->members[i];
    return NULL;
}

size_t membership_voters(const struct membership *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->count; i++)
        n += m->members[i].role == MEMBER_PARTICIPANT;
    return n;
}

size_t membership_observers(const struct membership *m)
{
    return m->count - membership_voters(m);
}

static const struct member_group *group_of(const struct membership *m, int64_t sid)
{
    for (size_t i = 0; i < m->group_count; i++)
        if (m->groups[i].sid == sid)
            return &m->groups[i];
    return NULL;
}

static struct member_weight *weight_of(const struct membership *m, int64_t sid)
{
    for (size_t i = 0; i < m->weight_count; i++)
        if (m->weights[i].sid == sid)
            return &m->weights[i];
    return NULL;
}

int64_t membership_weight(const struct membership *m, int64_t sid)
{
    if (!m->hierarchical)
        return 1;
    const struct member_weight *w = weight_of(m, sid);
    return w ? w->weight : 0;
}

/* QuorumHierarchical.containsQuorum over a Set<Long>: duplicates once. */
static bool hierarchical_quorum(const struct membership *m, const int64_t *sids, size_t n)
{
    if (n == 0)
        return false;
    int64_t groups = 0;
    /* each group in turn: its weight in all, and among the sids */
    for (size_t i = 0; i < m->group_count; i++) {
        int64_t gid = m->groups[i].gid;
        bool first = true;
        for (size_t k = 0; k < i && first; k++)
            first = m->groups[k].gid != gid;
        if (!first)
            continue;
        int64_t total = 0, got = 0;
        /* only groups with a sid of the set (weight 0 or not) are in
         * Apache's expansion */
        bool present = false;
        for (size_t k = 0; k < m->group_count; k++) {
            if (m->groups[k].gid != gid)
                continue;
            int64_t w = membership_weight(m, m->groups[k].sid);
            total += w;
            /* the first match only: a sid listed twice counts once */
            for (size_t j = 0; j < n; j++) {
                if (sids[j] == m->groups[k].sid) {
                    got += w;
                    present = true;
                    break;
                }
            }
        }
        if (present && got > total / 2)
            groups++;
    }
    return groups > m->group_keys / 2;
}

bool membership_is_quorum(const struct membership *m, const int64_t *sids, size_t n)
{
    if (m->hierarchical)
        return hierarchical_quorum(m, sids, n);
    size_t votes = 0;
    for (size_t i = 0; i < n; i++) {
        const struct member *mb = membership_find(m, sids[i]);
        if (!mb || mb->role != MEMBER_PARTICIPANT)
            continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = sids[k] == sids[i];
        votes += !seen;
    }
    /* QuorumMaj: half = voters / 2; a quorum is more than half */
    return votes > membership_voters(m) / 2;
}

int membership_add_group(struct membership *m, int64_t gid, const char *value, size_t len,
                         char *errmsg, size_t errlen)
{
    m->hierarchical = true;
    m->group_keys++;
    /* value.split(":"): trailing empty parts dropped, others parsed */
    struct span v = {value, len};
    size_t end = len;
    while (end > 0 && value[end - 1] == ':')
        end--;
    v.len = end;
    size_t start = 0;
    for (size_t i = 0; i <= v.len; i++) {
        if (i < v.len && value[i] != ':')
            continue;
        struct span part = {value + start, i - start};
        start = i + 1;
        int64_t sid;
        if (!parse_java_long(part, 10, INT64_MIN, INT64_MAX, &sid))
            return fail(errmsg, errlen, "For input string: \"%.*s\"", (int)part.len, part.s);
        if (group_of(m, sid))
            return fail(errmsg, errlen, "Server %" PRId64 " is in multiple groups", sid);
        membership_put_group(m, sid, gid);
    }
    return 0;
}

void membership_put_group(struct membership *m, int64_t sid, int64_t gid)
{
    m->hierarchical = true;
    if (m->group_count == m->group_cap) {
        m->group_cap = m->group_cap ? m->group_cap * 2 : 8;
        m->groups = mem_realloc(m->groups, m->group_cap * sizeof(*m->groups));
    }
    m->groups[m->group_count++] = (struct member_group){sid, gid};
}

void membership_set_weight(struct membership *m, int64_t sid, int64_t weight)
{
    m->hierarchical = true;
    struct member_weight *w = weight_of(m, sid);
    if (w) {
        w->weight = weight;
        return;
    }
    if (m->weight_count == m->weight_cap) {
        m->weight_cap = m->weight_cap ? m->weight_cap * 2 : 8;
        m->weights = mem_realloc(m->weights, m->weight_cap * sizeof(*m->weights));
    }
    m->weights[m->weight_count++] = (struct member_weight){sid, weight};
}

int membership_finish(struct membership *m, char *errmsg, size_t errlen)
{
    if (!m->hierarchical)
        return 0;
    for (size_t i = 0; i < m->count; i++) {
        const struct member *mb = &m->members[i];
        if (mb->role != MEMBER_PARTICIPANT)
            continue;
        if (!group_of(m, mb->sid))
            return fail(errmsg, errlen, "Server %" PRId64 " is not in a group", mb->sid);
        if (!weight_of(m, mb->sid))
            membership_set_weight(m, mb->sid, 1);
    }
    for (size_t i = 0; i < m->group_count; i++)
        if (!weight_of(m, m->groups[i].sid))
            return fail(errmsg, errlen,
                        "Server %" PRId64 " is in group %" PRId64
                        " but is not a voting server.N and has no weight.%" PRId64,
                        m->groups[i].sid, m->groups[i].gid, m->groups[i].sid);
    return 0;
}

/* ---- the text ---- */

static void addr_format(const struct member_addr *a, struct buf *out)
{
    /* QuorumServer.delimitedHostString */
    if (strchr(a->host, ':'))
        buf_printf(out, "[%s]", a->host);
    else
        buf_printf(out, "%s", a->host);
}

void member_format(const struct member *member, struct buf *out)
{
    addr_format(&member->quorum, out);
    buf_printf(out, ":%" PRId32 ":%" PRId32 "%s", member->quorum.port, member->election.port,
               member->role == MEMBER_OBSERVER ? ":observer" : ":participant");
    if (member->has_client) {
        buf_printf(out, ";");
        addr_format(&member->client, out);
        buf_printf(out, ":%" PRId32, member->client.port);
    }
}

/* HashMap<Long, QuorumServer>: Long.hashCode, HashMap.hash's spread, and a
 * table of 16 doubled while size > 0.75 * table. */
static uint32_t hashmap_bucket(int64_t sid, size_t table)
{
    uint64_t u = (uint64_t)sid;
    uint32_t h = (uint32_t)(u ^ (u >> 32));
    h ^= h >> 16;
    return h & (uint32_t)(table - 1);
}

/* ConcurrentHashMap<Object, Object> inside java.util.Properties (created
 * with capacity 8: a table of 16, doubled once size reaches 0.75 * table):
 * String.hashCode of "server.N", spread, bin. */
static uint32_t properties_bin(int64_t sid, size_t table)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "server.%" PRId64, sid);
    uint32_t h = 0;
    for (int i = 0; i < n; i++)
        h = 31 * h + (uint8_t)key[i];
    h = (h ^ (h >> 16)) & 0x7fffffffu;
    return h & (uint32_t)(table - 1);
}

/* HashMap<Long, ...> iteration: by bucket of a table sized for n entries,
 * then insertion order. Sorts idx[0..n) by key[idx]. */
static void hashmap_order(const int64_t *key, size_t n, size_t *idx)
{
    size_t table = 16;
    while (n > table / 4 * 3)
        table *= 2;
    for (size_t i = 0; i < n; i++) {
        uint32_t b = hashmap_bucket(key[i], table);
        size_t k = i;
        while (k > 0 && hashmap_bucket(key[idx[k - 1]], table) > b) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = i;
    }
}

/* QuorumHierarchical.toString after the server lines: groups (a HashMap by
 * gid of "sid:sid" strings built in serverGroup's order), then weights. */
static void hierarchical_format(const struct membership *m, struct buf *out)
{
    size_t n = m->group_count > m->weight_count ? m->group_count : m->weight_count;
    int64_t *key = mem_alloc((n ? n : 1) * sizeof(*key));
    size_t *idx = mem_alloc((n ? n : 1) * sizeof(*idx));
    size_t *sid_order = mem_alloc((n ? n : 1) * sizeof(*sid_order));
    /* serverGroup's order: by sid */
    for (size_t i = 0; i < m->group_count; i++)
        key[i] = m->groups[i].sid;
    hashmap_order(key, m->group_count, sid_order);
    /* the groups map: distinct gids, inserted as serverGroup meets them */
    int64_t *gids = mem_alloc((n ? n : 1) * sizeof(*gids));
    size_t ng = 0;
    for (size_t i = 0; i < m->group_count; i++) {
        int64_t gid = m->groups[sid_order[i]].gid;
        bool seen = false;
        for (size_t k = 0; k < ng && !seen; k++)
            seen = gids[k] == gid;
        if (!seen)
            gids[ng++] = gid;
    }
    hashmap_order(gids, ng, idx);
    for (size_t g = 0; g < ng; g++) {
        int64_t gid = gids[idx[g]];
        buf_printf(out, "group.%" PRId64 "=", gid);
        bool first = true;
        for (size_t i = 0; i < m->group_count; i++) {
            const struct member_group *e = &m->groups[sid_order[i]];
            if (e->gid != gid)
                continue;
            buf_printf(out, first ? "%" PRId64 : ":%" PRId64, e->sid);
            first = false;
        }
        buf_printf(out, "\n");
    }
    for (size_t i = 0; i < m->weight_count; i++)
        key[i] = m->weights[i].sid;
    hashmap_order(key, m->weight_count, idx);
    for (size_t i = 0; i < m->weight_count; i++) {
        const struct member_weight *w = &m->weights[idx[i]];
        buf_printf(out, "weight.%" PRId64 "=%" PRId64 "\n", w->sid, w->weight);
    }
    mem_free(gids);
    mem_free(sid_order);
    mem_free(idx);
    mem_free(key);
}

void membership_format(const struct membership *m, struct buf *out)
{
    size_t hm_table = 16;
    while (m->count > hm_table / 4 * 3)
        hm_table *= 2;
    size_t keys = m->props_keys ? m->props_keys : m->count + 1;
    size_t props_table = 16;
    while (keys >= props_table / 4 * 3)
        props_table *= 2;
    size_t *order = mem_alloc((m->count ? m->count : 1) * sizeof(*order));
    for (size_t i = 0; i < m->count; i++) {
        /* insertion sort on (bucket, bin, position): stable, and n is small */
        const struct member *a = &m->members[i];
        uint32_t ab = hashmap_bucket(a->sid, hm_table), ap = properties_bin(a->sid, props_table);
        size_t k = i;
        while (k > 0) {
            const struct member *b = &m->members[order[k - 1]];
            uint32_t bb = hashmap_bucket(b->sid, hm_table);
            if (bb < ab || (bb == ab && properties_bin(b->sid, props_table) <= ap))
                break;
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
    for (size_t i = 0; i < m->count; i++) {
        const struct member *mb = &m->members[order[i]];
        buf_printf(out, "server.%" PRId64 "=", mb->sid);
        member_format(mb, out);
        buf_printf(out, "\n");
    }
    mem_free(order);
    if (m->hierarchical)
        hierarchical_format(m, out);
    /* Long.toHexString: two's complement for a negative version */
    buf_printf(out, "version=%" PRIx64, (uint64_t)m->version);
}

bool membership_same(const struct membership *a, const struct membership *b)
{
    if (a->count != b->count || a->hierarchical != b->hierarchical)
        return false;
    struct membership x = *a, y = *b;
    x.version = y.version = 0;
    x.props_keys = y.props_keys = 0;
    struct buf fa, fb;
    buf_init(&fa);
    buf_init(&fb);
    membership_format(&x, &fa);
    membership_format(&y, &fb);
    bool same = fa.len == fb.len && memcmp(fa.data, fb.data, fa.len) == 0;
    buf_deinit(&fa);
    buf_deinit(&fb);
    return same;
}

int membership_parse_text(struct membership *m, const char *text, size_t len, char *errmsg,
                          size_t errlen)
{
    struct membership parsed;
    membership_init(&parsed);
    bool has_version = false;
    size_t quorum_keys = 0;
    int rc = 0;
    size_t i = 0;
    while (i < len && rc == 0) {
        size_t start = i;
        while (i < len && text[i] != '\n' && text[i] != '\r')
            i++;
        struct span line = {text + start, i - start};
        i++;
        while (line.len && (line.s[0] == ' ' || line.s[0] == '\t' || line.s[0] == '\f')) {
            line.s++;
            line.len--;
        }
        if (line.len == 0 || line.s[0] == '#' || line.s[0] == '!')
            continue;
        const char *eq = memchr(line.s, '=', line.len);
        struct span key = {line.s, eq ? (size_t)(eq - line.s) : line.len};
        struct span value = {eq ? eq + 1 : line.s + line.len, eq ? line.len - key.len - 1 : 0};
        while (key.len && (unsigned char)key.s[key.len - 1] <= ' ')
            key.len--;
        /* Properties.load drops the blanks before a value, not after it */
        while (value.len && (value.s[0] == ' ' || value.s[0] == '\t' || value.s[0] == '\f')) {
            value.s++;
            value.len--;
        }
        if (key.len == 7 && memcmp(key.s, "version", 7) == 0) {
            has_version = true;
            if (!parse_java_long(value, 16, INT64_MIN, INT64_MAX, &parsed.version))
                rc = fail(errmsg, errlen, "For input string: \"%.*s\"", (int)value.len, value.s);
        } else if ((key.len >= 5 && memcmp(key.s, "group", 5) == 0) ||
                   (key.len >= 6 && memcmp(key.s, "weight", 6) == 0)) {
            /* key.substring(key.indexOf('.') + 1): the whole key without a dot */
            const char *dot = memchr(key.s, '.', key.len);
            struct span id =
                dot ? (struct span){dot + 1, key.len - (size_t)(dot + 1 - key.s)} : key;
            int64_t n;
            quorum_keys++;
            if (!parse_java_long(id, 10, INT64_MIN, INT64_MAX, &n)) {
                rc = fail(errmsg, errlen, "For input string: \"%.*s\"", (int)id.len, id.s);
            } else if (key.s[0] == 'g') {
                rc = membership_add_group(&parsed, n, value.s, value.len, errmsg, errlen);
            } else {
                int64_t w;
                if (!parse_java_long(value, 10, INT64_MIN, INT64_MAX, &w))
                    rc =
                        fail(errmsg, errlen, "For input string: \"%.*s\"", (int)value.len, value.s);
                else
                    membership_set_weight(&parsed, n, w);
            }
        } else if (key.len > 7 && memcmp(key.s, "server.", 7) == 0) {
            int64_t sid;
            struct member mb;
            if (membership_sid_parse(key.s + 7, key.len - 7, &sid) < 0)
                rc =
                    fail(errmsg, errlen, "For input string: \"%.*s\"", (int)key.len - 7, key.s + 7);
            else if ((rc = member_parse(sid, value.s, value.len, &mb, errmsg, errlen)) == 0)
                membership_put(&parsed, &mb);
        } else {
            rc = fail(errmsg, errlen, "Unrecognised parameter: %.*s", (int)key.len, key.s);
        }
    }
    if (rc == 0)
        rc = membership_finish(&parsed, errmsg, errlen);
    if (rc < 0) {
        membership_deinit(&parsed);
        return rc;
    }
    parsed.props_keys = parsed.count + (has_version ? 1 : 0) + quorum_keys;
    membership_deinit(m);
    *m = parsed;
    return 0;
}
