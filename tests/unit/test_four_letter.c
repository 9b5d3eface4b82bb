/* SPDX-License-Identifier: Apache-2.0 */
/* test_four_letter.c — what an ensemble member adds to the four-letter words
 * (conf's quorum lines, mntr's keys per role, the not-serving texts), as
 * Apache ZooKeeper 3.8.0 prints them; tests/integration/test_ensemble_4lw.py
 * compares the same against running Apache members. No sockets, no files. */
#include "base/buf.h"
#include "check.h"
#include "node/config.h"
#include "node/four_letter.h"
#include "server/server.h"
#include "zab/membership.h"

#include <stdio.h>
#include <string.h>

static void io_send(void *ctx, uint64_t conn_id, const uint8_t *frame, size_t len)
{
    (void)ctx, (void)conn_id, (void)frame, (void)len;
}

static void io_close(void *ctx, uint64_t conn_id)
{
    (void)ctx, (void)conn_id;
}

static void io_log(void *ctx, int64_t zxid, const uint8_t *txn, size_t len)
{
    (void)ctx, (void)zxid, (void)txn, (void)len;
}

static int64_t io_wall(void *ctx)
{
    (void)ctx;
    return 1700000000000;
}

struct fixture {
    struct node_config cfg;
    struct server *server;
    struct four_letter_counters counters;
    struct membership members;
    struct four_letter_quorum quorum;
    struct four_letter_input in;
};

static void add_member(struct membership *m, int64_t sid, const char *value)
{
    struct member mb;
    char err[128];
    CHECK_EQ_INT(member_parse(sid, value, strlen(value), &mb, err, sizeof(err)), 0);
    membership_put(m, &mb);
}

/* Member 2 of three (3 an observer when `observer`), in role `mode` (NULL:
 * standalone). */
static void fixture_init(struct fixture *f, const char *mode, bool observer)
{
    memset(f, 0, sizeof(*f));
    config_defaults(&f->cfg);
    f->cfg.init_limit = 10;
    f->cfg.sync_limit = 5;
    struct server_io io = {
        .send = io_send, .close = io_close, .log_append = io_log, .wall_ms = io_wall};
    struct server_config scfg = {.tick_time_ms = 2000, .max_buffer = 0xfffff};
    f->server = server_new(&scfg, &io, 0);
    four_letter_counters_reset(&f->counters);
    membership_init(&f->members);
    add_member(&f->members, 1, "127.0.0.1:2881:3881");
    add_member(&f->members, 2, "127.0.0.1:2882:3882");
    add_member(&f->members, 3, observer ? "127.0.0.1:2883:3883:observer" : "127.0.0.1:2883:3883");
    f->quorum = (struct four_letter_quorum){
        .sid = 2,
        .init_limit = 10,
        .sync_limit = 5,
        .election_port = 3882,
        .quorum_port = 2882,
        .peer_type = MEMBER_PARTICIPANT,
        .membership = &f->members,
        .voters = observer ? 2 : 3,
        .leader_sid = 1,
        .learners = 2,
        .synced_followers = observer ? 1 : 2,
        .synced_observers = observer ? 1 : 0,
        .leader_uptime_ms = 1234,
    };
    f->in = (struct four_letter_input){
        .cfg = &f->cfg,
        .server = f->server,
        .counters = &f->counters,
        .client_port = 2182,
        .snap_dir = "/nonexistent/czk/version-2",
        .log_dir = "/nonexistent/czk/version-2",
        .host_name = "localhost",
        .trace_mask = FOUR_LETTER_TRACE_MASK_DEFAULT,
        .mode = mode,
        .proposal_sizes = {-1, -1, -1},
        .quorum = mode ? &f->quorum : NULL,
    };
}

static void fixture_deinit(struct fixture *f)
{
    membership_deinit(&f->members);
    server_free(f->server);
}

/* cmd's text, NUL-terminated, in `out` (size bytes). */
static const char *run(struct fixture *f, int cmd, char *out, size_t size)
{
    struct buf b;
    buf_init(&b);
    four_letter_run(cmd, &f->in, &b);
    snprintf(out, size, "%.*s", (int)b.len, (const char *)b.data);
    buf_deinit(&b);
    return out;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The mntr keys in order, one per line (the values dropped). */
static void mntr_keys(struct fixture *f, char *out, size_t size)
{
    static char text[65536];
    run(f, FOUR_LETTER_MNTR, text, sizeof(text));
    size_t used = 0;
    out[0] = '\0';
    for (const char *line = text; *line;) {
        const char *tab = strchr(line, '\t');
        const char *end = strchr(line, '\n');
        if (!tab || !end)
            break;
        used += (size_t)snprintf(out + used, size - used, "%.*s\n", (int)(tab - line), line);
        line = end + 1;
    }
}

/* QuorumZooKeeperServer.dumpConf after ZooKeeperServer's lines. */
static void test_conf(void)
{
    static char text[4096];
    struct fixture f;
    fixture_init(&f, "follower", false);
    run(&f, FOUR_LETTER_CONF, text, sizeof(text));
    CHECK(strstr(text, "clientPortListenBacklog=-1\nserverId=2\ninitLimit=10\n") != NULL);
    CHECK(ends_with(text, "serverId=2\n"
                          "initLimit=10\n"
                          "syncLimit=5\n"
                          "electionAlg=3\n"
                          "electionPort=3882\n"
                          "quorumPort=2882\n"
                          "peerType=0\n"
                          "membership: \n"
                          "server.1=127.0.0.1:2881:3881:participant\n"
                          "server.2=127.0.0.1:2882:3882:participant\n"
                          "server.3=127.0.0.1:2883:3883:participant\n"
                          "version=0"));
    fixture_deinit(&f);

    fixture_init(&f, NULL, false);
    run(&f, FOUR_LETTER_CONF, text, sizeof(text));
    CHECK(ends_with(text, "clientPortListenBacklog=-1\nserverId=0\n"));
    fixture_deinit(&f);
}

/* The keys each role adds, where Apache 3.8.0 prints them. */
static void test_mntr_keys(void)
{
    static char standalone[32768], leader[32768], follower[32768], observer[32768];
    struct fixture f;
    fixture_init(&f, NULL, false);
    mntr_keys(&f, standalone, sizeof(standalone));
    fixture_deinit(&f);
    fixture_init(&f, "leader", false);
    mntr_keys(&f, leader, sizeof(leader));
    fixture_deinit(&f);
    fixture_init(&f, "follower", false);
    mntr_keys(&f, follower, sizeof(follower));
    fixture_deinit(&f);
    fixture_init(&f, "observer", true);
    mntr_keys(&f, observer, sizeof(observer));
    fixture_deinit(&f);

    CHECK(strncmp(standalone, "zk_version\nzk_server_state\nzk_ephemerals_count\n", 46) == 0);
    CHECK(strstr(standalone, "zk_peer_state") == NULL);
    CHECK(strstr(standalone, "zk_quorum_size") == NULL);
    CHECK(strstr(standalone, "zk_learners") == NULL);

    CHECK(strstr(leader, "zk_version\nzk_server_state\nzk_peer_state\nzk_ephemerals_count\n"
                         "zk_num_alive_connections\nzk_avg_latency\nzk_min_proposal_size\n"
                         "zk_outstanding_requests\n") == leader);
    CHECK(strstr(leader, "zk_packets_received\nzk_max_proposal_size\n"
                         "zk_max_client_response_size\nzk_synced_followers\n"
                         "zk_connection_drop_probability\nzk_watch_count\n"
                         "zk_synced_non_voting_followers\nzk_synced_observers\n"
                         "zk_auth_failed_count\n") != NULL);
    CHECK(strstr(leader, "zk_open_file_descriptor_count\nzk_last_proposal_size\n"
                         "zk_pending_syncs\nzk_leader_uptime\nzk_local_sessions\n") != NULL);
    CHECK(strstr(leader, "zk_outstanding_tls_handshake\nzk_learners\n"
                         "zk_min_client_response_size\nzk_non_mtls_local_conn_count\n"
                         "zk_quorum_size\nzk_proposal_count\n") != NULL);

    /* a follower: the leader's gauges gone; synced_observers is null */
    CHECK(strstr(follower, "zk_server_state\nzk_peer_state\nzk_ephemerals_count\n") != NULL);
    CHECK(strstr(follower, "zk_non_mtls_local_conn_count\nzk_quorum_size\n") != NULL);
    CHECK(strstr(follower, "zk_learners") == NULL);
    CHECK(strstr(follower, "proposal_size") == NULL);
    CHECK(strstr(follower, "zk_synced_observers") == NULL);
    CHECK(strstr(follower, "zk_observer_master_id") == NULL);

    CHECK(strstr(observer, "zk_server_state\nzk_peer_state\nzk_observer_master_id\n"
                           "zk_ephemerals_count\n") != NULL);
    CHECK(strstr(observer, "zk_quorum_size\n") != NULL);
    CHECK(strstr(observer, "zk_learners") == NULL);

    /* a member prints 11 (leader), 2 (follower), 3 (observer) more keys */
    size_t lines[4] = {0, 0, 0, 0};
    const char *texts[4] = {standalone, leader, follower, observer};
    for (size_t i = 0; i < 4; i++)
        for (const char *p = texts[i]; *p; p++)
            lines[i] += *p == '\n';
    CHECK_EQ_INT(lines[1], lines[0] + 11);
    CHECK_EQ_INT(lines[2], lines[0] + 2);
    CHECK_EQ_INT(lines[3], lines[0] + 3);
}

static void test_mntr_values(void)
{
    static char text[65536];
    struct fixture f;
    fixture_init(&f, "leader", false);
    f.in.proposal_sizes[0] = 57;
    f.in.proposal_sizes[1] = 36;
    f.in.proposal_sizes[2] = 77;
    run(&f, FOUR_LETTER_MNTR, text, sizeof(text));
    CHECK(strstr(text, "\nzk_server_state\tleader\nzk_peer_state\tleading - broadcast\n") != NULL);
    CHECK(strstr(text, "\nzk_min_proposal_size\t36\n") != NULL);
    CHECK(strstr(text, "\nzk_max_proposal_size\t77\n") != NULL);
    CHECK(strstr(text, "\nzk_last_proposal_size\t57\n") != NULL);
    CHECK(strstr(text, "\nzk_learners\t2\n") != NULL);
    CHECK(strstr(text, "\nzk_synced_followers\t2\n") != NULL);
    CHECK(strstr(text, "\nzk_synced_non_voting_followers\t0\n") != NULL);
    CHECK(strstr(text, "\nzk_synced_observers\t0\n") != NULL);
    CHECK(strstr(text, "\nzk_pending_syncs\t0\n") != NULL);
    CHECK(strstr(text, "\nzk_leader_uptime\t1234\n") != NULL);
    CHECK(strstr(text, "\nzk_quorum_size\t3\n") != NULL);
    run(&f, FOUR_LETTER_SRVR, text, sizeof(text));
    CHECK(strstr(text, "\nMode: leader\nNode count: ") != NULL);
    CHECK(ends_with(text, "\nProposal sizes last/min/max: 57/36/77\n"));
    fixture_deinit(&f);

    fixture_init(&f, "observer", true);
    run(&f, FOUR_LETTER_MNTR, text, sizeof(text));
    CHECK(strstr(text, "\nzk_peer_state\tobserving - broadcast\nzk_observer_master_id\t1\n") !=
          NULL);
    CHECK(strstr(text, "\nzk_quorum_size\t2\n") != NULL);
    run(&f, FOUR_LETTER_SRVR, text, sizeof(text));
    CHECK(strstr(text, "Proposal sizes") == NULL);
    fixture_deinit(&f);

    fixture_init(&f, "follower", false);
    run(&f, FOUR_LETTER_MNTR, text, sizeof(text));
    CHECK(strstr(text, "\nzk_peer_state\tfollowing - broadcast\n") != NULL);
    fixture_deinit(&f);
}

/* A member between roles, as Apache 3.8.0 answers while LOOKING. */
static void test_not_serving(void)
{
    static const char not_serving[] = "This ZooKeeper instance is not currently serving requests";
    static char text[4096], want[128];
    snprintf(want, sizeof(want), "%s\n", not_serving);
    struct fixture f;
    fixture_init(&f, "looking", false);
    f.in.not_serving = true;
    static const int with_newline[] = {
        FOUR_LETTER_SRVR, FOUR_LETTER_STAT, FOUR_LETTER_MNTR, FOUR_LETTER_CONF,
        FOUR_LETTER_CONS, FOUR_LETTER_DIRS, FOUR_LETTER_WCHS, FOUR_LETTER_WCHC,
        FOUR_LETTER_WCHP, FOUR_LETTER_DUMP, FOUR_LETTER_SRST, FOUR_LETTER_CRST,
    };
    for (size_t i = 0; i < sizeof(with_newline) / sizeof(with_newline[0]); i++) {
        run(&f, with_newline[i], text, sizeof(text));
        if (strcmp(text, want) != 0)
            fprintf(stderr, "%s: %s\n", four_letter_name(with_newline[i]), text);
        CHECK(strcmp(text, want) == 0);
    }
    CHECK(strcmp(run(&f, FOUR_LETTER_HASH, text, sizeof(text)), not_serving) == 0);
    CHECK(strcmp(run(&f, FOUR_LETTER_ISRO, text, sizeof(text)), "null") == 0);
    CHECK(strcmp(run(&f, FOUR_LETTER_RUOK, text, sizeof(text)), "imok") == 0);
    CHECK(strcmp(run(&f, FOUR_LETTER_GTMK, text, sizeof(text)), "306") == 0);
    f.in.not_serving = false;
    CHECK(strcmp(run(&f, FOUR_LETTER_ISRO, text, sizeof(text)), "rw") == 0);
    fixture_deinit(&f);
}

int main(void)
{
    test_conf();
    test_mntr_keys();
    test_mntr_values();
    test_not_serving();
    return check_result("test_four_letter");
}
