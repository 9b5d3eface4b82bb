/* SPDX-License-Identifier: Apache-2.0
 *
 * cclient_test: drive a ZooKeeper server with the official C client
 * (libzookeeper_mt, Debian package libzookeeper-mt-dev).
 *
 * Build:
 *   gcc -std=c11 -D_GNU_SOURCE -DTHREADED -Wall -Wextra -O1 -o cclient_test \
 *       tests/integration/cclient_test.c -lzookeeper_mt -lpthread
 * Run:
 *   ./cclient_test 127.0.0.1:2181        (CCLIENT_VERBOSE=1 for the library's log)
 *
 * Connects, creates/gets/sets/deletes a node (with version checks), sets a
 * data watch and a child watch and sees them fire, creates ephemeral
 * sequential nodes, runs a multi, and closes the session.  Exits 0 on
 * success, 1 with a message on stderr otherwise.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef THREADED
#define THREADED /* the synchronous API of libzookeeper_mt */
#endif
#include <zookeeper/zookeeper.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int connected;
static int expired;

struct watch_seen {
    int fired;
    int type;
    int state;
    char path[512];
};

static struct watch_seen data_watch;
static struct watch_seen child_watch;

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cclient_test: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void check_rc(int rc, int want, const char *what)
{
    if (rc != want)
        fail("%s: got %d (%s), want %d (%s)", what, rc, zerror(rc), want, zerror(want));
}

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh;
    (void)path;
    (void)ctx;
    if (type != ZOO_SESSION_EVENT)
        return;
    pthread_mutex_lock(&mu);
    if (state == ZOO_CONNECTED_STATE)
        connected = 1;
    else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE)
        expired = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct watch_seen *w = ctx;
    (void)zh;
    pthread_mutex_lock(&mu);
    w->fired++;
    w->type = type;
    w->state = state;
    snprintf(w->path, sizeof w->path, "%s", path ? path : "");
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void wait_connected(int ms)
{
    struct timespec ts;
    deadline_in(&ts, ms);
    pthread_mutex_lock(&mu);
    while (!connected && !expired) {
        if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
            break;
    }
    int ok = connected;
    pthread_mutex_unlock(&mu);
    if (!ok)
        fail("could not connect within %d ms", ms);
}

static void wait_watch(struct watch_seen *w, int count, int ms, const char *what)
{
    struct timespec ts;
    deadline_in(&ts, ms);
    pthread_mutex_lock(&mu);
    while (w->fired < count) {
        if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
            break;
    }
    int fired = w->fired;
    pthread_mutex_unlock(&mu);
    if (fired < count)
        fail("%s did not fire within %d ms", what, ms);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s host:port\n", argv[0]);
        return 2;
    }
    /* the library logs every failed connect attempt; keep stderr for our
     * own message unless CCLIENT_VERBOSE is set */
    if (!getenv("CCLIENT_VERBOSE")) {
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull)
            zoo_set_log_stream(devnull);
        zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    } else {
        zoo_set_debug_level(ZOO_LOG_LEVEL_DEBUG);
    }
    zhandle_t *zh = zookeeper_init(argv[1], session_watcher, 10000, NULL, NULL, 0);
    if (!zh)
        fail("zookeeper_init: %s", strerror(errno));
    wait_connected(15000);
    if (zoo_recv_timeout(zh) != 10000)
        fail("negotiated session timeout %d, want 10000", zoo_recv_timeout(zh));
    const clientid_t *cid = zoo_client_id(zh);
    if (!cid || cid->client_id == 0)
        fail("no session id");

    char base[64], path[512], buf[256], created[256];
    struct Stat st;
    int len, rc;
    snprintf(base, sizeof base, "/cclient_%ld", (long)getpid());

    /* create / get / set / delete */
    rc = zoo_create(zh, base, "hello", 5, &ZOO_OPEN_ACL_UNSAFE, 0, created, sizeof created);
    check_rc(rc, ZOK, "create base");
    if (strcmp(created, base) != 0)
        fail("create returned path %s, want %s", created, base);
    rc = zoo_create(zh, base, "again", 5, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    check_rc(rc, ZNODEEXISTS, "create existing");

    len = sizeof buf;
    rc = zoo_get(zh, base, 0, buf, &len, &st);
    check_rc(rc, ZOK, "get");
    if (len != 5 || memcmp(buf, "hello", 5) != 0)
        fail("get returned %.*s", len, buf);
    if (st.version != 0 || st.dataLength != 5 || st.numChildren != 0 || st.ephemeralOwner != 0)
        fail("bad stat after create: version %d dataLength %d", st.version, st.dataLength);

    rc = zoo_set(zh, base, "world!", 6, 0);
    check_rc(rc, ZOK, "set version 0");
    rc = zoo_set(zh, base, "stale", 5, 0);
    check_rc(rc, ZBADVERSION, "set stale version");
    len = sizeof buf;
    rc = zoo_get(zh, base, 0, buf, &len, &st);
    check_rc(rc, ZOK, "get after set");
    if (len != 6 || memcmp(buf, "world!", 6) != 0 || st.version != 1)
        fail("after set: data %.*s version %d", len, buf, st.version);

    /* create2 returns a Stat */
    snprintf(path, sizeof path, "%s/c2", base);
    struct Stat st2;
    rc = zoo_create2(zh, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, created, sizeof created, &st2);
    check_rc(rc, ZOK, "create2");
    if (st2.dataLength != 1 || st2.czxid == 0 || st2.czxid != st2.mzxid)
        fail("create2 stat: dataLength %d czxid %lld", st2.dataLength, (long long)st2.czxid);
    rc = zoo_delete(zh, path, 3);
    check_rc(rc, ZBADVERSION, "delete wrong version");
    rc = zoo_delete(zh, path, 0);
    check_rc(rc, ZOK, "delete c2");
    rc = zoo_exists(zh, path, 0, &st);
    check_rc(rc, ZNONODE, "exists after delete");

    /* data watch fires on set */
    len = sizeof buf;
    rc = zoo_wget(zh, base, node_watcher, &data_watch, buf, &len, &st);
    check_rc(rc, ZOK, "wget");
    rc = zoo_set(zh, base, "changed", 7, -1);
    check_rc(rc, ZOK, "set to fire watch");
    wait_watch(&data_watch, 1, 10000, "data watch");
    if (data_watch.type != ZOO_CHANGED_EVENT || strcmp(data_watch.path, base) != 0)
        fail("data watch: type %d path %s", data_watch.type, data_watch.path);

    /* child watch fires on create of an ephemeral sequential node */
    struct String_vector children;
    rc = zoo_wget_children(zh, base, node_watcher, &child_watch, &children);
    check_rc(rc, ZOK, "wget_children");
    if (children.count != 0)
        fail("expected no children, got %d", children.count);
    deallocate_String_vector(&children);

    snprintf(path, sizeof path, "%s/seq-", base);
    char seq1[256], seq2[256];
    rc = zoo_create(zh, path, "e", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL | ZOO_SEQUENCE, seq1,
                    sizeof seq1);
    check_rc(rc, ZOK, "create ephemeral sequential 1");
    wait_watch(&child_watch, 1, 10000, "child watch");
    if (child_watch.type != ZOO_CHILD_EVENT || strcmp(child_watch.path, base) != 0)
        fail("child watch: type %d path %s", child_watch.type, child_watch.path);
    rc = zoo_create(zh, path, "e", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL | ZOO_SEQUENCE, seq2,
                    sizeof seq2);
    check_rc(rc, ZOK, "create ephemeral sequential 2");
    size_t plen = strlen(path);
    if (strlen(seq1) != plen + 10 || strncmp(seq1, path, plen) != 0)
        fail("bad sequential name %s", seq1);
    long n1 = strtol(seq1 + plen, NULL, 10), n2 = strtol(seq2 + plen, NULL, 10);
    if (n2 != n1 + 1)
        fail("sequence numbers %ld then %ld", n1, n2);
    rc = zoo_exists(zh, seq1, 0, &st);
    check_rc(rc, ZOK, "exists ephemeral");
    if (st.ephemeralOwner != cid->client_id)
        fail("ephemeralOwner %llx, session %llx", (unsigned long long)st.ephemeralOwner,
             (unsigned long long)cid->client_id);
    snprintf(path, sizeof path, "%s/x", seq1);
    rc = zoo_create(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    check_rc(rc, ZNOCHILDRENFOREPHEMERALS, "child of ephemeral");

    /* multi: all or nothing */
    zoo_op_t ops[3];
    zoo_op_result_t results[3];
    char mpath[512], mbuf[512];
    snprintf(mpath, sizeof mpath, "%s/m", base);
    zoo_create_op_init(&ops[0], mpath, "m", 1, &ZOO_OPEN_ACL_UNSAFE, 0, mbuf, sizeof mbuf);
    zoo_check_op_init(&ops[1], base, 99);
    zoo_delete_op_init(&ops[2], seq1, -1);
    rc = zoo_multi(zh, 3, ops, results);
    check_rc(rc, ZBADVERSION, "failing multi");
    if (results[0].err != ZOK || results[1].err != ZBADVERSION ||
        results[2].err != ZRUNTIMEINCONSISTENCY)
        fail("failing multi results %d %d %d", results[0].err, results[1].err, results[2].err);
    rc = zoo_exists(zh, mpath, 0, &st);
    check_rc(rc, ZNONODE, "multi rolled back");
    zoo_create_op_init(&ops[0], mpath, "m", 1, &ZOO_OPEN_ACL_UNSAFE, 0, mbuf, sizeof mbuf);
    zoo_check_op_init(&ops[1], base, 2);
    zoo_delete_op_init(&ops[2], seq1, -1);
    rc = zoo_multi(zh, 3, ops, results);
    check_rc(rc, ZOK, "multi");
    if (strcmp(mbuf, mpath) != 0)
        fail("multi create path %s", mbuf);
    rc = zoo_exists(zh, seq1, 0, &st);
    check_rc(rc, ZNONODE, "multi deleted the ephemeral");

    rc = zoo_get_children(zh, base, 0, &children);
    check_rc(rc, ZOK, "get_children");
    if (children.count != 2)
        fail("expected 2 children, got %d", children.count);
    deallocate_String_vector(&children);

    /* clean up */
    rc = zoo_delete(zh, mpath, -1);
    check_rc(rc, ZOK, "delete m");
    rc = zoo_delete(zh, base, -1);
    check_rc(rc, ZNOTEMPTY, "delete non-empty base");
    rc = zoo_delete(zh, seq2, -1);
    check_rc(rc, ZOK, "delete seq2");
    rc = zoo_delete(zh, base, -1);
    check_rc(rc, ZOK, "delete base");

    rc = zookeeper_close(zh);
    check_rc(rc, ZOK, "close");
    printf("cclient_test: OK\n");
    return 0;
}
