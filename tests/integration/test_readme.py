# SPDX-License-Identifier: Apache-2.0
"""The README's first examples, run as written (port changed to the test
server's) against czk: a new user's first commands must work on a machine
that ran the README's commands (issue 9: `nc` was missing)."""
import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _example_lines():
    text = README.read_text()
    block = re.search(r"Then, for example:\n\n```sh\n(.*?)```", text, re.S)
    assert block, "README lost its example block"
    return [l for l in block.group(1).splitlines() if l.strip()]


def _run(line, port):
    cmd = line.replace("127.0.0.1:2181", "127.0.0.1:%d" % port)
    cmd = cmd.replace("127.0.0.1 2181", "127.0.0.1 %d" % port)
    assert cmd != line, "example does not name 127.0.0.1:2181: %s" % line
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)


def test_readme_examples_work(czk):
    lines = _example_lines()
    assert any(l.startswith("echo srvr | nc ") for l in lines), lines
    assert any("zkCli.sh" in l and "create /hello world" in l for l in lines), lines
    for line in lines:
        out = _run(line, czk.port)
        assert out.returncode == 0, (line, out.stdout, out.stderr)
        if "nc " in line:
            assert "Mode: standalone" in out.stdout, out.stdout
        if "zkCli.sh" in line:
            assert "Created /hello" in out.stdout + out.stderr, out.stdout + out.stderr
    c = czk.session()
    try:
        assert c.get_data("/hello")["data"] == b"world"
    finally:
        c.close()
