/* SPDX-License-Identifier: Apache-2.0 */
/* test_config.c — zoo.cfg parsing: Properties syntax, ZooKeeper's defaults,
 * unknown keys as warnings, malformed values as errors naming file:line and
 * key, the 4lw whitelist. No files are written. */
#include "base/log.h"
#include "check.h"
#include "node/config.h"
#include "node/four_letter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Captured log output (this test's own state). */
static char logged[8192];
static int warnings;

static void capture(enum log_level level, const char *msg)
{
    if (level == LOG_WARN)
        warnings++;
    size_t used = strlen(logged);
    snprintf(logged + used, sizeof(logged) - used, "%s\n", msg);
}

static void log_reset(void)
{
    logged[0] = '\0';
    warnings = 0;
}

static int parse(const char *text, struct node_config *cfg, char *err, size_t errlen)
{
    log_reset();
    return config_parse_text("zoo.cfg", text, strlen(text), cfg, err, errlen);
}

static void test_defaults(void)
{
    struct node_config cfg;
    config_defaults(&cfg);
    CHECK_EQ_INT(cfg.tick_time_ms, 3000);
    CHECK_EQ_INT(cfg.client_port, 0);
    CHECK(cfg.client_port_address[0] == '\0');
    CHECK_EQ_INT(cfg.max_client_cnxns, 60);
    CHECK_EQ_INT(cfg.max_cnxns, 0);
    CHECK_EQ_INT(cfg.min_session_timeout_ms, -1);
    CHECK_EQ_INT(cfg.max_session_timeout_ms, -1);
    CHECK_EQ_INT(cfg.global_outstanding_limit, 1000);
    CHECK_EQ_INT(cfg.max_buffer, 0xfffff);
    CHECK_EQ_INT(cfg.sessionless_timeout_ms, 10000);
    CHECK(config_four_letter_enabled(&cfg, FOUR_LETTER_SRVR));
    CHECK(!config_four_letter_enabled(&cfg, FOUR_LETTER_RUOK));
    CHECK(!config_four_letter_enabled(&cfg, FOUR_LETTER_STAT));

    /* The minimal file: derived values. */
    char err[256];
    CHECK_EQ_INT(parse("dataDir=/var/zk\nclientPort=2181\n", &cfg, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.tick_time_ms, 3000);
    CHECK_EQ_INT(cfg.min_session_timeout_ms, 6000);
    CHECK_EQ_INT(cfg.max_session_timeout_ms, 60000);
    CHECK(strcmp(cfg.data_log_dir, "/var/zk") == 0);
    CHECK_EQ_INT(warnings, 0);

    /* The embedded default: zoo_sample.cfg's values, every address. */
    CHECK_EQ_INT(config_parse_embedded(&cfg, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.client_port, 2181);
    CHECK_EQ_INT(cfg.tick_time_ms, 2000);
    CHECK(strcmp(cfg.data_dir, "./data") == 0);
    CHECK(cfg.client_port_address[0] == '\0');
    CHECK_EQ_INT(cfg.min_session_timeout_ms, 4000);
    CHECK_EQ_INT(cfg.max_session_timeout_ms, 40000);
}

static void test_good_file(void)
{
    const char *text = "# The number of milliseconds of each tick\n"
                       "! another comment style\n"
                       "   tickTime = 2000  \r\n"
                       "\n"
                       "dataDir:/var/lib/zoo\\\n"
                       "      keeper\n"
                       "dataLogDir /var/log/zk\n"
                       "clientPort=1000\n"
                       "clientPort=21810\n" /* the last one wins */
                       "clientPortAddress=127.0.0.1\n"
                       "maxClientCnxns=0\n"
                       "maxCnxns=500\n"
                       "minSessionTimeout=1000\n"
                       "maxSessionTimeout=90000\n"
                       "globalOutstandingLimit=50\n"
                       "jute.maxbuffer=0x200000\n"
                       "nio.sessionlessCnxnTimeout=5000\n"
                       "initLimit=10\n"
                       "syncLimit=5\n"
                       "autopurge.purgeInterval=1\n"
                       "admin.enableServer=false\n"
                       "metricsProvider.httpPort=7000\n"
                       "standaloneEnabled=true\n";
    struct node_config cfg;
    char err[256];
    CHECK_EQ_INT(parse(text, &cfg, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.tick_time_ms, 2000);
    CHECK(strcmp(cfg.data_dir, "/var/lib/zookeeper") == 0);
    CHECK(strcmp(cfg.data_log_dir, "/var/log/zk") == 0);
    CHECK_EQ_INT(cfg.client_port, 21810);
    CHECK(strcmp(cfg.client_port_address, "127.0.0.1") == 0);
    CHECK_EQ_INT(cfg.max_client_cnxns, 0);
    CHECK_EQ_INT(cfg.max_cnxns, 500);
    CHECK_EQ_INT(cfg.min_session_timeout_ms, 1000);
    CHECK_EQ_INT(cfg.max_session_timeout_ms, 90000);
    CHECK_EQ_INT(cfg.global_outstanding_limit, 50);
    CHECK_EQ_INT(cfg.max_buffer, 0x200000);
    CHECK_EQ_INT(cfg.sessionless_timeout_ms, 5000);
    CHECK(strcmp(cfg.source, "zoo.cfg") == 0);
    /* ZooKeeper keys czk does not implement: accepted, not warned about. */
    CHECK_EQ_INT(warnings, 0);
    CHECK(strstr(logged, "admin.enableServer") != NULL);
    CHECK_EQ_INT(cfg.init_limit, 10);
    CHECK_EQ_INT(cfg.sync_limit, 5);

    /* jute.maxbuffer as Integer.decode reads it. */
    CHECK_EQ_INT(
        parse("dataDir=/d\nclientPort=1\njute.maxbuffer=4194304\n", &cfg, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.max_buffer, 4194304);
    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\njute.maxbuffer=#ff\n", &cfg, err, sizeof(err)),
                 0);
    CHECK_EQ_INT(cfg.max_buffer, 255);

    /* The per-connection output bounds (issue 9): the pause bound as given,
     * the close bound raised to leave room for the replies owed at a pause. */
    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\n", &cfg, err, sizeof(err)), 0);
    CHECK(cfg.output_pause_bytes == (size_t)1 << 20);
    CHECK(cfg.output_limit_bytes == (size_t)64 << 20);
    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\nczk.clientOutputPauseBytes=65536\n"
                       "czk.clientOutputMaxBytes=200000000\n",
                       &cfg, err, sizeof(err)),
                 0);
    CHECK(cfg.output_pause_bytes == 65536);
    CHECK(cfg.output_limit_bytes == 200000000);
    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\njute.maxbuffer=4194304\n"
                       "czk.clientOutputMaxBytes=1000\n",
                       &cfg, err, sizeof(err)),
                 0);
    CHECK(cfg.output_limit_bytes == ((size_t)1 << 20) + 4 * (size_t)4194304);
    CHECK(strstr(logged, "czk.clientOutputMaxBytes: 1000 is below") != NULL);
    CHECK(parse("dataDir=/d\nclientPort=1\nczk.clientOutputPauseBytes=0\n", &cfg, err,
                sizeof(err)) < 0);

    /* Escapes: \uXXXX, \t, an escaped separator inside a key. */
    CHECK_EQ_INT(
        parse("dataDir=/tmp/\\u0041b\\tc\nclientPort=1\nmy\\=key=1\n", &cfg, err, sizeof(err)), 0);
    CHECK(strcmp(cfg.data_dir, "/tmp/Ab\tc") == 0);
    CHECK(strstr(logged, "unknown key 'my=key'") != NULL);

    /* Old Mac line ends and a file without a final newline. */
    CHECK_EQ_INT(parse("dataDir=/d\rclientPort=7\rtickTime=100", &cfg, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.client_port, 7);
    CHECK_EQ_INT(cfg.tick_time_ms, 100);
    CHECK_EQ_INT(cfg.max_session_timeout_ms, 2000);
}

static void test_unknown_keys(void)
{
    struct node_config cfg;
    char err[256];
    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\n\nfooBar=1\nzookeeper.whatever=2\n", &cfg, err,
                       sizeof(err)),
                 0);
    CHECK_EQ_INT(warnings, 1);
    CHECK(strstr(logged, "zoo.cfg:4: unknown key 'fooBar'") != NULL);
    CHECK(strstr(logged, "unknown key 'zookeeper") == NULL);
    /* One voting server with standaloneEnabled (the default) runs standalone,
     * as QuorumPeerMain does; an observer does not vote. */
    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\nserver.1=a:2888:3888\n", &cfg, err, sizeof(err)),
                 0);
    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\nserver.1=a:2888:3888:participant;2181\n"
                       "standaloneEnabled=TRUE\n",
                       &cfg, err, sizeof(err)),
                 0);
    CHECK_EQ_INT(warnings, 0);
}

static void expect_error(const char *text, int code, const char *needle1, const char *needle2)
{
    struct node_config cfg;
    char err[256];
    int rc = parse(text, &cfg, err, sizeof(err));
    CHECK_EQ_INT(rc, code);
    if (!strstr(err, needle1) || !strstr(err, needle2)) {
        fprintf(stderr, "error text \"%s\" lacks \"%s\" or \"%s\"\n", err, needle1, needle2);
        CHECK(0);
    }
}

/* A member of an ensemble must never serve writes alone (issue 9). */
static void test_ensemble_refused(void)
{
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:2888:3888\nserver.2=b:2888:3888\n"
                 "server.3=c:2888:3888:participant\n",
                 CONFIG_ERR_VALUE, "zoo.cfg:3: server.N: 3 voting servers", "refusing to start");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:2888:3888\nstandaloneEnabled=false\n",
                 CONFIG_ERR_VALUE, "zoo.cfg:4: standaloneEnabled=false", "cannot run");
    expect_error("dataDir=/d\nclientPort=1\nstandaloneEnabled=yes\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: standaloneEnabled", "true or false");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:2888:3888\nserver.2=b:1:2:Observer\n",
                 CONFIG_ERR_VALUE, "zoo.cfg:3: server.N", "without a quorum");
    expect_error("dataDir=/d\nclientPort=1\nserver.2=b:1:2:observer\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: server.N", "without voting servers");
    expect_error("dataDir=/d\nclientPort=1\nstandaloneEnabled=false\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: standaloneEnabled=false", "at least one");
    expect_error("dataDir=/d\nclientPort=1\nserver.x=a:2888:3888\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: server.x", "server.<number>");
    expect_error("dataDir=/d\nclientPort=1\ndynamicConfigFile=/nonexistent/zoo.cfg.dynamic\n",
                 CONFIG_ERR_IO, "/nonexistent/zoo.cfg.dynamic: cannot open", "No such file");
}

static void test_malformed(void)
{
    expect_error("dataDir=/d\ntickTime=abc\nclientPort=1\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:2:", "tickTime");
    expect_error("dataDir=/d\nclientPort=70000\n", CONFIG_ERR_VALUE, "zoo.cfg:2:", "clientPort");
    expect_error("dataDir=/d\nclientPort=-1\n", CONFIG_ERR_VALUE, "zoo.cfg:2:", "clientPort");
    expect_error("# c\n\ndataDir=/d\nclientPort=1\nmaxClientCnxns=-3\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:5:", "maxClientCnxns");
    expect_error("dataDir=/d\nclientPort=1\ntickTime=0\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3:", "tickTime");
    expect_error("dataDir=/d\nclientPort=1\ntickTime=99999999999\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3:", "tickTime");
    expect_error("dataDir=/d\nclientPort=1\njute.maxbuffer=0x\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3:", "jute.maxbuffer");
    expect_error("dataDir=/d\nclientPort=1\njute.maxbuffer=-5\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3:", "jute.maxbuffer");
    expect_error("dataDir=/d\nclientPort=1\nglobalOutstandingLimit=-1\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3:", "globalOutstandingLimit");
    expect_error("dataDir=/d\nclientPort=1\nminSessionTimeout=9000\nmaxSessionTimeout=8000\n",
                 CONFIG_ERR_VALUE, "zoo.cfg:3:", "minSessionTimeout");
    expect_error("dataDir=/d\nclientPort=1\nclientPortAddress=\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3:", "clientPortAddress");
    expect_error("dataDir=/d\nclientPort=1\ndataLogDir=\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3:", "dataLogDir");
    expect_error("dataDir=/tmp/\\u00zz\nclientPort=1\n", CONFIG_ERR_VALUE, "zoo.cfg:1:", "dataDir");
    expect_error("clientPort=1\n", CONFIG_ERR_MISSING, "zoo.cfg", "dataDir");
    expect_error("dataDir=/d\n", CONFIG_ERR_MISSING, "zoo.cfg", "clientPort");
    expect_error("dataDir=/d\nclientPortAddress=127.0.0.1\n", CONFIG_ERR_MISSING,
                 "zoo.cfg:2:", "clientPort");

    struct node_config cfg;
    char err[256];
    CHECK_EQ_INT(config_parse_file("/nonexistent/czk/zoo.cfg", &cfg, err, sizeof(err)),
                 CONFIG_ERR_IO);
    CHECK(strstr(err, "/nonexistent/czk/zoo.cfg") != NULL);
}

static void test_whitelist(void)
{
    struct node_config cfg;
    char err[256];
    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\n4lw.commands.whitelist=ruok, mntr ,, \n", &cfg,
                       err, sizeof(err)),
                 0);
    CHECK(config_four_letter_enabled(&cfg, FOUR_LETTER_RUOK));
    CHECK(config_four_letter_enabled(&cfg, FOUR_LETTER_MNTR));
    CHECK(config_four_letter_enabled(&cfg, FOUR_LETTER_SRVR)); /* always */
    CHECK(!config_four_letter_enabled(&cfg, FOUR_LETTER_STAT));
    CHECK(!config_four_letter_enabled(&cfg, FOUR_LETTER_TELNET_CLOSE));
    CHECK_EQ_INT(warnings, 0);

    CHECK_EQ_INT(
        parse("dataDir=/d\nclientPort=1\n4lw.commands.whitelist=stat, *\n", &cfg, err, sizeof(err)),
        0);
    for (int i = 0; i < FOUR_LETTER_COUNT; i++)
        CHECK(config_four_letter_enabled(&cfg, i));

    CHECK_EQ_INT(
        parse("dataDir=/d\nclientPort=1\n4lw.commands.whitelist=\n", &cfg, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.four_letter_mask, 1u << FOUR_LETTER_SRVR);

    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\n4lw.commands.whitelist=ruok,xyzw,telnet close\n",
                       &cfg, err, sizeof(err)),
                 0);
    CHECK_EQ_INT(warnings, 1);
    CHECK(strstr(logged, "xyzw") != NULL);
    CHECK(config_four_letter_enabled(&cfg, FOUR_LETTER_TELNET_CLOSE));
    CHECK(!config_four_letter_enabled(&cfg, -1));
    CHECK(!config_four_letter_enabled(&cfg, FOUR_LETTER_COUNT));

    /* The table: every name round-trips, the first 4 bytes select the word. */
    for (int i = 0; i < FOUR_LETTER_COUNT; i++)
        CHECK_EQ_INT(four_letter_from_name(four_letter_name(i), strlen(four_letter_name(i))), i);
    CHECK_EQ_INT(four_letter_lookup((const uint8_t *)"ruok"), FOUR_LETTER_RUOK);
    CHECK_EQ_INT(four_letter_lookup((const uint8_t *)"reqs"), -1);
    CHECK_EQ_INT(four_letter_lookup((const uint8_t *)"\0\0\0\x2d"), -1);
    const uint8_t telnet[4] = {0xff, 0xf4, 0xff, 0xfd};
    CHECK_EQ_INT(four_letter_lookup(telnet), FOUR_LETTER_TELNET_CLOSE);
    CHECK_EQ_INT(four_letter_packets(0), 0);
    CHECK_EQ_INT(four_letter_packets(1), 1);
    CHECK_EQ_INT(four_letter_packets(8192), 1);
    CHECK_EQ_INT(four_letter_packets(8193), 2);
}

/* snapshot.compression.method as SnapStream.StreamMode.fromString reads
 * it: gz and snappy in any case, anything else plain; czk writes gz only. */
static void test_snapshot_compression(void)
{
    struct node_config cfg;
    char err[256];
    const char *base = "tickTime=2000\ndataDir=/tmp/x\nclientPort=2181\n";
    static const struct {
        const char *value;
        int want;
        int warnings;
    } cases[] = {{"gz", 1, 0}, {"GZ", 1, 0}, {"snappy", 0, 1}, {"", 0, 0}, {"zip", 0, 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "%ssnapshot.compression.method=%s\n", base, cases[i].value);
        CHECK_EQ_INT(parse(text, &cfg, err, sizeof(err)), 0);
        CHECK_EQ_INT(cfg.snap_compression, cases[i].want);
        CHECK_EQ_INT(warnings, cases[i].warnings);
    }
    CHECK_EQ_INT(parse(base, &cfg, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.snap_compression, 0);
}

/* server.N lines through the membership module, with the file's line;
 * the ensemble keys with ZooKeeper's defaults and checks. */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_ensemble_keys(void)
{
    struct node_config cfg;
    char err[512];
    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\nserver.5=[::1]:2888:3888:participant;127.1:2181\n"
                       "version=1f\ninitLimit=7\nsyncLimit=3\ncnxTimeout=100\n"
                       "electionPortBindRetry=0\nquorumListenOnAllIPs=TRUE\npeerType=Observer\n"
                       "readonlymode.enabled=true\nlocalSessionsEnabled=true\n"
                       "localSessionsUpgradingEnabled=TRUE\nczk.zxidCounterStart=fffffff0\n"
                       "observerMasterPort=2191\n",
                       &cfg, err, sizeof(err)),
                 0);
    CHECK_EQ_INT(cfg.observer_master_port, 2191);
    CHECK_EQ_INT(cfg.member_count, 1);
    CHECK_EQ_INT(cfg.members[0].sid, 5);
    CHECK(strcmp(cfg.members[0].quorum.host, "0:0:0:0:0:0:0:1") == 0);
    CHECK_EQ_INT(cfg.members[0].election.port, 3888);
    CHECK(cfg.members[0].has_client && strcmp(cfg.members[0].client.host, "127.0.0.1") == 0);
    CHECK_EQ_INT(cfg.config_version, 0x1f);
    CHECK_EQ_INT(cfg.init_limit, 7);
    CHECK_EQ_INT(cfg.sync_limit, 3);
    CHECK_EQ_INT(cfg.cnx_timeout_ms, 100);
    CHECK_EQ_INT(cfg.election_port_bind_retry, 0);
    CHECK(cfg.quorum_listen_on_all_ips);
    CHECK(cfg.read_only_enabled);
    CHECK(cfg.local_sessions_enabled && cfg.local_sessions_upgrading_enabled);
    CHECK_EQ_INT(cfg.zxid_counter_start, 0xfffffff0);
    CHECK_EQ_INT(cfg.peer_type, MEMBER_OBSERVER);
    struct membership m;
    config_membership(&cfg, &m);
    struct buf text;
    buf_init(&text);
    membership_format(&m, &text);
    const char *want =
        "server.5=[0:0:0:0:0:0:0:1]:2888:3888:participant;127.0.0.1:2181\nversion=1f";
    CHECK(text.len == strlen(want) && memcmp(text.data, want, text.len) == 0);
    buf_deinit(&text);
    membership_deinit(&m);

    /* a malformed value is reported with Apache's words and the line */
    expect_error("dataDir=/d\nclientPort=1\nserver.1=127.0.0.1:2888\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: server.1: 127.0.0.1:2888 does not have the form", "host:port:port");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:2888:2888\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: server.1:", "Client and election port must be different");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:2888:3888:voter\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: server.1:", "Unrecognised peertype: voter");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:2888:70000\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: server.1:", "port out of range:70000");
    /* Properties keeps a value's trailing blank, and so does QuorumMaj */
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:2888:3888 \n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: server.1:", "Address unresolved: a:3888 ");
    expect_error("dataDir=/d\nclientPort=1\npeerType=voter\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: peerType", "Unrecognised peertype: voter");
    expect_error("dataDir=/d\nclientPort=1\nquorumListenOnAllIPs=yes\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: quorumListenOnAllIPs", "Choose 'true' or 'false.'");
    expect_error("dataDir=/d\nclientPort=1\nczk.zxidCounterStart=ffffffff\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: czk.zxidCounterStart", "from 1 to fffffffe");
    expect_error("dataDir=/d\nclientPort=1\nobserverMasterPort=70000\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: observerMasterPort", "1-65535");
    expect_error("dataDir=/d\nclientPort=1\nobserverMasterPort=x\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: observerMasterPort", "not an integer");
    /* QuorumPeerConfig: 0 or less is off */
    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\nobserverMasterPort=-5\n", &cfg, err, sizeof(err)),
                 0);
    CHECK_EQ_INT(cfg.observer_master_port, 0);
    expect_error("dataDir=/d\nclientPort=1\nreadonlymode.enabled=1\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: readonlymode.enabled", "Choose 'true' or 'false.'");
    expect_error("dataDir=/d\nclientPort=1\ninitLimit=ten\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:3: initLimit", "not an integer");
    expect_error("dataDir=/d\nclientPort=1\nversion=xyz\n", CONFIG_ERR_VALUE, "zoo.cfg:3: version",
                 "hex");
    /* server.1 and server.01 are one sid: the later value, one voter */
    CHECK_EQ_INT(parse("dataDir=/d\nclientPort=1\nserver.1=a:1:2\nserver.01=b:1:2\n", &cfg, err,
                       sizeof(err)),
                 0);
    CHECK_EQ_INT(cfg.member_count, 1);
    CHECK(strcmp(cfg.members[0].quorum.host, "b") == 0);
    /* group.N / weight.N: hierarchical, with defaults; errors name the line.
     * Two voters make an ensemble member: read as czk-server reads it. */
    char dir[] = "/tmp/czk-test-config-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof(path), "%s/zoo.cfg", dir);
    write_file(path, "dataDir=/d\nclientPort=1\nserver.1=a:1:2\nserver.2=b:1:2\n"
                     "group.7=1:2\nweight.2=3\ninitLimit=5\nsyncLimit=2\n");
    CHECK_EQ_INT(config_parse_file_ensemble(path, &cfg, err, sizeof(err)), 0);
    CHECK(unlink(path) == 0 && rmdir(dir) == 0);
    CHECK(cfg.hierarchical);
    CHECK_EQ_INT(cfg.group_keys, 1);
    CHECK_EQ_INT(cfg.group_count, 2);
    CHECK_EQ_INT(cfg.weight_count, 2);
    config_membership(&cfg, &m);
    CHECK(m.hierarchical);
    CHECK_EQ_INT(membership_weight(&m, 1), 1);
    CHECK_EQ_INT(membership_weight(&m, 2), 3);
    buf_init(&text);
    membership_format(&m, &text);
    want = "server.1=a:1:2:participant\nserver.2=b:1:2:participant\ngroup.7=1:2\n"
           "weight.1=1\nweight.2=3\nversion=0";
    CHECK(text.len == strlen(want) && memcmp(text.data, want, text.len) == 0);
    buf_deinit(&text);
    membership_deinit(&m);
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:1:2\nserver.2=b:1:2\ngroup.1=1\n",
                 CONFIG_ERR_VALUE, "zoo.cfg:5: group/weight:", "Server 2 is not in a group");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:1:2\ngroup.x=1\n", CONFIG_ERR_VALUE,
                 "zoo.cfg:4: group.x", "expected group.<number>");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:1:2\ngroup.1=1\nweight.1=heavy\n",
                 CONFIG_ERR_VALUE, "zoo.cfg:5: weight.1", "'heavy' is not a number");
    /* electionPortBindRetry as Integer.getInteger: bad or negative is 3 */
    CHECK_EQ_INT(
        parse("dataDir=/d\nclientPort=1\nelectionPortBindRetry=-2\n", &cfg, err, sizeof(err)), 0);
    CHECK_EQ_INT(cfg.election_port_bind_retry, 3);
}

/* dynamicConfigFile as QuorumPeerConfig.parse reads it (a scratch dir):
 * the membership from that file, its version from the file's name. */
static void test_dynamic_config_file(void)
{
    char dir[] = "/tmp/czk-test-dynamic-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char cfg_path[128], dyn_path[128], text[512], err[512];
    snprintf(cfg_path, sizeof(cfg_path), "%s/zoo.cfg", dir);
    snprintf(dyn_path, sizeof(dyn_path), "%s/zoo.cfg.dynamic.100000000", dir);
    struct node_config cfg;
    /* as Apache 3.8 rewrites zoo.cfg once reconfigEnabled=true has run */
    snprintf(text, sizeof(text),
             "dataDir=/d\nclientPort=1\ninitLimit=5\nsyncLimit=2\nversion=7\n"
             "dynamicConfigFile=%s\n",
             dyn_path);
    write_file(cfg_path, text);
    write_file(dyn_path, "server.1=a:1:2:participant\nserver.2=b:1:2:participant\n"
                         "server.3=c:1:2:observer\nother=ignored");
    CHECK_EQ_INT(config_parse_file_ensemble(cfg_path, &cfg, err, sizeof(err)), 0);
    CHECK(cfg.replicated);
    CHECK_EQ_INT(cfg.member_count, 3);
    CHECK_EQ_INT(cfg.members[2].role, MEMBER_OBSERVER);
    CHECK(cfg.config_version == 0x100000000LL);
    CHECK(strcmp(cfg.dynamic_config_file, dyn_path) == 0);
    /* version= inside the dynamic file: refused, naming its line */
    write_file(dyn_path, "server.1=a:1:2\nserver.2=b:1:2\nversion=100000000\n");
    CHECK_EQ_INT(config_parse_file_ensemble(cfg_path, &cfg, err, sizeof(err)), CONFIG_ERR_VALUE);
    CHECK(strstr(err, "zoo.cfg.dynamic.100000000:3: dynamic file shouldn't have version inside"));
    /* errors in its lines name the dynamic file */
    write_file(dyn_path, "server.1=a:1:2\nserver.2=b:1\n");
    CHECK_EQ_INT(config_parse_file_ensemble(cfg_path, &cfg, err, sizeof(err)), CONFIG_ERR_VALUE);
    CHECK(strstr(err, "zoo.cfg.dynamic.100000000:2: server.2"));
    write_file(dyn_path, "server.1=a:1:2\nserver.2=b:1:2\ngroup.1=1\n");
    CHECK_EQ_INT(config_parse_file_ensemble(cfg_path, &cfg, err, sizeof(err)), CONFIG_ERR_VALUE);
    CHECK(strstr(err, "zoo.cfg.dynamic.100000000:3: group/weight: Server 2 is not in a group"));
    /* membership keys beside dynamicConfigFile in zoo.cfg: refused */
    snprintf(text, sizeof(text), "dataDir=/d\nclientPort=1\ndynamicConfigFile=%s\nserver.1=a:1:2\n",
             dyn_path);
    write_file(cfg_path, text);
    CHECK_EQ_INT(config_parse_file_ensemble(cfg_path, &cfg, err, sizeof(err)), CONFIG_ERR_VALUE);
    CHECK(strstr(err, "zoo.cfg:4: parameter: server.1 must be in a separate dynamic config file"));
    /* no version in the name: 0; one voter: standalone */
    char plain[128];
    snprintf(plain, sizeof(plain), "%s/zoo.cfg.dynamic", dir);
    write_file(plain, "server.1=a:1:2\n");
    snprintf(text, sizeof(text), "dataDir=/d\nclientPort=1\nversion=5\ndynamicConfigFile=%s\n",
             plain);
    write_file(cfg_path, text);
    CHECK_EQ_INT(config_parse_file(cfg_path, &cfg, err, sizeof(err)), 0);
    CHECK(!cfg.replicated);
    CHECK_EQ_INT(cfg.member_count, 1);
    CHECK(cfg.config_version == 0);
    CHECK(unlink(plain) == 0 && unlink(dyn_path) == 0 && unlink(cfg_path) == 0 && rmdir(dir) == 0);
}

static bool file_is(const char *path, const char *want)
{
    char got[1024];
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    fclose(f);
    got[n] = '\0';
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "%s holds \"%s\", want \"%s\"\n", path, got, want);
        return false;
    }
    return true;
}

/* reconfigEnabled's files as Apache writes them (their bytes checked
 * against Apache 3.8's in test_migration.py). */
static void test_dynamic_config_write(void)
{
    char dir[] = "/tmp/czk-test-dynwrite-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char cfg_path[128], path[192], want[512], err[512];
    snprintf(cfg_path, sizeof(cfg_path), "%s/zoo.cfg", dir);
    const char *orig = "tickTime=500\ndataDir=/d\nclientPort=1\ninitLimit=5\nsyncLimit=2\n"
                       "server.2=b:1:2\nserver.1=a:1:2\nserver.3=c:1:2:observer\n"
                       "peerType=participant\nreconfigEnabled=true\n";
    write_file(cfg_path, orig);
    struct node_config cfg;
    CHECK_EQ_INT(config_parse_file_ensemble(cfg_path, &cfg, err, sizeof(err)), 0);
    CHECK(cfg.reconfig_enabled);
    CHECK_EQ_INT(config_backup(&cfg, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s.bak", cfg_path);
    CHECK(file_is(path, orig));
    struct membership m;
    config_membership(&cfg, &m);
    m.version = 0x100000000LL;
    CHECK_EQ_INT(config_write_dynamic(&cfg, &m, 1, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s.dynamic.100000000", cfg_path);
    CHECK(strcmp(cfg.dynamic_config_file, path) == 0);
    CHECK(file_is(path, "server.1=a:1:2:participant\nserver.2=b:1:2:participant\n"
                        "server.3=c:1:2:observer"));
    /* Apache 3.8's QuorumPeerConfig.editStaticConfig on the same file
     * writes java.util.Properties' order (hash bins), not the file's */
    snprintf(want, sizeof(want),
             "dataDir=/d\ntickTime=500\nclientPort=1\ninitLimit=5\nsyncLimit=2\n"
             "reconfigEnabled=true\ndynamicConfigFile=%s\n",
             path);
    CHECK(file_is(cfg_path, want));
    /* read back: the same servers, the version from the name */
    struct node_config again;
    CHECK_EQ_INT(config_parse_file_ensemble(cfg_path, &again, err, sizeof(err)), 0);
    struct membership m2;
    config_membership(&again, &m2);
    CHECK(membership_same(&m, &m2));
    CHECK(m2.version == 0x100000000LL);
    m2.members[0].role = MEMBER_OBSERVER;
    CHECK(!membership_same(&m, &m2));
    membership_deinit(&m);
    membership_deinit(&m2);
    remove(path);

    /* A member whose server.N line names its client address: zoo.cfg loses
     * its clientPort* keys (needEraseClientInfoFromStaticConfig), and the
     * member's client port comes from the line (setupClientPort). */
    const char *with_client = "tickTime=500\ndataDir=/d\nclientPort=1\nclientPortAddress=a\n"
                              "initLimit=5\nsyncLimit=2\nserver.1=a:1:2;a:7\nserver.2=b:1:2\n"
                              "reconfigEnabled=true\n";
    write_file(cfg_path, with_client);
    CHECK_EQ_INT(config_parse_file_ensemble(cfg_path, &cfg, err, sizeof(err)), 0);
    config_membership(&cfg, &m);
    m.version = 0x200000000LL;
    CHECK_EQ_INT(config_write_dynamic(&cfg, &m, 1, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s.dynamic.200000000", cfg_path);
    snprintf(want, sizeof(want),
             "dataDir=/d\ntickTime=500\ninitLimit=5\nsyncLimit=2\nreconfigEnabled=true\n"
             "dynamicConfigFile=%s\n",
             path);
    CHECK(file_is(cfg_path, want));
    CHECK_EQ_INT(config_parse_file_ensemble(cfg_path, &again, err, sizeof(err)), 0);
    CHECK_EQ_INT(again.client_port, 0);
    CHECK_EQ_INT(config_member_client_port(&again, 1, err, sizeof(err)), 0);
    CHECK(again.client_port == 7 && strcmp(again.client_port_address, "a") == 0);
    /* server.2 names none, and clientPort is gone: a clear error */
    CHECK_EQ_INT(config_parse_file_ensemble(cfg_path, &again, err, sizeof(err)), 0);
    CHECK_EQ_INT(config_member_client_port(&again, 2, err, sizeof(err)), CONFIG_ERR_MISSING);
    CHECK(strstr(err, "clientPort is not set") != NULL);
    /* member 2's own rewrite keeps clientPort (its line has no client) */
    write_file(cfg_path, with_client);
    CHECK_EQ_INT(config_write_dynamic(&cfg, &m, 2, err, sizeof(err)), 0);
    snprintf(want, sizeof(want),
             "dataDir=/d\ntickTime=500\nclientPort=1\ninitLimit=5\nsyncLimit=2\n"
             "reconfigEnabled=true\nclientPortAddress=a\ndynamicConfigFile=%s\n",
             path);
    CHECK(file_is(cfg_path, want));
    membership_deinit(&m);
    remove(path);

    /* Thirty keys (the table doubles once, bins split) and a key given
     * twice (its first place, its last value): Apache's bytes, got from
     * editStaticConfig on this file */
    const char *big =
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/var/lib/zookeeper\n"
        "dataLogDir=/var/log/zookeeper\nclientPort=2181\nclientPortAddress=127.0.0.1\n"
        "maxClientCnxns=60\nminSessionTimeout=4000\nmaxSessionTimeout=40000\n"
        "autopurge.snapRetainCount=3\nautopurge.purgeInterval=1\n4lw.commands.whitelist=*\n"
        "admin.enableServer=false\nadmin.serverPort=8080\nreconfigEnabled=true\n"
        "standaloneEnabled=false\nsnapCount=100000\npreAllocSize=65536\n"
        "globalOutstandingLimit=1000\nelectionPortBindRetry=3\ncnxTimeout=5000\n"
        "quorumListenOnAllIPs=false\nlocalSessionsEnabled=false\n"
        "localSessionsUpgradingEnabled=false\nforceSync=yes\nskipACL=no\nsyncEnabled=true\n"
        "metricsProvider.className=org.apache.zookeeper.metrics.impl.DefaultMetricsProvider\n"
        "jute.maxbuffer=1048575\nserver.1=127.0.0.1:2888:3888;2181\n"
        "server.2=127.0.0.1:2889:3889;2182\ntickTime=3000\n";
    write_file(cfg_path, big);
    CHECK_EQ_INT(config_parse_file_ensemble(cfg_path, &cfg, err, sizeof(err)), 0);
    config_membership(&cfg, &m);
    m.version = 0x200000000LL;
    CHECK_EQ_INT(config_write_dynamic(&cfg, &m, 1, err, sizeof(err)), 0);
    char want_big[2048];
    snprintf(want_big, sizeof(want_big),
             "dataDir=/var/lib/zookeeper\n4lw.commands.whitelist=*\nsyncLimit=5\n"
             "electionPortBindRetry=3\nsyncEnabled=true\nstandaloneEnabled=false\n"
             "admin.enableServer=false\n"
             "metricsProvider.className=org.apache.zookeeper.metrics.impl.DefaultMetricsProvider\n"
             "initLimit=10\nminSessionTimeout=4000\nsnapCount=100000\nadmin.serverPort=8080\n"
             "autopurge.purgeInterval=1\nlocalSessionsUpgradingEnabled=false\n"
             "maxSessionTimeout=40000\nglobalOutstandingLimit=1000\n"
             "dataLogDir=/var/log/zookeeper\njute.maxbuffer=1048575\nreconfigEnabled=true\n"
             "forceSync=yes\nskipACL=no\nautopurge.snapRetainCount=3\ncnxTimeout=5000\n"
             "tickTime=3000\nlocalSessionsEnabled=false\nquorumListenOnAllIPs=false\n"
             "preAllocSize=65536\nmaxClientCnxns=60\ndynamicConfigFile=%s\n",
             path);
    CHECK(file_is(cfg_path, want_big));
    membership_deinit(&m);
    remove(path);
    snprintf(path, sizeof(path), "%s.bak", cfg_path);
    remove(path);
    remove(cfg_path);
    CHECK(rmdir(dir) == 0);
}

/* dataDir/myid as QuorumPeerConfig.setupMyId reads it (a scratch dir). */
static void test_myid(void)
{
    char dir[] = "/tmp/czk-test-myid-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/myid", dir);
    char err[512];
    int64_t sid = -1;
    CHECK_EQ_INT(config_read_myid(dir, &sid, err, sizeof(err)), CONFIG_ERR_MISSING);
    CHECK(strstr(err, "/myid: myid file is missing") != NULL);
    write_file(path, "3\n");
    CHECK_EQ_INT(config_read_myid(dir, &sid, err, sizeof(err)), 0);
    CHECK_EQ_INT(sid, 3);
    write_file(path, "42\r\nignored\n");
    CHECK_EQ_INT(config_read_myid(dir, &sid, err, sizeof(err)), 0);
    CHECK_EQ_INT(sid, 42);
    write_file(path, "+7");
    CHECK_EQ_INT(config_read_myid(dir, &sid, err, sizeof(err)), 0);
    CHECK_EQ_INT(sid, 7);
    write_file(path, " 3\n");
    CHECK_EQ_INT(config_read_myid(dir, &sid, err, sizeof(err)), CONFIG_ERR_VALUE);
    CHECK(strstr(err, "/myid: serverid  3 is not a number") != NULL);
    write_file(path, "");
    CHECK_EQ_INT(config_read_myid(dir, &sid, err, sizeof(err)), CONFIG_ERR_VALUE);
    CHECK(strstr(err, "serverid null is not a number") != NULL);
    remove(path);
    remove(dir);
}

int main(void)
{
    log_set_sink(capture);
    log_set_level(LOG_DEBUG);
    test_defaults();
    test_good_file();
    test_unknown_keys();
    test_ensemble_refused();
    test_dynamic_config_file();
    test_dynamic_config_write();
    test_snapshot_compression();
    test_malformed();
    test_whitelist();
    test_ensemble_keys();
    test_myid();
    log_set_sink(NULL);
    return check_result("test_config");
}
