# SPDX-License-Identifier: Apache-2.0
"""Issue 9, defect 6: a zoo.cfg that names an ensemble must never run as a
lone server that acknowledges writes on its own (three such servers would be
three diverging databases).  Until czk has an ensemble it refuses to start
(exit code 2); Apache, alone with the same file, serves nothing either.  A
config with one voting server runs standalone on both, as QuorumPeerMain
does."""
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


def test_czk_refuses_three_server_config(tmp_path):
    text = _refused(tmp_path, _ensemble(3))
    assert "server.N: 3 voting servers" in text, text[-2000:]
    assert "refusing to start" in text


def test_czk_refuses_two_voters_and_an_observer(tmp_path):
    extra = _ensemble(2)
    extra["server.3"] = "127.0.0.1:%d:%d:observer" % (free_port(), free_port())
    text = _refused(tmp_path, extra)
    assert "2 voting servers" in text, text[-2000:]


def test_czk_refuses_standalone_disabled(tmp_path):
    text = _refused(tmp_path, _ensemble(1, standaloneEnabled="false"))
    assert "standaloneEnabled=false" in text, text[-2000:]


def test_apache_alone_in_ensemble_serves_nothing(tmp_path):
    """The oracle for the refusal: Apache with the same three-server file and
    no peers never reaches a quorum, so it serves no client."""
    srv = start_server("apache", _with_myid(tmp_path), _ensemble(3), wait=False)
    try:
        deadline = time.monotonic() + 60
        out = ""
        while time.monotonic() < deadline:
            assert srv.proc.poll() is None, srv.log_tail()
            try:
                out = zkwire.four_letter(HOST, srv.port, "srvr", timeout=2.0)
            except OSError:
                out = ""
            if out:
                break
            time.sleep(0.1)
        assert "not currently serving requests" in out, out
        # Still not serving a few ticks later.
        time.sleep(2 * 2.0)
        assert "not currently serving requests" in zkwire.four_letter(HOST, srv.port, "srvr")
    finally:
        srv.kill()


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
