/* SPDX-License-Identifier: Apache-2.0 */
/* quorum.h — the quorum port (2888) as Apache ZooKeeper 3.8 speaks it: the
 * packet types (Leader.java), the stream of jute QuorumPacket records (no
 * length prefix), and the fixed layouts carried in QuorumPacket.data. Also the
 * error codes shared with the election port (election.h). Pure: no I/O;
 * decoders return views into their input. Grammar: docs/PROTOCOL.md,
 * "Quorum port". */
#ifndef CZK_PROTO_QUORUM_H
#define CZK_PROTO_QUORUM_H

#include "base/buf.h"
#include "proto/jute.h"
#include "proto/records.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* QuorumPacket.type (Leader.java, 3.8.0). */
enum quorum_type {
    QUORUM_REQUEST = 1,
    QUORUM_PROPOSAL = 2,
    QUORUM_ACK = 3,
    QUORUM_COMMIT = 4,
    QUORUM_PING = 5,
    QUORUM_REVALIDATE = 6,
    QUORUM_SYNC = 7,
    QUORUM_INFORM = 8,
    QUORUM_COMMITANDACTIVATE = 9,
    QUORUM_NEWLEADER = 10,
    QUORUM_FOLLOWERINFO = 11,
    QUORUM_UPTODATE = 12,
    QUORUM_DIFF = 13,
    QUORUM_TRUNC = 14,
    QUORUM_SNAP = 15,
    QUORUM_OBSERVERINFO = 16,
    QUORUM_LEADERINFO = 17,
    QUORUM_ACKEPOCH = 18,
    QUORUM_INFORMANDACTIVATE = 19,
};

/* LearnerInfo.protocolVersion and the LEADERINFO payload of 3.4+ peers; a
 * learner below it gets no LEADERINFO (LearnerHandler). */
#define QUORUM_PROTOCOL_VERSION 0x10000
/* QuorumAuthPacket.magic (QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER, -0xa0dbcafecafe1234L). */
#define QUORUM_AUTH_MAGIC ((int64_t)0x5f2435013501edccLL)
/* BinaryInputArchive's default limit on one buffer or string:
 * jute.maxbuffer (0xfffff) + zookeeper.jute.maxbuffer.extrasize (= maxbuffer). */
#define QUORUM_MAX_BUFFER_DEFAULT (2 * 0xfffff)

/* Malformed peer input. Never a crash: every decoder of quorum.h and
 * election.h returns one of these, and the caller closes the connection. */
enum peer_err {
    PEER_ETRUNCATED = -1,  /* fewer bytes than the layout needs */
    PEER_ETOOBIG = -2,     /* a length or count beyond the limit */
    PEER_EBADLENGTH = -3,  /* a negative length (other than jute's null -1), or a
                              payload whose size fits no layout */
    PEER_EBADVERSION = -4, /* an election protocol version Apache rejects */
    PEER_EBADSTATE = -5,   /* a notification's state outside LOOKING..OBSERVING */
};
/* "truncated", "too big", ...; "unknown" for anything else. */
const char *peer_err_name(int err);

/* "PROPOSAL", ...; NULL for a type Leader.java does not define. */
const char *quorum_type_name(int32_t type);

/* The stream: QuorumPackets back to back, each exactly as jute writes it
 * (BinaryOutputArchive on a buffered socket stream), no frame length. Looks at
 * the bytes at p: sets *packet_len to the length of the whole packet there, or
 * to 0 when more bytes are needed. PEER_ETOOBIG when `data` or an authinfo
 * string exceeds max_buffer (pass QUORUM_MAX_BUFFER_DEFAULT for Apache's
 * default) or authinfo has more than max_buffer / 8 items; PEER_EBADLENGTH for
 * a length or count below -1. Decode the packet with zk_quorum_packet_decode
 * on exactly those bytes. Note: a SNAP packet is followed by the raw snapshot
 * and the ustring "BenWasHere", not by another packet (see PROTOCOL.md). */
__attribute__((warn_unused_result)) int quorum_packet_split(const uint8_t *p, size_t len,
                                                            size_t max_buffer, size_t *packet_len);

/* One whole packet: zk_quorum_packet_encode, with authinfo from `authinfo`
 * (count ids; NULL and 0 write jute's null vector, -1, as Apache does for a
 * packet without auth). */
void quorum_packet_encode(struct buf *b, int32_t type, int64_t zxid, struct jute_buf data,
                          const struct zk_id *authinfo, int32_t count);

/* What follows a SNAP packet on the stream (LearnerHandler.syncFollower,
 * read back by Learner.syncWithLeader): the snapshot body exactly as
 * SerializeUtils.serializeSnapshot writes it, with no length in front —
 *   int n, (long sessionId, int timeoutMs)^n          sessions
 *   int m, (long aclId, vector<ACL>)^m                the ACL cache
 *   (ustring path, buffer data, long aclId, StatPersisted)*   nodes, root as ""
 *   ustring "/"                                       the end marker
 * (no digest: ZKDatabase.serializeSnapshot writes none) — then the ustring
 * "BenWasHere". The only way to find the body's end is to walk it; the scan
 * does that over a stream that arrives in pieces. Call quorum_snap_scan with
 * every byte received since the SNAP packet (the same start each time, or
 * after quorum_snap_scan_drop the bytes that follow the dropped ones): it
 * resumes after the last whole item it checked, so a body is walked once.
 * Returns 1 when the signature has been read (body_len: the body,
 * server_load_snapshot's input; pos: body + signature, where the next
 * packet starts), 0 for "need more bytes", or PEER_ETOOBIG (a string or
 * buffer above max_buffer, a count above what max_buffer allows),
 * PEER_EBADLENGTH (a negative count or length other than jute's null, a
 * signature other than "BenWasHere"). */
struct quorum_snap_scan {
    int phase;
    int64_t left; /* sessions or ACL entries still to walk */
    size_t pos;   /* bytes walked so far: whole items only */
    size_t body_len;
    int64_t nodes; /* nodes walked, root included */
};
void quorum_snap_scan_init(struct quorum_snap_scan *s);
__attribute__((warn_unused_result)) int
quorum_snap_scan(struct quorum_snap_scan *s, const uint8_t *p, size_t len, size_t max_buffer);
/* The body's bytes walked so far (whole items, from the start given). */
size_t quorum_snap_scan_body_walked(const struct quorum_snap_scan *s);
/* The first n bytes (n ≤ body_walked) are gone: the next call's p starts
 * after them, and pos and body_len count from there. */
void quorum_snap_scan_drop(struct quorum_snap_scan *s, size_t n);

/* FOLLOWERINFO / OBSERVERINFO data: a LearnerInfo record. LearnerHandler reads
 * it field by field and takes shorter forms: 8 bytes (serverid only; version
 * 0x1), 12 (no configVersion) or 20+. has_config_version tells whether it was
 * there. Null or shorter than 8 bytes: PEER_ETRUNCATED (Apache then invents a
 * sid from a counter; czk refuses such a learner). */
struct quorum_learner_info {
    int64_t serverid;
    int32_t protocol_version;
    int64_t config_version;
    bool has_config_version;
    uint8_t czk_features; /* QUORUM_CZK_*: what a czk learner's trailer says; 0 for Apache's */
};
__attribute__((warn_unused_result)) int quorum_learner_info_decode(struct jute_buf data,
                                                                   struct quorum_learner_info *out);

/* czk's trailer after the 20 bytes of a LearnerInfo: an int whose high 24
 * bits are "czk" and whose low 8 bits are the features the learner has.
 * Apache's LearnerHandler reads the first 20 bytes and ignores the rest, so
 * an Apache leader takes a czk learner as any other. */
#define QUORUM_CZK_MAGIC 0x637a6b00
/* The learner takes a LEADERINFO in the broadcast phase as the start of the
 * next epoch (the zxid counter's roll-over without an election,
 * docs/PROTOCOL.md "ZAB: the epoch roll-over"). */
#define QUORUM_CZK_EPOCH_ROLL 0x01
/* The zxid a leader stamps after `zxid` (epoch << 32 | counter): the next
 * counter, or past 0xfffffffe (Leader.propose never proposes an all-ones
 * counter) the next epoch's first, `first_counter` (czk.zxidCounterStart;
 * 0: 1). */
int64_t quorum_zxid_after(int64_t zxid, int64_t first_counter);

/* A czk learner's LearnerInfo: serverid, QUORUM_PROTOCOL_VERSION,
 * configVersion, then the trailer with QUORUM_CZK_EPOCH_ROLL. */
void quorum_learner_info_encode(struct buf *b, int64_t serverid, int64_t config_version);

/* LEADERINFO data (int protocolVersion, 0x10000) and ACKEPOCH data (int: the
 * learner's currentEpoch, or -1 when it had already accepted this epoch).
 * Apache reads the first 4 bytes and ignores any more; so does decode. */
void quorum_i32_payload_encode(struct buf *b, int32_t v);
__attribute__((warn_unused_result)) int quorum_i32_payload_decode(struct jute_buf data, int32_t *v);

/* REQUEST data (Learner.request): long sessionId, int cxid, int type, then the
 * client request's bytes (the record after its RequestHeader), possibly none. */
struct quorum_request {
    int64_t session_id;
    int32_t cxid;
    int32_t type;
    struct jute_buf request; /* view; len 0 when absent */
};
void quorum_request_encode(struct buf *b, const struct quorum_request *r);
__attribute__((warn_unused_result)) int quorum_request_decode(struct jute_buf data,
                                                              struct quorum_request *out);

/* PING data from a learner (Learner.ping): (long sessionId, int timeoutMs)*,
 * the sessions it touched; from the leader the data is null. A length that is
 * not a multiple of 12 makes LearnerHandler fail (EOF mid-pair): init returns
 * PEER_EBADLENGTH. Null data is an empty list. */
struct quorum_ping_iter {
    const uint8_t *p;
    size_t left;
};
__attribute__((warn_unused_result)) int quorum_ping_iter_init(struct quorum_ping_iter *it,
                                                              struct jute_buf data);
bool quorum_ping_next(struct quorum_ping_iter *it, int64_t *session_id, int32_t *timeout_ms);
void quorum_ping_append(struct buf *b, int64_t session_id, int32_t timeout_ms);

/* REVALIDATE data: learner → leader long sessionId, int timeoutMs
 * (Learner.validateSession); leader → learner long sessionId, boolean valid
 * (Leader.revalidateSession). Trailing bytes are ignored, as DataInputStream does. */
struct quorum_revalidate {
    int64_t session_id;
    int32_t timeout_ms;
};
struct quorum_revalidate_reply {
    int64_t session_id;
    bool valid;
};
void quorum_revalidate_encode(struct buf *b, const struct quorum_revalidate *v);
__attribute__((warn_unused_result)) int quorum_revalidate_decode(struct jute_buf data,
                                                                 struct quorum_revalidate *out);
void quorum_revalidate_reply_encode(struct buf *b, const struct quorum_revalidate_reply *v);
__attribute__((warn_unused_result)) int
quorum_revalidate_reply_decode(struct jute_buf data, struct quorum_revalidate_reply *out);

/* COMMITANDACTIVATE data: long designatedLeader. INFORMANDACTIVATE data: long
 * designatedLeader, then the PROPOSAL's data (TxnHeader, txn, [TxnDigest]).
 * `rest` is that proposal data (empty for COMMITANDACTIVATE). */
__attribute__((warn_unused_result)) int
quorum_activate_decode(struct jute_buf data, int64_t *designated_leader, struct jute_buf *rest);

#endif
