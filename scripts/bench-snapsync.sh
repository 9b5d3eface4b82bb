#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench-snapsync.sh — a new follower syncing a large tree by SNAP, czk and
# Apache ZooKeeper 3.8 in turn (issue 10): starts a 3-member ensemble of one
# kind, loads N znodes through it, then repeatedly stops one follower
# (SIGTERM), wipes its data dir except myid, restarts it and times it until it
# is synced, while a one-session getData probe runs against the leader; the
# same probe runs for the same length of time before each sync (idle). Then
# the other kind. See docs/PERFORMANCE.md, "SNAP sync of a new follower".
#
# usage: scripts/bench-snapsync.sh [--quick] [--no-build] [--only czk|apache]
#                                  [--znodes N] [--repeats R] [--warmup W]
#                                  [--heap SIZE] [--out DIR] [--keep]
#   --quick      50,000 znodes, 1 repeat, no warm-up sync (smoke; asserts only
#                that each sync was a SNAP and the probes got replies)
#   --no-build   use the binaries already in build-release/
#   --only X     one kind only
#   --znodes N   leaves loaded (default 1,000,000; plus N/10 parents)
#   --repeats R  measured syncs per kind (default 3; medians reported)
#   --warmup W   unmeasured syncs first (default 1, 0 with --quick)
#   --heap SIZE  -Xmx of each Apache member (default 4g)
#   --tick MS    tickTime (default 2000; initLimit=10, syncLimit=5 for both)
#   --out DIR    keep the JSON lines and the table (default build-release/bench-snapsync)
#   --keep       keep the members' logs and data dirs (kept anyway on failure)
# CZK_BENCHMARK and CZK_SERVER override the binaries' paths; BENCH_TMP the
# directory the servers' dirs go under (default /tmp).
#
# "Synced": the restarted member answers srvr with "Mode: follower" and a
# Zxid at least the leader's Zxid read just before the restart (nothing
# writes during the sync: the probe only reads). Timed from just before the
# member's process is started, polled every 10 ms (one srvr connection each).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bench_name=bench-snapsync.sh
# shellcheck source=scripts/lib-bench.sh
. "$here/scripts/lib-bench.sh"

quick=0
build=1
only=""
out_dir=""
znodes=""
repeats=""
warmup=""
apache_heap=4g
tick_ms=2000
keep=0
cfg_extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --only) only="$2"; shift ;;
    --znodes) znodes="$2"; shift ;;
    --repeats) repeats="$2"; shift ;;
    --warmup) warmup="$2"; shift ;;
    --heap) apache_heap="$2"; shift ;;
    --tick) tick_ms="$2"; shift ;;
    --out) out_dir="$2"; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown option $1 (see --help)"; exit 2 ;;
    esac
    shift
done
bench_check_only "$only"
if [[ $quick -eq 1 ]]; then
    znodes=${znodes:-50000} repeats=${repeats:-1} warmup=${warmup:-0}
else
    znodes=${znodes:-1000000} repeats=${repeats:-3} warmup=${warmup:-1}
fi
bench_check_number --znodes "$znodes"
bench_check_number --repeats "$repeats"
bench_check_number --warmup "$warmup"
bench_check_number --tick "$tick_ms"
[[ $repeats -ge 1 && $znodes -ge 1 ]] || { log "--repeats and --znodes must be >= 1"; exit 2; }

build_dir="$here/build-release"
out_dir=${out_dir:-$build_dir/bench-snapsync}
bench_binaries "$build_dir" "$build" "$only"
bench_start_tmp czk-bench-snap

declare -A cport qport eport pid
bench_kinds "$only"

mkdir -p "$out_dir"
rm -f "$out_dir"/*.jsonl
{ date -u; uptime; } >"$out_dir/load.txt"

zxid_of() { # port -> the Zxid: line of srvr (0x...), or empty
    srvr "$1" | sed -n 's/^Zxid: //p'
}

# How many SNAPs the leader of kind k has logged sending.
snap_count() { # kind leader_sid learner_sid
    if [[ $1 == czk ]]; then
        grep -c "SNAP body streamed to learner $3\$" "$tmp/$1/s$2/server.log" || true
    else
        cat "$tmp/$1/s$2"/zookeeper.log* 2>/dev/null | grep -c 'Sending snapshot last zxid of peer' || true
    fi
}

# Polls the restarted member every 10 ms until synced (see the header); prints
# one JSON object: ms from t0 to its first srvr answer, to Mode: follower, to
# synced. Gives up after the timeout.
wait_synced() { # port leader_zxid t0_ns timeout_s
    "$python" - "$@" <<'PY'
import json, socket, sys, time
port, target, t0, limit = int(sys.argv[1]), int(sys.argv[2], 16), int(sys.argv[3]), float(sys.argv[4])
first = follower = None
polls = 0
while True:
    now = time.time_ns()
    if (now - t0) / 1e9 > limit:
        print(json.dumps({"synced": False, "polls": polls}))
        sys.exit(1)
    out = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"srvr")
            while True:
                d = s.recv(4096)
                if not d:
                    break
                out += d
    except OSError:
        pass
    polls += 1
    now = time.time_ns()
    text = out.decode("utf-8", "replace")
    fields = dict(l.split(": ", 1) for l in text.splitlines() if ": " in l)
    if out and first is None:
        first = (now - t0) / 1e6
    if fields.get("Mode") == "follower":
        if follower is None:
            follower = (now - t0) / 1e6
        if int(fields.get("Zxid", "0x0"), 16) >= target:
            print(json.dumps({"synced": True, "ms": (now - t0) / 1e6, "first_answer_ms": first,
                              "follower_mode_ms": follower, "zxid": fields["Zxid"], "polls": polls}))
            sys.exit(0)
    time.sleep(0.010)
PY
}

# CPU time of each thread of a process by thread name (#2... for a repeated
# name, in thread-id order), its threads' total run-queue wait, and its reaped
# children's CPU, in ms, as a JSON object (from /proc/PID/task/*/schedstat: run time on a CPU).
thread_cpu() { # pid
    "$python" - "$1" <<'PY'
import glob, json, os, sys
out = {}
tasks = glob.glob(f"/proc/{sys.argv[1]}/task/*")
waited = 0 # runnable but not on a CPU, all threads
for task in sorted(tasks, key=lambda t: int(os.path.basename(t))):
    try:
        name = open(os.path.join(task, "comm")).read().strip()
        stat = open(os.path.join(task, "schedstat")).read().split()
        ns, wait = int(stat[0]), int(stat[1])
    except (OSError, ValueError, IndexError):
        continue
    waited += wait
    key, n = name, 1
    while key in out: # threads of one name (czk's): the main thread first, then #2...
        n += 1
        key = f"{name}#{n}"
    out[key] = ns
out["(run-queue wait, all threads)"] = waited
try: # reaped children (czk's SNAP and snapshot children), from /proc/PID/stat
    f = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
    out["(reaped children)"] = (int(f[13]) + int(f[14])) * 1e9 / os.sysconf("SC_CLK_TCK")
except (OSError, ValueError, IndexError):
    pass
print(json.dumps({k: round(v / 1e6, 1) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}))
PY
}

# A --probe-seconds probe against the leader; `secs` 0 = until SIGUSR1.
# Starts it in the background and waits until it says "probe running".
probe_start() { # kind leader_sid secs name
    local k=$1 lsid=$2 secs=$3 name=$4
    "$benchmark" --server "127.0.0.1:${cport[$k$lsid]}" --sessions 1 --phases none \
        --probe-seconds "$secs" --root "/czk-snap-$name" --clean --label "$k" --json \
        >"$out_dir/$k.$name.jsonl" 2>"$tmp/$k/$name.log" &
    probe_pid=$!
    pids+=("$probe_pid")
    for _ in $(seq 300); do
        grep -q 'probe running' "$tmp/$k/$name.log" 2>/dev/null && return 0
        kill -0 "$probe_pid" 2>/dev/null || break
        sleep 0.05
    done
    log "$k: the $name probe did not start:"
    cat "$tmp/$k/$name.log" >&2
    return 1
}
probe_finish() { # kind name -> fails unless the probe exited 0
    local k=$1 name=$2 rc=0
    wait "$probe_pid" || rc=$?
    bench_stop_pid "$probe_pid"
    if [[ $rc -ne 0 ]]; then
        log "$k: the $name probe FAILED (exit $rc):"
        cat "$tmp/$k/$name.log" >&2
        return 1
    fi
}

status=0
for k in "${kinds[@]}"; do
    ens_ports "$k"
    for sid in 1 2 3; do ens_write_member "$k" "$sid"; done
    for sid in 1 2 3; do ens_start_member "$k" "$sid"; done
    ens_wait "$k"
    servers=$(ens_servers "$k")
    lsid=$(ens_leader_of "$k")
    victim=""
    for sid in 1 2 3; do [[ $sid == "$lsid" ]] || { victim=$sid; break; }; done
    log "$k ensemble up (leader sid $lsid); loading $znodes znodes (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    if ! "$benchmark" --server "$servers" --sessions 9 --phases create --ops "$znodes" --keep \
        --root /czk-snap-tree --label "$k" --json >"$out_dir/$k.load.jsonl" 2>"$tmp/$k/load.log"; then
        log "loading $k FAILED:"
        tail -n 20 "$tmp/$k/load.log" >&2
        exit 1
    fi
    log "$k: loaded: $(grep -o '"ops_per_s":[0-9.]*' "$out_dir/$k.load.jsonl") ; SNAP syncs of member $victim follow"
    idle_s=2
    for r in $(seq 0 $((warmup + repeats - 1))); do
        measured=$((r >= warmup ? 1 : 0))
        ens_wait "$k"
        [[ $(ens_leader_of "$k") == "$lsid" ]] || { log "$k: the leader changed"; exit 1; }
        if [[ $measured -eq 1 ]]; then
            probe_start "$k" "$lsid" "$idle_s" "idle$r"
            probe_finish "$k" "idle$r"
        fi
        bench_stop_pid "${pid[$k$victim]}"
        find "$tmp/$k/s$victim/data" -mindepth 1 -maxdepth 1 ! -name myid -exec rm -rf {} +
        probe_start "$k" "$lsid" 0 "during$r"
        snaps0=$(snap_count "$k" "$lsid" "$victim")
        lzxid=$(zxid_of "${cport[$k$lsid]}")
        [[ -n $lzxid ]] || { log "$k: no Zxid from the leader"; exit 1; }
        lcpu0=$(thread_cpu "${pid[$k$lsid]}")
        t0=$(date +%s%N)
        ens_start_member "$k" "$victim"
        if ! res=$(wait_synced "${cport[$k$victim]}" "$lzxid" "$t0" 600); then
            log "$k: member $victim did not sync within 600 s ($res); its log:"
            tail -n 30 "$tmp/$k/s$victim/server.log" >&2
            exit 1
        fi
        kill -USR1 "$probe_pid"
        mcpu=$(thread_cpu "${pid[$k$victim]}")
        lcpu1=$(thread_cpu "${pid[$k$lsid]}")
        lcpu=$("$python" -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(json.dumps({k:round(v-a.get(k,0),1) for k,v in b.items() if v-a.get(k,0)>=1}))' "$lcpu0" "$lcpu1")
        probe_finish "$k" "during$r"
        snaps=0
        for _ in $(seq 50); do # czk logs the SNAP when its last byte is queued
            snaps=$(($(snap_count "$k" "$lsid" "$victim") - snaps0))
            [[ $snaps -ge 1 ]] && break
            sleep 0.1
        done
        ms=$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["ms"])' "$res")
        echo "{\"label\":\"$k\",\"phase\":\"sync\",\"repeat\":$r,\"measured\":$measured,\"snaps\":$snaps,\"leader_zxid\":\"$lzxid\",\"idle_s\":$idle_s,\"result\":$res,\"member_cpu_ms\":$mcpu,\"leader_cpu_ms\":$lcpu}" \
            >>"$out_dir/$k.sync.jsonl"
        log "$k: sync $r$([[ $measured -eq 1 ]] || echo ' (warm-up)'): $ms ms, SNAPs logged by the leader: $snaps (load: $(cut -d' ' -f1-3 /proc/loadavg))"
        if [[ $snaps -lt 1 ]]; then
            log "$k: the leader did not log a SNAP for member $victim"
            status=1
        fi
        # The idle probe before the next sync lasts as long as this sync.
        idle_s=$("$python" -c 'import sys; print(f"{max(float(sys.argv[1]) / 1000, 0.5):.3f}")' "$ms")
    done
    rss=""
    for sid in 1 2 3; do rss+=" $sid:$(awk '/VmRSS/ {print $2}' "/proc/${pid[$k$sid]}/status" 2>/dev/null)kB"; done
    echo "{\"label\":\"$k\",\"phase\":\"rss\",\"members\":\"${rss# }\"}" >>"$out_dir/$k.sync.jsonl"
    bench_stop_all
done
{ date -u; uptime; } >>"$out_dir/load.txt"

table_rc=0
"$python" - "$out_dir" "$znodes" "$apache_heap" "${kinds[@]}" <<'PY' | tee "$out_dir/table.md" || table_rc=$?
import glob, json, os, statistics, sys

out_dir, znodes, heap, kinds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]

def lines(path):
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip().startswith("{")]

res = {}
for k in kinds:
    syncs = [r for r in lines(os.path.join(out_dir, k + ".sync.jsonl")) if r["phase"] == "sync"]
    rss = [r for r in lines(os.path.join(out_dir, k + ".sync.jsonl")) if r["phase"] == "rss"]
    load = lines(os.path.join(out_dir, k + ".load.jsonl"))
    rows = []
    for s in syncs:
        if not s["measured"]:
            continue
        idle = lines(os.path.join(out_dir, f"{k}.idle{s['repeat']}.jsonl"))
        during = lines(os.path.join(out_dir, f"{k}.during{s['repeat']}.jsonl"))
        rows.append({"sync": s, "idle": idle[0] if idle else None,
                     "during": during[0] if during else None})
    res[k] = {"rows": rows, "warm": [s for s in syncs if not s["measured"]],
              "load": load[0] if load else None, "rss": rss[0]["members"] if rss else ""}

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def fmt(v, nd=0):
    return "-" if v is None else f"{v:,.{nd}f}"

print(f"\nSNAP sync of a new follower: {znodes:,} leaves (+{(znodes + 9) // 10:,} parents) of "
      f"100 bytes; Apache -Xmx{heap} per member")
print()
print("| kind | loaded (create ops/s) | warm-up sync ms | syncs ms | median sync ms | "
      "probe idle p50/p99 µs (median) | probe during sync p50/p99 µs (median) | "
      "p99 during / idle | probe max during sync µs (median) | members' RSS after |")
print("|---|---:|---|---|---:|---|---|---:|---:|---|")
summary = {}
for k in kinds:
    r = res[k]
    rows = r["rows"]
    ms = [x["sync"]["result"]["ms"] for x in rows]
    i50 = med([x["idle"]["p50_us"] for x in rows if x["idle"]])
    i99 = med([x["idle"]["p99_us"] for x in rows if x["idle"]])
    d50 = med([x["during"]["p50_us"] for x in rows if x["during"]])
    d99 = med([x["during"]["p99_us"] for x in rows if x["during"]])
    dmax = med([x["during"]["max_us"] for x in rows if x["during"]])
    ratios = [x["during"]["p99_us"] / x["idle"]["p99_us"] for x in rows
              if x["idle"] and x["during"] and x["idle"]["p99_us"] > 0]
    summary[k] = {"ms": med(ms), "ratio": med(ratios)}
    load = r["load"]["ops_per_s"] if r["load"] else None
    warm = ", ".join(fmt(s["result"]["ms"]) for s in r["warm"]) or "-"
    print(f"| {k} | {fmt(load)} | {warm} | {', '.join(fmt(v) for v in ms)} | {fmt(med(ms))} "
          f"| {fmt(i50, 1)} / {fmt(i99, 1)} | {fmt(d50, 1)} / {fmt(d99, 1)} "
          f"| {fmt(summary[k]['ratio'], 2)}x | {fmt(dmax)} | {r['rss']} |")
print()
print("| kind | repeat | sync ms | first srvr answer ms | Mode: follower ms | SNAPs logged "
      "| idle probe: s, round trips, p50/p99/max µs | during sync: round trips, p50/p99/max µs |")
print("|---|---:|---:|---:|---:|---:|---|---|")
bad = []
for k in kinds:
    for x in res[k]["rows"]:
        s, i, d = x["sync"], x["idle"], x["during"]
        rr = s["result"]
        print(f"| {k} | {s['repeat']} | {fmt(rr['ms'])} | {fmt(rr.get('first_answer_ms'))} "
              f"| {fmt(rr.get('follower_mode_ms'))} | {s['snaps']} "
              f"| {fmt(i['seconds'], 1) if i else '-'} s, {i['ops'] if i else '-'}, "
              f"{fmt(i['p50_us'], 1) if i else '-'}/{fmt(i['p99_us'], 1) if i else '-'}/"
              f"{fmt(i['max_us']) if i else '-'} "
              f"| {d['ops'] if d else '-'}, {fmt(d['p50_us'], 1) if d else '-'}/"
              f"{fmt(d['p99_us'], 1) if d else '-'}/{fmt(d['max_us']) if d else '-'} |")
        if s["snaps"] < 1:
            bad.append(f"{k} repeat {s['repeat']}: no SNAP logged by the leader")
        for name, p in (("idle", i), ("during", d)):
            if p is None or not p.get("ok") or p.get("ops", 0) < 1:
                bad.append(f"{k} repeat {s['repeat']}: the {name} probe got no valid replies")
print()
print("| target (issue 10) | measured | met |")
print("|---|---|---|")
if "czk" in summary and "apache" in summary and summary["czk"]["ms"] and summary["apache"]["ms"]:
    c, a = summary["czk"], summary["apache"]
    q = c["ms"] / a["ms"]
    print(f"| SNAP sync time ≤ 1/3 of Apache's | czk {fmt(c['ms'])} ms, Apache {fmt(a['ms'])} ms: "
          f"{q:.2f} of Apache's | {'yes' if q <= 1 / 3 else 'NO'} |")
for k in kinds:
    if summary.get(k, {}).get("ratio") is not None:
        r = summary[k]["ratio"]
        print(f"| {k}: leader's probe p99 during sync ≤ 2x idle p99 | {r:.2f}x "
              f"| {'yes' if r <= 2 else 'NO'} |" if k == "czk" else
              f"| ({k}, for reference) probe p99 during sync / idle p99 | {r:.2f}x | - |")
print()
print("CPU time by thread name (ms, /proc/PID/task/*/schedstat): the restarted member from its start "
      "to synced; the leader over the same window (its SNAP child, a separate process, "
      "counted once reaped, as '(reaped children)'). Five largest:")
for k in kinds:
    for x in res[k]["rows"]:
        s = x["sync"]
        for who in ("member", "leader"):
            cpu = s.get(who + "_cpu_ms") or {}
            wait = cpu.pop("(run-queue wait, all threads)", None)
            cpu = dict(sorted(cpu.items(), key=lambda kv: -kv[1]))
            top = ", ".join(f"{n} {v:,.0f}" for n, v in list(cpu.items())[:5])
            print(f"- {k} repeat {s['repeat']}, {who}: CPU {sum(cpu.values()):,.0f}; {top}"
                  + ("" if wait is None else f"; waited for a CPU {wait:,.0f}"))
for b in bad:
    print(f"**FAILED: {b}**")
sys.exit(1 if bad else 0)
PY
cat "$out_dir/load.txt" >&2
[[ $table_rc -eq 0 ]] || status=1
exit $status
