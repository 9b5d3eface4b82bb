/* SPDX-License-Identifier: Apache-2.0 */
/* zoo.cfg is read as java.util.Properties reads it (Properties.load: logical
 * lines, '#'/'!' comments, '=' ':' or whitespace separators, backslash
 * escapes), then each key is checked as QuorumPeerConfig.parseProperties
 * does, with the difference that a malformed value is reported with its line. */
#include "node/config.h"

#include "base/buf.h"
#include "base/hmap.h"
#include "base/log.h"
#include "base/mem.h"
#include "node/config_int.h"
#include "node/four_letter.h"
#include "proto/proto.h"
#include "zab/membership.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char config_embedded_default[] =
    "# czk-server's built-in configuration (as conf/zoo_sample.cfg)\n"
    "tickTime=2000\n"
    "dataDir=./data\n"
    "clientPort=2181\n";

/* Keys of ZooKeeper 3.8/3.9 that czk accepts and does not act on yet
 * (QuorumPeerConfig, ZooKeeperServer, ServerCnxnFactory and the
 * "zookeeper.<key>" system properties that zoo.cfg can set; zookeeperAdmin.md). */
static const char *const config_known_keys[] = {
    "connectToLearnerMasterLimit",
    "electionAlg",
    "syncEnabled",
    "sslQuorum",
    "portUnification",
    "sslQuorumReloadCertFiles",
    "quorum.cnxn.threads.size",
    "oraclePath",
    "secureClientPort",
    "secureClientPortAddress",
    "clientPortListenBacklog",
    "snapSizeLimitInKb",
    "txnLogSizeLimitInKb",
    "commitLogCount",
    "fsync.warningthresholdms",
    "maxResponseCacheSize",
    "maxGetChildrenResponseCacheSize",
    "emulate353TTLNodes",
    "watchManagerName",
    "watcherCleanThreadsNum",
    "watcherCleanThreshold",
    "watcherCleanIntervalInSeconds",
    "maxInProcessingDeadWatchers",
    "bitHashCacheSize",
    "connectionMaxTokens",
    "connectionTokenFillTime",
    "connectionTokenFillCount",
    "connectionFreezeTime",
    "connectionDropIncrease",
    "connectionDropDecrease",
    "connectionDecreaseRatio",
    "serverCnxnFactory",
    "flushDelay",
    "maxWriteQueuePollTime",
    "maxBatchSize",
    "enforceQuota",
    "requestThrottleLimit",
    "requestThrottleStallTime",
    "requestThrottleDropStale",
    "requestStaleLatencyCheck",
    "requestStaleConnectionCheck",
    "advancedFlowControlEnabled",
    "enableEagerACLCheck",
    "maxConcurrentSnapSyncs",
    "maxConcurrentDiffSyncs",
    "largeRequestMaxBytes",
    "largeRequestThreshold",
    "outstandingHandshake.limit",
    "throttledOpWaitTime",
    "forward_learner_requests_to_commit_processor_disabled",
    "maxTimeToWaitForEpoch",
    "leaderServes",
    "quorumCnxnTimeoutMs",
    "tcpKeepAlive",
    "clientTcpKeepAlive",
    "sessionRequireClientSASLAuth",
    "client.certReload",
    "client.portUnification",
    "skipACL",
    "fips-mode",
    "closeSessionTxn.enabled",
    "jute.maxbuffer.extrasize",
    "intBufferStartingSizeBytes",
};

/* Families of such keys, by prefix. */
static const char *const config_known_prefixes[] = {
    "autopurge.",
    "admin.",
    "ssl.",
    "metricsProvider.",
    "authProvider.",
    "quorum.auth.",
    "kerberos.",
    "enforce.auth.",
    "multiAddress.",
    "snapshot.",
    "digest.",
    "audit.",
    "jvm.pause.",
    "fastleader.",
    "znode.container.",
    "netty.",
    "nio.",
    "learner.",
    "leader.",
    "observer.",
    "follower.",
    "commitProcessor.",
    "request_throttler.",
    "connection_throttle_",
    "messageTracker.",
    "serializeLastProcessedZxid.",
    "DigestAuthenticationProvider.",
    "IPAuthenticationProvider.",
    "X509AuthenticationProvider.",
    "zookeeper.",
};

void config_defaults(struct node_config *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->source, sizeof(out->source), "%s", "<defaults>");
    out->tick_time_ms = 3000;
    out->client_port = 0;
    out->max_client_cnxns = 60;
    out->min_session_timeout_ms = -1;
    out->max_session_timeout_ms = -1;
    out->global_outstanding_limit = 1000;
    out->max_buffer = ZK_MAX_BUFFER_DEFAULT;
    out->four_letter_mask = 1u << FOUR_LETTER_SRVR;
    out->sessionless_timeout_ms = 10000;
    out->output_pause_bytes = (size_t)1 << 20;
    out->output_limit_bytes = (size_t)64 << 20;
    out->container_check_interval_ms = 60000;
    out->container_max_per_minute = 10000;
    out->snap_count = 100000;
    out->prealloc_bytes = (int64_t)65536 * 1024;
    out->force_sync = true;
    out->snap_retain_count = 3;
    out->purge_interval_hours = 0;
    out->cnx_timeout_ms = 5000;
    out->election_port_bind_retry = 3;
    out->peer_type = MEMBER_PARTICIPANT;
}

bool config_four_letter_enabled(const struct node_config *cfg, int cmd)
{
    if (cmd < 0 || cmd >= FOUR_LETTER_COUNT)
        return false;
    return (cfg->four_letter_mask >> cmd) & 1u;
}

/* ---- values ---- */

/* Integer.parseInt: optional sign, decimal digits, 32-bit range. */
static bool parse_int32(const char *s, int32_t *out)
{
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!*s)
        return false;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
        if (v > (int64_t)INT32_MAX + 1)
            return false;
    }
    if (neg)
        v = -v;
    if (v > INT32_MAX || v < INT32_MIN)
        return false;
    *out = (int32_t)v;
    return true;
}

/* Integer.decode (how Java reads -Djute.maxbuffer): sign, then 0x/0X/# hex,
 * a leading 0 octal, or decimal. */
static bool parse_decode_int32(const char *s, int32_t *out)
{
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '#') {
        base = 16;
        s += 1;
    } else if (s[0] == '0' && s[1]) {
        base = 8;
        s += 1;
    }
    if (!*s || *s == '+' || *s == '-')
        return false;
    int64_t v = 0;
    for (; *s; s++) {
        int d = config__hex_digit(*s);
        if (d < 0 || d >= base)
            return false;
        v = v * base + d;
        if (v > (int64_t)INT32_MAX + 1)
            return false;
    }
    if (neg)
        v = -v;
    if (v > INT32_MAX || v < INT32_MIN)
        return false;
    *out = (int32_t)v;
    return true;
}

static int int_key(struct config_parser *p, const struct config_entry *e, int32_t min, int32_t max,
                   const char *expect, int32_t *out)
{
    int32_t v;
    if (!parse_int32(e->value, &v))
        return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: '%s' is not an integer", e->line, e->key,
                            e->value);
    if (v < min || v > max)
        return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: %s is out of range (%s)", e->line,
                            e->key, e->value, expect);
    *out = v;
    return 0;
}

static int path_key(struct config_parser *p, const struct config_entry *e, char *out, size_t size)
{
    size_t len = strlen(e->value);
    if (len == 0)
        return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: empty path", e->line, e->key);
    if (len >= size)
        return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: path longer than %zu bytes", e->line,
                            e->key, size - 1);
    memcpy(out, e->value, len + 1);
    return 0;
}

static void whitelist_key(struct config_parser *p, const struct config_entry *e,
                          struct node_config *out)
{
    uint32_t mask = 0;
    const char *s = e->value;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *word = s;
        config__trim(&word, &len);
        if (len == 1 && word[0] == '*') {
            mask = FOUR_LETTER_MASK_ALL;
            break;
        }
        if (len) {
            int cmd = four_letter_from_name(word, len);
            if (cmd >= 0)
                mask |= 1u << cmd;
            else
                LOG_W("%s:%d: %s: unknown four-letter word '%.*s' ignored", p->source, e->line,
                      e->key, (int)len, word);
        }
        if (!comma)
            break;
        s = comma + 1;
    }
    /* FourLetterCommands.isEnabled: zkServer.sh needs srvr, so it is always on. */
    out->four_letter_mask = mask | 1u << FOUR_LETTER_SRVR;
}

/* QuorumPeerConfig.parseBoolean: "true" or "false" in any case. */
static int bool_key(struct config_parser *p, const struct config_entry *e, bool *out)
{
    if (strcasecmp(e->value, "true") == 0)
        *out = true;
    else if (strcasecmp(e->value, "false") == 0)
        *out = false;
    else
        return config__fail(p, CONFIG_ERR_VALUE,
                            ":%d: %s: Invalid option %s for %s. Choose 'true' or 'false.'", e->line,
                            e->key, e->value, e->key);
    return 0;
}

/* Long.parseLong(s, 16) */
static bool parse_hex_int64(const char *s, int64_t *out)
{
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!*s)
        return false;
    uint64_t v = 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s; s++) {
        int d = config__hex_digit(*s);
        if (d < 0 || v > (limit - (uint64_t)d) / 16)
            return false;
        v = v * 16 + (uint64_t)d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static bool is_known_unimplemented(const char *key)
{
    for (size_t i = 0; i < sizeof(config_known_keys) / sizeof(config_known_keys[0]); i++)
        if (strcmp(key, config_known_keys[i]) == 0)
            return true;
    for (size_t i = 0; i < sizeof(config_known_prefixes) / sizeof(config_known_prefixes[0]); i++)
        if (strncmp(key, config_known_prefixes[i], strlen(config_known_prefixes[i])) == 0)
            return true;
    return false;
}

/* Line numbers of the keys that later checks name. */
struct config_lines {
    int client_port;
    int client_port_address;
    int min_session_timeout;
    int max_session_timeout;
    /* The ensemble: server.N lines, how many vote (not ":observer"), the
     * first such line, standaloneEnabled and dynamicConfigFile. */
    int servers;
    int participants;
    int first_server;
    bool standalone_disabled;
    int standalone_enabled;
    /* group* and weight* keys (QuorumHierarchical), read into a scratch
     * membership that membership_finish checks once the servers are in */
    struct membership quorum;
    int first_quorum_key;
    int dynamic_config_file;
    /* the file the server.N, group and weight lines came from: the
     * dynamicConfigFile when there is one, else NULL (the config's own) */
    const char *servers_source;
    int output_limit;
};

/* A parser that names the file the membership lines came from. */
static struct config_parser servers_parser(const struct config_parser *p,
                                           const struct config_lines *lines)
{
    struct config_parser sp = *p;
    if (lines->servers_source)
        sp.source = lines->servers_source;
    return sp;
}

/* server.N=host:port:port[:participant|observer][;[address:]clientPort]
 * (QuorumPeer.QuorumServer, src/zab/membership.h): N is a number
 * (Long.parseLong) and the value is read untrimmed, as QuorumMaj reads it;
 * an observer does not vote. Two keys naming one sid ("server.1",
 * "server.01") leave the later value, as a HashMap.put. */
static int server_key(struct config_parser *p, const struct config_entry *e,
                      struct node_config *out, struct config_lines *lines)
{
    const char *sid_text = e->key + 7;
    int64_t sid;
    if (membership_sid_parse(sid_text, strlen(sid_text), &sid) < 0)
        return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: expected server.<number>", e->line,
                            e->key);
    struct member m;
    char reason[512];
    if (member_parse(sid, e->raw_value, strlen(e->raw_value), &m, reason, sizeof(reason)) < 0)
        return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: %s", e->line, e->key, reason);
    size_t at = 0;
    while (at < out->member_count && out->members[at].sid != sid)
        at++;
    if (at == out->member_count) {
        if (out->member_count == CONFIG_MEMBERS_MAX)
            return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: more than %d servers", e->line,
                                e->key, CONFIG_MEMBERS_MAX);
        out->member_count++;
    } else {
        lines->servers--;
        if (out->members[at].role == MEMBER_PARTICIPANT)
            lines->participants--;
    }
    out->members[at] = m;
    if (lines->servers++ == 0)
        lines->first_server = e->line;
    if (m.role == MEMBER_PARTICIPANT)
        lines->participants++;
    return 0;
}

/* QuorumPeerConfig.parseDynamicConfig's checks, then QuorumPeerMain's choice:
 * a replicated server when more than one server votes or standaloneEnabled is
 * false (isDistributed). config_parse_file_ensemble accepts that config as
 * an ensemble member's; the other parsers are for a standalone server, and a
 * member that served alone would acknowledge writes its peers never see:
 * they refuse it. */
static int check_standalone(struct config_parser *p, const struct config_lines *lines,
                            struct node_config *out)
{
    int observers = lines->servers - lines->participants;
    if (p->ensemble &&
        (lines->participants > 1 || (lines->participants == 1 && lines->standalone_disabled))) {
        out->replicated = true;
        return 0; /* the caller runs an ensemble member; checkValidity is its business */
    }
    struct config_parser sp = servers_parser(p, lines);
    if (lines->participants == 0 && lines->standalone_disabled)
        return config__fail(p, CONFIG_ERR_VALUE,
                            ":%d: standaloneEnabled=false needs at least one voting server.N",
                            lines->standalone_enabled);
    if (lines->participants == 0 && observers > 0)
        return config__fail(&sp, CONFIG_ERR_VALUE,
                            ":%d: server.N: observers without voting servers are an invalid "
                            "configuration",
                            lines->first_server);
    if (lines->participants > 1)
        return config__fail(&sp, CONFIG_ERR_VALUE,
                            ":%d: server.N: %d voting servers make a replicated ensemble, which "
                            "a standalone server cannot run; refusing to start rather than "
                            "serve writes alone (remove the server.N lines to run standalone)",
                            lines->first_server, lines->participants);
    if (lines->participants == 1 && lines->standalone_disabled)
        return config__fail(p, CONFIG_ERR_VALUE,
                            ":%d: standaloneEnabled=false asks for a replicated server, which "
                            "a standalone server cannot run",
                            lines->standalone_enabled);
    if (lines->participants == 1 && observers > 0)
        return config__fail(&sp, CONFIG_ERR_VALUE,
                            ":%d: server.N: observers without a quorum are an invalid "
                            "configuration",
                            lines->first_server);
    if (lines->participants == 1)
        LOG_I("%s:%d: one voting server and standaloneEnabled: running standalone, as "
              "ZooKeeper does",
              sp.source, lines->first_server);
    return 0;
}

/* group.G=sid:sid... and weight.N=W, as QuorumHierarchical.parse reads them
 * (any key starting with "group" or "weight"; the number after its first
 * dot, Long.parseLong). */
static int quorum_key(struct config_parser *p, const struct config_entry *e,
                      struct config_lines *lines)
{
    const char *dot = strchr(e->key, '.');
    const char *id_text = dot ? dot + 1 : e->key;
    int64_t id;
    if (membership_sid_parse(id_text, strlen(id_text), &id) < 0)
        return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: expected %s.<number>", e->line, e->key,
                            e->key[0] == 'g' ? "group" : "weight");
    if (lines->first_quorum_key == 0)
        lines->first_quorum_key = e->line;
    char reason[256];
    if (e->key[0] == 'g') {
        if (membership_add_group(&lines->quorum, id, e->raw_value, strlen(e->raw_value), reason,
                                 sizeof(reason)) < 0)
            return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: %s", e->line, e->key, reason);
        return 0;
    }
    int64_t w;
    if (membership_sid_parse(e->raw_value, strlen(e->raw_value), &w) < 0)
        return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: '%s' is not a number", e->line, e->key,
                            e->raw_value);
    membership_set_weight(&lines->quorum, id, w);
    return 0;
}

/* After every key: the servers into the scratch membership, then
 * QuorumHierarchical's checks; the result into `out`. */
static int quorum_finish(struct config_parser *p, struct config_lines *lines,
                         struct node_config *out)
{
    if (!lines->quorum.hierarchical)
        return 0;
    for (size_t i = 0; i < out->member_count; i++)
        membership_put(&lines->quorum, &out->members[i]);
    char reason[256];
    struct config_parser sp = servers_parser(p, lines);
    if (membership_finish(&lines->quorum, reason, sizeof(reason)) < 0)
        return config__fail(&sp, CONFIG_ERR_VALUE, ":%d: group/weight: %s", lines->first_quorum_key,
                            reason);
    if (lines->quorum.group_count > CONFIG_MEMBERS_MAX ||
        lines->quorum.weight_count > CONFIG_MEMBERS_MAX)
        return config__fail(&sp, CONFIG_ERR_VALUE, ":%d: group/weight: more than %d entries",
                            lines->first_quorum_key, CONFIG_MEMBERS_MAX);
    out->hierarchical = true;
    out->group_keys = lines->quorum.group_keys;
    out->group_count = lines->quorum.group_count;
    memcpy(out->groups, lines->quorum.groups, out->group_count * sizeof(out->groups[0]));
    out->weight_count = lines->quorum.weight_count;
    memcpy(out->weights, lines->quorum.weights, out->weight_count * sizeof(out->weights[0]));
    return 0;
}

static int apply_entry(struct config_parser *p, const struct config_entry *e,
                       struct node_config *out, struct config_lines *lines)
{
    const char *k = e->key;
    if (strcmp(k, "tickTime") == 0)
        return int_key(p, e, 1, INT32_MAX, "a positive number of milliseconds", &out->tick_time_ms);
    if (strcmp(k, "clientPort") == 0) {
        lines->client_port = e->line;
        return int_key(p, e, 1, 65535, "1-65535", &out->client_port);
    }
    if (strcmp(k, "clientPortAddress") == 0) {
        lines->client_port_address = e->line;
        size_t len = strlen(e->value);
        if (len == 0)
            return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: empty address", e->line, k);
        if (len >= sizeof(out->client_port_address))
            return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: address too long", e->line, k);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)e->value[i] <= ' ')
                return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: '%s' is not an address", e->line,
                                    k, e->value);
        memcpy(out->client_port_address, e->value, len + 1);
        return 0;
    }
    if (strcmp(k, "dataDir") == 0)
        return path_key(p, e, out->data_dir, sizeof(out->data_dir));
    if (strcmp(k, "dataLogDir") == 0)
        return path_key(p, e, out->data_log_dir, sizeof(out->data_log_dir));
    if (strcmp(k, "maxClientCnxns") == 0)
        return int_key(p, e, 0, INT32_MAX, "0 (unlimited) or more", &out->max_client_cnxns);
    if (strcmp(k, "maxCnxns") == 0)
        return int_key(p, e, 0, INT32_MAX, "0 (unlimited) or more", &out->max_cnxns);
    if (strcmp(k, "minSessionTimeout") == 0) {
        lines->min_session_timeout = e->line;
        return int_key(p, e, -1, INT32_MAX, "-1 (2 * tickTime) or more",
                       &out->min_session_timeout_ms);
    }
    if (strcmp(k, "maxSessionTimeout") == 0) {
        lines->max_session_timeout = e->line;
        return int_key(p, e, -1, INT32_MAX, "-1 (20 * tickTime) or more",
                       &out->max_session_timeout_ms);
    }
    if (strcmp(k, "globalOutstandingLimit") == 0)
        return int_key(p, e, 1, INT32_MAX, "1 or more", &out->global_outstanding_limit);
    if (strcmp(k, "nio.sessionlessCnxnTimeout") == 0)
        return int_key(p, e, 1, INT32_MAX, "a positive number of milliseconds",
                       &out->sessionless_timeout_ms);
    if (strcmp(k, "czk.zxidCounterStart") == 0) {
        /* hex, as zxids are written: the counter of an epoch's first txn */
        int64_t v;
        if (!parse_hex_int64(e->value, &v) || v < 1 || v > 0xfffffffeLL)
            return config__fail(p, CONFIG_ERR_VALUE,
                                ":%d: %s: '%s' is not a hex number from 1 to fffffffe", e->line, k,
                                e->value);
        out->zxid_counter_start = v;
        return 0;
    }
    if (strcmp(k, "czk.clientOutputPauseBytes") == 0) {
        int32_t v;
        int rc = int_key(p, e, 1, INT32_MAX, "1 or more bytes", &v);
        if (rc == 0)
            out->output_pause_bytes = (size_t)v;
        return rc;
    }
    if (strcmp(k, "czk.clientOutputMaxBytes") == 0) {
        lines->output_limit = e->line;
        int32_t v;
        int rc = int_key(p, e, 1, INT32_MAX, "1 or more bytes", &v);
        if (rc == 0)
            out->output_limit_bytes = (size_t)v;
        return rc;
    }
    if (strcmp(k, "jute.maxbuffer") == 0) {
        int32_t v;
        if (!parse_decode_int32(e->value, &v))
            return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: '%s' is not an integer", e->line, k,
                                e->value);
        if (v <= 0)
            return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: %s is out of range (1 or more)",
                                e->line, k, e->value);
        out->max_buffer = v;
        return 0;
    }
    if (strcmp(k, "snapCount") == 0)
        return int_key(p, e, 2, INT32_MAX, "2 or more", &out->snap_count);
    if (strcmp(k, "preAllocSize") == 0) {
        int32_t kb;
        int rc = int_key(p, e, 0, INT32_MAX, "0 or more kilobytes", &kb);
        if (rc == 0)
            out->prealloc_bytes = (int64_t)kb * 1024;
        return rc;
    }
    if (strcmp(k, "snapshot.compression.method") == 0) {
        /* SnapStream.StreamMode.fromString: gz, snappy, else none */
        out->snap_compression = 0;
        if (strcasecmp(e->value, "gz") == 0)
            out->snap_compression = 1;
        else if (strcasecmp(e->value, "snappy") == 0)
            LOG_W("%s:%d: %s: czk reads snappy snapshots but writes them uncompressed", p->source,
                  e->line, k);
        else if (e->value[0])
            LOG_W("%s:%d: %s: '%s' is neither gz nor snappy; snapshots are written uncompressed "
                  "(as ZooKeeper does)",
                  p->source, e->line, k, e->value);
        return 0;
    }
    if (strcmp(k, "forceSync") == 0) {
        /* ZooKeeper: anything but "no" (case-insensitive) syncs */
        out->force_sync = strcasecmp(e->value, "no") != 0;
        return 0;
    }
    if (strcmp(k, "autopurge.snapRetainCount") == 0) {
        int32_t v;
        int rc = int_key(p, e, INT32_MIN, INT32_MAX, "a number", &v);
        if (rc < 0)
            return rc;
        if (v < 3) {
            LOG_W("%s:%d: %s: %" PRId32 " is less than the minimum 3; using 3", p->source, e->line,
                  k, v);
            v = 3;
        }
        out->snap_retain_count = v;
        return 0;
    }
    if (strcmp(k, "autopurge.purgeInterval") == 0)
        return int_key(p, e, INT32_MIN, INT32_MAX, "a number of hours", &out->purge_interval_hours);
    if (strcmp(k, "4lw.commands.whitelist") == 0) {
        whitelist_key(p, e, out);
        return 0;
    }
    if (strcmp(k, "enforceQuota") == 0) {
        out->enforce_quota = strcasecmp(e->value, "true") == 0;
        return 0;
    }
    if (strcmp(k, "extendedTypesEnabled") == 0) {
        out->extended_types_enabled = strcasecmp(e->value, "true") == 0;
        return 0;
    }
    if (strcmp(k, "znode.container.checkIntervalMs") == 0)
        return int_key(p, e, 1, INT32_MAX, "a positive number of milliseconds",
                       &out->container_check_interval_ms);
    if (strcmp(k, "znode.container.maxPerMinute") == 0)
        return int_key(p, e, 1, INT32_MAX, "1 or more", &out->container_max_per_minute);
    if (strcmp(k, "znode.container.maxNeverUsedIntervalMs") == 0)
        return int_key(p, e, 0, INT32_MAX, "0 (never) or more milliseconds",
                       &out->container_max_never_used_ms);
    if (strcmp(k, "DigestAuthenticationProvider.superDigest") == 0) {
        size_t len = strlen(e->value);
        if (len >= sizeof(out->super_digest) || !strchr(e->value, ':'))
            return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: expected super:<base64 sha1>",
                                e->line, k);
        memcpy(out->super_digest, e->value, len + 1);
        return 0;
    }
    if (strncmp(k, "server.", 7) == 0)
        return server_key(p, e, out, lines);
    if (strcmp(k, "version") == 0) {
        /* QuorumMaj: the config version, hex (Long.parseLong(value, 16)) */
        int64_t v;
        if (!parse_hex_int64(e->value, &v))
            return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: '%s' is not a hex number", e->line,
                                k, e->value);
        out->config_version = v;
        return 0;
    }
    if (strcmp(k, "initLimit") == 0)
        return int_key(p, e, INT32_MIN, INT32_MAX, "a number of ticks", &out->init_limit);
    if (strcmp(k, "syncLimit") == 0)
        return int_key(p, e, INT32_MIN, INT32_MAX, "a number of ticks", &out->sync_limit);
    if (strcmp(k, "quorumListenOnAllIPs") == 0)
        return bool_key(p, e, &out->quorum_listen_on_all_ips);
    if (strcmp(k, "observerMasterPort") == 0) {
        /* QuorumPeerConfig: Integer.parseInt; 0 or less is off */
        int rc = int_key(p, e, INT32_MIN, 65535, "a port, 1-65535 (0 or less: off)",
                         &out->observer_master_port);
        if (rc == 0 && out->observer_master_port < 0)
            out->observer_master_port = 0;
        return rc;
    }
    if (strcmp(k, "localSessionsEnabled") == 0)
        return bool_key(p, e, &out->local_sessions_enabled);
    if (strcmp(k, "localSessionsUpgradingEnabled") == 0)
        return bool_key(p, e, &out->local_sessions_upgrading_enabled);
    if (strcmp(k, "reconfigEnabled") == 0)
        /* QuorumPeerConfig.parseBoolean */
        return bool_key(p, e, &out->reconfig_enabled);
    if (strcmp(k, "readonlymode.enabled") == 0)
        /* Apache 3.8 reads only the Java system property of that name */
        return bool_key(p, e, &out->read_only_enabled);
    if (strcmp(k, "peerType") == 0) {
        if (strcasecmp(e->value, "observer") == 0)
            out->peer_type = MEMBER_OBSERVER;
        else if (strcasecmp(e->value, "participant") == 0)
            out->peer_type = MEMBER_PARTICIPANT;
        else
            return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: Unrecognised peertype: %s", e->line,
                                k, e->value);
        return 0;
    }
    if (strcmp(k, "cnxTimeout") == 0)
        /* QuorumCnxManager: Integer.parseInt of zookeeper.cnxTimeout */
        return int_key(p, e, 0, INT32_MAX, "0 or more milliseconds", &out->cnx_timeout_ms);
    if (strcmp(k, "electionPortBindRetry") == 0) {
        /* Integer.getInteger: a malformed value is the default; a negative
         * one too, with a message; 0 = retry forever */
        int32_t v;
        if (!parse_decode_int32(e->value, &v) || v < 0) {
            LOG_W("%s:%d: %s: '%s' is not a number >= 0; using 3", p->source, e->line, k, e->value);
            v = 3;
        }
        out->election_port_bind_retry = v;
        return 0;
    }
    if (strcmp(k, "standaloneEnabled") == 0) {
        /* QuorumPeerConfig.parseBoolean: "true" or "false" in any case. */
        lines->standalone_enabled = e->line;
        if (strcasecmp(e->value, "false") == 0)
            lines->standalone_disabled = out->standalone_disabled = true;
        else if (strcasecmp(e->value, "true") != 0)
            return config__fail(p, CONFIG_ERR_VALUE, ":%d: %s: expected true or false", e->line, k);
        return 0;
    }
    if (strcmp(k, "dynamicConfigFile") == 0) {
        lines->dynamic_config_file = e->line;
        return path_key(p, e, out->dynamic_config_file, sizeof(out->dynamic_config_file));
    }
    if (strncmp(k, "group", 5) == 0 || strncmp(k, "weight", 6) == 0)
        return quorum_key(p, e, lines);
    if (is_known_unimplemented(k)) {
        LOG_I("%s:%d: %s is not implemented yet; ignored", p->source, e->line, k);
        return 0;
    }
    LOG_W("%s:%d: unknown key '%s' ignored", p->source, e->line, k);
    return 0;
}

bool config__is_membership_key(const char *key)
{
    return strncmp(key, "server.", 7) == 0 || strncmp(key, "group", 5) == 0 ||
           strncmp(key, "weight", 6) == 0;
}

/* dynamicConfigFile (QuorumPeerConfig.parse): the server.N, group and
 * weight keys come from that file, read as java.util.Properties. It may
 * not hold version=: its name's suffix is the version (the hex after the
 * last '.', as in zoo.cfg.dynamic.100000000; 0 without one). Its other keys
 * are ignored, as QuorumMaj ignores them. A "<config>.dynamic.next" (a
 * reconfiguration Apache had begun) is not read: czk has no reconfig yet. */
static int apply_dynamic(struct config_parser *p, struct node_config *out,
                         struct config_lines *lines)
{
    struct config_parser d = {.source = out->dynamic_config_file,
                              .errmsg = p->errmsg,
                              .errlen = p->errlen,
                              .ensemble = p->ensemble};
    struct buf text;
    buf_init(&text);
    int rc = config__read_file(&d, &text);
    if (rc == 0)
        rc = config__prop_parse(&d, (const char *)text.data, text.len);
    buf_deinit(&text);
    struct smap last;
    smap_init(&last);
    for (size_t i = 0; i < d.count; i++)
        smap_put(&last, d.entries[i].key, strlen(d.entries[i].key), &d.entries[i]);
    lines->servers_source = out->dynamic_config_file;
    for (size_t i = 0; i < d.count && rc == 0; i++) {
        struct config_entry *e = &d.entries[i];
        if (smap_get(&last, e->key, strlen(e->key)) != e)
            continue;
        if (strcmp(e->key, "version") == 0)
            rc = config__fail(&d, CONFIG_ERR_VALUE,
                              ":%d: dynamic file shouldn't have version inside", e->line);
        else if (strncmp(e->key, "server.", 7) == 0)
            rc = server_key(&d, e, out, lines);
        else if (config__is_membership_key(e->key))
            rc = quorum_key(&d, e, lines);
    }
    smap_deinit(&last);
    config__free_entries(&d);
    if (rc)
        return rc;
    const char *dot = strrchr(out->dynamic_config_file, '.');
    int64_t version;
    out->config_version = dot && parse_hex_int64(dot + 1, &version) ? version : 0;
    char next[CONFIG_PATH_MAX + 16];
    snprintf(next, sizeof(next), "%s.dynamic.next", p->source);
    if (access(next, F_OK) == 0)
        LOG_W("%s: a reconfiguration begun and not committed; czk runs on %s (a committed "
              "one comes from the leader)",
              next, out->dynamic_config_file);
    return 0;
}

static int apply_entries(struct config_parser *p, struct node_config *out)
{
    /* Properties keeps the last of duplicate keys. */
    struct smap last;
    smap_init(&last);
    for (size_t i = 0; i < p->count; i++)
        smap_put(&last, p->entries[i].key, strlen(p->entries[i].key), &p->entries[i]);
    struct config_lines lines = {0};
    membership_init(&lines.quorum);
    bool dynamic = smap_get(&last, "dynamicConfigFile", strlen("dynamicConfigFile")) != NULL;
    int rc = 0;
    for (size_t i = 0; i < p->count && rc == 0; i++) {
        struct config_entry *e = &p->entries[i];
        if (smap_get(&last, e->key, strlen(e->key)) != e)
            continue;
        if (dynamic && config__is_membership_key(e->key))
            rc = config__fail(p, CONFIG_ERR_VALUE,
                              ":%d: parameter: %s must be in a separate dynamic config file",
                              e->line, e->key);
        else
            rc = apply_entry(p, e, out, &lines);
    }
    /* the distinct keys of the java.util.Properties Apache reads the file into */
    out->config_props_keys = last.count;
    smap_deinit(&last);
    if (rc == 0 && dynamic)
        rc = apply_dynamic(p, out, &lines);
    if (rc == 0)
        rc = quorum_finish(p, &lines, out);
    membership_deinit(&lines.quorum);
    if (rc == 0)
        rc = check_standalone(p, &lines, out);
    if (rc)
        return rc;

    if (out->data_dir[0] == '\0')
        return config__fail(p, CONFIG_ERR_MISSING, ": dataDir is not set");
    if (out->data_log_dir[0] == '\0')
        memcpy(out->data_log_dir, out->data_dir, sizeof(out->data_log_dir));
    bool client_in_lines = false;
    for (size_t i = 0; i < out->member_count; i++)
        client_in_lines |= out->members[i].has_client;
    /* a member's client address may come from its server.N line
     * (QuorumPeerConfig.setupClientPort, config_member_client_port): Apache
     * rewrites zoo.cfg without clientPort when the lines carry it */
    if (out->client_port == 0 && !(out->replicated && client_in_lines)) {
        if (lines.client_port_address)
            return config__fail(p, CONFIG_ERR_MISSING,
                                ":%d: clientPortAddress is set but clientPort is not set",
                                lines.client_port_address);
        return config__fail(p, CONFIG_ERR_MISSING, ": clientPort is not set");
    }
    int64_t tick = out->tick_time_ms;
    if (out->min_session_timeout_ms == -1)
        out->min_session_timeout_ms = (int32_t)(2 * tick > INT32_MAX ? INT32_MAX : 2 * tick);
    if (out->max_session_timeout_ms == -1)
        out->max_session_timeout_ms = (int32_t)(20 * tick > INT32_MAX ? INT32_MAX : 20 * tick);
    if (out->min_session_timeout_ms > out->max_session_timeout_ms) {
        int line =
            lines.min_session_timeout ? lines.min_session_timeout : lines.max_session_timeout;
        return config__fail(p, CONFIG_ERR_VALUE,
                            ":%d: minSessionTimeout: %" PRId32
                            " must not be larger than maxSessionTimeout (%" PRId32 ")",
                            line, out->min_session_timeout_ms, out->max_session_timeout_ms);
    }
    /* room for the replies a connection may owe when it pauses */
    size_t limit_min = out->output_pause_bytes + (size_t)out->max_buffer * 4;
    if (out->output_limit_bytes < limit_min) {
        if (lines.output_limit)
            LOG_W("%s:%d: czk.clientOutputMaxBytes: %zu is below czk.clientOutputPauseBytes + 4 * "
                  "jute.maxbuffer; using %zu",
                  p->source, lines.output_limit, out->output_limit_bytes, limit_min);
        out->output_limit_bytes = limit_min;
    }
    return 0;
}

static int parse_text(const char *source, const char *text, size_t len, struct node_config *out,
                      bool ensemble, char *errmsg, size_t errlen)
{
    if (errmsg && errlen)
        errmsg[0] = '\0';
    config_defaults(out);
    snprintf(out->source, sizeof(out->source), "%s", source);
    struct config_parser p = {
        .source = source, .errmsg = errmsg, .errlen = errlen, .ensemble = ensemble};
    int rc = config__prop_parse(&p, text, len);
    if (rc == 0)
        rc = apply_entries(&p, out);
    config__free_entries(&p);
    return rc;
}

int config_parse_text(const char *source, const char *text, size_t len, struct node_config *out,
                      char *errmsg, size_t errlen)
{
    return parse_text(source, text, len, out, false, errmsg, errlen);
}

static int parse_file(const char *path, struct node_config *out, bool ensemble, char *errmsg,
                      size_t errlen)
{
    struct config_parser p = {.source = path, .errmsg = errmsg, .errlen = errlen};
    struct buf text;
    buf_init(&text);
    int rc = config__read_file(&p, &text);
    if (rc == 0)
        rc = parse_text(path, (const char *)text.data, text.len, out, ensemble, errmsg, errlen);
    buf_deinit(&text);
    return rc;
}

int config_parse_file(const char *path, struct node_config *out, char *errmsg, size_t errlen)
{
    return parse_file(path, out, false, errmsg, errlen);
}

int config_parse_file_ensemble(const char *path, struct node_config *out, char *errmsg,
                               size_t errlen)
{
    int rc = parse_file(path, out, true, errmsg, errlen);
    if (rc < 0 || out->member_count < 2)
        return rc;
    /* QuorumPeerConfig.checkValidity for a replicated server. */
    struct config_parser p = {.source = path, .errmsg = errmsg, .errlen = errlen};
    if (out->init_limit == 0)
        return config__fail(&p, CONFIG_ERR_MISSING, ": initLimit is not set");
    if (out->sync_limit == 0)
        return config__fail(&p, CONFIG_ERR_MISSING, ": syncLimit is not set");
    return 0;
}

int config_parse_embedded(struct node_config *out, char *errmsg, size_t errlen)
{
    return config_parse_text("<embedded default>", config_embedded_default,
                             sizeof(config_embedded_default) - 1, out, errmsg, errlen);
}

void config_membership(const struct node_config *cfg, struct membership *out)
{
    membership_init(out);
    for (size_t i = 0; i < cfg->member_count; i++)
        membership_put(out, &cfg->members[i]);
    for (size_t i = 0; i < cfg->group_count; i++)
        membership_put_group(out, cfg->groups[i].sid, cfg->groups[i].gid);
    for (size_t i = 0; i < cfg->weight_count; i++)
        membership_set_weight(out, cfg->weights[i].sid, cfg->weights[i].weight);
    out->hierarchical = cfg->hierarchical;
    out->group_keys = cfg->group_keys;
    out->version = cfg->config_version;
    out->props_keys = cfg->config_props_keys;
}

void config_set_membership(struct node_config *cfg, const struct membership *m)
{
    cfg->member_count = 0;
    for (size_t i = 0; i < m->count && i < CONFIG_MEMBERS_MAX; i++)
        cfg->members[cfg->member_count++] = m->members[i];
    cfg->group_count = 0;
    for (size_t i = 0; i < m->group_count && i < CONFIG_MEMBERS_MAX; i++)
        cfg->groups[cfg->group_count++] = m->groups[i];
    cfg->weight_count = 0;
    for (size_t i = 0; i < m->weight_count && i < CONFIG_MEMBERS_MAX; i++)
        cfg->weights[cfg->weight_count++] = m->weights[i];
    cfg->hierarchical = m->hierarchical;
    cfg->group_keys = m->group_keys;
    cfg->config_version = m->version;
    cfg->config_props_keys = m->props_keys;
}

int config_member_client_port(struct node_config *cfg, int64_t my_sid, char *errmsg, size_t errlen)
{
    const struct member *me = NULL;
    for (size_t i = 0; i < cfg->member_count; i++)
        if (cfg->members[i].sid == my_sid)
            me = &cfg->members[i];
    if (me && me->has_client) {
        cfg->client_port = me->client.port;
        snprintf(cfg->client_port_address, sizeof(cfg->client_port_address), "%s", me->client.host);
    }
    if (cfg->client_port == 0) {
        snprintf(errmsg, errlen,
                 "%s: clientPort is not set, and server.%" PRId64 " names no client address",
                 cfg->source, my_sid);
        return CONFIG_ERR_MISSING;
    }
    return 0;
}

int config_read_myid(const char *data_dir, int64_t *sid, char *errmsg, size_t errlen)
{
    char path[CONFIG_PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/myid", data_dir);
    struct config_parser p = {.source = path, .errmsg = errmsg, .errlen = errlen};
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return config__fail(&p, CONFIG_ERR_MISSING,
                            ": myid file is missing (it holds this server's N of server.N)");
    FILE *f = fopen(path, "rb");
    if (!f)
        return config__fail(&p, CONFIG_ERR_IO, ": cannot open: %s", strerror(errno));
    /* BufferedReader.readLine: up to \n, \r or \r\n; null for an empty file */
    char line[256];
    size_t len = 0;
    int c;
    bool eof = true;
    bool too_long = false;
    while ((c = fgetc(f)) != EOF) {
        eof = false;
        if (c == '\n' || c == '\r')
            break;
        if (len + 1 < sizeof(line))
            line[len++] = (char)c;
        else
            too_long = true;
    }
    line[len] = '\0';
    int rc = 0;
    if (ferror(f))
        rc = config__fail(&p, CONFIG_ERR_IO, ": read error: %s", strerror(errno));
    else if (eof)
        rc = config__fail(&p, CONFIG_ERR_VALUE,
                          ": serverid null is not a number (the file is empty)");
    else if (too_long || membership_sid_parse(line, len, sid) < 0)
        rc = config__fail(&p, CONFIG_ERR_VALUE, ": serverid %s%s is not a number", line,
                          too_long ? "..." : "");
    fclose(f);
    return rc;
}
