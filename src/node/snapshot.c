/* SPDX-License-Identifier: Apache-2.0 */
/* Snapshots: a fork()ed child writes the copy-on-write state while the loop
 * goes on; the loop reaps it with a timer, then has a worker collapse the
 * heap back into huge pages (thp.c). Also the autopurge timer. Not the
 * snapshot format (src/server/persist.c, src/storage/snapfile.c). */
#include "base/log.h"
#include "node/config.h"
#include "node/node_int.h"
#include "node/thp.h"
#include "server/server.h"
#include "storage/fs.h"
#include "storage/purge.h"
#include "storage/snapfile.h"
#include "storage/snapz.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

/* The snapshot child's nice value, added to the server's. */
#define NODE_SNAP_NICE 10
/* How often a running snapshot child is looked at. */
#define NODE_SNAP_POLL_MS 20

/* The child dies with the server: one left writing after a kill -9 would
 * race the restarted server for the disk (and, before temporaries had
 * names of their own, for its file), and rename a snapshot into a data dir
 * that another process now owns. PR_SET_PDEATHSIG fires when the thread
 * that forked exits (the loop's), and not at all if that happened before
 * the prctl: hence getppid() right after, and again before the rename. */
static void snap_child(struct node *n, int64_t zxid, pid_t parent, uint64_t seq)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(1);
    struct snapfile_writer w;
    char msg[STORAGE_PATH_MAX + 256];
    /* Let go of the parent's sockets and of its data dir locks: a restarted
     * server must be able to bind its port while this child is still
     * writing (the locks stay held by the parent's own descriptors). */
    if (close_range(3, ~0U, 0) != 0) {
        /* before Linux 5.9, or filtered: one at a time */
        struct rlimit lim;
        int max_fd = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 1048576
                         ? (int)lim.rlim_cur
                         : 1048576;
        for (int fd = 3; fd < max_fd; fd++)
            (void)close(fd);
    }
    /* the serving process comes first when they share a CPU */
    (void)!nice(NODE_SNAP_NICE); /* on failure: still a snapshot */
    int rc = snapfile_begin(&w, fs_posix(), n->snap_dir, zxid,
                            n->cfg.snap_compression == SNAPZ_GZIP, (int64_t)getpid(), seq);
    if (rc == 0) {
        server_snapshot_write(n->server, snapfile_write, &w);
        rc = snapfile_finish(&w);
    }
    if (rc == 0 && getppid() != parent) {
        snapfile_abort(&w);
        _exit(1);
    }
    if (rc == 0)
        rc = snapfile_publish(&w);
    if (rc < 0) {
        /* stdio may be locked by another thread of the parent: write(2) */
        int len = snprintf(msg, sizeof(msg), "snapshot 0x%" PRIx64 " failed: %s\n", (uint64_t)zxid,
                           w.errmsg);
        if (len > 0)
            (void)!write(2, msg, (size_t)len);
        _exit(1);
    }
    _exit(0);
}

static void thp_work_run(uv_work_t *w)
{
    struct node *n = w->data;
    (void)thp_collapse(&n->thp_report);
}

static void thp_work_done(uv_work_t *w, int status)
{
    struct node *n = w->data;
    n->thp_busy = false;
    if (n->snap_wanted && n->snap_pid <= 0 && !n->stopping) {
        n->snap_wanted = false;
        node__snapshot_start(n);
    }
    const struct thp_report *r = &n->thp_report;
    if (status != 0)
        return;
    double ms = (double)(uv_hrtime() - n->thp_start_ns) / 1e6;
    if (r->err == EINVAL)
        LOG_I("The kernel cannot collapse memory into huge pages (MADV_COLLAPSE, Linux 6.1): "
              "snapshots pause the loop about 12 ms per GB of heap");
    else if (r->err == EAGAIN || r->err == ENOMEM) /* no huge page free, or the heap shrank */
        LOG_D("Collapsing the heap into huge pages: %s (%zu MB in %.1f ms)", strerror(r->err),
              r->bytes >> 20, ms);
    else if (r->err != 0)
        LOG_W("Collapsing the heap into huge pages: %s (%zu MB in %.1f ms)", strerror(r->err),
              r->bytes >> 20, ms);
    else if (r->regions > 0)
        LOG_I("Heap back on huge pages: %zu MB in %zu mappings (%zu MB were split) in %.1f ms",
              r->bytes >> 20, r->regions, r->split_before >> 20, ms);
}

/* Off the loop: the next fork() then copies few page-table entries. */
static void node_thp_collapse(struct node *n)
{
    if (n->thp_busy || n->stopping || !thp_enabled())
        return;
    n->thp_work.data = n;
    n->thp_start_ns = uv_hrtime();
    if (uv_queue_work(&n->loop, &n->thp_work, thp_work_run, thp_work_done) == 0)
        n->thp_busy = true;
}

static void on_snap_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    if (n->snap_pid <= 0)
        return;
    int status;
    pid_t r = waitpid(n->snap_pid, &status, WNOHANG);
    if (r == 0)
        return;
    if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        LOG_E("Writing snapshot 0x%" PRIx64 " failed (child exit status %d)",
              (uint64_t)n->snap_zxid, r < 0 ? -1 : status);
    else
        LOG_I("Snapshot 0x%" PRIx64 " written to %s", (uint64_t)n->snap_zxid, n->snap_dir);
    n->snap_pid = 0;
    uv_timer_stop(&n->snap_timer);
    /* a snapshot wanted meanwhile waits for the collapse (tens of ms) */
    node_thp_collapse(n);
    if (n->snap_wanted && !n->thp_busy) {
        n->snap_wanted = false;
        node__snapshot_start(n);
    }
}

void node__snapshot_start(struct node *n)
{
    if (n->snap_pid > 0 || n->thp_busy) {
        n->snap_wanted = true;
        return;
    }
    int64_t zxid = server_last_zxid(n->server);
    pid_t parent = getpid();
    uint64_t seq = n->snap_seq++;
    fflush(NULL);
    uint64_t fork_ns = uv_hrtime();
    pid_t pid = fork();
    if (pid < 0) {
        LOG_E("Cannot take a snapshot: fork: %s", strerror(errno));
        return;
    }
    if (pid == 0)
        snap_child(n, zxid, parent, seq);
    /* the only pause the loop takes for a snapshot: copying the page tables */
    LOG_I("Creating new snapshot 0x%" PRIx64 " in %s (pid %d; fork took %.1f ms)", (uint64_t)zxid,
          n->snap_dir, (int)pid, (double)(uv_hrtime() - fork_ns) / 1e6);
    n->snap_pid = pid;
    n->snap_zxid = zxid;
    uv_timer_start(&n->snap_timer, on_snap_timer, NODE_SNAP_POLL_MS, NODE_SNAP_POLL_MS);
}

void node__on_purge_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    char errmsg[1024];
    LOG_I("Purge task started");
    int rc = storage_purge(fs_posix(), n->snap_dir, n->log_dir, n->cfg.snap_retain_count, errmsg,
                           sizeof(errmsg));
    if (rc < 0)
        LOG_E("Error purging old snapshots and logs: %s", errmsg);
    else
        LOG_I("Purge task completed: %d files deleted", rc);
}

void node__snapshot_wait(struct node *n)
{
    if (n->snap_pid <= 0)
        return;
    int status;
    while (waitpid(n->snap_pid, &status, 0) < 0 && errno == EINTR)
        ;
    n->snap_pid = 0;
}
