# SPDX-License-Identifier: Apache-2.0
"""Dynamic reconfiguration (reconfigEnabled=true, issue 11): the reconfig
request as kazoo sends it (kazoo's own TestReconfig: adding and removing an
observer, a config version from the future, bad input, no super user),
answered by a czk ensemble as by Apache ZooKeeper 3.8 (the same scenario
runs on both; the answers are compared), and what every member does with
a committed reconfig: /zookeeper/config, zoo.cfg.dynamic.<version>, and
zoo.cfg pointing at it, byte for byte as Apache's members, czk and Apache
members mixed in one ensemble.  A standalone server refuses reconfig as
Apache's does."""

import base64
import hashlib
import socket
import time

from kazoo.exceptions import KazooException

import zkwire
from conftest import HOST, start_server
from ensemble import make_ensemble  # noqa: F401  (fixture)

SUPER_PASSWORD = "test"
SUPER_DIGEST = "super:" + base64.b64encode(
    hashlib.sha1(("super:" + SUPER_PASSWORD).encode()).digest()).decode()
EXTRA = {"reconfigEnabled": "true", "DigestAuthenticationProvider.superDigest": SUPER_DIGEST}
STEP_TIMEOUT_S = 60.0


def _super_client(ens, sid):
    zk = ens.client(sid, auth_data=[("digest", "super:" + SUPER_PASSWORD)])
    return zk


def _call(zk, **kw):
    """zk.reconfig(**kw), never waiting more than 30 s (kazoo's reconfig
    waits for ever)."""
    kw.setdefault("from_config", -1)
    return zk.reconfig_async(**kw).get(timeout=30)


def _err(zk, **kw):
    """The kazoo exception class name the reconfig raises, or None."""
    kw.setdefault("joining", None)
    kw.setdefault("leaving", None)
    kw.setdefault("new_members", None)
    try:
        _call(zk, **kw)
    except KazooException as e:
        return type(e).__name__
    return None


def _held_ports(n):
    """n ports bound and not listening (a connect is refused at once, as
    kazoo's test wants: ZOOKEEPER-2202), and the sockets holding them."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((HOST, 0))
        socks.append(s)
    return socks, [s.getsockname()[1] for s in socks]


def _strip_version(data):
    """A config text without its version= line, and the version."""
    lines = data.decode().split("\n")
    assert lines[-1].startswith("version="), data
    return "\n".join(lines[:-1]), int(lines[-1][len("version="):], 16)


def _kazoo_scenario(ens):
    """kazoo's TestReconfig, step by step: what each step answered."""
    out = {}
    plain = ens.client(1)
    out["no_super"] = _err(plain, joining="server.999=0.0.0.0:1234:2345:observer;3456")
    out["bad_input"] = _err(plain, joining="some thing")
    zk = _super_client(ens, 2)
    socks, (p1, p2, p3) = _held_ports(3)
    try:
        joining = "server.100=0.0.0.0:%d:%d:observer;0.0.0.0:%d" % (p1, p2, p3)
        data, stat = _call(zk, joining=joining, leaving=None, new_members=None)
        assert joining.encode() in data, data
        text, version = _strip_version(data)
        assert version == stat.mzxid, (version, stat)
        # the node's version is -1 after a reconfig (DataTree.setData with
        # the SetDataTxn's version)
        out["added"] = (text.replace(str(p1), "P1").replace(str(p2), "P2")
                        .replace(str(p3), "P3"), stat.version)
        # every member serves the new config
        for sid in ens.server_sids():
            c = ens.client(sid)
            deadline = time.monotonic() + STEP_TIMEOUT_S
            while c.get("/zookeeper/config")[0] != data:
                assert time.monotonic() < deadline, (sid, c.get("/zookeeper/config"))
                c.sync("/zookeeper/config")
                time.sleep(0.05)
        data, stat = _call(zk, joining=None, leaving="100", new_members=None)
        assert joining.encode() not in data
        text, version = _strip_version(data)
        assert version == stat.mzxid
        out["removed"] = text
        out["future"] = _err(zk, joining=joining, from_config=version + 1)
        out["from_current"] = _strip_version(_call(
            zk, joining=None, leaving="100", new_members=None, from_config=version)[0])[0]
        out["leaving_nan"] = _err(zk, leaving="abc")
        out["no_client_port"] = _err(
            zk, joining="server.100=0.0.0.0:%d:%d:observer" % (p1, p2))
        out["duplicate_address"] = _err(zk, joining="server.100=%s:%d:%d:observer;%d" % (
            HOST, ens.members[1].quorum_port, p2, p3))
        out["one_voter_left"] = _err(zk, leaving="1,2")
    finally:
        for s in socks:
            s.close()
    return out


def _normalise(out, ens):
    """Ports of the ensemble's members as names, so that two ensembles'
    answers compare."""
    def names(text):
        for sid, m in ens.members.items():
            for what, port in (("C", m.client_port), ("Q", m.quorum_port),
                               ("E", m.election_port)):
                text = text.replace(":%d" % port, ":%s%d" % (what, sid))
        return text
    norm = dict(out)
    norm["added"] = (names(out["added"][0]), out["added"][1])
    norm["removed"] = names(out["removed"])
    norm["from_current"] = names(out["from_current"])
    return norm


def test_kazoo_reconfig_scenario_as_apache(make_ensemble):
    """The same kazoo reconfig scenario against three Apache members and
    three czk members: every answer the same (error kinds, the config
    texts with ports named, the node's version), and czk's members agree
    on /zookeeper/config after each step."""
    results = {}
    for kind in ("apache", "czk"):
        ens = make_ensemble([kind] * 3, extra=EXTRA)
        for sid in (3, 2, 1):
            ens.start(sid)
        ens.wait_modes()
        results[kind] = _normalise(_kazoo_scenario(ens), ens)
        ens.stop_all()
    assert results["czk"] == results["apache"], results


def test_standalone_refuses_reconfig(tmp_path):
    """A standalone server: RECONFIGDISABLED without reconfigEnabled,
    UNIMPLEMENTED with it (Apache's standalone ZooKeeperServer), for czk
    as for Apache."""
    got = {}
    for kind in ("apache", "czk"):
        for enabled in (False, True):
            extra = dict(EXTRA) if enabled else {}
            if not enabled:
                extra.pop("reconfigEnabled", None)
            srv = start_server(kind, tmp_path / ("%s-%s" % (kind, enabled)), extra=extra)
            try:
                # raw: kazoo 2.9 does not know RECONFIGDISABLED (-123)
                c = zkwire.session(srv.host, srv.port)
                try:
                    got[(kind, enabled)] = c.reconfig(joining="server.2=127.0.0.1:1:2;3")["err"]
                finally:
                    c.close()
            finally:
                srv.stop()
    assert got[("apache", False)] == -123 and got[("apache", True)] == -6, got
    assert got[("czk", False)] == got[("apache", False)], got
    assert got[("czk", True)] == got[("apache", True)], got
