/* SPDX-License-Identifier: Apache-2.0 */
/* A SNAP's body for one learner of the leader port: written into the
 * learner's socket by io.snapshot_fork's child (the copy-on-write image of
 * the tree) once the bytes before it are out, then "BenWasHere" and the
 * packets held meanwhile; or io.snapshot's, on the loop, when there is no
 * child. The loop never touches a streamed body: on a machine with few
 * cores, moving 200 MB through the loop (pipe to socket) slowed the
 * leader's own clients. Not the connections or ZAB (leader_port.c). */
#include "base/log.h"
#include "base/mem.h"
#include "node/leader_port_int.h"
#include "proto/jute.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define SNAP_SIGNATURE "BenWasHere"

/* A SNAP body written by io.snapshot_fork's child; `pipe` reads EOF when
 * the child is gone. Its own allocation: the pipe's close callback may run
 * after the connection's. */
struct snap_stream {
    uv_pipe_t pipe;
    struct leader_port *lp;
    struct learner_conn *c; /* NULL once the stream is over */
    pid_t pid;              /* 0 once reaped */
    int go_fd;              /* -1 once the go byte is sent (or given up) */
    uint8_t chunk[64];
};

static void on_stream_closed(uv_handle_t *h)
{
    struct snap_stream *st = h->data;
    struct leader_port *lp = st->lp;
    mem_free(st);
    lp->handles--;
    leader_port__maybe_free(lp);
}

/* Reaps the child; with `kill_first` (the learner went, or leadership is
 * over) it is SIGKILLed first, so the wait is short. The child's exit
 * status: 0 for a complete body. */
static int stream_reap(struct snap_stream *st, bool kill_first)
{
    if (st->pid <= 0)
        return -1;
    if (kill_first)
        (void)kill(st->pid, SIGKILL);
    int status = 0;
    pid_t r;
    while ((r = waitpid(st->pid, &status, 0)) < 0 && errno == EINTR)
        ;
    st->pid = 0;
    if (r < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Ends c's stream, if any: the child reaped (killed first when `abort`),
 * the pipe closed. The held packets stay for the caller. */
void leader_port__snap_end(struct learner_conn *c, bool abort_child)
{
    struct snap_stream *st = c->stream;
    if (!st)
        return;
    c->stream = NULL;
    st->c = NULL;
    if (st->go_fd >= 0) { /* closed unsent: the child exits without writing */
        (void)close(st->go_fd);
        st->go_fd = -1;
    }
    if (st->pid > 0)
        (void)stream_reap(st, abort_child);
    uv_close((uv_handle_t *)&st->pipe, on_stream_closed);
}

void leader_port__snap_pace(struct learner_conn *c)
{
    struct snap_stream *st = c->stream;
    if (!st || c->closing || st->go_fd < 0 || c->out.len > 0 ||
        uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) > 0)
        return;
    /* everything before the body has left for the socket: the child's turn */
    ssize_t r;
    while ((r = write(st->go_fd, "g", 1)) < 0 && errno == EINTR)
        ;
    (void)close(st->go_fd);
    st->go_fd = -1;
    if (r != 1)
        leader_port__conn_close(c, "cannot start the SNAP child", CLOSE_DROP);
}

static void on_stream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct snap_stream *st = h->data;
    *out = uv_buf_init((char *)st->chunk, sizeof(st->chunk));
}

static void on_stream_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct snap_stream *st = s->data;
    struct learner_conn *c = st->c;
    if (!c || n >= 0)
        return; /* the child writes nothing here: only its exit counts */
    struct leader_port *lp = c->lp;
    leader_port__enter(lp);
    /* EOF: the child has written the body and is exiting (or died). */
    uv_read_stop(s);
    int rc = n == UV_EOF && st->go_fd < 0 ? stream_reap(st, false) : -1;
    if (rc != 0) {
        leader_port__conn_close(c, "the SNAP body could not be written (snapshot child failed)",
                                CLOSE_DROP);
    } else {
        /* LearnerHandler.syncFollower: the body, then "BenWasHere", then
         * what ZAB sent meanwhile. */
        jute_write_cstr(&c->out, SNAP_SIGNATURE);
        leader_port__snap_end(c, false);
        buf_append(&c->out, c->held.data, c->held.len);
        buf_deinit(&c->held);
        buf_init(&c->held);
        LOG_I("Leader %" PRId64 ": SNAP body streamed to learner %" PRId64, lp->cfg.my_sid, c->sid);
    }
    leader_port__leave(lp);
}

/* A SNAP for c: its body from io.snapshot_fork's child when there is one,
 * else io.snapshot's, synchronously. */
void leader_port__snap_body(struct leader_port *lp, struct learner_conn *c)
{
    int go_fd = -1, done_fd = -1;
    pid_t pid = 0;
    uv_os_fd_t sock;
    if (lp->io.snapshot_fork && uv_fileno((const uv_handle_t *)&c->tcp, &sock) == 0 &&
        lp->io.snapshot_fork(lp->io.ctx, sock, &go_fd, &done_fd, &pid) == 0) {
        struct snap_stream *st = mem_calloc(1, sizeof(*st));
        st->lp = lp;
        st->c = c;
        st->pid = pid;
        st->go_fd = go_fd;
        uv_pipe_init(lp->loop, &st->pipe, 0);
        st->pipe.data = st;
        lp->handles++;
        c->stream = st;
        if (uv_pipe_open(&st->pipe, done_fd) != 0) {
            (void)close(done_fd);
            leader_port__conn_close(c, "cannot watch the SNAP child", CLOSE_DROP);
            return;
        }
        if (uv_read_start((uv_stream_t *)&st->pipe, on_stream_alloc, on_stream_read) != 0)
            leader_port__conn_close(c, "cannot watch the SNAP child", CLOSE_DROP);
        return;
    }
    if (lp->io.snapshot_fork)
        LOG_W("Leader %" PRId64 ": cannot fork for a SNAP: serialising on the loop",
              lp->cfg.my_sid);
    /* LearnerHandler.syncFollower: the packet, then
     * ZKDatabase.serializeSnapshot, then writeString("BenWasHere"). */
    size_t before = c->out.len;
    lp->io.snapshot(lp->io.ctx, &c->out);
    c->out_snap += c->out.len - before;
    jute_write_cstr(&c->out, SNAP_SIGNATURE);
}
