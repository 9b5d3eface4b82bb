#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench-observers.sh — what observers add (issue 11): for czk and for Apache
# ZooKeeper 3.8, in turn, a 3-voter ensemble and then the same 3 voters with
# observers (default 2), each started fresh on free 127.0.0.1 ports with the
# zoo.cfg shape of bench-ensemble.sh, warmed up, and loaded by the same
# czk-benchmark (reads: get, exists; writes: set), its sessions spread over
# every member (session i on member i mod count: with observers, reads are
# served by the observers too). One ensemble runs at a time. The table gives,
# per kind, the with-observers/voters-only ratio of each phase's throughput
# and server CPU (summed over every member), and czk/Apache for each shape.
# See docs/PERFORMANCE.md ("Observers").
#
# usage: scripts/bench-observers.sh [--quick] [--no-build] [--only czk|apache]
#                                   [--observers N] [--out DIR] [--keep]
#                                   [-- | czk-benchmark options...]
#   --quick        small op counts (CI smoke; < 1 min once built)
#   --no-build     use the binaries already in build-release/
#   --only X       one kind only
#   --observers N  observers beside the 3 voters (default 2)
#   --observer-master  the observers sync from a follower (observerMasterPort
#                  on every member of the observers' shape), not the leader
#   --out DIR      keep the JSON lines and the table there
#                  (default build-release/bench-observers)
#   --keep         keep the members' logs and data dirs (kept anyway on failure)
# CZK_BENCHMARK and CZK_SERVER override the binaries' paths; BENCH_TMP the
# directory the members' dirs go under (default /tmp). Any other option
# is passed to czk-benchmark's measured runs (e.g. --ops 200000 --sessions 20).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bench_name=bench-observers.sh
# shellcheck source=scripts/lib-bench.sh
. "$here/scripts/lib-bench.sh"

quick=0
build=1
only=""
out_dir=""
observers=2
observer_master=0
keep=0
tick_ms=2000
cfg_extra=()
bench_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --only) only="$2"; shift ;;
    --observers) observers="$2"; shift ;;
    --observer-master) observer_master=1 ;;
    --out) out_dir="$2"; shift ;;
    --keep) keep=1 ;;
    --) shift; bench_args+=("$@"); break ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) bench_args+=("$1") ;;
    esac
    shift
done
bench_check_only "$only"
bench_check_number --observers "$observers"
[[ $observers -ge 1 ]] || { log "--observers: at least 1"; exit 2; }

build_dir="$here/build-release"
out_dir=${out_dir:-$build_dir/bench-observers}
bench_binaries "$build_dir" "$build" "$only"
bench_start_tmp czk-bench-obs

declare -A cport qport eport pid
apache_heap=1g
bench_kinds "$only"
mkdir -p "$out_dir"
rm -f "$out_dir"/*.jsonl
uptime >"$out_dir/load.txt"

# 10 sessions: 2 on each of 5 members, 3-4 on each of 3 voters
if [[ $quick -eq 1 ]]; then
    warm_args=(--ops 5000 --sessions 5)
    size_args=(--ops 5000 --sessions 10)
else
    warm_args=(--ops 50000 --sessions 10)
    size_args=(--ops 100000 --sessions 10)
fi
phases=get,exists,set
status=0

for k in "${kinds[@]}"; do
    for shape in 0 "$observers"; do
        key="${k}${shape}obs"
        ens_obs[$key]=$shape
        ens_ports "$key"
        cfg_extra=()
        if [[ $observer_master -eq 1 && $shape -gt 0 ]]; then
            # one host: the first follower to serve holds the port
            om_port=$(free_port)
            while grep -qw "$om_port" <<<"${cport[*]} ${qport[*]} ${eport[*]}"; do
                om_port=$(free_port)
            done
            cfg_extra=("observerMasterPort=$om_port")
        fi
        for sid in $(ens_sids "$key"); do ens_write_member "$key" "$sid"; done
        for sid in $(ens_sids "$key"); do ens_start_member "$key" "$sid"; done
        if ! ens_wait "$key"; then
            status=1
            break 2
        fi
        servers=$(ens_servers "$key")
        log "$key up: $(for sid in $(ens_sids "$key"); do printf 'sid %s %s; ' "$sid" \
            "$(mode_of "${cport[$key$sid]}")"; done)"
        if ! "$benchmark" --server "$servers" --root /czk-warmup "${warm_args[@]}" \
            --phases "$phases" >"$tmp/$key/warmup.log" 2>&1; then
            log "warm-up against $key failed:"
            cat "$tmp/$key/warmup.log" >&2
            status=1
        fi
        log "benchmarking $key (load: $(cut -d' ' -f1-3 /proc/loadavg))"
        if ! "$benchmark" --server "$servers" --server-pid "$(ens_pids "$key")" --label "$key" \
            --json --phases "$phases" "${size_args[@]}" ${bench_args[@]+"${bench_args[@]}"} \
            >"$out_dir/$key.jsonl"; then
            log "the benchmark against $key FAILED"
            status=1
        fi
        # each member's CPU over its life (user + system, ms): where the
        # observers' fan-out went (the leader, or a follower)
        for sid in $(ens_sids "$key"); do
            p=${pid[$key$sid]}
            printf 'sid %s %s cpu_ms %s\n' "$sid" "$(mode_of "${cport[$key$sid]}")" \
                "$(awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' \
                    "/proc/$p/stat" 2>/dev/null)"
        done >"$out_dir/$key.cpu.txt"
        ens_stop "$key"
    done
done
uptime >>"$out_dir/load.txt"

"$python" - "$out_dir" "$observers" "${kinds[@]}" <<'EOF' | tee "$out_dir/table.md"
import json, sys, os, datetime

out_dir, nobs, kinds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
res = {}
for k in kinds:
    for shape in (0, nobs):
        key = f"{k}{shape}obs"
        path = os.path.join(out_dir, key + ".jsonl")
        res[key] = {}
        if os.path.exists(path):
            for line in open(path):
                if line.strip().startswith("{"):
                    r = json.loads(line)
                    res[key][r["phase"]] = r

def get(key, phase, field):
    r = res.get(key, {}).get(phase)
    return None if r is None or not r.get("ok", False) else r.get(field)

def fmt(v, nd=0):
    return "-" if v is None else f"{v:,.{nd}f}"

def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"

print(f"\n{datetime.date.today().isoformat()}: 3 voters, then 3 voters + {nobs} observers; "
      "sessions spread over every member")
print()
print("| kind | phase | 3 voters ops/s | +observers ops/s | ratio | 3 voters CPU µs/op "
      "| +observers CPU µs/op |")
print("|---|---|---:|---:|---:|---:|---:|")
for k in kinds:
    a, b = f"{k}0obs", f"{k}{nobs}obs"
    for p in ("get", "exists", "set"):
        print(f"| {k} | {p} | {fmt(get(a, p, 'ops_per_s'))} | {fmt(get(b, p, 'ops_per_s'))} "
              f"| {ratio(get(b, p, 'ops_per_s'), get(a, p, 'ops_per_s'))} "
              f"| {fmt(get(a, p, 'server_cpu_us_per_op'), 2)} "
              f"| {fmt(get(b, p, 'server_cpu_us_per_op'), 2)} |")
if "czk" in kinds and "apache" in kinds:
    print()
    print("| shape | phase | czk/apache ops/s | apache/czk CPU per op |")
    print("|---|---|---:|---:|")
    for shape in (0, nobs):
        for p in ("get", "exists", "set"):
            c, a = f"czk{shape}obs", f"apache{shape}obs"
            print(f"| 3 voters + {shape} observers | {p} "
                  f"| {ratio(get(c, p, 'ops_per_s'), get(a, p, 'ops_per_s'))} "
                  f"| {ratio(get(a, p, 'server_cpu_us_per_op'), get(c, p, 'server_cpu_us_per_op'))} |")
EOF
cat "$out_dir/load.txt" >&2
exit $status
