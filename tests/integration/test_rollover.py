# SPDX-License-Identifier: Apache-2.0
"""The zxid counter's roll-over (issue 11). A zxid is epoch << 32 | counter;
before the counter's low 32 bits would wrap, ZooKeeper's leader gives up
its role and a new election starts a new epoch: every client reconnects.
czk.zxidCounterStart (hex) makes every epoch's first txn start near the
limit, so that a test reaches it within a few writes (Apache members ignore
the key).

- All czk: the leader starts the next epoch in place, agreed by a quorum
  (docs/PROTOCOL.md, "ZAB: the epoch roll-over"): from 2^32 - 1000, 5,000
  writes by clients on every member go through five roll-overs with no
  disconnect, no session change, the same leader; the zxids go on in the
  next epochs; every member has every write, and restarts on its files.
- With an Apache follower, as Apache: the czk leader steps down and an
  election starts the next epoch; a client that fails over goes on, no
  acknowledged write is lost, the new leader serves a higher epoch, and a
  session (and its ephemeral) created before it survives it; the leader
  logs why it stepped down."""
import threading
import time

import pytest
from kazoo.exceptions import ConnectionLoss, NodeExistsError, SessionExpiredError
from kazoo.handlers.threading import KazooTimeoutError

from ensemble import make_ensemble  # noqa: F401  (fixture)

KINDS = [["apache", "czk", "czk"]]
START = 0xfffffff0
# Every epoch's first txn has counter START: each leader steps down after
# 0xfffffffe - START + 1 = 15 txns, so these writes go through two roll-overs.
WRITES = 30


@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "-".join(k))
def test_writes_go_on_through_the_roll_over(make_ensemble, kinds):
    ens = make_ensemble(kinds, extra={"czk.zxidCounterStart": "%x" % START})
    # sid 3 first: FastLeaderElection makes it (czk) the leader
    ens.start(3)
    time.sleep(0.5)
    ens.start_all([1, 2])
    assert ens.leader_sid() == 3
    kz = ens.client(1, failover=True, timeout=15.0)
    kz.create("/owner", b"", ephemeral=True)
    session = kz.client_id[0]
    epoch = ens.zxid(3) >> 32
    assert ens.zxid(3) & 0xffffffff >= START, hex(ens.zxid(3))

    kz.ensure_path("/r")
    deadline = time.monotonic() + 90
    for i in range(WRITES):
        while True:
            assert time.monotonic() < deadline, "write %d did not go through" % i
            try:
                # queued while no member serves: bounded, so that a stuck
                # ensemble fails the test instead of hanging it
                kz.create_async("/r/w%d" % i, b"v").get(timeout=10)
                break
            except NodeExistsError:
                break  # applied before the connection was lost
            except (ConnectionLoss, SessionExpiredError, KazooTimeoutError):
                time.sleep(0.2)
    modes = ens.wait_modes()
    leader = [s for s, m in modes.items() if m == "leader"][0]
    assert ens.zxid(leader) >> 32 > epoch, "no new epoch: %x" % ens.zxid(leader)
    log = open(ens.members[3].server.log_path, errors="replace").read()
    assert "the zxid counter is exhausted" in log
    assert "cannot start the next epoch in place (Apache ZooKeeper's)" in log

    # the session lived on, and every member has every write
    assert kz.client_id[0] == session
    assert kz.exists("/owner").ephemeralOwner == session
    for sid in (1, 2, 3):
        c = ens.client(sid)
        try:
            c.sync("/r")
            assert sorted(c.get_children("/r")) == sorted("w%d" % i for i in range(WRITES)), sid
            assert c.exists("/owner").ephemeralOwner == session, sid
        finally:
            c.stop()
            c.close()


IN_PLACE_START = 0x100000000 - 1000  # each epoch: counters fffffc18..fffffffe
IN_PLACE_WRITES = 5000
CLIENTS = 6  # two on each member


def test_next_epoch_in_place_without_a_disconnect(make_ensemble):
    ens = make_ensemble(["czk", "czk", "czk"],
                        extra={"czk.zxidCounterStart": "%x" % IN_PLACE_START})
    ens.start(3)
    time.sleep(0.5)
    ens.start_all([1, 2])
    assert ens.leader_sid() == 3
    first_epoch = ens.zxid(3) >> 32
    clients, states = [], []
    for k in range(CLIENTS):
        c = ens.client(1 + k % 3)
        seen = []
        c.add_listener(seen.append)
        clients.append(c)
        states.append(seen)
    sessions = [c.client_id[0] for c in clients]
    clients[0].create("/owner", b"", ephemeral=True)
    clients[0].ensure_path("/r")

    errors = []

    def writer(k):
        c = clients[k]
        try:
            mine = range(k, IN_PLACE_WRITES, CLIENTS)
            for start in range(0, len(mine), 100):  # 100 in flight at a time
                futures = [c.create_async("/r/w%05d" % i, b"v") for i in mine[start:start + 100]]
                for f in futures:
                    f.get(timeout=30)
        except Exception as e:  # reported below, with its writer
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a writer is stuck"
    assert not errors, errors

    # no connection state change at all (kazoo reports SUSPENDED on a
    # disconnect, LOST on an expiry), the same sessions, the same leader
    assert all(seen == [] for seen in states), states
    assert [c.client_id[0] for c in clients] == sessions
    modes = ens.wait_modes()
    assert modes[3] == "leader", modes
    assert ens.zxid(3) >> 32 >= first_epoch + 5, (hex(ens.zxid(3)), first_epoch)
    for sid in (1, 2, 3):
        log = open(ens.members[sid].server.log_path, errors="replace").read()
        assert log.count("without an election") >= 5, sid
        assert "the zxid counter is exhausted" not in log, sid
        assert log.count("Serving clients") == 1, sid  # one role, never LOOKING again

    # the zxids go on in the next epochs: each epoch's counters run from the
    # counter start to fffffffe
    c = clients[0]
    czxids = sorted(c.exists("/r/w%05d" % i).czxid for i in range(0, IN_PLACE_WRITES, 7))
    assert len({z >> 32 for z in czxids}) >= 5, [hex(z) for z in czxids[:5]]
    assert all(IN_PLACE_START <= z & 0xffffffff <= 0xfffffffe for z in czxids)
    assert c.exists("/owner").ephemeralOwner == sessions[0]

    # every member has every write, and they end at the same zxid
    for sid in (1, 2, 3):
        m = ens.client(sid)
        try:
            m.sync("/r")
            assert len(m.get_children("/r")) == IN_PLACE_WRITES, sid
        finally:
            m.stop()
            m.close()
    deadline = time.monotonic() + 10
    while len({ens.zxid(s) for s in (1, 2, 3)}) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len({ens.zxid(s) for s in (1, 2, 3)}) == 1, [hex(ens.zxid(s)) for s in (1, 2, 3)]
    for c in clients:
        c.stop()
        c.close()

    # every member restarts on the files the roll-overs left
    for sid in (1, 2, 3):
        ens.restart(sid)
    ens.wait_modes()
    m = ens.client(1)
    try:
        m.sync("/r")
        assert len(m.get_children("/r")) == IN_PLACE_WRITES
    finally:
        m.stop()
        m.close()
