# SPDX-License-Identifier: Apache-2.0
"""Which malloc czk-server runs on (CMakeLists.txt, CZK_MIMALLOC): mimalloc in
a release build, glibc's under the sanitizers (ASan must own malloc). The
ctest `integration.release` runs this file, and the snapshot, restart and
ensemble tests, against build-release/czk-server with CZK_EXPECT_MIMALLOC=1;
the dev-build run expects no mimalloc. A snapshot's fork()ed child allocates
in the forking thread's heap: a snapshot written and loaded back shows that
the child's allocations work on either allocator."""
import os

from conftest import kazoo_client, start_server


def _mapped_libs(pid):
    with open("/proc/%d/maps" % pid) as f:
        return {line.split()[-1] for line in f if "/" in line.split()[-1]}


def test_allocator_is_the_expected_one(tmp_path):
    expect = os.environ.get("CZK_EXPECT_MIMALLOC") == "1"
    srv = start_server("czk", tmp_path / "s", extra={"snapCount": "10"})
    try:
        libs = _mapped_libs(srv.pid)
        on_mimalloc = any("libmimalloc" in os.path.basename(p) for p in libs)
        assert on_mimalloc == expect, sorted(libs)
        # snapshots from fork()ed children while writes go on, then a restart
        # that loads the newest one
        kz = kazoo_client(srv)
        try:
            for i in range(200):
                kz.create("/n%03d" % i, b"x" * 100)
        finally:
            kz.stop()
            kz.close()
        srv.stop()
        snaps = [p for p in os.listdir(os.path.join(srv.datadir, "version-2"))
                 if p.startswith("snapshot.")]
        assert len(snaps) >= 2, snaps
        srv2 = start_server("czk", tmp_path / "s", extra={"snapCount": "10"}, port=srv.port)
        try:
            kz = kazoo_client(srv2)
            try:
                assert len(kz.get_children("/")) == 201  # 200 and "zookeeper"
                assert kz.get("/n199")[0] == b"x" * 100
            finally:
                kz.stop()
                kz.close()
        finally:
            srv2.stop()
    finally:
        srv.stop()
