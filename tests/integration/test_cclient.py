# SPDX-License-Identifier: Apache-2.0
"""The official C client (libzookeeper_mt) against both servers, through
cclient_test.c.  The binary comes from $CZK_CCLIENT_TEST (built by CMake) or
is compiled here with gcc into a temporary directory."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "cclient_test.c"


@pytest.fixture(scope="session")
def cclient_binary(tmp_path_factory):
    env = os.environ.get("CZK_CCLIENT_TEST")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            pytest.fail("CZK_CCLIENT_TEST=%s is not an executable file" % env, pytrace=False)
        return env
    gcc = shutil.which("gcc") or shutil.which("cc")
    if not gcc:
        pytest.fail("no C compiler to build cclient_test.c (set CZK_CCLIENT_TEST)", pytrace=False)
    out = tmp_path_factory.mktemp("cclient") / "cclient_test"
    cmd = [gcc, "-std=c11", "-D_GNU_SOURCE", "-DTHREADED", "-Wall", "-Wextra", "-O1",
           "-o", str(out), str(SOURCE), "-lzookeeper_mt", "-lpthread"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail("building cclient_test failed:\n%s\n%s" % (" ".join(cmd), p.stderr),
                    pytrace=False)
    return str(out)


def test_c_client(server, cclient_binary):
    p = subprocess.run([cclient_binary, server.hostport], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, ("cclient_test failed against %s (exit %d)\nstdout:\n%s\nstderr:\n%s"
                               % (server.kind, p.returncode, p.stdout, p.stderr))
    assert "cclient_test: OK" in p.stdout


def test_c_client_twice_concurrently(server, cclient_binary):
    """Two C clients at once (distinct base paths: the pid is in the path)."""
    procs = [subprocess.Popen([cclient_binary, server.hostport], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, (out, err)
