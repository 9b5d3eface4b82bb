# SPDX-License-Identifier: Apache-2.0
"""zkCli.sh (Apache's Java CLI) commands of issue 3 against czk and Apache
ZooKeeper 3.8 with the same EXT_CFG (superDigest, extendedTypesEnabled,
enforceQuota): addauth, setAcl, getAcl, create -c, create -t, addWatch -m,
removewatches, getEphemerals, getAllChildrenNumber, whoami, setquota,
listquota, delquota, stat.  The masked outputs must be equal.

Watch notifications are printed by the CLI's event thread, so where they
land between command outputs is a race; they are taken out of the stream
and compared as a sorted list."""

import re

import pytest

from conftest import SUPER_USER, SUPER_PASSWORD
from test_zkcli import normalised, compare
from test_acl_matrix import digest_id

ALICE_ID = digest_id("alice", "pw")

SCRIPTS = {
    "acl": """\
create /cli3a data
getAcl /cli3a
addauth digest alice:pw
whoami
create /cli3a/auth x auth::cdrwa
getAcl /cli3a/auth
setAcl /cli3a/auth digest:%(alice)s:r
getAcl /cli3a/auth
get /cli3a/auth
set /cli3a/auth y
setAcl /cli3a/ip ip:127.0.0.1:cdrwa
create /cli3a/ip x ip:127.0.0.0/8:cdra
getAcl /cli3a/ip
set /cli3a/ip z
create /cli3a/ip/c
create /cli3a/other x ip:10.0.0.1:cdrwa
get /cli3a/other
getAcl /cli3a/other
create /cli3a/multi x world:anyone:r,digest:%(alice)s:cdrwa
getAcl /cli3a/multi
getAcl -s /cli3a/multi
setAcl -s /cli3a/multi world:anyone:rw
setAcl -v 0 /cli3a/multi world:anyone:rw
setAcl -v 1 /cli3a/multi world:anyone:cdrwa
setAcl /cli3a/multi bogus:x:r
setAcl /cli3a/multi world:anyone:q
setAcl -R /cli3a world:anyone:cdrwa
addauth digest %(super)s
whoami
get /cli3a/other
setAcl -R /cli3a world:anyone:cdrwa
getAcl /cli3a/other
getAcl /cli3a/ip
deleteall /cli3a
ls /cli3a
quit
""",
    "modes": """\
create /cli3m
create -c /cli3m/c cdata
stat /cli3m/c
create -c /cli3m/c/kid
create -t 3600000 /cli3m/t tdata
stat /cli3m/t
get -s /cli3m/t
create -t 0 /cli3m/t0
create -t -5 /cli3m/t1
create -s -t 3600000 /cli3m/ts- x
create -e -t 3600000 /cli3m/te x
create -c -t 3600000 /cli3m/tc x
create -e /cli3m/e1 x
create -e -s /cli3m/es- x
getEphemerals /cli3m
getEphemerals /cli3m/e
getEphemerals /nothing
getEphemerals
getAllChildrenNumber /cli3m
getAllChildrenNumber /
getAllChildrenNumber /cli3m/nope
stat /cli3m
stat /cli3m/c
ls -R /cli3m
deleteall /cli3m
quit
""",
    "watches": """\
create /cli3w
create /cli3w/a
addWatch -m PERSISTENT /cli3w
addWatch -m PERSISTENT_RECURSIVE /cli3w/a
addWatch /cli3w/none
addWatch -m BOGUS /cli3w
set /cli3w x
create /cli3w/b
create /cli3w/a/deep
set /cli3w/a/deep y
delete /cli3w/a/deep
removewatches /cli3w
removewatches /cli3w
removewatches /cli3w/a -d
removewatches /cli3w/a -c
removewatches /cli3w/a
removewatches /cli3w/none -a
get -w /cli3w
ls -w /cli3w
removewatches /cli3w -d
removewatches /cli3w -c
removewatches /cli3w -a
stat /cli3w
removewatches /cli3w -a -l
removewatches /nope
deleteall /cli3w
quit
""",
    "quota": """\
create /cli3q
create /cli3q/a 12345
setquota -n 3 /cli3q
listquota /cli3q
get /zookeeper/quota/cli3q/zookeeper_limits
get /zookeeper/quota/cli3q/zookeeper_stats
setquota -b 100 /cli3q
listquota /cli3q
setquota -N 4 /cli3q
setquota -B 20 /cli3q
listquota /cli3q
create /cli3q/b xx
create /cli3q/c
create /cli3q/d
create /cli3q/e
set /cli3q/a 123456789012345678901234567890
get /zookeeper/quota/cli3q/zookeeper_stats
ls -R /zookeeper/quota/cli3q
setquota -n 5 /cli3q/a
setquota -n 5 /
setquota -n 5 /nope
setquota -x 5 /cli3q
delquota -n /cli3q
listquota /cli3q
delquota -N /cli3q
listquota /cli3q
delquota -b /cli3q
delquota -B /cli3q
listquota /cli3q
delquota /cli3q
listquota /cli3q
delquota /cli3q
create /cli3q/f
listquota /nope
deleteall /cli3q
quit
""",
}


def _split_events(res):
    """Take WATCHER:: blocks out of stdout: (stdout without them, sorted events)."""
    out, events = [], []
    lines = res["stdout"]
    i = 0
    while i < len(lines):
        l = lines[i]
        if l == "WATCHER::":
            i += 1
            continue
        if l.startswith("WatchedEvent "):
            events.append(l)
            i += 1
            continue
        out.append(l)
        i += 1
    # blank lines around the blocks are part of the race too
    out = [l for l in out if l != ""]
    # whoami lists the session's ids in the server's (hash) order: sort them
    i = 0
    while i < len(out):
        if out[i].endswith("Auth scheme: User"):
            j = i + 1
            while j < len(out) and re.match(r"^[a-z0-9]+: ?", out[j]) and \
                    not out[j].startswith(("cZxid", "ctime", "mZxid", "mtime", "pZxid")):
                j += 1
            out[i + 1:j] = sorted(out[i + 1:j])
            i = j
        else:
            i += 1
    res = dict(res)
    res["stdout"] = out
    res["events"] = sorted(events)
    return res


def _run(srv, name):
    script = SCRIPTS[name] % {"alice": ALICE_ID, "super": "%s:%s" % (SUPER_USER, SUPER_PASSWORD)}
    return _split_events(normalised(srv, script=script))


SANITY = {
    "acl": ["digest: alice", "super:", "'digest,'%s" % ALICE_ID, "'digest,'alice:x"],
    "modes": ["Created /cli3m/t", "Created /cli3m/c"],
    "watches": ["type:NodeDataChanged path:/cli3w"],
    "quota": ["Output quota for /cli3q count=3,bytes=-1", "count=3,bytes=-1"],
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_zkcli3(xboth, name):
    a = _run(xboth.apache, name)
    text = "\n".join(a["stdout"] + a["stderr"] + a["events"])
    for s in SANITY[name]:
        assert s in text, "oracle output lacks %r:\n%s" % (s, text)
    c = _run(xboth.czk, name)
    if c["events"] != a["events"]:
        pytest.fail("zkCli.sh watch events differ (%s)\napache: %r\nczk:    %r"
                    % (name, a["events"], c["events"]), pytrace=False)
    compare(c, a, name)
