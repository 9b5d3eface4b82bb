# SPDX-License-Identifier: Apache-2.0
"""Apache's own Java CLI (zkCli.sh) against czk and Apache ZooKeeper: the
same commands must print the same thing (after masking times, zxids,
session ids and ports).  A JVM start costs ~1 s, so commands are batched:
one zkCli.sh process reads a whole script from stdin."""

import os
import re
import subprocess

import pytest

from conftest import ZKCLI

SCRIPT = """\
create /cli hello
create /cli/a data-a
get /cli
set /cli world
get -s /cli
stat /cli
ls /cli
ls -s /cli
create -s /cli/s- x
create -s /cli/s- y
create -e /cli/e ephemeral
create /cli/a dup
create /cli/nope/x z
get /cli/missing
stat /cli/missing
set /cli/a v2 -v 7
delete -v 3 /cli/a
delete /cli
delete /cli/a
create /cli/a/b/c deep
getAcl /cli
setAcl /cli world:anyone:cdrwa
getAcl -s /cli
sync /cli
ls -R /cli
get -s /cli/e
deleteall /cli
ls /cli
get /cli
quit
"""

NOISE = (
    "SLF4J:",
    "JLine support is",
    "Welcome to ZooKeeper!",
)


def run_cli(srv, args=(), script=None, timeout=60):
    cmd = [ZKCLI, "-server", srv.hostport] + list(args)
    env = dict(os.environ)
    env["CLIENT_JVMFLAGS"] = "-Xshare:auto -XX:TieredStopAtLevel=1"
    p = subprocess.run(cmd, input=(script or "").encode(), capture_output=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


class Masker:
    def __init__(self, port):
        self.port = str(port)
        self.base = None

    def zxid(self, m):
        v = int(m.group(2), 16)
        if v == 0:
            return m.group(0)
        if self.base is None:
            self.base = v
        return "%sZ%+d" % (m.group(1), v - self.base)

    def line(self, line):
        line = line.replace(self.port, "PORT")
        line = re.sub(r"^(cZxid = |mZxid = |pZxid = )0x([0-9a-f]+)$", self.zxid, line)
        line = re.sub(r"^(ctime|mtime) = (?!Thu Jan 01 00:00:00 UTC 1970).*$", r"\1 = TIME", line)
        line = re.sub(r"^ephemeralOwner = 0x(?!0$)[0-9a-f]+$", "ephemeralOwner = SESSION", line)
        line = re.sub(r"0x[0-9a-f]{12,16}", "SESSIONID", line)
        return line

    def text(self, text):
        out = []
        for line in text.splitlines():
            if line.startswith(NOISE):
                continue
            out.append(self.line(line.rstrip()))
        return out


def normalised(srv, **kw):
    rc, out, err = run_cli(srv, **kw)
    m = Masker(srv.port)
    return {"rc": rc, "stdout": m.text(out), "stderr": Masker(srv.port).text(err)}


def compare(c, a, what):
    if c == a:
        return
    import difflib
    msg = ["zkCli.sh output differs (%s)" % what]
    for k in ("rc", "stdout", "stderr"):
        if c[k] != a[k]:
            if k == "rc":
                msg.append("exit status: apache %r czk %r" % (a[k], c[k]))
                continue
            msg.append("---- %s diff (apache -> czk) ----" % k)
            msg.extend(difflib.unified_diff(a[k], c[k], "apache", "czk", lineterm=""))
    msg.append("---- apache stdout ----")
    msg.extend(a["stdout"])
    msg.append("---- apache stderr ----")
    msg.extend(a["stderr"])
    msg.append("---- czk stdout ----")
    msg.extend(c["stdout"])
    msg.append("---- czk stderr ----")
    msg.extend(c["stderr"])
    pytest.fail("\n".join(msg), pytrace=False)


def test_zkcli_script(both):
    a = normalised(both.apache, script=SCRIPT)
    # sanity: the script did what we think on the oracle
    assert "world" in a["stdout"], a
    assert any(l.startswith("Node already exists") for l in a["stderr"]), a
    c = normalised(both.czk, script=SCRIPT)
    compare(c, a, "script")


@pytest.mark.parametrize("args", [
    ["ls", "-s", "/zookeeper"],
    ["get", "/cli-none"],
], ids=["ls-zookeeper", "get-missing"])
def test_zkcli_one_command(both, args):
    a = normalised(both.apache, args=args)
    c = normalised(both.czk, args=args)
    compare(c, a, " ".join(args))
