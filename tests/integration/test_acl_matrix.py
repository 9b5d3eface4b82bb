# SPDX-License-Identifier: Apache-2.0
"""Differential ACL matrix (issue 3): every permission-checking opcode x every
permission bit x the schemes world / auth / digest / ip / super, against
Apache ZooKeeper 3.8 and czk; the normalised replies must be identical.

Layout (built by a super session, which bypasses every ACL):

    /aclm/<identity>/<variant>_<perm>        the node under test, ACL = X
    /aclm/<identity>/<variant>_<perm>/c, c2  children (world:anyone ALL)

X is (perm, scheme, id) for variant in VARIANTS and perm in PERMS; each
identity (a session authenticated in one way) gets its own copy of all the
nodes, so what one identity changes never hides what another may do.  Each
identity then pipelines OPS against each of its nodes (in chunks, one
connection per identity).  Servers: the session-scoped EXT_CFG pair
(DigestAuthenticationProvider.superDigest, extendedTypesEnabled, ...).

The oracle is the Debian package, ZooKeeper 3.8.0. czk follows 3.8.4+ where
those releases closed ACL holes, and the test applies the same rules to
3.8.0's trace before comparing (_as_3_8_4): ZOOKEEPER-2590, exists needs
READ on an existing node (NOAUTH, and no watch is left, so the
checkWatches/removeWatches after it find none). Whether an identity may
READ a node is taken from 3.8.0's own getData answer on it.  ZOOKEEPER-4799
(events only to watchers with READ) changes nothing here: every watch set
without READ is removed before anything fires.
"""

import base64
import hashlib
import types

import pytest

import difftool
from conftest import SUPER_USER, SUPER_PASSWORD
from zkwire import (OP, OPEN_ACL_UNSAFE, enc_create, enc_create_ttl,
                    enc_path_watch, enc_set_data, enc_delete, enc_path,
                    enc_set_acl, enc_multi, enc_add_watch, enc_watches_req,
                    CONTAINER, PERSISTENT_WITH_TTL, WATCHER_ANY, NOAUTH)

BASE = "/aclm"
PERMS = [0, 1, 2, 4, 8, 16, 31]


def digest_id(user, password):
    h = base64.b64encode(hashlib.sha1(("%s:%s" % (user, password)).encode()).digest())
    return "%s:%s" % (user, h.decode())


ALICE = ("alice", "pw-alice")
ALICE_ID = digest_id(*ALICE)

# variant -> (scheme, id as sent in setACL, who sets it)
VARIANTS = {
    "world": ("world", "anyone"),
    "auth": ("auth", ""),            # set by alice: becomes digest:alice:<hash>
    "digest": ("digest", ALICE_ID),
    "ip1": ("ip", "127.0.0.1"),
    "ip8": ("ip", "127.0.0.0/8"),
    "ip10": ("ip", "10.0.0.1"),
}

# identity -> list of (scheme, auth) to addauth
IDENTITIES = {
    "anon": [],
    "alice": [("digest", "%s:%s" % ALICE)],
    "bob": [("digest", "bob:pw-bob")],
    "alicewrong": [("digest", "alice:not-her-password")],
    "super": [("digest", "%s:%s" % (SUPER_USER, SUPER_PASSWORD))],
}

TTL_MS = 3600 * 1000     # never expires during the run


def literal_acl(variant, perm):
    scheme, ident = VARIANTS[variant]
    if scheme == "auth":
        return [(perm, "digest", ALICE_ID)]
    return [(perm, scheme, ident)]


def node_ops(n, variant, perm):
    """(label, optype, body) for one node under test, in order."""
    lit = literal_acl(variant, perm)
    return [
        ("getData", OP["getData"], enc_path_watch(n)),
        ("exists", OP["exists"], enc_path_watch(n)),
        ("getChildren", OP["getChildren"], enc_path_watch(n)),
        ("getChildren2", OP["getChildren2"], enc_path_watch(n)),
        ("getACL", OP["getACL"], enc_path(n)),
        ("getAllChildrenNumber", OP["getAllChildrenNumber"], enc_path(n)),
        ("getEphemerals", OP["getEphemerals"], enc_path(n)),
        ("sync", OP["sync"], enc_path(n)),
        ("multiRead", OP["multiRead"], enc_multi([("getData", n), ("getChildren", n)])),
        ("multiRead-child", OP["multiRead"], enc_multi([("getData", n + "/c")])),
        ("getData-watch", OP["getData"], enc_path_watch(n, True)),
        ("getChildren-watch", OP["getChildren"], enc_path_watch(n, True)),
        ("exists-watch", OP["exists"], enc_path_watch(n, True)),
        ("checkWatches", OP["checkWatches"], enc_watches_req(n, WATCHER_ANY)),
        ("removeWatches", OP["removeWatches"], enc_watches_req(n, WATCHER_ANY)),
        ("addWatch", OP["addWatch"], enc_add_watch(n, 1)),
        ("removeWatches2", OP["removeWatches"], enc_watches_req(n, WATCHER_ANY)),
        ("setData", OP["setData"], enc_set_data(n, b"w1")),
        ("create", OP["create"], enc_create(n + "/new", b"")),
        ("create2", OP["create2"], enc_create(n + "/new2", b"")),
        ("createContainer", OP["createContainer"],
         enc_create(n + "/cont", b"", OPEN_ACL_UNSAFE, CONTAINER)),
        ("createTTL", OP["createTTL"],
         enc_create_ttl(n + "/ttl", b"", OPEN_ACL_UNSAFE, PERSISTENT_WITH_TTL, TTL_MS)),
        ("delete", OP["delete"], enc_delete(n + "/c")),
        ("delete-self", OP["delete"], enc_delete(n + "/nothere")),
        ("multi-create", OP["multi"], enc_multi([("create", n + "/m1")])),
        ("multi-create2", OP["multi"], enc_multi([("create2", n + "/m2")])),
        ("multi-setData", OP["multi"], enc_multi([("setData", n, b"w2")])),
        ("multi-check", OP["multi"], enc_multi([("check", n, -1)])),
        ("multi-check-v", OP["multi"], enc_multi([("check", n, 0)])),
        ("multi-delete", OP["multi"], enc_multi([("delete", n + "/c2")])),
        ("multi-mixed", OP["multi"], enc_multi([("check", n + "/c", -1),
                                               ("setData", n, b"w3"),
                                               ("create", n + "/m3")])),
        ("setACL", OP["setACL"], enc_set_acl(n, lit, -1)),
        ("setACL-v", OP["setACL"], enc_set_acl(n, lit, 0)),
        ("getACL-after", OP["getACL"], enc_path(n)),
        ("getData-after", OP["getData"], enc_path_watch(n)),
        ("getChildren-after", OP["getChildren"], enc_path_watch(n)),
    ]


def _chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def matrix(ctx):
    S = ctx.open("setup")
    S.add_auth("digest", ("%s:%s" % (SUPER_USER, SUPER_PASSWORD)).encode())
    A = ctx.open("alice-setup")
    A.add_auth("digest", ("%s:%s" % ALICE).encode())
    # the tree, with world ACLs first
    reqs = [(OP["create"], enc_create(BASE, b""))]
    nodes = []
    for ident in IDENTITIES:
        reqs.append((OP["create"], enc_create("%s/%s" % (BASE, ident), b"")))
        for variant in VARIANTS:
            for perm in PERMS:
                n = "%s/%s/%s_%d" % (BASE, ident, variant, perm)
                nodes.append((ident, variant, perm, n))
                reqs.append((OP["create"], enc_create(n, b"data")))
                reqs.append((OP["create"], enc_create(n + "/c", b"")))
                reqs.append((OP["create"], enc_create(n + "/c2", b"")))
    for chunk in _chunks(reqs, 300):
        ctx.pipeline("setup", chunk)
    # the ACLs under test
    sreqs, areqs = [], []
    for ident, variant, perm, n in nodes:
        scheme, ident_s = VARIANTS[variant]
        body = enc_set_acl(n, [(perm, scheme, ident_s)], -1)
        (areqs if scheme == "auth" else sreqs).append((OP["setACL"], body))
    for chunk in _chunks(sreqs, 300):
        ctx.pipeline("setup", chunk)
    for chunk in _chunks(areqs, 300):
        ctx.pipeline("alice-setup", chunk)
    # each identity on its own copy
    for ident, auths in IDENTITIES.items():
        sess = ctx.open(ident)
        for scheme, auth in auths:
            sess.add_auth(scheme, auth.encode())
        sess.who_am_i()
        for _, variant, perm, n in [x for x in nodes if x[0] == ident]:
            ops = node_ops(n, variant, perm)
            ctx.note("%s %s" % (ident, n))
            ctx.pipeline(ident, [(op, body) for _, op, body in ops])
        sess.ping()


def _results(ctx):
    """{(identity, node, label): err} from the recorded pipelines."""
    out = {}
    cur = None
    it = iter(ctx.records)
    labels = [l for l, _, _ in node_ops("/x", "world", 0)]
    pending = []
    for r in it:
        if "note" in r and "s" not in r:
            ident, n = r["note"].split(" ", 1)
            cur = (ident, n)
            pending = list(labels)
            continue
        if cur and r.get("kind") == "reply" and r.get("s") == cur[0] and pending:
            out[(cur[0], cur[1], pending.pop(0))] = r["err"]
    return out


NOWATCHER = -121
AFTER_3_8_4 = {"exists": NOAUTH, "exists-watch": NOAUTH,
               "checkWatches": NOWATCHER, "removeWatches": NOWATCHER}
REPLY_HEADER = ("s", "kind", "xid", "zxid", "err", "op", "req", "args", "note")


def _as_3_8_4(ctx, res):
    """3.8.0's trace as 3.8.4+ answers it (see the module docstring)."""
    records = []
    cur = None
    labels = [l for l, _, _ in node_ops("/x", "world", 0)]
    pending = []
    for r in ctx.records:
        if "note" in r and "s" not in r:
            cur = r["note"].split(" ", 1)
            pending = list(labels)
        elif cur and r.get("kind") == "reply" and r.get("s") == cur[0] and pending:
            label = pending.pop(0)
            no_read = res[(cur[0], cur[1], "getData")] == NOAUTH
            if no_read and label in AFTER_3_8_4 and r.get("err") == 0:
                r = {k: v for k, v in r.items() if k in REPLY_HEADER}
                r["err"] = AFTER_3_8_4[label]
        records.append(r)
    return types.SimpleNamespace(records=records, session_ids=ctx.session_ids)


def test_acl_matrix(xboth):
    a = difftool.run(xboth.apache, matrix, BASE)
    harness = [r for r in a.records if "exception" in r]
    assert not harness, "harness problem on Apache: %r" % harness
    res = _results(a)
    n = "%s/%%s/%%s_%%d" % BASE
    # sanity of the oracle run (what the matrix must be able to see)
    assert res[("anon", n % ("anon", "world", 1), "getData")] == 0
    assert res[("anon", n % ("anon", "world", 2), "getData")] == NOAUTH
    assert res[("anon", n % ("anon", "ip8", 1), "getData")] == 0
    assert res[("anon", n % ("anon", "ip10", 31), "getData")] == NOAUTH
    assert res[("alice", n % ("alice", "digest", 1), "getData")] == 0
    assert res[("alice", n % ("alice", "auth", 1), "getData")] == 0
    assert res[("bob", n % ("bob", "auth", 31), "getData")] == NOAUTH
    assert res[("alicewrong", n % ("alicewrong", "digest", 31), "getData")] == NOAUTH
    assert res[("super", n % ("super", "ip10", 0), "getData")] == 0     # superDigest works
    assert res[("super", n % ("super", "auth", 0), "setData")] == 0
    assert res[("anon", n % ("anon", "world", 4), "create")] == 0
    assert res[("anon", n % ("anon", "world", 2), "create")] == NOAUTH
    assert res[("anon", n % ("anon", "world", 8), "delete")] == 0
    assert res[("anon", n % ("anon", "world", 16), "setACL")] == 0
    assert res[("anon", n % ("anon", "world", 1), "setACL")] == NOAUTH
    assert len(res) == len(IDENTITIES) * len(VARIANTS) * len(PERMS) * len(node_ops("/x", "world", 0))
    a = _as_3_8_4(a, res)
    res = _results(a)
    assert res[("anon", n % ("anon", "world", 2), "exists")] == NOAUTH     # 3.8.4+
    assert res[("anon", n % ("anon", "world", 1), "exists")] == 0
    c = difftool.run(xboth.czk, matrix, BASE)
    msg = difftool.compare(c, a, "acl_matrix")
    if msg:
        # the full traces are long: show the diff and a summary only
        head = msg.split("---- apache (")[0]
        rc = _results(c)
        wrong = sorted("%s %s %s: apache %s czk %s" % (k[0], k[1], k[2], v, rc.get(k))
                       for k, v in res.items() if rc.get(k) != v)
        pytest.fail(head[:20000] + "\n%d differing error codes:\n%s"
                    % (len(wrong), "\n".join(wrong[:300])), pytrace=False)
