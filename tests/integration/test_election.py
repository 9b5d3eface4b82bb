# SPDX-License-Identifier: Apache-2.0
"""Issue 10: czk's fast leader election on the election port
(src/node/elector.c over src/zab/fle.c and src/node/peer_port.c) with live
Apache ZooKeeper 3.8.0 peers, and czk members alone.

`election_probe` (tests/integration/election_probe.c, $CZK_ELECTION_PROBE)
is one member: it reads zoo.cfg and dataDir/myid, runs the election, prints
each decision as a JSON line and keeps answering until stopped.  It has no
quorum port: when it wins, Apache members that follow it cannot connect and
go back to LOOKING (expected; the tests assert on the election's decision,
then stop everything; b. holds them with a silent listener on that port).

  a. probe sid 1 + Apache 2, 3, equal zxids: all agree on leader 3; the
     probe follows 3 with Apache's round and zxid; Apache forms its quorum.
  b. probe sid 1 with a higher zxid and epoch than Apache's fresh 2, 3: the
     probe wins (LEADING); both Apache members decide to follow it (their
     logs: FOLLOWING, a connect to the probe's quorum port).
  c. late joiner: Apache 2, 3 established first, then the probe (sid 1, a
     better vote than theirs) follows leader 3 through their FOLLOWING/
     LEADING answers (checkLeader, outofelection); Apache is undisturbed.
  d. three probes alone: they agree on the best (epoch, zxid, sid); the
     leader is killed; the two left re-elect the better of them.

The members' ports, zoo.cfg files and myids come from ensemble.Ensemble
(slots of kind None are the probes).  Every process is stopped by its pid;
waits have deadlines."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from conftest import HOST, czk_binary
from ensemble import make_ensemble  # noqa: F401  (a fixture)
from test_peer_wire import log_text, logged_vote, wait_log

DEADLINE_S = 120.0


class SilentPort:
    """A listener on 127.0.0.1:port that accepts connections and never
    writes: a leader that has not answered FOLLOWERINFO yet."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, port))
        self.sock.listen(8)
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)
        for c in self.conns:
            c.close()
# tickTime 2000, initLimit 5, syncLimit 2: the probe's and Apache's zoo.cfg.
ENSEMBLE_CFG = {"tick_ms": 2000, "init_limit": 5, "sync_limit": 2}


def probe_binary():
    return (os.environ.get("CZK_ELECTION_PROBE")
            or str(Path(czk_binary()).parent / "tests" / "election_probe"))


class ElectionProbe:
    """election_probe as a process, member `sid` (a slot of kind None) of
    the Ensemble `ens`; its JSON lines are collected by a thread."""

    def __init__(self, ens, sid, zxid=0, epoch=0, leader_loss_ms=0):
        cfg_path = ens.write_member(sid)
        workdir = ens.members[sid].workdir
        self.sid = sid
        self.err_path = workdir / "probe.err"
        self.err = open(self.err_path, "w")
        args = [probe_binary(), str(cfg_path), "--zxid", str(zxid), "--epoch", str(epoch),
                "--duration-ms", "300000", "--leader-loss-ms", str(leader_loss_ms)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.pid = self.proc.pid
        self.events = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.events.append(json.loads(line))

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def stderr_tail(self, n=30):
        self.err.flush()
        return "\n".join(self.err_path.read_text(errors="replace").splitlines()[-n:])

    def wait_event(self, pred, deadline, what):
        while time.monotonic() < deadline:
            for ev in self.snapshot():
                if pred(ev):
                    return ev
            assert self.proc.poll() is None, "probe %d died: %s" % (self.sid, self.stderr_tail())
            time.sleep(0.05)
        raise AssertionError("probe %d never printed %s; events %s\n%s"
                             % (self.sid, what, self.snapshot()[-6:], self.stderr_tail()))

    def decision(self, deadline, election=1):
        return self.wait_event(lambda e: e["event"] == "decided" and e["election"] == election,
                               deadline, "decision %d" % election)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.thread.join(10)
        self.err.close()
        return self.proc.returncode

    def check_clean_exit(self, rc):
        assert rc == 0, (rc, self.stderr_tail())
        evs = self.snapshot()
        assert evs and evs[-1]["event"] == "done", evs[-3:]
        assert evs[-1]["rejected"] == 0, evs[-1]
        err = self.err_path.read_text(errors="replace")
        assert "ERROR" not in err and "runtime error" not in err, err[-3000:]
        return evs[-1]


def wait_any_log(servers, needle, deadline):
    """Whether some server's log shows `needle` before the deadline."""
    while time.monotonic() < deadline:
        for srv in servers:
            if needle in log_text(srv):
                return True
        time.sleep(0.1)
    return False


def stop_all(probes, ens):
    """Stop the probes, then the Apache members; the probes' exit statuses."""
    rcs = {p.sid: p.stop() for p in probes}
    ens.stop_all()
    return rcs


def modes_of(ens, deadline):
    return ens.wait_modes(deadline=deadline)


def test_probe_follows_apache_leader(make_ensemble):
    """a. sid 1 with Apache's zxid: the highest sid, Apache's 3, leads."""
    deadline = time.monotonic() + DEADLINE_S
    ens = make_ensemble([None, "apache", "apache"], **ENSEMBLE_CFG)
    probe = ElectionProbe(ens, 1, zxid=0, epoch=0)
    try:
        probe.wait_event(lambda e: e["event"] == "listening", deadline, "listening")
        # 3 first: with 2 first, 2 and the probe are a quorum without 3 and
        # elect 2 (as Apache would) whenever 3's JVM starts late.
        ens.start(3)
        d = probe.decision(deadline)
        assert d["state"] == "FOLLOWING" and d["leader"] == 3, d
        ens.start(2)
        modes = modes_of(ens, deadline)
        assert modes[3] == "leader" and modes[2] == "follower", modes
        servers = ens.servers()
        # The vote Apache 3 sends (as 2 logged it) is the one the probe ended with.
        while True:
            vote = logged_vote(servers, 3)
            if vote is not None:
                break
            assert time.monotonic() < deadline, servers[2].log_tail()
            time.sleep(0.1)
        v_leader, v_zxid, v_round, _ = vote
        assert (d["leader"], d["zxid"], d["electionEpoch"]) == (v_leader, v_zxid, v_round), \
            (d, vote)
        assert d["peerEpoch"] == 0, d
        # Apache counted the probe: its log shows our notification.
        needle = "n.sid:1, n.state:LOOKING, n.leader:1, n.round:0x1, n.peerEpoch:0x0, n.zxid:0x0"
        assert wait_any_log(servers.values(), needle, deadline)
        # Decided, the probe still answers: a restarted Apache 2 (LOOKING)
        # hears FOLLOWING, leader 3 from it.
        answer = "n.sid:1, n.state:FOLLOWING, n.leader:3"
        before = log_text(servers[2]).count(answer)
        restarted = ens.restart(2)
        while log_text(restarted).count(answer) <= before:
            assert time.monotonic() < deadline, restarted.log_tail()
            time.sleep(0.1)
        modes = modes_of(ens, deadline)
        assert modes[3] == "leader" and modes[2] == "follower", modes
        assert probe.snapshot()[-1]["event"] == "decided", probe.snapshot()[-3:]
    finally:
        rcs = stop_all([probe], ens)
    done = probe.check_clean_exit(rcs[1])
    assert done["state"] == "FOLLOWING" and done["leader"] == 3, done
    assert done["peers"]["2"]["connected"] == 1 and done["peers"]["3"]["connected"] == 1, done


def test_probe_with_higher_zxid_wins(make_ensemble):
    """b. sid 1 with epoch 1, zxid 0x100000005 against fresh Apache data:
    the vote order is (epoch, zxid, sid), so sid 1 is elected."""
    deadline = time.monotonic() + DEADLINE_S
    # A follower whose leader's quorum port refuses it looks again after
    # 5 tries (~5 s); if the other member's JVM came up later than that, the
    # two would rightly elect 3 without ever following the probe. So the
    # probe's quorum port accepts and stays silent: each Apache follower waits
    # initLimit (60 s) for LEADERINFO, far longer than any JVM start.
    ens = make_ensemble([None, "apache", "apache"],
                        **dict(ENSEMBLE_CFG, init_limit=30))
    silent = SilentPort(ens.members[1].quorum_port)
    zxid = 0x100000005
    probe = ElectionProbe(ens, 1, zxid=zxid, epoch=1)
    try:
        probe.wait_event(lambda e: e["event"] == "listening", deadline, "listening")
        ens.start_all([2, 3])
        servers = ens.servers()
        d = probe.decision(deadline)
        assert d["state"] == "LEADING" and d["leader"] == 1, d
        assert (d["zxid"], d["peerEpoch"]) == (zxid, 1), d
        # Apache's election chose the probe: each member logs FOLLOWING and
        # then connects to the probe's quorum port (which never answers).
        for sid, srv in servers.items():
            assert wait_log(srv, "n.sid:1, n.state:LOOKING, n.leader:1", deadline), srv.log_tail()
            assert wait_log(srv, "FOLLOWING", deadline), (sid, srv.log_tail())
            assert wait_log(srv, "127.0.0.1:%d" % ens.members[1].quorum_port, deadline), \
                (sid, srv.log_tail())
            text = log_text(srv)
            assert "LEADING" not in re.findall(r"- (LEADING|FOLLOWING)\b", text), text[-3000:]
    finally:
        rcs = stop_all([probe], ens)
        silent.close()
    done = probe.check_clean_exit(rcs[1])
    assert done["state"] == "LEADING", done


def test_late_joiner_follows_established_leader(make_ensemble):
    """c. Apache 2, 3 lead and follow; the probe arrives later with a better
    vote and still follows 3, as their FOLLOWING/LEADING answers say."""
    deadline = time.monotonic() + DEADLINE_S
    ens = make_ensemble([None, "apache", "apache"], **ENSEMBLE_CFG)
    ens.start_all([2, 3])
    probe = None
    try:
        modes = modes_of(ens, deadline)
        assert modes[3] == "leader" and modes[2] == "follower", modes
        epoch3 = int((ens.members[3].datadir / "version-2" / "currentEpoch").read_text())
        zxid = ((epoch3 + 4) << 32) | 5
        probe = ElectionProbe(ens, 1, zxid=zxid, epoch=epoch3 + 4)
        d = probe.decision(deadline)
        assert d["state"] == "FOLLOWING" and d["leader"] == 3, d
        # The end vote is the leader's (the established epoch), not ours.
        assert d["peerEpoch"] == epoch3, (d, epoch3)
        # Apache went on as it was.
        modes2 = modes_of(ens, deadline)
        assert modes2 == {3: "leader", 2: "follower"}, modes2
        for srv in ens.servers().values():
            assert wait_log(srv, "n.sid:1, n.state:LOOKING, n.leader:1", deadline), srv.log_tail()
    finally:
        rcs = stop_all([probe] if probe else [], ens)
    done = probe.check_clean_exit(rcs[1])
    assert done["state"] == "FOLLOWING" and done["leader"] == 3, done


def test_czk_members_elect_and_reelect(make_ensemble):
    """d. Three probes: 1 and 2 hold zxid 0x100000009, 3 holds 0x100000003,
    all epoch 1: 2 wins (zxid, then sid). Kill 2: 1 and 3 elect 1."""
    deadline = time.monotonic() + DEADLINE_S
    ens = make_ensemble([None, None, None], **ENSEMBLE_CFG)
    zxids = {1: 0x100000009, 2: 0x100000009, 3: 0x100000003}
    probes = {}
    try:
        # 2 first: 1 and 3 alone are a quorum and would rightly elect 1 if
        # 2 came up late (a slow exec under load).
        for sid in (2, 1, 3):
            probes[sid] = ElectionProbe(ens, sid, zxid=zxids[sid], epoch=1,
                                        leader_loss_ms=1000)
            if sid == 2:
                probes[2].wait_event(lambda e: e["event"] == "listening", deadline, "listening")
        first = {sid: p.decision(deadline) for sid, p in probes.items()}
        assert {d["leader"] for d in first.values()} == {2}, first
        assert first[2]["state"] == "LEADING", first
        assert first[1]["state"] == first[3]["state"] == "FOLLOWING", first
        assert {(d["zxid"], d["peerEpoch"], d["electionEpoch"]) for d in first.values()} == \
            {(0x100000009, 1, first[2]["electionEpoch"])}, first
        rc = probes[2].stop(signal.SIGKILL)
        assert rc == -signal.SIGKILL, rc
        second = {sid: probes[sid].decision(deadline, election=2) for sid in (1, 3)}
        assert second[1]["state"] == "LEADING" and second[1]["leader"] == 1, second
        assert second[3]["state"] == "FOLLOWING" and second[3]["leader"] == 1, second
        assert second[1]["electionEpoch"] == second[3]["electionEpoch"], second
        for sid in (1, 3):
            lost = [e for e in probes[sid].snapshot() if e["event"] == "leader_lost"]
            assert [e["leader"] for e in lost] == [2], lost
    finally:
        rcs = stop_all(list(probes.values()), ens)
    for sid in (1, 3):
        probes[sid].check_clean_exit(rcs[sid])


def test_raw_peer_and_bad_messages(make_ensemble):
    """No Apache: a raw socket plays sid 3. The probe's notifications carry
    the /zookeeper/config text of its zoo.cfg; bodies that do not decode are
    skipped and counted; a valid vote from 3 makes a quorum (1 and 3) for 3."""
    import socket
    import struct
    deadline = time.monotonic() + 60
    ens = make_ensemble([None, None, None], **ENSEMBLE_CFG)
    probe = ElectionProbe(ens, 1, zxid=0, epoch=0)
    s = None
    try:
        probe.wait_event(lambda e: e["event"] == "listening", deadline, "listening")
        s = socket.create_connection((HOST, ens.members[1].election_port), timeout=10)
        addr = ("%s:%d" % (HOST, ens.members[3].election_port)).encode()
        s.sendall(struct.pack(">qqi", -65536, 3, len(addr)) + addr)

        def recv_exact(n):
            data = b""
            while len(data) < n:
                chunk = s.recv(n - len(data))
                assert chunk, "probe closed the connection"
                data += chunk
            return data

        n = struct.unpack(">i", recv_exact(4))[0]
        body = recv_exact(n)
        state, leader, zxid, round_, peer_epoch, version, clen = struct.unpack(">iqqqqii",
                                                                                body[:44])
        assert (state, leader, zxid, round_, peer_epoch, version) == (0, 1, 0, 1, 0, 2)
        want = "".join("server.%d=%s:%d:%d:participant\n" % (sid, HOST, m.quorum_port,
                                                              m.election_port)
                       for sid, m in sorted(ens.members.items())) + "version=0"
        assert body[44:44 + clen].decode() == want, body
        # A body too short for any layout, and one with state 7.
        s.sendall(struct.pack(">i", 10) + b"x" * 10)
        bad = struct.pack(">iqqqqii", 7, 3, 0, 1, 0, 2, 9) + b"version=0"
        s.sendall(struct.pack(">i", len(bad)) + bad)
        good = struct.pack(">iqqqqii", 0, 3, 0, 1, 0, 2, 9) + b"version=0"
        s.sendall(struct.pack(">i", len(good)) + good)
        d = probe.decision(deadline)
        assert d["state"] == "FOLLOWING" and d["leader"] == 3 and d["electionEpoch"] == 1, d
    finally:
        rc = probe.stop()
        if s:
            s.close()
    done = probe.check_clean_exit(rc)
    assert done["skipped"] == 2, done


def test_probe_refuses_ensemble_without_init_limit(make_ensemble):
    """QuorumPeerConfig.checkValidity: a replicated config needs initLimit."""
    ens = make_ensemble([None, None, None], **ENSEMBLE_CFG, extra={"initLimit": None})
    cfg_path = ens.write_member(1)
    assert "initLimit" not in cfg_path.read_text()
    r = subprocess.run([probe_binary(), str(cfg_path)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "initLimit is not set" in r.stderr, (r.returncode, r.stderr)
