/* SPDX-License-Identifier: Apache-2.0 */
/* quorum.c — the quorum port's packet stream and payload layouts. Pure.
 * Layouts are the ones Learner, LearnerHandler and Leader (3.8.0) write with
 * DataOutputStream or ByteBuffer: big-endian, no jute lengths inside. */
#include "proto/quorum.h"

#include <string.h>

const char *peer_err_name(int err)
{
    switch (err) {
    case PEER_ETRUNCATED:
        return "truncated";
    case PEER_ETOOBIG:
        return "too big";
    case PEER_EBADLENGTH:
        return "bad length";
    case PEER_EBADVERSION:
        return "bad protocol version";
    case PEER_EBADSTATE:
        return "bad server state";
    default:
        return "unknown";
    }
}

const char *quorum_type_name(int32_t type)
{
    static const char *const names[] = {
        NULL,        "REQUEST",      "PROPOSAL",   "ACK",      "COMMIT",
        "PING",      "REVALIDATE",   "SYNC",       "INFORM",   "COMMITANDACTIVATE",
        "NEWLEADER", "FOLLOWERINFO", "UPTODATE",   "DIFF",     "TRUNC",
        "SNAP",      "OBSERVERINFO", "LEADERINFO", "ACKEPOCH", "INFORMANDACTIVATE",
    };
    if (type < 1 || (size_t)type >= sizeof(names) / sizeof(names[0]))
        return NULL;
    return names[type];
}

/* A cursor over a stream that may stop anywhere: need() false means "wait
 * for more bytes", not an error. */
struct split {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

static bool split_need(const struct split *s, size_t n)
{
    return s->len - s->pos >= n;
}

/* A jute length (buffer, ustring) and the bytes it counts. 1 = done,
 * 0 = need more, < 0 = error. */
static int split_buf(struct split *s, size_t max_buffer)
{
    if (!split_need(s, 4))
        return 0;
    int32_t n = (int32_t)be32_get(s->p + s->pos);
    if (n < -1)
        return PEER_EBADLENGTH;
    if (n > 0 && (size_t)n > max_buffer)
        return PEER_ETOOBIG;
    size_t body = n > 0 ? (size_t)n : 0;
    if (!split_need(s, 4 + body))
        return 0;
    s->pos += 4 + body;
    return 1;
}

int quorum_packet_split(const uint8_t *p, size_t len, size_t max_buffer, size_t *packet_len)
{
    struct split s = {.p = p, .len = len, .pos = 0};
    *packet_len = 0;
    if (!split_need(&s, 12))
        return 0;
    s.pos = 12; /* int type, long zxid */
    int rc = split_buf(&s, max_buffer);
    if (rc <= 0)
        return rc;
    if (!split_need(&s, 4))
        return 0;
    int32_t count = (int32_t)be32_get(s.p + s.pos);
    if (count < -1)
        return PEER_EBADLENGTH;
    /* an Id is two ustrings, at least 8 bytes */
    if (count > 0 && (size_t)count > max_buffer / 8)
        return PEER_ETOOBIG;
    s.pos += 4;
    for (int32_t i = 0; i < count; i++) {
        for (int f = 0; f < 2; f++) {
            rc = split_buf(&s, max_buffer);
            if (rc <= 0)
                return rc;
        }
    }
    *packet_len = s.pos;
    return 0;
}

enum {
    SNAP_SESSION_COUNT,
    SNAP_SESSIONS,
    SNAP_ACL_COUNT,
    SNAP_ACLS,
    SNAP_NODES,
    SNAP_SIGNATURE,
    SNAP_DONE,
};

#define SNAP_SIGNATURE_TEXT "BenWasHere"
#define STAT_PERSISTED_LEN  60 /* 4 longs, 3 ints, 2 longs */

void quorum_snap_scan_init(struct quorum_snap_scan *s)
{
    memset(s, 0, sizeof(*s));
    s->phase = SNAP_SESSION_COUNT;
}

size_t quorum_snap_scan_body_walked(const struct quorum_snap_scan *s)
{
    return s->phase >= SNAP_SIGNATURE ? s->body_len : s->pos;
}

void quorum_snap_scan_drop(struct quorum_snap_scan *s, size_t n)
{
    s->pos -= n;
    if (s->phase >= SNAP_SIGNATURE)
        s->body_len -= n;
}

/* A count in front of n items of at least `item_min` bytes each. */
static int snap_count(struct split *c, size_t max_buffer, size_t item_min, int64_t *out)
{
    if (!split_need(c, 4))
        return 0;
    int32_t n = (int32_t)be32_get(c->p + c->pos);
    if (n < -1)
        return PEER_EBADLENGTH;
    if (n > 0 && (size_t)n > max_buffer / item_min)
        return PEER_ETOOBIG;
    c->pos += 4;
    *out = n > 0 ? n : 0;
    return 1;
}

/* One (long aclId, vector<ACL>) of the ACL cache. */
static int snap_acl_entry(struct split *c, size_t max_buffer)
{
    if (!split_need(c, 8))
        return 0;
    c->pos += 8;
    int64_t n;
    int rc = snap_count(c, max_buffer, 12, &n);
    if (rc <= 0)
        return rc;
    for (int64_t i = 0; i < n; i++) {
        if (!split_need(c, 4)) /* perms */
            return 0;
        c->pos += 4;
        for (int f = 0; f < 2; f++) { /* Id: scheme, id */
            rc = split_buf(c, max_buffer);
            if (rc <= 0)
                return rc;
        }
    }
    return 1;
}

int quorum_snap_scan(struct quorum_snap_scan *s, const uint8_t *p, size_t len, size_t max_buffer)
{
    while (s->phase != SNAP_DONE) {
        struct split c = {.p = p, .len = len, .pos = s->pos};
        int rc = 1;
        switch (s->phase) {
        case SNAP_SESSION_COUNT:
        case SNAP_ACL_COUNT:
            rc =
                snap_count(&c, max_buffer, 12, &s->left); /* a session or an ACL entry: 12+ bytes */
            if (rc > 0)
                s->phase = s->phase == SNAP_SESSION_COUNT ? SNAP_SESSIONS : SNAP_ACLS;
            break;
        case SNAP_SESSIONS:
        case SNAP_ACLS:
            if (s->left == 0) {
                s->phase = s->phase == SNAP_SESSIONS ? SNAP_ACL_COUNT : SNAP_NODES;
                continue;
            }
            if (s->phase == SNAP_SESSIONS) {
                rc = split_need(&c, 12) ? 1 : 0;
                c.pos += rc ? 12 : 0;
            } else {
                rc = snap_acl_entry(&c, max_buffer);
            }
            if (rc > 0)
                s->left--;
            break;
        case SNAP_NODES: {
            size_t path_at = c.pos;
            rc = split_buf(&c, max_buffer);
            if (rc <= 0)
                break;
            if (c.pos - path_at == 5 && p[path_at + 4] == '/') {
                s->body_len = c.pos;
                s->phase = SNAP_SIGNATURE;
                break;
            }
            rc = split_buf(&c, max_buffer); /* data */
            if (rc <= 0)
                break;
            if (!split_need(&c, 8 + STAT_PERSISTED_LEN)) {
                rc = 0;
                break;
            }
            c.pos += 8 + STAT_PERSISTED_LEN;
            s->nodes++;
            break;
        }
        case SNAP_SIGNATURE: {
            size_t at = c.pos;
            rc = split_buf(&c, max_buffer);
            if (rc <= 0)
                break;
            if (c.pos - at != 4 + strlen(SNAP_SIGNATURE_TEXT) ||
                memcmp(p + at + 4, SNAP_SIGNATURE_TEXT, strlen(SNAP_SIGNATURE_TEXT)) != 0)
                return PEER_EBADLENGTH;
            s->phase = SNAP_DONE;
            break;
        }
        default:
            return PEER_EBADLENGTH;
        }
        if (rc <= 0)
            return rc;
        s->pos = c.pos;
    }
    return 1;
}

void quorum_packet_encode(struct buf *b, int32_t type, int64_t zxid, struct jute_buf data,
                          const struct zk_id *authinfo, int32_t count)
{
    struct zk_quorum_packet qp = {
        .type = type,
        .zxid = zxid,
        .data = data,
        .authinfo = {.count = (authinfo && count > 0) ? count : -1, .items = authinfo},
    };
    zk_quorum_packet_encode(b, &qp);
}

int quorum_learner_info_decode(struct jute_buf data, struct quorum_learner_info *out)
{
    memset(out, 0, sizeof(*out));
    if (data.len < 8)
        return PEER_ETRUNCATED;
    size_t n = (size_t)data.len;
    out->serverid = (int64_t)be64_get(data.ptr);
    out->protocol_version = 0x1; /* LearnerHandler.version's default */
    if (n >= 12)
        out->protocol_version = (int32_t)be32_get(data.ptr + 8);
    if (n >= 20) {
        out->config_version = (int64_t)be64_get(data.ptr + 12);
        out->has_config_version = true;
    }
    if (n >= 24 && (be32_get(data.ptr + 20) & 0xffffff00u) == QUORUM_CZK_MAGIC)
        out->czk_features = (uint8_t)(be32_get(data.ptr + 20) & 0xff);
    return 0;
}

int64_t quorum_zxid_after(int64_t zxid, int64_t first_counter)
{
    uint64_t epoch = (uint64_t)zxid >> 32;
    uint64_t counter = (uint64_t)zxid & 0xffffffffu;
    if (counter < 0xfffffffeu)
        return (int64_t)((epoch << 32) | (counter + 1));
    return (int64_t)(((epoch + 1) << 32) | (uint64_t)(first_counter > 0 ? first_counter : 1));
}

void quorum_learner_info_encode(struct buf *b, int64_t serverid, int64_t config_version)
{
    jute_write_i64(b, serverid);
    jute_write_i32(b, QUORUM_PROTOCOL_VERSION);
    jute_write_i64(b, config_version);
    jute_write_i32(b, (int32_t)(QUORUM_CZK_MAGIC | QUORUM_CZK_EPOCH_ROLL));
}

void quorum_i32_payload_encode(struct buf *b, int32_t v)
{
    buf_append_be32(b, (uint32_t)v);
}

int quorum_i32_payload_decode(struct jute_buf data, int32_t *v)
{
    *v = 0;
    if (data.len < 4)
        return PEER_ETRUNCATED;
    *v = (int32_t)be32_get(data.ptr);
    return 0;
}

void quorum_request_encode(struct buf *b, const struct quorum_request *r)
{
    buf_append_be64(b, (uint64_t)r->session_id);
    buf_append_be32(b, (uint32_t)r->cxid);
    buf_append_be32(b, (uint32_t)r->type);
    if (r->request.len > 0)
        buf_append(b, r->request.ptr, (size_t)r->request.len);
}

int quorum_request_decode(struct jute_buf data, struct quorum_request *out)
{
    memset(out, 0, sizeof(*out));
    if (data.len < 16)
        return PEER_ETRUNCATED;
    out->session_id = (int64_t)be64_get(data.ptr);
    out->cxid = (int32_t)be32_get(data.ptr + 8);
    out->type = (int32_t)be32_get(data.ptr + 12);
    out->request = (struct jute_buf){.ptr = data.ptr + 16, .len = data.len - 16};
    return 0;
}

int quorum_ping_iter_init(struct quorum_ping_iter *it, struct jute_buf data)
{
    it->p = NULL;
    it->left = 0;
    if (data.len <= 0)
        return 0;
    if (data.len % 12 != 0)
        return PEER_EBADLENGTH;
    it->p = data.ptr;
    it->left = (size_t)data.len;
    return 0;
}

bool quorum_ping_next(struct quorum_ping_iter *it, int64_t *session_id, int32_t *timeout_ms)
{
    if (it->left < 12)
        return false;
    *session_id = (int64_t)be64_get(it->p);
    *timeout_ms = (int32_t)be32_get(it->p + 8);
    it->p += 12;
    it->left -= 12;
    return true;
}

void quorum_ping_append(struct buf *b, int64_t session_id, int32_t timeout_ms)
{
    buf_append_be64(b, (uint64_t)session_id);
    buf_append_be32(b, (uint32_t)timeout_ms);
}

void quorum_revalidate_encode(struct buf *b, const struct quorum_revalidate *v)
{
    buf_append_be64(b, (uint64_t)v->session_id);
    buf_append_be32(b, (uint32_t)v->timeout_ms);
}

int quorum_revalidate_decode(struct jute_buf data, struct quorum_revalidate *out)
{
    memset(out, 0, sizeof(*out));
    if (data.len < 12)
        return PEER_ETRUNCATED;
    out->session_id = (int64_t)be64_get(data.ptr);
    out->timeout_ms = (int32_t)be32_get(data.ptr + 8);
    return 0;
}

void quorum_revalidate_reply_encode(struct buf *b, const struct quorum_revalidate_reply *v)
{
    buf_append_be64(b, (uint64_t)v->session_id);
    buf_append_u8(b, v->valid ? 1 : 0);
}

int quorum_revalidate_reply_decode(struct jute_buf data, struct quorum_revalidate_reply *out)
{
    memset(out, 0, sizeof(*out));
    if (data.len < 9)
        return PEER_ETRUNCATED;
    out->session_id = (int64_t)be64_get(data.ptr);
    out->valid = data.ptr[8] != 0; /* DataInputStream.readBoolean */
    return 0;
}

int quorum_activate_decode(struct jute_buf data, int64_t *designated_leader, struct jute_buf *rest)
{
    *designated_leader = 0;
    *rest = (struct jute_buf){.ptr = NULL, .len = 0};
    if (data.len < 8)
        return PEER_ETRUNCATED;
    *designated_leader = (int64_t)be64_get(data.ptr);
    *rest = (struct jute_buf){.ptr = data.ptr + 8, .len = data.len - 8};
    return 0;
}
