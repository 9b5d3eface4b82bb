# SPDX-License-Identifier: Apache-2.0
"""A small TCP proxy for network-fault tests on 127.0.0.1 (no root, no
iptables): Proxy(target_port) listens on a free port of its own and forwards
every connection it accepts to 127.0.0.1:target_port, bytes both ways, in
one thread (selectors, non-blocking sockets, a bounded buffer per direction:
a side that stops reading stalls the other, as TCP would).

Controls (thread-safe; each returns once the proxy thread has done it):
  cut()    close every connection (RST) and, until heal(), accept each new
           connection and close it at once (the dialer sees a reset or EOF);
  cut(hold=True)  a silent partition: stop moving bytes on every
           connection (nothing is read: TCP buffers fill as they would with
           a pulled cable) and leave new connections accepted but unanswered;
           heal() closes every held connection (a peer that timed out
           meanwhile has given up on it anyway);
  heal()   forward again;
  delay(s) hold every chunk s seconds before sending it on (0: none).

A target that refuses (not listening yet, e.g. a leader just elected)
cannot be told to the dialer as a refusal: its connection is already
accepted.  The proxy then tries the target again every 50 ms for
connect_wait_s (bytes from the dialer wait) and resets the dialer's
connection only after that, as a dialer would see its SYNs go unanswered
and then fail; an immediate reset instead makes a learner that dialled a
leader a moment before it listens give up on it.

rewrite: a function(bytes) -> (bytes, done) applied to the first bytes a
dialer sends (see election_header_rewrite): Apache's QuorumCnxManager
dials a lower sid back at the election address that sid's connection
header names, so a proxy between members must name itself there."""

import selectors
import socket
import struct
import threading
import time
from collections import deque

HOST = "127.0.0.1"
CONNECT_RETRY_S = 0.05
BUFFER_MAX = 1 << 20    # bytes queued per direction before reading stops
CHUNK = 65536


def election_header_rewrite(address):
    """A rewrite for the election port: QuorumCnxManager's InitialMessage
    (long protocolVersion -65536 or -65535, long sid, int length, that many
    bytes "host:port[|host:port...]") gets `address` as its address.  A
    header of the old form (a non-negative sid first) or a malformed one is
    passed on unchanged."""
    new_addr = address.encode()

    def rewrite(data):
        if len(data) < 8:
            return None
        (version,) = struct.unpack(">q", data[:8])
        if version not in (-65536, -65535):
            return data, True
        if len(data) < 20:
            return None
        sid, length = struct.unpack(">qi", data[8:20])
        if length <= 0 or length > 2048:
            return data, True
        if len(data) < 20 + length:
            return None
        out = struct.pack(">qqi", version, sid, len(new_addr)) + new_addr
        return out + data[20 + length:], True

    return rewrite


class _Side:
    """One socket of a proxied connection and the bytes queued for it."""

    def __init__(self, sock):
        self.sock = sock
        self.out = deque()      # (due_monotonic, bytes)
        self.out_bytes = 0
        self.eof_in = False     # the peer closed its sending half
        self.shut_out = False   # we shut down writing to this socket


class _Conn:
    def __init__(self, down, up, rewrite):
        self.down = _Side(down)  # the dialer
        self.up = _Side(up)      # the target
        self.pending = b""       # dialer bytes waiting for the rewrite
        self.rewrite = rewrite


class Proxy:
    """Forwards 127.0.0.1:self.port to 127.0.0.1:target_port (see the module
    docstring).  name: for logs and error texts."""

    def __init__(self, target_port, name="", rewrite=None, port=0, connect_wait_s=3.0):
        self.target_port = target_port
        self.connect_wait_s = connect_wait_s
        self.waiting = []        # [socket, deadline, next try]: the target refused
        self.name = name
        self.rewrite = rewrite
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, port))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.state = "open"      # open, reset, hold
        self.delay_s = 0.0
        self.conns = []
        self.held = []           # sockets accepted while holding (no target yet)
        self.stats = {"accepted": 0, "refused": 0, "reset": 0, "target_down": 0,
                      "target_retried": 0}
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._sel.register(self.listener, selectors.EVENT_READ, ("accept", None))
        self._lock = threading.Lock()
        self._calls = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="netproxy-%s" % (name or self.port))
        self._thread.start()

    def __repr__(self):
        return "<proxy %s :%d -> :%d %s>" % (self.name, self.port, self.target_port, self.state)

    # -- controls (any thread) -------------------------------------------

    def _call(self, fn):
        if threading.current_thread() is self._thread:
            return fn()
        done = threading.Event()
        box = []

        def call():
            try:
                box.append(fn())
            finally:
                done.set()

        with self._lock:
            assert not self._closed, "proxy %s is closed" % self.name
            self._calls.append(call)
        self._wake_w.send(b"x")
        assert done.wait(10), "proxy %s did not answer" % self.name
        return box[0] if box else None

    def cut(self, hold=False):
        self._call(lambda: self._cut(hold))

    def heal(self):
        self._call(self._heal)

    def delay(self, seconds):
        def set_delay():
            self.delay_s = float(seconds)
        self._call(set_delay)

    def connections(self):
        """Number of proxied connections open now."""
        return self._call(lambda: len(self.conns))

    def close(self):
        """Close every connection and the listener; stop the thread."""
        with self._lock:
            if self._closed:
                return
        self._call(self._shutdown)
        with self._lock:
            self._closed = True
        self._thread.join(10)
        self._wake_w.close()

    # -- the proxy thread ------------------------------------------------

    def _run(self):
        while True:
            timeout = self._next_due()
            for key, events in self._sel.select(timeout):
                what, conn = key.data
                if what == "wake":
                    try:
                        self._wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                elif what == "accept":
                    self._accept()
                elif conn in self.conns:
                    side = conn.down if key.fileobj is conn.down.sock else conn.up
                    self._io(conn, side, events)
            with self._lock:
                calls, self._calls = self._calls, []
            for call in calls:
                call()
            if self.listener is None:
                return
            self._retry_waiting()
            self._flush_due()

    def _next_due(self):
        dues = []
        if self.state == "open":
            dues += [w[2] for w in self.waiting]
            if self.delay_s:
                dues += [side.out[0][0] for c in self.conns for side in (c.down, c.up)
                         if side.out]
        if not dues:
            return None
        return max(0.0, min(dues) - time.monotonic())

    def _retry_waiting(self):
        if self.state != "open":
            return
        now = time.monotonic()
        waiting, self.waiting = self.waiting, []
        for entry in waiting:
            sock, deadline, next_try = entry
            if next_try > now:
                self.waiting.append(entry)
                continue
            self.stats["target_retried"] += 1
            self._connect(sock, deadline)

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if self.state == "reset":
                self.stats["refused"] += 1
                _reset(sock)
                continue
            if self.state == "hold":
                self.stats["refused"] += 1
                sock.setblocking(False)
                self.held.append(sock)
                continue
            self._connect(sock)

    def _connect(self, sock, deadline=None):
        if deadline is None:
            deadline = time.monotonic() + self.connect_wait_s
        up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        up.settimeout(2.0)
        try:
            up.connect((HOST, self.target_port))
        except OSError:
            up.close()
            now = time.monotonic()
            if now + CONNECT_RETRY_S < deadline:
                self.waiting.append([sock, deadline, now + CONNECT_RETRY_S])
            else:
                self.stats["target_down"] += 1
                _reset(sock)
            return
        self.stats["accepted"] += 1
        for s in (sock, up):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(sock, up, self.rewrite)
        self.conns.append(conn)
        self._update(conn)

    def _other(self, conn, side):
        return conn.up if side is conn.down else conn.down

    def _io(self, conn, side, events):
        if events & selectors.EVENT_READ:
            try:
                data = side.sock.recv(CHUNK)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self._drop(conn)
                return
            if data == b"":
                side.eof_in = True
            elif data:
                if side is conn.down and conn.rewrite is not None:
                    conn.pending += data
                    result = conn.rewrite(conn.pending)
                    if result is None:
                        data = b""
                    else:
                        data, finished = result
                        conn.pending = b""
                        if finished:
                            conn.rewrite = None
                if data:
                    other = self._other(conn, side)
                    other.out.append((time.monotonic() + self.delay_s, data))
                    other.out_bytes += len(data)
        if events & selectors.EVENT_WRITE:
            if not self._send(conn, side):
                return
        self._finish(conn)

    def _send(self, conn, side):
        now = time.monotonic()
        while side.out and side.out[0][0] <= now:
            due, data = side.out[0]
            try:
                n = side.sock.send(data)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                self._drop(conn)
                return False
            side.out_bytes -= n
            if n < len(data):
                side.out[0] = (due, data[n:])
                return True
            side.out.popleft()
        return True

    def _finish(self, conn):
        """Pass a half close on once its queue is sent; drop a connection
        closed both ways; re-register what to wait for."""
        if conn not in self.conns:
            return
        for side in (conn.down, conn.up):
            other = self._other(conn, side)
            if side.eof_in and not other.out and not other.shut_out:
                other.shut_out = True
                try:
                    other.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        if conn.down.shut_out and conn.up.shut_out:
            self._drop(conn, graceful=True)
            return
        self._update(conn)

    def _update(self, conn):
        for side in (conn.down, conn.up):
            other = self._other(conn, side)
            events = 0
            if self.state == "open":
                if not side.eof_in and other.out_bytes < BUFFER_MAX:
                    events |= selectors.EVENT_READ
                if side.out and (not self.delay_s or side.out[0][0] <= time.monotonic()):
                    events |= selectors.EVENT_WRITE
            try:
                key = self._sel.get_key(side.sock)
            except KeyError:
                key = None
            if events and key is None:
                self._sel.register(side.sock, events, ("io", conn))
            elif events and key.events != events:
                self._sel.modify(side.sock, events, ("io", conn))
            elif not events and key is not None:
                self._sel.unregister(side.sock)

    def _flush_due(self):
        if self.state != "open" or not self.delay_s:
            return
        for conn in list(self.conns):
            for side in (conn.down, conn.up):
                if side.out and side.out[0][0] <= time.monotonic():
                    if not self._send(conn, side):
                        break
            else:
                self._finish(conn)

    def _drop(self, conn, graceful=False):
        if conn not in self.conns:
            return
        self.conns.remove(conn)
        for side in (conn.down, conn.up):
            try:
                self._sel.unregister(side.sock)
            except (KeyError, ValueError):
                pass
            if graceful:
                side.sock.close()
            else:
                _reset(side.sock)

    def _cut(self, hold):
        if hold:
            self.state = "hold"
            for conn in self.conns:
                self._update(conn)
            return
        self.state = "reset"
        for conn in list(self.conns):
            self.stats["reset"] += 1
            self._drop(conn)
        self._reset_waiting()

    def _heal(self):
        if self.state == "hold":
            for conn in list(self.conns):
                self._drop(conn)
            self._reset_waiting()
        self.state = "open"

    def _reset_waiting(self):
        """Reset the held connections and those waiting for the target."""
        for sock in self.held + [w[0] for w in self.waiting]:
            _reset(sock)
        self.held = []
        self.waiting = []

    def _shutdown(self):
        for conn in list(self.conns):
            self._drop(conn)
        self._reset_waiting()
        self._sel.unregister(self.listener)
        self.listener.close()
        self.listener = None
        self._sel.unregister(self._wake_r)
        self._wake_r.close()


def _reset(sock):
    """Close with an RST (SO_LINGER 0), as a dropped connection looks."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()

