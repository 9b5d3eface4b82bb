/* SPDX-License-Identifier: Apache-2.0 */
/* peer_lines.h — a captured peer-port byte stream as text, one line per item
 * (election_*_print, zk_quorum_packet_print), then "rest N" (bytes of an
 * incomplete item left over), or "error <name>" at malformed input. Shared by
 * test_quorum.c (golden vectors) and integration/peerwire.c, so the lines
 * the capture test checked are the lines the unit test compares. */
#ifndef CZK_TESTS_PEER_LINES_H
#define CZK_TESTS_PEER_LINES_H

#include "base/buf.h"
#include "proto/election.h"
#include "proto/quorum.h"
#include "proto/records.h"

#include <stdbool.h>

static int peer_lines_end(struct buf *out, int rc, size_t rest)
{
    if (rc != 0)
        buf_printf(out, "error %s\n", peer_err_name(rc));
    else
        buf_printf(out, "rest %zu\n", rest);
    return rc;
}

enum peer_lines_mode {
    PEER_LINES_MESSAGES,   /* framed notifications (what the dialled side sends) */
    PEER_LINES_CONNECTION, /* the dialling side: header, then framed notifications */
    PEER_LINES_HEADER,     /* the header alone */
};

static int peer_lines_election(const uint8_t *p, size_t len, enum peer_lines_mode mode,
                               struct buf *out)
{
    size_t pos = 0, used = 0;
    int rc = 0;
    if (mode != PEER_LINES_MESSAGES) {
        struct election_header h;
        rc = election_header_decode(p, len, &h, &used);
        if (rc == 0 && used == 0)
            return peer_lines_end(out, 0, len);
        if (rc == 0) {
            election_header_print(out, &h);
            buf_append_u8(out, '\n');
            pos = used;
        }
    }
    while (rc == 0 && mode != PEER_LINES_HEADER && pos < len) {
        struct jute_buf msg;
        rc = election_message_split(p + pos, len - pos, &msg, &used);
        if (rc != 0 || used == 0)
            break;
        struct election_notification n;
        rc = election_notification_decode(msg.ptr, (size_t)msg.len, &n);
        if (rc != 0)
            break;
        election_notification_print(out, &n);
        buf_append_u8(out, '\n');
        pos += used;
    }
    return peer_lines_end(out, rc, len - pos);
}

/* The quorum port's stream of QuorumPackets. */
static int peer_lines_quorum(const uint8_t *p, size_t len, struct buf *out)
{
    size_t pos = 0;
    int rc = 0;
    while (pos < len) {
        size_t n = 0;
        rc = quorum_packet_split(p + pos, len - pos, QUORUM_MAX_BUFFER_DEFAULT, &n);
        if (rc != 0 || n == 0)
            break;
        struct jute_reader r;
        jute_reader_init(&r, p + pos, n);
        struct zk_quorum_packet qp;
        if (zk_quorum_packet_decode(&r, &qp) != 0 || jute_reader_remaining(&r) != 0) {
            rc = PEER_ETRUNCATED; /* split and decode disagree: a bug */
            break;
        }
        zk_quorum_packet_print(out, &qp);
        buf_append_u8(out, '\n');
        pos += n;
    }
    return peer_lines_end(out, rc, len - pos);
}

#endif
