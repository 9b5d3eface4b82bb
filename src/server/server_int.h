/* SPDX-License-Identifier: Apache-2.0 */
/* server_int.h — the server's internal state, shared by the files of
 * src/server (server.c: the request pipeline; persist.c: snapshots and
 * recovery). Not for use outside src/server. */
#ifndef CZK_SERVER_SERVER_INT_H
#define CZK_SERVER_SERVER_INT_H

#include "base/buf.h"
#include "base/hmap.h"
#include "base/list.h"
#include "server/auth.h"
#include "server/server.h"
#include "session/session.h"
#include "session/watch.h"
#include "tree/tree.h"

#include <stdbool.h>
#include <stdint.h>

struct server_conn;

struct server_session {
    struct session base;         /* first: the session table hands these back */
    struct watch_owner *watches; /* its own allocation: it may outlive the session (dying) */
    struct server_conn *conn;    /* NULL while no connection is attached */
    struct list queue;           /* struct request.link, in arrival order */
    bool refused;                /* its createSession was refused by the log (disk full) */
};

struct server_conn {
    uint64_t id;
    struct server_session *session;
    bool handshaken;
    bool old_client; /* its ConnectRequest had no readOnly byte: nor will the answer */
    bool closing;    /* io.close was called: ignore further input */
    struct server_conn_info info;
    char ip[64];
    struct auth_ids auth; /* ip, then whatever addauth added */
};

/* One request, from arrival to reply, in its session's queue. A write is
 * ready once its txn is applied (the reply is built then); a read runs when
 * it reaches the head of the queue. */
struct request {
    struct list link;
    uint64_t conn_id; /* the connection that sent it; the reply goes nowhere else */
    int32_t xid;
    int32_t type;
    bool is_write;
    bool ready;
    bool close_after;    /* closeSession and unimplemented ops: close after the reply */
    const uint8_t *body; /* reads: the request record */
    uint8_t *body_owned; /* body, when the request waits in a queue */
    size_t body_len;
    struct buf reply; /* a whole frame, once ready */
    int64_t received_ms;
};

/* A txn on its way through the log; in zxid order. */
struct proposal {
    struct list link;
    int64_t zxid;
    struct buf txn; /* TxnHeader + body */
    struct request *req;
    struct server_session *sess; /* the session the txn belongs to */
};

/* ZooKeeper's ChangeRecord: the state a path will have once every txn in
 * flight is applied, so that prep sees the tree plus those changes. */
struct change {
    struct list fifo;
    struct change *prev; /* the record this one shadowed in the map */
    int64_t zxid;
    char *path;
    size_t len;
    bool exists;
    struct zk_stat_persisted stat;
    int32_t child_count;
    uint8_t *acl; /* encoded ACL items, owned */
    size_t acl_len;
    int32_t acl_count;
};

struct server {
    struct server_config cfg;
    struct server_io io;
    struct tree tree;
    struct session_table sessions;
    struct watch_table data_watches;
    struct watch_table child_watches;
    struct imap conns; /* conn id -> struct server_conn */
    struct list proposals;
    int64_t next_zxid;
    struct list changes;        /* struct change.fifo, zxid order */
    struct smap change_by_path; /* the newest change per path */
    uint64_t watch_stamp;
    int64_t outstanding;
    struct server_stats stats;
    /* scratch for building frames: events and small replies, and reads
     * answered at once (a read may send events while its reply is built) */
    struct buf out;
    struct buf read_out;
    /* the txn being applied, for watch events */
    int64_t applying_zxid;
    int64_t next_container_check_ms;
    char super_digest[256];
    /* watch owners of closed connections still being cleared a slice at a
     * time (server_background): a session with a million watches must not
     * stop the loop while they go */
    struct watch_owner **dying;
    size_t dying_count;
    size_t dying_cap;
};

/* Watches cleared at once when a connection closes, and per
 * server_background call for a larger owner (~1 ms of loop time). */
#define SERVER_WATCH_CLEAR_SLICE 4096

/* A new, empty watch owner for ss (freed with mem_free once cleared). */
struct watch_owner *server_watch_owner_new(struct server_session *ss);
/* Drops all of ss's watches: at once when they are few, else by handing the
 * owner to server_background and giving ss a fresh one. */
void server_watches_drop(struct server *s, struct server_session *ss);

#endif
