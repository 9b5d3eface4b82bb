/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as the frames of a client connection,
 * first as a handshake, then as requests to an established session. The
 * server must neither crash nor leak, whatever arrives. */
#include "base/log.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/server.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
    int64_t zxid;
};

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

/* Frames from the input: a 2-byte length, then that many bytes. */
static void feed(struct server *s, uint64_t conn, const uint8_t *data, size_t size,
                 struct sink *sink, int64_t *now)
{
    size_t pos = 0;
    while (pos + 2 <= size) {
        size_t len = (size_t)data[pos] << 8 | data[pos + 1];
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        server_conn_receive(s, conn, data + pos, len, ++*now);
        pos += len;
        server_persisted(s, sink->zxid, *now);
        server_tick(s, *now);
    }
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
    feed(s, 1, data, size, &sink, &now);

    /* a good handshake, then the input as requests */
    server_conn_open(s, 2, "127.0.0.1", now);
    struct buf b;
    buf_init(&b);
    uint8_t pw[16] = {0};
    struct zk_connect_request req = {.time_out = 4000, .passwd = {.ptr = pw, .len = 16}};
    zk_connect_request_encode(&b, &req);
    server_conn_receive(s, 2, b.data, b.len, ++now);
    server_persisted(s, sink.zxid, now);
    buf_deinit(&b);
    feed(s, 2, data, size, &sink, &now);

    server_conn_closed(s, 1, now);
    server_conn_closed(s, 2, now);
    server_tick(s, now + 100000);
    server_persisted(s, sink.zxid, now + 100000);
    server_free(s);
    return 0;
}
