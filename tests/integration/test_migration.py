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
write lost, every member's tree equal, per-key and per-session order; and
every session (three writers, one that only holds an ephemeral) is the
same one from start to end, its ephemeral on every member."""
import re
import time

import pytest

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


def _step(ens, load, sid, kind, steps, keep_cfg=False):
    """Replace member sid by `kind` under load; check it as an operator would.
    keep_cfg: on the zoo.cfg the stopped server left (Ensemble.replace)."""
    leader = ens.leader_sid()
    before = ens.zxid(leader)
    start_s = time.monotonic()
    deadline = start_s + STEP_TIMEOUT_S
    ens.replace(sid, kind, keep_cfg=keep_cfg)
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


def _migrate(ens, load, kind, steps, keep_cfg=False):
    """Replace every member by `kind`: followers in sid order, then the leader."""
    leader = ens.leader_sid()
    for sid in ens.follower_sids() + [leader]:
        assert ens.members[sid].kind != kind
        _step(ens, load, sid, kind, steps, keep_cfg)
    assert set(ens.kinds().values()) == {kind}, ens.kinds()


def _stop_and_check(load, steps):
    """The end of a migration both ways: the load stops, its history checks
    (nothing acknowledged lost, every tree equal), six steps were made and
    writes went on through them."""
    history = load.stop()
    counts = load.check()
    print("steps (sid, kind, its mode, leader, time):", steps)
    print("ops by outcome:", counts)
    assert len(steps) == 6, steps
    assert history.count("ok") >= 7 * WRITES_PER_STEP, counts
    return history


def _zk_config(ens, sid):
    """/zookeeper/config as member sid serves it."""
    c = ens.client(sid)
    try:
        return c.get("/zookeeper/config")[0]
    finally:
        c.stop()
        c.close()


def test_rolling_migration_apache_to_czk_and_back(make_ensemble):
    ens = make_ensemble(["apache", "apache", "apache"])
    ens.start_all()
    ens.wait_modes()
    load = Load(ens, writers=3, keys=2, root=ROOT).start()
    # a session that only holds an ephemeral (and pings) through it all
    holder = ens.client(timeout=10.0)
    holder_session = holder.client_id[0]
    holder.create(ROOT + "/holder", b"h", ephemeral=True)
    load.wait_ok(WRITES_PER_STEP)
    steps = []
    _migrate(ens, load, "czk", steps)
    _migrate(ens, load, "apache", steps)
    history = _stop_and_check(load, steps)
    # every session lived through both migrations: each writer used one
    # session id from start to end, and the holder's ephemeral is on every
    # member, still owned by it
    for w in load.writers:
        sessions = {op.session for op in history.snapshot() if op.writer == w and op.session}
        assert len(sessions) == 1, (w, [hex(s) for s in sessions])
    assert holder.client_id[0] == holder_session
    for sid, tree in ens.trees().items():
        node = tree.get(ROOT + "/holder")
        assert node is not None and node["ephemeralOwner"] == holder_session, (sid, node)



def test_rolling_migration_of_a_reconfig_enabled_ensemble(make_ensemble):
    """With reconfigEnabled=true, Apache 3.8 moves the server.N lines out of
    zoo.cfg into zoo.cfg.dynamic.<version> (version 100000000: the first
    leader's first zxid), keeps the original as zoo.cfg.bak and points
    zoo.cfg at the new file (dynamicConfigFile=).  czk starts on those files
    as Apache left them (it reads dynamicConfigFile and takes the version
    from the file's name), leaves them alone, shows the same
    /zookeeper/config, and Apache starts on them again afterwards; writers
    write throughout and the history checks."""
    ens = make_ensemble(["apache", "apache", "apache"], extra={"reconfigEnabled": "true"})
    ens.start_all()
    ens.wait_modes()
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not all("dynamicConfigFile=" in files.get("zoo.cfg", "")
                  for files in ens.config_files().values()):
        assert time.monotonic() < deadline, ens.config_files()
        time.sleep(0.1)
    files = ens.config_files()
    for sid, names in files.items():
        assert "zoo.cfg.dynamic.100000000" in names and "zoo.cfg.bak" in names, (sid, names)
        assert "server." not in names["zoo.cfg"], (sid, names["zoo.cfg"])
    config = _zk_config(ens, 1)
    assert config.decode().endswith("version=100000000"), config
    load = Load(ens, writers=2, keys=2, root=ROOT).start()
    load.wait_ok(WRITES_PER_STEP)
    steps = []
    _migrate(ens, load, "czk", steps, keep_cfg=True)
    assert ens.config_files() == files, "czk changed the config files Apache wrote"
    for sid in ens.server_sids():
        got = _zk_config(ens, sid)
        assert got == config, (sid, got, config)
    _migrate(ens, load, "apache", steps, keep_cfg=True)
    _stop_and_check(load, steps)


@pytest.mark.parametrize("kinds", [["czk", "apache", "apache"], ["apache", "apache", "czk"],
                                   ["czk", "czk", "czk"]], ids=lambda k: "-".join(k))
def test_reconfig_enabled_config_version_and_files(make_ensemble, kinds):
    """reconfigEnabled=true, member 3 leading: Apache's leader gives a
    config still at version 0 its epoch's first zxid (100000000) and sends
    it with NEWLEADER; every member takes it once a quorum has it, writes it
    to zoo.cfg.dynamic.100000000 and points zoo.cfg at that file (the
    original kept as zoo.cfg.bak).  czk does the same as a learner of an
    Apache leader and as the leader itself (it kept version=0 before, and
    its /zookeeper/config differed from its Apache peers'): every member
    shows the same /zookeeper/config and has the same dynamic file, byte
    for byte; restarted on those files, member 1 rejoins with them."""
    ens = make_ensemble(kinds, extra={"reconfigEnabled": "true"})
    ens.start_three_led_by_3()
    assert ens.leader_sid() == 3

    def configs():
        return {sid: _zk_config(ens, sid) for sid in ens.server_sids()}

    got = configs()
    assert got[1] == got[2] == got[3], got
    assert got[1].decode().endswith("\nversion=100000000"), got[1]
    dyn = "zoo.cfg.dynamic.100000000"
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not all(dyn in f for f in ens.config_files().values()):
        assert time.monotonic() < deadline, ens.config_files()
        time.sleep(0.1)
    files = ens.config_files()
    for sid in ens.server_sids():
        assert files[sid][dyn] == files[1][dyn], (sid, files[sid][dyn], files[1][dyn])
        assert files[sid]["zoo.cfg.bak"].count("server.") == 3, (sid, files[sid])
        cfg = files[sid]["zoo.cfg"]
        assert "server." not in cfg and "reconfigEnabled=true" in cfg, (sid, cfg)
        assert cfg.endswith("dynamicConfigFile=%s\n" % (ens.members[sid].workdir / dyn)), cfg
    assert files[1][dyn].count("server.") == 3 and "version" not in files[1][dyn]
    ens.stop(1)
    ens.start(1, keep_cfg=True)
    ens.wait_modes()
    assert configs() == got
    assert ens.config_files()[1] == files[1]


PING_BEFORE_ACK = "Next packet was supposed to be an ACK, but received packet: PING"


def test_czk_follower_rejoins_apache_leader_by_diff_in_one_sync(make_ensemble):
    """A migration step in miniature: a czk follower of an Apache leader,
    stopped while ~450 txns are written (within the leader's committed log,
    so a DIFF), rejoins with ONE sync each time.  Apache's LearnerHandler
    reads the learner's ACK of NEWLEADER as the next packet after the sync
    and drops a learner that sends anything else first; Apache's own
    Learner ignores PING until UPTODATE, and so does czk's.  A short tick
    (pings every 50 ms) makes a PING during the sync near certain: a czk
    that answered it (as it once did) was dropped (PING_BEFORE_ACK) and had
    to re-elect and sync again."""
    ens = make_ensemble(["czk", "apache", "apache"], tick_ms=100, init_limit=50, sync_limit=20)
    ens.start_three_led_by_3()
    assert ens.leader_sid() == 3
    c = ens.client(2)
    rounds = 4
    for r in range(rounds):
        ens.stop(1)
        c.ensure_path("/gap%d" % r)
        for i in range(450):
            c.create_async("/gap%d/n%d" % (r, i), b"x" * 100)
        c.sync("/gap%d" % r)
        ens.start(1)
        ens.wait_modes()
    leader_log = (ens.members[3].workdir / "zookeeper.log").read_text(errors="replace")
    czk_log = ens.server(1).log_path.read_text(errors="replace")
    assert leader_log.count(PING_BEFORE_ACK) == 0, leader_log.count(PING_BEFORE_ACK)
    syncs = re.findall(r"Getting a (diff|snapshot|truncate) from the leader", czk_log)
    assert syncs.count("diff") == rounds and len(syncs) == rounds + 1, syncs
