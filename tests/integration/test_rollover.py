# SPDX-License-Identifier: Apache-2.0
"""The zxid counter's roll-over (issue 11). A zxid is epoch << 32 | counter;
before the counter's low 32 bits would wrap, ZooKeeper's leader gives up
its role and a new election starts a new epoch. czk's leader does the same
(czk.zxidCounterStart, hex, makes a new leader's first txn start near the
limit so that a test reaches it within a few writes; Apache members ignore
the key). Shown with a czk leader over czk followers and over an Apache
follower: writes go on through the roll-over from a client that fails over,
no acknowledged write is lost, the new leader serves a higher epoch, and a
session (and its ephemeral) created before it survives it; the leader logs
why it stepped down."""
import time

import pytest
from kazoo.exceptions import ConnectionLoss, NodeExistsError, SessionExpiredError
from kazoo.handlers.threading import KazooTimeoutError

from ensemble import make_ensemble  # noqa: F401  (fixture)

KINDS = [["czk", "czk", "czk"], ["apache", "czk", "czk"]]
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
