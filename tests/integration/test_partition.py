# SPDX-License-Identifier: Apache-2.0
"""Network partitions of a 3-member ensemble under client load: every member
reaches every other through netproxy proxies (Ensemble(..., proxied=True)),
which the tests cut and heal.  Each scenario runs on czk members alone and
mixed with Apache ZooKeeper 3.8 members; Load writers write through every
member (failing over) and History.check() ends each test: no acknowledged
write lost, every member's tree equal, per-key and per-session order.

  0. the harness itself: once the ensemble formed, every connection between
     two members goes through a proxy (none to a member's real quorum or
     election port: Apache dials a lower sid back at the address its
     connection header names, which the proxy rewrites), each pair has its
     election connection and each follower its quorum connection; a cut
     leaves no connection between the groups;
  a. the leader cut off from both followers: they elect a new leader within
     ELECTION_BOUND_S, writes go on through it, the old leader stops
     serving; healed: it follows the new leader (one leader);
  b. one follower cut off: writes go on; healed: it catches up by DIFF;
  c. every link cut (no quorum anywhere): no member serves, no write is
     acknowledged; healed: a leader again and nothing acknowledged lost.
Each of a-c runs twice: `reset` (connections reset, new ones refused: the
members see the cut at once) and `hold` (a silent partition: bytes stop,
connections stay open, so only the members' timeouts find it).
  d. one follower cut off while the others commit more txns than the
     leader's committed log keeps (500): healed, it is synced by SNAP;
  e. the leader cut off (hold) while its own clients write: it logs their
     txns but cannot commit them; the followers elect a new leader; healed
     at once (before the new epoch has a txn), the old leader is told to
     TRUNC, and its unacknowledged txns are gone on every member.
Every scenario with a czk leader runs a sync reader too (Load(readers=1)):
each sync + read must see every set acknowledged before its sync.

test_netproxy_controls checks the proxy on its own (no servers).

Every wait polls a condition with a deadline; the only fixed duration is
how long (c) keeps the ensemble cut."""
import os
import re
import socket
import struct
import threading
import time

import pytest

import netproxy
from conftest import HOST, free_port
from ensemble import Load, make_ensemble  # noqa: F401  (make_ensemble is a fixture)
from test_peer_port import socket_inodes, tcp_entries

KINDS = [["czk", "czk", "czk"], ["apache", "czk", "czk"], ["czk", "apache", "apache"]]
ROOT = "/part"
ELECTION_BOUND_S = 20.0   # a new leader after a cut, or one leader after a heal
NO_QUORUM_HOLD_S = 3.0    # (c): how long nobody may serve


def _kinds_id(kinds):
    return "-".join(kinds)


def _poll(cond, what, timeout):
    """Poll cond() until true; fail at the timeout naming `what` (a text or
    a function giving one)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out (%.0f s) waiting for %s" % (
                timeout, what() if callable(what) else what))
        time.sleep(0.05)


def _log(ens, sid):
    return ens.server(sid).log_path.read_text(errors="replace")


def _diffs(ens, sid):
    """How many times member sid was synced by DIFF (its own log: the same
    line from Apache's Learner and czk)."""
    return len(re.findall(r"Getting a diff from the leader", _log(ens, sid)))


def _syncs(ens, sid, kind):
    """How many times czk member sid was synced by `kind` (diff, snapshot,
    truncate), from its own log."""
    assert ens.members[sid].kind == "czk", "the log lines are czk's"
    return len(re.findall(r"Getting a %s from the leader" % kind, _log(ens, sid)))


def _start(make_ensemble, kinds, extra=None, led_by_3=False, **load_kw):
    """A proxied ensemble (zoo.cfg `extra` keys) with writers on every
    member; (ens, leader, load). led_by_3: member 3 leads (started first,
    with 2), however slowly a JVM starts."""
    ens = make_ensemble(kinds, proxied=True, extra=extra)
    if led_by_3:
        ens.start_three_led_by_3()
    else:
        ens.start_all()
    leader = ens.leader_sid()
    load_kw.setdefault("writers", 3)
    # A sync reader where the leader is czk's: an Apache leader cut off
    # still answers syncs until it gives up (ZOOKEEPER-1675), so a sync +
    # read through it may be stale (test_linsync.py shows the difference).
    load_kw.setdefault("readers", 1 if ens.members[leader].kind == "czk" else 0)
    load = Load(ens, root=ROOT, **load_kw).start()
    load.wait_ok(30)
    return ens, leader, load


def _end(ens, load, heal_s, leader=None):
    """After a heal: one leader (`leader` if given), writes through it,
    then the history check on every member."""
    modes = ens.wait_modes(timeout=ELECTION_BOUND_S)
    if leader is not None:
        assert modes[leader] == "leader", modes
    load.wait_ok(60, since_s=heal_s)
    load.stop()
    want = ens.zxid(ens.leader_sid())
    _poll(lambda: all(ens.zxid(s) >= want for s in ens.server_sids()),
          "every member at the leader's zxid 0x%x" % want, 30)
    return modes, load.check()


def _member_links(ens):
    """{sid: [remote port of each established connection member sid dialled
    or accepted to a port of the ensemble]}, from /proc by pid."""
    entries = tcp_entries()
    ports = set()
    for m in ens.members.values():
        ports |= {m.quorum_port, m.election_port}
    for link in ens.links.values():
        ports |= {p.port for p in link.values()}
    out = {}
    for sid in ens.server_sids():
        mine = socket_inodes(ens.server(sid).pid)
        out[sid] = sorted(rport for _, rport, ino in entries if ino in mine and rport in ports)
    return out


@pytest.mark.parametrize("kinds", KINDS, ids=_kinds_id)
def test_links_go_through_the_proxies(make_ensemble, kinds):
    """0. No connection between members bypasses the proxies, and a cut
    leaves none between the groups."""
    ens = make_ensemble(kinds, proxied=True)
    ens.start_all()
    leader = ens.leader_sid()
    followers = ens.follower_sids()
    real = {}
    for m in ens.members.values():
        real[m.quorum_port] = real[m.election_port] = m.sid
    proxy_of = {}
    for (i, j), link in ens.links.items():
        for name, p in link.items():
            proxy_of[p.port] = (i, j, name)

    def check_links(cut_off=()):
        links = _member_links(ens)
        for sid, rports in links.items():
            bypass = [(p, real[p]) for p in rports if real.get(p, sid) != sid]
            assert not bypass, "member %d is connected to real ports of %s" % (sid, bypass)
            for p in rports:
                if p in proxy_of:
                    i, j, _ = proxy_of[p]
                    assert i == sid, "member %d uses proxy %s" % (sid, proxy_of[p])
        pairs = {}
        for (i, j), link in ens.links.items():
            for name, p in link.items():
                n = p.connections()
                if n:
                    pairs.setdefault((min(i, j), max(i, j), name), []).append((i, j, n))
        return pairs

    def want_links(leader, followers):
        """Each pair's election connection, each follower's quorum one."""
        pairs = check_links()
        want = [(i, j, "election") for i in ens.server_sids() for j in ens.server_sids()
                if i < j]
        want += [(min(f, leader), max(f, leader), "quorum") for f in followers]
        missing[:] = [k for k in want if k not in pairs]
        return not missing

    missing = []

    _poll(lambda: want_links(leader, followers),
          "an election connection per pair and a quorum one per follower", ELECTION_BOUND_S)
    ens.isolate(leader)
    pairs = check_links()
    assert not [k for k in pairs if leader in k[:2]], pairs
    ens.heal()
    # (the cut may or may not have lasted long enough for a new leader)
    modes = ens.wait_modes(timeout=ELECTION_BOUND_S)
    leader = [s for s, mode in modes.items() if mode == "leader"][0]
    followers = [s for s, mode in modes.items() if mode == "follower"]
    _poll(lambda: want_links(leader, followers),
          lambda: "the links back after the heal (%s; missing %s)" % (modes, missing),
          ELECTION_BOUND_S)


@pytest.mark.parametrize("hold", [False, True], ids=["reset", "hold"])
@pytest.mark.parametrize("kinds", KINDS, ids=_kinds_id)
def test_leader_isolated(make_ensemble, kinds, hold):
    """a. The leader cut off from both followers."""
    ens, old, load = _start(make_ensemble, kinds)
    others = [s for s in ens.server_sids() if s != old]
    cut_s = time.monotonic()
    ens.isolate(old, hold=hold)
    new = ens.leader_sid(sids=others, timeout=ELECTION_BOUND_S)
    elected_s = time.monotonic()
    assert new != old
    _poll(lambda: ens.mode(old) is None, "the old leader %d to stop serving" % old,
          ELECTION_BOUND_S)
    load.wait_ok(60, since_s=elected_s)
    assert ens.mode(old) is None, "the cut-off old leader serves"
    assert ens.wait_modes(sids=others, timeout=5)[new] == "leader"
    heal_s = time.monotonic()
    ens.heal()
    modes, counts = _end(ens, load, heal_s, leader=new)
    assert modes[old] == "follower", modes
    assert load.history.count("ok", since_s=cut_s) >= 120, counts


@pytest.mark.parametrize("hold", [False, True], ids=["reset", "hold"])
@pytest.mark.parametrize("kinds", KINDS, ids=_kinds_id)
def test_follower_isolated(make_ensemble, kinds, hold):
    """b. One follower cut off: the others go on; healed, it catches up by
    DIFF (the load is paced so that it misses fewer txns than the 500 a
    leader keeps for DIFF, the silent partition being found only after
    syncLimit)."""
    ens, leader, load = _start(make_ensemble, kinds, pause_s=0.05 if hold else 0.02)
    follower = ens.follower_sids()[0]
    diffs = _diffs(ens, follower)
    cut_s = time.monotonic()
    ens.isolate(follower, hold=hold)
    _poll(lambda: ens.mode(follower) is None, "the cut-off follower %d to stop serving"
          % follower, ELECTION_BOUND_S)
    load.wait_ok(60, since_s=cut_s)
    assert ens.mode(leader) == "leader"
    assert ens.mode(follower) is None
    heal_s = time.monotonic()
    ens.heal()
    _poll(lambda: _diffs(ens, follower) > diffs, "member %d synced by DIFF" % follower,
          ELECTION_BOUND_S)
    modes, counts = _end(ens, load, heal_s, leader=leader)
    assert modes[follower] == "follower", modes


@pytest.mark.parametrize("hold", [False, True], ids=["reset", "hold"])
@pytest.mark.parametrize("kinds", KINDS, ids=_kinds_id)
def test_no_quorum_anywhere(make_ensemble, kinds, hold):
    """c. Every link cut: no member serves and no write is acknowledged
    while it lasts; healed, a leader again and nothing acknowledged lost."""
    ens, leader, load = _start(make_ensemble, kinds)
    sids = ens.server_sids()
    ens.partition(hold=hold)
    _poll(lambda: all(ens.mode(s) is None for s in sids), "every member to stop serving",
          ELECTION_BOUND_S)
    down_s = time.monotonic()
    while time.monotonic() < down_s + NO_QUORUM_HOLD_S:
        modes = ens.modes(sids)
        assert all(m is None for m in modes.values()), modes
        time.sleep(0.2)
    assert load.history.count("ok", since_s=down_s) == 0, load.history.snapshot()[-5:]
    heal_s = time.monotonic()
    ens.heal()
    _end(ens, load, heal_s)
    assert load.history.count("ok", since_s=heal_s) >= 60


# ---------------------------------------------------------------------------
# the proxy itself, without servers


def _held_port():
    """A socket bound to a port of 127.0.0.1 and not listening: dials to the
    port are refused, and no other socket can take it while this one holds
    it (a port from free_port() could be taken by anyone once released)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    return sock


class _Echo:
    """A TCP echo server on 127.0.0.1 (a thread per connection); bound: a
    socket from _held_port() to listen on."""

    def __init__(self, bound=None):
        self.sock = bound
        if self.sock is None:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                    if not data:
                        return
                    conn.sendall(data)
                except OSError:
                    return

    def close(self):
        # shutdown wakes the thread in accept(): close alone would leave the
        # socket listening until a connection came.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _recv_exactly(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk, "closed after %d of %d bytes" % (len(out), n)
        out += chunk
    return out


def _is_dead(sock):
    """The proxy reset or closed this connection (reads EOF or an error)."""
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionError:
        return True


def _dial_dead(port):
    """A connection to port is reset or closed (maybe while connecting)."""
    try:
        sock = socket.create_connection((HOST, port), timeout=5)
    except ConnectionError:
        return True
    with sock:
        return _is_dead(sock)


def test_netproxy_controls():
    """netproxy.Proxy on its own: bytes both ways (5 MB through the bounded
    buffers), the election header rewrite, cut (reset, new connections
    reset), hold (nothing moves, connections stay; heal resets them),
    delay, and a target that starts listening within connect_wait_s."""
    echo = _Echo()
    proxies = []
    try:
        p = netproxy.Proxy(echo.port, "t", rewrite=netproxy.election_header_rewrite(
            "127.0.0.1:9999"))
        proxies.append(p)
        c = socket.create_connection((HOST, p.port), timeout=5)
        header = struct.pack(">qqi", -65536, 2, 14) + b"127.0.0.1:1234"
        c.sendall(header[:5])  # the rewrite waits for the whole header
        c.sendall(header[5:] + b"hello")
        want = struct.pack(">qqi", -65536, 2, 14) + b"127.0.0.1:9999hello"
        assert _recv_exactly(c, len(want)) == want
        big = os.urandom(5 << 20)
        sender = threading.Thread(target=c.sendall, args=(big,), daemon=True)
        sender.start()
        assert _recv_exactly(c, len(big)) == big
        sender.join(5)
        assert p.connections() == 1

        p.cut()
        assert p.connections() == 0 and _is_dead(c)
        assert _dial_dead(p.port)
        p.heal()
        c3 = socket.create_connection((HOST, p.port), timeout=5)
        c3.sendall(struct.pack(">q", 5) + b"abc")  # an old-style header: as it is
        assert _recv_exactly(c3, 11) == struct.pack(">q", 5) + b"abc"

        p.cut(hold=True)
        c3.sendall(b"held")
        c3.settimeout(0.5)
        with pytest.raises(socket.timeout):
            c3.recv(10)
        assert p.connections() == 1
        p.heal()
        assert _is_dead(c3)

        p.delay(0.3)
        c4 = socket.create_connection((HOST, p.port), timeout=5)
        start = time.monotonic()
        c4.sendall(struct.pack(">q", 5) + b"x")
        assert _recv_exactly(c4, 9) == struct.pack(">q", 5) + b"x"
        assert time.monotonic() - start >= 0.6  # there and back
        p.delay(0)

        # A target that starts listening a moment later is still reached.
        late_sock = _held_port()
        late = netproxy.Proxy(late_sock.getsockname()[1], "late", connect_wait_s=3.0)
        proxies.append(late)
        c5 = socket.create_connection((HOST, late.port), timeout=5)
        c5.sendall(b"early")
        _poll(lambda: late.stats["target_retried"] > 0, "a retry of the target", 5)
        echo2 = _Echo(late_sock)
        try:
            assert _recv_exactly(c5, 5) == b"early"
        finally:
            echo2.close()
        # ... and one that never listens is reset after connect_wait_s.
        never_sock = _held_port()
        never = netproxy.Proxy(never_sock.getsockname()[1], "never", connect_wait_s=0.5)
        proxies.append(never)
        assert _dial_dead(never.port)
        assert never.stats["target_down"] == 1
        never_sock.close()
    finally:
        for proxy in proxies:
            proxy.close()
        echo.close()


# ---------------------------------------------------------------------------
# SNAP and TRUNC after a partition

COMMITTED_LOG_TXNS = 500   # what a leader keeps for DIFF (Apache's commitLogCount)


@pytest.mark.parametrize("kinds", [["czk", "czk", "czk"], ["czk", "apache", "apache"]],
                         ids=_kinds_id)
def test_follower_isolated_past_the_committed_log_gets_a_snap(make_ensemble, kinds):
    """d. A czk follower (sid 1) cut off while the leader (sid 3: czk, or
    Apache) commits more than its committed log holds: healed, it is synced
    by SNAP (not DIFF), follows, and the history checks.  An Apache leader
    would DIFF from its txn log files instead when they are small next to
    its snapshot (LearnerHandler's "Use txnlog and committedLog"):
    snapshotSizeFactor=-1 (zookeeper.snapshotSizeFactor) turns that off,
    leaving the committed log, as czk has it."""
    ens, leader, load = _start(make_ensemble, kinds, extra={"snapshotSizeFactor": "-1"},
                               led_by_3=True, writers=4, readers=1)
    assert leader == 3
    follower = 1
    snaps = _syncs(ens, follower, "snapshot")
    cut_s = time.monotonic()
    ens.isolate(follower)
    _poll(lambda: ens.mode(follower) is None, "the cut-off follower to stop serving",
          ELECTION_BOUND_S)
    missed_from = ens.zxid(leader)
    load.wait_ok(COMMITTED_LOG_TXNS + 100, since_s=cut_s, timeout=60)
    assert ens.zxid(leader) - missed_from > COMMITTED_LOG_TXNS
    assert ens.mode(follower) is None
    heal_s = time.monotonic()
    ens.heal()
    _poll(lambda: _syncs(ens, follower, "snapshot") > snaps,
          lambda: "member %d synced by SNAP; its log:\n%s" % (
              follower, ens.server(follower).log_tail(20)), ELECTION_BOUND_S)
    modes, counts = _end(ens, load, heal_s, leader=leader)
    assert modes[follower] == "follower", modes
    assert load.history.count("ok", kinds=("sync_get",), since_s=heal_s) > 0, counts


def _logged(ens, sid, needle):
    """Whether member sid's txn log files hold the bytes `needle`."""
    return any(needle in p.read_bytes()
               for p in (ens.members[sid].datadir / "version-2").glob("log.*"))


@pytest.mark.parametrize("kinds", [["czk", "czk", "czk"], ["apache", "apache", "czk"]],
                         ids=_kinds_id)
def test_isolated_leader_unacknowledged_txns_are_truncated(make_ensemble, kinds):
    """e. The leader (czk, sid 3) cut off from both followers by a silent
    partition while its clients write (every writer on it alone): it logs
    their txns and cannot commit them; it gives up, the followers elect
    one of them (czk, or Apache; sid 2 unless 1 logged a proposal more
    before the cut).  Healed at once, before the new epoch has a txn (a
    TRUNC never crosses an epoch; a later heal would be a SNAP), the old
    leader is told to TRUNC; its logged, unacknowledged creates are on no
    member; the writers go on through it and the history checks."""
    ens = make_ensemble(kinds, proxied=True)
    ens.start_all()
    old = ens.leader_sid()
    assert old == 3
    others = [1, 2]
    setup = ens.client(old)
    setup.ensure_path("/lost")
    # every session on the old leader alone: no write reaches the new one
    # before the heal (it would start the new epoch: SNAP, not TRUNC)
    load = Load(ens, writers=3, root=ROOT, sids=[old], failover=False, readers=1).start()
    load.wait_ok(30)
    load.wait_ok(3, kinds=("sync_get",))
    truncs = _syncs(ens, old, "truncate")
    cut_s = time.monotonic()
    ens.isolate(old, hold=True)
    lost = ["/lost/l%d" % i for i in range(5)]
    pending = [setup.create_async(path, b"x") for path in lost]
    for path, p in zip(lost, pending):
        with pytest.raises(Exception):   # connection loss once the leader gives up
            p.get(timeout=30)
    _poll(lambda: ens.mode(old) is None, "the cut-off leader to stop serving", ELECTION_BOUND_S)
    new = ens.leader_sid(sids=others, timeout=ELECTION_BOUND_S)
    # the old leader logged what it could not commit
    _poll(lambda: all(_logged(ens, old, path.encode()) for path in lost),
          "the unacknowledged creates in the old leader's log", 10)
    logged_creates = [op.path for op in load.history.snapshot()
                      if op.kind == "create" and op.invoke_s > cut_s and
                      _logged(ens, old, op.path.encode())]
    heal_s = time.monotonic()
    ens.heal()
    _poll(lambda: _syncs(ens, old, "truncate") > truncs,
          lambda: "member %d synced by TRUNC; its log:\n%s" % (old, ens.server(old).log_tail(20)),
          ELECTION_BOUND_S)
    modes, counts = _end(ens, load, heal_s, leader=new)
    assert modes[old] == "follower", modes
    for sid in ens.server_sids():
        c = ens.client(sid)
        c.sync("/lost")
        assert c.get_children("/lost") == [], "member %d kept unacknowledged creates" % sid
        present = [path for path in logged_creates if c.exists(path)]
        assert not present, "member %d kept unacknowledged creates %s" % (sid, present)
    assert load.history.count("ok", since_s=heal_s) >= 60, counts
