# SPDX-License-Identifier: Apache-2.0
"""Issue 9: authentication and ACL ids are byte strings, and the `auth`
scheme takes whatever id a client sends.

Defect 2: a digest user name with a NUL byte (`mal\\0lory:pw`) must be kept
whole. czk used to cut it at the NUL and store `digest:mal` for an `auth`
ACL, which then let any `mal\\0<anything>` user in. Apache stores
`mal\\0lory:<base64 sha1>`.

Defect 3: kazoo writes an empty string as a null jute string (length -1),
so `make_acl("auth", "")` reaches the server as Id("auth", null); zkCli's
`auth::cdrwa` sends Id("auth", ""). Apache ignores the id of an `auth`
entry, so both work.

Every test runs against czk and Apache and asserts the same outcome."""

import base64
import hashlib
import time
from pathlib import Path

import pytest

import zkwire
from conftest import kazoo_client
from zkwire import INVALIDACL, MARSHALLINGERROR, NOAUTH

ALL = 31


def digest_id(cred):
    """ZooKeeper's digest id of "user:password" bytes: user:base64(sha1)."""
    user = cred.split(b":", 1)[0]
    return user + b":" + base64.b64encode(hashlib.sha1(cred).digest())


def _s(b):
    """zkwire decodes strings with surrogateescape; compare as text."""
    return b.decode("utf-8", "surrogateescape")


@pytest.fixture
def base(server, request):
    c = server.session()
    path = "/acl-ids-" + request.node.name.split("[")[0]
    assert c.create(path)["err"] == 0
    yield server, path
    c.close_session()


def test_nul_user_auth_acl(base):
    server, b = base
    mal = b"mal\x00lory:pw"
    owner = server.session()
    assert owner.add_auth("digest", mal)["err"] == 0
    who = owner.who_am_i()
    assert who["err"] == 0
    assert ["digest", _s(b"mal\x00lory")] in who["clientInfo"]

    assert owner.create(b + "/n", b"secret", acl=[(ALL, "auth", "")])["err"] == 0
    acl = owner.get_acl(b + "/n")
    assert acl["err"] == 0
    assert acl["acl"] == [[ALL, "digest", _s(digest_id(mal))]]

    # same user name up to the NUL, another password or suffix: no access
    for cred in (b"mal\x00other:x", b"mal\x00lory:wrong", b"mal:pw", b"mal\x00:pw"):
        other = server.session()
        assert other.add_auth("digest", cred)["err"] == 0
        assert other.get_data(b + "/n")["err"] == NOAUTH, cred
        assert other.set_data(b + "/n", b"pwned")["err"] == NOAUTH, cred
        assert other.get_acl(b + "/n")["err"] == NOAUTH, cred
        other.close_session()

    # the real user, on another session, gets in
    again = server.session()
    assert again.add_auth("digest", mal)["err"] == 0
    got = again.get_data(b + "/n")
    assert got["err"] == 0 and got["data"] == b"secret"
    assert again.delete(b + "/n")["err"] == 0
    again.close_session()
    owner.close_session()


def test_nul_in_explicit_acl_ids(base):
    server, b = base
    c = server.session()
    # a digest id is only checked for one ':'; its bytes are kept whole
    nul_digest = b"a\x00b:" + base64.b64encode(hashlib.sha1(b"a\x00b:pw").digest())
    assert c.create(b + "/d", b"d", acl=[(ALL, "digest", nul_digest)])["err"] == 0
    assert c.get_data(b + "/d")["err"] == NOAUTH
    ab = server.session()
    assert ab.add_auth("digest", b"a:pw")["err"] == 0
    assert ab.get_data(b + "/d")["err"] == NOAUTH
    assert ab.add_auth("digest", b"a\x00b:pw")["err"] == 0
    assert ab.get_acl(b + "/d")["acl"] == [[ALL, "digest", _s(nul_digest)]]
    assert ab.delete(b + "/d")["err"] == 0
    # an ip or world id with a NUL is no valid id at all
    assert c.create(b + "/i", acl=[(ALL, "ip", b"127.0.0.1\x00")])["err"] == INVALIDACL
    assert c.create(b + "/i", acl=[(ALL, "ip", b"127.0.0.1\x00/8")])["err"] == INVALIDACL
    assert c.create(b + "/i", acl=[(ALL, "ip", b"127.0.0.1/8\x00")])["err"] == INVALIDACL
    assert c.create(b + "/w", acl=[(ALL, "world", b"anyone\x00")])["err"] == INVALIDACL
    assert c.create(b + "/w", acl=[(ALL, "world\x00", b"anyone")])["err"] == INVALIDACL
    assert c.exists(b + "/i")["err"] == zkwire.NONODE
    assert c.exists(b + "/w")["err"] == zkwire.NONODE
    ab.close_session()
    c.close_session()


def test_auth_acl_id_forms(base):
    """The id of an `auth` entry is ignored, null included; a null id of
    the other schemes is a marshalling error, a null scheme an invalid ACL."""
    server, b = base
    c = server.session()
    cred = b"user:pw"
    assert c.add_auth("digest", cred)["err"] == 0
    want = [[ALL, "digest", _s(digest_id(cred))]]
    for i, ident in enumerate(("", None, "anything")):
        path = "%s/a%d" % (b, i)
        assert c.create(path, acl=[(ALL, "auth", ident)])["err"] == 0, ident
        assert c.get_acl(path)["acl"] == want, ident
        assert c.set_acl(path, [(ALL, "auth", ident)])["err"] == 0, ident
    assert c.create(b + "/x", acl=[(ALL, "world", None)])["err"] == MARSHALLINGERROR
    assert c.create(b + "/x", acl=[(ALL, "digest", None)])["err"] == MARSHALLINGERROR
    assert c.create(b + "/x", acl=[(ALL, "ip", None)])["err"] == MARSHALLINGERROR
    assert c.create(b + "/x", acl=[(ALL, None, "anyone")])["err"] == INVALIDACL
    assert c.create(b + "/x", acl=[(ALL, "nosuch", None)])["err"] == INVALIDACL
    assert c.exists(b + "/x")["err"] == zkwire.NONODE
    # without a digest id, `auth` in any form is an invalid ACL
    anon = server.session()
    for ident in ("", None):
        assert anon.create(b + "/x", acl=[(ALL, "auth", ident)])["err"] == INVALIDACL
    anon.close_session()
    c.close_session()


def test_kazoo_auth_acl(base):
    from kazoo.exceptions import InvalidACLError, NoAuthError
    from kazoo.security import make_acl
    server, b = base
    owner = kazoo_client(server, auth_data=[("digest", "user:pw")])
    anon = kazoo_client(server)
    try:
        owner.create(b + "/k", b"v", acl=[make_acl("auth", "", all=True)])
        acls, _ = owner.get_acls(b + "/k")
        assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == \
            [(ALL, "digest", digest_id(b"user:pw").decode())]
        with pytest.raises(NoAuthError):
            anon.get(b + "/k")
        with pytest.raises(InvalidACLError):
            anon.create(b + "/k2", acl=[make_acl("auth", "", all=True)])
        owner.delete(b + "/k")
    finally:
        for c in (owner, anon):
            c.stop()
            c.close()


def test_kazoo_create_makepath_incompatible_acls(base):
    """kazoo's own test_create_makepath_incompatible_acls: the parents that
    makepath creates get the `auth` ACL too, so an anonymous client cannot
    create below them."""
    from kazoo.exceptions import NoAuthError
    from kazoo.security import CREATOR_ALL_ACL, make_digest_acl_credential
    server, b = base
    credential = make_digest_acl_credential("username", "password")
    alt = kazoo_client(server, auth_data=[("digest", credential)])
    anon = kazoo_client(server)
    try:
        alt.create(b + "/1/2", b"val2", makepath=True, acl=CREATOR_ALL_ACL)
        for p in (b + "/1", b + "/1/2"):
            acls, _ = alt.get_acls(p)
            assert [(a.perms, a.id.scheme) for a in acls] == [(ALL, "digest")], p
        with pytest.raises(NoAuthError):
            anon.create(b + "/1/2/3/4/5", b"val2", makepath=True)
        alt.delete(b + "/1", recursive=True)
    finally:
        for c in (alt, anon):
            c.stop()
            c.close()


# ---------------------------------------------------------------------------
# The audit of client bytes elsewhere (issue 9): output and log lines that
# carry them must not be cut by a NUL or split by a line end.


def test_watch_dump_keeps_client_bytes(server):
    """setWatches takes any path; wchp/wchc print it raw, as Apache does
    (czk used to stop at the NUL)."""
    c = server.session()
    weird = b"/e\x00f\ng"
    assert c.set_watches(1 << 40, exist=[weird])["err"] == 0
    sid = "0x%x" % c.session_id
    by_path = zkwire.four_letter(server.host, server.port, "wchp")
    by_session = zkwire.four_letter(server.host, server.port, "wchc")
    assert _s(weird) + "\n\t" + sid + "\n" in by_path
    assert sid + "\n\t" + _s(weird) + "\n" in by_session
    c.close_session()


def test_auth_failure_log_escapes_scheme(czk):
    """czk only (Apache writes the bytes raw: a client can forge log lines)."""
    c = czk.session()
    rep = c.add_auth(b"bad\x00scheme\nFORGED LOG LINE", b"x")
    assert rep["err"] == zkwire.AUTHFAILED
    deadline = time.monotonic() + 5
    want = b'authentication failed for scheme "bad\\x00scheme\\x0aFORGED LOG LINE"'
    while True:
        log = Path(czk.log_path).read_bytes()
        if want in log or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert want in log
    assert not any(line.startswith(b"FORGED") for line in log.splitlines())
