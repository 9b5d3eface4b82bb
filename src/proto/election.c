/* SPDX-License-Identifier: Apache-2.0 */
/* election.c — the election port's header, messages and notifications.
 * Pure. Layouts from QuorumCnxManager and FastLeaderElection (3.8.0). */
#include "proto/election.h"

#include "proto/records.h"

#include <inttypes.h>
#include <string.h>

void election_header_encode(struct buf *b, int64_t protocol_version, int64_t sid,
                            struct jute_buf addresses)
{
    buf_append_be64(b, (uint64_t)protocol_version);
    buf_append_be64(b, (uint64_t)sid);
    size_t n = addresses.len > 0 ? (size_t)addresses.len : 0;
    buf_append_be32(b, (uint32_t)n);
    if (n)
        buf_append(b, addresses.ptr, n);
}

int election_header_decode(const uint8_t *p, size_t len, struct election_header *out, size_t *used)
{
    memset(out, 0, sizeof(*out));
    out->addresses = (struct jute_buf){.ptr = NULL, .len = -1};
    *used = 0;
    if (len < 8)
        return 0;
    int64_t first = (int64_t)be64_get(p);
    out->protocol_version = first;
    if (first >= 0) {
        /* 3.4 and older: the sid and nothing else */
        out->sid = first;
        *used = 8;
        return 0;
    }
    if (first != ELECTION_PROTOCOL_V1 && first != ELECTION_PROTOCOL_V2)
        return PEER_EBADVERSION;
    if (len < 20)
        return 0;
    int32_t n = (int32_t)be32_get(p + 16);
    if (n <= 0)
        return PEER_EBADLENGTH;
    if (n > ELECTION_ADDRESS_MAX)
        return PEER_ETOOBIG;
    if (len - 20 < (size_t)n)
        return 0;
    out->sid = (int64_t)be64_get(p + 8);
    out->addresses = (struct jute_buf){.ptr = p + 20, .len = n};
    *used = 20 + (size_t)n;
    return 0;
}

int election_message_split(const uint8_t *p, size_t len, struct jute_buf *msg, size_t *used)
{
    *msg = (struct jute_buf){.ptr = NULL, .len = -1};
    *used = 0;
    if (len < 4)
        return 0;
    int32_t n = (int32_t)be32_get(p);
    if (n <= 0)
        return PEER_EBADLENGTH;
    if (n > ELECTION_MESSAGE_MAX)
        return PEER_ETOOBIG;
    if (len - 4 < (size_t)n)
        return 0;
    *msg = (struct jute_buf){.ptr = p + 4, .len = n};
    *used = 4 + (size_t)n;
    return 0;
}

void election_message_encode(struct buf *b, const uint8_t *body, size_t len)
{
    buf_append_be32(b, (uint32_t)len);
    if (len)
        buf_append(b, body, len);
}

void election_notification_encode(struct buf *b, const struct election_notification *n)
{
    size_t clen = n->config.len > 0 ? (size_t)n->config.len : 0;
    buf_append_be32(b, (uint32_t)n->state);
    buf_append_be64(b, (uint64_t)n->leader);
    buf_append_be64(b, (uint64_t)n->zxid);
    buf_append_be64(b, (uint64_t)n->election_epoch);
    buf_append_be64(b, (uint64_t)n->peer_epoch);
    buf_append_be32(b, ELECTION_NOTIFICATION_VERSION);
    buf_append_be32(b, (uint32_t)clen);
    if (clen)
        buf_append(b, n->config.ptr, clen);
}

int election_notification_decode(const uint8_t *p, size_t len, struct election_notification *out)
{
    memset(out, 0, sizeof(*out));
    out->config = (struct jute_buf){.ptr = NULL, .len = -1};
    if (len < 28)
        return PEER_ETRUNCATED;
    out->state = (int32_t)be32_get(p);
    out->leader = (int64_t)be64_get(p + 4);
    out->zxid = (int64_t)be64_get(p + 12);
    out->election_epoch = (int64_t)be64_get(p + 20);
    if (len == 28) {
        /* before ZOOKEEPER-107: no peer epoch; the zxid's epoch stands in */
        out->peer_epoch = (int64_t)((uint64_t)out->zxid >> 32);
    } else {
        if (len < 36)
            return PEER_ETRUNCATED;
        out->peer_epoch = (int64_t)be64_get(p + 28);
        if (len != 40) {
            /* 40 bytes exactly is the form without a version; any other
             * length carries one, and Apache fails on 36..39 here */
            if (len < 40)
                return PEER_ETRUNCATED;
            out->version = (int32_t)be32_get(p + 36);
        }
    }
    if (out->version > 0x1) {
        if (len < 44)
            return PEER_ETRUNCATED;
        int32_t clen = (int32_t)be32_get(p + 40);
        if (clen < 0 || (size_t)clen > len)
            return PEER_EBADLENGTH;
        if (len - 44 < (size_t)clen)
            return PEER_ETRUNCATED;
        out->config = (struct jute_buf){.ptr = p + 44, .len = clen};
    }
    if (out->state < ELECTION_LOOKING || out->state > ELECTION_OBSERVING)
        return PEER_EBADSTATE;
    return 0;
}

const char *election_state_name(int32_t state)
{
    switch (state) {
    case ELECTION_LOOKING:
        return "LOOKING";
    case ELECTION_FOLLOWING:
        return "FOLLOWING";
    case ELECTION_LEADING:
        return "LEADING";
    case ELECTION_OBSERVING:
        return "OBSERVING";
    default:
        return NULL;
    }
}

void election_header_print(struct buf *b, const struct election_header *h)
{
    buf_printf(b, "{election_header protocol_version=%" PRId64 " sid=%" PRId64 " addresses=",
               h->protocol_version, h->sid);
    zk_print_str(b, h->addresses);
    buf_append_u8(b, '}');
}

void election_notification_print(struct buf *b, const struct election_notification *n)
{
    buf_printf(b,
               "{notification state=%" PRId32 " leader=%" PRId64 " zxid=%" PRId64
               " election_epoch=%" PRId64 " peer_epoch=%" PRId64 " version=%" PRId32 " config=",
               n->state, n->leader, n->zxid, n->election_epoch, n->peer_epoch, n->version);
    zk_print_str(b, n->config);
    buf_append_u8(b, '}');
}
