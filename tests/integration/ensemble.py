# SPDX-License-Identifier: Apache-2.0
"""Multi-process ensembles for the integration tests, and a client-history
recorder and checker for them.

Ensemble(tmp_path, kinds) describes members sid 1..len(kinds); kinds[i] is
"apache" (Apache ZooKeeper 3.8), "czk" (conftest.czk_binary()) or None (a
slot the test runs itself, e.g. an election or learner probe: the harness
gives it ports, a server.N line, and with write_member() a zoo.cfg + myid).
Each member has its own free ports (client, quorum, election; 127.0.0.1),
its own directory <tmp_path>/s<sid> with data/myid and zoo.cfg; both kinds
start on the same zoo.cfg (conftest.start_server).  Members are started,
stopped and killed by pid; restart() keeps the data dir and the ports.

History / Load / check_history: writer threads with their own kazoo
sessions record every op (invoked, then ok / failed / unknown), and reader
threads sync(key) then get(key) on a member other than the key's writer's;
after the ensemble is healed, History.check(ens) reads every member's tree
and checks that no acknowledged write is lost, that members agree,
per-writer and per-session order, and that every sync + read saw at least
what was acknowledged before its sync was sent (linearizable sync + read).
check_history() is the pure part (no servers).

Network partitions: Ensemble(..., proxied=True) puts a netproxy.Proxy
between every ordered pair of members on both the quorum and the election
port.  Member i gets its own zoo.cfg: server.i is its real address (the
ports it binds), server.j (j != i) names the proxies P(i->j), which forward
to j's real ports; the election proxies also put P(j->i) into the
connection header i sends (Apache dials a lower sid back at the address
that header names).  partition({1}, {2, 3}) cuts every link between the
groups (both ways, both ports), heal() restores them all; cut(i, j) and
heal_link(i, j) act on one direction.  Client ports are not proxied.  Every
member's /zookeeper/config then names other ports: trees() keeps only the
membership (sids, roles, client addresses) of that node's data.

Fixture: make_ensemble (import it into the test module).
"""

import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import netproxy
import zkwire
from conftest import HOST, free_port, start_server, write_cfg

MODE_RE = re.compile(r"Mode: (leader|follower|observer|standalone|read-only)")
SERVING_MODES = ("leader", "follower", "observer")
# Stat fields the tree comparison looks at besides path and data.
TREE_FIELDS = ("version", "cversion", "aversion", "czxid", "mzxid", "pzxid", "ctime", "mtime",
               "ephemeralOwner")
# Nodes each member makes for itself rather than from txns: only their data
# must agree (Apache 3.8 stamps /zookeeper/config with the local start time).
LOCAL_NODES = ("/zookeeper/config",)


class Member:
    """One member's slot: ports, directory, and its process when running."""

    def __init__(self, sid, kind, workdir, ports, observer=False):
        self.sid = sid
        self.kind = kind
        self.workdir = Path(workdir)
        self.observer = observer
        self.client_port, self.quorum_port, self.election_port = ports
        self.server = None   # conftest.Server of the current (or last) process
        self.up = False      # started and neither stopped nor killed since
        # Environment variables added for this member's processes (czk only:
        # e.g. LD_PRELOAD of a fault shim); kept across restart().
        self.env = {}

    @property
    def hostport(self):
        return "%s:%d" % (HOST, self.client_port)

    @property
    def datadir(self):
        return self.workdir / "data"

    def running(self):
        return self.server is not None and self.server.alive()

    def exited(self):
        """The text of an unexpected exit (the member should be up), or None."""
        if not self.up or self.running():
            return None
        return "member %d (%s) exited with status %s\n%s" % (
            self.sid, self.kind, self.server.proc.returncode, self.server.log_tail(40))

    def __repr__(self):
        return "<member %d %s %s>" % (self.sid, self.kind, self.hostport)


class Ensemble:
    """Members sid 1..len(kinds) of one ensemble (see the module docstring).

    tick_ms, init_limit, sync_limit: zoo.cfg's tickTime, initLimit, syncLimit.
    observers: sids whose server.N line ends in ":observer".
    extra: more zoo.cfg keys for every member (value None removes a key).
    proxied: every member reaches every other through proxies that the
    test can cut (partition(), heal(); see the module docstring).
    """

    def __init__(self, tmp_path, kinds, tick_ms=500, init_limit=10, sync_limit=5,
                 observers=(), extra=None, proxied=False):
        for kind in kinds:
            assert kind in ("apache", "czk", None), kind
        self.tmp_path = Path(tmp_path)
        self.tick_ms = tick_ms
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.extra = dict(extra or {})
        ports = []
        while len(ports) < 3 * len(kinds):
            port = free_port()
            if port not in ports:
                ports.append(port)
        self.members = {}
        for i, kind in enumerate(kinds):
            sid = i + 1
            self.members[sid] = Member(sid, kind, self.tmp_path / ("s%d" % sid),
                                       ports[3 * i:3 * i + 3], observer=sid in observers)
        self.clients = []
        self.proxied = proxied
        # {(i, j): {"quorum": Proxy, "election": Proxy}}: i's way to j
        self.links = {}
        if proxied:
            self._make_links()

    def _make_links(self):
        # The members' ports were free when picked but are not bound yet: a
        # proxy given one of them by the kernel is replaced.
        taken = set()
        for m in self.members.values():
            taken |= {m.client_port, m.quorum_port, m.election_port}

        def proxy(target_port, name):
            unlucky = []
            p = netproxy.Proxy(target_port, name)
            while p.port in taken:
                unlucky.append(p)
                p = netproxy.Proxy(target_port, name)
            for u in unlucky:
                u.close()
            return p

        sids = list(self.members)
        for i in sids:
            for j in sids:
                if i != j:
                    self.links[(i, j)] = {
                        "quorum": proxy(self.members[j].quorum_port, "q%d->%d" % (i, j)),
                        "election": proxy(self.members[j].election_port, "e%d->%d" % (i, j))}
        for (i, j), link in self.links.items():
            # i's election header must name i as j sees it: P(j->i).
            link["election"].rewrite = netproxy.election_header_rewrite(
                "%s:%d" % (HOST, self.links[(j, i)]["election"].port))

    # -- network partitions (proxied ensembles) --------------------------

    def link_proxies(self, i, j):
        """The proxies of member i's way to member j (quorum, election)."""
        assert self.proxied, "not a proxied ensemble"
        link = self.links[(i, j)]
        return [link["quorum"], link["election"]]

    def cut(self, i, j, hold=False):
        """Cut i's way to j (the connections i dials to j), both ports:
        connections reset, new ones refused (hold: a silent partition, see
        netproxy.Proxy.cut)."""
        for p in self.link_proxies(i, j):
            p.cut(hold=hold)

    def heal_link(self, i, j):
        for p in self.link_proxies(i, j):
            p.heal()

    def partition(self, *groups, hold=False):
        """Cut every link (both ways) between members of different groups;
        a member in no group is cut off from all.  Links within a group are
        healed.  partition({1}, {2, 3}) isolates member 1."""
        assert self.proxied, "not a proxied ensemble"
        group_of = {}
        for n, group in enumerate(groups):
            for sid in group:
                assert sid in self.members and sid not in group_of, sid
                group_of[sid] = n
        for sid in self.members:
            group_of.setdefault(sid, ("alone", sid))
        for (i, j) in self.links:
            if group_of[i] == group_of[j]:
                self.heal_link(i, j)
            else:
                self.cut(i, j, hold=hold)

    def isolate(self, sid, hold=False):
        """Cut member sid off from every other member."""
        self.partition({s for s in self.members if s != sid}, hold=hold)

    def heal(self):
        """Restore every link."""
        for (i, j) in self.links:
            self.heal_link(i, j)

    def close_links(self):
        for link in self.links.values():
            for p in link.values():
                p.close()
        self.links.clear()

    # -- configuration ---------------------------------------------------

    def server_lines(self, sid=None):
        """{"server.N": "127.0.0.1:quorum:election[:observer]"} for every
        member, as member sid sees them (proxied: the others' lines name
        sid's proxies to them; sid None: every real address)."""
        lines = {}
        for m in self.members.values():
            quorum, election = m.quorum_port, m.election_port
            if self.proxied and sid is not None and m.sid != sid:
                link = self.links[(sid, m.sid)]
                quorum, election = link["quorum"].port, link["election"].port
            lines["server.%d" % m.sid] = "%s:%d:%d%s" % (HOST, quorum, election,
                                                          ":observer" if m.observer else "")
        return lines

    def cfg(self, sid):
        """zoo.cfg keys of member sid beyond conftest.DEFAULT_CFG (write_cfg's `extra`)."""
        cfg = {"tickTime": str(self.tick_ms), "initLimit": str(self.init_limit),
               "syncLimit": str(self.sync_limit)}
        cfg.update(self.server_lines(sid))
        cfg.update(self.extra)
        return cfg

    def write_myid(self, sid):
        m = self.members[sid]
        m.datadir.mkdir(parents=True, exist_ok=True)
        (m.datadir / "myid").write_text("%d\n" % sid)
        return m.workdir

    def write_member(self, sid):
        """zoo.cfg and data/myid of a slot the test runs itself; its zoo.cfg path."""
        m = self.members[sid]
        self.write_myid(sid)
        _, cfg_path = write_cfg(m.workdir, self.cfg(sid), port=m.client_port)
        return cfg_path

    # -- processes -------------------------------------------------------

    def server_sids(self):
        """The sids the harness runs (kind not None)."""
        return [sid for sid, m in self.members.items() if m.kind is not None]

    def running_sids(self):
        return [sid for sid, m in self.members.items() if m.running()]

    def assert_up(self):
        """Fail with the log of every member that should be up but exited."""
        exits = [m.exited() for m in self.members.values() if m.exited()]
        if exits:
            raise AssertionError("\n".join(exits))

    def up_sids(self):
        """The members started and not stopped or killed since (whether or
        not their process still runs)."""
        return [sid for sid, m in self.members.items() if m.up]

    def server(self, sid):
        """conftest.Server of member sid (its current or last process)."""
        return self.members[sid].server

    def servers(self):
        """{sid: conftest.Server} of the members started so far."""
        return {sid: m.server for sid, m in self.members.items() if m.server is not None}

    def start(self, sid, env=None, keep_cfg=False):
        """Start member sid on its zoo.cfg, myid and data dir; returns its
        Server at once (a member serves only within a quorum: wait_modes).
        env: variables to add to a czk member's environment from now on
        (Member.env, kept by restart(); {} clears them).  keep_cfg: on the
        zoo.cfg the member's directory holds now (as the last server left
        it), not one written afresh."""
        m = self.members[sid]
        assert m.kind is not None, "member %d is run by the test" % sid
        assert not m.running(), "member %d already runs" % sid
        if env is not None:
            m.env = dict(env)
        assert not m.env or m.kind == "czk", "env is for czk members only"
        self.write_myid(sid)
        # The child copies os.environ when it is spawned (wait=False returns
        # right after), so the variables are set for that moment only.
        # Every czk member checks each tree it keeps at a role's end against
        # a reload of its data dir, and aborts on a difference.
        env = {"CZK_ROLE_END_VERIFY": "1"} if m.kind == "czk" else {}
        env.update(m.env)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            m.server = start_server(m.kind, m.workdir, self.cfg(sid), port=m.client_port,
                                    wait=False, jvm_props=self._jvm_props(m),
                                    keep_cfg=keep_cfg)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        m.up = True
        return m.server

    def _jvm_props(self, m):
        # Apache 3.8 reads readonlymode.enabled only as a Java system
        # property (a zoo.cfg key becomes zookeeper.readonlymode.enabled,
        # which nothing reads); czk reads it from zoo.cfg
        if m.kind != "apache" or "readonlymode.enabled" not in self.extra:
            return None
        return {"readonlymode.enabled": self.extra["readonlymode.enabled"]}

    def start_all(self, sids=None):
        for sid in (sids or self.server_sids()):
            self.start(sid)

    def start_three_led_by_3(self):
        """Members 3 and 2, then (once they serve) 1: with equal (empty)
        logs the highest sid leads, so member 3 leads whatever the kinds
        and however slowly a JVM starts."""
        self.start(3)
        self.start(2)
        self.wait_modes(sids=[2, 3])
        self.start(1)
        return self.wait_modes()

    def config_files(self):
        """{sid: {name: text}} of the zoo.cfg* files in each member's
        directory (reconfigEnabled's files)."""
        return {sid: {p.name: p.read_text() for p in sorted(m.workdir.glob("zoo.cfg*"))}
                for sid, m in self.members.items()}

    def stop(self, sid):
        """SIGTERM by pid (SIGKILL after 5 s), and wait for the exit."""
        m = self.members[sid]
        m.up = False
        if m.server is not None:
            m.server.stop()

    def kill(self, sid):
        """kill -9 by pid, and wait for the exit."""
        m = self.members[sid]
        m.up = False
        if m.server is not None:
            m.server.kill()

    def restart(self, sid):
        """Stop member sid if it runs, then start it on the same data dir and ports."""
        self.stop(sid)
        return self.start(sid)

    def replace(self, sid, kind, kill=False, keep_cfg=False):
        """One step of a rolling migration: stop member sid (SIGTERM by pid;
        kill=True: kill -9) and start it again as `kind` ("apache" or "czk")
        on the same zoo.cfg, myid, data dir and ports.  Both kinds write
        their logs into the member's directory (zookeeper.log,
        czk-server.log); log_tail() shows the current process's.  keep_cfg:
        on the zoo.cfg as the stopped server left it (see start)."""
        assert kind in ("apache", "czk"), kind
        assert self.members[sid].kind is not None, "member %d is run by the test" % sid
        if kill:
            self.kill(sid)
        else:
            self.stop(sid)
        self.members[sid].kind = kind
        return self.start(sid, keep_cfg=keep_cfg)

    def kinds(self):
        """{sid: kind} of every member, as they are now (replace() changes them)."""
        return {sid: m.kind for sid, m in self.members.items()}

    def stop_clients(self):
        for c in self.clients:
            try:
                c.stop()
                c.close()
            except Exception:
                pass
        self.clients.clear()

    def stop_all(self):
        """Close the clients made by client(), stop every member by pid
        (SIGTERM to all first, so that they stop in parallel)."""
        self.stop_clients()
        for m in self.members.values():
            if m.running():
                try:
                    os.kill(m.server.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for sid in self.members:
            self.stop(sid)
        self.close_links()

    # -- state -----------------------------------------------------------

    def mode(self, sid):
        """Member sid's `srvr` Mode (leader, follower, observer, standalone), or
        None: not running, not answering, or not serving (LOOKING, syncing)."""
        m = self.members[sid]
        if not m.running():
            return None
        try:
            out = zkwire.four_letter(HOST, m.client_port, "srvr", timeout=2.0)
        except OSError:
            return None
        match = MODE_RE.search(out)
        return match.group(1) if match else None

    def modes(self, sids=None):
        """{sid: mode or None} of the running members (or of `sids`), one poll each."""
        return {sid: self.mode(sid) for sid in (sids or self.running_sids())}

    def wait_modes(self, sids=None, timeout=60.0, deadline=None):
        """{sid: mode} once, in one round of `srvr`, every member in `sids`
        (default: up_sids(), every member started and not stopped or killed
        since) reports leader, follower or observer (observers: observer) and
        exactly one reports leader.  Any member that should be up but whose
        process has exited fails the test at once with its log; so does the
        deadline (time.monotonic(); default now + timeout)."""
        if deadline is None:
            deadline = time.monotonic() + timeout
        want = list(sids) if sids is not None else self.up_sids()
        for sid in want:
            assert self.members[sid].up, "member %d was not started" % sid
        last = {}
        while True:
            self.assert_up()
            last = self.modes(want)
            leaders = [s for s, mode in last.items() if mode == "leader"]
            good = all(mode in SERVING_MODES and
                       (mode == "observer") == self.members[s].observer
                       for s, mode in last.items())
            if want and good and len(leaders) == 1:
                return last
            if time.monotonic() > deadline:
                tails = "\n".join("--- member %d ---\n%s" % (s, self.members[s].server.log_tail(20))
                                  for s in want)
                raise AssertionError("ensemble did not form: modes %s\n%s" % (last, tails))
            time.sleep(0.1)

    def wait_not_serving(self, sids, timeout=60.0):
        """Until no member in `sids` reports a mode (each is LOOKING, syncing
        or down); fails the test after `timeout` seconds with their modes."""
        deadline = time.monotonic() + timeout
        while True:
            modes = self.modes(sids)
            if not any(modes.values()):
                return
            assert time.monotonic() < deadline, "still serving: %s" % modes
            time.sleep(0.2)

    def leader_sid(self, sids=None, timeout=60.0, deadline=None):
        """The sid of the leader once wait_modes() holds."""
        modes = self.wait_modes(sids, timeout, deadline)
        return [s for s, mode in modes.items() if mode == "leader"][0]

    def follower_sids(self, sids=None, timeout=60.0, deadline=None):
        modes = self.wait_modes(sids, timeout, deadline)
        return sorted(s for s, mode in modes.items() if mode == "follower")

    def zxid(self, sid):
        """Member sid's last zxid as `srvr` reports it."""
        out = zkwire.four_letter(HOST, self.members[sid].client_port, "srvr", timeout=5.0)
        return int(re.search(r"Zxid: 0x([0-9a-f]+)", out).group(1), 16)

    # -- clients ---------------------------------------------------------

    def hosts(self, sid=None, failover=False):
        """Connect string: every member the harness runs (sid None); member
        sid alone; or with failover, member sid first and then the others in
        sid order (use with randomize_hosts=False)."""
        others = [self.members[s].hostport for s in self.server_sids() if s != sid]
        if sid is None:
            return ",".join(others)
        first = self.members[sid].hostport
        return ",".join([first] + others) if failover else first

    def client(self, sid=None, failover=False, start_timeout=30.0, **kw):
        """A started KazooClient on hosts(sid, failover); closed by stop_all().
        kw go to KazooClient (defaults: timeout 10 s, connection retries
        without end, 0.1 s apart)."""
        from kazoo.client import KazooClient
        kw.setdefault("timeout", 10.0)
        kw.setdefault("connection_retry", {"max_tries": -1, "delay": 0.1, "backoff": 1,
                                           "max_delay": 0.5})
        if sid is not None and failover:
            kw.setdefault("randomize_hosts", False)
        c = KazooClient(hosts=self.hosts(sid, failover), **kw)
        self.clients.append(c)
        c.start(timeout=start_timeout)
        return c

    def tree(self, sid, root="/"):
        """{path: {"data": hex, field: value for TREE_FIELDS}} of every node
        under root on member sid alone, read after sync(root)."""
        c = self.client(sid)
        try:
            c.sync(root)
            tree = read_tree(c, root)
            if self.proxied:
                for path in LOCAL_NODES:
                    if path in tree:
                        tree[path]["data"] = membership_of(
                            bytes.fromhex(tree[path]["data"])).hex()
            return tree
        finally:
            self.clients.remove(c)
            c.stop()
            c.close()

    def assert_trees_equal(self, sids=None):
        """Every node equal on every member in `sids` (default: up_sids()):
        the nodes each member makes for itself (LOCAL_NODES,
        /zookeeper/config) by their data only."""
        trees = self.trees(sids)
        for tree in trees.values():
            for path in LOCAL_NODES:
                tree[path] = tree[path]["data"]
        first = next(iter(trees.values()))
        for sid, tree in trees.items():
            assert tree == first, "member %d differs" % sid

    def trees(self, sids=None, root="/"):
        """{sid: tree(sid)} of `sids` (default: up_sids())."""
        self.assert_up()
        return {sid: self.tree(sid, root) for sid in (sids or self.up_sids())}


SERVER_LINE_RE = re.compile(r"^(server\.\d+)=([^;]*)(;.*)?$")


def membership_of(config):
    """/zookeeper/config's data without the quorum and election addresses
    (which differ per member of a proxied ensemble): its lines sorted,
    "server.N=<role>[;client address]" and the others as they are."""
    lines = []
    for line in config.decode(errors="replace").splitlines():
        m = SERVER_LINE_RE.match(line)
        if m:
            role = m.group(2).rsplit(":", 1)[-1]
            if role not in ("participant", "observer"):
                role = "participant"
            line = "%s=%s%s" % (m.group(1), role, m.group(3) or "")
        lines.append(line)
    return "\n".join(sorted(lines)).encode()


def read_tree(kz, root="/"):
    tree = {}
    todo = [root]
    while todo:
        path = todo.pop()
        data, st = kz.get(path)
        node = {f: getattr(st, f) for f in TREE_FIELDS}
        node["data"] = (data or b"").hex()
        tree[path] = node
        for child in kz.get_children(path):
            todo.append(path.rstrip("/") + "/" + child)
    return tree


@pytest.fixture
def make_ensemble(tmp_path):
    """Factory: make_ensemble(kinds, **kw) -> Ensemble (not started).  Every
    member and client is stopped at the end of the test, pass or fail."""
    made = []

    def make(kinds, subdir=None, **kw):
        path = tmp_path / (subdir or "ens%d" % len(made))
        ens = Ensemble(path, kinds, **kw)
        made.append(ens)
        return ens

    yield make
    for ens in made:
        ens.stop_all()
    # CZK_ROLE_END_VERIFY (see Ensemble.start): a member that kept a tree
    # unequal to its data dir aborted; say so even if the test did not see it
    for ens in made:
        for sid, m in ens.members.items():
            for log in sorted(Path(m.workdir).glob("*.log")):
                text = log.read_text(errors="replace")
                assert "the kept tree differs" not in text and \
                    "the data dir does not reload" not in text, (
                        "member %d: CZK_ROLE_END_VERIFY failed (%s):\n%s" % (
                            sid, log, "\n".join(line for line in text.splitlines()
                                                 if "CZK_ROLE_END_VERIFY" in line)))


# ---------------------------------------------------------------------------
# client histories

# Replies that say the server did not carry out the op.  Anything else
# (connection loss, timeout, session expired/moved, a closed client) leaves
# the outcome unknown: the op may or may not have been applied.
def _definite_errors():
    from kazoo import exceptions as e
    return (e.NoNodeError, e.NodeExistsError, e.BadVersionError, e.NoAuthError, e.NotEmptyError,
            e.BadArgumentsError, e.InvalidACLError, e.NoChildrenForEphemeralsError)


@dataclass
class Op:
    """One client op. kind: "create" (path, value), "set" (path, value),
    "get" (path; value is what it read) or "sync_get" (a reader's
    sync(path) then get(path); value is what it read; invoke_s is taken
    before the sync is sent, writer is None). outcome: None while in
    flight, then "ok", "failed" (the server refused it) or "unknown"."""
    id: int
    writer: int
    session: int           # kazoo session id at invocation (0 if none)
    kind: str
    path: str
    value: object
    invoke_s: float
    complete_s: float = None
    outcome: str = None
    version: int = None    # the Stat's version of an ok set or get
    error: str = ""
    reader: int = None     # the reader of a sync_get


class History:
    """A thread-safe list of Ops."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []

    def invoke(self, writer, kind, path, value=None, session=0, reader=None):
        with self.lock:
            op = Op(len(self.ops), writer, session, kind, path, value, time.monotonic(),
                    reader=reader)
            self.ops.append(op)
            return op

    def _complete(self, op, outcome, **kw):
        with self.lock:
            assert op.outcome is None, op
            op.outcome = outcome
            op.complete_s = time.monotonic()
            for k, v in kw.items():
                setattr(op, k, v)

    def ok(self, op, version=None, value=None):
        kw = {"version": version}
        if value is not None:
            kw["value"] = value
        self._complete(op, "ok", **kw)

    def failed(self, op, error):
        self._complete(op, "failed", error=error)

    def unknown(self, op, error):
        self._complete(op, "unknown", error=error)

    def snapshot(self):
        with self.lock:
            return list(self.ops)

    def count(self, outcome="ok", kinds=("create", "set"), since_s=None, writer=None):
        """Number of ops with that outcome (completed after since_s)."""
        with self.lock:
            return sum(1 for op in self.ops
                       if op.outcome == outcome and op.kind in kinds and
                       (since_s is None or op.complete_s > since_s) and
                       (writer is None or op.writer == writer))

    def problems(self, ens, root, writers, sids=None):
        """check_history over the trees of the members that are up (or sids)."""
        return check_history(self.snapshot(), ens.trees(sids), root, writers)

    def check(self, ens, root, writers, sids=None):
        """Assert check_history finds nothing; returns the counts by outcome."""
        found = self.problems(ens, root, writers, sids)
        assert not found, "history check: %d problems:\n%s" % (len(found), "\n".join(found[:40]))
        counts = {}
        for op in self.snapshot():
            counts[(op.kind, op.outcome)] = counts.get((op.kind, op.outcome), 0) + 1
        return counts


def writer_dir(root, writer):
    return "%s/w%d" % (root, writer)


def key_path(root, writer, key):
    return "%s/k%d" % (writer_dir(root, writer), key)


def create_path(root, writer, n):
    return "%s/c%06d" % (writer_dir(root, writer), n)


def _value(data):
    return int(data.decode()) if data else None


def check_history(ops, trees, root, writers):
    """Problems (a list of strings; empty = none) of a history against the
    trees of the members ({sid: read_tree()}), all read once the ensemble
    healed and the load stopped.  `writers`: {writer: number of keys}.

    - trees: every member has the same nodes with the same data and Stat
      fields (TREE_FIELDS);
    - creates: an ok create's node is on every member with its value; a
      failed one's is not; a node under a writer's dir that no op created
      is reported (phantom);
    - sets, per key of a writer: the ok sets' versions and values grow in
      the order they were acknowledged (the writer is sequential: each op
      completes before the next starts); the number of sets applied (the
      final version; a key starts at version 0 with no data) is at least
      the ok sets and at most the ok + unknown ones; the final value is the
      last ok set's or one of a later unknown set, never a failed one's;
    - gets, per session: a read returns the session's last acknowledged
      value of that key or a later one, and never a value no op wrote;
    - sync + read (a reader's sync_get): it returns at least the newest
      value of that key whose set was acknowledged before the sync was sent
      (a key has one writer, whose values grow), never a value no op wrote,
      and never that of a set invoked after the read completed.
    """
    problems = []
    sids = sorted(trees)
    if not sids:
        return ["no member tree to check"]
    ref_sid = sids[0]
    ref = trees[ref_sid]
    for sid in sids[1:]:
        t = trees[sid]
        only_ref = sorted(set(ref) - set(t))
        only_t = sorted(set(t) - set(ref))
        if only_ref or only_t:
            problems.append("members %d and %d differ: only on %d %s, only on %d %s" % (
                ref_sid, sid, ref_sid, only_ref[:10], sid, only_t[:10]))
        diff = sorted(p for p in set(ref) & set(t)
                      if (ref[p]["data"] != t[p]["data"] if p in LOCAL_NODES else ref[p] != t[p]))
        for p in diff[:10]:
            problems.append("members %d and %d differ at %s: %s vs %s" % (
                ref_sid, sid, p, ref[p], t[p]))

    by_writer = {}
    for op in ops:
        if op.writer is not None:
            by_writer.setdefault(op.writer, []).append(op)
    for w, nkeys in sorted(writers.items()):
        wops = sorted(by_writer.get(w, []), key=lambda o: o.invoke_s)
        for k in range(nkeys):
            key = key_path(root, w, k)
            problems += _check_key_history(key, [op for op in wops
                                                 if op.path == key and op.kind == "set"])

    for sid in sids:
        tree = trees[sid]
        for w, nkeys in sorted(writers.items()):
            wops = sorted(by_writer.get(w, []), key=lambda o: o.invoke_s)
            wdir = writer_dir(root, w)
            if wdir not in tree:
                problems.append("member %d: %s is missing" % (sid, wdir))
                continue
            creates = {op.path: op for op in wops if op.kind == "create"}
            for path, op in sorted(creates.items()):
                node = tree.get(path)
                if op.outcome == "ok":
                    if node is None:
                        problems.append("member %d: lost acknowledged create %s (op %d)"
                                        % (sid, path, op.id))
                    elif node["data"] != (b"%d" % op.value).hex():
                        problems.append("member %d: %s holds %s, the create wrote %d" % (
                            sid, path, bytes.fromhex(node["data"]), op.value))
                elif op.outcome == "failed" and node is not None:
                    problems.append("member %d: failed create %s (op %d: %s) is present"
                                    % (sid, path, op.id, op.error))
            keys = {key_path(root, w, k) for k in range(nkeys)}
            for path in sorted(tree):
                if path.startswith(wdir + "/") and path not in creates and path not in keys:
                    problems.append("member %d: %s exists but no op created it" % (sid, path))
            for key in sorted(keys):
                problems += _check_key_final(sid, tree.get(key), key,
                                             [op for op in wops if op.path == key and
                                              op.kind == "set"])

    # Reads, per session (ZooKeeper's promise: a session sees its own
    # writes; a later server it moves to is never behind what it saw).
    for w, wops in sorted(by_writer.items()):
        wops = sorted(wops, key=lambda o: o.invoke_s)
        written = {}
        last_ok = {}
        for op in wops:
            if op.kind == "set" and op.outcome != "failed":
                written.setdefault(op.path, set()).add(op.value)
        for op in wops:
            if op.kind == "set" and op.outcome == "ok":
                last_ok[(op.session, op.path)] = op.value
            if op.kind != "get" or op.outcome != "ok":
                continue
            floor = last_ok.get((op.session, op.path))
            if op.value is None:
                if floor is not None:
                    problems.append("writer %d: read of %s (op %d) saw no value after the "
                                    "session's acknowledged %d" % (w, op.path, op.id, floor))
                continue
            if op.value not in written.get(op.path, ()):
                problems.append("writer %d: read of %s (op %d) saw %d, which no op wrote"
                                % (w, op.path, op.id, op.value))
            if floor is not None and op.value < floor:
                problems.append("writer %d: read of %s (op %d) saw %d after the session's "
                                "acknowledged %d" % (w, op.path, op.id, op.value, floor))
    problems += _check_sync_reads(ops)
    return problems


def _check_sync_reads(ops):
    """Linearizable sync + read: each ok sync_get against the sets of its key."""
    problems = []
    sets = {}
    for op in ops:
        if op.kind == "set":
            sets.setdefault(op.path, []).append(op)
    for op in ops:
        if op.kind != "sync_get" or op.outcome != "ok":
            continue
        key_sets = sets.get(op.path, [])
        before = [s.value for s in key_sets
                  if s.outcome == "ok" and s.complete_s < op.invoke_s]
        floor = max(before) if before else None
        if op.value is None:
            if floor is not None:
                problems.append("reader %s: sync + read of %s (op %d) saw no value; %d was "
                                "acknowledged before the sync" % (op.reader, op.path, op.id,
                                                                  floor))
            continue
        setter = [s for s in key_sets if s.value == op.value and s.outcome != "failed"]
        if not setter:
            problems.append("reader %s: sync + read of %s (op %d) saw %d, which no op wrote"
                            % (op.reader, op.path, op.id, op.value))
            continue
        if setter[0].invoke_s > op.complete_s:
            problems.append("reader %s: sync + read of %s (op %d) saw %d, whose set started "
                            "after the read completed" % (op.reader, op.path, op.id, op.value))
        if floor is not None and op.value < floor:
            problems.append("reader %s: stale sync + read of %s (op %d): saw %d; %d was "
                            "acknowledged before the sync" % (op.reader, op.path, op.id,
                                                              op.value, floor))
    return problems


def _check_key_history(key, sets):
    """The acknowledged sets of one key of one (sequential) writer."""
    problems = []
    ok = [op for op in sets if op.outcome == "ok"]
    for a, b in zip(ok, ok[1:]):
        if not (b.version > a.version and b.value > a.value):
            problems.append("%s: acknowledged set %d (value %d, version %d) after set %d "
                            "(value %d, version %d) went backwards" % (
                                key, b.id, b.value, b.version, a.id, a.value, a.version))
    for i, op in enumerate(sets):
        if op.outcome != "ok":
            continue
        low = 1 + sum(1 for o in sets[:i] if o.outcome == "ok")
        high = 1 + sum(1 for o in sets[:i] if o.outcome != "failed")
        if not low <= op.version <= high:
            problems.append("%s: acknowledged set %d has version %d; the sets before it allow "
                            "%d..%d" % (key, op.id, op.version, low, high))
    return problems


def _check_key_final(sid, node, key, sets):
    """Member sid's node of one key against that key's sets."""
    if node is None:
        return ["member %d: key %s is missing" % (sid, key)]
    problems = []
    ok = [op for op in sets if op.outcome == "ok"]
    unknown = [op for op in sets if op.outcome in ("unknown", None)]
    version = node["version"]
    if not len(ok) <= version <= len(ok) + len(unknown):
        problems.append("member %d: %s has version %d after %d acknowledged and %d unknown sets"
                        % (sid, key, version, len(ok), len(unknown)))
    value = _value(bytes.fromhex(node["data"]))
    if ok:
        allowed = {ok[-1].value} | {op.value for op in unknown if op.invoke_s > ok[-1].invoke_s}
    else:
        allowed = {None} | {op.value for op in unknown}
    if value in allowed:
        return problems
    if ok and (value is None or value < ok[-1].value):
        problems.append("member %d: lost acknowledged set of %s: it holds %s, the last "
                        "acknowledged value is %d (op %d)" % (sid, key, value, ok[-1].value,
                                                              ok[-1].id))
    else:
        problems.append("member %d: %s holds %s; possible values %s" % (
            sid, key, value, sorted(v for v in allowed if v is not None)))
    return problems


class Load:
    """Writer threads: writer i (0-based) has its own kazoo session, first on
    member sids[i % len(sids)] (failing over to the others), and cycles
    through create <root>/w<i>/c<n>, set <root>/w<i>/k<j> (values increase
    per writer) and get of a key, recording every op in `history`.

    readers: reader threads, reader r with its own session first on member
    reader_sid(r) (the next member after the writers' first; failing over
    likewise), cycling over the keys of the writers that start on another
    member: sync(key) then get(key), recorded as one sync_get op.

    op_timeout_s: an op with no answer by then is recorded unknown and the
    writer goes on.  pause_s: pacing between ops (not synchronisation).
    failover: False keeps each session on its first member alone."""

    def __init__(self, ens, history=None, writers=3, keys=2, root="/hist", sids=None,
                 op_timeout_s=10.0, pause_s=0.005, session_timeout_s=10.0, readers=0,
                 failover=True):
        self.ens = ens
        self.history = history if history is not None else History()
        self.nwriters = writers
        self.nkeys = keys
        self.root = root
        self.sids = list(sids or ens.server_sids())
        self.op_timeout_s = op_timeout_s
        self.pause_s = pause_s
        self.session_timeout_s = session_timeout_s
        self.nreaders = readers
        self.failover = failover
        self.stopping = threading.Event()
        self.threads = []
        self.clients = {}
        self.reader_clients = {}
        self.errors = []

    @property
    def writers(self):
        """{writer: number of keys}, as check_history takes it."""
        return {w: self.nkeys for w in range(self.nwriters)}

    def writer_sid(self, w):
        return self.sids[w % len(self.sids)]

    def reader_sid(self, r):
        """Reader r's first member: after writer 0's, among the writers'
        members, or among all members when the writers share one."""
        sids = sorted(set(self.sids))
        if len(sids) == 1:
            sids = self.ens.server_sids()
        return sids[(sids.index(self.sids[0]) + 1 + r) % len(sids)]

    def reader_keys(self, r):
        """The keys reader r reads: those of writers starting elsewhere."""
        sid = self.reader_sid(r)
        return [key_path(self.root, w, k) for w in range(self.nwriters)
                if self.writer_sid(w) != sid for k in range(self.nkeys)]

    def start(self):
        """Create the writers' dirs and keys (through member sids[0]), open the
        sessions, start the threads."""
        setup = self.ens.client(self.sids[0], failover=True)
        for w in range(self.nwriters):
            setup.ensure_path(writer_dir(self.root, w))
            for k in range(self.nkeys):
                setup.create(key_path(self.root, w, k), b"")
        self.ens.clients.remove(setup)
        setup.stop()
        setup.close()
        for w in range(self.nwriters):
            self.clients[w] = self.ens.client(self.writer_sid(w), failover=self.failover,
                                              timeout=self.session_timeout_s)
        for r in range(self.nreaders):
            assert self.reader_keys(r), "reader %d: every writer is on its member" % r
            self.reader_clients[r] = self.ens.client(self.reader_sid(r), failover=self.failover,
                                                     timeout=self.session_timeout_s)
        for w in range(self.nwriters):
            t = threading.Thread(target=self._run, args=(self._loop, w), daemon=True,
                                 name="writer-%d" % w)
            self.threads.append(t)
            t.start()
        for r in range(self.nreaders):
            t = threading.Thread(target=self._run, args=(self._read_loop, r), daemon=True,
                                 name="reader-%d" % r)
            self.threads.append(t)
            t.start()
        return self

    def _run(self, loop, n):
        try:
            loop(n)
        except Exception as e:  # a bug in the recorder itself
            self.errors.append("%s: %r" % (threading.current_thread().name, e))
            raise

    def _read_loop(self, r):
        kz = self.reader_clients[r]
        keys = self.reader_keys(r)
        definite = _definite_errors()
        h = self.history
        step = 0
        while not self.stopping.is_set():
            key = keys[step % len(keys)]
            session = kz.client_id[0] if kz.client_id else 0
            op = h.invoke(None, "sync_get", key, None, session, reader=r)
            try:
                kz.sync_async(key).get(timeout=self.op_timeout_s)
                data, st = kz.get_async(key).get(timeout=self.op_timeout_s)
            except definite as e:
                h.failed(op, repr(e))
            except Exception as e:
                h.unknown(op, repr(e))
            else:
                h.ok(op, version=st.version, value=_value(data))
            step += 1
            self.stopping.wait(self.pause_s)

    def _loop(self, w):
        kz = self.clients[w]
        definite = _definite_errors()
        h = self.history
        n_create = 0
        value = 0
        step = 0
        while not self.stopping.is_set():
            which = step % 4
            key = key_path(self.root, w, (step // 4 + (which == 2)) % self.nkeys)
            session = kz.client_id[0] if kz.client_id else 0
            if which == 0:
                n_create += 1
                op = h.invoke(w, "create", create_path(self.root, w, n_create), n_create, session)
                call = kz.create_async(op.path, b"%d" % n_create)
            elif which in (1, 2):
                value += 1
                op = h.invoke(w, "set", key, value, session)
                call = kz.set_async(key, b"%d" % value)
            else:
                op = h.invoke(w, "get", key, None, session)
                call = kz.get_async(key)
            try:
                result = call.get(timeout=self.op_timeout_s)
            except definite as e:
                h.failed(op, repr(e))
            except Exception as e:
                h.unknown(op, repr(e))
            else:
                if op.kind == "create":
                    h.ok(op)
                elif op.kind == "set":
                    h.ok(op, version=result.version)
                else:
                    data, st = result
                    h.ok(op, version=st.version, value=_value(data))
            step += 1
            self.stopping.wait(self.pause_s)

    def wait_ok(self, n, since_s=None, timeout=30.0, writer=None, kinds=("create", "set")):
        """Poll until n writes (create/set; or ops of `kinds`) completed after
        since_s are acknowledged; fails at the timeout, when a writer thread
        fails, or when a member that should be up has exited."""
        deadline = time.monotonic() + timeout
        while self.history.count("ok", kinds, since_s=since_s, writer=writer) < n:
            assert not self.errors, self.errors
            self.ens.assert_up()
            assert time.monotonic() < deadline, "only %d of %d %s acknowledged: %s" % (
                self.history.count("ok", kinds, since_s=since_s, writer=writer), n,
                "/".join(kinds), self.history.snapshot()[-5:])
            time.sleep(0.05)

    def stop(self):
        """Stop the threads (each finishes its op), close the sessions."""
        self.stopping.set()
        for t in self.threads:
            t.join(self.op_timeout_s + 5)
            assert not t.is_alive(), "writer thread %s did not stop" % t.name
        for c in list(self.clients.values()) + list(self.reader_clients.values()):
            if c in self.ens.clients:
                self.ens.clients.remove(c)
            try:
                c.stop()
                c.close()
            except Exception:
                pass
        self.clients.clear()
        self.reader_clients.clear()
        assert not self.errors, self.errors
        return self.history

    def check(self, sids=None):
        return self.history.check(self.ens, self.root, self.writers, sids)

    def problems(self, sids=None):
        return self.history.problems(self.ens, self.root, self.writers, sids)
