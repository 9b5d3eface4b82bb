/* SPDX-License-Identifier: Apache-2.0 */
/* czk-server [zoo.cfg]: read the configuration (or the built-in default),
 * create the data directories, run the loop until SIGTERM or SIGINT.
 * Exit codes: 0 clean stop, 1 the port cannot be bound (or another start-up
 * failure), 2 a configuration error or bad usage. */
#include "base/log.h"
#include "node/config.h"
#include "node/four_letter.h"
#include "node/node.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: czk-server [zoo.cfg]\n"
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

int main(int argc, char **argv)
{
    const char *path = NULL;
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
        rc = config_parse_file(path, &cfg, errmsg, sizeof(errmsg));
    } else {
        LOG_I("No configuration file given: using the built-in default "
              "(tickTime=2000, dataDir=./data, clientPort=2181)");
        rc = config_parse_embedded(&cfg, errmsg, sizeof(errmsg));
    }
    if (rc < 0) {
        LOG_E("Invalid configuration: %s", errmsg);
        return 2;
    }

    if (make_dirs(cfg.data_dir, errmsg, sizeof(errmsg)) < 0 ||
        make_dirs(cfg.data_log_dir, errmsg, sizeof(errmsg)) < 0) {
        LOG_E("%s", errmsg);
        return 1;
    }

    struct node *node;
    rc = node_new(&cfg, true, &node, errmsg, sizeof(errmsg));
    if (rc < 0) {
        LOG_E("%s", errmsg);
        return rc == NODE_ERR_RESOLVE ? 2 : 1;
    }
    rc = node_run(node);
    node_free(node);
    if (rc < 0)
        return 1;
    LOG_I("czk-server stopped");
    return 0;
}
