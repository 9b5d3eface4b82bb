# SPDX-License-Identifier: Apache-2.0
"""Fixtures for czk integration tests.

Servers (czk and Apache ZooKeeper 3.8, the oracle) run as real processes on
127.0.0.1 with a zoo.cfg written into a temporary directory.

Fixtures
  apache        module-scoped Apache ZooKeeper server
  czk           module-scoped czk server ($CZK_SERVER, default build/czk-server)
  server        module-scoped, parametrized over ["czk", "apache"]
  both          module-scoped Pair(czk, apache) for differential tests
  make_server   function-scoped factory: make_server("czk", {"maxClientCnxns": 10})

Environment
  CZK_SERVER    path to the czk-server binary.  The special value "apache"
                makes the "czk" fixture start a second Apache server instead;
                that is only for validating the harness itself (differential
                tests must then pass, since both sides are Apache).
  CZK_JAVA      java binary (default: java on PATH)
"""

import collections
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import zkwire  # noqa: E402

HOST = "127.0.0.1"

APACHE_CLASSPATH = ":".join([
    "/etc/zookeeper/conf",
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
])
APACHE_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"

DEFAULT_CFG = collections.OrderedDict([
    ("tickTime", "2000"),
    ("dataDir", None),            # filled in
    ("clientPort", None),         # filled in
    ("clientPortAddress", HOST),
    ("admin.enableServer", "false"),
    ("4lw.commands.whitelist", "*"),
    ("maxClientCnxns", "60"),
])

START_TIMEOUT = 60.0


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def czk_binary():
    return os.environ.get("CZK_SERVER") or str(REPO / "build" / "czk-server")


class Server:
    """A running server process."""

    def __init__(self, kind, workdir, cfg, cfg_path, log_path, proc):
        self.kind = kind
        self.workdir = workdir
        self.cfg = cfg
        self.cfg_path = cfg_path
        self.log_path = log_path
        self.proc = proc
        self.pid = proc.pid
        self.host = HOST
        self.port = int(cfg["clientPort"])
        self.hostport = "%s:%d" % (self.host, self.port)
        self.datadir = cfg["dataDir"]

    def __repr__(self):
        return "<%s server %s pid %d>" % (self.kind, self.hostport, self.pid)

    def four_letter(self, word, timeout=5.0):
        return zkwire.four_letter(self.host, self.port, word, timeout)

    def conn(self, timeout=10.0):
        return zkwire.Conn(self.host, self.port, timeout)

    def session(self, timeout_ms=30000, **kw):
        return zkwire.session(self.host, self.port, timeout_ms, **kw)

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, n=60):
        try:
            lines = Path(self.log_path).read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def stop(self, grace=5.0):
        """Stop the process by its pid: SIGTERM, then SIGKILL after grace."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        else:
            self.proc.wait()

    def kill(self):
        """SIGKILL by pid and wait."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)


def write_cfg(workdir, extra=None, port=None):
    cfg = collections.OrderedDict(DEFAULT_CFG)
    cfg["dataDir"] = str(workdir / "data")
    cfg["clientPort"] = str(port or free_port())
    for k, v in (extra or {}).items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = str(v)
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    path = workdir / "zoo.cfg"
    path.write_text("".join("%s=%s\n" % (k, v) for k, v in cfg.items()))
    return cfg, path


def read_cfg(path):
    """The key=value lines of a zoo.cfg, in order (no escapes, no continuations)."""
    cfg = collections.OrderedDict()
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            cfg[k.strip()] = v.strip()
    return cfg


def _log4j_props(workdir):
    p = workdir / "log4j.properties"
    p.write_text(
        "log4j.rootLogger=INFO, FILE\n"
        "log4j.appender.FILE=org.apache.log4j.FileAppender\n"
        "log4j.appender.FILE.File=%s\n"
        "log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.FILE.layout.ConversionPattern="
        "%%d{ISO8601} - %%-5p [%%t:%%C{1}@%%L] - %%m%%n\n" % (workdir / "zookeeper.log"))
    return p


def _apache_cmd(workdir, cfg_path, jvm_props=None):
    java = os.environ.get("CZK_JAVA") or shutil.which("java") or "/usr/bin/java"
    props = _log4j_props(workdir)
    sysprops = ["-D%s=%s" % (k, v) for k, v in (jvm_props or {}).items()]
    return ([java, "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-Djava.net.preferIPv4Stack=true",
             "-Dlog4j.configuration=file:%s" % props,
             "-Dzookeeper.jmx.log4j.disable=true"] + sysprops +
            ["-cp", APACHE_CLASSPATH, APACHE_MAIN, str(cfg_path)])


def _srvr_ok(port, need_mode):
    try:
        out = zkwire.four_letter(HOST, port, "srvr", timeout=2.0)
    except OSError:
        return False
    if need_mode:
        return "Mode:" in out
    return bool(out)


def _tcp_ok(port):
    try:
        socket.create_connection((HOST, port), timeout=1.0).close()
        return True
    except OSError:
        return False


# Every server started, in order. A test that fails between starting a server
# and stopping it would leave the process running (servers get their own
# session, so they outlive pytest too): _kill_leftover_servers kills, by pid,
# whatever the test itself started and left alive. Fixtures of a wider scope
# start theirs before the test's share of the list begins.
_STARTED = []


@pytest.fixture(autouse=True)
def _kill_leftover_servers():
    first = len(_STARTED)
    yield
    leftovers = _STARTED[first:]
    del _STARTED[first:]
    for srv in leftovers:
        if srv.alive():
            srv.kill()


def start_server(kind, workdir, extra=None, port=None, timeout=START_TIMEOUT,
                 wait=True, jvm_props=None, keep_cfg=False):
    """Start a server of kind "apache" or "czk" in workdir (a Path).

    extra: dict of zoo.cfg keys to add or override (value None removes a key).
    jvm_props: Java system properties (-Dkey=value) for Apache only, for the
    few settings Apache does not take from zoo.cfg (e.g. the container
    manager's znode.container.checkIntervalMs); czk gets them through zoo.cfg.
    keep_cfg: start on the workdir's zoo.cfg as it is (a server may have
    rewritten it: Apache does with reconfigEnabled=true); extra and port
    are then ignored.
    Returns a Server once `srvr` answers.  Fails (never skips) if the czk
    binary is missing or either server does not come up.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if keep_cfg:
        cfg_path = workdir / "zoo.cfg"
        cfg = read_cfg(cfg_path)
        if "clientPort" not in cfg and "dynamicConfigFile" in cfg:
            # rewritten by reconfigEnabled without its clientPort: the
            # member's server.N line in the dynamic file names it
            myid = (Path(cfg["dataDir"]) / "myid").read_text().strip()
            line = read_cfg(cfg["dynamicConfigFile"])["server." + myid]
            cfg["clientPort"] = line.rsplit(";", 1)[1].rsplit(":", 1)[-1]
    else:
        cfg, cfg_path = write_cfg(workdir, extra, port)
    real_kind = kind
    if kind == "czk":
        binary = czk_binary()
        if binary == "apache":
            real_kind = "apache"
        elif not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            pytest.fail("czk server binary not found or not executable: %s "
                        "(build it with `cmake --build build`, or set CZK_SERVER "
                        "to its path)" % binary, pytrace=False)
    if real_kind == "apache":
        cmd = _apache_cmd(workdir, cfg_path, jvm_props)
        log_path = workdir / "zookeeper.log"
        out_path = workdir / "stdout.log"
    else:
        cmd = [binary, str(cfg_path)]
        log_path = workdir / "czk-server.log"
        out_path = log_path
    # Killed with pytest (setpriv execs the server: same pid): a pytest that
    # dies before its fixtures run (a ctest timeout, ^C twice) leaves nothing
    # running. The parent is this (main) thread; no test starts a server
    # from a thread that ends before it.
    cmd = ["setpriv", "--pdeathsig", "KILL"] + cmd
    out = open(out_path, "ab")
    proc = subprocess.Popen(cmd, cwd=str(workdir), stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    out.close()
    srv = Server(kind, workdir, cfg, cfg_path, log_path, proc)
    srv.real_kind = real_kind
    _STARTED.append(srv)
    if not wait:
        return srv
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = srv.log_tail()
            if out_path != log_path:
                tail += "\n--- stdout ---\n" + Path(out_path).read_text(errors="replace")[-3000:]
            pytest.fail("%s server exited with status %s during start-up "
                        "(cmd: %s)\n%s" % (kind, proc.returncode, " ".join(cmd), tail),
                        pytrace=False)
        if _tcp_ok(srv.port) and _srvr_ok(srv.port, need_mode=(real_kind == "apache")):
            return srv
        if time.monotonic() > deadline:
            srv.kill()
            pytest.fail("%s server did not answer `srvr` on %s within %.0f s\n%s"
                        % (kind, srv.hostport, timeout, srv.log_tail()), pytrace=False)
        time.sleep(0.05)


def wait_modes(servers, deadline):
    """{sid: (mode, srvr text)} once every server of {sid: Server} reports
    Mode: leader, follower or observer (an Apache ensemble has formed);
    fails at the deadline (time.monotonic())."""
    modes = {}
    while time.monotonic() < deadline:
        for sid, srv in servers.items():
            assert srv.alive(), srv.log_tail()
            try:
                out = zkwire.four_letter(HOST, srv.port, "srvr", timeout=2.0)
            except OSError:
                continue
            m = re.search(r"Mode: (leader|follower|observer)", out)
            if m:
                modes[sid] = (m.group(1), out)
        if len(modes) == len(servers):
            return modes
        time.sleep(0.1)
    raise AssertionError("ensemble did not form: %s" % {s: m for s, (m, _) in modes.items()})


def start_refused(workdir, port):
    """Start czk on workdir's data dir expecting it to refuse: it must exit
    non-zero and leave every file of dataDir/version-2 as it was.  Returns
    its log text for the caller's message checks."""
    import hashlib
    v2 = Path(workdir) / "data" / "version-2"

    def digest():
        return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in v2.iterdir()}

    before = digest()
    srv = start_server("czk", workdir, port=port, wait=False)
    try:
        srv.proc.wait(30)
    finally:
        srv.kill()
    text = Path(srv.log_path).read_text(errors="replace")
    assert srv.proc.returncode != 0, text[-3000:]
    assert digest() == before, "a refused start-up changed the data dir"
    return text


class ServerFactory:
    def __init__(self, tmp_path_factory):
        self.tmp_path_factory = tmp_path_factory
        self.servers = []

    def __call__(self, kind, extra=None, **kw):
        workdir = self.tmp_path_factory.mktemp(kind)
        srv = start_server(kind, workdir, extra, **kw)
        self.servers.append(srv)
        return srv

    def stop_all(self):
        for s in reversed(self.servers):
            s.stop()
        self.servers.clear()


def _module_server(kind, tmp_path_factory):
    f = ServerFactory(tmp_path_factory)
    srv = f(kind)
    return f, srv


@pytest.fixture(scope="module")
def apache(tmp_path_factory):
    f, srv = _module_server("apache", tmp_path_factory)
    yield srv
    f.stop_all()


@pytest.fixture(scope="module")
def czk(tmp_path_factory):
    f, srv = _module_server("czk", tmp_path_factory)
    yield srv
    f.stop_all()


SERVER_KINDS = ["czk", "apache"]


@pytest.fixture(scope="module", params=SERVER_KINDS)
def server(request):
    """One server, the test runs once per kind (ids [czk] and [apache])."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module", params=SERVER_KINDS)
def server_kind(request):
    """Just the kind name, for tests that start their own servers."""
    return request.param


Pair = collections.namedtuple("Pair", "czk apache")


@pytest.fixture(scope="module")
def both(czk, apache):
    return Pair(czk, apache)


@pytest.fixture
def make_server(tmp_path_factory):
    """Factory for servers with extra zoo.cfg lines; stopped at test end.

        srv = make_server("apache", {"maxClientCnxns": 10})
    """
    f = ServerFactory(tmp_path_factory)
    yield f
    f.stop_all()


@pytest.fixture
def tmpfs():
    """mount(directory, size): a tmpfs of `size` ("4m") on that directory,
    made if missing (the tests run as root), unmounted when the test ends
    (lazily if a process still holds it). A test that runs servers on it
    names this fixture before the one that stops them (pytest tears down
    in reverse), or they outlive their data dir."""
    mounted = []

    def mount(directory, size):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs",
                            str(directory)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail("cannot mount a tmpfs on %s: %s" % (directory, r.stderr), pytrace=False)
        mounted.append(directory)

    yield mount
    for directory in reversed(mounted):
        if subprocess.run(["umount", str(directory)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(directory)], capture_output=True)


def fill_disk(path):
    """Write to the file `path` until its file system is full, to the last byte."""
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (1 << 20, 1 << 16, 4096, 1):
            chunk = b"\xee" * size
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)


SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Sleeps CZK_SLOW_SYNC_FILE's number of ms (read at each call) before
 * fsync/fdatasync, and then adds a byte to CZK_SLOW_SYNC_FILE.hits: a slow
 * disk without root. With CZK_SLOW_SYNC_MATCH, only for files whose path
 * contains that string. */
static int matches(int fd)
{
    const char *match = getenv("CZK_SLOW_SYNC_MATCH");
    if (!match)
        return 1;
    char link[64], target[4096];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n < 0)
        return 0;
    target[n] = '\0';
    return strstr(target, match) != NULL;
}

static void slow(int synced)
{
    const char *path = getenv("CZK_SLOW_SYNC_FILE");
    if (!path || !matches(synced))
        return;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    char buf[32] = {0};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    long ms = n > 0 ? atol(buf) : 0;
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    char hits[4096];
    snprintf(hits, sizeof(hits), "%s.hits", path);
    fd = open(hits, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        if (write(fd, "x", 1) < 0)
            ;
        close(fd);
    }
}

int fdatasync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow(fd);
    return real(fd);
}

int fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow(fd);
    return real(fd);
}
"""


@pytest.fixture(scope="session")
def slow_sync_shim(tmp_path_factory):
    """An LD_PRELOAD library that slows fsync/fdatasync (SHIM_C says how)."""
    d = tmp_path_factory.mktemp("shim")
    src = d / "slowsync.c"
    src.write_text(SHIM_C)
    lib = d / "slowsync.so"
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(lib), str(src), "-ldl"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return lib


def kazoo_client(srv, **kw):
    """A started KazooClient connected to srv (caller stops it)."""
    from kazoo.client import KazooClient
    kw.setdefault("timeout", 10.0)
    kw.setdefault("connection_retry", {"max_tries": 3, "delay": 0.1, "backoff": 1})
    c = KazooClient(hosts=srv.hostport, **kw)
    c.start(timeout=15)
    return c


@pytest.fixture
def kz(server):
    c = kazoo_client(server)
    yield c
    try:
        c.stop()
        c.close()
    except Exception:
        pass


# ---------------------------------------------------------------------------
# servers with the issue-3 extras: super digest, TTL nodes, hard quotas and a
# fast container sweep.  Shared by the whole pytest session (one pair), so
# tests that use them must leave no timed work behind (TTL nodes, used
# containers, open sessions), or it shows up as txns in later scenarios.

SUPER_USER = "super"
SUPER_PASSWORD = "secret"
# base64(sha1("super:secret"))
SUPER_DIGEST = "super:lK75jTNcA+U9vtVEw5vB51mj/w4="
CONTAINER_CHECK_MS = 1000

# zoo.cfg keys.  Apache 3.8 turns unknown keys into system properties
# "zookeeper.<key>": that is how DigestAuthenticationProvider.superDigest,
# extendedTypesEnabled and enforceQuota reach it (verified).  The container
# manager reads znode.container.checkIntervalMs WITHOUT the "zookeeper."
# prefix, so from zoo.cfg Apache ignores it (verified: still 60 s); Apache
# gets it as -D as well (EXT_JVM), czk is expected to read the zoo.cfg key.
EXT_CFG = {
    "DigestAuthenticationProvider.superDigest": SUPER_DIGEST,
    "extendedTypesEnabled": "true",
    "enforceQuota": "true",
    "znode.container.checkIntervalMs": str(CONTAINER_CHECK_MS),
}
EXT_JVM = {"znode.container.checkIntervalMs": str(CONTAINER_CHECK_MS)}


def _ext_server(kind, tmp_path_factory):
    f = ServerFactory(tmp_path_factory)
    workdir = tmp_path_factory.mktemp(kind + "-ext")
    srv = start_server(kind, workdir, dict(EXT_CFG), jvm_props=dict(EXT_JVM))
    f.servers.append(srv)
    return f, srv


@pytest.fixture(scope="session")
def xapache(tmp_path_factory):
    """Apache with EXT_CFG (session-scoped)."""
    f, srv = _ext_server("apache", tmp_path_factory)
    yield srv
    f.stop_all()


@pytest.fixture(scope="session")
def xczk(tmp_path_factory):
    """czk with EXT_CFG (session-scoped)."""
    f, srv = _ext_server("czk", tmp_path_factory)
    yield srv
    f.stop_all()


@pytest.fixture(scope="session")
def xboth(xczk, xapache):
    return Pair(xczk, xapache)


@pytest.fixture(params=SERVER_KINDS)
def xserver(request):
    """One EXT_CFG server, the test runs once per kind ([czk] / [apache])."""
    return request.getfixturevalue("x" + request.param)
