# SPDX-License-Identifier: Apache-2.0
"""Differential tests: one scripted sequence, two servers, same answers.

Each scenario runs through the raw wire client (zkwire) against czk and
against Apache ZooKeeper 3.8; the decoded replies and watch events are
normalised (difftool.normalise: zxids relative to the scenario's first zxid,
times, session ids and passwords masked, children sorted) and must be equal.
On a difference the failure message shows the diff and both full traces.

Every scenario works under its own base znode (/d_<name>) so that scenarios
do not see each other, and closes all its sessions at the end (a session
left to expire would be a txn in the middle of a later scenario).
"""

import pytest

import difftool
from zkwire import (OP, OPEN_ACL_UNSAFE, PERSISTENT, EPHEMERAL,
                    PERSISTENT_SEQUENTIAL, EPHEMERAL_SEQUENTIAL, enc_create,
                    enc_path_watch, enc_set_data, enc_delete, enc_connect)

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def _path(rep):
    """The path of a create reply (KeyError -> recorded as an exception)."""
    return rep["path"]


# ---------------------------------------------------------------------------
# create


@scenario
def create_modes(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b, b"base")
    created = [
        A.create(b + "/p", b"persistent", flags=PERSISTENT),
        A.create(b + "/e", b"ephemeral", flags=EPHEMERAL),
        A.create(b + "/ps-", b"pseq", flags=PERSISTENT_SEQUENTIAL),
        A.create(b + "/es-", b"eseq", flags=EPHEMERAL_SEQUENTIAL),
        A.create2(b + "/p2", b"persistent2", flags=PERSISTENT),
        A.create2(b + "/e2", b"", flags=EPHEMERAL),
        A.create2(b + "/ps2-", b"x", flags=PERSISTENT_SEQUENTIAL),
        A.create2(b + "/es2-", b"y" * 300, flags=EPHEMERAL_SEQUENTIAL),
        A.create(b + "/null", None),
        A.create2(b + "/big", bytes(range(256)) * 2000),
    ]
    for rep in created:
        p = _path(rep)
        A.get_data(p)
        A.exists(p)
    A.get_children(b)
    A.get_children2(b)
    A.get_data(b)
    A.exists(b + "/nothere")


@scenario
def create_errors(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.create(b)                                   # NODEEXISTS
    A.create2(b)                                  # NODEEXISTS (create2)
    A.create(b + "/missing/child")                # NONODE
    A.create2(b + "/missing/child")               # NONODE (create2)
    A.create(b + "/eph", b"", flags=EPHEMERAL)
    A.create(b + "/eph/c")                        # NOCHILDRENFOREPHEMERALS
    A.create(b + "/eph/s-", flags=PERSISTENT_SEQUENTIAL)
    A.create(b + "/eph/e", flags=EPHEMERAL)
    A.create2(b + "/eph/c2")
    # a sequential name that already exists
    A.create(b + "/q")
    A.create(b + "/q/n0000000001")                # cversion -> 1
    A.create(b + "/q/n", flags=PERSISTENT_SEQUENTIAL)  # n0000000001 exists
    A.create(b + "/q/n", flags=PERSISTENT_SEQUENTIAL)
    A.get_children2(b + "/q")
    A.get_children2(b)


@scenario
def create_flags_and_acls(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    for i, flags in enumerate([99, -1, 5, 6]):    # invalid / TTL without opcode 21
        A.create(b + "/f%d" % i, b"", flags=flags)
    bad_acls = [[], None, [(31, "foo", "bar")], [(31, "world", "bob")],
                [(31, "ip", "1.2.3.4/99")], [(31, "auth", "")]]
    for i, acl in enumerate(bad_acls):
        A.create(b + "/badacl%d" % i, b"", acl=acl)
        A.create2(b + "/badacl%d" % i, b"", acl=acl)
    good_acls = [[(0, "world", "anyone")], [(31, "ip", "127.0.0.1")],
                 [(31, "ip", "127.0.0.0/8")], [(31, "digest", "user:hash")],
                 [(1, "world", "anyone"), (30, "ip", "127.0.0.1")]]
    for i, acl in enumerate(good_acls):
        A.create(b + "/acl%d" % i, b"", acl=acl)
        A.get_acl(b + "/acl%d" % i)
    A.get_children2(b)


BAD_PATH_SUFFIXES = ["/", "//x", "/./x", "/../x", "/.", "/..", "/x/.", "/x/..",
                     "/x\x00y", "/\x00", "/\x01", "/\x19", "/\x7f", "/\x9f",
                     "/\ud7ff-ok", "/\ue000", "/\uf8ff", "/\uf900-ok",
                     "/\ufff0", "/\uffff", "/x/"]
ABSOLUTE_BAD = ["", "a", "//", "/.", "/..", "x/y"]
ODD_BUT_VALID = ["/.a", "/a.", "/..a", "/a b", "/\u00e9\u4e2d", "/" + "n" * 600,
                 "/\t", "/-_=+", "/\u2028"]


@scenario
def bad_paths(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.create(b + "/x")
    keep = ("err", "path", "xid", "zxid", "op")
    paths = [b + s for s in BAD_PATH_SUFFIXES] + ABSOLUTE_BAD
    for p in paths:
        A.create(p, b"", keep=keep)
        A.create2(p, b"", keep=keep)
        A.delete(p, keep=keep)
        A.set_data(p, b"d", keep=keep)
        A.set_acl(p, OPEN_ACL_UNSAFE, keep=keep)
        A.exists(p, keep=("err", "xid", "op", "zxid"))      # "" is the root: its stat is not ours
        A.get_data(p, keep=("err", "xid", "op", "zxid"))
        A.get_children(p, keep=("err", "xid", "op", "zxid"))
        A.get_children2(p, keep=("err", "xid", "op", "zxid"))
        A.get_acl(p, keep=("err", "xid", "op", "zxid"))
        A.sync(p, keep=keep)
    # a 4-byte UTF-8 character (surrogate pair in Java) and invalid UTF-8
    for p in [b + "/\U0001F600", (b + "/\xff").encode("latin-1"),
              (b + "/").encode() + b"\xc3\x28"]:
        A.create(p, b"", keep=keep)
        A.set_data(p, b"", keep=keep)
        A.delete(p, keep=keep)
    A.get_children2(b)


@scenario
def odd_but_valid_paths(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    for s in ODD_BUT_VALID:
        p = b + s
        A.create(p, s.encode())
        A.get_data(p)
        A.create(p + "/c")
        A.get_children(p)
        A.sync(p)
        A.delete(p + "/c")
        A.delete(p)
    A.get_children2(b)


@scenario
def zookeeper_subtree(ctx):
    A = ctx.open("A")
    for p in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config"]:
        A.get_children2(p)
        A.get_data(p)
        A.get_acl(p)
        A.exists(p)
        A.create(p)                         # NODEEXISTS
        A.delete(p)                         # BADARGUMENTS (special paths)
    A.set_data("/zookeeper/config", b"x")   # NOAUTH
    A.set_acl("/zookeeper/config", OPEN_ACL_UNSAFE)
    r = A.create("/zookeeper/czk-test", b"ok")
    A.get_data(_path(r))
    A.delete(_path(r))
    r = A.create("/zookeeper/quota/czk-test", b"ok")
    A.delete(_path(r))
    A.delete("/zookeeper/nothere")


# ---------------------------------------------------------------------------
# delete / setData / Stat


@scenario
def delete_paths(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b)
    A.create(b + "/x")
    A.delete(b + "/x", 5)           # BADVERSION
    A.delete(b + "/x", -2)          # BADVERSION
    A.set_data(b + "/x", b"1")
    A.delete(b + "/x", 0)           # BADVERSION (version is 1 now)
    A.delete(b + "/x", 1)
    A.delete(b + "/x")              # NONODE
    A.delete(b + "/missing/deeper")  # NONODE
    A.create(b + "/y")
    A.create(b + "/y/z")
    A.delete(b + "/y")              # NOTEMPTY
    A.delete(b + "/y", 7)           # NOTEMPTY or BADVERSION: which first?
    A.delete(b + "/y/z", -1)
    A.delete(b + "/y", 0)
    A.get_children2(b)
    # deleting another session's ephemeral
    B.create(b + "/beph", b"", flags=EPHEMERAL)
    A.exists(b + "/beph")
    A.delete(b + "/beph")
    A.exists(b + "/beph")
    A.delete("/")                   # root
    A.get_children2(b)


@scenario
def set_data_versions(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b, b"v0")
    A.set_data(b, b"v1", -1)
    A.set_data(b, b"v2", 1)
    A.set_data(b, b"v3", 1)         # BADVERSION
    A.set_data(b, b"v3", 99)        # BADVERSION
    A.set_data(b, b"v3", -2)        # BADVERSION
    A.get_data(b)
    A.set_data(b, None)
    A.get_data(b)
    A.set_data(b, b"")
    A.get_data(b)
    A.set_data(b, b"z" * 500000)
    A.exists(b)
    A.set_data(b + "/nothere", b"x")        # NONODE
    A.set_data(b + "/nothere", b"x", 3)     # NONODE beats BADVERSION
    A.get_data(b)


@scenario
def stat_fields(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create2(b, b"abc")
    A.exists(b)
    A.create2(b + "/c1", b"1")
    A.exists(b)                       # cversion 1, numChildren 1, pzxid = czxid(c1)
    A.set_data(b + "/c1", b"22")
    A.exists(b)                       # parent unchanged
    A.set_acl(b + "/c1", OPEN_ACL_UNSAFE, -1)   # aversion 1
    A.set_acl(b + "/c1", OPEN_ACL_UNSAFE, 0)    # BADVERSION
    A.set_acl(b + "/c1", OPEN_ACL_UNSAFE, 1)    # aversion 2
    A.get_acl(b + "/c1")
    A.create(b + "/c2", b"")
    A.delete(b + "/c1")
    A.get_children2(b)                # cversion 3, pzxid = delete zxid
    A.create(b + "/e", b"eph", flags=EPHEMERAL)
    A.exists(b + "/e")
    A.get_data(b + "/e")
    A.set_data(b, b"x" * 1000)
    A.get_children2(b)
    A.get_acl(b)


# ---------------------------------------------------------------------------
# watches


@scenario
def watch_data(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b, b"0")
    B.get_data(b, True)
    B.exists(b, True)                 # same watcher, same path: one event
    A.set_data(b, b"1")
    ctx.drain("B")
    A.set_data(b, b"2")               # watch is one-shot: no event
    ctx.drain("B")
    B.get_data(b, True)
    A.set_acl(b, OPEN_ACL_UNSAFE)     # setACL does not fire data watches
    ctx.drain("B")
    A.create(b + "/child")            # child create does not fire data watch
    ctx.drain("B")
    A.delete(b + "/child")
    A.delete(b)                       # NodeDeleted
    ctx.drain("B")
    B.get_data(b, True)               # NONODE: no watch is left
    A.create(b)
    ctx.drain("B")


@scenario
def watch_exists(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b)
    B.exists(b + "/x", True)          # NONODE + exist watch
    A.create(b + "/x", b"1")          # NodeCreated
    ctx.drain("B")
    B.exists(b + "/x", True)
    A.set_data(b + "/x", b"2")        # NodeDataChanged
    ctx.drain("B")
    B.exists(b + "/x", True)
    A.delete(b + "/x")                # NodeDeleted
    ctx.drain("B")
    B.exists(b + "/x", True)
    A.create(b + "/x", b"", flags=EPHEMERAL)
    A.delete(b + "/x")
    ctx.drain("B")                    # only NodeCreated: one-shot
    B.exists(b + "/s-0000000002", True)   # cversion is 2 after x's create+delete
    r = A.create(b + "/s-", flags=PERSISTENT_SEQUENTIAL)
    ctx.drain("B")
    A.get_data(_path(r))


@scenario
def watch_children(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b)
    B.get_children(b, True)
    B.get_children2(b, True)          # same watcher: one event
    A.create(b + "/c1")               # NodeChildrenChanged
    ctx.drain("B")
    A.create(b + "/c2")               # no watch left
    ctx.drain("B")
    B.get_children(b, True)
    A.set_data(b, b"x")               # data change: no child event
    A.create(b + "/c1/gc")            # grandchild: no event on b
    ctx.drain("B")
    A.delete(b + "/c1/gc")
    A.delete(b + "/c2")               # NodeChildrenChanged
    ctx.drain("B")
    B.get_children2(b, True)
    A.delete(b + "/c1")
    ctx.drain("B")
    B.get_children(b, True)
    A.delete(b)                       # NodeDeleted on a child watch
    ctx.drain("B")
    B.get_children(b, True)           # NONODE: no watch


@scenario
def watch_delete_ordering(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b)
    A.create(b + "/n", b"d")
    B.get_data(b + "/n", True)
    B.get_children(b + "/n", True)
    B.get_children(b, True)
    B.exists(b + "/new", True)
    A.delete(b + "/n")                # one NodeDeleted(/n), then NodeChildrenChanged(b)
    ctx.drain("B")
    B.get_children(b, True)
    A.create(b + "/new")              # NodeCreated(/new) then NodeChildrenChanged(b)
    ctx.drain("B")


@scenario
def watch_own_session(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b, b"0")
    A.get_data(b, True)
    A.set_data(b, b"1")               # the event arrives before the reply
    A.get_children(b, True)
    A.create(b + "/c")
    A.exists(b + "/c", True)
    A.delete(b + "/c")
    A.get_data(b)


@scenario
def watch_many_sessions(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    C = ctx.open("C")
    A.create(b, b"0")
    B.get_data(b, True)
    C.get_data(b, True)
    C.get_children(b, True)
    A.create(b + "/k")
    ctx.drain("B")
    ctx.drain("C")
    A.set_data(b, b"1")
    ctx.drain("C")
    ctx.drain("B")


@scenario
def set_watches(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.create(b + "/x", b"1")
    A.create(b + "/gone")
    z0 = A.exists(b + "/x")["zxid"]
    A.set_data(b + "/x", b"2")
    A.create(b + "/x/c")
    A.delete(b + "/gone")
    B = ctx.open("B")
    # stale relative zxid: the server fires what B missed right away
    B.set_watches(z0, data=[b + "/x", b + "/gone"], exist=[b + "/x", b + "/new"],
                  child=[b + "/x", b + "/gone"])
    ctx.drain("B")
    A.create(b + "/new")
    ctx.drain("B")
    C = ctx.open("C")
    z1 = C.exists(b)["zxid"]
    C.set_watches(z1, data=[b + "/x"], exist=[b + "/nope"], child=[b + "/x"])
    ctx.drain("C")
    A.set_data(b + "/x", b"3")
    A.delete(b + "/x/c")
    A.create(b + "/nope")
    ctx.drain("C")
    C.set_watches(z1, data=[], exist=[], child=[])


@scenario
def ephemeral_close_session(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b)
    A.create(b + "/e1", b"1", flags=EPHEMERAL)
    r = A.create(b + "/es-", b"2", flags=EPHEMERAL_SEQUENTIAL)
    B.exists(b + "/e1", True)
    B.get_data(_path(r), True)
    B.get_children(b, True)
    B.exists(b + "/e1")
    A.close_session()
    ctx.expect_closed("A")
    ctx.drain("B", sort=True)         # deletion order of ephemerals is a hash order
    B.get_children2(b)
    B.exists(b + "/e1")


@scenario
def ephemeral_single_close(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b)
    A.create(b + "/e", b"1", flags=EPHEMERAL)
    B.get_data(b + "/e", True)
    B.get_children(b, True)
    A.close_session()
    ctx.drain("B")                    # NodeDeleted then NodeChildrenChanged
    B.get_children2(b)


# ---------------------------------------------------------------------------
# sequences


@scenario
def sequence_numbering(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    s = [A.create(b + "/s-", flags=PERSISTENT_SEQUENTIAL) for _ in range(3)]
    A.delete(_path(s[1]))
    A.create(b + "/s-", flags=PERSISTENT_SEQUENTIAL)  # cversion counts deletes
    A.create(b + "/plain")
    A.create(b + "/e-", flags=EPHEMERAL_SEQUENTIAL)
    A.create2(b + "/", flags=PERSISTENT_SEQUENTIAL)   # name is only digits
    A.create(b + "/s-", flags=PERSISTENT_SEQUENTIAL)
    A.create(b + "/s-")                               # a plain node named like the prefix
    A.create(b + "/plain")                            # NODEEXISTS: cversion unchanged
    A.create(b + "/s-", flags=PERSISTENT_SEQUENTIAL)
    A.create(b + "/missing/s-", flags=PERSISTENT_SEQUENTIAL)
    A.set_data(b, b"no cversion change")
    A.create(b + "/s-", flags=PERSISTENT_SEQUENTIAL)
    A.create(b + "/other")
    A.create(b + "/other/s-", flags=PERSISTENT_SEQUENTIAL)   # own counter
    A.get_children(b)
    A.get_children2(b)


# ---------------------------------------------------------------------------
# multi / multiRead


@scenario
def multi_success(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.multi([("create", b + "/m", b"m"),
             ("create2", b + "/m/a", b"a"),
             ("create", b + "/m/s-", b"", OPEN_ACL_UNSAFE, PERSISTENT_SEQUENTIAL),
             ("create", b + "/m/e", b"", OPEN_ACL_UNSAFE, EPHEMERAL),
             ("setData", b + "/m", b"m2", 0),
             ("check", b + "/m", 1),
             ("setData", b + "/m/a", b"a2", -1),
             ("delete", b + "/m/a", 1),
             ("check", b + "/m/e", 0)])
    A.get_children2(b + "/m")
    A.get_data(b + "/m")
    A.exists(b + "/m/e")
    A.multi([])                       # empty multi
    A.multi([("check", b, 0)])        # a check-only multi
    A.exists(b)


@scenario
def multi_failures(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b, b"0")
    A.create(b + "/x")
    cases = [
        # first op fails
        [("delete", b + "/nothere"), ("create", b + "/y"), ("setData", b, b"1")],
        # middle op fails (check)
        [("create", b + "/y"), ("check", b, 5), ("setData", b, b"1")],
        # last op fails
        [("create", b + "/y"), ("setData", b, b"1"), ("create", b + "/x")],
        # version bumped by an earlier op of the same multi
        [("setData", b, b"1", 0), ("setData", b, b"2", 0)],
        # create under an ephemeral created in the same multi
        [("create", b + "/e", b"", OPEN_ACL_UNSAFE, EPHEMERAL), ("create", b + "/e/c")],
        # delete a node that gets a child in the same multi
        [("create", b + "/x/c"), ("delete", b + "/x")],
        # bad path / bad ACL / bad version
        [("create", b + "/ok"), ("create", b + "/bad/"), ("create", b + "/ok2")],
        [("create", b + "/ok", b"", [])],
        [("check", b + "/nothere", -1)],
        [("delete", b + "/x", 3), ("delete", b)],
        [("create", b + "/x"), ("create", b + "/x")],
    ]
    for ops in cases:
        A.multi(ops)
        A.get_children2(b)
        A.get_data(b)


@scenario
def multi_watches(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b)
    A.create(b + "/x", b"0")
    A.create(b + "/z")
    B.get_children(b, True)
    B.get_data(b + "/x", True)
    B.exists(b + "/z", True)
    B.exists(b + "/y", True)
    # a failed multi fires nothing
    A.multi([("create", b + "/y"), ("delete", b + "/nothere")])
    ctx.drain("B")
    A.multi([("create", b + "/y"), ("setData", b + "/x", b"1"), ("delete", b + "/z")])
    ctx.drain("B")
    A.get_children2(b)


@scenario
def multi_mixed_read_write(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.multi([("create", b + "/m"), ("getData", b)])          # MARSHALLINGERROR
    A.multi_read([("getData", b), ("create", b + "/m")])     # MARSHALLINGERROR
    A.exists(b + "/m")
    A.get_data(b)


@scenario
def multi_read(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b, b"data")
    A.create(b + "/c1")
    A.create(b + "/c2", None)
    A.multi_read([("getData", b), ("getChildren", b), ("getData", b + "/nothere"),
                  ("getChildren", b + "/nothere"), ("getData", b + "/c2"),
                  ("getChildren", b + "/c1")])
    A.multi_read([])
    B.multi_read([("getData", b, True), ("getChildren", b, True)])   # watches set
    A.set_data(b, b"new")
    A.create(b + "/c3")
    ctx.drain("B")
    A.multi_read([("getData", "/zookeeper/config"), ("getChildren", "/zookeeper")])


@scenario
def sync_and_ping(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.sync(b)
    A.sync(b + "/nothere")
    A.sync("/")
    A.ping()
    A.create(b + "/x")
    A.ping()
    A.sync(b + "/x")


# ---------------------------------------------------------------------------
# ACLs


@scenario
def acls(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.get_acl(b)
    A.set_acl(b, [(31, "world", "anyone")], -1)
    A.set_acl(b, [(31, "world", "anyone")], 0)       # BADVERSION
    A.set_acl(b, [], -1)                               # INVALIDACL
    A.set_acl(b, [(31, "foo", "x")], -1)               # INVALIDACL
    A.set_acl(b + "/nothere", OPEN_ACL_UNSAFE, -1)     # NONODE
    A.get_acl(b + "/nothere")
    A.get_acl(b)
    # read-only node
    A.create(b + "/ro", b"r", acl=[(1, "world", "anyone")])
    A.get_data(b + "/ro")
    A.set_data(b + "/ro", b"w")                        # NOAUTH
    A.create(b + "/ro/c")                              # NOAUTH
    A.get_children(b + "/ro")
    A.set_acl(b + "/ro", OPEN_ACL_UNSAFE)              # NOAUTH (needs ADMIN)
    A.get_acl(b + "/ro")
    # no permissions at all
    A.create(b + "/none", b"n", acl=[(0, "world", "anyone")])
    A.get_data(b + "/none")                            # NOAUTH
    A.get_children(b + "/none")                        # NOAUTH
    A.get_children2(b + "/none")
    A.get_acl(b + "/none")
    A.delete(b + "/none")                              # allowed: parent has DELETE
    # ip schemes
    A.create(b + "/ip", b"i", acl=[(31, "ip", "127.0.0.1")])
    A.get_data(b + "/ip")
    A.create(b + "/ipx", b"i", acl=[(31, "ip", "10.0.0.0/8")])
    A.get_data(b + "/ipx")                             # NOAUTH
    # digest ids are masked in getACL without ADMIN
    A.create(b + "/dg", b"", acl=[(31, "digest", "user:hash1234"), (1, "world", "anyone")])
    A.get_acl(b + "/dg")
    # parent without DELETE permission
    A.create(b + "/nodel", b"", acl=[(1 | 2 | 4 | 16, "world", "anyone")])
    A.create(b + "/nodel/c")
    A.delete(b + "/nodel/c")                           # NOAUTH
    A.set_acl(b + "/nodel", OPEN_ACL_UNSAFE)
    A.delete(b + "/nodel/c")
    A.get_children2(b)


@scenario
def auth_digest(ctx):
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b)
    A.create(b + "/a1", b"", acl=[(31, "auth", "")])   # INVALIDACL: no auth yet
    A.add_auth("digest", b"user:pw")
    A.create(b + "/a1", b"secret", acl=[(31, "auth", "")])
    A.get_acl(b + "/a1")
    A.get_data(b + "/a1")
    B.get_data(b + "/a1")                               # NOAUTH
    B.get_acl(b + "/a1")                                # NOAUTH
    B.add_auth("digest", b"user:wrong")
    B.get_data(b + "/a1")                               # still NOAUTH
    B.add_auth("digest", b"user:pw")
    B.get_data(b + "/a1")
    B.get_acl(b + "/a1")
    A.set_acl(b + "/a1", OPEN_ACL_UNSAFE)
    A.add_auth("nosuchscheme", b"x")                    # AUTHFAILED + close
    ctx.expect_closed("A")


@scenario
def acl_id_forms(ctx):
    """Issue 9: null and NUL-carrying ACL ids, and a digest user with a NUL
    (errors, zxids taken by the failed creates, the ACLs stored)."""
    b = ctx.base
    A = ctx.open("A")
    B = ctx.open("B")
    A.create(b)
    A.create(b + "/n0", b"", acl=[(31, "auth", None)])  # INVALIDACL: no auth yet
    A.add_auth("digest", b"mal\x00lory:pw")
    A.who_am_i()
    A.create(b + "/n1", b"", acl=[(31, "auth", None)])  # kazoo's form
    A.create(b + "/n2", b"", acl=[(31, "auth", "")])    # zkCli's form
    A.create(b + "/n3", b"", acl=[(31, "auth", "x"), (1, "world", "anyone")])
    A.get_acl(b + "/n1")
    A.get_acl(b + "/n3")
    A.set_acl(b + "/n2", [(31, "auth", None)])
    A.create(b + "/x", b"", acl=[(31, "world", None)])  # MARSHALLINGERROR
    A.create(b + "/x", b"", acl=[(31, "digest", None)])
    A.create(b + "/x", b"", acl=[(31, "ip", None)])
    A.create(b + "/x", b"", acl=[(31, None, "anyone")])  # INVALIDACL
    A.create(b + "/x", b"", acl=[(31, "ip", b"127.0.0.1\x00")])
    A.create(b + "/x", b"", acl=[(31, "world", b"anyone\x00")])
    A.create(b + "/x", b"", acl=[(31, "digest", b"a\x00b:h")])
    A.get_acl(b + "/x")
    # getACL without ADMIN masks digest ids as replaceAll(":.*", ":x")
    A.create(b + "/m", b"", acl=[(1, "world", "anyone"), (31, "digest", b"a\x00b:h1"),
                                 (31, "digest", b"c:d\ne"), (31, "digest", b"f:g\r\nh"),
                                 (31, "digest", "i:j\u2028k\u0085l"), (31, "digest", b"m:n:")])
    B.get_acl(b + "/m")
    B.get_acl(b + "/n3")
    B.add_auth("digest", b"mal\x00other:x")
    B.get_data(b + "/n1")                                # NOAUTH
    B.set_data(b + "/n1", b"w")                          # NOAUTH
    B.get_data(b + "/n3")
    B.add_auth("digest", b"mal\x00lory:pw")
    B.who_am_i()
    B.get_data(b + "/n1")
    B.get_acl(b + "/n1")


# ---------------------------------------------------------------------------
# sessions and connections


@scenario
def close_session(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.create(b + "/e", b"", flags=EPHEMERAL)
    A.close_session()
    ctx.expect_closed("A")
    ctx.reattach("A", "A2")           # expired answer: timeOut 0, sessionId 0
    ctx.expect_closed("A2")
    B = ctx.open("B")
    B.exists(b + "/e")


@scenario
def session_reattach(ctx):
    b = ctx.base
    A = ctx.open("A", timeout_ms=10000)
    A.create(b)
    A.create(b + "/e", b"", flags=EPHEMERAL)
    ctx.reattach("A", "A2", timeout_ms=12000)   # same session, new negotiated timeout
    ctx.expect_closed("A")            # the old connection is closed by the server
    ctx.A2.exists(b + "/e")
    ctx.A2.create(b + "/e2", b"", flags=EPHEMERAL)
    ctx.A2.conn.close()               # drop the connection, keep the session
    ctx.reattach("A", "BAD", passwd=b"\x00" * 16)   # wrong password: expired answer
    ctx.expect_closed("BAD")
    ctx.reattach("A", "A3")
    ctx.A3.get_children2(b)
    ctx.A3.close_session()
    ctx.expect_closed("A3")
    C = ctx.open("C")
    C.get_children2(b)


@scenario
def timeout_negotiation(ctx):
    # tickTime=2000: min 4000, max 40000
    for i, t in enumerate([1, 3999, 4000, 10000, 40000, 40001, 1000000, 0, -5]):
        S = ctx.open("S%d" % i, timeout_ms=t)
        S.close_session()


@scenario
def handshake_variants(ctx):
    ctx.open("RO", read_only=True)            # readOnly asked from a rw server
    ctx.RO.exists("/zookeeper/config")
    ctx.open("PV", protocol_version=1)
    ctx.PV.exists("/zookeeper/config")
    # an old client's ConnectRequest without the readOnly byte gets an old
    # ConnectResponse without it
    conn = ctx.server.conn()
    conn.send_frame(enc_connect(with_read_only=False))
    from zkwire import dec_connect_response
    r = dec_connect_response(conn.recv_frame())
    ctx.records.append({"old-client-connect": {k: v for k, v in r.items()
                                               if k not in ("sessionId", "passwd")}})
    conn.close_session()
    conn.close()
    # lastZxidSeen ahead of the server: closed without an answer
    conn = ctx.server.conn()
    conn.send_frame(enc_connect(last_zxid=1 << 60))
    ctx.records.append({"future-zxid-connect-closed": conn.wait_closed(3.0),
                        "log": conn.log})
    conn.close()


@scenario
def unknown_opcodes(ctx):
    b = ctx.base
    A = ctx.open("A")
    A.create(b)
    A.create(b + "/e", b"", flags=EPHEMERAL)
    for i, op in enumerate([999, 0, 10, 23, 200, -3, 0x7fffffff]):
        name = "U%d" % i
        ctx.open(name)
        ctx.raw(name, op, b"\x00\x00\x00\x00", note="opcode %d" % op)
        ctx.expect_closed(name)
    ctx.raw("A", 999, b"")
    ctx.expect_closed("A")
    # the connection is gone but the session is not: the ephemeral stays
    ctx.reattach("A", "A2")
    ctx.A2.exists(b + "/e")
    ctx.A2.get_children2(b)


@scenario
def pipelined_requests(ctx):
    b = ctx.base
    A = ctx.open("A")
    ctx.pipeline("A", [
        (OP["create"], enc_create(b, b"0")),
        (OP["create"], enc_create(b + "/1", b"1")),
        (OP["getData"], enc_path_watch(b + "/1", True)),
        (OP["setData"], enc_set_data(b + "/1", b"2", 0)),
        (OP["getData"], enc_path_watch(b + "/1", False)),
        (OP["setData"], enc_set_data(b + "/1", b"3", 0)),
        (OP["getChildren"], enc_path_watch(b, True)),
        (OP["delete"], enc_delete(b + "/1", -1)),
        (OP["exists"], enc_path_watch(b + "/1", False)),
        (OP["create"], enc_create(b + "/1", b"1")),
        (OP["getChildren2"], enc_path_watch(b, False)),
    ])
    A.get_data(b)


SCENARIO_NAMES = list(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_differential(both, name):
    base = "/d_" + name
    a = difftool.run(both.apache, SCENARIOS[name], base)
    harness = [r for r in a.records if "exception" in r]
    assert not harness, "harness problem: Apache raised %r in scenario %s" % (harness, name)
    c = difftool.run(both.czk, SCENARIOS[name], base)
    msg = difftool.compare(c, a, name)
    if msg:
        pytest.fail(msg, pytrace=False)


# ---------------------------------------------------------------------------
# per-server checks where Apache 3.8 and 3.9 differ (not differential)


def test_notification_zxid(server):
    """The ReplyHeader.zxid of a watch notification is -1 in Apache 3.8 and
    the zxid of the txn that fired it in 3.9 (3.9.0: "Communicate the Zxid that triggered a WatchEvent")."""
    A = server.session(10000)
    B = server.session(10000)
    try:
        A.create("/notif_zxid", b"0")
        B.get_data("/notif_zxid", True)
        r = A.set_data("/notif_zxid", b"1")
        ev = B.read_event(timeout=5)
        assert ev["type"] == 3 and ev["state"] == 3 and ev["path"] == "/notif_zxid"
        if getattr(server, "real_kind", server.kind) == "apache":
            assert ev["zxid"] == -1, ev          # observed on Apache 3.8.0
        else:
            assert ev["zxid"] in (-1, r["zxid"]), (ev, r)
        A.delete("/notif_zxid")
    finally:
        A.close_session()
        B.close_session()


def test_standalone_check(server):
    """check (13) outside a multi.

    Apache 3.8.0 (observed): the check is treated as a write: it is applied as
    a CheckVersionTxn (consuming a zxid), then serialising the reply throws a
    NullPointerException ("Unexpected exception. Destruction averted.") so the
    client gets NO reply; the connection stays open and usable.
    Apache 3.9.x (Request.isValid returns false for check): reply
    err=-6 UNIMPLEMENTED, then the connection is closed.  czk reports a 3.9
    version, so it must do the latter.
    """
    from zkwire import enc_check, Timeout
    c = server.session(10000)
    c.create("/standalone_check", b"")
    z0 = c.exists("/standalone_check")["zxid"]
    xid = c.send_request(OP["check"], enc_check("/standalone_check", 0))
    try:
        rep = c.read_reply(xid, timeout=3)
    except Timeout:
        rep = None
    if getattr(server, "real_kind", server.kind) == "apache":
        assert rep is None
        r = c.exists("/standalone_check")          # still usable
        assert r["err"] == 0 and r["zxid"] == z0 + 1, (z0, r)
        c.delete("/standalone_check")
        c.close_session()
    else:
        assert rep is not None, "czk sent no reply to a standalone check"
        assert rep["err"] == -6, rep
        assert c.wait_closed(3), "connection not closed after UNIMPLEMENTED"
        d = server.session(10000)
        assert d.delete("/standalone_check")["err"] == 0
        d.close_session()


def fresh_tree(ctx):
    A = ctx.open("A")
    for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"]:
        A.get_children2(p)
        A.get_data(p)
        A.get_acl(p)
    A.get_data("")                            # "" is the root too (Apache)
    A.create("/s-", flags=PERSISTENT_SEQUENTIAL)
    A.create("/fresh")
    A.create("/s-", flags=PERSISTENT_SEQUENTIAL)
    A.delete("/fresh")
    A.create("/s-", flags=PERSISTENT_SEQUENTIAL)
    A.get_children2("/")
    A.create("/zookeeper/s-", flags=PERSISTENT_SEQUENTIAL)
    A.get_children2("/zookeeper")


def test_fresh_tree(make_server):
    """The initial tree of a fresh server: Apache shows cversion -1 on "/"
    and -2 on /zookeeper (it stores the number of child creates and shows
    cversion = 2 * creates - numChildren), aversion -1 and a READ-only ACL
    on /zookeeper/config; sequence suffixes count creates."""
    a = difftool.run(make_server("apache"), fresh_tree, "/")
    assert not [r for r in a.records if "exception" in r], a.records
    c = difftool.run(make_server("czk"), fresh_tree, "/")
    msg = difftool.compare(c, a, "fresh_tree")
    if msg:
        pytest.fail(msg, pytrace=False)
