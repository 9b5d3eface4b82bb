# SPDX-License-Identifier: Apache-2.0
"""Local sessions (localSessionsEnabled, localSessionsUpgradingEnabled;
issue 11) on czk, on Apache ZooKeeper 3.8 (the oracle: every expected value
below is what Apache answers, and the all-Apache ensembles run the same
assertions) and on mixed ensembles (a czk leader with Apache followers and
the reverse), on a follower and on the leader:

- a new session is local: this member's sid in its top byte, counted in
  zk_local_sessions, no txn;
- its writes go through the quorum as usual;
- an ephemeral create: without upgrading, EPHEMERALONLOCALSESSION (a multi:
  the leader's error in its results, SESSIONEXPIRED through a follower, as
  the leader refuses an ephemeral of a session it does not know); with
  upgrading, a createSession txn first, then the node, owned by the same
  session, which is now global (it moves to other members, its
  closeSession is a txn and removes its ephemerals);
- a local session does not move to another member (expired there), and
  its closeSession is answered locally without a txn;
- a local session no connection holds expires after its timeout."""
import time

import pytest

import zkwire
from conftest import HOST
from ensemble import make_ensemble  # noqa: F401  (fixture)

KINDS = [["apache", "apache", "apache"], ["czk", "czk", "czk"],
         ["apache", "apache", "czk"], ["czk", "czk", "apache"]]
EPHEMERALONLOCALSESSION = -120
SESSIONEXPIRED = -112


def _mntr(ens, sid):
    out = zkwire.four_letter(HOST, ens.members[sid].client_port, "mntr", timeout=5.0)
    m = dict(line.split("\t", 1) for line in out.strip().split("\n") if "\t" in line)
    return int(m["zk_local_sessions"]), int(m["zk_global_sessions"])


def _zxid(ens, sid):
    out = zkwire.four_letter(HOST, ens.members[sid].client_port, "srvr", timeout=5.0)
    return int([x for x in out.split("\n") if x.startswith("Zxid: ")][0].split()[1], 16)


def _conn(ens, sid, **kw):
    c = zkwire.Conn(HOST, ens.members[sid].client_port)
    resp = c.connect(**kw)
    return c, resp


def _exists_on(ens, sid, path):
    c, _ = _conn(ens, sid)
    try:
        c.sync(path)
        return c.exists(path)
    finally:
        c.close_session()
        c.close()


def _scenario(ens, where, leader, upgrading):
    other = [s for s in ens.members if s != where][0]
    tag = "%d" % where
    local0, global0 = _mntr(ens, where)
    c, resp = _conn(ens, where, timeout_ms=6000)
    session = c.session_id
    assert session >> 56 == where, hex(session)
    assert _mntr(ens, where) == (local0 + 1, global0)
    rep = c.create("/p" + tag, b"x")
    assert rep["err"] == 0, rep
    created = rep["zxid"]

    eph = c.create("/e" + tag, b"", flags=zkwire.EPHEMERAL)
    multi = c.multi([("create", "/m" + tag, b"", zkwire.OPEN_ACL_UNSAFE, zkwire.EPHEMERAL)])
    seen = _exists_on(ens, leader, "/e" + tag)
    if upgrading:
        assert eph["err"] == 0, eph
        assert eph["zxid"] == created + 2, "createSession, then the node"
        assert [r["err"] for r in multi["results"]] == [0], multi
        assert seen["err"] == 0 and seen["stat"]["ephemeralOwner"] == session, seen
        assert _mntr(ens, where) == (local0, global0 + 1)
    else:
        assert eph["err"] == EPHEMERALONLOCALSESSION, eph
        want = EPHEMERALONLOCALSESSION if where == leader else SESSIONEXPIRED
        assert [r["err"] for r in multi["results"]] == [want], multi
        assert seen["err"] == zkwire.NONODE, seen
        assert _mntr(ens, where) == (local0 + 1, global0)

    # to another member: a local session is unknown there
    c2 = zkwire.Conn(HOST, ens.members[other].client_port)
    resp = c2.connect(session_id=session, passwd=c.passwd, timeout_ms=6000)
    if upgrading:
        assert resp["sessionId"] == session, resp
        # closed here and now (a txn), not left to expire while the next
        # scenario counts sessions
        assert c2.close_session()["err"] == 0
        c2.close()
        # `where` applies the closeSession when its commit reaches it
        deadline = time.monotonic() + 10
        while _mntr(ens, where) != (local0, global0):
            assert time.monotonic() < deadline, _mntr(ens, where)
            time.sleep(0.05)
    else:
        c2.close()
        assert (resp["timeOut"], resp["sessionId"]) == (0, 0), resp
        last = _zxid(ens, where)
        rep = c.close_session()
        assert (rep["err"], rep["zxid"]) == (0, last), rep
        assert _zxid(ens, where) == last, "a local closeSession made a txn"
        assert _mntr(ens, where) == (local0, global0)
    c.close()

    # a local session that no connection holds expires here
    e, resp = _conn(ens, where, timeout_ms=1000)
    e.close()
    time.sleep(3.0)  # 1000 ms rounded up to the next 500 ms tick, and margin
    e2 = zkwire.Conn(HOST, ens.members[where].client_port)
    resp = e2.connect(session_id=resp["sessionId"], passwd=resp["passwd"])
    e2.close()
    assert (resp["timeOut"], resp["sessionId"]) == (0, 0), "the local session did not expire"


@pytest.mark.parametrize("upgrading", [False, True], ids=["no-upgrade", "upgrade"])
@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "-".join(k))
def test_local_sessions(make_ensemble, kinds, upgrading):
    extra = {"localSessionsEnabled": "true"}
    if upgrading:
        extra["localSessionsUpgradingEnabled"] = "true"
    ens = make_ensemble(kinds, extra=extra)
    # sid 3 first: FastLeaderElection makes it the leader (the highest sid
    # among equal zxids) once a second member is up
    ens.start(3)
    time.sleep(0.5)
    ens.start_all([1, 2])
    leader = ens.leader_sid()
    follower = [s for s in (1, 2, 3) if s != leader][0]
    _scenario(ens, follower, leader, upgrading)
    _scenario(ens, leader, leader, upgrading)
    # every member has the writes of both
    for sid in (1, 2, 3):
        c, _ = _conn(ens, sid)
        try:
            c.sync("/")
            assert c.exists("/p%d" % follower)["err"] == 0, sid
            assert c.exists("/p%d" % leader)["err"] == 0, sid
        finally:
            c.close()
