# SPDX-License-Identifier: Apache-2.0
"""Issue 10: a czk learner (src/node/quorum_port.c driving src/zab/zab.c and
a struct server) following a live Apache ZooKeeper 3.8.0 leader.

Three Apache voters run with `server.4=...:observer` in their zoo.cfg;
server 4 is tests/integration/learner_probe.c, an observer, which cannot
disturb the Apache quorum (it neither votes nor acks).

  SNAP:  data written through kazoo before the probe starts reaches it as a
         SNAP (the snapshot body and "BenWasHere" read off the quorum stream);
  INFORM: writes while it is connected reach it as INFORM packets;
  DIFF:  restarted on its own data dir after more writes, it recovers its
         snapshot and log and gets a DIFF from its last zxid, with the missed
         txns as PROPOSAL+COMMIT pairs.
After each phase every znode of the probe's tree (path, data, the Stat's
czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner,
pzxid) must equal what kazoo reads from the Apache leader."""
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from kazoo.security import make_acl, make_digest_acl

import zkwire
from conftest import HOST, czk_binary
from ensemble import make_ensemble  # noqa: F401  (a fixture)

PROBE_SID = 4
DEADLINE_S = 150.0
STAT_FIELDS = ["czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "pzxid"]


def probe_binary():
    return os.environ.get("CZK_LEARNER_PROBE") or str(
        Path(czk_binary()).parent / "tests" / "learner_probe")


class Probe:
    """learner_probe as a process: JSON lines out, commands in."""

    def __init__(self, args, log_path):
        self.log = open(log_path, "a")
        self.proc = subprocess.Popen([probe_binary()] + [str(a) for a in args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.events = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def next(self, deadline):
        while True:
            try:
                msg = self.lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("probe: no output before the deadline; events %s"
                                     % self.events)
            assert msg is not None, "probe exited (%s); events %s" % (self.proc.poll(),
                                                                       self.events)
            if "event" in msg:
                self.events.append(msg)
                assert msg["event"] != "stopped", "learner stopped: %s" % self.events
            return msg

    def wait_event(self, name, deadline):
        while True:
            msg = self.next(deadline)
            if msg.get("event") == name:
                return msg

    def command(self, cmd, deadline):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        replies = []
        while True:
            msg = self.next(deadline)
            if "event" in msg:
                continue
            replies.append(msg)
            if cmd == "zxid" or "dump_end" in msg:
                return replies

    def wait_applied(self, zxid, deadline):
        while time.monotonic() < deadline:
            if self.command("zxid", deadline)[0]["applied"] >= zxid:
                return
            time.sleep(0.05)
        raise AssertionError("probe did not apply up to 0x%x" % zxid)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.thread.join(5)
        self.log.close()
        return self.proc.returncode


def leader_zxid(srv):
    out = zkwire.four_letter(HOST, srv.port, "srvr", timeout=5.0)
    return int(re.search(r"Zxid: 0x([0-9a-f]+)", out).group(1), 16)


def apache_tree(kz):
    tree = {}
    todo = ["/"]
    while todo:
        path = todo.pop()
        data, st = kz.get(path)
        tree[path] = dict({f: getattr(st, f) for f in STAT_FIELDS}, data=(data or b"").hex())
        for child in kz.get_children(path):
            todo.append((path.rstrip("/") + "/" + child))
    return tree


def probe_tree(probe, deadline):
    """The probe's dump as kazoo's Stat shows it: the snapshot's cversion
    counts creates (StatPersisted); a Stat reports 2 * creates - children
    (DataNode.copyStat), as czk's tree does too."""
    tree = {}
    for msg in probe.command("dump", deadline):
        if "node" in msg:
            tree[msg["node"]] = {k: msg[k] for k in STAT_FIELDS + ["data"]}
    children = {p: 0 for p in tree}
    for p in tree:
        if p != "/":
            children[p.rsplit("/", 1)[0] or "/"] += 1
    for p, node in tree.items():
        node["cversion"] = node["cversion"] * 2 - children[p]
    return tree


def compare(probe, kz, leader, deadline):
    zxid = leader_zxid(leader)
    probe.wait_applied(zxid, deadline)
    want = apache_tree(kz)
    got = probe_tree(probe, deadline)
    assert sorted(got) == sorted(want), "paths differ: only czk %s, only Apache %s" % (
        sorted(set(got) - set(want)), sorted(set(want) - set(got)))
    diffs = {p: (got[p], want[p]) for p in want if got[p] != want[p]}
    assert not diffs, "nodes differ (czk, Apache): %s" % diffs
    return len(want)


def write_batch(kz, tag, n):
    kz.ensure_path("/app/%s" % tag)
    for i in range(n):
        kz.create("/app/%s/n" % tag, b"v%d" % i, sequence=True)
    kz.set("/app/%s" % tag, b"updated " + tag.encode())
    kz.create("/app/%s/eph" % tag, b"e", ephemeral=True)
    kz.create("/app/%s/gone" % tag, b"")
    kz.delete("/app/%s/gone" % tag)
    kz.create("/app/%s/big" % tag, os.urandom(200 * 1024))
    tx = kz.transaction()
    tx.create("/app/%s/m1" % tag, b"1")
    tx.create("/app/%s/m2" % tag, b"2")
    tx.set_data("/app/%s/m1" % tag, b"11")
    tx.commit()
    kz.create("/app/%s/locked" % tag, b"l")
    kz.set_acls("/app/%s/locked" % tag, [make_digest_acl("u", "p", all=True),
                                         make_acl("world", "anyone", read=True)])


def test_observer_follows_apache_leader_snap_inform_diff(make_ensemble, tmp_path):
    deadline = time.monotonic() + DEADLINE_S
    # Apache voters 1-3; 4 (the probe, run by the test) is an observer.
    ens = make_ensemble(["apache", "apache", "apache", None], tick_ms=2000, init_limit=10,
                        sync_limit=5, observers=(PROBE_SID,))
    probe = None
    try:
        ens.start_all()
        leader_sid = ens.leader_sid(deadline=deadline)
        leader = ens.server(leader_sid)

        kz = ens.client(leader_sid, timeout=20)
        write_batch(kz, "before", 30)

        data_dir = tmp_path / "probe"
        args = ["--sid", PROBE_SID, "--leader-sid", leader_sid,
                "--leader", "%s:%d" % (HOST, ens.members[leader_sid].quorum_port),
                "--voters", "1,2,3", "--data", data_dir, "--role", "observer",
                "--tick-ms", 2000, "--init-limit", 10, "--sync-limit", 5]
        log_path = tmp_path / "probe.log"

        # SNAP: a fresh learner is behind every committed log.
        probe = Probe(args, log_path)
        sync = probe.wait_event("sync", deadline)
        assert sync["mode"] == "SNAP", probe.events
        probe.wait_event("serving", deadline)
        n_snap = compare(probe, kz, leader, deadline)

        # INFORM: writes while it is serving.
        write_batch(kz, "during", 30)
        n_inform = compare(probe, kz, leader, deadline)
        assert n_inform > n_snap

        # DIFF: restart on its data dir after more writes.
        assert probe.stop() == 0
        probe = None
        last = leader_zxid(leader)
        write_batch(kz, "after", 30)
        probe = Probe(args, log_path)
        rec = probe.wait_event("recovered", deadline)
        assert rec["zxid"] == last, (rec, last)
        sync = probe.wait_event("sync", deadline)
        assert sync["mode"] == "DIFF", probe.events
        probe.wait_event("serving", deadline)
        compare(probe, kz, leader, deadline)

        # The ensemble is undisturbed: every Apache member still serves.
        assert sorted(ens.wait_modes(deadline=deadline).values()) == [
            "follower", "follower", "leader"]
    finally:
        if probe:
            probe.stop()
        ens.stop_all()
