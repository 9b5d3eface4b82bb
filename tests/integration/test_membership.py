# SPDX-License-Identifier: Apache-2.0
"""Issue 10: the membership module (src/zab/membership.h) against Apache
ZooKeeper 3.8.0, through the `memberconf` CLI (tests/integration/memberconf.c).

  oracle:   Apache's own QuorumServer and QuorumMaj classes (compiled from
            oracle/QsOracle.java against the Debian jar) parse the same
            server.N values and print the same memberships; our output must
            be the same bytes, and our errors the same messages.
  ensemble: a live 3-voter + 1-observer Apache ensemble, one voter's line
            with ";127.0.0.1:clientPort", serves /zookeeper/config; our
            formatter, given the same zoo.cfg lines and the version Apache
            chose, must print exactly those bytes."""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from kazoo.client import KazooClient

import zkwire
from conftest import HOST, czk_binary, free_port, start_server, wait_modes

HERE = Path(__file__).resolve().parent
JAR_CP = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-api.jar"
DEADLINE_S = 150.0

LINES = [
    "127.0.0.1:2888:3888", "localhost:2888:3888:observer", "127.0.0.1:2888:3888;2181",
    "127.0.0.1:2888:3888:participant;127.0.0.1:2181", "[::1]:2888:3888",
    "[::1]:2888:3888;[::1]:2181", "::1:2888:3888", "127.1:2888:3888",
    " 127.0.0.1 : 2888 : 3888 ", "127.0.0.1:2888:2888", "127.0.0.1:2888", "127.0.0.1:x:3888",
    "127.0.0.1:2888:3888:foo", "127.0.0.1:2888:3888: Observer ", "127.0.0.1:2888:3888;a:b:c",
    "127.0.0.1:2888:3888;x", "127.0.0.1:2888:3888;1;2", "127.0.0.1:70000:3888", "a|b",
    "127.0.0.1:2888:3888;", ";2181", "127.0.0.1:2888:3888:observer:x", "Foo.Example:2888:3888",
    "010.0.0.1:2888:3888", "[::ffff:1.2.3.4]:1:2", "127.0.0.1:+2888:3888", "127.0.0.1:-1:3888",
    "127.0.0.1:2888:3888;0", "[::1:1:2", "127.0.0.1:02888:3888", "2130706433:1:2",
    "127.0.0.0000001:1:2", "127.000.000.0001:1:2", "1.2.3:1:2", "1.2.3.4.5:1:2", "1.256.1:1:2",
    "1..2:1:2", "1.2.:1:2", "[::ffff:7f00:1]:1:2", "[::1.2.3.4]:1:2", "[1:2:3:4:5:6:7:8]:1:2",
    "[1::]:1:2", "[001::0A]:1:2", "[::1]x:1:2", "[::1]:1:2:observer;[::2]:5", "[1.2.3.4]:1:2",
    "host:1:2;[::1]", "127.0.0.1:2147483648:2", "127.0.0.1:1:2;65536", "h:1:2:OBSERVER",
    "h:1:2:", "h::2", ":1:2", "h:1:2;h:", "[]:1:2", "[::1]", "[zz]:1:2", "1.2.3.04:1:2",
    "[::1]:", "[1::2::3]:1:2", "[1:2:3:4:5:6:7:8:9]:1:2", "[1::2:3:4:5:6:7:8]:1:2", "[::]:1:2",
    "[12345::1]:1:2", "[00001::1]:1:2", "h:1:2:participant;h:3:4:x", "h:1:2;:7", "h:1:2;;",
    "h:1:2|", "|h:1:2", "h:1:2:observer;[::1]:", "h:1:2:observer;[::1", "4294967295:1:2",
    "4294967296:1:2", "1.16777215:1:2", "1.16777216:1:2", "1.2.65535:1:2", "[::1.2.3]:1:2",
    "[::1.2.3.4.5]:1:2", "[a::b.1.2.3.4]:1:2", "deadbeef:1:2", "h:1:2:participant:", "h:1:2 ",
    "h:1:2\t", "h:00:1", "h:1:2:\tobserver",
]

# sid sets whose order in Apache's HashMap is not simply ascending
SID_SETS = [
    [1, 17, 33], [33, 17, 1], [1, 2, 3, 17, 18, 19, 33, 49, 65], [5, 21, 37, 53, 69, 85, 101],
    list(range(1, 18)), [100, 200, 300, 116, 132], [1, -1, -4, 3, -15, 17],
    [1000000, 2000000, 3000000, 1000016, 4294967297, 1], list(range(16, 241, 16)),
]


def memberconf(*args, stdin=""):
    exe = os.environ.get("CZK_MEMBERCONF") or str(Path(czk_binary()).parent / "tests"
                                                  / "memberconf")
    p = subprocess.run([exe] + [str(a) for a in args], input=stdin, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, "memberconf %s: %s %s" % (args, p.stdout, p.stderr)
    return p.stdout


def oracle(tmp_path, args, stdin):
    """Apache's classes on the same input (compiled once per test)."""
    javac = shutil.which("javac")
    assert javac, "javac is needed to build the Apache oracle"
    out_dir = tmp_path / "oracle"
    if not (out_dir / "QsOracle.class").exists():
        out_dir.mkdir(exist_ok=True)
        subprocess.run([javac, "-cp", JAR_CP, "-d", str(out_dir),
                        str(HERE / "oracle" / "QsOracle.java")], check=True, timeout=120)
    p = subprocess.run(["java", "-cp", "%s:%s" % (JAR_CP, out_dir), "QsOracle"] + args,
                       input=stdin, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_server_lines_match_apache(tmp_path):
    stdin = "".join(line + "\n" for line in LINES)
    ours = memberconf("parse", 7, stdin=stdin).splitlines()
    theirs = oracle(tmp_path, [], stdin).splitlines()
    assert len(ours) == len(theirs) == len(LINES)
    for line, o, t in zip(LINES, ours, theirs):
        # Apache's text after the exception's class name; ";" alone is an
        # ArrayIndexOutOfBoundsException in Apache, a format error in czk.
        t = re.sub(r"^ERR \w+: ", "ERR ", t)
        if line == ";":
            continue
        assert o == t, "server.7=%r" % line


def test_config_order_matches_apache(tmp_path):
    for sids in SID_SETS:
        text = "".join("server.%d=h:%d:%d%s\n" % (s, 10 + i, 20 + i, ":observer" if s % 3 == 0
                                                    else "")
                       for i, s in enumerate(sids)) + "version=abc\n"
        theirs = oracle(tmp_path, ["maj"], text)
        assert theirs.endswith("\n#end\n"), theirs
        assert memberconf("format", stdin=text) == theirs[:-len("\n#end\n")], sids


# Hierarchical quorums (group.N / weight.N, QuorumHierarchical): server
# lines, then the keys, as a zoo.cfg or a config text holds them.
HIER_CASES = [
    # one group, weights 2/1/1: {2,3} is no quorum although a majority
    "server.1=h:11:21\nserver.2=h:12:22\nserver.3=h:13:23\n"
    "group.1=1:2:3\nweight.1=2\nweight.2=1\nweight.3=1\nversion=100000000\n",
    # two groups and an observer; 3 weighs 0 (never leads); no version
    "server.1=h:11:21\nserver.2=h:12:22\nserver.3=h:13:23\nserver.4=h:14:24\n"
    "server.5=h:15:25:observer\ngroup.1=1:2\ngroup.2=3:4\nweight.3=0\n",
    # three groups listed out of order, a group of one, sids past 16 (the
    # HashMap buckets wrap), a weight for a sid outside every group
    "server.17=h:1:2\nserver.2=h:3:4\nserver.33=h:5:6\nserver.4=h:7:8\nserver.5=h:9:10\n"
    "group.9=33:2\ngroup.3=17\ngroup.1=5:4\nweight.17=3\nweight.40=7\nversion=abc\n",
    # a zero-weight group still counts in the number of groups (3.8.0)
    "server.1=h:11:21\nserver.2=h:12:22\nserver.3=h:13:23\n"
    "group.1=1\ngroup.2=2\ngroup.3=3\nweight.3=0\n",
]


def _subsets(sids):
    out = [[]]
    for s in sids:
        out += [x + [s] for x in out]
    return out


def test_hierarchical_quorums_match_apache(tmp_path):
    """Every subset of the sids: czk's quorum answer is Apache's
    QuorumHierarchical.containsQuorum; /zookeeper/config's text is its
    toString, byte for byte."""
    for text in HIER_CASES:
        sids = sorted({int(m) for m in re.findall(r"^(?:server|weight)\.(\d+)=", text, re.M)} |
                      {int(x) for g in re.findall(r"^group\.\d+=(.*)$", text, re.M)
                       for x in g.split(":")})
        subsets = _subsets(sids)
        theirs = oracle(tmp_path, ["hier"] + [",".join(map(str, x)) for x in subsets], text)
        assert "\n#end\n" in theirs, theirs
        their_text, their_answers = theirs.split("\n#end\n")
        assert memberconf("format", stdin=text) == their_text, text
        answers = their_answers.split()
        assert len(answers) == len(subsets)
        for subset, want in zip(subsets, answers):
            got = memberconf("quorum", *subset, stdin=text).strip()
            assert got == want, "%s: quorum %s" % (text, subset)


def test_hierarchical_configs_apache_refuses(tmp_path):
    """A voter outside every group, a sid in two groups: Apache throws
    ConfigException; czk refuses with the same reason."""
    base = "server.1=h:11:21\nserver.2=h:12:22\nserver.3=h:13:23\n"
    for keys, reason in (("group.1=1:2\n", "Server 3 is not in a group"),
                         ("group.1=1:2:3\ngroup.2=3\n", "Server 3 is in multiple groups"),
                         ("weight.1=2\n", "is not in a group")):
        theirs = oracle(tmp_path, ["hier"], base + keys)
        assert theirs.startswith("ERR ConfigException"), theirs
        out = subprocess.run([os.environ.get("CZK_MEMBERCONF") or
                              str(Path(czk_binary()).parent / "tests" / "memberconf"), "format"],
                             input=base + keys, capture_output=True, text=True, timeout=30)
        assert out.returncode == 1 and out.stdout.startswith("ERR ") and reason in out.stdout, \
            out.stdout


def test_zookeeper_config_of_a_live_ensemble(tmp_path):
    deadline = time.monotonic() + DEADLINE_S
    client_ports = {sid: free_port() for sid in (1, 2, 3, 4)}
    lines = {
        1: "%s:%d:%d" % (HOST, free_port(), free_port()),
        2: "%s:%d:%d:participant;%s:%d" % (HOST, free_port(), free_port(), HOST,
                                           client_ports[2]),
        3: "%s:%d:%d;%d" % (HOST, free_port(), free_port(), client_ports[3]),
        4: "%s:%d:%d:observer" % (HOST, free_port(), free_port()),
    }
    cfg = {"server.%d" % sid: v for sid, v in lines.items()}
    cfg.update(initLimit="10", syncLimit="5")
    servers = {}
    try:
        for sid in lines:
            wd = tmp_path / ("s%d" % sid)
            (wd / "data").mkdir(parents=True)
            (wd / "data" / "myid").write_text("%d\n" % sid)
            extra = dict(cfg)
            if sid == 4:
                extra["peerType"] = "observer"
            if sid == 3:
                # A bare client port in server.3's line means 0.0.0.0, and
                # Apache refuses a clientPortAddress that differs from it.
                extra["clientPortAddress"] = None
            servers[sid] = start_server("apache", wd, extra, port=client_ports[sid], wait=False)
        modes = {sid: mode for sid, (mode, _) in wait_modes(servers, deadline).items()}
        assert sorted(modes.values()) == ["follower", "follower", "leader", "observer"], modes
        texts = {}
        for sid, srv in servers.items():
            kz = KazooClient(hosts=srv.hostport, timeout=20)
            kz.start(timeout=30)
            try:
                kz.sync("/zookeeper/config")
                texts[sid] = kz.get("/zookeeper/config")[0].decode()
            finally:
                kz.stop()
                kz.close()
        leader = [s for s, m in modes.items() if m == "leader"][0]
        config_text = texts[leader]
        m = re.search(r"\nversion=([0-9a-f]+)$", config_text)
        assert m, config_text
        # With reconfigEnabled=false (the default) the version stays 0:
        # Leader.lead's bump to the epoch's first zxid (ZOOKEEPER-1783) goes
        # through setLastSeenQuorumVerifier, which then does nothing.
        ours = memberconf("format", m.group(1),
                          stdin="".join("server.%d=%s\n" % kv for kv in lines.items()))
        assert ours == config_text, (ours, config_text)
        for sid, text in texts.items():
            assert text == config_text, (sid, text, config_text)
    finally:
        for srv in servers.values():
            srv.stop()
