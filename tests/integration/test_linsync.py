# SPDX-License-Identifier: Apache-2.0
"""Linearizable sync (issue 10): a czk leader answers a sync, a learner's or
one of its own clients', only once a quorum has confirmed it is still the
leader after the sync arrived (docs/ARCHITECTURE.md, "ZAB").

  a. sync through a follower and through the leader's own client answer,
     after the session's own write, and a read after it sees the write;
     many syncs sent back to back on the leader are answered in order;
  b. a leader cut off from both followers (kill -STOP) never answers a sync:
     the connection closes when it gives up leadership (syncLimit). An
     Apache leader in the same spot answers at once (ZOOKEEPER-1675): the
     oracle row shows the difference is czk's;
  c. an Apache follower's PING answers count: with the czk follower stopped,
     the czk leader's syncs are answered in a round trip;
  d. an Apache follower's syncs mixed with its own sessions' writes: the
     czk leader answers each sync before the COMMIT of any txn proposed
     after it (Apache's CommitProcessor pairs them in order and stalls
     for good otherwise).

Followers stopped with SIGSTOP are continued (SIGCONT) by pid in a finally;
every process is stopped by its pid at the end (make_ensemble)."""
import os
import signal
import socket
import time

import pytest

import zkwire
from conftest import HOST
from ensemble import make_ensemble  # noqa: F401  (fixture)


def _wait_listening(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("nothing listens on port %d" % port)


def _conn(ens, sid):
    return zkwire.session(HOST, ens.members[sid].client_port, timeout_ms=30000)


def test_sync_through_a_follower_and_the_leader_answers(make_ensemble):
    ens = make_ensemble(["czk", "czk", "czk"])
    ens.start_all()
    ens.wait_modes()
    leader = ens.leader_sid()
    for sid in ens.server_sids():
        w = _conn(ens, sid)
        path = "/w%d" % sid
        created = w.create(path, b"x")
        assert created["err"] == 0, created
        for reader_sid in ens.server_sids():
            r = _conn(ens, reader_sid)
            rep = r.sync("/")
            assert rep["err"] == 0, (sid, reader_sid, rep)
            assert rep["zxid"] >= created["zxid"], (sid, reader_sid, rep, created)
            assert r.exists(path)["err"] == 0, (sid, reader_sid)
            r.close()
        w.close()
    # Back to back on the leader: every sync answered, in order.
    c = _conn(ens, leader)
    xids = [c.send_request(zkwire.OP["sync"], zkwire.enc_path("/")) for _ in range(50)]
    got = [c.read_reply(timeout=10)["xid"] for _ in xids]
    assert got == xids
    c.close()


@pytest.mark.parametrize("leader_kind", ["czk", "apache"])
def test_sync_on_a_leader_cut_off_from_its_followers(make_ensemble, leader_kind):
    """czk: the sync is never answered, the connection closes when the
    leader gives up. Apache (the oracle): answered at once."""
    ens = make_ensemble(["czk", "czk", leader_kind])
    ens.start(3)  # first: it is LOOKING when 1 and 2 come, and FLE picks the highest sid
    _wait_listening(ens.members[3].election_port)
    time.sleep(0.5)
    ens.start_all([1, 2])
    ens.wait_modes()
    assert ens.leader_sid() == 3
    c = _conn(ens, 3)
    assert c.create("/before", b"x")["err"] == 0
    assert c.sync("/")["err"] == 0
    followers = [ens.members[sid].server.pid for sid in (1, 2)]
    stopped = []
    try:
        for pid in followers:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        time.sleep(0.3)
        t0 = time.monotonic()
        xid = c.send_request(zkwire.OP["sync"], zkwire.enc_path("/"))
        if leader_kind == "apache":
            rep = c.read_reply(xid, timeout=2)
            assert rep["err"] == 0, rep  # ZOOKEEPER-1675: a stale leader answers
            return
        closed = c.wait_closed(timeout=30)
        answered = [m for m in c.log if m.get("kind") == "reply" and m.get("xid") == xid]
        assert not answered, answered
        assert closed, "the cut-off leader kept the connection open for 30 s"
        # It gave up after about syncLimit ticks (5 x 0.5 s), not at once.
        assert time.monotonic() - t0 > 1.0
        log = ens.server(3).log_path.read_text(errors="replace")
        assert "leadership over" in log
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    ens.wait_modes()
    leader = ens.leader_sid()
    c2 = _conn(ens, leader)
    rep = c2.sync("/")
    assert rep["err"] == 0, rep
    assert c2.exists("/before")["err"] == 0
    c2.close()



def test_apache_followers_ping_answers_confirm_a_czk_leader(make_ensemble):
    """The czk leader (sid 3) with its czk follower stopped: its quorum is
    itself and the Apache follower, whose PING answers (counted from its ACK
    of UPTODATE) must release the sync, well before syncLimit."""
    ens = make_ensemble(["apache", "czk", "czk"])
    ens.start_all()
    ens.wait_modes()
    assert ens.leader_sid() == 3
    c = _conn(ens, 3)
    assert c.create("/a", b"x")["err"] == 0
    pid = ens.members[2].server.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(0.3)
        for _ in range(5):
            t0 = time.monotonic()
            rep = c.sync("/")
            assert rep["err"] == 0, rep
            assert time.monotonic() - t0 < 2.0  # a round trip, not a tick or a timeout
        assert c.exists("/a")["err"] == 0
        assert ens.mode(3) == "leader"
    finally:
        os.kill(pid, signal.SIGCONT)
    ens.wait_modes()


def test_apache_follower_syncs_between_its_writes(make_ensemble):
    """d. Sessions on an Apache follower send a sync between two writes of
    another session, over and over, while writers on the other members
    keep the leader's ACKs coming; every op is answered.  Before the czk
    leader sent each answer ahead of the COMMITs past its target, an
    answer released by the ACKs of a later txn went after that txn's
    COMMIT, and the follower stalled or dropped its clients."""
    from ensemble import Load
    ens = make_ensemble(["apache", "apache", "czk"])
    ens.start_all()
    ens.wait_modes()
    assert ens.leader_sid() == 3
    load = Load(ens, writers=2, sids=[1, 3], root="/bg").start()
    writer = ens.client(2)
    syncer = ens.client(2)
    writer.ensure_path("/d")
    deadline = time.monotonic() + 15
    rounds = 0
    while time.monotonic() < deadline:
        ops = [writer.create_async("/d/a%d" % rounds, b"x"), syncer.sync_async("/"),
               writer.set_async("/d/a%d" % rounds, b"y"), syncer.sync_async("/")]
        for op in ops:
            op.get(timeout=10)   # a stalled follower: a timeout here
        rounds += 1
    load.stop()
    assert rounds > 50, rounds
