/* SPDX-License-Identifier: Apache-2.0 */
/* sweep.c — the container and TTL sweep (ContainerManager), run from
 * server_tick by the leader or a standalone server. Pure: no I/O, no clock. */
#include "base/buf.h"
#include "base/list.h"
#include "base/log.h"
#include "base/mem.h"
#include "proto/jute.h"
#include "proto/proto.h"
#include "proto/records.h"
#include "server/server.h"
#include "server/server_int.h"
#include "tree/tree.h"

/* ZooKeeper's ContainerManager: a container whose last child went (it had
 * children: cversion > 0), or that never had one for maxNeverUsedIntervalMs,
 * and a childless TTL node unmodified for its TTL, are deleted by a
 * deleteContainer txn of the server's own (session 0). At most
 * maxPerMinute per minute: the rest wait for the next sweep. */
void server_container_sweep(struct server *s)
{
    int64_t now = server_wall_ms(s);
    int64_t budget =
        (int64_t)s->cfg.container_max_per_minute * s->cfg.container_check_interval_ms / 60000;
    if (budget < 1)
        budget = 1;
    size_t cap = 16, count = 0;
    char **paths = mem_alloc(cap * sizeof(*paths));
    struct list *lists[2] = {&s->tree.containers, &s->tree.ttls};
    for (int i = 0; i < 2; i++) {
        struct list *it;
        LIST_FOREACH(it, lists[i])
        {
            if ((int64_t)count >= budget)
                break;
            struct tree_node *n = LIST_ENTRY(it, struct tree_node, eph_link);
            if (n->child_count > 0)
                continue;
            int64_t elapsed = now - n->stat.mtime;
            bool due;
            if (i == 0)
                due = n->stat.cversion > 0 || (s->cfg.container_max_never_used_ms > 0 &&
                                               elapsed > s->cfg.container_max_never_used_ms);
            else
                due = elapsed > tree_owner_ttl(n->stat.ephemeral_owner);
            if (!due)
                continue;
            if (count == cap) {
                cap *= 2;
                paths = mem_realloc(paths, cap * sizeof(*paths));
            }
            paths[count++] = mem_strndup(n->path, n->path_len);
        }
    }
    for (size_t i = 0; i < count; i++) {
        struct prep p = {.s = s, .auth = NULL, .zxid = server__take_zxid(s), .time = now};
        struct buf body;
        buf_init(&body);
        struct jute_buf path = jute_cstr(paths[i]);
        int32_t type = ZK_OP_DELETE_CONTAINER;
        int32_t err = prep_delete(&p, ZK_OP_DELETE_CONTAINER, path, -1, &body);
        if (err) {
            /* changed meanwhile (a child in flight): ZooKeeper logs the error txn too */
            type = ZK_OP_ERROR;
            buf_clear(&body);
            struct zk_error_txn et = {.err = err};
            zk_error_txn_encode(&body, &et);
        } else {
            LOG_D("deleting %s by the container sweep", paths[i]);
        }
        server_propose(s, NULL, 0, NULL, 0, type, p.zxid, p.time, &body);
        buf_deinit(&body);
        mem_free(paths[i]);
    }
    mem_free(paths);
}
