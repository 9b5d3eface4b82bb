/* SPDX-License-Identifier: Apache-2.0 */
/* four_letter.h — ZooKeeper's four-letter words (server/command/ classes): the
 * command table, the whitelist names and the text each command prints, in
 * Apache ZooKeeper 3.8's format. The node gathers the numbers; this module
 * formats them (and reads /proc, uname and the data directories). */
#ifndef CZK_NODE_FOUR_LETTER_H
#define CZK_NODE_FOUR_LETTER_H

#include "server/server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct membership;
struct node_config;

/* FourLetterCommands.cmd2String. TELNET_CLOSE is the bytes telnet sends when
 * it closes (0xfff4fffd); ZooKeeper lists it so that it is answered, not
 * logged as a bad length. */
enum four_letter_cmd {
    FOUR_LETTER_CONF,
    FOUR_LETTER_CONS,
    FOUR_LETTER_CRST,
    FOUR_LETTER_DIRS,
    FOUR_LETTER_DUMP,
    FOUR_LETTER_ENVI,
    FOUR_LETTER_GTMK,
    FOUR_LETTER_RUOK,
    FOUR_LETTER_STMK,
    FOUR_LETTER_SRST,
    FOUR_LETTER_SRVR,
    FOUR_LETTER_STAT,
    FOUR_LETTER_WCHC,
    FOUR_LETTER_WCHP,
    FOUR_LETTER_WCHS,
    FOUR_LETTER_MNTR,
    FOUR_LETTER_ISRO,
    FOUR_LETTER_HASH,
    FOUR_LETTER_TELNET_CLOSE,
    FOUR_LETTER_COUNT
};

#define FOUR_LETTER_MASK_ALL ((1u << FOUR_LETTER_COUNT) - 1u)

/* ZooTrace's default text trace mask, what gtmk prints until stmk changes it. */
#define FOUR_LETTER_TRACE_MASK_DEFAULT 306

/* Version.getFullVersion's shape: "<CZK_ZK_VERSION>, built on yyyy-MM-dd HH:mm UTC"
 * (the compile time; SOURCE_DATE_EPOCH makes it reproducible). srvr, stat,
 * mntr and envi print it; clients parse the part before the first '-'. */
void four_letter_full_version(char *out, size_t size);

/* The command named by the first 4 bytes of a connection, or -1: then the
 * bytes are the length of an ordinary frame. */
int four_letter_lookup(const uint8_t word[4]);
/* By the name used in 4lw.commands.whitelist ("ruok", "telnet close"), or -1. */
int four_letter_from_name(const char *name, size_t len);
const char *four_letter_name(int cmd);

/* One client connection as cons, stat and dump show it. */
struct four_letter_conn {
    char peer[80];                /* Java's InetSocketAddress text: "/127.0.0.1:50586" */
    int interest_ops;             /* NIO SelectionKey bits: 1 read, 4 write, 0 neither */
    struct server_conn_info info; /* packet counts include four-letter words */
    int64_t expiry_wall_ms;       /* when the connection is closed if idle */
};

/* Counters the node keeps beside the server's (ZooKeeper's ServerMetrics and
 * ServerStats entries that live in the connection layer). */
struct four_letter_counters {
    int64_t packets_received; /* four-letter words; added to the server's counts */
    int64_t packets_sent;
    int64_t bytes_received;
    int64_t connection_rejected;
    int64_t connection_drop_count;
    int64_t sessionless_connections_expired;
    int64_t connection_request_count;
    int64_t response_size_last; /* -1 until the first response */
    int64_t response_size_min;
    int64_t response_size_max;
    int64_t batch_count; /* group-commit batches (sync_processor_batch_size) */
    int64_t batch_sum;
    int64_t batch_min;
    int64_t batch_max;
};

void four_letter_counters_reset(struct four_letter_counters *c);

/* What a member adds to conf and mntr. */
struct four_letter_quorum {
    int64_t sid;
    int32_t init_limit; /* ticks */
    int32_t sync_limit;
    int32_t election_port; /* this member's, from its server.N line */
    int32_t quorum_port;
    int peer_type;                       /* enum member_role: LearnerType's ordinal */
    const struct membership *membership; /* conf's "membership:" (QuorumMaj.toString) */
    size_t voters;                       /* zk_quorum_size */
    int64_t leader_sid;                  /* an observer's zk_observer_master_id */
    /* a follower running an observer master (observerMasterPort): mntr
     * prints its zk_synced_observers (synced_observers), as Apache's
     * non-null gauge */
    bool observer_master;
    /* leader (mntr's gauges of LeaderZooKeeperServer) */
    int64_t learners;
    int64_t synced_followers;
    int64_t synced_observers;
    int64_t pending_syncs;
    int64_t leader_uptime_ms;
};

/* Everything a command reads. */
struct four_letter_input {
    const struct node_config *cfg;
    const struct server *server;
    const struct four_letter_counters *counters;
    const struct four_letter_conn *conns; /* in accept order */
    size_t conn_count;
    int client_port;       /* the bound port */
    const char *snap_dir;  /* absolute <dataDir>/version-2 */
    const char *log_dir;   /* absolute <dataLogDir>/version-2 */
    const char *host_name; /* canonical host name, looked up once at start */
    int64_t uptime_ms;
    int64_t trace_mask;
    /* An ensemble member: "leader", "follower", "observer" (srvr's Mode,
     * mntr's zk_server_state); NULL: "standalone". */
    const char *mode;
    /* A member between roles: the commands that need a running server print
     * "This ZooKeeper instance is not currently serving requests". */
    bool not_serving;
    /* The leader's "Proposal sizes last/min/max" (srvr, stat) and mntr's
     * zk_last/min/max_proposal_size: -1 each until the first proposal. */
    int64_t proposal_sizes[3];
    /* An ensemble member's part (mode != NULL): conf's quorum lines
     * (QuorumZooKeeperServer.dumpConf) and mntr's quorum keys. */
    const struct four_letter_quorum *quorum;
};

/* Append `cmd`'s output to `out`. Commands that change state (srst, crst,
 * stmk) only print: the caller makes the change, before or after as
 * ZooKeeper does. TELNET_CLOSE prints nothing. For wchp, wchc and dump
 * (four_letter_dump_kind >= 0) it prints what follows the server's dump:
 * the caller streams that first. */
void four_letter_run(int cmd, const struct four_letter_input *in, struct buf *out);

/* Whether ZooKeeper answers `cmd` only while its server runs. */
bool four_letter_needs_server(int cmd);

/* The enum server_dump_kind whose text starts `cmd`'s output (wchp, wchc,
 * dump: too long to make in one go), or -1. */
int four_letter_dump_kind(int cmd);

/* java.util.Date.toString: "EEE MMM dd HH:mm:ss zzz yyyy", local time (a
 * server_date_fn). */
void four_letter_java_date(struct buf *out, int64_t wall_ms);

/* "<word> is not executed because it is not in the whitelist.\n" */
void four_letter_refuse(int cmd, struct buf *out);

/* How many packets ZooKeeper counts as sent for a reply of `len` bytes: its
 * PrintWriter hands the socket 8192-character chunks. */
int64_t four_letter_packets(size_t len);

/* envi's "key=value" lines without the "Environment:" title, for the start-up log. */
void four_letter_environment(const char *host_name, struct buf *out);

/* The local host's canonical name, as Java's InetAddress.getLocalHost()
 * .getCanonicalHostName() finds it (may block on DNS: call once at start). */
void four_letter_host_name(char *out, size_t size);

#endif
