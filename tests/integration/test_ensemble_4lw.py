# SPDX-License-Identifier: Apache-2.0
"""The four-letter words of an ensemble member, czk against Apache
ZooKeeper 3.8 in the same role, byte for byte once the values that differ by
nature (counts, latencies, sizes, zxids, ports, paths, times, versions) are
masked.  Mixed ensembles put each kind in each role: sid 3 starts first, so
that FLE (the highest sid among equal zxids) makes it the leader once a
second member is up.

  a. leader and follower: ["czk","apache","apache"] (Apache leads, a czk
     follower) and ["apache","czk","czk"] (czk leads, an Apache follower);
  b. observer: sid 3 an observer, of either kind, under a leader sid 2;
  c. a member between roles (no quorum): every word, with one member of
     each kind started alone;
  d. a leader's proposal sizes start again with each term.

Known differences (docs/OPERATIONS.md, "Four-letter words"): Apache's
per-learner summary sets (zk_*_<sid>_learner_handler_qp_size,
_qp_time_ms) and per-namespace write sets (zk_*_<ns>_write_per_namespace)
are not printed by czk, and are dropped from Apache's text here."""
import re
import time

import pytest

import zkwire
from conftest import HOST
from ensemble import Ensemble

WORDS = ("srvr", "stat", "cons", "mntr", "conf", "dirs", "isro", "ruok", "wchs", "gtmk", "dump")
# every word a member between roles answers
IDLE_WORDS = ("srvr", "stat", "mntr", "conf", "cons", "dirs", "wchs", "wchc", "wchp", "dump",
              "ruok", "isro", "gtmk", "hash", "srst", "crst")
# mntr keys Apache prints that czk does not (summary sets keyed by learner sid / namespace)
APACHE_ONLY = re.compile(r"^zk_(avg|min|max|cnt|sum|p50|p95|p99|p999)_"
                         r"(\d+_learner_handler_qp_(size|time_ms)|\w+_write_per_namespace)\t")
NUMBER = re.compile(r"(?<![A-Za-z_])-?\d+(\.\d+)?")
# mntr values that are equal in the same role of a quiet ensemble of three
MNTR_EQUAL = {"zk_server_state", "zk_peer_state", "zk_observer_master_id", "zk_ephemerals_count",
              "zk_outstanding_requests", "zk_znode_count", "zk_global_sessions", "zk_watch_count",
              "zk_learners", "zk_synced_followers", "zk_synced_non_voting_followers",
              "zk_synced_observers", "zk_pending_syncs", "zk_quorum_size",
              "zk_connection_drop_probability"}
# conf keys whose values differ by nature (ports, paths, sizes, the sid)
CONF_VARY = ("clientPort", "dataDir", "dataDirSize", "dataLogDir", "dataLogSize", "serverId",
             "electionPort", "quorumPort")


def _mask_value(text):
    text = re.sub(r"0x[0-9a-f]+", "HEX", text)
    text = text.replace("127.0.0.1", "HOST")
    return NUMBER.sub(lambda m: "F" if m.group(1) else "N", text)


def mask(word, text):
    """The text with the values that differ by nature replaced."""
    text = re.sub(r"(Zookeeper version: |zk_version\t)[^\n]*", r"\1VERSION", text)
    if word == "mntr":
        out = []
        for line in text.split("\n"):
            if APACHE_ONLY.match(line):
                continue
            key, tab, value = line.partition("\t")
            out.append(line if key in MNTR_EQUAL else key + tab + _mask_value(value))
        return "\n".join(out)
    if word == "conf":
        out = []
        for line in text.split("\n"):
            key, eq, value = line.partition("=")
            if key in CONF_VARY:
                line = key + eq + "V"
            elif key.startswith("server."):
                line = _mask_value(line)
            out.append(line)
        return "\n".join(out)
    if word in ("srvr", "stat", "cons", "dirs"):
        lines = []
        for line in text.split("\n"):
            if line.startswith(("Mode: ", "Node count: ", "Zookeeper version: ", "Clients:")):
                lines.append(line)
            elif line.startswith(" /"):
                # one line per client connection: how many depends on the clients' timing
                line = _mask_value(line)
                if not lines or lines[-1] != line:
                    lines.append(line)
            else:
                lines.append(_mask_value(line))
        return "\n".join(lines)
    if word == "dump":
        # the expiry buckets' wall-clock dates and the clients' ports
        text = re.sub(r"(?m) expire at .*:$", " expire at DATE:", text)
        text = re.sub(r"ip: /127\.0\.0\.1:\d+", "ip: /HOST:PORT", text)
        # the connections' expiry buckets: how many are empty depends on timing
        head, sep, conns = text.partition("Connections dump:\n")
        conns = re.sub(r"^Connections Sets \(\d+\)", "Connections Sets (N)", conns)
        return head + sep + re.sub(r"(?m)^0 expire at DATE:\n", "", conns)
    return text


def words(ens, sid, names=WORDS):
    port = ens.members[sid].client_port
    return {w: zkwire.four_letter(HOST, port, w, timeout=5.0) for w in names}


def run_ensemble(tmp_path, kinds, observers=()):
    """Start sid 3 first, then the others; write through the leader; return
    {sid: (kind, mode, {word: text})}."""
    ens = Ensemble(tmp_path, kinds, observers=observers)
    try:
        ens.start(3)
        time.sleep(0.5)
        ens.start_all([1, 2])
        modes = ens.wait_modes(timeout=45.0)
        leader = [s for s, m in modes.items() if m == "leader"][0]
        kz = ens.client(leader)
        kz.create("/fourlw", b"x" * 10)
        kz.set("/fourlw", b"y" * 100)
        kz.delete("/fourlw")
        for sid in modes:  # every member has applied the writes
            c = ens.client(sid)
            c.sync("/")
            c.stop()
            c.close()
        ens.stop_clients()
        time.sleep(0.3)
        return ens, {sid: (kinds[sid - 1], mode, words(ens, sid)) for sid, mode in modes.items()}
    finally:
        ens.stop_all()


def by_role(*runs):
    """{(kind, mode): [(sid, words), ...]} over several run_ensemble results."""
    out = {}
    for ens, members in runs:
        for sid, (kind, mode, texts) in members.items():
            out.setdefault((kind, mode), []).append((ens, sid, texts))
    return out


def check_conf(ens, sid, text, peer_type):
    """czk's conf names this member's own ports and the harness's membership."""
    m = ens.members[sid]
    assert "\nserverId=%d\n" % sid in text, text
    assert "\nelectionAlg=3\n" in text, text
    assert "\nelectionPort=%d\nquorumPort=%d\n" % (m.election_port, m.quorum_port) in text, text
    assert "\npeerType=%d\nmembership: \n" % peer_type in text, text
    assert text.endswith("\nversion=0"), text
    for s, line in ens.server_lines().items():
        role = "observer" if line.endswith(":observer") else "participant"
        host = line[:-len(":observer")] if role == "observer" else line
        assert "\n%s=%s:%s\n" % (s, host, role) in text, text


def compare(czk, apache, mode):
    """czk's words against Apache's for one role (the first member of each)."""
    assert czk, "no czk %s" % mode
    assert apache, "no Apache %s" % mode
    ens, sid, mine = czk[0]
    _, _, theirs = apache[0]
    for w in WORDS:
        if w == "dump" and mode == "leader":
            continue  # its expiry buckets: how many stay empty depends on timing
        assert mask(w, mine[w]) == mask(w, theirs[w]), "%s %s:\n--- czk\n%s\n--- apache\n%s" % (
            mode, w, mask(w, mine[w]), mask(w, theirs[w]))
    assert "Mode: %s\n" % mode in mine["srvr"]
    assert "zk_server_state\t%s\n" % mode in mine["mntr"]
    check_conf(ens, sid, mine["conf"], 1 if mode == "observer" else 0)
    return mine


def test_leader_and_follower(tmp_path):
    """a. Each kind leads once and follows once; srvr, stat, mntr, conf match."""
    roles = by_role(run_ensemble(tmp_path / "e1", ["czk", "apache", "apache"]),
                    run_ensemble(tmp_path / "e2", ["apache", "czk", "czk"]))
    leader = compare(roles.get(("czk", "leader")), roles.get(("apache", "leader")), "leader")
    compare(roles.get(("czk", "follower")), roles.get(("apache", "follower")), "follower")
    # the leader's own lines, with values
    assert re.search(r"\nProposal sizes last/min/max: \d+/\d+/\d+\n$", leader["srvr"])
    m = dict(line.split("\t", 1) for line in leader["mntr"].strip().split("\n"))
    assert m["zk_peer_state"] == "leading - broadcast"
    assert (m["zk_learners"], m["zk_synced_followers"], m["zk_synced_observers"]) == (
        "2", "2", "0"), m
    assert m["zk_quorum_size"] == "3" and m["zk_pending_syncs"] == "0"
    assert int(m["zk_min_proposal_size"]) <= int(m["zk_last_proposal_size"]) <= int(
        m["zk_max_proposal_size"])


def test_observer(tmp_path):
    """b. An observer of each kind (sid 3) under a leader sid 2."""
    roles = by_role(run_ensemble(tmp_path / "e1", ["apache", "czk", "czk"], observers=(3,)),
                    run_ensemble(tmp_path / "e2", ["czk", "apache", "apache"], observers=(3,)))
    mine = compare(roles.get(("czk", "observer")), roles.get(("apache", "observer")), "observer")
    # a leader and a follower with an observer in the ensemble
    compare(roles.get(("czk", "leader")), roles.get(("apache", "leader")), "leader")
    compare(roles.get(("czk", "follower")), roles.get(("apache", "follower")), "follower")
    m = dict(line.split("\t", 1) for line in mine["mntr"].strip().split("\n"))
    assert m["zk_peer_state"] == "observing - broadcast"
    assert m["zk_observer_master_id"] == "2" and m["zk_quorum_size"] == "2"
    # a leader with an observer counts it
    lead = roles.get(("czk", "leader"))
    assert lead, roles.keys()
    m = dict(line.split("\t", 1) for line in lead[0][2]["mntr"].strip().split("\n"))
    assert (m["zk_learners"], m["zk_synced_followers"], m["zk_synced_observers"]) == (
        "2", "1", "1"), m


def alone(tmp_path, kind):
    """Member sid 1 of a three-member ensemble, started alone (LOOKING):
    every word's text once it answers."""
    ens = Ensemble(tmp_path, [kind, None, None])
    try:
        ens.start(1)
        deadline = time.monotonic() + 30.0
        while True:
            ens.assert_up()
            try:
                if zkwire.four_letter(HOST, ens.members[1].client_port, "ruok", 2.0) == "imok":
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "member 1 (%s) does not answer" % kind
            time.sleep(0.1)
        return words(ens, 1, IDLE_WORDS)
    finally:
        ens.stop_all()


def test_not_serving(tmp_path):
    """c. A member with no quorum (LOOKING): the words that need a running
    server print Apache's not-serving text (hash without a newline), isro
    prints "null", ruok and gtmk answer as usual."""
    mine = alone(tmp_path / "czk", "czk")
    theirs = alone(tmp_path / "apache", "apache")
    for w in IDLE_WORDS:
        assert mine[w] == theirs[w], "%s:\n--- czk\n%r\n--- apache\n%r" % (w, mine[w], theirs[w])
    assert mine["srvr"] == "This ZooKeeper instance is not currently serving requests\n"
    assert mine["hash"] == "This ZooKeeper instance is not currently serving requests"
    assert mine["isro"] == "null"


def proposal_sizes(ens, sid):
    out = zkwire.four_letter(HOST, ens.members[sid].client_port, "srvr", timeout=5.0)
    return re.search(r"\nProposal sizes last/min/max: (\S+)\n", out).group(1)


def test_proposal_sizes_per_term(tmp_path):
    """A leader's proposal sizes are its term's (Apache makes a new Leader,
    and its BufferStats, for each term): czk leads, writes, loses its
    quorum, leads again: -1/-1/-1 until the next write."""
    ens = Ensemble(tmp_path, ["apache", "apache", "czk"])
    try:
        ens.start(3)
        time.sleep(0.5)
        ens.start_all([1, 2])
        assert ens.leader_sid(timeout=45.0) == 3
        assert proposal_sizes(ens, 3) == "-1/-1/-1"
        kz = ens.client(3)
        kz.create("/fourlw", b"x" * 10)
        ens.stop_clients()
        sizes = proposal_sizes(ens, 3)
        assert sizes != "-1/-1/-1", sizes
        ens.stop(1)
        ens.stop(2)
        ens.start_all([1, 2])
        assert ens.leader_sid(timeout=45.0) == 3
        assert proposal_sizes(ens, 3) == "-1/-1/-1"
    finally:
        ens.stop_all()


def read_only_alone(tmp_path, kind):
    """Member sid 1 of a three-member ensemble with readonlymode.enabled,
    started alone: every word's text once it serves read-only (after its
    grace period of max(2 s, tickTime)). localSessionsEnabled: Apache's
    read-only server makes sessions only with it (czk's always makes local
    ones), and its dump then lists the local sessions' sets."""
    ens = Ensemble(tmp_path, [kind, None, None],
                   extra={"readonlymode.enabled": "true", "localSessionsEnabled": "true"})
    try:
        ens.start(1)
        deadline = time.monotonic() + 30.0
        while ens.mode(1) != "read-only":
            ens.assert_up()
            assert time.monotonic() < deadline, "member 1 (%s) is not read-only: %s" % (
                kind, ens.mode(1))
            time.sleep(0.1)
        return words(ens, 1, IDLE_WORDS)
    finally:
        ens.stop_all()


def test_read_only(tmp_path):
    """e. A member in read-only mode (readonlymode.enabled, no quorum): a
    running server that is not a quorum one: srvr and stat say READ-ONLY
    mode, mntr's state is read-only with a standalone server's keys, conf
    ends at peerType (no membership), isro prints "ro"."""
    mine = read_only_alone(tmp_path / "czk", "czk")
    theirs = read_only_alone(tmp_path / "apache", "apache")
    for w in IDLE_WORDS:
        assert mask(w, mine[w]) == mask(w, theirs[w]), "%s:\n--- czk\n%s\n--- apache\n%s" % (
            w, mask(w, mine[w]), mask(w, theirs[w]))
    assert mine["srvr"].split("\n")[1] == "READ-ONLY mode; serving only read-only clients"
    assert "\nMode: read-only\n" in mine["srvr"]
    assert "zk_server_state\tread-only\n" in mine["mntr"]
    assert "zk_peer_state" not in mine["mntr"]
    assert mine["conf"].endswith("\npeerType=0\n"), mine["conf"]
    assert mine["isro"] == "ro"
