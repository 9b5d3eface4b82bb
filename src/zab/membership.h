/* SPDX-License-Identifier: Apache-2.0 */
/* membership.h — the ensemble's members as ZooKeeper 3.8 reads and writes them:
 * one `server.N` value (QuorumPeer.QuorumServer), majority quorums (QuorumMaj)
 * and the `/zookeeper/config` text (QuorumMaj.toString), which also travels in
 * election notifications and NEWLEADER, so it is byte-identical to Apache's.
 * Pure: no I/O, no name resolution, no globals. */
#ifndef CZK_ZAB_MEMBERSHIP_H
#define CZK_ZAB_MEMBERSHIP_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEMBER_HOST_MAX 256

enum membership_error {
    MEMBERSHIP_ERR_INVALID = -1, /* a malformed value; the reason is in errmsg */
};

enum member_role {
    MEMBER_PARTICIPANT = 0, /* votes */
    MEMBER_OBSERVER = 1,    /* learns, never counts in a quorum */
};

/* A host and port. `host` is what Java's InetSocketAddress.getHostString()
 * gives for the text of the file: IP literals normalised as Java prints them
 * (IPv4 "127.1" -> "127.0.0.1", IPv6 as 8 uncompressed groups, IPv4-mapped
 * IPv6 as IPv4), an empty host as "localhost", anything else (host names,
 * IPv6 with a %zone) verbatim, never resolved. No brackets. */
struct member_addr {
    char host[MEMBER_HOST_MAX];
    int32_t port; /* 0..65535 */
};

struct member {
    int64_t sid;
    struct member_addr quorum;   /* host:port (2888) */
    struct member_addr election; /* same host, second port (3888) */
    enum member_role role;
    /* ";[clientHost:]clientPort"; a bare port means host "0.0.0.0" */
    bool has_client;
    struct member_addr client;
};

/* QuorumHierarchical's serverGroup and serverWeight entries. */
struct member_group {
    int64_t sid;
    int64_t gid;
};

struct member_weight {
    int64_t sid;
    int64_t weight;
};

struct membership {
    struct member *members; /* heap; order of insertion (the file's order) */
    size_t count;
    size_t cap;
    /* Hierarchical quorums (group.N / weight.N keys, QuorumHierarchical):
     * a quorum is a majority of the groups, each by a majority of its
     * weight. false: QuorumMaj, and the arrays below are empty. */
    bool hierarchical;
    struct member_group *groups; /* heap; insertion order */
    size_t group_count, group_cap;
    struct member_weight *weights; /* heap; insertion order */
    size_t weight_count, weight_cap;
    int64_t group_keys; /* numGroups: how many group keys were read */
    int64_t version;    /* `version=` (hex in the text); 0 when absent */
    /* How many distinct keys the java.util.Properties that Apache built this
     * from held (all of zoo.cfg's keys, or the server.N lines and `version` of
     * a config text): it sizes the hash table whose order decides the order
     * of server.N lines whose sids collide in Apache's HashMap (see
     * membership_format). 0 = count + 1 (the members and `version`). */
    size_t props_keys;
};

void membership_init(struct membership *m);
void membership_deinit(struct membership *m);

/* Parse one `server.N` value (the text after '='), as QuorumServer does with
 * multiAddress disabled:
 *   host:port:port[:participant|:observer][;[clientHost:]clientPort]
 * with IPv6 hosts in brackets. `value` is taken as Apache takes it: not
 * trimmed (java.util.Properties keeps trailing blanks, and a port with a
 * blank is not a number), the role trimmed and case-insensitive. On error
 * writes Apache's message (e.g. "Address unresolved: 127.0.0.1:x",
 * "port out of range:70000", "Unrecognised peertype: foo") into errmsg. */
int member_parse(int64_t sid, const char *value, size_t len, struct member *out, char *errmsg,
                 size_t errlen) __attribute__((warn_unused_result));

/* The N of a `server.N` key, as Long.parseLong: optional sign, decimal
 * digits, 64-bit range. */
int membership_sid_parse(const char *text, size_t len, int64_t *sid)
    __attribute__((warn_unused_result));

/* Add a member; one with the same sid is replaced in its position (as a
 * HashMap.put). The member is copied. */
void membership_put(struct membership *m, const struct member *member);

/* The member with `sid`, borrowed until the membership next changes; NULL if none. */
const struct member *membership_find(const struct membership *m, int64_t sid);

/* Participants (voters) and observers. */
size_t membership_voters(const struct membership *m);
size_t membership_observers(const struct membership *m);

/* QuorumMaj.containsQuorum: whether the distinct voting members among `sids`
 * are more than half of all voting members. Unknown sids and observers never
 * count. Hierarchical (QuorumHierarchical.containsQuorum): the sids' weights
 * summed per group; a group counts when its sum is more than half its
 * weight (integer halves), and a quorum is more groups than half of
 * group_keys (zero-weight groups count in group_keys, as in 3.8.0). */
bool membership_is_quorum(const struct membership *m, const int64_t *sids, size_t n);

/* A `group.<gid>` value: sids separated by ':' (Long.parseLong each). A sid
 * already in a group is an error ("Server N is in multiple groups"). Makes
 * the membership hierarchical. */
int membership_add_group(struct membership *m, int64_t gid, const char *value, size_t len,
                         char *errmsg, size_t errlen) __attribute__((warn_unused_result));
/* One serverGroup entry as membership_add_group leaves it, unchecked (to
 * rebuild a membership from entries already checked); group_keys is the
 * caller's to set. */
void membership_put_group(struct membership *m, int64_t sid, int64_t gid);
/* `weight.<sid>=<weight>` (the last one for a sid wins). Makes the
 * membership hierarchical. */
void membership_set_weight(struct membership *m, int64_t sid, int64_t weight);
/* After every key: QuorumHierarchical.parse's checks and defaults. Every
 * voter must be in a group ("Server N is not in a group"); a voter without
 * a weight weighs 1; a grouped sid that is not a voter needs a weight.N
 * (Apache dies on a NullPointerException there). A no-op for QuorumMaj. */
int membership_finish(struct membership *m, char *errmsg, size_t errlen)
    __attribute__((warn_unused_result));
/* QuorumVerifier.getWeight: 1 for any sid under QuorumMaj; the sid's weight,
 * or 0 when it has none, under QuorumHierarchical. */
int64_t membership_weight(const struct membership *m, int64_t sid);

/* One member's value as QuorumServer.toString writes it:
 * "host:port:port:participant" or ":observer", then ";clientHost:clientPort"
 * when the server.N line had a client part; IPv6 hosts in brackets. */
void member_format(const struct member *member, struct buf *out);

/* The membership as QuorumMaj.toString writes it, which is the data of
 * /zookeeper/config: "server.N=<member_format>\n" for every member, then
 * (QuorumHierarchical.toString) "group.G=sid:sid\n" per group and
 * "weight.N=W\n" per weight, each in its HashMap's order, then
 * "version=<hex>" with no newline after it. The order is Apache's
 * HashMap<Long> iteration order (buckets of the sid's hash; sids below 16
 * come out ascending); sids sharing a bucket come in the order of their
 * "server.N" keys in the java.util.Properties the config was read from
 * (ConcurrentHashMap bins), then in insertion order. */
void membership_format(const struct membership *m, struct buf *out);

/* Whether a and b hold the same servers (as member_format writes each) and
 * the same groups and weights; the version and the key counts aside. */
bool membership_same(const struct membership *a, const struct membership *b);

/* Parse the text membership_format writes (QuorumPeer.configFromString, as
 * a learner reads NEWLEADER's data and the config of a notification): lines
 * "server.N=value", "group*"/"weight*" keys (hierarchical) and
 * "version=hex"; blank lines and '#' comments skipped; any other key is an
 * error ("Unrecognised parameter: key"). Replaces the contents of `m`. */
int membership_parse_text(struct membership *m, const char *text, size_t len, char *errmsg,
                          size_t errlen) __attribute__((warn_unused_result));

#endif
