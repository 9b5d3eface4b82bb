# SPDX-License-Identifier: Apache-2.0
"""Read-only mode (readonlymode.enabled; issue 11): a member cut off from
its quorum serves the clients that asked for read-only service, from the
tree it has, until a quorum returns. The same scenario runs on czk, on
Apache ZooKeeper 3.8 (the oracle) and on a czk member whose peers are
Apache's, and asserts the same answers:

- the member goes read-only after its grace period (max(2 s, tickTime)):
  srvr says "Mode: read-only", isro "ro";
- a ConnectRequest without the readOnly flag is closed without an answer;
  one with it gets a ConnectResponse with readOnly=true and a new session
  (this member's sid in its top byte);
- reads are answered from the tree; every change, sync and check gets
  NOTREADONLY with the member's last zxid;
- a global session (one the ensemble created) is refused (closed); an
  unknown one gets the expired answer (timeout 0, session 0, readOnly);
  the read-only session itself can move to a new connection, expires
  after its timeout when no connection holds it, and closeSession ends it;
- kazoo's read_only client connects (CONNECTED_RO), reads, and is refused
  writes (NotReadOnlyCallError); when the quorum is back it ends up
  connected read-write (CONNECTED) and writes.

Apache 3.8 makes sessions in read-only mode only with
localSessionsEnabled=true (without it, it answers the ConnectRequest with a
bare 16-byte NOTREADONLY header that no client can read); its runs set it,
and localSessionsUpgradingEnabled so that the global session is one.
czk's read-only sessions are always local. Apache reads readonlymode.enabled
only as a Java system property (the harness passes it so)."""
import time

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KeeperState
from kazoo.exceptions import NotReadOnlyCallError

import zkwire
from conftest import HOST
from ensemble import make_ensemble  # noqa: F401  (fixture)

KINDS = [["czk", "czk", "czk"], ["apache", "apache", "apache"], ["czk", "apache", "apache"]]
NOTREADONLY = -119
CLOSE_TIMEOUT_S = 3.0


def _poll(cond, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)


def _zxid(port):
    out = zkwire.four_letter(HOST, port, "srvr", timeout=5.0)
    line = [x for x in out.split("\n") if x.startswith("Zxid: ")][0]
    return int(line.split()[1], 16)


def _refused_without_answer(port, session_id=0, passwd=b"\0" * 16, read_only=False):
    """A ConnectRequest that the member closes without a byte."""
    c = zkwire.Conn(HOST, port)
    try:
        c.send_frame(zkwire.enc_connect(0, 0, 4000, session_id, passwd, read_only))
        return c.recv_all_raw(CLOSE_TIMEOUT_S) == (b"", True)
    finally:
        c.close()


def _read_only_client(port):
    """A started kazoo client with read_only=True, told of `port` only, that
    connected read-only (CONNECTED_RO)."""
    kz = KazooClient(hosts="%s:%d" % (HOST, port), read_only=True, timeout=10.0)
    try:
        kz.start(timeout=15)
        assert kz.client_state == KeeperState.CONNECTED_RO
    except BaseException:
        kz.close()
        raise
    return kz


def _writes_refused(c, zxid):
    """Every change, sync and check: NOTREADONLY with the last zxid."""
    calls = {
        "create": lambda: c.create("/ro/new", b"x"),
        "create ephemeral": lambda: c.create("/ro/eph", b"", flags=zkwire.EPHEMERAL),
        "create2": lambda: c.create2("/ro/new2", b"x"),
        "createContainer": lambda: c.create_container("/ro/cont"),
        "setData": lambda: c.set_data("/ro", b"y"),
        "delete": lambda: c.delete("/ro"),
        "setACL": lambda: c.set_acl("/ro"),
        "sync": lambda: c.sync("/ro"),
        "check": lambda: c.check("/ro", 0),
        "multi": lambda: c.multi([("check", "/ro", 0), ("setData", "/ro", b"z", -1)]),
        "reconfig": lambda: c.call(zkwire.OP["reconfig"], zkwire.enc_reconfig(leaving="3")),
    }
    for name, call in calls.items():
        rep = call()
        assert (rep["err"], rep["zxid"]) == (NOTREADONLY, zxid), (name, rep)


@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "-".join(k))
def test_read_only_mode(make_ensemble, kinds):
    extra = {"readonlymode.enabled": "true"}
    if kinds[0] == "apache":
        # (with upgrading: the ephemeral below makes g's session global)
        extra.update({"localSessionsEnabled": "true", "localSessionsUpgradingEnabled": "true"})
    ens = make_ensemble(kinds, extra=extra)
    ens.start_all()
    ens.wait_modes()
    port = ens.members[1].client_port
    # a global session on member 1 (it owns an ephemeral), left open
    g = zkwire.Conn(HOST, port)
    g.connect(timeout_ms=10000)
    assert g.create("/ro", b"before")["err"] == 0
    assert g.create("/ro-owner", b"", flags=zkwire.EPHEMERAL)["err"] == 0
    global_session = (g.session_id, g.passwd)
    g.close()

    ens.kill(2)
    ens.kill(3)
    _poll(lambda: ens.mode(1) == "read-only", "member 1 to serve read-only")
    assert zkwire.four_letter(HOST, port, "isro", timeout=5.0) == "ro"
    zxid = _zxid(port)

    assert _refused_without_answer(port), "a client that is not read-only was answered"

    c = zkwire.Conn(HOST, port)
    resp = c.connect(timeout_ms=4000, read_only=True)
    assert resp["readOnly"] is True and resp["timeOut"] == 4000, resp
    assert resp["sessionId"] >> 56 == 1, hex(resp["sessionId"])
    rep = c.get_data("/ro", watch=True)
    assert (rep["err"], rep["data"], rep["zxid"]) == (0, b"before", zxid), rep
    assert c.exists("/ro/none")["err"] == zkwire.NONODE
    assert c.get_children("/")["err"] == 0
    _writes_refused(c, zxid)

    # the ensemble's own session: refused; an unknown one: expired
    assert _refused_without_answer(port, *global_session, read_only=True), \
        "a global session was accepted in read-only mode"
    u = zkwire.Conn(HOST, port)
    resp = u.connect(session_id=0x0123456789, read_only=True)
    assert (resp["timeOut"], resp["sessionId"], resp["readOnly"]) == (0, 0, True), resp
    assert u.wait_closed(CLOSE_TIMEOUT_S)

    # the read-only session moves to a new connection, then closes
    c2 = zkwire.Conn(HOST, port)
    resp = c2.connect(timeout_ms=4000, session_id=c.session_id, passwd=c.passwd, read_only=True)
    assert (resp["sessionId"], resp["readOnly"]) == (c.session_id, True), resp
    assert c.wait_closed(CLOSE_TIMEOUT_S), "the session's old connection stayed open"
    assert c2.get_data("/ro")["data"] == b"before"
    rep = c2.close_session()
    assert (rep["err"], rep["zxid"]) == (0, zxid), rep
    assert c2.wait_closed(CLOSE_TIMEOUT_S)
    c3 = zkwire.Conn(HOST, port)
    resp = c3.connect(session_id=c.session_id, passwd=c.passwd, read_only=True)
    assert (resp["timeOut"], resp["sessionId"]) == (0, 0), "a closed session came back"
    c3.close()

    # a read-only session that no connection holds expires after its timeout
    e = zkwire.Conn(HOST, port)
    resp = e.connect(timeout_ms=1000, read_only=True)
    e.close()
    time.sleep(3.0)  # 1000 ms, rounded up to the next 500 ms tick, and margin
    e2 = zkwire.Conn(HOST, port)
    resp = e2.connect(session_id=resp["sessionId"], passwd=resp["passwd"], read_only=True)
    assert (resp["timeOut"], resp["sessionId"]) == (0, 0), "the session did not expire"
    e2.close()

    # kazoo, read-only and only told of member 1
    kz = _read_only_client(port)
    try:
        assert kz.get("/ro")[0] == b"before"
        with pytest.raises(NotReadOnlyCallError):
            kz.create("/ro/kazoo", b"")

        # the quorum returns: member 1 rejoins, its read-only clients go
        ens.start(2)
        ens.start(3)
        ens.wait_modes()
        _poll(lambda: kz.client_state == KeeperState.CONNECTED, "kazoo to be read-write", 60)
        kz.create("/ro/kazoo", b"rw")
        assert zkwire.four_letter(HOST, port, "isro", timeout=5.0) == "rw"
    finally:
        kz.stop()
        kz.close()
    for sid in (1, 2, 3):
        k = ens.client(sid)
        try:
            k.sync("/ro")
            assert k.get("/ro/kazoo")[0] == b"rw", sid
        finally:
            k.stop()
            k.close()


@pytest.mark.parametrize("kinds", [["czk", "czk", "czk"], ["czk", "apache", "apache"]],
                         ids=lambda k: "-".join(k))
def test_a_partitioned_member_serves_read_only_until_healed(make_ensemble, kinds):
    """Member 1 (czk) cut off by the network while 2 and 3 keep the quorum:
    it serves a read-only client the tree it has (not the writes made on
    the other side meanwhile), refuses that client's writes, and rejoins
    read-write once healed; the client then reads the writes it missed."""
    ens = make_ensemble(kinds, extra={"readonlymode.enabled": "true"}, proxied=True)
    ens.start(3)  # the leader (the highest sid) once a second member is up
    time.sleep(0.5)
    ens.start_all([1, 2])
    assert ens.leader_sid() == 3
    port = ens.members[1].client_port
    kz = ens.client(3)
    kz.create("/p", b"before")
    ens.isolate(1)
    _poll(lambda: ens.mode(1) == "read-only", "member 1 to serve read-only")
    kz.set("/p", b"during")  # the quorum side goes on
    ro = _read_only_client(port)
    try:
        assert ro.get("/p")[0] == b"before"
        with pytest.raises(NotReadOnlyCallError):
            ro.set("/p", b"ro")
        ens.heal()
        ens.wait_modes()
        _poll(lambda: ro.client_state == KeeperState.CONNECTED, "the client to be read-write", 60)
        ro.sync("/p")
        assert ro.get("/p")[0] == b"during"
    finally:
        ro.stop()
        ro.close()
