/* SPDX-License-Identifier: Apache-2.0 */
/* benchmark_wire.c — czk-benchmark's side of the client protocol: requests
 * encoded with czk's jute codec, TCP connections, a session's buffers,
 * handshake, blocking calls and close, frames cut from the stream, whole
 * reads and writes on a blocking socket. No phases, no figures. */
#include "base/mem.h"
#include "benchmark.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- encoding ---- */

void bench_encode_request(struct buf *out, int32_t xid, int32_t op, const char *path,
                          const uint8_t *data, size_t data_len, bool watch)
{
    size_t start = frame_begin(out);
    struct zk_request_header h = {.xid = xid, .type = op};
    zk_request_header_encode(out, &h);
    switch (op) {
    case ZK_OP_CREATE: {
        /* ZooDefs.Ids.OPEN_ACL_UNSAFE: world:anyone with every permission. */
        struct zk_acl open_acl = {.perms = ZK_PERM_ALL,
                                  .id = {.scheme = jute_cstr("world"), .id = jute_cstr("anyone")}};
        struct zk_create_request r = {.path = jute_cstr(path),
                                      .data = jute_buf_of(data, data_len),
                                      .acl = {.count = 1, .items = &open_acl},
                                      .flags = ZK_CREATE_PERSISTENT};
        zk_create_request_encode(out, &r);
        break;
    }
    case ZK_OP_DELETE: {
        struct zk_path_version_request r = {.path = jute_cstr(path), .version = -1};
        zk_path_version_request_encode(out, &r);
        break;
    }
    case ZK_OP_SET_DATA: {
        struct zk_set_data_request r = {
            .path = jute_cstr(path), .data = jute_buf_of(data, data_len), .version = -1};
        zk_set_data_request_encode(out, &r);
        break;
    }
    case ZK_OP_EXISTS:
    case ZK_OP_GET_DATA:
    case ZK_OP_GET_CHILDREN: {
        struct zk_path_watch_request r = {.path = jute_cstr(path), .watch = watch};
        zk_path_watch_request_encode(out, &r);
        break;
    }
    case ZK_OP_SYNC: {
        struct zk_path_request r = {.path = jute_cstr(path)};
        zk_path_request_encode(out, &r);
        break;
    }
    case ZK_OP_ADD_WATCH: {
        /* AddWatchMode: 0 PERSISTENT, 1 PERSISTENT_RECURSIVE */
        struct zk_add_watch_request r = {.path = jute_cstr(path), .mode = 1};
        zk_add_watch_request_encode(out, &r);
        break;
    }
    default: /* ping, closeSession: header only */
        break;
    }
    frame_end(out, start);
}

/* ---- sessions ---- */

int bench_connect_tcp(const struct bench *b, const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        bench_die(b, "cannot resolve %s:%s: %s", host, port, gai_strerror(rc));
    int fd = -1;
    int last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        bench_die(b, "cannot connect to %s:%s: %s", host, port, strerror(last_errno));
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        bench_die(b, "TCP_NODELAY: %s", strerror(errno));
    return fd;
}

void bench_set_nonblocking(const struct bench *b, int fd, bool on)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0)
        bench_die(b, "fcntl: %s", strerror(errno));
}

bool bench_session_flush(struct session *s)
{
    while (s->out_off < s->out.len) {
        ssize_t n = send(s->fd, s->out.data + s->out_off, s->out.len - s->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return false;
        }
        s->out_off += (size_t)n;
    }
    if (s->out_off == s->out.len) {
        buf_clear(&s->out);
        s->out_off = 0;
    }
    return true;
}

void bench_session_flush_blocking(const struct bench *b, struct session *s)
{
    while (s->out_off < s->out.len || s->out.len > 0) {
        if (!bench_session_flush(s))
            bench_die(b, "send to the server: %s", strerror(errno));
        if (s->out.len == 0)
            break;
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        if (poll(&p, 1, BENCH_STALL_MS) == 0)
            bench_die(b, "the server took nothing for %d s", BENCH_STALL_MS / 1000);
    }
}

void bench_session_read_some(const struct bench *b, struct session *s)
{
    buf_reserve(&s->in, BENCH_READ_CHUNK);
    ssize_t n;
    do {
        n = recv(s->fd, s->in.data + s->in.len, s->in.cap - s->in.len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0)
        bench_die(b, "receive from the server: %s", strerror(errno));
    if (n == 0)
        bench_die(b, "the server closed the connection (session 0x%" PRIx64 ")",
                  (uint64_t)s->session_id);
    s->in.len += (size_t)n;
}

size_t bench_frame_ready(const struct bench *b, const struct buf *in, size_t off)
{
    if (in->len - off < 4)
        return 0;
    uint32_t len = be32_get(in->data + off);
    if (len > BENCH_FRAME_MAX)
        bench_die(b, "reply frame of %" PRIu32 " bytes: protocol error", len);
    if (in->len - off - 4 < len)
        return 0;
    return 4 + (size_t)len;
}

size_t bench_session_wait_frame(const struct bench *b, struct session *s)
{
    for (;;) {
        size_t n = bench_frame_ready(b, &s->in, 0);
        if (n > 0)
            return n;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        int rc = poll(&p, 1, BENCH_STALL_MS);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            bench_die(b, "no reply from the server for %d s", BENCH_STALL_MS / 1000);
        bench_session_read_some(b, s);
    }
}

void bench_session_connect(struct bench *b, struct session *s, size_t member)
{
    memset(s, 0, sizeof *s);
    buf_init(&s->out);
    buf_init(&s->in);
    const struct bench_server *srv = &b->opt.servers[member % b->opt.server_count];
    s->fd = bench_connect_tcp(b, srv->host, srv->port);
    s->next_xid = 1;
    s->ring_cap = b->opt.outstanding > b->opt.setup_outstanding ? b->opt.outstanding
                                                                : b->opt.setup_outstanding;
    s->ring = mem_calloc(s->ring_cap, sizeof *s->ring);

    /* As the official clients send it: a 16-byte zero password for a new
     * session, then the readOnly flag (ClientCnxnSocket, zookeeper.c). */
    static const uint8_t zero_passwd[BENCH_PASSWD_LEN] = {0};
    size_t start = frame_begin(&s->out);
    struct zk_connect_request req = {.protocol_version = 0,
                                     .last_zxid_seen = 0,
                                     .time_out = BENCH_SESSION_TIMEOUT_MS,
                                     .session_id = 0,
                                     .passwd = jute_buf_of(zero_passwd, sizeof zero_passwd)};
    zk_connect_request_encode(&s->out, &req);
    jute_write_bool(&s->out, false);
    frame_end(&s->out, start);
    bench_session_flush_blocking(b, s);

    size_t n = bench_session_wait_frame(b, s);
    struct jute_reader r;
    jute_reader_init(&r, s->in.data + 4, n - 4);
    struct zk_connect_response resp;
    if (zk_connect_response_decode(&r, &resp) != 0)
        bench_die(b, "malformed ConnectResponse");
    if (resp.time_out <= 0 || resp.session_id == 0)
        bench_die(b, "the server refused the session (timeout %" PRId32 ")", resp.time_out);
    s->session_id = resp.session_id;
    buf_consume(&s->in, n);
    bench_set_nonblocking(b, s->fd, true);
    s->last_send_ns = bench_now_ns();
}

bool bench_is_special_xid(int32_t xid)
{
    return xid == ZK_XID_NOTIFICATION || xid == ZK_XID_PING || xid == ZK_XID_AUTH ||
           xid == ZK_XID_SET_WATCHES;
}

int32_t bench_sync_call_w(struct bench *b, struct session *s, int32_t op, const char *path,
                          const uint8_t *data, size_t data_len, bool watch, struct buf *body)
{
    int32_t xid = s->next_xid++;
    bench_encode_request(&s->out, xid, op, path, data, data_len, watch);
    bench_session_flush_blocking(b, s);
    s->last_send_ns = bench_now_ns();
    for (;;) {
        size_t n = bench_session_wait_frame(b, s);
        struct jute_reader r;
        jute_reader_init(&r, s->in.data + 4, n - 4);
        struct zk_reply_header h;
        if (zk_reply_header_decode(&r, &h) != 0)
            bench_die(b, "malformed ReplyHeader");
        if (bench_is_special_xid(h.xid)) {
            buf_consume(&s->in, n);
            continue;
        }
        if (h.xid != xid)
            bench_die(b, "reply xid %" PRId32 ", expected %" PRId32, h.xid, xid);
        if (body) {
            buf_clear(body);
            buf_append(body, r.p + r.pos, jute_reader_remaining(&r));
        }
        buf_consume(&s->in, n);
        return h.err;
    }
}

int32_t bench_sync_call(struct bench *b, struct session *s, int32_t op, const char *path,
                        const uint8_t *data, size_t data_len, struct buf *body)
{
    return bench_sync_call_w(b, s, op, path, data, data_len, false, body);
}

void bench_session_close(struct bench *b, struct session *s)
{
    if (s->fd < 0)
        return;
    bench_set_nonblocking(b, s->fd, true);
    int32_t err = bench_sync_call(b, s, ZK_OP_CLOSE_SESSION, NULL, NULL, 0, NULL);
    if (err != 0)
        fprintf(stderr, "czk-benchmark: closeSession: %s\n", zk_err_name(err));
    close(s->fd);
    s->fd = -1;
    buf_deinit(&s->out);
    buf_deinit(&s->in);
    mem_free(s->ring);
}

bool bench_read_full(int fd, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool bench_write_full(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool bench_read_frame(int fd, struct buf *frame)
{
    uint8_t hdr[4];
    if (!bench_read_full(fd, hdr, 4))
        return false;
    uint32_t len = be32_get(hdr);
    if (len > BENCH_FRAME_MAX)
        return false;
    buf_clear(frame);
    buf_reserve(frame, 4 + (size_t)len);
    memcpy(frame->data, hdr, 4);
    if (!bench_read_full(fd, frame->data + 4, len))
        return false;
    frame->len = 4 + (size_t)len;
    return true;
}
