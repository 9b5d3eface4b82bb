/* SPDX-License-Identifier: Apache-2.0 */
/* node_int.h — the node's internal state, shared by the files of src/node
 * that run the loop (node.c: lifecycle, loop handles, the glue;
 * client_port.c: client connections; log_writer.c: the log thread;
 * snapshot.c: snapshot children and purge; recover.c: start-up). Functions
 * named node__* are theirs to call on one another (libuv's prefix__ for
 * internal). Not for use outside src/node. */
#ifndef CZK_NODE_NODE_INT_H
#define CZK_NODE_NODE_INT_H

#include "base/buf.h"
#include "base/hmap.h"
#include "base/list.h"
#include "node/config.h"
#include "node/elector.h"
#include "node/four_letter.h"
#include "node/thp.h"
#include "server/server.h"
#include "storage/dirlock.h"
#include "storage/txnlog.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

/* The log thread (DESIGN.md "Threads"): the loop hands it whole records once
 * per iteration; it writes each batch, fsyncs once, and reports the highest
 * zxid back through an async handle. Fields under `mu` unless noted. */
struct node_log {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t thread;
    bool started;
    bool stop;
    struct buf pending; /* records handed over, not yet taken */
    /* handed over, not yet written; changed under `mu`, read without it by
     * the loop's per-frame throttle check (a relaxed load suffices there) */
    _Atomic size_t queued_bytes;
    int64_t persisted_zxid;
    uint64_t rolls; /* log files finished (each asks for a snapshot) */
    /* A batch refused for lack of space (ENOSPC, EDQUOT): its records from
     * failed_from_zxid on are not in the log. The thread takes nothing more
     * until the loop has answered them and dropped what it handed over
     * after them (those txns were prepped on top of the refused ones). */
    bool failed;
    int64_t failed_from_zxid;
    char failed_reason[STORAGE_PATH_MAX + 256];
    uv_async_t async;
    /* the thread's own */
    struct buf writing;
    struct txnlog_writer writer;
    int64_t txns_in_file;
    int64_t roll_after; /* snapCount / 2 + random(snapCount / 2), as SyncRequestProcessor */
    uint64_t rng;
    int32_t snap_count;
    bool force_sync;
};

/* RateLogger: the first of a run of equal messages, then a count. */
struct rate_log {
    char msg[256];
    int64_t since_ms;
    int count;
};

/* The newest txns of the log (ZKDatabase.committedLog): what a new leader
 * serves DIFFs from. Kept by an ensemble member only (ensemble.c). */
#define NODE_HISTORY_MAX       500 /* zookeeper.commitLogCount */
#define NODE_HISTORY_MAX_BYTES ((size_t)64 << 20)
/* A role's end: a session's connection writes its last replies, then is
 * closed by its client or, at the latest, by the expiry sweep after this. */
#define NODE_ROLE_END_LINGER_MS 2000
struct node_history_txn {
    int64_t zxid;
    uint8_t *data;
    size_t len;
};
struct node_history {
    struct node_history_txn ring[NODE_HISTORY_MAX];
    size_t head, len;
    size_t bytes;
};

/* An ensemble member's state (ensemble.c); NULL in a standalone node. */
struct elector;
struct leader_port;
struct quorum_port;
struct snapfile_writer;

struct node_ens {
    int64_t sid;
    struct membership members;
    int64_t *voters; /* the participants' sids */
    size_t voters_len;
    struct elector *elector;
    struct quorum_port *learner; /* FOLLOWING / OBSERVING */
    struct leader_port *leader;  /* LEADING */
    int32_t state;               /* enum election_state */
    int64_t leader_sid;
    bool serving;          /* clients are served (the role's sync is over) */
    bool serving_due;      /* the role's sync is over: serve from the next check phase */
    int64_t serving_epoch; /* a learner's established epoch (UPTODATE) */
    bool decided;          /* an election decision waits for the check phase */
    struct elector_decision decision;
    bool lost; /* the role ended: back to LOOKING at the check phase */
    char lost_reason[160];
    int64_t applied_commit;   /* leader: committed and applied up to (server_persisted) */
    struct buf queue;         /* for the ports, handed over at the check phase */
    struct buf leader_config; /* a learner's NEWLEADER config, till UPTODATE (reconfigEnabled) */
    /* A reconfig logged and not yet in force (the last seen config,
     * ens_reconfig.c): proposals need a quorum of it too. */
    struct membership next_members;
    bool next_pending;
    bool next_file; /* we wrote zoo.cfg.dynamic.next; removed once its version is in force */
    /* The servers changed: the next LOOKING builds the election anew on
     * the config in force. */
    bool rebuild_elector;
    int64_t elections;
    /* srvr's "Proposal sizes last/min/max" (BufferStats: -1 until the first) */
    int64_t last_proposal_size, min_proposal_size, max_proposal_size;
    /* node__now_ms when serving began (mntr's zk_leader_uptime) */
    int64_t serving_since_ms;
    /* A role ended by a full disk elects again only after look_backoff_ms
     * (doubling up to ENS_LOOK_BACKOFF_MS_MAX, reset once serving): without
     * it the member re-syncs, fails and re-elects in a tight loop. */
    uv_timer_t look_timer;
    bool look_timer_ready;
    bool look_waiting; /* the look_timer runs: LOOKING starts when it fires */
    /* readonlymode.enabled: LOOKING for max(2 s, tickTime), the member
     * serves read-only clients (SERVER_READ_ONLY) until a decision */
    uv_timer_t ro_timer;
    bool ro_timer_ready;
    bool read_only;
    int64_t look_backoff_ms;
    /* The role ended and the log thread still writes what the role handed
     * it: LOOKING starts once that is durable (ensemble.c role_end). */
    bool ending;
    bool ending_reload;      /* the tree cannot be kept: reload the data dir */
    int64_t ending_since_ms; /* node__now_ms when the role ended */
    int64_t ending_wait_ms;  /* the backoff before LOOKING, once drained */
    /* CZK_ROLE_END_VERIFY=1 (tests): each kept tree is compared with a
     * reload of the data dir into a second server; a mismatch aborts. */
    bool verify;
    /* A leader's SNAP, decoded into the tree and written to snapshot.<zxid>
     * as it arrives (ens_snap.c node__snap_*). */
    struct server_snap_load *snap_load;
    struct snapfile_writer *snap_file;
    bool snap_loaded;  /* its end marker was decoded */
    size_t snap_bytes; /* its body bytes so far */
    int64_t snap_begin_ms;
    /* The tree is part of a SNAP whose stream broke: never kept (the role's
     * end reloads the data dir). */
    bool tree_partial;
    /* observerMasterPort (ens_observer_master.c). A serving follower's
     * observer master: a leader_port of one voter (us) whose txns are the
     * ones we apply; observers' REQUEST / REVALIDATE relayed to our leader. */
    struct leader_port *om;
    int64_t om_retry_ms; /* its listener failed: not again before */
    bool om_warned;      /* the failure is logged once per role */
    bool om_over;        /* it stopped by itself: freed at the check phase */
    int64_t om_gen;      /* observer masters started (relayed answers name theirs) */
    /* per item queued for an observer, in queue order: the master's and
     * the observer connection's numbers when it asked */
    struct buf om_queued;
    size_t om_queued_off;
    struct buf om_syncs; /* per sync forwarded, in send order: -1 ours, else an observer's */
    size_t om_syncs_off;
    struct buf om_revalidations; /* (int64 session, int64 observer) relayed, in send order */
    size_t om_revalidations_off;
    /* An observer: the voters it tries, shuffled once (QuorumPeer's
     * observerMasters), the next one, and the one it syncs from. */
    int64_t *om_masters;
    size_t om_masters_len, om_masters_next;
    int64_t om_masters_version;
    int64_t master_sid; /* -1: none (the leader's quorum port when observerMasterPort is off) */
    uint64_t om_rand;
};

/* One server process. The loop thread's alone, except `log`, which has its
 * own lock. Its parts: the loop and its handles (node.c), connections, their
 * limits and counters (client_port.c), the hand-off to the log thread
 * (log_writer.c), the snapshot child and purge (snapshot.c). */
struct node {
    struct node_config cfg;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_timer_t tick_timer;
    uv_timer_t expiry_timer;
    uv_check_t check;
    uv_idle_t idle;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_async_t stop_async;
    bool loop_ready;
    bool handles_ready;
    bool handle_signals;
    bool stopping;
    bool stopped;
    int run_error; /* node_run's result: 0 or a negative enum node_error */
    struct server *server;
    /* bumped each time n->server is replaced (an ensemble role change):
     * a connection of an older server is not reported to the new one */
    uint64_t server_gen;
    struct node_ens *ens;                  /* NULL: standalone */
    int64_t my_sid;                        /* myid in an ensemble; 1 standalone */
    int64_t current_epoch, accepted_epoch; /* the epoch files, as loaded or last written */
    struct node_history *history;          /* an ensemble member's; NULL standalone */
    struct imap conns_by_id;
    struct list conns;
    struct list dirty;
    struct list dumps; /* struct node_conn.dump_link: four-letter dumps in progress */
    struct smap ips;
    size_t conn_count; /* open, not closing */
    uint64_t next_conn_id;
    int port;
    char bind_text[CONFIG_ADDRESS_MAX + 16];
    int64_t start_ms;
    int64_t log_appended_zxid;
    int64_t log_persisted_zxid;
    int64_t log_batch_txns;
    struct buf log_out; /* records of this loop iteration, for the log thread */
    /* disk full: writes are refused; the message is logged at most every
     * NODE_DISK_FULL_LOG_MS, with a count of what was refused meanwhile */
    bool disk_full;
    int64_t disk_full_logged_ms;
    int64_t disk_full_quiet_txns;
    int64_t disk_full_quiet_batches;
    struct node_log log;
    uint64_t log_rolls_seen;
    /* snapshots: a fork()ed child writes each one */
    uv_timer_t snap_timer;
    uv_timer_t purge_timer; /* autopurge.purgeInterval (DatadirCleanupManager) */
    pid_t snap_pid;
    int64_t snap_zxid;
    uint64_t snap_seq; /* snapshots started: part of each temporary's name */
    bool snap_wanted;
    /* dataDir and dataLogDir are this server's alone while it runs */
    struct dirlock data_lock;
    struct dirlock log_lock;
    /* after each snapshot a worker collapses the heap into huge pages */
    uv_work_t thp_work;
    struct thp_report thp_report;
    uint64_t thp_start_ns;
    bool thp_busy;
    bool log_ready;
    bool throttled;
    int64_t tick_armed_ms;
    int64_t trace_mask;
    struct four_letter_counters counters;
    struct rate_log accept_log;
    char host_name[256];
    char snap_dir[CONFIG_PATH_MAX + 16];
    char log_dir[CONFIG_PATH_MAX + 16];
};

/* ---- node.c ---- */

/* The loop's clock (uv_now, updated first), in ms. */
int64_t node__now_ms(struct node *n);

/* The wall clock (CLOCK_REALTIME), in ms since the epoch. */
int64_t node__wall_now_ms(void);

/* Run the check phase soon even if no I/O arrives. */
void node__wake(struct node *n);

/* Writes the message into errmsg (when there is one) and returns `code`. */
int node__fail(char *errmsg, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A new struct server with n's configuration and n's io callbacks. */
struct server *node__server_new(struct node *n);

/* ---- ensemble.c ---- */

/* Whether the config makes an ensemble member (more than one voter, or
 * standaloneEnabled=false). */
bool node__config_is_ensemble(const struct node_config *cfg);
/* Binds the election port and starts the first election. NODE_ERR_BIND. */
int node__ens_start(struct node *n, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));
/* Closes the ports (the loop is stopping); node__ens_free after the loop ran. */
void node__ens_stop(struct node *n);
void node__ens_free(struct node *n);
/* The check phase: role changes, queued items for the ports, commits. True
 * when something happened. */
bool node__ens_pump(struct node *n);
/* Around the check phase's rounds: a leader's packets to its learners are
 * written once per turn (leader_port_cork). No-ops on a learner. */
void node__ens_cork(struct node *n);
void node__ens_uncork(struct node *n);
/* The log thread made everything up to zxid durable. */
void node__ens_persisted(struct node *n, int64_t zxid);
/* The server's io.log_append on an ensemble member (leader: propose). */
void node__ens_log_append(struct node *n, int64_t zxid, const uint8_t *txn, size_t len);
/* server_io.forward, .revalidate, .learner_sync. */
void node__io_forward(void *ctx, const uint8_t *data, size_t len, const struct zk_id *auth,
                      size_t auth_len);
void node__io_revalidate(void *ctx, int64_t session_id, int32_t timeout_ms);
void node__io_learner_sync(void *ctx, int64_t learner_sid);
/* ens_reconfig.c: the server's io.reconfig_prep and io.reconfig_applied. */
struct zk_reconfig_request;
int32_t node__io_reconfig_prep(void *ctx, const struct zk_reconfig_request *req, int64_t zxid,
                               struct buf *out);
void node__io_reconfig_applied(void *ctx, int64_t zxid, const uint8_t *config, size_t len);
/* A txn handed to the log: a reconfig's config becomes the last seen one
 * (zoo.cfg.dynamic.next). */
void node__ens_txn_logged(struct node *n, const uint8_t *txn, size_t len);
/* `next` (higher version than ours) in force: files, notifications, the
 * leader's observers; a change of the servers (more than the version) ends
 * the role and builds the election anew. `next` is taken (left empty). */
void node__ens_activate(struct node *n, struct membership *next, const char *whose);
/* reconfigEnabled: our servers under `version` from now on (the files,
 * /zookeeper/config, the notifications); a learner's NEWLEADER config at
 * UPTODATE. */
void node__ens_take_config_version(struct node *n, int64_t version, const char *whose);
void node__ens_adopt_leader_config(struct node *n);
/* A notification's config (elector_config_fn): while LOOKING, a higher
 * version is taken (FastLeaderElection: a member removed and named again
 * learns it so). */
void node__ens_notified_config(void *ctx, int64_t from_sid, const uint8_t *text, size_t len);
/* The election port and FLE on the config in force (n->cfg). */
int node__ens_elector_new(struct node *n, char *errmsg, size_t errlen);
/* A new election port and FLE on the config in force, the old ones freed;
 * when it cannot start, the node stops (logged) and -1. */
int node__ens_elector_rebuild(struct node *n);
/* The observers of the config in force (e->members), in its order, into
 * *len; free with mem_free. */
int64_t *node__ens_observers(const struct node_ens *e, size_t *len);
/* The history's txns up to `upto`, as views into it (valid until it next
 * changes), in zxid order, into *len: a leader port's committed log. None
 * when they do not end at `upto` (a gap: a learner behind gets SNAP).
 * Free with mem_free. */
struct zab_txn *node__history_upto(const struct node *n, int64_t upto, size_t *len);
/* The log's newest txns (an ensemble member's): one more, in zxid order
 * (a txn not above the newest is ignored); all of them gone. */
void node__history_push(struct node *n, int64_t zxid, const uint8_t *txn, size_t len);
void node__history_clear(struct node *n);
/* "standalone", "leader", "follower", "observer" or "looking". */
const char *node__ens_mode(const struct node *n);
/* Clients may be served (always, standalone). */
bool node__serving(const struct node *n);
/* Cuts every txn after zxid from the log and removes later snapshots. */
int node__truncate_log(struct node *n, int64_t zxid, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));

/* ---- client_port.c ---- */

/* Resolves clientPortAddress (every address when empty), binds n->listener
 * (initialised here) and listens; sets n->port and n->bind_text.
 * NODE_ERR_RESOLVE or NODE_ERR_BIND with errmsg. */
int node__client_bind(struct node *n, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));

/* server_io.send: queues a frame on the connection (closing it past
 * czk.clientOutputMaxBytes, pausing it past czk.clientOutputPauseBytes). */
void node__io_send(void *ctx, uint64_t conn_id, const uint8_t *frame, size_t len);

/* server_io.close: flush the connection's output, then close it. */
void node__io_close(void *ctx, uint64_t conn_id);
/* server_io.conn_backlogged: unsent output at czk.clientOutputPauseBytes. */
bool node__io_conn_backlogged(void *ctx, uint64_t conn_id);

/* Over globalOutstandingLimit, or too many txn bytes wait for the log
 * thread: connections with requests outstanding stop being read. */
bool node__over_limit(struct node *n);

/* Back under the limit: buffered frames first, in connection order, then
 * reading again. */
void node__unthrottle(struct node *n);

/* One slice of each wchp/wchc/dump in progress; true while one could go on
 * at once. */
bool node__four_letter_pump(struct node *n);

/* Hands the queued output of every connection marked since the last check
 * phase to libuv, and carries out requested closes. */
void node__flush_dirty(struct node *n);

/* n->expiry_timer: closes connections idle past their session timeout. */
void node__on_expiry(uv_timer_t *t);

/* Closes every connection now (the loop is stopping); output is dropped. */
void node__close_conns(struct node *n);
/* Closes every client connection (the ensemble role ended), as ZooKeeper
 * does when its server shuts down; four-letter connections too. The server
 * hears of each close before this returns (server_conn_closed). */
void node__close_client_conns(struct node *n);

/* ---- log_writer.c ---- */

/* server_io.log_append: frames the txn as a log record into n->log_out,
 * handed over at the next check phase. */
void node__io_log_append(void *ctx, int64_t zxid, const uint8_t *txn, size_t len);

/* Txn bytes handed over or framed and not yet written. */
size_t node__log_queued(struct node *n);

/* Hands this iteration's records (n->log_out) to the log thread. */
void node__log_handoff(struct node *n);

/* The thread refused a batch (disk full): answers the refused txns and
 * those handed over after them with errors, then lets the thread go on. */
void node__log_failed(struct node *n);

/* Everything handed to the log thread and framed for it is written and
 * synced (or was refused and answered: node__log_failed). Never blocks. */
/* ensemble.c, for ens_snap.c: the log thread drained and stopped; started
 * again after the last logged zxid; /zookeeper/config of a fresh tree. */
void node__ens_log_drain(struct node *n);
int node__ens_log_restart(struct node *n);
void node__ens_config_node(struct node *n);
/* ens_snap.c: quorum_port's io.snap_begin / snap_body / snap_end (ctx: the
 * node); node__snap_abandon drops a SNAP cut off mid-way (the role's end);
 * leader_port's io.snapshot_fork. */
int node__snap_begin(void *ctx, int64_t zxid);
int node__snap_body(void *ctx, const uint8_t *p, size_t len);
int node__snap_end(void *ctx, int64_t zxid);
void node__snap_abandon(struct node *n);
int node__snapshot_fork(void *ctx, int sock, int *go_fd, int *done_fd, pid_t *pid);

/* ens_observer_master.c: observerMasterPort. A follower's observer master
 * (Apache's ObserverMaster) and an observer's choice of the voter it syncs
 * from (Observer.findLearnerMaster). */
/* Check phase: a serving follower starts its observer master (again after
 * a failed listen, every second). */
void node__om_pump(struct node *n);
/* The config changed (ens_reconfig.c publish): the observer master takes
 * its observers, config text and version, its connections staying. */
void node__om_config_update(struct node *n);
/* The role ends: the observer master closes, the relayed answers are forgotten. */
void node__om_stop(struct node *n);
/* A follower applies this committed txn next: its observers are informed. */
void node__om_apply(struct node *n, int64_t zxid, const uint8_t *txn, size_t len);
/* queue_flush took this REQUEST / REVALIDATE item for `from` (-1: ours,
 * else the observer it relays) from the queue and sent it to the leader
 * (`sent`) or not: remember whose answer comes. */
void node__om_sent(struct node *n, int kind, int64_t from, bool sent, const uint8_t *data,
                   size_t len);
/* The leader's SYNC / REVALIDATE answer: true when it was an observer's
 * (relayed to it), false when it is ours. */
bool node__om_answer(struct node *n, int32_t type, int64_t zxid, const uint8_t *data, size_t len);
/* An observer that lost its learner master elects again after this: a
 * random 0-199 ms (Observer.waitForObserverElectionDelay, its default
 * zookeeper.observer.election.DelayMs of 200). */
#define NODE_OBSERVER_ELECTION_DELAY_MS 200
int64_t node__om_election_delay_ms(struct node *n);
/* An observer with observerMasterPort: the voter to sync from next (its
 * sid), round-robin over the voters shuffled; -1 when there is none. */
int64_t node__om_next_master(struct node *n);
/* A relay REQUEST from observer `sid` for the leader, queued in order. */
void node__ens_queue_request(struct node *n, int64_t from, const uint8_t *data, size_t len,
                             const struct zk_id *auth, size_t auth_len);
void node__ens_queue_revalidate(struct node *n, int64_t from, const uint8_t *data, size_t len);
/* ensemble.c's queue items (node__om_sent's kind) */
enum {
    ENS_ITEM_PROPOSE = 1, /* leader: a = zxid, bytes = txn */
    ENS_ITEM_SYNC = 2,    /* leader: a = learner sid */
    ENS_ITEM_REQUEST =
        3, /* learner: a = -1 or the observer relayed, bytes = REQUEST data, then auth ids */
    ENS_ITEM_REVALIDATE = 4, /* learner: a = -1 or the observer relayed, bytes = REVALIDATE data */
};
bool node__log_drained(struct node *n);

/* n->log.async: the thread wrote a batch; wakes the check phase. */
void node__on_log_async(uv_async_t *h);

/* Starts the log thread on n->log_dir. NODE_ERR_LOOP with errmsg if it
 * cannot be created. */
int node__log_start(struct node *n, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));

/* Lets the thread write what it was given, joins it, and closes the file
 * (synced, preallocation given back). A no-op if it is not running. */
void node__log_stop(struct node *n);

/* ---- snapshot.c ---- */

/* fork() a child that writes the state at the last applied zxid; if one is
 * running, or the heap collapse after the last one is, the snapshot waits
 * for it (n->snap_wanted). */
void node__snapshot_start(struct node *n);

/* Waits for a running snapshot child to exit. */
void node__snapshot_wait(struct node *n);

/* autopurge.purgeInterval: storage_purge, keeping snapRetainCount. */
void node__on_purge_timer(uv_timer_t *t);

/* ---- recover.c ---- */

/* java.io.File.getAbsolutePath of path/suffix into out (size bytes). */
void node__absolute_dir(const char *path, const char *suffix, char *out, size_t size);

/* Locks dataDir and dataLogDir (NODE_ERR_LOCKED if another server holds
 * one), then removes the temporaries dead writers left there. */
int node__claim_dirs(struct node *n, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));

/* FileTxnSnapLog.restore into n->server: newest valid snapshot, the log
 * after it, the epoch files. Nothing on disk changes unless it succeeds.
 * Sets n->snap_wanted when the data dir holds no snapshot of the result.
 * Returns 0 or NODE_ERR_DATA with errmsg. */
int node__recover(struct node *n, char *errmsg, size_t errlen) __attribute__((warn_unused_result));

/* The same recovery into a new server (*out, free with server_free), as a
 * check only: nothing on disk changes, nor n (its history, zxids, epochs).
 * The log thread must have written everything it was given and be given
 * nothing meanwhile. Returns 0 or NODE_ERR_DATA with errmsg (*out NULL). */
int node__recover_check(struct node *n, struct server **out, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));

#endif
