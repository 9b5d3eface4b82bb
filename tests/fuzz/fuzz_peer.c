/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as what a peer sends on the quorum port
 * (a QuorumPacket stream, and every payload layout) and on the election port
 * (a connection header, framed messages, a notification body). No decoder may
 * crash, read out of bounds or leak; what decodes must re-encode to a body
 * that decodes to the same values. Seeds: tests/golden/quorum. */
#include "base/buf.h"
#include "peer_lines.h"
#include "proto/election.h"
#include "proto/jute.h"
#include "proto/quorum.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void payloads(struct jute_buf d)
{
    struct quorum_learner_info li;
    struct quorum_request rq;
    struct quorum_ping_iter it;
    struct quorum_revalidate rv;
    struct quorum_revalidate_reply rr;
    int32_t v;
    int64_t leader, session;
    struct jute_buf rest;
    if (quorum_learner_info_decode(d, &li) == 0 && li.serverid != (int64_t)be64_get(d.ptr))
        abort();
    if (quorum_request_decode(d, &rq) == 0 && rq.request.len > d.len)
        abort();
    if (quorum_ping_iter_init(&it, d) == 0) {
        size_t n = 0;
        while (quorum_ping_next(&it, &session, &v))
            n++;
        if (n * 12 != (d.len > 0 ? (size_t)d.len : 0))
            abort();
    }
    if (quorum_revalidate_decode(d, &rv) == 0 && rv.session_id != (int64_t)be64_get(d.ptr))
        abort();
    if (quorum_revalidate_reply_decode(d, &rr) == 0 && rr.session_id != (int64_t)be64_get(d.ptr))
        abort();
    if (quorum_i32_payload_decode(d, &v) == 0 && v != (int32_t)be32_get(d.ptr))
        abort();
    if (quorum_activate_decode(d, &leader, &rest) == 0 && rest.len != d.len - 8)
        abort();
}

static void notification(const uint8_t *data, size_t size)
{
    struct election_notification n, again;
    if (election_notification_decode(data, size, &n) != 0)
        return;
    if (n.version <= 1)
        return; /* we only write version 2 */
    struct buf b;
    buf_init(&b);
    election_notification_encode(&b, &n);
    if (election_notification_decode(b.data, b.len, &again) != 0 || again.state != n.state ||
        again.leader != n.leader || again.zxid != n.zxid ||
        again.election_epoch != n.election_epoch || again.peer_epoch != n.peer_epoch ||
        again.config.len != n.config.len ||
        (n.config.len > 0 && memcmp(again.config.ptr, n.config.ptr, (size_t)n.config.len)))
        abort();
    buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out;
    buf_init(&out);
    (void)peer_lines_quorum(data, size, &out);
    buf_clear(&out);
    (void)peer_lines_election(data, size, PEER_LINES_MESSAGES, &out);
    buf_clear(&out);
    (void)peer_lines_election(data, size, PEER_LINES_CONNECTION, &out);
    buf_deinit(&out);
    if (size <= INT32_MAX)
        payloads(jute_buf_of(data, size));
    notification(data, size);
    return 0;
}
