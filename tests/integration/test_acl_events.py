# SPDX-License-Identifier: Apache-2.0
"""ACL holes closed in ZooKeeper 3.8.4+ and 3.9.2+, which czk follows.

The Debian oracle is 3.8.0, so these tests are not differential. The rules
come from Apache's source at release-3.8.6:
- ZOOKEEPER-2590: `exists` on an existing node needs READ.
- ZOOKEEPER-4799 (CVE-2024-23944): a watch event reaches only a watcher
  that may READ the node the event is about. For NodeChildrenChanged that is
  the parent; for NodeDeleted it is the deleted node.

The rules are in FinalRequestProcessor (case OpCode.exists), in DataTree
(triggerWatch with the node's ACL) and in NIOServerCnxn.process(event,
znodeAcl).

Issue 9, defect 8: czk applies the same rule to setWatches/setWatches2,
which even Apache 3.9 answers unchecked (DataTree.setWatches). For a node
that exists and that the session may not READ, setWatches sends no event
and registers the watch whatever relativeZxid says, so neither an event
nor checkWatches tells whether the node changed; a missing node still
gives NodeDeleted (exists answers NONODE to anyone)."""

import pytest

import zkwire
from conftest import SUPER_PASSWORD, SUPER_USER
from zkwire import NOAUTH, NONODE, NOWATCHER, OPEN_ACL_UNSAFE, WATCHER_CHILDREN, WATCHER_DATA

ALICE = ("alice", "pw-alice")


def _alice_acl():
    import base64
    import hashlib
    h = base64.b64encode(hashlib.sha1(("%s:%s" % ALICE).encode()).digest()).decode()
    return [(31, "digest", "%s:%s" % (ALICE[0], h))]


def _events(c):
    c.ping()
    return [(e["type"], e["path"]) for e in c.events]


@pytest.fixture
def sessions(xczk):
    root = "/acl-ev-%d" % id(xczk)
    alice = xczk.session(30000)
    assert alice.add_auth("digest", "%s:%s" % ALICE)["err"] == 0
    bob = xczk.session(30000)
    boss = xczk.session(30000)
    assert boss.add_auth("digest", "%s:%s" % (SUPER_USER, SUPER_PASSWORD))["err"] == 0
    alice.create(root)
    alice.create(root + "/pub", b"p")
    yield root, alice, bob, boss
    # the servers are shared with other modules (getAllChildrenNumber / is
    # compared there): leave nothing behind
    for child in boss.get_children(root).get("children", []):
        assert boss.delete(root + "/" + child)["err"] == 0
    assert boss.delete(root)["err"] == 0
    for c in (alice, bob, boss):
        c.close_session()


def test_exists_needs_read(sessions):
    root, alice, bob, boss = sessions
    assert alice.create(root + "/priv", b"s", acl=_alice_acl())["err"] == 0
    assert bob.exists(root + "/priv")["err"] == NOAUTH
    # refused: no watch is left behind
    assert bob.exists(root + "/priv", watch=True)["err"] == NOAUTH
    assert alice.set_data(root + "/priv", b"t")["err"] == 0
    assert _events(bob) == []
    assert alice.exists(root + "/priv")["err"] == 0
    assert boss.exists(root + "/priv")["err"] == 0          # super reads everything
    assert bob.exists(root + "/none")["err"] == NONODE       # a missing node has no ACL


def test_events_need_read(sessions):
    root, alice, bob, boss = sessions
    # bob watches a node he may read; alice then takes READ away and writes
    assert bob.get_data(root + "/pub", watch=True)["err"] == 0
    assert boss.get_data(root + "/pub", watch=True)["err"] == 0
    assert alice.set_acl(root + "/pub", _alice_acl())["err"] == 0
    assert alice.set_data(root + "/pub", b"q")["err"] == 0
    assert _events(bob) == []
    assert _events(boss) == [(3, root + "/pub")]             # NodeDataChanged

    # a node created with an ACL bob cannot read: bob's exists watch on the
    # missing path stays silent, his child watch on the open parent fires
    assert bob.exists(root + "/hidden", watch=True)["err"] == NONODE
    assert bob.get_children(root, watch=True)["err"] == 0
    assert alice.create(root + "/hidden", b"h", acl=_alice_acl())["err"] == 0
    assert _events(bob) == [(4, root)]                       # NodeChildrenChanged

    # a recursive watch over the subtree hears only what bob may read
    assert bob.add_watch(root)["err"] == 0
    assert alice.create(root + "/open", b"o")["err"] == 0
    assert alice.set_data(root + "/hidden", b"h2")["err"] == 0
    assert alice.delete(root + "/hidden")["err"] == 0
    assert _events(bob)[1:] == [(1, root + "/open")]         # NodeCreated only


def test_set_watches_need_read(sessions):
    root, alice, bob, boss = sessions
    priv, pub, gone = root + "/priv", root + "/pub", root + "/gone"
    assert alice.create(priv, b"s", acl=_alice_acl())["err"] == 0
    assert alice.create(priv + "/c", b"")["err"] == 0
    try:
        last = alice.exists(priv)["zxid"]
        for c in (bob, boss):
            assert c.set_watches(0, data=[priv, pub, gone], exist=[priv], child=[priv])["err"] == 0
        # bob hears about the node he may read and the missing one, nothing
        # about priv (with relativeZxid 0 it would be NodeDataChanged,
        # NodeCreated and NodeChildrenChanged, as boss gets them)
        assert _events(bob) == [(3, pub), (2, gone)]
        assert _events(boss) == [(3, priv), (3, pub), (2, gone), (1, priv), (4, priv)]
        # the watches on priv stand, as they would had bob never disconnected
        assert bob.check_watches(priv, WATCHER_DATA)["err"] == 0
        assert bob.check_watches(priv, WATCHER_CHILDREN)["err"] == 0
        assert bob.check_watches(pub)["err"] == NOWATCHER        # fired, so gone

        # the answer does not depend on relativeZxid: no zxid probing
        carol = zkwire.session(bob.host, bob.port)
        assert carol.set_watches(last + 1000, data=[priv], child=[priv])["err"] == 0
        assert _events(carol) == []
        assert carol.check_watches(priv, WATCHER_DATA)["err"] == 0
        assert carol.check_watches(priv, WATCHER_CHILDREN)["err"] == 0
        carol.close_session()

        # a change while bob may not read: silent (and it consumes the watch,
        # as for a watch set before the ACL changed)
        assert alice.set_data(priv, b"t")["err"] == 0
        assert _events(bob) == [(3, pub), (2, gone)]
        # once bob may read, his remaining child watch speaks
        assert alice.set_acl(priv, OPEN_ACL_UNSAFE)["err"] == 0
        assert alice.create(priv + "/d", b"")["err"] == 0
        assert _events(bob)[2:] == [(4, priv)]
    finally:
        # the fixture removes one level only
        for p in (priv + "/c", priv + "/d"):
            boss.delete(p)


def test_set_watches2_need_read(sessions):
    root, alice, bob, boss = sessions
    priv = root + "/priv2"
    assert alice.create(priv, b"s", acl=_alice_acl())["err"] == 0
    assert bob.set_watches2(0, data=[priv], exist=[priv], child=[priv],
                            persistent=[priv], recursive=[root])["err"] == 0
    assert _events(bob) == []
    assert bob.check_watches(priv, WATCHER_DATA)["err"] == 0
    # persistent and recursive watches hear only what bob may read
    assert alice.set_data(priv, b"t")["err"] == 0
    assert alice.create(root + "/open2", b"o")["err"] == 0
    assert _events(bob) == [(1, root + "/open2")]
    # boss, with the same request, hears everything at once
    assert boss.set_watches2(0, data=[priv], exist=[priv], child=[priv])["err"] == 0
    assert _events(boss) == [(3, priv), (1, priv), (4, priv)]
