/* SPDX-License-Identifier: Apache-2.0 */
/* memberconf — src/zab/membership.h on the command line, for
 * test_membership.py, which compares it with Apache ZooKeeper 3.8.
 *   memberconf parse SID           one server.N value per stdin line:
 *                                  "OK <QuorumServer.toString>" or "ERR <message>"
 *   memberconf format [VERSION]    stdin: server.N=... lines (and version=hex);
 *                                  prints /zookeeper/config's text as Apache
 *                                  writes it (VERSION, hex, overrides version=)
 *   memberconf quorum SID...       stdin as for format; "yes" or "no" */
#include "base/buf.h"
#include "zab/membership.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_all(struct buf *in)
{
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        buf_append(in, chunk, n);
}

static int parse_lines(int64_t sid)
{
    char line[8192];
    while (fgets(line, sizeof(line), stdin)) {
        size_t len = strcspn(line, "\n");
        struct member mb;
        char err[512];
        struct buf out;
        buf_init(&out);
        if (member_parse(sid, line, len, &mb, err, sizeof(err)) == 0) {
            member_format(&mb, &out);
            printf("OK %.*s\n", (int)out.len, (const char *)out.data);
        } else {
            printf("ERR %s\n", err);
        }
        buf_deinit(&out);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "parse") == 0)
        return parse_lines(strtoll(argv[2], NULL, 10));
    if (argc < 2 || (strcmp(argv[1], "format") != 0 && strcmp(argv[1], "quorum") != 0)) {
        fprintf(stderr, "usage: memberconf parse SID | format [VERSION] | quorum SID...\n");
        return 2;
    }
    struct buf in, out;
    buf_init(&in);
    buf_init(&out);
    read_all(&in);
    struct membership m;
    membership_init(&m);
    char err[512];
    int rc = membership_parse_text(&m, (const char *)in.data, in.len, err, sizeof(err));
    if (rc < 0) {
        printf("ERR %s\n", err);
        goto out;
    }
    if (strcmp(argv[1], "format") == 0) {
        if (argc >= 3)
            m.version = (int64_t)strtoull(argv[2], NULL, 16);
        membership_format(&m, &out);
        fwrite(out.data, 1, out.len, stdout);
    } else {
        int64_t sids[64];
        size_t n = 0;
        for (int i = 2; i < argc && n < 64; i++)
            sids[n++] = strtoll(argv[i], NULL, 10);
        printf("%s\n", membership_is_quorum(&m, sids, n) ? "yes" : "no");
    }
out:
    membership_deinit(&m);
    buf_deinit(&in);
    buf_deinit(&out);
    return rc < 0 ? 1 : 0;
}
