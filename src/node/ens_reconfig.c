/* SPDX-License-Identifier: Apache-2.0 */
/* ens_reconfig.c — the config version and dynamic reconfiguration in an
 * ensemble member (reconfigEnabled, ZooKeeper 3.5+): the version a new
 * leader gives a version-0 config and learners take at UPTODATE; a leader makes a reconfig
 * request's config (PrepRequestProcessor, OpCode.reconfig); every member marks a logged reconfig
 * txn as the last seen config (the .dynamic.next file) and activates it once it is applied
 * (QuorumPeer.processReconfig): the files, the notifications' config, the leader's observers. A
 * config that changes the servers ends the role: the member elects again under the new config
 * (Apache goes on without an election when the leader stays and the
 * member's role is unchanged; czk does not yet). */
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "node/config.h"
#include "node/elector.h"
#include "node/leader_port.h"
#include "node/node_int.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "zab/membership.h"
#include "zab/zab.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- the leader: a reconfig request's config ---- */

/* The next piece of a comma-separated list, trimmed as StringUtils.split
 * does (empty pieces skipped). false at the end. */
static bool next_item(const char **at, const char *end, const char **item, size_t *len)
{
    for (;;) {
        const char *p = *at;
        if (p >= end)
            return false;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        *at = comma ? comma + 1 : end;
        while (p < stop && (unsigned char)*p <= ' ')
            p++;
        const char *q = stop;
        while (q > p && (unsigned char)q[-1] <= ' ')
            q--;
        if (q > p) {
            *item = p;
            *len = (size_t)(q - p);
            return true;
        }
    }
}

static void copy_without(const struct membership *from, int64_t sid, struct membership *to)
{
    struct membership m;
    membership_init(&m);
    for (size_t i = 0; i < from->count; i++)
        if (from->members[i].sid != sid)
            membership_put(&m, &from->members[i]);
    membership_deinit(to);
    *to = m;
}

static bool addr_eq(const struct member_addr *a, const struct member_addr *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Wildcard and loopback addresses, which QuorumServer's duplicate check
 * leaves out (excludedSpecialAddresses). Host names are compared as
 * written, where Apache resolves them. */
static bool addr_special(const struct member_addr *a)
{
    return strcmp(a->host, "0.0.0.0") == 0 || strcmp(a->host, "0:0:0:0:0:0:0:0") == 0 ||
           strncmp(a->host, "127.", 4) == 0 || strcmp(a->host, "0:0:0:0:0:0:0:1") == 0 ||
           strcmp(a->host, "localhost") == 0;
}

/* QuorumServer.checkAddressDuplicate: one of a joiner's addresses (quorum,
 * election, client) is one of another server's. */
static bool address_taken(const struct membership *m, const struct member *j)
{
    const struct member_addr *mine[3] = {&j->quorum, &j->election,
                                         j->has_client ? &j->client : NULL};
    for (size_t i = 0; i < m->count; i++) {
        const struct member *o = &m->members[i];
        if (o->sid == j->sid)
            continue;
        const struct member_addr *theirs[3] = {&o->quorum, &o->election,
                                               o->has_client ? &o->client : NULL};
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                if (mine[a] && theirs[b] && !addr_special(mine[a]) && addr_eq(mine[a], theirs[b]))
                    return true;
    }
    return false;
}

/* One "server.N=spec" of joiningServers into `m`. */
static int32_t join_one(struct membership *m, const char *item, size_t len)
{
    const char *eq = memchr(item, '=', len);
    if (!eq || memchr(eq + 1, '=', len - (size_t)(eq + 1 - item))) {
        LOG_W("reconfig: \"%.*s\": wrong format of server string", (int)len, item);
        return ZK_BADARGUMENTS;
    }
    const char *key_end = eq;
    while (key_end > item && (unsigned char)key_end[-1] <= ' ')
        key_end--;
    const char *dot = key_end;
    while (dot > item && dot[-1] != '.')
        dot--;
    int64_t sid;
    if (membership_sid_parse(dot, (size_t)(key_end - dot), &sid) < 0) {
        /* Long.parseLong's NumberFormatException: Apache's generic
         * "Failed to process" answer */
        LOG_W("reconfig: \"%.*s\": the server id is not a number", (int)len, item);
        return ZK_MARSHALLINGERROR;
    }
    const char *v = eq + 1;
    while (v < item + len && (unsigned char)*v <= ' ')
        v++;
    struct member j;
    char why[256];
    if (member_parse(sid, v, (size_t)(item + len - v), &j, why, sizeof(why)) < 0) {
        LOG_W("reconfig: server.%" PRId64 ": %s", sid, why);
        return ZK_BADARGUMENTS;
    }
    if (!j.has_client) {
        LOG_W("reconfig: server.%" PRId64 ": each server should have 3 ports specified", sid);
        return ZK_BADARGUMENTS;
    }
    if (address_taken(m, &j)) {
        LOG_W("reconfig: server.%" PRId64 ": its address is another server's", sid);
        return ZK_BADARGUMENTS;
    }
    membership_put(m, &j);
    return ZK_OK;
}

/* Incremental: the last seen config without leavingServers, with
 * joiningServers (a majority quorum system only). */
static int32_t incremental(const struct membership *cur, const struct zk_reconfig_request *req,
                           struct membership *next)
{
    if (cur->hierarchical) {
        LOG_W("reconfig: incremental reconfiguration requested but the last config seen has a "
              "non-majority quorum system");
        return ZK_BADARGUMENTS;
    }
    copy_without(cur, INT64_MIN, next);
    const char *item;
    size_t len;
    if (req->leaving_servers.len > 0) {
        const char *at = (const char *)req->leaving_servers.ptr;
        const char *end = at + req->leaving_servers.len;
        while (next_item(&at, end, &item, &len)) {
            int64_t sid;
            if (membership_sid_parse(item, len, &sid) < 0) {
                LOG_W("reconfig: leaving server \"%.*s\" is not a number", (int)len, item);
                return ZK_MARSHALLINGERROR;
            }
            copy_without(next, sid, next);
        }
    }
    if (req->joining_servers.len > 0) {
        const char *at = (const char *)req->joining_servers.ptr;
        const char *end = at + req->joining_servers.len;
        while (next_item(&at, end, &item, &len)) {
            int32_t err = join_one(next, item, len);
            if (err)
                return err;
        }
    }
    return ZK_OK;
}

/* Non-incremental: newMembers, commas read as newlines. */
static int32_t non_incremental(const struct zk_reconfig_request *req, struct membership *next)
{
    struct buf text;
    buf_init(&text);
    buf_append(&text, req->new_members.ptr, (size_t)req->new_members.len);
    for (size_t i = 0; i < text.len; i++)
        if (text.data[i] == ',')
            text.data[i] = '\n';
    char why[256];
    int rc = membership_parse_text(next, (const char *)text.data, text.len, why, sizeof(why));
    buf_deinit(&text);
    if (rc < 0) {
        LOG_W("reconfig: newMembers: %s", why);
        return ZK_BADARGUMENTS;
    }
    return ZK_OK;
}

/* Leader.isQuorumSynced: this leader (a voter of `next`) and the followers
 * that got UPTODATE hold a quorum of `next`. */
static bool quorum_synced(const struct node_ens *e, const struct membership *next)
{
    int64_t sids[ZAB_LEARNERS_MAX + 1];
    size_t n = 0;
    const struct member *me = membership_find(next, e->sid);
    if (me && me->role == MEMBER_PARTICIPANT)
        sids[n++] = e->sid;
    const struct zab *z = leader_port_zab(e->leader);
    for (size_t i = 0; i < z->learners_len; i++) {
        const struct zab_learner *l = &z->learners[i];
        const struct member *m = membership_find(next, l->sid);
        if (l->state == ZAB_LEARNER_SYNCED && !l->observer && m && m->role == MEMBER_PARTICIPANT)
            sids[n++] = l->sid;
    }
    return membership_is_quorum(next, sids, n);
}

int32_t node__io_reconfig_prep(void *ctx, const struct zk_reconfig_request *req, int64_t zxid,
                               struct buf *out)
{
    struct node *n = ctx;
    struct node_ens *e = n->ens;
    if (!e || !e->leader)
        return ZK_UNIMPLEMENTED;
    if (e->next_pending)
        return ZK_RECONFIGINPROGRESS;
    if (req->cur_config_id != -1 && req->cur_config_id != e->members.version) {
        LOG_W("reconfig: from version %" PRIx64 " failed: the last seen version is %" PRIx64,
              (uint64_t)req->cur_config_id, (uint64_t)e->members.version);
        return ZK_BADVERSION;
    }
    struct membership next;
    membership_init(&next);
    int32_t err = req->new_members.len >= 0 ? non_incremental(req, &next)
                                            : incremental(&e->members, req, &next);
    size_t min_voters = n->cfg.standalone_disabled ? 1 : 2;
    if (!err && membership_voters(&next) < min_voters) {
        LOG_W("reconfig: the new config must include at least %zu follower%s", min_voters,
              min_voters > 1 ? "s" : "");
        err = ZK_BADARGUMENTS;
    }
    if (!err && !quorum_synced(e, &next)) {
        LOG_W("reconfig: there must be a connected and synced quorum in the new config");
        err = ZK_NEWCONFIGNOQUORUM;
    }
    if (!err) {
        next.version = zxid;
        next.props_keys = 0;
        membership_format(&next, out);
    }
    membership_deinit(&next);
    return err;
}

/* ---- every member: the config's version, the last seen config, its activation ---- */

/* Our servers under `version` from now on (QuorumPeer.setQuorumVerifier
 * with writeToDisk): the files, /zookeeper/config, the notifications. */
/* e->members is in force: its dynamic file (zoo.cfg pointing at it), the
 * notifications' config, the leader port's config. */
static void publish(struct node *n)
{
    struct node_ens *e = n->ens;
    char why[CONFIG_PATH_MAX + 128];
    if (config_write_dynamic(&n->cfg, &e->members, e->sid, why, sizeof(why)) < 0)
        LOG_E("Error writing the dynamic config file: %s", why);
    /* QuorumPeer.setQuorumVerifier: the .next file goes once its version is
     * in force, however it came (applied, NEWLEADER, a notification, after
     * a role's end forgot the pending one) */
    if (e->next_file && (!e->next_pending || e->next_members.version <= e->members.version)) {
        e->next_pending = false;
        e->next_file = false;
        config_remove_dynamic_next(&n->cfg);
    }
    elector_config_update(e->elector, &e->members);
    if (e->leader) {
        struct buf text;
        buf_init(&text);
        membership_format(&e->members, &text);
        buf_append(&text, "", 1); /* a C string */
        leader_port_config_update(e->leader, (const char *)text.data, e->members.version);
        buf_deinit(&text);
    }
    node__om_config_update(n);
}

void node__ens_take_config_version(struct node *n, int64_t version, const char *whose)
{
    struct node_ens *e = n->ens;
    e->members.version = version;
    n->cfg.config_version = version;
    publish(n);
    node__ens_config_node(n);
    LOG_I("The ensemble's config is now version %" PRIx64 " (%s), in %s", (uint64_t)version, whose,
          n->cfg.dynamic_config_file);
}

/* A learner's UPTODATE with reconfigEnabled (Learner.syncWithLeader,
 * QuorumPeer.processReconfig): the config NEWLEADER carried, when its
 * version is above ours, becomes ours: the same servers under the leader's
 * version (an Apache leader gives a config still at version 0 its epoch's
 * first zxid, ZOOKEEPER-1783), or a reconfiguration we missed, written as
 * Apache writes it (the config file's .dynamic.<version>, zoo.cfg pointing
 * at it), in /zookeeper/config and in every notification. */
void node__ens_adopt_leader_config(struct node *n)
{
    struct node_ens *e = n->ens;
    if (!n->cfg.reconfig_enabled || e->leader_config.len == 0)
        return;
    struct membership got;
    membership_init(&got);
    char why[CONFIG_PATH_MAX + 128];
    if (membership_parse_text(&got, (const char *)e->leader_config.data, e->leader_config.len, why,
                              sizeof(why)) < 0) {
        LOG_W("The leader's config does not parse (%s); keeping ours", why);
    } else if (got.version > e->members.version && !membership_same(&got, &e->members)) {
        node__ens_activate(n, &got, "the leader's");
        node__ens_config_node(n);
    } else if (got.version > e->members.version) {
        node__ens_take_config_version(n, got.version, "the leader's");
    }
    membership_deinit(&got);
    buf_clear(&e->leader_config);
}

/* The config a reconfig txn carries (SetDataTxn's data); -1 if `txn` is no
 * reconfig or its config does not parse. */
static int reconfig_config(const uint8_t *txn, size_t len, struct membership *out)
{
    struct jute_reader r;
    jute_reader_init(&r, txn, len);
    struct zk_txn_header h;
    if (zk_txn_header_decode(&r, &h) != 0 || h.type != ZK_OP_RECONFIG)
        return -1;
    struct zk_set_data_txn sd;
    if (zk_set_data_txn_decode(&r, &sd) != 0 || sd.data.len < 0)
        return -1;
    char why[256];
    if (membership_parse_text(out, (const char *)sd.data.ptr, (size_t)sd.data.len, why,
                              sizeof(why)) < 0) {
        LOG_W("A reconfig txn (zxid 0x%" PRIx64 ") whose config does not parse: %s",
              (uint64_t)h.zxid, why);
        return -1;
    }
    return 0;
}

void node__ens_txn_logged(struct node *n, const uint8_t *txn, size_t len)
{
    struct node_ens *e = n->ens;
    /* TxnHeader.type at offset 28: most txns are not reconfigs */
    if (!e || !n->cfg.reconfig_enabled || len < 32 || txn[31] != ZK_OP_RECONFIG || txn[28] ||
        txn[29] || txn[30])
        return;
    struct membership next;
    membership_init(&next);
    if (reconfig_config(txn, len, &next) == 0 && next.version > e->members.version) {
        /* QuorumPeer.setLastSeenQuorumVerifier(qv, true) */
        membership_deinit(&e->next_members);
        e->next_members = next;
        membership_init(&next);
        e->next_pending = true;
        char why[CONFIG_PATH_MAX + 128];
        if (config_write_dynamic_next(&n->cfg, &e->next_members, why, sizeof(why)) < 0)
            LOG_E("Error writing the next dynamic config file: %s", why);
        else
            e->next_file = true;
        LOG_I("A reconfig proposed: config version %" PRIx64 " seen, not yet in force",
              (uint64_t)e->next_members.version);
    }
    membership_deinit(&next);
}

/* QuorumPeer.processReconfig: a server whose role stays under `next` (its
 * learner type, and for a learner a leader that stays a voter) goes on
 * under the same leader, as Apache's; czk's leader designates itself. A
 * follower the config no longer names goes on following as a non-voting
 * participant (updateLearnerType keeps PARTICIPANT): its acks count for
 * nothing, its clients stay. */
static bool role_goes_on(const struct node *n, const struct membership *next)
{
    const struct node_ens *e = n->ens;
    if (e->lost || e->state == ELECTION_LOOKING)
        return false;
    const struct member *me = membership_find(next, e->sid);
    int role = me ? (int)me->role : (int)MEMBER_PARTICIPANT;
    if (role != (e->state == ELECTION_OBSERVING ? MEMBER_OBSERVER : MEMBER_PARTICIPANT))
        return false;
    if (e->state == ELECTION_LEADING)
        return me && e->leader != NULL;
    const struct member *leader = membership_find(next, e->leader_sid);
    return leader && leader->role == MEMBER_PARTICIPANT && e->learner != NULL;
}

/* The servers changed and the role goes on: the leader counts the new
 * voters, and a new election port (it knows the members it was built with)
 * answers LOOKING servers with the vote the role stands on. */
static int role_resume(struct node *n, const int64_t *observers, size_t observers_len)
{
    struct node_ens *e = n->ens;
    int32_t state = elector_state(e->elector);
    struct fle_vote vote = elector_vote(e->elector);
    if (e->leader && leader_port_members_update(e->leader, e->voters, e->voters_len, observers,
                                                observers_len) < 0)
        return -1;
    if (!membership_find(&e->members, e->sid))
        return 0; /* a non-voting follower: the election port it has answers for it */
    if (node__ens_elector_rebuild(n) < 0)
        return 0; /* the node stops */
    return elector_resume(e->elector, state, &vote) < 0 ? -1 : 0;
}

void node__ens_activate(struct node *n, struct membership *next, const char *whose)
{
    struct node_ens *e = n->ens;
    /* czk's election port knows the members it was built with: any change
     * of the servers (not of the version alone) builds it anew, with the
     * role going on when it stays (role_goes_on), else after the role */
    bool restart = !membership_same(&e->members, next);
    bool goes_on = restart && role_goes_on(n, next);
    int64_t version = next->version;
    membership_deinit(&e->members);
    e->members = *next;
    membership_init(next);
    config_set_membership(&n->cfg, &e->members);
    e->voters_len = 0;
    e->voters = mem_realloc(e->voters, (e->members.count ? e->members.count : 1) * sizeof(int64_t));
    int64_t *observers = mem_alloc((e->members.count ? e->members.count : 1) * sizeof(int64_t));
    size_t observers_len = 0;
    for (size_t i = 0; i < e->members.count; i++) {
        if (e->members.members[i].role == MEMBER_PARTICIPANT)
            e->voters[e->voters_len++] = e->members.members[i].sid;
        else
            observers[observers_len++] = e->members.members[i].sid;
    }
    publish(n);
    if (e->leader)
        leader_port_observers_update(e->leader, observers, observers_len);
    LOG_I("The ensemble's config is now version %" PRIx64 " (%s): %zu voters, %zu observers, in %s",
          (uint64_t)version, whose, e->voters_len, observers_len, n->cfg.dynamic_config_file);
    if (goes_on && role_resume(n, observers, observers_len) == 0) {
        LOG_I("The servers changed; this server goes on as %s under leader %" PRId64
              " without an election",
              node__ens_mode(n), e->leader_sid);
        restart = false;
    }
    mem_free(observers);
    if (restart && !e->lost) {
        /* QuorumPeer.restartLeaderElection, and a role that changes */
        e->rebuild_elector = true;
        e->lost = true;
        snprintf(e->lost_reason, sizeof(e->lost_reason),
                 "config version %" PRIx64 " changed the servers: electing under it",
                 (uint64_t)version);
        node__wake(n);
    }
}

void node__io_reconfig_applied(void *ctx, int64_t zxid, const uint8_t *config, size_t len)
{
    struct node *n = ctx;
    struct node_ens *e = n->ens;
    if (!e || !n->cfg.reconfig_enabled)
        return;
    struct membership next;
    membership_init(&next);
    char why[256];
    if (membership_parse_text(&next, (const char *)config, len, why, sizeof(why)) < 0)
        LOG_E("The reconfig at zxid 0x%" PRIx64 " has a config that does not parse: %s",
              (uint64_t)zxid, why);
    else if (next.version > e->members.version)
        node__ens_activate(n, &next, "a reconfig");
    membership_deinit(&next);
}

void node__ens_notified_config(void *ctx, int64_t from_sid, const uint8_t *text, size_t len)
{
    struct node *n = ctx;
    struct node_ens *e = n->ens;
    if (!e || !n->cfg.reconfig_enabled || e->state != ELECTION_LOOKING || e->lost)
        return;
    struct membership next;
    membership_init(&next);
    char why[256];
    if (membership_parse_text(&next, (const char *)text, len, why, sizeof(why)) == 0 &&
        next.version > e->members.version) {
        LOG_I("Election: sid %" PRId64 " names config version %" PRIx64 ", ours is %" PRIx64,
              from_sid, (uint64_t)next.version, (uint64_t)e->members.version);
        node__ens_activate(n, &next, "an election notification's");
        node__ens_config_node(n); /* QuorumPeer.initConfigInZKDatabase */
    }
    membership_deinit(&next);
}
