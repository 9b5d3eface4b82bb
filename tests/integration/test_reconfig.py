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
import re
import socket
import time

import pytest
from kazoo.exceptions import ConnectionLoss, KazooException, SessionExpiredError

import zkwire
from conftest import HOST, start_server, write_cfg
from ensemble import Load, make_ensemble  # noqa: F401  (fixture)

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
    for k in ("joining", "leaving", "new_members"):
        kw.setdefault(k, None)
    kw.setdefault("from_config", -1)
    return zk.reconfig_async(**kw).get(timeout=30)


def _err(zk, **kw):
    """The kazoo exception class name the reconfig raises, or None (sent
    again after a connection loss: see _reconfig_retry)."""
    kw.setdefault("joining", None)
    kw.setdefault("leaving", None)
    kw.setdefault("new_members", None)
    try:
        _reconfig_retry(zk, **kw)
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
        data, stat = _reconfig_retry(zk, joining=joining)
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
        data, stat = _reconfig_retry(zk, leaving="100")
        assert joining.encode() not in data
        text, version = _strip_version(data)
        assert version == stat.mzxid
        out["removed"] = text
        out["future"] = _err(zk, joining=joining, from_config=version + 1)
        out["from_current"] = _strip_version(_reconfig_retry(
            zk, leaving="100", from_config=version)[0])[0]
        out["leaving_nan"] = _err(zk, leaving="abc")
        out["no_client_port"] = _err(
            zk, joining="server.100=0.0.0.0:%d:%d:observer" % (p1, p2))
        out["duplicate_address"] = _err(zk, joining="server.100=%s:%d:%d:observer;%d" % (
            HOST, ens.members[1].quorum_port, p2, p3))
        # accepted on loopback (QuorumServer.checkAddressDuplicate leaves out
        # loopback and wildcard addresses): take it out again
        _reconfig_retry(zk, leaving="100")
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



def _files_agree(ens, version, same_history=False):
    """Every member has zoo.cfg.dynamic.<version> (the same bytes), no
    .dynamic.next, and a zoo.cfg that points at its own file. same_history:
    every member's zoo.cfg went through the same rewrites (their key order
    is then the same)."""
    dyn = "zoo.cfg.dynamic.%x" % version
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not all(dyn in f and "zoo.cfg.dynamic.next" not in f
                  for f in ens.config_files().values()):
        assert time.monotonic() < deadline, ens.config_files()
        time.sleep(0.1)
    files = ens.config_files()
    for sid in ens.server_sids():
        assert files[sid][dyn] == files[1][dyn], (sid, files[sid][dyn], files[1][dyn])
        assert files[sid]["zoo.cfg"].endswith(
            "dynamicConfigFile=%s\n" % (ens.members[sid].workdir / dyn)), files[sid]["zoo.cfg"]
    # zoo.cfg rewritten in java.util.Properties' order (hash bins; keys in
    # one bin in the order the file before gave them), as Apache's
    # editStaticConfig writes it: members with the same keys (the values
    # differ: ports, directories) and history list them in the same order
    if not same_history:
        return files[1][dyn]
    orders = {sid: [line.split("=", 1)[0] for line in files[sid]["zoo.cfg"].splitlines()]
              for sid in ens.server_sids()}
    kinds_compared = set()
    for sid in ens.server_sids():
        for other in ens.server_sids():
            if sorted(orders[sid]) == sorted(orders[other]):
                assert orders[sid] == orders[other], (sid, other, orders)
                kinds_compared.add((ens.members[sid].kind, ens.members[other].kind))
    assert ("czk", "apache") in kinds_compared or len(set(ens.kinds().values())) == 1, orders
    return files[1][dyn]


def _run(make_ensemble, kinds):
    ens = make_ensemble(kinds, extra=EXTRA)
    ens.start_three_led_by_3()
    assert ens.leader_sid() == 3
    out = _kazoo_scenario(ens)
    version = _strip_version(ens.client(1).get("/zookeeper/config")[0])[1]
    out["dynamic_file"] = _files_agree(ens, version, same_history=True)
    norm = _normalise(out, ens)
    norm["dynamic_file"] = _normalise({"added": (out["dynamic_file"], 0), "removed": "",
                                       "from_current": ""}, ens)["added"][0]
    ens.stop_all()
    return norm


@pytest.mark.parametrize("kinds", [["czk", "czk", "czk"], ["apache", "apache", "czk"],
                                   ["czk", "czk", "apache"]], ids=lambda k: "-".join(k))
def test_kazoo_reconfig_scenario_as_apache(make_ensemble, kinds):
    """kazoo's reconfig scenario against three Apache members, then against
    czk members (all czk; a czk leader of Apache followers; czk followers of
    an Apache leader): every answer the same (error kinds, the config texts
    with ports named, the node's version -1), every member serving each
    new config, and every member's zoo.cfg.dynamic.<version> the same bytes
    at the end, zoo.cfg pointing at it, no .dynamic.next left."""
    apache = _run(make_ensemble, ["apache"] * 3)
    got = _run(make_ensemble, kinds)
    assert got == apache, (got, apache)


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


def _reconfig_retry(zk, timeout_s=STEP_TIMEOUT_S, **kw):
    """A reconfig sent again while the client has no connection (its
    member is electing under the new config): each one here may be
    applied twice with the same result."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return _call(zk, **kw)
        except (ConnectionLoss, SessionExpiredError):
            assert time.monotonic() < deadline, kw
            time.sleep(0.2)


def _line(ens, sid, role):
    m = ens.members[sid]
    return "server.%d=%s:%d:%d:%s;%s:%d" % (sid, HOST, m.quorum_port, m.election_port, role,
                                            HOST, m.client_port)


def _configs_agree(ens, want, sids=None):
    """Every member in sids (default: all) serves `want` as /zookeeper/config."""
    for sid in sids or ens.server_sids():
        c = ens.client(sid)
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            c.sync("/zookeeper/config")
            got = c.get("/zookeeper/config")[0]
            if got == want:
                break
            assert time.monotonic() < deadline, (sid, got, want)
            time.sleep(0.1)


def test_voters_change_under_load(make_ensemble):
    """Three czk voters under writers: remove voter 1 by reconfig (it goes
    on following as a non-voting participant, as Apache's does; 2 and 3 go
    on without an election), add it back, remove the leader (3: an
    election), add it back as an observer.  After each step the members serving agree on the new
    /zookeeper/config and the writers go on; no acknowledged write is lost,
    every member ends with the same tree; member 1 restarts on the files the
    reconfigs left (zoo.cfg without clientPort, as Apache writes it)."""
    ens = make_ensemble(["czk"] * 3, extra=EXTRA)
    ens.start_three_led_by_3()
    load = Load(ens, writers=3, root="/hist", sids=[2, 3]).start()
    load.wait_ok(30)
    zk = ens.client(auth_data=[("digest", "super:" + SUPER_PASSWORD)])

    data, _ = _reconfig_retry(zk, leaving="1")
    assert b"server.1=" not in data
    since = time.monotonic()
    _configs_agree(ens, data)
    assert ens.wait_modes() == {1: "follower", 2: "follower", 3: "leader"}
    load.wait_ok(100, since_s=since, timeout=60)

    data, _ = _reconfig_retry(zk, joining=_line(ens, 1, "participant"))
    since = time.monotonic()
    assert _line(ens, 1, "participant").encode() in data
    ens.wait_modes()
    _configs_agree(ens, data)
    load.wait_ok(100, since_s=since, timeout=60)

    data, _ = _reconfig_retry(zk, leaving="3")
    since = time.monotonic()
    assert b"server.3=" not in data
    ens.wait_not_serving([3])
    assert ens.wait_modes(sids=[1, 2])[2] == "leader"
    _configs_agree(ens, data, [1, 2])
    load.wait_ok(100, since_s=since, timeout=60)

    ens.members[3].observer = True
    data, _ = _reconfig_retry(zk, joining=_line(ens, 3, "observer"))
    since = time.monotonic()
    assert ens.wait_modes()[3] == "observer"
    _configs_agree(ens, data)
    load.wait_ok(100, since_s=since, timeout=60)
    load.stop()
    load.check()
    version = _strip_version(data)[1]
    assert "server.3=" in _files_agree(ens, version)
    # member 1's line names its client address: its zoo.cfg lost clientPort
    # (as Apache rewrites it), and it starts again on its files
    assert "clientPort" not in ens.config_files()[1]["zoo.cfg"]
    ens.stop(1)
    ens.start(1, keep_cfg=True)
    ens.wait_modes()
    _configs_agree(ens, data)


ZKCLI_MARK = "ls /zookeeper"


def _zkcli_transcript(ens, ports):
    """zkCli.sh's reconfig and config commands on member 1: each command's
    output lines (prompts, log lines and the marker's own output left out),
    with the ensemble's ports and config versions named."""
    from test_ensemble_clients import ZkCli
    p1, p2, p3 = ports
    joining = "server.100=%s:%d:%d:observer;%s:%d" % (HOST, p1, p2, HOST, p3)
    commands = ["reconfig -add %s" % joining,
                "addauth digest super:%s" % SUPER_PASSWORD,
                "reconfig -add %s" % joining,
                "config",
                "reconfig -remove 100",
                "reconfig -remove 100 -v 1",
                "reconfig -add server.100=nonsense",
                "config"]
    cli = ZkCli(ens.members[1].hostport)
    out = []
    try:
        i, _ = cli.wait(r"WatchedEvent state:SyncConnected type:None")
        for cmd in commands:
            start = cli.mark()
            cli.send(cmd, ZKCLI_MARK)
            # czk's members elect again after a reconfig that changes the
            # servers: the marker sent right behind it may be lost with the
            # connection (its reply, sent first, is not)
            end, _ = cli.wait(r"^\[config, quota\]$|ConnectionLoss for /zookeeper$", start)
            with cli.lock:
                lines = cli.lines[start:end]
            kept = []
            for line in lines:
                line = re.sub(r"^\[zk: [^\]]*\] ", "", line)
                if (not line or re.match(r"^\d{4}-\d\d-\d\d ", line) or line == ZKCLI_MARK
                        or line == "WATCHER::" or line.startswith("WatchedEvent state:")):
                    continue
                kept.append(line)
            out.append((cmd, kept))
    finally:
        cli.close()
    text = repr(out)
    for sid, m in ens.members.items():
        for what, port in (("C", m.client_port), ("Q", m.quorum_port), ("E", m.election_port)):
            text = text.replace(":%d" % port, ":%s%d" % (what, sid))
    for name, port in (("P1", p1), ("P2", p2), ("P3", p3)):
        text = text.replace(str(port), name)
    return re.sub(r"version=[0-9a-f]+", "version=V", text)


def test_zkcli_reconfig_as_apache(make_ensemble):
    """zkCli.sh reconfig (refused without the super user, -add and -remove
    of an observer, -v with a stale version, a malformed server) and config,
    on a czk ensemble: the same text as on an Apache ensemble (session
    events left out: czk's client reconnects after a reconfig that changes
    the servers, see OPERATIONS.md)."""
    got = {}
    socks, ports = _held_ports(3)
    try:
        for kind in ("apache", "czk"):
            ens = make_ensemble([kind] * 3, extra=EXTRA)
            ens.start_three_led_by_3()
            got[kind] = _zkcli_transcript(ens, ports)
            ens.stop_all()
    finally:
        for s in socks:
            s.close()
    assert "Committed new configuration" in got["apache"], got["apache"]
    assert got["czk"] == got["apache"], got


def test_add_a_fourth_voter_under_load(make_ensemble):
    """Three czk voters (their zoo.cfg names three servers) under writers;
    a fourth czk server, started on a config that names all four, is
    refused by the others until a reconfig adds it as a voter; then it
    joins, the four agree on /zookeeper/config, no acknowledged write is
    lost and every member ends with the same tree."""
    ens = make_ensemble(["czk"] * 4, extra=EXTRA)
    for sid in (3, 2, 1):
        cfg = ens.cfg(sid)
        del cfg["server.4"]
        ens.write_myid(sid)
        write_cfg(ens.members[sid].workdir, cfg, port=ens.members[sid].client_port)
        ens.start(sid, keep_cfg=True)
    assert ens.wait_modes(sids=[1, 2, 3])[3] == "leader"
    load = Load(ens, writers=3, root="/hist", sids=[1, 2, 3]).start()
    load.wait_ok(30)
    ens.start(4)
    since = time.monotonic()
    load.wait_ok(50, since_s=since)
    assert not ens.modes([4])[4], "not a member yet, it serves no one"
    zk = ens.client(sid=3, failover=True, auth_data=[("digest", "super:" + SUPER_PASSWORD)])
    data, _ = _reconfig_retry(zk, joining=_line(ens, 4, "participant"))
    assert data.count(b"participant") == 4, data
    since = time.monotonic()
    ens.wait_modes()
    _configs_agree(ens, data)
    load.wait_ok(100, since_s=since, timeout=60)
    load.stop()
    load.check()
    _files_agree(ens, _strip_version(data)[1])


ROLES_STAY_KINDS = [["czk"] * 4, ["apache"] * 4, ["apache", "apache", "czk", "czk"],
                    ["czk", "czk", "apache", "czk"]]


@pytest.mark.parametrize("kinds", ROLES_STAY_KINDS, ids=lambda k: "-".join(k))
def test_servers_change_without_an_election(make_ensemble, kinds):
    """Apache's members go on under the leader a reconfig designates (the
    same leader, when it stays a voter): a member whose role stays keeps
    its clients, and a follower the config no longer names goes on
    following as a non-voting participant (QuorumPeer.updateLearnerType).
    So do czk's, Apache's and czk's mixed: three voters led by 3 add a
    fourth (started on a config naming all four) and remove voter 1; the
    leader stays 3, 1 still follows, 4 follows, and no client of 1, 2 or 3
    ever sees its connection drop."""
    ens = make_ensemble(kinds, extra=EXTRA)
    for sid in (3, 2, 1):
        cfg = ens.cfg(sid)
        del cfg["server.4"]
        ens.write_myid(sid)
        write_cfg(ens.members[sid].workdir, cfg, port=ens.members[sid].client_port)
    ens.start(3, keep_cfg=True)
    ens.start(2, keep_cfg=True)
    assert ens.wait_modes(sids=[2, 3])[3] == "leader"
    ens.start(1, keep_cfg=True)
    ens.wait_modes(sids=[1, 2, 3])
    states = {}
    clients = {}
    for sid in (1, 2, 3):
        clients[sid] = c = ens.client(sid)
        c.add_listener(states.setdefault(sid, []).append)
        c.create("/c%d" % sid, b"")
    ens.start(4)
    zk = ens.client(sid=3, auth_data=[("digest", "super:" + SUPER_PASSWORD)])
    data, _ = _call(zk, joining=_line(ens, 4, "participant"))
    assert data.count(b"participant") == 4, data
    assert ens.wait_modes()[4] == "follower"
    _configs_agree(ens, data)
    data, _ = _call(zk, leaving="1")
    assert b"server.1=" not in data
    _configs_agree(ens, data)
    time.sleep(1.0)  # a member that would leave its role has done so by now
    assert ens.wait_modes() == {1: "follower", 2: "follower", 3: "leader", 4: "follower"}
    for sid, c in clients.items():  # every member still serves its client
        c.create("/d%d" % sid, b"")
    assert states == {1: [], 2: [], 3: []}, states
    for sid in (1, 2, 3):
        if kinds[sid - 1] == "czk":
            log = open(ens.members[sid].server.log_path, errors="replace").read()
            assert log.count("without an election") == 2, (sid, log[-3000:])
            assert log.count("Serving clients") == 1, sid
