# SPDX-License-Identifier: Apache-2.0
"""The rolling migration users switch for: a three-member Apache ZooKeeper
3.8 ensemble under client load becomes a czk ensemble one member at a
time, and goes back to Apache the same way, while writers keep writing.

Each step stops one member's process (SIGTERM by pid) and starts the other
kind on the SAME zoo.cfg, myid, data dir and ports (Ensemble.replace):
followers first, the leader last, so that the ensemble holds a quorum all
along and elects only once per direction.  Between steps, as an operator
would (docs/OPERATIONS.md, "Migrating an ensemble, one member at a time"):
every member reports Mode leader/follower in one round of `srvr`, the new
member's `srvr` says which server it is, its zxid reaches the zxid the
leader had when the step began, and writes are acknowledged after the
step.  At the end the load stops and the history checks: no acknowledged
write lost, every member's tree equal, per-key and per-session order."""
import re
import time

import zkwire
from conftest import HOST
from ensemble import Load, make_ensemble  # noqa: F401  (make_ensemble is a fixture)

ROOT = "/migrate"
WRITES_PER_STEP = 30
STEP_TIMEOUT_S = 60


def _version(ens, sid):
    out = zkwire.four_letter(HOST, ens.members[sid].client_port, "srvr", timeout=5.0)
    return re.search(r"Zookeeper version: (\S+)", out).group(1)


def _wait_zxid(ens, sid, want, deadline):
    """Poll member sid's `srvr` Zxid until it is at least `want`."""
    while True:
        got = ens.zxid(sid)
        if got >= want:
            return got
        assert time.monotonic() < deadline, "member %d stuck at zxid 0x%x, want 0x%x" % (
            sid, got, want)
        time.sleep(0.05)


def _step(ens, load, sid, kind, steps):
    """Replace member sid by `kind` under load; check it as an operator would."""
    leader = ens.leader_sid()
    before = ens.zxid(leader)
    start_s = time.monotonic()
    deadline = start_s + STEP_TIMEOUT_S
    ens.replace(sid, kind)
    modes = ens.wait_modes(deadline=deadline)
    new_leader = [s for s, mode in modes.items() if mode == "leader"][0]
    if sid != leader:
        # a follower's restart leaves the leader (and its epoch) alone
        assert new_leader == leader, (sid, leader, modes)
    else:
        assert new_leader != sid, (sid, modes)
    version = _version(ens, sid)
    assert ("czk" in version) == (kind == "czk"), (sid, kind, version)
    _wait_zxid(ens, sid, before, deadline)
    load.wait_ok(WRITES_PER_STEP, since_s=start_s, timeout=STEP_TIMEOUT_S)
    after = ens.zxid(new_leader)
    epoch_before, epoch_after = before >> 32, after >> 32
    if sid == leader:
        assert epoch_after > epoch_before, (hex(before), hex(after))
    else:
        assert epoch_after == epoch_before, (hex(before), hex(after))
    steps.append((sid, kind, modes[sid], new_leader, "%.1fs" % (time.monotonic() - start_s)))


def _migrate(ens, load, kind, steps):
    """Replace every member by `kind`: followers in sid order, then the leader."""
    leader = ens.leader_sid()
    for sid in ens.follower_sids() + [leader]:
        assert ens.members[sid].kind != kind
        _step(ens, load, sid, kind, steps)
    assert set(ens.kinds().values()) == {kind}, ens.kinds()


def test_rolling_migration_apache_to_czk_and_back(make_ensemble):
    ens = make_ensemble(["apache", "apache", "apache"])
    ens.start_all()
    ens.wait_modes()
    load = Load(ens, writers=3, keys=2, root=ROOT).start()
    load.wait_ok(WRITES_PER_STEP)
    steps = []
    _migrate(ens, load, "czk", steps)
    _migrate(ens, load, "apache", steps)
    history = load.stop()
    counts = load.check()
    print("steps (sid, kind, its mode, leader, time):", steps)
    print("ops by outcome:", counts)
    assert len(steps) == 6, steps
    assert history.count("ok") >= 7 * WRITES_PER_STEP, counts
