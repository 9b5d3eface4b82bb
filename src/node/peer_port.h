/* SPDX-License-Identifier: Apache-2.0 */
/* peer_port.h — the election port's connections (Apache ZooKeeper's
 * QuorumCnxManager) on a libuv loop: one TCP connection per pair of members,
 * owned by the higher sid; length-prefixed messages in both directions; one
 * queued message per peer. It carries opaque message bodies: the election
 * itself (src/zab/fle.h) is the layer above. Wire format: docs/PROTOCOL.md,
 * "Election port"; codec: src/proto/election.h.
 * Stricter than Apache 3.8 on who may connect (each refusal logged once):
 * a sid with no server.N line, our own sid, and a second server claiming a
 * member's sid under another election address while that member is
 * connected (the one that names our server.N address, else the first,
 * keeps the pair's connection). */
#ifndef CZK_NODE_PEER_PORT_H
#define CZK_NODE_PEER_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* One voter as server.N names it: sid and election address. The list is a
 * plain array until src/zab/membership.h exists; then peer_port_new takes
 * the membership's voters instead (the fields map one to one). */
struct peer_port_member {
    int64_t sid;
    const char *host; /* election host: a literal or a name, resolved once at peer_port_new */
    int port;         /* election port */
};

/* A message body from `from_sid` (0 < len <= ELECTION_MESSAGE_MAX), borrowed
 * for the call. The callback may call peer_port_send and peer_port_send_all,
 * not peer_port_free. */
typedef void peer_port_message_fn(void *ctx, int64_t from_sid, const uint8_t *bytes, size_t len);
/* The pair's connection to `sid` is up (a connection was kept) or down (the
 * kept one ended); a replaced connection reports down, then up. Not called
 * from peer_port_free. The callback may send, not free the port. */
typedef void peer_port_connection_fn(void *ctx, int64_t sid, bool up);
/* The election port could not be bound or listened on in any of the
 * config's bind_attempts (`why` names the address, the last error and the
 * count; borrowed for the call). Called once, from a timer, never from
 * peer_port_new. The port goes on dialling; the caller decides what to do
 * (czk-server exits as Apache's Listener does). May free the port. */
typedef void peer_port_listen_failed_fn(void *ctx, const char *why);

struct peer_port_config {
    int64_t my_sid; /* must be one of members[] */
    const struct peer_port_member *members;
    size_t member_count;
    bool listen_on_all_ips; /* quorumListenOnAllIPs: bind 0.0.0.0 (or ::) */
    /* zookeeper.cnxTimeout (default 5000): the limit on a connect. */
    int64_t connect_timeout_ms;
    /* The limit on reading an incoming connection's header; Apache's socket
     * timeout, quorum.cnxn.timeoutMs or else tickTime * syncLimit. */
    int64_t header_timeout_ms;
    /* Re-dial back-off: from min, doubling after each attempt that did not
     * end in a kept connection that lasted a second, up to max. */
    int64_t reconnect_min_ms;
    int64_t reconnect_max_ms;
    /* electionPortBindRetry, as QuorumCnxManager.Listener's portBindMaxRetry:
     * binds of the election port, bind_retry_interval_ms apart, before giving
     * up (on_listen_failed); 0 = forever. Without on_listen_failed there is
     * one attempt, and its error is peer_port_new's. */
    int32_t bind_attempts;
    int64_t bind_retry_interval_ms;
    peer_port_message_fn *on_message;
    peer_port_connection_fn *on_connection;       /* may be NULL */
    peer_port_listen_failed_fn *on_listen_failed; /* may be NULL */
    void *ctx;
};

/* The defaults above: 5000 ms connect, 10000 ms header (tickTime 2000 x
 * syncLimit 5), back-off 100 ms .. 5000 ms, 3 binds 1000 ms apart (Apache's
 * DEFAULT_PORT_BIND_MAX_RETRY and its sleep). */
void peer_port_config_defaults(struct peer_port_config *cfg);

/* Per-peer counters, for tests, logs and mntr. */
struct peer_port_peer_stats {
    bool connected;             /* a kept connection exists now */
    bool connected_incoming;    /* ... and the peer dialled it */
    int64_t connections_kept;   /* connections that became this pair's one */
    int64_t connections_closed; /* kept connections that ended */
    int64_t dials;              /* connects started by us */
    int64_t messages_sent;      /* handed to the socket */
    int64_t messages_received;
    int64_t messages_replaced; /* a newer message replaced an unsent one */
};

struct peer_port;

/* Binds the election port of cfg->my_sid (and starts dialling every other
 * member on the loop). The config and its strings are copied. Errors are
 * libuv's codes, with the reason in errmsg: UV_EINVAL for a bad config (my
 * sid not a member, a duplicate sid, a limit <= 0), UV_EAI_* for a host that
 * does not resolve, or, without on_listen_failed, bind's and listen's. With
 * on_listen_failed, a failed bind is logged and tried again on a timer
 * (bind_attempts), so peer_port_new succeeds without listening yet. */
__attribute__((warn_unused_result)) int peer_port_new(uv_loop_t *loop,
                                                      const struct peer_port_config *cfg,
                                                      struct peer_port **out, char *errmsg,
                                                      size_t errmsg_size);

/* Closes every connection and handle. The memory goes once their close
 * callbacks have run, so the loop must run on (uv_run until it has no
 * handles). NULL: no-op. */
void peer_port_free(struct peer_port *pp);

/* Queues one message body for `sid` (QuorumCnxManager.toSend): a message not
 * yet handed to the socket is replaced by this newer one (capacity 1, as
 * Apache's SEND_CAPACITY); with no connection it waits for one (and is
 * dialled at once unless a back-off is running), and a new
 * connection with nothing queued sends the last message handed to the
 * socket again (SendWorker's lastMessageSent). To our own sid: delivered to
 * on_message on a later loop iteration (also capacity 1). Errors: UV_ENOENT
 * for an unknown sid, UV_EMSGSIZE for len 0 or above ELECTION_MESSAGE_MAX. */
__attribute__((warn_unused_result)) int peer_port_send(struct peer_port *pp, int64_t sid,
                                                       const uint8_t *bytes, size_t len);
/* peer_port_send to every member, ourselves included (FastLeaderElection
 * sends its notifications to every voter). UV_EMSGSIZE as above. */
__attribute__((warn_unused_result)) int peer_port_send_all(struct peer_port *pp,
                                                           const uint8_t *bytes, size_t len);

/* QuorumCnxManager.connectAll: dial every member that has no connection and
 * no dial under way now, cutting short a running back-off. The election
 * calls it when a notification round timed out (FastLeaderElection's poll
 * gave up), as Apache does when messages are left undelivered. */
void peer_port_connect_all(struct peer_port *pp);

/* UV_ENOENT for an unknown sid. */
__attribute__((warn_unused_result)) int
peer_port_peer_stats(const struct peer_port *pp, int64_t sid, struct peer_port_peer_stats *out);
/* Connections closed for bad input (headers, lengths) or a timeout. */
int64_t peer_port_rejected(const struct peer_port *pp);

#endif
