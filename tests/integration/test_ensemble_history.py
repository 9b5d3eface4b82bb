# SPDX-License-Identifier: Apache-2.0
"""Three-member ensembles under client load, checked by the history checker
of ensemble.py: Apache ZooKeeper 3.8 alone (it must pass: that proves the
harness and the checker), czk alone, and mixed, with the leader (the highest
sid once all are up) on either side.  The member kinds are a parameter
(`kinds`, ids like [apache-apache-czk]); CZK_ENSEMBLE_KINDS="czk,czk,czk;
czk,apache,apache" runs others by hand (";" between ensembles, "," between
the members sid 1, 2, 3).

  a. writers on every member: every acknowledged write is on every member,
     the members' trees are equal;
  b. kill -9 the leader under load: a new leader is elected, writes go on,
     the old leader restarts and follows, the history checks;
  c. kill -9 a follower, write, restart it: it catches up on its own;
  d. kill -9 the leader and a follower under load: the survivor alone
     serves nothing and acknowledges nothing; both restarted, the load
     goes on and the history checks.
A reader on another member than each key's writer does sync + read
throughout a-c: each read must see every set acknowledged before its sync.
The checker is tested on its own too: histories with a lost acknowledged
write, a stale sync + read (and other faults) fed to check_history must be
reported.

Every process is stopped by its pid at the end of each test (make_ensemble);
every wait polls a condition with a deadline."""
import os
import time

import pytest

import zkwire
from conftest import HOST
from ensemble import (History, Load, check_history, create_path, key_path, make_ensemble,
                      writer_dir)  # noqa: F401  (make_ensemble is a fixture)

KINDS = [["apache", "apache", "apache"], ["czk", "czk", "czk"], ["czk", "apache", "apache"],
         ["apache", "apache", "czk"], ["apache", "czk", "czk"], ["czk", "czk", "apache"]]
ROOT = "/hist"


def _kinds():
    text = os.environ.get("CZK_ENSEMBLE_KINDS")
    if not text:
        return KINDS
    return [[k.strip() for k in ens.split(",")] for ens in text.split(";") if ens.strip()]


def _kinds_filter(default):
    """`default`, or the CZK_ENSEMBLE_KINDS ensembles when that is set."""
    return _kinds() if os.environ.get("CZK_ENSEMBLE_KINDS") else default


@pytest.fixture(params=_kinds(), ids=lambda kinds: "-".join(kinds))
def kinds(request):
    return request.param


def session_on(ens, sid, session_id):
    """Whether member sid's `cons` lists a connection of that session."""
    out = zkwire.four_letter(HOST, ens.members[sid].client_port, "cons", timeout=5.0)
    return ("sid=0x%x" % session_id) in out


def test_writes_through_every_member(make_ensemble, kinds):
    """a. One writer per member; all trees equal; every ok write present."""
    ens = make_ensemble(kinds)
    ens.start_all()
    ens.wait_modes()
    load = Load(ens, writers=3, root=ROOT, readers=1).start()
    load.wait_ok(300)
    # Each writer's session is on its own member: writes went through
    # every member, forwarded by the followers.
    for w, kz in load.clients.items():
        assert session_on(ens, w + 1, kz.client_id[0]), (w, ens.members[w + 1])
    history = load.stop()
    counts = load.check()
    assert counts[("create", "ok")] >= 90 and counts[("set", "ok")] >= 180, counts
    assert all(history.count("ok", writer=w) > 0 for w in range(3)), counts
    assert counts.get(("create", "unknown"), 0) == counts.get(("set", "unknown"), 0) == 0, counts
    # The checker is not blind on a real run: an acknowledged create that
    # never happened is reported on every member.
    fake = history.invoke(1, "create", create_path(ROOT, 1, 999999), 999999)
    history.ok(fake)
    problems = load.problems()
    assert sum("lost acknowledged create %s" % fake.path in p for p in problems) == 3, problems
    # The reader read, and a sync + read that missed an acknowledged set is
    # reported.
    assert history.count("ok", kinds=("sync_get",)) > 0, counts
    acked = [op for op in history.snapshot() if op.kind == "set" and op.outcome == "ok"][-1]
    stale = history.invoke(None, "sync_get", acked.path, None, reader=0)
    history.ok(stale, version=0)
    problems = load.problems()
    assert any("sync + read of %s (op %d) saw no value" % (acked.path, stale.id) in p
               for p in problems), problems


def test_kill_leader_under_load(make_ensemble, kinds):
    """b. kill -9 the leader while writers write through every member."""
    ens = make_ensemble(kinds)
    ens.start_all()
    old = ens.leader_sid()
    load = Load(ens, writers=3, root=ROOT, readers=1).start()
    load.wait_ok(30)
    ens.kill(old)
    killed_s = time.monotonic()
    new = ens.leader_sid()
    assert new != old
    load.wait_ok(100, since_s=killed_s)
    ens.start(old)
    restarted_s = time.monotonic()
    modes = ens.wait_modes()
    assert modes[old] == "follower" and modes[new] == "leader", modes
    load.wait_ok(100, since_s=restarted_s)
    history = load.stop()
    counts = load.check()
    assert history.count("ok", since_s=killed_s) >= 200, counts


def test_killed_follower_catches_up(make_ensemble, kinds):
    """c. kill -9 a follower, write, restart it: it reaches the leader's
    zxid by itself, and its tree is the others'."""
    ens = make_ensemble(kinds)
    ens.start_all()
    leader = ens.leader_sid()
    follower = ens.follower_sids()[0]
    load = Load(ens, writers=3, root=ROOT, readers=1).start()
    load.wait_ok(30)
    ens.kill(follower)
    killed_s = time.monotonic()
    load.wait_ok(150, since_s=killed_s)
    history = load.stop()
    ens.start(follower)
    modes = ens.wait_modes()
    assert modes[leader] == "leader" and modes[follower] == "follower", modes
    want = ens.zxid(leader)
    deadline = time.monotonic() + 30
    while ens.zxid(follower) < want:
        assert time.monotonic() < deadline, (hex(ens.zxid(follower)), hex(want))
        time.sleep(0.05)
    counts = load.check()
    assert history.count("ok", since_s=killed_s) >= 150, counts


MAJORITY_KINDS = [["czk", "czk", "czk"], ["czk", "apache", "apache"], ["apache", "apache", "czk"]]
ALONE_HOLD_S = 3.0   # (d): how long the survivor is watched alone


def _poll(cond, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.05)


def _answers_a_read(ens, sid, path):
    """A fresh session on member sid reads `path`: the reply, or None when
    the member refuses the session or the read (closes, times out)."""
    try:
        c = zkwire.Conn(HOST, ens.members[sid].client_port, timeout=2.0)
    except OSError:
        return None
    try:
        c.connect(timeout_ms=10000, recv_timeout=2.0)
        return c.get_data(path)
    except (zkwire.Closed, zkwire.Timeout, OSError):
        return None
    finally:
        c.close()


@pytest.mark.parametrize("kinds", _kinds_filter(MAJORITY_KINDS), ids=lambda k: "-".join(k))
def test_kill_majority_under_load(make_ensemble, kinds):
    """d. kill -9 the leader and one follower while writers and a sync
    reader run through every member.  The survivor alone (no quorum) stops
    serving: no op of any kind is acknowledged while it is alone, a fresh
    session cannot read there (no stale state served).  Both restarted: one
    leader, the writers and the reader go on, the history checks and every
    member ends with the same tree."""
    ens = make_ensemble(kinds)
    ens.start_all()
    leader = ens.leader_sid()
    survivor, other = ens.follower_sids()
    load = Load(ens, writers=3, root=ROOT, readers=1).start()
    load.wait_ok(30)
    load.wait_ok(3, kinds=("sync_get",))
    ens.kill(leader)
    ens.kill(other)
    _poll(lambda: ens.mode(survivor) is None, "the survivor %d to stop serving" % survivor)
    alone_s = time.monotonic()
    while time.monotonic() < alone_s + ALONE_HOLD_S:
        assert ens.mode(survivor) is None, "member %d serves alone" % survivor
        reply = _answers_a_read(ens, survivor, key_path(ROOT, 0, 0))
        assert reply is None, "member %d alone answered a read: %s" % (survivor, reply)
        ens.assert_up()
        time.sleep(0.2)
    restart_s = time.monotonic()
    # Acknowledged while alone: anything invoked once the survivor was seen
    # not serving, or completed a while after (the margin covers replies
    # sent before it stopped and recorded late by a busy writer thread).
    alone = [op for op in load.history.snapshot()
             if op.outcome == "ok" and op.complete_s < restart_s and
             (op.invoke_s > alone_s or op.complete_s > alone_s + 1.0)]
    assert not alone, "acknowledged while member %d was alone: %s" % (survivor, alone[:5])
    ens.start(leader)
    ens.start(other)
    ens.wait_modes()
    load.wait_ok(100, since_s=restart_s)
    load.wait_ok(3, since_s=restart_s, kinds=("sync_get",))
    history = load.stop()
    counts = load.check()
    assert history.count("ok", since_s=restart_s) >= 100, counts


# ---------------------------------------------------------------------------
# the checker itself, on made-up histories


def _tree(nodes):
    """A member tree from {path: (data bytes, version)}."""
    return {p: {"data": d.hex(), "version": v, "cversion": 0, "aversion": 0, "czxid": 0,
                "mzxid": 0, "pzxid": 0, "ctime": 0, "mtime": 0, "ephemeralOwner": 0}
            for p, (d, v) in nodes.items()}


def _good_history():
    """Writer 0, session 7: create c1 (ok), set k0=1 (ok, v1), set k0=2
    (unknown), set k0=3 (ok, v3), get k0 -> 3, create c2 (failed)."""
    h = History()
    op = h.invoke(0, "create", create_path(ROOT, 0, 1), 1, 7)
    h.ok(op)
    op = h.invoke(0, "set", key_path(ROOT, 0, 0), 1, 7)
    h.ok(op, version=1)
    op = h.invoke(0, "set", key_path(ROOT, 0, 0), 2, 7)
    h.unknown(op, "ConnectionLoss()")
    op = h.invoke(0, "set", key_path(ROOT, 0, 0), 3, 7)
    h.ok(op, version=3)
    op = h.invoke(0, "get", key_path(ROOT, 0, 0), None, 7)
    h.ok(op, version=3, value=3)
    op = h.invoke(0, "create", create_path(ROOT, 0, 2), 2, 7)
    h.failed(op, "NodeExistsError()")
    return h


def _good_nodes():
    return {"/": (b"", 0), ROOT: (b"", 0), writer_dir(ROOT, 0): (b"", 0),
            create_path(ROOT, 0, 1): (b"1", 0), key_path(ROOT, 0, 0): (b"3", 3)}


def _check(history, members):
    return check_history(history.snapshot(), {sid: _tree(n) for sid, n in members.items()},
                         ROOT, {0: 1})


def test_checker_passes_a_good_history():
    assert _check(_good_history(), {1: _good_nodes(), 2: _good_nodes()}) == []


def test_checker_reports_a_lost_acknowledged_create():
    nodes = _good_nodes()
    del nodes[create_path(ROOT, 0, 1)]
    problems = _check(_good_history(), {1: nodes, 2: dict(nodes)})
    assert ["lost acknowledged create %s" % create_path(ROOT, 0, 1) in p
            for p in problems] == [True, True], problems


def test_checker_reports_a_lost_acknowledged_set():
    nodes = _good_nodes()
    nodes[key_path(ROOT, 0, 0)] = (b"1", 1)   # the ok set of 3 is gone
    problems = _check(_good_history(), {1: _good_nodes(), 2: nodes})
    assert any("lost acknowledged set of %s" % key_path(ROOT, 0, 0) in p and "member 2" in p
               for p in problems), problems
    assert any("members 1 and 2 differ" in p for p in problems), problems


@pytest.mark.parametrize("fault", ["failed_create_present", "phantom", "divergent_data",
                                   "version_backwards", "stale_read", "unwritten_read"])
def test_checker_reports_other_faults(fault):
    h = _good_history()
    nodes = _good_nodes()
    ops = h.snapshot()
    if fault == "failed_create_present":
        nodes[create_path(ROOT, 0, 2)] = (b"2", 0)
        want = "failed create"
    elif fault == "phantom":
        nodes[writer_dir(ROOT, 0) + "/stray"] = (b"", 0)
        want = "no op created it"
    elif fault == "divergent_data":
        other = dict(nodes)
        other[create_path(ROOT, 0, 1)] = (b"x", 0)
        problems = _check(h, {1: nodes, 2: other})
        assert any("differ at %s" % create_path(ROOT, 0, 1) in p for p in problems), problems
        return
    elif fault == "version_backwards":
        ops[3].version = 1   # the second ok set acknowledged at the first's version
        want = "went backwards"
    elif fault == "stale_read":
        ops[4].value = 1     # read 1 after the session's acknowledged 3
        want = "after the session's acknowledged 3"
    else:
        ops[4].value = 5     # nobody wrote 5
        want = "which no op wrote"
    problems = _check(h, {1: nodes})
    assert any(want in p for p in problems), problems


def _sync_read_history(read_value, read_before_ack=False):
    """Writer 0 sets k0 = 1 then 3 (both ok); reader 0, on another member,
    syncs and reads k0 (read_value), its sync sent after the set of 3 was
    acknowledged (read_before_ack: while that set was in flight)."""
    h = _good_history()
    key = key_path(ROOT, 0, 0)
    ops = h.snapshot()
    set3 = ops[3]
    assert (set3.kind, set3.value, set3.outcome) == ("set", 3, "ok")
    read = h.invoke(None, "sync_get", key, None, 9, reader=0)
    h.ok(read, version=1, value=read_value)
    if read_before_ack:
        read.invoke_s = set3.invoke_s + (set3.complete_s - set3.invoke_s) / 2
    else:
        assert read.invoke_s > set3.complete_s
    return h


def test_checker_passes_linearizable_sync_reads():
    """A sync + read after the ack sees 3; one whose sync was sent while the
    set of 3 was in flight may still see 1 (the two overlap)."""
    members = {1: _good_nodes()}
    assert _check(_sync_read_history(3), members) == []
    assert _check(_sync_read_history(1, read_before_ack=True), members) == []


@pytest.mark.parametrize("fault", ["stale", "none", "unwritten", "future"])
def test_checker_reports_a_bad_sync_read(fault):
    """A sync + read sent after the ack of 3 that sees 1 (stale), nothing,
    a value nobody wrote, or a value written after the read completed."""
    members = {1: _good_nodes()}
    if fault == "stale":
        problems = _check(_sync_read_history(1), members)
        want = "stale sync + read of %s (op 6): saw 1; 3 was acknowledged" % key_path(ROOT, 0, 0)
    elif fault == "none":
        h = _sync_read_history(3)
        h.snapshot()[-1].value = None
        problems = _check(h, members)
        want = "saw no value; 3 was acknowledged before the sync"
    elif fault == "unwritten":
        problems = _check(_sync_read_history(4), members)
        want = "saw 4, which no op wrote"
    else:
        h = _sync_read_history(3)
        read = h.snapshot()[-1]
        op = h.invoke(0, "set", key_path(ROOT, 0, 0), 5, 7)
        h.unknown(op, "ConnectionLoss()")
        read.value = 5
        problems = _check(h, {1: dict(_good_nodes(), **{key_path(ROOT, 0, 0): (b"5", 4)})})
        want = "whose set started after the read completed"
    assert any(want in p for p in problems), problems
