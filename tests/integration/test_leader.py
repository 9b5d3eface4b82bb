# SPDX-License-Identifier: Apache-2.0
"""The leader's side of the quorum port (src/node/leader_port.c driving
src/zab/zab.c) leading two live Apache ZooKeeper 3.8.0 followers and an
Apache observer.

`leader_probe` (tests/integration/leader_probe.c, $CZK_LEADER_PROBE) is
member 3: the election (src/node/elector.c), then, elected, the leader port
over a struct server holding /probe and its children, created by txns of
epoch 1 so that it holds the highest zxid; Apache members 1 and 2 (voters)
and 4 (an observer) start empty.

  election + SNAP: both Apache voters elect the probe and follow it, the
      observer observes it; all three get its tree by SNAP (snapshot body +
      "BenWasHere"): kazoo on each reads it back;
  broadcast: txns the probe proposes (CreateTxn bytes as the log holds
      them) are logged, acked, committed on both followers (INFORM to the
      observer): kazoo reads them on each after sync() (a sync REQUEST
      forwarded to the leader, answered with SYNC once the outstanding
      proposals commit); kazoo's sessions are createSession / closeSession
      REQUESTs the probe turns into txns;
  queue: a burst of 100 txns with ZAB's outstanding_max at 4 waits in
      leader_port's queue; a sync forwarded meanwhile returns only after
      the whole burst has committed;
  bad input: a connection sending garbage, one whose LearnerInfo names an
      unknown sid, and one cut in the middle of a packet are dropped, and
      the ensemble keeps working; a second connection of sid 1 replaces
      Apache 1's, which comes back and replaces it in turn;
  revalidation: a kazoo session on Apache 2 moves to Apache 1 when 2 dies
      and keeps its id (REVALIDATE answered valid by the leader);
  restart: Apache 2 killed (-9) misses txns, restarts and syncs again: DIFF
      when the committed log holds what it missed, SNAP when it does not
      (no history, a committed log of 3 txns);
  not reading: a learner that stops reading is dropped at the output bound;
  quorum lost: both followers killed, leadership ends (STOPPED), the probe
      elects again and leads epoch 3 once they are back.

Every process is stopped by its pid; waits have deadlines."""
import json
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from conftest import HOST, czk_binary, free_port, start_server, wait_modes, write_cfg


def ensemble(sids):
    """server.N lines for `sids` on fresh ports: {sid: (quorum, election)}, cfg."""
    ports = {sid: (free_port(), free_port()) for sid in sids}
    cfg = {"server.%d" % sid: "%s:%d:%d" % (HOST, q, e) for sid, (q, e) in ports.items()}
    return ports, cfg

PROBE_SID = 3
DEADLINE_S = 180.0
ENSEMBLE_CFG = {"initLimit": "10", "syncLimit": "5"}
SEED_TXNS = 5  # /probe, /probe/n1 .. /probe/n4
OBSERVER_SID = 4
MODES = {1: "follower", 2: "follower", OBSERVER_SID: "observer"}
OUTSTANDING = 4  # zab's outstanding_max: a burst goes through leader_port's queue
BURST = 100


def probe_binary():
    return (os.environ.get("CZK_LEADER_PROBE")
            or str(Path(czk_binary()).parent / "tests" / "leader_probe"))


class LeaderProbe:
    """leader_probe as a process: JSON lines out (a thread collects them),
    commands in."""

    def __init__(self, workdir, servers_cfg, history, committed_log=0, outstanding=0,
                 extra=()):
        workdir.mkdir(parents=True, exist_ok=True)
        cfg = dict(servers_cfg)
        cfg.update(ENSEMBLE_CFG)
        _, cfg_path = write_cfg(workdir, cfg)
        (workdir / "data" / "myid").write_text("%d\n" % PROBE_SID)
        self.err_path = workdir / "probe.err"
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            [probe_binary(), str(cfg_path), "--txns", str(SEED_TXNS), "--epoch", "1",
             "--history", "1" if history else "0", "--committed-log", str(committed_log),
             "--outstanding", str(outstanding)] + list(extra),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1)
        self.events = []
        self.replies = queue.Queue()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            msg = json.loads(line)
            if "event" in msg:
                with self.lock:
                    self.events.append(msg)
            else:
                self.replies.put(msg)

    def stderr_text(self):
        if not self.err.closed:
            self.err.flush()
        return self.err_path.read_text(errors="replace")

    def wait_event(self, pred, deadline, what, since=0):
        while time.monotonic() < deadline:
            with self.lock:
                for ev in self.events[since:]:
                    if pred(ev):
                        return ev
            assert self.proc.poll() is None, "probe died: %s" % self.stderr_text()[-3000:]
            time.sleep(0.05)
        with self.lock:
            evs = list(self.events)
        raise AssertionError("probe never printed %s; events %s\n%s"
                             % (what, evs[-10:], self.stderr_text()[-3000:]))

    def command(self, cmd, deadline):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        try:
            return self.replies.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError("probe: no answer to %r" % cmd)

    def create(self, path, data, deadline):
        reply = self.command("create %s %s" % (path, data), deadline)
        assert "proposed" in reply, reply
        return reply["proposed"]

    def wait_state(self, pred, deadline, what):
        while time.monotonic() < deadline:
            st = self.command("state", deadline)
            if pred(st):
                return st
            time.sleep(0.1)
        raise AssertionError("probe state never %s: %s" % (what, st))

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.thread.join(10)
        self.err.close()
        return self.proc.returncode


def start_apache(tmp_path, sid, servers_cfg, port=None):
    wd = tmp_path / ("s%d" % sid)
    (wd / "data").mkdir(parents=True, exist_ok=True)
    (wd / "data" / "myid").write_text("%d\n" % sid)
    cfg = dict(servers_cfg)
    cfg.update(ENSEMBLE_CFG)
    return start_server("apache", wd, cfg, port=port, wait=False)


def kazoo(srv):
    kz = KazooClient(hosts=srv.hostport, timeout=20)
    kz.start(timeout=60)
    return kz


def check_tree(srv, want, zxids=None):
    """kazoo on one Apache follower: after sync(), every path in `want` holds
    its data (and was created at its zxid)."""
    kz = kazoo(srv)
    try:
        kz.sync("/probe")
        for path, data in want.items():
            got, st = kz.get(path)
            assert got == data.encode(), (srv, path, got, data)
            if zxids and path in zxids:
                assert st.czxid == zxids[path], (srv, path, hex(st.czxid), hex(zxids[path]))
        children = sorted(kz.get_children("/probe"))
        assert children == sorted(p.rsplit("/", 1)[1] for p in want if p != "/probe"), \
            (srv, children)
    finally:
        kz.stop()
        kz.close()


def closed_by_peer(sock, timeout=15.0):
    """Whether the other end closes the connection within `timeout`."""
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def packet(ptype, zxid, data=None):
    """QuorumPacket(type, zxid, data, authinfo null) as jute writes it."""
    out = struct.pack(">iq", ptype, zxid)
    out += struct.pack(">i", -1) if data is None else struct.pack(">i", len(data)) + data
    return out + struct.pack(">i", -1)


def follower_info(sid, ptype=11):
    """FOLLOWERINFO (11) or OBSERVERINFO (16): acceptedEpoch 0,
    LearnerInfo(sid, 0x10000, configVersion 0)."""
    return packet(ptype, 0, struct.pack(">qiq", sid, 0x10000, 0))


def recv_exactly(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk, "connection closed after %d of %d bytes" % (len(out), n)
        out += chunk
    return out


# DIFF: the history and the default committed log (500) hold what Apache 2
# missed; SNAP: no history and a committed log of 3 txns, fewer than it missed.
@pytest.mark.parametrize("history,committed_log,resync", [(True, 0, "DIFF"), (False, 3, "SNAP")])
def test_probe_leads_apache_followers(tmp_path, history, committed_log, resync):
    deadline = time.monotonic() + DEADLINE_S
    ports, cfg = ensemble([1, 2, 3, OBSERVER_SID])
    cfg["server.%d" % OBSERVER_SID] += ":observer"
    probe = LeaderProbe(tmp_path / "p3", cfg, history, committed_log, OUTSTANDING)
    servers = {}
    try:
        probe.wait_event(lambda e: e["event"] == "recovered", deadline, "recovered")
        for sid in (1, 2, OBSERVER_SID):
            servers[sid] = start_apache(tmp_path, sid, cfg)
        d = probe.wait_event(lambda e: e["event"] == "decided", deadline, "a decision")
        assert d["state"] == "LEADING" and d["leader"] == PROBE_SID, d
        serving = probe.wait_event(lambda e: e["event"] == "serving", deadline, "serving")
        assert serving["epoch"] == 2, serving
        modes = wait_modes(servers, deadline)
        assert {s: m for s, (m, _) in modes.items()} == MODES, modes
        up = probe.wait_event(lambda e: e["event"] == "learner_up" and e["sid"] == OBSERVER_SID,
                              deadline, "the observer")
        assert up["reason"] == "observer", up
        # Empty learners are behind the committed log: SNAP.
        for sid in (1, 2, OBSERVER_SID):
            ev = probe.wait_event(lambda e, s=sid: e["event"] == "learner_sync" and e["sid"] == s,
                                  deadline, "sync of %d" % sid)
            assert ev["reason"] == "SNAP", ev
        want = {"/probe": "czk leader"}
        want.update({"/probe/n%d" % i: "v%d" % i for i in range(1, SEED_TXNS)})
        zxids = {"/probe": (1 << 32) | 1}
        for sid in (1, 2, OBSERVER_SID):
            check_tree(servers[sid], want, zxids)

        # Broadcast: proposals of epoch 2, committed on both followers.
        for i in range(3):
            path = "/probe/new%d" % i
            zxids[path] = probe.create(path, "d%d" % i, deadline)
            want[path] = "d%d" % i
        # epoch 2; kazoo's sessions above were txns of it too
        assert zxids["/probe/new0"] >> 32 == 2, hex(zxids["/probe/new0"])
        last = zxids["/probe/new2"]
        probe.wait_state(lambda st: st["committed"] >= last, deadline, "committed")
        for sid in (1, 2, OBSERVER_SID):
            check_tree(servers[sid], want, zxids)
        st = probe.wait_state(lambda st: st["synced_followers"] == 2 and st["pending_syncs"] == 0,
                              deadline, "two synced followers")
        assert st["learners"] == 3 and st["synced_observers"] == 1, st

        # A burst beyond outstanding_max waits in the port's queue; a sync a
        # follower forwards meanwhile is answered (SYNC) only once all of it
        # has committed, so a read after it sees the burst's last node.
        readers = {sid: kazoo(servers[sid]) for sid in (1, OBSERVER_SID)}
        try:
            reply = probe.command("burst %d /probe/b" % BURST, deadline)
            assert "last" in reply and reply["queued"] > 0, reply
            for sid, kz in readers.items():
                kz.sync("/probe")
                assert kz.exists("/probe/b%d" % (BURST - 1)), (sid, reply)
        finally:
            for kz in readers.values():
                kz.stop()
                kz.close()
        want.update({"/probe/b%d" % i: "b%d" % i for i in range(BURST)})
        zxids["/probe/b0"] = reply["first"]
        zxids["/probe/b%d" % (BURST - 1)] = reply["last"]

        # Bad input on the quorum port: each connection is dropped.
        qport = ports[PROBE_SID][0]
        garbage = socket.create_connection((HOST, qport), timeout=10)
        garbage.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(64))
        unknown = socket.create_connection((HOST, qport), timeout=10)
        unknown.sendall(follower_info(9))
        cut = socket.create_connection((HOST, qport), timeout=10)
        cut.sendall(follower_info(1)[:9])
        assert closed_by_peer(garbage), "garbage connection not closed"
        assert closed_by_peer(unknown), "unknown sid not closed"
        cut.close()
        for s in (garbage, unknown):
            s.close()
        probe.wait_state(lambda st: st["dropped"] >= 2 and st["connections"] == 3, deadline,
                         "bad connections gone")
        err = probe.stderr_text()
        assert "malformed packet" in err or "not FOLLOWERINFO" in err, err[-3000:]
        assert "sid 9 is not a participant" in err, err[-3000:]
        path = "/probe/after-garbage"
        zxids[path] = probe.create(path, "still", deadline)
        want[path] = "still"
        for sid in (1, 2):
            check_tree(servers[sid], want, zxids)

        # A second connection of sid 1 replaces Apache 1's (which is dropped,
        # goes LOOKING and comes back, replacing ours in turn).
        with probe.lock:
            seen = len(probe.events)
        second = socket.create_connection((HOST, qport), timeout=10)
        second.sendall(follower_info(1))
        second.settimeout(15)
        head = recv_exactly(second, 12)
        assert struct.unpack(">iq", head) == (17, 2 << 32), head  # LEADERINFO, epoch 2
        probe.wait_event(lambda e: e["event"] == "learner_down" and e["sid"] == 1, deadline,
                         "Apache 1's connection replaced", since=seen)
        probe.wait_event(lambda e: e["event"] == "learner_synced" and e["sid"] == 1, deadline,
                         "Apache 1 back", since=seen)
        assert closed_by_peer(second), "the replaced connection was not closed"
        second.close()
        assert "replaced by a new connection of the same sid" in probe.stderr_text()
        path = "/probe/after-second"
        zxids[path] = probe.create(path, "again", deadline)
        want[path] = "again"
        for sid in (1, 2):
            check_tree(servers[sid], want, zxids)

        # REVALIDATE: a session on Apache 2 moves to Apache 1 when 2 dies;
        # 1 asks the leader whether it is still valid before resuming it.
        moving = KazooClient(hosts="%s,%s" % (servers[2].hostport, servers[1].hostport),
                             randomize_hosts=False, timeout=20)
        moving.start(timeout=60)
        session = moving.client_id[0]

        # Restart: Apache 2 killed, txns it misses, then it syncs again.
        servers[2].kill()
        probe.wait_event(lambda e: e["event"] == "learner_down" and e["sid"] == 2, deadline,
                         "learner 2 down")
        for i in range(3):
            path = "/probe/missed%d" % i
            zxids[path] = probe.create(path, "m%d" % i, deadline)
            want[path] = "m%d" % i
        check_tree(servers[1], want, zxids)
        while time.monotonic() < deadline:
            try:
                if moving.connected and moving.exists("/probe/missed2"):
                    break
            except Exception:
                pass
            time.sleep(0.2)
        assert moving.client_id[0] == session, (hex(session), moving.client_id)
        moving.stop()
        moving.close()
        with probe.lock:
            seen = len(probe.events)
        servers[2] = start_apache(tmp_path, 2, cfg, port=servers[2].port)
        ev = probe.wait_event(lambda e: e["event"] == "learner_sync" and e["sid"] == 2,
                              deadline, "learner 2 resync", since=seen)
        assert ev["reason"] == resync, ev
        modes = wait_modes(servers, deadline)
        assert {s: m for s, (m, _) in modes.items()} == MODES, modes
        check_tree(servers[2], want, zxids)
        path = "/probe/last"
        zxids[path] = probe.create(path, "end", deadline)
        want[path] = "end"
        for sid in (1, 2, OBSERVER_SID):
            check_tree(servers[sid], want, zxids)
        probe.wait_state(lambda st: st["synced_followers"] == 2 and st["synced_observers"] == 1,
                         deadline, "all synced again")
        with probe.lock:
            assert not [e for e in probe.events if e["event"] == "stopped"], probe.events
    finally:
        rc = probe.stop()
        for srv in servers.values():
            srv.stop()
    assert rc == 0, probe.stderr_text()[-3000:]
    err = probe.stderr_text()
    assert "runtime error" not in err and "AddressSanitizer" not in err, err[-3000:]


def test_learner_not_reading_is_dropped(tmp_path):
    """A learner that stops reading is dropped once its unwritten output
    passes learner_output_max (64 KiB here; the SNAP body not counted), and
    the followers go on. The learner is a raw socket, observer 5 of the
    config, that completes the epoch handshake and then reads nothing."""
    deadline = time.monotonic() + DEADLINE_S
    ports, cfg = ensemble([1, 2, 3, 5])
    cfg["server.5"] += ":observer"
    # outstanding_max 4 keeps each round to the followers (who read) small
    probe = LeaderProbe(tmp_path / "p3", cfg, True, outstanding=4,
                        extra=["--output-max", "65536"])
    servers = {}
    raw = None
    try:
        probe.wait_event(lambda e: e["event"] == "recovered", deadline, "recovered")
        for sid in (1, 2):
            servers[sid] = start_apache(tmp_path, sid, cfg)
        probe.wait_event(lambda e: e["event"] == "serving", deadline, "serving")
        modes = wait_modes(servers, deadline)
        assert {s: m for s, (m, _) in modes.items()} == {1: "follower", 2: "follower"}, modes
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(15)
        raw.connect((HOST, ports[PROBE_SID][0]))
        raw.sendall(follower_info(5, 16))
        head = recv_exactly(raw, 24)  # LEADERINFO(epoch 2, int 0x10000), authinfo null
        assert struct.unpack(">iq", head[:12]) == (17, 2 << 32), head
        raw.sendall(packet(18, 0, struct.pack(">i", 0)))  # ACKEPOCH: nothing logged, epoch 0
        ev = probe.wait_event(lambda e: e["event"] == "learner_sync" and e["sid"] == 5, deadline,
                              "observer 5 synced")
        assert ev["reason"] == "SNAP", ev
        reply = probe.command("burst 600 /probe/big 8192", deadline)
        assert "last" in reply, reply
        ev = probe.wait_event(lambda e: e["event"] == "learner_down" and e["sid"] == 5, deadline,
                              "observer 5 dropped")
        assert "not reading" in ev["reason"], ev
        kz = kazoo(servers[1])
        try:
            kz.sync("/probe")
            data, _ = kz.get("/probe/big599")
            assert data == b"x" * 8192
        finally:
            kz.stop()
            kz.close()
        err = probe.stderr_text()
        assert err.count("learner 5 dropped") == 1, err[-3000:]
        # the log line names the bound and what was pending
        assert re.search(r"learner 5 dropped: the learner is not reading \(output above "
                         r"learner_output_max\) \(\d+ bytes pending, learner_output_max 65536\)",
                         err), err[-3000:]
        st = probe.wait_state(lambda st: st["synced_followers"] == 2, deadline, "followers on")
        assert st["learners"] == 2, st
    finally:
        if raw:
            raw.close()
        rc = probe.stop()
        for srv in servers.values():
            srv.stop()
    assert rc == 0, probe.stderr_text()[-3000:]


def test_quorum_lost_and_regained(tmp_path):
    """Both followers killed: the probe's leadership ends ("not sufficient
    followers synced", STOPPED), it frees the port and elects again; the
    followers restarted, it leads epoch 3 (its log, epoch 2 included, is the
    history) and they get what they hold as an empty DIFF; a new txn
    reaches both."""
    deadline = time.monotonic() + DEADLINE_S
    ports, cfg = ensemble([1, 2, 3])
    probe = LeaderProbe(tmp_path / "p3", cfg, True)
    servers = {}
    try:
        probe.wait_event(lambda e: e["event"] == "recovered", deadline, "recovered")
        for sid in (1, 2):
            servers[sid] = start_apache(tmp_path, sid, cfg)
        probe.wait_event(lambda e: e["event"] == "serving", deadline, "serving")
        wait_modes(servers, deadline)
        want = {"/probe": "czk leader"}
        want.update({"/probe/n%d" % i: "v%d" % i for i in range(1, SEED_TXNS)})
        want["/probe/e2"] = "epoch 2"
        last = probe.create("/probe/e2", "epoch 2", deadline)
        probe.wait_state(lambda st: st["committed"] >= last and st["synced_followers"] == 2,
                         deadline, "committed")
        for sid in (1, 2):
            check_tree(servers[sid], want)
        for sid in (1, 2):
            servers[sid].kill()
        stopped = probe.wait_event(lambda e: e["event"] == "stopped", deadline, "stopped")
        assert stopped["reason"] == "not sufficient followers synced", stopped
        with probe.lock:
            seen = len(probe.events)
        for sid in (1, 2):
            servers[sid] = start_apache(tmp_path, sid, cfg, port=servers[sid].port)
        d = probe.wait_event(lambda e: e["event"] == "decided", deadline, "second decision",
                             since=seen)
        assert d["state"] == "LEADING", d
        serving = probe.wait_event(lambda e: e["event"] == "serving", deadline, "serving again",
                                   since=seen)
        assert serving["epoch"] == 3, serving
        modes = wait_modes(servers, deadline)
        assert {s: m for s, (m, _) in modes.items()} == {1: "follower", 2: "follower"}, modes
        for sid in (1, 2):
            ev = probe.wait_event(lambda e, s=sid: e["event"] == "learner_sync" and e["sid"] == s,
                                  deadline, "resync of %d" % sid, since=seen)
            assert ev["reason"] == "DIFF", ev
        zxid = probe.create("/probe/e3", "epoch 3", deadline)
        assert zxid >> 32 == 3, hex(zxid)
        want["/probe/e3"] = "epoch 3"
        for sid in (1, 2):
            check_tree(servers[sid], want)
    finally:
        rc = probe.stop()
        for srv in servers.values():
            srv.stop()
    assert rc == 0, probe.stderr_text()[-3000:]
