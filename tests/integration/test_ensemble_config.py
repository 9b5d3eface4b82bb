# SPDX-License-Identifier: Apache-2.0
"""A zoo.cfg that names an ensemble makes an ensemble member, on czk as on
Apache: alone (its peers not running) it never reaches a quorum and so never
serves a client, where a server that ran alone would acknowledge writes its
peers never see (issue 9, defect 6).  A member needs dataDir/myid.  A config
with one voting server runs standalone on both, as QuorumPeerMain does."""
import socket
import time

import zkwire
from conftest import HOST, free_port, start_server


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
