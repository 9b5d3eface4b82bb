/* SPDX-License-Identifier: Apache-2.0 */
/* Session expiry with simulated time, ids and passwords as ZooKeeper makes
 * them, and the watch manager's one-shot semantics; many sessions on one
 * path, deep recursive watches, and the tables against a plain model. */
#include "base/mem.h"
#include "check.h"
#include "session/session.h"
#include "session/watch.h"

#include <stdio.h>
#include <string.h>

static int fired;
static void on_fire(void *ctx, struct watch_owner *o)
{
    (void)ctx;
    (void)o;
    fired++;
}

static void count_visit(void *ctx, const char *path, size_t len, int64_t session_id)
{
    (void)path;
    (void)len;
    (void)session_id;
    (*(size_t *)ctx)++;
}

#define OWNERS 2000

/* Many sessions on one path: adds, lookups and removals stay exact, a
 * trigger reaches each session once, and freed first slots are reused. */
static void test_many_owners(void)
{
    static struct watch_owner owners[OWNERS];
    struct watch_table t;
    watch_table_init(&t);
    for (int i = 0; i < OWNERS; i++) {
        watch_owner_init(&owners[i], i + 1, NULL);
        CHECK(watch_add(&t, &owners[i], "/hot", 4, WATCH_STANDARD));
    }
    for (int i = 0; i < OWNERS; i++)
        CHECK(!watch_add(&t, &owners[i], "/hot", 4, WATCH_STANDARD));
    CHECK_EQ_INT(watch_table_count(&t), OWNERS);
    CHECK_EQ_INT(watch_table_path_count(&t), 1);
    /* remove every third, the first one included */
    for (int i = 0; i < OWNERS; i += 3)
        CHECK(watch_remove(&t, &owners[i], "/hot", 4));
    for (int i = 0; i < OWNERS; i++) {
        CHECK(watch_contains(&t, &owners[i], "/hot", 4) == (i % 3 != 0));
        CHECK(!watch_contains(&t, &owners[i], "/cold", 5));
        CHECK(!watch_remove(&t, &owners[i], "/cold", 5));
    }
    CHECK(!watch_remove(&t, &owners[0], "/hot", 4));
    size_t visited = 0;
    watch_table_visit(&t, count_visit, &visited);
    CHECK_EQ_INT(visited, OWNERS - (OWNERS + 2) / 3);
    /* the free first slot is taken again */
    CHECK(watch_add(&t, &owners[0], "/hot", 4, WATCH_PERSISTENT));
    CHECK(watch_contains(&t, &owners[0], "/hot", 4));
    fired = 0;
    size_t expect = OWNERS - (OWNERS + 2) / 3 + 1;
    CHECK_EQ_INT(watch_trigger(&t, "/hot", 4, false, 100, on_fire, NULL), expect);
    CHECK_EQ_INT(fired, (int)expect);
    /* the standard ones went, the persistent one stayed */
    CHECK_EQ_INT(watch_table_count(&t), 1);
    CHECK(watch_contains(&t, &owners[0], "/hot", 4));
    CHECK_EQ_INT(owners[1].count, 0);
    CHECK_EQ_INT(owners[0].count, 1);
    CHECK_EQ_INT(watch_trigger(&t, "/hot", 4, false, 101, on_fire, NULL), 1);
    watch_owner_clear(&owners[0]);
    CHECK_EQ_INT(watch_table_path_count(&t), 0);

    /* each session watches many paths and shares them with the others; a
     * session's close drops exactly its own */
    char path[32];
    for (int i = 0; i < 200; i++)
        for (int p = 0; p < 50; p++) {
            int n = snprintf(path, sizeof(path), "/s/%d", p);
            CHECK(watch_add(&t, &owners[i], path, (size_t)n, WATCH_STANDARD));
        }
    CHECK_EQ_INT(watch_table_count(&t), 200 * 50);
    /* a dying owner's watches neither fire nor show while it is cleared a
     * slice at a time */
    owners[0].dying = true;
    fired = 0;
    CHECK_EQ_INT(watch_trigger(&t, "/s/0", 4, false, 200, on_fire, NULL), 199);
    CHECK_EQ_INT(fired, 199);
    CHECK(!watch_contains(&t, &owners[0], "/s/0", 4)); /* a standard watch went all the same */
    CHECK(!watch_owner_clear_some(&owners[0], 20));
    CHECK_EQ_INT(owners[0].count, 49 - 20);
    CHECK(watch_owner_clear_some(&owners[0], 29));
    CHECK_EQ_INT(owners[0].count, 0);
    owners[0].dying = false;
    for (int i = 1; i < 200; i++) /* put /s/0 back as it was */
        CHECK(watch_add(&t, &owners[i], "/s/0", 4, WATCH_STANDARD));
    for (int i = 0; i < 200; i += 2)
        watch_owner_clear(&owners[i]);
    CHECK_EQ_INT(watch_table_count(&t), 100 * 50);
    CHECK_EQ_INT(watch_table_path_count(&t), 50);
    for (int p = 0; p < 50; p++) {
        int n = snprintf(path, sizeof(path), "/s/%d", p);
        CHECK(!watch_contains(&t, &owners[0], path, (size_t)n));
        CHECK(watch_contains(&t, &owners[1], path, (size_t)n));
    }
    /* deinit with watches left detaches them from their owners */
    watch_table_deinit(&t);
    CHECK_EQ_INT(owners[1].count, 0);
    CHECK(list_is_empty(&owners[1].watches));
}

/* A recursive watch at the top of a deep path fires for every level below
 * it, once per event, never for a children event; others beside it on
 * sibling paths do not. */
static void test_deep_recursive(void)
{
    struct watch_table t;
    watch_table_init(&t);
    struct watch_owner a, b;
    watch_owner_init(&a, 1, NULL);
    watch_owner_init(&b, 2, NULL);
    static char deep[4096];
    size_t len = 0;
    for (int level = 0; level < 500; level++)
        len += (size_t)snprintf(deep + len, sizeof(deep) - len, "/%c", 'a' + level % 26);
    CHECK(watch_add(&t, &a, "/a", 2, WATCH_PERSISTENT_RECURSIVE));
    CHECK(watch_add(&t, &b, "/b", 2, WATCH_PERSISTENT_RECURSIVE));
    CHECK(watch_add(&t, &b, deep, len, WATCH_STANDARD));
    uint64_t stamp = 1000;
    for (size_t at = len; at >= 2; at -= 2) {
        CHECK_EQ_INT(watch_trigger(&t, deep, at, false, ++stamp, on_fire, NULL), at == len ? 2 : 1);
        CHECK_EQ_INT(watch_trigger(&t, deep, at, true, ++stamp, on_fire, NULL), 0);
    }
    CHECK(!watch_contains(&t, &b, deep, len));
    CHECK_EQ_INT(watch_trigger(&t, "/", 1, false, ++stamp, on_fire, NULL), 0);
    CHECK_EQ_INT(watch_trigger(&t, "/ab", 3, false, ++stamp, on_fire, NULL), 0);
    CHECK_EQ_INT(watch_trigger(&t, "/b/a", 4, false, ++stamp, on_fire, NULL), 1);
    /* a recursive watch at the root covers everything */
    CHECK(watch_add(&t, &b, "/", 1, WATCH_PERSISTENT_RECURSIVE));
    CHECK_EQ_INT(watch_trigger(&t, deep, len, false, ++stamp, on_fire, NULL), 2);
    CHECK_EQ_INT(watch_trigger(&t, "/", 1, false, ++stamp, on_fire, NULL), 1);
    CHECK_EQ_INT(t.recursive_count, 3);
    watch_owner_clear(&b);
    CHECK_EQ_INT(t.recursive_count, 1);
    watch_owner_clear(&a);
    CHECK_EQ_INT(t.recursive_count, 0);
    CHECK_EQ_INT(watch_table_path_count(&t), 0);
    watch_table_deinit(&t);
}

/* The tables grow, fill with removed slots, shrink and grow again without
 * losing an entry. */
static void test_grow_shrink(void)
{
    struct watch_table t;
    watch_table_init(&t);
    struct watch_owner a, b;
    watch_owner_init(&a, 1, NULL);
    watch_owner_init(&b, 2, NULL);
    char path[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20000; i++) {
            int n = snprintf(path, sizeof(path), "/g/%d", i);
            CHECK(watch_add(&t, &a, path, (size_t)n, WATCH_STANDARD));
            if (i % 2 == 0)
                CHECK(watch_add(&t, &b, path, (size_t)n, WATCH_PERSISTENT));
        }
        for (int i = 0; i < 20000; i++) {
            if (i % 1000 == 7)
                continue;
            int n = snprintf(path, sizeof(path), "/g/%d", i);
            CHECK(watch_remove(&t, &a, path, (size_t)n));
            if (i % 2 == 0)
                CHECK(watch_remove(&t, &b, path, (size_t)n));
        }
        CHECK_EQ_INT(watch_table_count(&t), 20);
        CHECK_EQ_INT(watch_table_path_count(&t), 20);
        CHECK(t.paths.cap <= 256);
        for (int i = 7; i < 20000; i += 1000) {
            int n = snprintf(path, sizeof(path), "/g/%d", i);
            CHECK(watch_contains(&t, &a, path, (size_t)n));
            CHECK(!watch_contains(&t, &b, path, (size_t)n));
            CHECK(watch_remove(&t, &a, path, (size_t)n));
        }
        CHECK_EQ_INT(watch_table_path_count(&t), 0);
        CHECK(t.paths.slots == NULL && t.extras.slots == NULL);
    }
    watch_table_deinit(&t);
}

/* Random adds, removes, triggers and closes over few paths and owners,
 * checked against a matrix of who watches what. */
#define M_OWNERS 40
#define M_PATHS  12
static void test_against_model(void)
{
    struct watch_table t;
    watch_table_init(&t);
    struct watch_owner owners[M_OWNERS];
    int8_t model[M_OWNERS][M_PATHS]; /* -1 none, else the mode */
    memset(model, -1, sizeof(model));
    for (int i = 0; i < M_OWNERS; i++)
        watch_owner_init(&owners[i], i + 1, NULL);
    char paths[M_PATHS][8];
    for (int p = 0; p < M_PATHS; p++)
        snprintf(paths[p], sizeof(paths[p]), "/m%d", p);
    uint64_t rng = 42;
    uint64_t stamp = 5000;
    for (int step = 0; step < 200000; step++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned r = (unsigned)(rng >> 33);
        int i = (int)(r % M_OWNERS), p = (int)(r / M_OWNERS % M_PATHS);
        unsigned op = r / (M_OWNERS * M_PATHS) % 16;
        const char *path = paths[p];
        size_t len = strlen(path);
        if (op < 8) {
            enum watch_mode mode = op < 6 ? WATCH_STANDARD : WATCH_PERSISTENT;
            CHECK(watch_add(&t, &owners[i], path, len, mode) == (model[i][p] < 0));
            model[i][p] = (int8_t)mode;
        } else if (op < 12) {
            CHECK(watch_remove(&t, &owners[i], path, len) == (model[i][p] >= 0));
            model[i][p] = -1;
        } else if (op < 15) {
            size_t expect = 0;
            for (int k = 0; k < M_OWNERS; k++) {
                if (model[k][p] < 0)
                    continue;
                expect++;
                if (model[k][p] == WATCH_STANDARD)
                    model[k][p] = -1;
            }
            CHECK_EQ_INT(watch_trigger(&t, path, len, false, ++stamp, on_fire, NULL), expect);
        } else {
            watch_owner_clear(&owners[i]);
            memset(model[i], -1, sizeof(model[i]));
        }
        if (step % 1000 == 0) {
            size_t total = 0;
            for (int k = 0; k < M_OWNERS; k++)
                for (int q = 0; q < M_PATHS; q++) {
                    CHECK(watch_contains(&t, &owners[k], paths[q], strlen(paths[q])) ==
                          (model[k][q] >= 0));
                    total += model[k][q] >= 0;
                }
            CHECK_EQ_INT(watch_table_count(&t), total);
        }
    }
    watch_table_deinit(&t);
}

/* wchp's walk: paths visited once each with their watchers, while paths
 * come and go between steps and the table is rehashed under the cursor. */
struct cursor_seen {
    unsigned char count[4000]; /* visits per path index */
    size_t ids;
};

static void cursor_visit(void *ctx, const char *path, size_t len, const int64_t *ids, size_t n)
{
    struct cursor_seen *seen = ctx;
    int index = 0;
    CHECK(len > 3 && sscanf(path, "/c/%d", &index) == 1);
    CHECK(index >= 0 && index < 4000);
    seen->count[index]++;
    seen->ids += n;
    for (size_t i = 0; i < n; i++)
        CHECK(ids[i] == 1 || ids[i] == 2);
}

static void test_cursor(void)
{
    static struct watch_owner a, b;
    struct watch_table t;
    watch_table_init(&t);
    watch_owner_init(&a, 1, NULL);
    watch_owner_init(&b, 2, NULL);
    char path[32];
    /* paths 0..999 stay throughout (both owners on the even ones);
     * 1000..1999 are removed during the walk; 2000..3999 are added during it,
     * which rehashes the table several times */
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(path, sizeof(path), "/c/%d", i);
        CHECK(watch_add(&t, &a, path, (size_t)n, WATCH_STANDARD));
        if (i < 1000 && i % 2 == 0)
            CHECK(watch_add(&t, &b, path, (size_t)n, WATCH_STANDARD));
    }
    CHECK_EQ_INT(watch_table_owner_count(&t), 2);
    static struct cursor_seen seen;
    memset(&seen, 0, sizeof(seen));
    struct watch_cursor cur;
    watch_cursor_start(&t, &cur);
    int64_t *ids = NULL;
    size_t ids_cap = 0;
    int step = 0;
    uint64_t resizes = t.paths.resizes;
    while (watch_cursor_step(&t, &cur, 64, cursor_visit, &seen, &ids, &ids_cap)) {
        if (step < 100) {
            for (int k = 0; k < 10; k++) {
                int i = 1000 + step * 10 + k;
                int n = snprintf(path, sizeof(path), "/c/%d", i);
                CHECK(watch_remove(&t, &a, path, (size_t)n));
            }
        }
        if (step < 100) {
            for (int k = 0; k < 20; k++) {
                int i = 2000 + step * 20 + k;
                int n = snprintf(path, sizeof(path), "/c/%d", i);
                CHECK(watch_add(&t, &a, path, (size_t)n, WATCH_STANDARD));
            }
        }
        step++;
        CHECK(step < 100000);
    }
    CHECK(t.paths.resizes > resizes); /* the walk did restart */
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(seen.count[i], 1);
    for (int i = 1000; i < 4000; i++)
        CHECK(seen.count[i] <= 1);
    mem_free(ids);
    /* a dying owner stops counting at once and shows in no walk */
    watch_owner_kill(&b);
    CHECK_EQ_INT(watch_table_owner_count(&t), 1);
    memset(&seen, 0, sizeof(seen));
    ids = NULL;
    ids_cap = 0;
    watch_cursor_start(&t, &cur);
    while (watch_cursor_step(&t, &cur, 1000, cursor_visit, &seen, &ids, &ids_cap))
        ;
    CHECK_EQ_INT(seen.ids, watch_table_count(&t) - b.count);
    mem_free(ids);
    watch_owner_clear(&b);
    CHECK_EQ_INT(watch_table_owner_count(&t), 1);
    watch_owner_clear(&a);
    CHECK_EQ_INT(watch_table_owner_count(&t), 0);
    CHECK_EQ_INT(watch_table_count(&t), 0);
    watch_table_deinit(&t);
}

int main(void)
{
    struct session_table st;
    session_table_init(&st, 2000, 1, 1700000000000);
    int64_t id = session_next_id(&st);
    CHECK_EQ_INT((uint64_t)id >> 56, 1);
    CHECK(session_next_id(&st) == id + 1);
    session_table_deinit(&st);

    session_table_init(&st, 2000, 0, 0);
    CHECK(session_next_id(&st) != 0); /* 0 asks for a new session: never an id */

    struct session a = {.id = 1, .timeout_ms = 4000};
    struct session b = {.id = 2, .timeout_ms = 10000};
    session_add(&st, &a, 1000);
    session_add(&st, &b, 1000);
    /* expiry = next tick boundary after now + timeout */
    CHECK_EQ_INT(a.expire_at_ms, 6000);
    CHECK(session_expired(&st, 5999) == NULL);
    session_touch(&st, &a, 3000); /* -> 8000 */
    CHECK(session_expired(&st, 7999) == NULL);
    CHECK(session_expired(&st, 8000) == &a);
    CHECK(session_expired(&st, 8000) == NULL);
    CHECK(session_expired(&st, 12000) == &b);
    session_remove(&st, &a);
    session_remove(&st, &b);
    CHECK_EQ_INT(session_count(&st), 0);
    session_table_deinit(&st);

    /* java.util.Random(id ^ 0xB3415C00).nextBytes(16), computed with the JDK */
    uint8_t pw[16], pw2[16];
    static const uint8_t from_jdk[16] = {0x76, 0xb3, 0x9f, 0x6d, 0x54, 0xc3, 0xbc, 0x4f,
                                         0x6e, 0xbe, 0x2f, 0xdf, 0xf1, 0x19, 0x8e, 0xcf};
    session_password(0x100000abcdef0001LL, pw);
    CHECK(memcmp(pw, from_jdk, 16) == 0);
    session_password(0x100000abcdef0002LL, pw2);
    CHECK(memcmp(pw, pw2, 16) != 0);

    struct watch_table data;
    watch_table_init(&data);
    struct watch_owner o1, o2;
    watch_owner_init(&o1, 1, NULL);
    watch_owner_init(&o2, 2, NULL);
    CHECK(watch_add(&data, &o1, "/x", 2, WATCH_STANDARD));
    CHECK(!watch_add(&data, &o1, "/x", 2, WATCH_STANDARD)); /* once per session and path */
    CHECK(watch_add(&data, &o2, "/x", 2, WATCH_STANDARD));
    CHECK(watch_add(&data, &o2, "/y", 2, WATCH_STANDARD));
    CHECK_EQ_INT(watch_table_count(&data), 3);
    CHECK_EQ_INT(watch_trigger(&data, "/x", 2, false, 1, on_fire, NULL), 2);
    CHECK_EQ_INT(fired, 2);
    CHECK_EQ_INT(watch_trigger(&data, "/x", 2, false, 2, on_fire, NULL), 0); /* one-shot */
    watch_owner_clear(&o2);
    CHECK_EQ_INT(watch_table_count(&data), 0);

    /* persistent: stays after firing, fires for its own path only */
    CHECK(watch_add(&data, &o1, "/p", 2, WATCH_PERSISTENT));
    CHECK_EQ_INT(watch_trigger(&data, "/p", 2, false, 3, on_fire, NULL), 1);
    CHECK_EQ_INT(watch_trigger(&data, "/p", 2, true, 4, on_fire, NULL), 1);
    CHECK_EQ_INT(watch_trigger(&data, "/p/c", 4, false, 5, on_fire, NULL), 0);
    CHECK_EQ_INT(watch_table_count(&data), 1);

    /* recursive: the whole subtree, never a children event, one event per
     * owner per trigger even with a standard watch on the same path */
    CHECK(watch_add(&data, &o2, "/r", 2, WATCH_PERSISTENT_RECURSIVE));
    CHECK(watch_add(&data, &o2, "/r/a/b", 6, WATCH_STANDARD));
    CHECK_EQ_INT(watch_trigger(&data, "/r/a/b", 6, false, 6, on_fire, NULL), 1);
    CHECK(!watch_contains(&data, &o2, "/r/a/b", 6)); /* the standard one fired and went */
    CHECK_EQ_INT(watch_trigger(&data, "/r/a", 4, false, 7, on_fire, NULL), 1);
    CHECK_EQ_INT(watch_trigger(&data, "/r/a", 4, true, 8, on_fire, NULL), 0);
    CHECK_EQ_INT(watch_trigger(&data, "/rx", 3, false, 9, on_fire, NULL), 0);
    CHECK_EQ_INT(watch_trigger(&data, "/r", 2, false, 10, on_fire, NULL), 1);
    CHECK(watch_contains(&data, &o2, "/r", 2));
    /* the last mode set wins, as ZooKeeper's WatcherModeManager */
    CHECK(!watch_add(&data, &o2, "/r", 2, WATCH_STANDARD));
    CHECK_EQ_INT(data.recursive_count, 0);
    CHECK(watch_remove(&data, &o2, "/r", 2));
    CHECK(!watch_remove(&data, &o2, "/r", 2));
    watch_owner_clear(&o1);
    watch_owner_clear(&o2);
    CHECK_EQ_INT(watch_table_count(&data), 0);
    watch_table_deinit(&data);

    test_many_owners();
    test_deep_recursive();
    test_grow_shrink();
    test_against_model();
    test_cursor();
    return check_result("test_session");
}
