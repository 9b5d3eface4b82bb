/* SPDX-License-Identifier: Apache-2.0 */
/* tree.h — the data tree: znodes by path, children, Stat, ACL lists (stored
 * once each, by reference count), ephemerals by session. Pure: no I/O, no
 * clock. tree_apply(txn) is its only mutator once loaded (tree_load_node
 * builds it from a snapshot), so every server that applies the same txns in
 * the same order holds the same tree (DataTree.processTxn). */
#ifndef CZK_TREE_TREE_H
#define CZK_TREE_TREE_H

#include "base/hmap.h"
#include "base/list.h"
#include "proto/records.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An ACL list as its encoded vector items, shared by every node that has it. */
struct tree_acl {
    uint8_t *raw;
    size_t raw_len;
    int32_t count;
    uint32_t refs;
};

struct tree_node {
    char *path; /* NUL-terminated, in the node's own allocation; the map's key */
    uint32_t path_len;
    uint32_t name_off; /* offset of the last component in path */
    uint8_t *data;     /* owned; NULL with data_len -1 is jute's null */
    int32_t data_len;
    struct tree_acl *acl;
    struct zk_stat_persisted stat;
    struct tree_node *parent;
    struct tree_node **children;
    uint32_t child_count;
    uint32_t child_cap;
    uint32_t index_in_parent;
    /* in the owner's ephemeral list when ephemeralOwner is a session, else in
     * the tree's containers or ttls list for those kinds */
    struct list eph_link;
};

struct tree {
    /* path -> struct tree_node; not in a fork()ed child (smap_init_unforked) */
    struct smap nodes;
    struct tree_node *root; /* "/": where a snapshot child starts its walk */
    struct smap acls;       /* raw ACL items -> struct tree_acl */
    struct imap ephemerals; /* session id -> struct list of nodes (eph_link) */
    struct smap quotas;     /* paths with a zookeeper_limits node (ZooKeeper's pTrie) */
    struct list containers; /* container nodes (eph_link) */
    struct list ttls;       /* TTL nodes (eph_link) */
    int64_t last_zxid;
    uint64_t data_bytes; /* sum of path and data lengths, as ZooKeeper's approximateDataSize */
    /* extendedTypesEnabled: an ephemeralOwner with the high byte 0xff is a
     * TTL; without it, such an owner is a session of server 255. */
    bool extended_types;
};

/* Versions are Java ints: they wrap from 2147483647 to -2147483648 (the
 * sequence suffix of a busy parent does, as ZooKeeper documents). */
static inline int32_t version_next(int32_t v)
{
    return (int32_t)((uint32_t)v + 1u);
}

/* What an ephemeralOwner value means (ZooKeeper's EphemeralType). */
enum tree_owner_kind {
    TREE_OWNER_NONE,      /* 0: a persistent node */
    TREE_OWNER_SESSION,   /* an ephemeral node's session */
    TREE_OWNER_CONTAINER, /* Long.MIN_VALUE */
    TREE_OWNER_TTL,       /* 0xff00.. | ttl, with extended types */
};
enum tree_owner_kind tree_owner_kind(const struct tree *t, int64_t owner);
/* The TTL of a TTL owner (its low 40 bits). */
static inline int64_t tree_owner_ttl(int64_t owner)
{
    return (int64_t)((uint64_t)owner & 0xffffffffffULL);
}
#define TREE_TTL_MAX 0xffffffffffLL

/* Where tree_apply reports each watch trigger (DataTree's triggerWatch calls),
 * in the order ZooKeeper makes them. `node` is the node the event is about
 * (for NodeChildrenChanged the parent; for NodeDeleted the node, still
 * readable during the call): its path is the event's, and its ACL decides
 * who may hear it (ZooKeeper 3.8.4+, ZOOKEEPER-4799). */
typedef void tree_event_fn(void *ctx, int32_t event_type, const struct tree_node *node);

/* Per sub-op outcome of a multi, and the outcome of any txn. Paths are views
 * into the txn body passed to tree_apply. */
struct tree_op_result {
    int32_t type; /* txn type; ZK_OP_ERROR for a failed or rolled-back op */
    int32_t err;
    struct jute_buf path;
    struct zk_stat stat;
};

struct tree_result {
    int32_t type;
    int32_t err;
    struct jute_buf path;
    struct zk_stat stat;
    struct tree_op_result *ops; /* multi only; free with tree_result_deinit */
    size_t op_count;
    /* The first error of an operation the txn meant to apply (not one of an
     * error txn or of a multi that failed when it was proposed). Live it is
     * always 0; replaying the log over a fuzzy snapshot (ZooKeeper's) it may
     * not be, and the txn is then applied as far as it goes, as
     * DataTree.processTxn does. */
    int32_t unexpected_err;
};

/* Creates "/", "/zookeeper", "/zookeeper/quota" and "/zookeeper/config" as
 * ZooKeeper's DataTree constructor does. */
void tree_init(struct tree *t);
/* ZKDatabase.initConfigInZKDatabase: /zookeeper/config takes the membership
 * text, no txn: version -1, mzxid the config version, mtime the wall clock
 * (DataTree.setData(path, data, -1, version, now)). */
void tree_set_config(struct tree *t, const uint8_t *text, size_t len, int64_t zxid, int64_t mtime);
void tree_deinit(struct tree *t);

struct tree_node *tree_get(const struct tree *t, const char *path, size_t len);
/* The Stat a client sees: its cversion is 2 * creates - children, and the
 * ephemeralOwner of containers and TTL nodes reads 0 (DataNode.copyStat). */
void tree_node_stat(const struct tree *t, const struct tree_node *n, struct zk_stat *out);
static inline const char *tree_node_name(const struct tree_node *n)
{
    return n->path + n->name_off;
}
static inline size_t tree_node_count(const struct tree *t)
{
    return t->nodes.count;
}
/* The node's ACL as a jute vector (items are raw). */
struct jute_vec tree_node_acl(const struct tree_node *n);
/* Ephemeral nodes of a session, or NULL; iterate with LIST_FOREACH and
 * LIST_ENTRY(it, struct tree_node, eph_link). */
const struct list *tree_ephemerals(const struct tree *t, int64_t session_id);
size_t tree_ephemeral_count(const struct tree *t);

/* Quotas (ZooKeeper's DataTree + StatsTrack): a path P has a quota while
 * /zookeeper/quota/P/zookeeper_limits exists; the tree keeps
 * /zookeeper/quota/P/zookeeper_stats at "count=N,bytes=M" for P's subtree as
 * nodes come, go and change (the stats node's data changes without a txn of
 * its own, as in ZooKeeper). The deepest quota path above or at `path`, or
 * NULL (a quota on "/" is ignored). */
const char *tree_quota_prefix(const struct tree *t, const char *path, size_t len, size_t *out_len);
/* A StatsTrack field ("count", "bytes", "countHardLimit", "byteHardLimit") of
 * a limits or stats node's data; -1 when absent. */
int64_t tree_stats_get(const uint8_t *data, int32_t len, const char *key);
/* Rebuild the quota paths and their stats from the tree (after loading a snapshot). */
void tree_quota_rebuild(struct tree *t);

/* Apply one committed txn (TxnHeader + body). Never fails as a whole: a txn
 * that does not fit the tree (possible only when replaying) yields err in
 * *res, as DataTree.processTxn does. *res must be released with
 * tree_result_deinit. `body` must outlive *res. */
void tree_apply(struct tree *t, const struct zk_txn_header *hdr, const uint8_t *body,
                size_t body_len, tree_event_fn *on_event, void *ctx, struct tree_result *res);
void tree_result_deinit(struct tree_result *res);

/* Room for `nodes` nodes in all before a snapshot load: no rehash on the way. */
void tree_reserve(struct tree *t, size_t nodes);

/* Loading a snapshot (DataTree.deserialize): inserts the node at `path`
 * (not "/") under its existing parent with the stored Stat, data and ACL, as
 * a create txn of that node would (ephemeral, container and TTL lists, ACL
 * reference counts, quota stats), without touching the parent's Stat or
 * last_zxid. A node already there keeps its data and ACL and takes `stat`.
 * Returns the node, or NULL when the path is not absolute or its parent is
 * missing. `*parent_hint` carries the last parent between calls (NULL before
 * the first); `*acl_hint`, when not NULL, is the tree's interning of this
 * ACL (this call sets it when NULL; valid while the loaded nodes exist). */
struct tree_node *tree_load_node(struct tree *t, const char *path, size_t len, struct jute_buf data,
                                 const uint8_t *acl_raw, size_t acl_raw_len, int32_t acl_count,
                                 const struct zk_stat_persisted *stat,
                                 struct tree_node **parent_hint, struct tree_acl **acl_hint);

#endif
