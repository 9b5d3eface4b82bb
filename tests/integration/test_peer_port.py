# SPDX-License-Identifier: Apache-2.0
"""Issue 10: czk's election-port connections (src/node/peer_port.c) with a
live Apache ZooKeeper 3.8.0 ensemble, and against bad input.

`peerport_probe` (tests/integration/peerport_probe.c, $CZK_PEERPORT_PROBE)
is one voter of a four-voter ensemble whose three other voters are Apache.
It sends a LOOKING notification every second (a vote that cannot win: zxid
-1), prints every notification it receives, decoded, and its counters when
stopped.  Run twice:
  probe = sid 4 (highest): Apache's lower sids dial it, send their header
    and hang up; the probe dials them back and keeps those connections.
  probe = sid 2 between Apache's 1, 3, 4: it keeps the connection it dials
    to 1, and the ones 3 and 4 dial to it.
Asserted: each Apache server's answer decodes to its actual vote (`srvr`
state, leader, zxid and round from the other servers' logs, currentEpoch,
/zookeeper/config), exactly one established connection between the probe
and each Apache server (from /proc, by the probe's pid), the probe's own
counters agree, and each Apache log shows our notification with our values.

test_bad_input needs no Apache: raw sockets play the other members."""
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

from kazoo.client import KazooClient

from conftest import HOST, czk_binary, free_port, start_server, wait_modes
from ensemble import make_ensemble  # noqa: F401  (a fixture)
from test_peer_wire import logged_vote, printable, wait_log

DEADLINE_S = 120.0
V1 = -65536


def probe_binary():
    return (os.environ.get("CZK_PEERPORT_PROBE")
            or str(Path(czk_binary()).parent / "tests" / "peerport_probe"))


class Probe:
    """peerport_probe as a process; its stdout lines are collected by a thread."""

    def __init__(self, workdir, sid, eports, extra=()):
        args = [probe_binary(), "--sid", str(sid), "--duration-ms", "300000",
                "--resend-ms", "1000", "--zxid", "-1", "--round", "1", "--peer-epoch", "0"]
        for s, port in sorted(eports.items()):
            args += ["--member", "%d:%s:%d" % (s, HOST, port)]
        args += list(extra)
        self.sid = sid
        self.err_path = Path(workdir) / ("probe-%d.err" % sid)
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.pid = self.proc.pid
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def wait_line(self, pred, deadline, what):
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "probe died: %s" % self.stderr_tail()
            for line in self.snapshot():
                if pred(line):
                    return line
            time.sleep(0.05)
        raise AssertionError("probe never printed %s; last lines %s\n%s"
                             % (what, self.snapshot()[-10:], self.stderr_tail()))

    def stderr_tail(self, n=40):
        self.err.flush()
        return "\n".join(self.err_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self):
        """SIGTERM by pid: the probe prints its counters and exits."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.thread.join(10)
        self.err.close()
        return self.proc.returncode

    def counters(self):
        out = {}
        for line in self.snapshot():
            m = re.match(r"peer sid=(\d+) (.*)", line)
            if m:
                out[int(m.group(1))] = {k: int(v) for k, v in
                                        (kv.split("=") for kv in m.group(2).split())}
        return out


def socket_inodes(pid):
    inodes = set()
    fd_dir = Path("/proc/%d/fd" % pid)
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(int(m.group(1)))
    return inodes


def tcp_entries():
    """(local_port, remote_port, inode) of every ESTABLISHED TCP socket."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "01":
                continue
            out.append((int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16),
                        int(f[9])))
    return out


def probe_connections(probe_pid, pids_by_sid):
    """sid -> the number of established connections between the probe and it."""
    mine = socket_inodes(probe_pid)
    owner = {}
    for sid, pid in pids_by_sid.items():
        for ino in socket_inodes(pid):
            owner[ino] = sid
    entries = tcp_entries()
    by_local = {}
    for lport, rport, ino in entries:
        by_local.setdefault(lport, []).append((rport, ino))
    counts = {sid: 0 for sid in pids_by_sid}
    other = 0
    for lport, rport, ino in entries:
        if ino not in mine:
            continue
        peer = [owner[i] for rp, i in by_local.get(rport, []) if rp == lport and i in owner]
        if peer:
            counts[peer[0]] += 1
        else:
            other += 1
    return counts, other


def notification_line(state, leader, zxid, round_, peer_epoch, config):
    return ("{notification state=%d leader=%d zxid=%d election_epoch=%d peer_epoch=%d "
            "version=2 config=%s}" % (state, leader, zxid, round_, peer_epoch, printable(config)))


def run_with_apache(tmp_path, probe_sid, apache_sids):
    deadline = time.monotonic() + DEADLINE_S
    sids = sorted(apache_sids + [probe_sid])
    ports = {sid: (free_port(), free_port()) for sid in sids}
    eports = {sid: e for sid, (q, e) in ports.items()}
    cfg = {"server.%d" % sid: "%s:%d:%d" % (HOST, q, e) for sid, (q, e) in ports.items()}
    cfg.update(initLimit="10", syncLimit="5")
    # Started first, so that Apache meets it during its own election.
    probe = Probe(tmp_path, probe_sid, eports)
    servers = {}
    try:
        probe.wait_line(lambda l: l.startswith("listening "), deadline, "listening")
        for sid in apache_sids:
            wd = tmp_path / ("s%d" % sid)
            (wd / "data").mkdir(parents=True)
            (wd / "data" / "myid").write_text("%d\n" % sid)
            servers[sid] = start_server("apache", wd, cfg, wait=False)
        modes = wait_modes(servers, deadline)
        leader = [s for s, (m, _) in modes.items() if m == "leader"]
        assert len(leader) == 1, modes
        leader = leader[0]
        kz = KazooClient(hosts=servers[leader].hostport, timeout=20)
        kz.start(timeout=30)
        try:
            config_text = kz.get("/zookeeper/config")[0].decode()
        finally:
            kz.stop()
            kz.close()

        # Each Apache server answers our LOOKING notification with its vote.
        for sid, srv in servers.items():
            state = {"leader": 2, "follower": 1}[modes[sid][0]]
            vote = logged_vote(servers, sid)
            assert vote is not None, "no notification of server %d in the logs" % sid
            v_leader, v_zxid, v_round, _ = vote
            assert v_leader == leader
            epoch = int((Path(srv.datadir) / "version-2" / "currentEpoch").read_text().strip())
            want = "recv sid=%d %s" % (sid, notification_line(state, v_leader, v_zxid, v_round,
                                                              epoch, config_text))
            probe.wait_line(lambda l, w=want: l == w, deadline, want)

        # Apache parsed ours: its log shows our values.
        needle = ("n.sid:%d, n.state:LOOKING, n.leader:%d, n.round:0x1, n.peerEpoch:0x0, "
                  "n.zxid:0xffffffffffffffff, message format version:0x2, n.config version:0x0"
                  % (probe_sid, probe_sid))
        for sid, srv in servers.items():
            assert wait_log(srv, needle, deadline), (sid, srv.log_tail())

        # Exactly one established connection per pair, seen from the kernel.
        pids = {sid: srv.pid for sid, srv in servers.items()}
        while True:
            counts, other = probe_connections(probe.pid, pids)
            if all(n == 1 for n in counts.values()) and other == 0:
                break
            assert time.monotonic() < deadline, (counts, other, probe.stderr_tail())
            time.sleep(0.2)
        # ... and it stays so over a few resends.
        for _ in range(5):
            time.sleep(0.4)
            counts, other = probe_connections(probe.pid, pids)
            assert all(n == 1 for n in counts.values()) and other == 0, (counts, other)
    finally:
        rc = probe.stop()
        for srv in servers.values():
            srv.stop()
    assert rc == 0, (rc, probe.stderr_tail())
    assert probe.snapshot()[-1] == "done", probe.snapshot()[-5:]
    got = probe.counters()
    for sid in apache_sids:
        c = got[sid]
        # The higher sid owns the pair's connection.
        assert c["connected"] == 1 and c["incoming"] == (1 if sid > probe_sid else 0), (sid, c)
        assert c["received"] >= 1 and c["sent"] >= 1, (sid, c)
    assert "rejected 0" in probe.snapshot(), (probe.snapshot()[-6:], probe.stderr_tail())
    assert "ERROR" not in probe.err_path.read_text(), probe.stderr_tail()


def test_probe_highest_sid(tmp_path):
    run_with_apache(tmp_path, 4, [1, 2, 3])


def test_probe_between_apache_sids(tmp_path):
    run_with_apache(tmp_path, 2, [1, 3, 4])


# ---- bad input, with raw sockets as the other members ----

def header(sid, addr, version=V1):
    a = addr.encode()
    return struct.pack(">qqi", version, sid, len(a)) + a


def notification(state, leader, zxid, round_, peer_epoch, config=b"version=0"):
    body = struct.pack(">iqqqqii", state, leader, zxid, round_, peer_epoch, 2, len(config)) + config
    return struct.pack(">i", len(body)) + body


def recv_exact(sock, n, deadline):
    data = b""
    while len(data) < n:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def wait_closed(sock, deadline):
    """Reads (and drops) until the probe closes the connection."""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            pass
    return False


def read_notification(sock, deadline):
    n = struct.unpack(">i", recv_exact(sock, 4, deadline))[0]
    body = recv_exact(sock, n, deadline)
    state, leader, zxid, round_, peer_epoch = struct.unpack(">iqqqq", body[:36])
    return state, leader, zxid, round_, peer_epoch


def accept(listener, deadline):
    listener.settimeout(max(0.05, deadline - time.monotonic()))
    conn, _ = listener.accept()
    return conn


def test_bad_input(tmp_path):
    deadline = time.monotonic() + 60
    eports = {sid: free_port() for sid in (1, 2, 3, 4)}
    listeners = {}
    for sid in (1, 3):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, eports[sid]))
        s.listen(8)
        listeners[sid] = s
    probe = Probe(tmp_path, 2, eports, ["--header-timeout-ms", "1500"])
    our_header = header(2, "%s:%d" % (HOST, eports[2]))
    opened = []
    rejected = 0
    try:
        probe.wait_line(lambda l: l.startswith("listening "), deadline, "listening")
        # sid 1 (lower): the probe dials it, sends its header, keeps it and
        # sends its notification there.
        one = accept(listeners[1], deadline)
        opened.append(one)
        assert recv_exact(one, len(our_header), deadline) == our_header
        assert read_notification(one, deadline) == (0, 2, -1, 1, 0)
        # sid 3 (higher): the probe sends its header and hangs up, for 3 to dial.
        poke = accept(listeners[3], deadline)
        opened.append(poke)
        assert recv_exact(poke, len(our_header), deadline) == our_header
        assert wait_closed(poke, deadline)

        def bad(data, why):
            nonlocal rejected
            s = socket.create_connection((HOST, eports[2]), timeout=5)
            opened.append(s)
            s.sendall(data)
            assert wait_closed(s, deadline), why
            rejected += 1

        bad(struct.pack(">q", -5) + b"garbage!" * 4, "unknown protocol version")
        bad(b"\xff" * 64, "garbage")
        bad(struct.pack(">qqi", V1, 3, 100000), "address length above 2048")
        bad(struct.pack(">qqi", V1, 3, 0), "address length 0")
        bad(struct.pack(">qqi", V1, 3, -7), "negative address length")
        bad(header(3, "no-port-here"), "badly formed address")
        bad(header(2, "%s:1" % HOST), "our own sid")
        bad(header(9, "%s:1" % HOST), "not a member")
        bad(struct.pack(">qqi", V1, 3, 100) + b"127.0.", "truncated header: header timeout")
        # A kept connection (3 > 2) that then sends a huge or empty length.
        for length in (0x7fffffff, 512 * 1024 + 1, 0, -1):
            s = socket.create_connection((HOST, eports[2]), timeout=5)
            opened.append(s)
            s.sendall(header(3, "%s:%d" % (HOST, eports[3])))
            # The probe's queued notification (or its last one) comes first.
            assert read_notification(s, deadline) == (0, 2, -1, 1, 0)
            s.sendall(struct.pack(">i", length) + b"x" * 16)
            assert wait_closed(s, deadline), length
            rejected += 1

        # A lower sid dialling in: closed, and the probe drops its own
        # connection to 1 (1 thinks it has none) and dials 1 again.
        s = socket.create_connection((HOST, eports[2]), timeout=5)
        opened.append(s)
        s.sendall(header(1, "%s:%d" % (HOST, eports[1])))
        assert wait_closed(s, deadline)
        assert wait_closed(one, deadline)
        one = accept(listeners[1], deadline)
        opened.append(one)
        assert recv_exact(one, len(our_header), deadline) == our_header
        assert read_notification(one, deadline) == (0, 2, -1, 1, 0)

        # The probe still works: sid 4 dials in and is heard; a second
        # connection from 4 replaces the first.
        four = socket.create_connection((HOST, eports[2]), timeout=5)
        opened.append(four)
        four.sendall(header(4, "%s:%d" % (HOST, eports[4])) + notification(0, 4, 7, 3, 1))
        want = "recv sid=4 {notification state=0 leader=4 zxid=7 election_epoch=3 peer_epoch=1"
        probe.wait_line(lambda l: l.startswith(want), deadline, want)
        assert read_notification(four, deadline) == (0, 2, -1, 1, 0)
        four2 = socket.create_connection((HOST, eports[2]), timeout=5)
        opened.append(four2)
        four2.sendall(header(4, "%s:%d" % (HOST, eports[4])) + notification(1, 3, 8, 4, 2))
        want2 = "recv sid=4 {notification state=1 leader=3 zxid=8 election_epoch=4 peer_epoch=2"
        probe.wait_line(lambda l: l.startswith(want2), deadline, want2)
        assert wait_closed(four, deadline)
        # A new connection with nothing queued gets the last message again.
        assert read_notification(four2, deadline) == (0, 2, -1, 1, 0)
    finally:
        rc = probe.stop()
        for s in opened + list(listeners.values()):
            s.close()
    assert rc == 0, (rc, probe.stderr_tail())
    lines = probe.snapshot()
    assert lines[-1] == "done", lines[-5:]
    assert "rejected %d" % rejected in lines, (rejected, lines[-6:], probe.stderr_tail())
    c = probe.counters()[4]
    assert c["connected"] == 1 and c["incoming"] == 1 and c["kept"] == 2, c
    err = probe.err_path.read_text()
    assert "ERROR" not in err and "runtime error" not in err, err


# ---- servers of another ensemble that reuse our sids ----

def count_lines(srv, needle):
    return sum(needle in line for line in srv.log_path.read_text(errors="replace").splitlines())


def wait_count(srv, needle, n, deadline):
    while count_lines(srv, needle) < n:
        assert time.monotonic() < deadline, (needle, n, srv.log_tail(30))
        time.sleep(0.1)


def test_foreign_peers_refused(make_ensemble, tmp_path):
    """Issue 10, "a peer from another ensemble" and "a duplicate sid": a
    three-member czk ensemble serves; two czk-servers of another ensemble
    (each with its own three-member zoo.cfg) claim its sids: "3", whose
    server.1 line is member 1's real address, dials member 1 (a higher sid:
    kept by the receiver, Apache's rule); "1", whose server.3 is member 3's,
    pokes member 3 (a lower sid: Apache closes its own connection to sid 1
    and dials the poker back at the address its header names).  Apache 3.8
    lets both displace the real member's election connection and counts
    their votes as that sid's.  czk refuses both (the real member is
    connected and names the address our server.N line has), logs each
    once, keeps the real connections; the ensemble keeps its leader and its
    data and commits writes through every member."""
    deadline = time.monotonic() + DEADLINE_S
    ens = make_ensemble(["czk", "czk", "czk"])
    ens.start_all()
    modes = ens.wait_modes(deadline=deadline)
    leader = [s for s, m in modes.items() if m == "leader"][0]
    c = ens.client()
    c.create("/before", b"1")
    kept = {1: "Election connection from sid 3 (", 3: "Election connection to sid 1 ("}

    def counts():
        return {sid: count_lines(ens.server(sid), needle) for sid, needle in kept.items()}

    # The members' own connections settle first (a poke in flight when the
    # peer's dial arrives replaces a connection once, at start-up).
    kept_before, since = counts(), time.monotonic()
    while time.monotonic() - since < 1.0:
        assert time.monotonic() < deadline, kept_before
        time.sleep(0.1)
        now = counts()
        if now != kept_before:
            kept_before, since = now, time.monotonic()
    foreign = []
    try:
        for fsid, target in ((3, 1), (1, 3)):
            wd = tmp_path / ("foreign%d" % fsid)
            (wd / "data").mkdir(parents=True)
            (wd / "data" / "myid").write_text("%d\n" % fsid)
            cfg = {"tickTime": "500", "initLimit": "10", "syncLimit": "5"}
            for s in (1, 2, 3):
                m = ens.members[target]
                cfg["server.%d" % s] = ("%s:%d:%d" % (HOST, m.quorum_port, m.election_port)
                                        if s == target else
                                        "%s:%d:%d" % (HOST, free_port(), free_port()))
            foreign.append(start_server("czk", wd, cfg, wait=False))
        refusal = ("refused: it names election address 127.0.0.1:%d, but sid %d is connected "
                   "already")
        wants = {1: refusal % (int(foreign[0].cfg["server.3"].rsplit(":", 1)[1]), 3),
                 3: refusal % (int(foreign[1].cfg["server.1"].rsplit(":", 1)[1]), 1)}
        # Each foreign server dials again and again (the back-off doubles
        # from 100 ms; "3" logs each connection it keeps, then its close;
        # "1" pokes 3 on the same schedule, at DEBUG), and each refusal is
        # logged once.
        wait_count(foreign[0], "Election connection to sid 1 (", 8, deadline)
        for f in foreign:
            assert f.alive(), f.log_tail()
        for sid, want in wants.items():
            text = ens.server(sid).log_path.read_text(errors="replace")
            assert text.count(want) == 1, (sid, want, ens.server(sid).log_tail(30))
            assert count_lines(ens.server(sid), "(logged once)") == 1, ens.server(sid).log_tail()
        # The real connections stayed (none replaced, none dropped).
        for sid, needle in kept.items():
            srv = ens.server(sid)
            assert count_lines(srv, needle) == kept_before[sid], (sid, srv.log_tail(30))
        # The ensemble keeps its leader and data, and commits writes.
        assert ens.wait_modes(deadline=deadline) == modes
        for sid in (1, 2, 3):
            cs = ens.client(sid)
            cs.create("/after-%d" % sid, b"x")
            cs.sync("/")
            assert cs.get("/before")[0] == b"1"
        assert ens.modes() == modes and modes[leader] == "leader"
    finally:
        for f in foreign:
            f.stop()
    for sid in (1, 2, 3):
        cs = ens.client(sid)
        cs.sync("/")
        assert sorted(cs.get_children("/")) == ["after-1", "after-2", "after-3", "before",
                                                "zookeeper"], sid
