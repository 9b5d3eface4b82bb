/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as the frames of a client connection,
 * first as a handshake, then as requests to an established session; then
 * both again with a log that is slow and sometimes refuses what it was
 * given (a full disk: server_log_failed). The server must neither crash nor
 * leak, whatever arrives. */
#include "base/log.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/server.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
    int64_t zxid;      /* the last txn logged */
    int64_t persisted; /* the last txn passed to server_persisted */
};

static void persist(struct server *s, struct sink *sink, int64_t now)
{
    server_persisted(s, sink->zxid, now);
    sink->persisted = sink->zxid;
}

static void on_send(void *ctx, uint64_t conn, const uint8_t *frame, size_t len)
{
    (void)ctx;
    (void)conn;
    (void)frame;
    (void)len;
}

static void on_close(void *ctx, uint64_t conn)
{
    (void)ctx;
    (void)conn;
}

static void on_log(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    (void)txn;
    (void)len;
    ((struct sink *)ctx)->zxid = zxid;
}

static int64_t on_wall(void *ctx)
{
    (void)ctx;
    return 0;
}

/* Frames from the input: a 2-byte length, then that many bytes. With
 * fail_every > 0 the log persists every other frame only, and every
 * fail_every-th frame it refuses what it holds instead. */
static void feed(struct server *s, uint64_t conn, const uint8_t *data, size_t size,
                 struct sink *sink, int64_t *now, int fail_every)
{
    size_t pos = 0;
    int frames = 0;
    while (pos + 2 <= size) {
        size_t len = (size_t)data[pos] << 8 | data[pos + 1];
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        server_conn_receive(s, conn, data + pos, len, ++*now);
        pos += len;
        frames++;
        if (fail_every > 0 && frames % fail_every == 0) {
            if (sink->zxid > sink->persisted) {
                server_log_failed(s, sink->persisted + 1, *now);
                sink->zxid = sink->persisted;
            }
        } else if (fail_every == 0 || frames % 2 == 0) {
            persist(s, sink, *now);
        }
        server_tick(s, *now);
    }
    persist(s, sink, *now);
}

static void handshake(struct server *s, uint64_t conn, struct sink *sink, int64_t *now)
{
    server_conn_open(s, conn, "127.0.0.1", *now);
    struct buf b;
    buf_init(&b);
    uint8_t pw[16] = {0};
    struct zk_connect_request req = {.time_out = 4000, .passwd = {.ptr = pw, .len = 16}};
    zk_connect_request_encode(&b, &req);
    server_conn_receive(s, conn, b.data, b.len, ++*now);
    persist(s, sink, *now);
    buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_ERROR);
    struct sink sink = {0};
    struct server_io io = {
        .ctx = &sink, .send = on_send, .close = on_close, .log_append = on_log, .wall_ms = on_wall};
    struct server_config cfg = {.tick_time_ms = 2000, .max_buffer = 0xfffff};
    int64_t now = 0;
    struct server *s = server_new(&cfg, &io, now);

    /* raw handshake */
    server_conn_open(s, 1, "127.0.0.1", now);
    feed(s, 1, data, size, &sink, &now, 0);

    /* a good handshake, then the input as requests */
    handshake(s, 2, &sink, &now);
    feed(s, 2, data, size, &sink, &now, 0);

    /* both again, with a log that refuses txns now and then */
    server_conn_open(s, 3, "127.0.0.1", now);
    feed(s, 3, data, size, &sink, &now, 1);
    handshake(s, 4, &sink, &now);
    feed(s, 4, data, size, &sink, &now, 3);

    for (uint64_t conn = 1; conn <= 4; conn++)
        server_conn_closed(s, conn, now);
    server_tick(s, now + 100000);
    persist(s, &sink, now + 100000);
    server_free(s);
    return 0;
}
