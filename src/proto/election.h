/* SPDX-License-Identifier: Apache-2.0 */
/* election.h — the election port (3888) as Apache ZooKeeper 3.8 speaks it
 * (QuorumCnxManager, FastLeaderElection): the header that opens a connection,
 * the length-prefixed messages after it, and the notification they carry.
 * Pure: no I/O; decoders return views into their input and PEER_E* codes
 * (quorum.h) for bad input. Grammar: docs/PROTOCOL.md, "Election port". */
#ifndef CZK_PROTO_ELECTION_H
#define CZK_PROTO_ELECTION_H

#include "base/buf.h"
#include "proto/jute.h"
#include "proto/quorum.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The first long of a connection (QuorumCnxManager.PROTOCOL_VERSION_V1/V2).
 * 3.5+ sends V1 ("host:port"), or V2 ("host:port|host:port...") when
 * multiAddress.enabled; 3.8 accepts both, and a non-negative first long as
 * the sid itself with nothing after it (3.4 and older). */
#define ELECTION_PROTOCOL_V1 (-65536LL)
#define ELECTION_PROTOCOL_V2 (-65535LL)
/* QuorumCnxManager.maxBuffer: the most address bytes a receiver reads. */
#define ELECTION_ADDRESS_MAX 2048
/* QuorumCnxManager.PACKETMAXSIZE: the largest message body. */
#define ELECTION_MESSAGE_MAX (512 * 1024)

struct election_header {
    int64_t protocol_version; /* V1, V2, or the sid itself (old form) */
    int64_t sid;
    struct jute_buf addresses; /* view; len -1 in the old form */
};

/* The header as 3.8 sends it: long version, long sid, int len, address bytes. */
void election_header_encode(struct buf *b, int64_t protocol_version, int64_t sid,
                            struct jute_buf addresses);
/* Looks at the first bytes of a connection. Sets *used to the header's length,
 * or to 0 when more bytes are needed. PEER_EBADVERSION for a negative first
 * long other than V1/V2; PEER_EBADLENGTH for an address length <= 0;
 * PEER_ETOOBIG above ELECTION_ADDRESS_MAX (InitialMessage.parse). The address
 * text itself is not checked here. */
__attribute__((warn_unused_result)) int
election_header_decode(const uint8_t *p, size_t len, struct election_header *out, size_t *used);

/* A message: int len, len bytes, 0 < len <= ELECTION_MESSAGE_MAX (RecvWorker).
 * Sets *msg to the body and *used to 4 + len, or *used to 0 when more bytes
 * are needed. PEER_EBADLENGTH for len <= 0, PEER_ETOOBIG above the limit. */
__attribute__((warn_unused_result)) int election_message_split(const uint8_t *p, size_t len,
                                                               struct jute_buf *msg, size_t *used);
/* Appends int len + body. */
void election_message_encode(struct buf *b, const uint8_t *body, size_t len);

/* QuorumPeer.ServerState ordinals. */
enum election_state {
    ELECTION_LOOKING = 0,
    ELECTION_FOLLOWING = 1,
    ELECTION_LEADING = 2,
    ELECTION_OBSERVING = 3,
};
/* Notification.CURRENTVERSION: the format with the config string. */
#define ELECTION_NOTIFICATION_VERSION 0x2

struct election_notification {
    int32_t state;
    int64_t leader;
    int64_t zxid;
    int64_t election_epoch; /* the sender's logicalclock, "round" in Apache's log */
    int64_t peer_epoch;     /* the epoch of the proposed leader */
    int32_t version;        /* 0 for the 28- and 40-byte forms */
    struct jute_buf config; /* view; len -1 when version <= 1 */
};

/* A message body as FastLeaderElection.buildMsg makes it (version 2):
 * int state, long leader, long zxid, long electionEpoch, long peerEpoch,
 * int 0x2, int len, config bytes (QuorumVerifier.toString()). */
void election_notification_encode(struct buf *b, const struct election_notification *n);
/* Decodes a message body as WorkerReceiver does: 28 bytes is the oldest form
 * (peer_epoch = zxid >> 32, version 0), exactly 40 the form without a version
 * (version 0); otherwise the version is read, and above 1 a config length
 * (0 <= len <= the body's size) and the config. Bytes after the layout are
 * ignored, as Apache does. PEER_ETRUNCATED when the body is shorter than its
 * layout (Apache skips such a message), PEER_EBADLENGTH for a bad config
 * length, PEER_EBADSTATE for a state outside 0..3 (a voter skips those). */
__attribute__((warn_unused_result)) int
election_notification_decode(const uint8_t *p, size_t len, struct election_notification *out);

/* One line each, as zk_x_print writes records, for tools and tests:
 * {election_header protocol_version=-65536 sid=1 addresses="127.0.0.1:3888"}
 * {notification state=2 leader=3 zxid=4294967296 election_epoch=1 peer_epoch=1
 *  version=2 config="server.1=...\x0aversion=0"} */
void election_header_print(struct buf *b, const struct election_header *h);
void election_notification_print(struct buf *b, const struct election_notification *n);

/* "LOOKING", ...; NULL for other values. */
const char *election_state_name(int32_t state);

#endif
