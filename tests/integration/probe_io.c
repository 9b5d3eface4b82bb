/* SPDX-License-Identifier: Apache-2.0 */
/* probe_io.c — signals, stdin commands and options of the integration probes. */
#include "probe_io.h"

#include <signal.h>
#include <string.h>

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_signal(uv_signal_t *h, int sig)
{
    (void)sig;
    struct probe_io *io = h->data;
    io->on_stop(io->ctx);
}

static void on_stdin_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct probe_io *io = h->data;
    *out = uv_buf_init(io->chunk, sizeof(io->chunk));
}

static void on_stdin(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct probe_io *io = s->data;
    if (n < 0) {
        io->on_stop(io->ctx);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (b->base[i] != '\n') {
            if (io->line.len < io->line_max)
                buf_append_u8(&io->line, (uint8_t)b->base[i]);
            continue;
        }
        buf_append_u8(&io->line, 0);
        io->on_line(io->ctx, (char *)io->line.data);
        buf_clear(&io->line);
    }
}

void probe_io_start(struct probe_io *io, uv_loop_t *loop, size_t line_max,
                    void (*on_line)(void *ctx, char *line), void (*on_stop)(void *ctx), void *ctx)
{
    io->line_max = line_max;
    io->on_line = on_line;
    io->on_stop = on_stop;
    io->ctx = ctx;
    buf_init(&io->line);
    uv_signal_init(loop, &io->sigterm);
    uv_signal_init(loop, &io->sigint);
    io->sigterm.data = io->sigint.data = io;
    uv_signal_start(&io->sigterm, on_signal, SIGTERM);
    uv_signal_start(&io->sigint, on_signal, SIGINT);
    io->reads_stdin = on_line != NULL;
    if (!io->reads_stdin)
        return;
    uv_pipe_init(loop, &io->stdin_pipe, 0);
    io->stdin_pipe.data = io;
    if (uv_pipe_open(&io->stdin_pipe, 0) == 0)
        uv_read_start((uv_stream_t *)&io->stdin_pipe, on_stdin_alloc, on_stdin);
}

void probe_io_close(struct probe_io *io)
{
    uv_close((uv_handle_t *)&io->sigterm, on_closed);
    uv_close((uv_handle_t *)&io->sigint, on_closed);
    if (io->reads_stdin)
        uv_close((uv_handle_t *)&io->stdin_pipe, on_closed);
}

void probe_io_free(struct probe_io *io)
{
    buf_deinit(&io->line);
}

const char *probe_arg(int argc, char **argv, int first, const char *name, const char *dflt)
{
    for (int i = first; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return dflt;
}
