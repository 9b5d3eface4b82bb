# SPDX-License-Identifier: Apache-2.0
"""kazoo (a real, widely used client) against czk and Apache ZooKeeper,
plus sessions and four-letter words.  Every test runs once per server:
ids end in [czk] or [apache]."""

import re
import threading
import time

import pytest
from kazoo.exceptions import (BadVersionError, NoNodeError, NodeExistsError,
                              NotEmptyError, RolledBackError,
                              NoChildrenForEphemeralsError, RuntimeInconsistency)
from kazoo.protocol.states import EventType

import zkwire
from conftest import kazoo_client


def wait_for(cond, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    return cond()


# ---------------------------------------------------------------------------
# basic CRUD


def test_ensure_path_and_crud(kz):
    kz.ensure_path("/kz_crud/a/b/c")
    assert kz.exists("/kz_crud/a/b/c") is not None
    kz.ensure_path("/kz_crud/a/b/c")               # idempotent
    assert sorted(kz.get_children("/kz_crud/a")) == ["b"]

    path = kz.create("/kz_crud/x", b"v0")
    assert path == "/kz_crud/x"
    data, stat = kz.get("/kz_crud/x")
    assert data == b"v0"
    assert (stat.version, stat.cversion, stat.numChildren, stat.dataLength) == (0, 0, 0, 2)
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.ephemeralOwner == 0

    stat2 = kz.set("/kz_crud/x", b"value-1")
    assert stat2.version == 1 and stat2.dataLength == 7
    assert stat2.mzxid > stat.mzxid and stat2.czxid == stat.czxid
    with pytest.raises(BadVersionError):
        kz.set("/kz_crud/x", b"nope", version=0)
    kz.set("/kz_crud/x", b"value-2", version=1)
    assert kz.get("/kz_crud/x")[0] == b"value-2"

    with pytest.raises(NodeExistsError):
        kz.create("/kz_crud/x", b"")
    with pytest.raises(NoNodeError):
        kz.create("/kz_crud/missing/child", b"")
    with pytest.raises(NoNodeError):
        kz.get("/kz_crud/missing")
    with pytest.raises(NotEmptyError):
        kz.delete("/kz_crud/a")
    with pytest.raises(BadVersionError):
        kz.delete("/kz_crud/x", version=0)

    kz.delete("/kz_crud/x", version=2)
    assert kz.exists("/kz_crud/x") is None
    kz.delete("/kz_crud", recursive=True)
    assert kz.exists("/kz_crud") is None


def test_session_id_names_server_one(server, kz):
    """A standalone server makes session ids as server 1 (ZooKeeperServer's
    createSessionTrackerServerId): the top byte is 0x01, the next five bytes
    come from the clock, the last two count.  Tools read the server out of
    the top byte."""
    sid = kz.client_id[0]
    assert sid >> 56 == 1, hex(sid)
    assert sid & 0xFFFF < 0x1000, hex(sid)


def test_create_include_data_and_children_stat(kz):
    # include_data=True makes kazoo use create2 (opcode 15)
    path, stat = kz.create("/kz_c2", b"abc", include_data=True)
    assert path == "/kz_c2" and stat.dataLength == 3 and stat.version == 0
    kz.create("/kz_c2/k1", b"")
    kz.create("/kz_c2/k2", b"")
    children, pstat = kz.get_children("/kz_c2", include_data=True)   # getChildren2
    assert sorted(children) == ["k1", "k2"]
    assert pstat.numChildren == 2 and pstat.cversion == 2
    assert pstat.pzxid == kz.exists("/kz_c2/k2").czxid
    kz.delete("/kz_c2", recursive=True)


def test_ephemeral_and_sequence(server, kz):
    kz.ensure_path("/kz_eph")
    p1 = kz.create("/kz_eph/n-", b"", ephemeral=True, sequence=True)
    p2 = kz.create("/kz_eph/n-", b"", ephemeral=True, sequence=True)
    p3 = kz.create("/kz_eph/q-", b"", sequence=True)
    assert re.fullmatch(r"/kz_eph/n-\d{10}", p1), p1
    assert int(p2[-10:]) == int(p1[-10:]) + 1
    assert int(p3[-10:]) == int(p2[-10:]) + 1        # one counter per parent
    session_id = kz.client_id[0]
    assert kz.exists(p1).ephemeralOwner == session_id
    assert kz.exists(p3).ephemeralOwner == 0
    with pytest.raises(NoChildrenForEphemeralsError):
        kz.create(p1 + "/child", b"")

    other = kazoo_client(server)
    try:
        gone = threading.Event()

        @other.DataWatch(p1)
        def _w(data, stat, event=None):
            if event is not None and event.type == EventType.DELETED:
                gone.set()

        kz.stop()                                      # closeSession
        assert gone.wait(10), "ephemeral owner closed its session, no NodeDeleted"
        assert other.exists(p1) is None and other.exists(p2) is None
        assert other.exists(p3) is not None
        other.delete("/kz_eph", recursive=True)
    finally:
        other.stop()
        other.close()


def test_data_watch(server, kz):
    kz.create("/kz_dw", b"0")
    seen = []
    cond = threading.Condition()

    @kz.DataWatch("/kz_dw")
    def watcher(data, stat, event=None):
        with cond:
            seen.append((data, stat.version if stat else None,
                         event.type if event else None))
            cond.notify_all()

    writer = kazoo_client(server)
    try:
        assert wait_for(lambda: len(seen) >= 1)
        writer.set("/kz_dw", b"1")
        assert wait_for(lambda: len(seen) >= 2)
        writer.set("/kz_dw", b"2")
        assert wait_for(lambda: len(seen) >= 3)
        writer.delete("/kz_dw")
        assert wait_for(lambda: len(seen) >= 4)
        assert seen[0] == (b"0", 0, None)
        assert seen[1] == (b"1", 1, EventType.CHANGED)
        assert seen[2] == (b"2", 2, EventType.CHANGED)
        assert seen[3] == (None, None, EventType.DELETED)
        writer.create("/kz_dw", b"again")
        assert wait_for(lambda: len(seen) >= 5)
        assert seen[4] == (b"again", 0, EventType.CREATED)
        writer.delete("/kz_dw")
    finally:
        writer.stop()
        writer.close()


def test_children_watch(server, kz):
    kz.create("/kz_cw", b"")
    snapshots = []

    @kz.ChildrenWatch("/kz_cw")
    def watcher(children):
        snapshots.append(sorted(children))

    writer = kazoo_client(server)
    try:
        assert wait_for(lambda: snapshots and snapshots[-1] == [])
        writer.create("/kz_cw/a", b"")
        assert wait_for(lambda: snapshots[-1] == ["a"])
        writer.create("/kz_cw/b", b"", ephemeral=True)
        assert wait_for(lambda: snapshots[-1] == ["a", "b"])
        writer.set("/kz_cw", b"data change is not a child change")
        writer.delete("/kz_cw/a")
        assert wait_for(lambda: snapshots[-1] == ["b"])
        writer.stop()                     # ephemeral b goes away
        assert wait_for(lambda: snapshots[-1] == [])
        assert all(s != ["a", "b", "x"] for s in snapshots)
    finally:
        writer.close()
        kz.delete("/kz_cw", recursive=True)


def test_transactions(kz):
    kz.create("/kz_tx", b"0")
    t = kz.transaction()
    t.create("/kz_tx/a", b"a")
    t.create("/kz_tx/s-", b"", sequence=True)
    t.set_data("/kz_tx", b"1", version=0)
    t.check("/kz_tx", 1)
    t.delete("/kz_tx/a")
    results = t.commit()
    assert results[0] == "/kz_tx/a"
    assert re.fullmatch(r"/kz_tx/s-\d{10}", results[1])
    assert results[2].version == 1
    assert results[3] is True and results[4] is True
    assert sorted(kz.get_children("/kz_tx")) == [results[1].rsplit("/", 1)[1]]

    t = kz.transaction()
    t.create("/kz_tx/b", b"")
    t.check("/kz_tx", 0)                 # fails: version is 1
    t.create("/kz_tx/c", b"")
    results = t.commit()
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], BadVersionError)
    assert isinstance(results[2], RuntimeInconsistency)   # ops after the failing one: -2
    assert kz.exists("/kz_tx/b") is None and kz.exists("/kz_tx/c") is None
    assert kz.get("/kz_tx")[1].version == 1
    kz.delete("/kz_tx", recursive=True)


def test_server_version(kz):
    v = kz.server_version()
    assert isinstance(v, tuple) and len(v) >= 3, v
    assert all(isinstance(x, int) for x in v)
    assert v >= (3, 5, 0), v            # kazoo enables create2, containers, ... from 3.5


# ---------------------------------------------------------------------------
# sessions through the raw client


def test_session_expiry(server, kz):
    """A session whose client vanishes (socket closed, no closeSession) expires
    after its timeout; its ephemerals are deleted and watchers notified."""
    c = server.session(4000)
    assert c.negotiated_timeout == 4000
    r = c.create("/kz_expire", b"", flags=zkwire.EPHEMERAL)
    assert r["err"] == 0
    assert kz.exists("/kz_expire").ephemeralOwner == c.session_id
    deleted = threading.Event()
    kz.exists("/kz_expire", watch=lambda ev: deleted.set())
    t0 = time.monotonic()
    c.close()                                         # no closeSession
    tick = 2.0
    assert deleted.wait(4.0 + 2 * tick + 2.0), "ephemeral of an expired session not deleted"
    elapsed = time.monotonic() - t0
    assert kz.exists("/kz_expire") is None
    assert elapsed >= 4.0 - tick, "session expired too early (%.1fs)" % elapsed
    # the expired session cannot be re-attached
    d = server.conn()
    resp = d.connect(10000, session_id=c.session_id, passwd=c.passwd)
    assert (resp["timeOut"], resp["sessionId"], resp["passwd"]) == (0, 0, b"\x00" * 16)
    assert d.wait_closed(3)


def test_session_reattach_and_wrong_password(server):
    a = server.session(10000)
    sid, pw = a.session_id, a.passwd
    assert sid != 0 and len(pw) == 16
    assert a.create("/kz_reattach", b"", flags=zkwire.EPHEMERAL)["err"] == 0

    # re-attach on a new connection with id + password
    b = server.conn()
    resp = b.connect(12000, session_id=sid, passwd=pw)
    assert resp["sessionId"] == sid and resp["passwd"] == pw
    assert resp["timeOut"] == 12000
    assert a.wait_closed(3), "server kept the old connection of a moved session"
    st = b.exists("/kz_reattach")
    assert st["err"] == 0 and st["stat"]["ephemeralOwner"] == sid

    # wrong password: the "expired" answer, then the connection is closed
    c = server.conn()
    resp = c.connect(10000, session_id=sid, passwd=b"\x01" * 16)
    assert resp["protocolVersion"] == 0
    assert resp["timeOut"] == 0 and resp["sessionId"] == 0
    assert resp["passwd"] == b"\x00" * 16
    assert c.wait_closed(3)

    # an unknown session id gets the same answer
    e = server.conn()
    resp = e.connect(10000, session_id=0x7fff000000001234, passwd=b"\x00" * 16)
    assert (resp["timeOut"], resp["sessionId"], resp["passwd"]) == (0, 0, b"\x00" * 16)
    assert e.wait_closed(3)

    # the session itself survived the bad attempt
    f = server.conn()
    resp = f.connect(10000, session_id=sid, passwd=pw)
    assert resp["sessionId"] == sid
    assert f.exists("/kz_reattach")["err"] == 0
    assert f.close_session()["err"] == 0
    assert f.wait_closed(3)
    g = server.session(10000)
    assert g.exists("/kz_reattach")["err"] == zkwire.NONODE
    g.close_session()


def test_session_timeout_negotiation(server):
    # tickTime=2000 -> [4000, 40000]
    for asked, got in [(1000, 4000), (4000, 4000), (15000, 15000), (40000, 40000),
                       (600000, 40000)]:
        c = server.session(asked)
        assert c.negotiated_timeout == got, (asked, c.negotiated_timeout)
        c.close_session()


# ---------------------------------------------------------------------------
# four-letter words

SRVR_LINES = [
    r"Zookeeper version: \d+\.\d+\.\d+\S*, built on .+",
    r"Latency min/avg/max: \d+/\d+(\.\d+)?/\d+",
    r"Received: \d+",
    r"Sent: \d+",
    r"Connections: \d+",
    r"Outstanding: \d+",
    r"Zxid: 0x[0-9a-f]+",
    r"Mode: standalone",
    r"Node count: \d+",
]

# the classic mntr keys (ZooKeeper admin guide) that monitoring tools read
MNTR_KEYS = {
    "zk_version": r"\d+\.\d+\.\d+\S*, built on .+",
    "zk_avg_latency": r"\d+(\.\d+)?",
    "zk_max_latency": r"\d+",
    "zk_min_latency": r"\d+",
    "zk_packets_received": r"\d+",
    "zk_packets_sent": r"\d+",
    "zk_num_alive_connections": r"\d+",
    "zk_outstanding_requests": r"\d+",
    "zk_server_state": r"standalone",
    "zk_znode_count": r"\d+",
    "zk_watch_count": r"\d+",
    "zk_ephemerals_count": r"\d+",
    "zk_approximate_data_size": r"\d+",
    "zk_open_file_descriptor_count": r"\d+",
    "zk_max_file_descriptor_count": r"\d+",
}


def parse_mntr(text):
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("\t")
        assert sep == "\t", "mntr line without a tab: %r" % line
        out[k] = v
    return out


def test_ruok_isro(server):
    assert server.four_letter("ruok") == "imok"
    assert server.four_letter("isro") == "rw"


def test_srvr_format(server):
    out = server.four_letter("srvr")
    assert out.endswith("\n")
    lines = out.splitlines()
    assert len(lines) == len(SRVR_LINES), out
    for line, pat in zip(lines, SRVR_LINES):
        assert re.fullmatch(pat, line), (line, pat)


def test_srvr_counts(server):
    """Zxid, Node count and Connections track the server state."""
    def srvr():
        return dict(l.split(": ", 1) for l in server.four_letter("srvr").splitlines())
    before = srvr()
    a = server.session(10000)
    b = server.session(10000)
    r = a.create("/srvr_counts", b"")
    a.create("/srvr_counts/x", b"", flags=zkwire.EPHEMERAL)
    z = a.exists("/srvr_counts")["zxid"]
    s = srvr()
    assert s["Zxid"] == "0x%x" % z
    assert int(s["Node count"]) == int(before["Node count"]) + 2
    # the connection asking for srvr counts too
    assert int(s["Connections"]) == int(before["Connections"]) + 2
    m = parse_mntr(server.four_letter("mntr"))
    assert int(m["zk_znode_count"]) == int(s["Node count"])
    assert int(m["zk_ephemerals_count"]) >= 1
    assert int(m["zk_num_alive_connections"]) == int(s["Connections"])
    a.delete("/srvr_counts/x")
    a.delete("/srvr_counts")
    a.close_session()
    b.close_session()
    assert r["err"] == 0


def test_stat_format(server):
    c = server.session(10000)
    out = server.four_letter("stat")
    lines = out.splitlines()
    assert re.fullmatch(SRVR_LINES[0], lines[0])
    assert lines[1] == "Clients:"
    i = 2
    clients = []
    while lines[i] != "":
        clients.append(lines[i])
        i += 1
    # one line per connection, including the one asking
    for cl in clients:
        assert re.fullmatch(r" /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+\)", cl), cl
    assert len(clients) >= 2
    rest = lines[i + 1:]
    assert len(rest) == len(SRVR_LINES) - 1
    for line, pat in zip(rest, SRVR_LINES[1:]):
        assert re.fullmatch(pat, line), (line, pat)
    c.close_session()


def test_mntr_format(server):
    m = parse_mntr(server.four_letter("mntr"))
    for k, pat in MNTR_KEYS.items():
        assert k in m, "mntr lacks %s" % k
        assert re.fullmatch(pat, m[k]), (k, m[k])
    assert list(m)[:2] == ["zk_version", "zk_server_state"]


@pytest.fixture(scope="module")
def default_whitelist_server(server_kind, tmp_path_factory):
    """A fresh server with the default 4lw whitelist (only srvr)."""
    from conftest import ServerFactory
    f = ServerFactory(tmp_path_factory)
    srv = f(server_kind, {"4lw.commands.whitelist": None})
    yield srv
    f.stop_all()


def test_default_whitelist_srvr_and_fresh_counts(default_whitelist_server):
    # The start-up probes are srvr connections too; Apache may count one of
    # them until it has finished closing it, so ask until only ours is left.
    deadline = time.monotonic() + 10
    while True:
        out = default_whitelist_server.four_letter("srvr")
        if "Connections: 1\n" in out or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    lines = out.splitlines()
    for line, pat in zip(lines, SRVR_LINES):
        assert re.fullmatch(pat, line), (line, pat)
    d = dict(l.split(": ", 1) for l in lines)
    # a fresh server: /, /zookeeper, /zookeeper/quota, /zookeeper/config and
    # the root counted twice (Apache's DataTree maps both "" and "/")
    assert d["Node count"] == "5"
    assert d["Zxid"] == "0x0"
    assert d["Connections"] == "1"
    assert d["Outstanding"] == "0"


@pytest.mark.parametrize("word", ["ruok", "stat", "mntr", "isro", "envi", "conf", "cons",
                                  "dump", "wchs", "dirs"])
def test_default_whitelist_refuses(default_whitelist_server, word):
    out = default_whitelist_server.four_letter(word)
    assert out == "%s is not executed because it is not in the whitelist.\n" % word


def test_unknown_four_letter_word(server):
    # not a command and not a plausible frame: the server closes without output
    assert server.four_letter("xxxx") == ""
    assert server.four_letter("SRVR") == ""
    assert server.four_letter("ruok") == "imok"
