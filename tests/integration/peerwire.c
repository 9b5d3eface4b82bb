/* SPDX-License-Identifier: Apache-2.0 */
/* peerwire — czk's peer-port codec (src/proto/quorum.h, election.h) on the
 * command line, for test_peer_wire.py: it encodes what the test sends to
 * Apache ZooKeeper and decodes what Apache sends back, so the bytes on the
 * wire are czk's own. Bytes in and out as hex.
 *   peerwire header VERSION SID ADDRESSES         election header
 *   peerwire notification STATE LEADER ZXID ELECTION_EPOCH PEER_EPOCH CONFIG_HEX
 *                                                 one framed notification message
 *   peerwire packet TYPE ZXID DATA_HEX            one QuorumPacket (no authinfo)
 *   peerwire learnerinfo SID PROTOCOL CONFIG_VERSION   LearnerInfo (FOLLOWERINFO data)
 *   peerwire i32 VALUE                            LEADERINFO / ACKEPOCH data
 *   peerwire decode-election HEX                  framed notifications
 *   peerwire decode-connection HEX                a header, then framed notifications
 *   peerwire decode-header HEX                    a header alone (the rest is left)
 *   peerwire decode-quorum HEX                    a stream of QuorumPackets
 * Decoders print one line per item (election_*_print, zk_quorum_packet_print),
 * then "rest N" (bytes left, an incomplete item); "error <name>" and exit 1 on
 * malformed input. */
#include "base/buf.h"
#include "proto/election.h"
#include "proto/quorum.h"
#include "proto/records.h"
#include "unit/peer_lines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t num(const char *s)
{
    return strtoll(s, NULL, 0);
}

static size_t unhex(const char *hex, struct buf *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            break;
        buf_append_u8(out, (uint8_t)v);
    }
    return out->len;
}

static void put_hex(const struct buf *b)
{
    for (size_t i = 0; i < b->len; i++)
        printf("%02x", b->data[i]);
    printf("\n");
}

static int put_lines(int rc, struct buf *lines)
{
    printf("%.*s", (int)lines->len, (const char *)lines->data);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct buf out, in;
    buf_init(&out);
    buf_init(&in);
    int rc = 0;
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "header") && argc == 5) {
        election_header_encode(&out, num(argv[2]), num(argv[3]),
                               jute_buf_of(argv[4], strlen(argv[4])));
        put_hex(&out);
    } else if (!strcmp(cmd, "notification") && argc == 8) {
        unhex(argv[7], &in);
        struct election_notification n = {
            .state = (int32_t)num(argv[2]),
            .leader = num(argv[3]),
            .zxid = num(argv[4]),
            .election_epoch = num(argv[5]),
            .peer_epoch = num(argv[6]),
            .version = ELECTION_NOTIFICATION_VERSION,
            .config = jute_buf_of(in.data, in.len),
        };
        struct buf body;
        buf_init(&body);
        election_notification_encode(&body, &n);
        election_message_encode(&out, body.data, body.len);
        buf_deinit(&body);
        put_hex(&out);
    } else if (!strcmp(cmd, "packet") && argc == 5) {
        unhex(argv[4], &in);
        struct jute_buf data = in.len ? jute_buf_of(in.data, in.len) : jute_cstr(NULL);
        quorum_packet_encode(&out, (int32_t)num(argv[2]), num(argv[3]), data, NULL, 0);
        put_hex(&out);
    } else if (!strcmp(cmd, "learnerinfo") && argc == 5) {
        struct zk_learner_info li = {.serverid = num(argv[2]),
                                     .protocol_version = (int32_t)num(argv[3]),
                                     .config_version = num(argv[4])};
        zk_learner_info_encode(&out, &li);
        put_hex(&out);
    } else if (!strcmp(cmd, "i32") && argc == 3) {
        quorum_i32_payload_encode(&out, (int32_t)num(argv[2]));
        put_hex(&out);
    } else if (!strcmp(cmd, "decode-election") && argc == 3) {
        unhex(argv[2], &in);
        rc = put_lines(peer_lines_election(in.data, in.len, PEER_LINES_MESSAGES, &out), &out);
    } else if (!strcmp(cmd, "decode-connection") && argc == 3) {
        unhex(argv[2], &in);
        rc = put_lines(peer_lines_election(in.data, in.len, PEER_LINES_CONNECTION, &out), &out);
    } else if (!strcmp(cmd, "decode-header") && argc == 3) {
        unhex(argv[2], &in);
        rc = put_lines(peer_lines_election(in.data, in.len, PEER_LINES_HEADER, &out), &out);
    } else if (!strcmp(cmd, "decode-quorum") && argc == 3) {
        unhex(argv[2], &in);
        rc = put_lines(peer_lines_quorum(in.data, in.len, &out), &out);
    } else {
        fprintf(stderr, "usage: see the comment at the top of peerwire.c\n");
        rc = 2;
    }
    buf_deinit(&out);
    buf_deinit(&in);
    return rc;
}
