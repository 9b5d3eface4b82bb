#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench-ensemble.sh — a 3-member czk ensemble and a 3-member Apache ZooKeeper
# 3.8 ensemble side by side (issue 10): builds the release tree, starts both
# on free 127.0.0.1 ports with fresh data dirs and one zoo.cfg shape, warms
# both up, runs the same czk-benchmark against each in turn with its sessions
# spread over the three members (server CPU summed over them), then measures
# failover: kill -9 of the leader while a client writes, to the first
# acknowledged write, N times each, medians. See docs/PERFORMANCE.md.
#
# usage: scripts/bench-ensemble.sh [--quick] [--no-build] [--only czk|apache]
#                                  [--kills N] [--no-failover] [--no-bench]
#                                  [--out DIR] [-- | czk-benchmark options...]
#   --quick        small op counts and 2 kills each (CI smoke; < 2 min once built)
#   --no-build     use the binaries already in build-release/
#   --only X       one ensemble only
#   --kills N      leader kills per ensemble (default 5)
#   --no-failover  throughput only;  --no-bench: failover only
#   --out DIR      keep the JSON lines and the table there
#                  (default build-release/bench-ensemble)
#   --tick MS      tickTime (default 2000; initLimit=10, syncLimit=5 for both)
#   --keep         keep the members' logs and data dirs (kept anyway on failure)
#   --cfg K=V      one more zoo.cfg line for every member of both (repeatable),
#                  e.g. --cfg snapCount=10000000
#   --populate N   before the failover kills, load N znodes that stay (czk-benchmark
#                  --phases create --keep: 100-byte data, 10 per parent under
#                  /czk-populate, 9 sessions): failover with a large tree
# CZK_BENCHMARK and CZK_SERVER override the binaries' paths; BENCH_TMP the
# directory the members' dirs go under (default /tmp). Any other option
# is passed to czk-benchmark's measured run (e.g. --ops 200000 --sessions 18).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bench_name=bench-ensemble.sh
# shellcheck source=scripts/lib-bench.sh
. "$here/scripts/lib-bench.sh"

quick=0
build=1
only=""
out_dir=""
kills=5
do_failover=1
do_bench=1
tick_ms=2000
keep=0
populate=0
cfg_extra=()
bench_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --only) only="$2"; shift ;;
    --kills) kills="$2"; shift ;;
    --no-failover) do_failover=0 ;;
    --no-bench) do_bench=0 ;;
    --out) out_dir="$2"; shift ;;
    --tick) tick_ms="$2"; shift ;;
    --keep) keep=1 ;;
    --populate) populate="$2"; shift ;;
    --cfg) cfg_extra+=("$2"); shift ;;
    --) shift; bench_args+=("$@"); break ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) bench_args+=("$1") ;;
    esac
    shift
done
bench_check_only "$only"
bench_check_number --kills "$kills"
bench_check_number --populate "$populate"
bench_check_number --tick "$tick_ms"
[[ $quick -eq 1 && $kills -eq 5 ]] && kills=2

build_dir="$here/build-release"
out_dir=${out_dir:-$build_dir/bench-ensemble}
bench_binaries "$build_dir" "$build" "$only"
# every process started here, members and writers, goes in `pids`: stopped by PID on exit
bench_start_tmp czk-bench-ens

declare -A cport qport eport pid
apache_heap=1g
bench_kinds "$only"

for k in "${kinds[@]}"; do
    ens_ports "$k"
    for sid in 1 2 3; do ens_write_member "$k" "$sid"; done
    for sid in 1 2 3; do ens_start_member "$k" "$sid"; done
done
declare -A servers
for k in "${kinds[@]}"; do
    ens_wait "$k"
    servers[$k]=$(ens_servers "$k")
    log "$k ensemble up: $(for sid in 1 2 3; do printf 'sid %s pid %s port %s %s; ' "$sid" \
        "${pid[$k$sid]}" "${cport[$k$sid]}" "$(mode_of "${cport[$k$sid]}")"; done)"
done

mkdir -p "$out_dir"
rm -f "$out_dir"/*.jsonl
uptime >"$out_dir/load.txt"
status=0

if [[ $quick -eq 1 ]]; then
    warm_args=(--ops 5000 --sessions 3)
    size_args=(--ops 5000 --sessions 9)
else
    warm_args=(--ops 50000 --sessions 9)
    size_args=(--ops 100000 --sessions 9)
fi

if [[ $do_bench -eq 1 ]]; then
    for k in "${kinds[@]}"; do
        log "warming up $k"
        if ! "$benchmark" --server "${servers[$k]}" --root /czk-warmup "${warm_args[@]}" \
            >"$tmp/$k/warmup.log" 2>&1; then
            log "warm-up against $k failed:"
            cat "$tmp/$k/warmup.log" >&2
            status=1
        fi
    done
    for k in "${kinds[@]}"; do
        log "benchmarking $k (load: $(cut -d' ' -f1-3 /proc/loadavg))"
        if ! "$benchmark" --server "${servers[$k]}" \
            --server-pid "${pid[${k}1]},${pid[${k}2]},${pid[${k}3]}" --label "$k" --json \
            "${size_args[@]}" "${bench_args[@]}" >"$out_dir/$k.jsonl"; then
            log "the benchmark against $k FAILED"
            status=1
        fi
    done
    uptime >>"$out_dir/load.txt"
fi

# Failover: a writer with all members in its connection string writes one
# setData at a time; SIGUSR1 marks the kill, then kill -9 of the leader; the
# writer reports the time from the mark to its first write acknowledged after
# the failure it saw. The member is restarted on its data dir before the next.
if [[ $populate -gt 0 ]]; then
    for k in "${kinds[@]}"; do
        log "$k: creating $populate znodes under /czk-populate"
        t0=$(date +%s)
        if "$benchmark" --server "${servers[$k]}" --sessions 9 --phases create --ops "$populate" \
            --keep --root /czk-populate --label "$k" --json >"$out_dir/$k.populate.jsonl" \
            2>"$tmp/$k/populate.log"; then
            log "$k: $populate znodes created in $(($(date +%s) - t0)) s"
        else
            log "$k: populating FAILED:"
            tail -n 20 "$tmp/$k/populate.log" >&2
            status=1
        fi
    done
fi

if [[ $do_failover -eq 1 ]]; then
    for k in "${kinds[@]}"; do
        out="$out_dir/$k.failover.jsonl"
        "$benchmark" --failover-writer --server "${servers[$k]}" --root /czk-failover \
            --label "$k" >"$out" 2>"$tmp/$k/failover.log" &
        writer=$!
        pids+=("$writer")
        for _ in $(seq 600); do
            grep -q '"ready"' "$out" 2>/dev/null && break
            kill -0 "$writer" 2>/dev/null || break
            sleep 0.1
        done
        if ! grep -q '"ready"' "$out"; then
            log "the failover writer against $k did not start:"
            cat "$tmp/$k/failover.log" >&2
            status=1
            continue
        fi
        for n in $(seq "$kills"); do
            sleep 1 # steady writing before the kill
            sid=$(ens_leader_of "$k") || { log "$k: no leader"; status=1; break; }
            victim=${pid[$k$sid]}
            log "$k: kill $n of $kills: kill -9 leader sid $sid (pid $victim)"
            kill -USR1 "$writer"
            kill -9 "$victim"
            wait "$victim" 2>/dev/null || true
            got=0
            for _ in $(seq 600); do
                got=$(grep -c '"ms"' "$out" || true)
                [[ $got -ge $n ]] && break
                sleep 0.1
            done
            if [[ $got -lt $n ]]; then
                log "$k: no write acknowledged within 60 s of the kill"
                status=1
                break
            fi
            log "$k: $(tail -n 1 "$out")"
            ens_start_member "$k" "$sid"
            ens_wait "$k" || { status=1; break; }
        done
        kill "$writer" 2>/dev/null || true
        wait "$writer" 2>/dev/null || true
    done
fi

"$python" - "$out_dir" "$tick_ms" "${kinds[@]}" <<'EOF' | tee "$out_dir/table.md"
import json, sys, os, datetime, statistics

out_dir, tick_ms, kinds = sys.argv[1], sys.argv[2], sys.argv[3:]
res, fail = {}, {}
for k in kinds:
    res[k], fail[k] = {}, []
    for name, sink in ((k + ".jsonl", None), (k + ".failover.jsonl", fail[k])):
        path = os.path.join(out_dir, name)
        if not os.path.exists(path):
            continue
        for line in open(path):
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if sink is not None:
                if "ms" in r:
                    sink.append(r)
            else:
                res[k][r["phase"]] = r

def fmt(v, nd=1):
    return "-" if v is None else f"{v:,.{nd}f}"

def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"

def get(k, phase, key):
    r = res.get(k, {}).get(phase)
    return None if r is None else r.get(key)

print(f"\n{datetime.date.today().isoformat()}: 3-member ensembles, " + ", ".join(
    f"{k} {len(res[k])} phases, {len(fail[k])} kills" for k in kinds))
for k in kinds:
    bad = [p for p, r in res[k].items() if not r.get("ok", False)]
    if bad:
        print(f"**{k}: FAILED phases: {', '.join(bad)}** (errors: the figures below are not valid)")
phases = ["create", "set", "get", "exists", "children", "delete", "mixed"]
seen = [p for p in phases if any(p in res[k] for k in kinds)]
if seen:
    print()
    print("| phase | czk ops/s | apache ops/s | czk/apache | czk p99 µs | apache p99 µs | apache/czk "
          "| czk CPU µs/op (3 members) | apache CPU µs/op (3 members) | apache/czk |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in seen:
        c_ops, a_ops = get("czk", p, "ops_per_s"), get("apache", p, "ops_per_s")
        c_p99, a_p99 = get("czk", p, "p99_us"), get("apache", p, "p99_us")
        c_cpu = get("czk", p, "server_cpu_us_per_op")
        a_cpu = get("apache", p, "server_cpu_us_per_op")
        print(f"| {p} | {fmt(c_ops, 0)} | {fmt(a_ops, 0)} | {ratio(c_ops, a_ops)} | {fmt(c_p99)} "
              f"| {fmt(a_p99)} | {ratio(a_p99, c_p99)} | {fmt(c_cpu, 2)} | {fmt(a_cpu, 2)} "
              f"| {ratio(a_cpu, c_cpu)} |")

medians = {}
if any(fail[k] for k in kinds):
    print()
    print(f"| leader kill -9 → first acknowledged write (tickTime={tick_ms}, initLimit=10, "
          "syncLimit=5) | kills | median ms | min ms | max ms | each (ms) |")
    print("|---|---:|---:|---:|---:|---|")
    for k in kinds:
        ms = [r["ms"] for r in fail[k] if r.get("ms") is not None]
        if not ms:
            continue
        medians[k] = statistics.median(ms)
        print(f"| {k} | {len(ms)} | {medians[k]:,.0f} | {min(ms):,.0f} | {max(ms):,.0f} "
              f"| {', '.join(f'{v:,.0f}' for v in ms)} |")

if "czk" in res and "apache" in res and seen:
    print()
    print("| target | measured | met |")
    print("|---|---|---|")
    def target(name, value, ok):
        print(f"| {name} | {value} | {'yes' if ok else 'NO'} |")
    for p in ("create", "set", "delete"):
        c, a = get("czk", p, "ops_per_s"), get("apache", p, "ops_per_s")
        if c and a:
            target(f"write throughput, {p}: ≥ 2x Apache's", f"{c / a:.2f}x", c >= 2 * a)
    for p in ("get", "exists", "children"):
        c, a = get("czk", p, "ops_per_s"), get("apache", p, "ops_per_s")
        if c and a:
            target(f"read throughput, {p}: ≥ 3x Apache's", f"{c / a:.2f}x", c >= 3 * a)
    for p in seen:
        c, a = get("czk", p, "p99_us"), get("apache", p, "p99_us")
        if c and a:
            target(f"p99, {p}: ≤ 1/2 of Apache's", f"1/{a / c:.2f}", c * 2 <= a)
    for p in ("create", "set", "delete"):
        c, a = get("czk", p, "server_cpu_us_per_op"), get("apache", p, "server_cpu_us_per_op")
        if c is not None and a is not None:
            target(f"server CPU per write (3 members), {p}: ≤ 1/4 of Apache's",
                   f"1/{a / c:.1f}" if c else "0", c * 4 <= a)
if "czk" in medians and "apache" in medians:
    print()
    print(f"failover median: czk {medians['czk']:,.0f} ms, Apache {medians['apache']:,.0f} ms "
          f"(czk/Apache {medians['czk'] / medians['apache']:.2f})")
EOF
cat "$out_dir/load.txt" >&2
exit $status
