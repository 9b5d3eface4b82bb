# SPDX-License-Identifier: Apache-2.0
"""Durability across restarts of the same server (same dataDir and port):
acknowledged writes, Stats, sequence counters, zxids and sessions survive a
clean stop (SIGTERM) and a crash (SIGKILL)."""

import signal
from pathlib import Path

import pytest

import zkwire
from conftest import start_server


def _populate(srv):
    c = srv.session(30000)
    assert c.create("/dur", b"root")["err"] == 0
    assert c.create("/dur/a", b"a" * 1000)["err"] == 0
    assert c.set_data("/dur/a", b"a2")["err"] == 0
    assert c.create("/dur/s-", b"", flags=zkwire.PERSISTENT_SEQUENTIAL)["err"] == 0
    assert c.create("/dur/ro", b"r", acl=[(1, "world", "anyone")])["err"] == 0
    assert c.create("/dur/gone")["err"] == 0
    assert c.delete("/dur/gone")["err"] == 0
    assert c.create("/dur/e", b"eph", flags=zkwire.EPHEMERAL)["err"] == 0
    assert c.multi([("create", "/dur/m1", b"1"), ("create", "/dur/m2", b"2")])["err"] == 0
    state = {}
    for p in ["/dur", "/dur/a", "/dur/s-0000000001", "/dur/ro", "/dur/m1", "/dur/m2", "/dur/e"]:
        r = c.get_data(p)
        assert r["err"] == 0, (p, r)
        state[p] = (r["data"], r["stat"])
    state["acl"] = c.get_acl("/dur/ro")["acl"]
    state["children"] = sorted(c.get_children("/dur")["children"])
    last = c.exists("/dur")["zxid"]
    return c, state, last


def _check(srv, c_old, state, last):
    # the session survives a restart: re-attach with id and password
    c = srv.conn()
    resp = c.connect(30000, session_id=c_old.session_id, passwd=c_old.passwd)
    assert resp["sessionId"] == c_old.session_id, "session lost across restart: %r" % resp
    for p, v in state.items():
        if p == "acl":
            assert c.get_acl("/dur/ro")["acl"] == v
        elif p == "children":
            assert sorted(c.get_children("/dur")["children"]) == v
        else:
            r = c.get_data(p)
            assert r["err"] == 0, (p, r)
            assert (r["data"], r["stat"]) == v, (p, r, v)
    # the sequence counter and the zxid go on.  The suffix is the number of
    # child creates so far; Apache stores that count and shows clients
    # cversion = 2 * creates - numChildren (DataNode.copyStat).
    pst = state["/dur"][1]
    creates = (pst["cversion"] + pst["numChildren"]) // 2
    r = c.create("/dur/s-", b"", flags=zkwire.PERSISTENT_SEQUENTIAL)
    assert r["path"] == "/dur/s-%010d" % creates, r
    assert r["zxid"] > last
    assert c.set_data("/dur/ro", b"x")["err"] == zkwire.NOAUTH       # the ACL survived
    # closing the session removes its ephemeral
    assert c.close_session()["err"] == 0
    d = srv.session(10000)
    assert d.exists("/dur/e")["err"] == zkwire.NONODE
    d.close_session()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_restart_keeps_state(server_kind, tmp_path, sig):
    workdir = tmp_path / server_kind
    srv = start_server(server_kind, workdir)
    try:
        c, state, last = _populate(srv)
        c.close()                                     # no closeSession
        if sig == signal.SIGTERM:
            srv.stop()
        else:
            srv.kill()
    finally:
        if srv.alive():
            srv.kill()
    srv2 = start_server(server_kind, workdir, port=srv.port)
    try:
        _check(srv2, c, state, last)
    finally:
        srv2.stop()


def test_replay_over_fuzzy_snapshot(server_kind, tmp_path):
    """ZooKeeper writes snapshots while txns go on, so a snapshot named
    snapshot.Z may already hold the effect of txns after Z, and recovery
    replays them again: creates find their node (NODEEXISTS), deletes find
    none, and so on.  Both servers must come back with the same tree.  The
    overlap is made by renaming the newest snapshot to a zxid before all the
    writes, so that every write of _populate is replayed over its own
    effect."""
    workdir = tmp_path / server_kind
    srv = start_server(server_kind, workdir)
    try:
        first = srv.session(30000)
        before = first.exists("/")["zxid"]
        first.close_session()
        c, state, last = _populate(srv)
        c.close()
        srv.stop()
        # a clean start-up snapshots everything loaded (both servers)
        srv = start_server(server_kind, workdir, port=srv.port)
        srv.stop()
    finally:
        if srv.alive():
            srv.kill()
    snapdir = Path(srv.cfg["dataDir"]) / "version-2"
    if not snapdir.is_absolute():
        snapdir = workdir / snapdir
    snaps = sorted(snapdir.glob("snapshot.*"), key=lambda p: int(p.name.split(".")[1], 16))
    newest = snaps[-1]
    assert int(newest.name.split(".")[1], 16) >= last
    for p in snaps[:-1]:
        p.unlink()
    newest.rename(snapdir / ("snapshot.%x" % before))
    srv2 = start_server(server_kind, workdir, port=srv.port)
    try:
        _check(srv2, c, state, last)
        if srv2.real_kind == "czk":
            log = srv2.log_path.read_text(errors="replace")
            assert "did not apply cleanly" in log, srv2.log_tail()
    finally:
        srv2.stop()
