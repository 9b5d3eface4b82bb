# SPDX-License-Identifier: Apache-2.0
"""A small raw ZooKeeper wire-protocol client (pure Python, struct only).

Framing: every packet is a 4-byte big-endian length followed by a jute body.
Jute: int32/int64 big-endian, boolean = 1 byte, buffer/ustring = int32 length
(-1 = null) + bytes, vector = int32 count (-1 = null) + items.

The client is deliberately dumb: it does exactly what a test asks, including
sending malformed bytes, and it reports what comes back (a decoded reply, a
watch event, or the connection being closed).  Decoded replies are plain
dicts/lists so that tests can mask and compare them.
"""

import errno
import select
import socket
import struct
import time

# --------------------------------------------------------------------------
# constants

OP = {
    "notification": 0, "create": 1, "delete": 2, "exists": 3, "getData": 4,
    "setData": 5, "getACL": 6, "setACL": 7, "getChildren": 8, "sync": 9,
    "ping": 11, "getChildren2": 12, "check": 13, "multi": 14, "create2": 15,
    "reconfig": 16, "checkWatches": 17, "removeWatches": 18,
    "createContainer": 19, "deleteContainer": 20, "createTTL": 21,
    "multiRead": 22, "auth": 100, "setWatches": 101, "sasl": 102,
    "getEphemerals": 103, "getAllChildrenNumber": 104, "setWatches2": 105,
    "addWatch": 106, "whoAmI": 107, "createSession": -10, "closeSession": -11,
    "error": -1,
}
OPNAME = {v: k for k, v in OP.items()}

ERR = {
    0: "OK", -1: "SYSTEMERROR", -2: "RUNTIMEINCONSISTENCY",
    -3: "DATAINCONSISTENCY", -4: "CONNECTIONLOSS", -5: "MARSHALLINGERROR",
    -6: "UNIMPLEMENTED", -7: "OPERATIONTIMEOUT", -8: "BADARGUMENTS",
    -12: "UNKNOWNSESSION", -13: "NEWCONFIGNOQUORUM", -14: "RECONFIGINPROGRESS",
    -100: "APIERROR", -101: "NONODE", -102: "NOAUTH", -103: "BADVERSION",
    -108: "NOCHILDRENFOREPHEMERALS", -110: "NODEEXISTS", -111: "NOTEMPTY",
    -112: "SESSIONEXPIRED", -113: "INVALIDCALLBACK", -114: "INVALIDACL",
    -115: "AUTHFAILED", -118: "SESSIONMOVED", -119: "NOTREADONLY",
    -120: "EPHEMERALONLOCALSESSION", -121: "NOWATCHER", -122: "REQUESTTIMEOUT",
    -123: "RECONFIGDISABLED", -124: "SESSIONCLOSEDREQUIRESASLAUTH",
    -125: "QUOTAEXCEEDED", -127: "THROTTLEDOP",
}
OK = 0
NONODE = -101
NOAUTH = -102
NODEEXISTS = -110
NOTEMPTY = -111
BADVERSION = -103
BADARGUMENTS = -8
NOCHILDRENFOREPHEMERALS = -108
UNIMPLEMENTED = -6
RUNTIMEINCONSISTENCY = -2

MARSHALLINGERROR = -5
NOWATCHER = -121
RECONFIGDISABLED = -123
QUOTAEXCEEDED = -125
INVALIDACL = -114
AUTHFAILED = -115

# create flags
PERSISTENT, EPHEMERAL, PERSISTENT_SEQUENTIAL, EPHEMERAL_SEQUENTIAL, CONTAINER = 0, 1, 2, 3, 4
PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL = 5, 6

# WatcherType (checkWatches / removeWatches)
WATCHER_CHILDREN, WATCHER_DATA, WATCHER_ANY = 1, 2, 3

# AddWatchMode (addWatch)
ADD_WATCH_PERSISTENT, ADD_WATCH_PERSISTENT_RECURSIVE = 0, 1

# event types
EV_NONE, EV_CREATED, EV_DELETED, EV_DATA_CHANGED, EV_CHILDREN_CHANGED = -1, 1, 2, 3, 4
EV_DATA_WATCH_REMOVED, EV_CHILD_WATCH_REMOVED = 5, 6

# permissions
PERM_READ, PERM_WRITE, PERM_CREATE, PERM_DELETE, PERM_ADMIN = 1, 2, 4, 8, 16

# special xids
XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8

# event types / states
EVENT = {-1: "None", 1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged",
         4: "NodeChildrenChanged", 5: "DataWatchRemoved", 6: "ChildWatchRemoved"}
STATE_SYNC_CONNECTED = 3

PERM_ALL = 31
OPEN_ACL_UNSAFE = [(PERM_ALL, "world", "anyone")]

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion",
               "aversion", "ephemeralOwner", "dataLength", "numChildren", "pzxid")
STAT_FMT = ">qqqqiiiqiiq"
STAT_SIZE = struct.calcsize(STAT_FMT)  # 68

JUTE_MAXBUFFER = 0xFFFFF


class Closed(Exception):
    """The server closed the connection (or reset it)."""


class Timeout(Exception):
    """Nothing arrived within the timeout."""


# --------------------------------------------------------------------------
# jute writer / reader

class Writer:
    def __init__(self):
        self.parts = []

    def int(self, v):
        self.parts.append(struct.pack(">i", v))
        return self

    def long(self, v):
        self.parts.append(struct.pack(">q", v))
        return self

    def bool(self, v):
        self.parts.append(b"\x01" if v else b"\x00")
        return self

    def buffer(self, b):
        if b is None:
            return self.int(-1)
        if isinstance(b, str):
            b = b.encode("utf-8")
        self.int(len(b))
        self.parts.append(bytes(b))
        return self

    ustring = buffer

    def strings(self, items):
        if items is None:
            return self.int(-1)
        self.int(len(items))
        for s in items:
            self.ustring(s)
        return self

    def acl(self, acl):
        if acl is None:
            return self.int(-1)
        self.int(len(acl))
        for perms, scheme, ident in acl:
            self.int(perms).ustring(scheme).ustring(ident)
        return self

    def raw(self, b):
        self.parts.append(bytes(b))
        return self

    def bytes(self):
        return b"".join(self.parts)


class Reader:
    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated jute record (need %d bytes at %d of %d)"
                             % (n, self.pos, len(self.data)))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        return self._take(n)

    def ustring(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8", "surrogateescape")

    def strings(self):
        n = self.int()
        if n < 0:
            return None
        return [self.ustring() for _ in range(n)]

    def stat(self):
        vals = struct.unpack(STAT_FMT, self._take(STAT_SIZE))
        return dict(zip(STAT_FIELDS, vals))

    def acl(self):
        n = self.int()
        if n < 0:
            return None
        out = []
        for _ in range(n):
            perms = self.int()
            scheme = self.ustring()
            ident = self.ustring()
            out.append([perms, scheme, ident])
        return out

    def remaining(self):
        return len(self.data) - self.pos


def frame(body):
    return struct.pack(">i", len(body)) + body


# --------------------------------------------------------------------------
# request encoders (bodies, without RequestHeader)

def enc_connect(protocol_version=0, last_zxid=0, timeout_ms=30000, session_id=0,
                passwd=b"\x00" * 16, read_only=False, with_read_only=True):
    w = Writer().int(protocol_version).long(last_zxid).int(timeout_ms)
    w.long(session_id).buffer(passwd)
    if with_read_only:
        w.bool(read_only)
    return w.bytes()


def enc_create(path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0):
    return Writer().ustring(path).buffer(data).acl(acl).int(flags).bytes()


def enc_delete(path, version=-1):
    return Writer().ustring(path).int(version).bytes()


def enc_path_watch(path, watch=False):
    """exists / getData / getChildren / getChildren2 requests."""
    return Writer().ustring(path).bool(watch).bytes()


def enc_set_data(path, data, version=-1):
    return Writer().ustring(path).buffer(data).int(version).bytes()


def enc_path(path):
    """getACL / sync requests."""
    return Writer().ustring(path).bytes()


def enc_set_acl(path, acl=OPEN_ACL_UNSAFE, version=-1):
    return Writer().ustring(path).acl(acl).int(version).bytes()


def enc_check(path, version):
    return Writer().ustring(path).int(version).bytes()


def enc_set_watches(relative_zxid, data=(), exist=(), child=()):
    return (Writer().long(relative_zxid).strings(list(data))
            .strings(list(exist)).strings(list(child)).bytes())


def enc_auth(scheme, auth, typ=0):
    return Writer().int(typ).ustring(scheme).buffer(auth).bytes()


def enc_create_ttl(path, data=b"", acl=OPEN_ACL_UNSAFE, flags=PERSISTENT_WITH_TTL,
                   ttl=1000):
    """CreateTTLRequest {path, data, acl, flags, ttl:long} (opcode 21)."""
    return Writer().ustring(path).buffer(data).acl(acl).int(flags).long(ttl).bytes()


def enc_watches_req(path, wtype):
    """CheckWatchesRequest / RemoveWatchesRequest {path, type} (17 / 18)."""
    return Writer().ustring(path).int(wtype).bytes()


def enc_add_watch(path, mode):
    """AddWatchRequest {path, mode} (106)."""
    return Writer().ustring(path).int(mode).bytes()


def enc_set_watches2(relative_zxid, data=(), exist=(), child=(), persistent=(),
                     recursive=()):
    """SetWatches2 (105, xid -8)."""
    return (Writer().long(relative_zxid).strings(list(data)).strings(list(exist))
            .strings(list(child)).strings(list(persistent))
            .strings(list(recursive)).bytes())


def enc_reconfig(joining=None, leaving=None, new_members=None, cur_config_id=-1):
    """ReconfigRequest {joiningServers, leavingServers, newMembers, curConfigId}."""
    return (Writer().ustring(joining).ustring(leaving).ustring(new_members)
            .long(cur_config_id).bytes())


def enc_sasl(token=b""):
    """GetSASLRequest {token} (102)."""
    return Writer().buffer(token).bytes()


def enc_multi(ops):
    """ops: list of tuples, e.g. ("create", path, data, acl, flags),
    ("create2", path, data, acl, flags), ("delete", path, version),
    ("setData", path, data, version), ("check", path, version),
    ("getData", path), ("getChildren", path),
    ("createContainer", path, data, acl), ("createTTL", path, data, acl, flags, ttl)."""
    w = Writer()
    for op in ops:
        name = op[0]
        w.int(OP[name]).bool(False).int(-1)
        if name in ("create", "create2", "createContainer"):
            path = op[1]
            data = op[2] if len(op) > 2 else b""
            acl = op[3] if len(op) > 3 else OPEN_ACL_UNSAFE
            flags = op[4] if len(op) > 4 else 0
            if name == "createContainer" and len(op) <= 4:
                flags = CONTAINER
            w.raw(enc_create(path, data, acl, flags))
        elif name == "createTTL":
            w.raw(enc_create_ttl(op[1], op[2] if len(op) > 2 else b"",
                                 op[3] if len(op) > 3 else OPEN_ACL_UNSAFE,
                                 op[4] if len(op) > 4 else PERSISTENT_WITH_TTL,
                                 op[5] if len(op) > 5 else 1000))
        elif name == "delete":
            w.raw(enc_delete(op[1], op[2] if len(op) > 2 else -1))
        elif name == "setData":
            w.raw(enc_set_data(op[1], op[2], op[3] if len(op) > 3 else -1))
        elif name == "check":
            w.raw(enc_check(op[1], op[2]))
        elif name in ("getData", "getChildren"):
            # GetDataRequest / GetChildrenRequest {path, watch}
            w.raw(enc_path_watch(op[1], bool(op[2]) if len(op) > 2 else False))
        else:
            raise ValueError("unsupported multi op %r" % (name,))
    w.int(-1).bool(True).int(-1)
    return w.bytes()


# --------------------------------------------------------------------------
# response decoders

def dec_connect_response(body):
    r = Reader(body)
    out = {"protocolVersion": r.int(), "timeOut": r.int(),
           "sessionId": r.long(), "passwd": r.buffer()}
    out["readOnly"] = r.bool() if r.remaining() >= 1 else None
    out["extra"] = r.remaining()
    return out


def _dec_body(optype, r):
    """Decode a successful response body of opcode optype from reader r."""
    if optype in (OP["create"],):
        return {"path": r.ustring()}
    if optype in (OP["create2"], OP["createContainer"], OP["createTTL"]):
        return {"path": r.ustring(), "stat": r.stat()}
    if optype in (OP["delete"], OP["check"], OP["ping"], OP["closeSession"],
                  OP["setWatches"], OP["setWatches2"], OP["auth"],
                  OP["removeWatches"], OP["checkWatches"],
                  OP["deleteContainer"]):
        return {}
    if optype == OP["addWatch"]:
        # Apache 3.8 answers addWatch with an ErrorResponse{err} body
        return {"rc": r.int()} if r.remaining() >= 4 else {}
    if optype == OP["reconfig"]:
        return {"data": r.buffer(), "stat": r.stat()}
    if optype == OP["sasl"]:
        return {"token": r.buffer()}
    if optype == OP["getEphemerals"]:
        return {"ephemerals": r.strings()}
    if optype == OP["getAllChildrenNumber"]:
        return {"totalNumber": r.int()}
    if optype == OP["whoAmI"]:
        n = r.int()
        return {"clientInfo": None if n < 0 else
                [[r.ustring(), r.ustring()] for _ in range(n)]}
    if optype in (OP["exists"], OP["setData"], OP["setACL"]):
        return {"stat": r.stat()}
    if optype == OP["getData"]:
        return {"data": r.buffer(), "stat": r.stat()}
    if optype == OP["getACL"]:
        return {"acl": r.acl(), "stat": r.stat()}
    if optype == OP["getChildren"]:
        return {"children": r.strings()}
    if optype == OP["getChildren2"]:
        return {"children": r.strings(), "stat": r.stat()}
    if optype == OP["sync"]:
        return {"path": r.ustring()}
    if optype in (OP["multi"], OP["multiRead"]):
        return {"results": dec_multi_results(r)}
    if optype == OP["error"]:
        return {"err": r.int()}
    raise ValueError("no decoder for opcode %r" % (optype,))


def dec_multi_results(r):
    results = []
    while True:
        typ = r.int()
        done = r.bool()
        err = r.int()
        if done:
            if (typ, err) != (-1, -1):
                results.append({"end": [typ, done, err]})
            break
        item = {"type": typ, "op": OPNAME.get(typ, typ), "err": err}
        if typ == OP["error"]:
            item["error"] = r.int()
        else:
            item.update(_dec_body(typ, r))
        results.append(item)
    return results


def dec_watcher_event(r):
    return {"type": r.int(), "state": r.int(), "path": r.ustring()}


# --------------------------------------------------------------------------
# the connection

class Conn:
    """One TCP connection to a ZooKeeper server.

    Typical use::

        c = Conn(host, port); c.connect(timeout_ms=10000)
        rep = c.create("/a", b"x")        # -> dict with xid, zxid, err, ...
        ev = c.events                     # watch events received so far

    Every received packet is decoded and appended to ``c.log`` in arrival
    order (replies and events), which is what differential tests compare.
    """

    def __init__(self, host, port, timeout=10.0):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.xid = 0
        self.pending = {}  # xid -> opcode
        self.events = []
        self.log = []
        self.closed = False
        self.session_id = None
        self.passwd = None
        self.negotiated_timeout = None
        self.last_zxid = 0

    # ---- raw I/O ----------------------------------------------------------
    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.closed = True
            raise Closed(str(e))

    def send_frame(self, body):
        self.send_raw(frame(body))

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout("timed out waiting for %d bytes (have %d)" % (n, len(self.buf)))
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise Timeout("timed out waiting for %d bytes (have %d)" % (n, len(self.buf)))
            except (ConnectionResetError, ConnectionAbortedError) as e:
                self.closed = True
                raise Closed(str(e))
            except OSError as e:
                if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
                    self.closed = True
                    raise Closed(str(e))
                raise
            if not chunk:
                self.closed = True
                raise Closed("EOF")
            self.buf += chunk

    def recv_frame(self, timeout=None):
        """Return the next frame body; raise Closed on EOF, Timeout if none."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._fill(4, deadline)
        (n,) = struct.unpack(">i", self.buf[:4])
        if n < 0 or n > 64 * 1024 * 1024:
            raise ValueError("bad frame length from server: %d" % n)
        self._fill(4 + n, deadline)
        body = self.buf[4:4 + n]
        self.buf = self.buf[4 + n:]
        return body

    def recv_all_raw(self, timeout=2.0):
        """Read raw bytes until EOF or timeout (for four-letter words etc.)."""
        deadline = time.monotonic() + timeout
        out = self.buf
        self.buf = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return out, False
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return out, False
            except OSError:
                self.closed = True
                return out, True
            if not chunk:
                self.closed = True
                return out, True
            out += chunk

    def wait_closed(self, timeout=3.0):
        """True if the server closes the connection within timeout.  Any
        frames that arrive before the close are decoded into self.log."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._read_one(remaining)
        except Closed:
            return True
        except Timeout:
            return False

    def is_open(self, timeout=0.2):
        """Probe without sending: False if the peer closed (EOF/RST)."""
        if self.closed:
            return False
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return True
        try:
            self.sock.settimeout(0.5)
            chunk = self.sock.recv(65536, socket.MSG_PEEK)
        except OSError:
            self.closed = True
            return False
        if not chunk:
            self.closed = True
            return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    # ---- session handshake ------------------------------------------------
    def connect(self, timeout_ms=30000, session_id=0, passwd=b"\x00" * 16,
                last_zxid=0, read_only=False, protocol_version=0, recv_timeout=None):
        self.send_frame(enc_connect(protocol_version, last_zxid, timeout_ms,
                                    session_id, passwd, read_only))
        body = self.recv_frame(recv_timeout)
        resp = dec_connect_response(body)
        self.session_id = resp["sessionId"]
        self.passwd = resp["passwd"]
        self.negotiated_timeout = resp["timeOut"]
        self.log.append({"kind": "connect", **resp})
        return resp

    # ---- requests -----------------------------------------------------------
    def next_xid(self):
        self.xid += 1
        return self.xid

    def send_request(self, optype, body=b"", xid=None):
        if xid is None:
            xid = self.next_xid()
        self.pending[xid] = optype
        self.send_frame(struct.pack(">ii", xid, optype) + body)
        return xid

    def _read_one(self, timeout=None):
        body = self.recv_frame(timeout)
        r = Reader(body)
        xid, zxid, err = r.int(), r.long(), r.int()
        if xid == XID_NOTIFICATION:
            ev = dec_watcher_event(r)
            ev = {"kind": "event", "zxid": zxid, "err": err, **ev}
            self.events.append(ev)
            self.log.append(ev)
            return ev
        optype = self.pending.pop(xid, None)
        rep = {"kind": "reply", "xid": xid, "zxid": zxid, "err": err}
        if optype is not None:
            rep["op"] = OPNAME.get(optype, optype)
        if zxid > self.last_zxid:
            self.last_zxid = zxid
        # On error no body follows, except multi/multiRead which always
        # carry their per-op results.
        if r.remaining() and optype is not None and (
                err == 0 or optype in (OP["multi"], OP["multiRead"])):
            try:
                rep.update(_dec_body(optype, r))
            except ValueError as e:
                rep["decode_error"] = str(e)
        if r.remaining():
            rep["trailing"] = r.remaining()
        self.log.append(rep)
        return rep

    def read_reply(self, xid=None, timeout=None):
        """Read until the reply for xid (default: any reply) arrives; watch
        events received on the way are kept in self.events / self.log."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            m = self._read_one(max(0.001, deadline - time.monotonic()))
            if m["kind"] == "reply" and (xid is None or m["xid"] == xid):
                return m

    def call(self, optype, body=b"", xid=None, timeout=None):
        x = self.send_request(optype, body, xid)
        return self.read_reply(x, timeout)

    def read_event(self, timeout=None):
        """Return the next not-yet-consumed event, reading if needed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._unread_events():
            self._read_one(max(0.001, deadline - time.monotonic()))
        ev = self._unread_events()[0]
        self._consumed += 1
        return ev

    _consumed = 0

    def _unread_events(self):
        return self.events[self._consumed:]

    # ---- op helpers ----------------------------------------------------------
    def create(self, path, data=b"", flags=0, acl=OPEN_ACL_UNSAFE):
        return self.call(OP["create"], enc_create(path, data, acl, flags))

    def create2(self, path, data=b"", flags=0, acl=OPEN_ACL_UNSAFE):
        return self.call(OP["create2"], enc_create(path, data, acl, flags))

    def delete(self, path, version=-1):
        return self.call(OP["delete"], enc_delete(path, version))

    def exists(self, path, watch=False):
        return self.call(OP["exists"], enc_path_watch(path, watch))

    def get_data(self, path, watch=False):
        return self.call(OP["getData"], enc_path_watch(path, watch))

    def set_data(self, path, data, version=-1):
        return self.call(OP["setData"], enc_set_data(path, data, version))

    def get_acl(self, path):
        return self.call(OP["getACL"], enc_path(path))

    def set_acl(self, path, acl=OPEN_ACL_UNSAFE, version=-1):
        return self.call(OP["setACL"], enc_set_acl(path, acl, version))

    def get_children(self, path, watch=False):
        return self.call(OP["getChildren"], enc_path_watch(path, watch))

    def get_children2(self, path, watch=False):
        return self.call(OP["getChildren2"], enc_path_watch(path, watch))

    def sync(self, path):
        return self.call(OP["sync"], enc_path(path))

    def check(self, path, version):
        return self.call(OP["check"], enc_check(path, version))

    def multi(self, ops):
        return self.call(OP["multi"], enc_multi(ops))

    def multi_read(self, ops):
        return self.call(OP["multiRead"], enc_multi(ops))

    def ping(self):
        return self.call(OP["ping"], b"", xid=XID_PING)

    def set_watches(self, relative_zxid, data=(), exist=(), child=()):
        return self.call(OP["setWatches"],
                         enc_set_watches(relative_zxid, data, exist, child),
                         xid=XID_SET_WATCHES)

    def add_auth(self, scheme, auth):
        return self.call(OP["auth"], enc_auth(scheme, auth), xid=XID_AUTH)

    def close_session(self):
        return self.call(OP["closeSession"], b"")

    # ---- 3.5+ opcodes -----------------------------------------------------
    def create_container(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=CONTAINER):
        return self.call(OP["createContainer"], enc_create(path, data, acl, flags))

    def delete_container(self, path):
        """deleteContainer (20): the request body is the raw UTF-8 path
        (what Apache's ContainerManager submits internally)."""
        return self.call(OP["deleteContainer"],
                         path.encode() if isinstance(path, str) else path)

    def create_ttl(self, path, data=b"", ttl=1000, flags=PERSISTENT_WITH_TTL,
                   acl=OPEN_ACL_UNSAFE):
        return self.call(OP["createTTL"], enc_create_ttl(path, data, acl, flags, ttl))

    def check_watches(self, path, wtype=WATCHER_ANY):
        return self.call(OP["checkWatches"], enc_watches_req(path, wtype))

    def remove_watches(self, path, wtype=WATCHER_ANY):
        return self.call(OP["removeWatches"], enc_watches_req(path, wtype))

    def add_watch(self, path, mode=ADD_WATCH_PERSISTENT_RECURSIVE):
        return self.call(OP["addWatch"], enc_add_watch(path, mode))

    def set_watches2(self, relative_zxid, data=(), exist=(), child=(),
                     persistent=(), recursive=()):
        return self.call(OP["setWatches2"],
                         enc_set_watches2(relative_zxid, data, exist, child,
                                          persistent, recursive),
                         xid=XID_SET_WATCHES)

    def get_ephemerals(self, prefix="/"):
        return self.call(OP["getEphemerals"], enc_path(prefix))

    def get_all_children_number(self, path):
        return self.call(OP["getAllChildrenNumber"], enc_path(path))

    def who_am_i(self):
        return self.call(OP["whoAmI"], b"")

    def sasl(self, token=b""):
        return self.call(OP["sasl"], enc_sasl(token))

    def reconfig(self, joining=None, leaving=None, new_members=None,
                 cur_config_id=-1):
        return self.call(OP["reconfig"],
                         enc_reconfig(joining, leaving, new_members, cur_config_id))


def session(host, port, timeout_ms=30000, **kw):
    """Open a connection and create a session; returns the Conn."""
    c = Conn(host, port)
    c.connect(timeout_ms=timeout_ms, **kw)
    return c


# --------------------------------------------------------------------------
# four-letter words

def read_to_close(s, timeout=5.0):
    """The bytes a socket receives until the peer closes it (or resets it,
    or `timeout` passes)."""
    s.settimeout(timeout)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out


def four_letter(host, port, word, timeout=5.0):
    """Send a four-letter word on a fresh connection; return the text the
    server wrote before closing the connection."""
    if isinstance(word, str):
        word = word.encode("ascii")
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(word)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return read_to_close(s, timeout).decode("utf-8", "replace")
    finally:
        s.close()
