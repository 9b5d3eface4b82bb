# SPDX-License-Identifier: Apache-2.0
"""An observer (`server.4=...:observer`) of three voters: a czk observer of
czk voters, an Apache observer of czk voters, and a czk observer of Apache
voters. It syncs from the leader, serves reads, forwards writes, follows a
new leader after the old one is killed, and never counts towards a quorum.
(The four-letter words of mixed observers are in test_ensemble_4lw.py, the
wire in test_learner.py.)"""

import time

import pytest

from ensemble import make_ensemble  # noqa: F401  (fixture)

KINDS = [["czk", "czk", "czk", "czk"], ["czk", "czk", "czk", "apache"],
         ["apache", "apache", "apache", "czk"]]
OBSERVER = 4
VOTERS = (1, 2, 3)



@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "-".join(k))
def test_observer_serves_and_follows_a_new_leader(make_ensemble, kinds):  # noqa: F811
    ens = make_ensemble(kinds, observers=(OBSERVER,))
    ens.start_all()
    modes = ens.wait_modes()
    assert modes[OBSERVER] == "observer"
    assert sorted(modes[s] for s in VOTERS) == ["follower", "follower", "leader"]

    obs = ens.client(OBSERVER)
    obs.create("/obs", b"v0")  # forwarded to the leader
    for i in range(1, 30):
        obs.set("/obs", b"v%d" % i)
    assert obs.get("/obs")[0] == b"v29"  # read-your-writes on the observer
    voter = ens.client(VOTERS[0])
    voter.set("/obs", b"from-voter")
    obs.sync("/obs")
    assert obs.get("/obs")[0] == b"from-voter"

    old = ens.leader_sid(sids=VOTERS)
    ens.kill(old)
    rest = [s for s in VOTERS if s != old] + [OBSERVER]
    modes = ens.wait_modes(sids=rest)
    assert modes[OBSERVER] == "observer"
    after = ens.client(OBSERVER)
    after.set("/obs", b"after-kill")
    assert after.get("/obs")[0] == b"after-kill"
    ens.restart(old)
    ens.wait_modes()
    ens.assert_trees_equal()


@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "-".join(k))
def test_observer_is_not_part_of_the_quorum(make_ensemble, kinds):  # noqa: F811
    """Two voters stopped: the last voter and the observer are three of four
    members, but only one of three voters, so the leader steps down and the
    observer stops serving; with a voter back, both serve again."""
    ens = make_ensemble(kinds, observers=(OBSERVER,))
    ens.start_all()
    ens.wait_modes()
    leader = ens.leader_sid(sids=VOTERS)
    followers = [s for s in VOTERS if s != leader]
    ens.stop(followers[0])
    ens.stop(followers[1])
    deadline = time.monotonic() + 30
    while ens.mode(leader) == "leader" or ens.mode(OBSERVER) == "observer":
        assert time.monotonic() < deadline, ens.modes(sids=[leader, OBSERVER])
        time.sleep(0.1)
    ens.start(followers[0])
    modes = ens.wait_modes(sids=[leader, followers[0], OBSERVER])
    assert modes[OBSERVER] == "observer"
    obs = ens.client(OBSERVER)
    obs.create("/back", b"yes")
    assert obs.get("/back")[0] == b"yes"
