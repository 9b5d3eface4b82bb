/* SPDX-License-Identifier: Apache-2.0 */
/* probe_io.h — what the integration probes (election_probe, peerport_probe,
 * leader_probe, learner_probe) share: SIGTERM and SIGINT, commands read one
 * line at a time from stdin, and `--name value` options. */
#ifndef CZK_TESTS_PROBE_IO_H
#define CZK_TESTS_PROBE_IO_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define PROBE_IO_CHUNK 4096

struct probe_io {
    uv_signal_t sigterm, sigint;
    uv_pipe_t stdin_pipe;
    bool reads_stdin;
    size_t line_max; /* bytes kept of a longer line */
    struct buf line;
    char chunk[PROBE_IO_CHUNK];
    void (*on_line)(void *ctx, char *line); /* NUL-terminated, without '\n' */
    void (*on_stop)(void *ctx);             /* a signal, or EOF on stdin */
    void *ctx;
};

/* Starts the signal handlers and, with on_line, the reading of stdin. on_stop
 * is called for SIGTERM, SIGINT and the end of stdin: the probe then stops and
 * calls probe_io_close. */
void probe_io_start(struct probe_io *io, uv_loop_t *loop, size_t line_max,
                    void (*on_line)(void *ctx, char *line), void (*on_stop)(void *ctx), void *ctx);
/* Closes the handles (the loop then ends when the probe's own are closed).
 * Call once. */
void probe_io_close(struct probe_io *io);
/* Frees the line buffer, after the loop has run. */
void probe_io_free(struct probe_io *io);

/* The value after `name` among argv[first..], or dflt. */
const char *probe_arg(int argc, char **argv, int first, const char *name, const char *dflt);

#endif
