/* SPDX-License-Identifier: Apache-2.0 */
/* The event loop. One thread; the server is only entered from loop callbacks
 * (read, timer, check), never from inside one of its own io callbacks: those
 * only queue bytes, mark connections and remember zxids, and the check
 * handle (after each poll) does the rest in this order: persist (the group
 * commit point, where the log thread's fsync will go), then release
 * throttled input, then flush replies and carry out closes. This file holds
 * struct node's lifecycle and those handles; the parts they drive are
 * client_port.c, log_writer.c, snapshot.c and recover.c (node_int.h). */
#include "node/node.h"

#include "base/buf.h"
#include "base/hmap.h"
#include "base/list.h"
#include "base/log.h"
#include "base/mem.h"
#include "node/config.h"
#include "node/four_letter.h"
#include "node/node_int.h"
#include "server/server.h"
#include "storage/dirlock.h"
#include "storage/fs.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

/* ---- clocks ---- */

int64_t node__now_ms(struct node *n)
{
    uv_update_time(&n->loop);
    return (int64_t)uv_now(&n->loop);
}

int64_t node__wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_idle(uv_idle_t *h)
{
    (void)h;
}

/* Run the check phase soon even if no I/O arrives (an active idle handle
 * makes the poll return at once). */
void node__wake(struct node *n)
{
    if (!n->stopping && n->handles_ready)
        uv_idle_start(&n->idle, on_idle);
}

/* ---- the server's io ---- */

static int64_t io_wall_ms(void *ctx)
{
    (void)ctx;
    return node__wall_now_ms();
}

/* Standalone: the log thread; an ensemble's leader: ZAB first. */
static void io_log_append(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    struct node *n = ctx;
    if (n->ens)
        node__ens_log_append(n, zxid, txn, len);
    else
        node__io_log_append(n, zxid, txn, len);
}

/* ---- loop callbacks ---- */

static void on_tick(uv_timer_t *t);

static void node_arm_tick_timer(struct node *n)
{
    int64_t next = server_next_tick_ms(n->server);
    if (next == n->tick_armed_ms && uv_is_active((uv_handle_t *)&n->tick_timer))
        return;
    int64_t delay = next - node__now_ms(n);
    n->tick_armed_ms = next;
    uv_timer_start(&n->tick_timer, on_tick, delay > 0 ? (uint64_t)delay : 0, 0);
}

static void on_tick(uv_timer_t *t)
{
    struct node *n = t->data;
    server_tick(n->server, node__now_ms(n));
    node_arm_tick_timer(n);
    node__wake(n);
}

/* After each poll: hand over the batch, apply what the log thread made
 * durable, release throttled input, flush replies. */
static void on_check(uv_check_t *h)
{
    struct node *n = h->data;
    if (n->stopping)
        return;
    node__ens_cork(n);
    for (int round = 0; round < 16; round++) {
        bool progressed = false;
        node__log_handoff(n);
        pthread_mutex_lock(&n->log.mu);
        int64_t persisted = n->log.persisted_zxid;
        uint64_t rolls = n->log.rolls;
        bool failed = n->log.failed;
        pthread_mutex_unlock(&n->log.mu);
        if (persisted > n->log_persisted_zxid) {
            n->log_persisted_zxid = persisted;
            if (n->ens)
                node__ens_persisted(n, persisted);
            else
                server_persisted(n->server, persisted, node__now_ms(n));
            progressed = true;
            if (n->disk_full && !failed) {
                LOG_I("Writing the txn log again: disk space is back (%" PRId64
                      " more txns in %" PRId64 " batches were refused since the last message)",
                      n->disk_full_quiet_txns, n->disk_full_quiet_batches);
                n->disk_full = false;
                n->disk_full_quiet_txns = 0;
                n->disk_full_quiet_batches = 0;
            }
        }
        if (failed && n->ens) {
            /* a member that cannot log must not ack: its role ends */
            node__log_failed(n);
            n->ens->lost = true;
            snprintf(n->ens->lost_reason, sizeof(n->ens->lost_reason),
                     "the txn log cannot be written (disk full)");
            progressed = true;
        } else if (failed) {
            node__log_failed(n);
            progressed = true;
        }
        if (node__ens_pump(n))
            progressed = true;
        if (rolls != n->log_rolls_seen) {
            /* a log file is full: snapshot the state, as ZooKeeper does on roll */
            n->log_rolls_seen = rolls;
            node__snapshot_start(n);
        }
        if (n->throttled && !node__over_limit(n)) {
            node__unthrottle(n);
            progressed = true;
        }
        if (!progressed)
            break;
    }
    node__log_handoff(n);
    node__ens_uncork(n);
    bool dumping = node__four_letter_pump(n);
    node__flush_dirty(n);
    node_arm_tick_timer(n);
    bool pending = dumping || server_background(n->server) || n->log_out.len > 0 ||
                   (n->ens && (n->ens->queue.len > 0 || n->ens->lost || n->ens->decided)) ||
                   !list_is_empty(&n->dirty) || (n->throttled && !node__over_limit(n));
    if (!pending)
        uv_idle_stop(&n->idle);
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* Close every handle; uv_run returns once their callbacks have run. */
static void node_shutdown(struct node *n)
{
    if (n->stopping)
        return;
    n->stopping = true;
    node__ens_stop(n);
    node__close_conns(n);
    uv_close((uv_handle_t *)&n->listener, on_handle_closed);
    uv_close((uv_handle_t *)&n->tick_timer, on_handle_closed);
    uv_close((uv_handle_t *)&n->expiry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&n->check, on_handle_closed);
    uv_close((uv_handle_t *)&n->idle, on_handle_closed);
    uv_close((uv_handle_t *)&n->stop_async, on_handle_closed);
    /* the thread writes what it was given, syncs, and may no longer wake us */
    node__log_stop(n);
    uv_close((uv_handle_t *)&n->log.async, on_handle_closed);
    uv_close((uv_handle_t *)&n->snap_timer, on_handle_closed);
    uv_close((uv_handle_t *)&n->purge_timer, on_handle_closed);
    if (n->handle_signals) {
        uv_close((uv_handle_t *)&n->sigint, on_handle_closed);
        uv_close((uv_handle_t *)&n->sigterm, on_handle_closed);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct node *n = h->data;
    LOG_I("Received %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    node_shutdown(n);
}

static void on_stop(uv_async_t *h)
{
    node_shutdown(h->data);
}

/* ---- setup ---- */

int node__fail(char *errmsg, size_t errlen, int code, const char *fmt, ...)
{
    if (errmsg && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errmsg, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

struct server *node__server_new(struct node *n)
{
    const struct node_config *cfg = &n->cfg;
    struct server_config scfg = {
        .tick_time_ms = cfg->tick_time_ms,
        .min_session_timeout_ms = cfg->min_session_timeout_ms,
        .max_session_timeout_ms = cfg->max_session_timeout_ms,
        .max_buffer = cfg->max_buffer,
        .global_outstanding_limit = cfg->global_outstanding_limit,
        /* ZooKeeperServer.createSessionTrackerServerId: a standalone server
         * makes session ids as server 1 (0x01 in the top byte), a member as
         * its myid. */
        .server_id = n->my_sid,
        .extended_types_enabled = cfg->extended_types_enabled,
        .container_check_interval_ms = cfg->container_check_interval_ms,
        .container_max_per_minute = cfg->container_max_per_minute,
        .container_max_never_used_ms = cfg->container_max_never_used_ms,
        .super_digest = cfg->super_digest,
        .enforce_quota = cfg->enforce_quota,
        /* QuorumPeer's settings: a standalone server has no local sessions */
        .local_sessions = cfg->replicated && cfg->local_sessions_enabled,
        .local_sessions_upgrading = cfg->replicated && cfg->local_sessions_upgrading_enabled,
        .reconfig_enabled = cfg->reconfig_enabled,
        .zxid_counter_start = cfg->zxid_counter_start,
    };
    struct server_io io = {
        .ctx = n,
        .send = node__io_send,
        .close = node__io_close,
        .log_append = io_log_append,
        .wall_ms = io_wall_ms,
        .conn_backlogged = node__io_conn_backlogged,
        .forward = node__io_forward,
        .revalidate = node__io_revalidate,
        .learner_sync = node__io_learner_sync,
        .reconfig_prep = node__io_reconfig_prep,
        .reconfig_applied = node__io_reconfig_applied,
    };
    struct server *s = server_new(&scfg, &io, node__now_ms(n));
    /* A member serves nobody until its role is established: until then its
     * server expires nothing and sweeps nothing, as a learner's. */
    if (node__config_is_ensemble(cfg))
        server_set_role(s, SERVER_LEARNER, 0, node__now_ms(n));
    return s;
}

static void node_log_environment(struct node *n)
{
    struct buf env;
    buf_init(&env);
    four_letter_environment(n->host_name, &env);
    const char *line = (const char *)env.data;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        LOG_I("Server environment:%.*s", (int)len, line);
        line = end ? end + 1 : NULL;
    }
    buf_deinit(&env);
}

int node_new(const struct node_config *cfg, bool handle_signals, struct node **out, char *errmsg,
             size_t errlen)
{
    *out = NULL;
    struct node *n = mem_calloc(1, sizeof(*n));
    n->cfg = *cfg;
    n->handle_signals = handle_signals;
    n->trace_mask = FOUR_LETTER_TRACE_MASK_DEFAULT;
    n->tick_armed_ms = -1;
    four_letter_counters_reset(&n->counters);
    imap_init(&n->conns_by_id);
    smap_init(&n->ips);
    list_init(&n->conns);
    list_init(&n->dirty);
    n->data_lock.fd = -1;
    n->log_lock.fd = -1;
    list_init(&n->dumps);
    node__absolute_dir(cfg->data_dir, "version-2", n->snap_dir, sizeof(n->snap_dir));
    node__absolute_dir(cfg->data_log_dir, "version-2", n->log_dir, sizeof(n->log_dir));
    int rc = uv_loop_init(&n->loop);
    if (rc < 0) {
        rc = node__fail(errmsg, errlen, NODE_ERR_LOOP, "cannot start the event loop: %s",
                        uv_strerror(rc));
        goto err_free;
    }
    n->loop_ready = true;
    n->start_ms = node__now_ms(n);

    four_letter_host_name(n->host_name, sizeof(n->host_name));
    node_log_environment(n);

    pthread_mutex_init(&n->log.mu, NULL);
    pthread_cond_init(&n->log.cond, NULL);
    n->log_ready = true;
    n->my_sid = 1;
    if (node__config_is_ensemble(cfg)) {
        /* QuorumPeerConfig.setupMyId: a member needs dataDir/myid */
        char why[CONFIG_PATH_MAX + 128];
        rc = config_read_myid(cfg->data_dir, &n->my_sid, why, sizeof(why));
        if (rc < 0) {
            rc = node__fail(errmsg, errlen, NODE_ERR_CONFIG, "%s%s", why,
                            rc == CONFIG_ERR_MISSING ? " (an ensemble member needs its myid)" : "");
            goto err_free;
        }
        rc = config_member_client_port(&n->cfg, n->my_sid, why, sizeof(why));
        if (rc < 0) {
            rc = node__fail(errmsg, errlen, NODE_ERR_CONFIG, "%s", why);
            goto err_free;
        }
    }
    n->server = node__server_new(n);
    if (node__config_is_ensemble(cfg))
        n->history = mem_calloc(1, sizeof(*n->history));
    rc = node__claim_dirs(n, errmsg, errlen);
    if (rc < 0)
        goto err_free;
    rc = node__recover(n, errmsg, errlen);
    if (rc < 0)
        goto err_free;
    LOG_I("Created server with tickTime %" PRId32 " ms minSessionTimeout %" PRId32
          " ms maxSessionTimeout %" PRId32 " ms clientPortListenBacklog -1 datadir %s snapdir %s",
          cfg->tick_time_ms, cfg->min_session_timeout_ms, cfg->max_session_timeout_ms, n->log_dir,
          n->snap_dir);

    rc = node__client_bind(n, errmsg, errlen);
    if (rc < 0) {
        uv_close((uv_handle_t *)&n->listener, NULL);
        goto err_free;
    }

    uv_timer_init(&n->loop, &n->tick_timer);
    n->tick_timer.data = n;
    uv_timer_init(&n->loop, &n->expiry_timer);
    n->expiry_timer.data = n;
    uv_check_init(&n->loop, &n->check);
    n->check.data = n;
    uv_check_start(&n->check, on_check);
    uv_idle_init(&n->loop, &n->idle);
    n->idle.data = n;
    uv_async_init(&n->loop, &n->stop_async, on_stop);
    n->stop_async.data = n;
    uv_async_init(&n->loop, &n->log.async, node__on_log_async);
    n->log.async.data = n;
    uv_timer_init(&n->loop, &n->snap_timer);
    n->snap_timer.data = n;
    uv_timer_init(&n->loop, &n->purge_timer);
    n->purge_timer.data = n;
    if (cfg->purge_interval_hours > 0) {
        uint64_t every = (uint64_t)cfg->purge_interval_hours * 3600 * 1000;
        uv_timer_start(&n->purge_timer, node__on_purge_timer, 0, every);
        LOG_I("autopurge.snapRetainCount set to %" PRId32
              ", autopurge.purgeInterval set to %" PRId32,
              cfg->snap_retain_count, cfg->purge_interval_hours);
    } else {
        LOG_I("Purge task is not scheduled.");
    }
    if (handle_signals) {
        uv_signal_init(&n->loop, &n->sigint);
        n->sigint.data = n;
        uv_signal_start(&n->sigint, on_signal, SIGINT);
        uv_signal_init(&n->loop, &n->sigterm);
        n->sigterm.data = n;
        uv_signal_start(&n->sigterm, on_signal, SIGTERM);
    }
    n->handles_ready = true;
    rc = node__log_start(n, errmsg, errlen);
    if (rc < 0)
        goto err_free;
    if (n->snap_wanted) {
        n->snap_wanted = false;
        node__snapshot_start(n);
    }
    if (node__config_is_ensemble(cfg)) {
        rc = node__ens_start(n, errmsg, errlen);
        if (rc < 0)
            goto err_free;
    }
    /* Expiry times are multiples of the interval: check just after each. */
    uint64_t interval = (uint64_t)cfg->sessionless_timeout_ms;
    uint64_t now = (uint64_t)node__now_ms(n);
    uv_timer_start(&n->expiry_timer, node__on_expiry, interval - now % interval + 1, interval);
    node_arm_tick_timer(n);
    *out = n;
    return 0;

err_free:
    node_free(n);
    return rc;
}

int node_run(struct node *n)
{
    if (n->stopped)
        return 0;
    char version[128];
    four_letter_full_version(version, sizeof(version));
    LOG_I("czk-server %s serving clients on %s", version, n->bind_text);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    n->stopped = true;
    return n->run_error;
}

void node_stop(struct node *n)
{
    uv_async_send(&n->stop_async);
}

int node_port(const struct node *n)
{
    return n->port;
}

void node_free(struct node *n)
{
    if (!n)
        return;
    if (n->handles_ready)
        node_shutdown(n);
    if (n->loop_ready) {
        uv_run(&n->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&n->loop) != 0)
            LOG_W("event loop closed with handles still open");
    }
    node__snapshot_wait(n);
    if (n->log_ready) {
        node__log_stop(n);
        pthread_mutex_destroy(&n->log.mu);
        pthread_cond_destroy(&n->log.cond);
    }
    buf_deinit(&n->log.pending);
    buf_deinit(&n->log.writing);
    buf_deinit(&n->log_out);
    node__ens_free(n);
    if (n->history) {
        node__history_clear(n);
        mem_free(n->history);
    }
    server_free(n->server);
    size_t pos = 0;
    const char *key;
    size_t key_len;
    void *value;
    while (smap_next(&n->ips, &pos, &key, &key_len, &value))
        mem_free(value);
    smap_deinit(&n->ips);
    imap_deinit(&n->conns_by_id);
    /* last: the snapshot child and the log thread are done with the dirs */
    dirlock_release(&n->log_lock, fs_posix());
    dirlock_release(&n->data_lock, fs_posix());
    mem_free(n);
}
