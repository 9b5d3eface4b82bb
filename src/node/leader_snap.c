/* SPDX-License-Identifier: Apache-2.0 */
/* A SNAP's body for one learner of the leader port: streamed from
 * io.snapshot_fork's child (the copy-on-write image of the tree) through a
 * pipe, read as fast as the learner's socket takes it, then "BenWasHere"
 * and the packets held meanwhile; or io.snapshot's, on the loop, when there
 * is no child. Not the connections or ZAB (leader_port.c). */
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

/* A SNAP body coming from io.snapshot_fork's child through a pipe. Its own
 * allocation: the pipe's close callback may run after the connection's. */
struct snap_stream {
    uv_pipe_t pipe;
    struct leader_port *lp;
    struct learner_conn *c; /* NULL once the stream is over */
    pid_t pid;              /* 0 once reaped */
    bool reading;
    uint8_t chunk[LEADER_PORT_READ_CHUNK];
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
    if (st->pid > 0)
        (void)stream_reap(st, abort_child);
    uv_close((uv_handle_t *)&st->pipe, on_stream_closed);
}

static void stream_read_start(struct snap_stream *st);

/* The learner's socket has taken enough: read on. */
void leader_port__snap_pace(struct learner_conn *c)
{
    struct snap_stream *st = c->stream;
    if (!st || c->closing)
        return;
    size_t queued = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
    if (st->reading && queued + c->out.len > LEADER_PORT_SNAP_AHEAD) {
        uv_read_stop((uv_stream_t *)&st->pipe);
        st->reading = false;
    } else if (!st->reading && queued + c->out.len <= LEADER_PORT_SNAP_AHEAD / 2) {
        stream_read_start(st);
    }
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
    if (!c || n == 0)
        return;
    struct leader_port *lp = c->lp;
    leader_port__enter(lp);
    if (n > 0) {
        buf_append(&c->out, st->chunk, (size_t)n);
        c->out_snap += (size_t)n;
        leader_port__snap_pace(c); /* libuv reads on while it can: stop it in time */
    } else {
        /* EOF: the child has written everything and is exiting (or died). */
        uv_read_stop(s);
        st->reading = false;
        int rc = n == UV_EOF ? stream_reap(st, false) : -1;
        if (rc != 0) {
            leader_port__conn_close(c, "the SNAP body could not be written (snapshot child failed)",
                                    CLOSE_DROP);
        } else {
            /* LearnerHandler.syncFollower: the body, then "BenWasHere",
             * then what ZAB sent meanwhile. */
            jute_write_cstr(&c->out, SNAP_SIGNATURE);
            leader_port__snap_end(c, false);
            buf_append(&c->out, c->held.data, c->held.len);
            buf_deinit(&c->held);
            buf_init(&c->held);
            LOG_I("Leader %" PRId64 ": SNAP body streamed to learner %" PRId64, lp->cfg.my_sid,
                  c->sid);
        }
    }
    leader_port__leave(lp);
}

static void stream_read_start(struct snap_stream *st)
{
    if (uv_read_start((uv_stream_t *)&st->pipe, on_stream_alloc, on_stream_read) == 0) {
        st->reading = true;
        return;
    }
    struct learner_conn *c = st->c;
    leader_port__conn_close(c, "reading the SNAP body from its child failed", CLOSE_DROP);
}

/* A SNAP for c: its body from io.snapshot_fork's child when there is one,
 * else io.snapshot's, synchronously. */
void leader_port__snap_body(struct leader_port *lp, struct learner_conn *c)
{
    int fd = -1;
    pid_t pid = 0;
    if (lp->io.snapshot_fork && lp->io.snapshot_fork(lp->io.ctx, &fd, &pid) == 0) {
        struct snap_stream *st = mem_calloc(1, sizeof(*st));
        st->lp = lp;
        st->c = c;
        st->pid = pid;
        uv_pipe_init(lp->loop, &st->pipe, 0);
        st->pipe.data = st;
        lp->handles++;
        c->stream = st;
        if (uv_pipe_open(&st->pipe, fd) != 0) {
            (void)close(fd);
            leader_port__conn_close(c, "cannot read the SNAP body's pipe", CLOSE_DROP);
            return;
        }
        stream_read_start(st);
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
