/* SPDX-License-Identifier: Apache-2.0 */
/* node.h — one czk server process's event loop (libuv): the client port,
 * framing, four-letter words, connection limits, output queues, request
 * backpressure, the tick timer and the group-commit point, driving a
 * struct server (src/server/server.h) as its driver contract says. The only
 * layer that does I/O. Not thread-safe except node_stop. The process must
 * ignore SIGPIPE (main does): a write to a reset connection must fail with
 * EPIPE, not kill the server. */
#ifndef CZK_NODE_NODE_H
#define CZK_NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>

struct node;
struct node_config;

enum node_error {
    NODE_ERR_RESOLVE = -1, /* clientPortAddress is not an address or a known host */
    NODE_ERR_BIND = -2,    /* the port cannot be bound or listened on */
    NODE_ERR_LOOP = -3,    /* libuv could not set up the loop */
    NODE_ERR_DATA = -4,    /* the data dir cannot be read or is damaged (recovery refused) */
    NODE_ERR_LOCKED = -5,  /* another server holds dataDir or dataLogDir (storage/dirlock.h) */
    NODE_ERR_CONFIG = -6,  /* an ensemble member without a valid dataDir/myid */
    /* node_run: the election port stayed taken through electionPortBindRetry's binds */
    NODE_ERR_ELECTION_BIND = -7,
};

/* Lock the data dirs (dataDir, dataLogDir: one server each), remove the
 * temporaries dead writers left there, recover them (newest valid
 * snapshot, then the txn log), start the log thread, bind the client port and set up the
 * loop, without running it. The
 * configuration is copied. `handle_signals`: SIGINT and SIGTERM stop the loop.
 * On failure returns a negative enum node_error with a message (naming the
 * address and the reason) in errmsg, and *out is NULL. */
int node_new(const struct node_config *cfg, bool handle_signals, struct node **out, char *errmsg,
             size_t errlen) __attribute__((warn_unused_result));

/* Run until stopped (node_stop, or a signal); then every connection and
 * handle is closed. Returns 0, or a negative enum node_error. */
int node_run(struct node *n) __attribute__((warn_unused_result));

/* Ask a running loop to stop; callable from any thread. */
void node_stop(struct node *n);

/* The bound client port. */
int node_port(const struct node *n);

/* Free a node that is not running (after node_run returned, or never run). */
void node_free(struct node *n);

#endif
