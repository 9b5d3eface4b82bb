/* SPDX-License-Identifier: Apache-2.0 */
/* ens_snap.c — the two ends of a SNAP in an ensemble member: the learner
 * loading a leader's body as it arrives (quorum_port's io.snap_*), and the
 * leader's fork()ed child writing the body into a learner's socket
 * (leader_port's io.snapshot_fork). The roles and the rest of the ports'
 * io are ensemble.c's. */
#include "base/log.h"
#include "base/mem.h"
#include "node/node_int.h"
#include "server/server.h"
#include "storage/fs.h"
#include "storage/snapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

/* ---- a leader's SNAP, as it arrives ----
 * Its body is a snapshot file's body as it stands (both sides write
 * SerializeUtils.serializeSnapshot): each piece is decoded into a fresh
 * tree and appended to snapshot.<zxid>'s temporary file, so the load runs
 * while the leader still streams, and no copy of the body is held. The file
 * is published once the end marker is decoded. */

void node__snap_abandon(struct node *n)
{
    struct node_ens *e = n->ens;
    server_snap_load_end(e->snap_load);
    e->snap_load = NULL;
    if (e->snap_file) {
        snapfile_abort(e->snap_file);
        mem_free(e->snap_file);
        e->snap_file = NULL;
    }
}

int node__snap_begin(void *ctx, int64_t zxid)
{
    struct node *n = ctx;
    struct node_ens *e = n->ens;
    node__snap_abandon(n);
    node__ens_log_drain(n);
    node__snapshot_wait(n);
    server_free(n->server);
    n->server = node__server_new(n);
    n->server_gen++;
    e->tree_partial = true;
    e->snap_loaded = false;
    e->snap_bytes = 0;
    e->snap_begin_ms = node__now_ms(n);
    e->snap_file = mem_alloc(sizeof(*e->snap_file));
    if (snapfile_begin(e->snap_file, fs_posix(), n->snap_dir, zxid, false, (int64_t)getpid(),
                       n->snap_seq++) < 0) {
        LOG_E("%s", e->snap_file->errmsg);
        mem_free(e->snap_file);
        e->snap_file = NULL;
        return -1;
    }
    e->snap_load = server_snap_load_begin(n->server, node__now_ms(n));
    return 0;
}

int node__snap_body(void *ctx, const uint8_t *p, size_t len)
{
    struct node *n = ctx;
    struct node_ens *e = n->ens;
    if (!e->snap_load || e->snap_loaded)
        return -1;
    char why[512];
    size_t consumed;
    int rc = server_snap_load_feed(e->snap_load, p, len, false, &consumed, why, sizeof(why));
    if (rc >= 0 && consumed != len)
        snprintf(why, sizeof(why), "%zu bytes after an item at offset %zu", len - consumed,
                 e->snap_bytes + consumed);
    if (rc < 0 || consumed != len) {
        LOG_E("the leader's snapshot does not load: %s", why);
        return -1;
    }
    snapfile_write(e->snap_file, p, len);
    e->snap_bytes += len;
    e->snap_loaded = rc == 1;
    return 0;
}

int node__snap_end(void *ctx, int64_t zxid)
{
    struct node *n = ctx;
    struct node_ens *e = n->ens;
    if (!e->snap_loaded) {
        LOG_E("the leader's snapshot 0x%" PRIx64 " ended before its end marker", (uint64_t)zxid);
        return -1;
    }
    int64_t loaded_ms = node__now_ms(n);
    server_snap_load_end(e->snap_load);
    e->snap_load = NULL;
    int rc = snapfile_commit(e->snap_file);
    if (rc < 0)
        LOG_E("%s", e->snap_file->errmsg);
    mem_free(e->snap_file);
    e->snap_file = NULL;
    if (rc < 0)
        return -1;
    server_set_last_zxid(n->server, zxid);
    node__ens_config_node(n);
    node__history_clear(n);
    e->tree_partial = false;
    LOG_I("Loaded the leader's snapshot 0x%" PRIx64 " (%zu bytes) as it arrived in %" PRId64
          " ms, and synced it in %" PRId64 " ms",
          (uint64_t)zxid, e->snap_bytes, loaded_ms - e->snap_begin_ms, node__now_ms(n) - loaded_ms);
    n->log_appended_zxid = zxid;
    return node__ens_log_restart(n);
}

/* The SNAP child's output: the learner's socket, non-blocking (its file
 * description is the parent's): full, the child waits in poll(). */
struct snap_sock_writer {
    int fd;
    size_t len;
    uint8_t data[256 * 1024];
};

static void snap_sock_drain(struct snap_sock_writer *w)
{
    size_t off = 0;
    while (off < w->len) {
        ssize_t r = write(w->fd, w->data + off, w->len - off);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = w->fd, .events = POLLOUT};
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                _exit(1);
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            _exit(1); /* the learner went */
        off += (size_t)r;
    }
    w->len = 0;
}

static void snap_sock_sink(void *ctx, const void *p, size_t len)
{
    struct snap_sock_writer *w = ctx;
    const uint8_t *b = p;
    while (len > 0) {
        size_t n = sizeof(w->data) - w->len < len ? sizeof(w->data) - w->len : len;
        memcpy(w->data + w->len, b, n);
        w->len += n;
        b += n;
        len -= n;
        if (w->len == sizeof(w->data))
            snap_sock_drain(w);
    }
}

/* The SNAP child (issue 10): the copy-on-write image of the tree at the
 * fork, which is the SNAP's zxid, into the learner's socket (fd 3) once the
 * leader says go (a byte on fd 4: what it queued before the body is out);
 * fd 5 stays open until the exit, which is how the leader learns it. It
 * dies with the server (snapshot.c's snap_child says why, and why getppid()
 * after the prctl), lets go of every other descriptor (the parent's other
 * sockets, the data dir's locks) and yields the CPU to the serving
 * process: the socket's copying and loopback delivery are its, not the
 * loop's. */
static void snap_sock_child(struct node *n, const int fds[3], pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(1);
    int tmp[3];
    for (int i = 0; i < 3; i++)
        if ((tmp[i] = fcntl(fds[i], F_DUPFD, 6)) < 0)
            _exit(1);
    for (int i = 0; i < 3; i++)
        if (dup2(tmp[i], 3 + i) != 3 + i)
            _exit(1);
    if (close_range(6, ~0U, 0) != 0) {
        struct rlimit lim;
        int max_fd = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 1048576
                         ? (int)lim.rlim_cur
                         : 1048576;
        for (int i = 6; i < max_fd; i++)
            (void)close(i);
    }
    (void)!nice(10);
    char go;
    ssize_t r;
    while ((r = read(4, &go, 1)) < 0 && errno == EINTR)
        ;
    if (r != 1)
        _exit(1); /* the leader gave the learner up first */
    struct snap_sock_writer *w = mem_alloc(sizeof(*w));
    w->fd = 3;
    w->len = 0;
    server_snapshot_write(n->server, snap_sock_sink, w);
    snap_sock_drain(w);
    _exit(0);
}

int node__snapshot_fork(void *ctx, int sock, int *go_fd, int *done_fd, pid_t *pid)
{
    struct node *n = ctx;
    int go[2], done[2];
    if (pipe2(go, O_CLOEXEC) != 0) {
        LOG_E("Cannot stream a SNAP: pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(done, O_CLOEXEC) != 0) {
        LOG_E("Cannot stream a SNAP: pipe: %s", strerror(errno));
        (void)close(go[0]);
        (void)close(go[1]);
        return -1;
    }
    pid_t parent = getpid();
    fflush(NULL);
    uint64_t fork_ns = uv_hrtime();
    pid_t child = fork();
    if (child < 0) {
        LOG_E("Cannot stream a SNAP: fork: %s", strerror(errno));
        (void)close(go[0]);
        (void)close(go[1]);
        (void)close(done[0]);
        (void)close(done[1]);
        return -1;
    }
    if (child == 0) {
        int fds[3] = {sock, go[0], done[1]};
        snap_sock_child(n, fds, parent);
    }
    (void)close(go[0]);
    (void)close(done[1]);
    LOG_I("Streaming a SNAP of 0x%" PRIx64 " from pid %d (fork took %.1f ms)",
          (uint64_t)server_last_zxid(n->server), (int)child, (double)(uv_hrtime() - fork_ns) / 1e6);
    *go_fd = go[1];
    *done_fd = done[0];
    *pid = child;
    return 0;
}
