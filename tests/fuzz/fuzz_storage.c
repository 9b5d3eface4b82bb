/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as a txn log file and as a snapshot file,
 * read the way recovery reads them (txnlog_scan; header, server_load_snapshot,
 * seals), and as a gzip and a snappy-java compressed snapshot (snapz), whose
 * output then goes through the snapshot reader. No reader may crash, hang or
 * leak, whatever is on disk. */
#include "base/log.h"
#include "server/server.h"
#include "storage/snapfile.h"
#include "storage/snapz.h"
#include "storage/txnlog.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    (void)ctx;
    (void)zxid;
    (void)txn;
    (void)len;
}

static int64_t on_wall(void *ctx)
{
    (void)ctx;
    return 0;
}

static int count_record(void *ctx, const uint8_t *txn, size_t len, size_t off)
{
    (void)txn;
    (void)off;
    *(size_t *)ctx += len;
    return 0;
}

static void silent(enum log_level level, const char *msg)
{
    (void)level;
    (void)msg;
}

static void read_snapshot(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_sink(silent);
    char zerr[256];
    for (int k = SNAPZ_GZIP; k <= SNAPZ_SNAPPY; k++) {
        uint8_t *plain;
        size_t plain_len;
        if (snapz_decompress((enum snapz_kind)k, data, size, 1 << 24, &plain, &plain_len, zerr,
                             sizeof(zerr)) == 0) {
            read_snapshot(plain, plain_len);
            free(plain);
        }
    }
    struct txnlog_scan scan;
    size_t bytes = 0;
    txnlog_scan(data, size, count_record, &bytes, &scan);
    read_snapshot(data, size);
    return 0;
}

static void read_snapshot(const uint8_t *data, size_t size)
{
    char err[256];
    (void)snapfile_looks_valid(data, size);
    if (snapfile_check_header(data, size, err, sizeof(err)) < 0)
        return;
    struct server_config cfg = {.tick_time_ms = 2000};
    struct server_io io = {
        .send = on_send, .close = on_close, .log_append = on_log, .wall_ms = on_wall};
    struct server *s = server_new(&cfg, &io, 0);
    size_t consumed;
    if (server_load_snapshot(s, data + SNAP_HEADER_LEN, size - SNAP_HEADER_LEN, &consumed, 0, err,
                             sizeof(err)) == 0)
        (void)snapfile_check_seal(data, size, SNAP_HEADER_LEN + consumed, err, sizeof(err));
    server_free(s);
}
