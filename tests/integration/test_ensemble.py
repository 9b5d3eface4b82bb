# SPDX-License-Identifier: Apache-2.0
"""czk as an ensemble member (issue 10), alone and mixed with Apache
ZooKeeper 3.8 members: a follower brought back by DIFF, SNAP and TRUNC;
sessions that move between members and keep their ephemerals; sessions kept
alive through a follower's pings and expired by the leader everywhere; sync
then read across members.  Each scenario runs on kinds where czk plays the
role under test; the same scenario against Apache alone is the oracle for
what a client sees."""
import os
import signal
import time

import pytest
from kazoo.exceptions import NoNodeError

import zkwire
from conftest import HOST
from ensemble import make_ensemble  # noqa: F401  (fixture)

DEADLINE_S = 60


def _wait(cond, what, timeout=DEADLINE_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def _log(ens, sid):
    return ens.server(sid).log_path.read_text(errors="replace")


def _children(ens, sid, path):
    c = ens.client(sid)
    try:
        c.sync(path)
        return sorted(c.get_children(path))
    finally:
        c.stop()
        c.close()



def _write(ens, sid, root, names):
    c = ens.client(sid)
    try:
        c.ensure_path(root)
        for name in names:
            c.create("%s/%s" % (root, name), name.encode())
    finally:
        c.stop()
        c.close()


@pytest.mark.parametrize("kinds", [["czk", "czk", "czk"], ["apache", "apache", "czk"]],
                         ids=lambda k: "-".join(k))
def test_follower_back_by_diff_then_snap(make_ensemble, kinds):
    """A czk leader (sid 3) brings a follower that missed a few txns back
    with a DIFF from its committed log, and one that missed more than the
    committed log holds (500 txns) with a SNAP."""
    ens = make_ensemble(kinds)
    ens.start_all()
    assert ens.leader_sid() == 3
    ens.stop(1)
    _write(ens, 2, "/diff", ["d%d" % i for i in range(20)])
    ens.start(1)
    ens.wait_modes()
    assert _children(ens, 1, "/diff") == sorted("d%d" % i for i in range(20))
    _wait(lambda: "Learner 1 synced by DIFF" in _log(ens, 3), "a DIFF to member 1")

    ens.kill(1)
    _write(ens, 2, "/snap", ["s%d" % i for i in range(600)])
    ens.start(1)
    ens.wait_modes()
    assert len(_children(ens, 1, "/snap")) == 600
    _wait(lambda: "Learner 1 synced by SNAP" in _log(ens, 3), "a SNAP to member 1")
    ens.assert_trees_equal()


@pytest.mark.parametrize("kinds", [["czk", "czk", "czk"], ["czk", "apache", "czk"]],
                         ids=lambda k: "-".join(k))
def test_old_leader_with_unacknowledged_txns_is_truncated(make_ensemble, kinds):
    """The leader (czk, sid 3) logs proposals its followers never saw (one
    was killed, the other stopped), then dies.  The other two elect a leader
    (sid 2: czk, or Apache) and move on; the old leader comes back, is told
    to TRUNC its log to the last txn the others have, and ends with their
    tree: the unacknowledged creates are gone everywhere and no acknowledged
    write is lost."""
    ens = make_ensemble(kinds)
    ens.start_all()
    assert ens.leader_sid() == 3
    _write(ens, 3, "/t", ["acked"])
    c = ens.client(3, connection_retry={"max_tries": 0})
    ens.kill(1)
    # 2 stops (SIGSTOP) with its connection open: the leader still leads,
    # proposes and logs the creates, and gives up once 2's acks are overdue
    # (syncLimit). (With 2 killed too, the leader could give up at its next
    # tick, before the creates arrive.)
    os.kill(ens.server(2).pid, signal.SIGSTOP)
    try:
        pending = [c.create_async("/t/lost%d" % i, b"x") for i in range(5)]
        for p in pending:
            with pytest.raises(Exception):  # the leader gave up: connection loss
                p.get(timeout=30)
    finally:
        ens.kill(2)  # SIGKILL ends a stopped process too
    c.stop()
    c.close()
    ens.kill(3)
    assert "lost0" in (ens.members[3].datadir / "version-2").joinpath(
        _newest_log(ens, 3)).read_bytes().decode("latin-1"), \
        "the unacknowledged txns did not reach the old leader's log"
    ens.start(1)
    ens.start(2)
    ens.wait_modes(sids=[1, 2])
    # back before the new epoch has a txn: the leader's log ends below the
    # old leader's, which is told to TRUNC (a txn of the new epoch first
    # would make it a SNAP: a TRUNC never crosses an epoch, in Apache too)
    ens.start(3)
    ens.wait_modes()
    _wait(lambda: "Getting a truncate from the leader" in _log(ens, 3), "a TRUNC on member 3")
    _write(ens, 3, "/t", ["after"])
    assert _children(ens, 3, "/t") == ["acked", "after"]
    ens.assert_trees_equal()
    ens.restart(3)  # what it logged after the TRUNC is what recovery finds
    ens.wait_modes()
    assert _children(ens, 3, "/t") == ["acked", "after"]
    ens.assert_trees_equal()


def _newest_log(ens, sid):
    logs = sorted((ens.members[sid].datadir / "version-2").glob("log.*"),
                  key=lambda p: int(p.name[4:], 16))
    return logs[-1].name


def _member(ens, sid):
    return ens.members[sid]


@pytest.mark.parametrize("kinds", [["czk", "czk", "czk"], ["apache", "czk", "apache"],
                                   ["czk", "apache", "apache"]],
                         ids=lambda k: "-".join(k))
def test_session_moves_between_members_with_its_ephemeral(make_ensemble, kinds):
    """A session made on member 1 re-attaches on member 2 (REVALIDATE through
    the leader) and keeps its ephemeral; closed there, the ephemeral is gone
    on every member."""
    ens = make_ensemble(kinds)
    ens.start_all()
    ens.wait_modes()
    a = zkwire.session(HOST, _member(ens, 1).client_port, timeout_ms=10000)
    assert a.create("/eph", b"e", flags=zkwire.EPHEMERAL)["err"] == 0
    session_id, passwd = a.session_id, a.passwd
    a.sock.close()  # the connection is lost; the session is not closed
    b = zkwire.Conn(HOST, _member(ens, 2).client_port)
    b.connect(timeout_ms=10000, session_id=session_id, passwd=passwd)
    assert b.session_id == session_id
    assert b.sync("/")["err"] == 0
    rep = b.get_data("/eph")
    assert rep["err"] == 0 and rep["data"] == b"e", rep
    assert rep["stat"]["ephemeralOwner"] == session_id, rep
    assert b.close_session()["err"] == 0
    b.close()
    for sid in ens.server_sids():
        c = ens.client(sid)
        c.sync("/")
        assert c.exists("/eph") is None, sid
        c.stop()
        c.close()


@pytest.mark.parametrize("kinds", [["czk", "czk", "czk"], ["czk", "apache", "apache"],
                                   ["apache", "apache", "czk"]],
                         ids=lambda k: "-".join(k))
def test_session_lives_through_follower_pings_and_expires_everywhere(make_ensemble, kinds):
    """A client of member 1 (a follower) keeps its 2 s session for 6 s by
    pinging member 1 only: the follower reports its sessions to the leader.
    When the client goes silent, the leader expires the session and its
    ephemeral goes on every member."""
    ens = make_ensemble(kinds)
    ens.start_all()
    assert ens.leader_sid() != 1
    a = zkwire.session(HOST, _member(ens, 1).client_port, timeout_ms=2000)
    assert a.negotiated_timeout == 2000
    assert a.create("/alive", b"", flags=zkwire.EPHEMERAL)["err"] == 0
    end = time.monotonic() + 6
    while time.monotonic() < end:
        assert a.ping()["err"] == 0
        time.sleep(0.3)
    assert a.exists("/alive")["err"] == 0
    a.sock.close()  # silent from now on
    watcher = ens.client(2)
    _wait(lambda: watcher.exists("/alive") is None, "the expiry of the silent session", 20)
    for sid in ens.server_sids():
        c = ens.client(sid)
        c.sync("/")
        assert c.exists("/alive") is None, sid


@pytest.mark.parametrize("kinds", [["czk", "czk", "czk"], ["apache", "czk", "czk"]],
                         ids=lambda k: "-".join(k))
def test_write_on_one_member_sync_read_on_another(make_ensemble, kinds):
    """A write acknowledged through member 1 is seen by sync + read through
    each other member, every time."""
    ens = make_ensemble(kinds)
    ens.start_all()
    ens.wait_modes()
    w = ens.client(1)
    readers = {sid: ens.client(sid) for sid in (2, 3)}
    w.create("/v", b"0")
    for i in range(1, 40):
        w.set("/v", str(i).encode())
        for sid, r in readers.items():
            r.sync("/v")
            assert r.get("/v")[0] == str(i).encode(), (sid, i)
    with pytest.raises(NoNodeError):
        readers[2].get("/never")


@pytest.mark.parametrize("kinds", [["czk", "czk", "czk"], ["czk", "czk", "apache"],
                                   ["apache", "czk", "czk"]],
                         ids=lambda k: "-".join(k))
def test_acl_writes_through_a_follower_carry_the_clients_auth(make_ensemble, kinds):
    """A write forwarded by a follower carries the connection's auth ids
    (the REQUEST's authinfo): the leader preps it with them, so a digest
    user may create and change its node through member 1, and a client
    without that auth gets NOAUTH there, as on the leader."""
    from kazoo.exceptions import NoAuthError
    from kazoo.security import make_digest_acl

    ens = make_ensemble(kinds)
    ens.start(3)  # 3 and 1 first: 3 leads whichever kind starts faster
    ens.start(1)
    ens.wait_modes(sids=[1, 3])
    ens.start(2)
    ens.wait_modes()
    assert ens.leader_sid() == 3
    owner = ens.client(1, auth_data=[("digest", "alice:secret"), ("digest", "bob:pw")])
    acl = [make_digest_acl("alice", "secret", all=True)]
    owner.create("/guarded", b"v0", acl=acl)
    owner.set("/guarded", b"v1")
    stranger = ens.client(1)
    with pytest.raises(NoAuthError):
        stranger.set("/guarded", b"x")
    for sid in ens.server_sids():
        c = ens.client(sid, auth_data=[("digest", "alice:secret")])
        c.sync("/guarded")
        assert c.get("/guarded")[0] == b"v1", sid


EARLY = "(every connected voter agreed: no finalizeWait)"


@pytest.mark.parametrize("kinds", [["czk", "czk", "czk"], ["apache", "czk", "czk"]],
                         ids=lambda k: "-".join(k))
def test_survivors_of_a_killed_leader_elect_without_finalize_wait(make_ensemble, kinds):
    """kill -9 of the leader (sid 3): its election connections close, and a
    czk survivor decides as soon as every voter it is still connected to has
    voted for its proposal, instead of waiting FastLeaderElection's 200 ms
    finalizeWait (docs/PROTOCOL.md). The new leader is the one Apache's rule
    picks (sid 2: the same zxid, the higher sid), and an Apache survivor
    (sid 1 in the mixed case) follows it after its own finalizeWait."""
    ens = make_ensemble(kinds)
    ens.start_all()
    assert ens.leader_sid() == 3
    _write(ens, 1, "/early", ["a", "b"])
    before = {sid: _log(ens, sid).count(EARLY) for sid in (1, 2) if kinds[sid - 1] == "czk"}
    ens.kill(3)
    assert ens.leader_sid(sids=[1, 2]) == 2
    for sid, n in before.items():
        lines = [line for line in _log(ens, sid).splitlines() if EARLY in line]
        assert len(lines) > n, "member %d decided without the early rule" % sid
        assert ("LEADING, leader 2" if sid == 2 else "FOLLOWING, leader 2") in lines[-1]
    assert _children(ens, 1, "/early") == ["a", "b"]
    ens.start(3)
    ens.wait_modes()
    ens.assert_trees_equal()
