# SPDX-License-Identifier: Apache-2.0
"""The epoch files of a data dir (QuorumPeer.loadDataBase): currentEpoch and
acceptedEpoch in dataDir/version-2, the epoch as decimal text without a
newline, replaced atomically.  czk writes them even standalone, so that a data
dir can join an ensemble; it refuses to start on files that are not numbers,
a current epoch older than the data, or an accepted epoch below the current
one, and says which file.  Apache's standalone mode neither writes nor reads
them, so these checks run against czk only; the rules and texts are those of
QuorumPeer.loadDataBase/readLongFromFile in Apache 3.8."""

from pathlib import Path

import pytest

from conftest import start_refused, start_server


def _v2(srv):
    return Path(srv.cfg["dataDir"]) / "version-2"


def _start_fails(workdir, port, needle):
    text = start_refused(workdir, port)
    assert needle in text, text[-3000:]


@pytest.fixture
def stopped_czk(tmp_path):
    """A czk data dir with a few writes in it; the server stopped."""
    srv = start_server("czk", tmp_path)
    try:
        c = srv.session(30000)
        assert c.create("/e", b"x")["err"] == 0
        c.close_session()
    finally:
        srv.stop()
    return srv


def test_epoch_files_written(stopped_czk):
    v2 = _v2(stopped_czk)
    # standalone zxids stay in epoch 0; the text has no newline (Long.toString)
    assert (v2 / "currentEpoch").read_bytes() == b"0"
    assert (v2 / "acceptedEpoch").read_bytes() == b"0"
    assert not (v2 / "currentEpoch.tmp").exists()


def test_missing_epoch_files_are_created(stopped_czk, tmp_path):
    v2 = _v2(stopped_czk)
    (v2 / "currentEpoch").unlink()
    (v2 / "acceptedEpoch").unlink()
    srv = start_server("czk", tmp_path, port=stopped_czk.port)
    try:
        assert srv.session(10000).get_data("/e")["data"] == b"x"
    finally:
        srv.stop()
    assert (v2 / "currentEpoch").read_bytes() == b"0"
    assert (v2 / "acceptedEpoch").read_bytes() == b"0"
    assert "currentEpoch not found! Creating with a reasonable default of 0" in \
        srv.log_path.read_text()


def test_epoch_not_a_number(stopped_czk, tmp_path):
    (_v2(stopped_czk) / "currentEpoch").write_bytes(b"zero\n")
    _start_fails(tmp_path, stopped_czk.port, 'Found "zero" in %s/currentEpoch'
                 % _v2(stopped_czk))


def test_current_epoch_older_than_data(stopped_czk, tmp_path):
    (_v2(stopped_czk) / "currentEpoch").write_bytes(b"-1")
    _start_fails(tmp_path, stopped_czk.port, "The current epoch, -1 (%s/currentEpoch), is older "
                 "than the last zxid" % _v2(stopped_czk))


def test_current_epoch_tmp_completes_the_write(stopped_czk, tmp_path):
    """A crash after currentEpoch.tmp was written but before its rename:
    ZooKeeper takes the .tmp's value."""
    v2 = _v2(stopped_czk)
    (v2 / "currentEpoch").write_bytes(b"-1")
    (v2 / "currentEpoch.tmp").write_bytes(b"0")
    srv = start_server("czk", tmp_path, port=stopped_czk.port)
    srv.stop()
    assert (v2 / "currentEpoch").read_bytes() == b"0"
    assert "currentEpoch.tmp found. Setting current epoch to 0" in srv.log_path.read_text()


def test_accepted_below_current(stopped_czk, tmp_path):
    v2 = _v2(stopped_czk)
    (v2 / "currentEpoch").write_bytes(b"5")
    (v2 / "acceptedEpoch").write_bytes(b"3")
    _start_fails(tmp_path, stopped_czk.port, "The accepted epoch, 3 (%s/acceptedEpoch), is less "
                 "than the current epoch, 5" % v2)
