/* SPDX-License-Identifier: Apache-2.0 */
/* Session expiry with simulated time, ids and passwords as ZooKeeper makes
 * them, and the watch manager's one-shot semantics. */
#include "check.h"
#include "session/session.h"
#include "session/watch.h"

#include <string.h>

static int fired;
static void on_fire(void *ctx, struct watch_owner *o)
{
    (void)ctx;
    (void)o;
    fired++;
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
    watch_owner_init(&o1, 1);
    watch_owner_init(&o2, 2);
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
    return check_result("test_session");
}
