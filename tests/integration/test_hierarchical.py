# SPDX-License-Identifier: Apache-2.0
"""Weighted and hierarchical quorums (group.N / weight.N, ZooKeeper's
QuorumHierarchical; issue 11) in live ensembles of czk and Apache ZooKeeper
3.8 members, all with the same zoo.cfg keys: the same leader, the same
quorums, the same /zookeeper/config. The rule itself (every subset of sids)
and the config text are compared with Apache's class in
test_membership.py."""
import time

import pytest

from ensemble import make_ensemble  # noqa: F401  (fixture)

DEADLINE_S = 60
KINDS = [["czk", "czk", "czk"], ["apache", "apache", "czk"], ["czk", "czk", "apache"]]


def _config_texts(ens, sids):
    texts = {}
    for sid in sids:
        c = ens.client(sid)
        try:
            texts[sid] = c.get("/zookeeper/config")[0]
        finally:
            c.stop()
            c.close()
    return texts


def _write_read(ens, writer, reader, path):
    c = ens.client(writer)
    try:
        c.create(path, b"v", makepath=True)
    finally:
        c.stop()
        c.close()
    c = ens.client(reader)
    try:
        c.sync(path)
        return c.get(path)[0]
    finally:
        c.stop()
        c.close()


@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "-".join(k))
def test_weights_decide_the_quorum(make_ensemble, kinds):
    """One group, weights 2/1/1: {1,2} and {1,3} are quorums, {2,3} is not
    (though a majority): with member 1 gone nobody serves; with member 3
    (the leader) gone, 1 and 2 elect 2 and serve."""
    ens = make_ensemble(kinds, extra={"group.1": "1:2:3", "weight.1": "2", "weight.2": "1",
                                      "weight.3": "1"})
    ens.start_all()
    # 3 (the highest sid), unless an Apache member 3 was still starting its
    # JVM when 1 and 2's finalizeWait ran out: then {1,2}, a quorum, elect 2
    assert ens.leader_sid() in ((3,) if kinds[2] == "czk" else (2, 3))
    texts = _config_texts(ens, [1, 2, 3])
    assert texts[1] == texts[2] == texts[3], texts
    assert b"\ngroup.1=1:2:3\nweight.1=2\nweight.2=1\nweight.3=1\nversion=" in texts[1], texts[1]
    assert _write_read(ens, 2, 1, "/h/a") == b"v"

    ens.kill(1)
    ens.wait_not_serving([2, 3], DEADLINE_S)
    # and they stay out of service: {2,3} cannot elect (several election rounds)
    until = time.monotonic() + 3.0
    while time.monotonic() < until:
        assert not any(ens.modes([2, 3]).values()), ens.modes([2, 3])
        time.sleep(0.2)

    ens.start(1)
    ens.wait_modes()
    ens.kill(3)
    assert ens.leader_sid(sids=[1, 2]) == 2
    assert _write_read(ens, 1, 2, "/h/b") == b"v"
    ens.start(3)
    ens.wait_modes()
    assert _write_read(ens, 3, 1, "/h/c") == b"v"


@pytest.mark.parametrize("kinds", KINDS, ids=lambda k: "-".join(k))
def test_a_zero_weight_voter_never_leads(make_ensemble, kinds):
    """weight.3=0: member 3 votes and follows, but FastLeaderElection never
    proposes it, so 2 leads although 3 has the highest sid; and since 3
    weighs nothing, 1 and 2 are the quorum: without 2, nobody serves."""
    ens = make_ensemble(kinds, extra={"group.1": "1:2:3", "weight.3": "0"})
    ens.start_all()
    assert ens.leader_sid() == 2
    assert _write_read(ens, 3, 1, "/z/a") == b"v"
    ens.kill(2)
    ens.wait_not_serving([1, 3], DEADLINE_S)
    ens.start(2)
    assert ens.leader_sid() == 2
    assert _write_read(ens, 1, 3, "/z/b") == b"v"
