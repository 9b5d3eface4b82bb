/* SPDX-License-Identifier: Apache-2.0 */
/* leader_port_int.h — the leader port's internal state, shared by its two
 * files (leader_port.c: the listener, the learners' connections, ZAB's
 * updates carried out; leader_snap.c: a SNAP's body streamed from a forked
 * child). Functions named leader_port__* are theirs to call on one another.
 * Not for use outside these two files: the interface is leader_port.h. */
#ifndef CZK_NODE_LEADER_PORT_INT_H
#define CZK_NODE_LEADER_PORT_INT_H

#include "base/buf.h"
#include "node/leader_port.h"
#include "zab/zab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* What one read from a learner's socket (or a SNAP child's pipe) takes. */
#define LEADER_PORT_READ_CHUNK (64 * 1024)

/* How a connection ends, which decides what ZAB and the log are told. */
enum close_kind {
    CLOSE_PEER,     /* EOF or a read error: ZAB hears DISCONNECTED */
    CLOSE_DROP,     /* the port drops it (bad input, not reading): DISCONNECTED */
    CLOSE_ZAB,      /* ZAB's closes: it has forgotten the learner already */
    CLOSE_REPLACED, /* a newer connection of that sid introduced itself */
    CLOSE_STOP,     /* leadership over, or the port freed */
};

/* A SNAP body streaming in from a child: leader_snap.c's. */
struct snap_stream;

struct learner_conn {
    struct leader_port *lp;
    uv_tcp_t tcp;
    int64_t sid; /* -1 until its LearnerInfo */
    uint64_t gen;
    bool observer;
    bool closing;
    int64_t since_ms;
    struct buf in; /* received; from in_off not yet consumed */
    size_t in_off;
    struct buf out;        /* this round's packets, written at flush */
    size_t out_snap;       /* bytes of SNAP body in `out` */
    size_t snap_in_flight; /* SNAP body bytes in writes not yet completed */
    /* While a SNAP body streams in from a child: the packets that follow
     * it, in order, sent once the body and its signature are out. */
    struct snap_stream *stream;
    struct buf held;
};

struct queued_txn {
    int64_t zxid;
    uint8_t *data;
    size_t len;
};

struct pending_sync {
    int64_t sid; /* LEADER_PORT_SYNC_LOCAL: the leader's own client */
    uint64_t gen;
    int64_t target; /* ZAB answers it once this has committed (and a quorum answered) */
    uint64_t token; /* ZAB_SYNC_REQUEST's */
};

struct leader_port {
    uv_loop_t *loop;
    struct leader_port_config cfg;
    struct leader_port_io io;
    int64_t *voters, *observers;
    char *config_text;
    uv_tcp_t listener;
    uv_timer_t timer;
    int handles; /* open handles; the struct goes when the last closes */
    bool freed, over;
    int bound_port;

    struct zab zab;
    int64_t committed_zxid; /* the last io.commit */
    int64_t epoch;          /* established; -1 before */

    struct learner_conn **conns;
    size_t conns_len, conns_cap;
    uint64_t next_gen;
    int64_t dropped;

    /* Work asked for while a step or a callback ran: done by leader_port__leave(). */
    int depth;
    bool corked; /* leader_port_cork: flush at leader_port_uncork only */
    int64_t persisted_want, persisted_done;
    struct queued_txn *queue; /* proposals beyond outstanding_max */
    size_t queue_head, queue_len, queue_cap, queue_bytes;
    struct pending_sync *syncs; /* request order; the first syncs_stepped are ZAB's */
    size_t syncs_head, syncs_len, syncs_cap, syncs_stepped;
    uint64_t next_sync_token;
    int64_t *disconnects;
    size_t disconnects_len, disconnects_cap;
};

/* ---- leader_port.c ---- */

/* A step or a callback begins: work asked for meanwhile waits for the
 * matching leader_port__leave. */
void leader_port__enter(struct leader_port *lp);
/* The outermost leave runs the deferred work (ZAB's events, proposals) and
 * flushes every learner's output, unless corked. */
void leader_port__leave(struct leader_port *lp);
/* Ends c once (later calls do nothing): ZAB, the log and the caller told as
 * `kind` says, its SNAP stream ended, its handle closed. */
void leader_port__conn_close(struct learner_conn *c, const char *reason, enum close_kind kind);
/* Frees the port once it was freed and its last handle has closed. */
void leader_port__maybe_free(struct leader_port *lp);

/* ---- leader_snap.c ---- */

/* A SNAP for c, its packet already in c->out: the body from
 * io.snapshot_fork's child, which writes it into c's socket itself (c->stream
 * set until it is through; packets sent meanwhile go to c->held), else
 * io.snapshot's, appended synchronously. May close c. */
void leader_port__snap_body(struct leader_port *lp, struct learner_conn *c);
/* Ends c's stream, if any: the child reaped (killed first when
 * `abort_child`), the pipes closed. The held packets stay for the caller. */
void leader_port__snap_end(struct learner_conn *c, bool abort_child);
/* Once nothing before the body is left to write to c's socket (c->out
 * empty, libuv's write queue empty), tells the child to go; no-op
 * otherwise, or without a stream. */
void leader_port__snap_pace(struct learner_conn *c);

#endif
