/* SPDX-License-Identifier: Apache-2.0 */
/* src/zab/membership: server.N values, quorums and the /zookeeper/config
 * text. Every expected string was printed by Apache ZooKeeper 3.8.0's own
 * QuorumServer and QuorumMaj for the same input (integration/test_membership.py
 * runs that comparison live). */
#include "check.h"
#include "zab/membership.h"

#include <string.h>

/* "OK <toString>" or "ERR <message>", as the Java oracle prints. */
static void expect(const char *value, const char *want)
{
    struct member m;
    char err[512];
    struct buf out;
    buf_init(&out);
    if (member_parse(7, value, strlen(value), &m, err, sizeof(err)) == 0) {
        buf_printf(&out, "OK ");
        member_format(&m, &out);
    } else {
        buf_printf(&out, "ERR %s", err);
    }
    if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0) {
        fprintf(stderr, "server.7=%s\n  got  %.*s\n  want %s\n", value, (int)out.len,
                (const char *)out.data, want);
        CHECK(0);
    }
    buf_deinit(&out);
}

#define WRONG                                                                                      \
    " does not have the form server_config or server_config;client_config where server_config "    \
    "is the pipe separated list of host:port:port or host:port:port:type and client_config is "    \
    "port or host:port"

static void test_parse_good(void)
{
    expect("127.0.0.1:2888:3888", "OK 127.0.0.1:2888:3888:participant");
    expect("localhost:2888:3888:observer", "OK localhost:2888:3888:observer");
    expect("h:1:2:OBSERVER", "OK h:1:2:observer");
    expect("127.0.0.1:2888:3888: Observer ", "OK 127.0.0.1:2888:3888:observer");
    expect("Foo.Example:2888:3888", "OK Foo.Example:2888:3888:participant");
    /* client part: a bare port listens on 0.0.0.0 */
    expect("127.0.0.1:2888:3888;2181", "OK 127.0.0.1:2888:3888:participant;0.0.0.0:2181");
    expect("127.0.0.1:2888:3888:participant;127.0.0.1:2181",
           "OK 127.0.0.1:2888:3888:participant;127.0.0.1:2181");
    expect("127.0.0.1:2888:3888;0", "OK 127.0.0.1:2888:3888:participant;0.0.0.0:0");
    /* Java's split drops trailing empty parts */
    expect("127.0.0.1:2888:3888;", "OK 127.0.0.1:2888:3888:participant");
    expect("h:1:2:", "OK h:1:2:participant");
    /* IPv4 literals as InetAddress prints them; others verbatim */
    expect("127.1:2888:3888", "OK 127.0.0.1:2888:3888:participant");
    expect("010.0.0.1:2888:3888", "OK 10.0.0.1:2888:3888:participant");
    expect("2130706433:1:2", "OK 127.0.0.1:1:2:participant");
    expect("1.2.3:1:2", "OK 1.2.0.3:1:2:participant");
    expect("1.2.3.4.5:1:2", "OK 1.2.3.4.5:1:2:participant");
    expect("1.256.1:1:2", "OK 1.256.1:1:2:participant");
    expect(":1:2", "OK localhost:1:2:participant");
    /* IPv6 in brackets, printed uncompressed; IPv4-mapped as IPv4 */
    expect("[::1]:2888:3888", "OK [0:0:0:0:0:0:0:1]:2888:3888:participant");
    expect("[::1]:2888:3888;[::1]:2181",
           "OK [0:0:0:0:0:0:0:1]:2888:3888:participant;[0:0:0:0:0:0:0:1]:2181");
    expect("[::1]:1:2:observer;[::2]:5", "OK [0:0:0:0:0:0:0:1]:1:2:observer;[0:0:0:0:0:0:0:2]:5");
    expect("[::ffff:1.2.3.4]:1:2", "OK 1.2.3.4:1:2:participant");
    expect("[::ffff:7f00:1]:1:2", "OK 127.0.0.1:1:2:participant");
    expect("[::1.2.3.4]:1:2", "OK [0:0:0:0:0:0:102:304]:1:2:participant");
    expect("[001::0A]:1:2", "OK [1:0:0:0:0:0:0:a]:1:2:participant");
    expect("[1.2.3.4]:1:2", "OK 1.2.3.4:1:2:participant");
    expect("[zz]:1:2", "OK zz:1:2:participant");
    /* ports as Integer.parseInt reads them */
    expect("127.0.0.1:+2888:3888", "OK 127.0.0.1:2888:3888:participant");
    expect("127.0.0.1:02888:3888", "OK 127.0.0.1:2888:3888:participant");
}

static void test_parse_bad(void)
{
    expect("127.0.0.1:2888", "ERR 127.0.0.1:2888" WRONG);
    expect("::1:2888:3888", "ERR ::1:2888:3888" WRONG);
    expect("127.0.0.1:2888:3888;a:b:c", "ERR 127.0.0.1:2888:3888;a:b:c" WRONG);
    expect("127.0.0.1:2888:3888;1;2", "ERR 127.0.0.1:2888:3888;1;2" WRONG);
    expect("127.0.0.1:2888:3888:observer:x", "ERR 127.0.0.1:2888:3888:observer:x" WRONG);
    expect(";2181", "ERR ;2181" WRONG);
    expect("[::1]", "ERR [::1]" WRONG);
    expect("127.0.0.1:x:3888", "ERR Address unresolved: 127.0.0.1:x");
    expect("h::2", "ERR Address unresolved: h:");
    expect("h:1:2 ", "ERR Address unresolved: h:2 ");
    expect("127.0.0.1:2147483648:2", "ERR Address unresolved: 127.0.0.1:2147483648");
    expect("[::1]x:1:2", "ERR Address unresolved: ::1:");
    /* Apache names a client port's host "null": it has not read it yet */
    expect("127.0.0.1:2888:3888;x", "ERR Address unresolved: null:x");
    expect("host:1:2;[::1]", "ERR Address unresolved: null:::1");
    expect("127.0.0.1:70000:3888", "ERR port out of range:70000");
    expect("127.0.0.1:-1:3888", "ERR port out of range:-1");
    expect("127.0.0.1:1:2;65536", "ERR port out of range:65536");
    expect("127.0.0.1:2888:2888", "ERR Client and election port must be different! Please "
                                  "update the configuration file on server.7");
    expect("127.0.0.1:2888:3888:foo", "ERR Unrecognised peertype: foo");
    expect("a|b", "ERR Multiple address feature is disabled, but multiple addresses were "
                  "specified for sid 7");
    expect("[::1:1:2", "ERR [::1:1:2 starts with '[' but has no matching ']:'");
    expect("[::1]:", "ERR [::1]: doesn't have a port after colon");
    expect("h:1:2:observer;[::1]:", "ERR [::1]: doesn't have a port after colon");
}

static struct membership make(const char *text)
{
    struct membership m;
    membership_init(&m);
    char err[512];
    int rc = membership_parse_text(&m, text, strlen(text), err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "parse: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    return m;
}

static void expect_format(const char *text, const char *want)
{
    struct membership m = make(text);
    struct buf out;
    buf_init(&out);
    membership_format(&m, &out);
    if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0) {
        fprintf(stderr, "format of\n%s\n  got\n%.*s\n  want\n%s\n", text, (int)out.len,
                (const char *)out.data, want);
        CHECK(0);
    }
    buf_deinit(&out);
    membership_deinit(&m);
}

static void test_format(void)
{
    /* small sids ascending; no newline after version */
    expect_format("server.3=h:5:6\nserver.1=h:1:2;2181\nserver.2=h:3:4:observer\n",
                  "server.1=h:1:2:participant;0.0.0.0:2181\nserver.2=h:3:4:observer\n"
                  "server.3=h:5:6:participant\nversion=0");
    /* sids in one HashMap bucket: the order of their keys' Properties bins */
    expect_format("server.17=h:1:2\nserver.1=h:3:4\nserver.33=h:5:6\nserver.2=h:7:8:observer;9\n"
                  "version=100000000\n",
                  "server.33=h:5:6:participant\nserver.1=h:3:4:participant\n"
                  "server.17=h:1:2:participant\nserver.2=h:7:8:observer;0.0.0.0:9\n"
                  "version=100000000");
    /* a negative sid hashes as Long.hashCode does (-4 shares 3's bucket) */
    expect_format("server.1=h:3:4\nserver.2=h:5:6\nserver.3=h:1:2\nserver.-4=h:7:8\n",
                  "server.1=h:3:4:participant\nserver.2=h:5:6:participant\n"
                  "server.-4=h:7:8:participant\nserver.3=h:1:2:participant\nversion=0");
    /* one sid twice: the later value */
    expect_format("server.1=h:3:4\nserver.01=h:5:6\n", "server.1=h:5:6:participant\nversion=0");
    struct membership m;
    membership_init(&m);
    char err[256];
    CHECK_EQ_INT(membership_parse_text(&m, "server.1=h:1:2\ntickTime=2000\n", 30, err, sizeof(err)),
                 MEMBERSHIP_ERR_INVALID);
    CHECK(strcmp(err, "Unrecognised parameter: tickTime") == 0);
    CHECK_EQ_INT(membership_parse_text(&m, "server.x=h:1:2\n", 15, err, sizeof(err)),
                 MEMBERSHIP_ERR_INVALID);
    CHECK(strcmp(err, "For input string: \"x\"") == 0);
    CHECK_EQ_INT(membership_parse_text(&m, "server.1=h:1:1\n", 15, err, sizeof(err)),
                 MEMBERSHIP_ERR_INVALID);
    membership_deinit(&m);
}

static void test_quorum(void)
{
    struct membership m = make("server.1=h:1:2\nserver.2=h:3:4\nserver.3=h:5:6\n"
                               "server.4=h:7:8:observer\nserver.5=h:9:10:observer\n");
    CHECK_EQ_INT(membership_voters(&m), 3);
    CHECK_EQ_INT(membership_observers(&m), 2);
    const int64_t two[] = {1, 3}, one[] = {2}, dup[] = {1, 1}, obs[] = {1, 4, 5},
                  unknown[] = {1, 9};
    CHECK(membership_is_quorum(&m, two, 2));
    CHECK(!membership_is_quorum(&m, one, 1));
    CHECK(!membership_is_quorum(&m, dup, 2)); /* a sid counts once */
    CHECK(!membership_is_quorum(&m, obs, 3)); /* observers never count */
    CHECK(!membership_is_quorum(&m, unknown, 2));
    CHECK(membership_find(&m, 4) && membership_find(&m, 4)->role == MEMBER_OBSERVER);
    CHECK(membership_find(&m, 6) == NULL);
    membership_deinit(&m);
    /* four voters: three make a quorum, two do not */
    m = make("server.1=h:1:2\nserver.2=h:3:4\nserver.3=h:5:6\nserver.4=h:7:8\n");
    const int64_t half[] = {1, 2}, more[] = {1, 2, 4};
    CHECK(!membership_is_quorum(&m, half, 2));
    CHECK(membership_is_quorum(&m, more, 3));
    membership_deinit(&m);
}

/* QuorumHierarchical (each answer also checked against Apache's class in
 * tests/integration/test_membership.py) */
static void test_hierarchical(void)
{
    struct membership m = make("server.1=h:1:2\nserver.2=h:3:4\nserver.3=h:5:6\n"
                               "server.4=h:7:8:observer\ngroup.1=1:2:3\nweight.1=2\n");
    CHECK(m.hierarchical);
    CHECK_EQ_INT(membership_weight(&m, 1), 2);
    CHECK_EQ_INT(membership_weight(&m, 2), 1); /* the default */
    CHECK_EQ_INT(membership_weight(&m, 4), 0); /* an observer weighs nothing */
    const int64_t a[] = {1, 2}, b[] = {2, 3}, c[] = {1, 1}, d[] = {1, 3, 4};
    CHECK(membership_is_quorum(&m, a, 2));  /* 3 of 4 */
    CHECK(!membership_is_quorum(&m, b, 2)); /* 2 of 4: no, though a majority */
    CHECK(!membership_is_quorum(&m, c, 2)); /* a sid counts once */
    CHECK(membership_is_quorum(&m, d, 3));
    membership_deinit(&m);
    /* two groups: a majority of each is needed (2 groups: both) */
    m = make("server.1=h:1:2\nserver.2=h:3:4\nserver.3=h:5:6\nserver.4=h:7:8\n"
             "group.1=1:2\ngroup.2=3:4\n");
    const int64_t one_group[] = {1, 2}, both[] = {1, 2, 3, 4}, halves[] = {1, 3};
    CHECK(!membership_is_quorum(&m, one_group, 2));
    CHECK(membership_is_quorum(&m, both, 4));
    CHECK(!membership_is_quorum(&m, halves, 2)); /* 1 of 2 is not more than half */
    membership_deinit(&m);
    /* QuorumMaj: every sid weighs 1 */
    m = make("server.1=h:1:2\nserver.2=h:3:4\n");
    CHECK(!m.hierarchical);
    CHECK_EQ_INT(membership_weight(&m, 7), 1);
    membership_deinit(&m);
    /* refused: a voter outside the groups, a sid in two groups, a grouped
     * non-voter without a weight */
    struct membership bad;
    membership_init(&bad);
    char err[256];
    const char *t1 = "server.1=h:1:2\nserver.2=h:3:4\ngroup.1=1\n";
    CHECK(membership_parse_text(&bad, t1, strlen(t1), err, sizeof(err)) < 0);
    CHECK(strstr(err, "Server 2 is not in a group") != NULL);
    const char *t2 = "server.1=h:1:2\ngroup.1=1\ngroup.2=1\n";
    CHECK(membership_parse_text(&bad, t2, strlen(t2), err, sizeof(err)) < 0);
    CHECK(strstr(err, "Server 1 is in multiple groups") != NULL);
    const char *t3 = "server.1=h:1:2\ngroup.1=1:9\n";
    CHECK(membership_parse_text(&bad, t3, strlen(t3), err, sizeof(err)) < 0);
    CHECK(strstr(err, "Server 9 is in group 1") != NULL);
    const char *t4 = "server.1=h:1:2\ngroup.1=1:x\n";
    CHECK(membership_parse_text(&bad, t4, strlen(t4), err, sizeof(err)) < 0);
    CHECK(strstr(err, "For input string: \"x\"") != NULL);
    membership_deinit(&bad);
}

static void test_sid(void)
{
    int64_t sid;
    CHECK_EQ_INT(membership_sid_parse("9223372036854775807", 19, &sid), 0);
    CHECK(sid == INT64_MAX);
    CHECK_EQ_INT(membership_sid_parse("-9223372036854775808", 20, &sid), 0);
    CHECK(sid == INT64_MIN);
    CHECK_EQ_INT(membership_sid_parse("9223372036854775808", 19, &sid), MEMBERSHIP_ERR_INVALID);
    CHECK_EQ_INT(membership_sid_parse("", 0, &sid), MEMBERSHIP_ERR_INVALID);
    CHECK_EQ_INT(membership_sid_parse("+", 1, &sid), MEMBERSHIP_ERR_INVALID);
    CHECK_EQ_INT(membership_sid_parse("1 ", 2, &sid), MEMBERSHIP_ERR_INVALID);
}

int main(void)
{
    test_parse_good();
    test_parse_bad();
    test_format();
    test_quorum();
    test_hierarchical();
    test_sid();
    return check_result("test_membership");
}
