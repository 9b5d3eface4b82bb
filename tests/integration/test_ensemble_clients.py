# SPDX-License-Identifier: Apache-2.0
"""Real clients across a leader kill, with a three-server connection string,
on a czk ensemble and on mixed ones: kazoo, the official C client
(cclient_test --failover) and Apache's zkCli.sh.  What each checks is what
a user relies on when the leader dies (kill -9):

- the client reconnects by itself to a member that still serves;
- its session is the same one (same id, its ephemeral still there and
  owned by it; nothing expired);
- every write acknowledged before the kill is readable after it;
- a watch set before the kill fires after it (re-registered by the client
  on the member it moved to: SetWatches from the C and Java clients; kazoo
  2.8 has no SetWatches and drops one-shot watches on disconnection, so
  for kazoo it is a DataWatch, which re-arms on reconnection).

kazoo and the C client are connected to the leader first (hosts in a fixed
order, the leader's first), so their own connection is the one that dies.
zkCli.sh picks a member at random; whichever it is, it loses its connection,
since a follower closes its clients when its leader goes.  Members' logs are
in the test's tmp dir (s<sid>/czk-server.log, zookeeper.log)."""
import os
import queue
import re
import subprocess
import threading
import time

import pytest

import zkwire
from conftest import HOST, ZKCLI
from ensemble import make_ensemble  # noqa: F401  (fixture)
from test_cclient import cclient_binary  # noqa: F401  (fixture)

# CZK_ENSEMBLE_KINDS="apache,apache,apache" runs them on other ensembles by
# hand (as test_ensemble_history.py reads it): Apache alone is the oracle.
KINDS = [["czk", "czk", "czk"], ["czk", "czk", "apache"], ["apache", "apache", "czk"]]
DEADLINE_S = 60


def _kinds():
    text = os.environ.get("CZK_ENSEMBLE_KINDS")
    if not text:
        return KINDS
    return [[k.strip() for k in ens.split(",")] for ens in text.split(";") if ens.strip()]


@pytest.fixture(params=_kinds(), ids=lambda kinds: "-".join(kinds))
def ensemble(request, make_ensemble):  # noqa: F811
    """Members 3 and 1 first: with equal (empty) logs the higher sid, 3,
    leads; then 2 follows.  So czk-czk-apache kills an Apache leader and
    czk members take over, apache-apache-czk kills a czk leader and Apache
    members take over."""
    ens = make_ensemble(request.param)
    ens.start(3)
    ens.start(1)
    ens.wait_modes(sids=[1, 3])
    ens.start(2)
    ens.wait_modes()
    assert ens.leader_sid() == 3
    return ens


def _wait(cond, what, timeout=DEADLINE_S):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def _kill_leader(ens):
    """kill -9 the leader; the two others elect a new one.  Returns (old, new)."""
    old = ens.leader_sid()
    ens.kill(old)
    new = ens.leader_sid()
    assert new != old
    print("leader %d (%s) killed; leader %d (%s)" % (old, ens.members[old].kind, new,
                                                     ens.members[new].kind))
    return old, new


def test_kazoo_across_leader_kill(ensemble):
    ens = ensemble
    leader = ens.leader_sid()
    states = []
    kz = ens.client(leader, failover=True, timeout=10.0)
    kz.add_listener(states.append)
    assert kz.connected
    session = kz.client_id[0]
    kz.ensure_path("/kz")
    for i in range(10):
        kz.create("/kz/n%d" % i, b"v%d" % i)
    kz.create("/kz/eph", b"e", ephemeral=True)
    kz.create("/kz/watched", b"w0")
    # kazoo 2.8 sends no SetWatches: it drops its one-shot watches when the
    # connection goes (a NONE event to each); what kazoo users rely on is
    # DataWatch, which re-reads and re-arms on reconnection
    seen = queue.Queue()
    kz.DataWatch("/kz/watched", lambda data, stat: seen.put(data))
    assert seen.get(timeout=10) == b"w0"

    old, new = _kill_leader(ens)
    _wait(lambda: "SUSPENDED" in states and states[-1] == "CONNECTED",
          "kazoo to lose its connection and reconnect")
    assert "LOST" not in states, states
    assert kz.client_id[0] == session, (hex(kz.client_id[0]), hex(session))
    for i in range(10):
        assert kz.get("/kz/n%d" % i)[0] == b"v%d" % i, i
    data, st = kz.get("/kz/eph")
    assert st.ephemeralOwner == session, (hex(st.ephemeralOwner), hex(session))
    # another client, on a member that never went down, changes the node
    other = ens.client(ens.up_sids()[0])
    other.set("/kz/watched", b"w1")
    data = seen.get(timeout=10)
    while data == b"w0":  # the re-read on reconnection
        data = seen.get(timeout=10)
    assert data == b"w1", data
    # the old leader comes back as a follower and has it all
    ens.start(old)
    modes = ens.wait_modes()
    assert modes[old] == "follower" and modes[new] == "leader", modes
    back = ens.client(old)
    back.sync("/kz")
    assert back.get("/kz/eph")[1].ephemeralOwner == session
    assert sorted(back.get_children("/kz")) == sorted(
        ["eph", "watched"] + ["n%d" % i for i in range(10)])
    kz.stop()
    _wait(lambda: other.exists("/kz/eph") is None, "the closed session's ephemeral to go", 20)


def test_c_client_across_leader_kill(ensemble, cclient_binary):  # noqa: F811
    ens = ensemble
    leader = ens.leader_sid()
    client_log = ens.tmp_path / "cclient.log"
    env = dict(os.environ, CCLIENT_LOG=str(client_log))
    p = subprocess.Popen([cclient_binary, "--failover", ens.hosts(leader, failover=True)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    out = err = ""
    try:
        line = p.stdout.readline()
        assert line.startswith("READY 0x"), (line, p.stderr.read() if p.poll() is not None
                                             else "")
        session = int(line.split()[1], 16)
        _kill_leader(ens)
        p.stdin.write("go\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if p.returncode != 0:
        # what the client library and every member logged, for the post-mortem
        tails = ["%s (last 80 lines):\n%s" % (client_log, "\n".join(
            client_log.read_text(errors="replace").splitlines()[-80:]))]
        for sid, m in ens.members.items():
            if m.server is not None:
                tails.append("member %d (%s):\n%s" % (sid, m.kind, m.server.log_tail(60)))
        print("\n\n".join(tails))
    assert p.returncode == 0, "cclient_test --failover (exit %d)\nstdout:\n%s\nstderr:\n%s" % (
        p.returncode, out, err)
    assert ("cclient_test: OK failover 0x%x" % session) in out, out


class ZkCli:
    """zkCli.sh reading commands from a pipe; its stdout read by a thread,
    so the test can wait for a line matching a pattern."""

    def __init__(self, hosts):
        env = dict(os.environ)
        env["CLIENT_JVMFLAGS"] = "-Xshare:auto -XX:TieredStopAtLevel=1"
        self.proc = subprocess.Popen([ZKCLI, "-server", hosts], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def send(self, *commands):
        self.proc.stdin.write("".join(c + "\n" for c in commands))
        self.proc.stdin.flush()

    def mark(self):
        with self.lock:
            return len(self.lines)

    def wait(self, pattern, since=0, timeout=DEADLINE_S):
        """The first match of pattern in a line at index >= since; its index and match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                for i in range(since, len(self.lines)):
                    m = regex.search(self.lines[i])
                    if m:
                        return i, m
            assert self.proc.poll() is None or self.reader.is_alive(), self.output()
            assert time.monotonic() < deadline, "zkCli.sh printed no %r:\n%s" % (
                pattern, self.output())
            time.sleep(0.05)

    def output(self):
        with self.lock:
            return "\n".join(self.lines[-80:])

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.stdin.close()
                self.proc.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)


def test_zkcli_across_leader_kill(ensemble):
    ens = ensemble
    admin = ens.client()
    admin.ensure_path("/cli")
    admin.create("/cli/watched", b"w0")
    cli = ZkCli(ens.hosts())
    try:
        i, _ = cli.wait(r"WatchedEvent state:SyncConnected type:None")
        cli.send("create /cli/a1 one", "create /cli/a2 two", "create -e /cli/eph e",
                 "get -w /cli/watched", "stat /cli/eph")
        cli.wait(r"^Created /cli/a1$", i)
        cli.wait(r"^Created /cli/a2$", i)
        cli.wait(r"^Created /cli/eph$", i)
        i, m = cli.wait(r"^ephemeralOwner = (0x[0-9a-f]+)$", i)
        session = int(m.group(1), 16)
        assert session != 0
        before_kill = cli.mark()
        old, new = _kill_leader(ens)
        i, _ = cli.wait(r"WatchedEvent state:Disconnected type:None", before_kill)
        i, _ = cli.wait(r"WatchedEvent state:SyncConnected type:None", i)
        cli.send("get /cli/a1", "get /cli/a2", "create -e /cli/eph2 e2", "stat /cli/eph",
                 "stat /cli/eph2")
        cli.wait(r"^one$", i)
        cli.wait(r"^two$", i)
        i, _ = cli.wait(r"^Created /cli/eph2$", i)
        owners = []
        for _ in range(2):
            i, m = cli.wait(r"^ephemeralOwner = (0x[0-9a-f]+)$", i + 1)
            owners.append(int(m.group(1), 16))
        # /cli/eph is still there, owned by the session; the ephemeral made
        # after the kill has the same owner: the session is the same one
        assert owners == [session, session], ([hex(o) for o in owners], hex(session))
        # another session changes the watched node: the watch zkCli set
        # before the kill fires
        after = cli.mark()
        admin.set("/cli/watched", b"w1")
        cli.wait(r"WatchedEvent state:SyncConnected type:NodeDataChanged path:/cli/watched",
                 after)
        assert not any("Expired" in line for line in cli.lines), cli.output()
    finally:
        cli.close()
    assert cli.proc.returncode == 0, cli.output()
    admin.sync("/cli")
    _wait(lambda: admin.exists("/cli/eph") is None, "zkCli's ephemerals to go with its session",
          20)
    assert admin.exists("/cli/eph2") is None


def test_follower_refuses_a_client_that_saw_a_later_zxid(ensemble):
    """A member refuses a ConnectRequest whose lastZxidSeen is beyond its
    own last zxid (ZooKeeperServer.processConnectRequest: the connection
    closes without an answer), and takes one that is not; on czk and Apache
    followers alike."""
    ens = ensemble
    ens.client().ensure_path("/seen")
    for sid in ens.follower_sids():
        m = ens.members[sid]
        last = ens.zxid(sid)
        ahead = zkwire.Conn(HOST, m.client_port)
        try:
            # well ahead: the closeSession of the previous member's session
            # may still be reaching this one after srvr answered
            ahead.send_frame(zkwire.enc_connect(last_zxid=last + 1000))
            assert ahead.wait_closed(5.0), (sid, m.kind, ahead.log)
            assert ahead.log == [], ahead.log
        finally:
            ahead.close()
        level = zkwire.session(HOST, m.client_port, last_zxid=last)
        try:
            assert level.session_id, (sid, m.kind)
        finally:
            level.close_session()
            level.close()
