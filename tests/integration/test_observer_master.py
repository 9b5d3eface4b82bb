# SPDX-License-Identifier: Apache-2.0
"""observerMasterPort: 3 voters + 2 observers whose zoo.cfg all set
observerMasterPort=P. A follower listens on its quorum host at P (Apache's
ObserverMaster) and the observers sync from it, not from the leader
(Observer.findLearnerMaster tries the voters' hosts at P in turn).

Every server runs on 127.0.0.1, so one follower at a time holds P: sid 2,
started with the leader (3) before sid 1. The other follower cannot listen
on P (a czk follower tries again every second and follows meanwhile; an
Apache follower whose ObserverMaster cannot listen drops its leader, so no
Apache voter here is the second follower). Killing sid 2 frees P: sid 1
takes it and the observers move to it.

Kinds: all czk; an Apache observer (4) of czk followers; a czk observer
(4) and an Apache one (5) of an Apache follower (2) and an Apache leader,
then of a czk follower (1). What the leader's and the follower's mntr say
is what Apache's say (checked in the third case, where they are Apache).
Then: the leader dies (the port moves to whichever voter now follows), and
an observer leaves and rejoins by reconfig."""

import threading
import time

import pytest
from kazoo.exceptions import NodeExistsError

import zkwire
from conftest import HOST, free_port
from ensemble import make_ensemble  # noqa: F401  (fixture)
from test_ensemble_4lw import APACHE_ONLY

KINDS = [["czk", "czk", "czk", "czk", "czk"],
         ["czk", "czk", "czk", "apache", "czk"],
         ["czk", "apache", "apache", "czk", "apache"]]
VOTERS = (1, 2, 3)
OBSERVERS = (4, 5)


def _make(make_ensemble, kinds):  # noqa: F811
    """The ensemble, with an observerMasterPort none of its members uses
    (free_port may hand out a port twice)."""
    ens = make_ensemble(kinds, observers=OBSERVERS)
    taken = {p for m in ens.members.values()
             for p in (m.client_port, m.quorum_port, m.election_port)}
    port = free_port()
    while port in taken:
        port = free_port()
    ens.extra["observerMasterPort"] = str(port)
    return ens


def _mntr(ens, sid):
    out = zkwire.four_letter(HOST, ens.members[sid].client_port, "mntr", timeout=5.0)
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def _stop_clean(ens):
    """Stop every member; each czk member exits with nothing left open or
    leaked (a role started twice once left its first quorum port open)."""
    ens.stop_all()
    for sid, m in ens.members.items():
        if m.kind == "czk" and m.server is not None:
            text = open(m.server.log_path, errors="replace").read()
            assert "LeakSanitizer" not in text and "handles still open" not in text, (
                "member %d:\n%s" % (sid, m.server.log_tail(60)))


def _mntr_keys(ens, sid):
    """mntr's keys in order, without the summaries only Apache keeps
    (per learner handler, per namespace)."""
    out = zkwire.four_letter(HOST, ens.members[sid].client_port, "mntr", timeout=5.0)
    return [line.split("\t", 1)[0] for line in out.splitlines()
            if "\t" in line and not APACHE_ONLY.match(line)]


def _wait(what, cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        last = cond()
        if last:
            return last
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.2)



def _synced_observers(ens, sid):
    return _mntr(ens, sid).get("zk_synced_observers")


def _check_reads_in_order(ens, writer_sid, reader_sids, n=200):
    """A writer sets /order to 0..n-1 on writer_sid while a reader on each
    observer polls it: every reader sees the values never go back, and
    after a sync, the last one."""
    writer = ens.client(writer_sid)
    writer.ensure_path("/order")
    writer.set("/order", b"-1")
    readers = {sid: ens.client(sid) for sid in reader_sids}
    seen = {sid: [] for sid in reader_sids}
    done = threading.Event()

    def read(sid):
        c = readers[sid]
        while not done.is_set():
            seen[sid].append(int(c.get("/order")[0]))

    threads = [threading.Thread(target=read, args=(sid,)) for sid in reader_sids]
    for t in threads:
        t.start()
    for i in range(n):
        writer.set("/order", b"%d" % i)
    done.set()
    for t in threads:
        t.join()
    for sid, values in seen.items():
        assert values == sorted(values), "observer %d read /order out of order" % sid
        readers[sid].sync("/order")
        assert readers[sid].get("/order")[0] == b"%d" % (n - 1)


@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "-".join(k))
def test_observers_sync_from_a_follower(make_ensemble, kinds):  # noqa: F811
    ens = _make(make_ensemble, kinds)
    modes = ens.start_three_led_by_3()
    assert modes[3] == "leader"
    ens.start_all(OBSERVERS)
    modes = ens.wait_modes()
    assert [modes[s] for s in OBSERVERS] == ["observer", "observer"]

    # the observers are the follower's learners, not the leader's
    _wait("follower 2 to serve both observers", lambda: _synced_observers(ens, 2) == "2")
    leader = _mntr(ens, 3)
    assert leader["zk_learners"] == "2" and leader["zk_synced_followers"] == "2"
    assert leader["zk_synced_observers"] == "0"
    # sid 1 could not listen on P: no observer master, no gauge
    assert "zk_synced_observers" not in _mntr(ens, 1)
    for sid in OBSERVERS:
        assert int(_mntr(ens, sid)["zk_observer_master_id"]) in VOTERS

    # writes through an observer (relayed by the follower), read-your-writes
    obs = {sid: ens.client(sid) for sid in OBSERVERS}
    obs[4].create("/om", b"v0")
    for i in range(1, 20):
        obs[4].set("/om", b"v%d" % i)
    assert obs[4].get("/om")[0] == b"v19"
    obs[5].sync("/om")  # a sync relayed by the follower
    assert obs[5].get("/om")[0] == b"v19"
    obs[5].create("/om/e", b"", ephemeral=True)
    ens.client(1).set("/om", b"from-voter")
    for sid in OBSERVERS:
        obs[sid].sync("/om")
        assert obs[sid].get("/om")[0] == b"from-voter"
    _check_reads_in_order(ens, 1, OBSERVERS)

    # idle sessions of 2 s on the observers live on: their observers' PINGs
    # reach the follower, whose PINGs report them to the leader
    short = {sid: ens.client(sid, timeout=2.0) for sid in OBSERVERS}
    for sid, c in short.items():
        c.create("/om/short%d" % sid, b"", ephemeral=True)
    time.sleep(6)
    for sid, c in short.items():
        assert ens.client(3).exists("/om/short%d" % sid) is not None
        c.stop()
        c.close()

    apache_keys = _mntr_keys(ens, 2) if kinds[1] == "apache" else None

    # the follower they use dies: sid 1 takes the port, the observers move
    # to it, and their sessions go on (revalidated through sid 1)
    ens.kill(2)
    ens.wait_modes(sids=[1, 3, 4, 5])
    _wait("follower 1 to serve both observers", lambda: _synced_observers(ens, 1) == "2")
    if apache_keys is not None:
        # czk's follower prints Apache's keys, zk_synced_observers where it does
        assert _mntr_keys(ens, 1) == apache_keys
    assert _mntr(ens, 3)["zk_learners"] == "1"
    obs[4].set("/om", b"after-kill")
    assert obs[4].get("/om")[0] == b"after-kill"
    obs[5].sync("/om")
    assert obs[5].get("/om")[0] == b"after-kill"
    assert obs[5].exists("/om/e") is not None  # the session lived on
    _check_reads_in_order(ens, 3, OBSERVERS, n=100)

    # an observer further behind than the follower's committed history
    # (500 txns) gets a SNAP of the follower's tree
    ens.stop(5)
    writer = ens.client(3)
    writer.ensure_path("/bulk")
    for op in [writer.create_async("/bulk/n%d" % i, b"x" * 100) for i in range(600)]:
        op.get(timeout=30)
    ens.start(5)
    ens.wait_modes(sids=[1, 3, 4, 5])
    late = ens.client(5)
    late.sync("/bulk")
    assert len(late.get_children("/bulk")) == 600
    obs[5].set("/om", b"after-snap")  # its session reconnected to it, revalidated
    late.sync("/om")
    assert late.get("/om")[0] == b"after-snap"

    if kinds[1] == "czk":
        # back as a follower that cannot listen on P: it follows, and the
        # observers stay with sid 1 (an Apache follower would drop its
        # leader on the bind error, again and again)
        ens.restart(2)
        modes = ens.wait_modes()
        assert modes[2] == "follower"
        assert "zk_synced_observers" not in _mntr(ens, 2)
        assert _synced_observers(ens, 1) == "2"
    ens.assert_trees_equal()
    _stop_clean(ens)


@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "-".join(k))
def test_observers_follow_a_leader_change(make_ensemble, kinds):  # noqa: F811
    """The leader dies: the voters elect again, the port moves to whichever
    of them now follows, the observers find it, and serve writes and reads
    again with their sessions."""
    ens = _make(make_ensemble, kinds)
    ens.start_three_led_by_3()
    ens.start_all(OBSERVERS)
    ens.wait_modes()
    _wait("follower 2 to serve both observers", lambda: _synced_observers(ens, 2) == "2")
    obs = {sid: ens.client(sid) for sid in OBSERVERS}
    obs[4].create("/lc", b"before")
    obs[5].create("/lc/e", b"", ephemeral=True)

    ens.kill(3)
    modes = ens.wait_modes(sids=[1, 2, 4, 5])
    leader = [s for s in (1, 2) if modes[s] == "leader"][0]
    follower = 3 - leader
    _wait("follower %d to serve both observers" % follower,
          lambda: _synced_observers(ens, follower) == "2")
    m = _mntr(ens, leader)
    assert m["zk_learners"] == "1" and m["zk_synced_observers"] == "0"
    obs[4].set("/lc", b"after")
    obs[5].sync("/lc")
    assert obs[5].get("/lc")[0] == b"after"
    assert obs[5].exists("/lc/e") is not None
    _check_reads_in_order(ens, leader, OBSERVERS, n=100)
    ens.assert_trees_equal()
    _stop_clean(ens)


def test_reconfig_with_observers_on_a_follower(make_ensemble):  # noqa: F811
    """reconfigEnabled: observer 5 (czk) removed and added back by reconfig
    while both observers (4 Apache, 5 czk) sync from follower 2; the
    follower's INFORMANDACTIVATE carries the leader's sid as Apache's
    ObserverMaster passes it on. Every serving member agrees on each new
    /zookeeper/config and observer 4 serves writes throughout."""
    from kazoo.retry import KazooRetry
    from test_reconfig import EXTRA, _configs_agree, _line, _reconfig_retry, _super_client
    retry = KazooRetry(max_tries=-1, deadline=60)
    ens = _make(make_ensemble, ["czk", "czk", "czk", "apache", "czk"])
    ens.extra.update(EXTRA)
    ens.start_three_led_by_3()
    ens.start_all(OBSERVERS)
    ens.wait_modes()
    _wait("follower 2 to serve both observers", lambda: _synced_observers(ens, 2) == "2")
    admin = _super_client(ens, 1)
    obs4 = ens.client(4)
    obs4.create("/rc", b"0")

    want, _ = _reconfig_retry(admin, leaving="5")
    assert b"server.5=" not in want
    modes = ens.wait_modes(sids=[1, 2, 3, 4])
    assert modes[4] == "observer"
    _configs_agree(ens, want, sids=[1, 2, 3, 4])
    retry(obs4.set, "/rc", b"1")  # its connection may be re-made meanwhile
    assert retry(obs4.get, "/rc")[0] == b"1"

    want, _ = _reconfig_retry(admin, joining=_line(ens, 5, "observer"))
    assert b"server.5=" in want
    ens.wait_modes()
    _configs_agree(ens, want)
    follower = [s for s in (1, 2) if ens.mode(s) == "follower"]
    _wait("a follower to serve both observers",
          lambda: any(_synced_observers(ens, s) == "2" for s in follower))
    obs5 = ens.client(5)
    retry(obs5.set, "/rc", b"2")
    retry(obs4.sync, "/rc")
    assert retry(obs4.get, "/rc")[0] == b"2"
    ens.assert_trees_equal()
    _stop_clean(ens)


@pytest.mark.parametrize("kinds", [["czk"] * 5, ["czk", "czk", "czk", "apache", "czk"]],
                         ids=lambda k: "-".join(k))
def test_observers_on_a_follower_through_the_roll_over(make_ensemble, kinds):  # noqa: F811
    """czk voters, czk.zxidCounterStart near the limit: the leader starts
    each next epoch in place, the follower with it (docs/OPERATIONS.md, "The
    zxid counter's roll-over"). Its observer master does the same when its
    observers are czk: writes through both observers go through three
    roll-overs and no observer's client is ever disconnected. With an
    Apache observer it closes at each roll-over and opens in the next
    epoch: the observers re-sync, their clients reconnect, and every write
    goes through."""
    from kazoo.retry import KazooRetry
    all_czk = "apache" not in kinds
    ens = _make(make_ensemble, kinds)
    ens.extra["czk.zxidCounterStart"] = "fffffff0"
    ens.start_three_led_by_3()
    ens.start_all(OBSERVERS)
    ens.wait_modes()
    _wait("follower 2 to serve both observers", lambda: _synced_observers(ens, 2) == "2")
    epoch = ens.zxid(3) >> 32
    obs = {sid: ens.client(sid, timeout=15.0) for sid in OBSERVERS}
    states = {sid: [] for sid in OBSERVERS}
    for sid, c in obs.items():
        c.add_listener(lambda state, sid=sid: states[sid].append(state))
    retry = KazooRetry(max_tries=-1, deadline=60)
    retry(obs[4].ensure_path, "/ro")
    for i in range(48):
        c = obs[OBSERVERS[i % 2]]
        if all_czk:
            c.create("/ro/w%d" % i, b"v")
        else:
            try:
                retry(c.create, "/ro/w%d" % i, b"v")
            except NodeExistsError:
                pass  # applied before its connection was lost
    assert ens.zxid(3) >> 32 >= epoch + 3, hex(ens.zxid(3))
    for sid, c in obs.items():
        retry(c.sync, "/ro")
        assert len(retry(c.get_children, "/ro")) == 48
        if all_czk:
            assert states[sid] == [], (sid, states[sid])
    _wait("follower 2 to serve both observers", lambda: _synced_observers(ens, 2) == "2")
    ens.assert_trees_equal()
    _stop_clean(ens)
