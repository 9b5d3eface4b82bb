/* SPDX-License-Identifier: Apache-2.0 */
/* peerport_probe — one member of an ensemble through src/node/peer_port.c,
 * for test_peer_port.py: it sends a LOOKING notification (src/proto/election.h)
 * to every member now and every --resend-ms, prints each message it receives,
 * decoded, and stops after --duration-ms or on SIGTERM, printing its counters.
 *   peerport_probe --sid N --member SID:HOST:PORT... [--duration-ms 60000]
 *       [--resend-ms 1000] [--connect-timeout-ms 5000] [--header-timeout-ms 10000]
 *       [--leader SID] [--zxid Z] [--round E] [--peer-epoch P] [--config TEXT]
 * Output, one line each (stdout, flushed per line):
 *   listening sid=N
 *   recv sid=S {notification state=... }        or  recv sid=S error RC len=L
 *   peer sid=S connected=0|1 incoming=0|1 kept=K closed=C dials=D sent=T received=R replaced=P
 *   rejected N
 *   done */
#include "base/buf.h"
#include "node/peer_port.h"
#include "probe_io.h"
#include "proto/election.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define PROBE_MEMBERS_MAX 16

struct probe {
    uv_loop_t loop;
    struct peer_port *pp;
    uv_timer_t deadline;
    uv_timer_t resend;
    struct probe_io io;
    struct buf note; /* the notification body */
    struct peer_port_member members[PROBE_MEMBERS_MAX];
    char *hosts[PROBE_MEMBERS_MAX]; /* members[].host, owned */
    size_t member_count;
    bool stopped;
};

static void on_message(void *ctx, int64_t from_sid, const uint8_t *bytes, size_t len)
{
    (void)ctx;
    struct election_notification n;
    int rc = election_notification_decode(bytes, len, &n);
    if (rc < 0) {
        printf("recv sid=%" PRId64 " error %d len=%zu\n", from_sid, rc, len);
    } else {
        struct buf line;
        buf_init(&line);
        election_notification_print(&line, &n);
        printf("recv sid=%" PRId64 " %.*s\n", from_sid, (int)line.len, (const char *)line.data);
        buf_deinit(&line);
    }
    fflush(stdout);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void probe_stop(struct probe *p)
{
    if (p->stopped)
        return;
    p->stopped = true;
    for (size_t i = 0; i < p->member_count; i++) {
        struct peer_port_peer_stats s;
        if (peer_port_peer_stats(p->pp, p->members[i].sid, &s) < 0)
            continue;
        printf("peer sid=%" PRId64 " connected=%d incoming=%d kept=%" PRId64 " closed=%" PRId64
               " dials=%" PRId64 " sent=%" PRId64 " received=%" PRId64 " replaced=%" PRId64 "\n",
               p->members[i].sid, s.connected, s.connected_incoming, s.connections_kept,
               s.connections_closed, s.dials, s.messages_sent, s.messages_received,
               s.messages_replaced);
    }
    printf("rejected %" PRId64 "\n", peer_port_rejected(p->pp));
    fflush(stdout);
    peer_port_free(p->pp);
    uv_close((uv_handle_t *)&p->deadline, on_closed);
    uv_close((uv_handle_t *)&p->resend, on_closed);
    probe_io_close(&p->io);
}

static void on_deadline(uv_timer_t *t)
{
    probe_stop(t->data);
}

static void on_stop(void *ctx)
{
    probe_stop(ctx);
}

static void on_resend(uv_timer_t *t)
{
    struct probe *p = t->data;
    if (peer_port_send_all(p->pp, p->note.data, p->note.len) < 0) {
        fprintf(stderr, "peerport_probe: send failed\n");
        exit(1);
    }
}

static int parse_member(const char *arg, struct peer_port_member *m, char **host_out)
{
    const char *a = strchr(arg, ':');
    const char *b = a ? strrchr(arg, ':') : NULL;
    if (!a || a == b)
        return -1;
    m->sid = strtoll(arg, NULL, 10);
    size_t host_len = (size_t)(b - a - 1);
    char *host = malloc(host_len + 1);
    if (!host)
        return -1;
    memcpy(host, a + 1, host_len);
    host[host_len] = '\0';
    m->host = host;
    *host_out = host;
    m->port = atoi(b + 1);
    return 0;
}

int main(int argc, char **argv)
{
    /* a peer that closes its connection must cost an EPIPE, not the
     * probe (czk-server ignores SIGPIPE too) */
    signal(SIGPIPE, SIG_IGN);
    static struct probe p;
    struct peer_port_config cfg;
    peer_port_config_defaults(&cfg);
    int64_t duration_ms = 60000, resend_ms = 1000;
    struct election_notification n = {.state = ELECTION_LOOKING,
                                      .leader = -1,
                                      .zxid = 0,
                                      .election_epoch = 1,
                                      .peer_epoch = 0,
                                      .version = ELECTION_NOTIFICATION_VERSION};
    const char *config = "version=0";
    bool have_sid = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--sid") == 0) {
            cfg.my_sid = strtoll(v, NULL, 10);
            have_sid = true;
        } else if (strcmp(k, "--member") == 0) {
            if (p.member_count == PROBE_MEMBERS_MAX ||
                parse_member(v, &p.members[p.member_count], &p.hosts[p.member_count]) < 0) {
                fprintf(stderr, "peerport_probe: bad member %s\n", v);
                return 2;
            }
            p.member_count++;
        } else if (strcmp(k, "--duration-ms") == 0) {
            duration_ms = strtoll(v, NULL, 10);
        } else if (strcmp(k, "--resend-ms") == 0) {
            resend_ms = strtoll(v, NULL, 10);
        } else if (strcmp(k, "--connect-timeout-ms") == 0) {
            cfg.connect_timeout_ms = strtoll(v, NULL, 10);
        } else if (strcmp(k, "--header-timeout-ms") == 0) {
            cfg.header_timeout_ms = strtoll(v, NULL, 10);
        } else if (strcmp(k, "--leader") == 0) {
            n.leader = strtoll(v, NULL, 0);
        } else if (strcmp(k, "--zxid") == 0) {
            n.zxid = strtoll(v, NULL, 0);
        } else if (strcmp(k, "--round") == 0) {
            n.election_epoch = strtoll(v, NULL, 0);
        } else if (strcmp(k, "--peer-epoch") == 0) {
            n.peer_epoch = strtoll(v, NULL, 0);
        } else if (strcmp(k, "--config") == 0) {
            config = v;
        } else {
            fprintf(stderr, "peerport_probe: unknown option %s\n", k);
            return 2;
        }
    }
    if (!have_sid || p.member_count == 0) {
        fprintf(stderr, "usage: peerport_probe --sid N --member SID:HOST:PORT...\n");
        return 2;
    }
    if (n.leader < 0)
        n.leader = cfg.my_sid;
    n.config = (struct jute_buf){(const uint8_t *)config, (int32_t)strlen(config)};
    buf_init(&p.note);
    election_notification_encode(&p.note, &n);

    cfg.members = p.members;
    cfg.member_count = p.member_count;
    cfg.on_message = on_message;
    cfg.ctx = &p;
    uv_loop_init(&p.loop);
    char errmsg[256];
    if (peer_port_new(&p.loop, &cfg, &p.pp, errmsg, sizeof(errmsg)) < 0) {
        fprintf(stderr, "peerport_probe: %s\n", errmsg);
        return 1;
    }
    printf("listening sid=%" PRId64 "\n", cfg.my_sid);
    fflush(stdout);
    uv_timer_init(&p.loop, &p.deadline);
    p.deadline.data = &p;
    uv_timer_start(&p.deadline, on_deadline, (uint64_t)duration_ms, 0);
    uv_timer_init(&p.loop, &p.resend);
    p.resend.data = &p;
    uv_timer_start(&p.resend, on_resend, 0, (uint64_t)resend_ms);
    probe_io_start(&p.io, &p.loop, 0, NULL, on_stop, &p);
    uv_run(&p.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&p.loop);
    probe_io_free(&p.io);
    buf_deinit(&p.note);
    for (size_t i = 0; i < p.member_count; i++)
        free(p.hosts[i]);
    printf("done%s\n", rc == 0 ? "" : " (handles left open)");
    return rc == 0 ? 0 : 1;
}
