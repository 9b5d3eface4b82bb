# SPDX-License-Identifier: Apache-2.0
"""A full disk (issue 4): on a small tmpfs holding dataDir, writes are
refused with SYSTEMERROR (-1) while reads go on and nothing acknowledged is
touched; a new session cannot be created (its createSession is a write);
once space returns, writes resume without a restart; after a restart every
acknowledged write is there and no refused one is. With a small snapCount the
log rolls while the disk is full, so the new log file and the snapshot child
hit ENOSPC too: the snapshot fails, its temporary file goes, the server
carries on."""

import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import czk_binary, fill_disk, kazoo_client, start_server

import zkwire
from kazoo.exceptions import SystemErrorException

DISK = "4m"


@pytest.fixture
def small_disk(tmp_path, tmpfs):
    """A workdir whose data dir is a DISK tmpfs."""
    work = tmp_path / "czk"
    tmpfs(work / "data", DISK)
    servers = []
    yield work, servers
    for s in servers:
        s.stop()


def _wait_snapshots_idle(v2, timeout=10.0):
    deadline = time.monotonic() + timeout
    while list(v2.glob("tmp.snapshot.*")) or not list(v2.glob("snapshot.*")):
        assert time.monotonic() < deadline, sorted(p.name for p in v2.iterdir())
        time.sleep(0.05)


@pytest.mark.parametrize("snap_count", [1000000, 20])
def test_full_disk_refuses_writes_and_recovers(small_disk, snap_count):
    work, servers = small_disk
    cfg = {"preAllocSize": 64, "snapCount": snap_count}
    srv = start_server("czk", work, cfg)
    servers.append(srv)
    v2 = work / "data" / "version-2"
    zk = kazoo_client(srv)
    acked = {}
    zk.create("/d", b"root")
    acked["/d"] = b"root"
    for i in range(30):
        zk.create("/d/k%d" % i, b"v%d" % i)
        acked["/d/k%d" % i] = b"v%d" % i
    zk.set("/d/k0", b"changed")
    acked["/d/k0"] = b"changed"
    if snap_count < 1000:
        # A rolled log gives back its unused preallocation (< preAllocSize
        # plus 4 KB) just before the snapshot starts: with a node larger
        # than that, no snapshot fits in it, and the one taken while the
        # disk is full fails, as this test wants.
        zk.create("/d/large", b"L" * 200000)
        acked["/d/large"] = b"L" * 200000
    raw = srv.conn()
    raw.connect(timeout_ms=30000)
    _wait_snapshots_idle(v2)

    filler = work / "data" / "filler"
    fill_disk(filler)

    # Writes go into the preallocated log until it needs more: then refused.
    refused = []
    for i in range(200):
        path = "/d/f%d" % i
        try:
            zk.create(path, b"x" * 2000)
        except SystemErrorException:
            refused.append(path)
            break
        acked[path] = b"x" * 2000
    assert refused, "no write was refused on a full disk"
    # Every write fails while the disk is full, each with a clear error.
    for j in range(5):
        path = "/d/r%d" % j
        with pytest.raises(SystemErrorException):
            zk.create(path, b"y" * 100)
        refused.append(path)
    with pytest.raises(SystemErrorException):
        zk.set("/d/k1", b"never")
    with pytest.raises(SystemErrorException):
        zk.delete("/d/k2")
    # Reads go on and see exactly what was acknowledged.
    assert zk.get("/d/k1")[0] == b"v1"
    assert zk.get("/d/k0")[0] == b"changed"
    assert zk.exists("/d/k2") is not None
    children = set(zk.get_children("/d"))
    assert children == {p.rsplit("/", 1)[1] for p in acked if p != "/d"}
    # Pipelined on one session: the refused writes answer -1 with no body,
    # in order, and the read between them runs.
    x1 = raw.send_request(zkwire.OP["create"], zkwire.enc_create("/d/p1", b"p"))
    x2 = raw.send_request(zkwire.OP["getData"], zkwire.enc_path_watch("/d/k3"))
    x3 = raw.send_request(zkwire.OP["setData"], zkwire.enc_set_data("/d/k3", b"q"))
    r1, r2, r3 = raw.read_reply(), raw.read_reply(), raw.read_reply()
    assert (r1["xid"], r1["err"]) == (x1, -1) and "trailing" not in r1, r1
    assert (r2["xid"], r2["err"], r2.get("data")) == (x2, 0, b"v3"), r2
    assert (r3["xid"], r3["err"]) == (x3, -1), r3
    refused.append("/d/p1")
    # A new session is a write too: no session, the connection is closed.
    c = srv.conn()
    c.send_frame(zkwire.enc_connect(timeout_ms=10000))
    assert c.wait_closed(5.0), "a new session was answered on a full disk"
    assert c.log == []
    c.close()

    assert srv.alive()
    log = Path(srv.log_path).read_text(errors="replace")
    assert "disk full writing " + str(v2) in log, log[-3000:]
    assert "writes fail until space returns" in log
    if snap_count < 1000:
        # the log rolled while full: the snapshot child failed and cleaned up
        deadline = time.monotonic() + 10
        while "Writing snapshot" not in Path(srv.log_path).read_text(errors="replace"):
            assert time.monotonic() < deadline, srv.log_tail()
            time.sleep(0.05)
        _wait_gone(v2, "tmp.snapshot.*")
        assert "failed" in Path(srv.log_path).read_text(errors="replace").split(
            "Writing snapshot")[-1].splitlines()[0]

    # Space returns: the next write succeeds, without a restart.
    filler.unlink()
    zk.create("/d/after", b"a")
    acked["/d/after"] = b"a"
    zk.set("/d/k1", b"v1b")
    acked["/d/k1"] = b"v1b"
    assert raw.set_data("/d/k3", b"q2")["err"] == 0
    acked["/d/k3"] = b"q2"
    zk2 = kazoo_client(srv)
    zk2.create("/d/after2", b"b")
    acked["/d/after2"] = b"b"
    zk2.stop()
    zk.stop()
    raw.close()
    assert "Writing the txn log again" in Path(srv.log_path).read_text(errors="replace")

    # Restart: every acknowledged write, no refused one.
    srv.stop()
    assert srv.proc.returncode == 0, srv.log_tail()
    logdump = Path(czk_binary()).parent / "czk-logdump"
    if logdump.exists():
        out = subprocess.run([str(logdump)] + [str(p) for p in sorted(v2.glob("log.*"))],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    srv = start_server("czk", work, cfg)
    servers.append(srv)
    zk = kazoo_client(srv)
    try:
        for path, data in acked.items():
            assert zk.get(path)[0] == data, path
        for path in refused:
            assert zk.exists(path) is None, path
        assert zk.exists("/d/k2") is not None
    finally:
        zk.stop()


def _wait_gone(v2, pattern, timeout=10.0):
    deadline = time.monotonic() + timeout
    while list(v2.glob(pattern)):
        assert time.monotonic() < deadline, sorted(p.name for p in v2.iterdir())
        time.sleep(0.05)


def test_full_disk_refuses_the_rest_of_a_batch_after_a_roll(small_disk):
    """A burst of pipelined creates spans a log roll (snapCount=20: a log
    file holds at most 20 txns) while the disk is full: the txns that fit in
    the current file's preallocated space are written and acknowledged, the
    new file cannot be created, and every txn from there on is refused (-1)
    -- never an acknowledged one after a refused one.  After space returns
    and a restart, exactly the acknowledged creates exist."""
    work, servers = small_disk
    cfg = {"preAllocSize": 64, "snapCount": 20}
    srv = start_server("czk", work, cfg)
    servers.append(srv)
    v2 = work / "data" / "version-2"
    _wait_snapshots_idle(v2)
    raw = srv.conn()
    raw.connect(timeout_ms=30000)      # createSession: the first txn of a new log file
    sid, passwd = raw.session_id, raw.passwd
    filler = work / "data" / "filler"
    fill_disk(filler)

    burst = []
    frames = []
    for i in range(45):
        xid = raw.next_xid()
        raw.pending[xid] = zkwire.OP["create"]
        frames.append(zkwire.frame(struct.pack(">ii", xid, zkwire.OP["create"]) +
                                   zkwire.enc_create("/b%02d" % i, b"v")))
        burst.append(xid)
    raw.send_raw(b"".join(frames))     # one write: the server preps them in one batch
    errs = []
    for xid in burst:
        r = raw.read_reply()
        assert r["xid"] == xid, r
        errs.append(r["err"])
    acked = [i for i, e in enumerate(errs) if e == 0]
    assert set(errs) <= {0, -1}, errs
    assert acked, "nothing fitted in the current log file: %r" % errs
    assert len(acked) < len(errs), "no create was refused after the roll: %r" % errs
    assert acked == list(range(len(acked))), "an acknowledged txn after a refused one: %r" % errs
    assert len(acked) <= 20, errs      # no more than one file's worth
    raw.close()
    log = Path(srv.log_path).read_text(errors="replace")
    assert "disk full writing " + str(v2) in log, log[-3000:]

    filler.unlink()
    srv.stop()
    assert srv.proc.returncode == 0, srv.log_tail()
    srv = start_server("czk", work, cfg)
    servers.append(srv)
    c = srv.conn()
    assert c.connect(30000, session_id=sid, passwd=passwd)["sessionId"] == sid
    for i in range(45):
        r = c.exists("/b%02d" % i)
        assert r["err"] == (0 if i in acked else zkwire.NONODE), (i, r, errs)
    c.close()
