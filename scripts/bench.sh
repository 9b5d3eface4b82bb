#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench.sh — czk-server and Apache ZooKeeper 3.8 side by side: builds the
# release tree, starts both on free 127.0.0.1 ports with fresh data dirs, warms
# both up (the JVM needs its JIT), runs the same czk-benchmark against each and
# prints the ratios. See docs/PERFORMANCE.md.
#
# usage: scripts/bench.sh [--quick] [--no-build] [--only czk|apache] [--out DIR]
#                         [-- | czk-benchmark options...]
#   --quick     small op counts (CI smoke; well under 60 s once built)
#   --no-build  use the binaries already in build-release/
#   --only X    run one server only (e.g. while the other does not work)
#   --out DIR   keep the JSON lines and the table there (default build-release/bench)
#   --no-fsync  forceSync=no for both servers (default: fsync, as shipped)
# CZK_BENCHMARK and CZK_SERVER override the binaries' paths; BENCH_TMP the
# directory the servers' dirs go under (default /tmp).
# Any other option is passed to czk-benchmark (e.g. --ops 200000 --sessions 16).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bench_name=bench.sh
# shellcheck source=scripts/lib-bench.sh
. "$here/scripts/lib-bench.sh"

quick=0
fsync=yes
build=1
only=""
out_dir=""
bench_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --no-fsync) fsync=no ;;
    --only) only="$2"; shift ;;
    --out) out_dir="$2"; shift ;;
    --) shift; bench_args+=("$@"); break ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) bench_args+=("$1") ;;
    esac
    shift
done
bench_check_only "$only"

build_dir="$here/build-release"
out_dir=${out_dir:-$build_dir/bench}
bench_binaries "$build_dir" "$build" "$only"
bench_start_tmp czk-bench

# The same zoo.cfg shape for both servers: standalone, fsync as chosen.
write_cfg() { # dir port
    mkdir -p "$1/data"
    cat >"$1/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$1/data
clientPort=$2
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=srvr,stat,mntr,ruok
forceSync=$fsync
EOF
}

wait_ready() { # name port pid log
    for _ in $(seq 300); do
        if ! kill -0 "$3" 2>/dev/null; then
            log "$1 exited during start-up; its log:"
            tail -n 30 "$4" >&2 || true
            return 1
        fi
        if srvr "$2" | grep -q '^Mode:'; then
            return 0
        fi
        sleep 0.1
    done
    log "$1 did not answer srvr with Mode: within 30 s; its log:"
    tail -n 30 "$4" >&2 || true
    return 1
}

servers=()
declare -A port pid
if [[ "$only" != apache ]]; then
    port[czk]=$(free_port)
    write_cfg "$tmp/czk" "${port[czk]}"
    "$czk_server" "$tmp/czk/zoo.cfg" >"$tmp/czk/server.log" 2>&1 &
    pid[czk]=$!
    pids+=("${pid[czk]}")
    wait_ready czk-server "${port[czk]}" "${pid[czk]}" "$tmp/czk/server.log"
    servers+=(czk)
    log "czk-server pid ${pid[czk]} on 127.0.0.1:${port[czk]}"
fi
if [[ "$only" != czk ]]; then
    port[apache]=$(free_port)
    write_cfg "$tmp/apache" "${port[apache]}"
    bench_start_apache "$tmp/apache" "$tmp/apache/zoo.cfg" 1g
    pid[apache]=$!
    pids+=("${pid[apache]}")
    wait_ready "Apache ZooKeeper" "${port[apache]}" "${pid[apache]}" "$tmp/apache/server.log"
    servers+=(apache)
    log "Apache ZooKeeper pid ${pid[apache]} on 127.0.0.1:${port[apache]}"
fi

if [[ $quick -eq 1 ]]; then
    warm_args=(--ops 5000 --sessions 4)
    size_args=(--ops 5000 --probe-count 2000)
else
    warm_args=(--ops 50000)
    size_args=(--ops 100000 --probe-count 20000)
fi

mkdir -p "$out_dir"
status=0
for s in "${servers[@]}"; do
    log "warming up $s"
    if ! "$benchmark" --server "127.0.0.1:${port[$s]}" --root /czk-warmup "${warm_args[@]}" \
        >"$tmp/$s/warmup.log" 2>&1; then
        log "warm-up against $s failed:"
        cat "$tmp/$s/warmup.log" >&2
        status=1
    fi
done
# The unloaded round trip is pinned: on this VM a wake-up across vCPUs costs
# tens of µs and where the scheduler puts each thread decides the figure.
# Same vCPU (client, server, echo thread on CPU 0) shows the software path;
# across vCPUs (client on 0, server and echo on 1) adds the hypervisor's cost.
cross_cpu=()
[[ $(nproc) -ge 2 ]] && cross_cpu=(--probe-cpus 0,1)
for s in "${servers[@]}"; do
    log "benchmarking $s"
    if ! "$benchmark" --server "127.0.0.1:${port[$s]}" --server-pid "${pid[$s]}" --label "$s" \
        --json --latency-probe --tcp-pingpong --probe-cpus 0,0 "${size_args[@]}" \
        "${bench_args[@]}" >"$out_dir/$s.jsonl"; then
        log "the benchmark against $s FAILED"
        status=1
    fi
    if [[ ${#cross_cpu[@]} -gt 0 ]] && ! "$benchmark" "${size_args[@]}" "${bench_args[@]}" \
        --server "127.0.0.1:${port[$s]}" --server-pid "${pid[$s]}" --label "$s" --json \
        --phases none --latency-probe --tcp-pingpong "${cross_cpu[@]}" --root /czk-bench-probe \
        >"$out_dir/$s.cross.jsonl"; then
        log "the cross-vCPU probe against $s FAILED"
        status=1
    fi
done

"$python" - "$out_dir" "${servers[@]}" <<'EOF' | tee "$out_dir/table.md"
import json, sys, os, datetime

out_dir, servers = sys.argv[1], sys.argv[2:]
res = {}
for s in servers:
    res[s] = {}
    path = os.path.join(out_dir, s + ".jsonl")
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                res[s][r["phase"]] = r
    path = os.path.join(out_dir, s + ".cross.jsonl")
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                res[s][r["phase"] + "-cross"] = r

def fmt(v, nd=1):
    return "-" if v is None else f"{v:,.{nd}f}"

def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"

def get(s, phase, key):
    r = res.get(s, {}).get(phase)
    return None if r is None else r.get(key)

both = "czk" in res and "apache" in res
phases = ["create", "set", "get", "exists", "children", "delete", "mixed"]
seen = [p for p in phases if any(p in res[s] for s in servers)]
print(f"\n{datetime.date.today().isoformat()}: " + ", ".join(
    f"{s} {len(res[s])} results" for s in servers))
for s in servers:
    bad = [p for p, r in res[s].items() if not r.get("ok", False)]
    if bad:
        print(f"**{s}: FAILED phases: {', '.join(bad)}** (errors: the figures below are not valid)")
print()
print("| phase | czk ops/s | apache ops/s | czk/apache | czk p99 µs | apache p99 µs | apache/czk "
      "| czk CPU µs/op | apache CPU µs/op | apache/czk |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for p in seen:
    c_ops, a_ops = get("czk", p, "ops_per_s"), get("apache", p, "ops_per_s")
    c_p99, a_p99 = get("czk", p, "p99_us"), get("apache", p, "p99_us")
    c_cpu = get("czk", p, "server_cpu_us_per_op")
    a_cpu = get("apache", p, "server_cpu_us_per_op")
    print(f"| {p} | {fmt(c_ops, 0)} | {fmt(a_ops, 0)} | {ratio(c_ops, a_ops)} | {fmt(c_p99)} "
          f"| {fmt(a_p99)} | {ratio(a_p99, c_p99)} | {fmt(c_cpu, 2)} | {fmt(a_cpu, 2)} "
          f"| {ratio(a_cpu, c_cpu)} |")
print()
print("| unloaded round trip (1 session, 1 outstanding getData) | czk | apache |")
print("|---|---:|---:|")
for suffix, where in (("", "same vCPU"), ("-cross", "across vCPUs")):
    if not any(("latency-probe" + suffix) in res[s] for s in servers):
        continue
    zk, tcp = "latency-probe" + suffix, "tcp-pingpong" + suffix
    for key, label in (("p50_us", "getData p50 µs"), ("p99_us", "getData p99 µs"),
                       ("p50_us", "raw TCP ping-pong p50 µs"), ("p99_us", "raw TCP ping-pong p99 µs")):
        ph = tcp if label.startswith("raw") else zk
        print(f"| {where}: {label} | {fmt(get('czk', ph, key))} | {fmt(get('apache', ph, key))} |")
    print(f"| {where}: getData p50 / TCP p50 | "
          f"{ratio(get('czk', zk, 'p50_us'), get('czk', tcp, 'p50_us'))} | "
          f"{ratio(get('apache', zk, 'p50_us'), get('apache', tcp, 'p50_us'))} |")

if both:
    print()
    print("| target | measured | met |")
    print("|---|---|---|")
    def target(name, value, ok):
        print(f"| {name} | {value} | {'yes' if ok else 'NO'} |")
    for p in ("get", "exists", "children"):
        c, a = get("czk", p, "server_cpu_us_per_op"), get("apache", p, "server_cpu_us_per_op")
        if c is not None and a is not None:
            target(f"server CPU/op, {p}: ≤ 1/8 of Apache's", f"1/{a / c:.1f}" if c else "0",
                   c * 8 <= a)
    c, a = get("czk", "get", "ops_per_s"), get("apache", "get", "ops_per_s")
    if c and a:
        target("get throughput ≥ 3x Apache's", f"{c / a:.2f}x", c >= 3 * a)
    for p in ("get", "exists", "children", "mixed"):
        c, a = get("czk", p, "p99_us"), get("apache", p, "p99_us")
        if c and a:
            target(f"p99, {p}: ≤ 1/3 of Apache's", f"1/{a / c:.2f}", c * 3 <= a)
    for suffix, where in (("", "same vCPU"), ("-cross", "across vCPUs")):
        c = get("czk", "latency-probe" + suffix, "p50_us")
        t = get("czk", "tcp-pingpong" + suffix, "p50_us")
        if c and t:
            target(f"unloaded getData round trip ≤ 2x raw TCP ({where})", f"{c / t:.2f}x",
                   c <= 2 * t)
EOF
exit $status
