# SPDX-License-Identifier: Apache-2.0
"""Issue 10, first piece: czk's peer-port codec (src/proto/quorum.h,
election.h) against a real Apache ZooKeeper 3.8.0 ensemble.

Three Apache servers run with a four-voter zoo.cfg; server 4 is this test,
a fake peer whose bytes are encoded and decoded by czk's codec through the
`peerwire` CLI (tests/integration/peerwire.c).  Being a voter with the
highest sid, Apache keeps its election connections, logs the notifications
it parses from it, and answers them.

  election port: the header Apache sends when it dials server 4 decodes to
    its sid and election address; Apache parses our header and notification
    (its log shows our values) and answers with its current vote, which our
    decoder reads as: the state `srvr` reports, the leader, zxid and round
    the other servers logged from it during the election, the epoch of its
    currentEpoch file, and the config /zookeeper/config holds.
  quorum port:   FOLLOWERINFO + LearnerInfo from our encoder make the leader
    answer LEADERINFO, whose zxid carries its acceptedEpoch file; after our
    ACKEPOCH it starts the sync with a packet whose zxid is its `srvr` Zxid.

With CZK_CAPTURE_GOLDEN=DIR the bytes and the expected lines (built from
Apache's side, not from our decoder) are written to DIR, which is how
tests/golden/quorum/ was made (see its README.md)."""
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

from kazoo.client import KazooClient

import zkwire
from conftest import HOST, czk_binary, free_port, start_server, wait_modes

FAKE_SID = 4
DEADLINE_S = 120.0


def peerwire(*args):
    exe = os.environ.get("CZK_PEERWIRE") or str(Path(czk_binary()).parent / "tests" / "peerwire")
    p = subprocess.run([exe] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, "peerwire %s: %s %s" % (args[0], p.stdout, p.stderr)
    return p.stdout.strip()


def printable(text):
    """A string as zk_print_str shows it."""
    out = []
    for ch in text.encode():
        if 0x20 <= ch < 0x7f and ch not in (0x22, 0x5c):
            out.append(chr(ch))
        else:
            out.append("\\x%02x" % ch)
    return '"' + "".join(out) + '"'


def recv_exact(sock, n, deadline):
    data = b""
    while len(data) < n:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("peer closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


class HeaderCatcher:
    """Listens on server 4's election port: Apache servers (lower sids) dial
    it, send their header and hang up, since the higher sid must dial."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.captures = []
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            data = b""
            deadline = time.monotonic() + 5
            try:
                while time.monotonic() < deadline:
                    conn.settimeout(0.5)
                    try:
                        chunk = conn.recv(4096)
                    except socket.timeout:
                        continue
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            conn.close()
            self.captures.append(data)

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


def logged_vote(servers, sid):
    """The last notification from `sid` that the other servers logged:
    (state, leader, zxid, round, peerEpoch), as Apache printed them."""
    pat = re.compile(r"Notification: my state:\w+; n\.sid:%d, n\.state:(\w+), n\.leader:(\d+), "
                     r"n\.round:0x([0-9a-f]+), n\.peerEpoch:0x([0-9a-f]+), n\.zxid:0x([0-9a-f]+)"
                     % sid)
    last = None
    for other, srv in servers.items():
        if other == sid:
            continue
        for m in pat.finditer(log_text(srv)):
            last = (int(m.group(2)), int(m.group(5), 16), int(m.group(3), 16),
                    int(m.group(4), 16))
    return last


def log_text(srv):
    """The server's log so far; "" until it exists (a JVM under load may
    not have opened its log4j file yet when the test first looks)."""
    try:
        return Path(srv.log_path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def wait_log(srv, needle, deadline):
    while time.monotonic() < deadline:
        if needle in log_text(srv):
            return True
        time.sleep(0.1)
    return False


def capture_dir():
    d = os.environ.get("CZK_CAPTURE_GOLDEN")
    if not d:
        return None
    Path(d).mkdir(parents=True, exist_ok=True)
    return Path(d)


def save(cdir, name, data, expect_lines):
    if cdir is None:
        return
    (cdir / (name + ".hex")).write_text(data.hex() + "\n")
    (cdir / (name + ".expect")).write_text("".join(line + "\n" for line in expect_lines))


def test_apache_ensemble_speaks_our_peer_wire(tmp_path):
    deadline = time.monotonic() + DEADLINE_S
    cdir = capture_dir()
    ports = {sid: (free_port(), free_port()) for sid in range(1, FAKE_SID + 1)}
    cfg = {"server.%d" % sid: "%s:%d:%d" % (HOST, q, e) for sid, (q, e) in ports.items()}
    cfg.update(initLimit="10", syncLimit="5")
    catcher = HeaderCatcher(ports[FAKE_SID][1])
    servers = {}
    try:
        for sid in (1, 2, 3):
            wd = tmp_path / ("s%d" % sid)
            (wd / "data").mkdir(parents=True)
            (wd / "data" / "myid").write_text("%d\n" % sid)
            servers[sid] = start_server("apache", wd, cfg, wait=False)
        modes = wait_modes(servers, deadline)
        leader = [s for s, (m, _) in modes.items() if m == "leader"]
        assert len(leader) == 1, modes
        leader = leader[0]

        # What the ensemble's config is, as Apache serves it to clients.
        kz = KazooClient(hosts=servers[leader].hostport, timeout=20)
        kz.start(timeout=30)
        try:
            config_text = kz.get("/zookeeper/config")[0].decode()
            kz.create("/peer-wire", b"x")
        finally:
            kz.stop()
            kz.close()
        assert "server.%d=" % FAKE_SID in config_text, config_text

        # -- election port, Apache -> us: the header of a lower sid dialling sid 4
        while time.monotonic() < deadline and len(catcher.captures) == 0:
            time.sleep(0.05)
        assert catcher.captures, "no Apache server dialled server 4's election port"
        seen = {}
        for data in catcher.captures:
            out = peerwire("decode-header", data.hex()).splitlines()
            m = re.match(r"\{election_header protocol_version=(-?\d+) sid=(\d+) ", out[0])
            assert m, out
            seen.setdefault(int(m.group(2)), (data, out))
        for sid, (data, out) in seen.items():
            expect = ['{election_header protocol_version=-65536 sid=%d addresses="%s:%d"}'
                      % (sid, HOST, ports[sid][1]), "rest 0"]
            assert out == expect, (data.hex(), out)
        first = min(seen)
        save(cdir, "election-header-from-apache", seen[first][0], seen[first][1])

        # -- election port, us -> Apache: our header and a LOOKING notification
        target = min(s for s in servers if s != leader)
        our_config = "\n".join("server.%d=%s:%d:%d:participant" % (sid, HOST, q, e)
                               for sid, (q, e) in ports.items()) + "\nversion=abc"
        hello = bytes.fromhex(peerwire("header", -65536, FAKE_SID,
                                       "%s:%d" % (HOST, ports[FAKE_SID][1])))
        note = bytes.fromhex(peerwire("notification", 0, FAKE_SID, 0x1234, 0x77, 0x5,
                                      our_config.encode().hex()))
        sent = hello + note
        with socket.create_connection((HOST, ports[target][1]), timeout=10) as s:
            s.sendall(sent)
            # Apache's log of what it parsed from our bytes.
            needle = ("n.sid:%d, n.state:LOOKING, n.leader:%d, n.round:0x77, n.peerEpoch:0x5, "
                      "n.zxid:0x1234, message format version:0x2, n.config version:0xabc"
                      % (FAKE_SID, FAKE_SID))
            assert wait_log(servers[target], needle, deadline), servers[target].log_tail()
            save(cdir, "election-to-apache", sent, [
                '{election_header protocol_version=-65536 sid=%d addresses="%s:%d"}'
                % (FAKE_SID, HOST, ports[FAKE_SID][1]),
                "{notification state=0 leader=%d zxid=4660 election_epoch=119 peer_epoch=5 "
                "version=2 config=%s}" % (FAKE_SID, printable(our_config)),
                "rest 0"])
            assert peerwire("decode-connection", sent.hex()).splitlines()[-1] == "rest 0"

            # Apache answers with its current vote (maybe after a stale LOOKING
            # notification it had queued for sid 4 during its own election).
            got = b""
            answer = None
            while answer is None:
                n = int.from_bytes(recv_exact(s, 4, deadline), "big")
                got += n.to_bytes(4, "big") + recv_exact(s, n, deadline)
                lines = peerwire("decode-election", got.hex()).splitlines()
                assert lines[-1] == "rest 0", lines
                if "{notification state=0 " not in lines[-2]:
                    answer = lines[-2]
        state = {"leader": 2, "follower": 1}[modes[target][0]]
        vote = logged_vote(servers, target)
        assert vote is not None, "no notification of server %d in the logs" % target
        v_leader, v_zxid, v_round, v_looking_epoch = vote
        assert v_leader == leader
        # Once it follows or leads, the vote carries the new epoch
        # (QuorumPeer.updateElectionVote), which is its currentEpoch file.
        v_epoch = int((Path(servers[target].datadir) / "version-2" / "currentEpoch")
                      .read_text().strip())
        expect_answer = ("{notification state=%d leader=%d zxid=%d election_epoch=%d peer_epoch=%d "
                         "version=2 config=%s}"
                         % (state, v_leader, v_zxid, v_round, v_epoch, printable(config_text)))
        assert answer == expect_answer, (answer, expect_answer)
        # A notification queued for sid 4 while the target was still looking is
        # its final proposal, as the other servers logged it.
        stale = lines[:-2]
        looking = ("{notification state=0 leader=%d zxid=%d election_epoch=%d peer_epoch=%d "
                   "version=2 config=%s}"
                   % (v_leader, v_zxid, v_round, v_looking_epoch, printable(config_text)))
        assert all(line == looking for line in stale), (stale, looking)
        save(cdir, "election-from-apache", got, stale + [expect_answer, "rest 0"])

        # -- quorum port: FOLLOWERINFO, LEADERINFO, ACKEPOCH, the first sync packet
        accepted = int((Path(servers[leader].datadir) / "version-2" / "acceptedEpoch")
                       .read_text().strip())
        zxid_hex = re.search(r"Zxid: 0x([0-9a-f]+)", zkwire.four_letter(
            HOST, servers[leader].port, "srvr")).group(1)
        leader_zxid = int(zxid_hex, 16)
        info = peerwire("learnerinfo", FAKE_SID, 0x10000, 0)
        followerinfo = bytes.fromhex(peerwire("packet", 11, 0, info))
        ackepoch = bytes.fromhex(peerwire("packet", 18, 0, peerwire("i32", 0)))
        with socket.create_connection((HOST, ports[leader][0]), timeout=10) as s:
            s.sendall(followerinfo)
            # LEADERINFO: 4 + 8 + (4 + 4) + 4 bytes
            leaderinfo = recv_exact(s, 24, deadline)
            lines = peerwire("decode-quorum", leaderinfo.hex()).splitlines()
            li_line = ("{quorum_packet type=17 zxid=%d data=#00010000 authinfo=null}"
                       % (accepted << 32))
            assert lines == [li_line, "rest 0"], (lines, accepted)
            s.sendall(ackepoch)
            # DIFF or SNAP without data: 20 bytes (a SNAP's body follows unframed)
            first = recv_exact(s, 20, deadline)
            lines = peerwire("decode-quorum", first.hex()).splitlines()
        m = re.match(r"\{quorum_packet type=(\d+) zxid=(\d+) data=null authinfo=null\}", lines[0])
        assert m and lines[1] == "rest 0", lines
        sync_type = int(m.group(1))
        assert sync_type in (13, 15), lines  # DIFF or SNAP
        assert int(m.group(2)) == leader_zxid, (lines, hex(leader_zxid))
        save(cdir, "quorum-to-apache-leader", followerinfo + ackepoch, [
            "{quorum_packet type=11 zxid=0 data=#%s authinfo=null}" % info,
            "{quorum_packet type=18 zxid=0 data=#00000000 authinfo=null}", "rest 0"])
        save(cdir, "quorum-from-apache-leader", leaderinfo + first, [
            li_line, "{quorum_packet type=%d zxid=%d data=null authinfo=null}"
            % (sync_type, leader_zxid), "rest 0"])
    finally:
        catcher.close()
        for srv in servers.values():
            srv.stop()
