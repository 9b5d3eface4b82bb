/* SPDX-License-Identifier: Apache-2.0 */
/* config.h — zoo.cfg: ZooKeeper's java.util.Properties syntax, its keys, defaults
 * and checks (QuorumPeerConfig.parseProperties). Parsing is pure apart from
 * config_parse_file reading the file and warnings going to the log. */
#ifndef CZK_NODE_CONFIG_H
#define CZK_NODE_CONFIG_H

#include "zab/membership.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_PATH_MAX    4096
#define CONFIG_ADDRESS_MAX 256
#define CONFIG_MEMBERS_MAX 128 /* server.N lines; kept inline so the struct stays a plain value */

/* The text used when czk-server starts without a config file: ZooKeeper's
 * conf/zoo_sample.cfg, with a relative data directory. */
extern const char config_embedded_default[];

struct node_config {
    char source[CONFIG_PATH_MAX]; /* file name for messages ("<embedded>" for the default) */
    int32_t tick_time_ms;         /* tickTime: 3000 in code, 2000 in zoo_sample.cfg */
    int32_t client_port;          /* clientPort: required, 1..65535 */
    /* clientPortAddress: an IP literal or host name; "" = every local address
     * (ZooKeeper binds the wildcard when the key is absent). */
    char client_port_address[CONFIG_ADDRESS_MAX];
    char data_dir[CONFIG_PATH_MAX];     /* dataDir: required */
    char data_log_dir[CONFIG_PATH_MAX]; /* dataLogDir: default dataDir */
    int32_t max_client_cnxns;           /* per client IP; 0 = unlimited; default 60 */
    int32_t max_cnxns;                  /* maxCnxns: all clients; 0 = unlimited (default) */
    /* -1 in the file means 2 * tickTime / 20 * tickTime; resolved after parsing. */
    int32_t min_session_timeout_ms;
    int32_t max_session_timeout_ms;
    int32_t global_outstanding_limit; /* default 1000 */
    int32_t max_buffer;               /* jute.maxbuffer, default 0xfffff */
    /* 4lw.commands.whitelist as a bit set over enum four_letter_cmd; srvr is
     * always in it (FourLetterCommands.isEnabled). */
    uint32_t four_letter_mask;
    /* nio.sessionlessCnxnTimeout (a zookeeper.* system property that zoo.cfg
     * can set): a connection without a session is closed after this long idle. */
    int32_t sessionless_timeout_ms;
    /* czk.clientOutputPauseBytes: a connection whose unsent output reaches
     * this is neither read nor handed to the server until it drains below
     * it (ZooKeeper's disableRecv/enableRecv, counted in reply bytes). */
    size_t output_pause_bytes;
    /* czk.clientOutputMaxBytes: a connection whose unsent output would pass
     * this (watch events, replies of requests accepted before it paused) is
     * closed; raised to at least output_pause_bytes + 4 * jute.maxbuffer. */
    size_t output_limit_bytes;
    /* extendedTypesEnabled (TTL nodes): true only for "true" in any case, as
     * Java's Boolean.getBoolean. */
    bool extended_types_enabled;
    int32_t container_check_interval_ms; /* znode.container.checkIntervalMs, 60000 */
    int32_t container_max_per_minute;    /* znode.container.maxPerMinute, 10000 */
    int32_t container_max_never_used_ms; /* znode.container.maxNeverUsedIntervalMs, 0 = keep */
    /* DigestAuthenticationProvider.superDigest: "super:<base64 sha1>" or "" */
    char super_digest[256];
    bool enforce_quota; /* enforceQuota (Boolean.parseBoolean) */
    /* Durability (ZooKeeperServer, SyncRequestProcessor, FilePadding). */
    int32_t snap_count;           /* snapCount: txns between snapshots (randomised), 100000 */
    int64_t prealloc_bytes;       /* preAllocSize (KB in the file): 64 MB */
    bool force_sync;              /* forceSync: fsync each batch unless "no" */
    int snap_compression;         /* snapshot.compression.method: enum snapz_kind (plain or gz) */
    int32_t snap_retain_count;    /* autopurge.snapRetainCount: at least 3 */
    int32_t purge_interval_hours; /* autopurge.purgeInterval: 0 = no purge */
    /* The ensemble (QuorumPeerConfig, QuorumMaj): a config with more than one
     * voter, or standaloneEnabled=false, makes a member (`replicated`, from
     * config_parse_file_ensemble, which then checks initLimit and syncLimit
     * as QuorumPeerConfig.checkValidity; node_new reads myid with
     * config_read_myid). */
    struct member members[CONFIG_MEMBERS_MAX]; /* server.N, in the file's order */
    size_t member_count;
    /* group.N / weight.N (QuorumHierarchical): serverGroup and serverWeight
     * as membership_finish leaves them (defaults included), checked */
    bool hierarchical;
    struct member_group groups[CONFIG_MEMBERS_MAX];
    size_t group_count;
    int64_t group_keys;
    struct member_weight weights[CONFIG_MEMBERS_MAX];
    size_t weight_count;
    int64_t config_version;                    /* version= (hex), 0 when absent */
    char dynamic_config_file[CONFIG_PATH_MAX]; /* dynamicConfigFile: "" when absent */
    size_t config_props_keys;         /* distinct keys in the file: membership.props_keys */
    int32_t init_limit;               /* initLimit, ticks; 0 = not set */
    int32_t sync_limit;               /* syncLimit, ticks; 0 = not set */
    int32_t cnx_timeout_ms;           /* cnxTimeout: election connect timeout, 5000 */
    int32_t election_port_bind_retry; /* electionPortBindRetry: 3; 0 = forever */
    bool quorum_listen_on_all_ips;    /* quorumListenOnAllIPs: false */
    /* observerMasterPort: 0 = off. A follower serves observers on it (its
     * quorum host); an observer syncs from a voter's host:port instead of
     * the leader (ens_observer_master.c) */
    int32_t observer_master_port;
    /* readonlymode.enabled: false. Cut off from its quorum, a member serves
     * read-only clients (ensemble.c, read-only mode) */
    bool read_only_enabled;
    bool reconfig_enabled; /* reconfigEnabled: the config version and files as Apache keeps them */
    /* localSessionsEnabled, localSessionsUpgradingEnabled: false. An
     * ensemble member's new sessions are its own (server.h) */
    bool local_sessions_enabled;
    bool local_sessions_upgrading_enabled;
    /* czk.zxidCounterStart (hex): the zxid counter of a new leader's first
     * txn; 0 = 1, ZooKeeper's. Near fffffffe it brings the roll-over of
     * the counter (a new epoch) within a few writes, for tests. */
    int64_t zxid_counter_start;
    int peer_type; /* peerType: enum member_role; the server.N line of myid wins */
    /* QuorumPeerMain's choice (isDistributed): more than one voting server.N,
     * or standaloneEnabled=false with one: an ensemble member (src/node/ensemble.c). */
    bool replicated;
    bool standalone_disabled; /* standaloneEnabled=false (a reconfig may then leave one voter) */
};

enum config_error {
    CONFIG_ERR_VALUE = -1,   /* a malformed or out-of-range value */
    CONFIG_ERR_MISSING = -2, /* a required key is absent */
    CONFIG_ERR_IO = -3,      /* the file cannot be read */
};

/* ZooKeeper's defaults; client_port 0 and empty data_dir mean "not set". */
void config_defaults(struct node_config *out);

/* Parse zoo.cfg text. `source` names the text in messages. On success fills
 * `out` (defaults, then the keys, then derived values) and returns 0. On a
 * malformed or missing value returns a negative code and writes
 * "<source>:<line>: <key>: <reason>" (or "<source>: <reason>") into errmsg.
 * Unknown keys are logged as warnings; ZooKeeper keys czk does not implement
 * are logged at INFO. Neither is an error. */
int config_parse_text(const char *source, const char *text, size_t len, struct node_config *out,
                      char *errmsg, size_t errlen) __attribute__((warn_unused_result));

/* Read and parse a file; an unreadable file is an error naming it. */
int config_parse_file(const char *path, struct node_config *out, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));

/* config_parse_file for czk-server (and the probes): a config with several
 * voters or standaloneEnabled=false is accepted as an ensemble member's
 * (`replicated`) rather than refused, and then needs initLimit and syncLimit
 * (QuorumPeerConfig.checkValidity: "initLimit is not set").
 * config_parse_file and config_parse_text, which only a standalone server
 * can use, refuse such a config: a member that served alone would
 * acknowledge writes its peers never see (issue 9). */
int config_parse_file_ensemble(const char *path, struct node_config *out, char *errmsg,
                               size_t errlen) __attribute__((warn_unused_result));

/* The embedded default (config_embedded_default). */
int config_parse_embedded(struct node_config *out, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));

/* The membership the server.N lines (and version=) describe, as QuorumMaj
 * holds it; `out` is initialised here, free it with membership_deinit. */
void config_membership(const struct node_config *cfg, struct membership *out);

/* dataDir/myid as QuorumPeerConfig.setupMyId reads it: the first line,
 * Long.parseLong (no blanks allowed around the number). Returns 0 and the
 * sid; CONFIG_ERR_MISSING when the file is absent or not a regular file
 * (Apache then has no server id: "myid file is missing" for an ensemble);
 * CONFIG_ERR_VALUE with "<dir>/myid: serverid <text> is not a number";
 * CONFIG_ERR_IO when it cannot be read. Errors name the file. */
int config_read_myid(const char *data_dir, int64_t *sid, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));

/* A member's client address (QuorumPeerConfig.setupClientPort): its
 * server.N line's, when that names one (it wins over clientPort and
 * clientPortAddress), else clientPort's; CONFIG_ERR_MISSING with neither. */
int config_member_client_port(struct node_config *cfg, int64_t my_sid, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));

/* reconfigEnabled's files, as Apache 3.8 keeps them next to the config
 * file (cfg->source). config_backup: a copy as "<source>.bak"
 * (QuorumPeerConfig.backupOldConfig: at every start of a member whose
 * zoo.cfg holds its server.N lines). config_write_dynamic: m's servers,
 * groups and weights as "<source>.dynamic.<version hex>" (writeDynamicConfig:
 * sorted key=value lines, no version), then zoo.cfg rewritten without its
 * membership keys and peerType (and its clientPort* keys when my_sid's
 * server.N line names a client address: needEraseClientInfoFromStaticConfig)
 * and ending in dynamicConfigFile= that file (editStaticConfig); each file
 * written whole to a temporary and renamed.
 * cfg->dynamic_config_file names the new file. Errors name the file. */
int config_backup(const struct node_config *cfg, char *errmsg, size_t errlen);
int config_write_dynamic(struct node_config *cfg, const struct membership *m, int64_t my_sid,
                         char *errmsg, size_t errlen) __attribute__((warn_unused_result));
/* A reconfig's config while it is proposed and not yet committed
 * (QuorumPeer.setLastSeenQuorumVerifier): `<config file>.dynamic.next`,
 * version= kept; removed once that version is in force. */
int config_write_dynamic_next(const struct node_config *cfg, const struct membership *m,
                              char *errmsg, size_t errlen) __attribute__((warn_unused_result));
void config_remove_dynamic_next(const struct node_config *cfg);
/* The reverse of config_membership: cfg's server.N lines, groups, weights
 * and version become m's (a reconfig's activation). */
void config_set_membership(struct node_config *cfg, const struct membership *m);

/* Whether the whitelist lets `cmd` (an enum four_letter_cmd) run. */
bool config_four_letter_enabled(const struct node_config *cfg, int cmd);

#endif
