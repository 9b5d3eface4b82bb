# SPDX-License-Identifier: Apache-2.0
"""Durability: czk's data dir is ZooKeeper's (Apache 3.8 reads what czk
wrote and czk reads what Apache wrote, with ZooKeeper's own formatters as a
third reader); acknowledged writes survive kill -9 under pipelined load;
a torn log tail is cut with a warning; damage before the tail stops
start-up with a message naming the file and offset and changes nothing."""

import gzip
import os
import random
import re
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import APACHE_CLASSPATH, kazoo_client, start_refused, start_server

from kazoo.security import ACL, Id, make_digest_acl

JAVA_CP = APACHE_CLASSPATH + ":/usr/share/java/commons-cli.jar"


def _populate(c):
    """Writes of every kind; returns the session id of the ephemeral's owner."""
    c.create("/t", b"top")
    c.create("/t/a", b"a" * 500)
    for i in range(3):
        c.set("/t/a", b"v%d" % i)
    c.create("/t/empty", b"")
    c.create("/t/seq-", b"s", sequence=True)
    c.create("/t/seq-", b"s", sequence=True)
    c.create("/t/ro", b"r", acl=[ACL(1, Id("world", "anyone"))])
    c.create("/t/dig", b"d", acl=[make_digest_acl("user", "pw", all=True),
                                  ACL(1, Id("ip", "127.0.0.1"))])
    c.create("/t/gone", b"")
    c.delete("/t/gone")
    c.create("/t/deep/er/est", b"x", makepath=True)
    c.set_acls("/t/empty", [ACL(31, Id("world", "anyone"))])
    t = c.transaction()
    t.create("/t/m1", b"1")
    t.create("/t/m2", b"2")
    t.commit()
    c.create("/t/eph", b"e", ephemeral=True)
    for i in range(40):
        c.create("/t/many%02d" % i, b"%d" % i)
    return c.client_id[0]


def _walk(c, root="/t"):
    out = {}
    stack = [root]
    while stack:
        p = stack.pop()
        data, stat = c.get(p)
        acls, _ = c.get_acls(p)
        out[p] = (data, tuple(stat), sorted((a.perms, a.id.scheme, a.id.id) for a in acls))
        for ch in c.get_children(p):
            stack.append(p.rstrip("/") + "/" + ch)
    return out


def _digest_auth(c):
    c.add_auth("digest", "user:pw")


def _formatters_read(workdir):
    v2 = Path(workdir) / "data" / "version-2"
    snaps = sorted(v2.glob("snapshot.*"), key=lambda p: int(p.name.split(".")[1], 16))
    assert snaps, list(v2.iterdir())
    out = subprocess.run(["java", "-cp", JAVA_CP, "org.apache.zookeeper.server.SnapshotFormatter",
                          str(snaps[-1])], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Exception" not in out.stdout + out.stderr, out
    assert "ZNode Details" in out.stdout and "Last zxid" in out.stdout
    for log in sorted(v2.glob("log.*")):
        out = subprocess.run(["java", "-cp", JAVA_CP,
                              "org.apache.zookeeper.server.persistence.TxnLogToolkit", str(log)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out
        assert "Exception" not in out.stdout + out.stderr, out
        assert "EOF reached after" in out.stdout, out


def _logdump_reads(workdir):
    """czk-logdump checks every file of the data dir, whoever wrote it."""
    from conftest import czk_binary
    tool = Path(czk_binary()).parent / "czk-logdump"
    assert tool.exists(), "czk-logdump is built next to czk-server"
    # everything in version-2, as `czk-logdump version-2/*`: logs,
    # snapshots (compressed too) and the epoch files
    files = sorted(str(p) for p in (Path(workdir) / "data" / "version-2").iterdir())
    out = subprocess.run([str(tool)] + files, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out
    assert "checksums good" in out.stdout
    if any(f.endswith("/currentEpoch") for f in files):
        assert re.search(r"/currentEpoch: epoch \d+", out.stdout), out.stdout
    out = subprocess.run([str(tool), "--json", "--path", "/t/a"] + files, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out
    assert '"setData"' in out.stdout or '"path":"/t/a"' in out.stdout, out.stdout


def _write_tree(kind, tmp_path, extra=None, jvm_props=None):
    """Server `kind` on tmp_path gets _populate's tree and is killed without
    a closeSession (the ephemeral's session must survive). Returns the
    stopped server and the tree as _walk saw it."""
    srv = start_server(kind, tmp_path, extra=extra, jvm_props=jvm_props)
    try:
        c = kazoo_client(srv)
        _digest_auth(c)
        owner = _populate(c)
        before = _walk(c)
        assert before["/t/eph"][1][7] == owner
        srv.kill()
        c.stop()
        c.close()
    finally:
        srv.kill()
    return srv, before


def _serves_tree(kind, tmp_path, port, before):
    """Server `kind` started on tmp_path serves exactly `before`. Returns it
    still running (the caller stops it)."""
    srv = start_server(kind, tmp_path, port=port)
    try:
        d = kazoo_client(srv)
        _digest_auth(d)
        assert _walk(d) == before
        d.stop()
        d.close()
    except BaseException:
        srv.stop()
        raise
    return srv


@pytest.mark.parametrize("writer,reader", [("czk", "apache"), ("apache", "czk")])
def test_cross_read(tmp_path, writer, reader):
    """The same tree (paths, data, ACLs, Stats, the ephemeral and its session)
    served after the other server wrote the data dir."""
    srv, before = _write_tree(writer, tmp_path, {"snapCount": 30})
    if writer == "czk":
        _formatters_read(tmp_path)
    _logdump_reads(tmp_path)
    srv2 = _serves_tree(reader, tmp_path, srv.port, before)
    try:
        d = kazoo_client(srv2)
        _digest_auth(d)
        # it goes on writing after the last zxid
        d.create("/t/after", b"")
        assert d.exists("/t/after").czxid > max(v[1][1] for v in before.values())
        d.stop()
        d.close()
    finally:
        srv2.stop()


def _last_log(workdir):
    v2 = Path(workdir) / "data" / "version-2"
    logs = sorted(v2.glob("log.*"), key=lambda p: int(p.name.split(".")[1], 16))
    return logs


def _records(data):
    """Offsets of the records of a log file and the end of the last one."""
    off, offs = 16, []
    while off + 12 <= len(data):
        (n,) = struct.unpack(">i", data[off + 8:off + 12])
        if n <= 0 or off + 13 + n > len(data):
            break
        offs.append(off)
        off += 13 + n
    return offs, off


@pytest.mark.parametrize("method", ["gz", "snappy"])
def test_reads_apache_compressed_snapshots(tmp_path, method):
    """Apache 3.8 with zookeeper.snapshot.compression.method writes
    snapshot.<zxid>.gz / .snappy (every snapshot, the start-up one too); czk
    started on that data dir serves the same tree, and czk-logdump checks
    the compressed files."""
    srv, before = _write_tree("apache", tmp_path, {"snapCount": 30},
                              jvm_props={"zookeeper.snapshot.compression.method": method})
    v2 = tmp_path / "data" / "version-2"
    snaps = sorted(p.name for p in v2.glob("snapshot.*"))
    assert snaps and all(n.endswith("." + method) for n in snaps), snaps
    _logdump_reads(tmp_path)
    srv2 = _serves_tree("czk", tmp_path, srv.port, before)
    srv2.stop()
    text = Path(srv2.log_path).read_text()
    assert re.search(r"snapshot\.[0-9a-f]+\.%s: \d+ bytes uncompressed" % method, text), text


def _wait_snapshots_written(srv, timeout=60.0):
    """Every snapshot czk's log says this run started is written (or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        text = Path(srv.log_path).read_text(errors="replace")
        text = text[text.rindex("Reading configuration from"):]   # this run's lines
        started = text.count("Creating new snapshot 0x")
        done = len(re.findall(r"Snapshot 0x[0-9a-f]+ written|Writing snapshot 0x[0-9a-f]+ failed",
                              text))
        if done >= started:
            return
        assert time.monotonic() < deadline, srv.log_tail()
        time.sleep(0.05)


@pytest.mark.parametrize("reader", ["apache", "czk"])
def test_writes_gz_snapshots(tmp_path, reader):
    """snapshot.compression.method=gz in zoo.cfg: czk's snapshots are
    snapshot.<zxid>.gz (gzip of the plain bytes, as GZIPOutputStream writes
    them), which Apache 3.8 (whatever its own setting) and czk read back.
    The logs are removed first, so the tree can only come from a snapshot."""
    cfg = {"snapCount": 30, "snapshot.compression.method": "gz"}
    srv, before = _write_tree("czk", tmp_path, cfg)
    srv = start_server("czk", tmp_path, extra=cfg, port=srv.port)   # snapshots what it loaded
    _wait_snapshots_written(srv)   # a kill -9 takes the snapshot child with it
    srv.kill()
    v2 = tmp_path / "data" / "version-2"
    snaps = sorted(p.name for p in v2.glob("snapshot.*"))
    assert snaps and all(n.endswith(".gz") for n in snaps), snaps
    _logdump_reads(tmp_path)
    for p in v2.glob("log.*"):
        p.unlink()
    _serves_tree(reader, tmp_path, srv.port, before).stop()


def _write_keys(tmp_path, count=20, extra=None, crash=True):
    """czk on tmp_path with /k0../k<count-1> = b"0".., then stopped (kill -9
    when `crash`). Returns the stopped server and its last zxid."""
    srv = start_server("czk", tmp_path, extra)
    c = kazoo_client(srv)
    for i in range(count):
        c.create("/k%d" % i, b"%d" % i)
    c.stop()
    c.close()
    last = _server_zxid(srv)
    if crash:
        srv.kill()
    else:
        srv.stop()
    return srv, last


def _check_keys(srv, count=20):
    """Every /k<i> of _write_keys is there; a write after them succeeds."""
    d = kazoo_client(srv)
    try:
        for i in range(count):
            assert d.get("/k%d" % i)[0] == b"%d" % i
        d.create("/after", b"a")
    finally:
        d.stop()
        d.close()


def test_torn_tail_is_cut(tmp_path):
    srv, _ = _write_keys(tmp_path)
    log = [p for p in _last_log(tmp_path) if len(_records(p.read_bytes())[0]) > 0][-1]
    data = bytearray(log.read_bytes())
    offs, end = _records(bytes(data))
    # a partial record after the last one: length 256, a few bytes of it
    data[end:end + 20] = struct.pack(">qi", 12345, 256) + b"partial!"
    log.write_bytes(bytes(data))
    srv2 = start_server("czk", tmp_path, port=srv.port)
    try:
        _check_keys(srv2)
    finally:
        srv2.stop()
    text = Path(srv2.log_path).read_text()
    assert re.search(r"%s: torn tail at offset %d" % (re.escape(str(log)), end), text), text
    assert log.stat().st_size == end


def _server_zxid(srv):
    """The last zxid, from `srvr` (Zxid: 0x...)."""
    m = re.search(r"Zxid: 0x([0-9a-f]+)", srv.four_letter("srvr"))
    assert m
    return int(m.group(1), 16)


def test_odd_files_in_version2(tmp_path):
    """What a crash, an operator or another program can leave in version-2:
    the log file the server rolled to, created but never written (all zeros:
    nothing in it was acknowledged) is removed with a warning; a zero-filled
    newest snapshot is skipped for the older one; names that are not
    log.<hex>/snapshot.<hex> are ignored.  Every write is still there."""
    srv, last = _write_keys(tmp_path)
    v2 = tmp_path / "data" / "version-2"
    zeros = v2 / ("log.%x" % (last + 1))
    zeros.write_bytes(bytes(64 * 1024))
    (v2 / ("snapshot.%x" % (last + 1))).write_bytes(bytes(4096))
    (v2 / "README").write_text("notes\n")
    (v2 / "snapshot.old").write_bytes(b"x")
    (v2 / "log.1.bak").write_bytes(b"y")
    srv2 = start_server("czk", tmp_path, port=srv.port)
    try:
        _check_keys(srv2)
    finally:
        srv2.stop()
    text = Path(srv2.log_path).read_text()
    assert "%s holds only zeros (65536 bytes)" % zeros in text, text
    assert "problem reading snap file: %s/snapshot.%x" % (v2, last + 1) in text, text
    # the new session and /after went to a new log of the same name
    assert zeros.read_bytes()[:4] == b"ZKLG"
    assert (v2 / "README").exists() and (v2 / "log.1.bak").exists()


def test_zero_log_in_the_middle_refuses_to_start(tmp_path):
    """A zero-filled log that is not the newest, or does not start right
    after the last txn recovered, may have held acknowledged txns: refuse."""
    srv, last = _write_keys(tmp_path, 1)
    v2 = tmp_path / "data" / "version-2"
    gap = v2 / ("log.%x" % (last + 5))
    gap.write_bytes(bytes(64 * 1024))
    text = start_refused(tmp_path, srv.port)
    assert "%s is damaged at offset 0" % gap in text, text[-2000:]


def test_missing_log_file_refuses_to_start(tmp_path):
    """zxids of one epoch have no holes, so a log file missing between the
    snapshot and the next log is lost data: refuse, name the hole, change
    nothing (ZooKeeper 3.8 replays what is there and serves the rest)."""
    srv, _ = _write_keys(tmp_path, 120, {"snapCount": 20}, crash=False)
    v2 = tmp_path / "data" / "version-2"
    for p in v2.glob("snapshot.*"):
        if p.name != "snapshot.0":
            p.unlink()
    logs = sorted(v2.glob("log.*"), key=lambda p: int(p.name.split(".")[1], 16))
    assert len(logs) >= 3, logs
    logs[1].unlink()
    text = start_refused(tmp_path, srv.port)
    first_missing = int(logs[1].name.split(".")[1], 16)
    assert "%s: cannot apply the record at offset 16: txn 0x%x follows 0x%x: the txns between " \
        "them are in no log file" % (logs[2], int(logs[2].name.split(".")[1], 16),
                                     first_missing - 1) in text, text[-2000:]


def test_damage_before_tail_refuses_to_start(tmp_path):
    srv, _ = _write_keys(tmp_path, crash=False)
    log = [p for p in _last_log(tmp_path) if len(_records(p.read_bytes())[0]) > 5][-1]
    data = bytearray(log.read_bytes())
    offs, _ = _records(bytes(data))
    data[offs[3] + 30] ^= 0x55
    log.write_bytes(bytes(data))
    text = start_refused(tmp_path, srv.port)
    assert "%s is damaged at offset %d" % (log, offs[3]) in text, text


def test_crash_keeps_acknowledged_writes(tmp_path):
    """Pipelined creates and setDatas, kill -9 at a random moment, restart:
    every acknowledged write is there, with its data and version."""
    rng = random.Random(int(os.environ.get("CZK_CRASH_SEED", "0")) or None)
    extra = {"snapCount": 200, "preAllocSize": 256}
    srv = start_server("czk", tmp_path, extra=extra)
    port = srv.port
    c = kazoo_client(srv)
    c.create("/c", b"")
    c.create("/c/ctr", b"0")
    c.stop()
    c.close()
    acked = set()
    ctr_acked = 0
    for rnd in range(5):
        c = kazoo_client(srv)
        stop = threading.Event()
        lock = threading.Lock()
        state = {"ctr": ctr_acked}

        def writer(rnd=rnd, c=c):
            i = 0
            while not stop.is_set():
                batch = []
                for _ in range(50):
                    p = "/c/r%d-%06d" % (rnd, i)
                    i += 1
                    batch.append((p, c.create_async(p, p.encode())))
                k = state["ctr"] + 1
                setter = c.set_async("/c/ctr", b"%d" % k)
                try:
                    for p, a in batch:
                        a.get(timeout=10)
                        with lock:
                            acked.add(p)
                    setter.get(timeout=10)
                    state["ctr"] = k
                except Exception:
                    return

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(rng.uniform(0.3, 1.5))
        srv.kill()
        stop.set()
        t.join(15)
        with lock:
            snapshot_acked = set(acked)
        ctr_acked = state["ctr"]
        try:
            c.stop()
            c.close()
        except Exception:
            pass
        srv = start_server("czk", tmp_path, extra=extra, port=port)
        d = kazoo_client(srv)
        have = set("/c/" + ch for ch in d.get_children("/c"))
        missing = snapshot_acked - have
        assert not missing, "round %d: %d acknowledged creates lost, e.g. %s" % (
            rnd, len(missing), sorted(missing)[:5])
        for p in rng.sample(sorted(snapshot_acked), min(50, len(snapshot_acked))):
            assert d.get(p)[0] == p.encode()
        data, stat = d.get("/c/ctr")
        assert stat.version >= ctr_acked and data == b"%d" % stat.version, (stat, ctr_acked)
        ctr_acked = stat.version
        d.stop()
        d.close()
    srv.stop()
    assert len(acked) > 100


def test_purge_keeps_what_recovery_needs(tmp_path):
    """czk-server --purge DIR -n 3 (zkCleanup.sh) keeps the 3 newest
    snapshots and the logs after the oldest of them; the server still
    recovers everything."""
    from conftest import czk_binary
    srv = start_server("czk", tmp_path, extra={"snapCount": 10, "preAllocSize": 64})
    c = kazoo_client(srv)
    for i in range(120):
        c.create("/p%d" % i, b"%d" % i)
        if i % 10 == 0:
            time.sleep(0.03)   # let each snapshot child finish
    c.stop()
    c.close()
    srv.stop()
    v2 = tmp_path / "data" / "version-2"
    snaps = sorted(int(p.name.split(".")[1], 16) for p in v2.glob("snapshot.*"))
    assert len(snaps) > 4, snaps
    # compressed snapshots count as snapshots (ZooKeeper's purge sorts them
    # by zxid whatever the suffix): the oldest and the newest become .gz
    for z in (snaps[0], snaps[-1]):
        plain = v2 / ("snapshot.%x" % z)
        (v2 / ("snapshot.%x.gz" % z)).write_bytes(gzip.compress(plain.read_bytes()))
        plain.unlink()
    out = subprocess.run([czk_binary(), "--purge", str(tmp_path / "data"), "-n", "3"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out
    left = sorted(int(p.name.split(".")[1], 16) for p in v2.glob("snapshot.*"))
    assert left == snaps[-3:]
    assert (v2 / ("snapshot.%x.gz" % snaps[-1])).exists()
    logs = sorted(int(p.name.split(".")[1], 16) for p in v2.glob("log.*"))
    assert logs and logs[0] <= left[0]
    srv2 = start_server("czk", tmp_path, port=srv.port)
    try:
        d = kazoo_client(srv2)
        for i in range(120):
            assert d.get("/p%d" % i)[0] == b"%d" % i
        d.stop()
        d.close()
    finally:
        srv2.stop()
    assert "snapshot.%x.gz: " % snaps[-1] in Path(srv2.log_path).read_text()


def test_restored_session_expires(tmp_path):
    """A session restored at start-up whose client never comes back expires
    after its timeout, and its ephemeral goes with it."""
    srv = start_server("czk", tmp_path)
    c = kazoo_client(srv, timeout=4.0)
    c.create("/eph", b"", ephemeral=True)
    srv.kill()
    try:
        c.stop()
        c.close()
    except Exception:
        pass
    srv2 = start_server("czk", tmp_path, port=srv.port)
    try:
        d = kazoo_client(srv2)
        assert d.exists("/eph") is not None       # the session came back...
        deadline = time.monotonic() + 15
        while d.exists("/eph") is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert d.exists("/eph") is None           # ...and expired by its timeout
        d.stop()
        d.close()
    finally:
        srv2.stop()
