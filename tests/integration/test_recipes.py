# SPDX-License-Identifier: Apache-2.0
"""kazoo recipes (issue 3) against czk and Apache ZooKeeper 3.8 (each test
runs once per server kind): Lock, Election, Barrier, DoubleBarrier, Queue,
LockingQueue, Counter, Party, TreeCache, ChildrenWatch and DataWatch.

What is asserted is the behaviour users rely on: mutual exclusion between
clients, a leader elected and re-elected when its session closes, FIFO
queues, exact counters, caches that follow adds/updates/deletes."""

import threading
import time
import uuid

import pytest

from conftest import kazoo_client

WAIT = 8.0


def _until(pred, timeout=WAIT, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


@pytest.fixture
def clients(server):
    made = []

    def make(n=1, **kw):
        out = [kazoo_client(server, **kw) for _ in range(n)]
        made.extend(out)
        return out

    yield make
    for c in made:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


def _base(name):
    return "/recipes/%s-%s" % (name, uuid.uuid4().hex[:8])


def test_lock_mutual_exclusion(clients):
    cs = clients(3)
    path = _base("lock")
    state = {"holders": 0, "max": 0, "count": 0}
    guard = threading.Lock()
    errors = []

    def worker(c, n):
        try:
            lock = c.Lock(path, "w%d" % n)
            for _ in range(5):
                with lock:
                    with guard:
                        state["holders"] += 1
                        state["max"] = max(state["max"], state["holders"])
                    time.sleep(0.01)
                    with guard:
                        state["holders"] -= 1
                        state["count"] += 1
        except Exception as e:          # pragma: no cover - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(c, i)) for i, c in enumerate(cs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(WAIT)
    assert not errors, errors
    assert not any(t.is_alive() for t in ts), "lock workers hung"
    assert state["count"] == 15 and state["max"] == 1, state
    # contenders and a timeout while held
    a, b = cs[0].Lock(path, "a"), cs[1].Lock(path, "b")
    assert a.acquire(timeout=5)
    assert b.contenders() == ["a"] or b.contenders()[0] == "a"
    from kazoo.exceptions import LockTimeout
    try:
        got = b.acquire(timeout=0.5)
    except LockTimeout:
        got = False
    assert not got, "second client got a held lock"
    a.release()
    assert b.acquire(timeout=5)
    b.release()
    assert cs[0].get_children(path) == []


def test_lock_released_when_session_closes(clients):
    c1, c2 = clients(2)
    path = _base("lockclose")
    l1 = c1.Lock(path, "one")
    assert l1.acquire(timeout=5)
    got = threading.Event()

    def waiter():
        l2 = c2.Lock(path, "two")
        if l2.acquire(timeout=WAIT):
            got.set()
            l2.release()

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.3)
    assert not got.is_set()
    c1.stop()                            # closes the session: ephemeral lock node goes
    assert got.wait(WAIT), "lock not handed over after the holder's session closed"
    t.join(WAIT)


def test_election_and_reelection(clients):
    cs = clients(3)
    path = _base("election")
    leaders = []
    stop = {i: threading.Event() for i in range(3)}
    cond = threading.Condition()

    def run(i):
        def lead():
            with cond:
                leaders.append(i)
                cond.notify_all()
            stop[i].wait(WAIT * 2)
        try:
            cs[i].Election(path, "id%d" % i).run(lead)
        except Exception:
            pass

    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(3)]
    for t in ts:
        t.start()
        time.sleep(0.15)                 # join in order
    with cond:
        assert cond.wait_for(lambda: len(leaders) >= 1, WAIT)
    first = leaders[0]
    assert first == 0, leaders
    contenders = cs[1].Election(path).contenders()
    assert contenders == ["id0", "id1", "id2"], contenders
    time.sleep(0.3)
    assert leaders == [first], "two leaders at once: %r" % leaders
    cs[first].stop()                     # leader's session closes
    with cond:
        assert cond.wait_for(lambda: len(leaders) >= 2, WAIT), "no re-election"
    assert leaders[1] == 1 and len(leaders) == 2, leaders
    stop[1].set()                        # leader 1 steps down (returns from func)
    with cond:
        assert cond.wait_for(lambda: len(leaders) >= 3, WAIT)
    assert leaders == [0, 1, 2], leaders
    for e in stop.values():
        e.set()


def test_barrier(clients):
    c1, c2 = clients(2)
    path = _base("barrier")
    b1 = c1.Barrier(path)
    b1.create()
    released = []

    def waiter():
        if c2.Barrier(path).wait(WAIT):
            released.append(time.monotonic())

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.4)
    assert not released
    t0 = time.monotonic()
    b1.remove()
    t.join(WAIT)
    assert released and released[0] - t0 < 3.0, released
    assert c2.Barrier(path).wait(1)      # no barrier: passes at once


def test_double_barrier(clients):
    cs = clients(3)
    path = _base("dbarrier")
    entered, left = [], []
    errors = []

    def member(i):
        try:
            db = cs[i].DoubleBarrier(path, 3, identifier="m%d" % i)
            time.sleep(0.2 * i)
            db.enter()
            entered.append((i, time.monotonic()))
            time.sleep(0.1 * (2 - i))
            db.leave()
            left.append((i, time.monotonic()))
        except Exception as e:           # pragma: no cover
            errors.append(repr(e))

    ts = [threading.Thread(target=member, args=(i,), daemon=True) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(WAIT)
    assert not errors, errors
    assert len(entered) == 3 and len(left) == 3, (entered, left)
    # nobody entered before the last one arrived; nobody left before all left-requests
    assert max(e[1] for e in entered) - min(e[1] for e in entered) < 1.0
    assert min(l[1] for l in left) >= max(e[1] for e in entered)


def test_queue_fifo_and_priority(clients):
    c1, c2 = clients(2)
    path = _base("queue")
    q1, q2 = c1.Queue(path), c2.Queue(path)
    items = [("item-%02d" % i).encode() for i in range(12)]
    for it in items[:6]:
        q1.put(it)
    for it in items[6:]:
        q2.put(it)
    assert len(q1) == 12
    got = [q2.get() if i % 2 else q1.get() for i in range(12)]
    assert got == items, got
    assert q1.get() is None
    # priorities: lower first, FIFO within a priority
    q1.put(b"p5-a", priority=5)
    q1.put(b"p1", priority=1)
    q1.put(b"p5-b", priority=5)
    q1.put(b"p0", priority=0)
    assert [q2.get() for _ in range(4)] == [b"p0", b"p1", b"p5-a", b"p5-b"]


def test_locking_queue(clients):
    c1, c2 = clients(2)
    path = _base("lqueue")
    q1, q2 = c1.LockingQueue(path), c2.LockingQueue(path)
    q1.put_all([b"a", b"b", b"c"])
    assert q2.get(timeout=5) == b"a"
    # a's entry is locked by c2: c1 gets the next one
    assert q1.get(timeout=5) == b"b"
    assert q2.consume()
    assert q1.release()                  # b goes back
    assert len(q2) == 2
    got = []
    t = threading.Thread(target=lambda: got.append(q2.get(timeout=WAIT)))
    assert q1.get(timeout=5) == b"b"
    assert q1.consume()
    assert q1.get(timeout=5) == b"c"
    assert q1.consume()
    t.start()
    time.sleep(0.3)
    q1.put(b"late")
    t.join(WAIT)
    assert got == [b"late"], got
    assert q2.consume()
    assert len(q1) == 0


def test_counter(clients):
    cs = clients(3)
    path = _base("counter")
    errors = []

    def bump(c):
        try:
            ctr = c.Counter(path)
            for _ in range(10):
                ctr += 1
        except Exception as e:           # pragma: no cover
            errors.append(repr(e))

    ts = [threading.Thread(target=bump, args=(c,)) for c in cs]
    for t in ts:
        t.start()
    for t in ts:
        t.join(WAIT)
    assert not errors, errors
    ctr = cs[0].Counter(path)
    assert ctr.value == 30
    ctr -= 5
    assert cs[1].Counter(path).value == 25
    f = cs[1].Counter(path + "-f", default=0.0)
    f += 1.5
    f += 1.25
    assert cs[2].Counter(path + "-f", default=0.0).value == 2.75
    data, _ = cs[2].get(path)
    assert data == b"25", data


def test_party(clients):
    cs = clients(3)
    path = _base("party")
    parties = [c.Party(path, "member-%d" % i) for i, c in enumerate(cs)]
    for p in parties:
        p.join()
    assert len(parties[0]) == 3
    assert sorted(parties[1]) == ["member-0", "member-1", "member-2"]
    parties[1].leave()
    assert sorted(parties[0]) == ["member-0", "member-2"]
    cs[2].stop()                         # a member's session ends: it leaves
    assert _until(lambda: sorted(parties[0]) == ["member-0"]), list(parties[0])
    sp = cs[0].ShallowParty(path + "-s", "solo")
    sp.join()
    assert list(sp) == ["solo"]


def test_tree_cache(clients):
    from kazoo.recipe.cache import TreeCache, TreeEvent
    c1, c2 = clients(2)
    path = _base("treecache")
    c2.ensure_path(path + "/a")
    c2.create(path + "/a/x", b"x0")
    events = []
    lk = threading.Lock()

    def listener(ev):
        with lk:
            p = ev.event_data.path if ev.event_data is not None else None
            d = ev.event_data.data if ev.event_data is not None else None
            events.append((ev.event_type, p, d))

    cache = TreeCache(c1, path)
    cache.listen(listener)
    cache.start()
    try:
        assert _until(lambda: any(e[0] == TreeEvent.INITIALIZED for e in events))
        assert cache.get_data(path + "/a/x").data == b"x0"
        assert sorted(cache.get_children(path)) == ["a"]

        def seen(t, p, d=None):
            return any(e[0] == t and e[1] == p and (d is None or e[2] == d) for e in events)
        # one change at a time: TreeCache fetches data after a child event,
        # so a node created and deleted at once may legitimately be missed
        c2.create(path + "/b", b"b0")
        assert _until(lambda: seen(TreeEvent.NODE_ADDED, path + "/b", b"b0")), events
        c2.create(path + "/a/y", b"y0")
        assert _until(lambda: seen(TreeEvent.NODE_ADDED, path + "/a/y", b"y0")), events
        c2.set(path + "/a/x", b"x1")
        assert _until(lambda: seen(TreeEvent.NODE_UPDATED, path + "/a/x", b"x1")), events
        c2.delete(path + "/a/y")
        assert _until(lambda: seen(TreeEvent.NODE_REMOVED, path + "/a/y")), events
        c2.set(path, b"root1")
        assert _until(lambda: seen(TreeEvent.NODE_UPDATED, path, b"root1")), events
        assert _until(lambda: cache.get_data(path + "/a/x").data == b"x1")
        assert _until(lambda: cache.get_data(path + "/a/y") is None)
        assert sorted(cache.get_children(path + "/a")) == ["x"]
        c2.delete(path + "/a", recursive=True)
        assert _until(lambda: seen(TreeEvent.NODE_REMOVED, path + "/a"))
        assert _until(lambda: sorted(cache.get_children(path)) == ["b"])
    finally:
        cache.close()


def test_children_and_data_watch(clients):
    c1, c2 = clients(2)
    path = _base("watchers")
    c2.ensure_path(path)
    kids, datas = [], []
    c1.ChildrenWatch(path)(lambda ch: kids.append(sorted(ch)))
    c1.DataWatch(path + "/d")(lambda data, stat: datas.append(
        (data, stat.version if stat else None)))
    assert _until(lambda: kids == [[]] and datas == [(None, None)]), (kids, datas)
    c2.create(path + "/d", b"v0")
    assert _until(lambda: kids and kids[-1] == ["d"]), kids
    assert _until(lambda: datas and datas[-1] == (b"v0", 0)), datas
    c2.set(path + "/d", b"v1")
    assert _until(lambda: datas[-1] == (b"v1", 1)), datas
    c2.create(path + "/e")
    assert _until(lambda: kids[-1] == ["d", "e"]), kids
    c2.delete(path + "/d")
    assert _until(lambda: kids[-1] == ["e"]), kids
    assert _until(lambda: datas[-1] == (None, None)), datas
    c2.create(path + "/d", b"again")
    assert _until(lambda: datas[-1] == (b"again", 0)), datas
