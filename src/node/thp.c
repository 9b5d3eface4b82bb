/* SPDX-License-Identifier: Apache-2.0 */
/* Collapsing the heap into transparent huge pages (see thp.h). The mappings
 * are read from /proc/self/smaps; only private, writable, anonymous ones of
 * 4 MiB or more that are at least half resident and not yet all huge are
 * collapsed, so thread stacks and reserved arena space are left alone
 * (collapsing fills a 2 MiB range completely). */
#include "node/thp.h"

#include "base/buf.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif

#define THP_SIZE     ((uintptr_t)2 << 20)
#define THP_MIN_SPAN (2 * THP_SIZE)

/* 1 on, 0 off, -1 not decided yet */
static atomic_int thp_state = -1;

static bool thp_decide(void)
{
    const char *env = getenv("CZK_MALLOC_HUGEPAGES");
    if (env && strcmp(env, "0") == 0)
        return false;
    char mode[128];
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t got = read(fd, mode, sizeof(mode) - 1);
    close(fd);
    if (got <= 0)
        return false;
    mode[got] = '\0';
    return strstr(mode, "[never]") == NULL;
}

bool thp_enabled(void)
{
    int s = atomic_load(&thp_state);
    if (s < 0) {
        s = thp_decide() ? 1 : 0;
        atomic_store(&thp_state, s);
    }
    return s == 1;
}

struct thp_map {
    uintptr_t start, end;
    bool anon_rw;
    size_t rss_kb, huge_kb;
};

static void thp_consider(const struct thp_map *m, struct thp_report *out, bool *unsupported)
{
    uintptr_t a = (m->start + THP_SIZE - 1) & ~(THP_SIZE - 1);
    uintptr_t b = m->end & ~(THP_SIZE - 1);
    if (!m->anon_rw || b <= a || b - a < THP_MIN_SPAN)
        return;
    size_t size_kb = (m->end - m->start) / 1024;
    if (m->rss_kb * 2 < size_kb || m->rss_kb < m->huge_kb + THP_SIZE / 1024)
        return;
    if (madvise((void *)a, b - a, MADV_COLLAPSE) != 0) {
        if (errno == EINVAL)
            *unsupported = true;
        if (out->err == 0)
            out->err = errno;
    }
    out->regions++;
    out->bytes += b - a;
    out->split_before += (m->rss_kb - m->huge_kb) * 1024;
}

bool thp_collapse(struct thp_report *out)
{
    memset(out, 0, sizeof(*out));
    if (!thp_enabled())
        return false;
    FILE *f = fopen("/proc/self/smaps", "re");
    if (!f) {
        out->err = errno;
        return true;
    }
    /* read it whole first: collapsing while reading would change it */
    struct buf text;
    buf_init(&text);
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&text, chunk, got);
    fclose(f);
    buf_append(&text, "", 1);

    struct thp_map m = {0};
    bool have = false, unsupported = false;
    char *line = (char *)text.data;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        uintptr_t s, e;
        char perms[8];
        unsigned long long off, inode;
        int path_at = 0;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %llx %*s %llu %n", &s, &e, perms, &off,
                   &inode, &path_at) == 5) {
            if (have)
                thp_consider(&m, out, &unsupported);
            const char *path = line + path_at;
            m = (struct thp_map){.start = s,
                                 .end = e,
                                 .anon_rw = strcmp(perms, "rw-p") == 0 && inode == 0 &&
                                            (*path == '\0' || strcmp(path, "[heap]") == 0)};
            have = true;
        } else {
            size_t kb;
            if (sscanf(line, "Rss: %zu kB", &kb) == 1)
                m.rss_kb = kb;
            else if (sscanf(line, "AnonHugePages: %zu kB", &kb) == 1)
                m.huge_kb = kb;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (have)
        thp_consider(&m, out, &unsupported);
    buf_deinit(&text);
    if (unsupported) {
        atomic_store(&thp_state, 0);
        return false;
    }
    return true;
}

void thp_malloc_reexec(char **argv)
{
    if (!thp_enabled())
        return;
    const char *old = getenv("GLIBC_TUNABLES");
    if (old && strstr(old, "glibc.malloc.hugetlb"))
        return; /* said already, either way */
    char value[1024];
    int n = old && old[0] ? snprintf(value, sizeof(value), "%s:glibc.malloc.hugetlb=1", old)
                          : snprintf(value, sizeof(value), "glibc.malloc.hugetlb=1");
    if (n < 0 || (size_t)n >= sizeof(value))
        return;
    char saved[sizeof(value)];
    snprintf(saved, sizeof(saved), "%s", old ? old : "");
    /* the binary by its own name: exec'ing /proc/self/exe would rename the
     * process "exe" (ps, pgrep, top) */
    char self[4096];
    ssize_t got = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (got <= 0 || (size_t)got >= sizeof(self) - 1)
        return;
    self[got] = '\0';
    if (setenv("GLIBC_TUNABLES", value, 1) == 0) {
        execv(self, argv);
        /* no exec: run on as we are */
        if (old)
            setenv("GLIBC_TUNABLES", saved, 1);
        else
            unsetenv("GLIBC_TUNABLES");
    }
}
