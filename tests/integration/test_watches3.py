# SPDX-License-Identifier: Apache-2.0
"""Issue 3: persistent and recursive watches, checkWatches/removeWatches,
setWatches2, containers, TTL nodes, getEphemerals, getAllChildrenNumber,
whoAmI, sasl, reconfig, quotas and the four-letter words.

Most tests are differential scenarios (difftool: one script, czk and Apache
3.8, normalised replies and events compared) against the session-scoped
EXT_CFG pair (`xboth`: superDigest, extendedTypesEnabled=true,
enforceQuota=true, container sweep every 1 s).  Where the server acts on its
own clock (container sweep, TTL expiry) the tests assert outcomes with
generous timeouts instead, once per server kind.

Scenarios leave nothing timed behind: TTL nodes are deleted or waited for,
containers are never used or swept before the scenario ends; otherwise a
later scenario would see the sweep's txns.
"""

import re
import struct
import time

import pytest

import difftool
import zkwire
from conftest import SUPER_USER, SUPER_PASSWORD, CONTAINER_CHECK_MS
from zkwire import (OP, EPHEMERAL, PERSISTENT_SEQUENTIAL, CONTAINER,
                    PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL,
                    WATCHER_CHILDREN, WATCHER_DATA, WATCHER_ANY,
                    ADD_WATCH_PERSISTENT as PERSISTENT_W,
                    ADD_WATCH_PERSISTENT_RECURSIVE as RECURSIVE_W,
                    enc_add_watch, enc_create, enc_set_data, enc_delete)

SCENARIOS = {}
PLAIN_SCENARIOS = {}      # run on the default-config pair (`both`)

MAX_TTL = (1 << 40) - 1   # EphemeralType.TTL: 40 bits


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def plain_scenario(fn):
    PLAIN_SCENARIOS[fn.__name__] = fn
    return fn


# ---------------------------------------------------------------------------
# persistent / recursive watches


@scenario
def persistent_watch(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b, b"0")
    B.add_watch(b, PERSISTENT_W)
    A.set_data(b, b"1")                 # NodeDataChanged(b)
    A.create(b + "/a")                  # NodeChildrenChanged(b)
    A.set_data(b + "/a", b"x")          # nothing: persistent is not recursive
    A.create(b + "/a/deep")             # nothing
    A.delete(b + "/a/deep")
    A.delete(b + "/a")                  # NodeChildrenChanged(b)
    A.set_data(b, b"2")                 # still there: NodeDataChanged(b)
    ctx.drain("B")
    B.check_watches(b, WATCHER_CHILDREN)
    B.check_watches(b, WATCHER_DATA)
    B.check_watches(b, WATCHER_ANY)
    A.delete(b)                         # NodeDeleted(b); the watch stays
    A.create(b, b"again")               # NodeCreated(b)
    ctx.drain("B")
    B.check_watches(b, WATCHER_ANY)
    B.remove_watches(b, WATCHER_CHILDREN)
    B.check_watches(b, WATCHER_DATA)
    A.create(b + "/c")                  # no child watch any more
    A.set_data(b, b"3")                 # data part still there
    ctx.drain("B")
    B.remove_watches(b, WATCHER_DATA)
    B.check_watches(b, WATCHER_ANY)     # NOWATCHER
    B.remove_watches(b, WATCHER_ANY)    # NOWATCHER
    A.set_data(b, b"4")
    ctx.drain("B")                      # the server sends no *WatchRemoved events


@scenario
def persistent_watch_missing_node(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b)
    B.add_watch(b + "/x", PERSISTENT_W)     # allowed on a missing node
    A.create(b + "/x", b"1")                # NodeCreated
    A.set_data(b + "/x", b"2")
    A.delete(b + "/x")
    A.create(b + "/x", b"3")
    ctx.drain("B")
    B.remove_watches(b + "/x", WATCHER_ANY)
    A.delete(b + "/x")
    ctx.drain("B")


@scenario
def recursive_watch(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b, b"0")
    B.add_watch(b, RECURSIVE_W)
    A.set_data(b, b"1")                 # NodeDataChanged(b)
    A.create(b + "/a")                  # NodeCreated(b/a), never NodeChildrenChanged
    A.create(b + "/a/b", b"x")          # NodeCreated(b/a/b)
    A.set_data(b + "/a/b", b"y")        # NodeDataChanged(b/a/b)
    A.create(b + "/s-", flags=PERSISTENT_SEQUENTIAL)
    A.create(b + "/a/e", flags=EPHEMERAL)
    A.set_acl(b + "/a", zkwire.OPEN_ACL_UNSAFE)   # setACL: nothing
    ctx.drain("B")
    A.delete(b + "/a/b")                # NodeDeleted
    A.delete(b + "/a/e")
    A.multi([("create", b + "/m"), ("create", b + "/m/n"), ("setData", b + "/m", b"z"),
             ("delete", b + "/m/n")])
    A.create(b + "x-sibling")           # outside the subtree: nothing
    A.set_data("/zookeeper", b"")       # (NOAUTH or not: nothing for B)
    ctx.drain("B")
    B.check_watches(b, WATCHER_CHILDREN)
    B.check_watches(b, WATCHER_DATA)
    B.check_watches(b + "/a", WATCHER_ANY)   # NOWATCHER: registered on b only
    A.delete(b + "/m")
    A.delete(b + "/a")
    ctx.drain("B")
    A.delete(b + "x-sibling")
    B.remove_watches(b, WATCHER_DATA)
    B.check_watches(b, WATCHER_ANY)
    B.remove_watches(b, WATCHER_CHILDREN)
    B.check_watches(b, WATCHER_ANY)
    A.create(b + "/after")
    ctx.drain("B")


@scenario
def recursive_watch_root_and_ephemerals(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    E = ctx.open("E")
    A.create(b)
    A.create(b + "/d")
    B.add_watch(b + "/d", RECURSIVE_W)
    E.create(b + "/d/e1", flags=EPHEMERAL)
    E.create(b + "/d/e2", b"", flags=EPHEMERAL)
    ctx.drain("B")
    E.close_session()                    # NodeDeleted for both ephemerals
    ctx.expect_closed("E")
    ctx.drain("B", sort=True)
    A.delete(b + "/d")
    ctx.drain("B")


@scenario
def watch_mode_mix(ctx):
    """Different watchers (sessions) with different modes on one path, and
    one session's persistent watch next to another's one-shot watches."""
    b = ctx.base
    A = ctx.open("A")
    P = ctx.open("P")
    R = ctx.open("R")
    S = ctx.open("S")
    A.create(b, b"0")
    P.add_watch(b, PERSISTENT_W)
    R.add_watch(b, RECURSIVE_W)
    S.get_data(b, True)
    S.get_children(b, True)
    A.set_data(b, b"1")
    A.create(b + "/k")
    A.create(b + "/k/l")
    for n in ("P", "R", "S"):
        ctx.drain(n)
    A.set_data(b, b"2")
    A.delete(b + "/k/l")
    A.delete(b + "/k")
    for n in ("P", "R", "S"):
        ctx.drain(n)
    P.add_watch(b, PERSISTENT_W)        # again: still one watch
    A.set_data(b, b"3")
    ctx.drain("P")
    # Apache 3.8.0's checkWatches answers OK for any watcher while another
    # session watches the path (WatchManager.containsWatcher looks at the
    # path, not the watcher; fixed in 3.9): ask once the others are gone.
    P.remove_watches(b, WATCHER_ANY)
    R.remove_watches(b, WATCHER_ANY)
    S.check_watches(b, WATCHER_ANY)     # one-shot ones are gone: NOWATCHER


@scenario
def add_watch_edge_cases(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.add_watch(b, PERSISTENT_W)
    A.add_watch(b, PERSISTENT_W)
    A.add_watch(b + "/nothere", RECURSIVE_W)
    A.check_watches(b + "/nothere", WATCHER_DATA)
    A.check_watches(b + "/nothere2", WATCHER_DATA)
    A.remove_watches(b + "/nothere", WATCHER_ANY)
    A.remove_watches(b + "/nothere", WATCHER_ANY)
    A.remove_watches(b, WATCHER_ANY)
    for t in (0, 6, 99, -1):            # bad WatcherType values (4, 5: see below)
        A.check_watches(b, t)
        A.remove_watches(b, t)
    A.ping()
    B = ctx.open("B")
    ctx.raw("B", OP["addWatch"], enc_add_watch(b, 2), note="mode 2")   # MARSHALLINGERROR
    ctx.raw("B", OP["addWatch"], enc_add_watch(b, -1), note="mode -1")
    B.ping()                            # the connection stays open (Apache 3.8)
    A.set_data(b, b"x")                 # B has no watch from the bad modes
    ctx.drain("B")


@scenario
def standard_watch_check_remove(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b, b"0")
    B.check_watches(b, WATCHER_ANY)     # NOWATCHER
    B.get_data(b, True)
    B.get_children(b, True)
    B.exists(b + "/x", True)
    B.check_watches(b, WATCHER_DATA)
    B.check_watches(b, WATCHER_CHILDREN)
    B.check_watches(b + "/x", WATCHER_DATA)
    B.check_watches(b + "/x", WATCHER_CHILDREN)     # NOWATCHER
    B.remove_watches(b, WATCHER_DATA)
    B.remove_watches(b, WATCHER_DATA)               # NOWATCHER
    A.set_data(b, b"1")                             # no event
    ctx.drain("B")
    B.remove_watches(b, WATCHER_ANY)                # child watch
    B.remove_watches(b, WATCHER_ANY)                # NOWATCHER
    A.create(b + "/c")                              # no event
    ctx.drain("B")
    B.remove_watches(b + "/x", WATCHER_ANY)
    A.create(b + "/x")
    ctx.drain("B")
    # A's watch does not belong to B
    A.get_data(b, True)
    B.remove_watches(b, WATCHER_DATA)               # NOWATCHER
    A.set_data(b, b"2")
    A.ping()
    # bad paths
    B.check_watches("", WATCHER_ANY)
    B.check_watches(b + "/", WATCHER_ANY)
    B.remove_watches("x", WATCHER_ANY)


@scenario
def set_watches2_reconnect(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b, b"0")
    A.create(b + "/p", b"0")
    A.create(b + "/r")
    A.create(b + "/r/x")
    z0 = A.exists(b)["zxid"]
    A.set_data(b + "/p", b"1")          # missed by B
    A.create(b + "/r/y")                # missed by B
    A.create(b + "/p/c")
    B = ctx.open("B")
    B.set_watches2(z0, data=[b], exist=[b + "/new"], child=[b + "/p"],
                   persistent=[b + "/p"], recursive=[b + "/r"])
    ctx.drain("B")
    A.set_data(b + "/p", b"2")
    A.set_data(b + "/p", b"3")          # persistent: fires again
    A.create(b + "/r/x/deep")
    A.set_data(b + "/r/x", b"1")
    A.create(b + "/new")
    A.set_data(b, b"1")
    A.delete(b + "/p/c")
    ctx.drain("B")
    B.check_watches(b + "/p", WATCHER_ANY)
    B.check_watches(b + "/r", WATCHER_ANY)
    B.check_watches(b, WATCHER_ANY)
    # relativeZxid current: nothing fires at once
    C = ctx.open("C")
    z1 = C.exists(b)["zxid"]
    C.set_watches2(z1, persistent=[b + "/p"], recursive=[b + "/r"])
    ctx.drain("C")
    A.set_data(b + "/p", b"4")
    A.delete(b + "/r/x/deep")
    ctx.drain("C")
    # old-style setWatches (101) cannot carry persistent watches
    D = ctx.open("D")
    D.set_watches(z1, data=[b + "/p"])
    ctx.drain("D")


# ---------------------------------------------------------------------------
# containers and TTL nodes (replies only; timing is tested below)


@scenario
def containers(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.create_container(b + "/c", b"cont")          # stat.ephemeralOwner shows 0
    A.exists(b + "/c")
    A.get_data(b + "/c")
    A.create_container(b + "/c")                   # NODEEXISTS
    A.create_container(b + "/nope/c")              # NONODE
    A.create_container(b + "/flags0", b"", flags=0)
    A.create_container(b + "/flags1", b"", flags=EPHEMERAL)
    A.create_container(b + "/flags2", b"", flags=PERSISTENT_SEQUENTIAL)
    A.create(b + "/viacreate", b"", flags=CONTAINER)
    A.create2(b + "/viacreate2", b"", flags=CONTAINER)
    A.exists(b + "/viacreate2")
    A.multi([("createContainer", b + "/mc", b"m"), ("create", b + "/mc/kid")])
    A.get_children2(b)
    A.get_children2(b + "/mc")
    A.delete_container(b + "/c")                   # from a client
    A.delete_container(b + "/nothere")
    A.delete_container(b + "/c/")
    ctx.raw("A", OP["deleteContainer"], enc_delete(b + "/c", -1), note="DeleteRequest body")
    A.exists(b + "/flags1")                        # createContainer ignores the flags?
    A.get_ephemerals(b)
    A.get_children2(b)
    # delete everything that could be swept later; the used container and its
    # child go together, so that no sweep can come between them
    A.multi([("delete", b + "/mc/kid"), ("delete", b + "/mc")])
    for c in sorted(A.get_children(b).get("children", [])):   # a fixed order: the servers list children in hash order
        A.delete(b + "/" + c)
    A.get_children2(b)


@scenario
def ttl_replies(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    long_ttl = 3600 * 1000
    A.create_ttl(b + "/t", b"ttl", long_ttl)
    A.exists(b + "/t")                             # ephemeralOwner shows 0
    A.get_data(b + "/t")
    A.create_ttl(b + "/s-", b"", long_ttl, flags=PERSISTENT_SEQUENTIAL_WITH_TTL)
    for i, ttl in enumerate([0, -1, -(1 << 62), MAX_TTL, MAX_TTL + 1, 1 << 62]):
        A.create_ttl(b + "/ttl%d" % i, b"", ttl)
    for f in (0, 1, 2, 3, 4, 7, -1):
        A.create_ttl(b + "/f%d" % f, b"", long_ttl, flags=f)
    A.create_ttl(b + "/t", b"", long_ttl)          # NODEEXISTS
    A.create_ttl(b + "/nope/t", b"", long_ttl)     # NONODE
    A.create(b + "/viacreate", b"", flags=PERSISTENT_WITH_TTL)
    A.create2(b + "/viacreate2", b"", flags=PERSISTENT_SEQUENTIAL_WITH_TTL)
    A.multi([("createTTL", b + "/mt", b"", zkwire.OPEN_ACL_UNSAFE, PERSISTENT_WITH_TTL, long_ttl),
             ("create", b + "/mt/kid")])
    A.multi([("createTTL", b + "/mt0", b"", zkwire.OPEN_ACL_UNSAFE, PERSISTENT_WITH_TTL, 0)])
    A.get_children2(b)
    A.create(b + "/t/child")
    A.get_children2(b + "/t")
    for c in sorted(A.get_children(b).get("children", [])):   # a fixed order: the servers list children in hash order
        for g in sorted(A.get_children(b + "/" + c).get("children", [])):
            A.delete(b + "/" + c + "/" + g)
        A.delete(b + "/" + c)
    A.get_children2(b)


@plain_scenario
def ttl_disabled(ctx):
    """Without extendedTypesEnabled: createTTL is UNIMPLEMENTED."""
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.create_ttl(b + "/t", b"", 10000)
    A.exists(b + "/t")
    A.create(b + "/t5", b"", flags=PERSISTENT_WITH_TTL)
    A.multi([("createTTL", b + "/mt", b"", zkwire.OPEN_ACL_UNSAFE, PERSISTENT_WITH_TTL, 10000)])
    A.get_children2(b)
    B = ctx.open("B")
    B.create_ttl(b + "/t", b"", 10000)
    B.ping()


# ---------------------------------------------------------------------------
# getEphemerals, getAllChildrenNumber, whoAmI, sasl, reconfig


@scenario
def ephemerals_and_counts(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b)
    A.create(b + "/x")
    A.create(b + "/x/y")
    A.create(b + "/x/y/z")
    A.create(b + "/e1", flags=EPHEMERAL)
    A.create(b + "/x/e2", flags=EPHEMERAL)
    A.create(b + "/es-", flags=zkwire.EPHEMERAL_SEQUENTIAL)
    B.create(b + "/eb", flags=EPHEMERAL)
    A.get_ephemerals(b)
    A.get_ephemerals(b + "/x")
    A.get_ephemerals(b + "/e")           # a string prefix, not a path prefix
    A.get_ephemerals(b + "/nothere")
    B.get_ephemerals(b)
    B.get_ephemerals("/")
    A.get_ephemerals(b + "/x/")
    A.get_ephemerals("")
    A.get_ephemerals("relative")
    A.get_all_children_number(b)
    A.get_all_children_number(b + "/x")
    A.get_all_children_number(b + "/x/y/z")
    A.get_all_children_number(b + "/nothere")
    A.get_all_children_number(b + "/")
    A.get_all_children_number("/zookeeper")
    A.get_all_children_number("x")
    C = ctx.open("C")
    C.get_ephemerals("/")


@scenario
def who_am_i(ctx):
    A = ctx.open("A")
    A.who_am_i()
    A.add_auth("digest", b"u1:p1")
    A.who_am_i()
    A.add_auth("digest", b"u1:p1")       # the same id twice
    A.who_am_i()
    A.add_auth("digest", b"u2:p2")
    A.add_auth("ip", b"127.0.0.1")
    A.who_am_i()
    S = ctx.open("S")
    S.add_auth("digest", ("%s:%s" % (SUPER_USER, SUPER_PASSWORD)).encode())
    S.who_am_i()
    W = ctx.open("W")
    W.add_auth("digest", ("%s:wrong" % SUPER_USER).encode())
    W.who_am_i()
    N = ctx.open("N")
    N.add_auth("digest", b"no-colon")
    N.who_am_i()


@scenario
def sasl_reconfig(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.sasl(b"")
    A.sasl(b"some-token")
    A.exists(b)
    A.reconfig(None, None, None, -1)            # RECONFIGDISABLED, consumes a zxid
    A.reconfig("server.2=127.0.0.1:1:2;3", None, None, -1)
    A.exists(b)
    A.get_data("/zookeeper/config")
    A.create(b + "/after")


# ---------------------------------------------------------------------------
# quotas (the limit/stat nodes written as zkCli 3.8 writes them)

QROOT = "/zookeeper/quota"


def _quota_nodes(A, path, limits):
    parts = path.strip("/").split("/")
    cur = QROOT
    for p in parts:
        cur += "/" + p
        A.create(cur)
    A.create(cur + "/zookeeper_limits", limits.encode())
    A.create(cur + "/zookeeper_stats", b"count=0,bytes=0")
    A.get_data(cur + "/zookeeper_limits")
    A.get_data(cur + "/zookeeper_stats")
    return cur


@scenario
def quota_soft(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b, b"12345")
    A.create(b + "/a", b"xy")
    q = _quota_nodes(A, b, "count=3,bytes=10")
    A.create(b + "/b", b"z")
    A.create(b + "/c")
    A.create(b + "/d")                     # soft limits only warn
    A.set_data(b + "/a", b"y" * 40)
    A.get_data(q + "/zookeeper_stats")
    A.delete(b + "/d")
    A.set_data(b, None)
    A.get_data(q + "/zookeeper_stats")
    A.get_children2(q)
    A.create(b + "/c/deeper", b"123")
    A.get_data(q + "/zookeeper_stats")
    A.delete(q + "/zookeeper_limits")
    A.delete(q + "/zookeeper_stats")
    A.create(b + "/e")
    A.get_children2(q)


@scenario
def quota_hard(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.create(b + "/n")
    A.create(b + "/by")
    qn = _quota_nodes(A, b + "/n", "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3")
    qb = _quota_nodes(A, b + "/by", "count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=-1")
    A.create(b + "/n/1")
    A.create(b + "/n/2")
    A.create(b + "/n/3")                   # QUOTAEXCEEDED (count includes /n)
    A.create(b + "/n/1/x")                 # QUOTAEXCEEDED
    A.multi([("delete", b + "/n/2"), ("create", b + "/n/4")])
    A.multi([("create", b + "/n/5"), ("delete", b + "/n/1")])
    A.get_children2(b + "/n")
    A.get_data(qn + "/zookeeper_stats")
    A.create(b + "/by/1", b"12345")
    A.create(b + "/by/2", b"123456")       # QUOTAEXCEEDED (11 > 10)
    A.set_data(b + "/by/1", b"1234567890")
    A.set_data(b + "/by/1", b"12345678901")   # QUOTAEXCEEDED
    A.set_data(b + "/by", b"1")            # QUOTAEXCEEDED
    A.get_data(qb + "/zookeeper_stats")
    # quota root deleted while limits remain
    A.create(b + "/n/6")
    A.get_data(qn + "/zookeeper_stats")
    # a super session is not exempt
    S = ctx.open("S")
    S.add_auth("digest", ("%s:%s" % (SUPER_USER, SUPER_PASSWORD)).encode())
    S.create(b + "/by/3", b"x" * 20)
    # remove the quota: no limits any more
    A.delete(qb + "/zookeeper_limits")
    A.delete(qb + "/zookeeper_stats")
    A.create(b + "/by/4", b"x" * 20)
    A.get_children2(b + "/by")


@scenario
def quota_nested_and_old_format(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.create(b + "/p")
    A.create(b + "/p/q")
    A.create(b + "/p/q/r", b"abc")
    q = _quota_nodes(A, b + "/p/q", "count=10,bytes=100")
    A.get_data(q + "/zookeeper_stats")
    A.create(b + "/p/q/r/s", b"12")
    A.create(b + "/p/other", b"1234")      # outside /p/q
    A.set_data(b + "/p/q", b"hello")
    A.get_data(q + "/zookeeper_stats")
    A.delete(b + "/p/q/r/s")
    A.get_data(q + "/zookeeper_stats")
    A.get_children2(QROOT)
    A.get_acl(QROOT)


# ---------------------------------------------------------------------------
# the differential runner


def _run(pair, name, fn, base):
    a = difftool.run(pair.apache, fn, base)
    harness = [r for r in a.records if "exception" in r]
    assert not harness, "harness problem: Apache raised %r in %s" % (harness, name)
    c = difftool.run(pair.czk, fn, base)
    msg = difftool.compare(c, a, name)
    if msg:
        pytest.fail(msg, pytrace=False)
    return a


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(xboth, name):
    _run(xboth, name, SCENARIOS[name], "/w3_" + name)


@pytest.mark.parametrize("name", list(PLAIN_SCENARIOS))
def test_plain_scenario(both, name):
    _run(both, name, PLAIN_SCENARIOS[name], "/w3p_" + name)


# ---------------------------------------------------------------------------
# oracle facts pinned down (checked on Apache; on czk they must hold too)


def _err(rep):
    return rep["err"]


def test_apache_facts(xserver):
    """Exact replies that the differential scenarios rely on; if Apache
    answered otherwise these tests would be comparing nothing."""
    c = xserver.session(10000)
    try:
        base = "/w3_facts"
        c.create(base)
        r = c.who_am_i()
        assert r["err"] == 0 and r["clientInfo"] == [["ip", "127.0.0.1"]], r
        r = c.sasl(b"")
        assert r["err"] == 0 and r["token"] is None and r["zxid"] == 0, r
        z = c.exists(base)["zxid"]
        r = c.reconfig(None, None, None, -1)
        assert r["err"] == zkwire.RECONFIGDISABLED and r["zxid"] == z + 1, r
        r = c.add_watch(base, RECURSIVE_W)
        assert r["err"] == 0 and r.get("rc") == 0 and "trailing" not in r, r
        r = c.check_watches(base + "/none", WATCHER_ANY)
        assert r["err"] == zkwire.NOWATCHER, r
        r = c.create_ttl(base + "/t", b"", 0)
        assert r["err"] == zkwire.BADARGUMENTS, r
        r = c.create_ttl(base + "/t", b"", MAX_TTL + 1)
        assert r["err"] == zkwire.BADARGUMENTS, r
        r = c.create_ttl(base + "/t", b"", MAX_TTL)
        assert r["err"] == 0 and r["stat"]["ephemeralOwner"] == 0, r
        r = c.create_container(base + "/c")
        assert r["err"] == 0 and r["stat"]["ephemeralOwner"] == 0, r
        r = c.get_all_children_number(base)
        assert r["err"] == 0 and r["totalNumber"] == 2, r
        c.create(base + "/e", flags=EPHEMERAL)
        r = c.get_ephemerals(base)
        assert r["ephemerals"] == [base + "/e"], r
        # no server-side WatchRemoved events
        c.get_data(base, True)
        assert c.remove_watches(base, WATCHER_DATA)["err"] == 0
        c.ping()
        assert [e for e in c.events if e["type"] in (5, 6)] == [], c.events
        for p in ("/t", "/c", "/e"):
            c.delete(base + p)
        c.delete(base)
    finally:
        c.close_session()
        c.close()


def test_watcher_type_persistent(xserver):
    """WatcherType 4 (Persistent) and 5 (PersistentRecursive) exist from
    3.9.0 on.  Apache 3.8 answers MARSHALLINGERROR (-5) and keeps the
    connection; czk follows 3.9 (issue 3), or 3.8."""
    c = xserver.session(10000)
    base = "/w3_wtype"
    try:
        c.create(base)
        c.add_watch(base, PERSISTENT_W)
        r4 = c.check_watches(base, 4)
        r5 = c.check_watches(base, 5)
        if getattr(xserver, "real_kind", xserver.kind) == "apache":
            assert (r4["err"], r5["err"]) == (zkwire.MARSHALLINGERROR,
                                               zkwire.MARSHALLINGERROR), (r4, r5)
        else:
            assert (r4["err"], r5["err"]) in (
                (0, zkwire.NOWATCHER),                       # 3.9
                (zkwire.MARSHALLINGERROR, zkwire.MARSHALLINGERROR)), (r4, r5)
            if r4["err"] == 0:
                assert c.remove_watches(base, 4)["err"] == 0
                assert c.check_watches(base, WATCHER_ANY)["err"] == zkwire.NOWATCHER
        assert c.ping()["err"] == 0
        c.delete(base)
    finally:
        c.close_session()
        c.close()


# ---------------------------------------------------------------------------
# server-clock behaviour: container sweep and TTL expiry (outcomes)


def _wait_gone(c, path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if c.exists(path)["err"] == zkwire.NONODE:
            return True
        time.sleep(0.05)
    return False


def test_container_sweep(xserver):
    c = xserver.session(10000)
    w = xserver.session(10000)
    base = "/w3_sweep"
    try:
        c.create(base)
        c.create_container(base + "/used", b"")
        c.create_container(base + "/never", b"")
        c.create_container(base + "/busy", b"")
        c.create(base + "/busy/kid")
        c.create(base + "/used/kid")
        c.create(base + "/used/kid2", flags=EPHEMERAL)
        w.get_data(base + "/used", True)
        w.get_children(base, True)
        c.delete(base + "/used/kid")
        time.sleep(2.5 * CONTAINER_CHECK_MS / 1000.0)
        assert c.exists(base + "/used")["err"] == 0, "container with a child was removed"
        t0 = time.monotonic()
        c.delete(base + "/used/kid2")
        assert _wait_gone(c, base + "/used", 6.0), "empty used container not swept in 6 s"
        took = time.monotonic() - t0
        # sweep every checkIntervalMs (1 s here); Apache took 0.4-1.1 s
        assert took < 3 * CONTAINER_CHECK_MS / 1000.0 + 1.0, took
        evs = [(e["type"], e["path"]) for e in w.events]
        w.ping()
        evs = [(e["type"], e["path"]) for e in w.events]
        assert (zkwire.EV_DELETED, base + "/used") in evs, evs
        assert (zkwire.EV_CHILDREN_CHANGED, base) in evs, evs
        # never-used container and a container with a child stay
        assert c.exists(base + "/never")["err"] == 0
        assert c.exists(base + "/busy")["err"] == 0
        st = c.exists(base)["stat"]
        assert st["numChildren"] == 2, st
        c.delete(base + "/busy/kid")
        assert _wait_gone(c, base + "/busy", 6.0)
        c.delete(base + "/never")
        c.delete(base)
    finally:
        c.close_session()
        w.close_session()


def test_container_parent_chain(xserver):
    """A container whose only child is an empty container: both go, the
    outer one in a later sweep."""
    c = xserver.session(10000)
    base = "/w3_chain"
    try:
        c.create(base)
        c.create_container(base + "/outer")
        c.create_container(base + "/outer/inner")
        c.create(base + "/outer/inner/leaf")
        c.delete(base + "/outer/inner/leaf")
        assert _wait_gone(c, base + "/outer/inner", 6.0)
        assert _wait_gone(c, base + "/outer", 6.0)
        c.delete(base)
    finally:
        c.close_session()


def test_ttl_expiry(xserver):
    c = xserver.session(10000)
    base = "/w3_ttl"
    try:
        c.create(base)
        assert c.create_ttl(base + "/short", b"", 300)["err"] == 0
        assert c.create_ttl(base + "/kept", b"", 300)["err"] == 0
        c.create(base + "/kept/kid")
        assert c.create_ttl(base + "/touched", b"", 2500)["err"] == 0
        r = c.create_ttl(base + "/seq-", b"", 300, flags=PERSISTENT_SEQUENTIAL_WITH_TTL)
        seq = r["path"]
        assert c.create_ttl(base + "/long", b"", 3600 * 1000)["err"] == 0
        t0 = time.monotonic()
        assert _wait_gone(c, base + "/short", 5.0), "TTL node not expired in 5 s"
        assert _wait_gone(c, seq, 3.0)
        assert c.exists(base + "/kept")["err"] == 0, "TTL node with a child expired"
        assert c.exists(base + "/long")["err"] == 0
        # setData resets the TTL clock (mtime)
        c.set_data(base + "/touched", b"1")
        assert time.monotonic() - t0 < 2.4
        assert c.exists(base + "/touched")["err"] == 0
        c.delete(base + "/kept/kid")
        assert _wait_gone(c, base + "/kept", 5.0), "childless old TTL node not expired"
        assert c.exists(base + "/touched")["err"] == 0
        assert _wait_gone(c, base + "/touched", 6.0)
        c.delete(base + "/long")
        c.delete(base)
    finally:
        c.close_session()


# ---------------------------------------------------------------------------
# four-letter words (format checks that hold on both servers)


def test_four_letter_words(xserver):
    s = xserver
    c = s.session(10000)
    try:
        c.create("/w3_4lw", b"")
        c.get_data("/w3_4lw", True)
        c.get_children("/w3_4lw", True)
        c.add_watch("/w3_4lw", RECURSIVE_W)
        c.create("/w3_4lw/e", flags=EPHEMERAL)
        sid = "0x%x" % c.session_id
        assert s.four_letter("ruok") == "imok"
        assert s.four_letter("isro") == "rw"
        conf = s.four_letter("conf")
        kv = dict(l.split("=", 1) for l in conf.splitlines() if "=" in l)
        assert kv.get("clientPort") == str(s.port), conf
        assert kv.get("tickTime") == "2000", conf
        assert kv.get("maxClientCnxns") == "60", conf
        assert kv.get("minSessionTimeout") == "4000", conf
        assert kv.get("maxSessionTimeout") == "40000", conf
        assert "dataDir" in kv and "dataLogDir" in kv, conf
        cons = s.four_letter("cons")
        assert re.search(r"^ /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+",
                         cons, re.M), cons
        assert sid in cons, (sid, cons)
        assert s.four_letter("crst") == "Connection stats reset.\n"
        assert s.four_letter("srst") == "Server stats reset.\n"
        dump = s.four_letter("dump")
        assert dump.startswith("SessionTracker dump:\n"), dump
        assert "ephemeral nodes dump:" in dump, dump
        assert sid in dump and "/w3_4lw/e" in dump, dump
        envi = s.four_letter("envi")
        assert envi.startswith("Environment:\n"), envi
        assert re.search(r"^zookeeper\.version=\d+\.\d+\.\d+", envi, re.M), envi
        assert re.search(r"^host\.name=", envi, re.M), envi
        wchs = s.four_letter("wchs")
        m = re.match(r"^(\d+) connections watching (\d+) paths\nTotal watches:(\d+)\n$", wchs)
        assert m, repr(wchs)
        assert int(m.group(1)) >= 1 and int(m.group(2)) >= 1, wchs
        wchc = s.four_letter("wchc")
        assert sid in wchc and "\t/w3_4lw\n" in wchc, repr(wchc)
        wchp = s.four_letter("wchp")
        assert "/w3_4lw\n\t" + sid in wchp, repr(wchp)
        dirs = s.four_letter("dirs")
        assert re.match(r"^datadir_size: \d+\nlogdir_size: \d+\n$", dirs), repr(dirs)
        gtmk = s.four_letter("gtmk")
        assert re.match(r"^\d+$", gtmk.strip()), repr(gtmk)
        old = int(gtmk.strip())
        assert s.four_letter(b"stmk" + struct.pack(">q", 0x1f)).strip() == "31"
        assert s.four_letter("gtmk").strip() == "31"
        assert s.four_letter(b"stmk" + struct.pack(">q", old)).strip() == str(old)
        s.four_letter("hash")                   # answers (possibly empty) and closes
        stat = s.four_letter("stat")
        assert stat.startswith("Zookeeper version: "), stat
        assert "Clients:\n" in stat and "Mode: standalone" in stat, stat
        srvr = s.four_letter("srvr")
        assert "Node count: " in srvr and "Mode: standalone" in srvr, srvr
        mntr = dict(l.split("\t", 1) for l in s.four_letter("mntr").splitlines() if "\t" in l)
        for k in ("zk_version", "zk_avg_latency", "zk_max_latency", "zk_min_latency",
                  "zk_packets_received", "zk_packets_sent", "zk_num_alive_connections",
                  "zk_outstanding_requests", "zk_server_state", "zk_znode_count",
                  "zk_watch_count", "zk_ephemerals_count", "zk_approximate_data_size",
                  "zk_open_file_descriptor_count", "zk_max_file_descriptor_count"):
            assert k in mntr, (k, sorted(mntr))
        assert mntr["zk_server_state"] == "standalone"
        assert int(mntr["zk_watch_count"]) >= 2, mntr["zk_watch_count"]
        assert int(mntr["zk_ephemerals_count"]) >= 1
    finally:
        c.close_session()
        c.close()
        d = s.session(10000)
        d.delete("/w3_4lw")
        d.close_session()
        d.close()
