/* SPDX-License-Identifier: Apache-2.0 */
/* The text of each four-letter word, line for line as Apache ZooKeeper 3.8
 * prints it (the server/command classes, ServerStats.toString, ServerCnxn
 * .dumpConnectionInfo, ZooKeeperServer.dumpConf, Environment.list,
 * MonitorCommand over the DefaultMetricsProvider). Values czk does not track
 * print as ZooKeeper prints them before anything happened (0). */
#include "node/four_letter.h"

#include "base/buf.h"
#include "base/mem.h"
#include "node/config.h"
#include "proto/proto.h"
#include "zab/membership.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static const char four_letter_names[FOUR_LETTER_COUNT][13] = {
    [FOUR_LETTER_CONF] = "conf",
    [FOUR_LETTER_CONS] = "cons",
    [FOUR_LETTER_CRST] = "crst",
    [FOUR_LETTER_DIRS] = "dirs",
    [FOUR_LETTER_DUMP] = "dump",
    [FOUR_LETTER_ENVI] = "envi",
    [FOUR_LETTER_GTMK] = "gtmk",
    [FOUR_LETTER_RUOK] = "ruok",
    [FOUR_LETTER_STMK] = "stmk",
    [FOUR_LETTER_SRST] = "srst",
    [FOUR_LETTER_SRVR] = "srvr",
    [FOUR_LETTER_STAT] = "stat",
    [FOUR_LETTER_WCHC] = "wchc",
    [FOUR_LETTER_WCHP] = "wchp",
    [FOUR_LETTER_WCHS] = "wchs",
    [FOUR_LETTER_MNTR] = "mntr",
    [FOUR_LETTER_ISRO] = "isro",
    [FOUR_LETTER_HASH] = "hash",
    [FOUR_LETTER_TELNET_CLOSE] = "telnet close",
};

static const uint8_t telnet_close_bytes[4] = {0xff, 0xf4, 0xff, 0xfd};

int four_letter_lookup(const uint8_t word[4])
{
    if (memcmp(word, telnet_close_bytes, 4) == 0)
        return FOUR_LETTER_TELNET_CLOSE;
    for (int i = 0; i < FOUR_LETTER_TELNET_CLOSE; i++)
        if (memcmp(word, four_letter_names[i], 4) == 0)
            return i;
    return -1;
}

int four_letter_from_name(const char *name, size_t len)
{
    for (int i = 0; i < FOUR_LETTER_COUNT; i++)
        if (strlen(four_letter_names[i]) == len && memcmp(name, four_letter_names[i], len) == 0)
            return i;
    return -1;
}

const char *four_letter_name(int cmd)
{
    if (cmd < 0 || cmd >= FOUR_LETTER_COUNT)
        return "?";
    return four_letter_names[cmd];
}

void four_letter_full_version(char *out, size_t size)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *date = __DATE__; /* "Mmm dd yyyy" */
    const char *time = __TIME__; /* "hh:mm:ss" */
    int month = 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(date, months + 3 * i, 3) == 0)
            month = i + 1;
    int day = (date[4] == ' ' ? 0 : date[4] - '0') * 10 + (date[5] - '0');
    snprintf(out, size, "%s, built on %.4s-%02d-%02d %.5s UTC", CZK_ZK_VERSION, date + 7, month,
             day, time);
}

int64_t four_letter_packets(size_t len)
{
    return (int64_t)((len + 8191) / 8192);
}

void four_letter_counters_reset(struct four_letter_counters *c)
{
    memset(c, 0, sizeof(*c));
    c->response_size_last = -1;
    c->response_size_min = -1;
    c->response_size_max = -1;
}

int four_letter_dump_kind(int cmd)
{
    switch (cmd) {
    case FOUR_LETTER_WCHP:
        return SERVER_DUMP_WATCHES_BY_PATH;
    case FOUR_LETTER_WCHC:
        return SERVER_DUMP_WATCHES_BY_SESSION;
    case FOUR_LETTER_DUMP:
        return SERVER_DUMP_SESSIONS;
    default:
        return -1;
    }
}

void four_letter_refuse(int cmd, struct buf *out)
{
    buf_printf(out, "%s is not executed because it is not in the whitelist.\n",
               four_letter_name(cmd));
}

/* ---- number formats ---- */

/* AvgMinMaxCounter.getAvg: total / count rounded HALF_UP to 4 places, printed
 * by Double.toString (shortest form, at least one decimal). */
static void print_avg(struct buf *out, int64_t total, int64_t count)
{
    if (count <= 0 || total < 0) {
        buf_printf(out, "0.0");
        return;
    }
    int64_t q = (total * 20000 + count) / (2 * count);
    int64_t whole = q / 10000;
    int64_t frac = q % 10000;
    int digits = 4;
    while (digits > 1 && frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    buf_printf(out, "%" PRId64 ".%0*" PRId64, whole, digits, frac);
}

static int64_t min_or_zero(int64_t v)
{
    return v < 0 ? 0 : v;
}

/* DataTree.getNodeCount counts the root twice (it is mapped under both ""
 * and "/"), so a fresh ZooKeeper reports 5 nodes for /, /zookeeper,
 * /zookeeper/quota and /zookeeper/config. The server counts znodes. */
static size_t zk_node_count(const struct server_stats *st)
{
    return st->node_count + 1;
}

/* Request.op2String as FinalRequestProcessor records it in lastOp. */
static const char *op_short_name(int32_t op)
{
    switch (op) {
    case ZK_OP_PING:
        return "PING";
    case ZK_OP_CREATE_SESSION:
        return "SESS";
    case ZK_OP_MULTI:
        return "MULT";
    case ZK_OP_MULTI_READ:
        return "MLTR";
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_TTL:
    case ZK_OP_CREATE_CONTAINER:
        return "CREA";
    case ZK_OP_DELETE:
    case ZK_OP_DELETE_CONTAINER:
        return "DELE";
    case ZK_OP_SET_DATA:
        return "SETD";
    case ZK_OP_RECONFIG:
        return "RECO";
    case ZK_OP_SET_ACL:
        return "SETA";
    case ZK_OP_CLOSE_SESSION:
        return "CLOS";
    case ZK_OP_SYNC:
        return "SYNC";
    case ZK_OP_CHECK:
        return "CHEC";
    case ZK_OP_EXISTS:
        return "EXIS";
    case ZK_OP_GET_DATA:
        return "GETD";
    case ZK_OP_SET_WATCHES:
        return "SETW";
    case ZK_OP_SET_WATCHES2:
        return "STW2";
    case ZK_OP_ADD_WATCH:
        return "ADDW";
    case ZK_OP_GET_ACL:
        return "GETA";
    case ZK_OP_GET_CHILDREN:
    case ZK_OP_GET_CHILDREN2:
        return "GETC";
    case ZK_OP_GET_ALL_CHILDREN_NUMBER:
        return "GETACN";
    case ZK_OP_CHECK_WATCHES:
        return "CHKW";
    case ZK_OP_REMOVE_WATCHES:
        return "REMW";
    case ZK_OP_WHO_AM_I:
        return "HOMI";
    case ZK_OP_GET_EPHEMERALS:
        return "GETE";
    default:
        return "NA";
    }
}

/* ServerCnxn.dumpConnectionInfo */
static void print_conn(struct buf *out, const struct four_letter_conn *c, bool brief)
{
    const struct server_conn_info *i = &c->info;
    buf_printf(out, " %s[", c->peer);
    if (c->interest_ops == 0)
        buf_printf(out, "0");
    else
        buf_printf(out, "%x", (unsigned)c->interest_ops);
    buf_printf(out, "](queued=%" PRId64 ",recved=%" PRId64 ",sent=%" PRId64, i->outstanding,
               i->packets_received, i->packets_sent);
    if (!brief && i->session_id != 0) {
        buf_printf(out, ",sid=0x%" PRIx64 ",lop=%s,est=%" PRId64 ",to=%" PRId32,
                   (uint64_t)i->session_id, op_short_name(i->last_op), i->established_ms,
                   i->timeout_ms);
        if (i->last_cxid >= 0)
            buf_printf(out, ",lcxid=0x%" PRIx64, (uint64_t)i->last_cxid);
        /* server.h has no last latency per connection yet: llat prints 0. */
        buf_printf(out,
                   ",lzxid=0x%" PRIx64 ",lresp=%" PRId64 ",llat=0,minlat=%" PRId64
                   ",avglat=%" PRId64 ",maxlat=%" PRId64,
                   (uint64_t)i->last_zxid, i->last_response_ms, min_or_zero(i->latency_min_ms),
                   i->latency_count ? i->latency_total_ms / i->latency_count : 0,
                   i->latency_max_ms);
    }
    buf_printf(out, ")");
}

/* ---- srvr, stat, cons ---- */

/* A member in read-only mode (node__ens_mode "read-only"): Apache's
 * ReadOnlyZooKeeperServer, a ZooKeeperServer that is not a quorum one. */
static bool read_only(const struct four_letter_input *in)
{
    return in->mode && strcmp(in->mode, "read-only") == 0;
}

static void print_server_stats(const struct four_letter_input *in, const struct server_stats *st,
                               struct buf *out)
{
    buf_printf(out, "Latency min/avg/max: %" PRId64 "/", min_or_zero(st->latency_min_ms));
    print_avg(out, st->latency_total_ms, st->latency_count);
    buf_printf(out, "/%" PRId64 "\n", st->latency_max_ms);
    buf_printf(out, "Received: %" PRId64 "\n",
               st->packets_received + in->counters->packets_received);
    buf_printf(out, "Sent: %" PRId64 "\n", st->packets_sent + in->counters->packets_sent);
    buf_printf(out, "Connections: %zu\n", in->conn_count);
    buf_printf(out, "Outstanding: %" PRId64 "\n", st->outstanding_requests);
    buf_printf(out, "Zxid: 0x%" PRIx64 "\n", (uint64_t)st->last_zxid);
    buf_printf(out, "Mode: %s\n", in->mode ? in->mode : "standalone");
}

static void run_stat(const struct four_letter_input *in, bool with_clients, struct buf *out)
{
    struct server_stats st;
    server_get_stats(in->server, &st);
    char version[128];
    four_letter_full_version(version, sizeof(version));
    buf_printf(out, "Zookeeper version: %s\n", version);
    if (read_only(in))
        buf_printf(out, "READ-ONLY mode; serving only read-only clients\n");
    if (with_clients) {
        buf_printf(out, "Clients:\n");
        for (size_t i = 0; i < in->conn_count; i++) {
            print_conn(out, &in->conns[i], true);
            buf_printf(out, "\n");
        }
        buf_printf(out, "\n");
    }
    print_server_stats(in, &st, out);
    buf_printf(out, "Node count: %zu\n", zk_node_count(&st));
    if (in->mode && strcmp(in->mode, "leader") == 0)
        buf_printf(out, "Proposal sizes last/min/max: %" PRId64 "/%" PRId64 "/%" PRId64 "\n",
                   in->proposal_sizes[0], in->proposal_sizes[1], in->proposal_sizes[2]);
}

static void run_cons(const struct four_letter_input *in, struct buf *out)
{
    for (size_t i = 0; i < in->conn_count; i++) {
        print_conn(out, &in->conns[i], false);
        buf_printf(out, "\n");
    }
    buf_printf(out, "\n");
}

/* ---- conf, dirs ---- */

/* ZooKeeperServer.getDirSize: the bytes of every file under `path`, walked
 * with an explicit stack (no recursion on a depth the disk decides). */
static int64_t dir_size(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return 0;
    if (!S_ISDIR(sb.st_mode))
        return (int64_t)sb.st_size;
    int64_t total = 0;
    size_t count = 0, cap = 8;
    char **stack = mem_alloc(cap * sizeof(*stack));
    stack[count++] = mem_strndup(path, strlen(path));
    size_t visited = 0;
    while (count > 0 && visited < 100000) {
        char *dir = stack[--count];
        visited++;
        DIR *d = opendir(dir);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                    continue;
                if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
                    continue;
                if (!S_ISDIR(sb.st_mode)) {
                    total += (int64_t)sb.st_size;
                    continue;
                }
                struct buf child;
                buf_init(&child);
                buf_printf(&child, "%s/%s", dir, de->d_name);
                if (count == cap) {
                    cap *= 2;
                    stack = mem_realloc(stack, cap * sizeof(*stack));
                }
                stack[count++] = (char *)child.data;
            }
            closedir(d);
        }
        mem_free(dir);
    }
    while (count > 0)
        mem_free(stack[--count]);
    mem_free(stack);
    return total;
}

static void run_conf(const struct four_letter_input *in, struct buf *out)
{
    const struct node_config *cfg = in->cfg;
    buf_printf(out, "clientPort=%d\n", in->client_port);
    buf_printf(out, "secureClientPort=-1\n");
    /* FileTxnSnapLog calls the txn-log directory its "dataDir": ZooKeeper's
     * dataDirSize measures dataLogDir and dataLogSize measures dataDir. */
    buf_printf(out, "dataDir=%s\n", in->snap_dir);
    buf_printf(out, "dataDirSize=%" PRId64 "\n", dir_size(in->log_dir));
    buf_printf(out, "dataLogDir=%s\n", in->log_dir);
    buf_printf(out, "dataLogSize=%" PRId64 "\n", dir_size(in->snap_dir));
    buf_printf(out, "tickTime=%" PRId32 "\n", cfg->tick_time_ms);
    buf_printf(out, "maxClientCnxns=%" PRId32 "\n", cfg->max_client_cnxns);
    buf_printf(out, "minSessionTimeout=%" PRId32 "\n", cfg->min_session_timeout_ms);
    buf_printf(out, "maxSessionTimeout=%" PRId32 "\n", cfg->max_session_timeout_ms);
    buf_printf(out, "clientPortListenBacklog=-1\n");
    const struct four_letter_quorum *q = in->mode ? in->quorum : NULL;
    buf_printf(out, "serverId=%" PRId64 "\n", q ? q->sid : 0);
    if (!q)
        return;
    /* QuorumZooKeeperServer.dumpConf. electionAlg is always 3 (FLE); the
     * membership ends without a newline, as QuorumMaj.toString does. */
    buf_printf(out, "initLimit=%" PRId32 "\n", q->init_limit);
    buf_printf(out, "syncLimit=%" PRId32 "\n", q->sync_limit);
    buf_printf(out, "electionAlg=3\n");
    buf_printf(out, "electionPort=%" PRId32 "\n", q->election_port);
    buf_printf(out, "quorumPort=%" PRId32 "\n", q->quorum_port);
    buf_printf(out, "peerType=%d\n", q->peer_type);
    if (read_only(in))
        return; /* ReadOnlyZooKeeperServer.dumpConf ends there */
    buf_printf(out, "membership: \n");
    if (q->membership)
        membership_format(q->membership, out);
}

static void run_dirs(const struct four_letter_input *in, struct buf *out)
{
    buf_printf(out, "datadir_size: %" PRId64 "\n", dir_size(in->log_dir));
    buf_printf(out, "logdir_size: %" PRId64 "\n", dir_size(in->snap_dir));
}

/* ---- envi ---- */

void four_letter_host_name(char *out, size_t size)
{
    char host[256];
    snprintf(out, size, "<NA>");
    if (gethostname(host, sizeof(host)) != 0)
        return;
    host[sizeof(host) - 1] = '\0';
    snprintf(out, size, "%s", host);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_flags = AI_CANONNAME};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return;
    char name[NI_MAXHOST];
    if (getnameinfo(res->ai_addr, res->ai_addrlen, name, sizeof(name), NULL, 0, NI_NAMEREQD) == 0)
        snprintf(out, size, "%s", name);
    else if (res->ai_canonname)
        snprintf(out, size, "%s", res->ai_canonname);
    freeaddrinfo(res);
}

/* Java's os.arch names. */
static const char *java_arch(const char *machine)
{
    if (strcmp(machine, "x86_64") == 0)
        return "amd64";
    if (strcmp(machine, "i686") == 0 || strcmp(machine, "i386") == 0)
        return "x86";
    return machine;
}

/* Runtime.freeMemory/maxMemory/totalMemory describe the JVM heap; the
 * nearest things here are malloc's free and obtained bytes and the RAM. */
static void memory_mb(int64_t *free_mb, int64_t *max_mb, int64_t *total_mb)
{
    int64_t mb = 1024 * 1024;
    long pages = sysconf(_SC_PHYS_PAGES);
    long page_size = sysconf(_SC_PAGESIZE);
    *max_mb = pages > 0 && page_size > 0 ? (int64_t)pages * page_size / mb : 0;
    *free_mb = 0;
    *total_mb = 0;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    *total_mb = (int64_t)((mi.arena + mi.hblkhd) / (size_t)mb);
    *free_mb = (int64_t)(mi.fordblks / (size_t)mb);
#endif
}

void four_letter_environment(const char *host_name, struct buf *out)
{
    struct utsname un;
    if (uname(&un) != 0)
        memset(&un, 0, sizeof(un));
    const char *tmpdir = getenv("TMPDIR");
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        snprintf(cwd, sizeof(cwd), "<NA>");
    struct passwd pw, *pwp = NULL;
    char pwbuf[4096];
    if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &pwp) != 0)
        pwp = NULL;
    int64_t free_mb, max_mb, total_mb;
    memory_mb(&free_mb, &max_mb, &total_mb);

    char version[128];
    four_letter_full_version(version, sizeof(version));
    buf_printf(out, "zookeeper.version=%s\n", version);
    buf_printf(out, "host.name=%s\n", host_name);
    buf_printf(out, "java.version=<NA>\n");
    buf_printf(out, "java.vendor=<NA>\n");
    buf_printf(out, "java.home=<NA>\n");
    buf_printf(out, "java.class.path=<NA>\n");
    buf_printf(out, "java.library.path=<NA>\n");
    buf_printf(out, "java.io.tmpdir=%s\n", tmpdir && *tmpdir ? tmpdir : "/tmp");
    buf_printf(out, "java.compiler=<NA>\n");
    buf_printf(out, "os.name=%s\n", un.sysname[0] ? un.sysname : "<NA>");
    buf_printf(out, "os.arch=%s\n", un.machine[0] ? java_arch(un.machine) : "<NA>");
    buf_printf(out, "os.version=%s\n", un.release[0] ? un.release : "<NA>");
    buf_printf(out, "user.name=%s\n", pwp ? pwp->pw_name : "<NA>");
    buf_printf(out, "user.home=%s\n", pwp ? pwp->pw_dir : "<NA>");
    buf_printf(out, "user.dir=%s\n", cwd);
    buf_printf(out, "os.memory.free=%" PRId64 "MB\n", free_mb);
    buf_printf(out, "os.memory.max=%" PRId64 "MB\n", max_mb);
    buf_printf(out, "os.memory.total=%" PRId64 "MB\n", total_mb);
}

/* ---- dump ---- */

static int compare_expiry(const void *a, const void *b)
{
    const struct four_letter_conn *x = *(const struct four_letter_conn *const *)a;
    const struct four_letter_conn *y = *(const struct four_letter_conn *const *)b;
    if (x->expiry_wall_ms != y->expiry_wall_ms)
        return x->expiry_wall_ms < y->expiry_wall_ms ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* java.util.Date.toString: "EEE MMM dd HH:mm:ss zzz yyyy", local time. */
void four_letter_java_date(struct buf *out, int64_t wall_ms)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    char text[64];
    if (!localtime_r(&t, &tm) || strftime(text, sizeof(text), "%a %b %d %H:%M:%S %Z %Y", &tm) == 0)
        snprintf(text, sizeof(text), "%" PRId64, wall_ms);
    buf_printf(out, "%s", text);
}

/* NIOServerCnxnFactory.dumpConnections over its ExpiryQueue. */
static void print_connections(const struct four_letter_input *in, struct buf *out)
{
    size_t n = in->conn_count;
    const struct four_letter_conn **order = mem_alloc((n ? n : 1) * sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = &in->conns[i];
    qsort(order, n, sizeof(*order), compare_expiry);
    size_t sets = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || order[i]->expiry_wall_ms != order[i - 1]->expiry_wall_ms)
            sets++;
    buf_printf(out, "Connections Sets (%zu)/(%zu):\n", sets, n);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && order[j]->expiry_wall_ms == order[i]->expiry_wall_ms)
            j++;
        buf_printf(out, "%zu expire at ", j - i);
        four_letter_java_date(out, order[i]->expiry_wall_ms);
        buf_printf(out, ":\n");
        for (; i < j; i++)
            buf_printf(out, "\tip: %s sessionId: 0x%" PRIx64 "\n", order[i]->peer,
                       (uint64_t)order[i]->info.session_id);
    }
    mem_free(order);
}

/* ---- mntr ---- */

enum mntr_value {
    MNTR_ZERO,
    MNTR_LOCAL_SESSIONS,
    MNTR_VERSION,
    MNTR_STATE,
    MNTR_EPHEMERALS,
    MNTR_CONNECTIONS,
    MNTR_AVG_LATENCY,
    MNTR_MIN_LATENCY,
    MNTR_MAX_LATENCY,
    MNTR_OUTSTANDING,
    MNTR_ZNODES,
    MNTR_SESSIONS,
    MNTR_RESPONSE_LAST,
    MNTR_RESPONSE_MIN,
    MNTR_RESPONSE_MAX,
    MNTR_PACKETS_SENT,
    MNTR_PACKETS_RECEIVED,
    MNTR_DROP_PROBABILITY,
    MNTR_WATCHES,
    MNTR_FD_MAX,
    MNTR_FD_OPEN,
    MNTR_DATA_SIZE,
    MNTR_UPTIME,
    MNTR_CONNECTION_REJECTED,
    MNTR_SESSIONLESS_EXPIRED,
    MNTR_CONNECTION_DROPS,
    MNTR_BYTES_RECEIVED,
    MNTR_CONNECTION_REQUESTS,
    MNTR_PEER_STATE,
    MNTR_OBSERVER_MASTER,
    MNTR_QUORUM_SIZE,
    MNTR_LEARNERS,
    MNTR_SYNCED_FOLLOWERS,
    MNTR_SYNCED_NON_VOTING,
    MNTR_SYNCED_OBSERVERS,
    MNTR_PENDING_SYNCS,
    MNTR_LEADER_UPTIME,
    MNTR_PROPOSAL_LAST,
    MNTR_PROPOSAL_MIN,
    MNTR_PROPOSAL_MAX,
};

/* Which servers print a key: the gauges a role's ZooKeeperServer class
 * registers, the values its dumpMonitorValues adds. */
enum {
    MNTR_ALL = 0,
    MNTR_STANDALONE = 1,
    MNTR_LEADER = 2,
    MNTR_FOLLOWER = 4,
    MNTR_OBSERVER = 8,
    MNTR_MEMBER = MNTR_LEADER | MNTR_FOLLOWER | MNTR_OBSERVER,
};

struct mntr_key {
    const char *name;
    enum mntr_value value;
    unsigned roles; /* MNTR_ALL or a mask */
};

/* DefaultMetricsProvider's gauges and counters, in the order Apache
 * ZooKeeper 3.8 prints them (its hash maps' order, captured from running
 * 3.8.0 servers, standalone and in each role of an ensemble: the quorum
 * gauges fall between the others); "version", "server_state" and a
 * member's "peer_state" (and an observer's "observer_master_id") come first
 * (the dumpMonitorValues of ZooKeeperServer, QuorumZooKeeperServer,
 * ObserverZooKeeperServer). A follower's "synced_observers" gauge is null
 * without an observer master, and a null gauge is not printed. */
static const struct mntr_key mntr_singles[] = {
    {"version", MNTR_VERSION, MNTR_ALL},
    {"server_state", MNTR_STATE, MNTR_ALL},
    {"peer_state", MNTR_PEER_STATE, MNTR_MEMBER},
    {"observer_master_id", MNTR_OBSERVER_MASTER, MNTR_OBSERVER},
    {"ephemerals_count", MNTR_EPHEMERALS, MNTR_ALL},
    {"num_alive_connections", MNTR_CONNECTIONS, MNTR_ALL},
    {"avg_latency", MNTR_AVG_LATENCY, MNTR_ALL},
    {"min_proposal_size", MNTR_PROPOSAL_MIN, MNTR_LEADER},
    {"outstanding_requests", MNTR_OUTSTANDING, MNTR_ALL},
    {"znode_count", MNTR_ZNODES, MNTR_ALL},
    {"global_sessions", MNTR_SESSIONS, MNTR_ALL},
    {"non_mtls_remote_conn_count", MNTR_ZERO, MNTR_ALL},
    {"last_client_response_size", MNTR_RESPONSE_LAST, MNTR_ALL},
    {"packets_sent", MNTR_PACKETS_SENT, MNTR_ALL},
    {"packets_received", MNTR_PACKETS_RECEIVED, MNTR_ALL},
    {"max_proposal_size", MNTR_PROPOSAL_MAX, MNTR_LEADER},
    {"max_client_response_size", MNTR_RESPONSE_MAX, MNTR_ALL},
    {"synced_followers", MNTR_SYNCED_FOLLOWERS, MNTR_LEADER},
    {"connection_drop_probability", MNTR_DROP_PROBABILITY, MNTR_ALL},
    {"watch_count", MNTR_WATCHES, MNTR_ALL},
    {"synced_non_voting_followers", MNTR_SYNCED_NON_VOTING, MNTR_LEADER},
    {"synced_observers", MNTR_SYNCED_OBSERVERS, MNTR_LEADER},
    {"auth_failed_count", MNTR_ZERO, MNTR_ALL},
    {"min_latency", MNTR_MIN_LATENCY, MNTR_ALL},
    {"max_file_descriptor_count", MNTR_FD_MAX, MNTR_ALL},
    {"approximate_data_size", MNTR_DATA_SIZE, MNTR_ALL},
    {"open_file_descriptor_count", MNTR_FD_OPEN, MNTR_ALL},
    {"last_proposal_size", MNTR_PROPOSAL_LAST, MNTR_LEADER},
    {"pending_syncs", MNTR_PENDING_SYNCS, MNTR_LEADER},
    {"leader_uptime", MNTR_LEADER_UPTIME, MNTR_LEADER},
    {"local_sessions", MNTR_LOCAL_SESSIONS, MNTR_ALL},
    {"uptime", MNTR_UPTIME, MNTR_ALL},
    {"max_latency", MNTR_MAX_LATENCY, MNTR_ALL},
    {"outstanding_tls_handshake", MNTR_ZERO, MNTR_ALL},
    {"learners", MNTR_LEARNERS, MNTR_LEADER},
    {"min_client_response_size", MNTR_RESPONSE_MIN, MNTR_ALL},
    {"non_mtls_local_conn_count", MNTR_ZERO, MNTR_ALL},
    {"quorum_size", MNTR_QUORUM_SIZE, MNTR_MEMBER},
    {"proposal_count", MNTR_ZERO, MNTR_ALL},
    {"watch_bytes", MNTR_ZERO, MNTR_ALL},
    {"outstanding_changes_removed", MNTR_ZERO, MNTR_ALL},
    {"throttled_ops", MNTR_ZERO, MNTR_ALL},
    {"stale_requests_dropped", MNTR_ZERO, MNTR_ALL},
    {"large_requests_rejected", MNTR_ZERO, MNTR_ALL},
    {"insecure_admin_count", MNTR_ZERO, MNTR_ALL},
    {"connection_rejected", MNTR_CONNECTION_REJECTED, MNTR_ALL},
    {"cnxn_closed_without_zk_server_running", MNTR_ZERO, MNTR_ALL},
    {"sessionless_connections_expired", MNTR_SESSIONLESS_EXPIRED, MNTR_ALL},
    {"looking_count", MNTR_ZERO, MNTR_ALL},
    {"dead_watchers_queued", MNTR_ZERO, MNTR_ALL},
    {"stale_requests", MNTR_ZERO, MNTR_ALL},
    {"connection_drop_count", MNTR_CONNECTION_DROPS, MNTR_ALL},
    {"learner_proposal_received_count", MNTR_ZERO, MNTR_ALL},
    {"digest_mismatches_count", MNTR_ZERO, MNTR_ALL},
    {"dead_watchers_cleared", MNTR_ZERO, MNTR_ALL},
    {"response_packet_cache_hits", MNTR_ZERO, MNTR_ALL},
    {"bytes_received_count", MNTR_BYTES_RECEIVED, MNTR_ALL},
    {"add_dead_watcher_stall_time", MNTR_ZERO, MNTR_ALL},
    {"request_throttle_wait_count", MNTR_ZERO, MNTR_ALL},
    {"requests_not_forwarded_to_commit_processor", MNTR_ZERO, MNTR_ALL},
    {"response_packet_cache_misses", MNTR_ZERO, MNTR_ALL},
    {"ensemble_auth_success", MNTR_ZERO, MNTR_ALL},
    {"prep_processor_request_queued", MNTR_ZERO, MNTR_ALL},
    {"learner_commit_received_count", MNTR_ZERO, MNTR_ALL},
    {"stale_replies", MNTR_ZERO, MNTR_ALL},
    {"connection_request_count", MNTR_CONNECTION_REQUESTS, MNTR_ALL},
    {"response_bytes", MNTR_ZERO, MNTR_ALL},
    {"ensemble_auth_fail", MNTR_ZERO, MNTR_ALL},
    {"diff_count", MNTR_ZERO, MNTR_ALL},
    {"response_packet_get_children_cache_misses", MNTR_ZERO, MNTR_ALL},
    {"connection_revalidate_count", MNTR_ZERO, MNTR_ALL},
    {"quit_leading_due_to_disloyal_voter", MNTR_ZERO, MNTR_ALL},
    {"snap_count", MNTR_ZERO, MNTR_ALL},
    {"unrecoverable_error_count", MNTR_ZERO, MNTR_ALL},
    {"unsuccessful_handshake", MNTR_ZERO, MNTR_ALL},
    {"commit_count", MNTR_ZERO, MNTR_ALL},
    {"stale_sessions_expired", MNTR_ZERO, MNTR_ALL},
    {"response_packet_get_children_cache_hits", MNTR_ZERO, MNTR_ALL},
    {"sync_processor_request_queued", MNTR_ZERO, MNTR_ALL},
    {"outstanding_changes_queued", MNTR_ZERO, MNTR_ALL},
    {"request_commit_queued", MNTR_ZERO, MNTR_ALL},
    {"ensemble_auth_skip", MNTR_ZERO, MNTR_ALL},
    {"skip_learner_request_to_next_processor_count", MNTR_ZERO, MNTR_ALL},
    {"tls_handshake_exceeded", MNTR_ZERO, MNTR_ALL},
    {"revalidate_count", MNTR_ZERO, MNTR_ALL},
};

/* AvgMinMaxCounter summaries (avg, min, max, cnt, sum), same order. */
static const char *const mntr_summaries[] = {
    "socket_closing_time",
    "proposal_process_time",
    "leader_unavailable_time",
    "node_created_watch_count",
    "session_queues_drained",
    "write_commit_proc_req_queued",
    "connection_token_deficit",
    "read_commit_proc_req_queued",
    "node_deleted_watch_count",
    "startup_txns_load_time",
    "sync_processor_queue_size",
    "follower_sync_time",
    "prep_processor_queue_size",
    "fsynctime",
    "inflight_snap_count",
    "reads_issued_from_session_queue",
    "learner_request_processor_queue_size",
    "snapshottime",
    "unavailable_time",
    "startup_txns_loaded",
    "reads_after_write_in_session_queue",
    "requests_in_session_queue",
    "write_commit_proc_issued",
    "prep_process_time",
    "pending_session_queue_size",
    "time_waiting_empty_pool_in_commit_processor_read_ms",
    "commit_process_time",
    "dbinittime",
    "inflight_diff_count",
    "netty_queued_buffer_capacity",
    "election_time",
    "commit_commit_proc_req_queued",
    "sync_processor_batch_size",
    "node_children_watch_count",
    "write_batch_time_in_commit_processor",
    "read_commit_proc_issued",
    "concurrent_request_processing_in_commit_processor",
    "observer_sync_time",
    "node_changed_watch_count",
    "sync_process_time",
    "startup_snap_load_time",
};

/* AvgMinMaxPercentileCounter summaries (plus p50, p95, p99, p999). */
static const char *const mntr_percentile_summaries[] = {
    "prep_processor_queue_time_ms",
    "jvm_pause_time_ms",
    "close_session_prep_time",
    "read_commitproc_time_ms",
    "updatelatency",
    "local_write_committed_time_ms",
    "request_throttle_queue_time_ms",
    "readlatency",
    "quorum_ack_latency",
    "om_commit_process_time_ms",
    "read_final_proc_time_ms",
    "commit_propagation_latency",
    "dead_watchers_cleaner_latency",
    "write_final_proc_time_ms",
    "proposal_ack_creation_latency",
    "proposal_latency",
    "om_proposal_process_time_ms",
    "sync_processor_queue_and_flush_time_ms",
    "propagation_latency",
    "server_write_committed_time_ms",
    "sync_processor_queue_time_ms",
    "sync_processor_queue_flush_time_ms",
    "write_commitproc_time_ms",
};

static int64_t open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int64_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the descriptor opendir holds */
}

static int64_t max_fd_count(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return -1;
    return (int64_t)rl.rlim_cur;
}

static unsigned mntr_role(const char *mode)
{
    if (!mode)
        return MNTR_STANDALONE;
    if (strcmp(mode, "leader") == 0)
        return MNTR_LEADER;
    if (strcmp(mode, "follower") == 0)
        return MNTR_FOLLOWER;
    if (strcmp(mode, "observer") == 0)
        return MNTR_OBSERVER;
    /* "read-only": a ZooKeeperServer, not a quorum one, as standalone;
     * "looking": nothing is printed then (not serving) */
    return MNTR_STANDALONE;
}

/* QuorumPeer.ServerState in lower case. */
static const char *peer_state_name(const char *mode)
{
    switch (mntr_role(mode)) {
    case MNTR_LEADER:
        return "leading";
    case MNTR_FOLLOWER:
        return "following";
    case MNTR_OBSERVER:
        return "observing";
    default:
        return "standalone";
    }
}

static void mntr_print_single(const struct four_letter_input *in, const struct server_stats *st,
                              const struct mntr_key *k, struct buf *out)
{
    const struct four_letter_counters *c = in->counters;
    const struct four_letter_quorum *q = in->quorum;
    buf_printf(out, "zk_%s\t", k->name);
    int64_t v = 0;
    switch (k->value) {
    case MNTR_VERSION: {
        char version[128];
        four_letter_full_version(version, sizeof(version));
        buf_printf(out, "%s\n", version);
        return;
    }
    case MNTR_STATE:
        buf_printf(out, "%s\n", in->mode ? in->mode : "standalone");
        return;
    case MNTR_PEER_STATE:
        /* QuorumPeer.getDetailedPeerState while serving: the zab phase is
         * broadcast and a learner's sync mode is back to none. */
        buf_printf(out, "%s - broadcast\n", peer_state_name(in->mode));
        return;
    case MNTR_AVG_LATENCY:
        print_avg(out, st->latency_total_ms, st->latency_count);
        buf_printf(out, "\n");
        return;
    case MNTR_DROP_PROBABILITY:
        buf_printf(out, "0.0\n");
        return;
    case MNTR_ZERO:
        v = 0;
        break;
    case MNTR_EPHEMERALS:
        v = (int64_t)st->ephemeral_count;
        break;
    case MNTR_CONNECTIONS:
        v = (int64_t)in->conn_count;
        break;
    case MNTR_MIN_LATENCY:
        v = min_or_zero(st->latency_min_ms);
        break;
    case MNTR_MAX_LATENCY:
        v = st->latency_max_ms;
        break;
    case MNTR_OUTSTANDING:
        v = st->outstanding_requests;
        break;
    case MNTR_ZNODES:
        v = (int64_t)zk_node_count(st);
        break;
    case MNTR_SESSIONS:
        v = (int64_t)st->session_count;
        break;
    case MNTR_LOCAL_SESSIONS:
        v = (int64_t)st->local_session_count;
        break;
    case MNTR_RESPONSE_LAST:
        v = c->response_size_last;
        break;
    case MNTR_RESPONSE_MIN:
        v = c->response_size_min;
        break;
    case MNTR_RESPONSE_MAX:
        v = c->response_size_max;
        break;
    case MNTR_PACKETS_SENT:
        v = st->packets_sent + c->packets_sent;
        break;
    case MNTR_PACKETS_RECEIVED:
        v = st->packets_received + c->packets_received;
        break;
    case MNTR_WATCHES:
        v = (int64_t)st->watch_count;
        break;
    case MNTR_FD_MAX:
        v = max_fd_count();
        break;
    case MNTR_FD_OPEN:
        v = open_fd_count();
        break;
    case MNTR_DATA_SIZE:
        v = (int64_t)st->data_bytes;
        break;
    case MNTR_UPTIME:
        v = in->uptime_ms;
        break;
    case MNTR_CONNECTION_REJECTED:
        v = c->connection_rejected;
        break;
    case MNTR_SESSIONLESS_EXPIRED:
        v = c->sessionless_connections_expired;
        break;
    case MNTR_CONNECTION_DROPS:
        v = c->connection_drop_count;
        break;
    case MNTR_BYTES_RECEIVED:
        v = c->bytes_received;
        break;
    case MNTR_CONNECTION_REQUESTS:
        v = c->connection_request_count;
        break;
    case MNTR_OBSERVER_MASTER:
        v = q ? q->leader_sid : -1;
        break;
    case MNTR_QUORUM_SIZE:
        v = q ? (int64_t)q->voters : 0;
        break;
    case MNTR_LEARNERS:
        v = q ? q->learners : 0;
        break;
    case MNTR_SYNCED_FOLLOWERS:
        v = q ? q->synced_followers : 0;
        break;
    case MNTR_SYNCED_NON_VOTING: /* participants outside the voting view: none without reconfig */
        v = 0;
        break;
    case MNTR_SYNCED_OBSERVERS:
        v = q ? q->synced_observers : 0;
        break;
    case MNTR_PENDING_SYNCS:
        v = q ? q->pending_syncs : 0;
        break;
    case MNTR_LEADER_UPTIME:
        v = q ? q->leader_uptime_ms : 0;
        break;
    case MNTR_PROPOSAL_LAST:
        v = in->proposal_sizes[0];
        break;
    case MNTR_PROPOSAL_MIN:
        v = in->proposal_sizes[1];
        break;
    case MNTR_PROPOSAL_MAX:
        v = in->proposal_sizes[2];
        break;
    }
    buf_printf(out, "%" PRId64 "\n", v);
}

static void mntr_print_summary(const char *name, int64_t sum, int64_t count, int64_t min,
                               int64_t max, bool percentiles, struct buf *out)
{
    buf_printf(out, "zk_avg_%s\t", name);
    print_avg(out, sum, count);
    buf_printf(out, "\n");
    buf_printf(out, "zk_min_%s\t%" PRId64 "\n", name, count ? min : 0);
    buf_printf(out, "zk_max_%s\t%" PRId64 "\n", name, count ? max : 0);
    buf_printf(out, "zk_cnt_%s\t%" PRId64 "\n", name, count);
    buf_printf(out, "zk_sum_%s\t%" PRId64 "\n", name, sum);
    if (percentiles) {
        static const char *const p[] = {"p50", "p95", "p99", "p999"};
        for (size_t i = 0; i < 4; i++)
            buf_printf(out, "zk_%s_%s\t0\n", p[i], name);
    }
}

static void run_mntr(const struct four_letter_input *in, struct buf *out)
{
    struct server_stats st;
    server_get_stats(in->server, &st);
    unsigned role = mntr_role(in->mode);
    for (size_t i = 0; i < sizeof(mntr_singles) / sizeof(mntr_singles[0]); i++)
        if (mntr_singles[i].roles == MNTR_ALL || (mntr_singles[i].roles & role) ||
            (mntr_singles[i].value == MNTR_SYNCED_OBSERVERS && role == MNTR_FOLLOWER &&
             in->quorum && in->quorum->observer_master))
            mntr_print_single(in, &st, &mntr_singles[i], out);
    const struct four_letter_counters *c = in->counters;
    for (size_t i = 0; i < sizeof(mntr_summaries) / sizeof(mntr_summaries[0]); i++) {
        if (strcmp(mntr_summaries[i], "sync_processor_batch_size") == 0)
            mntr_print_summary(mntr_summaries[i], c->batch_sum, c->batch_count, c->batch_min,
                               c->batch_max, false, out);
        else
            mntr_print_summary(mntr_summaries[i], 0, 0, 0, 0, false, out);
    }
    for (size_t i = 0; i < sizeof(mntr_percentile_summaries) / sizeof(mntr_percentile_summaries[0]);
         i++)
        mntr_print_summary(mntr_percentile_summaries[i], 0, 0, 0, 0, true, out);
}

/* ---- the command table ---- */

/* The commands whose ZooKeeper class checks isZKServerRunning. */
static bool needs_running_server(int cmd)
{
    switch (cmd) {
    case FOUR_LETTER_SRVR:
    case FOUR_LETTER_STAT:
    case FOUR_LETTER_CONS:
    case FOUR_LETTER_CONF:
    case FOUR_LETTER_DIRS:
    case FOUR_LETTER_MNTR:
    case FOUR_LETTER_SRST:
    case FOUR_LETTER_CRST:
    case FOUR_LETTER_WCHS:
    case FOUR_LETTER_WCHC:
    case FOUR_LETTER_WCHP:
    case FOUR_LETTER_DUMP:
    case FOUR_LETTER_HASH:
        return true;
    default:
        return false;
    }
}

bool four_letter_needs_server(int cmd)
{
    return needs_running_server(cmd);
}

void four_letter_run(int cmd, const struct four_letter_input *in, struct buf *out)
{
    if (in->not_serving && needs_running_server(cmd)) {
        /* DigestCommand prints ZK_NOT_SERVING without println. */
        buf_printf(out, "This ZooKeeper instance is not currently serving requests%s",
                   cmd == FOUR_LETTER_HASH ? "" : "\n");
        return;
    }
    if (in->not_serving && cmd == FOUR_LETTER_ISRO) {
        buf_printf(out, "null"); /* IsroCommand with no running server */
        return;
    }
    switch (cmd) {
    case FOUR_LETTER_RUOK:
        buf_printf(out, "imok");
        break;
    case FOUR_LETTER_ISRO:
        buf_printf(out, read_only(in) ? "ro" : "rw");
        break;
    case FOUR_LETTER_SRVR:
        run_stat(in, false, out);
        break;
    case FOUR_LETTER_STAT:
        run_stat(in, true, out);
        break;
    case FOUR_LETTER_CONS:
        run_cons(in, out);
        break;
    case FOUR_LETTER_CONF:
        run_conf(in, out);
        break;
    case FOUR_LETTER_DIRS:
        run_dirs(in, out);
        break;
    case FOUR_LETTER_MNTR:
        run_mntr(in, out);
        break;
    case FOUR_LETTER_SRST:
        buf_printf(out, "Server stats reset.\n");
        break;
    case FOUR_LETTER_CRST:
        buf_printf(out, "Connection stats reset.\n");
        break;
    case FOUR_LETTER_GTMK:
    case FOUR_LETTER_STMK:
        buf_printf(out, "%" PRId64, in->trace_mask);
        break;
    case FOUR_LETTER_ENVI:
        buf_printf(out, "Environment:\n");
        four_letter_environment(in->host_name, out);
        break;
    case FOUR_LETTER_WCHS: {
        struct server_stats st;
        server_get_stats(in->server, &st);
        buf_printf(out, "%zu connections watching %zu paths\nTotal watches:%zu\n",
                   st.watch_session_count, st.data_watch_path_count, st.data_watch_count);
        break;
    }
    case FOUR_LETTER_WCHC:
    case FOUR_LETTER_WCHP:
        buf_printf(out, "\n"); /* WatchCommand's println after the watches */
        break;
    case FOUR_LETTER_DUMP:
        buf_printf(out, "Connections dump:\n");
        print_connections(in, out);
        break;
    case FOUR_LETTER_HASH: /* no digest log yet: ZooKeeper prints nothing either until one exists */
    case FOUR_LETTER_TELNET_CLOSE:
    default:
        break;
    }
}
