# SPDX-License-Identifier: Apache-2.0
"""Record a scripted scenario against one server, normalise, compare.

A scenario is a function ``scenario(ctx)``.  ``ctx.open("A")`` opens a
session; ``ctx.A.create(...)`` etc. run one request and return its decoded
reply.  Everything received on every session's socket (replies and watch
events, in arrival order per socket) is appended to ``ctx.records`` when that
session next reads, so the record order is deterministic: a session's events
appear right before the first reply it reads after they were sent.
``ctx.drain("B")`` pings B to collect pending events.

``normalise(records)`` masks what legitimately differs between two servers:
  * zxids become "Z+n" relative to the first positive zxid of the scenario
    (so equality, order and the number of zxids consumed are all compared;
    0 and negative values stay literal),
  * ctime/mtime become "T" (0 stays 0),
  * session ids become the session's name ("sess:A"), passwords "<16 bytes>",
  * children lists are sorted, and so are getEphemerals lists and whoAmI
    clientInfo lists (Apache returns them in hash order),
  * the ReplyHeader zxid of watch notifications becomes "<ev-zxid>"
    (Apache 3.8 sends -1, 3.9 sends the triggering zxid; tested separately).
"""

import difflib

import zkwire

ZXID_STAT_FIELDS = ("czxid", "mzxid", "pzxid")
TIME_STAT_FIELDS = ("ctime", "mtime")


class Session:
    def __init__(self, ctx, name, conn):
        self._ctx = ctx
        self.name = name
        self.conn = conn
        self.closed_session = False  # closeSession acknowledged

    def __getattr__(self, attr):
        fn = getattr(self.conn, attr)
        if not callable(fn):
            return fn

        def wrapped(*a, **kw):
            keep = kw.pop("keep", None)
            note = kw.pop("note", None)
            start = len(self.conn.log)
            try:
                res = fn(*a, **kw)
            finally:
                self._ctx._collect(self, start, keep, note, attr, a)
            return res
        return wrapped

    @property
    def session_id(self):
        return self.conn.session_id


class Ctx:
    def __init__(self, server, base):
        self.server = server
        self.base = base
        self.records = []
        self.sessions = {}
        self.session_ids = {}

    # --- sessions ---------------------------------------------------------
    def open(self, name, timeout_ms=30000, **kw):
        conn = zkwire.Conn(self.server.host, self.server.port, timeout=5.0)
        s = Session(self, name, conn)
        self.sessions[name] = s
        start = len(conn.log)
        try:
            conn.connect(timeout_ms=timeout_ms, **kw)
        finally:
            self._collect(s, start, None, None, "connect", ())
        if conn.session_id:
            self.session_ids.setdefault(conn.session_id, name)
        return s

    def reattach(self, name, as_name, timeout_ms=30000, passwd=None):
        """Open a new connection that re-attaches to session `name`."""
        old = self.sessions[name].conn
        return self.open(as_name, timeout_ms=timeout_ms, session_id=old.session_id,
                         passwd=old.passwd if passwd is None else passwd)

    def __getattr__(self, name):
        sessions = self.__dict__.get("sessions", {})
        if name in sessions:
            return sessions[name]
        raise AttributeError(name)

    def _collect(self, sess, start, keep, note, opname, args):
        for m in sess.conn.log[start:]:
            m = dict(m)
            if keep is not None and m.get("kind") == "reply":
                m = {k: v for k, v in m.items() if k in keep or k in ("kind",)}
            rec = {"s": sess.name, **m}
            if m.get("kind") == "reply":
                rec["req"] = opname
                paths = [x for x in args if isinstance(x, str)]
                if paths:
                    rec["args"] = paths
                if note is not None:
                    rec["note"] = note
            self.records.append(rec)

    def note(self, text):
        self.records.append({"note": text})

    def drain(self, name, sort=False):
        """Collect events pending on session `name` (via a ping)."""
        s = self.sessions[name]
        start = len(self.records)
        s.ping()
        if sort:
            evs = [r for r in self.records[start:] if r.get("kind") == "event"]
            rest = [r for r in self.records[start:] if r.get("kind") != "event"]
            evs.sort(key=lambda r: (r.get("type"), r.get("path")))
            self.records[start:] = evs + rest

    def expect_closed(self, name, timeout=3.0):
        s = self.sessions[name]
        start = len(s.conn.log)
        closed = s.conn.wait_closed(timeout)
        self._collect(s, start, None, None, "wait_closed", ())
        self.records.append({"s": name, "closed": closed})
        return closed

    def raw(self, name, optype, body=b"", xid=None, note=None):
        """Send an arbitrary request; returns the reply (recorded)."""
        s = self.sessions[name]
        start = len(s.conn.log)
        try:
            return s.conn.call(optype, body, xid)
        finally:
            self._collect(s, start, None, note, "raw:%s" % optype, ())

    def pipeline(self, name, requests):
        """Send (optype, body) requests back to back, then read all replies."""
        s = self.sessions[name]
        start = len(s.conn.log)
        try:
            xids = [s.conn.send_request(op, body) for op, body in requests]
            return [s.conn.read_reply(x) for x in xids]
        finally:
            self._collect(s, start, None, None, "pipeline", ())

    # --- teardown -----------------------------------------------------------
    def cleanup(self):
        """Close every session that is still alive, so that no session
        expires later (an expiry is a txn and would shift later zxids)."""
        for name, s in list(self.sessions.items()):
            if s.closed_session or not s.conn.session_id:
                s.conn.close()
                continue
            conn = s.conn
            conn.timeout = 2.0
            try:
                if conn.closed or not conn.is_open(0.05):
                    conn.close()
                    conn = zkwire.Conn(self.server.host, self.server.port, timeout=2.0)
                    r = conn.connect(session_id=s.conn.session_id, passwd=s.conn.passwd)
                    if not r["sessionId"]:
                        conn.close()
                        continue
                conn.close_session()
            except Exception:
                pass
            finally:
                conn.close()


def run(server, scenario, base):
    ctx = Ctx(server, base)
    try:
        scenario(ctx)
    except (zkwire.Closed, zkwire.Timeout, OSError, ValueError, KeyError) as e:
        ctx.records.append({"exception": "%s: %s" % (type(e).__name__, e)})
    finally:
        # any closeSession acknowledged by the server
        for s in ctx.sessions.values():
            for m in s.conn.log:
                if m.get("kind") == "reply" and m.get("op") == "closeSession" and m.get("err") == 0:
                    s.closed_session = True
        ctx.cleanup()
    return ctx


# --------------------------------------------------------------------------
# normalisation


def _walk_zxids(obj, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("zxid",) + ZXID_STAT_FIELDS and isinstance(v, int):
                out.append(v)
            else:
                _walk_zxids(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _walk_zxids(v, out)


def normalise(ctx):
    records = [r for r in ctx.records]
    # base zxid: first positive zxid in the records (events excluded)
    zx = []
    for r in records:
        if r.get("kind") == "event":
            continue
        _walk_zxids(r, zx)
    positive = [z for z in zx if z > 0]
    base = positive[0] if positive else 0
    names = dict(ctx.session_ids)

    def zxid(v):
        if not isinstance(v, int) or v <= 0:
            return v
        d = v - base
        return "Z%+d" % d

    def sess(v):
        if v == 0:
            return 0
        return "sess:%s" % names[v] if v in names else "sess:?"

    def norm(obj, key=None):
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if k in ("zxid",) + ZXID_STAT_FIELDS:
                    out[k] = zxid(v)
                elif k in TIME_STAT_FIELDS:
                    out[k] = v if v == 0 else "T"
                elif k in ("sessionId", "ephemeralOwner"):
                    out[k] = sess(v)
                elif k == "passwd":
                    out[k] = None if v is None else "<%d bytes>" % len(v)
                elif k in ("children", "ephemerals") and isinstance(v, list):
                    out[k] = sorted(v)
                elif k == "clientInfo" and isinstance(v, list):
                    out[k] = sorted(v)
                elif k == "data" and isinstance(v, (bytes, bytearray)) and len(v) > 64:
                    out[k] = "<%d bytes, sum %d>" % (len(v), sum(v) & 0xffffffff)
                else:
                    out[k] = norm(v, k)
            if out.get("kind") == "event":
                out["zxid"] = "<ev-zxid>"
            return out
        if isinstance(obj, list):
            return [norm(v) for v in obj]
        return obj

    return [norm(r) for r in records]


def _compact(v):
    if isinstance(v, dict):
        return "{" + ", ".join("%s=%s" % (k, _compact(x)) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_compact(x) for x in v) + "]"
    return repr(v)


def fmt(records):
    """One line per record, so that a diff points at the exact reply."""
    return [_compact(r) for r in records]


def compare(czk_ctx, apache_ctx, title):
    a = normalise(czk_ctx)
    b = normalise(apache_ctx)
    if a == b:
        return None
    la, lb = fmt(a), fmt(b)
    diff = "\n".join(difflib.unified_diff(lb, la, "apache", "czk", lineterm="", n=3))
    return ("scenario %s: czk differs from Apache\n"
            "---- diff (apache -> czk) ----\n%s\n"
            "---- apache (%d records) ----\n%s\n"
            "---- czk (%d records) ----\n%s\n"
            % (title, diff, len(lb), "\n".join(lb), len(la), "\n".join(la)))
