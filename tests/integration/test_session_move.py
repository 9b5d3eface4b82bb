# SPDX-License-Identifier: Apache-2.0
"""A session that moves to another member while its old connection stays
open: SESSIONMOVED is a connection-level error in ZooKeeper (ZOOKEEPER-710),
so the old connection is closed, not answered. On the leader every request
checks the session (a read closes the old connection too); on a follower
reads are local and a write, refused by the leader, closes it. The same
moves on Apache ZooKeeper 3.8 (the oracle), czk and mixed ensembles."""
import time

import pytest

import zkwire
from conftest import HOST
from ensemble import make_ensemble  # noqa: F401  (fixture)

KINDS = [["apache", "apache", "apache"], ["czk", "czk", "czk"],
         ["apache", "apache", "czk"], ["czk", "czk", "apache"]]


def _move(ens, src, dst, path):
    """A session made on src, re-attached on dst; what its old connection
    on src gets for a read, then for a write: a reply's error, or None once
    the connection is closed."""
    old = zkwire.Conn(HOST, ens.members[src].client_port)
    old.connect(timeout_ms=6000)
    assert old.create(path, b"")["err"] == 0
    new = zkwire.Conn(HOST, ens.members[dst].client_port)
    resp = new.connect(session_id=old.session_id, passwd=old.passwd, timeout_ms=6000)
    assert resp["sessionId"] == old.session_id, resp
    out = []
    for call in (lambda: old.get_data("/"), lambda: old.set_data(path, b"moved")):
        try:
            out.append(call()["err"])
        except zkwire.Closed:
            out.append(None)
            break
    new.close_session()
    new.close()
    old.close()
    return out


@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "-".join(k))
def test_old_connection_of_a_moved_session_is_closed(make_ensemble, kinds):
    ens = make_ensemble(kinds)
    ens.start(3)  # the leader (the highest sid) once a second member is up
    time.sleep(0.5)
    ens.start_all([1, 2])
    assert ens.leader_sid() == 3
    assert _move(ens, 3, 1, "/from-leader") == [None]
    assert _move(ens, 1, 2, "/between-followers") == [0, None]
    assert _move(ens, 1, 3, "/to-leader") == [0, None]
    # the writes refused through the old connections changed nothing
    c = ens.client(2)
    try:
        c.sync("/")
        for path in ("/from-leader", "/between-followers", "/to-leader"):
            assert c.get(path)[0] == b"", path
    finally:
        c.stop()
        c.close()
