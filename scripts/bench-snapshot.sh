#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench-snapshot.sh — what taking snapshots adds to request latency, czk and
# Apache ZooKeeper 3.8 one after the other on the same machine: a tree of
# --nodes znodes (100 bytes each), then --timed setData round trips from 2
# sessions with 1 request outstanding each, once with snapCount=100000 (a
# snapshot of the whole tree every 50,000-100,000 txns) and once with
# snapshots off (snapCount=10^9). czk runs twice: as shipped (heap on huge
# pages) and with CZK_MALLOC_HUGEPAGES=0. Prints p99, p99.9 and max per run,
# the snapshots taken, and for czk the loop's pause in fork() from its log.
# See docs/PERFORMANCE.md ("Snapshot pause").
#
# usage: scripts/bench-snapshot.sh [--quick] [--no-build] [--only czk|apache]
#                                  [--nodes N] [--timed N] [--out DIR]
#   --quick     20,000 znodes, 20,000 timed ops, snapCount 2000 (a smoke run)
#   --out DIR   keep the JSON lines, the table and the logs (default build-release/bench-snapshot)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bench_name=bench-snapshot.sh
# shellcheck source=scripts/lib-bench.sh
. "$here/scripts/lib-bench.sh"

build=1
only=""
nodes=1000000
timed=300000
snap_count=100000
out_dir=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --quick) nodes=20000; timed=20000; snap_count=2000 ;;
    --no-build) build=0 ;;
    --only) only="$2"; shift ;;
    --nodes) nodes="$2"; shift ;;
    --timed) timed="$2"; shift ;;
    --out) out_dir="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown option $1"; exit 2 ;;
    esac
    shift
done
bench_check_only "$only"
bench_check_number --nodes "$nodes"
bench_check_number --timed "$timed"

build_dir="$here/build-release"
out_dir=${out_dir:-$build_dir/bench-snapshot}
bench_binaries "$build_dir" "$build" "$only"

rm -rf "$out_dir"
mkdir -p "$out_dir"
pids=() # the one server running; stopped by PID on exit
trap bench_stop_all EXIT
trap 'exit 130' INT TERM

run() { # name kind snapCount [env...]
    local name=$1 kind=$2 count=$3
    shift 3
    local dir="$out_dir/$name" port
    port=$(free_port)
    mkdir -p "$dir/data"
    cat >"$dir/zoo.cfg" <<EOF
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=srvr
snapCount=$count
EOF
    if [[ $kind == czk ]]; then
        env "$@" "$czk_server" "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    else
        bench_start_apache "$dir" "$dir/zoo.cfg" 3g
    fi
    server_pid=$!
    pids+=("$server_pid")
    for _ in $(seq 300); do
        kill -0 "$server_pid" 2>/dev/null || { log "$name exited at start-up"; tail "$dir/server.log" >&2; exit 1; }
        srvr "$port" | grep -q '^Mode:' && break
        sleep 0.1
    done
    log "$name: $nodes znodes, then $timed timed setData (snapCount=$count)"
    "$benchmark" --server "127.0.0.1:$port" --label "$name" --json --phases set --ops "$nodes" \
        --timed-ops "$timed" --sessions 2 --outstanding 1 --setup-outstanding 64 \
        >"$dir/result.jsonl" 2>"$dir/benchmark.log" || { log "$name: benchmark failed"; cat "$dir/benchmark.log" >&2; exit 1; }
    bench_stop_pid "$server_pid"
    rm -rf "$dir/data"
}

if [[ "$only" != apache ]]; then
    run czk-snap czk "$snap_count"
    run czk-nosnap czk 1000000000
    run czk-4k-snap czk "$snap_count" CZK_MALLOC_HUGEPAGES=0
fi
if [[ "$only" != czk ]]; then
    run apache-snap apache "$snap_count"
    run apache-nosnap apache 1000000000
fi

"$python" - "$out_dir" <<'PY' | tee "$out_dir/table.md"
import json, os, re, sys
out = sys.argv[1]
print("| run | snapshots | worst fork ms | p99 µs | p99.9 µs | max µs |")
print("|---|---:|---:|---:|---:|---:|")
for name in ["czk-snap", "czk-4k-snap", "czk-nosnap", "apache-snap", "apache-nosnap"]:
    d = os.path.join(out, name)
    if not os.path.isdir(d):
        continue
    r = [json.loads(l) for l in open(os.path.join(d, "result.jsonl")) if l.startswith("{")][-1]
    text = ""
    for f in ("server.log", "zookeeper.log"):
        p = os.path.join(d, f)
        if os.path.exists(p):
            text += open(p, errors="replace").read()
    forks = [float(x) for x in re.findall(r"fork took ([0-9.]+) ms", text)]
    snaps = len(forks) if forks else len(re.findall(r"Snapshotting: 0x", text))
    worst = "%.1f" % max(forks) if forks else "-"
    print("| %s | %d | %s | %.0f | %.0f | %.0f |" % (name, snaps, worst, r["p99_us"], r["p999_us"], r["max_us"]))
PY
