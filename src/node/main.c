/* SPDX-License-Identifier: Apache-2.0 */
/* czk-server [zoo.cfg]: read the configuration (or the built-in default),
 * create the data directories, run the loop until SIGTERM or SIGINT.
 * Exit codes: 0 clean stop, 1 the port cannot be bound (or another start-up
 * failure), 2 a configuration error, bad usage, or a data dir that another
 * server is using. */
#include "base/log.h"
#include "node/config.h"
#include "node/four_letter.h"
#include "node/node.h"
#include "node/thp.h"
#include "storage/fs.h"
#include "storage/purge.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef CZK_MIMALLOC
#include <mimalloc.h>
#endif
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: czk-server [zoo.cfg]\n"
            "       czk-server --purge DATALOGDIR [SNAPDIR] -n COUNT\n"
            "       czk-server --help | --version\n"
            "\n"
            "Runs a standalone czk server, a ZooKeeper-compatible coordination store.\n"
            "zoo.cfg is ZooKeeper's configuration file (tickTime, dataDir, clientPort,\n"
            "clientPortAddress, maxClientCnxns, ...). Without it the built-in default is used:\n"
            "\n%s",
            config_embedded_default);
}

/* mkdir -p: create each missing component. */
static int make_dirs(const char *path, char *errmsg, size_t errlen)
{
    char tmp[CONFIG_PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(tmp)) {
        snprintf(errmsg, errlen, "%.900s...: path too long", path);
        return -1;
    }
    memcpy(tmp, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            snprintf(errmsg, errlen, "cannot create %s: %s", tmp, strerror(errno));
            return -1;
        }
        tmp[i] = saved;
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(errmsg, errlen, "%s is not a directory", path);
        return -1;
    }
    return 0;
}

/* zkCleanup.sh / PurgeTxnLog: keep COUNT snapshots and the logs they need. */
static int purge_main(int argc, char **argv)
{
    const char *dirs[2] = {NULL, NULL};
    int ndirs = 0;
    long keep = -1;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            char *end;
            keep = strtol(argv[++i], &end, 10);
            if (*end)
                keep = -1;
        } else if (argv[i][0] != '-' && ndirs < 2) {
            dirs[ndirs++] = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (ndirs == 0 || keep < 3) {
        fprintf(stderr, "czk-server --purge: give a directory and -n COUNT (3 or more)\n");
        return 2;
    }
    char log_dir[CONFIG_PATH_MAX + 16], snap_dir[CONFIG_PATH_MAX + 16];
    snprintf(log_dir, sizeof(log_dir), "%s/version-2", dirs[0]);
    snprintf(snap_dir, sizeof(snap_dir), "%s/version-2", ndirs > 1 ? dirs[1] : dirs[0]);
    char errmsg[1024];
    int rc = storage_purge(fs_posix(), snap_dir, log_dir, (int)keep, errmsg, sizeof(errmsg));
    if (rc < 0) {
        LOG_E("purge failed: %s", errmsg);
        return 1;
    }
    LOG_I("Purged %d files from %s and %s, keeping the %ld newest snapshots", rc, snap_dir, log_dir,
          keep);
    return 0;
}

int main(int argc, char **argv)
{
#ifdef CZK_MIMALLOC
    /* its segments on huge pages (madvise): what glibc's hugetlb tunable
     * does for glibc's heap, without the re-exec */
    if (thp_enabled())
        mi_option_set(mi_option_large_os_pages, 1);
#else
    thp_malloc_reexec(argv);
#endif
    const char *path = NULL;
    if (argc > 1 && strcmp(argv[1], "--purge") == 0)
        return purge_main(argc, argv);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            char version[128];
            four_letter_full_version(version, sizeof(version));
            printf("czk-server %s\n", version);
            return 0;
        }
        if (argv[i][0] == '-' || path) {
            fprintf(stderr, "czk-server: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        path = argv[i];
    }

    /* A client that resets its connection must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);

    struct node_config cfg;
    char errmsg[1024];
    int rc;
    if (path) {
        LOG_I("Reading configuration from: %s", path);
        rc = config_parse_file_ensemble(path, &cfg, errmsg, sizeof(errmsg));
    } else {
        LOG_I("No configuration file given: using the built-in default "
              "(tickTime=2000, dataDir=./data, clientPort=2181)");
        rc = config_parse_embedded(&cfg, errmsg, sizeof(errmsg));
    }
    if (rc < 0) {
        LOG_E("Invalid configuration: %s", errmsg);
        return 2;
    }

    char snap_dir[CONFIG_PATH_MAX + 16], log_dir[CONFIG_PATH_MAX + 16];
    snprintf(snap_dir, sizeof(snap_dir), "%s/version-2", cfg.data_dir);
    snprintf(log_dir, sizeof(log_dir), "%s/version-2", cfg.data_log_dir);
    if (make_dirs(snap_dir, errmsg, sizeof(errmsg)) < 0 ||
        make_dirs(log_dir, errmsg, sizeof(errmsg)) < 0) {
        LOG_E("%s", errmsg);
        return 1;
    }

    struct node *node;
    rc = node_new(&cfg, true, &node, errmsg, sizeof(errmsg));
    if (rc < 0) {
        LOG_E("%s", errmsg);
        return rc == NODE_ERR_RESOLVE || rc == NODE_ERR_LOCKED || rc == NODE_ERR_CONFIG ? 2 : 1;
    }
    rc = node_run(node);
    node_free(node);
    if (rc == NODE_ERR_ELECTION_BIND) {
        /* Apache's ExitCode.UNABLE_TO_BIND_QUORUM_PORT */
        LOG_E("czk-server stopped: the election port could not be bound (exit code 14)");
        return 14;
    }
    if (rc < 0)
        return 1;
    LOG_I("czk-server stopped");
    return 0;
}
