# SPDX-License-Identifier: Apache-2.0
"""A zoo.cfg that names an ensemble makes an ensemble member, on czk as on
Apache: alone (its peers not running) it never reaches a quorum and so never
serves a client, where a server that ran alone would acknowledge writes its
peers never see (issue 9, defect 6).  A member needs dataDir/myid.  A config
with one voting server runs standalone on both, as QuorumPeerMain does.
electionPortBindRetry: a member whose election port is taken binds it again
every second, and exits with status 14 once the binds are used up, as
QuorumCnxManager.Listener does."""
import re
import socket
import time

import zkwire
from conftest import HOST, free_port, start_server
from ensemble import make_ensemble  # noqa: F401  (a fixture)


def _ensemble(n, **extra):
    cfg = {"server.%d" % i: "127.0.0.1:%d:%d" % (free_port(), free_port())
           for i in range(1, n + 1)}
    cfg.update(initLimit="10", syncLimit="5")
    cfg.update(extra)
    return cfg


def _with_myid(workdir):
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    (workdir / "data" / "myid").write_text("1\n")
    return workdir


def _refused(workdir, extra):
    srv = start_server("czk", _with_myid(workdir), extra, wait=False)
    try:
        srv.proc.wait(30)
    finally:
        srv.kill()
    text = srv.log_path.read_text(errors="replace")
    assert srv.proc.returncode == 2, text[-3000:]
    assert not (workdir / "data" / "version-2").exists(), "a refused start-up wrote data"
    return text


def _srvr_when_up(srv, deadline):
    out = ""
    while time.monotonic() < deadline:
        assert srv.proc.poll() is None, srv.log_tail()
        try:
            out = zkwire.four_letter(HOST, srv.port, "srvr", timeout=2.0)
        except OSError:
            out = ""
        if out:
            return out
        time.sleep(0.1)
    return out


def _session_refused(port):
    """A ConnectRequest to a member that does not serve: the connection is
    closed without an answer ("ZooKeeperServer not running")."""
    s = socket.create_connection((HOST, port), timeout=5)
    try:
        req = (b"\x00\x00\x00\x00" + b"\x00" * 8 + b"\x00\x00\x75\x30"
               + b"\x00" * 8 + b"\x00\x00\x00\x10" + b"\x00" * 16)
        s.sendall(len(req).to_bytes(4, "big") + req)
        s.settimeout(5)
        return s.recv(64) == b""
    except ConnectionResetError:
        return True
    finally:
        s.close()


def test_lone_member_serves_nothing_on_both(tmp_path):
    """Three server.N lines, one server running: neither Apache nor czk
    reaches a quorum, so neither serves; srvr says so in the same words, and a
    client's session is refused."""
    for kind in ("apache", "czk"):
        srv = start_server(kind, _with_myid(tmp_path / kind), _ensemble(3), wait=False)
        try:
            out = _srvr_when_up(srv, time.monotonic() + 60)
            assert out == "This ZooKeeper instance is not currently serving requests\n", (kind, out)
            assert _session_refused(srv.port), kind
            time.sleep(2 * 2.0)  # still not serving a few ticks later
            assert "not currently serving requests" in zkwire.four_letter(HOST, srv.port, "srvr")
        finally:
            srv.kill()


def test_standalone_disabled_with_one_voter_is_a_member(tmp_path):
    """standaloneEnabled=false: even one server.N line makes a member, which
    leads a quorum of one, on both servers."""
    for kind in ("apache", "czk"):
        srv = start_server(kind, _with_myid(tmp_path / kind),
                           _ensemble(1, standaloneEnabled="false"), wait=False)
        try:
            deadline = time.monotonic() + 60
            out = ""
            while time.monotonic() < deadline and "Mode: leader" not in out:
                out = _srvr_when_up(srv, deadline)
                time.sleep(0.1)
            assert "Mode: leader" in out, (kind, srv.log_tail())
            c = srv.session()
            try:
                assert c.create("/member", b"x")["err"] == 0, kind
            finally:
                c.close()
        finally:
            srv.kill()


def test_member_without_myid_is_refused(tmp_path):
    """A member needs dataDir/myid: a clear error naming the file, exit 2."""
    (tmp_path / "data").mkdir(parents=True)
    srv = start_server("czk", tmp_path, _ensemble(3), wait=False)
    try:
        srv.proc.wait(30)
    finally:
        srv.kill()
    text = srv.log_path.read_text(errors="replace")
    assert srv.proc.returncode == 2, text[-3000:]
    assert "myid" in text and str(tmp_path / "data") in text, text[-2000:]


def test_one_voting_server_runs_standalone(make_server):
    """server.1 alone: QuorumPeerMain runs it standalone (HBase writes such
    files), and so does czk; both take writes."""
    for kind in ("apache", "czk"):
        srv = make_server(kind, _ensemble(1))
        assert "Mode: standalone" in srv.four_letter("srvr"), kind
        c = srv.session()
        try:
            assert c.create("/standalone", b"x")["err"] == 0, kind
        finally:
            c.close()


def test_observer_without_quorum_is_invalid_on_both(tmp_path):
    """One voter and an observer is an invalid file for ZooKeeper
    (parseDynamicConfig): both servers exit with status 2."""
    extra = _ensemble(1)
    extra["server.2"] = "127.0.0.1:%d:%d:observer" % (free_port(), free_port())
    text = _refused(tmp_path / "czk", extra)
    assert "observers without a quorum" in text, text[-2000:]
    srv = start_server("apache", _with_myid(tmp_path / "apache"), extra, wait=False)
    try:
        srv.proc.wait(60)
    finally:
        srv.kill()
    assert srv.proc.returncode == 2
    assert "Observers w/o quorum" in srv.log_path.read_text(errors="replace")


def _hold_port(port):
    """A listening socket on 127.0.0.1:port, as another process would hold it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    s.listen(8)
    return s


def _wait_log(srv, pattern, deadline):
    """The first match of `pattern` in srv's log; fails at the deadline or
    when the process exits without having logged it."""
    while True:
        text = srv.log_path.read_text(errors="replace") if srv.log_path.exists() else ""
        match = re.search(pattern, text)
        if match:
            return match
        assert srv.alive() and time.monotonic() < deadline, (pattern, srv.log_tail(30))
        time.sleep(0.1)


def test_election_port_bind_retry_gives_up_on_both(tmp_path):
    """The election port held by another socket, electionPortBindRetry=2:
    two binds a second apart, a second's pause, then exit status 14
    (ExitCode.UNABLE_TO_BIND_QUORUM_PORT) with the address in the log."""
    wants = {
        "apache": r"Leaving listener thread for address 127\.0\.0\.1:%d after 2 errors",
        "czk": r"election port 127\.0\.0\.1:%d: address already in use: gave up after 2 "
               r"failed binds, 1000 ms apart \(electionPortBindRetry=2",
    }
    for kind, want in wants.items():
        extra = _ensemble(3, electionPortBindRetry="2")
        port = int(extra["server.1"].rsplit(":", 1)[1])
        held = _hold_port(port)
        try:
            srv = start_server(kind, _with_myid(tmp_path / kind), extra, wait=False)
            try:
                srv.proc.wait(60)
            finally:
                srv.kill()
        finally:
            held.close()
        text = srv.log_path.read_text(errors="replace")
        assert srv.proc.returncode == 14, (kind, srv.proc.returncode, text[-3000:])
        assert len(re.findall(want % port, text)) == 1, (kind, text[-3000:])
        if kind == "czk":
            assert "bind attempt 1 of 2" in text and "bind attempt 2 of 2" in text, text[-3000:]
            assert "bind attempt 3" not in text, text[-3000:]


def test_election_port_bind_retry_then_serves(make_ensemble):
    """Member 1's election port is held while 2 and 3 form the ensemble;
    member 1 keeps binding (electionPortBindRetry=30) and, once the port is
    released, listens, joins as a follower and serves reads and writes."""
    ens = make_ensemble(["czk", "czk", "czk"], extra={"electionPortBindRetry": "30"})
    deadline = time.monotonic() + 120
    held = _hold_port(ens.members[1].election_port)
    try:
        ens.start(2)
        ens.start(3)
        ens.wait_modes([2, 3], deadline=deadline)
        srv = ens.start(1)
        # Retrying: the second bind failed too, and member 1 is still up.
        _wait_log(srv, r"address already in use \(bind attempt 2 of 30", deadline)
        assert srv.alive(), srv.log_tail()
    finally:
        held.close()
    _wait_log(srv, r"Election port 127\.0\.0\.1:%d: listening, after \d+ failed binds"
              % ens.members[1].election_port, deadline)
    modes = ens.wait_modes(deadline=deadline)
    assert modes[1] == "follower", modes
    c = ens.client(1)
    c.create("/after-bind-retry", b"x")
    c2 = ens.client(2)
    c2.sync("/after-bind-retry")
    assert c2.get("/after-bind-retry")[0] == b"x"
