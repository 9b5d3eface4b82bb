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
 *   ./cclient_test --failover h1:p1,h2:p2,h3:p3
 *
 * Connects, creates/gets/sets/deletes a node (with version checks), sets a
 * data watch and a child watch and sees them fire, creates ephemeral
 * sequential nodes, runs a multi, and closes the session.  Exits 0 on
 * success, 1 with a message on stderr otherwise.
 *
 * --failover (test_ensemble_clients.py): connects to the hosts in the order
 * given (the first is the ensemble's leader), writes base/n0..n9, an
 * ephemeral base/eph, sets a data watch on base/watched, prints
 * "READY 0x<session>" and waits for a line on stdin (the test kills the
 * leader, then writes that line).  Then, with the library reconnecting on
 * its own: every write is read back, the session id is the one from
 * before, the client saw a disconnection and a reconnection and no expiry,
 * base/eph is still owned by the session, and a set of base/watched fires
 * the watch set before the kill.
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
static int disconnects; /* ZOO_CONNECTING_STATE events after a connection */
static int connects;    /* ZOO_CONNECTED_STATE events */

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
    if (state == ZOO_CONNECTED_STATE) {
        connected = 1;
        connects++;
    } else if (state == ZOO_CONNECTING_STATE && connected) {
        disconnects++;
    } else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE)
        expired = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct watch_seen *w = ctx;
    (void)zh;
    /* the library passes connection state changes to every registered
     * watcher too; the watch stays registered (until the session expires) */
    if (type == ZOO_SESSION_EVENT)
        return;
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

static int is_connection_error(int rc)
{
    return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONMOVED;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* zoo_get, retried while the library reconnects (up to the deadline). */
static int get_retrying(zhandle_t *zh, const char *path, char *buf, int *len, struct Stat *st,
                        double deadline_s)
{
    for (;;) {
        int cap = *len;
        int rc = zoo_get(zh, path, 0, buf, &cap, st);
        if (!is_connection_error(rc) || now_s() > deadline_s) {
            *len = cap;
            return rc;
        }
        struct timespec pause = {0, 50 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

static int run_failover(zhandle_t *zh)
{
    const clientid_t *cid = zoo_client_id(zh);
    int64_t session = cid->client_id;
    char base[64], path[512], data[64], buf[256];
    struct Stat st;
    int len, rc;
    snprintf(base, sizeof base, "/cfail_%ld", (long)getpid());
    rc = zoo_create(zh, base, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    check_rc(rc, ZOK, "create base");
    for (int i = 0; i < 10; i++) {
        snprintf(path, sizeof path, "%s/n%d", base, i);
        snprintf(data, sizeof data, "v%d", i);
        rc = zoo_create(zh, path, data, (int)strlen(data), &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
        check_rc(rc, ZOK, "create n");
    }
    char eph[512], watched[512];
    snprintf(eph, sizeof eph, "%s/eph", base);
    snprintf(watched, sizeof watched, "%s/watched", base);
    rc = zoo_create(zh, eph, "e", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
    check_rc(rc, ZOK, "create ephemeral");
    rc = zoo_create(zh, watched, "w0", 2, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    check_rc(rc, ZOK, "create watched");
    len = sizeof buf;
    rc = zoo_wget(zh, watched, node_watcher, &data_watch, buf, &len, &st);
    check_rc(rc, ZOK, "wget watched");
    printf("READY 0x%llx\n", (unsigned long long)session);
    fflush(stdout);

    char line[64];
    if (!fgets(line, sizeof line, stdin))
        fail("stdin closed before the go-ahead");

    double deadline_s = now_s() + 30.0;
    for (int i = 0; i < 10; i++) {
        snprintf(path, sizeof path, "%s/n%d", base, i);
        snprintf(data, sizeof data, "v%d", i);
        len = sizeof buf;
        rc = get_retrying(zh, path, buf, &len, &st, deadline_s);
        check_rc(rc, ZOK, "get after the kill");
        if (len != (int)strlen(data) || memcmp(buf, data, (size_t)len) != 0)
            fail("%s holds %.*s after the kill, want %s", path, len, buf, data);
    }
    /* The library answers a synchronous call from its I/O thread and hands
     * session events to its completion thread: the reconnection's event may
     * come after the reads it made possible. */
    struct timespec ts;
    deadline_in(&ts, 10000);
    pthread_mutex_lock(&mu);
    while (connects < 2 && !expired) {
        if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
            break;
    }
    int saw_disconnects = disconnects, saw_connects = connects, saw_expired = expired;
    pthread_mutex_unlock(&mu);
    if (saw_expired)
        fail("the session expired");
    if (saw_disconnects < 1 || saw_connects < 2)
        fail("no reconnection seen: %d disconnects, %d connects", saw_disconnects, saw_connects);
    if (zoo_state(zh) != ZOO_CONNECTED_STATE)
        fail("state %d after the reads", zoo_state(zh));
    cid = zoo_client_id(zh);
    if (cid->client_id != session)
        fail("session 0x%llx after the kill, 0x%llx before", (unsigned long long)cid->client_id,
             (unsigned long long)session);
    len = sizeof buf;
    rc = get_retrying(zh, eph, buf, &len, &st, deadline_s);
    check_rc(rc, ZOK, "get ephemeral after the kill");
    if (st.ephemeralOwner != session)
        fail("ephemeralOwner 0x%llx, session 0x%llx", (unsigned long long)st.ephemeralOwner,
             (unsigned long long)session);
    if (data_watch.fired)
        fail("the data watch fired before the set (type %d)", data_watch.type);
    rc = zoo_set(zh, watched, "w1", 2, -1);
    check_rc(rc, ZOK, "set watched");
    wait_watch(&data_watch, 1, 10000, "data watch set before the kill");
    if (data_watch.type != ZOO_CHANGED_EVENT || strcmp(data_watch.path, watched) != 0)
        fail("data watch: type %d path %s", data_watch.type, data_watch.path);

    for (int i = 0; i < 10; i++) {
        snprintf(path, sizeof path, "%s/n%d", base, i);
        check_rc(zoo_delete(zh, path, -1), ZOK, "delete n");
    }
    check_rc(zoo_delete(zh, eph, -1), ZOK, "delete ephemeral");
    check_rc(zoo_delete(zh, watched, -1), ZOK, "delete watched");
    check_rc(zoo_delete(zh, base, -1), ZOK, "delete base");
    check_rc(zookeeper_close(zh), ZOK, "close");
    printf("cclient_test: OK failover 0x%llx %d disconnects %d connects\n",
           (unsigned long long)session, saw_disconnects, saw_connects);
    return 0;
}

int main(int argc, char **argv)
{
    int failover = argc == 3 && strcmp(argv[1], "--failover") == 0;
    if (argc != 2 && !failover) {
        fprintf(stderr, "usage: %s host:port | --failover host:port,host:port,...\n", argv[0]);
        return 2;
    }
    const char *hosts = argv[argc - 1];
    /* the library logs every failed connect attempt; keep stderr for our
     * own message unless CCLIENT_VERBOSE is set */
    const char *log_path = getenv("CCLIENT_LOG");
    if (log_path) {
        /* the library's own log (debug), for a failure's post-mortem */
        FILE *log = fopen(log_path, "a");
        if (log) {
            setvbuf(log, NULL, _IOLBF, 0);
            zoo_set_log_stream(log);
        }
        zoo_set_debug_level(ZOO_LOG_LEVEL_DEBUG);
    } else if (!getenv("CCLIENT_VERBOSE")) {
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull)
            zoo_set_log_stream(devnull);
        zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    } else {
        zoo_set_debug_level(ZOO_LOG_LEVEL_DEBUG);
    }
    if (failover)
        zoo_deterministic_conn_order(1);
    zhandle_t *zh = zookeeper_init(hosts, session_watcher, 10000, NULL, NULL, 0);
    if (!zh)
        fail("zookeeper_init: %s", strerror(errno));
    wait_connected(15000);
    if (zoo_recv_timeout(zh) != 10000)
        fail("negotiated session timeout %d, want 10000", zoo_recv_timeout(zh));
    const clientid_t *cid = zoo_client_id(zh);
    if (!cid || cid->client_id == 0)
        fail("no session id");
    if (failover)
        return run_failover(zh);

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
