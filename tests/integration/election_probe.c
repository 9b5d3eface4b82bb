/* SPDX-License-Identifier: Apache-2.0 */
/* election_probe — one ensemble member's fast leader election through
 * src/node/elector.h, for test_election.py: it reads zoo.cfg and dataDir/myid
 * as czk-server does, runs the election on a libuv loop, prints each decision
 * as a JSON line and keeps answering (a decided member's FLE answers LOOKING
 * peers) until SIGTERM or --duration-ms. No quorum port: a probe that leads
 * has no followers, so Apache peers that follow it give up after initLimit.
 *   election_probe ZOO_CFG [--zxid Z] [--epoch E] [--duration-ms 120000]
 *       [--leader-loss-ms 0]
 * --leader-loss-ms M: a follower whose leader's election connection has been
 * down for M ms starts a new election (the stand-in for ZAB noticing a dead
 * leader); 0 never does.
 * Output (stdout, one JSON object a line, flushed):
 *   {"event":"listening","sid":N}
 *   {"event":"decided","sid":N,"election":K,"state":"FOLLOWING","leader":L,"zxid":Z,
 *    "electionEpoch":R,"peerEpoch":P,"elapsed_ms":T,"uptime_ms":U}
 *   {"event":"leader_lost","sid":N,"leader":L}
 *   {"event":"done","sid":N,"state":"...","leader":L,"skipped":S,"peers":{"2":{...}}} */
#include "node/config.h"
#include "node/elector.h"
#include "probe_io.h"
#include "proto/election.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define PROBE_POLL_MS 100

struct probe {
    uv_loop_t loop;
    struct elector *elector;
    struct node_config cfg;
    int64_t sid;
    int64_t zxid;
    int64_t epoch;
    int64_t leader_loss_ms;
    int64_t start_ms;
    int64_t down_since_ms; /* -1: the leader's connection is up */
    int elections;
    uv_timer_t deadline;
    uv_timer_t poll;
    struct probe_io io;
    bool stopped;
};

static void on_decided(void *ctx, const struct elector_decision *d)
{
    struct probe *p = ctx;
    printf("{\"event\":\"decided\",\"sid\":%" PRId64 ",\"election\":%d,\"state\":\"%s\","
           "\"leader\":%" PRId64 ",\"zxid\":%" PRId64 ",\"electionEpoch\":%" PRId64
           ",\"peerEpoch\":%" PRId64 ",\"elapsed_ms\":%" PRId64 ",\"uptime_ms\":%" PRId64 "}\n",
           p->sid, p->elections, election_state_name(d->state), d->vote.leader, d->vote.zxid,
           d->vote.election_epoch, d->vote.peer_epoch, d->elapsed_ms,
           (int64_t)uv_now(&p->loop) - p->start_ms);
    fflush(stdout);
    p->down_since_ms = -1;
}

static int probe_start(struct probe *p)
{
    p->elections++;
    p->down_since_ms = -1;
    return elector_start(p->elector, p->zxid, p->epoch);
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
    struct fle_vote v = elector_vote(p->elector);
    printf("{\"event\":\"done\",\"sid\":%" PRId64 ",\"state\":\"%s\",\"leader\":%" PRId64
           ",\"skipped\":%" PRId64 ",\"peers\":{",
           p->sid, election_state_name(elector_state(p->elector)), v.leader,
           elector_skipped(p->elector));
    const struct peer_port *pp = elector_peer_port(p->elector);
    bool first = true;
    for (size_t i = 0; i < p->cfg.member_count; i++) {
        struct peer_port_peer_stats s;
        int64_t sid = p->cfg.members[i].sid;
        if (sid == p->sid || peer_port_peer_stats(pp, sid, &s) < 0)
            continue;
        printf("%s\"%" PRId64 "\":{\"connected\":%d,\"sent\":%" PRId64 ",\"received\":%" PRId64
               ",\"kept\":%" PRId64 "}",
               first ? "" : ",", sid, s.connected, s.messages_sent, s.messages_received,
               s.connections_kept);
        first = false;
    }
    printf("},\"rejected\":%" PRId64 "}\n", peer_port_rejected(pp));
    fflush(stdout);
    elector_free(p->elector);
    uv_close((uv_handle_t *)&p->deadline, on_closed);
    uv_close((uv_handle_t *)&p->poll, on_closed);
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

/* A follower watches its leader's election connection; down for
 * --leader-loss-ms (not a replacement, which is over within one poll) means
 * the leader is gone: look again. */
static void on_poll(uv_timer_t *t)
{
    struct probe *p = t->data;
    if (p->leader_loss_ms <= 0 || elector_state(p->elector) != ELECTION_FOLLOWING)
        return;
    int64_t leader = elector_vote(p->elector).leader;
    struct peer_port_peer_stats s;
    if (peer_port_peer_stats(elector_peer_port(p->elector), leader, &s) < 0)
        return;
    int64_t now_ms = (int64_t)uv_now(&p->loop);
    if (s.connected) {
        p->down_since_ms = -1;
        return;
    }
    if (p->down_since_ms < 0)
        p->down_since_ms = now_ms;
    if (now_ms - p->down_since_ms < p->leader_loss_ms)
        return;
    printf("{\"event\":\"leader_lost\",\"sid\":%" PRId64 ",\"leader\":%" PRId64 "}\n", p->sid,
           leader);
    fflush(stdout);
    if (probe_start(p) < 0) {
        fprintf(stderr, "election_probe: start failed\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    /* a peer that closes its connection must cost an EPIPE, not the
     * probe (czk-server ignores SIGPIPE too) */
    signal(SIGPIPE, SIG_IGN);
    static struct probe p;
    if (argc < 2) {
        fprintf(stderr, "usage: election_probe ZOO_CFG [--zxid Z] [--epoch E] "
                        "[--duration-ms D] [--leader-loss-ms M]\n");
        return 2;
    }
    int64_t duration_ms = 120000;
    p.zxid = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--zxid") == 0) {
            p.zxid = strtoll(v, NULL, 0);
        } else if (strcmp(k, "--epoch") == 0) {
            p.epoch = strtoll(v, NULL, 0);
        } else if (strcmp(k, "--duration-ms") == 0) {
            duration_ms = strtoll(v, NULL, 0);
        } else if (strcmp(k, "--leader-loss-ms") == 0) {
            p.leader_loss_ms = strtoll(v, NULL, 0);
        } else {
            fprintf(stderr, "election_probe: unknown option %s\n", k);
            return 2;
        }
    }
    char errmsg[512];
    if (config_parse_file_ensemble(argv[1], &p.cfg, errmsg, sizeof(errmsg)) < 0) {
        fprintf(stderr, "election_probe: %s\n", errmsg);
        return 2;
    }
    if (config_read_myid(p.cfg.data_dir, &p.sid, errmsg, sizeof(errmsg)) < 0) {
        fprintf(stderr, "election_probe: %s\n", errmsg);
        return 2;
    }
    uv_loop_init(&p.loop);
    p.start_ms = (int64_t)uv_now(&p.loop);
    struct elector_config ec = {
        .my_sid = p.sid, .node = &p.cfg, .on_decided = on_decided, .ctx = &p};
    if (elector_new(&p.loop, &ec, &p.elector, errmsg, sizeof(errmsg)) < 0) {
        fprintf(stderr, "election_probe: %s\n", errmsg);
        return 1;
    }
    printf("{\"event\":\"listening\",\"sid\":%" PRId64 "}\n", p.sid);
    fflush(stdout);
    if (probe_start(&p) < 0) {
        fprintf(stderr, "election_probe: start failed\n");
        return 1;
    }
    uv_timer_init(&p.loop, &p.deadline);
    p.deadline.data = &p;
    uv_timer_start(&p.deadline, on_deadline, (uint64_t)duration_ms, 0);
    uv_timer_init(&p.loop, &p.poll);
    p.poll.data = &p;
    uv_timer_start(&p.poll, on_poll, PROBE_POLL_MS, PROBE_POLL_MS);
    probe_io_start(&p.io, &p.loop, 0, NULL, on_stop, &p);
    uv_run(&p.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&p.loop);
    probe_io_free(&p.io);
    if (rc != 0)
        fprintf(stderr, "election_probe: handles left open\n");
    return rc == 0 ? 0 : 1;
}
